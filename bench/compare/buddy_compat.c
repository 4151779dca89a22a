/* SPDX-License-Identifier: MIT */
/*
 * The comparison build's shim: see buddy_compat.h. Compiled only into
 * build/base-<sha>/ (mk/compare.mk), against BASE's buddy.h; empty when
 * BASE has the function itself.
 */
#include <stdatomic.h>

#include "kernel/mm/buddy.h"

#ifdef BUDDY_COMPAT_LARGEST_FREE_ORDER
/* As today's buddy.c: the highest order with a set bit, -1 if none. */
int buddy_largest_free_order(const struct buddy *b)
{
	for (unsigned k = BUDDY_ORDERS; k-- > 0;) {
		const struct freemap *m = &b->map[k];

		for (uint64_t w = 0; w < m->nwords; w++)
			if (atomic_load_explicit(&m->bits[w],
						 memory_order_relaxed) != 0)
				return (int)k;
	}
	return -1;
}
#endif

#ifdef BUDDY_COMPAT_COALESCE
/* BASE merges every free at once: nothing is ever left to merge. */
void buddy_coalesce(struct buddy *b)
{
	(void)b;
}

/* Pairs of free buddies below the top order, as today's buddy.c. */
uint64_t buddy_free_pairs(const struct buddy *b)
{
	const uint64_t evens = UINT64_C(0x5555555555555555);
	uint64_t n = 0;

	for (unsigned k = 0; k < BUDDY_MAX_ORDER; k++)
		for (uint64_t w = 0; w < b->map[k].nwords; w++) {
			uint64_t v = atomic_load(&b->map[k].bits[w]);

			n += (uint64_t)__builtin_popcountll(v & (v >> 1) & evens);
		}
	return n;
}
#endif
