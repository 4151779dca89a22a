/* SPDX-License-Identifier: MIT */
/*
 * bench/run.c, the measuring both kernels' harnesses share (ours and the
 * Linux module), on the host: a platform of pthreads and a clock the case
 * bodies move by hand, so that every figure of a record is known in
 * advance. The records' arithmetic (ns per operation, Mops/s, including
 * products past 64 bits), the iteration search, merging of threads'
 * operations and histograms, failures (a case's error, the harness's
 * setup and check) and the console protocol's lines.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bench/run.h"
#include "tests/support.h"

/* ------------------------------------------------------------ platform */

static _Atomic uint64_t fake_ns; /* the clock: only bodies move it */

static uint64_t now_ns(void)
{
	return atomic_load(&fake_ns);
}

static void spin(void)
{
	sched_yield();
}

struct thread_arg {
	struct bench_run *run;
	unsigned i;
};

static void *thread(void *p)
{
	struct thread_arg *a = p;

	bench_cpu_run(a->run, a->i);
	return NULL;
}

static void run_all(struct bench_run *run)
{
	pthread_t t[4];
	struct thread_arg a[4];

	for (unsigned i = 0; i < run->threads; i++) {
		a[i] = (struct thread_arg){ run, i };
		assert_int_equal(pthread_create(&t[i], NULL, thread, &a[i]), 0);
	}
	for (unsigned i = 0; i < run->threads; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
}

/* Every line emitted, in order. */
static char lines[64][1024];
static unsigned nlines;

static void emit(const char *line, size_t len)
{
	assert_true(nlines < 64 && len < sizeof(lines[0]));
	memcpy(lines[nlines], line, len);
	lines[nlines++][len] = '\0';
}

static const struct bench_platform platform = {
	.now_ns = now_ns,
	.tsc_hz = 1000000000, /* a cycle is a nanosecond */
	.spin = spin,
	.run_all = run_all,
	.emit = emit,
};

/* ------------------------------------------------------------ cases */

/* Per iteration: the clock moves step_ns, items operations are done. */
static uint64_t step_ns, items;

static void steady(struct bench_state *st)
{
	while (bench_keep_running(st)) {
		atomic_fetch_add(&fake_ns, step_ns);
		bench_items(st, items);
	}
}

/* Every operation timed at 100 cycles: histogram bucket 6 (64..127 ns). */
static void timed(struct bench_state *st)
{
	while (bench_keep_running(st)) {
		atomic_fetch_add(&fake_ns, 1000);
		for (unsigned i = 0; i < 4; i++)
			if (bench_timing(st))
				bench_lat_record(st, 100);
		bench_items(st, 4);
		if (!bench_barrier(st))
			return;
	}
}

static void failing(struct bench_state *st)
{
	while (bench_keep_running(st)) {
		atomic_fetch_add(&fake_ns, 1000);
		bench_error(st, "E_NOMEM");
	}
}

/* Every counter slot, with names long enough to overflow a line. */
static void counting(struct bench_state *st)
{
	while (bench_keep_running(st)) {
		atomic_fetch_add(&fake_ns, 1000000);
		bench_items(st, 1);
#define LONG "_a_counter_name_long_enough_that_eight_of_them_with_the_rest_of_" \
	"the_record_do_not_fit_on_one_console_line"
		bench_counter(st, "c0" LONG, 1);
		bench_counter(st, "c1" LONG, 1);
		bench_counter(st, "c2" LONG, 1);
		bench_counter(st, "c3" LONG, 1);
		bench_counter(st, "c4" LONG, 1);
		bench_counter(st, "c5" LONG, 1);
		bench_counter(st, "c6" LONG, 1);
		bench_counter(st, "c7" LONG, 1);
	}
}


/*
 * Paused time is not the operations' time: per iteration 1000 ns timed,
 * then 5000 ns paused.
 */
static void paused(struct bench_state *st)
{
	while (bench_keep_running(st)) {
		atomic_fetch_add(&fake_ns, 1000);
		bench_items(st, 10);
		bench_pause(st);
		atomic_fetch_add(&fake_ns, 5000);
		bench_resume(st);
	}
}

/*
 * Two threads whose figures differ: only thread 0 moves the clock, between
 * barriers, so that both loops start at T and end at T + 1000; thread i
 * times one operation at 100 * 10^i cycles and counts 1 in "n".
 */
static void lopsided(struct bench_state *st)
{
	unsigned me = bench_thread(st);

	while (bench_keep_running(st)) {
		if (!bench_barrier(st))
			return;
		if (me == 0)
			atomic_fetch_add(&fake_ns, 1000);
		if (!bench_barrier(st))
			return;
		if (bench_timing(st))
			bench_lat_record(st, me == 0 ? 100 : 1000);
		bench_items(st, 1);
		bench_counter(st, "n", 1);
	}
}

/* Two errors: the first one's message is the one reported. */
static void twice_failing(struct bench_state *st)
{
	while (bench_keep_running(st)) {
		atomic_fetch_add(&fake_ns, 1000);
		bench_error(st, "first");
		bench_error(st, "second");
	}
}

/* Run k (from 0) of a benchmark lasts run_steps[k % 3] ns, one timed op of as many cycles. */
static const uint64_t run_steps[3] = { 3000, 1000, 2000 };
static unsigned runs_done;

static void varying(struct bench_state *st)
{
	uint64_t step = run_steps[runs_done++ % 3];

	while (bench_keep_running(st)) {
		atomic_fetch_add(&fake_ns, step);
		if (bench_timing(st))
			bench_lat_record(st, step);
		bench_items(st, 1);
	}
}

static void no_irq_work(void)
{
}

static const int64_t one_arg[] = { 7 };

#define CASE(var, body)                                                     \
	static const struct bench_case var = {                              \
		.name = "test/" #body, .run = body,                         \
		.configs = (const char *const[]){ "cfg", NULL },            \
		.arg_name = "order", .args = one_arg, .nargs = 1,           \
	}
CASE(steady_case, steady);
CASE(timed_case, timed);
CASE(failing_case, failing);
CASE(counting_case, counting);
CASE(paused_case, paused);
CASE(lopsided_case, lopsided);
CASE(twice_failing_case, twice_failing);
CASE(varying_case, varying);
/* A case with timer work: every CPU's loop must last BENCH_IRQ_MIN_LOOP_NS. */
static const struct bench_case irq_case = {
	.name = "test/irq", .run = steady, .irq = no_irq_work,
	.configs = (const char *const[]){ "cfg", NULL },
	.arg_name = "order", .args = one_arg, .nargs = 1,
};

/* ------------------------------------------------------------ helpers */

static struct bench_part parts[4];
static struct bench_run run;

static const char *setup_says, *check_says; /* the hooks' answers */
static unsigned checks, checks_failed;

static const char *setup(const struct bench_benchmark *b)
{
	(void)b;
	return setup_says;
}

static const char *check(const struct bench_benchmark *b, bool failed)
{
	(void)b;
	checks++;
	checks_failed += failed;
	return check_says;
}

/* Measure case c on n threads; whether it passed. */
static bool measure(const struct bench_case *c, unsigned n, uint64_t min_ns,
		    unsigned reps, uint64_t lat_every)
{
	const struct bench_case *const cases[] = { c };
	struct bench_opts o = { .min_ns = min_ns, .reps = reps, .lat_every = lat_every,
				.setup = setup, .check = check };
	struct bench_benchmark b;

	nlines = 0;
	checks = checks_failed = 0;
	atomic_store(&fake_ns, 1);
	assert_int_equal(bench_benchmark_at(cases, cases + 1, "cfg", false, "", 0, 0, &b), 1);
	run = (struct bench_run){ .p = &platform, .threads = n, .parts = parts };
	return bench_measure(&run, &o, &b, 1, 1);
}

static void assert_has(const char *line, const char *part)
{
	if (strstr(line, part) == NULL)
		fail_msg("'%s' not in '%s'", part, line);
}

/* ------------------------------------------------------------ tests */

/*
 * The iteration count grows 1, 10, 100 while a run is under a tenth of
 * min_ns, then aims at 1.4 times it but grows at most tenfold: 1000
 * iterations of 1000 ns and 10 operations each, 1 ms, so 100 ns per
 * operation and 10 Mops/s.
 */
static void test_records_say_what_was_measured(void **state)
{
	(void)state;
	step_ns = 1000;
	items = 10;
	setup_says = check_says = NULL;
	assert_true(measure(&steady_case, 1, 1000000, 3, 16));
	assert_int_equal(nlines, 4);
	for (unsigned rep = 0; rep < 3; rep++) {
		char want[64];

		assert_has(lines[rep], "bench-json: {\"name\":\"test/steady/cfg/order:7\","
			   "\"workload\":\"steady\",\"config\":\"cfg\",\"order\":7,\"threads\":1,");
		snprintf(want, sizeof(want), "\"repetition\":%u,", rep);
		assert_has(lines[rep], want);
		assert_has(lines[rep], "\"iterations\":1000,\"ops\":10000,");
		assert_has(lines[rep], "\"wall_ns\":1000000,\"ns_per_op\":100.000,"
			   "\"mops_total\":10.000,");
	}
	assert_has(lines[3], "bench: [1/1] test/steady/cfg/order:7: 100.000 ns/op, "
		   "10.000 Mops/s");
	assert_int_equal(checks, 1);
	assert_int_equal(checks_failed, 0);
}

/* ops * 10^6 past 64 bits: Mops/s still exact (2^45 operations in 2 us). */
static void test_figures_past_64_bit_products(void **state)
{
	(void)state;
	step_ns = 2000;
	items = UINT64_C(1) << 45;
	setup_says = check_says = NULL;
	assert_true(measure(&steady_case, 1, 1000, 1, 16));
	assert_has(lines[0], "\"iterations\":1,\"ops\":35184372088832,");
	assert_has(lines[0], "\"ns_per_op\":0.000,\"mops_total\":17592186044416.000,");
}

/*
 * Two threads: operations and histograms summed, never averaged; every
 * operation timed with lat_every 1, so the histogram holds them all.
 */
static void test_threads_merged(void **state)
{
	(void)state;
	setup_says = check_says = NULL;
	assert_true(measure(&timed_case, 2, 1000, 1, 1));
	assert_has(lines[0], "\"threads\":2,");
	/* One iteration each: 2 threads x 4 operations, all in bucket 6. */
	assert_has(lines[0], "\"iterations\":1,\"ops\":8,\"lat_ops\":8,");
	assert_has(lines[0], "\"p50_ns\":100,");
	assert_has(lines[0], "\"max_ns\":100,\"lat_log2_ns\":{\"6\":8}}");
}

/* A case's error fails its benchmark: no records, the why, the check told. */
static void test_case_error_fails_without_records(void **state)
{
	(void)state;
	setup_says = check_says = NULL;
	assert_false(measure(&failing_case, 2, 1000, 3, 16));
	assert_int_equal(nlines, 1);
	assert_string_equal(lines[0], "bench: [1/1] test/failing/cfg/order:7 FAILED: E_NOMEM");
	assert_int_equal(checks, 1);
	assert_int_equal(checks_failed, 1);
}

/* The harness's setup and check fail a benchmark too, with their words. */
static void test_setup_and_check_fail_it(void **state)
{
	(void)state;
	step_ns = 1000;
	items = 1;
	setup_says = "cannot set up";
	check_says = NULL;
	assert_false(measure(&steady_case, 1, 1000, 1, 16));
	assert_int_equal(nlines, 1);
	assert_has(lines[0], "FAILED: cannot set up");
	assert_int_equal(checks, 0); /* nothing ran: nothing to check */
	setup_says = NULL;
	check_says = "it did not give back every frame it allocated";
	assert_false(measure(&steady_case, 1, 1000, 2, 16));
	assert_int_equal(nlines, 1); /* the repetitions' records are not printed */
	assert_has(lines[0], "FAILED: it did not give back every frame it allocated");
	check_says = NULL;
}

/* A record longer than a console line is not printed cut: it says so. */
static void test_cut_line_says_so(void **state)
{
	(void)state;
	setup_says = check_says = NULL;
	assert_true(measure(&counting_case, 1, 1000, 1, 16));
	assert_string_equal(lines[0], "bench: a line longer than the console's was cut");
	assert_has(lines[1], "bench: [1/1] test/counting/cfg/order:7: ");
}

/* Benchmarks: cases listing the configuration (or all), filtered by name. */
static void test_benchmarks_listed(void **state)
{
	const struct bench_case *const cases[] = { &steady_case, &timed_case };
	struct bench_benchmark b;

	(void)state;
	assert_int_equal(bench_benchmark_at(cases, cases + 2, "cfg", false, "", 0, 0, NULL), 2);
	assert_int_equal(bench_benchmark_at(cases, cases + 2, "other", false, "", 0, 0, NULL), 0);
	assert_int_equal(bench_benchmark_at(cases, cases + 2, "other", true, "", 0, 0, NULL), 2);
	assert_int_equal(bench_benchmark_at(cases, cases + 2, "cfg", false, "timed", 5, 0, &b), 1);
	assert_string_equal(b.name, "test/timed/cfg/order:7");
	assert_int_equal(bench_benchmark_at(cases, cases + 2, "other", true, "", 0, 1, &b), 2);
	assert_string_equal(b.name, "test/timed/other/order:7");
}


/* ns/op counts only the time the clock ran; Mops/s counts the wall time. */
static void test_paused_time_not_counted(void **state)
{
	(void)state;
	setup_says = check_says = NULL;
	assert_true(measure(&paused_case, 1, 1000, 1, 16));
	assert_has(lines[0], "\"iterations\":1,\"ops\":10,");
	assert_has(lines[0], "\"wall_ns\":6000,\"ns_per_op\":100.000,\"mops_total\":1.666,");
}

/*
 * Two threads' parts merged: the wall time is first start to last end
 * (not averaged), the slowest operation is either thread's, counters are
 * summed.
 */
static void test_merge_wall_max_counters(void **state)
{
	(void)state;
	setup_says = check_says = NULL;
	assert_true(measure(&lopsided_case, 2, 1000, 1, 1));
	assert_has(lines[0], "\"iterations\":1,\"ops\":2,\"lat_ops\":2,\"wall_ns\":1000,"
		   "\"ns_per_op\":1000.000,\"mops_total\":2.000,");
	assert_has(lines[0], "\"max_ns\":1000,\"n\":2,");
}

/* The first bench_error()'s message is the one reported. */
static void test_first_error_reported(void **state)
{
	(void)state;
	setup_says = check_says = NULL;
	assert_false(measure(&twice_failing_case, 1, 1000, 1, 16));
	assert_string_equal(lines[0], "bench: [1/1] test/twice_failing/cfg/order:7 FAILED: first");
}

/* The progress line: the repetitions' median ns/op and Mops/s, their largest p99 and max. */
static void test_summary_median_and_largest(void **state)
{
	(void)state;
	setup_says = check_says = NULL;
	runs_done = 0;
	assert_true(measure(&varying_case, 1, 1000, 3, 1));
	assert_int_equal(runs_done, 3);
	assert_has(lines[3], "bench: [1/1] test/varying/cfg/order:7: 2000.000 ns/op, "
		   "0.500 Mops/s, p99 3000 ns, max 3000 ns");
}

/* A case with timer work runs until every CPU's loop lasted BENCH_IRQ_MIN_LOOP_NS. */
static void test_irq_case_loops_long_enough(void **state)
{
	(void)state;
	setup_says = check_says = NULL;
	step_ns = 100000;
	items = 1;
	assert_true(measure(&irq_case, 1, 1000, 1, 16));
	assert_has(lines[0], "\"iterations\":100,");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_say_what_was_measured),
		cmocka_unit_test(test_figures_past_64_bit_products),
		cmocka_unit_test(test_threads_merged),
		cmocka_unit_test(test_case_error_fails_without_records),
		cmocka_unit_test(test_setup_and_check_fail_it),
		cmocka_unit_test(test_cut_line_says_so),
		cmocka_unit_test(test_benchmarks_listed),
		cmocka_unit_test(test_paused_time_not_counted),
		cmocka_unit_test(test_merge_wall_max_counters),
		cmocka_unit_test(test_first_error_reported),
		cmocka_unit_test(test_summary_median_and_largest),
		cmocka_unit_test(test_irq_case_loops_long_enough),
	};

	hang_watchdog_arm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
