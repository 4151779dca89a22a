/* SPDX-License-Identifier: MIT */
/*
 * The kernel's RCU self-tests (kernel/selftest_rcu.c), run by
 * selftest_run(). Boot CPU, interrupts enabled, the other CPUs idle; each
 * returns whether it passed and logs why not.
 */
#ifndef KERNEL_SELFTEST_RCU_H
#define KERNEL_SELFTEST_RCU_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A grace period begins and ends alone; and rcu_synchronize() on CPU 0
 * returns only after a section CPU 1 holds across several ticks ends.
 */
bool selftest_rcu_synchronize_waits_for_sections(void);

/* A callback runs only after a section running at its rcu_call() ends. */
bool selftest_rcu_callbacks_wait_for_sections(void);

/*
 * Every CPU reads a shared heap object inside sections (its timer
 * interrupt too) while every CPU replaces it and frees the old one by
 * rcu_call(): no reader ever sees a freed object; all are freed by
 * rcu_drain().
 */
bool selftest_rcu_torture(uint64_t run_ms);

#endif /* KERNEL_SELFTEST_RCU_H */
