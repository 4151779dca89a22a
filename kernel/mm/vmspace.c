/* SPDX-License-Identifier: MIT */
/*
 * Address spaces (vmspace.h): activation, shootdown, map/unmap/protect
 * through cursors, regions, demand and copy-on-write faults, fork.
 *
 * Shootdown. A CPU sets its bit in vs->active before it loads the root
 * and clears it only after it has loaded another, so a CPU whose TLB may
 * hold vs's translations has its bit set while it may. A change clears or
 * downgrades entries, then (cursor flush) reads the bitmap: a CPU that
 * sets its bit after that read loads the root after the change and
 * caches nothing older; a CPU that leaves meanwhile gets an IPI it does
 * not need and finds vs no longer its own (then its root switch already
 * dropped the translations). The cross-CPU call returns when every target
 * has flushed, and only then does the cursor release frames (T13).
 */
#include "kernel/mm/vmspace.h"

#include <string.h>

#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"

static paddr_t kernel_root;                      /* [I] vmspace_init() */
static bool have_kernel_root;                    /* [I] it was called */
static struct vmspace *_Atomic cpu_space[MAX_CPUS]; /* [that CPU] */

void vmspace_init(paddr_t root)
{
	kernel_root = root;
	have_kernel_root = true;
}

/* ------------------------------------------------------------ activation */

static bool is_active(const struct vmspace *vs, unsigned cpu)
{
	return (atomic_load_explicit(&vs->active[cpu / 64],
				     memory_order_seq_cst) >> (cpu % 64)) & 1;
}

static void set_active(struct vmspace *vs, unsigned cpu, bool on)
{
	uint64_t bit = UINT64_C(1) << (cpu % 64);

	if (on)
		atomic_fetch_or_explicit(&vs->active[cpu / 64], bit,
					 memory_order_seq_cst);
	else
		atomic_fetch_and_explicit(&vs->active[cpu / 64], ~bit,
					  memory_order_seq_cst);
}

struct vmspace *vmspace_current(void)
{
	return atomic_load_explicit(&cpu_space[cpu_id()], memory_order_relaxed);
}

void vmspace_activate(struct vmspace *vs)
{
	unsigned me;
	struct vmspace *old;
	irqflags_t f;

	ASSERT(irqs_enabled() && !in_irq());
	f = irq_save();
	me = cpu_id();
	old = atomic_load_explicit(&cpu_space[me], memory_order_relaxed);
	if (old == vs) {
		irq_restore(f);
		return;
	}
	if (vs != NULL) {
		atomic_fetch_add_explicit(&vs->refs, 1, memory_order_relaxed);
		set_active(vs, me, true); /* before the root: see the top */
		mmu_switch_root(pt_root_pa(&vs->pt));
	} else if (have_kernel_root) {
		mmu_switch_root(kernel_root);
	}
	atomic_store_explicit(&cpu_space[me], vs, memory_order_relaxed);
	if (old != NULL)
		set_active(old, me, false); /* after the switch */
	irq_restore(f);
	if (old != NULL)
		vmspace_put(old);
}

/* ------------------------------------------------------------- shootdown */

struct shoot {
	struct vmspace *vs;
	const struct flush_range *parts;
	unsigned n;
};

/* Steps of part p: invlpgs at each page-size boundary it covers. */
static uint64_t steps_of(const struct flush_range *p)
{
	uint64_t first = ALIGN_DOWN(p->va, p->stride);

	return (p->va + (p->len - 1) - first) / p->stride + 1;
}

/* Drop this CPU's translations of the parts, if vs is still its space. */
static void flush_here(const struct shoot *s)
{
	uint64_t steps = 0;

	if (atomic_load_explicit(&cpu_space[cpu_id()], memory_order_relaxed) !=
	    s->vs)
		return; /* it switched away: the switch dropped them */
	for (unsigned i = 0; i < s->n; i++)
		steps += steps_of(&s->parts[i]);
	if (steps > VMSPACE_FLUSH_ALL_PAGES) {
		/* Every user translation (the kernel half's are Global). */
		mmu_switch_root(pt_root_pa(&s->vs->pt));
		return;
	}
	/* One invlpg per page of each part's size (MOM-02); each also
	 * drops the paging-structure caches (detached tables). */
	for (unsigned i = 0; i < s->n; i++) {
		const struct flush_range *p = &s->parts[i];
		uint64_t first = ALIGN_DOWN(p->va, p->stride);

		for (uint64_t k = 0; k < steps_of(p); k++)
			tlb_flush_page(first + k * p->stride);
	}
}

static bool shoot_want(unsigned cpu, void *arg)
{
	return is_active(((const struct shoot *)arg)->vs, cpu);
}

static void shoot_fn(void *arg)
{
	flush_here(arg);
}

/* The cursors' flush (struct cursor_flush): here and on every CPU where
 * vs is active, all done when this returns. */
static void shootdown(void *arg, const struct flush_range *parts, unsigned n)
{
	struct shoot s = { arg, parts, n };

	atomic_fetch_add_explicit(&s.vs->shootdowns, 1, memory_order_relaxed);
	/* The cleared entries before the bitmap is read (see the top). */
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned c = 0; c < ncpus(); c++)
		if (c != cpu_id() && is_active(s.vs, c))
			atomic_fetch_add_explicit(&s.vs->ipis, 1,
						  memory_order_relaxed);
	smp_call_cond(shoot_want, shoot_fn, &s);
}

static const struct cursor_flush *flush_of(const struct vmspace *vs)
{
	return &vs->flush;
}

/* ----------------------------------------------------- create and destroy */

struct vmspace *vmspace_create(enum pt_locking locking)
{
	struct vmspace *vs = kmalloc(sizeof(*vs), KM_ZERO);

	if (vs == NULL)
		return NULL;
	if ((have_kernel_root
		     ? pt_create_user_from(&vs->pt, kernel_root, locking)
		     : pt_create(&vs->pt, PT_USER, NULL, locking)) != E_OK) {
		(void)kfree(vs);
		return NULL;
	}
	atomic_store_explicit(&vs->refs, 1, memory_order_relaxed);
	vs->flush = (struct cursor_flush){ shootdown, vs };
	spin_lock_init(&vs->regions_lock, "vmspace_regions");
	return vs;
}

static void free_regions(struct vm_region *r)
{
	while (r != NULL) {
		struct vm_region *next = r->next;

		(void)kfree(r);
		r = next;
	}
}

void vmspace_put(struct vmspace *vs)
{
	if (vs == NULL ||
	    atomic_fetch_sub_explicit(&vs->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (unsigned w = 0; w < ARRAY_SIZE(vs->active); w++)
		ASSERT(atomic_load(&vs->active[w]) == 0);
	/* Active nowhere: nothing to flush; pt_destroy drops the tracked
	 * leaves' references and frees every node. */
	pt_destroy(&vs->pt);
	free_regions(vs->regions);
	(void)kfree(vs);
}

/* ------------------------------------------------------------ the checks */

/* pt_mapping for [va, va + len) is inside the user half, aligned, etc. */
static err_t range_ok(uint64_t va, uint64_t len)
{
	if (len == 0 || !IS_ALIGNED(va | len, PAGE_SIZE))
		return E_INVAL;
	if (va >= PT_USER_END || len > PT_USER_END - va)
		return E_RANGE;
	return E_OK;
}

static bool prot_ok(uint64_t prot)
{
	return !(prot & ~(PTE_W | PTE_NX | PTE_PWT | PTE_PCD));
}

/* The size of the page vmspace_map() puts at va. */
static uint64_t page_size_at(uint64_t va, uint64_t pa, uint64_t end,
			     unsigned flags)
{
	uint64_t huge = pt_entry_size(2);

	return (flags & VM_HUGE) && IS_ALIGNED(va | pa, huge) &&
			       end - va >= huge
		       ? huge
		       : PAGE_SIZE;
}

/* Every page of [va, end) unmapped, and every tracked frame allocated. */
static err_t map_check(struct cursor *c, uint64_t va, uint64_t end,
		       paddr_t pa, unsigned flags)
{
	for (uint64_t at = va; at < end;) {
		uint64_t size = page_size_at(at, pa.v + (at - va), end, flags);
		struct pt_mapping m;
		err_t e;

		/* Every page of this size at `at` must be a hole. */
		for (uint64_t p = at; p < at + size;) {
			if (cursor_jump(c, p) != E_OK)
				return E_RANGE;
			m = cursor_query(c);
			if (m.present)
				return E_BUSY;
			p = m.va + m.size;
		}
		if ((flags & VM_TRACKED) &&
		    (e = pt_trackable(PADDR(pa.v + (at - va)), size)) != E_OK)
			return e;
		at += size;
	}
	return E_OK;
}

err_t vmspace_map(struct vmspace *vs, uint64_t va, uint64_t len, paddr_t pa,
		  uint64_t prot, unsigned flags)
{
	struct cursor c;
	uint64_t end = va + len, at;
	unsigned cf = flags & VM_TRACKED ? CURSOR_TRACKED : 0;
	err_t e;

	if ((e = range_ok(va, len)) != E_OK)
		return e;
	if (!IS_ALIGNED(pa.v, PAGE_SIZE) || !prot_ok(prot) ||
	    (flags & ~(VM_TRACKED | VM_HUGE)))
		return E_INVAL;
	if ((e = cursor_new(&c, &vs->pt, va, end, flush_of(vs))) != E_OK)
		return e;
	if ((e = map_check(&c, va, end, pa, flags)) != E_OK) {
		cursor_drop(&c);
		return e;
	}
	for (at = va; at < end;) {
		uint64_t size = page_size_at(at, pa.v + (at - va), end, flags);
		paddr_t p = PADDR(pa.v + (at - va));

		e = cursor_jump(&c, at);
		if (e == E_OK)
			e = size == PAGE_SIZE ? cursor_map(&c, p, prot, cf)
					      : cursor_map_huge(&c, p, prot, cf);
		if (e != E_OK)
			break;
		at += size;
	}
	if (e != E_OK && at > va) { /* E_NOMEM: undo (and flush) */
		ASSERT(e == E_NOMEM);
		if (cursor_jump(&c, va) != E_OK ||
		    cursor_unmap(&c, at - va) != E_OK)
			panic("vmspace: cannot undo a map it just made");
	}
	cursor_drop(&c);
	return e;
}

err_t vmspace_unmap(struct vmspace *vs, uint64_t va, uint64_t len)
{
	struct cursor c;
	err_t e;

	if ((e = range_ok(va, len)) != E_OK)
		return e;
	if ((e = cursor_new(&c, &vs->pt, va, va + len, flush_of(vs))) != E_OK)
		return e;
	e = cursor_unmap(&c, len);
	cursor_drop(&c);
	return e;
}

err_t vmspace_protect(struct vmspace *vs, uint64_t va, uint64_t len,
		      uint64_t prot)
{
	struct cursor c;
	err_t e;

	if ((e = range_ok(va, len)) != E_OK)
		return e;
	if (!prot_ok(prot))
		return E_INVAL;
	if ((e = cursor_new(&c, &vs->pt, va, va + len, flush_of(vs))) != E_OK)
		return e;
	e = cursor_protect(&c, len, prot);
	cursor_drop(&c);
	return e;
}

struct pt_mapping vmspace_query(struct vmspace *vs, uint64_t va)
{
	struct pt_mapping m = { 0 };
	unsigned level = 0;
	uint64_t size;
	pte_t e;

	if (va >= PT_USER_END)
		return m;
	/* The MMU's lock-free walk: a query makes no node. */
	rcu_read_enter();
	e = pt_walk(&vs->pt, va, &level);
	rcu_read_exit();
	if (!pte_present(e))
		return m;
	size = pt_entry_size(level);
	return (struct pt_mapping){
		.present = true, .va = ALIGN_DOWN(va, size), .size = size,
		.pa = PADDR(pte_addr(e)), .prot = pte_prot(e),
		.tracked = (e & PTE_TRACKED) != 0, .cow = (e & PTE_COW) != 0,
	};
}

/* --------------------------------------------------------------- regions */

err_t vmspace_add_region(struct vmspace *vs, uint64_t va, uint64_t len,
			 uint64_t prot, unsigned flags)
{
	struct vm_region *r, *_Atomic *at;
	irqflags_t f;
	err_t e;

	if ((e = range_ok(va, len)) != E_OK)
		return e;
	if (!prot_ok(prot) || (flags & ~(VM_DEMAND | VM_COPY)))
		return E_INVAL;
	if ((r = kmalloc(sizeof(*r), 0)) == NULL)
		return E_NOMEM;
	*r = (struct vm_region){ va, va + len, prot, flags, NULL };
	f = spin_lock_irqsave(&vs->regions_lock);
	for (at = &vs->regions; *at != NULL && (*at)->end <= va;
	     at = &(*at)->next)
		;
	if (*at != NULL && (*at)->start < r->end) {
		spin_unlock_irqrestore(&vs->regions_lock, f);
		(void)kfree(r);
		return E_BUSY;
	}
	r->next = *at;
	/* Release: find_region() reads the list without the lock. */
	atomic_store_explicit(at, r, memory_order_release);
	spin_unlock_irqrestore(&vs->regions_lock, f);
	return E_OK;
}

/*
 * A copy of the region holding va; false if none. Without the lock:
 * regions are only ever added (vmspace_add_region() links a region it
 * has filled in with a release store), and freed with the space, so a
 * fault reads a list that only grows under it.
 */
static bool find_region(struct vmspace *vs, uint64_t va, struct vm_region *out)
{
	const struct vm_region *r =
		atomic_load_explicit(&vs->regions, memory_order_acquire);

	while (r != NULL && r->end <= va)
		r = atomic_load_explicit(&r->next, memory_order_acquire);
	if (r == NULL || r->start > va)
		return false;
	*out = *r;
	return true;
}

/* ---------------------------------------------------------------- faults */

/* A zeroed page for a demand region's hole at the cursor's position. */
static err_t fault_in(struct cursor *c, const struct vm_region *r)
{
	struct frame_result f = frame_alloc(0, FRAME_ZERO);
	err_t e;

	if (f.err != E_OK)
		return f.err;
	e = cursor_map(c, pfn_to_pa(f.pfn), r->prot, CURSOR_TRACKED);
	/* The leaf holds the reference now, or nothing does. */
	if (frame_put(pfn_to_page(f.pfn)) != E_OK)
		panic("vmspace: a frame just allocated has no reference");
	return e;
}

/*
 * A write to copy-on-write page m: its last owner takes it back writable;
 * anyone else gets a copy. The old leaf's reference goes after the flush.
 */
static err_t copy_on_write(struct cursor *c, const struct pt_mapping *m,
			   const struct vm_region *r)
{
	unsigned order = m->size == PAGE_SIZE ? 0 : PT_INDEX_BITS;
	struct page *old = pfn_to_page(pa_to_pfn(m->pa));
	struct frame_result f;
	err_t e;

	PAUSE("vmspace.cow.found");
	if (frame_refcount(old) == 1) /* only this leaf holds it */
		return order == 0
			       ? cursor_map(c, m->pa, r->prot,
					    CURSOR_TRACKED | CURSOR_REPLACE)
			       : cursor_map_huge(c, m->pa, r->prot,
						 CURSOR_TRACKED |
							 CURSOR_REPLACE);
	f = frame_alloc(order, 0);
	if (f.err != E_OK)
		return f.err;
	memcpy(phys_to_virt(pfn_to_pa(f.pfn)), phys_to_virt(m->pa), m->size);
	e = order == 0 ? cursor_map(c, pfn_to_pa(f.pfn), r->prot,
				    CURSOR_TRACKED | CURSOR_REPLACE)
		       : cursor_map_huge(c, pfn_to_pa(f.pfn), r->prot,
					 CURSOR_TRACKED | CURSOR_REPLACE);
	if (frame_put(pfn_to_page(f.pfn)) != E_OK)
		panic("vmspace: a frame just allocated has no reference");
	return e;
}

err_t vmspace_fault(struct vmspace *vs, uint64_t va, bool write)
{
	struct vm_region r = { 0 };
	struct pt_mapping m;
	struct cursor c;
	uint64_t page = ALIGN_DOWN(va, PAGE_SIZE), lo, size;
	err_t e;

	ASSERT(irqs_enabled() && !in_irq());
	if (va >= PT_USER_END || !find_region(vs, page, &r))
		return E_FAULT;
	if (write && !(r.prot & PTE_W))
		return E_FAULT;
	/* A cursor over the page; over its 2 MiB if a huge page is there. */
	m = vmspace_query(vs, page);
	size = m.present ? m.size : PAGE_SIZE;
	lo = ALIGN_DOWN(page, size);
	if ((e = cursor_new(&c, &vs->pt, lo, lo + size, flush_of(vs))) != E_OK)
		return e;
	m = cursor_query(&c); /* again, under the cursor */
	if (!m.present) {
		e = r.flags & VM_DEMAND ? fault_in(&c, &r) : E_FAULT;
	} else if (m.size != size) {
		e = E_OK; /* changed meanwhile: the access runs again */
	} else if (!write || (m.prot & PTE_W)) {
		e = E_OK; /* another CPU's fault did it */
	} else if (m.cow) {
		e = copy_on_write(&c, &m, &r);
	} else {
		e = E_FAULT; /* a write to a read-only page */
	}
	cursor_drop(&c);
	return e;
}

/* ------------------------------------------------------------------ fork */

static struct vm_region *copy_regions(struct vmspace *vs)
{
	struct vm_region *_Atomic head = NULL, *_Atomic *tail = &head, *r;
	irqflags_t f = spin_lock_irqsave(&vs->regions_lock);

	for (r = vs->regions; r != NULL; r = r->next) {
		struct vm_region *n = kmalloc(sizeof(*n), 0);

		if (n == NULL) {
			spin_unlock_irqrestore(&vs->regions_lock, f);
			free_regions(head);
			return (struct vm_region *)-1;
		}
		*n = *r;
		n->next = NULL;
		*tail = n;
		tail = &n->next;
	}
	spin_unlock_irqrestore(&vs->regions_lock, f);
	return head;
}

/* Share the tracked pages of [start, end) with child, copy-on-write. */
static err_t share_range(struct vmspace *vs, struct vmspace *child,
			 uint64_t start, uint64_t end, uint64_t prot)
{
	struct cursor pc, cc;
	err_t e;

	if ((e = cursor_new(&pc, &vs->pt, start, end, flush_of(vs))) != E_OK)
		return e;
	if ((e = cursor_new(&cc, &child->pt, start, end, NULL)) != E_OK) {
		cursor_drop(&pc);
		return e;
	}
	while (pc.va < end && e == E_OK) {
		struct pt_mapping m = cursor_query(&pc);

		if (!m.present || !m.tracked || m.va < start ||
		    m.va + (m.size - 1) > end - 1) {
			e = cursor_move_forward(&pc);
			continue;
		}
		e = cursor_jump(&cc, m.va);
		if (e == E_OK)
			e = m.size == PAGE_SIZE
				    ? cursor_map(&cc, m.pa, prot,
						 CURSOR_TRACKED | CURSOR_COW)
				    : cursor_map_huge(&cc, m.pa, prot,
						      CURSOR_TRACKED |
							      CURSOR_COW);
		if (e == E_OK)
			e = cursor_set_cow(&pc);
	}
	cursor_drop(&cc);
	cursor_drop(&pc);
	return e == E_RANGE ? E_OK : e; /* E_RANGE: moved to the end */
}

struct vmspace *vmspace_fork(struct vmspace *vs)
{
	struct vmspace *child = vmspace_create(vs->pt.locking);
	struct vm_region *regions;

	if (child == NULL)
		return NULL;
	regions = copy_regions(vs);
	if (regions == (struct vm_region *)-1) {
		vmspace_put(child);
		return NULL;
	}
	child->regions = regions;
	for (struct vm_region *r = regions; r != NULL; r = r->next) {
		if (!(r->flags & VM_COPY))
			continue;
		if (share_range(vs, child, r->start, r->end, r->prot) != E_OK) {
			vmspace_put(child);
			return NULL;
		}
	}
	return child;
}

/* ------------------------------------------------------------- validate */

/* Copy-on-write leaves: read-only, and inside a VM_COPY region. */
static bool cow_ok(struct vmspace *vs, uint64_t start, uint64_t end,
		   const struct vm_region *regions)
{
	struct cursor c;
	bool ok = true;

	if (cursor_new(&c, &vs->pt, start, end, NULL) != E_OK)
		return false;
	while (ok && c.va < end) {
		struct pt_mapping m = cursor_query(&c);

		if (m.present && m.cow) {
			const struct vm_region *r = regions;

			while (r != NULL && r->end <= m.va)
				r = r->next;
			ok = !(m.prot & PTE_W) && r != NULL &&
			     r->start <= m.va && (r->flags & VM_COPY);
			if (!ok)
				klog("vmspace: copy-on-write page at %#llx is "
				     "writable or outside a copy region",
				     (unsigned long long)m.va);
		}
		if (cursor_move_forward(&c) != E_OK)
			break;
	}
	cursor_drop(&c);
	return ok;
}

bool vmspace_validate(struct vmspace *vs)
{
	const pte_t *k = have_kernel_root ? phys_to_virt(kernel_root) : NULL;
	const struct vm_region *r;
	uint64_t last = 0;

	if (!pt_validate(&vs->pt, NULL))
		return false;
	for (unsigned i = PT_KERNEL_SLOT; i < PT_ENTRIES && have_kernel_root;
	     i++) {
		if (pt_entry_get(vs->pt.root, i) != k[i]) {
			klog("vmspace: PML4 slot %u is not the kernel's "
			     "(WF-KERNEL-HALF)", i);
			return false;
		}
	}
	for (r = vs->regions; r != NULL; r = r->next) {
		if (r->start < last || r->end <= r->start) {
			klog("vmspace: regions out of order at %#llx",
			     (unsigned long long)r->start);
			return false;
		}
		last = r->end;
	}
	return cow_ok(vs, 0, PT_USER_END, vs->regions);
}
