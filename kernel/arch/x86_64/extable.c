/* SPDX-License-Identifier: MIT */
/*
 * The exception-table lookup and expect_fault()'s per-CPU slots. See
 * extable.h.
 */
#include <stdatomic.h>

#include <platform.h>

#include "kernel/arch/x86_64/extable.h"

_Static_assert(EXTABLE_E_FAULT == E_FAULT, "extable.h's copy of E_FAULT");

struct extable_entry {
	uint64_t insn, fixup;
};

/* boot/kernel.ld */
extern const struct extable_entry __start___ex_table[], __stop___ex_table[];

bool extable_fixup(struct trap_frame *f)
{
	for (const struct extable_entry *e = __start___ex_table;
	     e < __stop___ex_table; e++) {
		if (e->insn != f->rip)
			continue;
		f->r8 = f->vector;
		f->r9 = f->error;
		f->r10 = f->cr2;
		f->r11 = f->rip;
		f->rip = e->fixup;
		return true;
	}
	return false;
}

/*
 * One CPU's expectation. The first seven words are written by
 * expect_fault_call (probe.S), at these offsets. [c]: only this CPU,
 * in expect_fault() and in its own exception handler, which cannot
 * interleave otherwise (interrupts are masked while armed).
 */
struct fault_jmp {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp;
	bool armed;
	struct fault_info info;
};

_Static_assert(offsetof(struct fault_jmp, rsp) == 48, "probe.S offsets");

static struct fault_jmp jmps[MAX_CPUS];

err_t expect_fault_call(struct fault_jmp *j, void (*fn)(void *), void *arg);
extern const char expect_fault_resume[];

err_t expect_fault(void (*fn)(void *arg), void *arg, struct fault_info *out)
{
	struct fault_jmp *j = &jmps[cpu_id()];
	irqflags_t flags = irq_save();
	err_t e;

	if (j->armed) {
		irq_restore(flags);
		return E_BUSY;
	}
	/* The handler that reads the slot runs on this CPU: program
	   order (and the call, a compiler barrier) is all it needs. */
	j->armed = true;
	e = expect_fault_call(j, fn, arg);
	j->armed = false;
	if (e == E_FAULT && out != NULL)
		*out = j->info;
	irq_restore(flags);
	return e;
}

bool expect_fault_catch(struct trap_frame *f)
{
	struct fault_jmp *j = &jmps[cpu_id()];

	if (!j->armed)
		return false;
	j->armed = false;
	j->info = (struct fault_info){ .vector = f->vector, .error = f->error,
				       .addr = f->cr2, .rip = f->rip };
	f->rbx = j->rbx;
	f->rbp = j->rbp;
	f->r12 = j->r12;
	f->r13 = j->r13;
	f->r14 = j->r14;
	f->r15 = j->r15;
	f->rsp = j->rsp;
	f->rip = (uint64_t)(uintptr_t)expect_fault_resume;
	return true;
}
