/* SPDX-License-Identifier: MIT */
/*
 * Pause points: named places in concurrent code where a test can take
 * control, to force an interleaving every time instead of hoping for it.
 *
 *     PAUSE("buddy.empty_word.cleared");
 *
 * marks a point between two atomic steps. In builds with
 * CONFIG_PAUSE_POINTS (host debug builds: normal, tsan, asan) it calls the
 * hook a test installed, if any, with the point's name; elsewhere (the
 * kernel, benchmarks) it compiles to nothing.
 *
 * Contract of the hook (pause_set_hook()):
 *  - it runs on the thread that reached the point, in whatever context
 *    that thread is in (interrupts masked, inside an IRQ handler, holding
 *    a lock), so it may only do what that context allows;
 *  - typical hooks: raise an interrupt on the current CPU at this very
 *    instruction (host_irq_raise_self()), or block the thread until the
 *    test releases it while other threads run;
 *  - it is called for every point on every thread: it filters by name (and
 *    by CPU), and must tolerate being reached again from what it runs.
 *
 * Naming: "<file>.<function or step>.<where>", lower case, so that a
 * failing test names the exact step (the list: grep -rn 'PAUSE("').
 *
 * Replaying: a pause-point test is deterministic: the same hook fires at
 * the same step on every run, in every build that has the points.
 */
#ifndef KERNEL_LIB_PAUSE_H
#define KERNEL_LIB_PAUSE_H

#include "kernel/config.h"
#include "kernel/lib/compiler.h"

#if CONFIG_PAUSE_POINTS

#include <stdatomic.h>

typedef void (*pause_fn)(const char *point, void *arg);

/* [a] the installed hook (NULL: none) and its argument. */
extern _Atomic(pause_fn) pause_hook_fn;
extern void *_Atomic pause_hook_arg;

/*
 * Install fn(point, arg) as the hook (NULL: remove it). Not while another
 * thread may be inside the hook or about to enter it. Host only (tests).
 */
void pause_set_hook(pause_fn fn, void *arg);

static inline void pause_point(const char *point)
{
	/* Acquire pairs with the release in pause_set_hook(). */
	pause_fn fn = atomic_load_explicit(&pause_hook_fn, memory_order_acquire);

	if (unlikely(fn != NULL))
		fn(point, atomic_load_explicit(&pause_hook_arg,
					       memory_order_relaxed));
}

#define PAUSE(point) pause_point(point)

#else

#define PAUSE(point) ((void)0)

#endif /* CONFIG_PAUSE_POINTS */

#endif /* KERNEL_LIB_PAUSE_H */
