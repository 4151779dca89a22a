/* SPDX-License-Identifier: MIT */
/*
 * What the page-table cases share: the tables their environment makes
 * (pt_env.c), the configurations, and where each thread's range lies.
 * Portable: bench.h, the page-table API and the platform contract only.
 */
#ifndef BENCH_CASES_PT_CASES_H
#define BENCH_CASES_PT_CASES_H

#include <platform.h>

#include "bench/bench.h"
#include "kernel/mm/cursor.h"

/*
 * The page-table configurations (environments, pt_env.c): the same user
 * table with per-node locks (the tree protocol, PT_LOCK_TREE) and with one
 * lock for the whole table (PT_LOCK_SPACE: the baseline BENCHMARKS.md
 * asks for), both on the frame allocator's configuration full.
 */
#define BENCH_PT_CONFIGS ((const char *const[]){ "tree", "space", NULL })

/*
 * The tables the cases work on. [The environment's setup() makes them
 * and its check() destroys them, each on one CPU while no body runs;
 * bodies only make cursors on user] A user table, locked as the
 * configuration says, whose upper half is kernel's (a kernel table,
 * PT_LOCK_TREE). Neither is ever loaded into CR3: the cases exercise the
 * cursors and the tables, not the MMU (so no TLB ever holds their
 * translations: pt_map_unmap.c's flush hook).
 */
struct pt_bench {
	struct pagetable kernel;
	struct pagetable user;
	bool made; /* setup() made both; check() has not destroyed them */
};

extern struct pt_bench pt_bench;

/*
 * Thread t's range starts at pt_thread_base(t): 1 GiB apart, so that
 * every thread has a page directory of its own and the lowest node that
 * covers any of its ranges (a cursor's top, cursor.c) is its own. What
 * threads share is the root and one PDPT, which a cursor crosses without
 * locks. Above the first GiB, so that no range starts at address 0.
 */
#define PT_THREAD_STRIDE (UINT64_C(1) << 30)

static inline uint64_t pt_thread_base(unsigned t)
{
	return (uint64_t)(t + 1) * PT_THREAD_STRIDE;
}

_Static_assert((uint64_t)(MAX_CPUS + 1) * PT_THREAD_STRIDE <= PT_USER_END,
	       "every CPU's range fits in the user half");

#endif /* BENCH_CASES_PT_CASES_H */
