/* SPDX-License-Identifier: MIT */
/*
 * heap/pc's ring (bench/heap/heap_cases.h): how objects allocated on one
 * thread reach the thread that frees them. Portable: the platform
 * contract and C11 atomics only. tests/test_bench_ring.c checks it, on
 * two threads under TSan too.
 */
#ifndef BENCH_HEAP_RING_H
#define BENCH_HEAP_RING_H

#include <platform.h>

/* Slots of a ring: a power of two (indexes wrap by masking). */
#define HEAP_RING 256u
_Static_assert(IS_POW2(HEAP_RING), "indexes wrap by masking");

/*
 * A bounded single-producer single-consumer ring. Each index is written
 * by one side only, on its own cache line; each side keeps a copy of the
 * other's index and reloads it only when the ring looks full (producer)
 * or empty (consumer).
 *
 * Pairing: the producer's release store of tail (after writing the slot)
 * pairs with the consumer's acquire load of tail (before reading it); the
 * consumer's release store of head (after reading the slot) pairs with
 * the producer's acquire load of head (before reusing it).
 *
 * stop: a side that leaves early (its allocation failed, or the
 * allocator refused a free) sets it with release after its last ring
 * access; the other side, seeing it (acquire), knows that side is done
 * with the ring. A consumer that sees stop frees what is left and
 * leaves; a producer that sees it (when the ring is full: the consumer
 * is gone) frees its object and the ring's, and leaves. So no side waits
 * for one that has left, and no object is lost. In a run without errors
 * both sides run the same number of iterations (bench.h), so the
 * consumer takes out exactly what the producer put in, and the ring ends
 * empty.
 */
struct heap_ring {
	_Atomic uint32_t tail CACHE_ALIGNED; /* [producer] next slot to fill */
	uint32_t head_seen;                  /* [producer] head, last read */
	_Atomic uint32_t head CACHE_ALIGNED; /* [consumer] next slot to empty */
	uint32_t tail_seen;                  /* [consumer] tail, last read */
	_Atomic bool stop CACHE_ALIGNED;     /* [a] a side left early */
	void *slot[HEAP_RING];               /* [tail/head ordering above] */
};

/* Before the run's start barrier, which orders it before both sides. */
static inline void heap_ring_reset(struct heap_ring *r)
{
	atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&r->head, 0, memory_order_relaxed);
	atomic_store_explicit(&r->stop, false, memory_order_relaxed);
	r->head_seen = r->tail_seen = 0;
}

static inline bool heap_ring_stopped(struct heap_ring *r)
{
	return atomic_load_explicit(&r->stop, memory_order_acquire);
}

static inline void heap_ring_set_stop(struct heap_ring *r)
{
	atomic_store_explicit(&r->stop, true, memory_order_release);
}

/* Producer: room for one more? */
static inline bool heap_ring_has_room(struct heap_ring *r, uint32_t tail)
{
	if (tail - r->head_seen < HEAP_RING)
		return true;
	r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
	return tail - r->head_seen < HEAP_RING;
}

static inline void heap_ring_push(struct heap_ring *r, uint32_t tail, void *p)
{
	r->slot[tail & (HEAP_RING - 1)] = p;
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}

/* Consumer: the next object, or NULL if the ring is empty now. */
static inline void *heap_ring_pop(struct heap_ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	void *p;

	if (head == r->tail_seen) {
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head == r->tail_seen)
			return NULL;
	}
	p = r->slot[head & (HEAP_RING - 1)];
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return p;
}

#endif /* BENCH_HEAP_RING_H */
