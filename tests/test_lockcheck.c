/* SPDX-License-Identifier: MIT */
/*
 * The lock checker: order inversions between lock classes (reported with
 * every acquisition site), IRQ-safety violations, and the cases that must
 * not be reported. Reports are collected by a hook instead of panicking.
 * Each test uses its own lock names, so classes never carry over.
 */
#include <stdio.h>
#include <string.h>

#include "locks/spinlock.h"
#include "tests/support.h"

#define MAX_REPORTS 8
static char reports[MAX_REPORTS][1024];
static enum lockcheck_kind report_kind[MAX_REPORTS];
static _Atomic unsigned nreports;

static void collect(enum lockcheck_kind kind, const char *msg)
{
	unsigned i = atomic_fetch_add(&nreports, 1);

	if (i < MAX_REPORTS) {
		report_kind[i] = kind;
		snprintf(reports[i], sizeof(reports[i]), "%s", msg);
	}
}

static int setup(void **state)
{
	(void)state;
	atomic_store(&nreports, 0);
	memset(reports, 0, sizeof(reports));
	lockcheck_reset();
	lockcheck_set_report(collect);
	return host_cpu_register() >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	host_cpu_unregister();
	lockcheck_set_report(NULL);
	return 0;
}

/* Take a then b, recording the sites of both acquisitions. */
#define LOCK_PAIR(a, b, site_a, site_b)                          \
	do {                                                     \
		spin_lock_at(a, site_a = HERE);                  \
		spin_lock_at(b, site_b = HERE);                  \
		spin_unlock(b);                                  \
		spin_unlock(a);                                  \
	} while (0)

/* Take a then b, sites not needed. */
#define LOCK_BOTH(a, b)                                           \
	do {                                                      \
		const char *site1_, *site2_;                      \
		LOCK_PAIR(a, b, site1_, site2_);                  \
		(void)site1_;                                     \
		(void)site2_;                                     \
	} while (0)

static void test_order_inversion_reported_with_both_sites(void **state)
	NO_THREAD_SAFETY_ANALYSIS
{
	spinlock_t a = SPINLOCK_INIT("inv.A"), b = SPINLOCK_INIT("inv.B");
	const char *ab_a, *ab_b, *ba_b, *ba_a;

	(void)state;
	spin_lock_at(&a, ab_a = HERE);
	spin_lock_at(&b, ab_b = HERE);
	spin_unlock(&b);
	spin_unlock(&a);
	LOCK_BOTH(&a, &b); /* the same order again: fine */
	assert_int_equal(atomic_load(&nreports), 0);

	spin_lock_at(&b, ba_b = HERE); /* the opposite order */
	spin_lock_at(&a, ba_a = HERE);
	spin_unlock(&a);
	spin_unlock(&b);
	assert_int_equal(atomic_load(&nreports), 1);
	assert_int_equal(report_kind[0], LOCKCHECK_ORDER);
	const char *m = reports[0];
	print_message("report: %s\n", m);
	assert_non_null(strstr(m, "lock order inversion"));
	assert_non_null(strstr(m, "\"inv.A\""));
	assert_non_null(strstr(m, "\"inv.B\""));
	/* All four acquisition sites: both orders, both locks. */
	assert_non_null(strstr(m, ab_a));
	assert_non_null(strstr(m, ab_b));
	assert_non_null(strstr(m, ba_b));
	assert_non_null(strstr(m, ba_a));

	/* Reported once, not on every repetition. */
	LOCK_BOTH(&b, &a);
	assert_int_equal(atomic_load(&nreports), 1);
}

static void test_three_lock_cycle_reported(void **state)
	NO_THREAD_SAFETY_ANALYSIS
{
	spinlock_t a = SPINLOCK_INIT("cyc.A"), b = SPINLOCK_INIT("cyc.B"),
		   c = SPINLOCK_INIT("cyc.C");

	(void)state;
	LOCK_BOTH(&a, &b);
	LOCK_BOTH(&b, &c);
	assert_int_equal(atomic_load(&nreports), 0);
	LOCK_BOTH(&c, &a); /* closes A -> B -> C -> A */
	assert_int_equal(atomic_load(&nreports), 1);
	assert_int_equal(report_kind[0], LOCKCHECK_ORDER);
	assert_non_null(strstr(reports[0], "\"cyc.B\" acquired at"));
	assert_non_null(strstr(reports[0], "\"cyc.C\" acquired at"));
	assert_non_null(strstr(reports[0], "while holding \"cyc.A\""));
}

/* Lock order edges recorded on one CPU are checked on another. */
struct cross_cpu {
	spinlock_t a, b;
	_Atomic int phase;
};

static void cross_cpu_orders(unsigned index, void *arg) NO_THREAD_SAFETY_ANALYSIS
{
	struct cross_cpu *x = arg;

	if (index == 0) {
		spin_lock(&x->a);
		spin_lock(&x->b);
		spin_unlock(&x->b);
		spin_unlock(&x->a);
		atomic_store(&x->phase, 1);
	} else {
		while (atomic_load(&x->phase) != 1)
			cpu_relax();
		spin_lock(&x->b);
		spin_lock(&x->a);
		spin_unlock(&x->a);
		spin_unlock(&x->b);
	}
}

static void test_inversion_across_cpus_reported(void **state)
{
	struct cross_cpu x = { SPINLOCK_INIT("x.A"), SPINLOCK_INIT("x.B"), 0 };

	(void)state;
	run_on_cpus(2, cross_cpu_orders, &x);
	assert_int_equal(atomic_load(&nreports), 1);
	assert_int_equal(report_kind[0], LOCKCHECK_ORDER);
}

static void test_same_class_nesting_not_an_inversion(void **state)
	NO_THREAD_SAFETY_ANALYSIS
{
	spinlock_t n1 = SPINLOCK_INIT("same.node"), n2 = SPINLOCK_INIT("same.node");

	(void)state;
	LOCK_BOTH(&n1, &n2);
	LOCK_BOTH(&n2, &n1);
	assert_int_equal(atomic_load(&nreports), 0);
}

static void test_trylock_adds_no_order_edge(void **state)
	NO_THREAD_SAFETY_ANALYSIS
{
	spinlock_t a = SPINLOCK_INIT("try.A"), b = SPINLOCK_INIT("try.B");

	(void)state;
	spin_lock(&b);
	assert_true(spin_trylock(&a)); /* B then A, but a trylock never waits */
	spin_unlock(&a);
	spin_unlock(&b);
	LOCK_BOTH(&a, &b);
	assert_int_equal(atomic_load(&nreports), 0);
}

/* --------------------------------------------------- IRQ safety */

static spinlock_t irq_used = SPINLOCK_INIT("irq.used");
static const char *irq_site;

static void irq_takes_lock(unsigned vector) NO_THREAD_SAFETY_ANALYSIS
{
	(void)vector;
	spin_lock_at(&irq_used, irq_site = HERE);
	spin_unlock(&irq_used);
}

/* Run fn as an IRQ handler on this CPU, now. */
static void raise_self_test_irq(host_irq_handler_t fn)
{
	uint64_t before = host_irq_count(cpu_id());

	assert_int_equal(host_irq_set_handler(HOST_IRQ_TEST, fn), E_OK);
	assert_int_equal(host_irq_raise(cpu_id(), HOST_IRQ_TEST), E_OK);
	for (int i = 0; i < 1000 && host_irq_count(cpu_id()) == before; i++)
		sleep_ms(1);
	assert_true(host_irq_count(cpu_id()) > before);
}

static void test_irq_lock_held_with_irqs_on_is_reported(void **state)
	NO_THREAD_SAFETY_ANALYSIS
{
	const char *plain_site;

	(void)state;
	raise_self_test_irq(irq_takes_lock);
	assert_int_equal(atomic_load(&nreports), 0);

	spin_lock_at(&irq_used, plain_site = HERE); /* IRQs on: wrong */
	spin_unlock(&irq_used);
	assert_int_equal(atomic_load(&nreports), 1);
	assert_int_equal(report_kind[0], LOCKCHECK_IRQ_UNSAFE);
	assert_non_null(strstr(reports[0], "irq-unsafe lock \"irq.used\""));
	assert_non_null(strstr(reports[0], irq_site));
	assert_non_null(strstr(reports[0], plain_site));
}

static spinlock_t irq_safe_lock = SPINLOCK_INIT("irq.safe");

static void irq_takes_safe_lock(unsigned vector) NO_THREAD_SAFETY_ANALYSIS
{
	(void)vector;
	spin_lock(&irq_safe_lock);
	spin_unlock(&irq_safe_lock);
}

static void test_irqsave_use_is_not_reported(void **state)
	NO_THREAD_SAFETY_ANALYSIS
{
	(void)state;
	raise_self_test_irq(irq_takes_safe_lock);
	irqflags_t f = spin_lock_irqsave(&irq_safe_lock);
	spin_unlock_irqrestore(&irq_safe_lock, f);
	/* Masked by hand, then a plain lock: also correct. */
	f = irq_save();
	spin_lock(&irq_safe_lock);
	spin_unlock(&irq_safe_lock);
	irq_restore(f);
	assert_int_equal(atomic_load(&nreports), 0);
}

/*
 * The transitive rule: "dep.safe" is taken in IRQ context; elsewhere it is
 * held (IRQs masked, correctly) while "dep.unsafe" is taken; and
 * "dep.unsafe" is held with IRQs enabled somewhere else. No single lock
 * is misused, yet CPU 0 holding dep.unsafe can be interrupted by an IRQ
 * that spins on dep.safe, held by CPU 1 which spins on dep.unsafe.
 */
static spinlock_t dep_safe = SPINLOCK_INIT("dep.safe");
static spinlock_t dep_unsafe = SPINLOCK_INIT("dep.unsafe");

static void irq_takes_dep_safe(unsigned vector) NO_THREAD_SAFETY_ANALYSIS
{
	(void)vector;
	spin_lock(&dep_safe);
	spin_unlock(&dep_safe);
}

static void test_irq_safe_to_unsafe_dependency_reported(void **state)
	NO_THREAD_SAFETY_ANALYSIS
{
	(void)state;
	raise_self_test_irq(irq_takes_dep_safe);
	irqflags_t f = spin_lock_irqsave(&dep_safe);
	spin_lock(&dep_unsafe); /* IRQs are masked here: fine in itself */
	spin_unlock(&dep_unsafe);
	spin_unlock_irqrestore(&dep_safe, f);
	assert_int_equal(atomic_load(&nreports), 0);

	spin_lock(&dep_unsafe); /* IRQs enabled: completes the deadlock */
	spin_unlock(&dep_unsafe);
	assert_int_equal(atomic_load(&nreports), 1);
	assert_int_equal(report_kind[0], LOCKCHECK_IRQ_UNSAFE);
	assert_non_null(strstr(reports[0], "irq-safe -> irq-unsafe"));
	assert_non_null(strstr(reports[0], "\"dep.safe\""));
	assert_non_null(strstr(reports[0], "\"dep.unsafe\""));
}

/*
 * Order edges are recorded per context: an IRQ taking ctx.irq while the
 * interrupted code holds ctx.outer is no "outer then irq" order. So when
 * ctx.irq is later held while taking ctx.outer, the one report names the
 * real problem (an IRQ-safe lock held while taking one held with IRQs
 * enabled), not a lock order inversion.
 */
static spinlock_t ctx_outer = SPINLOCK_INIT("ctx.outer");
static spinlock_t ctx_irq = SPINLOCK_INIT("ctx.irq");

static void irq_takes_ctx_lock(unsigned vector) NO_THREAD_SAFETY_ANALYSIS
{
	(void)vector;
	spin_lock(&ctx_irq);
	spin_unlock(&ctx_irq);
}

static void test_irq_context_edges_kept_apart(void **state)
	NO_THREAD_SAFETY_ANALYSIS
{
	(void)state;
	spin_lock(&ctx_outer);
	raise_self_test_irq(irq_takes_ctx_lock);
	spin_unlock(&ctx_outer);
	assert_int_equal(atomic_load(&nreports), 0);

	irqflags_t f = spin_lock_irqsave(&ctx_irq);
	spin_lock(&ctx_outer);
	spin_unlock(&ctx_outer);
	spin_unlock_irqrestore(&ctx_irq, f);
	assert_int_equal(atomic_load(&nreports), 1);
	assert_int_equal(report_kind[0], LOCKCHECK_IRQ_UNSAFE);
	assert_non_null(strstr(reports[0], "irq-safe -> irq-unsafe"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_order_inversion_reported_with_both_sites, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_three_lock_cycle_reported,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_inversion_across_cpus_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_same_class_nesting_not_an_inversion, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_trylock_adds_no_order_edge,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_irq_lock_held_with_irqs_on_is_reported, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_irqsave_use_is_not_reported,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_irq_safe_to_unsafe_dependency_reported, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_irq_context_edges_kept_apart, setup, teardown),
	};

	return cmocka_run_group_tests_name("lockcheck", tests, NULL, NULL);
}
