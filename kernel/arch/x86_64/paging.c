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

/* Map one page of the largest size that fits at va -> pa; returns it. */
static err_t map_one(uint64_t va, uint64_t pa, uint64_t left, uint64_t flags,
		     uint64_t *size)
{
	uint64_t *t = table(root);

	for (unsigned level = 3; level > 0; level--) {
		uint64_t span = UINT64_C(1) << (12 + 9 * level);
		uint64_t *e = &t[index_of(va, level)];
		bool fits = level <= 2 && IS_ALIGNED(va | pa, span) && left >= span &&
			    (level == 1 || have_1g) && !(*e & PTE_P);

		if (fits) {
			*e = pa | flags | PTE_P | PTE_PS;
			*size = span;
			return E_OK;
		}
		if (descend(e, &t) != E_OK)
			return E_NOMEM;
	}
	t[index_of(va, 0)] = pa | flags | PTE_P;
	*size = SIZE_4K;
	return E_OK;
}

static err_t map_range(uint64_t va, uint64_t pa, uint64_t len, uint64_t flags)
{
	while (len > 0) {
		uint64_t size;

		if (map_one(va, pa, len, flags, &size) != E_OK)
			return E_NOMEM;
		va += size;
		pa += size;
		len -= size;
	}
	return E_OK;
}

/* RAM the kernel may touch through the direct map. */
static bool direct_mapped(enum mem_type t)
{
	return t == MEM_USABLE || t == MEM_KERNEL || t == MEM_MODULE ||
	       t == MEM_ACPI_RECLAIM || t == MEM_ACPI_NVS;
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
	for (unsigned i = 0; i < m->count; i++) {
		const struct mem_region *g = &m->region[i];
		uint64_t s = ALIGN_DOWN(g->base, SIZE_4K);
		uint64_t end = ALIGN_UP(g->end, SIZE_4K);

		if (direct_mapped(g->type) &&
		    (e = map_range(DIRECT_MAP_BASE + s, s, end - s, PTE_W)) != E_OK)
			return e;
	}
	if ((e = map_range(KERNEL_BASE, 0, ALIGN_UP(image_end_phys, SIZE_2M),
			   PTE_W)) != E_OK ||
	    (e = map_range(DIRECT_MAP_BASE + lapic_phys, lapic_phys, SIZE_4K,
			   PTE_W | PTE_PCD | PTE_PWT)) != E_OK ||
	    (e = map_range(DIRECT_MAP_BASE + TRAMPOLINE_PHYS, TRAMPOLINE_PHYS,
			   SIZE_4K, PTE_W)) != E_OK)
		return e;
	write_cr3(root);
	return E_OK;
}

/* ------------------------------------------------------------ checking */

/*
 * The leaf entry that maps va in the live tables, and the size of the
 * page it maps; NULL if va is unmapped.
 */
static const uint64_t *lookup(uint64_t va, uint64_t *size)
{
	const uint64_t *t = table(read_cr3() & PTE_ADDR);

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

/* No Global bit anywhere; every table page typed PAGE_PAGETABLE. */
static bool check_tables(uint64_t pa, unsigned level)
{
	const uint64_t *t = table(pa);

	if (frame_ready() &&
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
		    !check_tables(t[i] & PTE_ADDR, level - 1))
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
		const uint64_t *e = lookup(va, &size);

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
	if (!check_tables(root, 3))
		return false;
	for (unsigned i = 0; i < mapped->count; i++) {
		const struct mem_region *g = &mapped->region[i];

		if (direct_mapped(g->type) && !check_direct_map(g->base, g->end))
			return false;
	}
	e = lookup(DIRECT_MAP_BASE + lapic_pa, &size);
	if (e == NULL || size != SIZE_4K || !(*e & PTE_PCD)) {
		klog("paging: the local APIC is not mapped uncached");
		return false;
	}
	return true;
}
