/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU areas and descriptor tables. Each CPU has its own GDT (with its
 * own TSS descriptor), TSS (with a stack for double faults) and IDT.
 */
#include <platform.h>

#include "kernel/arch/x86_64/percpu.h"
#include "kernel/arch/x86_64/trap.h"

struct percpu percpu[CONFIG_MAX_CPUS];

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_TSS   0x28

void percpu_install(struct percpu *p, uint32_t id, uint32_t apic_id,
		    uint64_t stack_top)
{
	p->self = p;
	p->id = id;
	p->apic_id = apic_id;
	p->stack_top = stack_top;
	p->irq_depth = 0;
	wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)p);
}

/* A 16-byte available-64-bit-TSS descriptor, in two GDT slots. */
static void tss_descriptor(uint64_t gdt[2], const struct tss *t)
{
	uint64_t base = (uint64_t)(uintptr_t)t, limit = sizeof(*t) - 1;

	gdt[0] = (limit & 0xffff) | (base & 0xffffff) << 16 |
		 UINT64_C(0x89) << 40 | ((limit >> 16) & 0xf) << 48 |
		 ((base >> 24) & 0xff) << 56;
	gdt[1] = base >> 32;
}

void cpu_tables_init(struct percpu *p)
{
	struct dt_ptr ptr = { sizeof(p->gdt) - 1, (uint64_t)(uintptr_t)p->gdt };

	p->gdt[0] = 0;
	p->gdt[1] = UINT64_C(0x00af9a000000ffff); /* SEL_KCODE: 64-bit code */
	p->gdt[2] = UINT64_C(0x00cf92000000ffff); /* SEL_KDATA: data */
	p->gdt[3] = UINT64_C(0x00cf9a000000ffff); /* 32-bit code (trampoline) */
	p->gdt[4] = 0;
	p->tss = (struct tss){ .iomap_base = sizeof(struct tss) };
	p->tss.ist[0] = (uint64_t)(uintptr_t)(p->df_stack + sizeof(p->df_stack));
	tss_descriptor(&p->gdt[5], &p->tss);
	lgdt_reload(&ptr, SEL_KCODE, SEL_KDATA);
	ltr(SEL_TSS);
	idt_init_cpu(p);
}
