/* SPDX-License-Identifier: MIT */
/*
 * The kernel's RCU (the interface is the platform contract's RCU section;
 * the host implements it with liburcu, host/rcu.c). What the kernel's
 * arch code calls besides that interface.
 */
#ifndef LOCKS_QSBR_H
#define LOCKS_QSBR_H

#include <platform.h>

/*
 * This CPU's timer tick, in IRQ context: a quiescent state unless the tick
 * interrupted a read-side section; grace periods for this CPU's callbacks
 * are started and ended here, and the callbacks run here.
 */
void qsbr_tick(void);

/* Grace periods started since boot (the self-tests' progress check). */
uint64_t qsbr_grace_periods(void);

#endif /* LOCKS_QSBR_H */
