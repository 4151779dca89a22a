// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * Our frame API and the heap cases' backend over Linux's allocators, for
 * the portable cases (lx_bench.h): frame_alloc() is alloc_pages() of
 * GFP_KERNEL (with __GFP_ZERO for FRAME_ZERO), frame_free() is
 * __free_pages() of the frame's page, lx_kmalloc()/lx_kfree() are
 * kmalloc(GFP_KERNEL)/kfree(). The frame number round trip
 * (page_to_pfn, pfn_to_page) is arithmetic on the vmemmap: a few
 * instructions, as our kernel's pfn-based API costs its callers.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "lx_bench.h"

struct frame_result frame_alloc(unsigned order, unsigned flags)
{
	gfp_t gfp = GFP_KERNEL | __GFP_NOWARN;
	struct page *page;

	if (flags & ~FRAME_ZERO || order > MAX_ORDER - 1)
		return (struct frame_result){ .err = E_INVAL };
	if (flags & FRAME_ZERO)
		gfp |= __GFP_ZERO;
	page = alloc_pages(gfp, order);
	if (page == NULL)
		return (struct frame_result){ .err = E_NOMEM };
	return (struct frame_result){ .err = E_OK, .pfn = { page_to_pfn(page) } };
}

enum err frame_free(struct lx_pfn pfn, unsigned order)
{
	if (order > MAX_ORDER - 1)
		return E_INVAL;
	__free_pages(pfn_to_page(pfn.v), order);
	return E_OK;
}

const char *err_name(enum err e)
{
	switch (e) {
	case E_OK:
		return "E_OK";
	case E_INVAL:
		return "E_INVAL";
	case E_NOMEM:
		return "E_NOMEM";
	}
	return "E_?";
}

void *lx_kmalloc(size_t size)
{
	return kmalloc(size, GFP_KERNEL);
}

bool lx_kfree(void *p)
{
	kfree(p);
	return true;
}
