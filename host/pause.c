/* SPDX-License-Identifier: MIT */
/*
 * The pause-point hook (kernel/lib/pause.h) for host builds.
 */
#include "kernel/lib/pause.h"

#if CONFIG_PAUSE_POINTS

_Atomic(pause_fn) pause_hook_fn;
void *_Atomic pause_hook_arg;

void pause_set_hook(pause_fn fn, void *arg)
{
	atomic_store_explicit(&pause_hook_fn, NULL, memory_order_relaxed);
	atomic_store_explicit(&pause_hook_arg, arg, memory_order_relaxed);
	/* Release: the argument is written before the hook is seen. */
	atomic_store_explicit(&pause_hook_fn, fn, memory_order_release);
}

#endif
