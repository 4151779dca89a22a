/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU page caches, in front of each zone's buddy, for orders 0-3 and 9
 * (the orders Linux caches).
 *
 * Each CPU has, per zone and cached order, a stack of blocks linked
 * through their head descriptors (state PAGE_PCP, u.next), a count, and
 * the order's batch and high mark:
 *   alloc: pop; if empty, refill `batch` blocks from the buddy first
 *          (whole map words at once, or a large block carved up);
 *   free:  push; if count > high, drain `batch` blocks to the buddy
 *          (adjacent ones are freed together as larger blocks).
 * Only the owning CPU touches its caches, always with interrupts masked:
 * no lock and no atomic read-modify-write on the fast path. An interrupt
 * handler allocating on the same CPU is safe (ALO-01) because the code it
 * interrupted had interrupts masked while touching the cache, so the
 * handler runs between operations, never inside one.
 *
 * Remote drain: pcp_drain_all() runs pcp_drain_local() on every CPU that
 * caches something with smp_call_cond() (an IPI in the kernel, a signal
 * on the host), so a CPU that is short of memory can get back what other
 * CPUs have cached, even if they are idle. A host CPU drains its caches
 * when it unregisters.
 *
 * Cached frames count as free in the counters.
 */
#ifndef PERCPU_PCP_H
#define PERCPU_PCP_H

#include <stdatomic.h>

#include "kernel/mm/page.h"
#include "kernel/mm/zone.h"

#define PCP_ORDERS    5  /* cached orders: 0, 1, 2, 3, 9 */
#define PCP_MAX_BATCH 64

/* Index of order in the caches, or -1 if it is not cached. */
static inline int pcp_index(unsigned order)
{
	return order <= 3 ? (int)order : order == 9 ? 4 : -1;
}

struct pcp_params {
	unsigned batch; /* blocks moved per refill or drain */
	unsigned high;  /* drain when the count exceeds this; 0: not cached */
};

/*
 * Size the caches of every zone with z->pcp set, for about cpus CPUs:
 * between calls the caches of one CPU hold at most 1/8 of the zone / cpus
 * (pcp_free() pushes before it drains: with interrupts masked, a list
 * holds one block over its mark for a moment), the orders taking their
 * shares smallest first; an order left too little for one block is not
 * cached. Boot CPU only.
 */
void pcp_init(unsigned cpus);

/* The sizes pcp_init() gave order in zone z ({0, 0}: not cached). */
struct pcp_params pcp_params_of(const struct zone *z, unsigned order);

/*
 * Whether blocks of this order in zone z go through the caches. Any order
 * may be asked about: the shift is clamped (bit 63 of the widened mask is
 * always clear), so an order of 32 or more is "not cached", not undefined.
 */
static inline bool pcp_caches(const struct zone *z, unsigned order)
{
	return ((uint64_t)z->pcp_orders >> MIN(order, 63u)) & 1;
}

/*
 * Take a block of 2^order frames from this CPU's cache for zone z,
 * refilling it from the buddy if empty. Returns its head (still
 * PAGE_PCP: the caller sets the state), or NULL if the zone has none.
 * Pre: pcp_caches(z, order). Any context.
 */
struct page *pcp_alloc(struct zone *z, unsigned order);

/*
 * Put a block the caller owns (head in transit, PAGE_NONE) into this
 * CPU's cache for zone z. Pre: pcp_caches(z, order). Any context.
 */
void pcp_free(struct zone *z, struct page *p, unsigned order);

/* Return everything this CPU has cached to the buddies. Any context. */
void pcp_drain_local(void);

/*
 * Drain every CPU's caches: with smp_call_cond() IPIs to the CPUs that
 * cache something when interrupts are enabled outside IRQ context;
 * otherwise (where waiting for other CPUs could deadlock) only this
 * CPU's. Rounds are shared: if another CPU's round is under way, wait for
 * it to end and then run (or share) the next one. What was cached before
 * the call is back in the buddies on return, except what CPUs the round
 * had already passed cached again meanwhile. Pre: with interrupts
 * enabled outside IRQ context, the caller holds no spinlock (a CPU
 * spinning for it with interrupts masked would never answer; debug
 * builds panic).
 */
void pcp_drain_all(void);

/*
 * The same, for a caller that read ticket = pcp_drain_ticket() before it
 * looked for memory and found none: if a round that started after the
 * ticket has already ended, that round is the one the caller needed, so
 * return at once (the caller looks again) instead of starting another.
 */
static inline uint64_t pcp_drain_ticket(void);
void pcp_drain_since(uint64_t ticket);

/* IPI rounds run so far (a shared round counts once). */
uint64_t pcp_drain_rounds(void);

/* [a] Drain rounds' starts and ends, odd while one runs (pcp.c). */
extern _Atomic uint64_t pcp_drain_seq;

/* Inline: every allocation reads a ticket before it looks. */
static inline uint64_t pcp_drain_ticket(void)
{
	return atomic_load_explicit(&pcp_drain_seq, memory_order_acquire);
}

/* Frames cached for zone z on all CPUs (exact at quiescence). */
uint64_t pcp_cached(const struct zone *z);

/*
 * Check every CPU's caches for zone z at quiescence: each entry is a
 * PAGE_PCP head of the list's order in zone z, counts match the lists.
 * Sets *frames to the frames cached.
 */
bool pcp_validate(const struct zone *z, uint64_t *frames);

/* Forget every cache (host tests only, with the frame allocator). */
void pcp_fini(void);

#endif /* PERCPU_PCP_H */
