/* SPDX-License-Identifier: MIT */
/*
 * Cursors: exclusive access to a virtual range [start, end) of one page
 * table (pagetable.h), by the tree lock protocol of PAGETABLE.md.
 * Cursors on disjoint ranges run in parallel; on overlapping ranges, one
 * after the other. cursor.c opens with the protocol and why it is right.
 *
 * A cursor has a position va, start <= va <= end. Every operation works
 * at va and stays inside the barrier [start, end) (T10); the mapping
 * operations advance va past what they did, cursor_jump() moves it
 * anywhere inside, cursor_move_forward() only forward (T11).
 *
 * Every operation checks all of its input and everything it will touch
 * before it changes anything: a call that fails has changed nothing
 * (WF-FAIL-NOOP, CUR-06: a mapping request is checked over its whole
 * range). The nodes a cursor's descent makes on its way to its range
 * are detached again at cursor_drop() if they are still empty, so a
 * cursor whose operations all failed leaves the tables as they were.
 *
 * What an operation cleared or downgraded is flushed from the TLBs, and
 * only then are the frames that lost a tracked leaf released and the
 * nodes it emptied freed (after an RCU grace period as well): at
 * cursor_drop(), whose flush comes before it releases the locks (no
 * other cursor sees a downgrade that some TLB still ignores), or earlier
 * for frames when the cursor's batch is full (T13).
 *
 * Lock order: page-table node locks nest root to leaf, in depth-first
 * pre-order across one cursor, and are released in exactly the reverse
 * order (CUR-03). The frame allocator and the heap may be called with
 * node locks held, never the other way round. Node locks do not mask
 * interrupts: cursors are not for IRQ context (asserted), and a CPU
 * spinning on a node lock serves IPIs (a TLB shootdown) meanwhile.
 */
#ifndef KERNEL_MM_CURSOR_H
#define KERNEL_MM_CURSOR_H

#include "kernel/mm/pagetable.h"

/*
 * One part of what a cursor flushes: [va, va + len) in steps of stride,
 * a page size (4 KiB, 2 MiB or 1 GiB): an invlpg at each step drops the
 * translation of the page there, whatever its size, and (on x86) every
 * paging-structure cache entry, which covers detached tables.
 */
struct flush_range {
	uint64_t va, len, stride;
};

#define CURSOR_FLUSH_PARTS 3u /* one per page size */

/*
 * How the TLBs are flushed after a cursor's changes (vmspace.c's
 * shootdown): parts[0..n) together cover every page that changed, each
 * part in steps of its own page size (MOM-02: a 2 MiB page is one step,
 * and a 4 KiB page beside it is not skipped). NULL: this CPU's TLB.
 */
struct cursor_flush {
	void (*range)(void *arg, const struct flush_range *parts, unsigned n);
	void *arg;
};

#define CURSOR_BATCH 64u   /* frames held back for one flush */
#define CURSOR_MADE_MAX 4u /* step-1 nodes remembered for the trim */

struct cursor {
	struct pagetable *pt;
	uint64_t start, end;    /* [I] the barrier */
	uint64_t va;            /* the position */
	struct page *top;       /* the covering node, locked; NULL: dropped */
	uint64_t top_base;      /* the first address top maps */
	const struct cursor_flush *flush;
	/* The lock checker (debug builds): keys in pre-order (cursor.c). */
	uint64_t last_locked, last_unlocked;
	unsigned held;
	/* Changed since the last flush, per page size (first and last
	 * address, inclusive: the half's last page must not wrap). */
	struct {
		uint64_t lo, hi;
	} dirty[CURSOR_FLUSH_PARTS];
	unsigned n_frames;
	struct page *frames[CURSOR_BATCH]; /* tracked frames to put */
	struct page *dead;                 /* detached nodes (u.pt.dead_next) */
	/* Nodes its descent made (step 1), trimmed at the drop if empty. */
	unsigned n_made;
	struct {
		struct page *node, *parent;
		uint64_t parent_base; /* the first address parent maps */
		unsigned index;       /* node's entry in parent */
	} made[CURSOR_MADE_MAX];
};

/* The mapping at an address (cursor_query()). */
struct pt_mapping {
	bool present;
	uint64_t va;     /* the first address of the page, or of the hole */
	uint64_t size;   /* its size: the page's, or the absent entry's */
	paddr_t pa;      /* present: the page's physical address */
	uint64_t prot;   /* present: PTE_PROT bits */
	bool tracked;    /* present: the leaf holds a frame reference */
	bool cow;        /* present: copy-on-write (PTE_COW) */
};

/* cursor_map*() flags. */
enum {
	CURSOR_TRACKED = 1u << 0, /* take a reference on the frame (user) */
	CURSOR_REPLACE = 1u << 1, /* a present page of the same size may be
				     replaced (else E_BUSY: WF-NO-OVERMAP) */
	CURSOR_COW = 1u << 2,     /* a copy-on-write leaf (PTE_COW): mapped
				     read-only whatever prot says */
};

/*
 * Lock [va, end) of pt, va and end 4 KiB aligned, va < end, inside pt's
 * half (a user table: below PT_USER_END; a kernel table: from
 * PT_KERNEL_BASE, end != 0). Position: va. flush: NULL or how to flush.
 * Errors, nothing locked: E_INVAL (alignment, empty range), E_RANGE
 * (outside the half), E_NOMEM (a node on the way could not be made).
 * Pre: not in IRQ context; the frame allocator's rule (interrupts
 * enabled, no spinlock held, or it may not reclaim).
 */
MUST_CHECK err_t cursor_new(struct cursor *c, struct pagetable *pt,
			    uint64_t va, uint64_t end,
			    const struct cursor_flush *flush);

/* Release everything (leaf to root), flush, free what waited for it. */
void cursor_drop(struct cursor *c);

/* The mapping at the position, or the hole there. Pre: va < end. */
struct pt_mapping cursor_query(const struct cursor *c);

/*
 * Map the 4 KiB page at pa at the position, with prot (PTE_PROT bits: a
 * user table adds PTE_U and refuses PTE_G; a kernel table refuses PTE_U),
 * and advance by 4 KiB. CURSOR_TRACKED: pa must head an allocated
 * order-0 block, which gains a reference. Errors, changing nothing:
 *   E_RANGE          the position is at end
 *   E_INVAL          pa unaligned, bad prot or flags
 *   E_BUSY           mapped already (without CURSOR_REPLACE), or inside
 *                    a huge page
 *   E_NOT_ALLOCATED  CURSOR_TRACKED and pa heads no allocated block of
 *                    that size
 *   E_NOSPC          CURSOR_TRACKED and the frame has FRAME_REF_MAX
 *                    references already
 *   E_NOMEM          a node could not be made
 */
MUST_CHECK err_t cursor_map(struct cursor *c, paddr_t pa, uint64_t prot,
			    unsigned flags);

/*
 * The same for a 2 MiB page: the position and pa 2 MiB aligned, and the
 * whole 2 MiB inside the barrier (else E_INVAL / E_RANGE). E_BUSY if any
 * page inside is mapped (a huge page there may be replaced with
 * CURSOR_REPLACE). An empty page table there is detached and freed.
 */
MUST_CHECK err_t cursor_map_huge(struct cursor *c, paddr_t pa, uint64_t prot,
				 unsigned flags);

/*
 * Unmap every page in [va, va + len) (len 4 KiB aligned, inside the
 * barrier) and advance past it. E_INVAL, changing nothing, if a huge page
 * reaches out of the range (no splitting). Nodes left empty are detached.
 */
MUST_CHECK err_t cursor_unmap(struct cursor *c, uint64_t len);

/*
 * Give every page mapped in [va, va + len) the protection prot (as for
 * cursor_map; a copy-on-write leaf stays read-only) and advance past it.
 * E_INVAL, changing nothing, for bad prot or a huge page that reaches out
 * of the range (SPA-01).
 */
MUST_CHECK err_t cursor_protect(struct cursor *c, uint64_t len, uint64_t prot);

/*
 * Make the page at the position copy-on-write (PTE_COW, read-only), if it
 * is a tracked leaf, and advance past it. E_RANGE at end; E_INVAL if the
 * page is absent or untracked (nothing to share).
 */
MUST_CHECK err_t cursor_set_cow(struct cursor *c);

/* Move to va (4 KiB aligned, start <= va < end), else E_RANGE/E_INVAL. */
MUST_CHECK err_t cursor_jump(struct cursor *c, uint64_t va);

/*
 * Move past the page or hole at the position (cursor_query()'s), never
 * beyond end: the position strictly increases. E_RANGE at end.
 */
MUST_CHECK err_t cursor_move_forward(struct cursor *c);

#endif /* KERNEL_MM_CURSOR_H */
