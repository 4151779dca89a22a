/* SPDX-License-Identifier: MIT */
/*
 * What the page-table test binaries share (test_pagetable,
 * test_pagetable_review, test_vmspace): sizes, frames for tracked
 * mappings, and the fixture of the first two: a fresh 64 MiB machine
 * (heap_support.h) with a kernel table and a user table over it, whose
 * teardown checks both, destroys them, drains RCU and requires every
 * frame back. Header-only, static inline, like heap_support.h.
 */
#ifndef TESTS_PT_SUPPORT_H
#define TESTS_PT_SUPPORT_H

#include <unistd.h>

#include "kernel/mm/cursor.h"
#include "tests/heap_support.h"

#define KIB (UINT64_C(1) << 10)
#define P4K (4 * KIB)
#define P2M (2 * MIB)
#define GIB (UINT64_C(1) << 30)

/* A frame of 2^order pages for a tracked mapping: its only reference
 * goes to the leaf (map, then put ours). */
static inline paddr_t new_frame(unsigned order)
{
	struct frame_result r = frame_alloc(order, 0);

	assert_int_equal(r.err, E_OK);
	return pfn_to_pa(r.pfn);
}

static inline struct page *page_of(paddr_t pa)
{
	return pfn_to_page(pa_to_pfn(pa));
}

/* The block at p is free (in a page cache or the buddy). */
static inline bool is_free(const struct page *p)
{
	uint64_t st = page_state(p);

	return ps_ref(st) == 0 || !page_usage_allocatable(ps_usage(st));
}

static inline void put_ours(paddr_t pa)
{
	assert_int_equal(frame_put(page_of(pa)), E_OK);
}

/* ------------------------------------------- the two-table fixture */

static struct pagetable kpt, upt;
static uint64_t frames_at_start;

/* cmocka setup: a fresh machine, a kernel table, a user table over it;
 * a test that hangs dies in 60 s (the binary's SIGALRM handler). */
static inline int pt_setup(void **state)
{
	hang_watchdog_arm(60);
	if (setup(state) != 0)
		return -1;
	frames_at_start = free_frames();
	if (pt_create(&kpt, PT_KERNEL, NULL, PT_LOCK_TREE) != E_OK ||
	    pt_create(&upt, PT_USER, &kpt, PT_LOCK_TREE) != E_OK)
		return -1;
	return 0;
}

static inline int pt_teardown(void **state)
{
	bool ok = pt_validate(&upt, &kpt) && pt_validate(&kpt, NULL);

	hang_watchdog_arm(0);
	pt_destroy(&upt);
	pt_destroy(&kpt);
	rcu_drain();
	(void)heap_reclaim(); /* the dead nodes' lists were heap objects */
	pcp_drain_local();
	if (!ok || free_frames() != frames_at_start) {
		print_error("teardown: tables %s, %llu frames free, %llu at "
			    "the start\n", ok ? "valid" : "INVALID",
			    (unsigned long long)free_frames(),
			    (unsigned long long)frames_at_start);
		(void)teardown(state); /* the next test boots afresh */
		return -1;
	}
	return teardown(state);
}

#endif /* TESTS_PT_SUPPORT_H */
