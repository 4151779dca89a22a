/* SPDX-License-Identifier: MIT */
/*
 * Kernel stacks with guard pages. See kstack.h.
 *
 * Slots are handed out in order and never reused. Allocations are made by
 * one CPU at a time, like paging_map() itself (kstack.h): no lock, since
 * none could be held across frame_alloc(), which may wait for every other
 * CPU to drain its cache. Other users of paging_map() never touch the
 * area's tables: the PML4 slot's PDPT is preallocated (paging.h), so the
 * area shares no table page with them.
 *
 * Readers (the checks, the double-fault report, on any CPU and in any
 * context) take no lock either: pages_of[i] is written once, before slots
 * is raised past i with release; a reader loads slots with acquire and
 * reads only below it.
 */
#include <stdatomic.h>

#include <platform.h>

#include "kernel/arch/x86_64/kstack.h"
#include "kernel/arch/x86_64/paging.h"
#include "kernel/mm/frame.h"

#define SLOT_SIZE  ((uint64_t)KSTACK_SLOT_PAGES * PAGE_SIZE)
/* Every CPU's stack and interrupt stacks, and room for later users
   (threads, when there are any). */
#define MAX_STACKS (4 * CONFIG_MAX_CPUS + 64)

_Static_assert(MAX_STACKS * SLOT_SIZE <= KSTACK_AREA_SIZE, "stack area");

static _Atomic unsigned slots;          /* slots handed out */
static uint8_t pages_of[MAX_STACKS];    /* pages mapped, or RETIRED */

#define RETIRED 0xff /* a failed allocation's slot: partly mapped, unused */

static uint64_t slot_base(unsigned i)
{
	return KSTACK_AREA_BASE + (uint64_t)i * SLOT_SIZE;
}

/* Map pages frames at the top of slot i. */
static err_t fill_slot(unsigned i, unsigned pages)
{
	uint64_t va = slot_base(i) + SLOT_SIZE - (uint64_t)pages * PAGE_SIZE;

	for (unsigned n = 0; n < pages; n++, va += PAGE_SIZE) {
		struct frame_result r = frame_alloc(0, 0);
		err_t e;

		if (r.err != E_OK)
			return E_NOMEM;
		e = paging_map(va, pfn_to_pa(r.pfn).v, PAGE_SIZE,
			       PTE_W | PTE_NX | PTE_G, PAGING_NEW);
		if (e != E_OK) {
			ASSERT(e == E_NOMEM); /* fresh slot: nothing else */
			if (frame_free(r.pfn, 0) != E_OK)
				panic("kstack: cannot free an unmapped frame");
			return e;
		}
	}
	return E_OK;
}

err_t kstack_alloc(unsigned pages, uint64_t *top)
{
	unsigned i;
	err_t e;

	if (pages == 0 || pages > KSTACK_MAX_PAGES)
		return E_INVAL;
	i = atomic_load_explicit(&slots, memory_order_relaxed);
	if (i == MAX_STACKS)
		return E_NOMEM;
	e = fill_slot(i, pages);
	pages_of[i] = e == E_OK ? (uint8_t)pages : RETIRED;
	atomic_store_explicit(&slots, i + 1, memory_order_release);
	if (e == E_OK)
		*top = slot_base(i) + SLOT_SIZE;
	return e;
}

static void report(uint64_t lo, uint64_t hi, uint64_t guard)
{
	klog("kernel stack overflow on CPU %u (stack [%#llx, %#llx), guard at "
	     "%#llx)", cpu_id(), (unsigned long long)lo,
	     (unsigned long long)hi, (unsigned long long)guard);
}

/* addr is in [lo - PAGE_SIZE, lo]: in the guard page, or just at its top. */
static bool in_guard(uint64_t addr, uint64_t lo)
{
	return addr >= lo - PAGE_SIZE && addr <= lo;
}

bool kstack_explain_fault(uint64_t rsp, uint64_t cr2)
{
	const struct percpu *p = this_cpu();
	uint64_t addr[2] = { cr2, rsp };
	unsigned n = atomic_load_explicit(&slots, memory_order_acquire);

	if (p->stack_lo != 0 &&
	    (in_guard(cr2, p->stack_lo) || in_guard(rsp, p->stack_lo))) {
		report(p->stack_lo, p->stack_top, p->stack_lo - PAGE_SIZE);
		return true;
	}
	for (unsigned k = 0; k < 2; k++) {
		uint64_t off = addr[k] - KSTACK_AREA_BASE;
		unsigned i = (unsigned)(off / SLOT_SIZE);
		uint64_t lo;

		if (addr[k] < KSTACK_AREA_BASE || off / SLOT_SIZE >= n ||
		    pages_of[i] == RETIRED)
			continue;
		lo = slot_base(i) + SLOT_SIZE - pages_of[i] * PAGE_SIZE;
		if (addr[k] <= lo) {
			report(lo, slot_base(i) + SLOT_SIZE, lo - PAGE_SIZE);
			return true;
		}
	}
	return false;
}

bool kstack_mapped(uint64_t va, uint64_t len)
{
	unsigned n = atomic_load_explicit(&slots, memory_order_acquire);
	uint64_t off = va - KSTACK_AREA_BASE, lo;
	unsigned i;

	if (va < KSTACK_AREA_BASE || off / SLOT_SIZE >= n || len > SLOT_SIZE)
		return false;
	i = (unsigned)(off / SLOT_SIZE);
	if (pages_of[i] == RETIRED)
		return false;
	lo = slot_base(i) + SLOT_SIZE - pages_of[i] * PAGE_SIZE;
	return va >= lo && va + len <= slot_base(i) + SLOT_SIZE;
}

/* Slot i: its stack's pages RW NX, 4 KiB, the rest of it unmapped. */
static bool check_slot(unsigned i)
{
	uint64_t lo = slot_base(i) + SLOT_SIZE - pages_of[i] * PAGE_SIZE;

	for (uint64_t va = slot_base(i); va < slot_base(i) + SLOT_SIZE;
	     va += PAGE_SIZE) {
		uint64_t size = 0, e = paging_entry(va, &size);
		bool stack = va >= lo;

		if (stack ? (e & (PTE_W | PTE_NX)) != (PTE_W | PTE_NX) ||
				    size != PAGE_SIZE
			  : e != 0) {
			klog("kstack: slot %u page %#llx: entry %#llx, "
			     "expected %s", i, (unsigned long long)va,
			     (unsigned long long)e,
			     stack ? "RW NX" : "unmapped (guard)");
			return false;
		}
	}
	return true;
}

bool kstack_validate(void)
{
	unsigned n = atomic_load_explicit(&slots, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (pages_of[i] != RETIRED && !check_slot(i))
			return false;
	return true;
}
