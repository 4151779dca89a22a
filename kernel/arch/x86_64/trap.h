/* SPDX-License-Identifier: MIT */
/*
 * Traps and interrupts: the IDT, exception reports, interrupt handlers.
 */
#ifndef KERNEL_ARCH_X86_64_TRAP_H
#define KERNEL_ARCH_X86_64_TRAP_H

#include <stdint.h>

#include "kernel/arch/x86_64/percpu.h"

/* Vectors the kernel uses (0-31 are the CPU's exceptions). */
enum {
	VECTOR_NMI = 2,         /* the CPU's, for NMIs: see panic_nmi_stop() */
	VECTOR_TIMER = 0x20,    /* local APIC timer */
	VECTOR_CALL = 0x21,     /* smp_call_all() IPI */
	PIC_VECTOR_BASE = 0xe0, /* the masked legacy PICs: 0xe0-0xef */
	VECTOR_SPURIOUS = 0xff, /* local APIC spurious interrupt */
};

/* What entry.S saves, lowest address first. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

typedef void (*trap_handler_t)(void);

/* Handler for an interrupt vector (>= 32). Boot CPU, before IRQs run. */
void trap_set_handler(unsigned vector, trap_handler_t fn);

/* Fill this CPU's IDT and load it. */
void idt_init_cpu(struct percpu *p);

/* Called by entry.S for every vector. */
void trap_dispatch(struct trap_frame *f);

/* Print the frame-pointer chain from rbp (the kernel keeps frame pointers). */
void backtrace_from(uint64_t rbp);

#endif /* KERNEL_ARCH_X86_64_TRAP_H */
