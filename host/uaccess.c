/* SPDX-License-Identifier: MIT */
/*
 * The platform contract's user accesses on the host, which has no MMU:
 * the walk the MMU would do, in software, over the active address
 * space's table, and vmspace_fault() where the MMU would fault.
 *
 * The walk and the access run with interrupts masked, as one instruction
 * runs between two interrupts on the real machine: a TLB shootdown for
 * this CPU is an IPI, which waits until the access is done, so a frame
 * the access reaches cannot be freed under it (nor a node the walk
 * reads: nodes go even later, after a grace period).
 */
#include "kernel/mm/vmspace.h"

/* The word at va, if the walk allows the access; NULL if it faults. */
static uint64_t *walk(struct vmspace *vs, uint64_t va, bool write)
{
	unsigned level = 0;
	pte_t e = pt_walk(&vs->pt, va, &level);

	if (!pte_present(e) || (write && !(e & PTE_W)))
		return NULL;
	return (uint64_t *)((uint8_t *)phys_to_virt(PADDR(pte_addr(e))) +
			    (va & (pt_entry_size(level) - 1)));
}

static err_t access(uint64_t va, uint64_t *v, bool write)
{
	struct vmspace *vs = vmspace_current();

	if (vs == NULL || va >= PT_USER_END || va % 8 != 0)
		return E_FAULT;
	/* Once to fault it in, once more to find it (a fault that another
	 * CPU undoes at once is retried by a real user, not by us). */
	for (int tries = 0; tries < 3; tries++) {
		irqflags_t f = irq_save();
		uint64_t *p = walk(vs, va, write);

		if (p != NULL) {
			if (write)
				atomic_store_explicit((_Atomic uint64_t *)p, *v,
						      memory_order_relaxed);
			else
				*v = atomic_load_explicit((_Atomic uint64_t *)p,
							  memory_order_relaxed);
			irq_restore(f);
			return E_OK;
		}
		irq_restore(f);
		if (vmspace_fault(vs, va, write) != E_OK)
			return E_FAULT;
	}
	return E_FAULT;
}

err_t user_read_u64(uint64_t va, uint64_t *v)
{
	return access(va, v, false);
}

err_t user_write_u64(uint64_t va, uint64_t v)
{
	return access(va, &v, true);
}
