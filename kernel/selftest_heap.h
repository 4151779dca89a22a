/* SPDX-License-Identifier: MIT */
/*
 * The kernel heap's self-tests (kernel/selftest_heap.c), run by
 * selftest_run() in its table's order. Boot CPU, interrupts enabled, the
 * other CPUs idle; each returns whether it passed and logs why not.
 */
#ifndef KERNEL_SELFTEST_HEAP_H
#define KERNEL_SELFTEST_HEAP_H

#include <stdbool.h>
#include <stdint.h>

/* Refused frees change nothing; kmalloc's bad requests get NULL. */
bool selftest_heap_bad_input(void);

/*
 * Every CPU allocates and frees random sizes for run_ms, hands objects to
 * other CPUs to free, and its timer interrupt allocates and frees inside
 * whatever it interrupted; then everything is freed and reclaimed, and
 * the heap must be back to nothing held, every invariant intact.
 */
bool selftest_heap_torture(uint64_t run_ms);

/*
 * With every other CPU caching free objects and no frame left, CPU 0
 * still gets them: rescue drains the other CPUs' caches by IPI.
 */
bool selftest_heap_exhaustion_drains_remote_caches(void);

#endif /* KERNEL_SELFTEST_HEAP_H */
