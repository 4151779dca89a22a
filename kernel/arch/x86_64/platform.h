/* SPDX-License-Identifier: MIT */
/*
 * The kernel platform: implements kernel/platform_contract.h on the real
 * machine (under QEMU). See the contract for what each hook promises.
 *
 *   CPU         GS-based per-CPU area (percpu.h)
 *   interrupts  pushf; cli / popf; interrupt handlers count their depth
 *   memory      the direct map of all RAM at DIRECT_MAP_BASE
 *   time        the TSC (calibrated against the PIT at boot)
 */
#ifndef KERNEL_ARCH_X86_64_PLATFORM_H
#define KERNEL_ARCH_X86_64_PLATFORM_H

#include "kernel/platform_contract.h"

#include <stdatomic.h>

#include "kernel/arch/x86_64/cpu.h"
#include "kernel/arch/x86_64/percpu.h"

/* CPUs brought up so far (ids 0 .. n-1); only grows. */
extern _Atomic unsigned kernel_ncpus;

static inline unsigned cpu_id(void)
{
	return this_cpu_id();
}

static inline unsigned ncpus(void)
{
	return atomic_load_explicit(&kernel_ncpus, memory_order_acquire);
}

/*
 * Two spin hints (the contract says which wait uses which):
 *
 * cpu_relax() pauses; one call in RELAX_HALT_EVERY on each CPU halts
 * instead when interrupts are enabled, until the next interrupt (at most a
 * timer tick). A vCPU spinning on a value that a descheduled vCPU will
 * write only burns the host time that one needs: with 64 vCPUs on 2 host
 * cores, pure spinning made a waiting CPU's pcp drain round take tens of
 * seconds. Halting with interrupts masked would never wake, so those loops
 * (lock waits) only pause; they are short by construction.
 *
 * cpu_spin() only pauses: for waits whose end sends this CPU no interrupt
 * (smp_call_cond() waiting for targets, which clear a bit and send nothing
 * back), where a halt would sleep until the next tick, up to 10 ms, after
 * the answer came: a latency cliff for a TLB shootdown.
 */
#define RELAX_HALT_EVERY 1024

static inline void cpu_relax(void)
{
	if (this_cpu_relax_count() % RELAX_HALT_EVERY == 0 && irqs_enabled()) {
		this_cpu_count_relax_halt();
		hlt();
	} else {
		pause();
	}
}

static inline void cpu_spin(void)
{
	pause();
}

static inline irqflags_t irq_save(void)
{
	return (irqflags_t){ local_irq_save() };
}

static inline void irq_restore(irqflags_t f)
{
	/* popf: if IF becomes set, pending interrupts are taken at once. */
	local_irq_restore(f.flags);
}

static inline bool irqs_enabled(void)
{
	return (read_rflags() & RFLAGS_IF) != 0;
}

static inline bool in_irq(void)
{
	return this_cpu_irq_depth() > 0;
}

static inline void *phys_to_virt(paddr_t pa)
{
	return (void *)(uintptr_t)(DIRECT_MAP_BASE + pa.v);
}

/* The direct map, or the kernel image (linked at KERNEL_BASE + physical). */
static inline paddr_t virt_to_phys(const void *va)
{
	uint64_t v = (uint64_t)(uintptr_t)va;

	return PADDR(v >= KERNEL_BASE ? v - KERNEL_BASE : v - DIRECT_MAP_BASE);
}

static inline uint64_t cycles(void)
{
	return rdtsc();
}

static inline void hb_acquire(const void *obj)
{
	(void)obj;
}

static inline void hb_release(const void *obj)
{
	(void)obj;
}

#endif /* KERNEL_ARCH_X86_64_PLATFORM_H */
