/* SPDX-License-Identifier: MIT */
/*
 * The kernel platform: implements kernel/platform_contract.h on the real
 * machine (under QEMU). See the contract for what each hook promises.
 *
 *   CPU         GS-based per-CPU area (percpu.h)
 *   interrupts  pushf; cli / popf; interrupt handlers count their depth
 *   memory      the direct map of all RAM at DIRECT_MAP_BASE
 *   TLB         invlpg, a CR4.PGE toggle or CR3 reload, CR3 loads
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

/* The direct map's window only: the image's addresses are not the heap's. */
static inline bool virt_to_phys_checked(const void *va, paddr_t *pa)
{
	uint64_t v = (uint64_t)(uintptr_t)va;

	if (v < DIRECT_MAP_BASE || v - DIRECT_MAP_BASE >= DIRECT_MAP_SIZE)
		return false;
	*pa = PADDR(v - DIRECT_MAP_BASE);
	return true;
}

/*
 * A range of more than this many pages is flushed whole: one full flush
 * (and the refill of what it dropped) costs less than a long run of
 * invlpg, each of which also drops paging-structure caches (Linux's
 * tlb_single_page_flush_ceiling is 33).
 */
#define TLB_FLUSH_ALL_PAGES 32

/* invlpg drops the page's entry whatever its size and Global bit. */
static inline void tlb_flush_page(uintptr_t va)
{
	invlpg(va);
}

/*
 * Every Global entry too. With CR4.PGE set a CR3 load keeps Global
 * entries, but any write that changes PGE drops every entry (SDM vol. 3,
 * 4.10.4.1): clear it and set it again, with interrupts masked so that
 * no handler runs (or rewrites CR4) in between. That is Linux's
 * native_flush_tlb_global() on CPUs without INVPCID; INVPCID's
 * all-contexts type would do it in one instruction but needs a CPUID
 * check, and without PCIDs buys little. With PGE off no entry is Global
 * and a CR3 reload drops them all.
 */
static inline void tlb_flush_all(void)
{
	uint64_t flags = local_irq_save();
	uint64_t cr4 = read_cr4();

	if (cr4 & CR4_PGE) {
		write_cr4(cr4 & ~CR4_PGE);
		write_cr4(cr4);
	} else {
		write_cr3(read_cr3());
	}
	local_irq_restore(flags);
}

/* Page by page up to TLB_FLUSH_ALL_PAGES pages, else everything. */
static inline void tlb_flush_range(uintptr_t va, size_t len)
{
	uint64_t first = ALIGN_DOWN(va, PAGE_SIZE);
	uint64_t end = va + len - 1 < va ? UINT64_MAX : va + len - 1;
	uint64_t last = ALIGN_DOWN(end, PAGE_SIZE);

	if (len == 0)
		return;
	if ((last - first) / PAGE_SIZE >= TLB_FLUSH_ALL_PAGES) {
		tlb_flush_all();
		return;
	}
	for (uint64_t p = first;; p += PAGE_SIZE) {
		invlpg(p);
		if (p == last)
			break;
	}
}

/* A CR3 load: drops every non-Global entry (no PCIDs are used). */
static inline void mmu_switch_root(paddr_t root)
{
	write_cr3(root.v);
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
