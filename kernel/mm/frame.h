/* SPDX-License-Identifier: MIT */
/*
 * The frame API: physical frames for everyone above the allocator.
 *
 *   frame_alloc(order, flags)               2^order contiguous frames
 *   frame_alloc_for(acct, order, flags, u)  charged to an account, typed
 *   frames_alloc(n, flags, out)             n frames, not contiguous (ALO-02)
 *   frame_free(pfn, order)                  give back what was allocated
 *   frame_put(page)                         drop a reference (page.h has get)
 *
 * Allocation walks the zones a request may use, highest first (NORMAL,
 * DMA32, DMA), each through this CPU's page cache where the order is
 * cached, else straight from the zone's lock-free buddy. A request that
 * falls back into the DMA zone gets frames only while the zone's emergency
 * reserve stays intact; FRAME_DMA requests go to the DMA zone and may use
 * it (XEN-DMA-POOL). When nothing is found, every CPU's cache is drained
 * (see pcp.h: only this CPU's when called with interrupts masked or from
 * an IRQ handler) and the walk is repeated once before E_NOMEM.
 *
 * Every call checks its whole input before it changes anything, and a call
 * that fails has changed nothing. Bad frees are caught from the frame
 * table: the first step of a free is one compare-and-swap of the head
 * descriptor from "allocated with one reference at this order, this
 * generation" to "in transit", so of two racing frees of one block exactly
 * one succeeds, even when the block is allocated again between the
 * loser's look and its compare-and-swap (the generation, page.h).
 *
 * Before frame_init() the same API serves early boot from the boot
 * allocator (after frame_early_init()): typed frames, for page tables
 * made before the frame table exists (ALO-04/NOE-01); frame_init() records
 * them in the table as allocated, so they are freed like any other.
 */
#ifndef KERNEL_MM_FRAME_H
#define KERNEL_MM_FRAME_H

#include <stddef.h>

#include "kernel/lib/err.h"
#include "kernel/mm/account.h"
#include "kernel/mm/bootmem.h"
#include "kernel/mm/memmap.h"
#include "kernel/mm/page.h"
#include "kernel/mm/zone.h"

#define FRAME_MAX_ORDER BUDDY_MAX_ORDER

enum frame_flags {
	FRAME_ZERO = 1u << 0,      /* zero the frames (unless known zero) */
	FRAME_DMA = 1u << 1,       /* below 16 MiB; may use the DMA reserve */
	FRAME_DMA32 = 1u << 2,     /* below 4 GiB */
	FRAME_NOACCOUNT = 1u << 3, /* not charged to the account (Xen's
				      MEMF_no_refcount) */
};
#define FRAME_FLAGS_ALL (FRAME_ZERO | FRAME_DMA | FRAME_DMA32 | FRAME_NOACCOUNT)

/* Configurations the benchmarks compare; chosen at boot. */
struct frame_config {
	bool pcp;             /* per-CPU page caches (else straight to the buddy) */
	bool buddy_locked;    /* every buddy operation under one zone spinlock */
	uint64_t dma_reserve; /* frames of the DMA zone kept for FRAME_DMA;
				 UINT64_MAX: a quarter of the zone, at most
				 1024 */
	unsigned cpus;        /* CPUs to size caches for (0: ncpus()) */
};

#define FRAME_CONFIG_FULL   { true, false, UINT64_MAX, 0 }
#define FRAME_CONFIG_NOPCP  { false, false, UINT64_MAX, 0 }
#define FRAME_CONFIG_LOCKED { false, true, UINT64_MAX, 0 }

/*
 * The configurations by name: "full", "nopcp", "locked" (the first len
 * characters of name; benchmarks, the stress test and the kernel's
 * bench= option choose by name). *out is the configuration with cpus 0.
 * E_INVAL, changing nothing, for any other name.
 */
MUST_CHECK err_t frame_config_named(const char *name, size_t len,
				    struct frame_config *out);

/* Their names, for error messages. */
#define FRAME_CONFIG_NAMES "full|nopcp|locked"

struct frame_result {
	err_t err;
	pfn_t pfn; /* first frame, when err == E_OK */
};

/* --------------------------------------------------------------- boot */

/* Serve frame_alloc*() from bm until frame_init() (boot CPU only). */
void frame_early_init(struct bootmem *bm);

/*
 * Build the frame table, zones, buddies and caches over map's usable
 * memory: metadata comes from bm, every frame bm still has free is handed
 * to the buddies, and bm is closed. Boot CPU only, on a registered CPU.
 *   E_ALREADY  already initialised
 *   E_NOMEM    bm cannot hold the metadata (nothing changed but bm)
 *   E_INVAL    the map has no usable memory
 */
MUST_CHECK err_t frame_init(struct bootmem *bm, const struct memmap *map,
			    const struct frame_config *cfg);

/* Whether frame_init() has completed. */
bool frame_ready(void);

/*
 * Forget the allocator so a new one can be booted (host tests and
 * benchmarks only: no CPU may use it, and nothing allocated survives).
 */
void frame_fini(void);

/* ------------------------------------------------------------ allocate */

/*
 * 2^order contiguous frames, naturally aligned, refcount 1, usage
 * PAGE_FRAME, not charged to any account.
 *   E_INVAL  order > FRAME_MAX_ORDER (XEN-UE-ORDER) or unknown flags
 *   E_NOMEM  no such block in the zones the flags allow
 *   E_STATE  before frame_init() and without an early allocator
 */
MUST_CHECK struct frame_result frame_alloc(unsigned order, unsigned flags);

/*
 * The same, with usage (PAGE_FRAME, PAGE_PAGETABLE or PAGE_SLAB) and
 * charged to acct (NULL, or FRAME_NOACCOUNT: not charged). Also:
 *   E_DYING  acct is dying
 *   E_QUOTA  acct would exceed max_pages
 */
MUST_CHECK struct frame_result frame_alloc_for(struct account *acct,
					       unsigned order, unsigned flags,
					       enum page_usage usage);

/*
 * n single frames, not necessarily contiguous, into out[0..n): all or
 * nothing (ALO-02). Errors as frame_alloc().
 */
MUST_CHECK err_t frames_alloc(size_t n, unsigned flags, pfn_t *out);

/* -------------------------------------------------------------- free */

/*
 * Free the block of 2^order frames at pfn, which an allocation returned
 * and whose only reference the caller holds. Errors, changing nothing:
 *   E_INVAL          order > FRAME_MAX_ORDER
 *   E_RANGE          pfn outside the frame table or not aligned to order
 *   E_NOT_ALLOCATED  not allocated: a double free, a frame never
 *                    allocated, a frame inside another block; also the
 *                    loser of two racing frees when the winner's block
 *                    was allocated again while the loser looked (it is
 *                    the new owner's now, and left alone)
 *   E_BAD_ORDER      allocated at another order
 *   E_RESERVED       not a frame the allocator manages
 *   E_REFERENCED     others hold references too (use frame_put), or
 *                    the one reference is held raw (frame_into_raw():
 *                    restore it with frame_from_raw() first)
 *   E_STATE          before frame_init()
 * A frame charged to a dying account goes to the scrub queue.
 */
MUST_CHECK err_t frame_free(pfn_t pfn, unsigned order);

/*
 * frame_free() of the allocation whose head state the caller read as seen
 * (page_state()), and of no later one: E_NOT_ALLOCATED, changing nothing,
 * if the block was freed since (and maybe allocated again: another
 * generation, page.h). For a caller that finds the block from an address
 * first (kfree() of a large block): its look and its free are then one
 * decision about one allocation, as frame_free()'s are about what it
 * reads itself.
 */
MUST_CHECK err_t frame_free_seen(pfn_t pfn, unsigned order, uint64_t seen);

/*
 * Drop one reference to an allocated block (its head). The one who drops
 * the last runs the usage's drop hook, resets the descriptor and then
 * frees the block. Errors, changing nothing:
 *   E_NOT_ALLOCATED  p heads no allocated block, or it was freed and
 *                    allocated again while this call looked (a racing
 *                    double put: the new owner's reference is not ours)
 *   E_REFERENCED     every reference left is held raw (frame_into_raw()),
 *                    so none is the caller's to drop
 */
MUST_CHECK err_t frame_put(struct page *p);

/*
 * Called by the last frame_put() of a block of the given usage, before the
 * descriptor is reset (upper layers register theirs: page-table nodes,
 * slabs). Boot only.
 */
typedef void (*frame_drop_fn)(struct page *p, unsigned order);
void frame_set_drop_hook(enum page_usage usage, frame_drop_fn fn);

/* ------------------------------------------------------------- state */

struct frame_zone_stats {
	const char *name;
	bool present;
	uint64_t managed;  /* frames the zone manages */
	uint64_t free;     /* in the buddy plus cached */
	uint64_t cached;   /* in per-CPU caches */
	uint64_t reserve;
};

struct frame_stats {
	struct frame_zone_stats zone[ZONE_COUNT];
	uint64_t managed;
	uint64_t free;          /* buddies plus caches, all zones */
	uint64_t scrub_backlog;
	uint64_t allocated;     /* managed - free - scrub backlog */
};

/* Counters (approximate while operations run, exact at quiescence). */
void frame_get_stats(struct frame_stats *st);

/* Zeroed frames allocated with FRAME_ZERO that needed no clearing. */
uint64_t frame_zero_skipped(void);

/*
 * Merge every block freed lazily into a CPU's area (LAZY MERGING in
 * buddy.c). At quiescence, afterwards, free memory is fully coalesced:
 * frame_free_pairs() is 0. Any context; lock-free (the locked
 * configuration takes each zone's lock, as for every buddy call).
 */
void frame_coalesce(void);

/* Pairs of free buddies in all zones (racy; 0 after frame_coalesce()). */
uint64_t frame_free_pairs(void);

/*
 * Check every invariant of design/ALLOCATOR.md at quiescence (no
 * allocator call in flight; caches need not be drained):
 *   1. every managed frame is in exactly one place: a free block of the
 *      buddy, a per-CPU cache, the scrub queue, or an allocated block;
 *   2. per zone, the buddy's counters equal its maps, and free + cached +
 *      scrubbing + allocated = managed;
 *   3. free blocks do not overlap and stay inside their zone;
 *   4. no two buddies below the top order are both free (coalesced),
 *      except lazily freed ones inside a CPU's area (frame_coalesce()
 *      merges those);
 *   5. allocated heads have refcount > 0, and no more references held
 *      raw (when counted, page.h) than that; everything else refcount 0,
 *      and tails of blocks head nothing.
 * Logs the first problem found and returns false.
 */
bool frame_validate(void);

/* ------------------------------------------------------- fragmentation */

/*
 * For benchmarks that report fragmentation (frame/mixed). Only the
 * buddies' free blocks count: blocks in per-CPU caches are not free here.
 * Racy while operations run (a block in transit is in no map); exact at
 * quiescence.
 */

/*
 * The order of the largest free block of any zone, or -1 if none (the DMA
 * zone's count: a request that falls back there gets them above the
 * reserve).
 */
int frame_largest_free_order(void);

/*
 * Free blocks of the two top orders, all zones: in the buddies' maps
 * (free[0]: order FRAME_MAX_ORDER - 1, free[1]: FRAME_MAX_ORDER), and
 * what full coalescing of the same free frames gives (coalesced[]): a
 * top-order region all free is one top-order block; a half of one that is
 * not, all free, one block of the order below. At quiescence free[] ==
 * coalesced[] unless free blocks that should have merged up to these
 * orders were left apart (frame_validate() checks all orders: no two
 * free buddies).
 */
struct frame_top_blocks {
	uint64_t free[2];
	uint64_t coalesced[2];
};

void frame_top_blocks(struct frame_top_blocks *out);

#endif /* KERNEL_MM_FRAME_H */
