// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * The benchmark cases the Linux module runs: our own case files,
 * compiled unchanged against the shims in bench/linux/include (so the
 * loops, batch sizes, holdings, timing points and dealing of frees are
 * exactly those our kernel runs), plus the heap cases over kmalloc() and
 * kfree().
 *
 * Registration: on our kernel and the host, BENCH_CASE() puts a pointer
 * into the linker section bench_cases, which the harness walks from
 * __start_bench_cases; a module is linked relocatable, where the linker
 * defines no such symbols. So BENCH_CASE() is redefined here to nothing,
 * before the case files come in, and lx_cases[] names the cases instead.
 */
#include "bench/bench.h"

#undef BENCH_CASE
#define BENCH_CASE(c)

#include "bench/cases/frame_repeat.c"
#include "bench/cases/frame_bulk.c"
#include "bench/cases/frame_rand.c"
#include "bench/heap/heap_cases.h"

/*
 * The flags the frame cases allocate with (frame_cases.h): 0 in both
 * Linux configurations. Zeroing is the kernel's: init_on_alloc=1 zeroes
 * every allocation in linux_zero (bench/cases/zero_env.c sets
 * FRAME_ZERO on our kernel instead).
 */
unsigned frame_case_flags;

static void *slub_alloc(size_t size)
{
	return lx_kmalloc(size);
}

static bool slub_free(void *p)
{
	return lx_kfree(p);
}

static const struct heap_backend slub_backend = {
	.alloc = slub_alloc,
	.free = slub_free,
};

/* Every configuration name: the module runs its cases in whichever it is booted as. */
HEAP_CASES(slub, "linux", slub_backend);

const struct bench_case *const lx_cases[] = {
	&frame_repeat_case,
	&frame_bulk_alloc_case,
	&frame_bulk_free_case,
	&frame_rand_case,
	&slub_repeat_case,
	&slub_bulk_case,
	&slub_pc_case,
};
const unsigned lx_ncases = ARRAY_SIZE(lx_cases);
