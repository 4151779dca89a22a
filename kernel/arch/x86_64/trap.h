/* SPDX-License-Identifier: MIT */
/*
 * Traps and interrupts: the IDT, exception handling, interrupt handlers.
 *
 * What happens to an exception (vector < 32) raised in the kernel, in
 * this order (trap.c):
 *   1. the vector's fault hook, if one is registered and this is not a
 *      fault taken while handling another exception; a hook that returns
 *      true has dealt with it (a demand fault mapped the page, say) and
 *      the faulting instruction runs again;
 *   2. the exception table (extable.h): an instruction that was written
 *      to expect a fault (probe_read_u64() and friends) resumes at its
 *      fixup;
 *   3. an armed expect_fault() on this CPU (extable.h), for tests;
 *   4. otherwise the fatal report: vector, error code, every register,
 *      CR2, a backtrace, and QEMU exits with a failure code.
 * Hooks come first so that a probe of a demand-faulted address finds the
 * page mapped instead of failing (Linux's order: handle_mm_fault, then
 * fixup_exception).
 */
#ifndef KERNEL_ARCH_X86_64_TRAP_H
#define KERNEL_ARCH_X86_64_TRAP_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel/arch/x86_64/percpu.h"
#include "kernel/lib/err.h"

/* Vectors the kernel uses (0-31 are the CPU's exceptions). */
enum {
	VECTOR_NMI = 2,         /* the CPU's, for NMIs: see panic_nmi_stop() */
	VECTOR_GP = 13,         /* general protection */
	VECTOR_PF = 14,         /* page fault */
	VECTOR_TIMER = 0x20,    /* local APIC timer */
	VECTOR_CALL = 0x21,     /* smp_call_all() IPI */
	PIC_VECTOR_BASE = 0xe0, /* the masked legacy PICs: 0xe0-0xef */
	VECTOR_SPURIOUS = 0xff, /* local APIC spurious interrupt */
};

/* The page-fault error code (SDM vol. 3, 4.7). */
#define PF_P    (UINT64_C(1) << 0) /* 0: page not present, 1: protection */
#define PF_W    (UINT64_C(1) << 1) /* a write */
#define PF_U    (UINT64_C(1) << 2) /* from user mode */
#define PF_RSVD (UINT64_C(1) << 3) /* a reserved bit set in an entry */
#define PF_ID   (UINT64_C(1) << 4) /* an instruction fetch (needs NXE or SMEP) */

/*
 * What entry.S saves, lowest address first. cr2 is read by the entry code
 * itself, before anything else runs, and only for a page fault (0 for
 * every other vector): a page fault taken later (in a hook, in the
 * report) overwrites the register, never this copy.
 */
struct trap_frame {
	uint64_t cr2, reserved; /* reserved: keeps the call 16-byte aligned */
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

typedef void (*trap_handler_t)(void);

/* Handler for an interrupt vector (>= 32). Boot CPU, before IRQs run. */
void trap_set_handler(unsigned vector, trap_handler_t fn);

/*
 * A fault hook: called for an exception of its vector raised in the
 * kernel, with the frame (f->cr2 is the faulting address of a page fault,
 * f->error the error code). Returns true if it dealt with the fault: the
 * faulting instruction is restarted (with whatever the hook changed in
 * *f). Returns false to pass the fault on (exception table, then the
 * fatal report).
 *
 * Context: on the faulting CPU, on its stack, with interrupts masked (an
 * interrupt gate), possibly inside an interrupt handler (the fault came
 * from one) or with a spinlock held. The hook must not block, must not
 * take a lock the faulting code may hold, must be quick. One exception:
 * where the faulting code had interrupts enabled (f->rflags.IF) and was
 * no interrupt handler, the hook may enable them while it works and may
 * wait as that code could have (the address spaces' hook, vmfault.c,
 * takes page-table cursors there); it masks them again before it
 * returns.
 * Reentrancy: a fault inside the hook is not given to any hook again (no
 * recursion): the exception table still applies (so the hook may use
 * probe_read_u64()), anything else is the fatal report of the nested
 * fault.
 */
typedef bool (*trap_fault_hook_t)(struct trap_frame *f);

/*
 * Install hook for exception vector (NULL: remove it). Vectors that can
 * be resumed only: not NMI (2), double fault (8) or machine check (18).
 *   E_INVAL  any other vector
 *   E_BUSY   a hook is installed already (remove it first)
 * Any CPU, any time but from a hook: the hook pointer is published with
 * release order, so a CPU that faults after the call returns sees it.
 * Removing does not wait for a run that already started on another CPU:
 * the caller makes sure no CPU can still fault into it before it frees
 * what the hook uses.
 */
MUST_CHECK err_t trap_set_fault_hook(unsigned vector, trap_fault_hook_t hook);

/* Fill this CPU's IDT and load it. */
void idt_init_cpu(struct percpu *p);

/* Called by entry.S for every vector. */
void trap_dispatch(struct trap_frame *f);

/* Print the frame-pointer chain from rbp (the kernel keeps frame pointers). */
void backtrace_from(uint64_t rbp);

#endif /* KERNEL_ARCH_X86_64_TRAP_H */
