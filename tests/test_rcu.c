/* SPDX-License-Identifier: MIT */
/*
 * The host's RCU (platform contract, RCU section; host/rcu.c): grace
 * periods wait for the sections that were running and only for those,
 * callbacks run after them, sections nest across interrupts, and a CPU
 * that blocks outside a section stalls nobody.
 *
 * The waits are forced, not timed: a reader parks inside its section at
 * a gate until the test opens it, and the test checks, while the reader
 * is parked, that the waiter has not returned (a waiter that wrongly
 * returns at once is seen returned by then; a right one cannot be).
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support.h"

/* ------------------------------------------------------ parked readers */

struct reader {
	struct gate inside;   /* the reader parks here, in its section */
	pthread_t thread;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	if (host_cpu_register() < 0)
		abort();
	rcu_read_enter();
	gate_pass(&r->inside);
	rcu_read_exit();
	host_cpu_unregister();
	return NULL;
}

/* A CPU parked inside a section when this returns. */
static void reader_start(struct reader *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(pthread_create(&r->thread, NULL, reader_main, r), 0);
	gate_wait_reached(&r->inside);
}

static void reader_finish(struct reader *r)
{
	gate_open(&r->inside);
	assert_int_equal(pthread_join(r->thread, NULL), 0);
}

/* A CPU thread that calls rcu_synchronize() or rcu_drain(). */
struct waiter {
	void (*wait)(void);
	_Atomic bool returned;
	pthread_t thread;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	if (host_cpu_register() < 0)
		abort();
	w->wait();
	atomic_store(&w->returned, true);
	host_cpu_unregister();
	return NULL;
}

static void waiter_start(struct waiter *w, void (*wait)(void))
{
	memset(w, 0, sizeof(*w));
	w->wait = wait;
	assert_int_equal(pthread_create(&w->thread, NULL, waiter_main, w), 0);
}

/* ---------------------------------------------------------- callbacks */

struct flagged {
	struct rcu_work work;
	_Atomic bool ran;
};

static void set_ran(struct rcu_work *w)
{
	atomic_store(&((struct flagged *)w)->ran, true);
}

/* -------------------------------------------------------------- tests */

static void test_synchronize_waits_for_a_running_section(void **state)
{
	struct reader r;
	struct waiter w;

	(void)state;
	reader_start(&r);
	waiter_start(&w, rcu_synchronize);
	sleep_ms(200);
	assert_false(atomic_load(&w.returned));
	reader_finish(&r);
	assert_int_equal(pthread_join(w.thread, NULL), 0);
	assert_true(atomic_load(&w.returned));
}

static void test_callback_waits_for_a_running_section(void **state)
{
	struct reader r;
	struct flagged f = { .ran = false };
	struct flagged other = { .ran = false };

	(void)state;
	assert_true(host_cpu_register() >= 0);
	reader_start(&r);
	rcu_call(&f.work, set_ran);
	sleep_ms(200);
	/* rcu_call() runs whatever is ready: f is not. */
	rcu_call(&other.work, set_ran);
	assert_false(atomic_load(&f.ran));
	reader_finish(&r);
	rcu_drain();
	assert_true(atomic_load(&f.ran));
	assert_true(atomic_load(&other.ran));
	host_cpu_unregister();
}

/* A section that begins after the grace period began is not waited for. */
static void test_later_sections_are_not_waited_for(void **state)
{
	struct reader r;

	(void)state;
	assert_true(host_cpu_register() >= 0);
	reader_start(&r);
	/* r's section began before: a waiter must wait; ours began after
	 * nothing, so with r released the wait ends although we read. */
	reader_finish(&r);
	rcu_synchronize();
	rcu_read_enter();
	assert_true(rcu_reading());
	rcu_read_exit();
	assert_false(rcu_reading());
	host_cpu_unregister();
}

/*
 * A CPU that blocks outside a section (here: joining) stalls nothing,
 * also after it has been in one (the section's end takes it offline).
 */
/*
 * A registered CPU blocked in pthread_join() while another waits for a
 * grace period; after_section: the CPU has been in a read section and
 * left it first. Each of the two states must leave the CPU offline to
 * liburcu (a registration that stays online, an exit that does), or the
 * grace period waits for the join, which waits for it: the watchdog
 * fails the hang.
 */
static void blocked_cpu_waits_for_a_grace_period(bool after_section)
{
	struct waiter w;

	assert_true(host_cpu_register() >= 0);
	if (after_section) {
		rcu_read_enter();
		rcu_read_exit();
	}
	waiter_start(&w, rcu_synchronize);
	assert_int_equal(pthread_join(w.thread, NULL), 0);
	assert_true(atomic_load(&w.returned));
	host_cpu_unregister();
}

static void test_blocked_cpu_stalls_no_grace_period(void **state)
{
	(void)state;
	blocked_cpu_waits_for_a_grace_period(false);
}

static void test_blocked_cpu_after_a_section_stalls_no_grace_period(void **state)
{
	(void)state;
	blocked_cpu_waits_for_a_grace_period(true);
}

/* Sections nest, also with an interrupt's section inside ours. */
static _Atomic unsigned irq_reading;

static void irq_section(unsigned vector)
{
	(void)vector;
	if (rcu_reading())
		atomic_fetch_add(&irq_reading, 1);
	rcu_read_enter();
	rcu_read_enter();
	rcu_read_exit();
	rcu_read_exit();
}

static void test_sections_nest_across_interrupts(void **state)
{
	(void)state;
	assert_true(host_cpu_register() >= 0);
	atomic_store(&irq_reading, 0);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TEST, irq_section), E_OK);
	rcu_read_enter();
	assert_int_equal(host_irq_raise_self(HOST_IRQ_TEST), E_OK);
	assert_true(rcu_reading());
	rcu_read_exit();
	assert_false(rcu_reading());
	assert_int_equal(host_irq_raise_self(HOST_IRQ_TEST), E_OK);
	assert_int_equal(atomic_load(&irq_reading), 1);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TEST, NULL), E_OK);
	/* Nothing left online: a grace period from here does not wait. */
	rcu_synchronize();
	host_cpu_unregister();
}

/* ------------------------------------------------------------ torture */

/*
 * Readers follow a shared pointer inside sections and check the object's
 * magic; a writer replaces it and frees the old one through rcu_call(),
 * which first wipes the magic: a reader that sees a wiped object saw one
 * freed under it.
 */
#define MAGIC 0x5eadbeefu

struct obj {
	struct rcu_work work;
	_Atomic uint32_t magic;
	uint32_t serial;
};

static _Atomic(struct obj *) shared;
static _Atomic bool stop;
static _Atomic uint64_t reads, frees;

static void free_obj(struct rcu_work *w)
{
	struct obj *o = (struct obj *)w;

	atomic_store_explicit(&o->magic, 0, memory_order_relaxed);
	atomic_fetch_add(&frees, 1);
	free(o);
}

static void torture_cpu(unsigned index, void *arg)
{
	(void)arg;
	if (index == 0) { /* the writer, once the readers read */
		while (atomic_load_explicit(&reads, memory_order_relaxed) < 64)
			cpu_relax();
		for (uint32_t i = 1; i <= 2000; i++) {
			struct obj *o = malloc(sizeof(*o)), *old;

			CHECK(o != NULL);
			o->serial = i;
			atomic_store_explicit(&o->magic, MAGIC,
					      memory_order_relaxed);
			old = atomic_exchange_explicit(&shared, o,
						       memory_order_acq_rel);
			rcu_call(&old->work, free_obj);
			if (i % 256 == 0)
				rcu_synchronize();
		}
		atomic_store(&stop, true);
		return;
	}
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct obj *o;

		rcu_read_enter();
		o = atomic_load_explicit(&shared, memory_order_acquire);
		for (int k = 0; k < 16; k++)
			CHECK(atomic_load_explicit(&o->magic,
						   memory_order_relaxed) ==
			      MAGIC);
		rcu_read_exit();
		atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
	}
}

static void test_readers_never_see_a_freed_object(void **state)
{
	struct obj *first = malloc(sizeof(*first));

	(void)state;
	assert_non_null(first);
	atomic_store(&first->magic, MAGIC);
	atomic_store(&shared, first);
	atomic_store(&stop, false);
	atomic_store(&frees, 0);
	atomic_store(&reads, 0);
	run_on_cpus(3, torture_cpu, NULL);
	assert_true(host_cpu_register() >= 0);
	rcu_drain();
	assert_int_equal(atomic_load(&frees), 2000);
	free_obj(&atomic_load(&shared)->work);
	host_cpu_unregister();
	assert_true(atomic_load(&reads) > 0);
}

/* A grace period that never ends hangs a test: fail it, and fast. */
#define TEST_TIMEOUT_S 20

static int arm_watchdog(void **state)
{
	(void)state;
	hang_watchdog_arm(TEST_TIMEOUT_S);
	return 0;
}

static int disarm_watchdog(void **state)
{
	(void)state;
	hang_watchdog_arm(0);
	return 0;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, arm_watchdog, disarm_watchdog)
	const struct CMUnitTest tests[] = {
		T(test_synchronize_waits_for_a_running_section),
		T(test_callback_waits_for_a_running_section),
		T(test_later_sections_are_not_waited_for),
		T(test_blocked_cpu_stalls_no_grace_period),
		T(test_blocked_cpu_after_a_section_stalls_no_grace_period),
		T(test_sections_nest_across_interrupts),
		T(test_readers_never_see_a_freed_object),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
