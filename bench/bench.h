/* SPDX-License-Identifier: MIT */
/*
 * The benchmark interface: what a benchmark case, written in C, may ask of
 * the harness that runs it. Modelled on Google Benchmark's State. Two
 * harnesses implement it: on the host over Google Benchmark
 * (bench/gbench.cc, threads as CPUs), and in the kernel (bench/kernel.c,
 * all vCPUs at once); a case body uses only this header, the frame API and
 * the platform contract (<platform.h>): no libc, no host.h, no floating
 * point (the kernel has none), so the same file is compiled into both.
 *
 * (This header includes no platform header, so that the C++ harness can
 * include it; case files include <platform.h> themselves.)
 *
 * A case is one C file under bench/cases/ that defines a struct bench_case
 * with BENCH_CASE(): its name ("frame/repeat"), its body, the
 * configurations and arguments it runs with. The harness runs the body
 * once per (configuration, argument, thread count) on that many threads
 * at once, each of them a CPU (cpu_id() works; the allocator is booted in
 * that configuration, or in an environment's (below), before any body
 * starts), repeatedly, and reports
 * the record named "<name>/<config>/<arg_name>:<arg>" (Google Benchmark
 * appends "/threads:<n>" and "/real_time").
 *
 * A body:
 *
 *	static void repeat(struct bench_state *st)
 *	{
 *		unsigned order = (unsigned)bench_arg(st, 0);
 *
 *		... setup, untimed (the allocator is ready) ...
 *		while (bench_keep_running(st)) {
 *			... BENCH_BATCH operations, timed when
 *			    bench_timing() says (see below) ...
 *			bench_items(st, BENCH_BATCH);
 *		}
 *		... give back what it holds, untimed ...
 *	}
 *
 * A body may return at any point, also from inside its loop (after
 * bench_error()): the harness ends the loop for it.
 *
 * Time: each thread's own time, from the end of the start barrier (the
 * first bench_keep_running()) to the call that returns false, without
 * the spans between bench_pause() and bench_resume(). The harness reports
 * per record:
 *	ops         operations of all threads (bench_items())
 *	ns_per_op   sum of the threads' times / ops: time per operation per
 *	            thread (with more threads than cores it includes time
 *	            preempted)
 *	mops_total  ops / the run's wall time (first thread's start to last
 *	            thread's end, paused spans included), in millions per
 *	            second: what the machine really sustained. For cases
 *	            that pause, ops are the timed kind only (bulk_alloc: the
 *	            allocations, over the time of whole alloc+free rounds)
 *	lat_ops     operations in the latency histogram (a sample, below)
 *	p50_ns .. p999_ns, max_ns, lat_log2_ns_<k> (k = 0..39, zeros too):
 *	            from bench_lat_record()
 *	            of all threads, merged (never averaged)
 * and bench_counter() values, summed over the threads.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Latency sampling: the harnesses time one iteration in this many by
 * default (bench_timing(), below).
 */
#define BENCH_LAT_EVERY 16

/* Operations per iteration of a case's state loop, for cases that batch. */
#define BENCH_BATCH 64

/* Latency histogram: bucket k counts operations of [2^k, 2^(k+1)) ns. */
#define BENCH_LAT_BUCKETS 40 /* to 2^40 ns: 18 minutes */

/*
 * One thread's view of one run. The harness owns it; cases use only the
 * functions below (the fields are here so that the hot ones inline).
 */
struct bench_state {
	int64_t left;           /* iterations left in the state loop; < 0: not
				   started */
	bool timing;            /* this iteration's operations are timed */
	uint64_t lat_mask;      /* time iterations with left & lat_mask == 0 */
	uint64_t ops;           /* bench_items() so far */
	uint64_t ns_mult;       /* ns = cycles * ns_mult >> BENCH_NS_SHIFT */
	uint64_t lat_max;       /* largest latency recorded, in cycles */
	uint64_t lat[BENCH_LAT_BUCKETS];
	void *impl;             /* the harness's own state */
};

#define BENCH_NS_SHIFT 20

/* ------------------------------------------------------ the state loop */

/* The harness's side of bench_keep_running(): starts and ends the loop. */
bool bench_loop_edge(struct bench_state *st);

/*
 * Whether to run one more iteration. The first call is a barrier of all
 * the run's threads and starts the clock: everything any thread did
 * before it happens before everything every thread does after it. The
 * call that returns false stops this thread's clock; after it the body
 * cleans up (untimed) and returns. Every thread of a run gets the same
 * number of iterations.
 */
static inline bool bench_keep_running(struct bench_state *st)
{
	if (__builtin_expect(st->left > 0, 1)) {
		st->left--;
		st->timing = (st->left & st->lat_mask) == 0;
		return true;
	}
	return bench_loop_edge(st);
}

/* The body's argument i (0: the only one so far, e.g. the order). */
int64_t bench_arg(const struct bench_state *st, unsigned i);

/* This thread's index in [0, bench_threads()), and the run's thread count. */
unsigned bench_thread(const struct bench_state *st);
unsigned bench_threads(const struct bench_state *st);

/*
 * Stop and restart this thread's clock (inside the loop): what runs in
 * between is not timed. Costly (a clock read each): once per batch.
 */
void bench_pause(struct bench_state *st);
void bench_resume(struct bench_state *st);

/*
 * A barrier of all the run's threads, inside the state loop (every thread
 * must call it equally often; the loop guarantees equal iterations) or
 * after it, before the body returns (frame/mixed: every thread has
 * emptied its population and none has returned yet).
 * Returns false, at once or while waiting, if a thread of the run called
 * bench_error() before every thread had arrived: the body must then leave
 * its loop without waiting for anyone again. Once all have arrived, every
 * thread gets true, even if one fails right after (the others learn it at
 * their next barrier or bench_keep_running()): the answer is the same for
 * all, so no thread takes a barrier that let the others through for one
 * that did not.
 */
bool bench_barrier(struct bench_state *st);

/* ------------------------------------------------------------ results */

/*
 * Latency is sampled by iteration: reading the cycle counter costs about
 * as much as a cached allocation (x86's rdtsc: ~25-40 cycles; the context
 * key cycles_read_ns has this machine's figure), so timing every
 * operation would double the throughput figures it sits among. The
 * harness times one iteration in every 2^k (first and last included;
 * --bench_lat_every=1 on the host: all of them): in those, and only
 * those, bench_timing() is true and the body times each operation:
 *
 *	uint64_t t = cycles();
 *	for (...) {
 *		...one operation...
 *		if (bench_timing(st))
 *			bench_lap(st, &t, cycles());
 *	}
 *
 * The histogram then holds a sample of the operations (counter lat_ops:
 * how many), drawn evenly over the run.
 */
static inline bool bench_timing(const struct bench_state *st)
{
	return st->timing;
}

/* n more operations done by this thread. */
static inline void bench_items(struct bench_state *st, uint64_t n)
{
	st->ops += n;
}

/*
 * One operation took `c` cycles (cycles(), platform contract): into this
 * thread's log2 histogram (in ns, with the harness's calibration).
 */
static inline void bench_lat_record(struct bench_state *st, uint64_t c)
{
	uint64_t ns = c < (UINT64_C(1) << 40)
		? (c * st->ns_mult) >> BENCH_NS_SHIFT : UINT64_MAX;
	unsigned k = ns < 2 ? 0 : 63u - (unsigned)__builtin_clzll(ns);

	st->lat[k < BENCH_LAT_BUCKETS ? k : BENCH_LAT_BUCKETS - 1]++;
	if (__builtin_expect(c > st->lat_max, 0))
		st->lat_max = c;
}

/* One operation ended at cycle count `now` and began at *t; *t = now. */
static inline void bench_lap(struct bench_state *st, uint64_t *t, uint64_t now)
{
	bench_lat_record(st, now - *t);
	*t = now;
}

/*
 * A counter `name` (a string literal) of this record: summed over threads
 * and over a thread's calls. At most BENCH_COUNTERS names per case
 * (frame/mixed reports five).
 */
void bench_counter(struct bench_state *st, const char *name, uint64_t value);

#define BENCH_COUNTERS 8

/*
 * The run failed (msg: a string literal saying why): the record is
 * reported as an error, the whole benchmark program fails, and the
 * state loop ends at this thread's next bench_keep_running(); other
 * threads learn it from bench_barrier(). The body still frees what it
 * holds.
 */
void bench_error(struct bench_state *st, const char *msg);

/* -------------------------------------------------------------- cases */

struct bench_case {
	const char *name;               /* "frame/repeat" */
	void (*run)(struct bench_state *st);
	/*
	 * If set, runs in every timer interrupt on every CPU of the run
	 * while bodies run (period: BENCH_IRQ_PERIOD_NS), in IRQ context.
	 * It must take well under a period even in the slowest
	 * configuration (locked, oversubscribed: tens of us per operation),
	 * or the CPU does nothing but interrupts and the run never ends.
	 */
	void (*irq)(void);
	const char *const *configs;     /* NULL-terminated: environments the
					   case runs in (BENCH_FRAME_CONFIGS) */
	const char *arg_name;           /* "order" */
	const int64_t *args;            /* the values of argument 0 */
	unsigned nargs;
};

#define BENCH_IRQ_PERIOD_NS 1000000u /* 1 kHz: a kernel tick */

/* The frame allocator's configurations (struct frame_config). */
#define BENCH_FRAME_CONFIGS ((const char *const[]){ "full", "nopcp", "locked", NULL })

/*
 * Environments: configurations beyond the frame allocator's. A file
 * registers one with BENCH_ENV(); its name is then a configuration that
 * cases may list. Both harnesses boot it as the frame configuration
 * frame_config (the host: host_mm_boot(), with the heap on it; the
 * kernel: bench=NAME boots the kernel's allocator in it and runs the
 * cases that list NAME), and around every benchmark (a case in this
 * configuration with one argument and, on the host, one thread count)
 * call, on one CPU while no body runs:
 *	setup()  before its first run: make what the cases use (NULL:
 *	         nothing). false: it cannot, having said why (klog()); the
 *	         benchmark fails.
 *	check()  after its last run (on the host: when the next benchmark
 *	         boots, or at the end): undo setup() and say whether the runs
 *	         left everything consistent, having said what is wrong if not
 *	         (NULL: nothing to check). false fails the benchmark (the
 *	         host: the whole program).
 * frames_balance: after check(), the frame allocator must have as many
 * frames allocated as before setup() (false where a layer keeps frames
 * it does not give back between runs: the heap's empty slabs and
 * reserves). The host then compares nothing (it boots afresh for every
 * benchmark); the kernel, which cannot, requires every benchmark to give
 * back every frame, so it refuses such an environment unless it has
 * frames_held:
 *	frames_held()  (NULL: none) the frames the environment's layer
 *	         holds, called on one CPU while no body runs (after check(),
 *	         and before the first benchmark), and exact then. The
 *	         kernel harness compares the frames allocated minus
 *	         frames_held() after each benchmark with that difference
 *	         before the first (a frame the layer holds is the layer's;
 *	         one nobody accounts for is a leak). The layer's check()
 *	         must then catch what its frames hide: objects not freed
 *	         (bench/heap/kmalloc.c counts them).
 * Portable environments are compiled into both harnesses
 * (bench/cases/pt_env.c and zero_env.c: the host's frame binary and the
 * kernel; bench/heap/kmalloc.c: the host's heap binaries and the
 * kernel); host-only ones (bench/heap/malloc.c) into the host's alone.
 */
struct bench_env {
	const char *name;
	const char *frame_config;
	bool (*setup)(void);
	bool (*check)(void);
	bool frames_balance;
	uint64_t (*frames_held)(void);
};

#define BENCH_ENV(e)                                                        \
	static const struct bench_env *const bench_env_ptr_##e               \
	__attribute__((used, section("bench_envs"), aligned(sizeof(void *)))) = &(e)

/*
 * Register a case: a pointer to it goes into the linker section
 * bench_cases, which the harness walks (__start_bench_cases ..
 * __stop_bench_cases). Link case objects directly, not from an archive
 * (nothing references them), and a kernel linker script must KEEP() the
 * section.
 */
#define BENCH_CASE(c)                                                       \
	static const struct bench_case *const bench_case_ptr_##c             \
	__attribute__((used, section("bench_cases"), aligned(sizeof(void *)))) = &(c)

/*
 * Memory a case may hold per thread (cases size their bulk to it, and the
 * environment sizes the machine's RAM for the most threads it runs).
 */
#define BENCH_BYTES_PER_THREAD (UINT64_C(64) << 20)

#ifdef __cplusplus
}
#endif

#endif /* BENCH_BENCH_H */
