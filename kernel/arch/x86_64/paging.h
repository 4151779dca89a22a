/* SPDX-License-Identifier: MIT */
/*
 * The kernel's page tables, built once at boot to replace the boot tables
 * (boot/boot.S): the direct map of every RAM region of the memory map
 * (2 MiB or 1 GiB pages where aligned, write-back), the kernel image at
 * KERNEL_BASE, the local APIC's page uncached (finding BOO-04), and the AP
 * trampoline's page. No Global bit (finding BOO-01). Table pages come from
 * the frame API's early path, typed PAGE_PAGETABLE (ALO-04/NOE-01), and
 * are zeroed before they are linked in.
 *
 * (The page-table layer with cursors, kernel/mm/pagetable, is its own
 * issue; this is only what booting needs.)
 */
#ifndef KERNEL_ARCH_X86_64_PAGING_H
#define KERNEL_ARCH_X86_64_PAGING_H

#include "kernel/lib/err.h"
#include "kernel/mm/memmap.h"

/*
 * Build the tables and switch to them. Pre: the frame API's early path is
 * set up (frame_early_init) and serves memory below 4 GiB, which the boot
 * tables map. E_NOMEM if tables cannot be allocated (nothing switched).
 */
MUST_CHECK err_t paging_init(const struct memmap *m, uint64_t lapic_phys,
			     uint64_t image_end_phys);

/* Physical address of the kernel's PML4 (for CR3). */
uint64_t paging_root(void);

/*
 * Check the live tables (this CPU's CR3) against what paging_init
 * promised: CR3 is the kernel's root; the lower half is empty (the boot
 * identity map is gone); no entry has the Global bit (BOO-01); every page
 * of direct-mapped RAM translates to its own address, writable; the local
 * APIC's page is uncached (BOO-04); every table page is typed
 * PAGE_PAGETABLE in the frame table. Logs the first problem found.
 */
bool paging_validate(void);

#endif /* KERNEL_ARCH_X86_64_PAGING_H */
