/* SPDX-License-Identifier: MIT */
/*
 * The heap suite on the process's malloc()/free(), in environment
 * "malloc" (BENCH_ENV, bench/env.h). Host only. The environment boots the
 * memory system as configuration full does (frame allocator and kernel
 * heap) only because every run's CPUs use it (leaving drains their
 * caches); nothing here allocates frames, so they must balance.
 *
 * Which malloc that is, is decided at link time, one binary per library
 * (mk/bench_heap.mk: glibc, jemalloc, mimalloc), and checked at run time:
 * the JSON context's malloc_lib names the file that defines the malloc()
 * this process calls, and tools/bench_heap.py refuses a run whose library
 * is not the one it asked for.
 *
 * Why not all three in one process: linking libjemalloc or libmimalloc
 * replaces malloc() for the whole process (both export malloc and free,
 * and the dynamic linker binds every caller, libstdc++ and Google
 * Benchmark included, to the first definition). The prefixed entry points
 * do not avoid that: Debian's libmimalloc.so.2 defines mi_malloc and
 * malloc at the same address, and libjemalloc.so.2 exports malloc next to
 * mallocx, so linking either for its prefixed calls would silently make
 * the "glibc" baseline jemalloc or mimalloc. One binary per library
 * measures each the way programs use it: as the process's only malloc.
 */
#include <stdlib.h>

#include "bench/env.h"
#include "bench/heap/heap_cases.h"

static void *malloc_plain(size_t size)
{
	return malloc(size);
}

static bool free_ok(void *p)
{
	free(p);
	return true;
}

static const struct heap_backend malloc_backend = {
	.alloc = malloc_plain,
	.free = free_ok,
};

HEAP_CASES(malloc, "malloc", malloc_backend);

static const struct bench_env malloc_env = {
	.name = "malloc",
	.frame_config = "full",
	.frames_balance = true,
};
BENCH_ENV(malloc_env);
