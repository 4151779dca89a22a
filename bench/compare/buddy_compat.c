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
