/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/*
 * Measuring a benchmark on every CPU of a kernel at once: the part that
 * our kernel's harness (bench/kernel.c) and the Linux module's
 * (bench/linux/harness.c) share, so that a record from either kernel is
 * measured, merged and written by the same code. (The host harness,
 * bench/gbench.cc, measures through Google Benchmark instead.)
 *
 * A harness provides the platform (struct bench_platform: a clock, a
 * spin, starting the body on every CPU, its console) and the benchmarks;
 * bench_measure() finds the iteration count, runs the repetitions and
 * prints their records. The rules, as Google Benchmark measures a
 * benchmark on the host: runs of a fixed iteration count, the same on
 * every CPU; the count grows from 1 until a run lasts at least min_ns of
 * wall time (and, for a case with timer work, every CPU's loop
 * BENCH_IRQ_MIN_LOOP_NS); that run and reps - 1 more at the same count
 * are the repetitions, one record each. In a run every CPU calls
 * bench_cpu_run(); the first bench_keep_running() is a barrier of all of
 * them and starts each CPU's clock; the last stops it. Each CPU keeps its
 * results in its own part, and the harness's run_all() returns only after
 * every CPU's body has finished, ordering every part's writes before
 * bench_measure() merges them: nothing is merged under a lock, nothing on
 * the hot path is shared.
 *
 * The console protocol (whole lines; tools/bench_qemu.py reads them and
 * ignores the rest of the log):
 *
 *   bench: context {"config":"full","vcpus":2,"cpu":"...",
 *          "hypervisor":"TCGTCGTCGTCG","tsc_mhz":2495,"min_ms":100,
 *          "reps":3,"lat_every":16,"benchmarks":24,...}
 *   bench-json: {"name":"frame/repeat/full/order:0","workload":"repeat",
 *          "config":"full","order":0,"threads":2,"repetition":0,
 *          "iterations":..,"ops":..,"lat_ops":..,"wall_ns":..,
 *          "ns_per_op":12.345,
 *          "mops_total":40.123,"p50_ns":..,"p90_ns":..,"p99_ns":..,
 *          "p999_ns":..,"max_ns":..,<counters>,"lat_log2_ns":{"3":100}}
 *   bench: [1/24] frame/repeat/full/order:0: 12.345 ns/op, 40.123 Mops/s,
 *          p99 64 ns, max 2100 ns       (after its repetitions' records)
 *   bench: [7/24] frame/rand/full/order:9 FAILED: why   (and no records)
 *   bench: 23 passed, 1 failed          (the last line)
 *
 * The figures mean what bench.h says they mean on the host; the
 * percentiles come from bench/harness.h, as the host's do.
 *
 * Portable: bench.h, <stdarg.h>, <stdio.h>'s vsnprintf and <string.h>,
 * no floating point (no kernel here has it).
 */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/barrier.h"
#include "bench/bench.h"

/* The most repetitions of one benchmark (the kernels' bench_reps=). */
#define BENCH_REPS_MAX 100

/*
 * Every CPU's loop in a case with timer work lasts at least this long. A
 * case's timer work runs only in the ticks that come while a CPU's loop
 * runs, the first a period after the loop started; and a CPU's loop may
 * last much less than the run's wall time (vCPUs that share host cores
 * take turns). Three periods were not enough with 4 vCPUs under TCG on a
 * loaded 2-core host (make test, 2026-11-30: a frame/irq record with
 * irq_ops 0): a vCPU's loop is timed by the TSC, which runs on while the
 * host has the vCPU descheduled, so a loop can "last" three periods and
 * execute for much less than one.
 */
#define BENCH_IRQ_MIN_LOOP_NS (10 * (uint64_t)BENCH_IRQ_PERIOD_NS)

/* A line being built, then written whole. */
struct bench_line {
	char buf[960]; /* under printk's line limit (Linux: 992) */
	size_t len;
	bool overflow; /* something did not fit: the line is cut */
};

void bench_put(struct bench_line *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON string value; names and CPUID's strings need no escapes but " and \. */
void bench_put_string(struct bench_line *l, const char *s);

struct bench_counter_value {
	const char *name;
	uint64_t value;
};

struct bench_run;

/*
 * One CPU's part of a run. [CPU c resets and writes part c during the
 * run; the harness reads them after run_all() returned, which orders
 * every CPU's writes before]
 */
struct bench_part {
	struct bench_run *run;
	unsigned index;        /* bench_thread() */
	bool running;          /* the clock runs (not paused) */
	uint64_t since;        /* when it last started */
	uint64_t start, end;   /* when the loop started and ended; 0: never */
	uint64_t timed_ns;     /* with the clock running, so far */
	uint64_t ops, lat_max; /* lat_max in cycles */
	uint64_t lat[BENCH_LAT_BUCKETS];
	struct bench_counter_value counters[BENCH_COUNTERS];
	unsigned ncounters;
};

/* What a harness provides. */
struct bench_platform {
	uint64_t (*now_ns)(void);   /* a clock all CPUs share, in ns */
	uint64_t tsc_hz;            /* cycles() per second */
	void (*spin)(void);         /* one wait in a barrier */
	/*
	 * Call bench_cpu_run(run, i) on CPU i for every i < threads at
	 * once; return when all have returned.
	 */
	void (*run_all)(struct bench_run *run);
	/* Around each CPU's loop, on that CPU (NULL: nothing): a case's timer work. */
	void (*loop_start)(const struct bench_run *run);
	void (*loop_end)(const struct bench_run *run);
	/* Write one line (no newline in it) to the console. */
	void (*emit)(const char *line, size_t len);
	/*
	 * Test hook, NULL if none: on the last CPU, before the body
	 * (bench_error() is allowed) and after it.
	 */
	void (*inject_before)(struct bench_state *st);
	void (*inject_after)(void);
};

/*
 * One run of a benchmark. [H: the harness sets it up before run_all();
 * the CPUs only read it] except the failure and the barriers, which are
 * atomic.
 */
struct bench_run {
	const struct bench_platform *p; /* [H] */
	const struct bench_case *c;     /* [H] */
	int64_t arg;                    /* [H] */
	unsigned threads;               /* [H] */
	uint64_t iters;                 /* [H] */
	uint64_t ns_mult, lat_mask;     /* [H] bench_state's */
	struct bench_part *parts;       /* [H] threads of them */
	/*
	 * [atomic, seq_cst] bench_error() was called: set by any CPU, read
	 * at every CPU's loop edge and in hbarrier_wait(), where it pairs
	 * with the barrier's round (barrier.h: a waiter that sees it set
	 * also sees a round that opened before it was set). Cleared by the
	 * harness before run_all().
	 */
	bool failed;
	/*
	 * [atomic] the first bench_error()'s message: set once (CAS from
	 * NULL) before that CPU sets failed; the harness reads it after
	 * run_all() returned (its completion orders every CPU's writes).
	 */
	const char *error;
	struct hbarrier start;          /* the loop's start: every CPU passes */
	struct hbarrier bar;            /* bench_barrier() */
};

/* CPU i's share of a run: the body, then its histogram into parts[i]. */
void bench_cpu_run(struct bench_run *run, unsigned i);

/* A benchmark: a case in a configuration with one argument. */
struct bench_benchmark {
	const struct bench_case *c;
	const char *config;
	int64_t arg;
	char name[128];
};

/*
 * The index-th benchmark of the cases [begin, end) that list config
 * (config_all: every case, whatever it lists; the Linux module) and whose
 * names contain filter[0..filter_len), into *out (NULL: only count);
 * returns how many there are (up to index + 1 with out).
 */
unsigned bench_benchmark_at(const struct bench_case *const *begin,
			    const struct bench_case *const *end,
			    const char *config, bool config_all,
			    const char *filter, size_t filter_len,
			    unsigned index, struct bench_benchmark *out);

/* What bench_measure() needs beyond the run. */
struct bench_opts {
	uint64_t min_ns;   /* a measured run lasts at least this long */
	unsigned reps;     /* repetitions, 1..BENCH_REPS_MAX */
	uint64_t lat_every;/* time one iteration in this many (a power of two) */
	/*
	 * Around a benchmark's runs (NULL: nothing): set up what it uses;
	 * after, undo and check (NULL if all is well, else why not). The
	 * harness's environment and allocator checks.
	 */
	const char *(*setup)(const struct bench_benchmark *b);
	const char *(*check)(const struct bench_benchmark *b, bool failed);
};

/*
 * Run one benchmark (run: p, parts and threads set) and print its records
 * (only if it passed: a failed one has none) and its progress line
 * "[k/total]"; returns whether it passed.
 */
bool bench_measure(struct bench_run *run, const struct bench_opts *o,
		   const struct bench_benchmark *b, unsigned k, unsigned total);

/*
 * The context line's common fields, the object left open: the harness
 * adds its own ("," first) and closes it with "}" before emitting.
 */
void bench_put_context(struct bench_line *l, const char *config,
		       unsigned vcpus, const char *cpu, const char *hypervisor,
		       const struct bench_opts *o, uint64_t tsc_hz,
		       unsigned benchmarks);

/* The line, written whole through the platform's emit(); then empty. */
void bench_emit(const struct bench_platform *p, struct bench_line *l);

#endif /* BENCH_RUN_H */
