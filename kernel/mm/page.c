/* SPDX-License-Identifier: MIT */
/*
 * The frame table: installation and boot-time marking. The descriptors
 * themselves are handled inline (page.h) by the layers that own them.
 */
#include "kernel/mm/page.h"

struct page *frame_table;   /* [I] */
uint64_t frame_table_pages; /* [I] */

static const char *const usage_names[PAGE_USAGE_COUNT] = {
	[PAGE_NONE] = "none",       [PAGE_PCP] = "pcp",
	[PAGE_SCRUB] = "scrub",     [PAGE_FRAME] = "frame",
	[PAGE_PAGETABLE] = "pagetable", [PAGE_SLAB] = "slab",
	[PAGE_META] = "meta",       [PAGE_KERNEL] = "kernel",
	[PAGE_RESERVED] = "reserved",
};

const char *page_usage_name(enum page_usage u)
{
	if ((unsigned)u >= PAGE_USAGE_COUNT)
		return "invalid";
	return usage_names[u];
}

uint64_t page_table_bytes(uint64_t npages)
{
	return npages * sizeof(struct page);
}

void page_table_init(void *mem, uint64_t npages)
{
	struct page *t = mem;

	for (uint64_t i = 0; i < npages; i++) {
		atomic_init(&t[i].state, ps_make(0, PAGE_RESERVED, 0, 0));
		t[i].owner = NULL;
		t[i].u.raw[0] = t[i].u.raw[1] = 0;
	}
	frame_table = t;
	frame_table_pages = npages;
}

void page_table_fini(void)
{
	frame_table = NULL;
	frame_table_pages = 0;
}

void page_table_mark(pfn_t start, uint64_t n, enum page_usage usage)
{
	for (uint64_t i = 0; i < n; i++)
		page_set_state(pfn_to_page(PFN(start.v + i)),
			       ps_make(0, usage, 0, 0));
}

err_t frame_get_refused(struct page *p, uint64_t old)
{
	if (page_usage_allocatable(ps_usage(old)) &&
	    ps_ref(old) >= FRAME_REF_MAX) {
		/* Nobody can free the frame meanwhile: the count is not 0. */
		atomic_fetch_sub_explicit(&p->state, 1, memory_order_relaxed);
		return E_RANGE;
	}
	panic("frame_get: frame %llu heads no allocated block (%s, refcount "
	      "%u): the caller holds no reference to it",
	      (unsigned long long)page_to_pfn(p).v,
	      page_usage_name(ps_usage(old)), ps_ref(old));
}
