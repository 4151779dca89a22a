/* SPDX-License-Identifier: MIT */
/*
 * The serial console (COM1): klog() and panic() of the platform contract
 * write here. One line at a time under the console lock, so lines from
 * different CPUs never interleave.
 */
#ifndef KERNEL_ARCH_X86_64_CONSOLE_H
#define KERNEL_ARCH_X86_64_CONSOLE_H

#include <stddef.h>

void console_init(void);

/* Write n bytes as they are (no newline added), under the console lock. */
void console_write(const char *s, size_t n);

/*
 * This CPU is dying: from now on it writes without the lock (whoever holds
 * it may be the one that died) and other CPUs' output is dropped. Every
 * other online CPU is stopped (an NMI; bounded wait), and qemu_exit() will
 * say how many stopped. A CPU that calls this while another is dying
 * never returns (it parks, printing nothing). Interrupts masked on return.
 */
void console_take_over(void);

/*
 * The NMI path: if another CPU is dying, park this one for good (never
 * returns); otherwise return, and the NMI is reported as an exception.
 */
void panic_nmi_stop(void);

/*
 * Test hook (fail=panic_all): the next CPU to win the console waits, up to
 * the stop's time limit, until another CPU has started dying too, so that
 * the concurrent panic is forced rather than hoped for.
 */
void console_panic_race_arm(void);

#endif /* KERNEL_ARCH_X86_64_CONSOLE_H */
