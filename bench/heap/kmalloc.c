/* SPDX-License-Identifier: MIT */
/*
 * The heap suite on the kernel heap: kmalloc()/kfree() (kernel/mm/heap.h),
 * in environment "kmalloc" (bench.h, BENCH_ENV): the frame allocator in
 * its full configuration, with the heap on it (the host: host_mm_boot(),
 * heap_init() after frame_init() as the kernel boots them, and
 * host_mm_shutdown() calls heap_fini(); the kernel: the heap it booted
 * with). Portable: the host's heap binaries and the kernel (bench=kmalloc)
 * both run it.
 *
 * Per benchmark: setup() counts the objects the heap has handed out (the
 * host: none, a fresh heap; the kernel: its own, such as the per-CPU
 * areas); check() requires the same count again (a case freed every
 * object it took) and heap_validate() to pass. The frames are not
 * required to balance (frames_balance false): the heap keeps an empty
 * slab per class, CPU caches of free objects and its emergency reserves
 * between runs (HEP-02, HEP-03). The host, booting afresh for every
 * benchmark, compares no frames; the kernel compares the frames
 * allocated less the heap's (frames_held: every slab and large block,
 * exact when no CPU is inside the heap), so that a frame a case keeps
 * outside the heap is still a leak.
 */
#include <platform.h>

#include "bench/bench.h"
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

/* Objects and large blocks handed out (heap_get_stats(): exact at rest). */
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

/* [one CPU, no body running] heap_live() at setup() */
static uint64_t live_before;

static bool kmalloc_setup(void)
{
	live_before = heap_live();
	return true;
}

static bool kmalloc_check(void)
{
	uint64_t live = heap_live();

	if (live != live_before) {
		klog("bench: kmalloc: the last benchmark leaked %lld objects",
		     (long long)(live - live_before));
		return false;
	}
	if (!heap_validate()) {
		klog("bench: kmalloc: the heap is inconsistent after the last "
		     "benchmark's runs");
		return false;
	}
	return true;
}

/*
 * The frames the heap holds: its slabs (objects live, cached or free)
 * and large blocks. heap_get_stats() counts a slab from its publication
 * to its unlinking and a large block from its allocation to its free,
 * each under the lock or counter that changes with it: exact when no CPU
 * is inside the heap.
 */
static uint64_t kmalloc_frames_held(void)
{
	struct heap_stats st;

	heap_get_stats(&st);
	return st.bytes / PAGE_SIZE;
}

static const struct bench_env kmalloc_env = {
	.name = "kmalloc",
	.frame_config = "full",
	.setup = kmalloc_setup,
	.check = kmalloc_check,
	.frames_balance = false,
	.frames_held = kmalloc_frames_held,
};
BENCH_ENV(kmalloc_env);
