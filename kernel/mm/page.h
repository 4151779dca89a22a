/* SPDX-License-Identifier: MIT */
/*
 * The frame table: one struct page per physical frame, found by pfn.
 *
 * Every descriptor's life is in one 64-bit atomic word, `state`:
 *
 *     bits  0..31  refcount   owners of the frame (allocated blocks only)
 *     bits 32..39  usage      enum page_usage
 *     bits 40..47  order      block order, for heads of blocks
 *     bits 48..55  flags      PF_*
 *
 * so that a free is one compare-and-swap from "allocated, one owner, this
 * order" to "in transit": of two racing frees of one frame exactly one
 * succeeds, and a free with the wrong order, of a reserved frame or of a
 * frame someone else still references fails without changing anything.
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
 * frame_into_raw()/frame_from_raw() leave the count alone.
 *
 * Fields are accessed by name through the helpers here, never by casting a
 * descriptor to something else (finding MOP-01).
 */
#ifndef KERNEL_MM_PAGE_H
#define KERNEL_MM_PAGE_H

#include <stdatomic.h>

#include <platform.h>

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
	_Atomic uint64_t state; /* [a] refcount | usage | order | flags */
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
		} pt;
		/* PAGE_SLAB: a slab (used by the heap) */
		struct {
			void *freelist;
			uint16_t inuse;
			uint8_t size_class;
		} slab;
		uint64_t raw[2];
	} u;
};

_Static_assert(sizeof(struct page) == 32, "struct page must stay 32 bytes");

/* ------------------------------------------------------------- state */

#define PS_REF_MASK    UINT64_C(0xffffffff)
#define PS_USAGE_SHIFT 32
#define PS_ORDER_SHIFT 40
#define PS_FLAGS_SHIFT 48

static inline uint64_t ps_make(uint32_t ref, enum page_usage usage,
			       unsigned order, unsigned flags)
{
	return (uint64_t)ref | (uint64_t)(usage & 0xff) << PS_USAGE_SHIFT |
	       (uint64_t)(order & 0xff) << PS_ORDER_SHIFT |
	       (uint64_t)(flags & 0xff) << PS_FLAGS_SHIFT;
}

static inline uint32_t ps_ref(uint64_t s)
{
	return (uint32_t)(s & PS_REF_MASK);
}

static inline enum page_usage ps_usage(uint64_t s)
{
	return (enum page_usage)((s >> PS_USAGE_SHIFT) & 0xff);
}

static inline unsigned ps_order(uint64_t s)
{
	return (unsigned)((s >> PS_ORDER_SHIFT) & 0xff);
}

static inline unsigned ps_flags(uint64_t s)
{
	return (unsigned)((s >> PS_FLAGS_SHIFT) & 0xff);
}

static inline uint64_t page_state(const struct page *p)
{
	return atomic_load_explicit(&p->state, memory_order_acquire);
}

/*
 * Set the whole state. Only for whoever owns the descriptor exclusively
 * (the allocator for a block in transit, the CPU that caches it).
 */
static inline void page_set_state(struct page *p, uint64_t s)
{
	atomic_store_explicit(&p->state, s, memory_order_release);
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

/*
 * Take another reference to an allocated frame. Pre: the caller holds one
 * (so the count cannot be zero, and the frame cannot be freed meanwhile).
 * One atomic increment (MOP-02: never create a handle to do it).
 */
static inline void frame_get(struct page *p)
{
	uint64_t old = atomic_fetch_add_explicit(&p->state, 1,
						 memory_order_relaxed);

	ASSERT(ps_ref(old) != 0 && ps_ref(old) < UINT32_MAX / 2 &&
	       page_usage_allocatable(ps_usage(old)));
	(void)old;
}

/* Current reference count (racy unless the caller holds all of them). */
static inline uint32_t frame_refcount(const struct page *p)
{
	return ps_ref(page_state(p));
}

/*
 * A handle to a raw physical address and back, keeping the reference the
 * handle stood for (target T4: the count does not change either way).
 */
static inline paddr_t frame_into_raw(struct page *p)
{
	return page_to_pa(p);
}

static inline struct page *frame_from_raw(paddr_t pa)
{
	return pfn_to_page(pa_to_pfn(pa));
}

#endif /* KERNEL_MM_PAGE_H */
