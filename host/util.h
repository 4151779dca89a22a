/* SPDX-License-Identifier: MIT */
/*
 * Small helpers for host programs (tests, stress harnesses, benchmarks):
 * strict number parsing for command lines, a monotonic clock, and the
 * generator.
 */
#ifndef HOST_UTIL_H
#define HOST_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "kernel/lib/rng.h"

/*
 * s as an unsigned number in [lo, hi] (decimal, or 0x hex): the whole
 * string, no sign, no overflow. Returns false (and leaves *out) otherwise.
 */
static inline bool parse_u64(const char *s, uint64_t lo, uint64_t hi,
			     uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo ||
	    v > hi)
		return false;
	*out = v;
	return true;
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* HOST_UTIL_H */
