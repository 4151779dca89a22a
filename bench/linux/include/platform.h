/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/*
 * The platform contract (kernel/platform_contract.h), as far as the
 * portable benchmark cases use it, for the Linux module: cases.c builds
 * bench/cases/frame_*.c and bench/heap/heap_cases.h unchanged against
 * this file instead of our kernel's or the host's. No Linux header but
 * linux/types.h comes in (see lx_bench.h); C11 atomics are GCC's
 * <stdatomic.h> (the cases.o rule adds GCC's include directory).
 */
#ifndef BENCH_LINUX_PLATFORM_H
#define BENCH_LINUX_PLATFORM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lx_bench.h"

#define MAX_CPUS LX_MAX_CPUS
#define PAGE_SIZE 4096u
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define CACHE_LINE 64
#define CACHE_ALIGNED __attribute__((aligned(CACHE_LINE)))
#define IS_POW2(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Our kernel's cycles(): the TSC, read as our kernel reads it. */
static inline uint64_t cycles(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline void cpu_spin(void)
{
	cpu_relax();
}

#endif
