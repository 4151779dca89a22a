/* SPDX-License-Identifier: MIT */
/*
 * Cross-CPU calls. smp_call_all() and smp_call_cond() are declared in the
 * platform contract; this header is for the platforms, whose call IPI
 * handler runs smp_call_serve().
 */
#ifndef KERNEL_SMP_CALL_H
#define KERNEL_SMP_CALL_H

#include <stdint.h>

/* Run every call addressed to this CPU. Pre: interrupts masked. */
void smp_call_serve(void);

/*
 * The watchdog (smp_call.c): how long, in cycles(), a caller waits before
 * it names the targets that have not answered. About a second at 3 GHz.
 */
#define SMP_CALL_WATCHDOG_CYCLES (UINT64_C(3) << 30)

/* Set the watchdog's first limit (tests); returns the previous one. */
uint64_t smp_call_set_watchdog(uint64_t limit);

/* How many watchdog reports callers have made so far (tests). */
uint64_t smp_call_watchdog_reports(void);

#endif /* KERNEL_SMP_CALL_H */
