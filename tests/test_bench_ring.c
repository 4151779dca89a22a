/* SPDX-License-Identifier: MIT */
/*
 * heap/pc's single-producer single-consumer ring (bench/heap/ring.h):
 * first in, first out; full at HEAP_RING and empty at 0, its indexes
 * wrapping past 2^32; on two threads every object arrives once and in
 * order (under TSan: the slot is published by the release of tail and
 * reused only after the release of head); and a producer that stops
 * early has handed over everything it put in before the consumer, seeing
 * stop, finds the ring empty (heap/pc's consumer relies on that to leave
 * without losing an object).
 */
#include <pthread.h>
#include <sched.h>

#include "bench/heap/ring.h"
#include "tests/support.h"

static struct heap_ring ring;

/* Object i as the ring carries it (never NULL: NULL is "empty"). */
static void *obj(uint32_t i)
{
	return (void *)(uintptr_t)(i + 1);
}

/* Put object i in; the ring must have room. */
static void put(uint32_t i)
{
	uint32_t tail = atomic_load_explicit(&ring.tail, memory_order_relaxed);

	assert_true(heap_ring_has_room(&ring, tail));
	heap_ring_push(&ring, tail, obj(i));
}

static void test_fifo_full_and_empty(void **state)
{
	uint32_t tail;

	(void)state;
	heap_ring_reset(&ring);
	assert_null(heap_ring_pop(&ring));
	for (uint32_t i = 0; i < HEAP_RING; i++)
		put(i);
	tail = atomic_load_explicit(&ring.tail, memory_order_relaxed);
	assert_false(heap_ring_has_room(&ring, tail));
	assert_ptr_equal(heap_ring_pop(&ring), obj(0));
	assert_true(heap_ring_has_room(&ring, tail)); /* re-reads head */
	put(HEAP_RING);
	for (uint32_t i = 1; i <= HEAP_RING; i++)
		assert_ptr_equal(heap_ring_pop(&ring), obj(i));
	assert_null(heap_ring_pop(&ring));
	assert_false(heap_ring_stopped(&ring));
}

/* Indexes are free-running 32-bit counters: across the wrap too. */
static void test_indexes_wrap(void **state)
{
	const uint32_t start = UINT32_MAX - HEAP_RING / 2;
	uint32_t in = 0, out = 0;

	(void)state;
	heap_ring_reset(&ring);
	atomic_store(&ring.tail, start);
	atomic_store(&ring.head, start);
	ring.head_seen = ring.tail_seen = start;
	while (out < 3 * HEAP_RING) {
		while (in - out < HEAP_RING && in < 3 * HEAP_RING)
			put(in++);
		for (unsigned k = 0; k < HEAP_RING / 3 && out < in; k++)
			assert_ptr_equal(heap_ring_pop(&ring), obj(out++));
	}
	assert_null(heap_ring_pop(&ring));
	assert_true(atomic_load(&ring.tail) < start); /* it did wrap */
}

#define OBJECTS 200000u

/* The producer's side: n objects, then stop if asked to. */
struct producer {
	uint32_t n;
	bool stop_after;
};

static void *produce(void *arg)
{
	const struct producer *p = arg;
	uint32_t tail = atomic_load_explicit(&ring.tail, memory_order_relaxed);

	for (uint32_t i = 0; i < p->n; i++, tail++) {
		while (!heap_ring_has_room(&ring, tail))
			sched_yield();
		heap_ring_push(&ring, tail, obj(i));
	}
	if (p->stop_after)
		heap_ring_set_stop(&ring);
	return NULL;
}

static void test_two_threads_every_object_once_in_order(void **state)
{
	struct producer p = { OBJECTS, false };
	pthread_t t;

	(void)state;
	heap_ring_reset(&ring);
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	for (uint32_t i = 0; i < OBJECTS; i++) {
		void *o;

		while ((o = heap_ring_pop(&ring)) == NULL)
			sched_yield();
		assert_ptr_equal(o, obj(i));
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_null(heap_ring_pop(&ring));
}

/*
 * The consumer's rule in heap_consume(): empty, then stop seen, then one
 * more look; only if that finds nothing has the producer put in nothing
 * more. Every object the producer pushed must be taken out.
 */
static void test_stop_hands_over_everything(void **state)
{
	struct producer p = { 1000, true };
	uint32_t got = 0;
	pthread_t t;

	(void)state;
	heap_ring_reset(&ring);
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	for (;;) {
		void *o = heap_ring_pop(&ring);

		if (o == NULL && heap_ring_stopped(&ring) &&
		    (o = heap_ring_pop(&ring)) == NULL)
			break;
		if (o == NULL) {
			sched_yield();
			continue;
		}
		assert_ptr_equal(o, obj(got));
		got++;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(got, p.n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_full_and_empty),
		cmocka_unit_test(test_indexes_wrap),
		cmocka_unit_test(test_two_threads_every_object_once_in_order),
		cmocka_unit_test(test_stop_hands_over_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
