/* SPDX-License-Identifier: MIT */
/*
 * The boot allocator, against the Xen specification's rows in
 * design/CHECKLIST.md (XEN-BOOT-*): allocate-at, alignment, double
 * initialisation, its own bitmap; the hand-off to the buddy; and a random
 * model check. Every failing call must leave the allocator unchanged
 * (WF-FAIL-NOOP): each is made between take() and assert_same().
 */
#include <stdlib.h>
#include <string.h>

#include "kernel/mm/bootmem.h"
#include "tests/support.h"

#define MIB (UINT64_C(1) << 20)
#define ARENA (256 * MIB)

static struct memmap map;
static struct bootmem bm;

/*
 * A PC-like map: low memory (reserved as MEM_LOW, as the kernel does), a
 * usable range with an odd, unaligned end, a hole, and a second range.
 */
static void pc_map(void)
{
	const struct memmap_entry e[] = {
		{ 0, 0x9fc00, MEM_USABLE },
		{ 0x9fc00, 0x400, MEM_RESERVED },
		{ MIB, 63 * MIB + 0x800, MEM_USABLE }, /* ends mid-page */
		{ 64 * MIB + 0x800, 0x800, MEM_RESERVED },
		{ 80 * MIB, 48 * MIB, MEM_USABLE },
	};

	memmap_init(&map);
	assert_int_equal(memmap_add_entries(&map, e, ARRAY_SIZE(e)), E_OK);
	assert_int_equal(memmap_add(&map, 0, MIB, MEM_LOW), E_OK);
}

static int setup(void **state)
{
	(void)state;
	memset(&bm, 0, sizeof(bm));
	pc_map();
	return host_arena_init(ARENA) == E_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	host_arena_fini();
	return 0;
}

/* Pages usable in pc_map(): [1 MiB, 64 MiB) and [80 MiB, 128 MiB). */
#define FIRST_PFN (MIB / PAGE_SIZE)
#define USABLE_PAGES ((63 + 48) * MIB / PAGE_SIZE)

static bool usable_pfn(uint64_t pfn)
{
	return (pfn >= FIRST_PFN && pfn < 64 * MIB / PAGE_SIZE) ||
	       (pfn >= 80 * MIB / PAGE_SIZE && pfn < 128 * MIB / PAGE_SIZE);
}

/*
 * A byte copy of the allocator and its bitmap pages (none before
 * bootmem_init()), to compare with: WF-FAIL-NOOP, every failing call is
 * made between take() and assert_same().
 */
struct snapshot {
	struct bootmem bm;
	uint8_t *bits;
	size_t len;
};

static void take(struct snapshot *s)
{
	pfn_t self;
	uint64_t pages;

	bootmem_self(&bm, &self, &pages);
	s->bm = bm;
	s->len = pages * PAGE_SIZE;
	s->bits = malloc(s->len + 1);
	if (s->len > 0)
		memcpy(s->bits, phys_to_virt(pfn_to_pa(self)), s->len);
}

static void assert_same(struct snapshot *s)
{
	assert_memory_equal(&s->bm, &bm, sizeof(bm));
	if (s->len > 0)
		assert_memory_equal(s->bits,
				    phys_to_virt(pfn_to_pa(PFN(bm.self_start))),
				    s->len);
	free(s->bits);
}

/* The call made after take() succeeded: nothing to compare. */
static void discard(struct snapshot *s)
{
	free(s->bits);
}

static void init(pfn_t limit)
{
	assert_int_equal(bootmem_init(&bm, &map, limit), E_OK);
	assert_true(bootmem_validate(&bm));
}

/* ------------------------------------------------------------ init */

static void test_init_takes_usable_pages_only(void **state)
{
	pfn_t self;
	uint64_t self_pages;

	(void)state;
	init(BOOTMEM_NO_LIMIT);
	bootmem_self(&bm, &self, &self_pages);
	/* One bit per usable page, rounded up to words and then pages. */
	assert_int_equal(self_pages, (USABLE_PAGES / 8 + PAGE_SIZE - 1) / PAGE_SIZE);
	assert_int_equal(bootmem_free_pages(&bm), USABLE_PAGES - self_pages);
	/* The partial page at 64 MiB and everything outside are allocated. */
	assert_true(bootmem_is_allocated(&bm, PFN(64 * MIB / PAGE_SIZE)));
	assert_true(bootmem_is_allocated(&bm, PFN(0)));
	assert_true(bootmem_is_allocated(&bm, PFN(70 * MIB / PAGE_SIZE)));
	assert_false(bootmem_is_allocated(&bm, PFN(FIRST_PFN)));
	/* The bitmap sits at the top of the highest range. */
	assert_int_equal(self.v + self_pages, 128 * MIB / PAGE_SIZE);
}

static void test_xen_boot_init2_double_init_rejected(void **state)
{
	struct snapshot s;

	(void)state;
	init(BOOTMEM_NO_LIMIT);
	assert_true(bootmem_alloc(&bm, 3, 1).err == E_OK);
	take(&s);
	assert_int_equal(bootmem_init(&bm, &map, BOOTMEM_NO_LIMIT), E_ALREADY);
	assert_same(&s);
}

static void count_blocks(void *ctx, pfn_t start, unsigned order);

static void test_init_without_usable_memory_fails(void **state)
{
	struct memmap none;
	struct snapshot s;
	uint64_t blocks = 0, pages = 7;

	(void)state;
	memmap_init(&none);
	assert_int_equal(memmap_add(&none, 0, 64 * MIB, MEM_RESERVED), E_OK);
	take(&s);
	assert_int_equal(bootmem_init(&bm, &none, BOOTMEM_NO_LIMIT), E_NOMEM);
	/* Nowhere below the limit for the bitmap. */
	assert_int_equal(bootmem_init(&bm, &map, PFN(FIRST_PFN)), E_NOMEM);
	/* Still uninitialised: everything else refuses. */
	assert_int_equal(bootmem_alloc(&bm, 1, 1).err, E_STATE);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(FIRST_PFN), 1), E_STATE);
	assert_int_equal(bootmem_end(&bm, 10, count_blocks, &blocks, &pages),
			 E_STATE);
	assert_same(&s);
	assert_int_equal(blocks, 0);
	assert_int_equal(pages, 7);
}

static void test_calls_before_init_fail(void **state)
{
	struct snapshot s;
	uint64_t pages;

	(void)state;
	take(&s);
	assert_int_equal(bootmem_alloc(&bm, 1, 1).err, E_STATE);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(FIRST_PFN), 1), E_STATE);
	assert_int_equal(bootmem_free(&bm, PFN(FIRST_PFN), 1), E_STATE);
	assert_int_equal(bootmem_end(&bm, 10, NULL, NULL, &pages), E_STATE);
	assert_same(&s);
	assert_true(bootmem_is_allocated(&bm, PFN(FIRST_PFN)));
}

/* ------------------------------------------------------ allocate-at */

static void test_xen_boot_at_partly_taken_range_fails(void **state)
{
	struct snapshot s;

	(void)state;
	init(BOOTMEM_NO_LIMIT);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x200), 16), E_OK);
	for (uint64_t p = 0x200; p < 0x210; p++)
		assert_true(bootmem_is_allocated(&bm, PFN(p)));

	take(&s);
	/* Overlaps the taken run at its end: nothing is taken. */
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x1f8), 9), E_BUSY);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x20f), 4), E_BUSY);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x1f0), 64), E_BUSY);
	/* Not usable memory: below 1 MiB, across the hole, past the end. */
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x10), 1), E_RANGE);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(64 * MIB / PAGE_SIZE - 1), 2),
			 E_RANGE);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(128 * MIB / PAGE_SIZE), 1),
			 E_RANGE);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(UINT64_MAX - 1), 4), E_RANGE);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x300), 0), E_INVAL);
	assert_same(&s);

	/* The free pages right next to the run are still there. */
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x1f8), 8), E_OK);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x210), 8), E_OK);
	assert_true(bootmem_validate(&bm));
}

/* -------------------------------------------------------- alignment */

static void test_xen_boot_align_honoured(void **state)
{
	(void)state;
	init(BOOTMEM_NO_LIMIT);
	for (uint64_t align = 1; align <= 4096; align <<= 1) {
		for (uint64_t count = 1; count <= 9; count += 4) {
			struct bootmem_result r = bootmem_alloc(&bm, count, align);

			assert_int_equal(r.err, E_OK);
			assert_int_equal(r.pfn.v % align, 0);
			for (uint64_t p = r.pfn.v; p < r.pfn.v + count; p++) {
				assert_true(usable_pfn(p));
				assert_true(bootmem_is_allocated(&bm, PFN(p)));
			}
		}
	}
	assert_true(bootmem_validate(&bm));
}

static void test_bad_alignment_and_count_rejected(void **state)
{
	struct snapshot s;

	(void)state;
	init(BOOTMEM_NO_LIMIT);
	take(&s);
	assert_int_equal(bootmem_alloc(&bm, 1, 3).err, E_INVAL);
	assert_int_equal(bootmem_alloc(&bm, 1, 0).err, E_INVAL);
	assert_int_equal(bootmem_alloc(&bm, 0, 1).err, E_INVAL);
	/* Larger than any range: */
	assert_int_equal(bootmem_alloc(&bm, 64 * MIB / PAGE_SIZE, 1).err,
			 E_NOMEM);
	assert_same(&s);
}

/* An aligned run exists only where it is taken: E_NOMEM, unchanged. */
static void test_alignment_that_cannot_be_met_changes_nothing(void **state)
{
	struct memmap small;
	struct snapshot s;

	(void)state;
	memmap_init(&small);
	/* 40 pages at pfn 0x1010..0x1038: no 32-aligned run of 32 fits. */
	assert_int_equal(memmap_add(&small, 0x1010 * PAGE_SIZE, 40 * PAGE_SIZE,
				    MEM_USABLE), E_OK);
	assert_int_equal(bootmem_init(&bm, &small, BOOTMEM_NO_LIMIT), E_OK);
	take(&s);
	assert_int_equal(bootmem_alloc(&bm, 32, 32).err, E_NOMEM);
	assert_same(&s);
	/* A 16-aligned run of 16 fits; the highest is taken. */
	struct bootmem_result r = bootmem_alloc(&bm, 16, 16);
	assert_int_equal(r.err, E_OK);
	assert_int_equal(r.pfn.v, 0x1020);
}

/* ------------------------------------------------ the limit and DMA */

static void test_limit_keeps_allocations_and_bitmap_below(void **state)
{
	const uint64_t limit = 32 * MIB / PAGE_SIZE;
	pfn_t self;
	uint64_t pages;

	(void)state;
	init(PFN(limit));
	bootmem_self(&bm, &self, &pages);
	assert_true(self.v + pages <= limit);
	for (int i = 0; i < 100; i++) {
		struct bootmem_result r = bootmem_alloc(&bm, 7, 2);

		assert_int_equal(r.err, E_OK);
		assert_true(r.pfn.v + 7 <= limit);
	}
	/* Allocations go top-down, sparing low (DMA) memory. */
	assert_true(bootmem_alloc(&bm, 1, 1).pfn.v > 16 * MIB / PAGE_SIZE);
}

/* ------------------------------------------------------------ free */

static void test_free_and_double_free(void **state)
{
	struct snapshot s;
	pfn_t self;
	uint64_t self_pages;

	(void)state;
	init(BOOTMEM_NO_LIMIT);
	uint64_t before = bootmem_free_pages(&bm);
	struct bootmem_result r = bootmem_alloc(&bm, 10, 1);
	assert_int_equal(r.err, E_OK);
	assert_int_equal(bootmem_free_pages(&bm), before - 10);
	assert_int_equal(bootmem_free(&bm, r.pfn, 10), E_OK);
	assert_int_equal(bootmem_free_pages(&bm), before);

	take(&s);
	assert_int_equal(bootmem_free(&bm, r.pfn, 10), E_NOT_ALLOCATED);
	assert_int_equal(bootmem_free(&bm, PFN(0x10), 1), E_RANGE);
	assert_int_equal(bootmem_free(&bm, r.pfn, 0), E_INVAL);
	bootmem_self(&bm, &self, &self_pages);
	assert_int_equal(bootmem_free(&bm, self, 1), E_INVAL);
	assert_int_equal(bootmem_free(&bm, PFN(self.v - 1), 2), E_INVAL);
	assert_same(&s);

	/* Half allocated, half free: a double free of part of it. */
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x400), 4), E_OK);
	take(&s);
	assert_int_equal(bootmem_free(&bm, PFN(0x402), 4), E_NOT_ALLOCATED);
	assert_same(&s);
}

/* --------------------------------------------------- its own bitmap */

/*
 * XEN-BOOT-SELF: allocate every page there is, one at a time; the bitmap's
 * pages are never among them, cannot be taken or freed, and are not handed
 * off at the end.
 */
static void test_xen_boot_self_bitmap_never_handed_out(void **state)
{
	struct snapshot s;
	pfn_t self;
	uint64_t self_pages, got = 0;

	(void)state;
	init(BOOTMEM_NO_LIMIT);
	bootmem_self(&bm, &self, &self_pages);
	for (uint64_t p = self.v; p < self.v + self_pages; p++)
		assert_true(bootmem_is_allocated(&bm, PFN(p)));
	take(&s);
	assert_int_equal(bootmem_alloc_at(&bm, self, 1), E_BUSY);
	assert_int_equal(bootmem_free(&bm, self, self_pages), E_INVAL);
	assert_same(&s);

	for (;;) {
		struct bootmem_result r;

		take(&s);
		r = bootmem_alloc(&bm, 1, 1);
		if (r.err != E_OK) {
			assert_int_equal(r.err, E_NOMEM);
			assert_same(&s);
			break;
		}
		discard(&s);
		assert_true(r.pfn.v < self.v || r.pfn.v >= self.v + self_pages);
		assert_true(usable_pfn(r.pfn.v));
		got++;
	}
	assert_int_equal(got, USABLE_PAGES - self_pages);
	assert_int_equal(bootmem_free_pages(&bm), 0);
	assert_true(bootmem_validate(&bm));
}

/* ---------------------------------------------------------- hand-off */

struct handoff {
	uint8_t *seen;      /* per pfn: handed off how many times */
	uint64_t blocks;
	uint64_t pages;
	unsigned max_order;
	bool misaligned;
	bool too_big;
	bool not_free;      /* a block with a page bootmem had allocated */
	struct bootmem *bm; /* the allocator's state before the hand-off */
	uint64_t order_of[128 * MIB / PAGE_SIZE];
};

static void receive(void *ctx, pfn_t start, unsigned order)
{
	struct handoff *h = ctx;
	uint64_t n = UINT64_C(1) << order;

	h->blocks++;
	h->pages += n;
	h->misaligned |= (start.v & (n - 1)) != 0;
	h->too_big |= order > h->max_order;
	for (uint64_t p = start.v; p < start.v + n; p++) {
		h->not_free |= bootmem_is_allocated(h->bm, PFN(p));
		h->seen[p]++;
	}
	h->order_of[start.v] = order + 1;
}

static void test_end_hands_off_free_pages_in_maximal_blocks(void **state)
{
	static struct handoff h;
	static struct bootmem before;
	struct snapshot s;
	const uint64_t npfn = 128 * MIB / PAGE_SIZE;
	uint64_t free_before, pages;
	pfn_t self;
	uint64_t self_pages;

	(void)state;
	init(BOOTMEM_NO_LIMIT);
	/* Some allocations to fragment it. */
	assert_int_equal(bootmem_alloc_at(&bm, PFN(FIRST_PFN + 5), 3), E_OK);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x2000), 1), E_OK);
	assert_true(bootmem_alloc(&bm, 100, 1).err == E_OK);
	free_before = bootmem_free_pages(&bm);
	before = bm;

	memset(&h, 0, sizeof(h));
	h.seen = calloc(npfn, 1);
	h.max_order = 10;
	h.bm = &before;
	assert_int_equal(bootmem_end(&bm, 10, receive, &h, &pages), E_OK);
	assert_int_equal(pages, free_before);
	assert_int_equal(h.pages, free_before);
	assert_false(h.misaligned);
	assert_false(h.too_big);
	assert_false(h.not_free);

	/* Every free page exactly once; nothing else. */
	bootmem_self(&bm, &self, &self_pages);
	for (uint64_t p = 0; p < npfn; p++) {
		bool was_free = !bootmem_is_allocated(&before, PFN(p));

		assert_int_equal(h.seen[p], was_free ? 1 : 0);
		if (p >= self.v && p < self.v + self_pages)
			assert_int_equal(h.seen[p], 0);
	}
	/*
	 * Maximal: no two handed-off blocks are buddies of one order below
	 * the maximum (they would have been one block).
	 */
	for (uint64_t p = 0; p < npfn; p++) {
		if (h.order_of[p] == 0)
			continue;
		unsigned o = (unsigned)h.order_of[p] - 1;
		uint64_t buddy = p ^ (UINT64_C(1) << o);

		if (o < h.max_order && buddy < npfn)
			assert_false(h.order_of[buddy] == o + 1);
	}
	free(h.seen);

	/* Closed: everything refuses now, and a second end too. */
	uint64_t blocks = h.blocks;
	take(&s);
	assert_int_equal(bootmem_alloc(&bm, 1, 1).err, E_STATE);
	assert_int_equal(bootmem_alloc_at(&bm, PFN(0x3000), 1), E_STATE);
	assert_int_equal(bootmem_free(&bm, PFN(FIRST_PFN + 5), 1), E_STATE);
	assert_int_equal(bootmem_end(&bm, 10, receive, &h, &pages), E_STATE);
	assert_same(&s);
	assert_int_equal(h.blocks, blocks);
	assert_int_equal(bootmem_free_pages(&bm), 0);
}

static void count_blocks(void *ctx, pfn_t start, unsigned order)
{
	uint64_t *n = ctx;

	(void)start;
	(void)order;
	(*n)++;
}

/* A free run is cut into the fewest aligned blocks (greedy is optimal). */
static void test_end_block_count_is_minimal(void **state)
{
	struct memmap m;
	uint64_t blocks = 0, pages;

	(void)state;
	memmap_init(&m);
	/* Pages 3..1028; the bitmap takes page 1028, leaving 3..1027. */
	assert_int_equal(memmap_add(&m, 3 * PAGE_SIZE, 1026 * PAGE_SIZE,
				    MEM_USABLE), E_OK);
	assert_int_equal(bootmem_init(&bm, &m, BOOTMEM_NO_LIMIT), E_OK);
	assert_int_equal(bootmem_end(&bm, 10, count_blocks, &blocks, &pages),
			 E_OK);
	/* 3 | 4-7 | 8-15 | 16-31 | ... | 512-1023 | 1024-1027 */
	assert_int_equal(pages, 1025);
	assert_int_equal(blocks, 10);
}

static void test_end_rejects_huge_max_order(void **state)
{
	struct snapshot s;
	uint64_t blocks = 0, pages = 7;

	(void)state;
	init(BOOTMEM_NO_LIMIT);
	take(&s);
	assert_int_equal(bootmem_end(&bm, 41, count_blocks, &blocks, &pages),
			 E_INVAL);
	assert_same(&s);
	assert_int_equal(blocks, 0);
	assert_int_equal(pages, 7);
	assert_int_equal(bootmem_alloc(&bm, 1, 1).err, E_OK); /* still open */
}

/* ------------------------------------------------------ model check */

/*
 * Random alloc / alloc-at / free against a page-by-page model: after every
 * call the allocator and the model agree on every page, errors included.
 */
static void test_random_operations_match_model(void **state)
{
	const uint64_t npfn = 128 * MIB / PAGE_SIZE;
	uint8_t *model = calloc(npfn, 1);
	uint64_t rng = 42;
	pfn_t self;
	uint64_t self_pages;

	(void)state;
	init(BOOTMEM_NO_LIMIT);
	bootmem_self(&bm, &self, &self_pages);
	for (uint64_t p = 0; p < npfn; p++)
		model[p] = !usable_pfn(p) ||
			   (p >= self.v && p < self.v + self_pages);

	for (int op = 0; op < 4000; op++) {
		uint64_t count = 1 + rng_next(&rng) % 64;
		uint64_t start = rng_next(&rng) % (npfn - count);
		unsigned kind = (unsigned)(rng_next(&rng) % 3);
		bool all_free = true, all_taken = true, in_one_range = true;
		struct snapshot s;
		err_t e;

		for (uint64_t p = start; p < start + count; p++) {
			all_free &= !model[p];
			all_taken &= model[p];
			in_one_range &= usable_pfn(p) &&
					(p < 64 * MIB / PAGE_SIZE) ==
						(start < 64 * MIB / PAGE_SIZE);
		}
		take(&s);
		if (kind == 0) {
			e = bootmem_alloc_at(&bm, PFN(start), count);
			if (!in_one_range)
				assert_int_equal(e, E_RANGE);
			else
				assert_int_equal(e, all_free ? E_OK : E_BUSY);
			if (e == E_OK)
				memset(model + start, 1, count);
		} else if (kind == 1) {
			bool self_hit = start < self.v + self_pages &&
					self.v < start + count;

			e = bootmem_free(&bm, PFN(start), count);
			if (!in_one_range)
				assert_int_equal(e, E_RANGE);
			else if (self_hit)
				assert_int_equal(e, E_INVAL);
			else
				assert_int_equal(e, all_taken ? E_OK
							       : E_NOT_ALLOCATED);
			if (e == E_OK)
				memset(model + start, 0, count);
		} else {
			uint64_t align = UINT64_C(1) << (rng_next(&rng) % 6);
			struct bootmem_result r = bootmem_alloc(&bm, count, align);

			e = r.err;
			if (r.err == E_OK) {
				assert_int_equal(r.pfn.v % align, 0);
				for (uint64_t p = r.pfn.v; p < r.pfn.v + count; p++) {
					assert_int_equal(model[p], 0);
					model[p] = 1;
				}
			} else {
				assert_int_equal(r.err, E_NOMEM);
			}
		}
		if (e != E_OK)
			assert_same(&s); /* WF-FAIL-NOOP */
		else
			discard(&s);
		if (op % 500 == 0) {
			assert_true(bootmem_validate(&bm));
			for (uint64_t p = 0; p < npfn; p++)
				assert_int_equal(bootmem_is_allocated(&bm, PFN(p)),
						 model[p]);
		}
	}
	assert_true(bootmem_validate(&bm));
	free(model);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_init_takes_usable_pages_only),
		T(test_xen_boot_init2_double_init_rejected),
		T(test_init_without_usable_memory_fails),
		T(test_calls_before_init_fail),
		T(test_xen_boot_at_partly_taken_range_fails),
		T(test_xen_boot_align_honoured),
		T(test_bad_alignment_and_count_rejected),
		T(test_alignment_that_cannot_be_met_changes_nothing),
		T(test_limit_keeps_allocations_and_bitmap_below),
		T(test_free_and_double_free),
		T(test_xen_boot_self_bitmap_never_handed_out),
		T(test_end_hands_off_free_pages_in_maximal_blocks),
		T(test_end_block_count_is_minimal),
		T(test_end_rejects_huge_max_order),
		T(test_random_operations_match_model),
	};
#undef T

	return cmocka_run_group_tests_name("bootmem", tests, NULL, NULL);
}
