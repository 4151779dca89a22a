/* SPDX-License-Identifier: MIT */
/*
 * pt/map_unmap: each thread maps a region of `pages` 4 KiB pages in its
 * own range of one shared user table, then unmaps it, again: what mmap()
 * with populated pages and munmap() of small regions do to the page
 * tables, on per-thread disjoint ranges (BENCHMARKS.md, "Page tables":
 * must scale). In configuration tree the table is locked per node (the
 * tree protocol, cursor.c), in space as a whole (one lock per address
 * space, the baseline); the two are the same code otherwise, so their
 * ratio at 2 threads is what the protocol buys (issue 13: at least 1.7x,
 * and tree at 2 threads at least 1.8x tree at 1).
 *
 * One cursor per region, not one per page. A kernel maps or unmaps a
 * region under one lock of its range (Linux: the page-table lock of each
 * page table it crosses, held over the run of entries; Asterinas'
 * VmSpace: one cursor over the range) and flushes the TLB once at the
 * end (Linux's mmu_gather; here cursor_drop(), or each CURSOR_BATCH
 * frames): taking the lock per page is what a page fault does, which is
 * another benchmark (demand faults). pages:1 is the smallest region, and
 * there the two coincide.
 *
 * A region lies in the first 2 MiB of the thread's range (pt_cases.h), so
 * the cursor's top is the thread's own page table: in tree no two threads
 * ever wait for each other, and unmapping a region empties no node that
 * would be detached and freed (nodes are made by the first run only).
 * The frames mapped are the thread's own, allocated once, mapped tracked
 * (CURSOR_TRACKED: each map takes a reference, each unmap drops it after
 * the flush), writable and not executable, as anonymous user memory is.
 *
 * The flush. The table is loaded on no CPU (pt_cases.h), so no TLB holds
 * its translations, and the flush hook does what a VmSpace's shootdown
 * does for an address space active nowhere: nothing (the cursor still
 * computes what changed, calls the hook, and puts the frames only after
 * it). The cost of invalidating TLBs is the shootdown benchmark's
 * (BENCHMARKS.md), not this one's: this one measures the page tables and
 * their locks. (Without a hook a cursor flushes this CPU's TLB: in the
 * kernel an invlpg a page, on the host an entry in the TLB event log,
 * whose one global sequence counter all CPUs increment: 16 cores,
 * pages:1, that alone held tree to 1.3x at 2 threads, against 2.0x
 * without it.)
 *
 * An operation is one page mapped or one page unmapped (Mops/s: pages a
 * second, both kinds), each timed alone in timed iterations: map with
 * one cursor_map() a page, unmap with one cursor_unmap() of a page in
 * the region's cursor (the same work as one call over the region: a walk
 * from the top, the entry cleared, the frame gathered), the making of the
 * cursor counted in its first page's time and its cursor_drop() (the
 * flush, the frames' references put) in its last page's. An iteration is
 * enough regions for BENCH_BATCH operations, or one region.
 */
#include "bench/cases/pt_cases.h"
#include "kernel/mm/frame.h"

static const int64_t pt_pages[] = { 1, 16, 256 };

#define PT_PAGES_MAX 256u

/* Less than a whole page table: a cursor over exactly 2 MiB would have
 * the page directory as its top and detach the emptied table each round. */
_Static_assert(PT_PAGES_MAX * PAGE_SIZE < (UINT64_C(2) << 20),
	       "a region stays inside one page table, its cursor's top");

/* Writable, not executable (a user table adds PTE_U). */
#define PT_PROT (PTE_W | PTE_NX)

/* The flush hook: the table is active on no CPU (above). */
static void flush_none(void *arg, const struct flush_range *parts, unsigned n)
{
	(void)arg;
	(void)parts;
	(void)n;
}

static const struct cursor_flush pt_flush = { .range = flush_none };

/* [row t: thread t only] the frames thread t maps */
static pfn_t pt_frames[MAX_CPUS][PT_PAGES_MAX];

/* Allocate the n frames; on failure free them again, false. */
static bool take_frames(struct bench_state *st, pfn_t *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct frame_result r = frame_alloc(0, 0);

		if (r.err != E_OK) {
			bench_error(st, err_name(r.err));
			while (i > 0)
				(void)!frame_free(f[--i], 0);
			return false;
		}
		f[i] = r.pfn;
	}
	return true;
}

/*
 * Free them: each must be back to its one reference, every leaf that
 * mapped it unmapped and its reference put (else E_REFERENCED).
 */
static void give_frames(struct bench_state *st, const pfn_t *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		err_t e = frame_free(f[i], 0);

		if (e == E_REFERENCED) {
			/* Ours dropped; the leaf's goes with pt_destroy(). */
			bench_error(st, "a frame still mapped after its unmap");
			(void)!frame_put(pfn_to_page(f[i]));
		} else if (e != E_OK) {
			bench_error(st, err_name(e));
		}
	}
}

/*
 * Map the frames f[0..n) at [va, va + n pages) with one cursor: n
 * operations, each timed (t: when the previous one ended).
 */
static err_t map_region(struct bench_state *st, struct cursor *c,
			uint64_t va, const pfn_t *f, unsigned n, uint64_t *t)
{
	err_t e = cursor_new(c, &pt_bench.user, va, va + n * PAGE_SIZE,
			     &pt_flush);

	if (e != E_OK)
		return e;
	for (unsigned i = 0; e == E_OK && i < n; i++) {
		e = cursor_map(c, pfn_to_pa(f[i]), PT_PROT, CURSOR_TRACKED);
		if (i + 1 < n && bench_timing(st))
			bench_lap(st, t, cycles());
	}
	cursor_drop(c);
	if (bench_timing(st))
		bench_lap(st, t, cycles());
	return e;
}

/* Unmap [va, va + n pages) with one cursor, a page a call: n operations. */
static err_t unmap_region(struct bench_state *st, struct cursor *c,
			  uint64_t va, unsigned n, uint64_t *t)
{
	err_t e = cursor_new(c, &pt_bench.user, va, va + n * PAGE_SIZE,
			     &pt_flush);

	if (e != E_OK)
		return e;
	for (unsigned i = 0; e == E_OK && i < n; i++) {
		e = cursor_unmap(c, PAGE_SIZE);
		if (i + 1 < n && bench_timing(st))
			bench_lap(st, t, cycles());
	}
	cursor_drop(c);
	if (bench_timing(st))
		bench_lap(st, t, cycles());
	return e;
}

/* After a failure: unmap whatever the region still maps (untimed). */
static void unmap_all(struct cursor *c, uint64_t va, unsigned n)
{
	if (cursor_new(c, &pt_bench.user, va, va + n * PAGE_SIZE,
		       &pt_flush) != E_OK)
		return; /* the leaves left hold their frames: give_frames()
			   says so, and check()'s pt_destroy() drops them */
	(void)!cursor_unmap(c, n * PAGE_SIZE);
	cursor_drop(c);
}

static void pt_map_unmap(struct bench_state *st)
{
	unsigned n = (unsigned)bench_arg(st, 0), me = bench_thread(st);
	unsigned rounds = 2 * n >= BENCH_BATCH ? 1 : BENCH_BATCH / (2 * n);
	uint64_t va = pt_thread_base(me);
	pfn_t *f = pt_frames[me];
	struct cursor c;

	if (n == 0 || n > PT_PAGES_MAX) {
		bench_error(st, "pages out of range");
		return;
	}
	if (!take_frames(st, f, n))
		return;
	while (bench_keep_running(st)) {
		uint64_t t = cycles();
		err_t e = E_OK;

		for (unsigned r = 0; e == E_OK && r < rounds; r++) {
			e = map_region(st, &c, va, f, n, &t);
			if (e == E_OK)
				e = unmap_region(st, &c, va, n, &t);
		}
		if (e != E_OK) {
			bench_error(st, err_name(e));
			unmap_all(&c, va, n);
			break;
		}
		bench_items(st, 2 * (uint64_t)n * rounds);
	}
	give_frames(st, f, n);
}

static const struct bench_case pt_map_unmap_case = {
	.name = "pt/map_unmap",
	.run = pt_map_unmap,
	.configs = BENCH_PT_CONFIGS,
	.arg_name = "pages",
	.args = pt_pages,
	.nargs = ARRAY_SIZE(pt_pages),
};
BENCH_CASE(pt_map_unmap_case);
