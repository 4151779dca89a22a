/* SPDX-License-Identifier: MIT */
/*
 * frame/bulk_alloc and frame/bulk_free: each thread allocates
 * frame_hold(order) blocks, then frees them all (LLFree "bulk", NBBS
 * "linux-scalability"). One loop, two records: bulk_alloc times only the
 * allocation phase, bulk_free only the free phase (the other phase runs
 * with the clock paused), so each record's ns_per_op and latency
 * percentiles are those of one kind of operation.
 */
#include "bench/cases/frame_cases.h"

/* [thread t] the blocks it holds: only thread t touches row t */
static pfn_t bulk_held[MAX_CPUS][FRAME_HOLD_MAX];

/* Allocate n blocks into held; on failure free them again, false. */
static bool bulk_alloc_phase(struct bench_state *st, pfn_t *held,
			     unsigned n, unsigned order, bool timed)
{
	uint64_t t = cycles();

	for (unsigned i = 0; i < n; i++) {
		struct frame_result f = frame_alloc(order, frame_case_flags);

		if (timed && bench_timing(st))
			bench_lap(st, &t, cycles());
		if (f.err != E_OK) {
			bench_error(st, err_name(f.err));
			while (i > 0)
				(void)!frame_free(held[--i], order);
			return false;
		}
		held[i] = f.pfn;
	}
	return true;
}

static void bulk_free_phase(struct bench_state *st, const pfn_t *held,
			    unsigned n, unsigned order, bool timed)
{
	uint64_t t = cycles();

	for (unsigned i = 0; i < n; i++) {
		err_t e = frame_free(held[i], order);

		if (timed && bench_timing(st))
			bench_lap(st, &t, cycles());
		if (e != E_OK)
			bench_error(st, err_name(e));
	}
}

static void bulk(struct bench_state *st, bool time_alloc)
{
	unsigned order = (unsigned)bench_arg(st, 0);
	unsigned n = frame_hold(order);
	pfn_t *held = bulk_held[bench_thread(st)];

	while (bench_keep_running(st)) {
		if (!time_alloc)
			bench_pause(st);
		if (!bulk_alloc_phase(st, held, n, order, time_alloc)) {
			if (!time_alloc)
				bench_resume(st);
			return;
		}
		if (time_alloc)
			bench_pause(st);
		else
			bench_resume(st);
		bulk_free_phase(st, held, n, order, !time_alloc);
		if (time_alloc)
			bench_resume(st);
		bench_items(st, n);
	}
}

static void frame_bulk_alloc(struct bench_state *st)
{
	bulk(st, true);
}

static void frame_bulk_free(struct bench_state *st)
{
	bulk(st, false);
}

FRAME_CASE(frame_bulk_alloc_case, "frame/bulk_alloc", frame_bulk_alloc,
	   FRAME_ZERO_CONFIGS);

FRAME_CASE(frame_bulk_free_case, "frame/bulk_free", frame_bulk_free,
	   FRAME_ZERO_CONFIGS);
