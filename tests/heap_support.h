/* SPDX-License-Identifier: MIT */
/*
 * What the heap's test binaries share (test_heap, test_heap_review): a
 * 64 MiB machine booted fresh for every test, the frame and heap counters,
 * taking every frame, a store of held objects, and interrupts raised at a
 * pause point. Header-only (each binary includes it once), so the helpers
 * are static inline.
 */
#ifndef TESTS_HEAP_SUPPORT_H
#define TESTS_HEAP_SUPPORT_H

#include "kernel/mm/heap.h"
#include "kernel/mm/slab.h"
#include "percpu/pcp.h"
#include "tests/support.h"

#define MIB (UINT64_C(1) << 20)
#define RAM (64 * MIB)
#define C16 1u  /* the 16-byte class */
#define C64 4u  /* the 64-byte class */
#define C2K 14u /* the 2048-byte class */

static const struct frame_config heap_test_config = FRAME_CONFIG_FULL;

/* cmocka setup and teardown: a fresh machine, this thread its CPU. */
static inline int setup(void **state)
{
	(void)state;
	if (host_arena_init(RAM) != E_OK || host_cpu_register() < 0)
		return -1;
	return host_mm_boot(RAM, &heap_test_config) == E_OK ? 0 : -1;
}

static inline int teardown(void **state)
{
	(void)state;
	pause_reset();
	if (host_irq_set_handler(HOST_IRQ_TEST, NULL) != E_OK)
		return -1;
	host_mm_shutdown();
	host_cpu_unregister();
	host_arena_fini();
	return 0;
}

static inline uint64_t free_frames(void)
{
	struct frame_stats st;

	frame_get_stats(&st);
	return st.free;
}

static inline struct heap_stats stats(void)
{
	struct heap_stats st;

	heap_get_stats(&st);
	return st;
}

/* Take every frame the allocator has; returns how many. */
static pfn_t hoard[RAM / PAGE_SIZE];

static inline unsigned exhaust_frames(void)
{
	unsigned n = 0;
	struct frame_result r;

	while ((r = frame_alloc(0, 0)).err == E_OK)
		hoard[n++] = r.pfn;
	assert_int_equal(r.err, E_NOMEM);
	return n;
}

static inline void release_frames(unsigned n)
{
	while (n > 0)
		assert_int_equal(frame_free(hoard[--n], 0), E_OK);
}

/* Objects a test holds: held[0..n) are freed by free_held(n). */
#define HOLD 4096
static void *held[HOLD];

static inline void free_held(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(kfree(held[i]), E_OK);
}

/*
 * Interrupts at chosen steps: irq_at(point, skip, fn) makes an interrupt
 * arrive on this CPU when it reaches a pause point (kernel/lib/pause.h)
 * for the (skip + 1)-th time, with fn its handler; irq_at_done() removes
 * both and checks it fired.
 */
static inline void irq_here(void *arg)
{
	(void)arg;
	CHECK(host_irq_raise_self(HOST_IRQ_TEST) == E_OK);
}

static inline void irq_at(const char *point, unsigned skip,
			  host_irq_handler_t fn)
{
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TEST, fn), E_OK);
	pause_arm(0, point, skip, (int)cpu_id(), irq_here, NULL);
}

static inline void irq_at_done(void)
{
	bool fired = pause_fired(0);

	pause_reset();
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TEST, NULL), E_OK);
	assert_true(fired);
	assert_no_check_failures();
}

#endif /* TESTS_HEAP_SUPPORT_H */
