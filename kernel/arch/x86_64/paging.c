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
extern const char boot_stack_guard[], boot_stack[]; /* boot/boot.S */
/* boot/kernel.ld: the image's sections, each on pages of its own. */
extern const char _text_start[], _text_end[], _rodata_start[],
	_rodata_end[], _data_start[], _data_end[];

#define PML4_SLOT(va) ((unsigned)((va) >> 39) & 511)
#define PML4_KERNEL_FIRST 256 /* the kernel half: slots 256..511 */

/* What each part of the kernel half is mapped with (see paging.h). */
#define MAP_TEXT   (PTE_G)
#define MAP_RODATA (PTE_G | PTE_NX)
#define MAP_DATA   (PTE_G | PTE_NX | PTE_W)
#define MAP_DIRECT (PTE_G | PTE_NX | PTE_W)
#define MAP_DIRECT_RO (PTE_G | PTE_NX) /* the image's text and rodata */
#define MAP_MMIO   (PTE_G | PTE_NX | PTE_W | PTE_PCD | PTE_PWT)

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
		*e = pte_table(pa, false);
	}
	ASSERT(!(*e & PTE_PS));
	*next = table(*e & PTE_ADDR);
	return E_OK;
}

static unsigned index_of(uint64_t va, unsigned level) /* 3: PML4 .. 0: PT */
{
	return pt_index(va, level + 1);
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
		uint64_t span = pt_entry_size(level + 1);
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
				set_leaf(e, va,
					 pte_leaf(pa, level + 1, flags, false),
					 leaf);
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
	    ((flags & PTE_G) && va < DIRECT_MAP_BASE) ||
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
 * The physical pages of the image's text and rodata, [*lo, *hi): read-only
 * in the direct map too, or a write through that alias would change code
 * that W^X says nothing writes (Linux keeps every alias of kernel text
 * read-only for the same reason).
 */
static void image_ro_phys(uint64_t *lo, uint64_t *hi)
{
	*lo = virt_to_phys(_text_start).v;
	*hi = virt_to_phys(_rodata_end).v;
}

/* RAM [s, end) in the direct map, read-only where it is text or rodata. */
static err_t map_ram(uint64_t s, uint64_t end)
{
	uint64_t lo, hi, cut[4];
	err_t e;

	image_ro_phys(&lo, &hi);
	cut[0] = s;
	cut[1] = MIN(MAX(lo, s), end);
	cut[2] = MIN(MAX(hi, s), end);
	cut[3] = end;
	for (unsigned k = 0; k < 3; k++)
		if (cut[k] < cut[k + 1] &&
		    (e = boot_map("RAM", DIRECT_MAP_BASE + cut[k], cut[k],
				  cut[k + 1] - cut[k],
				  k == 1 ? MAP_DIRECT_RO : MAP_DIRECT)) != E_OK)
			return e;
	return E_OK;
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
		if ((e = map_ram(s, end)) != E_OK)
			return e;
		done = end;
	}
	return E_OK;
}

/* One section of the image, [start, end) at its link address. */
static err_t map_image(const char *what, const char *start, const char *end,
		       uint64_t flags)
{
	uint64_t va = (uint64_t)(uintptr_t)start;

	return boot_map(what, va, virt_to_phys(start).v,
			(uint64_t)(uintptr_t)end - va, flags);
}

/*
 * W^X: text read-execute, rodata read-only, data and bss read-write
 * no-execute, with a hole at the boot stack's guard page.
 */
static err_t map_kernel_image(void)
{
	err_t e;

	if ((e = map_image("text", _text_start, _text_end, MAP_TEXT)) != E_OK ||
	    (e = map_image("rodata", _rodata_start, _rodata_end,
			   MAP_RODATA)) != E_OK ||
	    (e = map_image("data", _data_start, boot_stack_guard,
			   MAP_DATA)) != E_OK)
		return e;
	return map_image("bss", boot_stack, _data_end, MAP_DATA);
}

/*
 * A PDPT in every slot of the kernel half (PAGETABLE.md): tables that copy
 * the kernel half's PML4 entries see every later kernel mapping, and the
 * PML4 itself never changes after boot.
 */
static err_t prealloc_kernel_half(void)
{
	uint64_t *pml4 = table(root);

	for (unsigned i = PML4_KERNEL_FIRST; i < 512; i++) {
		uint64_t pa;

		if (new_table(&pa) != E_OK)
			return E_NOMEM;
		pml4[i] = pte_table(pa, false);
	}
	return E_OK;
}

err_t paging_init(const struct memmap *m, uint64_t lapic_phys)
{
	uint32_t r[4];
	err_t e;

	mapped = m;
	lapic_pa = lapic_phys;
	cpuid(0x80000001, 0, r);
	have_1g = (r[3] >> 26) & 1;
	if ((e = new_table(&root)) != E_OK ||
	    (e = prealloc_kernel_half()) != E_OK)
		return e;
	if ((e = map_direct(m)) != E_OK || (e = map_kernel_image()) != E_OK ||
	    (e = boot_map("the local APIC", DIRECT_MAP_BASE + lapic_phys,
			  lapic_phys, SIZE_4K, MAP_MMIO)) != E_OK ||
	    (e = boot_map("the AP trampoline", DIRECT_MAP_BASE + TRAMPOLINE_PHYS,
			  TRAMPOLINE_PHYS, SIZE_4K, MAP_DIRECT)) != E_OK)
		return e;
	/*
	 * The APs run on the boot tables until ap_entry, on stacks from the
	 * stack area: the boot tables share its PDPT. The trampoline sets
	 * EFER.NXE, as these stacks are no-execute. Their leaves are Global
	 * (ignored until the AP's CR4.PGE is on), but they are the kernel's
	 * own, the same in both tables: a TLB entry that survives the AP's
	 * switch to the kernel's CR3 is still right.
	 */
	boot_pml4[PML4_SLOT(KSTACK_AREA_BASE)] =
		table(root)[PML4_SLOT(KSTACK_AREA_BASE)];
	/* Bit 63 is reserved without NXE: every access would fault. */
	ASSERT(rdmsr(MSR_EFER) & EFER_NXE);
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
 * The tables under the level-`level` table at pa. In the kernel's (kernel
 * true): every leaf Global, no leaf both writable and executable, every
 * table page typed PAGE_PAGETABLE in the frame table. In the boot tables:
 * no leaf Global (BOO-01). In both: no table entry Global.
 */
static bool check_tables(uint64_t pa, unsigned level, bool kernel)
{
	const uint64_t *t = table(pa);

	if (kernel && frame_ready() &&
	    ps_usage(page_state(pfn_to_page(pa_to_pfn(PADDR(pa))))) !=
		    PAGE_PAGETABLE) {
		klog("paging: table page %#llx is not typed as a page table",
		     (unsigned long long)pa);
		return false;
	}
	for (unsigned i = 0; i < 512; i++) {
		bool leaf = level == 0 || (t[i] & PTE_PS);

		if (!(t[i] & PTE_P))
			continue;
		if (!!(t[i] & PTE_G) != (leaf && kernel)) {
			klog("paging: Global bit %s in level-%u entry %u of "
			     "%#llx", t[i] & PTE_G ? "set" : "missing", level,
			     i, (unsigned long long)pa);
			return false;
		}
		if (kernel && leaf && (t[i] & PTE_W) && !(t[i] & PTE_NX)) {
			klog("paging: level-%u entry %u of %#llx is writable "
			     "and executable", level, i,
			     (unsigned long long)pa);
			return false;
		}
		if (!leaf && !check_tables(t[i] & PTE_ADDR, level - 1, kernel))
			return false;
	}
	return true;
}

/*
 * The kernel's tables: the kernel half's PML4 slots each point to a PDPT
 * (preallocated), the tables under them as check_tables() wants.
 */
static bool check_kernel_tables(void)
{
	const uint64_t *pml4 = table(root);

	for (unsigned i = PML4_KERNEL_FIRST; i < 512; i++) {
		if (!(pml4[i] & PTE_P) || (pml4[i] & (PTE_PS | PTE_G))) {
			klog("paging: kernel-half PML4 slot %u is %#llx, not a "
			     "PDPT", i, (unsigned long long)pml4[i]);
			return false;
		}
		if (!check_tables(pml4[i] & PTE_ADDR, 2, true))
			return false;
	}
	return true;
}

/*
 * The boot tables (boot/boot.S), which the APs start on: nothing Global,
 * but in the slot they share with the kernel's tables (the stack area),
 * which is the kernel's, checked with it. They live in the image, so
 * their pages are not typed as table frames.
 */
static bool check_boot_tables(void)
{
	const uint64_t *mine = table(root);

	for (unsigned i = 0; i < 512; i++) {
		if (!(boot_pml4[i] & PTE_P) ||
		    (i >= PML4_KERNEL_FIRST && boot_pml4[i] == mine[i]))
			continue;
		if ((boot_pml4[i] & PTE_G) ||
		    !check_tables(boot_pml4[i] & PTE_ADDR, 2, false)) {
			klog("paging: (in the boot tables' PML4 slot %u)", i);
			return false;
		}
	}
	return true;
}

/*
 * Every page of [base, end) maps through the direct map, NX, writable but
 * for the image's text and rodata.
 */
static bool check_direct_map(uint64_t base, uint64_t end)
{
	uint64_t pa = ALIGN_DOWN(base, SIZE_4K), lo, hi;

	image_ro_phys(&lo, &hi);
	while (pa < end) {
		uint64_t size, va = DIRECT_MAP_BASE + pa;
		const uint64_t *e = lookup(root, va, &size);
		bool ro = pa >= lo && pa < hi;

		if (e == NULL || (*e & PTE_ADDR & ~(size - 1)) !=
					 ALIGN_DOWN(pa, size) ||
		    !(*e & PTE_W) != ro || !(*e & PTE_NX)) {
			klog("paging: RAM at %#llx is not direct-mapped %s NX",
			     (unsigned long long)pa, ro ? "RO" : "RW");
			return false;
		}
		pa = ALIGN_DOWN(pa, size) + size;
	}
	return true;
}

/*
 * Every page of [start, end) is mapped to its image address with exactly
 * the access bits want (of W and NX); with want == UINT64_MAX, unmapped.
 */
static bool check_image(const char *what, const char *start, const char *end,
			uint64_t want)
{
	uint64_t va = (uint64_t)(uintptr_t)start;

	while (va < (uint64_t)(uintptr_t)end) {
		uint64_t size = SIZE_4K;
		const uint64_t *e = lookup(root, va, &size);
		bool ok = want == UINT64_MAX
				  ? e == NULL
				  : e != NULL &&
					    (*e & PTE_ADDR & ~(size - 1)) ==
						    ALIGN_DOWN(va - KERNEL_BASE,
							       size) &&
					    (*e & (PTE_W | PTE_NX)) == want;

		if (!ok) {
			klog("paging: %s at %#llx is mapped wrong (entry "
			     "%#llx)", what, (unsigned long long)va,
			     (unsigned long long)(e != NULL ? *e : 0));
			return false;
		}
		va = ALIGN_DOWN(va, size) + size;
	}
	return true;
}

/* W^X on the image, the boot stack's guard, nothing below the image. */
static bool check_kernel_image(void)
{
	return check_image("below the kernel", (const char *)KERNEL_BASE,
			   _text_start, UINT64_MAX) &&
	       check_image("text", _text_start, _text_end, 0) &&
	       check_image("rodata", _rodata_start, _rodata_end, PTE_NX) &&
	       check_image("data", _data_start, boot_stack_guard,
			   PTE_W | PTE_NX) &&
	       check_image("the boot stack's guard page", boot_stack_guard,
			   boot_stack, UINT64_MAX) &&
	       check_image("bss", boot_stack, _data_end, PTE_W | PTE_NX);
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
	for (unsigned i = 0; i < PML4_KERNEL_FIRST; i++) {
		if (pml4[i] & PTE_P) {
			klog("paging: lower half mapped (PML4 entry %u)", i);
			return false;
		}
	}
	if (!check_kernel_tables() || !check_boot_tables() ||
	    !check_kernel_image())
		return false;
	for (unsigned i = 0; i < mapped->count; i++) {
		const struct mem_region *g = &mapped->region[i];

		if (direct_mapped(g->type) && !check_direct_map(g->base, g->end))
			return false;
	}
	e = lookup(root, DIRECT_MAP_BASE + lapic_pa, &size);
	if (e == NULL || size != SIZE_4K || !(*e & PTE_PCD) || !(*e & PTE_PWT) ||
	    !(*e & PTE_NX)) {
		klog("paging: the local APIC is not mapped uncached, NX");
		return false;
	}
	return true;
}
