/* SPDX-License-Identifier: MIT */
/*
 * The boot-time page allocator. See bootmem.h for the contract.
 *
 * Each usable range has its own bitmap, so the bitmaps cost one bit per
 * usable page however sparse the physical address space is. All bitmaps
 * live in one run of pages (the "self" pages), placed at the top of the
 * highest usable range below the limit.
 */
#include <string.h>

#include <platform.h>

#include "kernel/mm/bootmem.h"

#define BOOTMEM_MAGIC UINT64_C(0x626f6f746d656d21) /* "bootmem!" */
#define NONE          UINT64_MAX

/* ------------------------------------------------------------- bitmaps */

static uint64_t bits_mask(uint64_t from, uint64_t to_in_word)
{
	/* Bits [from % 64, to_in_word) of one word; to_in_word <= 64. */
	uint64_t lo = from % 64;
	uint64_t hi = to_in_word == 64 ? ~UINT64_C(0)
				       : (UINT64_C(1) << to_in_word) - 1;

	return hi & ~((UINT64_C(1) << lo) - 1);
}

/*
 * First index in [from, to) whose bit equals value, or NONE.
 */
static uint64_t scan_first(const uint64_t *w, uint64_t from, uint64_t to,
			   bool value)
{
	uint64_t inv = value ? 0 : ~UINT64_C(0);

	while (from < to) {
		uint64_t word_end = MIN(ALIGN_DOWN(from, 64) + 64, to);
		uint64_t m = (w[from / 64] ^ inv) &
			     bits_mask(from, word_end - ALIGN_DOWN(from, 64));

		if (m != 0)
			return ALIGN_DOWN(from, 64) + (uint64_t)__builtin_ctzll(m);
		from = word_end;
	}
	return NONE;
}

/* Last index in [from, to) whose bit is set, or NONE. */
static uint64_t scan_last_set(const uint64_t *w, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t base = ALIGN_DOWN(to - 1, 64);
		uint64_t lo = MAX(from, base);
		uint64_t m = w[base / 64] & bits_mask(lo, to - base);

		if (m != 0)
			return base + 63 - (uint64_t)__builtin_clzll(m);
		to = base;
	}
	return NONE;
}

static void set_bits(uint64_t *w, uint64_t from, uint64_t to, bool value)
{
	while (from < to) {
		uint64_t base = ALIGN_DOWN(from, 64);
		uint64_t word_end = MIN(base + 64, to);
		uint64_t m = bits_mask(from, word_end - base);

		if (value)
			w[base / 64] |= m;
		else
			w[base / 64] &= ~m;
		from = word_end;
	}
}

static uint64_t count_clear(const uint64_t *w, uint64_t n)
{
	uint64_t clear = 0;

	for (uint64_t i = 0; i < n; i += 64) {
		uint64_t m = bits_mask(i, MIN(n - i, 64));

		clear += (uint64_t)__builtin_popcountll(~w[i / 64] & m);
	}
	return clear;
}

/* -------------------------------------------------------------- ranges */

static uint64_t range_pages(const struct bootmem_range *r)
{
	return r->end - r->start;
}

static uint64_t bitmap_words(uint64_t pages)
{
	return (pages + 63) / 64;
}

/* The range holding all of [start, start + count), or NULL. */
static struct bootmem_range *range_of(const struct bootmem *bm,
				      uint64_t start, uint64_t count)
{
	if (count > UINT64_MAX - start)
		return NULL;
	for (unsigned i = 0; i < bm->nranges; i++) {
		const struct bootmem_range *r = &bm->range[i];

		if (start >= r->start && start + count <= r->end)
			return (struct bootmem_range *)r;
	}
	return NULL;
}

static bool ready(const struct bootmem *bm)
{
	return bm->magic == BOOTMEM_MAGIC && !bm->ended;
}

/* --------------------------------------------------------------- init */

/* The usable pages of map region i, rounded inwards: false if none. */
static bool usable_pages(const struct mem_region *reg, uint64_t *start,
			 uint64_t *end)
{
	if (reg->type != MEM_USABLE)
		return false;
	*start = ALIGN_UP(reg->base, PAGE_SIZE) >> PAGE_SHIFT;
	*end = reg->end >> PAGE_SHIFT;
	return *start < *end;
}

/*
 * Where the bitmap goes: the top self_pages of the highest usable range
 * below limit with room. Returns its first page, or NONE.
 */
static uint64_t place_bitmap(const struct memmap *map, uint64_t limit,
			     uint64_t self_pages)
{
	for (unsigned i = map->count; i-- > 0;) {
		uint64_t s, e;

		if (!usable_pages(&map->region[i], &s, &e))
			continue;
		e = MIN(e, limit);
		if (e > s && e - s >= self_pages)
			return e - self_pages;
	}
	return NONE;
}

err_t bootmem_init(struct bootmem *bm, const struct memmap *map, pfn_t limit)
{
	uint64_t words = 0, pages = 0, self, self_pages;
	uint64_t *bits;

	if (bm->magic == BOOTMEM_MAGIC)
		return E_ALREADY;
	for (unsigned i = 0; i < map->count; i++) {
		uint64_t s, e;

		if (usable_pages(&map->region[i], &s, &e)) {
			words += bitmap_words(e - s);
			pages += e - s;
		}
	}
	if (pages == 0)
		return E_NOMEM;
	self_pages = (words * sizeof(uint64_t) + PAGE_SIZE - 1) / PAGE_SIZE;
	self = place_bitmap(map, limit.v, self_pages);
	if (self == NONE)
		return E_NOMEM;

	/* Checks done: from here on nothing fails. */
	bits = phys_to_virt(pfn_to_pa(PFN(self)));
	memset(bits, 0, words * sizeof(uint64_t));
	bm->nranges = 0;
	for (unsigned i = 0; i < map->count; i++) {
		struct bootmem_range *r = &bm->range[bm->nranges];

		if (!usable_pages(&map->region[i], &r->start, &r->end))
			continue;
		r->bits = bits;
		bits += bitmap_words(range_pages(r));
		bm->nranges++;
	}
	bm->limit = limit.v;
	bm->self_start = self;
	bm->self_pages = self_pages;
	bm->total_pages = pages;
	bm->free_pages = pages - self_pages;
	bm->ended = false;
	bm->magic = BOOTMEM_MAGIC;
	{
		struct bootmem_range *r = range_of(bm, self, self_pages);

		set_bits(r->bits, self - r->start, self + self_pages - r->start,
			 true);
	}
	ASSERT(bootmem_validate(bm));
	return E_OK;
}

/* ---------------------------------------------------------- allocation */

static void mark(struct bootmem *bm, struct bootmem_range *r, uint64_t start,
		 uint64_t count, bool allocated)
{
	set_bits(r->bits, start - r->start, start + count - r->start,
		 allocated);
	if (allocated)
		bm->free_pages -= count;
	else
		bm->free_pages += count;
}

/* Highest free run of count pages in r, start aligned, below top. */
static uint64_t find_run(const struct bootmem_range *r, uint64_t top,
			 uint64_t count, uint64_t align)
{
	uint64_t s;

	if (top < r->start || top - r->start < count)
		return NONE;
	s = ALIGN_DOWN(top - count, align);
	while (s >= r->start) {
		uint64_t busy = scan_last_set(r->bits, s - r->start,
					      s + count - r->start);

		if (busy == NONE)
			return s;
		/* The next candidate must end at or below the busy page. */
		busy += r->start;
		if (busy < r->start + count)
			return NONE;
		s = ALIGN_DOWN(busy - count, align);
	}
	return NONE;
}

struct bootmem_result bootmem_alloc(struct bootmem *bm, uint64_t count,
				    uint64_t align)
{
	if (!ready(bm))
		return (struct bootmem_result){ E_STATE, PFN(0) };
	if (count == 0 || !IS_POW2(align))
		return (struct bootmem_result){ E_INVAL, PFN(0) };
	for (unsigned i = bm->nranges; i-- > 0;) {
		struct bootmem_range *r = &bm->range[i];
		uint64_t s = find_run(r, MIN(r->end, bm->limit), count, align);

		if (s != NONE) {
			mark(bm, r, s, count, true);
			return (struct bootmem_result){ E_OK, PFN(s) };
		}
	}
	return (struct bootmem_result){ E_NOMEM, PFN(0) };
}

/* The range holding [start, start + count), or why there is none. */
static err_t checked_range(struct bootmem *bm, pfn_t start, uint64_t count,
			   struct bootmem_range **r)
{
	if (!ready(bm))
		return E_STATE;
	if (count == 0)
		return E_INVAL;
	*r = range_of(bm, start.v, count);
	return *r == NULL ? E_RANGE : E_OK;
}

err_t bootmem_alloc_at(struct bootmem *bm, pfn_t start, uint64_t count)
{
	struct bootmem_range *r;
	err_t e = checked_range(bm, start, count, &r);

	if (e != E_OK)
		return e;
	if (scan_first(r->bits, start.v - r->start,
		       start.v + count - r->start, true) != NONE)
		return E_BUSY;
	mark(bm, r, start.v, count, true);
	return E_OK;
}

err_t bootmem_free(struct bootmem *bm, pfn_t start, uint64_t count)
{
	struct bootmem_range *r;
	err_t e = checked_range(bm, start, count, &r);

	if (e != E_OK)
		return e;
	if (start.v < bm->self_start + bm->self_pages &&
	    bm->self_start < start.v + count)
		return E_INVAL;
	if (scan_first(r->bits, start.v - r->start,
		       start.v + count - r->start, false) != NONE)
		return E_NOT_ALLOCATED;
	mark(bm, r, start.v, count, false);
	return E_OK;
}

bool bootmem_is_allocated(const struct bootmem *bm, pfn_t pfn)
{
	const struct bootmem_range *r;

	if (bm->magic != BOOTMEM_MAGIC)
		return true;
	r = range_of(bm, pfn.v, 1);
	if (r == NULL)
		return true;
	return scan_first(r->bits, pfn.v - r->start, pfn.v - r->start + 1,
			  true) != NONE;
}

uint64_t bootmem_free_pages(const struct bootmem *bm)
{
	return ready(bm) ? bm->free_pages : 0;
}

void bootmem_self(const struct bootmem *bm, pfn_t *start, uint64_t *pages)
{
	*start = PFN(bm->self_start);
	*pages = bm->self_pages;
}

/* ------------------------------------------------------------ hand-off */

/* Cut [s, e) into the largest aligned blocks of at most 2^max_order. */
static uint64_t hand_off_run(uint64_t s, uint64_t e, unsigned max_order,
			     bootmem_handoff_fn fn, void *ctx)
{
	uint64_t pages = e - s;

	while (s < e) {
		unsigned align = s == 0 ? 63 : (unsigned)__builtin_ctzll(s);
		unsigned fit = 63 - (unsigned)__builtin_clzll(e - s);
		unsigned order = MIN(MIN(align, fit), max_order);

		fn(ctx, PFN(s), order);
		s += UINT64_C(1) << order;
	}
	return pages;
}

err_t bootmem_end(struct bootmem *bm, unsigned max_order,
		  bootmem_handoff_fn fn, void *ctx, uint64_t *pages)
{
	uint64_t total = 0;

	if (!ready(bm))
		return E_STATE;
	if (max_order > 40)
		return E_INVAL;
	for (unsigned i = 0; i < bm->nranges; i++) {
		const struct bootmem_range *r = &bm->range[i];
		uint64_t n = range_pages(r), at = 0;

		while (at < n) {
			uint64_t s = scan_first(r->bits, at, n, false);
			uint64_t e;

			if (s == NONE)
				break;
			e = scan_first(r->bits, s, n, true);
			if (e == NONE)
				e = n;
			total += hand_off_run(r->start + s, r->start + e,
					      max_order, fn, ctx);
			at = e;
		}
	}
	ASSERT(total == bm->free_pages);
	bm->ended = true;
	bm->free_pages = 0;
	*pages = total;
	return E_OK;
}

bool bootmem_validate(const struct bootmem *bm)
{
	uint64_t free = 0, total = 0;
	const struct bootmem_range *self;

	if (bm->magic != BOOTMEM_MAGIC)
		return false;
	if (bm->ended)
		return bm->free_pages == 0;
	for (unsigned i = 0; i < bm->nranges; i++) {
		const struct bootmem_range *r = &bm->range[i];

		if (r->start >= r->end)
			return false;
		if (i > 0 && bm->range[i - 1].end > r->start)
			return false;
		free += count_clear(r->bits, range_pages(r));
		total += range_pages(r);
	}
	self = range_of(bm, bm->self_start, bm->self_pages);
	if (self == NULL ||
	    scan_first(self->bits, bm->self_start - self->start,
		       bm->self_start + bm->self_pages - self->start,
		       false) != NONE)
		return false;
	return free == bm->free_pages && total == bm->total_pages;
}
