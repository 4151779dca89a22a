/* SPDX-License-Identifier: MIT */
/*
 * The benchmark harnesses' barrier (bench/barrier.c), with threads: it
 * holds every thread until all arrive, round after round; a failure
 * before it opens releases the waiters with false; and once it has
 * opened, every thread gets true, even a waiter that sees a failure set
 * after the opening before it sees the opening itself. (That last one was
 * an adversarial review's find: in frame/rand such a waiter freed its own
 * row while the others freed from it, double frees.) The interleavings
 * are forced through the wait callback, which the barrier calls while a
 * thread waits.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "bench/barrier.h"
#include "tests/support.h"

static struct hbarrier bar;
static bool failed;

/* The waiter's side of a forced interleaving: park in the first wait(). */
static atomic_int stage; /* 0: none; 1: waiter parked; 2: waiter may go */
static atomic_int parked_calls;

static void park_once(void)
{
	if (atomic_fetch_add(&parked_calls, 1) != 0)
		return;
	atomic_store(&stage, 1);
	while (atomic_load(&stage) != 2)
		sched_yield();
}

static void yield(void)
{
	sched_yield();
}

static void *waiter(void *arg)
{
	bool *result = arg;

	*result = hbarrier_wait(&bar, 2, &failed, park_once);
	return NULL;
}

static void start_waiter(pthread_t *t, bool *result)
{
	hbarrier_reset(&bar);
	__atomic_store_n(&failed, false, __ATOMIC_SEQ_CST);
	atomic_store(&stage, 0);
	atomic_store(&parked_calls, 0);
	assert_int_equal(pthread_create(t, NULL, waiter, result), 0);
	while (atomic_load(&stage) != 1) /* it arrived and waits */
		sched_yield();
}

/* Opened, then someone fails: the parked waiter still gets true. */
static void test_failure_after_opening_still_passes_everyone(void **state)
{
	pthread_t t;
	bool result = false;

	(void)state;
	start_waiter(&t, &result);
	assert_true(hbarrier_wait(&bar, 2, &failed, yield)); /* the last: opens */
	__atomic_store_n(&failed, true, __ATOMIC_SEQ_CST);   /* then fails */
	atomic_store(&stage, 2);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(result);
}

/* A failure before everyone arrived: it never opens, the waiter gets false. */
static void test_failure_before_opening_releases_waiters(void **state)
{
	pthread_t t;
	bool result = true;

	(void)state;
	start_waiter(&t, &result);
	__atomic_store_n(&failed, true, __ATOMIC_SEQ_CST);
	/* The failed thread does not arrive (and is told false). */
	assert_false(hbarrier_wait(&bar, 2, &failed, yield));
	atomic_store(&stage, 2);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_false(result);
	assert_int_equal(__atomic_load_n(&bar.arrived, __ATOMIC_SEQ_CST), 1);
}

/* No failure flag (a run's start): a lone thread passes at once. */
static void test_one_thread_passes(void **state)
{
	(void)state;
	hbarrier_reset(&bar);
	assert_true(hbarrier_wait(&bar, 1, NULL, yield));
	assert_true(hbarrier_wait(&bar, 1, NULL, yield));
}

/* Round after round, nobody leaves before the last has arrived. */
#define THREADS 3
#define ROUNDS 2000
static atomic_uint arrivals[ROUNDS];
static atomic_uint early;

static void *rounds(void *arg)
{
	(void)arg;
	for (unsigned r = 0; r < ROUNDS; r++) {
		atomic_fetch_add(&arrivals[r], 1);
		if (!hbarrier_wait(&bar, THREADS, &failed, yield))
			atomic_fetch_add(&early, 1000000);
		if (atomic_load(&arrivals[r]) != THREADS)
			atomic_fetch_add(&early, 1);
	}
	return NULL;
}

static void test_rounds_hold_until_all_arrive(void **state)
{
	pthread_t t[THREADS];

	(void)state;
	hbarrier_reset(&bar);
	__atomic_store_n(&failed, false, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, rounds, NULL), 0);
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(atomic_load(&early), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_after_opening_still_passes_everyone),
		cmocka_unit_test(test_failure_before_opening_releases_waiters),
		cmocka_unit_test(test_one_thread_passes),
		cmocka_unit_test(test_rounds_hold_until_all_arrive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
