/* SPDX-License-Identifier: MIT */
#include <platform.h>

#include "kernel/mm/account.h"

void account_init(struct account *a, const char *name, uint64_t max_pages)
{
	a->name = name;
	atomic_init(&a->max_pages, max_pages);
	atomic_init(&a->tot_pages, 0);
	atomic_init(&a->dying, false);
}

void account_set_dying(struct account *a)
{
	atomic_store_explicit(&a->dying, true, memory_order_release);
}

err_t account_charge(struct account *a, uint64_t pages)
{
	uint64_t max = atomic_load_explicit(&a->max_pages, memory_order_relaxed);
	uint64_t cur = atomic_load_explicit(&a->tot_pages, memory_order_relaxed);

	if (account_dying(a))
		return E_DYING;
	do {
		if (cur > max || pages > max - cur)
			return E_QUOTA;
	} while (!atomic_compare_exchange_weak_explicit(
		&a->tot_pages, &cur, cur + pages, memory_order_relaxed,
		memory_order_relaxed));
	return E_OK;
}

void account_uncharge(struct account *a, uint64_t pages)
{
	uint64_t old = atomic_fetch_sub_explicit(&a->tot_pages, pages,
						 memory_order_relaxed);

	ASSERT(old >= pages);
	(void)old;
}
