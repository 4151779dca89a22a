/* SPDX-License-Identifier: MIT */
/*
 * The page-fault hook for the user half (vmfault.h): demand and
 * copy-on-write faults go to the address space this CPU runs on.
 */
#include "kernel/arch/x86_64/vmfault.h"

#include "kernel/arch/x86_64/cpu.h"
#include "kernel/arch/x86_64/extable.h"
#include "kernel/arch/x86_64/trap.h"
#include "kernel/mm/vmspace.h"

/*
 * A fault taken with interrupts enabled, outside an interrupt handler,
 * runs vmspace_fault() with them enabled again (Linux's do_page_fault
 * does the same): a cursor may wait for a node lock whose holder waits
 * for this CPU's answer to a shootdown IPI, and a copy-on-write fault
 * sends shootdowns itself. Any other fault in the user half is not ours
 * (it goes on to the exception table and the report).
 */
static bool smap; /* [I] CR4.SMAP (every CPU sets the same features) */

/* A protection fault on a user page with AC clear under SMAP: the kernel
 * touched user memory outside a user_access_begin() window. Not ours. */
static bool smap_violation(const struct trap_frame *f)
{
	return smap && (f->error & PF_P) && !(f->rflags & RFLAGS_AC);
}

static bool user_fault(struct trap_frame *f)
{
	struct vmspace *vs;
	err_t e;

	if (f->cr2 >= PT_USER_END || !(f->rflags & RFLAGS_IF) || in_irq() ||
	    smap_violation(f) || (vs = vmspace_current()) == NULL)
		return false;
	sti();
	e = vmspace_fault(vs, f->cr2, (f->error & PF_W) != 0);
	cli();
	return e == E_OK;
}

err_t vmfault_init(void)
{
	smap = (read_cr4() & CR4_SMAP) != 0;
	return trap_set_fault_hook(VECTOR_PF, user_fault);
}

void user_access_begin(void)
{
	if (smap)
		stac();
}

void user_access_end(void)
{
	if (smap)
		clac();
}

void vmfault_fini(void)
{
	err_t e = trap_set_fault_hook(VECTOR_PF, NULL);

	ASSERT(e == E_OK);
	(void)e;
}

/* The platform contract's user accesses: a probe in an SMAP window. */
static bool user_word(uint64_t va)
{
	return va < PT_USER_END && va % 8 == 0;
}

err_t user_read_u64(uint64_t va, uint64_t *v)
{
	err_t e;

	if (!user_word(va))
		return E_FAULT;
	user_access_begin();
	e = probe_read_u64((const void *)(uintptr_t)va, v);
	user_access_end();
	return e;
}

err_t user_write_u64(uint64_t va, uint64_t v)
{
	err_t e;

	if (!user_word(va))
		return E_FAULT;
	user_access_begin();
	e = probe_write_u64((void *)(uintptr_t)va, v);
	user_access_end();
	return e;
}
