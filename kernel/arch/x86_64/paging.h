/* SPDX-License-Identifier: MIT */
/*
 * The kernel's page tables, built once at boot to replace the boot tables
 * (boot/boot.S). The kernel half (PML4 slots 256..511) is laid out:
 *
 *   slot 256..383  DIRECT_MAP_BASE: every RAM region of the memory map,
 *                  read-write, no-execute (2 MiB or 1 GiB pages where
 *                  aligned, write-back), but the image's text and rodata,
 *                  read-only there too (no writable alias of code); the
 *                  local APIC's page uncached (finding BOO-04), the AP
 *                  trampoline's page (written here, executed only through
 *                  the boot tables' identity map, so no-execute too)
 *   slot 510       KSTACK_AREA_BASE: kernel stacks with guard pages
 *                  (kstack.h): slots of KSTACK_SLOT_PAGES pages, each
 *                  stack mapped read-write no-execute at its slot's top,
 *                  the rest of the slot never mapped
 *   slot 511       KERNEL_BASE: the kernel image's sections, W^X (finding
 *                  4): text read-execute, rodata read-only no-execute,
 *                  data and bss read-write no-execute, but for the boot
 *                  stack's guard page (boot_stack_guard), left unmapped.
 *                  Nothing else of the image's 2 GiB is mapped.
 *
 * Every PML4 slot of the kernel half points to a PDPT from paging_init on
 * (PAGETABLE.md: preallocated, so that a kernel mapping made once is seen
 * by every table that copies the kernel half's PML4 entries, the boot
 * tables' stack-area slot included). The lower half is empty. Every leaf
 * of the kernel half has the Global bit (CR4.PGE is on: cpu.h), nothing
 * else has: not the boot tables, not table entries, not (future) user
 * mappings (BOO-01). No leaf is both writable and executable.
 *
 * Nothing is mapped over a present entry unless replacing is asked for
 * (WF-NO-OVERMAP). Table pages come from the frame API's early path,
 * typed PAGE_PAGETABLE (ALO-04/NOE-01), and are zeroed before they are
 * linked in.
 *
 * (The page-table layer with cursors, kernel/mm/pagetable, is its own
 * issue; this is only what booting needs.)
 *
 * The kernel half's layout:
 *   DIRECT_MAP_BASE   0xffff800000000000  the direct map of RAM (slot 256)
 *   PAGING_TEST_WINDOW 0xffffffffbf800000 4 x 2 MiB for self-tests (below)
 *   KERNEL_BASE       0xffffffff80000000  the kernel image (top 2 GiB)
 */
#ifndef KERNEL_ARCH_X86_64_PAGING_H
#define KERNEL_ARCH_X86_64_PAGING_H

#include "kernel/arch/x86_64/cpu.h"
#include "kernel/lib/err.h"
#include "kernel/mm/memmap.h"

/*
 * Build the tables and switch to them. Pre: the frame API's early path is
 * set up (frame_early_init) and serves memory below 4 GiB, which the boot
 * tables map; cpu_features_init() has run on this CPU (EFER.NXE).
 * E_NOMEM if tables cannot be allocated (nothing switched).
 */
MUST_CHECK err_t paging_init(const struct memmap *m, uint64_t lapic_phys);

/*
 * Self-tests map 2 MiB pages here (trap, probe and TLB tests): the top
 * 8 MiB of the kernel image's first GiB, whose page directory the image's
 * mapping made at boot, so a test maps and remaps without allocating
 * table pages. Nothing else may use it.
 */
#define PAGING_TEST_WINDOW       (KERNEL_BASE + (UINT64_C(1) << 30) - \
				  PAGING_TEST_WINDOW_SLOTS * PAGING_TEST_SLOT)
#define PAGING_TEST_SLOT         (UINT64_C(1) << 21)
#define PAGING_TEST_WINDOW_SLOTS 4

enum paging_mode {
	PAGING_NEW,     /* every page of the range must be unmapped */
	PAGING_REPLACE, /* present pages of the range are overwritten */
};

/*
 * Map [va, va + len) to [pa, pa + len) in the kernel's tables with the
 * attribute bits flags (PTE_W, PTE_PWT, PTE_PCD, PTE_G, PTE_NX), in the
 * largest pages that alignment allows.
 *   E_BUSY   (WF-NO-OVERMAP) part of the range is mapped and mode is
 *            PAGING_NEW; or, in either mode, a page would go inside a
 *            larger page mapped there (that would need a split)
 *   E_INVAL  va, pa or len not 4 KiB aligned, len 0, other flag bits,
 *            PTE_G in the lower half (BOO-01)
 *   E_RANGE  the range leaves its canonical half, or pa beyond 52 bits
 *   E_STATE  before paging_init made the root
 *   E_NOMEM  a table page could not be allocated (then, alone among the
 *            errors, part of the range may be mapped)
 * Any other error changes nothing: the whole range is checked first.
 * Replacing flushes this CPU's TLB only. Not thread-safe: one CPU at a
 * time, at boot and in self-tests (the page-table layer brings locks and
 * shootdown).
 */
MUST_CHECK err_t paging_map(uint64_t va, uint64_t pa, uint64_t len,
			    uint64_t flags, enum paging_mode mode);

/*
 * The leaf entry that maps va in the kernel's tables, with the size of
 * its page in *size; 0 if va is unmapped (*size then unchanged).
 */
uint64_t paging_entry(uint64_t va, uint64_t *size);

/* Physical address of the kernel's PML4 (for CR3). */
uint64_t paging_root(void);

/*
 * Check the live tables (this CPU's CR3) against what paging_init
 * promised: CR3 is the kernel's root; the lower half is empty (the boot
 * identity map is gone); every kernel-half PML4 slot has its PDPT; every
 * kernel-half leaf has the Global bit and nothing else has (BOO-01), in
 * these tables or in the boot tables the APs start on (but for the slot
 * they share with these); no leaf is writable and executable; the image's
 * text is read-execute, rodata read-only no-execute, data and bss
 * read-write no-execute, the boot stack's guard page unmapped, nothing
 * below text mapped; every page of direct-mapped RAM translates to its
 * own address, no-execute, writable but for text and rodata; the local
 * APIC's page is uncached (BOO-04) and no-execute; every table page is
 * typed PAGE_PAGETABLE in the frame table. Logs the first problem found.
 * Any CPU (only reads).
 */
bool paging_validate(void);

#endif /* KERNEL_ARCH_X86_64_PAGING_H */
