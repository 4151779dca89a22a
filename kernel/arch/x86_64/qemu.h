/* SPDX-License-Identifier: MIT */
/*
 * Leaving QEMU: its isa-debug-exit device (iobase 0xf4, which the runner
 * adds) ends QEMU with status (value << 1) | 1 when a value is written.
 * tools/qemu-run.sh maps QEMU_EXIT_SUCCESS's status 33 to 0.
 */
#ifndef KERNEL_ARCH_X86_64_QEMU_H
#define KERNEL_ARCH_X86_64_QEMU_H

#include "kernel/lib/compiler.h"

#define QEMU_EXIT_PORT    0xf4
#define QEMU_EXIT_SUCCESS 0x10 /* QEMU exits with 33 */
#define QEMU_EXIT_FAILURE 0x11 /* QEMU exits with 35 */

NORETURN void qemu_exit(unsigned code);

#endif /* KERNEL_ARCH_X86_64_QEMU_H */
