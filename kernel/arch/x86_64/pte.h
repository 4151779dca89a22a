/* SPDX-License-Identifier: MIT */
/*
 * x86-64 page-table entries (Intel SDM Vol. 3A, 4.5, 4-level paging): the
 * one definition of their fields, and the only functions that compose
 * entries. The boot tables' builder (paging.c) and the page-table layer
 * (kernel/mm/pagetable.c, portable: on the host the same format is walked
 * by software) both write entries through pte_table() and pte_leaf().
 *
 * Levels count from the leaves: 1 is a page table (PT, 4 KiB leaves), 2 a
 * page directory (2 MiB leaves with PS), 3 a PDPT (1 GiB leaves with PS),
 * 4 the PML4 (no leaves). Pure C: no asm here, so the host can use it.
 */
#ifndef KERNEL_ARCH_X86_64_PTE_H
#define KERNEL_ARCH_X86_64_PTE_H

#include <stdbool.h>
#include <stdint.h>

typedef uint64_t pte_t;

#define PT_LEVELS     4u
#define PT_ENTRIES    512u
#define PT_INDEX_BITS 9u
#define PT_PAGE_SHIFT 12u

/* Hardware fields (SDM Table 4-14 to 4-20). */
#define PTE_P    (UINT64_C(1) << 0)  /* present: its own bit (MOM-04) */
#define PTE_W    (UINT64_C(1) << 1)  /* writable */
#define PTE_U    (UINT64_C(1) << 2)  /* user-accessible */
#define PTE_PWT  (UINT64_C(1) << 3)  /* write-through */
#define PTE_PCD  (UINT64_C(1) << 4)  /* cache disable */
#define PTE_A    (UINT64_C(1) << 5)  /* accessed: set by the CPU */
#define PTE_D    (UINT64_C(1) << 6)  /* dirty (leaves): set by the CPU */
#define PTE_PS   (UINT64_C(1) << 7)  /* a leaf at level 2 or 3 */
#define PTE_G    (UINT64_C(1) << 8)  /* global: kernel half only (BOO-01) */
#define PTE_NX   (UINT64_C(1) << 63) /* no execute (needs EFER.NXE) */
#define PTE_ADDR UINT64_C(0x000ffffffffff000) /* bits 12..51 */

/*
 * Software field, ignored by the MMU (bits 9..11 are free in every entry):
 * the leaf holds a reference on the frame it maps (a tracked, user
 * mapping); without it the leaf maps memory nobody counts (the direct
 * map, MMIO). Whoever clears or replaces a leaf decides from the old
 * entry whether to drop a reference (finding NOE-03).
 */
#define PTE_TRACKED (UINT64_C(1) << 9)

/*
 * Software field: a copy-on-write leaf, shared read-only after a fork
 * (kernel/mm/vmspace.c); the first write copies the frame, or, for its
 * last owner, makes the leaf writable again. Never writable while set.
 */
#define PTE_COW (UINT64_C(1) << 10)

/* The protection and caching bits a mapping may ask for. */
#define PTE_PROT (PTE_W | PTE_U | PTE_PWT | PTE_PCD | PTE_G | PTE_NX)

/* Shifts are constants in range (finding KSP-01). */
_Static_assert(PT_PAGE_SHIFT + PT_LEVELS * PT_INDEX_BITS == 48,
	       "four levels translate 48 bits");

/* Bits of virtual address a level-`level` entry maps: 12, 21, 30, 39. */
static inline unsigned pt_shift(unsigned level)
{
	return PT_PAGE_SHIFT + (level - 1) * PT_INDEX_BITS;
}

/* Bytes one entry at level maps. */
static inline uint64_t pt_entry_size(unsigned level)
{
	return UINT64_C(1) << pt_shift(level);
}

/* The index of va's entry in a level-`level` table. */
static inline unsigned pt_index(uint64_t va, unsigned level)
{
	return (unsigned)(va >> pt_shift(level)) & (PT_ENTRIES - 1);
}

static inline bool pte_present(pte_t e)
{
	return (e & PTE_P) != 0;
}

/* A present entry at level that maps memory rather than a table. */
static inline bool pte_is_leaf(pte_t e, unsigned level)
{
	return pte_present(e) && (level == 1 || (e & PTE_PS) != 0);
}

/* The physical address in e: a table's, or the leaf's page's. */
static inline uint64_t pte_addr(pte_t e)
{
	return e & PTE_ADDR;
}

/* A leaf's protection bits (PTE_PROT). */
static inline uint64_t pte_prot(pte_t e)
{
	return e & PTE_PROT;
}

/*
 * An entry pointing to a table at pa. User tables' entries carry PTE_U
 * and PTE_W so that the leaves alone decide (access rights are the AND of
 * every level's); the kernel's carry neither U nor G (BOO-01).
 */
static inline pte_t pte_table(uint64_t pa, bool user)
{
	return (pa & PTE_ADDR) | PTE_P | PTE_W | (user ? PTE_U : 0);
}

/*
 * A leaf at level (1, 2 or 3) mapping the page at pa with prot
 * (PTE_PROT bits), plus PTE_TRACKED if tracked. pa must be aligned to the
 * level's size.
 */
static inline pte_t pte_leaf(uint64_t pa, unsigned level, uint64_t prot,
			     bool tracked)
{
	return (pa & PTE_ADDR) | PTE_P | (prot & PTE_PROT) |
	       (level > 1 ? PTE_PS : 0) | (tracked ? PTE_TRACKED : 0);
}

/* The same leaf with other protection bits. */
static inline pte_t pte_with_prot(pte_t e, uint64_t prot)
{
	return (e & ~PTE_PROT) | (prot & PTE_PROT);
}

#endif /* KERNEL_ARCH_X86_64_PTE_H */
