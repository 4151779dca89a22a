/* SPDX-License-Identifier: MIT */
/*
 * frame/mixed: constant occupancy (NBBS). Each thread holds a population
 * of frame_hold(order) blocks of random orders and, repeatedly, frees a
 * random one and allocates a block of a random order in its place. The
 * orders are those of frame_orders up to the record's order (order:0:
 * only 0; order:3: 0 and 3; order:9: 0, 3, 9; order:10: all four), drawn
 * uniformly. Filling the population beforehand and emptying it afterwards
 * are not timed.
 *
 * Fragmentation (issue 11): thread 0 samples the largest free block
 * (frame_largest_free_order(): any zone, caches not counted) before its
 * first iteration and every MIXED_SAMPLE_EVERY after, with its clock
 * paused (not timed; the other threads run on meanwhile). Counters, all
 * from thread 0:
 *   largest_free_order_min  the smallest of those samples (a sample that
 *                           found no free block at all counts as 0)
 *   lazy_pairs              pairs of free buddies left unmerged by lazy
 *                           frees (kernel/mm/buddy.c, LAZY MERGING) once
 *                           every thread has emptied its population
 *                           (quiescent: the others wait at a barrier)
 *   free_order9_blocks, free_order10_blocks
 *                           free blocks of orders 9 and 10 in the buddies
 *                           then, after frame_coalesce() merged those
 *   fully_coalesced         1 if those equal what full coalescing of the
 *                           same free frames gives (frame_top_blocks()),
 *                           else 0 and the run fails
 * Blocks in per-CPU caches are not free for either count. Between
 * benchmarks the environment's check (frame_validate(): no two free
 * buddies at any order outside a CPU's area) covers the state the last
 * run left.
 */
#include "bench/cases/frame_cases.h"

struct block {
	pfn_t pfn;
	unsigned order;
};

/* [thread t] its population: only thread t touches row t */
static struct block mixed_held[MAX_CPUS][FRAME_HOLD_MAX];

/* xorshift64: a fixed sequence per thread, so runs are comparable. */
static uint64_t next_random(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Thread 0 samples the largest free block every this many iterations. */
#define MIXED_SAMPLE_EVERY 1024u

static unsigned pick_order(uint64_t *rng, unsigned norders)
{
	return (unsigned)frame_orders[next_random(rng) % norders];
}

static bool fill(struct bench_state *st, struct block *held, unsigned n,
		 uint64_t *rng, unsigned norders)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned order = pick_order(rng, norders);
		struct frame_result f = frame_alloc(order, 0);

		if (f.err != E_OK) {
			bench_error(st, err_name(f.err));
			while (i > 0) {
				i--;
				(void)!frame_free(held[i].pfn, held[i].order);
			}
			return false;
		}
		held[i] = (struct block){ f.pfn, order };
	}
	return true;
}

/* The largest free block's order now, untimed, if below *min. */
static void sample_largest(struct bench_state *st, unsigned *min)
{
	int k;

	bench_pause(st);
	k = frame_largest_free_order();
	bench_resume(st);
	*min = MIN(*min, k < 0 ? 0u : (unsigned)k);
}

/*
 * After the loop, every thread with its population emptied: thread 0
 * counts the top-order blocks while the others wait, then reports
 * (every counter, also when the run failed: Google Benchmark takes the
 * counter names of a benchmark's first record for all its records).
 */
static void report_fragmentation(struct bench_state *st, unsigned largest_min)
{
	struct frame_top_blocks tb = { { 0, 0 }, { 0, 0 } };
	bool quiet = bench_barrier(st), coalesced = false;
	uint64_t lazy = 0;

	if (bench_thread(st) == 0) {
		if (quiet) {
			lazy = frame_free_pairs();
			frame_coalesce();
			frame_top_blocks(&tb);
			coalesced = tb.free[0] == tb.coalesced[0] &&
				    tb.free[1] == tb.coalesced[1];
		}
		bench_counter(st, "largest_free_order_min", largest_min);
		bench_counter(st, "lazy_pairs", lazy);
		bench_counter(st, "free_order9_blocks", tb.free[0]);
		bench_counter(st, "free_order10_blocks", tb.free[1]);
		bench_counter(st, "fully_coalesced", coalesced);
		if (quiet && !coalesced)
			bench_error(st, "free blocks of orders 9 and 10 at "
				    "quiescence are not what full coalescing "
				    "gives");
	}
	/* Nobody returns (and the host drains its caches) before the count. */
	if (quiet)
		(void)bench_barrier(st);
}

static void frame_mixed(struct bench_state *st)
{
	unsigned top = (unsigned)bench_arg(st, 0), norders = 0;
	unsigned n = frame_hold(top);
	struct block *held = mixed_held[bench_thread(st)];
	uint64_t rng = 0x9e3779b97f4a7c15u * (bench_thread(st) + 1);
	uint64_t iter = 0;
	unsigned largest_min = FRAME_MAX_ORDER;
	bool ok, sampler = bench_thread(st) == 0;

	while (norders < ARRAY_SIZE(frame_orders) &&
	       frame_orders[norders] <= top)
		norders++;
	ok = fill(st, held, n, &rng, norders);
	/* Every thread enters the loop (its first call is a barrier). */
	while (bench_keep_running(st)) {
		uint64_t t;

		if (!ok)
			continue;
		if (sampler && iter++ % MIXED_SAMPLE_EVERY == 0)
			sample_largest(st, &largest_min);
		t = cycles();
		for (unsigned k = 0; k < BENCH_BATCH / 2; k++) {
			struct block *b = &held[next_random(&rng) % n];
			unsigned order = pick_order(&rng, norders);
			err_t e = frame_free(b->pfn, b->order);
			struct frame_result f;

			if (bench_timing(st))
				bench_lap(st, &t, cycles());
			f = frame_alloc(order, 0);
			if (bench_timing(st))
				bench_lap(st, &t, cycles());
			if (e != E_OK || f.err != E_OK) {
				bench_error(st, err_name(e != E_OK ? e : f.err));
				/* b is gone: keep the others freeable */
				*b = held[--n];
				if (f.err == E_OK)
					(void)!frame_free(f.pfn, order);
				break;
			}
			*b = (struct block){ f.pfn, order };
		}
		bench_items(st, BENCH_BATCH);
	}
	for (unsigned i = 0; ok && i < n; i++)
		(void)!frame_free(held[i].pfn, held[i].order);
	report_fragmentation(st, largest_min);
}

FRAME_CASE(frame_mixed_case, "frame/mixed", frame_mixed, BENCH_FRAME_CONFIGS);
