/* SPDX-License-Identifier: MIT */
/*
 * Cursors over page tables (cursor.h): the tree lock protocol of
 * PAGETABLE.md, which kernel/mm/cursor.pml models for `make verify`.
 *
 * The protocol, for a cursor over [start, end):
 *   1. In an RCU read-side section, descend without locks from the root
 *      to the lowest node whose range covers [start, end): stop at a node
 *      where start and end - 1 fall in different entries, at level 1, or
 *      where the entry is a huge leaf. A missing child on the way is made:
 *      lock the parent, give up and start again if it is stray, re-read
 *      the entry and, if still empty, publish a zeroed, initialised node.
 *   2. Lock that node (the top); if it is stray, unlock and start again.
 *      Leave the read-side section.
 *   3. Lock every node below the top that overlaps [start, end), in
 *      depth-first pre-order.
 *   4. Operate inside [start, end) only. A node made now is locked before
 *      it is published; a node emptied now (never the top) is detached:
 *      its parent's entry cleared, marked stray, unlocked (it holds
 *      nothing below), and freed after the flush and a grace period.
 *   5. Release in exactly the reverse of pre-order, leaf to root (CUR-03).
 *
 * Why it is right.
 *   Exclusion: an entry is written only by the holder of its node's lock,
 *   and a cursor holds every node that maps any of its range (the top
 *   covers the range; step 3 takes all below it that overlap; step 4's
 *   new nodes are born locked). Two cursors whose ranges overlap need the
 *   lowest node that maps the overlap, so one waits for the other.
 *   Stray nodes: a node is detached only by a cursor holding it and its
 *   parent, and marked stray before it is unlocked. A lock-free descent
 *   may reach it anyway (it read the parent's entry before the detach),
 *   so whoever locks a node it found without holding the parent checks
 *   stray under the lock (steps 1 and 2). Nodes below a locked top are
 *   reached only through locked parents, so they need no check. Memory:
 *   the descent reads nodes only inside its read-side section, and a
 *   detached node is freed only after a grace period begun after the
 *   detach, so no descent can still be reading it; a cursor that holds
 *   its top needs no section, because no one else can detach anything
 *   below a node it holds.
 *   Deadlock: cursors take locks in pre-order of the tree (a node before
 *   its descendants, left before right), a total order; step 1's parent
 *   lock is taken holding nothing else; so no cycle of waiting forms.
 *   Flush before free: frames and nodes wait in the cursor until its
 *   changes are flushed (flush_tlbs()), and nodes for a grace period
 *   after; the flush comes before the locks go, so no cursor sees a
 *   downgrade that some TLB still ignores. Nodes are handed to RCU only
 *   when the cursor holds no lock (a CPU in a read-side section may be
 *   spinning on one, and the fallback waits for a grace period).
 *
 * The lock checker (debug builds) holds each cursor to that order: a
 * node's key is its first address plus its depth, so pre-order is key
 * order; every contended acquisition must have a key above the last, and
 * every release (but a detached node's, which holds nothing) a key below
 * the last release.
 *
 * With PT_LOCK_SPACE (the benchmark baseline) one lock per table replaces
 * all of this: the cursor takes it first and no node lock at all.
 */
#include "kernel/mm/cursor.h"

#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"

/* ------------------------------------------------------------ the locks */

static bool tree_locks(const struct cursor *c)
{
	return c->pt->locking == PT_LOCK_TREE;
}

static void raw_lock(_Atomic uint32_t *l)
{
	uint32_t me = cpu_id() + 1;

	for (;;) {
		uint32_t free = 0;

		/* Acquire: pairs with raw_unlock()'s release. */
		if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(
			    l, &free, me, memory_order_acquire,
			    memory_order_relaxed))
			return;
		/* Holds are short, and their end sends no interrupt: spin,
		 * never halt (the contract's cpu_spin()). */
		cpu_spin();
	}
}

static void raw_unlock(_Atomic uint32_t *l)
{
	ASSERT(atomic_load_explicit(l, memory_order_relaxed) != 0);
	atomic_store_explicit(l, 0, memory_order_release);
}

/* A node's place in pre-order: its first address, then its depth. */
static uint64_t node_key(uint64_t base, unsigned level)
{
	return base + (PT_LEVELS - level);
}

/* Take node's lock as the cursor's next in pre-order (steps 2, 3). */
static void lock_node(struct cursor *c, struct page *node, uint64_t base)
{
	uint64_t key = node_key(base, pt_level(node));

	if (!tree_locks(c))
		return;
	if (CONFIG_DEBUG && c->held > 0 && key <= c->last_locked)
		panic("cursor: lock of node %#llx (key %#llx) after key %#llx: "
		      "not in pre-order", (unsigned long long)page_to_pa(node).v,
		      (unsigned long long)key,
		      (unsigned long long)c->last_locked);
	raw_lock(&node->u.pt.lock);
	c->last_locked = key;
	c->held++;
}

/* Release node's lock in the reverse of pre-order (step 5). */
static void unlock_node(struct cursor *c, struct page *node, uint64_t base)
{
	uint64_t key = node_key(base, pt_level(node));

	if (!tree_locks(c))
		return;
	if (CONFIG_DEBUG && key >= c->last_unlocked)
		panic("cursor: release of node %#llx (key %#llx) after key "
		      "%#llx: not leaf to root (CUR-03)",
		      (unsigned long long)page_to_pa(node).v,
		      (unsigned long long)key,
		      (unsigned long long)c->last_unlocked);
	c->last_unlocked = key;
	c->held--;
	raw_unlock(&node->u.pt.lock);
	PAUSE("cursor.node.unlocked");
}

/* ------------------------------------------------------------- geometry */

/* The first address of entry i of a level-`level` node at base. */
static uint64_t entry_va(uint64_t base, unsigned level, unsigned i)
{
	uint64_t va = base + (uint64_t)i * pt_entry_size(level);

	if (level == PT_LEVELS && i >= PT_KERNEL_SLOT)
		va |= UINT64_C(0xffff) << 48; /* canonical upper half */
	return va;
}

/* The last address a node at base and level maps. */
static uint64_t node_last(uint64_t base, unsigned level)
{
	return level == PT_LEVELS ? UINT64_MAX
				  : base + pt_entry_size(level + 1) - 1;
}

/* The entries of a node at base that [lo, last] overlaps. */
static void entries_in(uint64_t base, unsigned level, uint64_t lo,
		       uint64_t last, unsigned *i0, unsigned *i1)
{
	*i0 = pt_index(MAX(lo, base), level);
	*i1 = pt_index(MIN(last, node_last(base, level)), level);
}

static bool in_half(const struct pagetable *pt, uint64_t va, uint64_t last)
{
	if (pt->kind == PT_USER)
		return last < PT_USER_END;
	return va >= PT_KERNEL_BASE;
}

/* --------------------------------------------------- steps 1 and 2: top */

/*
 * Step 1's missing child: make entry i of node (level > 1) a fresh node
 * unless something is there now. E_STATE if node went stray (the
 * descent starts again).
 */
static err_t make_child(struct cursor *c, struct page *node, uint64_t base,
			unsigned i)
{
	struct page *child;
	err_t e = E_OK;

	if (tree_locks(c))
		raw_lock(&node->u.pt.lock);
	if (node->u.pt.stray) {
		e = E_STATE;
	} else if (!pte_present(pt_entry_get(node, i))) {
		child = pt_node_alloc(c->pt, pt_level(node) - 1);
		if (child == NULL) {
			e = E_NOMEM;
		} else {
			pt_entry_set(node, i, pt_table_entry(c->pt, child));
			node->u.pt.nr_children++;
			if (c->n_made < CURSOR_MADE_MAX)
				c->made[c->n_made++] = (typeof(c->made[0])){
					child, node, base, i };
		}
	}
	if (tree_locks(c))
		raw_unlock(&node->u.pt.lock);
	return e;
}

/* Steps 1 and 2: the top, locked. */
static err_t lock_top(struct cursor *c)
{
	uint64_t last = c->end - 1;

	for (;;) {
		struct page *node = c->pt->root;
		uint64_t base = 0;
		err_t e = E_OK;

		rcu_read_enter();
		for (;;) {
			unsigned level = pt_level(node), i = pt_index(c->start, level);
			pte_t pte;

			/* Down only while the range is inside one entry and
			 * smaller: the top then holds every entry the range
			 * covers whole (a 2 MiB range's PD entry). */
			if (level == 1 || i != pt_index(last, level) ||
			    (IS_ALIGNED(c->start, pt_entry_size(level)) &&
			     c->end - c->start == pt_entry_size(level)))
				break;
			pte = pt_entry_get(node, i);
			if (pte_is_leaf(pte, level))
				break;
			if (!pte_present(pte)) {
				if ((e = make_child(c, node, base, i)) != E_OK)
					break;
				continue; /* read the entry again */
			}
			base = entry_va(base, level, i);
			node = pt_child(pte);
		}
		if (e == E_OK) {
			PAUSE("cursor.top.found");
			lock_node(c, node, base);
			if (!node->u.pt.stray || !tree_locks(c)) {
				rcu_read_exit();
				c->top = node;
				c->top_base = base;
				return E_OK;
			}
			unlock_node(c, node, base);
			c->last_unlocked = UINT64_MAX; /* a new attempt */
		}
		rcu_read_exit();
		if (e == E_NOMEM)
			return e;
	}
}

/* Step 3: every node below node that overlaps the range, in pre-order. */
static void lock_below(struct cursor *c, struct page *node, uint64_t base)
{
	unsigned level = pt_level(node), i0, i1;

	if (level == 1)
		return;
	entries_in(base, level, c->start, c->end - 1, &i0, &i1);
	for (unsigned i = i0; i <= i1; i++) {
		pte_t e = pt_entry_get(node, i);

		if (pte_present(e) && !pte_is_leaf(e, level)) {
			uint64_t b = entry_va(base, level, i);

			lock_node(c, pt_child(e), b);
			lock_below(c, pt_child(e), b);
		}
	}
}

/* Step 5: the reverse of lock_below(), then node itself. */
static void unlock_from(struct cursor *c, struct page *node, uint64_t base)
{
	unsigned level = pt_level(node), i0, i1;

	if (level > 1) {
		entries_in(base, level, c->start, c->end - 1, &i0, &i1);
		for (unsigned i = i1 + 1; i-- > i0;) {
			pte_t e = pt_entry_get(node, i);

			if (pte_present(e) && !pte_is_leaf(e, level))
				unlock_from(c, pt_child(e),
					    entry_va(base, level, i));
		}
	}
	unlock_node(c, node, base);
}

/* -------------------------------------------------- flushing and freeing */

/* Drop a reference the cursor owns (a cleared leaf's, a dead node's). */
static void put(struct page *p)
{
	err_t e = frame_put(p);

	ASSERT(e == E_OK);
	(void)e;
}

/*
 * The entry at va of a level-`level` node changed: its whole range goes
 * into the part of its page size (a root entry's 512 GiB into the 1 GiB
 * part: PML4 entries map no pages, and a detached PDPT is rare).
 */
static void mark_dirty(struct cursor *c, uint64_t va, unsigned level)
{
	uint64_t last = va + (pt_entry_size(level) - 1);
	unsigned k = MIN(level, CURSOR_FLUSH_PARTS) - 1;

	ASSERT(level >= 1 && level <= PT_LEVELS);
	c->dirty[k].lo = MIN(c->dirty[k].lo, va);
	c->dirty[k].hi = MAX(c->dirty[k].hi, last);
}

static bool dirty(const struct cursor *c, unsigned k)
{
	return c->dirty[k].lo <= c->dirty[k].hi;
}

static void clean(struct cursor *c)
{
	for (unsigned k = 0; k < CURSOR_FLUSH_PARTS; k++) {
		c->dirty[k].lo = UINT64_MAX;
		c->dirty[k].hi = 0;
	}
}

/* Flush what changed (each page size in its own steps: MOM-02). */
static void flush_tlbs(struct cursor *c)
{
	struct flush_range parts[CURSOR_FLUSH_PARTS];
	unsigned n = 0;

	for (unsigned k = 0; k < CURSOR_FLUSH_PARTS; k++) {
		if (!dirty(c, k))
			continue;
		parts[n++] = (struct flush_range){
			.va = c->dirty[k].lo,
			.len = c->dirty[k].hi - c->dirty[k].lo + 1,
			.stride = pt_entry_size(k + 1),
		};
	}
	clean(c);
	if (n == 0)
		return;
	PAUSE("cursor.flush.before");
	if (c->flush != NULL) {
		c->flush->range(c->flush->arg, parts, n);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		tlb_flush_range(parts[i].va, parts[i].len);
}

/* Release the frames that lost their leaves: after flush_tlbs() (T13). */
static void put_frames(struct cursor *c)
{
	for (unsigned i = 0; i < c->n_frames; i++)
		put(c->frames[i]);
	c->n_frames = 0;
}

/* A chain of detached nodes that waits for a grace period. */
struct dead_nodes {
	struct rcu_work work;
	struct page *first;
};

static void put_chain(struct page *p)
{
	while (p != NULL) {
		struct page *next = p->u.pt.dead_next;

		put(p);
		p = next;
	}
}

static void free_dead_nodes(struct rcu_work *w)
{
	struct dead_nodes *d = (struct dead_nodes *)w;

	put_chain(d->first);
	(void)kfree(d);
}

/*
 * Hand the detached nodes to RCU, after their flush. Only with no node
 * lock held: the fallback waits for a grace period here, and a CPU in a
 * read-side section may be spinning on a lock this cursor holds.
 */
static void defer_nodes(struct cursor *c)
{
	struct dead_nodes *d;

	if (c->dead == NULL)
		return;
	ASSERT(c->held == 0);
	d = kmalloc(sizeof(*d), 0);
	if (d != NULL) {
		d->first = c->dead;
		rcu_call(&d->work, free_dead_nodes);
	} else { /* no memory to wait with: wait here */
		rcu_synchronize();
		put_chain(c->dead);
	}
	c->dead = NULL;
}

/* A tracked leaf e was cleared: its frame waits for the flush. */
static void gather_frame(struct cursor *c, pte_t e)
{
	if (!(e & PTE_TRACKED)) /* decided by the old entry (NOE-03) */
		return;
	if (c->n_frames == CURSOR_BATCH) { /* flush early, locks held */
		flush_tlbs(c);
		put_frames(c);
	}
	c->frames[c->n_frames++] = pt_child(e);
}

/*
 * Entry i of parent (a node at base) points to node, empty, which the
 * caller holds (or, in the trim, has locked): unlink it, mark it stray,
 * and keep it for freeing. The MMU may hold it in its paging-structure
 * caches: its range is flushed (one step of its parent entry's size).
 */
static void unlink_node(struct cursor *c, struct page *parent, uint64_t base,
			unsigned i, struct page *node)
{
	unsigned level = pt_level(parent);

	ASSERT(node->u.pt.nr_children == 0);
	/* The kernel table's PDPTs are shared with every user table. */
	ASSERT(c->pt->kind != PT_KERNEL || level < PT_LEVELS);
	pt_entry_set(parent, i, 0);
	parent->u.pt.nr_children--;
	node->u.pt.stray = 1;
	atomic_fetch_sub_explicit(&c->pt->nodes, 1, memory_order_relaxed);
	node->u.pt.dead_next = c->dead;
	c->dead = node;
	mark_dirty(c, entry_va(base, level, i), level);
}

/* Step 4's detach: the empty node child, held, not the top. */
static void detach(struct cursor *c, struct page *parent, uint64_t base,
		   unsigned i, struct page *child)
{
	ASSERT(child != c->top);
	unlink_node(c, parent, base, i, child);
	PAUSE("cursor.detached");
	if (tree_locks(c)) { /* it holds nothing below: out of order */
		c->held--;
		raw_unlock(&child->u.pt.lock);
	}
}

/* Whether node, a child of a node at parent_level, may ever be detached:
 * not a kernel table's PDPTs, which every user table shares. */
static bool detachable(const struct cursor *c, unsigned parent_level)
{
	return c->pt->kind != PT_KERNEL || parent_level < PT_LEVELS;
}

/*
 * The trim: a node step 1 made that is still empty goes again. The
 * cursor holds nothing now; it locks the parent, then the node (pre-
 * order), as a cursor over the parent would, and unlinks the node only
 * if it is still the parent's child there, live and empty (another cursor
 * may have taken it meanwhile, or detached it: then it is left alone).
 * The parent is reached through a pointer step 1 read, so the read-side
 * section keeps it from being freed under us.
 */
static void trim_made(struct cursor *c)
{
	for (unsigned k = c->n_made; k-- > 0;) {
		struct page *node = c->made[k].node, *parent = c->made[k].parent;
		unsigned i = c->made[k].index;

		rcu_read_enter();
		if (tree_locks(c))
			raw_lock(&parent->u.pt.lock);
		if (!parent->u.pt.stray &&
		    pt_entry_get(parent, i) == pt_table_entry(c->pt, node) &&
		    detachable(c, pt_level(parent))) {
			if (tree_locks(c))
				raw_lock(&node->u.pt.lock);
			if (node->u.pt.nr_children == 0) {
				/* The entry's address from the node's own
				 * range: any address it maps will do. */
				unlink_node(c, parent, c->made[k].parent_base,
					    i, node);
				PAUSE("cursor.trimmed");
			}
			if (tree_locks(c))
				raw_unlock(&node->u.pt.lock);
		}
		if (tree_locks(c))
			raw_unlock(&parent->u.pt.lock);
		rcu_read_exit();
	}
	c->n_made = 0;
}

/*
 * The end: flush while the locks still keep everyone out of the range,
 * release leaf to root, trim (whose unlinks need a flush of their own),
 * and only then, holding nothing, hand the detached nodes to RCU and put
 * the frames (last: nothing this drop allocates reuses them at once).
 */
void cursor_drop(struct cursor *c)
{
	if (c->top == NULL)
		return;
	flush_tlbs(c);
	unlock_from(c, c->top, c->top_base);
	ASSERT(!tree_locks(c) || c->held == 0);
	trim_made(c);
	if (!tree_locks(c))
		raw_unlock(&c->pt->space_lock);
	c->top = NULL;
	flush_tlbs(c);
	defer_nodes(c);
	put_frames(c);
}

err_t cursor_new(struct cursor *c, struct pagetable *pt, uint64_t va,
		 uint64_t end, const struct cursor_flush *flush)
{
	err_t e;

	ASSERT(!in_irq());
	if (!IS_ALIGNED(va | end, PAGE_SIZE) || end <= va)
		return end == 0 && va != 0 ? E_RANGE : E_INVAL;
	if (!in_half(pt, va, end - 1))
		return E_RANGE;
	*c = (struct cursor){
		.pt = pt, .start = va, .end = end, .va = va, .flush = flush,
		.last_unlocked = UINT64_MAX,
	};
	clean(c);
	if (!tree_locks(c))
		raw_lock(&pt->space_lock);
	if ((e = lock_top(c)) != E_OK) { /* E_NOMEM: nothing of ours stays */
		trim_made(c);
		if (!tree_locks(c))
			raw_unlock(&pt->space_lock);
		flush_tlbs(c);
		defer_nodes(c);
		return e;
	}
	lock_below(c, c->top, c->top_base);
	return E_OK;
}

/* ---------------------------------------------------------- operations */

/* Where a walk from the top towards va stopped (find_slot()). */
struct slot {
	struct page *node; /* held by the cursor */
	uint64_t base;     /* its first address */
	unsigned level, i; /* its level, and va's entry in it */
	pte_t e;           /* that entry */
};

/* Walk from the top to va's entry at level want, or above where the walk
 * meets a hole or a leaf. */
static struct slot find_slot(const struct cursor *c, uint64_t va,
			     unsigned want)
{
	struct slot s = { .node = c->top, .base = c->top_base };

	for (;;) {
		s.level = pt_level(s.node);
		s.i = pt_index(va, s.level);
		s.e = pt_entry_get(s.node, s.i);
		if (s.level <= want || !pte_present(s.e) ||
		    pte_is_leaf(s.e, s.level))
			return s;
		s.base = entry_va(s.base, s.level, s.i);
		s.node = pt_child(s.e);
	}
}

/*
 * Make the nodes from s down to level want (s is a hole above it), each
 * locked before it is published (step 4). On E_NOMEM the ones made are
 * detached again: the tables are as they were.
 */
static err_t make_path(struct cursor *c, struct slot *s, unsigned want)
{
	struct slot first = *s;

	while (s->level > want) {
		struct page *child = pt_node_alloc(c->pt, s->level - 1);

		if (child == NULL)
			goto undo;
		if (tree_locks(c)) { /* born held: no one can wait for it */
			raw_lock(&child->u.pt.lock);
			c->held++;
		}
		pt_entry_set(s->node, s->i, pt_table_entry(c->pt, child));
		s->node->u.pt.nr_children++;
		s->base = entry_va(s->base, s->level, s->i);
		s->node = child;
		s->level--;
		s->i = pt_index(c->va, s->level);
		s->e = 0;
	}
	return E_OK;
undo:
	/* Detach bottom-up: each is empty once the one below is gone. */
	while (s->node != first.node) {
		struct slot up = find_slot(c, c->va, s->level + 1);

		detach(c, up.node, up.base, up.i, s->node);
		*s = up;
	}
	*s = first;
	return E_NOMEM;
}

/* prot for a leaf of pt's (cursor_map()'s rule), or false. */
static bool leaf_prot(const struct pagetable *pt, uint64_t prot, uint64_t *out)
{
	if (prot & ~PTE_PROT)
		return false;
	if (pt->kind == PT_USER) {
		if (prot & PTE_G)
			return false;
		*out = prot | PTE_U;
		return true;
	}
	*out = prot;
	return !(prot & PTE_U);
}

/* A leaf's arguments, checked; the reference taken if tracked. */
static err_t leaf_args(const struct cursor *c, paddr_t pa, uint64_t size,
		       uint64_t prot, unsigned flags, uint64_t *leaf_prot_out)
{
	err_t e;

	if (c->top == NULL || c->va >= c->end)
		return E_RANGE;
	if (!IS_ALIGNED(pa.v, size) ||
	    (flags & ~(CURSOR_TRACKED | CURSOR_REPLACE | CURSOR_COW)) ||
	    ((flags & CURSOR_COW) && !(flags & CURSOR_TRACKED)) ||
	    !leaf_prot(c->pt, prot, leaf_prot_out))
		return E_INVAL;
	if (!IS_ALIGNED(c->va, size))
		return E_INVAL;
	if (c->end - c->va < size)
		return E_RANGE;
	if ((flags & CURSOR_TRACKED) && (e = pt_trackable(pa, size)) != E_OK)
		return e;
	return E_OK;
}

/* The leaf cursor_map*() writes. */
static pte_t new_leaf(paddr_t pa, unsigned level, uint64_t prot,
		      unsigned flags)
{
	pte_t e = pte_leaf(pa.v, level, prot, flags & CURSOR_TRACKED);

	return flags & CURSOR_COW ? (e | PTE_COW) & ~PTE_W : e;
}

/* Write leaf e at s (a hole or a leaf of the same size being replaced). */
static void set_leaf(struct cursor *c, struct slot *s, pte_t e)
{
	pte_t old = s->e;

	pt_entry_set(s->node, s->i, e);
	if (!pte_present(old)) {
		s->node->u.pt.nr_children++;
		return;
	}
	mark_dirty(c, c->va, s->level);
	gather_frame(c, old);
}

/* Take the reference a tracked leaf holds (checked by leaf_args()). */
static err_t take_ref(paddr_t pa, unsigned flags)
{
	if (!(flags & CURSOR_TRACKED))
		return E_OK;
	/* frame_get()'s E_RANGE (the count is full) is not "at the end". */
	return frame_get(pfn_to_page(pa_to_pfn(pa))) == E_OK ? E_OK : E_NOSPC;
}

static void drop_ref(paddr_t pa, unsigned flags)
{
	if (flags & CURSOR_TRACKED)
		put(pfn_to_page(pa_to_pfn(pa)));
}

err_t cursor_map(struct cursor *c, paddr_t pa, uint64_t prot, unsigned flags)
{
	uint64_t lp;
	struct slot s;
	err_t e;

	if ((e = leaf_args(c, pa, PAGE_SIZE, prot, flags, &lp)) != E_OK)
		return e;
	s = find_slot(c, c->va, 1);
	if (pte_is_leaf(s.e, s.level) &&
	    (s.level > 1 || !(flags & CURSOR_REPLACE)))
		return E_BUSY; /* WF-NO-OVERMAP; no split of a huge page */
	if ((e = take_ref(pa, flags)) != E_OK)
		return e;
	if (s.level > 1 && (e = make_path(c, &s, 1)) != E_OK) {
		drop_ref(pa, flags);
		return e;
	}
	set_leaf(c, &s, new_leaf(pa, 1, lp, flags));
	c->va += PAGE_SIZE;
	return E_OK;
}

err_t cursor_map_huge(struct cursor *c, paddr_t pa, uint64_t prot,
		      unsigned flags)
{
	uint64_t lp, size = pt_entry_size(2);
	struct slot s;
	err_t e;

	if ((e = leaf_args(c, pa, size, prot, flags, &lp)) != E_OK)
		return e;
	s = find_slot(c, c->va, 2);
	if (s.level < 2)
		return E_RANGE; /* cannot happen: the top holds the entry */
	if (pte_is_leaf(s.e, s.level) &&
	    (s.level > 2 || !(flags & CURSOR_REPLACE)))
		return E_BUSY;
	if (s.level == 2 && pte_present(s.e) && !pte_is_leaf(s.e, 2) &&
	    pt_child(s.e)->u.pt.nr_children > 0)
		return E_BUSY; /* 4 KiB pages mapped inside */
	if ((e = take_ref(pa, flags)) != E_OK)
		return e;
	if (s.level > 2 && (e = make_path(c, &s, 2)) != E_OK) {
		drop_ref(pa, flags);
		return e;
	}
	if (pte_present(s.e) && !pte_is_leaf(s.e, 2)) { /* an empty table */
		detach(c, s.node, s.base, s.i, pt_child(s.e));
		s.e = 0;
	}
	set_leaf(c, &s, new_leaf(pa, 2, lp, flags));
	c->va += size;
	return E_OK;
}

/* [lo, last] for an operation of len bytes at the position, checked. */
static err_t range_args(const struct cursor *c, uint64_t len, uint64_t *last)
{
	if (c->top == NULL || c->va >= c->end)
		return E_RANGE;
	if (len == 0 || !IS_ALIGNED(len, PAGE_SIZE))
		return E_INVAL;
	if (len > c->end - c->va)
		return E_RANGE;
	*last = c->va + len - 1;
	return E_OK;
}

/* No leaf in node's part of [lo, last] reaches out of it (no splitting). */
static bool leaves_inside(struct page *node, uint64_t base, uint64_t lo,
			  uint64_t last)
{
	unsigned level = pt_level(node), i0, i1;

	entries_in(base, level, lo, last, &i0, &i1);
	for (unsigned i = i0; i <= i1; i++) {
		pte_t e = pt_entry_get(node, i);
		uint64_t va = entry_va(base, level, i);

		if (!pte_present(e))
			continue;
		if (pte_is_leaf(e, level)) {
			if (va < lo || va + (pt_entry_size(level) - 1) > last)
				return false;
		} else if (!leaves_inside(pt_child(e), va, lo, last)) {
			return false;
		}
	}
	return true;
}

static void unmap_in(struct cursor *c, struct page *node, uint64_t base,
		     uint64_t lo, uint64_t last)
{
	unsigned level = pt_level(node), i0, i1;

	entries_in(base, level, lo, last, &i0, &i1);
	for (unsigned i = i0; i <= i1; i++) {
		pte_t e = pt_entry_get(node, i);
		uint64_t va = entry_va(base, level, i);

		if (!pte_present(e))
			continue;
		if (!pte_is_leaf(e, level)) {
			struct page *child = pt_child(e);

			unmap_in(c, child, va, lo, last);
			if (child->u.pt.nr_children == 0 &&
			    detachable(c, level))
				detach(c, node, base, i, child);
			continue;
		}
		/* Exchange: the last A and D bits the MMU set come with it. */
		e = atomic_exchange_explicit(&pt_entries(node)[i], 0,
					     memory_order_acq_rel);
		node->u.pt.nr_children--;
		mark_dirty(c, va, level);
		gather_frame(c, e);
	}
}

err_t cursor_unmap(struct cursor *c, uint64_t len)
{
	uint64_t last;
	err_t e;

	if ((e = range_args(c, len, &last)) != E_OK)
		return e;
	if (!leaves_inside(c->top, c->top_base, c->va, last))
		return E_INVAL;
	unmap_in(c, c->top, c->top_base, c->va, last);
	c->va = last + 1 == 0 ? c->end : last + 1;
	return E_OK;
}

/*
 * Give the present leaf i of node (last read as e) the protection prot
 * and the software bits set, by compare-and-swap: the MMU may set its
 * A and D bits in between, and a plain store of e's copy would lose them.
 * A copy-on-write leaf stays read-only until its write fault. Returns
 * whether the entry changed.
 */
static bool update_leaf(struct page *node, unsigned i, pte_t e, uint64_t prot,
			uint64_t set)
{
	for (;;) {
		pte_t n = pte_with_prot(e, prot) | set;

		if (n & PTE_COW)
			n &= ~PTE_W;
		if (n == e)
			return false;
		PAUSE("cursor.leaf.update"); /* the MMU may set A or D now */
		if (atomic_compare_exchange_weak_explicit(
			    &pt_entries(node)[i], &e, n, memory_order_acq_rel,
			    memory_order_acquire))
			return true;
	}
}

static void protect_in(struct cursor *c, struct page *node, uint64_t base,
		       uint64_t lo, uint64_t last, uint64_t prot)
{
	unsigned level = pt_level(node), i0, i1;

	entries_in(base, level, lo, last, &i0, &i1);
	for (unsigned i = i0; i <= i1; i++) {
		pte_t e = pt_entry_get(node, i);
		uint64_t va = entry_va(base, level, i);

		if (!pte_present(e))
			continue;
		if (!pte_is_leaf(e, level)) {
			protect_in(c, pt_child(e), va, lo, last, prot);
			continue;
		}
		if (update_leaf(node, i, e, prot, 0))
			mark_dirty(c, va, level);
	}
}

err_t cursor_protect(struct cursor *c, uint64_t len, uint64_t prot)
{
	uint64_t last, lp;
	err_t e;

	if ((e = range_args(c, len, &last)) != E_OK)
		return e;
	if (!leaf_prot(c->pt, prot, &lp) ||
	    !leaves_inside(c->top, c->top_base, c->va, last))
		return E_INVAL;
	protect_in(c, c->top, c->top_base, c->va, last, lp);
	c->va = last + 1 == 0 ? c->end : last + 1;
	return E_OK;
}

struct pt_mapping cursor_query(const struct cursor *c)
{
	struct slot s;
	uint64_t size;

	ASSERT(c->top != NULL && c->va < c->end);
	s = find_slot(c, c->va, 1);
	size = pt_entry_size(s.level);
	if (!pte_is_leaf(s.e, s.level))
		return (struct pt_mapping){ .va = ALIGN_DOWN(c->va, size),
					    .size = size };
	return (struct pt_mapping){
		.present = true, .va = ALIGN_DOWN(c->va, size), .size = size,
		.pa = PADDR(pte_addr(s.e)), .prot = pte_prot(s.e),
		.tracked = (s.e & PTE_TRACKED) != 0,
		.cow = (s.e & PTE_COW) != 0,
	};
}

err_t cursor_set_cow(struct cursor *c)
{
	struct slot s;
	uint64_t size;

	if (c->top == NULL || c->va >= c->end)
		return E_RANGE;
	s = find_slot(c, c->va, 1);
	size = pt_entry_size(s.level);
	if (!pte_is_leaf(s.e, s.level) || !(s.e & PTE_TRACKED))
		return E_INVAL;
	if (ALIGN_DOWN(c->va, size) < c->start ||
	    ALIGN_DOWN(c->va, size) + (size - 1) > c->end - 1)
		return E_INVAL; /* a huge page reaching out of the barrier */
	if (update_leaf(s.node, s.i, s.e, pte_prot(s.e), PTE_COW))
		mark_dirty(c, ALIGN_DOWN(c->va, size), s.level);
	c->va = ALIGN_DOWN(c->va, size) + size;
	if (c->va == 0 || c->va > c->end)
		c->va = c->end;
	return E_OK;
}

err_t cursor_jump(struct cursor *c, uint64_t va)
{
	if (!IS_ALIGNED(va, PAGE_SIZE))
		return E_INVAL;
	if (c->top == NULL || va < c->start || va >= c->end)
		return E_RANGE; /* the barrier (T10) */
	c->va = va;
	return E_OK;
}

err_t cursor_move_forward(struct cursor *c)
{
	struct pt_mapping m;
	uint64_t next;

	if (c->top == NULL || c->va >= c->end)
		return E_RANGE;
	m = cursor_query(c);
	next = m.va + m.size;
	/* Strictly forward (T11), and never past the barrier. */
	c->va = next <= c->va || next > c->end ? c->end : next;
	return E_OK;
}
