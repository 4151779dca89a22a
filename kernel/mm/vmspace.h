/* SPDX-License-Identifier: MIT */
/*
 * Address spaces (PAGETABLE.md, VmSpace): a user page table (pagetable.h)
 * with the kernel half shared, the CPUs it is active on, TLB shootdown,
 * regions that fill on first touch, and copy-on-write forks.
 *
 * Every change goes through a cursor (cursor.h), whose flush is this
 * layer's shootdown: the changed range is flushed on this CPU and, by
 * IPI, on every other CPU where the space is active, and only when all
 * have answered are frames released and nodes handed to RCU (T13). The
 * flush steps by the largest page size changed (MOM-02) and becomes one
 * drop of every user translation above VMSPACE_FLUSH_ALL_PAGES steps.
 *
 * Every operation checks its whole range before it changes anything; one
 * that still fails midway (no memory for a node) undoes what it did and
 * flushes what it changed (SPA-01, WF-FAIL-NOOP).
 *
 * Lock order: a space's region lock (a leaf spinlock, interrupts masked)
 * is never held across a cursor; cursors come before the frame allocator
 * and the heap (cursor.h). Callers: process context with interrupts
 * enabled (a shootdown waits for other CPUs), or the page-fault path of
 * vmspace_fault(), which runs with interrupts enabled too.
 */
#ifndef KERNEL_MM_VMSPACE_H
#define KERNEL_MM_VMSPACE_H

#include "kernel/mm/cursor.h"
#include "locks/spinlock.h"

/* Steps above this many pages are one drop of every user translation. */
#define VMSPACE_FLUSH_ALL_PAGES 32u

/* Region and mapping flags. */
enum {
	VM_TRACKED = 1u << 0, /* map: the frames are counted (user memory) */
	VM_HUGE = 1u << 1,    /* map: 2 MiB pages where aligned */
	VM_DEMAND = 1u << 2,  /* region: a zeroed frame on first touch */
	VM_COPY = 1u << 3,    /* region: private, copied on write after fork */
};

/* A range with what a fault there may do (the space's sorted list). */
struct vm_region {
	uint64_t start, end; /* [start, end), 4 KiB aligned */
	uint64_t prot;       /* PTE_PROT bits of its pages */
	unsigned flags;      /* VM_DEMAND, VM_COPY */
	struct vm_region *_Atomic next; /* see vmspace.regions */
};

struct vmspace {
	struct pagetable pt;
	struct cursor_flush flush; /* [I] its cursors' flush: the shootdown */
	_Atomic uint32_t refs;   /* [a] owners and the CPUs it is active on */
	_Atomic uint64_t active[(MAX_CPUS + 63) / 64]; /* [a] where loaded */
	spinlock_t regions_lock; /* serialises adding regions (a leaf) */
	struct vm_region *_Atomic regions; /* sorted, disjoint; added under the lock
				      with a release store, read without it
				      (vmspace.c: find_region), freed only
				      with the space */
	_Atomic uint64_t shootdowns, ipis; /* [a] statistics */
};

/*
 * Boot: user spaces copy the kernel half of the PML4 at kernel_root (the
 * kernel's paging_root(); on the host a PT_KERNEL table's root). Without
 * it (host programs that need no kernel half) spaces have an empty upper
 * half, and deactivating loads no root.
 */
void vmspace_init(paddr_t kernel_root);

/*
 * A new, empty space (one reference, the caller's), or NULL (no memory).
 * locking: PT_LOCK_TREE, or PT_LOCK_SPACE for the benchmarks' baseline.
 */
struct vmspace *vmspace_create(enum pt_locking locking);

/*
 * Drop a reference. The last one unmaps everything (dropping the tracked
 * frames' references), frees the tables and the regions. Pre: active on
 * no CPU (activation holds a reference, so the last put cannot be).
 */
void vmspace_put(struct vmspace *vs);

/*
 * Make vs this CPU's space (NULL: none, the kernel's tables alone):
 * loads its root, takes a reference on it and drops the one on the
 * space this CPU had. Interrupts masked inside; any context but NMI.
 */
void vmspace_activate(struct vmspace *vs);

/* This CPU's space, or NULL. */
struct vmspace *vmspace_current(void);

/*
 * Map [va, va + len) to [pa, pa + len) with prot. VM_TRACKED: every
 * page is an allocated block of its size that gains a reference (the
 * caller keeps its own). VM_HUGE: 2 MiB pages where va, pa and the rest
 * of the range allow. Errors, changing nothing: E_INVAL (alignment, len
 * 0, prot, flags), E_RANGE (outside the user half), E_BUSY (a page is
 * mapped: unmap first), E_NOT_ALLOCATED (tracked and not an
 * allocated block), E_NOMEM (no node: what was done is undone).
 */
MUST_CHECK err_t vmspace_map(struct vmspace *vs, uint64_t va, uint64_t len,
			     paddr_t pa, uint64_t prot, unsigned flags);

/*
 * Unmap [va, va + len); flushed everywhere before the frames go back.
 * E_INVAL (changing nothing) if a huge page reaches out of the range.
 */
MUST_CHECK err_t vmspace_unmap(struct vmspace *vs, uint64_t va, uint64_t len);

/* Give the pages mapped in [va, va + len) prot; flushed everywhere. */
MUST_CHECK err_t vmspace_protect(struct vmspace *vs, uint64_t va, uint64_t len,
				 uint64_t prot);

/*
 * The mapping at va (present false if none), as the MMU would see it now
 * (a lock-free walk: it may race with a change).
 */
struct pt_mapping vmspace_query(struct vmspace *vs, uint64_t va);

/*
 * A region: faults in [va, va + len) map a zeroed frame with prot
 * (VM_DEMAND), and after vmspace_fork() its pages are copied on the
 * first write (VM_COPY). E_BUSY if it overlaps another region, E_INVAL,
 * E_RANGE, E_NOMEM as above.
 */
MUST_CHECK err_t vmspace_add_region(struct vmspace *vs, uint64_t va,
				    uint64_t len, uint64_t prot,
				    unsigned flags);

/*
 * A fault at va (a write if write): a demand region's page is mapped, a
 * copy-on-write page copied (or, for its last owner, made writable
 * again). E_OK: the access can be retried; E_FAULT: nothing here allows
 * it (an unknown address, a write to a read-only region); E_NOMEM.
 * Pre: interrupts enabled, not in IRQ context (the kernel's page-fault
 * hook enables them for a fault from such a context).
 */
MUST_CHECK err_t vmspace_fault(struct vmspace *vs, uint64_t va, bool write);

/*
 * A copy of vs: the same regions, and every tracked page of a VM_COPY
 * region shared read-only by both, its frame counted once more; the
 * first write on either side copies it (vmspace_fault). Other pages are
 * not copied (they stay the parent's). NULL, vs unchanged, without
 * memory.
 */
struct vmspace *vmspace_fork(struct vmspace *vs);

/*
 * Check the space at quiescence: its table (pt_validate(), the kernel
 * half the one vmspace_init() was given), its regions sorted and
 * disjoint, every copy-on-write leaf read-only and in a VM_COPY region.
 */
bool vmspace_validate(struct vmspace *vs);

#endif /* KERNEL_MM_VMSPACE_H */
