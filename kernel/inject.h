/* SPDX-License-Identifier: MIT */
/*
 * Failures injected on purpose (kernel command line fail=NAME), so that
 * tools/test-kernel.sh can check two things: that the runner reports each
 * kind of death as a failure, for the right reason, and that a protection
 * holds (a write to text, an overflow into a guard page... must end in the
 * exception report, not in "fail=NAME did not fail"). The names and what
 * each does are the table in inject.c.
 */
#ifndef KERNEL_INJECT_H
#define KERNEL_INJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel/lib/compiler.h"

struct injection;

/* The injection called name[0 .. n), or NULL if there is none. */
const struct injection *inject_find(const char *name, size_t n);

/* Its name, as fail= takes it. */
const char *inject_name(const struct injection *i);

/*
 * Whether the injection is fail=test, which the self-tests carry out
 * themselves (every_cpu_online expects one CPU more than there is).
 */
bool inject_is_selftest_failure(const struct injection *i);

/*
 * Whether the injection fails a benchmark (fail=bench_*): it does nothing
 * without bench=.
 */
bool inject_is_bench_failure(const struct injection *i);

/* Every name, '|' between them, into buf (truncated to size, terminated). */
void inject_names(char *buf, size_t size);

/*
 * Fail as i says. Boot CPU, after every CPU is up, interrupts enabled.
 * Returns only for fail=test and the bench_* injections, whose failure
 * comes later (in the self-tests, in the benchmarks); for the others, a
 * failure to fail is a panic ("fail=NAME did not fail").
 */
void inject_run(const struct injection *i);

#endif /* KERNEL_INJECT_H */
