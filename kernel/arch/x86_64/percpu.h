/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU areas. Each CPU's GS base points at its struct percpu, so
 * cpu_id() is one load (%gs:offsetof(id)) and needs no table lookup.
 *
 * [I] set when the CPU comes up; [c] only this CPU touches it.
 */
#ifndef KERNEL_ARCH_X86_64_PERCPU_H
#define KERNEL_ARCH_X86_64_PERCPU_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/config.h"
#include "kernel/lib/compiler.h"
#include "kernel/lib/err.h"

#define GDT_ENTRIES 7 /* null, kcode, kdata, code32, (unused), TSS (2) */

/* The 64-bit task-state segment: only the interrupt stacks are used. */
struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

_Static_assert(sizeof(struct tss) == 104, "TSS layout");

struct idt_entry {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type; /* 0x8e: present, DPL 0, 64-bit interrupt gate */
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct idt_entry) == 16, "IDT entry layout");

/*
 * Interrupt stack table slots (the IDT entry's ist field; the TSS's
 * ist[n - 1]): the exceptions that must not run on the interrupted stack,
 * which may be the one that overflowed (a double fault) or may be in any
 * state at all (an NMI, a machine check). Each has its own guard-paged
 * stack (kstack.h). Caveat for later users: an NMI that arrives while an
 * NMI handler has returned from a nested exception reuses its IST stack;
 * today's NMI handler never returns.
 */
enum { IST_DOUBLE_FAULT = 1, IST_NMI = 2, IST_MACHINE_CHECK = 3,
       IST_COUNT = 3 };

#define IST_PAGES   1 /* 4 KiB: the handlers only report and stop */
#define KSTACK_PAGES 4 /* 16 KiB: an AP's stack, and the boot CPU's */
#define KSTACK_SIZE  (KSTACK_PAGES * 4096)

/* The IST slot of an exception vector, 0 for none. */
static inline uint8_t ist_of_vector(unsigned v)
{
	return v == 8 ? IST_DOUBLE_FAULT : v == 2 ? IST_NMI
		       : v == 18 ? IST_MACHINE_CHECK : 0;
}

struct percpu {
	struct percpu *self;     /* [I] %gs:0, for taking the address */
	uint32_t id;             /* [I] 0 .. ncpus()-1, boot CPU 0 */
	uint32_t apic_id;        /* [I] its local APIC's id */
	uint32_t irq_depth;      /* [c] > 0 inside an interrupt handler */
	uint32_t relax;          /* [c] cpu_relax() calls, wrapping */
	uint32_t relax_halts;    /* [c] of which halted, wrapping (tests) */
	uint64_t stack_top;      /* [I] its kernel stack: [stack_lo, top) */
	uint64_t stack_lo;       /* [I] with an unmapped guard page below */
	uint64_t ist_top[IST_COUNT]; /* [I] IST stacks (kstack.h), or 0 */
	uint64_t ticks;          /* [c] timer interrupts taken */
	uint64_t gdt[GDT_ENTRIES];           /* [I] */
	struct tss tss;                      /* [I] */
	struct idt_entry idt[256] CACHE_ALIGNED; /* [I] */
} CACHE_ALIGNED;

/*
 * Every CPU's area, by CPU id. The boot CPU's is static: it is needed
 * before any allocator exists. An AP's comes from the heap when smp.c
 * makes its slot, and is stored here when the AP claims its id, before
 * the release store that makes it ONLINE: read another CPU's entry only
 * once that CPU is known to be online.
 */
extern struct percpu *percpu_area[CONFIG_MAX_CPUS];

static inline struct percpu *percpu_of(unsigned cpu)
{
	return percpu_area[cpu];
}

/* This CPU's area. Pre: its GS base is set. */
static inline struct percpu *this_cpu(void)
{
	struct percpu *p;

	__asm__ __volatile__("movq %%gs:%c1, %0"
			     : "=r"(p) : "i"(offsetof(struct percpu, self)));
	return p;
}

static inline uint32_t this_cpu_id(void)
{
	uint32_t id;

	__asm__ __volatile__("movl %%gs:%c1, %0"
			     : "=r"(id) : "i"(offsetof(struct percpu, id)));
	return id;
}

static inline uint32_t this_cpu_irq_depth(void)
{
	uint32_t d;

	__asm__ __volatile__("movl %%gs:%c1, %0"
			     : "=r"(d) : "i"(offsetof(struct percpu, irq_depth)));
	return d;
}

/* Count one more cpu_relax() on this CPU; returns the new count. */
static inline uint32_t this_cpu_relax_count(void)
{
	uint32_t n = 1;

	__asm__ __volatile__("xaddl %0, %%gs:%c1"
			     : "+r"(n) : "i"(offsetof(struct percpu, relax))
			     : "memory");
	return n + 1;
}

/* Count one cpu_relax() that halts (a self-test checks which waits do). */
static inline void this_cpu_count_relax_halt(void)
{
	__asm__ __volatile__("incl %%gs:%c0"
			     : : "i"(offsetof(struct percpu, relax_halts))
			     : "memory");
}

/* Point GS at p and fill in its identity (the CPU's own, early). */
void percpu_install(struct percpu *p, uint32_t id, uint32_t apic_id,
		    uint64_t stack_top);

/*
 * Build and load this CPU's GDT, TSS and IDT (after percpu_install). The
 * TSS's IST entries are p->ist_top[]; where that is 0 (the boot CPU before
 * frames exist) a small static stack, without guard page, stands in.
 */
void cpu_tables_init(struct percpu *p);

/*
 * Guard-paged IST stacks for p (kstack_alloc), in p->ist_top[]; if p is
 * this CPU's, its TSS now points at them. Boot CPU after frame_init, or
 * for another CPU before it starts. Errors as kstack_alloc (then p is
 * unchanged; stacks allocated so far stay allocated, never freed).
 */
MUST_CHECK err_t percpu_ist_alloc(struct percpu *p);

/* The stacks a CPU runs on, all guard-paged (kstack.h). */
struct cpu_stacks {
	uint64_t top;                /* its kernel stack: [lo, top) */
	uint64_t lo;
	uint64_t ist_top[IST_COUNT]; /* its IST stacks */
};

/*
 * An AP's stacks, before it starts: it runs on them from its first
 * instruction in C (smp.c), before it knows its CPU id. Boot CPU. Errors
 * as kstack_alloc (stacks allocated so far are kept: never freed).
 */
MUST_CHECK err_t cpu_stacks_alloc(struct cpu_stacks *s);

/* p's stacks are s (before cpu_tables_init, which loads the IST ones). */
void percpu_set_stacks(struct percpu *p, const struct cpu_stacks *s);

#endif /* KERNEL_ARCH_X86_64_PERCPU_H */
