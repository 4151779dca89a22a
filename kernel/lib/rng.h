/* SPDX-License-Identifier: MIT */
/*
 * xorshift64*: a fast, deterministic pseudo-random generator for tests,
 * stress harnesses and benchmarks (kernel and host). The seed must not be 0.
 */
#ifndef KERNEL_LIB_RNG_H
#define KERNEL_LIB_RNG_H

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

#endif /* KERNEL_LIB_RNG_H */
