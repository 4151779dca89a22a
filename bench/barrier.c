/* SPDX-License-Identifier: MIT */
/*
 * A counting barrier (bench/barrier.h). The last thread to arrive resets
 * the count and opens the next round; the others wait for the round to
 * change. Every access is sequentially consistent, so whatever a thread
 * did before arriving happens before what any thread does after leaving.
 * Reusable round after round: the count is back at 0 before the round
 * that lets the waiters go changes, so a thread that leaves and arrives
 * again counts in the next round.
 */
#include <stddef.h>

#include "bench/barrier.h"

#define SC __ATOMIC_SEQ_CST

void hbarrier_reset(struct hbarrier *b)
{
	__atomic_store_n(&b->arrived, 0, SC);
	__atomic_store_n(&b->round, 0, SC);
}

static bool failing(const bool *failed)
{
	return failed != NULL && __atomic_load_n(failed, SC);
}

bool hbarrier_wait(struct hbarrier *b, unsigned n, const bool *failed,
		   void (*wait)(void))
{
	unsigned r = __atomic_load_n(&b->round, SC);

	if (failing(failed))
		return false; /* not arrived: the round never opens */
	if (__atomic_add_fetch(&b->arrived, 1, SC) == n) {
		__atomic_store_n(&b->arrived, 0, SC);
		__atomic_add_fetch(&b->round, 1, SC);
		return true;
	}
	while (__atomic_load_n(&b->round, SC) == r) {
		/* Failed after the round opened (and it opened for all),
		   or before (and it never will): the round tells which. */
		if (failing(failed))
			return __atomic_load_n(&b->round, SC) != r;
		wait();
	}
	return true;
}
