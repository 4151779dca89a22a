/* SPDX-License-Identifier: MIT */
/*
 * Boot-time construction of the kernel's page tables. See paging.h.
 * Runs on the boot CPU alone, before any other CPU starts.
 */
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/paging.h"
#include "kernel/arch/x86_64/smp.h"
#include "kernel/mm/frame.h"

#define SIZE_4K UINT64_C(0x1000)
#define SIZE_2M UINT64_C(0x200000)
#define SIZE_1G UINT64_C(0x40000000)

static uint64_t root;   /* [I] physical address of the PML4 */
static bool have_1g;    /* [I] the CPU supports 1 GiB pages */
static const struct memmap *mapped;  /* [I] what paging_init mapped */
static uint64_t lapic_pa;            /* [I] */

extern uint64_t boot_pml4[]; /* boot/boot.S: the tables the CPUs start on */

uint64_t paging_root(void)
{
	return root;
}

/* A zeroed page-table page (zeroed before anything points to it). */
static err_t new_table(uint64_t *pa)
{
	struct frame_result r = frame_alloc_for(NULL, 0, 0, PAGE_PAGETABLE);

	if (r.err != E_OK)
		return E_NOMEM;
	*pa = pfn_to_pa(r.pfn).v;
	memset(phys_to_virt(PADDR(*pa)), 0, PAGE_SIZE);
	return E_OK;
}

static uint64_t *table(uint64_t pa)
{
	return phys_to_virt(PADDR(pa));
}

/* The table entry e points to, created if absent. Pre: e is no leaf. */
static err_t descend(uint64_t *e, uint64_t **next)
{
	uint64_t pa;

	if (!(*e & PTE_P)) {
		if (new_table(&pa) != E_OK)
			return E_NOMEM;
		*e = pa | PTE_P | PTE_W;
	}
	ASSERT(!(*e & PTE_PS));
	*next = table(*e & PTE_ADDR);
	return E_OK;
}

static unsigned index_of(uint64_t va, unsigned level) /* 3: PML4 .. 0: PT */
{
	return (unsigned)(va >> (12 + 9 * level)) & 511;
}

/* Bits a caller may ask for; the rest (present, size, address) are ours. */
#define PTE_ATTRS (PTE_W | PTE_PWT | PTE_PCD | PTE_G | PTE_NX)

/* A leaf written over a present one: this CPU's TLB may hold the old. */
static void set_leaf(uint64_t *e, uint64_t va, uint64_t v, bool was_present)
{
	*e = v;
	if (was_present)
		tlb_flush_page(va);
}

/*
 * Map one page at va -> pa, the largest that is aligned, fits in left
 * bytes and goes where nothing is mapped; store its size in *size.
 *
 * WF-NO-OVERMAP: a present leaf where the page would go is E_BUSY, unless
 * mode is PAGING_REPLACE and the new page has exactly the leaf's size and
 * place. A smaller page inside a large one is E_BUSY in both modes: it
 * would need the large page split, which nothing needs yet. A present
 * table where a large page would fit is descended into, not replaced.
 *
 * With commit false nothing is written or allocated: the walk goes on
 * through absent tables as if they were empty, which is what commit would
 * create, so it returns what the committing call will (E_NOMEM aside).
 */
static err_t map_one(uint64_t va, uint64_t pa, uint64_t left, uint64_t flags,
		     enum paging_mode mode, bool commit, uint64_t *size)
{
	uint64_t *t = table(root);

	for (unsigned level = 3;; level--) {
		uint64_t span = UINT64_C(1) << (12 + 9 * level);
		uint64_t *e = t != NULL ? &t[index_of(va, level)] : NULL;
		uint64_t old = e != NULL ? *e : 0;
		bool leaf = (old & PTE_P) && (level == 0 || (old & PTE_PS));
		bool fits = level == 0 ||
			    (level <= 2 && IS_ALIGNED(va | pa, span) &&
			     left >= span && (level == 1 || have_1g));

		if (leaf && !(fits && mode == PAGING_REPLACE))
			return E_BUSY;
		if (fits && (leaf || !(old & PTE_P))) {
			if (commit)
				set_leaf(e, va, pa | flags | PTE_P |
					 (level > 0 ? PTE_PS : 0), leaf);
			*size = span;
			return E_OK;
		}
		if (commit) {
			if (descend(e, &t) != E_OK)
				return E_NOMEM;
		} else {
			t = (old & PTE_P) ? table(old & PTE_ADDR) : NULL;
		}
	}
}

static err_t walk_range(uint64_t va, uint64_t pa, uint64_t len,
			uint64_t flags, enum paging_mode mode, bool commit)
{
	while (len > 0) {
		uint64_t size;
		err_t e = map_one(va, pa, len, flags, mode, commit, &size);

		if (e != E_OK)
			return e;
		va += size;
		pa += size;
		len -= size;
	}
	return E_OK;
}

/*
 * The whole range is checked before any of it is mapped, so that a
 * refused call changes nothing. (The pages' choices do not depend on one
 * another: each page's entries cover only addresses from its own start,
 * which earlier pages of the range, all below it, never touch.)
 */
static err_t map_range(uint64_t va, uint64_t pa, uint64_t len, uint64_t flags,
		       enum paging_mode mode)
{
	err_t e = walk_range(va, pa, len, flags, mode, false);

	return e != E_OK ? e : walk_range(va, pa, len, flags, mode, true);
}

/* va .. va + len - 1 within one canonical half, pa .. within 52 bits. */
static bool range_ok(uint64_t va, uint64_t pa, uint64_t len)
{
	uint64_t last = va + (len - 1);

	if (last < va || pa + (len - 1) < pa || pa + (len - 1) > PTE_ADDR)
		return false;
	return va >= DIRECT_MAP_BASE || last < (UINT64_C(1) << 47);
}

err_t paging_map(uint64_t va, uint64_t pa, uint64_t len, uint64_t flags,
		 enum paging_mode mode)
{
	if (root == 0)
		return E_STATE;
	if (len == 0 || !IS_ALIGNED(va | pa | len, SIZE_4K) ||
	    (flags & ~PTE_ATTRS) != 0 ||
	    (mode != PAGING_NEW && mode != PAGING_REPLACE))
		return E_INVAL;
	if (!range_ok(va, pa, len))
		return E_RANGE;
	return map_range(va, pa, len, flags, mode);
}

/* One of paging_init's mappings; says which one failed. */
static err_t boot_map(const char *what, uint64_t va, uint64_t pa,
		      uint64_t len, uint64_t flags)
{
	err_t e = paging_map(va, pa, len, flags, PAGING_NEW);

	if (e != E_OK)
		klog("paging: mapping %s [%#llx, %#llx) at %#llx: %s", what,
		     (unsigned long long)pa, (unsigned long long)(pa + len),
		     (unsigned long long)va, err_name(e));
	return e;
}

/* RAM the kernel may touch through the direct map. */
static bool direct_mapped(enum mem_type t)
{
	return t == MEM_USABLE || t == MEM_KERNEL || t == MEM_MODULE ||
	       t == MEM_ACPI_RECLAIM || t == MEM_ACPI_NVS;
}

/*
 * The direct map of RAM. Regions are sorted and disjoint, but two may
 * share the 4 KiB page at their boundary (the boot modules end where
 * usable RAM begins, mid-page): each region starts where the previous
 * one's pages ended, so no page is mapped twice (WF-NO-OVERMAP).
 */
static err_t map_direct(const struct memmap *m)
{
	uint64_t done = 0; /* end of the pages mapped so far */
	err_t e;

	for (unsigned i = 0; i < m->count; i++) {
		const struct mem_region *g = &m->region[i];
		uint64_t s = MAX(ALIGN_DOWN(g->base, SIZE_4K), done);
		uint64_t end = ALIGN_UP(g->end, SIZE_4K);

		if (!direct_mapped(g->type) || s >= end)
			continue;
		if ((e = boot_map("RAM", DIRECT_MAP_BASE + s, s, end - s,
				  PTE_W)) != E_OK)
			return e;
		done = end;
	}
	return E_OK;
}

err_t paging_init(const struct memmap *m, uint64_t lapic_phys,
		  uint64_t image_end_phys)
{
	uint32_t r[4];
	err_t e;

	mapped = m;
	lapic_pa = lapic_phys;
	cpuid(0x80000001, 0, r);
	have_1g = (r[3] >> 26) & 1;
	if ((e = new_table(&root)) != E_OK)
		return e;
	if ((e = map_direct(m)) != E_OK ||
	    (e = boot_map("the kernel image", KERNEL_BASE, 0,
			  ALIGN_UP(image_end_phys, SIZE_2M), PTE_W)) != E_OK ||
	    (e = boot_map("the local APIC", DIRECT_MAP_BASE + lapic_phys,
			  lapic_phys, SIZE_4K, PTE_W | PTE_PCD | PTE_PWT)) != E_OK ||
	    (e = boot_map("the AP trampoline", DIRECT_MAP_BASE + TRAMPOLINE_PHYS,
			  TRAMPOLINE_PHYS, SIZE_4K, PTE_W)) != E_OK)
		return e;
	write_cr3(root);
	return E_OK;
}

/* ------------------------------------------------------------ checking */

/*
 * The leaf entry that maps va in the live tables, and the size of the
 * page it maps; NULL if va is unmapped.
 */
static const uint64_t *lookup(uint64_t root_pa, uint64_t va, uint64_t *size)
{
	const uint64_t *t = table(root_pa);

	for (unsigned level = 3;; level--) {
		const uint64_t *e = &t[index_of(va, level)];

		if (!(*e & PTE_P))
			return NULL;
		if (level == 0 || (*e & PTE_PS)) {
			*size = UINT64_C(1) << (12 + 9 * level);
			return e;
		}
		t = table(*e & PTE_ADDR);
	}
}

/*
 * No Global bit in the tables under pa (BOO-01); with typed, every table
 * page typed PAGE_PAGETABLE in the frame table.
 */
static bool check_tables(uint64_t pa, unsigned level, bool typed)
{
	const uint64_t *t = table(pa);

	if (typed && frame_ready() &&
	    ps_usage(page_state(pfn_to_page(pa_to_pfn(PADDR(pa))))) !=
		    PAGE_PAGETABLE) {
		klog("paging: table page %#llx is not typed as a page table",
		     (unsigned long long)pa);
		return false;
	}
	for (unsigned i = 0; i < 512; i++) {
		if (!(t[i] & PTE_P))
			continue;
		if (t[i] & PTE_G) {
			klog("paging: Global bit in level-%u entry %u of %#llx",
			     level, i, (unsigned long long)pa);
			return false;
		}
		if (level > 0 && !(t[i] & PTE_PS) &&
		    !check_tables(t[i] & PTE_ADDR, level - 1, typed))
			return false;
	}
	return true;
}

/* Every page of [base, end) maps through the direct map, writable. */
static bool check_direct_map(uint64_t base, uint64_t end)
{
	uint64_t pa = ALIGN_DOWN(base, SIZE_4K);

	while (pa < end) {
		uint64_t size, va = DIRECT_MAP_BASE + pa;
		const uint64_t *e = lookup(root, va, &size);

		if (e == NULL || (*e & PTE_ADDR & ~(size - 1)) !=
					 ALIGN_DOWN(pa, size) ||
		    !(*e & PTE_W)) {
			klog("paging: RAM at %#llx is not direct-mapped",
			     (unsigned long long)pa);
			return false;
		}
		pa = ALIGN_DOWN(pa, size) + size;
	}
	return true;
}

uint64_t paging_entry(uint64_t va, uint64_t *size)
{
	const uint64_t *e = lookup(root, va, size);

	return e != NULL ? *e : 0;
}

bool paging_validate(void)
{
	const uint64_t *pml4 = table(root);
	const uint64_t *e;
	uint64_t size;

	if ((read_cr3() & PTE_ADDR) != root) {
		klog("paging: CR3 is not the kernel's root");
		return false;
	}
	for (unsigned i = 0; i < 256; i++) {
		if (pml4[i] & PTE_P) {
			klog("paging: lower half mapped (PML4 entry %u)", i);
			return false;
		}
	}
	/* The boot tables too: the APs start on them (boot/boot.S); they
	   live in the image, so they are not typed as table frames. */
	if (!check_tables(root, 3, true) ||
	    !check_tables(virt_to_phys(boot_pml4).v, 3, false))
		return false;
	for (unsigned i = 0; i < mapped->count; i++) {
		const struct mem_region *g = &mapped->region[i];

		if (direct_mapped(g->type) && !check_direct_map(g->base, g->end))
			return false;
	}
	e = lookup(root, DIRECT_MAP_BASE + lapic_pa, &size);
	if (e == NULL || size != SIZE_4K || !(*e & PTE_PCD)) {
		klog("paging: the local APIC is not mapped uncached");
		return false;
	}
	return true;
}
