/* SPDX-License-Identifier: MIT */
/*
 * The heap suite's workloads (BENCHMARKS.md, "Heap"), written once over
 * an allocator backend so that the kernel heap and the malloc libraries
 * run exactly the same loops:
 *
 *   heap/repeat  each thread allocates one object, writes it, frees it,
 *                again: the per-CPU fast path
 *   heap/bulk    each thread allocates HEAP_HOLD objects, then frees
 *                them all: past the per-CPU caches into the slabs (or the
 *                library's arenas), both phases timed
 *   heap/pc      producer/consumer: threads 2k and 2k+1 are a pair, 2k
 *                allocates objects and passes them to 2k+1 through a
 *                bounded single-producer single-consumer ring, 2k+1 frees
 *                them: every free is of an object another CPU allocated.
 *                With an odd thread count the last thread has no partner
 *                and is its own consumer (a batch into its ring, then out
 *                and freed): at 1 thread this is the same work without
 *                the cross-CPU hand-over, the baseline the pairs compare
 *                against.
 *
 * each for the object sizes heap_sizes (argument "size"). An operation is
 * one allocation or one free; every object has its first byte written (an
 * object is used, and a store keeps the compiler from deleting a
 * malloc/free pair whose result nobody reads).
 *
 * Portable: bench.h and the platform contract only; the backend's two
 * functions are the only calls into an allocator. HEAP_CASES() builds a
 * backend's three cases from a constant struct heap_backend: the loops are
 * always inlined, so each backend's calls are direct, not through the
 * struct's pointers.
 */
#ifndef BENCH_HEAP_HEAP_CASES_H
#define BENCH_HEAP_HEAP_CASES_H

#include <platform.h>

#include "bench/bench.h"
#include "bench/heap/ring.h"

static const int64_t heap_sizes[] = { 16, 64, 256, 1024, 4096 };

/* Objects a thread of heap/bulk holds at once (4 MiB of 4 KiB objects). */
#define HEAP_HOLD 1024u

_Static_assert(HEAP_RING >= BENCH_BATCH,
	       "heap/pc's thread alone puts a whole batch into its ring");

struct heap_backend {
	void *(*alloc)(size_t size); /* NULL: no memory */
	bool (*free)(void *p);       /* false: the allocator refused p */
};

/* An object is used: write its first byte (volatile: see above). */
static ALWAYS_INLINE void heap_touch(void *p)
{
	*(volatile unsigned char *)p = 1;
}

/* ---------------------------------------------------------- heap/repeat */

static ALWAYS_INLINE void heap_repeat_body(struct bench_state *st,
					  const struct heap_backend *b)
{
	size_t size = (size_t)bench_arg(st, 0);

	while (bench_keep_running(st)) {
		uint64_t t = cycles();

		for (unsigned i = 0; i < BENCH_BATCH / 2; i++) {
			void *p = b->alloc(size);

			if (bench_timing(st))
				bench_lap(st, &t, cycles());
			if (p == NULL) {
				bench_error(st, "allocation failed");
				return;
			}
			heap_touch(p);
			if (!b->free(p)) {
				bench_error(st, "free refused");
				return;
			}
			if (bench_timing(st))
				bench_lap(st, &t, cycles());
		}
		bench_items(st, BENCH_BATCH);
	}
}

/* ------------------------------------------------------------ heap/bulk */

/* [row t: thread t only] the objects heap/bulk's thread t holds */
static void *heap_held[MAX_CPUS][HEAP_HOLD];

/* Allocate n objects into held; on failure free those and return false. */
static ALWAYS_INLINE bool heap_bulk_alloc(struct bench_state *st,
					  const struct heap_backend *b,
					  void **held, size_t size)
{
	uint64_t t = cycles();

	for (unsigned i = 0; i < HEAP_HOLD; i++) {
		void *p = b->alloc(size);

		if (bench_timing(st))
			bench_lap(st, &t, cycles());
		if (p == NULL) {
			bench_error(st, "allocation failed");
			while (i > 0)
				(void)b->free(held[--i]);
			return false;
		}
		heap_touch(p);
		held[i] = p;
	}
	return true;
}

static ALWAYS_INLINE void heap_bulk_free(struct bench_state *st,
					 const struct heap_backend *b,
					 void *const *held)
{
	uint64_t t = cycles();

	for (unsigned i = 0; i < HEAP_HOLD; i++) {
		bool ok = b->free(held[i]);

		if (bench_timing(st))
			bench_lap(st, &t, cycles());
		if (!ok)
			bench_error(st, "free refused");
	}
}

static ALWAYS_INLINE void heap_bulk_body(struct bench_state *st,
					const struct heap_backend *b)
{
	size_t size = (size_t)bench_arg(st, 0);
	void **held = heap_held[bench_thread(st)];

	while (bench_keep_running(st)) {
		if (!heap_bulk_alloc(st, b, held, size))
			return;
		heap_bulk_free(st, b, held);
		bench_items(st, 2 * HEAP_HOLD);
	}
}

/* -------------------------------------------------------------- heap/pc */

/* [ring k: threads 2k and 2k+1, or the odd thread out alone] */
static struct heap_ring heap_rings[(MAX_CPUS + 1) / 2];

/* Free whatever is in the ring (its other side has left or is this one). */
static ALWAYS_INLINE void heap_ring_drain(struct heap_ring *r,
					 const struct heap_backend *b)
{
	void *p;

	while ((p = heap_ring_pop(r)) != NULL)
		(void)b->free(p);
}

/*
 * The producer's batch: BENCH_BATCH objects into the ring, each
 * allocation timed alone (waiting for room is in the throughput, not in
 * the latency). False: this side has left (set stop, or found it set and
 * cleaned up).
 */
static ALWAYS_INLINE bool heap_produce(struct bench_state *st,
				       const struct heap_backend *b,
				       struct heap_ring *r, size_t size)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	for (unsigned i = 0; i < BENCH_BATCH; i++, tail++) {
		/* A clock read only where it is used: it costs about
		   as much as the operation (bench.h). */
		uint64_t t = bench_timing(st) ? cycles() : 0;
		void *p = b->alloc(size);

		if (bench_timing(st))
			bench_lap(st, &t, cycles());
		if (p == NULL) {
			bench_error(st, "allocation failed");
			heap_ring_set_stop(r);
			return false;
		}
		heap_touch(p);
		while (!heap_ring_has_room(r, tail)) {
			if (heap_ring_stopped(r)) {
				(void)b->free(p);
				heap_ring_drain(r, b);
				return false;
			}
			/* The consumer's pop sends no interrupt: spin, never
			   halt (in our kernel cpu_relax() halts to the next
			   tick: 38 us an operation at 2 vCPUs). */
			cpu_spin();
		}
		heap_ring_push(r, tail, p);
	}
	return true;
}

/*
 * The consumer's batch: BENCH_BATCH objects out of the ring and freed,
 * each free timed alone (waiting for an object is not in its latency).
 */
static ALWAYS_INLINE bool heap_consume(struct bench_state *st,
				       const struct heap_backend *b,
				       struct heap_ring *r)
{
	for (unsigned i = 0; i < BENCH_BATCH; i++) {
		void *p;
		uint64_t t;
		bool ok;

		while ((p = heap_ring_pop(r)) == NULL) {
			if (heap_ring_stopped(r)) {
				/* The producer has left, having put in its
				   last object before stop: one more look
				   sees everything it put in. */
				p = heap_ring_pop(r);
				if (p == NULL)
					return false;
				break;
			}
			cpu_spin(); /* as the producer's wait */
		}
		t = bench_timing(st) ? cycles() : 0;
		ok = b->free(p);
		if (bench_timing(st))
			bench_lap(st, &t, cycles());
		if (!ok) {
			bench_error(st, "free refused");
			heap_ring_set_stop(r);
			return false;
		}
	}
	return true;
}

enum heap_pc_role { HEAP_PRODUCER, HEAP_CONSUMER, HEAP_ALONE };

static inline enum heap_pc_role heap_pc_role(unsigned me, unsigned threads)
{
	if (me % 2 == 1)
		return HEAP_CONSUMER;
	return me + 1 < threads ? HEAP_PRODUCER : HEAP_ALONE;
}

static ALWAYS_INLINE void heap_pc_body(struct bench_state *st,
				      const struct heap_backend *b)
{
	size_t size = (size_t)bench_arg(st, 0);
	unsigned me = bench_thread(st);
	enum heap_pc_role role = heap_pc_role(me, bench_threads(st));
	struct heap_ring *r = &heap_rings[me / 2];

	if (role != HEAP_CONSUMER)
		heap_ring_reset(r);
	while (bench_keep_running(st)) {
		if (role != HEAP_CONSUMER && !heap_produce(st, b, r, size))
			return;
		if (role != HEAP_PRODUCER && !heap_consume(st, b, r))
			return;
		bench_items(st, role == HEAP_ALONE ? 2 * BENCH_BATCH
						   : BENCH_BATCH);
	}
}

/* ------------------------------------------------------------ the cases */

/*
 * A backend's three cases, in configuration `config` (a bench_env name,
 * registered next to the backend) over the constant struct heap_backend `backend`.
 * Their records: heap/<case>/<config>/size:<bytes>.
 */
#define HEAP_CASES(prefix, config, backend)                                 \
	static void prefix##_repeat(struct bench_state *st)                 \
	{                                                                   \
		heap_repeat_body(st, &(backend));                           \
	}                                                                   \
	static void prefix##_bulk(struct bench_state *st)                   \
	{                                                                   \
		heap_bulk_body(st, &(backend));                             \
	}                                                                   \
	static void prefix##_pc(struct bench_state *st)                     \
	{                                                                   \
		heap_pc_body(st, &(backend));                               \
	}                                                                   \
	HEAP_CASE(prefix##_repeat_case, "heap/repeat", config, prefix##_repeat); \
	HEAP_CASE(prefix##_bulk_case, "heap/bulk", config, prefix##_bulk);  \
	HEAP_CASE(prefix##_pc_case, "heap/pc", config, prefix##_pc)

#define HEAP_CASE(var, case_name, config, body)                             \
	static const struct bench_case var = {                              \
		.name = case_name,                                          \
		.run = body,                                                \
		.configs = (const char *const[]){ config, NULL },           \
		.arg_name = "size",                                         \
		.args = heap_sizes,                                         \
		.nargs = ARRAY_SIZE(heap_sizes),                            \
	};                                                                  \
	BENCH_CASE(var)

#endif /* BENCH_HEAP_HEAP_CASES_H */
