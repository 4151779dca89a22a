/* SPDX-License-Identifier: MIT */
/*
 * SMP bring-up and cross-CPU work.
 *
 * Bring-up is parallel. The boot CPU gives every AP the MADT lists a slot
 * (struct ap_slot: its APIC id, a stack of its own, a state) and a row in
 * ap_slot_of_apic[], the table the trampoline looks itself up in; sends
 * INIT to every AP, waits 10 ms once, sends the startup IPIs to every AP
 * (Intel SDM vol. 3, 8.4.4.1), and waits up to AP_ARRIVE_TIMEOUT_MS for
 * them all. Each AP finds its slot by its own APIC id (CPUID), switches
 * to the slot's stack and claims the slot; only once it holds the claim
 * does it take a CPU id (the next one, from a counter) and touch a
 * per-CPU area. The boot CPU retires the slots still unclaimed at the
 * deadline, waits for every claimed one to say its CPU is up, and marks
 * the CPUs online in id order.
 *
 * Slot states: WAITING -> CLAIMED -> ONLINE, or WAITING -> RETIRED
 * (-> PARKED). Why no AP can take another CPU's slot, stack, id or
 * per-CPU area, whenever it runs:
 *  - An AP's slot is chosen by the AP's own APIC id, and nothing in a slot
 *    or in the table changes after the startup IPIs but the state and the
 *    fields the slot's own AP writes once it holds the claim, so a late AP
 *    finds its own slot, never a neighbour's. The trampoline page too is
 *    written once, before any INIT. ap_entry() checks the slot's id
 *    against the CPU's full APIC id, so an 8-bit table index that aliases
 *    a wider id is not taken.
 *  - Who owns a slot is decided by one CAS on its state from WAITING: the
 *    AP's to CLAIMED against the boot CPU's to RETIRED at the deadline.
 *    Exactly one succeeds. An AP touches nothing but its slot and its own
 *    stack before it has won. If the AP won, it merely arrived at the last
 *    moment and comes up like any other. If the boot CPU won, the AP's CAS
 *    fails and it halts for good with interrupts masked; the boot CPU
 *    reports the CPU as failed, sends it INIT (which parks it in
 *    wait-for-SIPI wherever it was: no startup IPI is ever sent again)
 *    and never gives the slot or its stack to anyone else: a retired
 *    slot's stack stays allocated.
 *  - Ids: only an AP that won its claim takes one, by fetch-add on
 *    next_cpu, so ids are distinct and, the APs all claimed or retired,
 *    dense: 1 .. the number of claims. Ids come in arrival order, not
 *    MADT order: an AP that had to wait for the ones before it in MADT
 *    order would spin, and under TCG 63 spinning vCPUs on 2 host cores
 *    starved the ones still starting (measured: 63 APs up in ~5 ms with
 *    no waiting, 200-800 ms when each waited for the boot CPU's go-ahead
 *    in MADT order). percpu_of(c)->apic_id says which CPU is which.
 *  - Publication: the boot CPU fills slots, table and trampoline with
 *    plain stores before the INIT and startup IPIs (uncached ICR writes,
 *    which x86 orders after every earlier store), and an AP reads them
 *    only after the startup IPI started it. An AP's id and per-CPU setup
 *    are published by its release store of ONLINE, which the boot CPU
 *    loads with acquire before it marks the CPU online; the boot CPU
 *    marks CPUs online only once no slot is WAITING, so every id that
 *    will ever be taken has been.
 *
 * Stacks: every AP needs its own stack from its first C instruction, and
 * the APs run the trampoline at the same time, so the trampoline takes
 * the stack from the AP's slot (ap_slot_of_apic[CPUID.1:EBX[31:24]], a
 * table in the kernel image, which the boot tables map) rather than from
 * one field that the APs would share. It enters ap_entry() with a call,
 * so the stack is 16-byte aligned at the call as the ABI says.
 *
 * Idle APs wait in ap_idle(): they look for a new work generation with
 * interrupts masked and halt (sti; hlt) if there is none, so that the
 * VECTOR_WAKE the boot CPU sends after publishing work cannot be lost
 * between the look and the halt (the timer also wakes them).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/paging.h"
#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/arch/x86_64/trap.h"
#include "kernel/mm/heap.h"

#define VECTOR_WAKE 0x22
#define AP_ONLINE_TIMEOUT_MS 10000 /* from claim to online: nothing to wait for */

_Atomic unsigned kernel_ncpus;
static _Atomic bool online[CONFIG_MAX_CPUS];

extern const char trampoline_start[], trampoline_end[];
extern const char tramp_cr3[], tramp_slots[], tramp_entry[];
extern char boot_pml4[];

enum ap_state {
	AP_WAITING = 1, /* startup IPIs sent; the AP has not claimed the slot */
	AP_CLAIMED,     /* the AP won the slot: it takes an id, sets up */
	AP_ONLINE,      /* the AP runs on percpu_of(cpu), in ap_idle() */
	AP_RETIRED,     /* the boot CPU gave up on it: never used again */
	AP_PARKED,      /* the AP came late, saw RETIRED, halted for good */
};

/*
 * One AP's place, [B] written by the boot CPU before the startup IPIs.
 * stacks.top must stay first: the trampoline loads it at offset 0.
 */
struct ap_slot {
	struct cpu_stacks stacks; /* [B] guard-paged, never freed */
	struct percpu *area;      /* [B] from the heap; freed if RETIRED */
	uint32_t apic_id;         /* [B] the MADT's id for it */
	uint32_t cpu;             /* its CPU id: the AP's, once CLAIMED */
	bool late;                /* [B] injection: see smp_inject_late_ap */
	_Atomic uint32_t state;   /* enum ap_state, see the top */
};

_Static_assert(offsetof(struct ap_slot, stacks.top) == 0,
	       "boot/trampoline.S loads the stack at slot offset 0");

static struct ap_slot ap_slots[CONFIG_MAX_CPUS];
/* The trampoline's lookup, by the 8-bit APIC id CPUID leaf 1 gives. */
static struct ap_slot *ap_slot_of_apic[256]; /* [B] */
static uint32_t ap_timer_hz;                 /* [B] */
static bool bringup_done;                    /* [B] smp_start_aps ran */
static _Atomic uint32_t next_cpu = 1;        /* the next AP's id */

/* Injection (smp_inject_late_ap); UINT32_MAX: none. */
static uint32_t inject_late_apic = UINT32_MAX;
static bool inject_park = true;

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
	lapic_send_ipi(percpu_of(cpu)->apic_id, VECTOR_CALL);
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
		lapic_send_ipi(percpu_of(c)->apic_id, VECTOR_WAKE);
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

/* Interrupts masked, for good: an AP that must not run anything. */
static NORETURN void ap_halt(void)
{
	cli();
	for (;;)
		hlt();
}

/*
 * Injection: wait until the boot CPU has given up on this AP (its slot
 * has left WAITING), so that the claim below comes late every time, not
 * only when the timing happens to fall so. Bounded, so that a boot CPU
 * that never decides cannot keep the AP here forever.
 */
static void inject_be_late(struct ap_slot *s)
{
	uint64_t end = rdtsc() + tsc_hz() / 1000 *
				 (AP_ARRIVE_TIMEOUT_MS + 10000);

	while (atomic_load_explicit(&s->state, memory_order_acquire) ==
		       AP_WAITING && rdtsc() < end)
		pause();
}

/* The AP claims its slot: true if it won against the boot CPU's retiring. */
static bool ap_claim(struct ap_slot *s)
{
	uint32_t want = AP_WAITING;

	return atomic_compare_exchange_strong_explicit(
		&s->state, &want, AP_CLAIMED, memory_order_acq_rel,
		memory_order_acquire);
}

/* The claimed AP's id: the next one (see the top for why not MADT order). */
static uint32_t ap_take_id(struct ap_slot *s)
{
	s->cpu = atomic_fetch_add_explicit(&next_cpu, 1, memory_order_relaxed);
	return s->cpu;
}

/*
 * Where the trampoline calls in, on the slot's stack, boot page tables,
 * interrupts masked. Touches nothing but the slot until it holds it.
 */
static NORETURN void ap_entry(struct ap_slot *s)
{
	struct percpu *p;

	if (s->apic_id != cpuid_apic_id())
		ap_halt(); /* an 8-bit alias of a wider id: not its slot */
	if (s->late)
		inject_be_late(s);
	if (!ap_claim(s)) {
		/* RETIRED: say so (for the test), then stop for good. */
		atomic_store_explicit(&s->state, AP_PARKED,
				      memory_order_release);
		ap_halt();
	}
	p = s->area;
	percpu_area[ap_take_id(s)] = p;
	percpu_set_stacks(p, &s->stacks);
	percpu_install(p, s->cpu, s->apic_id, s->stacks.top);
	/* The trampoline called in with the stack aligned as the ABI says. */
	ASSERT((uintptr_t)__builtin_frame_address(0) % 16 == 0);
	cpu_tables_init(p);
	cpu_features_init(); /* NXE, PGE...: before the kernel's tables */
	write_cr3(paging_root());
	lapic_enable();
	/* CPUID's initial APIC id chose the slot; the LAPIC must agree, or
	   IPIs meant for this CPU would go to another. */
	if (lapic_id() != s->apic_id)
		panic("smp: CPU %u: its LAPIC says APIC id %u, its slot %u",
		      s->cpu, lapic_id(), s->apic_id);
	lapic_timer_start(ap_timer_hz);
	atomic_store_explicit(&s->state, AP_ONLINE, memory_order_release);
	sti();
	ap_idle();
}

/* One slot per AP the MADT lists (boot CPU aside); returns how many. */
static unsigned fill_slots(const struct acpi_madt_info *madt)
{
	uint32_t me = lapic_id();
	unsigned n = 0;
	err_t e;

	for (unsigned i = 0; i < madt->ncpus && n + 1 < CONFIG_MAX_CPUS; i++) {
		uint32_t id = madt->apic_id[i];
		struct ap_slot *s = &ap_slots[n];

		if (id == me)
			continue;
		/* acpi.c keeps only ids the xAPIC can address, each once. */
		ASSERT(id <= ACPI_XAPIC_MAX_ID && ap_slot_of_apic[id] == NULL);
		/* Guard-paged; the boot tables map the stack area too
		   (paging.h), so the AP can run on it before ap_entry()
		   loads the kernel's tables. */
		if ((e = cpu_stacks_alloc(&s->stacks)) != E_OK) {
			klog("smp: no stacks for the CPU with APIC id %u: %s",
			     id, err_name(e));
			continue;
		}
		s->area = kmalloc_aligned(sizeof(*s->area), CACHELINE,
					  KM_ZERO);
		if (s->area == NULL) {
			klog("smp: no per-CPU area for the CPU with APIC id "
			     "%u", id);
			continue; /* its stacks stay: they are never freed */
		}
		s->apic_id = id;
		s->cpu = UINT32_MAX;
		s->late = id == inject_late_apic;
		atomic_store_explicit(&s->state, AP_WAITING,
				      memory_order_relaxed);
		ap_slot_of_apic[id] = s;
		n++;
	}
	return n;
}

static unsigned count_waiting(unsigned n)
{
	unsigned w = 0;

	for (unsigned i = 0; i < n; i++)
		w += atomic_load_explicit(&ap_slots[i].state,
					  memory_order_acquire) == AP_WAITING;
	return w;
}

/* INIT to all, 10 ms, startup IPIs to all; wait for them to claim. */
static void start_all(unsigned n)
{
	uint64_t deadline;

	if (n == 0)
		return; /* no 10 ms INIT wait on a uniprocessor */
	/* The slots before the IPIs (the ICR writes order after them too). */
	atomic_thread_fence(memory_order_release);
	for (unsigned i = 0; i < n; i++)
		lapic_send_init(ap_slots[i].apic_id);
	udelay(10000);
	for (int sipi = 0; sipi < 2; sipi++) {
		for (unsigned i = 0; i < n; i++)
			if (atomic_load(&ap_slots[i].state) == AP_WAITING)
				lapic_send_startup(ap_slots[i].apic_id,
						   TRAMPOLINE_PHYS >> 12);
		udelay(200);
	}
	/* Pause, not cpu_relax(): halting would wait for the next tick. */
	deadline = time_ns() + UINT64_C(1000000) * AP_ARRIVE_TIMEOUT_MS;
	while (count_waiting(n) > 0 && time_ns() < deadline)
		pause();
}

/*
 * Retire every slot still WAITING (the CAS decides against an AP claiming
 * it right now) and park its AP. Returns how many APs hold their claim.
 */
static unsigned retire_late(unsigned n)
{
	unsigned claimed = 0;

	for (unsigned i = 0; i < n; i++) {
		struct ap_slot *s = &ap_slots[i];
		uint32_t want = AP_WAITING;

		if (!atomic_compare_exchange_strong_explicit(
			    &s->state, &want, AP_RETIRED, memory_order_acq_rel,
			    memory_order_acquire)) {
			claimed++;
			continue;
		}
		klog("smp: the CPU with APIC id %u did not start in %u ms: %s",
		     s->apic_id, AP_ARRIVE_TIMEOUT_MS,
		     inject_park ? "parked with INIT" :
				   "left unparked (injection)");
		if (inject_park)
			lapic_send_init(s->apic_id);
		/* An AP that comes now sees RETIRED before it touches it. */
		if (kfree(s->area) != E_OK)
			panic("smp: a retired slot's area was not the heap's");
		s->area = NULL;
	}
	return claimed;
}

/*
 * Wait for every claimed AP to say it is up, then mark CPUs 1..claimed
 * online in id order, so that ncpus() grows with every CPU below it
 * online.
 */
static void bring_online(unsigned n, unsigned claimed)
{
	uint64_t deadline = time_ns() + UINT64_C(1000000) * AP_ONLINE_TIMEOUT_MS;

	for (unsigned i = 0; i < n; i++) {
		struct ap_slot *s = &ap_slots[i];
		uint32_t st;

		while ((st = atomic_load_explicit(&s->state,
						  memory_order_acquire)) ==
		       AP_CLAIMED) {
			if (time_ns() >= deadline)
				panic("smp: the CPU with APIC id %u claimed its "
				      "slot but did not come online",
				      s->apic_id);
			pause();
		}
		ASSERT(st != AP_ONLINE || s->cpu <= claimed);
	}
	ASSERT(atomic_load(&next_cpu) == claimed + 1);
	for (unsigned c = 1; c <= claimed; c++) {
		atomic_store_explicit(&online[c], true, memory_order_release);
		atomic_store_explicit(&kernel_ncpus, c + 1,
				      memory_order_release);
	}
}

/*
 * The unparked injection: the late AP, never sent INIT, must itself see
 * its slot retired and halt (PARKED); wait for it to have done so.
 */
static void check_unparked_halted(unsigned n)
{
	uint64_t deadline = time_ns() +
			    UINT64_C(1000000) * (AP_ARRIVE_TIMEOUT_MS + 10000);

	for (unsigned i = 0; i < n; i++) {
		struct ap_slot *s = &ap_slots[i];
		uint32_t st;

		if (!s->late)
			continue;
		while ((st = atomic_load_explicit(&s->state,
						  memory_order_acquire)) ==
			       AP_RETIRED && time_ns() < deadline)
			pause();
		if (st != AP_PARKED)
			panic("smp: the late CPU with APIC id %u did not halt "
			      "on its retired slot (state %u)", s->apic_id,
			      (unsigned)st);
		klog("smp: the late CPU with APIC id %u came, found its slot "
		     "retired and halted", s->apic_id);
	}
}

/*
 * An injection that names no AP (late_ap=0 names the boot CPU, or an id
 * the MADT lacks) would make nothing late, and the boot it was meant to
 * test would pass without testing anything: refuse it.
 */
static void check_injection_hits(unsigned n)
{
	if (inject_late_apic == UINT32_MAX)
		return;
	for (unsigned i = 0; i < n; i++)
		if (ap_slots[i].late)
			return;
	panic("smp: late_ap: no AP with APIC id %u to make late (the boot "
	      "CPU's is %u)", inject_late_apic, lapic_id());
}

void smp_inject_late_ap(uint32_t apic_id, bool park)
{
	inject_late_apic = apic_id;
	inject_park = park;
}

unsigned smp_start_aps(const struct acpi_madt_info *madt, uint32_t timer_hz)
{
	unsigned n, up;

	ASSERT(!bringup_done);
	bringup_done = true;
	trap_set_handler(VECTOR_WAKE, wake);
	memcpy(phys_to_virt(PADDR(TRAMPOLINE_PHYS)), trampoline_start,
	       (size_t)(trampoline_end - trampoline_start));
	/* The boot tables: below 4 GiB, and they map the trampoline. */
	*tramp_field(tramp_cr3) = (uint64_t)virt_to_phys(boot_pml4).v;
	*tramp_field(tramp_slots) = (uint64_t)(uintptr_t)ap_slot_of_apic;
	*tramp_field(tramp_entry) = (uint64_t)(uintptr_t)ap_entry;
	ap_timer_hz = timer_hz;
	n = fill_slots(madt);
	check_injection_hits(n);
	start_all(n);
	up = retire_late(n);
	bring_online(n, up);
	if (!inject_park)
		check_unparked_halted(n);
	return up;
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
		lapic_send_ipi(percpu_of(c)->apic_id, VECTOR_WAKE);
	atomic_store_explicit(&wakes_sent, gen, memory_order_release);
	fn(arg);
	/* cpu_relax(): the work is long, and an AP sends nothing when done. */
	while (atomic_load_explicit(&work_done, memory_order_acquire) < others)
		cpu_relax();
}
