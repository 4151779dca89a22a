/* SPDX-License-Identifier: MIT */
/*
 * Page tables: nodes, tables, the software walk and the checks
 * (pagetable.h; the cursors that change trees are cursor.c).
 */
#include "kernel/mm/pagetable.h"

#include <string.h>

#include "kernel/mm/frame.h"

/* ---------------------------------------------------------------- nodes */

struct page *pt_node_alloc(struct pagetable *pt, unsigned level)
{
	struct frame_result r = frame_alloc_for(NULL, 0, FRAME_ZERO,
						PAGE_PAGETABLE);
	struct page *node;

	if (r.err != E_OK)
		return NULL;
	node = pfn_to_page(r.pfn);
	/* Zeroed by FRAME_ZERO (WF-ZERO-PT); the metadata before anyone can
	 * see the node (the publishing store is a release). */
	atomic_store_explicit(&node->u.pt.lock, 0, memory_order_relaxed);
	node->u.pt.nr_children = 0;
	node->u.pt.level = (uint8_t)level;
	node->u.pt.stray = 0;
	atomic_fetch_add_explicit(&pt->nodes, 1, memory_order_relaxed);
	return node;
}

/* Drop a reference the table owns (a node's, a tracked leaf's). */
static void put_ref(struct page *p)
{
	err_t e = frame_put(p);

	ASSERT(e == E_OK);
	(void)e;
}

void pt_node_free(struct pagetable *pt, struct page *node)
{
	atomic_fetch_sub_explicit(&pt->nodes, 1, memory_order_relaxed);
	put_ref(node);
}

pte_t pt_table_entry(const struct pagetable *pt, const struct page *child)
{
	return pte_table(page_to_pa(child).v, pt->kind == PT_USER);
}

err_t pt_trackable(paddr_t pa, uint64_t size)
{
	pfn_t pfn = pa_to_pfn(pa);
	uint64_t s;

	if (!pfn_valid(pfn))
		return E_NOT_ALLOCATED;
	s = page_state(pfn_to_page(pfn));
	if (ps_usage(s) != PAGE_FRAME || ps_ref(s) == 0 ||
	    (PAGE_SIZE << ps_order(s)) != size)
		return E_NOT_ALLOCATED;
	return E_OK;
}

/* --------------------------------------------------------------- tables */

static err_t make_root(struct pagetable *pt, enum pt_kind kind,
		       enum pt_locking locking)
{
	*pt = (struct pagetable){ .kind = kind, .locking = locking };
	pt->root = pt_node_alloc(pt, PT_LEVELS);
	return pt->root != NULL ? E_OK : E_NOMEM;
}

/* Copy the upper half of the PML4 at kernel_root into pt's root. */
static void copy_kernel_half(struct pagetable *pt, const pte_t *kernel_root)
{
	for (unsigned i = PT_KERNEL_SLOT; i < PT_ENTRIES; i++) {
		pt_entry_set(pt->root, i, kernel_root[i]);
		pt->root->u.pt.nr_children += pte_present(kernel_root[i]);
	}
}

err_t pt_create(struct pagetable *pt, enum pt_kind kind,
		const struct pagetable *kernel, enum pt_locking locking)
{
	err_t e;

	if ((kind == PT_KERNEL && kernel != NULL) ||
	    (kernel != NULL && kernel->kind != PT_KERNEL))
		return E_INVAL;
	if ((e = make_root(pt, kind, locking)) != E_OK)
		return e;
	if (kind == PT_USER) {
		if (kernel != NULL)
			copy_kernel_half(pt, page_to_virt(kernel->root));
		return E_OK;
	}
	for (unsigned i = PT_KERNEL_SLOT; i < PT_ENTRIES; i++) {
		struct page *pdpt = pt_node_alloc(pt, PT_LEVELS - 1);

		if (pdpt == NULL) {
			pt_destroy(pt);
			return E_NOMEM;
		}
		pt_entry_set(pt->root, i, pt_table_entry(pt, pdpt));
		pt->root->u.pt.nr_children++;
	}
	return E_OK;
}

err_t pt_create_user_from(struct pagetable *pt, paddr_t kernel_root,
			  enum pt_locking locking)
{
	err_t e = make_root(pt, PT_USER, locking);

	if (e == E_OK)
		copy_kernel_half(pt, phys_to_virt(kernel_root));
	return e;
}

paddr_t pt_root_pa(const struct pagetable *pt)
{
	return page_to_pa(pt->root);
}

/* pt's own entries of the root: the lower half or the upper. */
static unsigned first_slot(const struct pagetable *pt)
{
	return pt->kind == PT_USER ? 0 : PT_KERNEL_SLOT;
}

static unsigned end_slot(const struct pagetable *pt)
{
	return pt->kind == PT_USER ? PT_KERNEL_SLOT : PT_ENTRIES;
}

/* Free node's subtree (node included), dropping tracked leaves' refs. */
static void destroy_subtree(struct pagetable *pt, struct page *node,
			    unsigned from, unsigned to)
{
	unsigned level = pt_level(node);

	for (unsigned i = from; i < to; i++) {
		pte_t e = pt_entry_get(node, i);

		if (!pte_present(e))
			continue;
		if (!pte_is_leaf(e, level))
			destroy_subtree(pt, pt_child(e), 0, PT_ENTRIES);
		else if (e & PTE_TRACKED)
			put_ref(pt_child(e));
	}
	pt_node_free(pt, node);
}

void pt_destroy(struct pagetable *pt)
{
	if (pt->root == NULL)
		return;
	destroy_subtree(pt, pt->root, first_slot(pt), end_slot(pt));
	pt->root = NULL;
}

pte_t pt_walk(const struct pagetable *pt, uint64_t va, unsigned *level)
{
	const struct page *node = pt->root;

	for (unsigned l = PT_LEVELS;; l--) {
		pte_t e = pt_entry_get(node, pt_index(va, l));

		if (!pte_present(e))
			return 0;
		if (pte_is_leaf(e, l)) {
			*level = l;
			return e;
		}
		node = pt_child(e);
	}
}

/* --------------------------------------------------------------- checks */

/* What pt_validate() checks against, and what it counts. */
struct check {
	bool user;
	int64_t nodes; /* nodes reached, the root included */
};

static bool node_ok(const struct page *node, unsigned level, uint64_t base)
{
	uint64_t s = page_state(node);
	unsigned present = 0;

	if (ps_usage(s) != PAGE_PAGETABLE || ps_ref(s) != 1) {
		klog("pagetable: node %#llx (level %u, va %#llx) is not a live "
		     "page-table frame (usage %u, %u references)",
		     (unsigned long long)page_to_pa(node).v, level,
		     (unsigned long long)base, ps_usage(s), ps_ref(s));
		return false;
	}
	if (pt_level(node) != level || node->u.pt.stray) {
		klog("pagetable: node at va %#llx says level %u%s, its place "
		     "says %u", (unsigned long long)base, pt_level(node),
		     node->u.pt.stray ? " and stray" : "", level);
		return false;
	}
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		present += pte_present(pt_entry_get(node, i));
	if (present != node->u.pt.nr_children) {
		klog("pagetable: node at va %#llx (level %u) has %u present "
		     "entries, counts %u", (unsigned long long)base, level,
		     present, node->u.pt.nr_children);
		return false;
	}
	return true;
}

/* A leaf's frame: allocated, and not a page-table page. */
static bool leaf_ok(const struct check *c, pte_t e, unsigned level,
		    uint64_t va)
{
	struct page *p;
	uint64_t s;

	if (!!(e & PTE_U) != c->user || (c->user && (e & PTE_G))) {
		klog("pagetable: leaf for va %#llx: user bit %s in a %s table%s",
		     (unsigned long long)va, e & PTE_U ? "set" : "clear",
		     c->user ? "user" : "kernel",
		     e & PTE_G ? ", Global" : "");
		return false;
	}
	/* In a huge leaf, address bit 12 is PAT (never set by pte_leaf()). */
	if (pte_addr(e) & (pt_entry_size(level) - 1)) {
		klog("pagetable: leaf for va %#llx maps %#llx, not aligned to "
		     "its size", (unsigned long long)va,
		     (unsigned long long)pte_addr(e));
		return false;
	}
	if (!pfn_valid(pa_to_pfn(PADDR(pte_addr(e))))) {
		if (e & PTE_TRACKED) /* MMIO: untracked only */
			klog("pagetable: tracked leaf for va %#llx maps "
			     "%#llx, outside memory", (unsigned long long)va,
			     (unsigned long long)pte_addr(e));
		return !(e & PTE_TRACKED);
	}
	p = pt_child(e);
	s = page_state(p);
	if (ps_usage(s) == PAGE_PAGETABLE) {
		klog("pagetable: va %#llx maps page-table page %#llx "
		     "(WF-PT-PRIVATE)", (unsigned long long)va,
		     (unsigned long long)pte_addr(e));
		return false;
	}
	if ((e & PTE_TRACKED) &&
	    (!page_usage_allocatable(ps_usage(s)) || ps_ref(s) == 0 ||
	     (PAGE_SIZE << ps_order(s)) != pt_entry_size(level))) {
		klog("pagetable: va %#llx maps frame %#llx, which heads no "
		     "allocated block of its size (WF-NO-DANGLING)",
		     (unsigned long long)va, (unsigned long long)pte_addr(e));
		return false;
	}
	return true;
}

static bool check_subtree(struct check *c, const struct page *node,
			  uint64_t base, unsigned from, unsigned to)
{
	unsigned level = pt_level(node);

	for (unsigned i = from; i < to; i++) {
		pte_t e = pt_entry_get(node, i);
		uint64_t va = base + i * pt_entry_size(level);

		if (level == PT_LEVELS && i >= PT_KERNEL_SLOT)
			va |= UINT64_C(0xffff) << 48; /* canonical */
		if (!pte_present(e))
			continue;
		if (pte_is_leaf(e, level)) {
			if (level == PT_LEVELS) {
				klog("pagetable: a leaf in the root (slot %u)", i);
				return false;
			}
			if (!leaf_ok(c, e, level, va))
				return false;
			continue;
		}
		if (!!(e & PTE_U) != c->user) {
			klog("pagetable: table entry for va %#llx: user bit "
			     "wrong", (unsigned long long)va);
			return false;
		}
		if (!pfn_valid(pa_to_pfn(PADDR(pte_addr(e))))) {
			klog("pagetable: table entry for va %#llx points "
			     "outside memory (%#llx)", (unsigned long long)va,
			     (unsigned long long)pte_addr(e));
			return false;
		}
		c->nodes++;
		if (!node_ok(pt_child(e), level - 1, va) ||
		    !check_subtree(c, pt_child(e), va, 0, PT_ENTRIES))
			return false;
	}
	return true;
}

bool pt_validate(const struct pagetable *pt, const struct pagetable *kernel)
{
	struct check c = { .user = pt->kind == PT_USER, .nodes = 1 };
	int64_t counted = atomic_load_explicit(&pt->nodes, memory_order_relaxed);

	if (!node_ok(pt->root, PT_LEVELS, 0) ||
	    !check_subtree(&c, pt->root, 0, first_slot(pt), end_slot(pt)))
		return false;
	/* A node reached twice (two parents) is counted twice. */
	if (c.nodes != counted) {
		klog("pagetable: %lld nodes reached from the root, %lld made "
		     "and not freed", (long long)c.nodes, (long long)counted);
		return false;
	}
	/* A kernel table's PDPTs are never removed (every user table has
	 * them). */
	for (unsigned i = PT_KERNEL_SLOT; pt->kind == PT_KERNEL &&
	     i < PT_ENTRIES; i++) {
		pte_t e = pt_entry_get(pt->root, i);

		if (!pte_present(e) || pte_is_leaf(e, PT_LEVELS)) {
			klog("pagetable: kernel PML4 slot %u has no PDPT", i);
			return false;
		}
	}
	if (pt->kind == PT_USER && kernel != NULL) {
		for (unsigned i = PT_KERNEL_SLOT; i < PT_ENTRIES; i++) {
			if (pt_entry_get(pt->root, i) !=
			    pt_entry_get(kernel->root, i)) {
				klog("pagetable: PML4 slot %u differs from "
				     "the kernel's (WF-KERNEL-HALF)", i);
				return false;
			}
		}
	}
	return true;
}

/* FNV-1a over 64-bit words. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static uint64_t hash_subtree(const struct page *node, unsigned from,
			     unsigned to, uint64_t h)
{
	unsigned level = pt_level(node);

	h = mix(h, (uint64_t)level << 32 | node->u.pt.nr_children);
	for (unsigned i = from; i < to; i++) {
		pte_t e = pt_entry_get(node, i);

		h = mix(h, e);
		if (pte_present(e) && !pte_is_leaf(e, level))
			h = hash_subtree(pt_child(e), 0, PT_ENTRIES, h);
	}
	return h;
}

uint64_t pt_hash(const struct pagetable *pt)
{
	return hash_subtree(pt->root, first_slot(pt), end_slot(pt),
			    UINT64_C(0xcbf29ce484222325));
}
