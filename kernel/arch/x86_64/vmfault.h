/* SPDX-License-Identifier: MIT */
/*
 * The page-fault hook of address spaces (kernel/mm/vmspace.h): a fault
 * in the user half of the CPU's active space, taken where interrupts
 * were enabled, is handed to vmspace_fault() (a demand region's first
 * touch, a copy-on-write page's first write) and the access runs again.
 */
#ifndef KERNEL_ARCH_X86_64_VMFAULT_H
#define KERNEL_ARCH_X86_64_VMFAULT_H

#include "kernel/lib/err.h"

/* Install the hook (boot). E_BUSY if another page-fault hook is in. */
MUST_CHECK err_t vmfault_init(void);

/* Remove it (a self-test that installs its own hook, then puts it back). */
void vmfault_fini(void);

/*
 * Around the kernel's own accesses to user pages: open and close them
 * under SMAP (stac/clac; nothing without SMAP). Faults inside go to the
 * hook; a user page touched outside such a window is a fatal fault.
 */
void user_access_begin(void);
void user_access_end(void);

#endif /* KERNEL_ARCH_X86_64_VMFAULT_H */
