/* SPDX-License-Identifier: MIT */
/*
 * What the frame-allocator cases share: their orders, how much each
 * thread holds, and the repeat loop (repeat and irq run it).
 * Portable: bench.h, the frame API and the platform contract only.
 */
#ifndef BENCH_CASES_FRAME_CASES_H
#define BENCH_CASES_FRAME_CASES_H

#include <platform.h>

#include "bench/bench.h"
#include "kernel/mm/frame.h"

static const int64_t frame_orders[] = { 0, 3, 9, 10 };

/*
 * The flags the frame cases that list "zero" allocate with: 0, or
 * FRAME_ZERO in environment "zero" (zero_env.c, which defines it; a
 * harness that links no zero_env.c defines its own). Written only by
 * that environment's setup() and check(), on one CPU while no body runs;
 * the harness orders the write before every body's reads (the kernel:
 * smp_run_all(); the host: the barrier after the boot). So the bodies
 * read it without atomics.
 */
extern unsigned frame_case_flags;

/* The frame configurations and the zeroing environment. */
#define FRAME_ZERO_CONFIGS                                                  \
	((const char *const[]){ "full", "nopcp", "locked", "zero", NULL })

/*
 * A frame case `var` named case_name running body in the configurations
 * config_list (BENCH_FRAME_CONFIGS, or FRAME_ZERO_CONFIGS for a case that
 * allocates with frame_case_flags), with argument "order" over
 * frame_orders; more designated initializers (.irq = ...) may follow.
 */
#define FRAME_CASE(var, case_name, body, config_list, ...)                  \
	static const struct bench_case var = {                              \
		.name = case_name,                                          \
		.run = body,                                                \
		.configs = config_list,                                     \
		.arg_name = "order",                                        \
		.args = frame_orders,                                       \
		.nargs = ARRAY_SIZE(frame_orders),                          \
		__VA_ARGS__                                                 \
	};                                                                  \
	BENCH_CASE(var)

/* Most blocks a thread of bulk, rand or mixed holds at once. */
#define FRAME_HOLD_MAX 1024u

/*
 * Blocks of order `order` a thread holds at once: FRAME_HOLD_MAX, or
 * fewer so that they fit in BENCH_BYTES_PER_THREAD (order 0 and 3: 1024;
 * order 9: 32; order 10: 16).
 */
static inline unsigned frame_hold(unsigned order)
{
	uint64_t n = (BENCH_BYTES_PER_THREAD / PAGE_SIZE) >> order;

	return n < FRAME_HOLD_MAX ? (unsigned)n : FRAME_HOLD_MAX;
}

/*
 * The repeat loop: allocate a block of order `order` with `flags`, free
 * it, again. An operation is one allocation or one free; in timed iterations each is
 * timed alone (one cycles() read between two operations, so the latency
 * of each includes about one read).
 */
static inline void frame_repeat_loop(struct bench_state *st, unsigned order,
				     unsigned flags)
{
	while (bench_keep_running(st)) {
		uint64_t t = cycles();

		for (unsigned i = 0; i < BENCH_BATCH / 2; i++) {
			struct frame_result f = frame_alloc(order, flags);

			if (bench_timing(st))
				bench_lap(st, &t, cycles());
			if (f.err != E_OK) {
				bench_error(st, err_name(f.err));
				return;
			}
			if (frame_free(f.pfn, order) != E_OK) {
				bench_error(st, "frame_free failed");
				return;
			}
			if (bench_timing(st))
				bench_lap(st, &t, cycles());
		}
		bench_items(st, BENCH_BATCH);
	}
}

#endif /* BENCH_CASES_FRAME_CASES_H */
