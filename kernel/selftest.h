/* SPDX-License-Identifier: MIT */
/*
 * In-kernel self-tests, run after boot with every CPU online. Each test
 * prints one line (PASS or FAIL with the reason, and how long it took);
 * the run ends with the line "selftest: N passed, N failed".
 */
#ifndef KERNEL_SELFTEST_H
#define KERNEL_SELFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct selftest_opts {
	unsigned expected_cpus; /* CPUs the firmware listed: all must be up */
	uint64_t torture_ms;    /* length of the all-CPU frame torture */
	uint64_t boot_allocated; /* frames boot allocated for good (page
				    tables, AP stacks): all that may stay
				    allocated after the tests */
	const char *only;       /* if not NULL: run only the test of this */
	size_t only_len;        /* name (only_len chars, not terminated) */
};

/*
 * Run every test (or the one opts->only names; none by that name is a
 * failure). Boot CPU, interrupts enabled, every other CPU idle in
 * smp_run_all()'s loop, no timer hook set. Returns whether all passed.
 */
bool selftest_run(const struct selftest_opts *o);

#endif /* KERNEL_SELFTEST_H */
