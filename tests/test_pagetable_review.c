/* SPDX-License-Identifier: MIT */
/*
 * Adversarial review of the page-table layer (kernel/mm/pagetable.c,
 * kernel/mm/cursor.c) and of the host RCU it relies on (host/rcu.c).
 * Every test here is named test_defect_<what> and fails on the code it
 * was written against, for the reason its comment states; races are
 * forced with gates and pause points, never hoped for.
 *
 * The fixture is test_pagetable's: a fresh 64 MiB machine with a kernel
 * table and a user table over it; teardown destroys both, drains RCU and
 * requires every frame back.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/pt_support.h"

#define P512G (512 * GIB)
#define WIN (GIB - 8 * MIB)

/* The node a cursor over [va, end) takes as its top (made if missing). */
static struct page *top_of(struct pagetable *pt, uint64_t va, uint64_t end)
{
	struct cursor c;
	struct page *top;

	assert_int_equal(cursor_new(&c, pt, va, end, NULL), E_OK);
	top = c.top;
	/* A page at va keeps the nodes the cursor made: a cursor trims
	 * those left empty when it drops (untracked: nobody's frame). */
	if (!cursor_query(&c).present)
		assert_int_equal(cursor_map(&c, PADDR(0), 0, 0), E_OK);
	cursor_drop(&c);
	return top;
}

/* ------------------------------------------------- the kernel half */

/*
 * The kernel half's PDPTs are "made with the table and never removed"
 * (pagetable.h): every user table copied the PML4 entries that point to
 * them. A kernel cursor whose range spans two PML4 slots (or is exactly
 * one, 512 GiB) has the root as its top, and cursor_unmap()'s unmap_in()
 * detaches every child node it leaves empty, PDPTs included: even an
 * unmap of nothing detaches two shared PDPTs, and after the grace period
 * they are freed while every user table still points to them (and the
 * next kernel cursor there makes a new PDPT that no user table sees).
 */
static void test_defect_kernel_unmap_detaches_shared_pdpts(void **state)
{
	uint64_t a = PT_KERNEL_BASE + P512G - P4K; /* slot 256's last page */
	pte_t e256 = pt_entry_get(kpt.root, PT_KERNEL_SLOT);
	pte_t e257 = pt_entry_get(kpt.root, PT_KERNEL_SLOT + 1);
	struct page *pdpt = pt_child(e256);
	struct cursor c;
	int64_t nodes;
	bool valid;

	(void)state;
	assert_int_equal(cursor_new(&c, &kpt, a, a + 2 * P4K, NULL), E_OK);
	assert_ptr_equal(c.top, kpt.root);
	assert_int_equal(cursor_unmap(&c, 2 * P4K), E_OK); /* maps nothing */
	cursor_drop(&c);
	nodes = atomic_load(&kpt.nodes);
	valid = pt_validate(&upt, &kpt);
	rcu_drain();
	print_message("kernel slot 256 %#llx (was %#llx), slot 257 %#llx, "
		      "nodes %lld (want 257), user table valid %d, the old "
		      "PDPT free %d\n",
		      (unsigned long long)pt_entry_get(kpt.root, PT_KERNEL_SLOT),
		      (unsigned long long)e256,
		      (unsigned long long)pt_entry_get(kpt.root,
						       PT_KERNEL_SLOT + 1),
		      (long long)nodes, valid, is_free(pdpt));
	/* Make the user table agree with the kernel's again (it points to
	 * freed PDPTs now) so that teardown's checks pass. */
	for (unsigned i = PT_KERNEL_SLOT; i < PT_KERNEL_SLOT + 2; i++) {
		pte_t k = pt_entry_get(kpt.root, i);

		if (pt_entry_get(upt.root, i) != k) {
			pt_entry_set(upt.root, i, k);
			upt.root->u.pt.nr_children--;
		}
	}
	assert_int_equal(pt_entry_get(kpt.root, PT_KERNEL_SLOT), e256);
	assert_int_equal(pt_entry_get(kpt.root, PT_KERNEL_SLOT + 1), e257);
	assert_int_equal(nodes, 1 + 256);
	assert_true(valid);
	assert_false(is_free(pdpt));
}

/* ------------------------------------------- the end of the address space */

/*
 * Flush before free (T13) at the top of the address space. mark_dirty()
 * keeps an exclusive end, dirty_hi = va + size, which wraps to 0 for the
 * kernel half's last entry at any level (0xffffffffffe00000 + 2 MiB).
 * A cursor that detaches the empty page table mapping the last 2 MiB
 * then records nothing (dirty_lo < dirty_hi is false): no flush at all,
 * and the node is freed after its grace period with the paging-structure
 * caches never told.
 */
struct flush_probe {
	unsigned flushes;
	uint64_t va, len;
};

static void probe_flush(void *arg, const struct flush_range *parts, unsigned n)
{
	struct flush_probe *f = arg;

	uint64_t lo = UINT64_MAX, last = 0;

	f->flushes++;
	for (unsigned i = 0; i < n; i++) { /* the union, inclusive ends */
		lo = MIN(lo, parts[i].va);
		last = MAX(last, parts[i].va + (parts[i].len - 1));
	}
	f->va = lo;
	f->len = last - lo + 1; /* 0 for all of the address space */
}

static void test_defect_flush_skipped_at_top_of_address_space(void **state)
{
	const uint64_t last2m = UINT64_C(0xffffffffffe00000);
	struct flush_probe f = { 0 };
	const struct cursor_flush how = { probe_flush, &f };
	struct page *table = top_of(&kpt, last2m, last2m + P4K); /* made */
	struct cursor c;

	(void)state;
	assert_int_equal(pt_level(table), 1);
	assert_int_equal(cursor_new(&c, &kpt, last2m - P2M, last2m + P4K, &how),
			 E_OK);
	assert_int_equal(pt_level(c.top), 2);
	assert_int_equal(cursor_jump(&c, last2m), E_OK);
	assert_int_equal(cursor_unmap(&c, P4K), E_OK);
	assert_true(table->u.pt.stray); /* detached, waits for the flush */
	cursor_drop(&c);
	print_message("flushes %u, range [%#llx, +%#llx)\n", f.flushes,
		      (unsigned long long)f.va, (unsigned long long)f.len);
	assert_int_equal(f.flushes, 1);
	assert_true(f.va <= last2m && f.len >= P2M);
}

/*
 * cursor_flush.range's stride is "the largest leaf size there", and a
 * shootdown steps by it over the range (PAGETABLE.md, MOM-02: "step by
 * the mapping size over huge pages"). detach() marks the emptied node's
 * whole entry with that entry's size as if it were a leaf: unmapping the
 * last 4 KiB page of a page table reports stride 2 MiB, and a shootdown
 * that steps by it from va flushes one page in 512. The unmapped page
 * (here the eighth) keeps its stale translation on every other CPU, and
 * its frame is then freed.
 */
struct stride_probe {
	uint64_t target; /* the page that must be flushed */
	bool flushed;
	uint64_t stride; /* the stride of the part that holds target */
};

/* A shootdown as the contract describes it: one invlpg per stride. */
static void stepping_flush(void *arg, const struct flush_range *parts,
			   unsigned n)
{
	struct stride_probe *f = arg;

	for (unsigned i = 0; i < n; i++) {
		const struct flush_range *p = &parts[i];

		for (uint64_t a = p->va; a - p->va < p->len; a += p->stride)
			if (f->target >= a && f->target - a < PAGE_SIZE) {
				f->flushed = true; /* invlpg(a) drops it */
				f->stride = p->stride;
			}
	}
}

static void test_defect_detach_inflates_flush_stride(void **state)
{
	paddr_t pa = new_frame(0);
	struct stride_probe f = { .target = WIN + 7 * P4K };
	const struct cursor_flush how = { stepping_flush, &f };
	struct cursor c;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN + 7 * P4K, WIN + 8 * P4K,
				    NULL), E_OK);
	assert_int_equal(cursor_map(&c, pa, PTE_W, CURSOR_TRACKED), E_OK);
	cursor_drop(&c);
	put_ours(pa);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + P2M, &how), E_OK);
	assert_int_equal(cursor_unmap(&c, P2M), E_OK); /* the table goes */
	cursor_drop(&c);
	print_message("stride %#llx (only 4 KiB leaves were unmapped), "
		      "page %#llx flushed: %d\n", (unsigned long long)f.stride,
		      (unsigned long long)f.target, f.flushed);
	assert_true(f.flushed);
	assert_int_equal(f.stride, P4K);
}

/*
 * The same stepping shootdown over a batch with both sizes: a 4 KiB page
 * and a 2 MiB page unmapped by one cursor (test_pagetable's T13 case).
 * The contract's stride, "the largest leaf size there", is 2 MiB, and
 * stepping by it from va misses the 4 KiB page (WIN + 7 pages), whose
 * frame is then freed. A stride is only safe to step by if it is the
 * smallest leaf size changed (or the batch is split by size).
 */
static void test_defect_mixed_sizes_flush_stride_misses_small_page(void **state)
{
	paddr_t pa = new_frame(0), big = new_frame(9);
	struct stride_probe f = { .target = WIN + 7 * P4K };
	const struct cursor_flush how = { stepping_flush, &f };
	struct cursor c;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + 2 * P2M, NULL), E_OK);
	assert_int_equal(cursor_jump(&c, WIN + 7 * P4K), E_OK);
	assert_int_equal(cursor_map(&c, pa, PTE_W, CURSOR_TRACKED), E_OK);
	assert_int_equal(cursor_jump(&c, WIN + P2M), E_OK);
	assert_int_equal(cursor_map_huge(&c, big, 0, CURSOR_TRACKED), E_OK);
	cursor_drop(&c);
	put_ours(pa);
	put_ours(big);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + 2 * P2M, &how), E_OK);
	assert_int_equal(cursor_unmap(&c, 2 * P2M), E_OK);
	cursor_drop(&c);
	print_message("stride %#llx, page %#llx flushed: %d\n",
		      (unsigned long long)f.stride,
		      (unsigned long long)f.target, f.flushed);
	assert_true(f.flushed);
}

/* ------------------------------------------------------ pt_validate */

/*
 * pt_validate() says "every node is typed PAGE_PAGETABLE with one
 * reference": a node reachable from two entries has two parents but one
 * reference, and unmapping both would free it twice. It is not caught:
 * each visit sees one reference (nothing counts the visits, nor compares
 * them with pt->nodes).
 */
static void test_defect_validate_misses_a_node_with_two_parents(void **state)
{
	paddr_t pa = new_frame(0);
	struct page *pd;
	unsigned i = pt_index(WIN, 2);
	struct cursor c;
	bool caught;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + P4K, NULL), E_OK);
	assert_int_equal(cursor_map(&c, pa, PTE_W, CURSOR_TRACKED), E_OK);
	cursor_drop(&c);
	put_ours(pa);
	pd = top_of(&upt, WIN, WIN + P2M);
	assert_int_equal(pt_level(pd), 2);
	assert_false(pte_present(pt_entry_get(pd, i + 1)));
	/* Corrupt: entry i + 1 points to entry i's page table too. */
	pt_entry_set(pd, i + 1, pt_entry_get(pd, i));
	pd->u.pt.nr_children++;
	caught = !pt_validate(&upt, &kpt);
	pt_entry_set(pd, i + 1, 0);
	pd->u.pt.nr_children--;
	assert_true(caught);
	{
		struct cursor d;

		assert_int_equal(cursor_new(&d, &upt, WIN, WIN + P2M, NULL),
				 E_OK);
		assert_int_equal(cursor_unmap(&d, P2M), E_OK);
		cursor_drop(&d);
	}
}

/*
 * pt_validate() is the checker for corrupt tables and "logs the first
 * problem found"; leaf_ok() guards a leaf's address with pfn_valid(), but
 * check_subtree() follows a table entry with pt_child() unchecked, so a
 * table entry that points outside memory panics (pfn_to_page()'s ASSERT;
 * a wild read without CONFIG_DEBUG) instead of being reported.
 */
static void validate_wild_table_entry(void *arg)
{
	struct page *pd = arg;
	unsigned i = pt_index(WIN, 2) + 1;
	bool ok;

	pt_entry_set(pd, i, pte_table(UINT64_C(1) << 50, true));
	pd->u.pt.nr_children++;
	ok = pt_validate(&upt, &kpt);
	_exit(ok ? 3 : 0); /* 0: reported as invalid, as it should be */
}

static void test_defect_validate_panics_on_wild_table_entry(void **state)
{
	struct page *pd = top_of(&upt, WIN, WIN + P2M);
	struct child_result r;

	(void)state;
	run_in_child(validate_wild_table_entry, pd, &r);
	if (!r.exited || r.exit_code != 0)
		print_error("child: exited %d code %d signaled %d signo %d, "
			    "stderr:\n%s\n", r.exited, r.exit_code,
			    r.signaled, r.signo, r.err);
	assert_true(r.exited);
	assert_int_equal(r.exit_code, 0);
}

/*
 * A kernel table's 256 upper-half PDPTs are "made with the table and
 * never removed" (pagetable.h), and every user table copies them; but
 * pt_validate() of a kernel table does not check that they are there: a
 * kernel table that lost one (as the unmap defect above makes it) is
 * "valid", and only a user table compared against it notices.
 */
static void test_defect_validate_misses_a_missing_kernel_pdpt(void **state)
{
	unsigned slot = PT_KERNEL_SLOT + 44;
	pte_t e = pt_entry_get(kpt.root, slot);
	bool caught;

	(void)state;
	assert_true(pte_present(e));
	/* As a detach would leave it: entry, count and node count agree. */
	pt_entry_set(kpt.root, slot, 0);
	kpt.root->u.pt.nr_children--;
	atomic_fetch_sub(&kpt.nodes, 1);
	caught = !pt_validate(&kpt, NULL);
	pt_entry_set(kpt.root, slot, e);
	kpt.root->u.pt.nr_children++;
	atomic_fetch_add(&kpt.nodes, 1);
	assert_true(caught);
}

/* ------------------------------------------------------- error codes */

/*
 * cursor.h lists cursor_map()'s errors: E_RANGE is "the position is at
 * end". take_ref() passes frame_get()'s E_RANGE (the count is at
 * FRAME_REF_MAX) straight through, so a cursor in the middle of its
 * range reports "at end": one return value, two meanings (STYLE.md), and
 * a caller looping "map until E_RANGE" stops early and silently.
 */
static void test_defect_map_saturated_frame_says_at_end(void **state)
{
	paddr_t pa = new_frame(0);
	struct page *p = page_of(pa);
	struct cursor c;
	uint64_t before;
	err_t e;

	(void)state;
	before = pt_hash(&upt);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + 2 * P4K, NULL), E_OK);
	atomic_fetch_add(&p->state, FRAME_REF_MAX - 1); /* the count's max */
	e = cursor_map(&c, pa, 0, CURSOR_TRACKED);
	atomic_fetch_sub(&p->state, FRAME_REF_MAX - 1);
	print_message("cursor_map at va %#llx of [%#llx, %#llx): %s\n",
		      (unsigned long long)c.va, (unsigned long long)c.start,
		      (unsigned long long)c.end, err_name(e));
	cursor_drop(&c);
	assert_int_equal(pt_hash(&upt), before);
	assert_int_equal(frame_refcount(p), 1);
	put_ours(pa);
	assert_int_not_equal(e, E_OK);
	assert_int_not_equal(e, E_RANGE); /* the position is not at end */
}

/* ------------------------------------------ flushing with locks held */

/*
 * A cursor that detaches more than CURSOR_BATCH nodes flushes in the
 * middle of the operation, holding its node locks (detach() ->
 * flush_now() -> defer_nodes()). When kmalloc() has nothing for the
 * dead-node list, defer_nodes() falls back to rcu_synchronize() right
 * there. A cursor that meanwhile found one of those nodes without locks
 * spins on its lock inside its RCU read-side section (lock_top(), steps 1
 * and 2): the grace period waits for that section, the section for the
 * lock, the lock for the grace period. (The contract's rcu_synchronize()
 * requires "no spinlock held"; node locks are spinlocks.)
 *
 * Forced: 65 empty page tables under one page directory; memory
 * exhausted so that kmalloc() fails; X holds [B, B + 65 * 2 MiB) (top:
 * the directory); Y parks at cursor.top.found inside its section, having
 * found the directory, then goes on to spin on its lock; X unmaps, and
 * its 65th detach waits for a grace period that Y's section never ends.
 * It runs in a child process, which reports a deadlock after 10 s.
 */
/* (The child starts threads: tests/support.c lets TSan allow it.) */
#define DL_BASE (2 * GIB)
#define DL_TABLES (CURSOR_BATCH + 1)

struct dl_thread {
	pthread_t thread;
	struct gate gate;
	_Atomic bool done;
	err_t err;
};

static struct dl_thread dl_x, dl_y;

static void *dl_x_main(void *arg)
{
	struct cursor c;

	(void)arg;
	if (host_cpu_register() < 0)
		abort();
	if (cursor_new(&c, &upt, DL_BASE, DL_BASE + DL_TABLES * P2M, NULL) !=
	    E_OK)
		abort();
	gate_pass(&dl_x.gate);
	dl_x.err = cursor_unmap(&c, DL_TABLES * P2M);
	cursor_drop(&c);
	atomic_store(&dl_x.done, true);
	host_cpu_unregister();
	return NULL;
}

static void *dl_y_main(void *arg)
{
	struct cursor c;

	(void)arg;
	if (host_cpu_register() < 0)
		abort();
	pause_arm(1, "cursor.top.found", 0, (int)cpu_id(), gate_pass,
		  &dl_y.gate);
	if (cursor_new(&c, &upt, DL_BASE, DL_BASE + 2 * P2M, NULL) != E_OK)
		abort();
	cursor_drop(&c);
	atomic_store(&dl_y.done, true);
	host_cpu_unregister();
	return NULL;
}

static void dl_scenario(void *arg)
{
	struct frame_result r;
	void *probe;
	unsigned waited = 0;

	(void)arg;
	for (unsigned k = 0; k < DL_TABLES; k++)
		(void)top_of(&upt, DL_BASE + k * P2M, DL_BASE + k * P2M + P4K);
	heap_drain_local();
	(void)heap_reclaim();
	while ((r = frame_alloc(0, 0)).err == E_OK)
		; /* leaked: the child exits */
	probe = kmalloc(8 + 8 + 8 * CURSOR_BATCH + 8, 0);
	if (probe != NULL) {
		fprintf(stderr, "precondition: kmalloc() still succeeds\n");
		_exit(4);
	}
	memset(&dl_x, 0, sizeof(dl_x));
	memset(&dl_y, 0, sizeof(dl_y));
	if (pthread_create(&dl_x.thread, NULL, dl_x_main, NULL) != 0)
		_exit(5);
	gate_wait_reached(&dl_x.gate); /* X holds the directory */
	if (pthread_create(&dl_y.thread, NULL, dl_y_main, NULL) != 0)
		_exit(5);
	gate_wait_reached(&dl_y.gate); /* Y is in its section */
	gate_open(&dl_y.gate);          /* Y spins on the directory's lock */
	gate_open(&dl_x.gate);          /* X unmaps */
	while (!atomic_load(&dl_x.done) && waited < 10000) {
		sleep_ms(10);
		waited += 10;
	}
	if (!atomic_load(&dl_x.done)) {
		fprintf(stderr, "deadlock: X (unmapping %u empty tables) and "
			"Y (a cursor waiting for X's page directory) both "
			"stuck after 10 s; Y done %d\n", DL_TABLES,
			atomic_load(&dl_y.done));
		_exit(1);
	}
	pthread_join(dl_x.thread, NULL);
	pthread_join(dl_y.thread, NULL);
	_exit(dl_x.err == E_OK && atomic_load(&dl_y.done) ? 0 : 6);
}

static void test_defect_defer_fallback_deadlocks_under_locks(void **state)
{
	struct child_result r;

	(void)state;
	rcu_drain(); /* no grace period in flight at the fork */
	hang_watchdog_arm(0);
	run_in_child(dl_scenario, NULL, &r);
	hang_watchdog_arm(60);
	if (!r.exited || r.exit_code != 0)
		print_error("child: exited %d code %d signaled %d signo %d, "
			    "stderr:\n%s\n", r.exited, r.exit_code,
			    r.signaled, r.signo, r.err);
	assert_true(r.exited);
	assert_int_equal(r.exit_code, 0);
	/* The parent's tables: the 65 tables were made in the child only. */
}

/* ------------------------------------------------------------------ RCU */

/*
 * rcu_drain() "returns once every fn queued by rcu_call() before it, on
 * any CPU, has run". host/rcu.c counts instead: it waits until n_run (fns
 * run, by anyone, whenever queued) reaches n_queued as it was at the
 * call. A callback queued later that runs first makes up for one queued
 * earlier that is still running on another CPU.
 *
 * Forced: CPU A runs w1 in its own rcu_drain() and parks inside w1's fn.
 * A reader R parks inside a section, so that nothing queued now can be
 * ready. CPU W queues wa and drains (want counts w1 and wa); then R
 * leaves. Only W runs callbacks now (A is parked, the test thread calls
 * nothing), so wa runs in W's rcu_drain() loop, after want was read, and
 * queues w2; w2 runs there too, n_run reaches want, and W's rcu_drain()
 * returns while w1's fn, queued before it, is still running. (As in
 * test_rcu, the check is made while the callback is parked: a right
 * rcu_drain() cannot have returned by then.)
 */
struct slow_work {
	struct rcu_work work;
	struct gate in_fn;
	_Atomic bool finished;
};

static struct slow_work w1;
static struct rcu_work wa, w2;
static _Atomic bool w2_ran, wa_queued, drain_returned;
static struct gate r_in;

static void slow_fn(struct rcu_work *w)
{
	struct slow_work *s = (struct slow_work *)w;

	gate_pass(&s->in_fn);
	atomic_store(&s->finished, true);
}

static void set_w2_ran(struct rcu_work *w)
{
	(void)w;
	atomic_store(&w2_ran, true);
}

static void requeue_fn(struct rcu_work *w)
{
	(void)w;
	rcu_call(&w2, set_w2_ran);
}

static void *cpu_a_main(void *arg)
{
	(void)arg;
	if (host_cpu_register() < 0)
		abort();
	rcu_call(&w1.work, slow_fn);
	rcu_drain(); /* runs slow_fn here, which parks */
	host_cpu_unregister();
	return NULL;
}

static void *cpu_w_main(void *arg)
{
	(void)arg;
	if (host_cpu_register() < 0)
		abort();
	rcu_call(&wa, requeue_fn); /* not ready: R reads */
	atomic_store(&wa_queued, true);
	rcu_drain(); /* w1 was queued before: must wait for it */
	atomic_store(&drain_returned, true);
	host_cpu_unregister();
	return NULL;
}

static void *reader_main(void *arg)
{
	(void)arg;
	if (host_cpu_register() < 0)
		abort();
	rcu_read_enter();
	gate_pass(&r_in);
	rcu_read_exit();
	host_cpu_unregister();
	return NULL;
}

static void test_defect_rcu_drain_returns_before_running_callback(void **state)
{
	pthread_t a, w, r;
	bool returned_early = false;

	(void)state;
	rcu_drain(); /* nothing of setup's in flight */
	memset(&w1, 0, sizeof(w1));
	memset(&r_in, 0, sizeof(r_in));
	atomic_store(&w2_ran, false);
	atomic_store(&wa_queued, false);
	atomic_store(&drain_returned, false);
	assert_int_equal(pthread_create(&a, NULL, cpu_a_main, NULL), 0);
	gate_wait_reached(&w1.in_fn); /* A runs w1's fn, parked in it */
	assert_int_equal(pthread_create(&r, NULL, reader_main, NULL), 0);
	gate_wait_reached(&r_in);     /* R reads: no grace period ends */
	assert_int_equal(pthread_create(&w, NULL, cpu_w_main, NULL), 0);
	for (unsigned ms = 0; ms < 5000 && !atomic_load(&wa_queued); ms += 10)
		sleep_ms(10);
	assert_true(atomic_load(&wa_queued));
	gate_open(&r_in);
	assert_int_equal(pthread_join(r, NULL), 0);
	for (unsigned ms = 0; ms < 5000 && !atomic_load(&w2_ran); ms += 10)
		sleep_ms(10);
	assert_true(atomic_load(&w2_ran));
	for (unsigned ms = 0; ms < 2000 && !returned_early; ms += 10) {
		sleep_ms(10);
		returned_early = atomic_load(&drain_returned);
	}
	print_message("w1's fn still running; W's rcu_drain() returned: %d\n",
		      returned_early);
	gate_open(&w1.in_fn);
	assert_int_equal(pthread_join(a, NULL), 0);
	assert_int_equal(pthread_join(w, NULL), 0);
	assert_true(atomic_load(&w1.finished));
	assert_false(returned_early);
}

/* ------------------------------------------------------- the main */

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
	const struct CMUnitTest tests[] = {
		T(test_defect_kernel_unmap_detaches_shared_pdpts),
		T(test_defect_flush_skipped_at_top_of_address_space),
		T(test_defect_detach_inflates_flush_stride),
		T(test_defect_mixed_sizes_flush_stride_misses_small_page),
		T(test_defect_validate_misses_a_node_with_two_parents),
		T(test_defect_validate_misses_a_missing_kernel_pdpt),
		T(test_defect_validate_panics_on_wild_table_entry),
		T(test_defect_map_saturated_frame_says_at_end),
		T(test_defect_rcu_drain_returns_before_running_callback),
		T(test_defect_defer_fallback_deadlocks_under_locks),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
