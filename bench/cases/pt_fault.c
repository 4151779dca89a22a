/* SPDX-License-Identifier: MIT */
/*
 * pt/fault: demand faults, as will-it-scale's page_fault1 (BENCHMARKS.md,
 * "Page tables"; issue 13's target: 2 vCPUs at least 1.6x one under
 * TCG): each thread touches every page of a fresh 4 MiB demand region of
 * one address space that is active on every CPU of the run, then unmaps
 * the region, again. Each touch is a first write: a fault that maps a
 * zeroed frame from this CPU's cache through a one-page cursor
 * (kernel/mm/vmspace.c: vmspace_fault()). In the kernel the touch is a
 * real store through the MMU and the page-fault hook; on the host,
 * user_write_u64()'s software walk and the same vmspace_fault().
 *
 * The space's tables are locked as the configuration says (tree: per
 * node; space: the baseline's one lock). Thread t's region is 1 GiB from
 * the others' (pt_cases.h): its own page directory. The unmap is one
 * cursor over the region and one shootdown, which the other CPUs of the
 * run answer (the space is active on all of them, as a threaded
 * process's is), and it detaches the region's two page tables, freed
 * after a grace period: as munmap() of a populated region.
 *
 * An operation is one page's fault (Mops/s: faults a second), each timed
 * alone in timed iterations; the unmap is counted in the last page's
 * time. An iteration is one region.
 */
#include "bench/cases/pt_cases.h"
#include "kernel/mm/heap.h"
#include "kernel/mm/vmspace.h"

#define FAULT_PAGES 1024u /* 4 MiB */

static const int64_t fault_pages[] = { FAULT_PAGES };

/*
 * The run's space: made by the first thread to come (the others wait for
 * it), put by thread 0 after the closing barrier. [made/fault_vs: the
 * once-flag's release/acquire]
 */
static struct vmspace *fault_vs;
static _Atomic int fault_state; /* 0 none, 1 being made, 2 ready, 3 failed */

static struct vmspace *get_space(void)
{
	int s = 0;

	if (atomic_compare_exchange_strong(&fault_state, &s, 1)) {
		fault_vs = vmspace_create(pt_bench.user.locking);
		atomic_store_explicit(&fault_state, fault_vs ? 2 : 3,
				      memory_order_release);
	}
	while ((s = atomic_load_explicit(&fault_state,
					 memory_order_acquire)) == 1)
		cpu_spin();
	return s == 2 ? fault_vs : NULL;
}

/* Touch every page of [va, va + n pages): n faults, each timed. */
static bool touch_region(struct bench_state *st, uint64_t va, unsigned n,
			 uint64_t *t)
{
	for (unsigned i = 0; i < n; i++) {
		if (user_write_u64(va + (uint64_t)i * PAGE_SIZE, i) != E_OK) {
			bench_error(st, "a demand fault failed");
			return false;
		}
		if (i + 1 < n && bench_timing(st))
			bench_lap(st, t, cycles());
	}
	return true;
}

static void pt_fault(struct bench_state *st)
{
	unsigned n = (unsigned)bench_arg(st, 0), me = bench_thread(st);
	uint64_t va = pt_thread_base(me);
	struct vmspace *vs = get_space();

	if (vs == NULL) {
		bench_error(st, "no memory for the address space");
		return;
	}
	if (vmspace_add_region(vs, va, (uint64_t)n * PAGE_SIZE,
			       PTE_W | PTE_NX, VM_DEMAND) != E_OK) {
		bench_error(st, "cannot add the region");
		return;
	}
	vmspace_activate(vs);
	while (bench_keep_running(st)) {
		uint64_t t = cycles();

		if (!touch_region(st, va, n, &t))
			break;
		if (vmspace_unmap(vs, va, (uint64_t)n * PAGE_SIZE) != E_OK) {
			bench_error(st, "the unmap failed");
			break;
		}
		if (bench_timing(st))
			bench_lap(st, &t, cycles());
		bench_items(st, n);
	}
	(void)!vmspace_unmap(vs, va, (uint64_t)n * PAGE_SIZE);
	vmspace_activate(NULL); /* the CPU's reference */
	if (!bench_barrier(st) || me != 0)
		return;
	/* Every thread has left the space: the last reference. */
	vmspace_put(vs);
	fault_vs = NULL;
	atomic_store(&fault_state, 0);
	rcu_drain();          /* the detached page tables */
	(void)heap_reclaim(); /* the space's bookkeeping, kept by the heap */
}

static const struct bench_case pt_fault_case = {
	.name = "pt/fault",
	.run = pt_fault,
	.configs = BENCH_PT_CONFIGS,
	.arg_name = "pages",
	.args = fault_pages,
	.nargs = ARRAY_SIZE(fault_pages),
};
BENCH_CASE(pt_fault_case);
