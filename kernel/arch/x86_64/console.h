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
 * it may be the one that died) and other CPUs' output is dropped.
 */
void console_take_over(void);

#endif /* KERNEL_ARCH_X86_64_CONSOLE_H */
