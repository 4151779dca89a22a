/* SPDX-License-Identifier: MIT */
/*
 * Expected faults: the exception table, the probe and copy helpers built
 * on it, and expect_fault() for tests.
 *
 * The exception table lists {insn, fixup} pairs (absolute addresses): the
 * instruction at insn may fault, and if it does (and no fault hook dealt
 * with it: trap.h has the order), execution goes on at fixup instead of
 * the fatal report. EXTABLE_ENTRY() emits an entry next to its
 * instruction into the section __ex_table, which boot/kernel.ld gathers
 * between __start___ex_table and __stop___ex_table. The table is searched
 * linearly, unsorted: it holds a handful of entries (the helpers below)
 * and is searched only on a fault nothing else handled. Sort it at build
 * time and bisect (as Linux does) once it grows.
 *
 * On a fixup the fault is handed to the fixup code in registers, which
 * an instruction with an entry may therefore change when it faults:
 *   %r8 the vector, %r9 the error code, %r10 the faulting address (CR2
 *   for a page fault, 0 otherwise), %r11 the faulting instruction.
 * Only asm uses entries (probe.S); those registers are caller-saved.
 */
#ifndef KERNEL_ARCH_X86_64_EXTABLE_H
#define KERNEL_ARCH_X86_64_EXTABLE_H

/* err_t's E_FAULT, for the asm helpers (checked in extable.c). */
#define EXTABLE_E_FAULT 14

#ifdef __ASSEMBLY__

#define EXTABLE_ENTRY(insn, fixup)      \
	.pushsection __ex_table, "a";   \
	.balign 8;                      \
	.quad insn, fixup;              \
	.popsection

#else

#include <stddef.h>
#include <stdint.h>

#include "kernel/arch/x86_64/trap.h"
#include "kernel/lib/err.h"

/* A fault that was expected, as the CPU reported it. */
struct fault_info {
	uint64_t vector; /* 14: page fault, 13: general protection, ... */
	uint64_t error;  /* the error code (PF_* for a page fault) */
	uint64_t addr;   /* a page fault's address (CR2), else 0 */
	uint64_t rip;    /* the instruction that faulted */
};

/*
 * Read the 8 bytes at p (*out), write v to them, or copy len bytes from
 * src to dst, without the fatal report if the access faults: E_FAULT
 * then, with the fault described in *fi (if fi is not NULL), and *out
 * untouched. A copy that faults may have copied part of the bytes; it
 * returns E_FAULT having done no more than that. E_OK otherwise.
 * Any context (interrupts masked or not, in a handler or a fault hook).
 * A fault hook still runs first (trap.h): a probe of a demand-faulted
 * address succeeds. Pointers are not checked: a probe of a device
 * register's page accesses the device. Linux's
 * copy_from_kernel_nofault(); there is no user mode, so no SMAP dance.
 */
MUST_CHECK err_t probe_read_u64_info(const void *p, uint64_t *out,
				     struct fault_info *fi);
MUST_CHECK err_t probe_write_u64_info(void *p, uint64_t v,
				      struct fault_info *fi);
MUST_CHECK err_t copy_nofault(void *dst, const void *src, size_t len,
			      struct fault_info *fi);

static inline MUST_CHECK err_t probe_read_u64(const void *p, uint64_t *out)
{
	return probe_read_u64_info(p, out, NULL);
}

static inline MUST_CHECK err_t probe_write_u64(void *p, uint64_t v)
{
	return probe_write_u64_info(p, v, NULL);
}

/*
 * Run fn(arg) on this CPU, with interrupts masked, expecting it to fault:
 * for checks the exception table cannot express, such as an instruction
 * fetch from a no-execute page, where the faulting instruction is the
 * target itself and no entry can name it.
 *   E_OK     fn returned without an exception (or every one it raised
 *            was dealt with by a hook or the exception table)
 *   E_FAULT  fn raised an exception nothing else dealt with: *out (if not
 *            NULL) describes it, and expect_fault() returns as if fn had
 *            returned: fn's frames are abandoned (like longjmp), so fn
 *            must hold no lock and have nothing to undo when it faults
 *   E_BUSY   called from inside fn (one expectation per CPU)
 * A fault raised while another exception is handled (in a hook) is never
 * caught: the fatal report. Interrupts are masked so that no interrupt
 * handler runs, and faults, inside the expectation.
 * Implementation: a setjmp-like stub (probe.S) saves the callee-saved
 * registers and the stack pointer in this CPU's slot; trap.c, on a fault
 * with the slot armed, loads them into the frame and returns to the
 * stub's resume point.
 */
MUST_CHECK err_t expect_fault(void (*fn)(void *arg), void *arg,
			      struct fault_info *out);

/* --------------------------------------------------------- for trap.c */

/*
 * If f->rip has an exception-table entry, resume there (the registers
 * above carry the fault) and return true.
 */
bool extable_fixup(struct trap_frame *f);

/*
 * If this CPU has an armed expect_fault(), disarm it, record the fault
 * and make f return to expect_fault()'s resume point; return true.
 */
bool expect_fault_catch(struct trap_frame *f);

#endif /* __ASSEMBLY__ */
#endif /* KERNEL_ARCH_X86_64_EXTABLE_H */
