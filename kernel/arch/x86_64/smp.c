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
 * Idle APs wait in ap_idle(): they look for a new work generation with
 * interrupts masked and halt (sti; hlt) if there is none, so that the
 * VECTOR_WAKE the boot CPU sends after publishing work cannot be lost
 * between the look and the halt (the timer also wakes them).
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
#define AP_STACK_ORDER 2 /* 16 KiB */

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

/*
 * Test hook for the idle loop's lost-wakeup window (finding 6), armed by
 * smp_idle_race_arm(): an AP that has just found no work holds there, as
 * the loop left it, until the next generation's wake IPIs are all sent
 * and its own has reached its LAPIC (or, if interrupts were on, has been
 * taken), then goes on to halt. So the wake IPI arrives between the check
 * and the hlt every time. The boot CPU lets the holders go (race_abort)
 * if not all of them got there.
 */
static _Atomic bool race_armed;      /* the next idle AP to look holds */
static _Atomic bool race_abort;      /* the boot CPU gave up: let go */
static _Atomic unsigned race_held;   /* APs holding in the window now */
static _Atomic uint64_t wakes_sent;  /* last work_gen whose IPIs are out */

static void hold_in_idle_window(uint64_t seen)
{
	uint64_t t0;

	atomic_fetch_add(&race_held, 1);
	while (atomic_load_explicit(&wakes_sent, memory_order_acquire) <= seen &&
	       !atomic_load(&race_abort))
		pause();
	/* Masked, the IPI stays requested in the IRR (the sender set it
	   before wakes_sent moved); unmasked, it was taken as soon as it
	   came, and this waits out its bound. */
	t0 = rdtsc();
	while (!lapic_irr_pending(VECTOR_WAKE) && !atomic_load(&race_abort) &&
	       rdtsc() - t0 < tsc_hz() / 10)
		pause();
	atomic_fetch_sub(&race_held, 1);
}

bool smp_idle_race_arm(void)
{
	unsigned others = ncpus() - 1;
	uint64_t t0 = rdtsc();
	bool all;

	atomic_store(&race_abort, false);
	atomic_store(&race_armed, true);
	for (unsigned c = 1; c <= others; c++) /* go round the loop once */
		lapic_send_ipi(percpu[c].apic_id, VECTOR_WAKE);
	/* 10 s: 63 holding vCPUs spin on 2 host cores under TCG. */
	while (atomic_load(&race_held) < others && rdtsc() - t0 < 10 * tsc_hz())
		pause();
	atomic_store(&race_armed, false); /* those holding stay, once */
	all = atomic_load(&race_held) == others;
	if (!all)
		atomic_store(&race_abort, true);
	return all;
}

/*
 * Interrupts are masked from the look for work to the hlt: sti_hlt()'s
 * sti takes effect after the hlt has begun, so a wake IPI that arrives
 * after the look stays pending and ends the hlt at once. With interrupts
 * on during the look, it would be taken before the hlt, which then sleeps
 * until the next tick (up to 10 ms).
 */
static NORETURN void ap_idle(void)
{
	uint64_t seen = 0;

	for (;;) {
		uint64_t g;

		cli();
		g = atomic_load_explicit(&work_gen, memory_order_acquire);
		if (g != seen) {
			sti();
			seen = g;
			work_fn(work_arg);
			atomic_fetch_add_explicit(&work_done, 1,
						  memory_order_release);
			continue;
		}
		if (unlikely(atomic_load_explicit(&race_armed,
						  memory_order_relaxed)))
			hold_in_idle_window(seen);
		sti_hlt(); /* woken by VECTOR_WAKE or the timer */
	}
}

/* Where the trampoline lands, on the AP's own stack, boot page tables. */
static NORETURN void ap_entry(void)
{
	struct percpu *p = starting;

	percpu_install(p, p->id, p->apic_id, p->stack_top);
	cpu_tables_init(p);
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
	/* Below 4 GiB: the AP runs on the boot tables until ap_entry. */
	struct frame_result stack = frame_alloc(AP_STACK_ORDER, FRAME_DMA32);
	struct percpu *p = &percpu[id];

	if (stack.err != E_OK) {
		klog("smp: no stack for CPU %u: %s", id, err_name(stack.err));
		return false;
	}
	p->id = id;
	p->apic_id = apic_id;
	p->stack_top = (uint64_t)(uintptr_t)phys_to_virt(pfn_to_pa(stack.pfn)) +
		       (PAGE_SIZE << AP_STACK_ORDER);
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
	uint64_t gen;

	work_fn = fn;
	work_arg = arg;
	atomic_store_explicit(&work_done, 0, memory_order_relaxed);
	/* Release: fn and arg are visible to whoever sees the new gen. */
	gen = atomic_fetch_add_explicit(&work_gen, 1, memory_order_release) + 1;
	for (unsigned c = 1; c <= others; c++)
		lapic_send_ipi(percpu[c].apic_id, VECTOR_WAKE);
	atomic_store_explicit(&wakes_sent, gen, memory_order_release);
	fn(arg);
	/* cpu_relax(): the work is long, and an AP sends nothing when done. */
	while (atomic_load_explicit(&work_done, memory_order_acquire) < others)
		cpu_relax();
}
