/* SPDX-License-Identifier: MIT */
/*
 * Environment "zero" (bench.h, BENCH_ENV): the frame allocator in
 * configuration full, the frame cases that list it (repeat, bulk_alloc,
 * bulk_free, rand) allocating with FRAME_ZERO, every block zeroed as it
 * is handed out. What a kernel that zeroes every allocation pays: Linux
 * with init_on_alloc=1, its stock setting in most distributions, is what
 * the kernel's figures in this configuration compare with. Portable: both
 * harnesses run it (the kernel: bench=zero).
 *
 * Per benchmark: setup() sets the flags the cases allocate with
 * (frame_case_flags, frame_cases.h) to FRAME_ZERO, check() sets them back
 * to 0 (nothing else to check: the harness still compares the frames
 * allocated with what they were before setup(), frames_balance).
 */
#include "bench/cases/frame_cases.h"

unsigned frame_case_flags;

static bool zero_setup(void)
{
	frame_case_flags = FRAME_ZERO;
	return true;
}

static bool zero_check(void)
{
	frame_case_flags = 0;
	return true;
}

static const struct bench_env zero_env = {
	.name = "zero",
	.frame_config = "full",
	.setup = zero_setup,
	.check = zero_check,
	.frames_balance = true,
};
BENCH_ENV(zero_env);
