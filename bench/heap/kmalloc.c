/* SPDX-License-Identifier: MIT */
/*
 * The heap suite on the kernel heap: kmalloc()/kfree() (kernel/mm/heap.h),
 * in environment "kmalloc" (BENCH_ENV, bench/env.h): the frame allocator
 * in its full configuration, which on the host boots the heap with it
 * (host_mm_boot(): heap_init() after frame_init(), as the kernel boots
 * them; host_mm_shutdown() calls heap_fini()). Host only (the
 * environment; the cases themselves are portable).
 *
 * Before the next benchmark boots afresh, every object must have been
 * freed and heap_validate() must pass. The frame count is not compared:
 * the heap keeps an empty slab per class, and its emergency reserves,
 * between runs (HEP-02, HEP-03).
 */
#include <stdio.h>

#include "bench/env.h"
#include "bench/heap/heap_cases.h"
#include "kernel/mm/heap.h"

static void *kmalloc_plain(size_t size)
{
	return kmalloc(size, 0);
}

static bool kfree_ok(void *p)
{
	return kfree(p) == E_OK;
}

static const struct heap_backend kmalloc_backend = {
	.alloc = kmalloc_plain,
	.free = kfree_ok,
};

HEAP_CASES(kmalloc, "kmalloc", kmalloc_backend);

/* Objects and large blocks still handed out. */
static uint64_t heap_live(void)
{
	struct heap_stats st;
	uint64_t live;

	heap_get_stats(&st);
	live = st.large_blocks;
	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		live += st.cls[c].in_use;
	return live;
}

static bool kmalloc_check(void)
{
	uint64_t live = heap_live();

	if (live != 0) {
		fprintf(stderr, "bench: kmalloc: the last benchmark leaked "
			"%llu objects\n", (unsigned long long)live);
		return false;
	}
	if (!heap_validate()) {
		fprintf(stderr, "bench: kmalloc: the heap is inconsistent "
			"after the last benchmark's runs\n");
		return false;
	}
	return true;
}

static const struct bench_env kmalloc_env = {
	.name = "kmalloc",
	.frame_config = "full",
	.check = kmalloc_check,
	.frames_balance = false,
};
BENCH_ENV(kmalloc_env);
