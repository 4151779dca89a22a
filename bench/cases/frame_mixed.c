/* SPDX-License-Identifier: MIT */
/*
 * frame/mixed: constant occupancy (NBBS). Each thread holds a population
 * of frame_hold(order) blocks of random orders and, repeatedly, frees a
 * random one and allocates a block of a random order in its place. The
 * orders are those of frame_orders up to the record's order (order:0:
 * only 0; order:3: 0 and 3; order:9: 0, 3, 9; order:10: all four), drawn
 * uniformly. Filling the population beforehand and emptying it afterwards
 * are not timed.
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

static void frame_mixed(struct bench_state *st)
{
	unsigned top = (unsigned)bench_arg(st, 0), norders = 0;
	unsigned n = frame_hold(top);
	struct block *held = mixed_held[bench_thread(st)];
	uint64_t rng = 0x9e3779b97f4a7c15u * (bench_thread(st) + 1);
	bool ok;

	while (norders < ARRAY_SIZE(frame_orders) &&
	       frame_orders[norders] <= top)
		norders++;
	ok = fill(st, held, n, &rng, norders);
	/* Every thread enters the loop (its first call is a barrier). */
	while (bench_keep_running(st)) {
		uint64_t t = cycles();

		if (!ok)
			continue;
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
}

FRAME_CASE(frame_mixed_case, "frame/mixed", frame_mixed);
