/* SPDX-License-Identifier: MIT */
/*
 * Slabs: the heap's size classes and the slabs behind them (HEAP.md; the
 * heap's interface is heap.h, its per-CPU caches and rescue heap.c).
 *
 * A slab is a block of 2^order frames allocated as PAGE_SLAB. Its objects
 * sit at offsets 0, size, 2 size, ... from the block's start, so a class
 * whose size is a power of two is naturally aligned; the block's last
 * `objects` bytes are the objects' states, one byte each. The head frame's
 * descriptor (struct page, u.slab) holds the rest: the free list's first
 * object (an index; a free object's first two bytes hold the next one),
 * the count of objects off the free list, the class, and the links of the
 * class list the slab is on (32-bit frame numbers). (Debug builds keep
 * the index's complement after it, to catch a write after free there.) No object has a
 * header, and kfree() finds all of this from an address.
 *
 * Object states, one byte each, written only by the object's owner of the
 * moment:
 *   OBJ_FREE    on its slab's free list      owner: the class lock
 *   OBJ_CACHED  in a CPU's cache or reserve  owner: that CPU (IRQs masked)
 *   OBJ_LIVE    handed out by kmalloc()      owner: the caller
 * The owner makes each transition while the object is its own: FREE->
 * CACHED after a refill took it off its free list (the lock is dropped by
 * then: off the list, the object is the refilling CPU's), CACHED->LIVE
 * (kmalloc, masked), LIVE->CACHED (kfree), CACHED->FREE before a flush
 * links it (so the lock covers only the lists); a new slab's objects
 * leave FREE while the slab is still private to one CPU. Between taking
 * and marking, an object reads FREE but is on no list: heap_validate()
 * runs at quiescence and never sees that. Bytes,
 * not bits: two CPUs owning neighbouring objects write different bytes,
 * so plain stores never lose each other's and the fast path needs no
 * atomic read-modify-write. The bytes are relaxed atomics only because a
 * bad kfree() may read one while its owner writes it (on x86 both are
 * plain moves). So kfree() tells live from free exactly: a double free
 * finds CACHED or FREE, whichever CPU or list holds the object. The cost
 * is one byte per object (1/9 of the 8-byte class, under 2% from 64 B).
 *
 * Class lists, per class, under the class lock: `partial` holds the slabs
 * with objects both on and off their free list, `empty` those whose every
 * object is on it (at most keep_empty: a slab that empties beyond that
 * goes back to the frame allocator, HEP-02). A full slab, no object on its
 * free list, is on no list. A slab is unlinked before it is freed, and a
 * new one is linked only once it is formatted and its first objects are
 * taken (HEP-01: heap.c).
 *
 * CPU slabs: each CPU refills its cache from a slab of its own (`cur`,
 * on no list: SLAB_ON_CPU), taken whole from the partial or empty list
 * when the last one ran out, and a new slab it makes becomes its own. So
 * two CPUs do not hand out neighbouring objects of one slab, whose state
 * bytes and cache lines they would write in turn. Frees from other CPUs
 * still go to the owned slab's free list (under the lock); a CPU gives
 * its slabs back to the lists when it drains (heap_drain_local(),
 * reclaim, going offline).
 *
 * Lock order: a class lock is a leaf. Nothing is taken under it, no frame
 * allocator call in particular (a frame allocation may wait for every
 * CPU's IPI: frame.h). It is taken with interrupts masked.
 */
#ifndef KERNEL_MM_SLAB_H
#define KERNEL_MM_SLAB_H

#include <stdatomic.h>

#include "kernel/mm/heap.h"
#include "kernel/mm/page.h"
#include "locks/spinlock.h"

#define SLAB_MAX_ORDER 3u          /* slabs are 1..8 frames */
#define SLAB_NIL       UINT32_MAX  /* end of a class list */
#define SLAB_NO_OBJ    UINT16_MAX  /* end of a free list */
#define SLAB_LARGE     0xffu       /* size_class of a large heap block */

enum obj_state {
	OBJ_FREE = 0xf7,
	OBJ_CACHED = 0xca,
	OBJ_LIVE = 0x1e,
	OBJ_SEEN = 0x5e, /* heap_validate()'s mark, at quiescence only */
};

/* Where a slab is: on no list (full), a class list, or a CPU's own. */
enum slab_list { SLAB_ON_NONE, SLAB_ON_PARTIAL, SLAB_ON_EMPTY, SLAB_ON_CPU };

struct slab_class {
	/*
	 * [I] The geometry, read by every kmalloc() and kfree(): on its own
	 * cache line, which the lock and list heads below never share (they
	 * are written by whichever CPU refills or spills).
	 */
	uint32_t size;       /* object size */
	uint32_t recip;      /* ceil(2^32 / size): slab_index() */
	uint32_t objects;    /* objects per slab */
	uint32_t state_off;  /* the state bytes' offset: slab bytes - objects */
	uint8_t order;       /* slab order */
	uint8_t cache_size;  /* a CPU cache's capacity (heap.c) */
	uint8_t keep_empty;  /* empty slabs kept before giving one back */

	spinlock_t lock CACHE_ALIGNED; /* protects the fields marked [l], and
				the free list, inuse and links of every slab
				of the class */
	uint32_t cur[MAX_CPUS]; /* [l] each CPU's own slab, SLAB_NIL if none */
	uint32_t partial;    /* [l] first slab with free and used objects */
	uint32_t empty;      /* [l] first slab with every object free */
	uint32_t nr_empty;   /* [l] slabs on the empty list */
	uint64_t slabs;      /* [l] slabs of the class, published */
	uint64_t inuse;      /* [l] their objects off free lists: live
				or cached */
} CACHE_ALIGNED;

extern struct slab_class slab_classes[HEAP_CLASSES];

/* [I] Class of each size, in 8-byte steps: [(size - 1) / 8]. */
extern uint8_t slab_class_by_eighth[HEAP_MAX_SMALL / 8];

/* The smallest class for size bytes (1..HEAP_MAX_SMALL). */
static inline unsigned slab_class_of(size_t size)
{
	ASSERT(size > 0 && size <= HEAP_MAX_SMALL);
	return slab_class_by_eighth[(size - 1) / 8];
}

/* Reset every class: lists empty, counters zero (boot, heap_fini()). */
void slab_classes_init(void);

/* ------------------------------------------------------------ objects */

static inline uint8_t *slab_base(const struct page *head)
{
	return page_to_virt(head);
}

static inline uint64_t slab_bytes(const struct slab_class *c)
{
	return (uint64_t)PAGE_SIZE << c->order;
}

/*
 * The object at byte offset off of a slab of class c: off / size, by a
 * multiply instead of a divide. Exact: with r = ceil(2^32 / size) =
 * (2^32 + e) / size, 0 <= e < size, off * r / 2^32 = off / size +
 * off * e / (size 2^32), and the second term stays below 1 / size while
 * off * e < 2^32 (off < 2^15, e < 2^11 here), so it never carries the
 * quotient over the next integer. test_heap checks every offset.
 */
static inline unsigned slab_index(const struct slab_class *c, uint64_t off)
{
	return (unsigned)((off * c->recip) >> 32);
}

static inline void *slab_obj(const struct page *head,
			     const struct slab_class *c, unsigned i)
{
	return slab_base(head) + (uint64_t)i * c->size;
}

static inline _Atomic uint8_t *slab_state(const struct page *head,
					  const struct slab_class *c,
					  unsigned i)
{
	return (_Atomic uint8_t *)(slab_base(head) + c->state_off + i);
}

static inline uint8_t obj_state(const struct page *head,
				const struct slab_class *c, unsigned i)
{
	return atomic_load_explicit(slab_state(head, c, i),
				    memory_order_relaxed);
}

/* Only the object's owner calls this (see the states above). */
static inline void obj_set_state(const struct page *head,
				 const struct slab_class *c, unsigned i,
				 enum obj_state s)
{
	atomic_store_explicit(slab_state(head, c, i), (uint8_t)s,
			      memory_order_relaxed);
}

/*
 * The slab of object p, known to be in a slab of class c (a cached or
 * live object): the frame aligned down to the class's order, slabs being
 * buddy blocks. No descriptor is read.
 */
static inline struct page *slab_head_in_class(const void *p,
					      const struct slab_class *c)
{
	pfn_t pfn = pa_to_pfn(virt_to_phys(p));

	return pfn_to_page(PFN(pfn.v & ~((UINT64_C(1) << c->order) - 1)));
}

/*
 * The state byte of object p, known to be in a slab of class c: from the
 * address alone (the slab is the block of its size that holds p), no
 * descriptor read. The fast paths' way to it. Virtual addresses keep the
 * physical alignment of a slab's size (the platform contract keeps it up
 * to 1 GiB), so p's offset in its slab is in p itself.
 */
static inline _Atomic uint8_t *obj_state_of(const void *p,
					    const struct slab_class *c)
{
	uint64_t off = (uintptr_t)p & (slab_bytes(c) - 1);
	uint8_t *base = (uint8_t *)p - off;

	return (_Atomic uint8_t *)(base + c->state_off + slab_index(c, off));
}

/*
 * The slab that holds object address p, and the object's index: NULL if
 * p is not in a slab's objects at all; *inside set if p is in an object
 * but not at its start. For a live object this is exact; for any other
 * address it only reads descriptors and state bytes.
 */
struct page *slab_find(const void *p, unsigned *idx, bool *inside);

/*
 * The head of the PAGE_SLAB block containing frame pfn, or NULL: the
 * frame itself, or the frame aligned down to 2, 4, 8 frames (slabs are
 * buddy blocks of at most SLAB_MAX_ORDER; a large heap block bigger than
 * that is found from its first 8 frames only, enough for kfree() to tell
 * a pointer inside it from a foreign one). Pre: pfn_valid(pfn).
 */
static inline struct page *slab_head_of(pfn_t pfn, uint64_t *seen)
{
	for (unsigned k = 0; k <= SLAB_MAX_ORDER; k++) {
		pfn_t h = PFN(pfn.v & ~((UINT64_C(1) << k) - 1));
		uint64_t s = page_state(pfn_to_page(h));

		*seen = s;
		if (ps_usage(s) == PAGE_SLAB && ps_ref(s) > 0)
			return pfn.v < h.v + (UINT64_C(1) << ps_order(s))
				       ? pfn_to_page(h)
				       : NULL;
		/* Another block's head (or a frame that is not RAM's): the
		 * frame is not inside a slab further down either. */
		if (ps_usage(s) != PAGE_NONE)
			return NULL;
	}
	return NULL;
}

/* ---------------------------------------------------- a private slab */

/* Make the block at head a slab of class c: every object free. */
void slab_format(struct page *head, unsigned c);

/*
 * Take up to n objects off a slab's free list into out; they stay
 * OBJ_FREE until slab_own(). Pre: the slab is private to the caller, or
 * the class lock held.
 */
unsigned slab_take(struct page *head, unsigned c, void **out, unsigned n);

/*
 * Objects of class c the caller took off free lists become state s (and,
 * in debug builds, poison again where the free-list link was). No lock:
 * off their lists they are the caller's.
 */
void slab_own(unsigned c, void *const *objs, unsigned n, enum obj_state s);

/* Publish a slab formatted and taken from privately (class lock taken). */
void slab_publish(struct page *head, unsigned c);

/* ------------------------------------------------- under the class lock */

/*
 * Up to n free objects of class c for this CPU's cache, into out, each
 * made OBJ_CACHED: from the CPU's own slab, or one it takes from the
 * partial list, else the empty one; with steal, from other CPUs' own
 * slabs too once the lists are empty (rescue's last refill). Takes the
 * lock. Pre: interrupts masked (the CPU's own slab is per CPU).
 */
unsigned slab_refill(unsigned c, void **out, unsigned n, bool steal);

/*
 * Return n OBJ_CACHED objects of class c to their slabs (OBJ_FREE). Slabs
 * that empty beyond keep_empty are unlinked into give[] (room for n): the
 * caller frees them with slab_give_back(). Returns how many. Takes the
 * lock.
 */
unsigned slab_flush(unsigned c, void *const *objs, unsigned n,
		    struct page **give);

/*
 * This CPU's own slabs go back to the class lists (an empty one beyond
 * keep_empty into give, as a flush would: room for one per class).
 * Returns how many are in give (their classes in give_class). Takes the
 * locks one at a time.
 */
unsigned slab_release_cpu(unsigned cpu, struct page **give,
			  unsigned *give_class);

/*
 * Unlink up to max empty slabs of class c beyond keep of them, into give.
 * Takes the lock.
 */
unsigned slab_take_empty(unsigned c, unsigned keep, struct page **give,
			 unsigned max);

/*
 * Unlink one empty slab of the given order from any class, or NULL: a
 * block the caller may make a slab of another class (rescue step 3).
 * Takes the locks one at a time.
 */
struct page *slab_take_empty_of_order(unsigned order);

/*
 * Free unlinked empty slabs to the frame allocator; returns their frames.
 * No lock held.
 */
uint64_t slab_give_back(unsigned c, struct page *const *give, unsigned n);

/* ------------------------------------------------------------- checks */

/* [a] free-list links found overwritten (slab.c): writes after free. */
extern _Atomic uint64_t slab_link_errors;

struct slab_counts {
	uint64_t slabs, empty, inuse, cached;
};

/* The class's counters under its lock. */
void slab_class_counts(unsigned c, struct slab_counts *out);

/*
 * heap_validate()'s slab half, at quiescence: every slab in the frame
 * table against its class's lists and counters. cached[c] is the number of
 * class-c objects the CPU caches hold, each already marked OBJ_SEEN by the
 * caller (which restores them). Logs the first violation.
 */
bool slab_validate(const uint64_t cached[HEAP_CLASSES], uint64_t *large);

#endif /* KERNEL_MM_SLAB_H */
