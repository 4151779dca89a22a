/* SPDX-License-Identifier: MIT */
/*
 * Zones: physical memory by address, each with its own buddy allocator,
 * so no block ever spans two zones (XEN-ZONE).
 *
 *   DMA     below 16 MiB: ISA DMA; keeps an emergency reserve that only
 *           FRAME_DMA requests may use (Xen's DMA emergency pool)
 *   DMA32   below 4 GiB: 32-bit devices
 *   NORMAL  the rest
 *
 * Zone borders are multiples of 2^BUDDY_MAX_ORDER frames, so naturally
 * aligned blocks never cross them.
 */
#ifndef KERNEL_MM_ZONE_H
#define KERNEL_MM_ZONE_H

#include "kernel/mm/buddy.h"

enum zone_id { ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_COUNT };

#define ZONE_DMA_END   (UINT64_C(16) << (20 - PAGE_SHIFT))  /* pfn of 16 MiB */
#define ZONE_DMA32_END (UINT64_C(4) << (30 - PAGE_SHIFT))   /* pfn of 4 GiB */

_Static_assert(ZONE_DMA_END % BUDDY_MAX_PAGES == 0 &&
	       ZONE_DMA32_END % BUDDY_MAX_PAGES == 0,
	       "zone borders must be aligned to the largest block");

struct zone {
	enum zone_id id;     /* [I] */
	const char *name;    /* [I] */
	uint64_t start;      /* [I] first pfn of the span */
	uint64_t end;        /* [I] end of the span (start == end: absent) */
	uint64_t managed;    /* [I] frames given to the allocator at boot */
	uint64_t reserve;    /* [I] frames kept for FRAME_DMA (DMA zone) */
	bool pcp;            /* [I] served through per-CPU caches */
	uint32_t pcp_orders; /* [I] bit k: order k goes through the caches */
	/*
	 * Serialises allocations that fall back into this zone from a higher
	 * one, so that together they never eat into the reserve. Lock order:
	 * taken before the buddy's (locked configuration) zone lock.
	 */
	spinlock_t fallback_lock;
	struct buddy buddy;
};

extern struct zone zones[ZONE_COUNT];

static inline bool zone_present(const struct zone *z)
{
	return z->end > z->start;
}

/* The zone holding pfn, or NULL. */
static inline struct zone *zone_of(pfn_t pfn)
{
	struct zone *z = pfn.v < ZONE_DMA_END     ? &zones[ZONE_DMA]
			 : pfn.v < ZONE_DMA32_END ? &zones[ZONE_DMA32]
						  : &zones[ZONE_NORMAL];

	return pfn.v >= z->start && pfn.v < z->end ? z : NULL;
}

#endif /* KERNEL_MM_ZONE_H */
