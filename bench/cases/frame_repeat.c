/* SPDX-License-Identifier: MIT */
/*
 * frame/repeat: each thread allocates one block and frees it, again (LLFree
 * "repeat", NBBS "cached allocation"): the fast path, and with several
 * threads, how it scales when nobody shares anything.
 */
#include "bench/cases/frame_cases.h"

static void frame_repeat(struct bench_state *st)
{
	frame_repeat_loop(st, (unsigned)bench_arg(st, 0), frame_case_flags);
}

FRAME_CASE(frame_repeat_case, "frame/repeat", frame_repeat,
	   FRAME_ZERO_CONFIGS);
