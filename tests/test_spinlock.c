/* SPDX-License-Identifier: MIT */
/*
 * Spinlocks (built once with the ticket lock and once with MCS): mutual
 * exclusion under contention and preemption, IRQ safety with simulated
 * timer interrupts, trylock, and finding ALO-01 on the host: an interrupt
 * that takes a lock its CPU already holds.
 */
#include <signal.h>
#include <string.h>

#include "locks/spinlock.h"
#include "tests/support.h"

#if CONFIG_SPINLOCK_MCS
#define IMPL "mcs"
#else
#define IMPL "ticket"
#endif

/* --------------------------------------------- mutual exclusion */

static spinlock_t counter_lock = SPINLOCK_INIT("test.counter");
static uint64_t counter GUARDED_BY(counter_lock);
static _Atomic unsigned inside; /* threads in the critical section */
static _Atomic unsigned overlap;

enum { MUTEX_THREADS = 8, MUTEX_ITERS = 20000 };

static void count_under_lock(unsigned index, void *arg)
{
	(void)index;
	(void)arg;
	for (unsigned i = 0; i < MUTEX_ITERS; i++) {
		spin_lock(&counter_lock);
		if (atomic_fetch_add_explicit(&inside, 1,
					      memory_order_relaxed) != 0)
			atomic_fetch_add(&overlap, 1);
		counter++; /* a plain read-modify-write: lost if not exclusive */
		atomic_fetch_sub_explicit(&inside, 1, memory_order_relaxed);
		spin_unlock(&counter_lock);
	}
}

/*
 * 8 threads on 2 cores: holders are preempted mid-section all the time.
 * (The test reads the guarded counter only while no thread runs.)
 */
static void test_mutual_exclusion_8_threads(void **state)
	NO_THREAD_SAFETY_ANALYSIS
{
	(void)state;
	spin_lock_init(&counter_lock, "test.counter");
	counter = 0;
	atomic_store(&overlap, 0);
	run_on_cpus(MUTEX_THREADS, count_under_lock, NULL);
	assert_int_equal(atomic_load(&overlap), 0);
	assert_int_equal(counter, (uint64_t)MUTEX_THREADS * MUTEX_ITERS);
	assert_false(spin_is_locked(&counter_lock));
}

/* ---------------------------------------------------- trylock */

static spinlock_t try_lock = SPINLOCK_INIT("test.try");
static _Atomic int try_phase;

static void try_pair(unsigned index, void *arg)
{
	(void)arg;
	if (index == 0) {
		spin_lock(&try_lock);
		atomic_store(&try_phase, 1);
		while (atomic_load(&try_phase) != 2)
			cpu_relax();
		spin_unlock(&try_lock);
		atomic_store(&try_phase, 3);
	} else {
		while (atomic_load(&try_phase) != 1)
			cpu_relax();
		if (spin_trylock(&try_lock)) { /* held by the other CPU */
			CHECK(!"trylock took a held lock");
			spin_unlock(&try_lock);
		}
		atomic_store(&try_phase, 2);
		while (atomic_load(&try_phase) != 3)
			cpu_relax();
		if (spin_trylock(&try_lock)) /* free now */
			spin_unlock(&try_lock);
		else
			CHECK(!"trylock failed on a free lock");
	}
}

static void test_trylock_fails_while_held(void **state)
{
	(void)state;
	atomic_store(&try_phase, 0);
	run_on_cpus(2, try_pair, NULL);
	assert_false(spin_is_locked(&try_lock));
}

/* ------------------------------------------- IRQ-safe locking */

/*
 * Every CPU's timer interrupt takes irq_lock while the CPUs take it with
 * spin_lock_irqsave: the counts add up, nothing hangs, and the checker
 * (which panics on a report by default) stays silent.
 */
static spinlock_t irq_lock = SPINLOCK_INIT("test.irq");
static uint64_t irq_side GUARDED_BY(irq_lock);
static uint64_t thread_side GUARDED_BY(irq_lock);
static _Atomic uint64_t irq_expected;

static void timer_takes_irq_lock(unsigned vector)
{
	(void)vector;
	spin_lock(&irq_lock); /* interrupts are masked in a handler */
	irq_side++;
	spin_unlock(&irq_lock);
	atomic_fetch_add_explicit(&irq_expected, 1, memory_order_relaxed);
}

static void irqsave_loop(unsigned index, void *arg)
{
	(void)index;
	(void)arg;
	CHECK(host_timer_start(200 * 1000) == E_OK); /* 200 us */
	for (unsigned i = 0; i < 20000; i++) {
		irqflags_t f = spin_lock_irqsave(&irq_lock);
		thread_side++;
		spin_unlock_irqrestore(&irq_lock, f);
	}
	host_timer_stop();
}

static void test_irqsave_lock_shared_with_timer_irqs(void **state)
	NO_THREAD_SAFETY_ANALYSIS /* reads the counts at quiescence */
{
	(void)state;
	irq_side = thread_side = 0;
	atomic_store(&irq_expected, 0);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TIMER,
					      timer_takes_irq_lock), E_OK);
	run_on_cpus(4, irqsave_loop, NULL);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TIMER, NULL), E_OK);
	assert_int_equal(thread_side, 4 * 20000);
	assert_int_equal(irq_side, atomic_load(&irq_expected));
	assert_true(irq_side > 0);
}

/*
 * ALO-01, the safe way: the holder masked interrupts, so the IRQ that wants
 * the same lock waits until spin_unlock_irqrestore() and then completes.
 */
static spinlock_t alo_lock = SPINLOCK_INIT("test.alo01");
static _Atomic unsigned alo_irq_done;

static void irq_takes_alo_lock(unsigned vector) NO_THREAD_SAFETY_ANALYSIS
{
	(void)vector;
	spin_lock(&alo_lock);
	atomic_fetch_add(&alo_irq_done, 1);
	spin_unlock(&alo_lock);
}

static void test_alo01_irqsave_holder_defers_irq(void **state)
{
	(void)state;
	atomic_store(&alo_irq_done, 0);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TEST, irq_takes_alo_lock),
			 E_OK);
	unsigned me = (unsigned)host_cpu_register();

	irqflags_t f = spin_lock_irqsave(&alo_lock);
	assert_int_equal(host_irq_raise(me, HOST_IRQ_TEST), E_OK);
	sleep_ms(10); /* the IRQ arrives now, and must wait */
	assert_int_equal(atomic_load(&alo_irq_done), 0);
	spin_unlock_irqrestore(&alo_lock, f);
	assert_int_equal(atomic_load(&alo_irq_done), 1); /* ran at unmask */
	host_cpu_unregister();
}

/*
 * ALO-01, the bug: the holder took the lock with plain spin_lock and
 * interrupts enabled; the IRQ on the same CPU tries to take it again. On
 * real hardware that spins forever. The checker reports it and stops.
 */
static void alo01_plain_holder(void *arg) NO_THREAD_SAFETY_ANALYSIS
{
	(void)arg;
	/*
	 * Forget that the previous test took this lock in IRQ context, or the
	 * checker would (rightly) report the plain spin_lock below as
	 * IRQ-unsafe before any IRQ arrives. Here we want the runtime check.
	 */
	lockcheck_reset();
	if (host_irq_set_handler(HOST_IRQ_TEST, irq_takes_alo_lock) != E_OK)
		return;
	unsigned me = (unsigned)host_cpu_register();

	spin_lock(&alo_lock);
	if (host_irq_raise(me, HOST_IRQ_TEST) != E_OK)
		return;
	sleep_ms(2000); /* the IRQ runs here and must not hang */
	spin_unlock(&alo_lock);
}

static void test_alo01_irq_on_plain_holder_is_reported(void **state)
{
	struct child_result r;

	(void)state;
	run_in_child(alo01_plain_holder, NULL, &r);
	assert_child_panicked_with(&r, "deadlock: CPU 0 already holds "
				       "test.alo01");
	/* Both places are named: where it was held, where it was retaken. */
	assert_non_null(strstr(r.err, "test_spinlock.c"));
	assert_non_null(strstr(r.err, "in IRQ context"));
}

/* Retaking a held lock without any IRQ is caught the same way. */
static void relock(void *arg) NO_THREAD_SAFETY_ANALYSIS
{
	spinlock_t l = SPINLOCK_INIT("test.relock");

	(void)arg;
	(void)host_cpu_register();
	spin_lock(&l);
	spin_lock(&l);
}

static void test_relock_same_cpu_is_reported(void **state)
{
	struct child_result r;

	(void)state;
	run_in_child(relock, NULL, &r);
	assert_child_panicked_with(&r, "deadlock: CPU 0 already holds "
				       "test.relock");
}

/* Releasing a lock this CPU does not hold is reported and stops. */
static void unlock_unheld(void *arg) NO_THREAD_SAFETY_ANALYSIS
{
	spinlock_t l = SPINLOCK_INIT("test.unheld");

	(void)arg;
	(void)host_cpu_register();
	spin_unlock(&l);
}

static void test_unlock_of_unheld_lock_is_reported(void **state)
{
	struct child_result r;

	(void)state;
	run_in_child(unlock_unheld, NULL, &r);
	assert_child_panicked_with(&r, "bad unlock: CPU 0 releases "
				       "test.unheld");
}

/* A lock used before it was given a name is refused, loudly. */
static void use_unnamed(void *arg) NO_THREAD_SAFETY_ANALYSIS
{
	static spinlock_t l; /* zero-filled: no name */

	(void)arg;
	(void)host_cpu_register();
	spin_lock(&l);
}

static void test_unnamed_lock_is_refused(void **state)
{
	struct child_result r;

	(void)state;
	run_in_child(use_unnamed, NULL, &r);
	assert_child_panicked_with(&r, "has no name");
}

static void test_assert_held(void **state)
{
	(void)state;
	spinlock_t l = SPINLOCK_INIT("test.held");

	(void)host_cpu_register();
	spin_lock(&l);
	spin_assert_held(&l);
	assert_true(lockcheck_held(&l));
	spin_unlock(&l);
	assert_false(lockcheck_held(&l));
	host_cpu_unregister();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutual_exclusion_8_threads),
		cmocka_unit_test(test_trylock_fails_while_held),
		cmocka_unit_test(test_irqsave_lock_shared_with_timer_irqs),
		cmocka_unit_test(test_alo01_irqsave_holder_defers_irq),
		cmocka_unit_test(test_alo01_irq_on_plain_holder_is_reported),
		cmocka_unit_test(test_relock_same_cpu_is_reported),
		cmocka_unit_test(test_unlock_of_unheld_lock_is_reported),
		cmocka_unit_test(test_unnamed_lock_is_refused),
		cmocka_unit_test(test_assert_held),
	};

	return cmocka_run_group_tests_name("spinlock (" IMPL ")", tests, NULL,
					   NULL);
}
