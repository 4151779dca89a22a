/* SPDX-License-Identifier: MIT */
/*
 * A broken heap case, on purpose: heap/leak keeps one kmalloc() object of
 * every run. Linked only into build/bench/heap/bench-leak, whose run
 * tools/test_bench_heap_bins.py expects to fail with the kmalloc
 * environment's report (bench/heap/kmalloc.c): a case that leaks must not
 * pass for a fast one.
 */
#include "bench/bench.h"
#include "kernel/mm/heap.h"

static const int64_t leak_sizes[] = { 64 };

static void heap_leak(struct bench_state *st)
{
	void *kept = kmalloc((size_t)bench_arg(st, 0), 0);

	while (bench_keep_running(st))
		bench_items(st, 1);
	if (kept == NULL)
		bench_error(st, "allocation failed");
}

static const struct bench_case heap_leak_case = {
	.name = "heap/leak",
	.run = heap_leak,
	.configs = (const char *const[]){ "kmalloc", NULL },
	.arg_name = "size",
	.args = leak_sizes,
	.nargs = 1,
};
BENCH_CASE(heap_leak_case);
