/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU areas and descriptor tables. Each CPU has its own GDT (with its
 * own TSS descriptor), TSS (with the interrupt stacks) and IDT.
 */
#include <platform.h>

#include "kernel/arch/x86_64/kstack.h"
#include "kernel/arch/x86_64/percpu.h"
#include "kernel/arch/x86_64/trap.h"

static struct percpu boot_area;
struct percpu *percpu_area[CONFIG_MAX_CPUS] = { &boot_area };

/* The boot CPU's IST stacks until frames exist (percpu_ist_alloc). */
static uint8_t early_ist[IST_COUNT][4096] __attribute__((aligned(16)));

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
	for (unsigned i = 0; i < IST_COUNT; i++) {
		uint64_t early = (uint64_t)(uintptr_t)early_ist[i] +
				 sizeof(early_ist[i]);

		ASSERT(p->ist_top[i] != 0 || p->id == 0);
		p->tss.ist[i] = p->ist_top[i] != 0 ? p->ist_top[i] : early;
	}
	tss_descriptor(&p->gdt[5], &p->tss);
	lgdt_reload(&ptr, SEL_KCODE, SEL_KDATA);
	ltr(SEL_TSS);
	idt_init_cpu(p);
}

/* A guard-paged stack for each IST slot; their tops in top[]. */
static err_t ist_alloc(uint64_t top[IST_COUNT])
{
	for (unsigned i = 0; i < IST_COUNT; i++) {
		err_t e = kstack_alloc(IST_PAGES, &top[i]);

		if (e != E_OK)
			return e;
	}
	return E_OK;
}

err_t percpu_ist_alloc(struct percpu *p)
{
	uint64_t top[IST_COUNT];
	err_t e = ist_alloc(top);

	if (e != E_OK)
		return e;
	for (unsigned i = 0; i < IST_COUNT; i++) {
		p->ist_top[i] = top[i];
		/* The CPU reads the TSS when it takes the exception: from
		   the next instruction boundary on, the new stack is used. */
		if (p == this_cpu())
			p->tss.ist[i] = top[i];
	}
	return E_OK;
}

err_t cpu_stacks_alloc(struct cpu_stacks *s)
{
	err_t e = kstack_alloc(KSTACK_PAGES, &s->top);

	if (e != E_OK)
		return e;
	s->lo = s->top - KSTACK_PAGES * PAGE_SIZE;
	return ist_alloc(s->ist_top);
}

void percpu_set_stacks(struct percpu *p, const struct cpu_stacks *s)
{
	p->stack_top = s->top;
	p->stack_lo = s->lo;
	for (unsigned i = 0; i < IST_COUNT; i++)
		p->ist_top[i] = s->ist_top[i];
}
