/* SPDX-License-Identifier: MIT */
/*
 * The lock-free buddy allocator: one instance per zone, orders
 * 0..BUDDY_MAX_ORDER, over per-order atomic free maps. See buddy.c for the
 * design and its correctness argument.
 *
 * A block is (pfn, order) with pfn a multiple of 2^order relative to the
 * zone base. The buddy knows nothing of owners or usage: the frame layer
 * keeps the descriptors. It does keep one bit of them: PF_ZEROED on the
 * head of a free block (set by whoever frees a block known to be zero,
 * combined with AND when blocks merge, copied when they split), so a
 * caller can read a block's zeroed-ness from its head after allocating it.
 *
 * Every operation is lock-free (no locks, no heap) and may run in any
 * context, IRQ handlers included. In the locked configuration (buddy_init
 * with locked = true, for benchmarks) every operation runs under one zone
 * spinlock with interrupts masked: the same code, serialised.
 *
 * Pre for every call: the caller runs on a CPU (cpu_id() is valid).
 */
#ifndef KERNEL_MM_BUDDY_H
#define KERNEL_MM_BUDDY_H

#include <stdatomic.h>

#include "kernel/types.h"
#include "locks/spinlock.h"

#define BUDDY_MAX_ORDER 10
#define BUDDY_ORDERS    (BUDDY_MAX_ORDER + 1)
#define BUDDY_MAX_PAGES (UINT64_C(1) << BUDDY_MAX_ORDER)

/*
 * A CPU's area: an aligned block of 2^BUDDY_AREA_ORDER frames where it
 * looks first (SEARCH in buddy.c).
 */
#define BUDDY_AREA_ORDER BUDDY_MAX_ORDER

/*
 * struct buddy_cpu's area word: the area's index in bits 0-31; bit 32 + k
 * set: a lazy free of order k into the area may be unmerged since.
 */
#define BUDDY_AREA_INDEX(v)  ((uint32_t)(v))
#define BUDDY_AREA_LAZY(k)   (UINT64_C(1) << (32 + (k)))
#define BUDDY_AREA_DIRTY     (~UINT64_C(0) << 32)

/*
 * Free blocks of one order: bit i set iff block i is free (and maximal).
 * Word w of the map is bits[] entry map_word(w): the words of one area
 * share cache lines with no other area's (LAYOUT in buddy.c).
 */
struct freemap {
	_Atomic uint64_t *bits;    /* [a] the words, laid out by gshift */
	_Atomic uint64_t *summary; /* [a] bit w: word w may be non-zero */
	uint64_t nwords;           /* [I] */
	uint64_t nsum;             /* [I] summary words */
	unsigned gshift;           /* [I] log2 of the words per line */
};

/* Word w of map m, where LAYOUT (buddy.c) puts it. */
static inline _Atomic uint64_t *buddy_map_word(const struct freemap *m,
					       uint64_t w)
{
	uint64_t group = UINT64_C(1) << m->gshift;

	return &m->bits[(w >> m->gshift) * (CACHELINE / sizeof(uint64_t)) +
			(w & (group - 1))];
}

/*
 * One CPU's view of one zone: its share of the free count, and hints.
 * free count == sum over CPUs of (added - taken); see FREE COUNT in buddy.c.
 */
struct buddy_cpu {
	_Atomic uint64_t added;               /* [a] frames published; only
						 grows (the publish epoch) */
	_Atomic int64_t taken;                /* [a] frames claimed, less
						 claims given back */
	_Atomic uint32_t hint[BUDDY_ORDERS];  /* [a] word of the last find */
	_Atomic uint64_t area;                /* [a] the CPU's area (index of
						 a top-order block) and the
						 orders of lazy frees into it
						 not merged since
						 (BUDDY_AREA_*); written by
						 this CPU only, so program
						 order (this CPU and its
						 interrupts) orders it with
						 the map steps; others read it
						 only at quiescence (validate) */
	_Atomic uint32_t area_orders;         /* [a] bit k: the area may have
						 a free order-k block (a hint
						 this CPU keeps) */
} CACHE_ALIGNED;

struct buddy {
	uint64_t base;                     /* [I] first pfn (aligned) */
	uint64_t npages;                   /* [I] pages spanned */
	struct freemap map[BUDDY_ORDERS];  /* [I] */
	bool locked;                       /* [I] the locked configuration */
	struct buddy_cpu *cpu;             /* [I] MAX_CPUS entries */
	_Atomic uint16_t *owner;           /* [a] per area: 1 + the CPU whose
					      area it is, or 0: a hint, relaxed
					      (a stale read only sends a search
					      elsewhere or a free to merge_up) */
	/* Written rarely, read on every operation: a line of their own. */
	_Atomic uint32_t nonempty CACHE_ALIGNED; /* [a] bit k: map k may be
						    non-empty */
	_Atomic bool any_zeroed;           /* [a] a zeroed block was ever freed */
	/*
	 * The locked configuration's zone lock: serialises whole operations
	 * (taken with interrupts masked). Lock order: innermost; nothing is
	 * taken under it.
	 */
	spinlock_t lock CACHE_ALIGNED;
};

/* Metadata bytes for a zone spanning npages (a multiple of 2^MAX_ORDER). */
uint64_t buddy_metadata_bytes(uint64_t npages);

/*
 * A zone of npages frames from base (both multiples of 2^MAX_ORDER), with
 * meta (buddy_metadata_bytes(npages) bytes) for its maps. Starts empty:
 * frames arrive with buddy_free(). Boot CPU only.
 */
void buddy_init(struct buddy *b, pfn_t base, uint64_t npages, void *meta,
		bool locked);

/*
 * Allocate one block of 2^order frames. Returns false only if, when the
 * call gave up, no free block of order >= order was in the maps and no
 * two free buddies below it were (COMPLETENESS in buddy.c; blocks in
 * transit inside another operation are not free until it publishes them).
 * Linearisation point: the atomic clear of the block's bit; of a failure,
 * the end of its last pass.
 * Pre: order <= BUDDY_MAX_ORDER.
 */
MUST_CHECK bool buddy_alloc(struct buddy *b, unsigned order, pfn_t *out);

/*
 * Allocate up to n blocks of one order (for per-CPU cache refills): whole
 * words of the order's map at once, then large blocks carved into pieces;
 * it may stop once it has n / 2 (rather than split a block for the rest).
 * Returns how many were stored in out[]; 0 only when buddy_alloc() would
 * have failed.
 */
unsigned buddy_alloc_bulk(struct buddy *b, unsigned order, unsigned n,
			  pfn_t *out);

/*
 * Free a block the caller owns (its head descriptor is PAGE_NONE).
 * zeroed: its frames are known to be zero. Into this CPU's area the free
 * is lazy: the block is published as it is, to be merged later (LAZY
 * MERGING in buddy.c); anywhere else it merges with free buddies at once.
 * Linearisation point: the step that publishes the (merged) block in its
 * map (a compare-and-swap; a lazy free's fetch-or).
 */
void buddy_free(struct buddy *b, pfn_t pfn, unsigned order, bool zeroed);

/*
 * Free n blocks of one order (per-CPU cache drains). Runs of adjacent
 * blocks (in either direction) are freed as larger blocks, saving merges.
 * The array may be reordered.
 */
void buddy_free_bulk(struct buddy *b, pfn_t *pfns, unsigned n, unsigned order);

/*
 * Merge every pair of free buddies, in every area: memory is fully
 * coalesced when no free runs in the meantime (LAZY MERGING in buddy.c).
 */
void buddy_coalesce(struct buddy *b);

/*
 * Free frames: those in published blocks, never those in transit inside
 * an operation (exact when no operation is in flight; a racy sum of
 * per-CPU counters otherwise).
 */
int64_t buddy_free_pages(const struct buddy *b);

/*
 * The order of the free block headed by pfn, or -1 if no free block starts
 * there (racy; for validation at quiescence).
 */
int buddy_free_order_at(const struct buddy *b, pfn_t pfn);

/*
 * Check the maps at quiescence: no two free blocks overlap, two buddies
 * below the top order are both free only inside some CPU's area (lazy
 * frees not yet merged; none after buddy_coalesce()), summaries cover
 * every set bit, and the free count matches the maps. Logs what is wrong.
 */
bool buddy_validate(const struct buddy *b);

/* Pairs of free buddies (racy; 0 at quiescence after buddy_coalesce()). */
uint64_t buddy_free_pairs(const struct buddy *b);

/* Frames in free blocks of each order, into pages[BUDDY_ORDERS]. */
void buddy_count(const struct buddy *b, uint64_t pages[BUDDY_ORDERS]);

/*
 * The order of the largest free block in the maps, or -1 if none is free
 * (racy: blocks in transit inside operations are in no map; exact at
 * quiescence). Scans from the top order down and stops at the first.
 */
int buddy_largest_free_order(const struct buddy *b);

#endif /* KERNEL_MM_BUDDY_H */
