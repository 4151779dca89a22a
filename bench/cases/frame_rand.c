/* SPDX-License-Identifier: MIT */
/*
 * frame/rand: each thread allocates frame_hold(order) blocks; after a
 * barrier, every thread frees an equal share of everyone's blocks, so
 * with n threads (n-1)/n of the frees are of blocks another CPU allocated
 * (LLFree "rand": cross-CPU frees). The blocks are dealt, not shuffled at
 * random: thread t frees block c of thread (t - c) mod n, which spreads
 * each thread's blocks evenly over all threads and needs no random
 * source shared between them. Both phases are timed; the barriers are
 * not (the clock is paused around them).
 */
#include "bench/cases/frame_cases.h"

/*
 * [row t: thread t writes it in the allocation phase; all threads read it
 * in the free phase; the barriers between the phases order the two]
 */
static pfn_t rand_slot[MAX_CPUS][FRAME_HOLD_MAX];

static bool untimed_barrier(struct bench_state *st)
{
	bool ok;

	bench_pause(st);
	ok = bench_barrier(st);
	bench_resume(st);
	return ok;
}

static void frame_rand(struct bench_state *st)
{
	unsigned order = (unsigned)bench_arg(st, 0);
	unsigned n = frame_hold(order);
	unsigned me = bench_thread(st), threads = bench_threads(st);
	pfn_t *mine = rand_slot[me];

	while (bench_keep_running(st)) {
		uint64_t t = cycles();
		unsigned got = 0;

		for (; got < n; got++) {
			struct frame_result f = frame_alloc(order,
							    frame_case_flags);

			if (bench_timing(st))
				bench_lap(st, &t, cycles());
			if (f.err != E_OK) {
				bench_error(st, err_name(f.err));
				break;
			}
			mine[got] = f.pfn;
		}
		/*
		 * A thread that failed has set the error before it arrives,
		 * so nobody passes this barrier: each frees its own row.
		 */
		if (!untimed_barrier(st)) {
			while (got > 0)
				(void)!frame_free(mine[--got], order);
			return;
		}
		t = cycles();
		for (unsigned c = 0; c < n; c++) {
			unsigned row = (me + threads - c % threads) % threads;
			err_t e = frame_free(rand_slot[row][c], order);

			if (bench_timing(st))
				bench_lap(st, &t, cycles());
			if (e != E_OK)
				bench_error(st, err_name(e));
		}
		bench_items(st, 2 * n);
		/* Nobody refills a row before everyone has freed from it. */
		if (!untimed_barrier(st))
			return;
	}
}

FRAME_CASE(frame_rand_case, "frame/rand", frame_rand, FRAME_ZERO_CONFIGS);
