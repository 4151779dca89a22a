/* SPDX-License-Identifier: MIT */
/*
 * The kernel heap: kmalloc() and kfree() for kernel objects, on the frame
 * allocator (HEAP.md).
 *
 *   kmalloc(size, flags)               an object of at least size bytes
 *   kcalloc(n, size, flags)            n zeroed elements (overflow: NULL)
 *   kmalloc_aligned(size, align, fl)   aligned to align (a power of two)
 *   kfree(ptr)                         give it back (any CPU, any context)
 *
 * Sizes up to HEAP_MAX_SMALL bytes come from size classes (8 B .. 2 KiB)
 * served by slabs: a slab is a block of 1-8 frames allocated as PAGE_SLAB,
 * whose head descriptor in the frame table holds the slab's free list,
 * in-use count and class (slab.h). Objects carry no header: kfree() finds
 * the slab from the address alone. Larger sizes are whole blocks of frames
 * (order rounded up), marked as the heap's in the same descriptor, freed
 * by the same kfree().
 *
 * In front of the slabs, each CPU keeps an object cache per class (a
 * magazine: an array of free objects), used with interrupts masked: the
 * fast path of kmalloc() and kfree() takes no lock and no atomic
 * read-modify-write. Cross-CPU frees: an object freed on another CPU than
 * the one that allocated it goes into the freeing CPU's cache, like any
 * other; when a cache overflows, half of it goes back to the objects' own
 * slabs under the class lock (slab.c), whatever CPU's slab they came from.
 * So no remote-free list exists and no object ever waits for its "home"
 * CPU. Both functions may be called from interrupt handlers.
 *
 * When a cache is empty kmalloc() rescues, in HEAP.md's order: (1) objects
 * from the class's partial or empty slabs; (2) a new slab from the frame
 * allocator, whose first object goes to the caller before the slab is
 * shared with anyone (HEP-01); (3) if the frame allocator has nothing:
 * reclaim (this CPU's caches and reserves and, where it may wait for
 * other CPUs, every CPU's back to the slabs; empty slabs of every class
 * back to the frame allocator, which drains its per-CPU page caches when
 * it runs dry) and (1)-(2) once more; (4) NULL. Rescue is never
 * re-entered on one CPU: an allocation that arrives while this CPU
 * rescues (an interrupt handler's) is served from the class's slabs or
 * the CPU's small emergency reserve, or gets NULL; a large request there
 * gets NULL at once (HEP-03).
 * The frame allocator never calls the heap. Empty slabs beyond a small
 * number per class go back to the frame allocator as they empty (HEP-02).
 *
 * Guarantee: kmalloc() returns NULL only when no object of the class is
 * free in any slab or (where it may wait for other CPUs: interrupts
 * enabled, not in an interrupt handler) in any CPU's cache or reserve, and
 * the frame allocator could not provide a slab. With interrupts masked or
 * in an interrupt handler, other CPUs' caches are out of reach. Where it
 * may wait, a kmalloc() that may rescue must hold no spinlock (a reclaim
 * waits for every CPU's IPI, as a frame allocation does: frame.h).
 *
 * Before heap_init() (that is, before the frame allocator exists) a small
 * static arena serves kmalloc(); its objects are never reused, kfree()
 * only marks them free.
 *
 * Bad input changes nothing and is reported (klog) and returned:
 * kfree() of a pointer that is not the start of a live object (a double
 * free, a pointer into an object, a pointer into a frame the heap does
 * not own, a pointer outside memory) is refused. Debug builds fill freed
 * objects with HEAP_POISON and check it when they are handed out again
 * (a write after free is counted in heap_stats.poison_errors and logged).
 */
#ifndef KERNEL_MM_HEAP_H
#define KERNEL_MM_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/lib/err.h"

/* kmalloc() flags. */
enum heap_flags {
	KM_ZERO = 1u << 0, /* zero the object */
};
#define KM_FLAGS_ALL KM_ZERO

#define HEAP_MAX_SMALL 2048u /* larger requests are whole frames */
#define HEAP_CLASSES   15u
#define HEAP_POISON    0x6b  /* freed objects' bytes, debug builds */

/* --------------------------------------------------------------- boot */

/*
 * Switch from the static arena to slabs on the frame allocator. After
 * frame_init(), boot CPU, before other CPUs use the heap.
 *   E_ALREADY  done already
 *   E_STATE    the frame allocator is not ready
 *   E_RANGE    the frame table spans 2^32 frames or more (slab lists link
 *              slabs by 32-bit frame numbers)
 */
MUST_CHECK err_t heap_init(void);

/*
 * Forget everything (host tests: nothing allocated may be used again).
 * Objects still live are lost; slabs are not given back (the frame
 * allocator is being forgotten too).
 */
void heap_fini(void);

/* ------------------------------------------------------------- objects */

/*
 * An object of at least size bytes, aligned to 8 bytes, and to its class
 * size where that is a power of two (a power-of-two request of up to 2 KiB
 * is naturally aligned); larger requests page-aligned. NULL: size 0,
 * size beyond the frame allocator's largest block, unknown flags, or no
 * memory (see the guarantee above). Any context, with frame_alloc()'s
 * rule: with interrupts enabled outside an interrupt handler, hold no
 * spinlock (a rescue may wait for every CPU's IPI; debug builds check).
 */
void *kmalloc(size_t size, unsigned flags);

/* n * size bytes, zeroed; NULL also if n * size overflows. */
void *kcalloc(size_t n, size_t size, unsigned flags);

/*
 * size bytes aligned to align (a power of two, at most the frame
 * allocator's largest block). NULL also for an align that is not a power
 * of two.
 */
void *kmalloc_aligned(size_t size, size_t align, unsigned flags);

/*
 * Free an object kmalloc() returned; NULL is ignored. Errors, changing
 * nothing (each is also logged):
 *   E_RANGE          not memory the heap can own (outside the direct map
 *                    or the frame table)
 *   E_INVAL          inside a live or free object, not at its start
 *   E_NOT_ALLOCATED  not a live object: a double free, the slab's own
 *                    bookkeeping, a frame the heap does not own; in the
 *                    early arena (which keeps no sizes), anything but a
 *                    live early object's start
 * A double free is caught whenever the object is free when kfree() looks;
 * two kfree() calls of one object racing each other on two CPUs are
 * caught in debug builds only (the release fast path does not compare and
 * swap).
 */
err_t kfree(void *ptr);

/* The usable size of a live object (its class size, or its frames). */
size_t ksize(const void *ptr);

/* --------------------------------------------------------- maintenance */

/* This CPU's object caches back to their slabs. Any context. */
void heap_drain_local(void);

/*
 * Give memory back: every CPU's object caches and reserves to the slabs
 * (only this CPU's with interrupts masked or in an interrupt handler),
 * then every empty slab to the frame allocator. Returns the frames given
 * back. kmalloc()'s spinlock rule applies: with interrupts enabled
 * outside an interrupt handler it waits for every CPU's IPI.
 */
uint64_t heap_reclaim(void);

/* ------------------------------------------------------------- state */

struct heap_class_stats {
	uint32_t size;      /* object size */
	uint32_t order;     /* a slab's order */
	uint32_t objects;   /* objects per slab */
	uint64_t slabs;     /* slabs the class holds */
	uint64_t empty;     /* of them, with every object free */
	uint64_t in_use;    /* objects handed out */
	uint64_t cached;    /* objects in CPUs' caches and reserves */
	uint64_t bytes;     /* bytes of frames held by the class */
};

struct heap_stats {
	struct heap_class_stats cls[HEAP_CLASSES];
	uint64_t large_blocks;  /* live requests above HEAP_MAX_SMALL */
	uint64_t large_bytes;   /* their frames' bytes */
	uint64_t early_bytes;   /* static arena handed out */
	uint64_t bytes;         /* frames held: slabs plus large blocks */
	uint64_t rescues;       /* slow paths that went to the frame allocator */
	uint64_t reclaims;      /* reclaim passes */
	uint64_t reserve_used;  /* allocations served from an emergency reserve */
	uint64_t nulls;         /* kmalloc() calls that returned NULL for lack
				   of memory */
	uint64_t bad_frees;     /* kfree() calls refused */
	uint64_t poison_errors; /* freed objects found written (debug) */
};

/* Counters (approximate while others run, exact at quiescence). */
void heap_get_stats(struct heap_stats *st);

/*
 * Every invariant, at quiescence (no CPU inside the heap): each slab's
 * in-use count is its objects minus its free list; free-list and cached
 * objects are free, live ones are not; no object is on two lists or in
 * two caches; the class lists hold exactly the class's partial and empty
 * slabs; counters match. Logs the first violation; false if any.
 */
bool heap_validate(void);

#endif /* KERNEL_MM_HEAP_H */
