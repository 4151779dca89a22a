/* SPDX-License-Identifier: MIT */
/*
 * Address spaces on every CPU with the real MMU (selftest_vmspace.h):
 * CR3 switches, shootdowns by IPI, the page-fault hook's demand and
 * copy-on-write faults.
 *
 * The kernel touches user pages only through user_read_u64()/user_write_u64():
 * probes (a fault is an error value, not a crash) inside a
 * user_access_begin() window (SMAP).
 */
#include <stdatomic.h>
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/lib/rng.h"
#include "kernel/mm/frame.h"
#include "kernel/mm/vmspace.h"
#include "kernel/selftest_check.h"
#include "kernel/selftest_vmspace.h"

#define P4K    UINT64_C(4096)
#define MIB    (UINT64_C(1) << 20)
#define GIB    (UINT64_C(1) << 30)
#define UVA    (8 * GIB)          /* each CPU's own range: UVA + cpu * 64 MiB */
#define SHARED (UVA + 32 * GIB)   /* every CPU's: 256 pages */
#define SHARED_PAGES 256u

/* A barrier for the CPUs of one smp_run_all(). */
static _Atomic unsigned arrived, generation;

static void cpus_meet(void)
{
	unsigned gen = atomic_load(&generation);

	if (atomic_fetch_add(&arrived, 1) + 1 == ncpus()) {
		atomic_store(&arrived, 0);
		atomic_fetch_add(&generation, 1);
		return;
	}
	while (atomic_load(&generation) == gen)
		cpu_spin();
}

static _Atomic unsigned failures;

#define FAIL_IF(cond)                                                   \
	do {                                                            \
		if (cond) {                                             \
			if (atomic_fetch_add(&failures, 1) < 4)         \
				klog("selftest:   cpu %u: %s (%s)",     \
				     cpu_id(), #cond, HERE);            \
		}                                                       \
	} while (0)

/* -------------------------------------------- map, touch, protect, unmap */

static struct vmspace *shared_vs;
static uint64_t run_until;

/* One page of this CPU's range through its whole life. */
static void own_page(uint64_t va, uint64_t tag)
{
	struct frame_result f = frame_alloc(0, 0);
	uint64_t v = 0;

	if (f.err != E_OK) {
		FAIL_IF(f.err != E_OK);
		return;
	}
	FAIL_IF(vmspace_map(shared_vs, va, P4K, pfn_to_pa(f.pfn), PTE_W | PTE_NX,
			    VM_TRACKED) != E_OK);
	FAIL_IF(user_write_u64(va + 8, tag) != E_OK);
	/* Written through the user mapping, read through the direct map. */
	FAIL_IF(((uint64_t *)phys_to_virt(pfn_to_pa(f.pfn)))[1] != tag);
	FAIL_IF(vmspace_protect(shared_vs, va, P4K, PTE_NX) != E_OK);
	FAIL_IF(user_write_u64(va + 8, tag + 1) != E_FAULT);
	FAIL_IF(user_read_u64(va + 8, &v) != E_OK || v != tag);
	FAIL_IF(vmspace_unmap(shared_vs, va, P4K) != E_OK);
	FAIL_IF(user_read_u64(va + 8, &v) != E_FAULT);
	FAIL_IF(frame_put(pfn_to_page(f.pfn)) != E_OK);
}

/* The shared range: map or unmap a page, read another (either may race). */
static void shared_step(uint64_t *rng)
{
	uint64_t va = SHARED + rng_next(rng) % SHARED_PAGES * P4K, v;

	if (rng_next(rng) % 2) {
		struct frame_result f = frame_alloc(0, FRAME_ZERO);
		err_t e;

		if (f.err != E_OK)
			return;
		e = vmspace_map(shared_vs, va, P4K, pfn_to_pa(f.pfn), PTE_W,
				VM_TRACKED);
		FAIL_IF(e != E_OK && e != E_BUSY);
		FAIL_IF(frame_put(pfn_to_page(f.pfn)) != E_OK);
	} else {
		FAIL_IF(vmspace_unmap(shared_vs, va, P4K) != E_OK);
	}
	va = SHARED + rng_next(rng) % SHARED_PAGES * P4K;
	(void)!user_read_u64(va, &v); /* mapped or not: no crash, no hang */
}

/* A space of this CPU's own, switched to and back (CR3 loads). */
static void private_step(struct vmspace *mine, uint64_t va)
{
	struct frame_result f = frame_alloc(0, 0);
	uint64_t v = 0;

	if (f.err != E_OK)
		return;
	vmspace_activate(mine);
	FAIL_IF(vmspace_map(mine, va, P4K, pfn_to_pa(f.pfn), PTE_W, VM_TRACKED) !=
		E_OK);
	FAIL_IF(user_write_u64(va, 0x1234) != E_OK);
	FAIL_IF(frame_put(pfn_to_page(f.pfn)) != E_OK);
	vmspace_activate(shared_vs);
	/* The shared space has nothing there: the switch took effect. */
	FAIL_IF(user_read_u64(va, &v) != E_FAULT);
	vmspace_activate(mine);
	FAIL_IF(user_read_u64(va, &v) != E_OK || v != 0x1234);
	FAIL_IF(vmspace_unmap(mine, va, P4K) != E_OK);
	vmspace_activate(shared_vs);
}

static void spaces_on_cpu(void *arg)
{
	uint64_t rng = 0x5eed0000ull + cpu_id(), i = 0;
	uint64_t mine_va = UVA + cpu_id() * 64 * MIB;
	struct vmspace *mine = vmspace_create(PT_LOCK_TREE);

	(void)arg;
	FAIL_IF(mine == NULL);
	vmspace_activate(shared_vs);
	cpus_meet();
	while (time_ns() < run_until && mine != NULL) {
		own_page(mine_va + (i % 512) * P4K, (uint64_t)(cpu_id() + 1) << 32 | i);
		if (i % 4 == 0)
			shared_step(&rng);
		if (i % 32 == 0)
			private_step(mine, mine_va + 2 * GIB);
		i++;
	}
	vmspace_activate(NULL);
	vmspace_put(mine);
}

bool selftest_vmspace_all_cpus(uint64_t run_ms)
{
	shared_vs = vmspace_create(PT_LOCK_TREE);
	CHECK(shared_vs != NULL);
	atomic_store(&failures, 0);
	run_until = time_ns() + run_ms * UINT64_C(1000000);
	smp_run_all(spaces_on_cpu, NULL);
	klog("selftest:   %llu shootdowns, %llu IPIs",
	     (unsigned long long)atomic_load(&shared_vs->shootdowns),
	     (unsigned long long)atomic_load(&shared_vs->ipis));
	CHECK(vmspace_validate(shared_vs));
	CHECK(vmspace_unmap(shared_vs, SHARED, SHARED_PAGES * P4K) == E_OK);
	vmspace_put(shared_vs);
	rcu_drain();
	CHECK(atomic_load(&failures) == 0);
	CHECK(frame_validate());
	return true;
}

/* ------------------------------------------------ demand and copy-on-write */

#define FAULT_PAGES 64u

static struct vmspace *parent, *child;

static uint64_t page_va(unsigned i)
{
	return UVA + i * P4K;
}

static void faults_on_cpu(void *arg)
{
	unsigned me = cpu_id(), n = ncpus();
	uint64_t v;

	(void)arg;
	vmspace_activate(parent);
	/* Every CPU touches every page at once: demand faults race. */
	for (unsigned i = 0; i < FAULT_PAGES; i++)
		FAIL_IF(user_read_u64(page_va((i + me) % FAULT_PAGES), &v) != E_OK ||
			v != 0);
	cpus_meet();
	for (unsigned i = me; i < FAULT_PAGES; i += n)
		FAIL_IF(user_write_u64(page_va(i), 0xa000 + i) != E_OK);
	cpus_meet();
	if (me == 0) {
		child = vmspace_fork(parent);
		FAIL_IF(child == NULL);
	}
	cpus_meet();
	if (child == NULL)
		return;
	/* Half the CPUs write the child, half the parent: copy-on-write
	 * faults on every CPU at once, on both sides of each page. */
	vmspace_activate(me % 2 ? child : parent);
	for (unsigned i = 0; i < FAULT_PAGES; i++) {
		uint64_t va = page_va((i + me) % FAULT_PAGES);

		FAIL_IF(user_read_u64(va, &v) != E_OK);
		if (me % 2)
			FAIL_IF(user_write_u64(va + 8 * (me + 1), me) != E_OK);
	}
	cpus_meet();
	vmspace_activate(NULL);
}

bool selftest_vmspace_faults_all_cpus(void)
{
	parent = vmspace_create(PT_LOCK_TREE);
	child = NULL;
	CHECK(parent != NULL);
	CHECK(vmspace_add_region(parent, UVA, FAULT_PAGES * P4K, PTE_W | PTE_NX,
				 VM_DEMAND | VM_COPY) == E_OK);
	atomic_store(&failures, 0);
	smp_run_all(faults_on_cpu, NULL);
	CHECK(child != NULL);
	/* The parent's pages hold the parent's values only; the child's
	 * hold them too, plus what the odd CPUs wrote. */
	for (unsigned i = 0; i < FAULT_PAGES; i++) {
		struct pt_mapping pm = vmspace_query(parent, page_va(i));
		struct pt_mapping cm = vmspace_query(child, page_va(i));
		const uint64_t *pp = phys_to_virt(pm.pa), *cp = phys_to_virt(cm.pa);

		CHECK(pm.present && cm.present);
		CHECK(pp[0] == 0xa000 + i && cp[0] == 0xa000 + i);
		for (unsigned c = 1; c < ncpus(); c += 2) {
			CHECK(pp[c + 1] == 0);
			CHECK(cp[c + 1] == c);
		}
		CHECK(ncpus() < 2 || pm.pa.v != cm.pa.v);
	}
	CHECK(vmspace_validate(parent) && vmspace_validate(child));
	vmspace_put(child);
	vmspace_put(parent);
	rcu_drain();
	CHECK(atomic_load(&failures) == 0);
	CHECK(frame_validate());
	return true;
}
