/* SPDX-License-Identifier: MIT */
/*
 * The boot-time page allocator (Xen's boot allocator: seed 000, sections 2
 * and 3; design/ALLOCATOR.md "Boot: memmap and bootmem").
 *
 * It serves the few allocations made before the frame table exists (the
 * frame table itself, early page tables) from a bitmap over the usable
 * regions of the memory map, then hands every page still free to the buddy
 * allocator with bootmem_end().
 *
 * The bitmap (one bit per usable page, 1 = allocated) is placed in usable
 * memory by bootmem_init() itself, below the caller's limit, and its own
 * pages are marked allocated for good: they are never returned by an
 * allocation, cannot be freed, and are not handed off (XEN-BOOT-SELF).
 * bootmem_self() tells where they are, so the frame table can type them.
 *
 * Pages are usable only if the map's usable regions cover them entirely:
 * usable regions are rounded inwards to page boundaries.
 *
 * Every call validates its arguments and the state first; a call that
 * fails changes nothing (XEN-BOOT-AT). Not thread-safe: the boot CPU uses
 * it alone, before any other CPU starts.
 */
#ifndef KERNEL_MM_BOOTMEM_H
#define KERNEL_MM_BOOTMEM_H

#include "kernel/lib/err.h"
#include "kernel/mm/memmap.h"
#include "kernel/types.h"

#define BOOTMEM_NO_LIMIT PFN(UINT64_MAX)

/* Usable pages [start, end), and their bits. */
struct bootmem_range {
	uint64_t start;
	uint64_t end;
	uint64_t *bits; /* bit i: page start + i is allocated */
};

struct bootmem {
	uint64_t magic;       /* BOOTMEM_MAGIC once initialised */
	bool ended;           /* bootmem_end() ran: nothing more works */
	unsigned nranges;
	struct bootmem_range range[MEMMAP_MAX_REGIONS];
	uint64_t limit;       /* allocations stay below this pfn */
	uint64_t self_start;  /* the bitmap's own pages */
	uint64_t self_pages;
	uint64_t total_pages; /* usable pages, bitmap included */
	uint64_t free_pages;
};

struct bootmem_result {
	err_t err;
	pfn_t pfn; /* the first page, when err == E_OK */
};

/*
 * Take over the usable memory of map. bm must be zero-filled (static
 * storage) before the first call. Allocations, and the bitmap itself, stay
 * below limit (BOOTMEM_NO_LIMIT for none): the kernel passes the end of
 * what its boot page tables map.
 *   E_ALREADY  bm is already initialised (XEN-BOOT-INIT2)
 *   E_NOMEM    no usable memory, or nowhere below limit for the bitmap
 */
MUST_CHECK err_t bootmem_init(struct bootmem *bm, const struct memmap *map,
			      pfn_t limit);

/*
 * count pages, the first aligned to align pages (a power of two), below the
 * limit; the highest such run is taken, to spare low (DMA) memory.
 *   E_INVAL  count == 0, or align is not a power of two
 *   E_NOMEM  no such run is free
 *   E_STATE  not initialised, or ended
 */
MUST_CHECK struct bootmem_result bootmem_alloc(struct bootmem *bm,
					       uint64_t count, uint64_t align);

/*
 * Exactly the pages [start, start + count), which must all be usable and
 * free (the limit does not apply).
 *   E_INVAL  count == 0
 *   E_RANGE  the range is not entirely inside one usable range
 *   E_BUSY   some page in it is allocated
 *   E_STATE  not initialised, or ended
 */
MUST_CHECK err_t bootmem_alloc_at(struct bootmem *bm, pfn_t start,
				  uint64_t count);

/*
 * Give back [start, start + count), which must all be allocated.
 *   E_INVAL          count == 0, or the range includes the bitmap's pages
 *   E_RANGE          not entirely inside one usable range
 *   E_NOT_ALLOCATED  some page in it is free (a double free)
 *   E_STATE          not initialised, or ended
 */
MUST_CHECK err_t bootmem_free(struct bootmem *bm, pfn_t start, uint64_t count);

/* Whether pfn is allocated; pages outside usable memory count as such. */
bool bootmem_is_allocated(const struct bootmem *bm, pfn_t pfn);

uint64_t bootmem_free_pages(const struct bootmem *bm);

/* The bitmap's own pages: [*start, *start + *pages). */
void bootmem_self(const struct bootmem *bm, pfn_t *start, uint64_t *pages);

/*
 * Called once per block by bootmem_end(): 2^order pages from start, which
 * is a multiple of 2^order.
 */
typedef void (*bootmem_handoff_fn)(void *ctx, pfn_t start, unsigned order);

/*
 * Hand every free page to fn, in maximal naturally aligned blocks of at
 * most 2^max_order pages (each free run is cut greedily into the largest
 * aligned blocks that fit: the fewest blocks that cover it). Blocks never
 * span two usable ranges; with max_order <= 12 a block never crosses a
 * 16 MiB or 4 GiB border either. Afterwards bootmem is closed: every other
 * call returns E_STATE. Sets *pages to the pages handed off.
 *   E_INVAL  max_order > 40
 *   E_STATE  not initialised, or already ended
 */
MUST_CHECK err_t bootmem_end(struct bootmem *bm, unsigned max_order,
			     bootmem_handoff_fn fn, void *ctx, uint64_t *pages);

/* Whether the counters agree with the bitmap and the bitmap is allocated. */
bool bootmem_validate(const struct bootmem *bm);

#endif /* KERNEL_MM_BOOTMEM_H */
