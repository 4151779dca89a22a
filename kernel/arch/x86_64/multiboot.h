/* SPDX-License-Identifier: MIT */
/*
 * The multiboot (v1) information the boot loader passes: its memory map
 * becomes the kernel's struct memmap, with the kernel image, the boot
 * modules, the information itself and the first MiB reserved.
 */
#ifndef KERNEL_ARCH_X86_64_MULTIBOOT_H
#define KERNEL_ARCH_X86_64_MULTIBOOT_H

#include <stddef.h>

#include "kernel/lib/err.h"
#include "kernel/mm/memmap.h"

#define MULTIBOOT_MAGIC 0x2badb002u

/*
 * Fill m from the information at physical address info_pa (reachable
 * through the boot tables) and copy the command line into cmdline.
 * Entries the loader got wrong (overflowing, zero-length) are reported
 * and skipped, never merged in.
 *   E_INVAL  magic is not a multiboot loader's, or there is no memory map
 *   E_NOMEM  the map has no usable memory
 *   E_NOSPC  the command line does not fit in cap bytes (cmdline "")
 */
MUST_CHECK err_t multiboot_parse(uint32_t magic, uint64_t info_pa,
				 uint64_t image_start, uint64_t image_end,
				 struct memmap *m, char *cmdline, size_t cap);

#endif /* KERNEL_ARCH_X86_64_MULTIBOOT_H */
