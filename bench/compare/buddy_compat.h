/* SPDX-License-Identifier: MIT */
/*
 * The comparison build's shim (mk/compare.mk), never part of the normal
 * build: what today's frame layer asks of the buddy that an older buddy
 * (BASE, by default 933f143, issue 11's reference) does not have. The
 * build inserts an include of this file before the last #endif of BASE's
 * buddy.h when that header does not declare buddy_largest_free_order();
 * buddy_compat.c then defines it over BASE's maps, and buddy_coalesce()
 * and buddy_free_pairs() (issue 11's lazy merging: BASE has nothing to
 * merge). BASE's struct freemap
 * is today's (bits, summary, nwords, nsum), so the definition is today's.
 * A BASE whose buddy.h lacks something else frame.c calls fails to link,
 * naming the function: add it here.
 */
#define BUDDY_COMPAT_LARGEST_FREE_ORDER 1
#define BUDDY_COMPAT_COALESCE 1

int buddy_largest_free_order(const struct buddy *b);
void buddy_coalesce(struct buddy *b);
uint64_t buddy_free_pairs(const struct buddy *b);
