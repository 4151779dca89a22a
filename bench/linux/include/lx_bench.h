/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/*
 * What the two halves of the Linux module share: the portable cases'
 * side (cases.c, which sees only the shims under bench/linux/include:
 * <platform.h>, "kernel/mm/frame.h") and the Linux side (glue.c,
 * harness.c, which see Linux's headers). Only linux/types.h types here,
 * so that both can include it: Linux's own pfn_t and our pfn_t must
 * never meet in one translation unit.
 */
#ifndef BENCH_LINUX_LX_BENCH_H
#define BENCH_LINUX_LX_BENCH_H

#include <linux/types.h>

struct bench_case;

/* Our error values, as far as the cases use them (kernel/lib/err.h). */
enum err {
	E_OK = 0,
	E_INVAL,
	E_NOMEM,
};

/* A frame number (kernel/types.h's pfn_t, same layout). */
struct lx_pfn {
	u64 v;
};

struct frame_result {
	enum err err;
	struct lx_pfn pfn;
};

/* frame_alloc() zeroes the block (kernel/mm/frame.h): __GFP_ZERO. */
#define FRAME_ZERO (1u << 0)

/*
 * The frame API over the page allocator (glue.c): alloc_pages(GFP_KERNEL,
 * order) and __free_pages(), the page's frame number in between.
 */
struct frame_result frame_alloc(unsigned order, unsigned flags);
enum err frame_free(struct lx_pfn pfn, unsigned order);
const char *err_name(enum err e);

/* kmalloc(size, GFP_KERNEL) and kfree() (glue.c): the heap cases' backend. */
void *lx_kmalloc(size_t size);
bool lx_kfree(void *p);

/* The cases this module runs (cases.c), in order, and how many. */
extern const struct bench_case *const lx_cases[];
extern const unsigned lx_ncases;

/* The most CPUs a run may have: the cases' per-CPU arrays (platform.h). */
#define LX_MAX_CPUS 64

#endif
