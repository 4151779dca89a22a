/* SPDX-License-Identifier: MIT */
/*
 * What both harnesses (bench/gbench.cc on the host, bench/kernel.c in the
 * kernel) share beyond the barrier (bench/barrier.h): the end of a body's
 * loop, and what they compute from a run's merged latency histogram, in
 * integers (the kernel has no floating point), so that a host record and
 * a kernel record mean the same thing.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stdint.h>

#include "bench/bench.h"

/* The percentiles every record has, in parts per 10000, and their names. */
#define BENCH_PERCENTILES(X) \
	X("p50_ns", 5000) X("p90_ns", 9000) X("p99_ns", 9900) X("p999_ns", 9990)

/*
 * The q_per_10k-quantile of the operations in lat (n of them): the upper
 * edge, in ns, of the bucket that holds it (a bound, never an
 * under-estimate; the caller clamps it to the largest latency seen). 0 if
 * the histogram is empty.
 */
static inline uint64_t bench_percentile_ns(const uint64_t *lat, uint64_t n,
					   uint64_t q_per_10k)
{
	uint64_t want = (q_per_10k * n + 9999) / 10000, seen = 0;

	for (unsigned k = 0; k < BENCH_LAT_BUCKETS; k++) {
		seen += lat[k];
		if (seen >= want && seen > 0)
			return UINT64_C(2) << k;
	}
	return 0;
}

/*
 * After a body returned: end its loop if it has not (it may return early,
 * after bench_error(), or never have started it: then it starts, passing
 * the start barrier the other threads wait at, and ends at once).
 * bench_loop_edge() sets left to -2 once the loop has ended.
 */
static inline void bench_end_loop(struct bench_state *st)
{
	if (st->left == -2)
		return;
	if (st->left > 0)
		st->left = 0;
	while (bench_keep_running(st))
		st->left = 0;
}

#endif /* BENCH_HARNESS_H */
