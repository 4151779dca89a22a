/* SPDX-License-Identifier: MIT */
/*
 * SMP bring-up and cross-CPU work.
 *
 * APs are started one at a time: the boot CPU fills the trampoline's
 * fields and `starting`, sends INIT and two startup IPIs (Intel SDM vol. 3,
 * 8.4.4.1), and waits for the AP to set `started`. So `starting` and the
 * trampoline belong to one AP at a time ([B]: the boot CPU writes them
 * before the IPIs, the AP reads them after).
 *
 * Idle APs wait in smp_run_all()'s loop: they halt with interrupts
 * enabled and look for a new work generation whenever they wake (the boot
 * CPU sends VECTOR_WAKE after publishing work; the timer also wakes them).
 */
#include <stdatomic.h>
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/paging.h"
#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/arch/x86_64/trap.h"
#include "kernel/mm/frame.h"

#define VECTOR_WAKE 0x22

_Atomic unsigned kernel_ncpus;
static _Atomic bool online[CONFIG_MAX_CPUS];

extern const char trampoline_start[], trampoline_end[];
extern const char tramp_cr3[], tramp_stack[], tramp_entry[];
extern char boot_pml4[];

static struct percpu *starting;   /* [B] */
static uint32_t starting_hz;      /* [B] */
static _Atomic bool started;

/* The work every CPU runs in smp_run_all(). */
static void (*work_fn)(void *arg); /* [B] set before work_gen moves */
static void *work_arg;             /* [B] */
static _Atomic uint64_t work_gen;
static _Atomic unsigned work_done;

bool cpu_online(unsigned c)
{
	return c < CONFIG_MAX_CPUS &&
	       atomic_load_explicit(&online[c], memory_order_acquire);
}

bool ipi_call(unsigned cpu)
{
	if (!cpu_online(cpu))
		return false;
	lapic_send_ipi(percpu[cpu].apic_id, VECTOR_CALL);
	return true;
}

void smp_boot_cpu_online(void)
{
	atomic_store(&online[0], true);
	atomic_store(&kernel_ncpus, 1);
}

static void wake(void)
{
	/* Nothing to do: the interrupt itself ends the AP's hlt. */
}

/* Where a trampoline field lives in the copy at TRAMPOLINE_PHYS. */
static uint64_t *tramp_field(const char *field)
{
	return (uint64_t *)(void *)((uint8_t *)phys_to_virt(
					    PADDR(TRAMPOLINE_PHYS)) +
				    (field - trampoline_start));
}

static NORETURN void ap_idle(void)
{
	uint64_t seen = 0;

	for (;;) {
		uint64_t g = atomic_load_explicit(&work_gen,
						  memory_order_acquire);

		if (g != seen) {
			seen = g;
			work_fn(work_arg);
			atomic_fetch_add_explicit(&work_done, 1,
						  memory_order_release);
			continue;
		}
		sti_hlt(); /* woken by VECTOR_WAKE or the timer */
	}
}

/* Where the trampoline lands, on the AP's own stack, boot page tables. */
static NORETURN void ap_entry(void)
{
	struct percpu *p = starting;

	percpu_install(p, p->id, p->apic_id, p->stack_top);
	cpu_tables_init(p);
	cpu_features_init(); /* NXE, PGE...: before the kernel's tables */
	write_cr3(paging_root());
	lapic_enable();
	lapic_timer_start(starting_hz);
	atomic_store_explicit(&online[p->id], true, memory_order_release);
	atomic_store_explicit(&kernel_ncpus, p->id + 1, memory_order_release);
	atomic_store_explicit(&started, true, memory_order_release);
	sti();
	ap_idle();
}

static bool start_one(unsigned id, uint32_t apic_id, uint32_t hz)
{
	/* Guard-paged; the boot tables map the stack area too (paging.h). */
	struct percpu *p = &percpu[id];
	err_t e = percpu_ap_stacks_alloc(p);

	if (e != E_OK) {
		klog("smp: no stacks for CPU %u: %s", id, err_name(e));
		return false;
	}
	p->id = id;
	p->apic_id = apic_id;
	*tramp_field(tramp_stack) = p->stack_top;
	starting = p;
	starting_hz = hz;
	atomic_store_explicit(&started, false, memory_order_release);

	lapic_send_init(apic_id);
	udelay(10000);
	for (int sipi = 0; sipi < 2 && !atomic_load(&started); sipi++) {
		lapic_send_startup(apic_id, TRAMPOLINE_PHYS >> 12);
		udelay(200);
	}
	for (int ms = 0; ms < 2000 && !atomic_load(&started); ms++)
		udelay(1000);
	if (!atomic_load_explicit(&started, memory_order_acquire)) {
		klog("smp: CPU %u (APIC id %u) did not start", id, apic_id);
		return false;
	}
	return true;
}

unsigned smp_start_aps(const struct acpi_madt_info *madt, uint32_t timer_hz)
{
	uint32_t me = lapic_id();
	unsigned next = 1;

	trap_set_handler(VECTOR_WAKE, wake);
	memcpy(phys_to_virt(PADDR(TRAMPOLINE_PHYS)), trampoline_start,
	       (size_t)(trampoline_end - trampoline_start));
	/* The boot tables: below 4 GiB, and they map the trampoline. */
	*tramp_field(tramp_cr3) = (uint64_t)virt_to_phys(boot_pml4).v;
	*tramp_field(tramp_entry) = (uint64_t)(uintptr_t)ap_entry;
	for (unsigned i = 0; i < madt->ncpus && next < CONFIG_MAX_CPUS; i++) {
		if (madt->apic_id[i] == me)
			continue;
		if (start_one(next, madt->apic_id[i], timer_hz))
			next++;
	}
	return next - 1;
}

void smp_run_all(void (*fn)(void *arg), void *arg)
{
	unsigned others = ncpus() - 1;

	work_fn = fn;
	work_arg = arg;
	atomic_store_explicit(&work_done, 0, memory_order_relaxed);
	/* Release: fn and arg are visible to whoever sees the new gen. */
	atomic_fetch_add_explicit(&work_gen, 1, memory_order_release);
	for (unsigned c = 1; c <= others; c++)
		lapic_send_ipi(percpu[c].apic_id, VECTOR_WAKE);
	fn(arg);
	while (atomic_load_explicit(&work_done, memory_order_acquire) < others)
		cpu_relax();
}
