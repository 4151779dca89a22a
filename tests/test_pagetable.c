/* SPDX-License-Identifier: MIT */
/*
 * Page tables and cursors on the host (kernel/mm/pagetable.h, cursor.h):
 * a model oracle, the checklist rows of the layer by name, bad input, and
 * the lock protocol's interleavings forced with gates and pause points.
 *
 * Every test boots a fresh 64 MiB machine with a kernel table and a user
 * table over it; teardown destroys both, drains RCU and requires every
 * frame back (no leak of nodes or of tracked frames).
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/lib/rng.h"
#include "tests/pt_support.h"
/* A window that crosses a 1 GiB line: two PDPT entries, several PDs. */
#define WIN (GIB - 8 * MIB)
#define WIN_PAGES 4096u /* 16 MiB */
#define KWIN (PT_KERNEL_BASE + 4 * GIB)

/* Map one tracked 4 KiB page at va in pt with prot (a cursor of its own). */
static paddr_t map_page(struct pagetable *pt, uint64_t va, uint64_t prot)
{
	struct cursor c;
	paddr_t pa = new_frame(0);

	assert_int_equal(cursor_new(&c, pt, va, va + P4K, NULL), E_OK);
	assert_int_equal(cursor_map(&c, pa, prot, CURSOR_TRACKED), E_OK);
	cursor_drop(&c);
	put_ours(pa);
	return pa;
}

static void unmap_range(struct pagetable *pt, uint64_t va, uint64_t len)
{
	struct cursor c;

	assert_int_equal(cursor_new(&c, pt, va, va + len, NULL), E_OK);
	assert_int_equal(cursor_unmap(&c, len), E_OK);
	cursor_drop(&c);
}

/* ------------------------------------------------------------ basics */

static void test_tables_are_valid_and_share_the_kernel_half(void **state)
{
	struct pagetable other;
	unsigned level;
	paddr_t pa;
	struct cursor c;

	(void)state;
	assert_true(pt_validate(&kpt, NULL));
	assert_true(pt_validate(&upt, &kpt));
	assert_int_equal(atomic_load(&kpt.nodes), 1 + 256);
	/* A kernel mapping made once is seen by every user table. */
	pa = map_page(&kpt, KWIN, PTE_W | PTE_NX);
	assert_int_equal(pt_create(&other, PT_USER, &kpt, PT_LOCK_TREE), E_OK);
	assert_int_equal(pte_addr(pt_walk(&upt, KWIN, &level)), pa.v);
	assert_int_equal(pte_addr(pt_walk(&other, KWIN, &level)), pa.v);
	assert_true(pt_validate(&other, &kpt)); /* WF-KERNEL-HALF */
	/* User tables never touch it. */
	assert_int_equal(cursor_new(&c, &upt, KWIN, KWIN + P4K, NULL),
			 E_RANGE);
	assert_int_equal(cursor_new(&c, &kpt, WIN, WIN + P4K, NULL), E_RANGE);
	pt_destroy(&other);
	unmap_range(&kpt, KWIN, P4K);
}

static void test_map_query_walk_unmap(void **state)
{
	struct cursor c;
	struct pt_mapping m;
	paddr_t pa = new_frame(0), big = new_frame(9);
	unsigned level;
	pte_t e;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + 4 * P2M, NULL),
			 E_OK);
	assert_int_equal(cursor_map(&c, pa, PTE_W, CURSOR_TRACKED), E_OK);
	assert_int_equal(c.va, WIN + P4K);
	assert_int_equal(cursor_jump(&c, WIN + P2M), E_OK);
	assert_int_equal(cursor_map_huge(&c, big, 0, CURSOR_TRACKED), E_OK);
	assert_int_equal(cursor_jump(&c, WIN), E_OK);
	m = cursor_query(&c);
	assert_true(m.present && m.tracked);
	assert_int_equal(m.va, WIN);
	assert_int_equal(m.size, P4K);
	assert_int_equal(m.pa.v, pa.v);
	assert_int_equal(m.prot, PTE_W | PTE_U);
	assert_int_equal(cursor_jump(&c, WIN + P2M + 5 * P4K), E_OK);
	m = cursor_query(&c);
	assert_true(m.present);
	assert_int_equal(m.va, WIN + P2M);
	assert_int_equal(m.size, P2M);
	cursor_drop(&c);
	put_ours(pa);
	put_ours(big);
	assert_int_equal(frame_refcount(page_of(pa)), 1); /* the leaf's */
	e = pt_walk(&upt, WIN + P2M + 123 * P4K, &level);
	assert_int_equal(level, 2);
	assert_int_equal(pte_addr(e), big.v);
	assert_true(pt_validate(&upt, &kpt));
	unmap_range(&upt, WIN, 4 * P2M);
	assert_int_equal(pt_walk(&upt, WIN, &level), 0);
	assert_int_equal(pt_walk(&upt, WIN + P2M, &level), 0);
	/* The nodes the mapping made are detached; the top stays. */
	assert_true(pt_validate(&upt, &kpt));
}

/* ------------------------------------------------------ model oracle */

/*
 * Random map, huge map, unmap and protect through cursors of random
 * barriers over WIN, against a dictionary; after every call the software
 * walk of every page of the window must match it, pages outside it must
 * not change, the tables must be valid, and a failed call must leave
 * their hash as it was.
 */
struct model {
	uint64_t pa[WIN_PAGES];   /* 0: unmapped */
	uint64_t prot[WIN_PAGES];
	bool huge[WIN_PAGES];
};

static struct model model;

static bool model_busy(unsigned p, unsigned n)
{
	for (unsigned i = p; i < p + n; i++)
		if (model.pa[i] != 0)
			return true;
	return false;
}

/* A huge page that reaches out of [p, p + n). */
static bool model_cuts_huge(unsigned p, unsigned n)
{
	for (unsigned i = p; i < p + n; i++) {
		unsigned first = i - i % 512;

		if (model.huge[i] && (first < p || first + 512 > p + n))
			return true;
	}
	return false;
}

static void model_check(const struct pagetable *pt)
{
	for (unsigned i = 0; i < WIN_PAGES; i++) {
		unsigned level = 0;
		pte_t e = pt_walk(pt, WIN + i * P4K, &level);

		if (model.pa[i] == 0) {
			assert_int_equal(e, 0);
			continue;
		}
		assert_int_equal(level, model.huge[i] ? 2 : 1);
		assert_int_equal(pte_addr(e) + (model.huge[i] ? i % 512 * P4K : 0),
				 model.pa[i]);
		assert_int_equal(pte_prot(e), model.prot[i] | PTE_U);
	}
}

static const uint64_t prots[] = { 0, PTE_W, PTE_NX, PTE_W | PTE_NX };

/* A cursor whose barrier holds [p, p + n) and more, at random. */
static void random_cursor(struct cursor *c, uint64_t *rng, unsigned p,
			  unsigned n)
{
	unsigned lo = p - (unsigned)(rng_next(rng) % (p + 1)) % 700;
	unsigned hi = p + n + (unsigned)(rng_next(rng) % 700);

	hi = MIN(hi, WIN_PAGES);
	assert_int_equal(cursor_new(c, &upt, WIN + lo * P4K, WIN + hi * P4K,
				    NULL), E_OK);
	assert_int_equal(cursor_jump(c, WIN + p * P4K), E_OK);
}

static void oracle_step(uint64_t *rng)
{
	unsigned op = (unsigned)(rng_next(rng) % 8);
	unsigned p = (unsigned)(rng_next(rng) % WIN_PAGES), n = 1;
	uint64_t prot = prots[rng_next(rng) % 4], before = pt_hash(&upt);
	struct cursor c;
	err_t e, want;
	paddr_t pa = { 0 };

	if (op == 2) { /* a huge page */
		p -= p % 512;
		n = 512;
	} else if (op >= 5) { /* unmap or protect a range */
		n = 1 + (unsigned)(rng_next(rng) % 1500);
		n = MIN(n, WIN_PAGES - p);
	}
	random_cursor(&c, rng, p, n);
	if (op <= 1) {
		want = model_busy(p, 1) ? E_BUSY : E_OK;
		pa = new_frame(0);
		e = cursor_map(&c, pa, prot, CURSOR_TRACKED);
	} else if (op == 2) {
		want = model_busy(p, 512) ? E_BUSY : E_OK;
		pa = new_frame(9);
		e = cursor_map_huge(&c, pa, prot, CURSOR_TRACKED);
	} else if (op <= 5) {
		want = model_cuts_huge(p, n) ? E_INVAL : E_OK;
		e = cursor_unmap(&c, n * P4K);
	} else {
		want = model_cuts_huge(p, n) ? E_INVAL : E_OK;
		e = cursor_protect(&c, n * P4K, prot);
	}
	if (e == E_OK)
		assert_int_equal(c.va, WIN + (p + n) * P4K);
	cursor_drop(&c);
	if (pa.v != 0)
		put_ours(pa);
	assert_int_equal(e, want);
	if (e != E_OK) {
		assert_int_equal(pt_hash(&upt), before); /* WF-FAIL-NOOP */
		return;
	}
	for (unsigned i = p; i < p + n; i++) {
		if (op <= 2) {
			model.pa[i] = pa.v + (i - p) * P4K;
			model.prot[i] = prot;
			model.huge[i] = op == 2;
		} else if (op <= 5) {
			model.pa[i] = 0;
			model.huge[i] = false;
		} else if (model.pa[i] != 0) {
			model.prot[i] = prot;
		}
	}
}

static void test_model_oracle(void **state)
{
	uint64_t rng = 0x1234567ull, outside = WIN - P4K,
		 after = WIN + WIN_PAGES * P4K;
	paddr_t o1, o2;
	unsigned level;
	unsigned steps = getenv("PT_ORACLE_STEPS") != NULL
				 ? (unsigned)atoi(getenv("PT_ORACLE_STEPS"))
				 : 600;

	(void)state;
	memset(&model, 0, sizeof(model));
	o1 = map_page(&upt, outside, PTE_W);
	o2 = map_page(&upt, after, 0);
	for (unsigned s = 0; s < steps; s++) {
		oracle_step(&rng);
		model_check(&upt);
		assert_true(pt_validate(&upt, &kpt));
		assert_int_equal(pte_addr(pt_walk(&upt, outside, &level)), o1.v);
		assert_int_equal(pte_addr(pt_walk(&upt, after, &level)), o2.v);
	}
	unmap_range(&upt, outside, WIN_PAGES * P4K + 2 * P4K);
}

/* ------------------------------------------- the checklist rows by name */

/* WF-NO-OVERMAP: mapping over a mapping fails unless replacing is asked. */
static void test_wf_no_overmap(void **state)
{
	paddr_t a = map_page(&upt, WIN, PTE_W), b = new_frame(0);
	struct cursor c;
	uint64_t before = pt_hash(&upt);
	unsigned level;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + P2M, NULL), E_OK);
	assert_int_equal(cursor_map(&c, b, 0, CURSOR_TRACKED), E_BUSY);
	assert_int_equal(pt_hash(&upt), before);
	assert_int_equal(cursor_map_huge(&c, b, 0, 0), E_INVAL); /* b small */
	assert_int_equal(cursor_map(&c, b, 0, CURSOR_TRACKED | CURSOR_REPLACE),
			 E_OK);
	cursor_drop(&c);
	/* The replaced leaf's frame lost its only reference: freed. */
	assert_true(is_free(page_of(a)));
	assert_int_equal(pte_addr(pt_walk(&upt, WIN, &level)), b.v);
	put_ours(b);
	unmap_range(&upt, WIN, P4K);
}

/*
 * NOE-03: whether a replaced or cleared leaf drops a reference is read
 * from the old entry: a tracked leaf replaced by an untracked one gives
 * its frame back; an untracked one replaced drops nothing.
 */
static void test_noe03_old_entry_decides(void **state)
{
	paddr_t tracked = map_page(&upt, WIN, 0), mmio = new_frame(0);
	struct cursor c;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + P4K, NULL), E_OK);
	assert_int_equal(cursor_map(&c, mmio, 0, CURSOR_REPLACE), E_OK);
	cursor_drop(&c);
	assert_true(is_free(page_of(tracked)));
	assert_int_equal(frame_refcount(page_of(mmio)), 1); /* ours only */
	unmap_range(&upt, WIN, P4K);
	assert_int_equal(frame_refcount(page_of(mmio)), 1);
	put_ours(mmio);
}

/*
 * CUR-06: a mapping request is checked over its whole range: a huge page
 * over a range whose 4 KiB page in the middle is mapped is refused, and
 * nothing changes.
 */
static void test_cur06_whole_range_checked(void **state)
{
	struct cursor c;
	paddr_t big = new_frame(9);
	uint64_t before;

	(void)state;
	(void)map_page(&upt, WIN + 300 * P4K, 0);
	before = pt_hash(&upt);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + P2M, NULL), E_OK);
	assert_int_equal(cursor_map_huge(&c, big, 0, CURSOR_TRACKED), E_BUSY);
	assert_int_equal(pt_hash(&upt), before);
	assert_int_equal(frame_refcount(page_of(big)), 1);
	cursor_drop(&c);
	put_ours(big);
	unmap_range(&upt, WIN, P2M);
}

/*
 * SPA-01 / WF-FAIL-NOOP: protect and unmap over part of a huge page fail
 * and change nothing; over all of it they work.
 */
static void test_spa01_failed_protect_changes_nothing(void **state)
{
	struct cursor c;
	paddr_t big = new_frame(9);
	uint64_t before;
	unsigned level;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + 2 * P2M, NULL), E_OK);
	assert_int_equal(cursor_map(&c, new_frame(0), PTE_W, 0), E_OK);
	assert_int_equal(cursor_jump(&c, WIN + P2M), E_OK);
	assert_int_equal(cursor_map_huge(&c, big, PTE_W, CURSOR_TRACKED), E_OK);
	put_ours(big);
	before = pt_hash(&upt);
	/* From the first page to the middle of the huge one. */
	assert_int_equal(cursor_jump(&c, WIN), E_OK);
	assert_int_equal(cursor_protect(&c, P2M + P2M / 2, 0), E_INVAL);
	assert_int_equal(cursor_unmap(&c, P2M + P2M / 2), E_INVAL);
	assert_int_equal(pt_hash(&upt), before);
	assert_int_equal(c.va, WIN);
	assert_int_equal(cursor_protect(&c, 2 * P2M, PTE_NX), E_OK);
	cursor_drop(&c);
	assert_int_equal(pte_prot(pt_walk(&upt, WIN + P2M, &level)),
			 PTE_NX | PTE_U);
	/* The untracked 4 KiB page's frame is ours to free. */
	{
		pte_t e = pt_walk(&upt, WIN, &level);

		unmap_range(&upt, WIN, 2 * P2M);
		put_ours(PADDR(pte_addr(e)));
	}
}

/* T10: the cursor stays inside its barrier. */
static void test_t10_barrier(void **state)
{
	struct cursor c;
	uint64_t before = pt_hash(&upt);
	paddr_t big = new_frame(9);

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN + P2M, WIN + 2 * P2M, NULL),
			 E_OK);
	assert_int_equal(cursor_jump(&c, WIN), E_RANGE);
	assert_int_equal(cursor_jump(&c, WIN + 2 * P2M), E_RANGE);
	assert_int_equal(cursor_jump(&c, WIN + P2M + 1), E_INVAL);
	assert_int_equal(c.va, WIN + P2M);
	assert_int_equal(cursor_unmap(&c, P2M + P4K), E_RANGE);
	assert_int_equal(cursor_protect(&c, 2 * P2M, 0), E_RANGE);
	assert_int_equal(cursor_jump(&c, WIN + 2 * P2M - P4K), E_OK);
	assert_int_equal(cursor_map_huge(&c, big, 0, 0), E_INVAL);
	assert_int_equal(cursor_move_forward(&c), E_OK);
	assert_int_equal(c.va, WIN + 2 * P2M); /* at end */
	assert_int_equal(cursor_map(&c, PADDR(0), 0, 0), E_RANGE);
	assert_int_equal(cursor_move_forward(&c), E_RANGE);
	cursor_drop(&c);
	assert_int_equal(pt_hash(&upt), before);
	put_ours(big);
}

/* T11: move_forward strictly increases, by the page or hole it is in. */
static void test_t11_move_forward_strictly_increases(void **state)
{
	struct cursor c;
	paddr_t big = new_frame(9);
	uint64_t prev, steps = 0;

	(void)state;
	(void)map_page(&upt, WIN + 3 * P4K, 0);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + 2 * GIB, NULL), E_OK);
	assert_int_equal(cursor_jump(&c, WIN + P2M), E_OK);
	assert_int_equal(cursor_map_huge(&c, big, 0, CURSOR_TRACKED), E_OK);
	put_ours(big);
	assert_int_equal(cursor_jump(&c, WIN), E_OK);
	do {
		prev = c.va;
		assert_int_equal(cursor_move_forward(&c), E_OK);
		assert_true(c.va > prev);
		steps++;
	} while (c.va < c.end);
	assert_int_equal(c.va, c.end);
	assert_int_equal(cursor_move_forward(&c), E_RANGE);
	/* 4 KiB steps over the first table, then whole holes. */
	assert_true(steps < 600);
	cursor_drop(&c);
	unmap_range(&upt, WIN, 2 * P2M);
}

/* WF-ZERO-PT: a node is zeroed before it is installed. */
static void test_wf_zero_pt(void **state)
{
	paddr_t pa = new_frame(0), dirty = new_frame(0);
	struct cursor c;
	unsigned level;

	(void)state;
	memset(phys_to_virt(dirty), 0xff, PAGE_SIZE);
	put_ours(dirty); /* back to this CPU's cache, first out next */
	assert_int_equal(cursor_new(&c, &upt, WIN + 100 * GIB,
				    WIN + 100 * GIB + P4K, NULL), E_OK);
	assert_int_equal(cursor_map(&c, pa, 0, CURSOR_TRACKED), E_OK);
	cursor_drop(&c);
	put_ours(pa);
	/* The cursor made new nodes; the dirty frame is one of them. */
	assert_int_equal(ps_usage(page_state(page_of(dirty))), PAGE_PAGETABLE);
	assert_true(pt_validate(&upt, &kpt)); /* present count == children */
	assert_true(pt_walk(&upt, WIN + 100 * GIB + P4K, &level) == 0);
	unmap_range(&upt, WIN + 100 * GIB, P4K);
}

/* WF-PT-PRIVATE and the prot rules: bad input changes nothing. */
static void test_bad_input_changes_nothing(void **state)
{
	struct cursor c;
	paddr_t pa = new_frame(0);
	uint64_t before = pt_hash(&upt), kbefore = pt_hash(&kpt);
	uint64_t frames;
	pfn_t node_pfn;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN + 1, WIN + P4K, NULL), E_INVAL);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN, NULL), E_INVAL);
	assert_int_equal(cursor_new(&c, &upt, PT_USER_END - P4K,
				    PT_USER_END + P4K, NULL), E_RANGE);
	assert_int_equal(cursor_new(&c, &kpt, PT_KERNEL_BASE, 0, NULL), E_RANGE);
	assert_int_equal(pt_hash(&upt), before);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + P2M, NULL), E_OK);
	frames = free_frames();
	assert_int_equal(cursor_map(&c, PADDR(pa.v + 1), 0, 0), E_INVAL);
	assert_int_equal(cursor_map(&c, pa, PTE_G, 0), E_INVAL); /* BOO-01 */
	assert_int_equal(cursor_map(&c, pa, PTE_A, 0), E_INVAL);
	assert_int_equal(cursor_map(&c, pa, 0, 1u << 7), E_INVAL);
	/* Tracked needs an allocated block of the page's size. */
	node_pfn = page_to_pfn(upt.root);
	assert_int_equal(cursor_map(&c, pfn_to_pa(node_pfn), 0, CURSOR_TRACKED),
			 E_NOT_ALLOCATED);
	assert_int_equal(cursor_map_huge(&c, PADDR(0), 0, CURSOR_TRACKED),
			 E_NOT_ALLOCATED);
	assert_int_equal(free_frames(), frames);
	assert_int_equal(frame_refcount(page_of(pa)), 1);
	cursor_drop(&c);
	assert_int_equal(pt_hash(&upt), before);
	assert_int_equal(cursor_new(&c, &kpt, KWIN, KWIN + P4K, NULL), E_OK);
	assert_int_equal(cursor_map(&c, pa, PTE_U, 0), E_INVAL); /* kernel */
	cursor_drop(&c);
	assert_int_equal(pt_hash(&kpt), kbefore);
	put_ours(pa);
}

/* WF-FAIL-NOOP: a map that cannot make its nodes changes nothing. */
static void test_enomem_changes_nothing(void **state)
{
	struct cursor c;
	paddr_t pa = new_frame(0);
	uint64_t before;
	unsigned n;

	(void)state;
	/* Across a 1 GiB line: the top is a PDPT, and a map at the start
	 * needs two nodes (a PD and a PT). */
	assert_int_equal(cursor_new(&c, &upt, 64 * GIB - P2M, 64 * GIB + P2M,
				    NULL), E_OK);
	heap_drain_local();
	n = exhaust_frames();
	before = pt_hash(&upt);
	assert_int_equal(cursor_map(&c, pa, 0, CURSOR_TRACKED), E_NOMEM);
	assert_int_equal(pt_hash(&upt), before);
	assert_int_equal(frame_refcount(page_of(pa)), 1);
	/* One frame: the PD is made, the PT is not; the PD goes again. */
	assert_int_equal(frame_free(hoard[--n], 0), E_OK);
	pcp_drain_local();
	assert_int_equal(cursor_map(&c, pa, 0, CURSOR_TRACKED), E_NOMEM);
	assert_int_equal(pt_hash(&upt), before);
	assert_int_equal(frame_refcount(page_of(pa)), 1);
	release_frames(n);
	assert_int_equal(cursor_map(&c, pa, 0, CURSOR_TRACKED), E_OK);
	cursor_drop(&c);
	put_ours(pa);
	unmap_range(&upt, 64 * GIB - P2M, P4K);
}

/* T13: frames are released only after the flush of their leaves. */
struct flush_probe {
	struct page *frame;
	uint32_t refs_at_flush;
	unsigned flushes, n;
	struct flush_range parts[CURSOR_FLUSH_PARTS];
};

static void probe_flush(void *arg, const struct flush_range *parts, unsigned n)
{
	struct flush_probe *f = arg;

	f->refs_at_flush = frame_refcount(f->frame);
	f->flushes++;
	f->n = n;
	for (unsigned i = 0; i < n; i++)
		f->parts[i] = parts[i];
}

/* Whether a part of the flush steps onto va's page. */
static bool probe_covers(const struct flush_probe *f, uint64_t va,
			 uint64_t stride)
{
	for (unsigned i = 0; i < f->n; i++) {
		const struct flush_range *p = &f->parts[i];

		if (p->stride == stride && va >= p->va && va - p->va < p->len &&
		    (va - ALIGN_DOWN(p->va, stride)) % stride < PAGE_SIZE)
			return true;
	}
	return false;
}

static void test_t13_flushed_before_freed(void **state)
{
	paddr_t pa = map_page(&upt, WIN + 7 * P4K, PTE_W), big = new_frame(9);
	struct flush_probe f = { .frame = page_of(pa) };
	const struct cursor_flush how = { probe_flush, &f };
	struct cursor c;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + 2 * P2M, &how), E_OK);
	assert_int_equal(cursor_jump(&c, WIN + P2M), E_OK);
	assert_int_equal(cursor_map_huge(&c, big, 0, CURSOR_TRACKED), E_OK);
	put_ours(big);
	assert_int_equal(cursor_jump(&c, WIN), E_OK);
	assert_int_equal(cursor_unmap(&c, 2 * P2M), E_OK);
	/* Cleared, not yet flushed: the frame is still allocated. */
	assert_int_equal(frame_refcount(page_of(pa)), 1);
	assert_int_equal(f.flushes, 0);
	cursor_drop(&c);
	assert_int_equal(f.flushes, 1);
	assert_int_equal(f.refs_at_flush, 1);
	/* MOM-02: each size in its own steps; the small page not skipped. */
	assert_true(probe_covers(&f, WIN + 7 * P4K, P4K));
	assert_true(probe_covers(&f, WIN + P2M, P2M));
	assert_false(probe_covers(&f, WIN + P2M, P4K)); /* not 512 steps */
	assert_true(is_free(page_of(pa)));
	assert_true(is_free(page_of(big)));
}

/* pt_validate() finds what the checklist rows forbid. */
static void test_validate_catches_corruption(void **state)
{
	paddr_t pa = map_page(&upt, WIN, PTE_W);
	struct cursor c;
	struct page *table;
	unsigned i = pt_index(WIN, 1);
	pte_t good;

	(void)state;
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + P4K, NULL), E_OK);
	table = c.top;
	cursor_drop(&c);
	good = pt_entry_get(table, i);
	assert_true(pt_validate(&upt, &kpt));
	/* A wrong present-entry count. */
	table->u.pt.nr_children++;
	assert_false(pt_validate(&upt, &kpt));
	table->u.pt.nr_children--;
	/* WF-PT-PRIVATE: a leaf that maps a page-table page. */
	pt_entry_set(table, i, pte_leaf(page_to_pa(table).v, 1, PTE_W | PTE_U,
					false));
	assert_false(pt_validate(&upt, &kpt));
	/* WF-NO-DANGLING: a tracked leaf whose frame is free. */
	pt_entry_set(table, i, good);
	assert_int_equal(frame_get(page_of(pa)), E_OK);
	unmap_range(&upt, WIN, P4K); /* the table goes (emptied) */
	(void)map_page(&upt, WIN + 8 * P4K, 0);
	put_ours(pa);
	{
		struct cursor d;

		assert_int_equal(cursor_new(&d, &upt, WIN, WIN + P4K, NULL),
				 E_OK);
		table = d.top;
		cursor_drop(&d);
	}
	pt_entry_set(table, i, good);
	table->u.pt.nr_children++;
	assert_false(pt_validate(&upt, &kpt));
	pt_entry_set(table, i, 0);
	table->u.pt.nr_children--;
	/* WF-KERNEL-HALF: a user table whose kernel half differs. */
	pt_entry_set(upt.root, PT_KERNEL_SLOT + 3, 0);
	upt.root->u.pt.nr_children--;
	assert_false(pt_validate(&upt, &kpt));
	pt_entry_set(upt.root, PT_KERNEL_SLOT + 3,
		     pt_entry_get(kpt.root, PT_KERNEL_SLOT + 3));
	upt.root->u.pt.nr_children++;
	assert_true(pt_validate(&upt, &kpt));
	unmap_range(&upt, WIN, P2M);
}

/* ---------------------------------------------- the protocol, forced */

struct worker {
	pthread_t thread;
	uint64_t va, end;
	struct pagetable *pt;
	struct gate hold;        /* A parks here holding its cursor */
	struct gate *pause_gate; /* B: parks at a pause point */
	const char *pause_point;
	paddr_t pa;              /* B: maps this page at va */
	_Atomic bool got;        /* B: has its cursor */
	_Atomic bool done;
};

/* Hold a cursor over [va, end) until the gate opens. */
static void *holder_main(void *arg)
{
	struct worker *w = arg;
	struct cursor c;

	if (host_cpu_register() < 0)
		abort();
	if (cursor_new(&c, w->pt, w->va, w->end, NULL) != E_OK)
		abort();
	atomic_store(&w->got, true);
	gate_pass(&w->hold);
	cursor_drop(&c);
	atomic_store(&w->done, true);
	host_cpu_unregister();
	return NULL;
}

/* Take a cursor over [va, end) (maybe pausing on the way), map w->pa. */
static void *mapper_main(void *arg)
{
	struct worker *w = arg;
	struct cursor c;

	if (host_cpu_register() < 0)
		abort();
	if (w->pause_point != NULL)
		pause_arm(1, w->pause_point, 0, (int)cpu_id(), gate_pass,
			  w->pause_gate);
	if (cursor_new(&c, w->pt, w->va, w->end, NULL) != E_OK)
		abort();
	atomic_store(&w->got, true);
	CHECK(cursor_map(&c, w->pa, 0, 0) == E_OK);
	cursor_drop(&c);
	atomic_store(&w->done, true);
	host_cpu_unregister();
	return NULL;
}

static void start(struct worker *w, void *(*fn)(void *))
{
	assert_int_equal(pthread_create(&w->thread, NULL, fn, w), 0);
}

static void finish(struct worker *w)
{
	assert_int_equal(pthread_join(w->thread, NULL), 0);
	assert_true(atomic_load(&w->done));
}

/* Cursors on disjoint ranges run in parallel: B completes while A holds. */
static void test_disjoint_cursors_do_not_wait(void **state)
{
	struct worker a = { .pt = &upt, .va = WIN, .end = WIN + P2M };
	paddr_t pa = new_frame(0);
	unsigned level;

	(void)state;
	(void)map_page(&upt, WIN + P2M, 0); /* both PTs exist */
	start(&a, holder_main);
	gate_wait_reached(&a.hold);
	{
		struct cursor c; /* the PT next to A's */

		assert_int_equal(cursor_new(&c, &upt, WIN + P2M + P4K,
					    WIN + P2M + 2 * P4K, NULL), E_OK);
		assert_int_equal(cursor_map(&c, pa, 0, 0), E_OK);
		cursor_drop(&c);
	}
	assert_false(atomic_load(&a.done));
	gate_open(&a.hold);
	finish(&a);
	assert_int_equal(pte_addr(pt_walk(&upt, WIN + P2M + P4K, &level)), pa.v);
	unmap_range(&upt, WIN + P2M, 2 * P4K);
	put_ours(pa);
}

/* Overlapping cursors wait: B's page lies in a table A holds below its
 * top (step 3 locked it). */
static void test_overlapping_cursor_waits(void **state)
{
	struct worker a = { .pt = &upt, .va = WIN, .end = WIN + 4 * P2M };
	struct worker b = { .pt = &upt, .va = WIN + P2M + 9 * P4K,
			    .end = WIN + P2M + 10 * P4K };
	unsigned level;

	(void)state;
	(void)map_page(&upt, WIN + P2M, 0); /* the PT B will want */
	b.pa = new_frame(0);
	start(&a, holder_main);
	gate_wait_reached(&a.hold);
	start(&b, mapper_main);
	sleep_ms(200);
	assert_false(atomic_load(&b.got));
	gate_open(&a.hold);
	finish(&a);
	finish(&b);
	assert_no_check_failures();
	assert_int_equal(pte_addr(pt_walk(&upt, b.va, &level)), b.pa.v);
	unmap_range(&upt, WIN + P2M, 10 * P4K);
	put_ours(b.pa);
}

/*
 * The stray re-check: B finds a leaf table without locks and stops
 * before locking it; A unmaps everything there, which detaches that
 * table; B then locks a detached node, must see it stray and start
 * again, and its page must land in the live tree.
 */
static void test_stray_node_is_rechecked(void **state)
{
	struct gate at_top = { 0 };
	struct worker b = { .pt = &upt, .va = WIN + 5 * P4K,
			    .end = WIN + 6 * P4K,
			    .pause_point = "cursor.top.found",
			    .pause_gate = &at_top };
	unsigned level;

	(void)state;
	(void)map_page(&upt, WIN, 0);
	b.pa = new_frame(0);
	start(&b, mapper_main);
	gate_wait_reached(&at_top); /* B found the table, holds nothing */
	unmap_range(&upt, WIN, P2M); /* detaches it: stray */
	gate_open(&at_top);
	finish(&b);
	pause_reset();
	assert_no_check_failures();
	assert_int_equal(pte_addr(pt_walk(&upt, b.va, &level)), b.pa.v);
	assert_true(pt_validate(&upt, &kpt));
	unmap_range(&upt, b.va, P4K);
	put_ours(b.pa);
}

/* A detached node is freed only after the readers that may see it. */
struct parked_reader {
	pthread_t thread;
	struct gate in;
};

static void *reader_main(void *arg)
{
	struct parked_reader *r = arg;

	if (host_cpu_register() < 0)
		abort();
	rcu_read_enter();
	gate_pass(&r->in);
	rcu_read_exit();
	host_cpu_unregister();
	return NULL;
}

static void test_node_freed_after_grace_period(void **state)
{
	struct parked_reader r = { 0 };
	struct page *leaf_table;
	struct cursor c;

	(void)state;
	(void)map_page(&upt, WIN, 0);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + P4K, NULL), E_OK);
	leaf_table = c.top; /* a one-page cursor's top: the leaf table */
	cursor_drop(&c);
	assert_int_equal(pt_level(leaf_table), 1);
	assert_int_equal(pthread_create(&r.thread, NULL, reader_main, &r), 0);
	gate_wait_reached(&r.in);
	unmap_range(&upt, WIN, P2M); /* detaches leaf_table */
	assert_true(leaf_table->u.pt.stray);
	sleep_ms(100);
	assert_int_equal(ps_usage(page_state(leaf_table)), PAGE_PAGETABLE);
	gate_open(&r.in);
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	rcu_drain();
	assert_true(is_free(leaf_table));
}

/*
 * CUR-03: locks are released leaf to root. A cursor holding a page
 * directory and two of its tables releases the tables first (the later
 * one first), the directory last.
 */
struct release_probe {
	struct page *top, *t0, *t1;
	uint32_t top_lock[3], t0_lock[3], t1_lock[3];
};

static struct release_probe rp;

static void record_release(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;

	rp.top_lock[k] = atomic_load(&rp.top->u.pt.lock);
	rp.t0_lock[k] = atomic_load(&rp.t0->u.pt.lock);
	rp.t1_lock[k] = atomic_load(&rp.t1->u.pt.lock);
}

static void test_cur03_released_leaf_to_root(void **state)
{
	struct cursor c;
	pte_t e0, e1;

	(void)state;
	(void)map_page(&upt, WIN, 0);
	(void)map_page(&upt, WIN + P2M, 0);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + 2 * P2M, NULL), E_OK);
	rp.top = c.top;
	assert_int_equal(pt_level(c.top), 2);
	e0 = pt_entry_get(c.top, pt_index(WIN, 2));
	e1 = pt_entry_get(c.top, pt_index(WIN + P2M, 2));
	rp.t0 = pt_child(e0);
	rp.t1 = pt_child(e1);
	assert_int_equal(c.held, 3);
	for (unsigned k = 0; k < 3; k++)
		pause_arm(k, "cursor.node.unlocked", k, (int)cpu_id(),
			  record_release, (void *)(uintptr_t)k);
	cursor_drop(&c);
	for (unsigned k = 0; k < 3; k++)
		assert_true(pause_fired(k));
	pause_reset();
	/* First the later table, then the first, then the directory. */
	assert_int_equal(rp.t1_lock[0], 0);
	assert_int_not_equal(rp.t0_lock[0], 0);
	assert_int_not_equal(rp.top_lock[0], 0);
	assert_int_equal(rp.t0_lock[1], 0);
	assert_int_not_equal(rp.top_lock[1], 0);
	assert_int_equal(rp.top_lock[2], 0);
	unmap_range(&upt, WIN, 2 * P2M);
}

/*
 * A cursor flushes before it releases its locks: no other cursor may see
 * a downgrade (here: a page made read-only) that some TLB still ignores.
 * A parks at its flush; B, over the same page, must not have its cursor.
 */
struct protect_holder {
	pthread_t thread;
	struct gate at_flush;
	uint64_t va;
};

static void *protect_main(void *arg)
{
	struct protect_holder *h = arg;
	struct cursor c;

	if (host_cpu_register() < 0)
		abort();
	pause_arm(2, "cursor.flush.before", 0, (int)cpu_id(), gate_pass,
		  &h->at_flush);
	if (cursor_new(&c, &upt, h->va, h->va + P4K, NULL) != E_OK ||
	    cursor_protect(&c, P4K, 0) != E_OK)
		abort();
	cursor_drop(&c);
	host_cpu_unregister();
	return NULL;
}

static void test_flush_before_unlock(void **state)
{
	struct protect_holder h = { .va = WIN + 3 * P4K };
	struct worker b = { .pt = &upt, .va = WIN + 3 * P4K,
			    .end = WIN + 4 * P4K };

	(void)state;
	(void)map_page(&upt, h.va, PTE_W);
	assert_int_equal(pthread_create(&h.thread, NULL, protect_main, &h), 0);
	gate_wait_reached(&h.at_flush); /* A: downgraded, not yet flushed */
	start(&b, holder_main);
	sleep_ms(200);
	assert_false(atomic_load(&b.got));
	gate_open(&h.at_flush);
	assert_int_equal(pthread_join(h.thread, NULL), 0);
	gate_wait_reached(&b.hold);
	assert_true(atomic_load(&b.got));
	gate_open(&b.hold);
	finish(&b);
	pause_reset();
	unmap_range(&upt, h.va, P4K);
}

/*
 * protect keeps the Accessed and Dirty bits the MMU sets while it works:
 * at the pause point between its read of the entry and its write, "the
 * MMU" (the pause action) sets D; the entry written must still have it.
 */
static _Atomic pte_t *ad_entry;

static void mmu_sets_dirty(void *arg)
{
	(void)arg;
	atomic_fetch_or(ad_entry, PTE_A | PTE_D);
}

static void test_protect_keeps_accessed_and_dirty_bits(void **state)
{
	struct cursor c;
	pte_t e;

	(void)state;
	(void)map_page(&upt, WIN, PTE_W);
	assert_int_equal(cursor_new(&c, &upt, WIN, WIN + P4K, NULL), E_OK);
	ad_entry = &pt_entries(c.top)[pt_index(WIN, 1)];
	pause_arm(0, "cursor.leaf.update", 0, (int)cpu_id(), mmu_sets_dirty,
		  NULL);
	assert_int_equal(cursor_protect(&c, P4K, PTE_NX), E_OK);
	assert_true(pause_fired(0));
	pause_reset();
	e = atomic_load(ad_entry);
	cursor_drop(&c);
	assert_true((e & (PTE_A | PTE_D)) == (PTE_A | PTE_D));
	assert_int_equal(pte_prot(e), PTE_NX | PTE_U);
	unmap_range(&upt, WIN, P4K);
}

/* The baseline: one lock per table serialises even disjoint cursors. */
static void test_space_lock_serialises(void **state)
{
	struct pagetable spt;
	struct worker a = { .pt = &spt, .va = WIN, .end = WIN + P2M };
	struct worker b = { .pt = &spt, .va = WIN + 64 * GIB,
			    .end = WIN + 64 * GIB + P4K };
	unsigned level;

	(void)state;
	assert_int_equal(pt_create(&spt, PT_USER, &kpt, PT_LOCK_SPACE), E_OK);
	b.pa = new_frame(0);
	start(&a, holder_main);
	gate_wait_reached(&a.hold);
	start(&b, mapper_main);
	sleep_ms(200);
	assert_false(atomic_load(&b.got));
	gate_open(&a.hold);
	finish(&a);
	finish(&b);
	assert_no_check_failures();
	assert_int_equal(pte_addr(pt_walk(&spt, b.va, &level)), b.pa.v);
	assert_true(pt_validate(&spt, &kpt));
	unmap_range(&spt, b.va, P4K);
	put_ours(b.pa);
	pt_destroy(&spt);
}

/* ------------------------------------------------------- concurrency */

/*
 * Threads with cursors on private ranges and on one shared range, and a
 * walker reading like an MMU inside RCU sections; at the end the tables
 * are valid and (after teardown) every frame is back.
 */
static _Atomic bool conc_stop;

static void conc_cpu(unsigned index, void *arg)
{
	uint64_t rng = 0xabcdefull + index, mine = WIN + index * 64 * MIB;
	unsigned level;

	(void)arg;
	if (index == 0) { /* the walker */
		while (!atomic_load(&conc_stop)) {
			rcu_read_enter();
			for (unsigned i = 0; i < 64; i++)
				(void)pt_walk(&upt, WIN + (rng_next(&rng) % (256 * MIB)), &level);
			rcu_read_exit();
		}
		return;
	}
	for (unsigned round = 0; round < 300; round++) {
		bool shared = rng_next(&rng) % 2;
		uint64_t base = shared ? WIN + 192 * MIB : mine;
		uint64_t off = (rng_next(&rng) % 2048) * P4K;
		uint64_t len = (1 + rng_next(&rng) % 64) * P4K;
		struct cursor c;
		paddr_t pa;

		if (cursor_new(&c, &upt, base + off, base + off + len, NULL) !=
		    E_OK) {
			CHECK(false);
			continue;
		}
		switch (rng_next(&rng) % 3) {
		case 0: { /* E_BUSY if mapped: either way ours goes */
			err_t e;

			pa = new_frame(0);
			e = cursor_map(&c, pa, PTE_W, CURSOR_TRACKED);
			CHECK(e == E_OK || e == E_BUSY);
			CHECK(frame_put(page_of(pa)) == E_OK);
			break;
		}
		case 1:
			CHECK(cursor_unmap(&c, len) == E_OK);
			break;
		default:
			CHECK(cursor_protect(&c, len, PTE_NX) == E_OK);
		}
		cursor_drop(&c);
	}
	if (index == 1) {
		sleep_ms(1);
		atomic_store(&conc_stop, true);
	}
}

static void test_concurrent_cursors(void **state)
{
	(void)state;
	atomic_store(&conc_stop, false);
	run_on_cpus(4, conc_cpu, NULL);
	assert_true(pt_validate(&upt, &kpt));
	unmap_range(&upt, WIN, 256 * MIB);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
	const struct CMUnitTest tests[] = {
		T(test_tables_are_valid_and_share_the_kernel_half),
		T(test_map_query_walk_unmap),
		T(test_model_oracle),
		T(test_wf_no_overmap),
		T(test_noe03_old_entry_decides),
		T(test_cur06_whole_range_checked),
		T(test_spa01_failed_protect_changes_nothing),
		T(test_t10_barrier),
		T(test_t11_move_forward_strictly_increases),
		T(test_wf_zero_pt),
		T(test_bad_input_changes_nothing),
		T(test_enomem_changes_nothing),
		T(test_t13_flushed_before_freed),
		T(test_validate_catches_corruption),
		T(test_disjoint_cursors_do_not_wait),
		T(test_overlapping_cursor_waits),
		T(test_stray_node_is_rechecked),
		T(test_node_freed_after_grace_period),
		T(test_cur03_released_leaf_to_root),
		T(test_flush_before_unlock),
		T(test_protect_keeps_accessed_and_dirty_bits),
		T(test_space_lock_serialises),
		T(test_concurrent_cursors),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
