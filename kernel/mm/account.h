/* SPDX-License-Identifier: MIT */
/*
 * Accounts: who frames are charged to (Xen's domains, with tot_pages and
 * max_pages). An allocation for an account fails, changing nothing, if it
 * would take the account past max_pages (E_QUOTA) or the account is dying
 * (E_DYING). FRAME_NOACCOUNT allocations (Xen's MEMF_no_refcount) skip the
 * check and the count. Frames freed while their account is dying are not
 * reused until the scrubber has zeroed them (scrub.h).
 *
 * All fields are atomics: charges come from any CPU, in any context.
 */
#ifndef KERNEL_MM_ACCOUNT_H
#define KERNEL_MM_ACCOUNT_H

#include <stdatomic.h>

#include "kernel/lib/err.h"
#include "kernel/types.h"

struct account {
	const char *name;            /* [I] */
	_Atomic uint64_t max_pages;  /* [a] the quota */
	_Atomic uint64_t tot_pages;  /* [a] frames charged now */
	_Atomic bool dying;          /* [a] set once, never cleared */
};

void account_init(struct account *a, const char *name, uint64_t max_pages);

/* From now on allocations fail and freed frames are scrubbed. */
void account_set_dying(struct account *a);

static inline bool account_dying(const struct account *a)
{
	return atomic_load_explicit(&a->dying, memory_order_acquire);
}

static inline uint64_t account_pages(const struct account *a)
{
	return atomic_load_explicit(&a->tot_pages, memory_order_relaxed);
}

/*
 * Charge pages to a, all or nothing: E_DYING, E_QUOTA (tot_pages would
 * exceed max_pages), or E_OK with tot_pages increased.
 */
MUST_CHECK err_t account_charge(struct account *a, uint64_t pages);
void account_uncharge(struct account *a, uint64_t pages);

#endif /* KERNEL_MM_ACCOUNT_H */
