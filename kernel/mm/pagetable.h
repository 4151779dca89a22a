/* SPDX-License-Identifier: MIT */
/*
 * Page tables (../shared/design/PAGETABLE.md): x86-64 4-level trees whose
 * nodes are frames typed PAGE_PAGETABLE. Entries are the format of
 * kernel/arch/x86_64/pte.h on both platforms (the host's MMU is
 * pt_walk()). Changing a tree is the cursors' job (cursor.h); this is
 * the tree, its nodes, and the checks.
 *
 * A node's metadata lives in its frame descriptor (struct page, u.pt):
 *   lock         the node's lock (cursor.c): 0 free, else the holder's
 *                CPU + 1; protects the node's entries, nr_children, stray
 *   level        [I] 4 (the root) .. 1 (4 KiB leaves); set before the
 *                node is published
 *   nr_children  [lock] present entries
 *   stray        [lock] detached from its parent: a cursor that finds it
 *                set after locking the node starts again (cursor.c)
 * A node is zeroed and its metadata initialised before the entry that
 * points to it is written (release), because the MMU and lock-free
 * descents read tables without locks (acquire). An unlinked node is freed
 * only after an RCU grace period and the TLB flush of its range.
 *
 * Halves. A kernel table (PT_KERNEL) maps the upper canonical half; its
 * 256 PML4 entries there point to PDPTs made with the table and never
 * removed, so a kernel mapping made once is seen by every user table,
 * which copies those entries (PAGETABLE.md; the dissertation's Fig 6.6).
 * A user table (PT_USER) maps the lower half, and cursors on it never
 * touch the upper one (WF-KERNEL-HALF). Page-table pages are never mapped
 * by a leaf of any table checked here, nor is a user entry of the upper
 * half possible (WF-PT-PRIVATE).
 *
 * Tracked leaves (PTE_TRACKED) hold a reference on the frame they map
 * (user memory); untracked ones map memory nobody counts (MMIO, the
 * direct map). Whether a cleared or replaced leaf drops a reference is
 * read from the old entry (NOE-03).
 */
#ifndef KERNEL_MM_PAGETABLE_H
#define KERNEL_MM_PAGETABLE_H

#include <stdatomic.h>

#include "kernel/arch/x86_64/pte.h"
#include "kernel/lib/err.h"
#include "kernel/mm/page.h"

#define PT_USER_END    (UINT64_C(1) << 47)          /* lower half's end */
#define PT_KERNEL_BASE UINT64_C(0xffff800000000000) /* upper half */
#define PT_KERNEL_SLOT 256u                         /* its first PML4 slot */

enum pt_kind {
	PT_USER,   /* the lower half; the upper half is the kernel's */
	PT_KERNEL, /* the upper half, shared with every user table */
};

/* How cursors exclude each other (cursor.c). */
enum pt_locking {
	PT_LOCK_TREE,  /* per-node locks, the tree protocol (the default) */
	PT_LOCK_SPACE, /* one lock for the whole table (benchmark baseline) */
};

struct pagetable {
	struct page *root;        /* [I] the PML4 */
	enum pt_kind kind;        /* [I] */
	enum pt_locking locking;  /* [I] */
	_Atomic uint32_t space_lock; /* PT_LOCK_SPACE's lock (cursor.c) */
	_Atomic int64_t nodes;    /* [a] nodes now, the root included */
};

/*
 * Make a table. A user table copies the upper half of kernel's root (a
 * PT_KERNEL table); kernel NULL leaves the user table's upper half empty
 * (host tests of the lower half alone). A kernel table gets its 256
 * upper-half PDPTs now. E_NOMEM (nothing allocated), E_INVAL (kernel is
 * not a kernel table, or given for one).
 */
MUST_CHECK err_t pt_create(struct pagetable *pt, enum pt_kind kind,
			   const struct pagetable *kernel,
			   enum pt_locking locking);

/*
 * A user table over a kernel root made elsewhere (the kernel's own
 * tables, kernel/arch/x86_64/paging.c): copies the upper half of the
 * PML4 at kernel_root.
 */
MUST_CHECK err_t pt_create_user_from(struct pagetable *pt, paddr_t kernel_root,
				     enum pt_locking locking);

/*
 * Free every node of pt's own half and its root, dropping the references
 * of the tracked leaves still mapped. Pre: no cursor on pt and no CPU
 * uses it (nothing walks it any more; the caller has flushed the TLBs).
 */
void pt_destroy(struct pagetable *pt);

/* The root's physical address (for mmu_switch_root()). */
paddr_t pt_root_pa(const struct pagetable *pt);

/*
 * The MMU's view: the leaf that maps va and its level, or 0. Lock-free:
 * the caller is in an RCU read-side section or owns the table.
 */
pte_t pt_walk(const struct pagetable *pt, uint64_t va, unsigned *level);

/*
 * Check the tree at quiescence (no cursor): every node is typed
 * PAGE_PAGETABLE with one reference, at the level its parent implies, not
 * stray, its nr_children the number of its present entries; no entry
 * points to a free frame (WF-NO-DANGLING): a tracked leaf's frame heads
 * an allocated block of the leaf's size; no leaf maps a page-table page
 * (WF-PT-PRIVATE); a kernel table has no user-accessible entry, a user
 * table's leaves are user-accessible and never Global (BOO-01); a user
 * table's upper half equals kernel's, if given (WF-KERNEL-HALF). Logs
 * the first problem found.
 */
bool pt_validate(const struct pagetable *pt, const struct pagetable *kernel);

/*
 * A hash of every entry of pt's own half and of the nodes' metadata
 * (WF-FAIL-NOOP: equal before and after a call that must change nothing).
 * At quiescence, or under a cursor covering the half.
 */
uint64_t pt_hash(const struct pagetable *pt);

/*
 * Whether a tracked leaf of size bytes may map pa: pa heads an allocated
 * PAGE_FRAME block of exactly that size (E_OK), else E_NOT_ALLOCATED. The
 * caller must hold a reference for the answer to stay true.
 */
MUST_CHECK err_t pt_trackable(paddr_t pa, uint64_t size);

/* ------------------------------------------- nodes (for cursor.c only) */

static inline _Atomic pte_t *pt_entries(const struct page *node)
{
	return (_Atomic pte_t *)page_to_virt(node);
}

static inline pte_t pt_entry_get(const struct page *node, unsigned i)
{
	/* Acquire: pairs with the release that published a child. */
	return atomic_load_explicit(&pt_entries(node)[i],
				    memory_order_acquire);
}

static inline void pt_entry_set(struct page *node, unsigned i, pte_t e)
{
	atomic_store_explicit(&pt_entries(node)[i], e, memory_order_release);
}

/* The node a present table entry points to. */
static inline struct page *pt_child(pte_t e)
{
	return pfn_to_page(pa_to_pfn(PADDR(pte_addr(e))));
}

static inline unsigned pt_level(const struct page *node)
{
	return node->u.pt.level;
}

/* A zeroed node at level, initialised and unpublished; NULL: no frame. */
struct page *pt_node_alloc(struct pagetable *pt, unsigned level);

/* Give back a node nobody can reach any more (after its grace period). */
void pt_node_free(struct pagetable *pt, struct page *node);

/* The entry at i of a node of pt's, made to point at child. */
pte_t pt_table_entry(const struct pagetable *pt, const struct page *child);

#endif /* KERNEL_MM_PAGETABLE_H */
