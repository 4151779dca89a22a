/* SPDX-License-Identifier: MIT */
/*
 * Trap dispatch. An exception goes to its fault hook, the exception
 * table, an armed expect_fault(), or else to the fatal report (trap.h has
 * the order and why): vector, error code, every register, CR2 and a
 * backtrace on the serial console, then QEMU exits with a failure code.
 * Interrupts (vector >= 32) run their handler with the CPU's irq_depth
 * raised (in_irq()), then get their end-of-interrupt.
 *
 * handlers[] is [I]: filled on the boot CPU before interrupts are enabled.
 * fault_hooks[] is atomic: set and cleared at any time (release), read
 * by the faulting CPU (acquire).
 * exc_depth[c] is [c]: exceptions CPU c is handling now (nested ones
 * count: a fault in a hook, an NMI during a fault).
 */
#include <stdatomic.h>

#include <platform.h>

#include "kernel/arch/x86_64/console.h"
#include "kernel/arch/x86_64/kstack.h"
#include "kernel/arch/x86_64/extable.h"
#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/qemu.h"
#include "kernel/arch/x86_64/trap.h"

extern const uint64_t isr_table[256];
static trap_handler_t handlers[256];
static _Atomic(trap_fault_hook_t) fault_hooks[32];
static uint32_t exc_depth[MAX_CPUS];

static const char *const exception_names[32] = {
	"divide error", "debug", "NMI", "breakpoint", "overflow",
	"bound range exceeded", "invalid opcode", "device not available",
	"double fault", "coprocessor segment overrun", "invalid TSS",
	"segment not present", "stack-segment fault", "general protection",
	"page fault", "reserved", "x87 floating point", "alignment check",
	"machine check", "SIMD floating point", "virtualization",
	"control protection", "reserved", "reserved", "reserved", "reserved",
	"reserved", "reserved", "hypervisor injection", "VMM communication",
	"security", "reserved",
};

void trap_set_handler(unsigned vector, trap_handler_t fn)
{
	ASSERT(vector >= 32 && vector < 256);
	handlers[vector] = fn;
}

/* Exceptions that cannot be resumed: never hooked, never fixed up. */
static bool fatal_vector(uint64_t v)
{
	return v == 2 || v == 8 || v == 18; /* NMI, double fault, machine check */
}

err_t trap_set_fault_hook(unsigned vector, trap_fault_hook_t hook)
{
	trap_fault_hook_t none = NULL;

	if (vector >= 32 || fatal_vector(vector))
		return E_INVAL;
	if (hook == NULL) {
		atomic_store_explicit(&fault_hooks[vector], NULL,
				      memory_order_release);
		return E_OK;
	}
	return atomic_compare_exchange_strong_explicit(
		       &fault_hooks[vector], &none, hook, memory_order_release,
		       memory_order_relaxed)
		       ? E_OK
		       : E_BUSY;
}

void idt_init_cpu(struct percpu *p)
{
	struct dt_ptr ptr = { sizeof(p->idt) - 1, (uint64_t)(uintptr_t)p->idt };

	for (unsigned v = 0; v < 256; v++) {
		uint64_t a = isr_table[v];

		p->idt[v] = (struct idt_entry){
			.offset_lo = (uint16_t)a,
			.selector = 0x08,
			.ist = ist_of_vector(v), /* #DF, NMI, #MC: own stacks */
			.type = 0x8e,          /* present, 64-bit interrupt gate */
			.offset_mid = (uint16_t)(a >> 16),
			.offset_hi = (uint32_t)(a >> 32),
		};
	}
	lidt(&ptr);
}

/*
 * A frame pointer worth following: aligned, in kernel memory. AP stacks
 * (and the boot CPU's IST stacks) live in the stack area, below the image
 * and above the direct map: only a frame there that is mapped is followed.
 */
static bool plausible_frame(uint64_t rbp)
{
	return rbp != 0 && (rbp & 7) == 0 &&
	       (rbp >= KERNEL_BASE ||
		(rbp >= DIRECT_MAP_BASE && rbp < DIRECT_MAP_BASE + (UINT64_C(1) << 46)) ||
		kstack_mapped(rbp, 2 * sizeof(uint64_t)));
}

void backtrace_from(uint64_t rbp)
{
	klog("backtrace (addr2line -e build/kernel/kernel.elf ADDRESS):");
	for (int i = 0; i < 16 && plausible_frame(rbp); i++) {
		const uint64_t *fp = (const uint64_t *)(uintptr_t)rbp;

		klog("  #%d %#llx", i, (unsigned long long)fp[1]);
		rbp = fp[0];
	}
}

static NORETURN void report_exception(const struct trap_frame *f,
				       unsigned depth)
{
	const char *name = exception_names[f->vector];
	/* A page fault's own CR2, not the register a later fault wrote. */
	uint64_t cr2 = f->vector == VECTOR_PF ? f->cr2 : read_cr2();

	console_take_over();
	klog("exception %llu (%s) on CPU %u, error code %#llx",
	     (unsigned long long)f->vector, name, cpu_id(),
	     (unsigned long long)f->error);
	if (f->vector == 8) /* the likeliest cause: a guard page hit */
		kstack_explain_fault(f->rsp, read_cr2());
	if (depth > 1)
		klog("  raised while handling %u other exception(s)", depth - 1);
	klog("  rip %016llx  cs %04llx  rflags %016llx  rsp %016llx  ss %04llx",
	     (unsigned long long)f->rip, (unsigned long long)f->cs,
	     (unsigned long long)f->rflags, (unsigned long long)f->rsp,
	     (unsigned long long)f->ss);
	klog("  rax %016llx  rbx %016llx  rcx %016llx  rdx %016llx",
	     (unsigned long long)f->rax, (unsigned long long)f->rbx,
	     (unsigned long long)f->rcx, (unsigned long long)f->rdx);
	klog("  rsi %016llx  rdi %016llx  rbp %016llx  r8  %016llx",
	     (unsigned long long)f->rsi, (unsigned long long)f->rdi,
	     (unsigned long long)f->rbp, (unsigned long long)f->r8);
	klog("  r9  %016llx  r10 %016llx  r11 %016llx  r12 %016llx",
	     (unsigned long long)f->r9, (unsigned long long)f->r10,
	     (unsigned long long)f->r11, (unsigned long long)f->r12);
	klog("  r13 %016llx  r14 %016llx  r15 %016llx  cr2 %016llx",
	     (unsigned long long)f->r13, (unsigned long long)f->r14,
	     (unsigned long long)f->r15, (unsigned long long)cr2);
	klog("  #  %#llx (faulting instruction)", (unsigned long long)f->rip);
	backtrace_from(f->rbp);
	qemu_exit(QEMU_EXIT_FAILURE);
}

/*
 * Whether something other than the report deals with f: only in kernel
 * mode (there is no other yet), only resumable vectors. A nested
 * exception (depth > 1) goes to no hook (no recursion into a hook that
 * faults) and not to expect_fault(), which would abandon the frames of
 * the exception being handled; the exception table still applies.
 */
static bool handled(struct trap_frame *f, unsigned depth)
{
	trap_fault_hook_t hook;

	if ((f->cs & 3) != 0 || fatal_vector(f->vector))
		return false;
	hook = atomic_load_explicit(&fault_hooks[f->vector],
				    memory_order_acquire);
	if (depth == 1 && hook != NULL && hook(f))
		return true;
	if (extable_fixup(f))
		return true;
	return depth == 1 && expect_fault_catch(f);
}

static void exception(struct trap_frame *f)
{
	unsigned me = cpu_id();
	unsigned depth = ++exc_depth[me];

	if (!handled(f, depth))
		report_exception(f, depth);
	exc_depth[me]--;
}

void trap_dispatch(struct trap_frame *f)
{
	struct percpu *p;

	/* An NMI from a dying CPU parks this one for good (console.c);
	   any other NMI is reported like an exception. */
	if (f->vector == VECTOR_NMI)
		panic_nmi_stop();
	if (f->vector < 32) {
		exception(f);
		return;
	}
	/* Spurious interrupts (the LAPIC's, or a masked PIC's IRQ 7 or
	   15) are not in service: no handler, no end-of-interrupt. */
	if (f->vector == VECTOR_SPURIOUS ||
	    (f->vector >= PIC_VECTOR_BASE && f->vector < PIC_VECTOR_BASE + 16))
		return;
	p = this_cpu();
	p->irq_depth++;
	if (handlers[f->vector] != NULL)
		handlers[f->vector]();
	else
		klog("cpu %u: unexpected interrupt, vector %llu", p->id,
		     (unsigned long long)f->vector);
	lapic_eoi();
	p->irq_depth--;
}
