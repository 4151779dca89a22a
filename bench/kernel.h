/* SPDX-License-Identifier: MIT */
/*
 * The in-kernel benchmark harness (bench/kernel.c): the kernel command
 * line's bench= mode. kernel/main.c parses the options and calls
 * kbench_run() once every CPU is online.
 */
#ifndef BENCH_KERNEL_H
#define BENCH_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/run.h" /* BENCH_REPS_MAX: bench_reps='s limit */

struct kbench_opts {
	const char *config;   /* the configuration booted (NUL-terminated):
				 a frame configuration, or an environment
				 (bench.h); the cases that list it run */
	uint64_t min_ns;      /* a measured run lasts at least this long */
	unsigned reps;        /* repetitions per benchmark, >= 1 */
	uint64_t lat_every;   /* time one iteration in this many (a power
				 of two; 1: every operation) */
	const char *filter;   /* only names containing filter[0..filter_len) */
	size_t filter_len;    /* 0: every benchmark */
};

/*
 * The frame configuration that the environment (bench.h) named
 * name[0..n) boots, or NULL if no environment has that name (a frame
 * configuration's name is none). For bench=NAME.
 */
const char *kbench_frame_config(const char *name, size_t n);

/*
 * The environments' names, "a|b", into buf (size bytes, NUL-terminated,
 * cut short if it is too small); returns the length. For messages.
 */
size_t kbench_env_names(char *buf, size_t size);

#define KBENCH_MIN_MS_DEFAULT 100
#define KBENCH_REPS_DEFAULT 3

/*
 * Run every benchmark on all online CPUs and print the results on the
 * console (the protocol is at the top of bench/kernel.c). Returns whether
 * every benchmark ran and passed its checks, and at least one ran. Boot
 * CPU, process context, interrupts enabled, the other CPUs idle.
 */
bool kbench_run(const struct kbench_opts *o);

/*
 * Test hooks (kernel command line fail=bench_leak, fail=bench_error;
 * kernel/inject.c): in the first benchmark, the last CPU keeps one frame
 * after each run's body, or calls bench_error() before it. The harness
 * must fail that benchmark, and only that one (tools/test-kernel.sh).
 */
enum kbench_fault { KBENCH_FAULT_NONE, KBENCH_FAULT_LEAK, KBENCH_FAULT_ERROR };
void kbench_inject(enum kbench_fault f);

#endif /* BENCH_KERNEL_H */
