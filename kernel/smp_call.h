/* SPDX-License-Identifier: MIT */
/*
 * Cross-CPU calls. smp_call_all() and smp_call_cond() are declared in the
 * platform contract; this header is for the platforms, whose call IPI
 * handler runs smp_call_serve().
 */
#ifndef KERNEL_SMP_CALL_H
#define KERNEL_SMP_CALL_H

/* Run every call addressed to this CPU. Pre: interrupts masked. */
void smp_call_serve(void);

#endif /* KERNEL_SMP_CALL_H */
