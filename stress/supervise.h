/* SPDX-License-Identifier: MIT */
/*
 * The stress harnesses' main thread while their workers run: it ends the
 * run on time and watches for a hang (heap_stress, pt_stress). Each
 * worker counts its completed operations in a progress counter of its
 * own and, when it has left its loop for good, increments `finished`;
 * the supervisor sums the counters every tick and calls the harness's
 * hung() if the sum has not moved for watchdog_s seconds.
 */
#ifndef STRESS_SUPERVISE_H
#define STRESS_SUPERVISE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "host/util.h"

#define STRESS_TICK_NS (100 * 1000 * 1000) /* the supervisor's period */

struct stress_watch {
	unsigned seconds;            /* the run's length */
	unsigned watchdog_s;         /* no progress this long: hung */
	unsigned threads;            /* workers */
	/* [atomic] workers that have left their loop for good; the
	   supervisor returns when all have */
	_Atomic unsigned *finished;
	/* [atomic] set by the supervisor when the time is up; the workers
	   poll it */
	_Atomic bool *stop;
	uint64_t (*progress)(void);  /* the workers' counters, summed
					(relaxed loads: a count, not an order) */
	void (*hung)(void);          /* says what each worker was doing and
					exits non-zero; does not return */
};

static inline void stress_supervise(const struct stress_watch *w)
{
	uint64_t t0 = monotonic_ns(), seen = w->progress(), since = t0;
	const struct timespec tick = { 0, STRESS_TICK_NS };

	while (atomic_load(w->finished) < w->threads) {
		uint64_t now, p;

		nanosleep(&tick, NULL);
		now = monotonic_ns();
		if (now - t0 >= (uint64_t)w->seconds * 1000000000u)
			atomic_store(w->stop, true);
		if ((p = w->progress()) != seen) {
			seen = p;
			since = now;
		} else if (now - since >= (uint64_t)w->watchdog_s * 1000000000u) {
			w->hung();
		}
	}
}

#endif /* STRESS_SUPERVISE_H */
