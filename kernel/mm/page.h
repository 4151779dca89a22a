/* SPDX-License-Identifier: MIT */
/*
 * The frame table: one struct page per physical frame, found by pfn.
 *
 * Every descriptor's life is in one 64-bit atomic word, `state`:
 *
 *     bits  0..31  refcount    owners of the frame (allocated blocks only)
 *     bits 32..35  usage       enum page_usage
 *     bits 36..39  order       block order, for heads of blocks
 *     bits 40..43  flags       PF_* (heads of free and cached blocks); on
 *                              allocated heads, bit 40 is 0 and bits 41..43
 *                              count the references held raw (target T4)
 *     bits 44..63  generation  allocations of this frame as a head, mod 2^20
 *
 * so that a free is one compare-and-swap from "allocated, one owner, this
 * order, this generation" to "in transit": of two racing frees of one
 * frame exactly one succeeds, and a free with the wrong order, of a
 * reserved frame or of a frame someone else still references fails
 * without changing anything.
 *
 * The generation (defect 5, ABA): without it, the loser of two racing
 * frees that looked at the word before the winner freed it would find the
 * very same word again if the frame had meanwhile been allocated to a new
 * owner at the same usage and order, and its compare-and-swap would free
 * the new owner's block. page_set_allocated() is the only writer that
 * changes the generation (it adds one); page_set_state() and the free's
 * compare-and-swap keep it. So every allocation of a frame as the head of
 * a block has a generation that differs from the previous allocation's,
 * and frame_free()/frame_put() refuse (E_NOT_ALLOCATED) when the word they
 * compare against carries another generation than the one they first saw.
 * Width: 20 bits. The check is defeated only if a racing double free (a
 * bug of the caller in the first place) loses the processor between its
 * look and its compare-and-swap while the same frame is allocated exactly
 * a multiple of 2^20 = 1,048,576 times, and is then held by exactly one
 * owner at the same usage and order: at the allocator's best rate, a
 * stall of a tenth of a second or more that must also end on one exact
 * allocation out of a million. A free that starts after the frame was
 * allocated again cannot be told from the new owner's own free: that is
 * the limit of an interface of (pfn, order).
 *
 * Usage, order and flags are 4 bits each: 9 usages, orders 0..15 (the
 * buddy's largest is 10), one flag so far; ps_make() asserts that each
 * value fits.
 *
 * Raw references (target T4). frame_into_raw() turns one of the caller's
 * references into the block's physical address (for a page-table entry,
 * say) and frame_from_raw() turns it back; the refcount does not change
 * either way, but the head counts how many of its references are held
 * raw, so that a restore without a matching into_raw (a second restore,
 * an address never given out, a stale one) is refused instead of making
 * two handles of one reference. Where the count lives, and why there:
 *  - in the flag bits of an allocated head, which are otherwise dead:
 *    page_set_allocated() clears them, and the one flag, PF_ZEROED, is a
 *    property of free and cached blocks (frame_alloc_for() reads it before
 *    it marks the block allocated). So the count costs no bit anything
 *    else uses, struct page stays 32 bytes, and the generation keeps its
 *    20 bits and the argument above unchanged (taking 4 of its bits would
 *    cut the stall that defeats it 16-fold, to a few milliseconds: a
 *    scheduler time slice);
 *  - in bits 41..43 only, not 40: a raw count can never read as
 *    PF_ZEROED to code that looks at a head's flags (a block taken for
 *    zeroed would hand its old contents to a FRAME_ZERO caller);
 *  - three bits count 0..6 exactly; the seventh raw reference makes the
 *    count stick at PS_RAW_STUCK until the block is freed: its restores
 *    are no longer checked, and free, put and frame_validate() treat it
 *    as unknown. Most blocks are held raw once (one page-table entry); a
 *    frame mapped by more entries than that loses the check, nothing else.
 * Invariant (checked by frame_validate()): on an allocated head, a count
 * not stuck is at most the refcount, since each raw reference is one of
 * the owners. So frame_free() refuses (E_REFERENCED) a block whose one
 * reference is held raw, and frame_put() one whose every reference is:
 * the raw address would point at a free block.
 * With the generation: the count lives in the same word, so the free's
 * compare-and-swap resets it (the transit state has no flags) and a new
 * allocation starts at 0; and frame_from_raw() refuses when the word it
 * would change carries another generation than the one it first read (as
 * frame_put() does), so a restore that raced with the block's free and
 * reallocation cannot take the next owner's raw reference. A restore that
 * starts after the reallocation, of the address the new owner gave out
 * raw too, cannot be told from the new owner's own: the limit of an
 * interface of addresses, as (pfn, order) is for frees.
 *
 * Only the head descriptor of a block says anything: tails keep usage
 * PAGE_NONE, whatever the block is. A free block's head is PAGE_NONE too
 * (the buddy's free maps, not the descriptors, say which blocks are free),
 * so "PAGE_NONE" means "heads no block that is allocated, cached or being
 * scrubbed". Writing only heads keeps an order-9 allocation O(1).
 *
 * Refcounts (targets T3-T5, findings MOP-02/NOE-02): a new frame has
 * refcount 1; frame_get() is one atomic increment (never "make a handle
 * and forget it"); frame_put() (frame.h) drops one, and the one who drops
 * it to zero resets the descriptor and only then frees the frame (Asterinas
 * freed first and reset after, so its from_unused() had to spin).
 * frame_into_raw()/frame_from_raw() leave the count alone (see "Raw
 * references" above for what they count instead). The count never
 * exceeds FRAME_REF_MAX (2^31 - 1): frame_get() refuses beyond it, in
 * every build, so it can never carry into the usage (defect 6).
 *
 * Fields are accessed by name through the helpers here, never by casting a
 * descriptor to something else (finding MOP-01).
 */
#ifndef KERNEL_MM_PAGE_H
#define KERNEL_MM_PAGE_H

#include <stdatomic.h>

#include <platform.h>

#include "kernel/lib/err.h"
#include "kernel/lib/pause.h"

struct account;

enum page_usage {
	PAGE_NONE = 0,  /* heads nothing: free, or inside another block */
	PAGE_PCP,       /* head of a block in a per-CPU cache */
	PAGE_SCRUB,     /* head of a block waiting to be scrubbed */
	PAGE_FRAME,     /* allocated: general purpose */
	PAGE_PAGETABLE, /* allocated: a page-table node */
	PAGE_SLAB,      /* allocated: a slab */
	PAGE_META,      /* allocator metadata: frame table, free maps, bitmap */
	PAGE_KERNEL,    /* taken at boot: kernel image, modules, boot data */
	PAGE_RESERVED,  /* not RAM, or the firmware's */
	PAGE_USAGE_COUNT
};

/* Usages a frame can be allocated (and freed) as. */
static inline bool page_usage_allocatable(enum page_usage u)
{
	return u == PAGE_FRAME || u == PAGE_PAGETABLE || u == PAGE_SLAB;
}

/* Descriptor flags. */
#define PF_ZEROED 0x01u /* head of a free or cached block known to be zero */

struct page {
	_Atomic uint64_t state; /* [a] refcount | usage | order | flags or
				   raw count | generation */
	struct account *owner;  /* charged account; written by whoever owns
				   the frame (allocator in transit, else its
				   owner), NULL if unaccounted */
	union {
		/* PAGE_PCP, PAGE_SCRUB: list link [owning CPU / scrub lock] */
		struct page *next;
		/* PAGE_PAGETABLE: a node (used by the page-table layer) */
		struct {
			_Atomic uint32_t lock;
			uint16_t nr_children;
			uint8_t level;
			uint8_t stray;
			struct page *dead_next; /* detached: the cursor's
						   list of nodes to free */
		} pt;
		/* PAGE_SLAB: a slab or a large heap block (kernel/mm/slab.h) */
		struct {
			uint32_t next;      /* pfn of the next slab on its
					       class's list [class lock] */
			uint32_t prev;      /* and of the previous one */
			uint16_t free;      /* first free object [class lock] */
			uint16_t inuse;     /* objects off the free list
					       [class lock] */
			uint8_t size_class; /* [I while a slab] */
			uint8_t list;       /* the list it is on [class lock] */
		} slab;
		uint64_t raw[2];
	} u;
};

_Static_assert(sizeof(struct page) == 32, "struct page must stay 32 bytes");

/* ------------------------------------------------------------- state */

#define PS_REF_MASK    UINT64_C(0xffffffff)
#define PS_USAGE_SHIFT 32
#define PS_ORDER_SHIFT 36
#define PS_FLAGS_SHIFT 40
#define PS_GEN_SHIFT   44
#define PS_FIELD_MASK  0xfu /* usage, order and flags are 4 bits each */
#define PS_ORDER_MAX   15u
#define PS_GEN_BITS    20
#define PS_GEN_ONE     (UINT64_C(1) << PS_GEN_SHIFT)
#define PS_GEN_MASK    (~UINT64_C(0) << PS_GEN_SHIFT)

_Static_assert(PAGE_USAGE_COUNT <= PS_FIELD_MASK + 1, "usage is 4 bits");
_Static_assert(PS_GEN_SHIFT + PS_GEN_BITS == 64, "the generation is the top");

/* A state with generation 0 (the writers below keep or set the real one). */
static inline uint64_t ps_make(uint32_t ref, enum page_usage usage,
			       unsigned order, unsigned flags)
{
	ASSERT((unsigned)usage < PAGE_USAGE_COUNT && order <= PS_ORDER_MAX &&
	       flags <= PS_FIELD_MASK);
	return (uint64_t)ref |
	       (uint64_t)(usage & PS_FIELD_MASK) << PS_USAGE_SHIFT |
	       (uint64_t)(order & PS_FIELD_MASK) << PS_ORDER_SHIFT |
	       (uint64_t)(flags & PS_FIELD_MASK) << PS_FLAGS_SHIFT;
}

static inline uint32_t ps_ref(uint64_t s)
{
	return (uint32_t)(s & PS_REF_MASK);
}

static inline enum page_usage ps_usage(uint64_t s)
{
	return (enum page_usage)((s >> PS_USAGE_SHIFT) & PS_FIELD_MASK);
}

static inline unsigned ps_order(uint64_t s)
{
	return (unsigned)((s >> PS_ORDER_SHIFT) & PS_FIELD_MASK);
}

static inline unsigned ps_flags(uint64_t s)
{
	return (unsigned)((s >> PS_FLAGS_SHIFT) & PS_FIELD_MASK);
}

static inline uint32_t ps_gen(uint64_t s)
{
	return (uint32_t)(s >> PS_GEN_SHIFT);
}

/*
 * References held raw (T4), in bits 41..43 of an allocated head: exact
 * below PS_RAW_STUCK, unknown (no longer counted) at it.
 */
#define PS_RAW_SHIFT (PS_FLAGS_SHIFT + 1)
#define PS_RAW_ONE   (UINT64_C(1) << PS_RAW_SHIFT)
#define PS_RAW_STUCK 7u

_Static_assert(PS_RAW_SHIFT + 3 == PS_GEN_SHIFT, "raw count below the gen");

static inline unsigned ps_raw(uint64_t s)
{
	return (unsigned)((s >> PS_RAW_SHIFT) & PS_RAW_STUCK);
}

/* The raw references of s as far as they are known: 0 when stuck. */
static inline unsigned ps_raw_known(uint64_t s)
{
	unsigned raw = ps_raw(s);

	return raw == PS_RAW_STUCK ? 0 : raw;
}

/* next, with the generation of s. */
static inline uint64_t ps_keep_gen(uint64_t next, uint64_t s)
{
	return (next & ~PS_GEN_MASK) | (s & PS_GEN_MASK);
}

static inline uint64_t page_state(const struct page *p)
{
	return atomic_load_explicit(&p->state, memory_order_acquire);
}

/*
 * Set every field but the generation, which stays. Only for whoever owns
 * the descriptor exclusively (the allocator for a block in transit, the
 * CPU that caches it, boot): nobody else writes the word meanwhile, so
 * reading the generation and storing is as good as one atomic step. Every
 * layer writes states through this or page_set_allocated(), never with a
 * plain store, or the generation would be lost.
 */
static inline void page_set_state(struct page *p, uint64_t s)
{
	uint64_t old = atomic_load_explicit(&p->state, memory_order_relaxed);

	atomic_store_explicit(&p->state, ps_keep_gen(s, old),
			      memory_order_release);
}

/*
 * The block p heads becomes allocated: refcount 1, usage, order, no flags,
 * and the next generation (mod 2^PS_GEN_BITS). Same ownership rule.
 */
static inline void page_set_allocated(struct page *p, enum page_usage usage,
				      unsigned order)
{
	uint64_t old = atomic_load_explicit(&p->state, memory_order_relaxed);

	atomic_store_explicit(&p->state,
			      ps_keep_gen(ps_make(1, usage, order, 0),
					  old + PS_GEN_ONE),
			      memory_order_release);
}

/* ------------------------------------------------------ the table */

/* [I] set by page_table_init(); read everywhere. */
extern struct page *frame_table;
extern uint64_t frame_table_pages; /* frames described: pfn < this */

static inline bool pfn_valid(pfn_t pfn)
{
	return pfn.v < frame_table_pages;
}

/* Pre: pfn_valid(pfn). */
static inline struct page *pfn_to_page(pfn_t pfn)
{
	ASSERT(pfn_valid(pfn));
	return &frame_table[pfn.v];
}

static inline pfn_t page_to_pfn(const struct page *p)
{
	return PFN((uint64_t)(p - frame_table));
}

static inline paddr_t page_to_pa(const struct page *p)
{
	return pfn_to_pa(page_to_pfn(p));
}

static inline void *page_to_virt(const struct page *p)
{
	return phys_to_virt(page_to_pa(p));
}

/*
 * Bytes of memory the table needs for frames [0, npages), and installing
 * it: mem (that many bytes, from the boot allocator) becomes the table,
 * every descriptor PAGE_RESERVED. Boot CPU only.
 */
uint64_t page_table_bytes(uint64_t npages);
void page_table_init(void *mem, uint64_t npages);

/* Forget the table (host tests only; nobody may use it any more). */
void page_table_fini(void);

/* Set usage of frames [start, start + n) (boot only: no other CPU runs). */
void page_table_mark(pfn_t start, uint64_t n, enum page_usage usage);

const char *page_usage_name(enum page_usage u);

/* ------------------------------------------------------ refcounts */

/* The most references a frame can have (see frame_get()). */
#define FRAME_REF_MAX ((UINT32_C(1) << 31) - 1)

/* frame_get()'s slow path (page.c): undo, refuse or panic. */
MUST_CHECK err_t frame_get_refused(struct page *p, uint64_t old);

/*
 * Take another reference to an allocated frame. Pre: the caller holds one
 * (so the count cannot be zero, and the frame cannot be freed meanwhile).
 * One atomic increment (MOP-02: never create a handle to do it), then a
 * check of the value it replaced:
 *   E_OK     the reference is taken
 *   E_RANGE  the count is already FRAME_REF_MAX: the increment is undone
 *            and nothing changes (a frame shared that widely means a leak
 *            of references, or a caller that must copy instead)
 * Panics, in every build, if the frame heads no allocated block (the
 * caller held no reference: taking one now would hand out a free frame).
 * The count never carries into the usage: it passes FRAME_REF_MAX only
 * by one per getter between its increment and its undo, and there are far
 * fewer of those at once (one per CPU and interrupt level) than the 2^31
 * values between FRAME_REF_MAX and the carry.
 */
static inline MUST_CHECK err_t frame_get(struct page *p)
{
	uint64_t old = atomic_fetch_add_explicit(&p->state, 1,
						 memory_order_relaxed);

	if (likely(ps_ref(old) - 1u < FRAME_REF_MAX - 1u &&
		   page_usage_allocatable(ps_usage(old))))
		return E_OK;
	return frame_get_refused(p, old);
}

/*
 * Take a reference to the allocation whose head state the caller read as
 * seen, if the block is still that allocation (allocated, the same
 * generation): for a caller that found the block from an address and so
 * holds no reference yet (kfree() pins a slab this way across its look
 * and its claim, in debug builds). E_NOT_ALLOCATED, changing nothing, if
 * the block was freed since (and maybe allocated again); E_RANGE at
 * FRAME_REF_MAX. A compare-and-swap loop that retries only because
 * another CPU changed the count: lock-free.
 */
static inline MUST_CHECK err_t frame_get_seen(struct page *p, uint64_t seen)
{
	uint64_t s = seen;

	do {
		if (ps_gen(s) != ps_gen(seen) || ps_ref(s) == 0 ||
		    !page_usage_allocatable(ps_usage(s)))
			return E_NOT_ALLOCATED;
		if (ps_ref(s) >= FRAME_REF_MAX)
			return E_RANGE;
		/* Acquire: pairs with page_set_allocated()'s release store
		 * of this generation (the pin is taken on that allocation);
		 * what its owner wrote later reaches the pinner the way the
		 * address did (kfree(): the object's hand-over). */
	} while (!atomic_compare_exchange_weak_explicit(
		&p->state, &s, s + 1, memory_order_acquire,
		memory_order_relaxed));
	return E_OK;
}

/* Current reference count (racy unless the caller holds all of them). */
static inline uint32_t frame_refcount(const struct page *p)
{
	return ps_ref(page_state(p));
}

/*
 * Target T4: one of the caller's references to an allocated block (its
 * head), turned into the block's physical address for a structure that
 * stores addresses (a page-table entry), and back. See "Raw references"
 * at the top.
 *
 * frame_into_raw() gives up the caller's handle, not the reference: the
 * count does not change, and the block stays allocated as long as the raw
 * address holds it. Pre: the caller holds a reference that is not held
 * raw already; panics, in every build, when the head shows that it cannot
 * (no allocated block, or as many raw references as references), as
 * frame_get() does for a reference nobody holds.
 *
 * frame_from_raw() turns a raw reference back into a handle (the count
 * does not change either), once: an address that holds no raw reference
 * (restored already, never given by frame_into_raw(), inside a block, not
 * page-aligned, outside the table, or whose block was freed and allocated
 * again while the call looked) gives NULL and changes nothing, so a
 * second restore cannot make two handles of one reference. Distinct
 * blocks have distinct addresses, and from_raw(into_raw(p)) == p.
 *
 * Both are compare-and-swap loops that retry only because another CPU
 * changed the word (a get, a put, another raw step): lock-free. Relaxed,
 * as in frame_get(): the reference, not this word, keeps the block
 * allocated, and whatever passes the address on (a page-table entry's
 * store) orders the uses of the block.
 */
static inline paddr_t frame_into_raw(struct page *p)
{
	uint64_t s = page_state(p), next;

	do {
		if (unlikely(!page_usage_allocatable(ps_usage(s)) ||
			     ps_raw_known(s) >= ps_ref(s)))
			panic("frame_into_raw: frame %llu (%s, refcount %u, %u "
			      "raw): the caller holds no reference that is not "
			      "raw", (unsigned long long)page_to_pfn(p).v,
			      page_usage_name(ps_usage(s)), ps_ref(s),
			      ps_raw(s));
		next = ps_raw(s) == PS_RAW_STUCK ? s : s + PS_RAW_ONE;
	} while (!atomic_compare_exchange_weak_explicit(
		&p->state, &s, next, memory_order_relaxed,
		memory_order_relaxed));
	return page_to_pa(p);
}

static inline MUST_CHECK struct page *frame_from_raw(paddr_t pa)
{
	struct page *p;
	uint64_t s, seen;

	if (!IS_ALIGNED(pa.v, PAGE_SIZE) || !pfn_valid(pa_to_pfn(pa)))
		return NULL;
	p = pfn_to_page(pa_to_pfn(pa));
	s = seen = page_state(p);
	do {
		if (ps_gen(s) != ps_gen(seen) ||
		    !page_usage_allocatable(ps_usage(s)) || ps_raw(s) == 0)
			return NULL;
		if (ps_raw(s) == PS_RAW_STUCK)
			return p; /* not counted any more: nothing to take */
		PAUSE("page.from_raw.checked");
		/* Fails, and we look again, if the word changed meanwhile:
		 * another restore, a get or put, or a free (another
		 * generation then, if the block was allocated again). */
	} while (!atomic_compare_exchange_weak_explicit(
		&p->state, &s, s - PS_RAW_ONE, memory_order_relaxed,
		memory_order_relaxed));
	return p;
}

#endif /* KERNEL_MM_PAGE_H */
