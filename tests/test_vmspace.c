/* SPDX-License-Identifier: MIT */
/*
 * Address spaces on the host (kernel/mm/vmspace.h): activation, TLB
 * shootdown checked on the host's TLB event log (flushed on every CPU
 * where the space is active before the frame is freed: T13), the flush
 * stride (MOM-02), failed operations (SPA-01), demand faults, copy-on-
 * write forks, and faults on several CPUs at once.
 *
 * The host has no MMU: a "user access" is touch(), which walks the table
 * like the MMU and calls vmspace_fault() where the MMU would fault.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/lib/rng.h"
#include "kernel/mm/vmspace.h"
#include "tests/pt_support.h"

#define UVA (4 * GIB) /* user addresses the tests use */

static int vs_setup(void **state)
{
	hang_watchdog_arm(60);
	if (setup(state) != 0)
		return -1;
	frames_at_start = free_frames();
	if (pt_create(&kpt, PT_KERNEL, NULL, PT_LOCK_TREE) != E_OK)
		return -1;
	vmspace_init(pt_root_pa(&kpt));
	host_tlb_log_clear();
	return 0;
}

static int vs_teardown(void **state)
{
	hang_watchdog_arm(0);
	frame_set_drop_hook(PAGE_FRAME, NULL);
	vmspace_activate(NULL);
	pt_destroy(&kpt);
	rcu_drain();
	(void)heap_reclaim();
	pcp_drain_local();
	if (free_frames() != frames_at_start) {
		print_error("teardown: %llu frames free, %llu at the start\n",
			    (unsigned long long)free_frames(),
			    (unsigned long long)frames_at_start);
		return -1;
	}
	return teardown(state);
}

/*
 * A user access of va through vs: the MMU's walk, and a fault where it
 * would fault (a hole, or a write to a read-only page). Returns the
 * byte's host address, or NULL where the access faults for good.
 */
static uint8_t *touch(struct vmspace *vs, uint64_t va, bool write)
{
	for (int tries = 0; tries < 3; tries++) {
		unsigned level = 0;
		pte_t e;

		rcu_read_enter();
		e = pt_walk(&vs->pt, va, &level);
		rcu_read_exit();
		if (pte_present(e) && (!write || (e & PTE_W)))
			return (uint8_t *)phys_to_virt(PADDR(pte_addr(e))) +
			       (va & (pt_entry_size(level) - 1));
		if (vmspace_fault(vs, va, write) != E_OK)
			return NULL;
	}
	return NULL;
}

/* ------------------------------------------------------ other CPUs */

/* A CPU on which vs is active until the gate opens (serving IPIs). */
struct other {
	pthread_t thread;
	struct vmspace *vs;
	struct gate hold;
	_Atomic int cpu;
};

static void *other_main(void *arg)
{
	struct other *o = arg;
	int id = host_cpu_register();

	if (id < 0)
		abort();
	atomic_store(&o->cpu, id);
	vmspace_activate(o->vs);
	gate_pass(&o->hold);
	vmspace_activate(NULL);
	host_cpu_unregister();
	return NULL;
}

static void other_start(struct other *o, struct vmspace *vs)
{
	memset(o, 0, sizeof(*o));
	o->vs = vs;
	atomic_store(&o->cpu, -1);
	assert_int_equal(pthread_create(&o->thread, NULL, other_main, o), 0);
	gate_wait_reached(&o->hold);
}

static void other_stop(struct other *o)
{
	gate_open(&o->hold);
	assert_int_equal(pthread_join(o->thread, NULL), 0);
}

/* ------------------------------------------------------ the free mark */

static struct page *watched;
static _Atomic uint64_t freed_at; /* TLB-log mark when watched was freed */

static void on_drop(struct page *p, unsigned order)
{
	(void)order;
	if (p == watched)
		atomic_store(&freed_at, host_tlb_mark());
}

static void watch(struct page *p)
{
	watched = p;
	atomic_store(&freed_at, 0);
	frame_set_drop_hook(PAGE_FRAME, on_drop);
}

/* -------------------------------------------------------------- tests */

static void test_activate_loads_the_root_and_holds_a_reference(void **state)
{
	struct vmspace *vs = vmspace_create(PT_LOCK_TREE);
	struct host_tlb_event ev[8];
	size_t n;

	(void)state;
	assert_non_null(vs);
	assert_true(vmspace_validate(vs));
	host_tlb_log_clear();
	vmspace_activate(vs);
	assert_ptr_equal(vmspace_current(), vs);
	assert_int_equal(atomic_load(&vs->refs), 2);
	vmspace_put(vs); /* the CPU's reference keeps it */
	assert_int_equal(atomic_load(&vs->refs), 1);
	n = host_tlb_log_read(cpu_id(), ev, 8);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].op, HOST_TLB_SWITCH);
	assert_int_equal(ev[0].root.v, pt_root_pa(&vs->pt).v);
	vmspace_activate(NULL); /* the last reference: destroyed */
	assert_null(vmspace_current());
}

static void test_map_query_protect_unmap(void **state)
{
	struct vmspace *vs = vmspace_create(PT_LOCK_TREE);
	paddr_t a = new_frame(0), big = new_frame(9);
	struct pt_mapping m;

	(void)state;
	assert_int_equal(vmspace_map(vs, UVA, P4K, a, PTE_W, VM_TRACKED), E_OK);
	assert_int_equal(vmspace_map(vs, UVA + P2M, P2M, big, 0,
				     VM_TRACKED | VM_HUGE), E_OK);
	assert_int_equal(frame_put(page_of(a)), E_OK);
	assert_int_equal(frame_put(page_of(big)), E_OK);
	m = vmspace_query(vs, UVA + 5);
	assert_true(m.present && m.tracked && (m.prot & PTE_W));
	m = vmspace_query(vs, UVA + P2M + 77 * P4K);
	assert_true(m.present);
	assert_int_equal(m.size, P2M);
	assert_int_equal(vmspace_protect(vs, UVA, 2 * P2M, PTE_NX), E_OK);
	assert_false(vmspace_query(vs, UVA).prot & PTE_W);
	assert_true(vmspace_validate(vs));
	assert_int_equal(vmspace_unmap(vs, UVA, 2 * P2M), E_OK);
	assert_false(vmspace_query(vs, UVA).present);
	assert_true(is_free(page_of(a)) && is_free(page_of(big)));
	vmspace_put(vs);
}

/*
 * T13 on the event log: a page unmapped while the space is active on
 * another CPU is flushed there (and here) before its frame is freed.
 */
static void test_t13_flushed_everywhere_before_freed(void **state)
{
	struct vmspace *vs = vmspace_create(PT_LOCK_TREE);
	paddr_t a = new_frame(0);
	struct other o;
	uint64_t start;

	(void)state;
	vmspace_activate(vs);
	assert_int_equal(vmspace_map(vs, UVA, P4K, a, PTE_W, VM_TRACKED), E_OK);
	assert_int_equal(frame_put(page_of(a)), E_OK);
	other_start(&o, vs);
	watch(page_of(a));
	start = host_tlb_mark();
	assert_int_equal(vmspace_unmap(vs, UVA, P4K), E_OK);
	assert_true(atomic_load(&freed_at) > start);
	assert_true(host_tlb_flushed((unsigned)atomic_load(&o.cpu), UVA, start,
				     atomic_load(&freed_at)));
	assert_true(host_tlb_flushed(cpu_id(), UVA, start,
				     atomic_load(&freed_at)));
	assert_true(atomic_load(&vs->ipis) >= 1);
	other_stop(&o);
	vmspace_activate(NULL);
	vmspace_put(vs);
}

/* A space active nowhere else costs no IPI. */
static void test_no_ipi_where_inactive(void **state)
{
	struct vmspace *vs = vmspace_create(PT_LOCK_TREE);
	paddr_t a = new_frame(0);

	(void)state;
	assert_int_equal(vmspace_map(vs, UVA, P4K, a, 0, VM_TRACKED), E_OK);
	assert_int_equal(frame_put(page_of(a)), E_OK);
	assert_int_equal(vmspace_unmap(vs, UVA, P4K), E_OK);
	assert_int_equal(atomic_load(&vs->ipis), 0);
	vmspace_put(vs);
}

/*
 * MOM-02: a huge page is flushed with one step of its size, not 512 of
 * 4 KiB; more than VMSPACE_FLUSH_ALL_PAGES steps become one root switch.
 */
static void test_mom02_flush_steps_by_page_size(void **state)
{
	struct vmspace *vs = vmspace_create(PT_LOCK_TREE);
	paddr_t big = new_frame(9);
	struct host_tlb_event ev[64];
	size_t n;
	unsigned pages = 0, switches = 0;

	(void)state;
	vmspace_activate(vs);
	assert_int_equal(vmspace_map(vs, UVA, P2M, big, 0, VM_TRACKED | VM_HUGE),
			 E_OK);
	assert_int_equal(frame_put(page_of(big)), E_OK);
	host_tlb_log_clear();
	assert_int_equal(vmspace_unmap(vs, UVA, P2M), E_OK);
	n = host_tlb_log_read(cpu_id(), ev, 64);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].op, HOST_TLB_PAGE);
	assert_int_equal(ev[0].va, UVA);
	/* 64 small pages: above the threshold, one switch. */
	assert_int_equal(vmspace_add_region(vs, UVA, 64 * P4K, PTE_W,
					    VM_DEMAND), E_OK);
	for (unsigned i = 0; i < 64; i++)
		assert_non_null(touch(vs, UVA + i * P4K, true));
	host_tlb_log_clear();
	assert_int_equal(vmspace_unmap(vs, UVA, 64 * P4K), E_OK);
	n = host_tlb_log_read(cpu_id(), ev, 64);
	for (size_t i = 0; i < n; i++) {
		pages += ev[i].op == HOST_TLB_PAGE;
		switches += ev[i].op == HOST_TLB_SWITCH;
	}
	assert_int_equal(pages, 0);
	assert_int_equal(switches, 1);
	vmspace_activate(NULL);
	vmspace_put(vs);
}

/* WF-FAIL-NOOP / SPA-01 for the space's operations. */
static void test_failed_operations_change_nothing(void **state)
{
	struct vmspace *vs = vmspace_create(PT_LOCK_TREE);
	paddr_t a = new_frame(0), b = new_frame(0), big = new_frame(9);
	uint64_t before;

	(void)state;
	assert_int_equal(vmspace_map(vs, UVA + 8 * P4K, P4K, a, 0, VM_TRACKED),
			 E_OK);
	assert_int_equal(vmspace_map(vs, UVA + P2M, P2M, big, 0,
				     VM_TRACKED | VM_HUGE), E_OK);
	before = pt_hash(&vs->pt);
	/* A range whose ninth page is mapped: nothing of it is mapped. */
	assert_int_equal(vmspace_map(vs, UVA, 16 * P4K, b, 0, 0), E_BUSY);
	/* A tracked page that is no allocated frame: a freed one, and a
	 * page-table node. */
	{
		paddr_t gone = new_frame(0);

		assert_int_equal(frame_free(pa_to_pfn(gone), 0), E_OK);
		assert_int_equal(vmspace_map(vs, UVA, P4K, gone, 0, VM_TRACKED),
				 E_NOT_ALLOCATED);
		assert_int_equal(vmspace_map(vs, UVA, P4K,
					     pt_root_pa(&vs->pt), 0,
					     VM_TRACKED), E_NOT_ALLOCATED);
	}
	assert_int_equal(vmspace_map(vs, PT_USER_END - P4K, 2 * P4K, b, 0, 0),
			 E_RANGE);
	assert_int_equal(vmspace_map(vs, UVA, P4K, b, PTE_U, 0), E_INVAL);
	assert_int_equal(vmspace_protect(vs, UVA + P2M + P4K, P4K, 0), E_INVAL);
	assert_int_equal(vmspace_unmap(vs, UVA + P2M, P4K), E_INVAL);
	assert_int_equal(pt_hash(&vs->pt), before);
	assert_int_equal(frame_refcount(page_of(b)), 1);
	assert_int_equal(frame_free(pa_to_pfn(b), 0), E_OK);
	assert_int_equal(frame_put(page_of(a)), E_OK);
	assert_int_equal(frame_put(page_of(big)), E_OK);
	vmspace_put(vs);
}

/*
 * A map that runs out of nodes midway undoes what it mapped, and the
 * undo is flushed on the CPUs where the space is active (SPA-01).
 */
static void test_map_without_memory_is_undone_and_flushed(void **state)
{
	struct vmspace *vs = vmspace_create(PT_LOCK_TREE);
	paddr_t run = new_frame(10); /* 1024 pages of MMIO-like memory */
	struct other o;
	uint64_t before, start;
	unsigned n;

	(void)state;
	vmspace_activate(vs);
	other_start(&o, vs);
	before = pt_hash(&vs->pt);
	heap_drain_local();
	n = exhaust_frames();
	/* A frame for each of the first table's nodes: the PDPT, the PD,
	 * the first PT; the second 2 MiB needs one more. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(frame_free(hoard[--n], 0), E_OK);
	start = host_tlb_mark();
	assert_int_equal(vmspace_map(vs, UVA, 2 * P2M, run, PTE_W, 0), E_NOMEM);
	assert_true(host_tlb_flushed((unsigned)atomic_load(&o.cpu), UVA, start,
				     host_tlb_mark()));
	release_frames(n);
	other_stop(&o);
	vmspace_activate(NULL);
	rcu_drain();
	assert_int_equal(pt_hash(&vs->pt), before);
	vmspace_put(vs);
	assert_int_equal(frame_free(pa_to_pfn(run), 10), E_OK);
}

static void test_demand_faults(void **state)
{
	struct vmspace *vs = vmspace_create(PT_LOCK_TREE);
	uint8_t *p;

	(void)state;
	assert_int_equal(vmspace_add_region(vs, UVA, 16 * P4K, PTE_W,
					    VM_DEMAND), E_OK);
	assert_int_equal(vmspace_add_region(vs, UVA + 64 * P4K, 4 * P4K, 0,
					    VM_DEMAND), E_OK);
	assert_int_equal(vmspace_add_region(vs, UVA + 8 * P4K, P4K, 0, 0),
			 E_BUSY);
	assert_false(vmspace_query(vs, UVA + 3 * P4K).present);
	/* The next frame out of this CPU's cache is a dirty one. */
	{
		paddr_t dirty = new_frame(0);

		(void)touch(vs, UVA, false); /* the tables exist from here */
		memset(phys_to_virt(dirty), 0xee, PAGE_SIZE);
		assert_int_equal(frame_free(pa_to_pfn(dirty), 0), E_OK);
		p = touch(vs, UVA + 3 * P4K + 100, false);
		assert_non_null(p);
		assert_int_equal(vmspace_query(vs, UVA + 3 * P4K).pa.v,
				 dirty.v);
	}
	assert_int_equal(*p, 0); /* zeroed */
	assert_int_equal(p[-100 + 4095], 0);
	p = touch(vs, UVA + 3 * P4K + 100, true);
	assert_non_null(p);
	*p = 0x5a;
	assert_int_equal(*touch(vs, UVA + 3 * P4K + 100, false), 0x5a);
	/* Outside every region; a write to a read-only region. */
	assert_null(touch(vs, UVA + 32 * P4K, false));
	assert_int_equal(vmspace_fault(vs, UVA + 32 * P4K, false), E_FAULT);
	assert_non_null(touch(vs, UVA + 64 * P4K, false));
	assert_null(touch(vs, UVA + 64 * P4K, true));
	assert_int_equal(vmspace_fault(vs, PT_USER_END + 5, false), E_FAULT);
	assert_true(vmspace_validate(vs));
	vmspace_put(vs); /* frees the faulted-in frames */
}

/* The platform's user accesses: through the active space, faults in. */
static void test_user_access_through_the_active_space(void **state)
{
	struct vmspace *vs = vmspace_create(PT_LOCK_TREE);
	uint64_t v = 0;

	(void)state;
	assert_int_equal(user_read_u64(UVA, &v), E_FAULT); /* no space */
	assert_int_equal(vmspace_add_region(vs, UVA, 4 * P4K, PTE_W, VM_DEMAND),
			 E_OK);
	assert_int_equal(vmspace_add_region(vs, UVA + 8 * P4K, P4K, 0,
					    VM_DEMAND), E_OK);
	vmspace_activate(vs);
	assert_int_equal(user_write_u64(UVA + 16, 0xfeed), E_OK);
	assert_int_equal(user_read_u64(UVA + 16, &v), E_OK);
	assert_int_equal(v, 0xfeed);
	assert_int_equal(*(uint64_t *)touch(vs, UVA + 16, false), 0xfeed);
	assert_int_equal(user_read_u64(UVA + 8 * P4K, &v), E_OK);
	assert_int_equal(v, 0);
	assert_int_equal(user_write_u64(UVA + 8 * P4K, 1), E_FAULT);
	assert_int_equal(user_read_u64(UVA + 5 * P4K, &v), E_FAULT);
	assert_int_equal(user_read_u64(UVA + 17, &v), E_FAULT);
	assert_int_equal(user_read_u64(PT_USER_END, &v), E_FAULT);
	vmspace_activate(NULL);
	vmspace_put(vs);
}

/* Copy-on-write: shared after the fork, copied on the first write. */
static void test_cow_fork(void **state)
{
	struct vmspace *parent = vmspace_create(PT_LOCK_TREE), *child;
	struct pt_mapping pm, cm;
	uint8_t *p, *c;

	(void)state;
	assert_int_equal(vmspace_add_region(parent, UVA, 8 * P4K, PTE_W,
					    VM_DEMAND | VM_COPY), E_OK);
	for (unsigned i = 0; i < 8; i++)
		*touch(parent, UVA + i * P4K, true) = (uint8_t)(0x10 + i);
	child = vmspace_fork(parent);
	assert_non_null(child);
	assert_true(vmspace_validate(parent) && vmspace_validate(child));
	pm = vmspace_query(parent, UVA);
	cm = vmspace_query(child, UVA);
	assert_true(pm.cow && cm.cow);
	assert_int_equal(pm.pa.v, cm.pa.v);
	assert_false(pm.prot & PTE_W);
	assert_int_equal(frame_refcount(page_of(pm.pa)), 2);
	/* Reads share; the child's write copies. */
	assert_int_equal(*touch(child, UVA, false), 0x10);
	c = touch(child, UVA, true);
	assert_non_null(c);
	*c = 0x99;
	cm = vmspace_query(child, UVA);
	assert_int_not_equal(cm.pa.v, pm.pa.v);
	assert_false(cm.cow);
	assert_int_equal(*touch(parent, UVA, false), 0x10);
	assert_int_equal(*touch(child, UVA, false), 0x99);
	assert_int_equal(*touch(child, UVA + 5 * P4K, false), 0x15);
	/* The parent is now the frame's last owner: writable, no copy. */
	assert_int_equal(frame_refcount(page_of(pm.pa)), 1);
	p = touch(parent, UVA, true);
	assert_non_null(p);
	assert_int_equal(vmspace_query(parent, UVA).pa.v, pm.pa.v);
	assert_false(vmspace_query(parent, UVA).cow);
	assert_true(vmspace_validate(parent) && vmspace_validate(child));
	vmspace_put(child);
	/* The child's references are gone: the parent's pages own theirs. */
	assert_int_equal(frame_refcount(page_of(vmspace_query(parent, UVA + P4K).pa)), 1);
	vmspace_put(parent);
}

/* A huge copy-on-write page is copied whole. */
static void test_cow_huge_page(void **state)
{
	struct vmspace *parent = vmspace_create(PT_LOCK_TREE), *child;
	paddr_t big = new_frame(9);
	struct pt_mapping m;

	(void)state;
	memset(phys_to_virt(big), 0x3c, P2M);
	assert_int_equal(vmspace_add_region(parent, UVA, P2M, PTE_W, VM_COPY),
			 E_OK);
	assert_int_equal(vmspace_map(parent, UVA, P2M, big, PTE_W,
				     VM_TRACKED | VM_HUGE), E_OK);
	assert_int_equal(frame_put(page_of(big)), E_OK);
	child = vmspace_fork(parent);
	assert_non_null(child);
	*touch(child, UVA + P2M - 1, true) = 0x77;
	m = vmspace_query(child, UVA);
	assert_int_equal(m.size, P2M);
	assert_int_not_equal(m.pa.v, big.v);
	assert_int_equal(*touch(child, UVA + 12345, false), 0x3c);
	assert_int_equal(*touch(parent, UVA + P2M - 1, false), 0x3c);
	vmspace_put(child);
	vmspace_put(parent);
}

/* ------------------------------------------------------------- races */

/*
 * Several CPUs with the space active fault the same demand pages and
 * their own at once, while one CPU forks and unmaps: every page is
 * mapped once, each frame is counted right, everything comes back.
 */
static struct vmspace *shared_vs;

static void fault_cpu(unsigned index, void *arg)
{
	uint64_t rng = 77 + index;

	(void)arg;
	vmspace_activate(shared_vs);
	for (unsigned round = 0; round < 400; round++) {
		uint64_t va = UVA + (rng_next(&rng) % 256) * P4K;
		uint8_t *p = touch(shared_vs, va, rng_next(&rng) % 2);

		CHECK(p != NULL);
		if (index == 0 && round % 50 == 0) {
			struct vmspace *child = vmspace_fork(shared_vs);

			CHECK(child != NULL);
			if (child != NULL) {
				CHECK(touch(child, va, true) != NULL);
				vmspace_put(child);
			}
		}
		if (index == 1 && round % 64 == 0)
			CHECK(vmspace_unmap(shared_vs, UVA, 32 * P4K) == E_OK);
	}
	vmspace_activate(NULL);
}

static void test_concurrent_faults_forks_and_unmaps(void **state)
{
	(void)state;
	shared_vs = vmspace_create(PT_LOCK_TREE);
	assert_non_null(shared_vs);
	assert_int_equal(vmspace_add_region(shared_vs, UVA, 256 * P4K, PTE_W,
					    VM_DEMAND | VM_COPY), E_OK);
	run_on_cpus(3, fault_cpu, NULL);
	assert_true(vmspace_validate(shared_vs));
	vmspace_put(shared_vs);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, vs_setup, vs_teardown)
	const struct CMUnitTest tests[] = {
		T(test_activate_loads_the_root_and_holds_a_reference),
		T(test_map_query_protect_unmap),
		T(test_t13_flushed_everywhere_before_freed),
		T(test_no_ipi_where_inactive),
		T(test_mom02_flush_steps_by_page_size),
		T(test_failed_operations_change_nothing),
		T(test_map_without_memory_is_undone_and_flushed),
		T(test_demand_faults),
		T(test_user_access_through_the_active_space),
		T(test_cow_fork),
		T(test_cow_huge_page),
		T(test_concurrent_faults_forks_and_unmaps),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
