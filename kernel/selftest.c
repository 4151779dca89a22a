/* SPDX-License-Identifier: MIT */
/*
 * In-kernel self-tests. See selftest.h.
 *
 * Each test is a function that returns whether it passed; CHECK() logs
 * the first condition that failed. Tests that need every CPU use
 * smp_run_all() (all CPUs at once, process context, interrupts on) or
 * smp_call_all() (an IPI), and timer_set_hook() to act inside every CPU's
 * timer interrupt. The tests run in the order of the table at the bottom;
 * the last one checks the allocator as a whole after all the others.
 *
 * Per-CPU scratch arrays are static (the boot stack is 16 KiB).
 */
#include <stdatomic.h>
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/cpu.h"
#include "kernel/arch/x86_64/kstack.h"
#include "kernel/arch/x86_64/extable.h"
#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/paging.h"
#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/arch/x86_64/trap.h"
#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"
#include "kernel/mm/scrub.h"
#include "kernel/selftest.h"
#include "kernel/selftest_check.h"
#include "kernel/arch/x86_64/vmfault.h"
#include "kernel/selftest_heap.h"
#include "kernel/selftest_rcu.h"
#include "kernel/selftest_vmspace.h"
#include "kernel/smp_call.h"
#include "locks/spinlock.h"
#include "percpu/pcp.h"
#include "stress/frame_torture.h"

static struct selftest_opts opts;
static uint64_t scratch[MAX_CPUS]; /* per-CPU results of the current test */

/* ---------------------------------------------------------------- CPUs */

static bool test_every_cpu_online(void)
{
	CHECK(ncpus() == opts.expected_cpus);
	for (unsigned c = 0; c < ncpus(); c++)
		CHECK(cpu_online(c));
	CHECK(!cpu_online(ncpus()));
	CHECK(cpu_id() == 0);
	return true;
}

static void read_apic_base(void *arg)
{
	(void)arg;
	scratch[cpu_id()] = lapic_msr_base();
}

/*
 * KSP-02: the kernel took the local APIC's address from the ACPI MADT,
 * not from a constant; every CPU's IA32_APIC_BASE MSR agrees with it.
 */
static bool test_lapic_address_from_firmware(void)
{
	smp_call_all(read_apic_base, NULL);
	for (unsigned c = 0; c < ncpus(); c++) {
		if (scratch[c] != lapic_base_phys()) {
			klog("selftest:   CPU %u: MSR says %#llx, MADT said %#llx",
			     c, (unsigned long long)scratch[c],
			     (unsigned long long)lapic_base_phys());
			return false;
		}
	}
	return true;
}

/* Every CPU's LAPIC timer ticks, idle CPUs included (they halt). */
static bool test_timer_ticks_on_every_cpu(void)
{
	for (unsigned c = 0; c < ncpus(); c++)
		scratch[c] = timer_ticks(c);
	udelay(100 * 1000); /* 10 ticks at 100 Hz */
	for (unsigned c = 0; c < ncpus(); c++) {
		if (timer_ticks(c) < scratch[c] + 2) {
			klog("selftest:   CPU %u ticked %llu times in 100 ms", c,
			     (unsigned long long)(timer_ticks(c) - scratch[c]));
			return false;
		}
	}
	return true;
}

/*
 * time_ns() never goes back, counts nanoseconds (the benchmark harness
 * times spans of a few microseconds with it; it used to move in whole
 * microseconds), and agrees with udelay()'s TSC.
 */
static bool test_clock_counts_nanoseconds(void)
{
	uint64_t t0 = time_ns(), prev = t0, fine = 0, d;

	for (int i = 0; i < 1000; i++) {
		uint64_t now = time_ns();

		if (now < prev) {
			klog("selftest:   time_ns() went back from %llu to %llu",
			     (unsigned long long)prev, (unsigned long long)now);
			return false;
		}
		fine += (now - t0) % 1000 != 0;
		prev = now;
	}
	if (fine == 0) {
		klog("selftest:   time_ns() moved only in whole microseconds");
		return false;
	}
	t0 = time_ns();
	udelay(10000);
	d = time_ns() - t0;
	if (d < 9990000) {
		klog("selftest:   udelay(10 ms) took %llu ns by time_ns()",
		     (unsigned long long)d);
		return false;
	}
	return true;
}

static void count_call(void *arg)
{
	unsigned me = cpu_id();
	bool ok = me == *(unsigned *)arg ? !irqs_enabled() : in_irq();

	/* Each CPU writes only its own slot; the caller reads after the
	   call returned, which orders it after every CPU's fn. */
	scratch[me] += ok ? 1 : 1000;
}

/* smp_call_all() reaches every CPU once, by IPI, and waits for all. */
static bool test_call_all_reaches_every_cpu(void)
{
	unsigned me = cpu_id();

	memset(scratch, 0, sizeof(scratch));
	for (int round = 0; round < 100; round++)
		smp_call_all(count_call, &me);
	for (unsigned c = 0; c < ncpus(); c++) {
		if (scratch[c] != 100) {
			klog("selftest:   CPU %u: %llu (100 calls, 1000 per call "
			     "in the wrong context)", c,
			     (unsigned long long)scratch[c]);
			return false;
		}
	}
	return true;
}

/* ---------------------------------------------------- wakeups (issue 9) */

static _Atomic uint64_t woke_at[MAX_CPUS]; /* TSC when the work began */

static void mask_ap_timer(void *arg)
{
	if (cpu_id() != 0)
		lapic_timer_set_masked(*(const bool *)arg);
}

static unsigned aps_woken(void)
{
	unsigned n = 0;

	for (unsigned c = 1; c < ncpus(); c++)
		n += atomic_load(&woke_at[c]) != 0;
	return n;
}

/* Work for every CPU: the APs note when it reached them; the boot CPU
   waits (10 s at most) for them all and kicks any that slept through. */
static void note_wake(void *arg)
{
	uint64_t t0 = rdtsc(), last = t0;
	unsigned me = cpu_id(), missed = 0;

	(void)arg;
	if (me != 0) {
		atomic_store(&woke_at[me], rdtsc());
		return;
	}
	/* 10 s: only a lost wakeup waits it out (63 APs on 2 host cores
	   take well under one). */
	while (aps_woken() < ncpus() - 1 && rdtsc() - t0 < 10 * tsc_hz())
		pause();
	for (unsigned c = 1; c < ncpus(); c++) {
		uint64_t w = atomic_load(&woke_at[c]);

		if (w == 0) {
			klog("selftest:   CPU %u did not wake: its wake IPI was "
			     "lost", c);
			missed++;
			ipi_call(c); /* out of its hlt, or smp_run_all hangs */
		}
		last = MAX(last, w);
	}
	scratch[0] = missed;
	if (missed == 0)
		klog("selftest:   the last AP began %llu us after the wake "
		     "IPIs", (unsigned long long)((last - MIN(last, t0)) /
						  (tsc_hz() / 1000000)));
}

/*
 * Finding 6: a wake IPI that comes between the idle loop's look for work
 * and its hlt is not lost. Forced: every AP holds in that window (the
 * smp.c test hook) until its wake IPI has arrived, and the APs' timers are
 * masked, so only that IPI can wake them: a lost one leaves the AP asleep
 * and the bounded wait names it.
 */
static bool test_idle_wake_not_lost(void)
{
	bool masked = true, unmasked = false, held;

	for (unsigned c = 0; c < ncpus(); c++)
		atomic_store(&woke_at[c], 0);
	scratch[0] = 0;
	smp_call_all(mask_ap_timer, &masked);
	held = smp_idle_race_arm();
	if (held)
		smp_run_all(note_wake, NULL);
	smp_call_all(mask_ap_timer, &unmasked);
	CHECK(held);
	CHECK(scratch[0] == 0);
	return true;
}

static uint32_t relax_halts(unsigned c)
{
	return __atomic_load_n(&percpu_of(c)->relax_halts, __ATOMIC_RELAXED);
}

static bool cpu_1(unsigned cpu, void *arg)
{
	(void)arg;
	return cpu == 1;
}

/* A call that returns only once its caller has spun RELAX_HALT_EVERY
   cpu_relax()es (one of which halts) or 5 ms have passed. */
static void hold_caller(void *arg)
{
	unsigned caller = *(const unsigned *)arg;
	uint32_t r0 = __atomic_load_n(&percpu_of(caller)->relax, __ATOMIC_RELAXED);
	uint64_t t0 = rdtsc();

	if (cpu_id() == caller)
		return;
	while (__atomic_load_n(&percpu_of(caller)->relax, __ATOMIC_RELAXED) - r0 <
		       RELAX_HALT_EVERY &&
	       rdtsc() - t0 < tsc_hz() / 200)
		pause();
}

/*
 * Finding 6, the waits: smp_call_cond()'s wait for its targets never
 * halts (a halt sleeps until the next tick; targets send nothing back).
 * Forced: the target (CPU 1) holds the call until the caller has called
 * cpu_relax() often enough for one of them to halt, or 5 ms; the caller's
 * halt count must not move.
 */
static bool test_call_wait_never_halts(void)
{
	unsigned me = cpu_id();
	uint32_t h0 = relax_halts(me);

	for (int round = 0; round < 10; round++)
		smp_call_cond(cpu_1, hold_caller, &me);
	if (relax_halts(me) != h0)
		klog("selftest:   CPU %u halted %u times waiting for 10 calls",
		     me, relax_halts(me) - h0);
	CHECK(relax_halts(me) == h0);
	return true;
}

static _Atomic bool stuck_masked;

static void noop(void *arg)
{
	(void)arg;
}

/* CPU 1 masks interrupts until the watchdog has spoken (2 s at most);
   CPU 0 calls everyone meanwhile. */
static void stall_a_call(void *arg)
{
	uint64_t r0 = *(const uint64_t *)arg, t0 = rdtsc();

	if (cpu_id() == 1) {
		irqflags_t f = irq_save();

		atomic_store(&stuck_masked, true);
		while (smp_call_watchdog_reports() == r0 &&
		       rdtsc() - t0 < 2 * tsc_hz())
			pause();
		irq_restore(f);
	} else if (cpu_id() == 0) {
		while (!atomic_load(&stuck_masked) && rdtsc() - t0 < tsc_hz())
			pause();
		smp_call_all(noop, NULL);
	}
}

/*
 * Finding 8: a caller that waits too long for a target names it (the
 * watchdog, here after 10 ms), and still gets its answer once the target
 * unmasks.
 */
static bool test_call_watchdog_names_stuck_cpu(void)
{
	uint64_t r0 = smp_call_watchdog_reports(), old;

	if (ncpus() < 2)
		return true;
	atomic_store(&stuck_masked, false);
	old = smp_call_set_watchdog(tsc_hz() / 100);
	smp_run_all(stall_a_call, &r0);
	smp_call_set_watchdog(old);
	CHECK(smp_call_watchdog_reports() > r0);
	return true;
}

/*
 * Every CPU runs C on a stack aligned as the ABI says (16 bytes at each
 * call): a cmpxchg16b on a 16-byte-aligned local faults (#GP) otherwise,
 * and the frame pointer shows it directly. Before the fix the APs, which
 * the trampoline jumped into, ran 8 bytes off and took the #GP.
 */
static NOINLINE void aligned_atomic(void *arg)
{
	unsigned __int128 x __attribute__((aligned(16))) = cpu_id();
	unsigned __int128 old = cpu_id(), want = (unsigned __int128)1 << 100;
	bool ok;

	(void)arg;
	ok = cmpxchg16b(&x, &old, want) && x == want &&
	     (uintptr_t)__builtin_frame_address(0) % 16 == 0;
	scratch[cpu_id()] = ok ? 1 : 0;
}

static bool test_stack_aligned_on_every_cpu(void)
{
	CHECK(cpu_has_cx16());
	memset(scratch, 0, sizeof(scratch));
	smp_run_all(aligned_atomic, NULL);
	for (unsigned c = 0; c < ncpus(); c++) {
		if (scratch[c] != 1) {
			klog("selftest:   CPU %u: misaligned frame or the "
			     "16-byte atomic failed", c);
			return false;
		}
	}
	return true;
}

/* What a CPU says about itself, for test_cpus_distinct. */
struct whoami {
	const struct percpu *area; /* this_cpu() */
	uint32_t lapic;            /* its local APIC's id register */
	uint64_t rsp;
};

static struct whoami whoami[MAX_CPUS];

static void report_whoami(void *arg)
{
	(void)arg;
	whoami[cpu_id()] = (struct whoami){ this_cpu(), lapic_id(), read_rsp() };
}

/* Stacks [top - KSTACK_SIZE, top) of CPUs c and d overlap. */
static bool stacks_overlap(unsigned c, unsigned d)
{
	uint64_t tc = percpu_of(c)->stack_top, td = percpu_of(d)->stack_top;

	return tc - KSTACK_SIZE < td && td - KSTACK_SIZE < tc;
}

/*
 * Every CPU runs on its own per-CPU area (id and APIC id as set up), on
 * its own stack, and no two CPUs share an area, an APIC id or a stack
 * (finding: a late AP took the next CPU's slot and stack).
 */
static bool test_cpus_distinct(void)
{
	memset(whoami, 0, sizeof(whoami));
	smp_run_all(report_whoami, NULL);
	for (unsigned c = 0; c < ncpus(); c++) {
		const struct whoami *w = &whoami[c];

		if (w->area != percpu_of(c) || percpu_of(c)->id != c ||
		    w->lapic != percpu_of(c)->apic_id ||
		    w->rsp >= percpu_of(c)->stack_top ||
		    w->rsp < percpu_of(c)->stack_top - KSTACK_SIZE) {
			klog("selftest:   CPU %u: area %p (want %p), APIC id %u "
			     "(area says %u), rsp %#llx (stack top %#llx)", c,
			     (const void *)w->area, (void *)percpu_of(c),
			     w->lapic, percpu_of(c)->apic_id,
			     (unsigned long long)w->rsp,
			     (unsigned long long)percpu_of(c)->stack_top);
			return false;
		}
		for (unsigned d = 0; d < c; d++) {
			if (percpu_of(d)->apic_id == percpu_of(c)->apic_id ||
			    stacks_overlap(c, d)) {
				klog("selftest:   CPUs %u and %u share an APIC "
				     "id or a stack", d, c);
				return false;
			}
		}
	}
	return true;
}

/* --------------------------------------------------------------- locks */

static spinlock_t counter_lock; /* protects counter; leaf; taken in IRQs */
static uint64_t counter;        /* [counter_lock] */
static uint64_t irq_adds[MAX_CPUS]; /* [c] by the CPU's timer hook */
static uint64_t lock_deadline;      /* time_ns() at which the loops stop */

static void bump(void)
{
	/* A read and a later write: lost updates show without exclusion. */
	volatile uint64_t *c = &counter;
	uint64_t v = *c;

	*c = v + 1;
}

/*
 * A CPU's timer takes the lock at most IRQ_TAKES times, and only while
 * the loops run. The interrupts' share must stay bounded: with more vCPUs
 * than host cores every contended hand-over of a FIFO lock waits for the
 * next vCPU in line to be scheduled (at -smp 64 on 2 cores, tens of
 * milliseconds), and
 * ticks that keep queueing for the lock faster than that leave the CPUs
 * doing nothing but handling timer interrupts.
 */
#define IRQ_TAKES 2

static void lock_in_irq(void)
{
	unsigned me = cpu_id();
	irqflags_t f;

	if (irq_adds[me] >= IRQ_TAKES || time_ns() >= lock_deadline)
		return;
	f = spin_lock_irqsave(&counter_lock);
	bump();
	irq_adds[me]++;
	spin_unlock_irqrestore(&counter_lock, f);
}

/*
 * Bounded by time, not by count: with more vCPUs than host cores a FIFO
 * lock waits for descheduled vCPUs at every hand-over (each can cost a
 * host time slice), so a fixed count could take minutes at -smp 16 on 2
 * cores.
 */
static void lock_loop(void *arg)
{
	uint64_t n = 0;

	(void)arg;
	while (time_ns() < lock_deadline) {
		irqflags_t f = spin_lock_irqsave(&counter_lock);

		bump();
		spin_unlock_irqrestore(&counter_lock, f);
		n++;
	}
	scratch[cpu_id()] = n;
}

/*
 * Every CPU increments one counter under a spinlock for 300 ms while every
 * CPU's timer interrupt does too (ALO-01 on real interrupts: the lock is
 * taken with interrupts masked, so a handler never spins on its own CPU's
 * hold). No increment may be lost.
 */
static bool test_spinlock_excludes_cpus_and_irqs(void)
{
	uint64_t loops = 0, irqs = 0;

	spin_lock_init(&counter_lock, "selftest.counter");
	counter = 0;
	memset(irq_adds, 0, sizeof(irq_adds));
	memset(scratch, 0, sizeof(scratch));
	lock_deadline = time_ns() + 300 * 1000000;
	timer_set_hook(lock_in_irq);
	smp_run_all(lock_loop, NULL);
	timer_set_hook(NULL); /* returns when no handler runs it any more */
	for (unsigned c = 0; c < ncpus(); c++) {
		loops += scratch[c];
		irqs += irq_adds[c];
	}
	klog("selftest:   %llu increments by %u CPUs, %llu in interrupts",
	     (unsigned long long)(loops + irqs), ncpus(),
	     (unsigned long long)irqs);
	CHECK(loops > 0 && irqs > 0);
	CHECK(counter == loops + irqs);
	return true;
}

/* --------------------------------------------------------- page tables */

/* The frame allocator's counters are equal (nothing allocated, freed). */
static bool same_stats(const struct frame_stats *a, const struct frame_stats *b)
{
	if (a->managed != b->managed || a->free != b->free ||
	    a->allocated != b->allocated || a->scrub_backlog != b->scrub_backlog)
		return false;
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		if (a->zone[z].free != b->zone[z].free ||
		    a->zone[z].cached != b->zone[z].cached)
			return false;
	return true;
}

static void validate_here(void *arg)
{
	(void)arg;
	scratch[cpu_id()] = paging_validate() && kstack_validate();
}

/*
 * paging_validate() (and the stack area's guards) on every CPU: each
 * checks its own CR3 is the kernel's root, and reads the shared tables
 * through its own TLB.
 */
static bool test_page_tables(void)
{
	memset(scratch, 0, sizeof(scratch));
	smp_call_all(validate_here, NULL);
	for (unsigned c = 0; c < ncpus(); c++) {
		if (!scratch[c]) {
			klog("selftest:   the page tables as CPU %u sees them", c);
			return false;
		}
	}
	return true;
}

static uint64_t ctl[MAX_CPUS][3]; /* CR0, CR4, EFER, per CPU */

static void read_control(void *arg)
{
	unsigned me = cpu_id();

	(void)arg;
	ctl[me][0] = read_cr0();
	ctl[me][1] = read_cr4();
	ctl[me][2] = rdmsr(MSR_EFER);
}

/*
 * Finding 4 (and 7, 9): every CPU runs with exactly the control bits the
 * boot CPU chose: NX on (EFER.NXE), CR0 loaded with known bits (write
 * protection on), Global pages, SMEP, SMAP and machine checks as CPUID
 * offers them (QEMU's `-cpu max` and the KVM host model offer all four).
 */
static bool test_cpu_control_on_every_cpu(void)
{
	const struct cpu_control *want = cpu_control();

	uint32_t r1[4], r7[4] = { 0 }, r0[4];

	/* What CPUID offers, asked here rather than trusted from cpu.c. */
	cpuid(0, 0, r0);
	cpuid(1, 0, r1);
	if (r0[0] >= 7)
		cpuid(7, 0, r7);
	CHECK(want->efer & EFER_NXE);
	CHECK((want->cr0 & CR0_WP) && (want->cr0 & CR0_PG));
	CHECK(!(r1[3] & (1u << 13)) || (want->cr4 & CR4_PGE));
	CHECK(!(r1[3] & (1u << 7)) || (want->cr4 & CR4_MCE));
	CHECK(!(r7[1] & (1u << 7)) || (want->cr4 & CR4_SMEP));
	CHECK(!(r7[1] & (1u << 20)) || (want->cr4 & CR4_SMAP));
	smp_call_all(read_control, NULL);
	for (unsigned c = 0; c < ncpus(); c++) {
		if (ctl[c][0] != want->cr0 || ctl[c][1] != want->cr4 ||
		    (ctl[c][2] & ~EFER_LMA) != (want->efer & ~EFER_LMA)) {
			klog("selftest:   CPU %u: CR0 %#llx CR4 %#llx EFER "
			     "%#llx, expected %#llx %#llx %#llx", c,
			     (unsigned long long)ctl[c][0],
			     (unsigned long long)ctl[c][1],
			     (unsigned long long)ctl[c][2],
			     (unsigned long long)want->cr0,
			     (unsigned long long)want->cr4,
			     (unsigned long long)want->efer);
			return false;
		}
	}
	return true;
}

/* The access bits (W, NX, G) of va's leaf; UINT64_MAX if unmapped. */
static uint64_t access_at(const void *va)
{
	uint64_t size, e = paging_entry((uint64_t)(uintptr_t)va, &size);

	return e == 0 ? UINT64_MAX : e & (PTE_W | PTE_NX | PTE_G);
}

extern const char boot_stack_guard[], boot_stack[];
static const uint64_t a_constant = 42;

/* The stack [top - pages pages, top) is mapped RW NX, its guard is not. */
static bool guarded(uint64_t top, uint64_t pages)
{
	const uint64_t rw = PTE_W | PTE_NX | PTE_G;
	const char *lo = (const char *)(uintptr_t)(top - pages * PAGE_SIZE);

	return access_at(lo) == rw &&
	       access_at(lo + pages * PAGE_SIZE - 1) == rw &&
	       access_at(lo - 1) == UINT64_MAX;
}

/*
 * Findings 4 and 5, entry by entry: text read-execute, rodata read-only
 * (both read-only through the direct map too), data, the direct map and
 * the LAPIC read-write no-execute, all Global;
 * the boot stack's guard page unmapped; every CPU's kernel stack and
 * double-fault, NMI and machine-check stacks guard-paged, and its IDT
 * sends those three exceptions to them.
 */
static bool test_wx_and_guard_pages(void)
{
	const uint64_t rw = PTE_W | PTE_NX | PTE_G;
	uint64_t top;

	CHECK(access_at((const void *)selftest_run) == PTE_G);
	CHECK(access_at(&a_constant) == (PTE_NX | PTE_G));
	CHECK(access_at(&opts) == rw);
	CHECK(access_at(phys_to_virt(virt_to_phys(&opts))) == rw);
	/* No writable alias of code: text and rodata read-only in the
	   direct map too. */
	CHECK(access_at(phys_to_virt(virt_to_phys(
		      (const void *)selftest_run))) == (PTE_NX | PTE_G));
	CHECK(access_at(phys_to_virt(virt_to_phys(&a_constant))) ==
	      (PTE_NX | PTE_G));
	CHECK(access_at(phys_to_virt(PADDR(lapic_base_phys()))) == rw);
	CHECK(access_at(boot_stack_guard) == UINT64_MAX);
	CHECK(access_at(boot_stack) == rw);
	CHECK(percpu_of(0)->stack_lo == (uint64_t)(uintptr_t)boot_stack);
	for (unsigned c = 0; c < ncpus(); c++) {
		const struct percpu *p = percpu_of(c);

		CHECK(c == 0 || guarded(p->stack_top, KSTACK_PAGES));
		/* An AP's area is a live heap object (the boot CPU's is
		   static: it predates every allocator). */
		CHECK(c == 0 || ksize(p) >= sizeof(*p));
		CHECK(c != 0 || ksize(p) == 0);
		CHECK(c == 0 || p->stack_lo + KSTACK_PAGES * PAGE_SIZE ==
					p->stack_top);
		for (unsigned i = 0; i < IST_COUNT; i++) {
			CHECK(p->tss.ist[i] == p->ist_top[i]);
			CHECK(guarded(p->ist_top[i], IST_PAGES));
		}
		CHECK(p->idt[8].ist == IST_DOUBLE_FAULT);
		CHECK(p->idt[2].ist == IST_NMI);
		CHECK(p->idt[18].ist == IST_MACHINE_CHECK);
	}
	/* Bad sizes are refused before a slot is taken. */
	CHECK_ERR(kstack_alloc(0, &top), E_INVAL);
	CHECK_ERR(kstack_alloc(KSTACK_MAX_PAGES + 1, &top), E_INVAL);
	CHECK(kstack_validate());
	return true;
}

/* The entry without the bits the CPU sets on use (accessed, dirty). */
static uint64_t entry_at(uint64_t va, uint64_t *size)
{
	return paging_entry(va, size) & ~(PTE_A | PTE_D);
}

/* A large page of the direct map (RAM above 16 MiB has them). */
static uint64_t large_page(void)
{
	for (uint64_t pa = UINT64_C(16) << 20;; pa += UINT64_C(2) << 20) {
		uint64_t size, va = DIRECT_MAP_BASE + pa;

		if (paging_entry(va, &size) != 0 && size > PAGE_SIZE)
			return va;
	}
}

/*
 * WF-NO-OVERMAP: mapping over a present entry fails with E_BUSY and
 * changes nothing: the entry is as it was, a range whose first page was
 * free stays free, no table page is allocated; a large page is not split.
 * Asked to replace, the same call succeeds. The AP trampoline's page is
 * the 4 KiB guinea pig: mapped by paging_init, unused once the APs run.
 */
static bool test_page_tables_refuse_overmap(void)
{
	const uint64_t va = DIRECT_MAP_BASE + TRAMPOLINE_PHYS;
	const uint64_t attrs = PTE_W | PTE_NX | PTE_G;
	const uint64_t mapped = TRAMPOLINE_PHYS | PTE_P | attrs;
	const uint64_t bigva = large_page();
	struct frame_stats before, after;
	uint64_t size, big;

	CHECK(entry_at(va, &size) == mapped && size == PAGE_SIZE);
	CHECK(paging_entry(va - PAGE_SIZE, &size) == 0);
	big = paging_entry(bigva, &size);
	CHECK(size > PAGE_SIZE);
	frame_get_stats(&before);
	CHECK_ERR(paging_map(va, TRAMPOLINE_PHYS + PAGE_SIZE, PAGE_SIZE,
			     attrs, PAGING_NEW), E_BUSY);
	CHECK(entry_at(va, &size) == mapped);
	CHECK_ERR(paging_map(va - PAGE_SIZE, TRAMPOLINE_PHYS - PAGE_SIZE,
			     2 * PAGE_SIZE, attrs, PAGING_NEW), E_BUSY);
	CHECK(paging_entry(va - PAGE_SIZE, &size) == 0);
	CHECK_ERR(paging_map(bigva + PAGE_SIZE, PAGE_SIZE, PAGE_SIZE,
			     attrs, PAGING_NEW), E_BUSY);
	CHECK_ERR(paging_map(bigva + PAGE_SIZE, PAGE_SIZE, PAGE_SIZE,
			     attrs, PAGING_REPLACE), E_BUSY);
	CHECK(paging_entry(bigva, &size) == big);
	/* BOO-01: no Global bit in the lower half. */
	CHECK_ERR(paging_map(PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, PTE_G,
			     PAGING_NEW), E_INVAL);
	frame_get_stats(&after);
	CHECK(same_stats(&before, &after));

	CHECK_ERR(paging_map(va, TRAMPOLINE_PHYS + PAGE_SIZE, PAGE_SIZE,
			     PTE_NX | PTE_G, PAGING_REPLACE), E_OK);
	CHECK(entry_at(va, &size) ==
	      ((TRAMPOLINE_PHYS + PAGE_SIZE) | PTE_P | PTE_NX | PTE_G));
	CHECK_ERR(paging_map(va, TRAMPOLINE_PHYS, PAGE_SIZE, attrs,
			     PAGING_REPLACE), E_OK);
	CHECK(entry_at(va, &size) == mapped);
	return paging_validate();
}

/* ------------------------------------------- faults that are expected */

/*
 * The tests below map 2 MiB pages in the self-test window (paging.h),
 * one slot each, so that none allocates a table page (the last test
 * counts every frame). A test leaves its slot parked: mapped read-only,
 * no-execute and Global (as paging_validate wants every kernel-half leaf)
 * to physical 0, which the allocator never hands out, so that no frame it
 * frees stays mapped.
 */
#define SLOT_PROBE  0
#define SLOT_TLB    1
#define SLOT_EXEC   2
#define SLOT_DEMAND 3
#define BLOCK_ORDER 9 /* 2 MiB */

static uint64_t slot_va(unsigned slot)
{
	return PAGING_TEST_WINDOW + slot * PAGING_TEST_SLOT;
}

static err_t slot_map(unsigned slot, paddr_t pa, uint64_t flags)
{
	return paging_map(slot_va(slot), pa.v, PAGING_TEST_SLOT, flags,
			  PAGING_REPLACE);
}

static bool slot_park(unsigned slot)
{
	CHECK_ERR(slot_map(slot, PADDR(0), PTE_NX | PTE_G), E_OK);
	return true;
}

/* A zeroed 2 MiB block; its first word is marker. */
static bool block_alloc(pfn_t *pfn, uint64_t marker)
{
	struct frame_result r = frame_alloc(BLOCK_ORDER, FRAME_ZERO);

	CHECK_ERR(r.err, E_OK);
	*pfn = r.pfn;
	*(volatile uint64_t *)phys_to_virt(pfn_to_pa(r.pfn)) = marker;
	return true;
}

/* Lower-half addresses: unmapped once the boot tables are gone. */
#define UNMAPPED_VA(cpu) (UINT64_C(0x200000) + (uint64_t)(cpu) * PAGE_SIZE)
#define NONCANONICAL_VA  UINT64_C(0x8000000000000000)

struct probe_result {
	err_t read, write, gp, ok;
	struct fault_info rfi, wfi, gfi;
	uint64_t value;
};
static struct probe_result probe_results[MAX_CPUS];

static void probe_on_cpu(void *arg)
{
	struct probe_result *r = &probe_results[cpu_id()];
	uint64_t here = 0x1234;
	void *p = (void *)(uintptr_t)UNMAPPED_VA(cpu_id());

	(void)arg;
	r->value = 0x5a5a;
	r->read = probe_read_u64_info(p, &r->value, &r->rfi);
	r->write = probe_write_u64_info(p, 1, &r->wfi);
	r->gp = probe_read_u64_info((void *)(uintptr_t)NONCANONICAL_VA,
				    &r->value, &r->gfi);
	r->ok = probe_read_u64(&here, &here);
}

/*
 * On every CPU (the others in the IPI's interrupt handler), a probe of an
 * unmapped lower-half address returns E_FAULT instead of the fatal
 * report, with the page fault as the CPU gave it: CR2 the address, the
 * error code "not present" (and "write" for the write); a non-canonical
 * address is a #GP, also caught; a mapped one reads.
 */
static bool test_probe_unmapped_faults_on_every_cpu(void)
{
	memset(probe_results, 0, sizeof(probe_results));
	smp_call_all(probe_on_cpu, NULL);
	for (unsigned c = 0; c < ncpus(); c++) {
		const struct probe_result *r = &probe_results[c];

		klog("selftest:   CPU %u: read %s (vector %llu error %#llx "
		     "addr %#llx), write %s (error %#llx), non-canonical %s "
		     "(vector %llu)", c, err_name(r->read),
		     (unsigned long long)r->rfi.vector,
		     (unsigned long long)r->rfi.error,
		     (unsigned long long)r->rfi.addr, err_name(r->write),
		     (unsigned long long)r->wfi.error, err_name(r->gp),
		     (unsigned long long)r->gfi.vector);
		CHECK_ERR(r->read, E_FAULT);
		CHECK(r->value == 0x5a5a); /* not written on a fault */
		CHECK(r->rfi.vector == VECTOR_PF);
		CHECK(r->rfi.addr == UNMAPPED_VA(c));
		CHECK(r->rfi.error == 0);
		CHECK(r->rfi.rip == (uint64_t)(uintptr_t)probe_read_u64_info);
		CHECK_ERR(r->write, E_FAULT);
		CHECK(r->wfi.vector == VECTOR_PF);
		CHECK(r->wfi.addr == UNMAPPED_VA(c));
		CHECK(r->wfi.error == PF_W);
		CHECK_ERR(r->gp, E_FAULT);
		CHECK(r->gfi.vector == VECTOR_GP && r->gfi.addr == 0);
		CHECK_ERR(r->ok, E_OK);
	}
	return true;
}

/*
 * A write through a read-only mapping faults (protection, write) and
 * changes nothing; the same page mapped writable takes it. copy_nofault()
 * copies from a mapped page and fails on an unmapped or read-only side.
 */
static bool test_probe_write_to_read_only_faults(void)
{
	const uint64_t va = slot_va(SLOT_PROBE);
	volatile uint64_t *direct;
	struct fault_info fi;
	uint64_t buf[4] = { 0 }, v = 0;
	pfn_t block;

	if (!block_alloc(&block, 0xfeed))
		return false;
	direct = phys_to_virt(pfn_to_pa(block));
	CHECK_ERR(slot_map(SLOT_PROBE, pfn_to_pa(block), 0), E_OK);
	CHECK_ERR(probe_read_u64((void *)(uintptr_t)va, &v), E_OK);
	CHECK(v == 0xfeed);
	CHECK_ERR(probe_write_u64_info((void *)(uintptr_t)va, 1, &fi), E_FAULT);
	CHECK(fi.vector == VECTOR_PF && fi.addr == va);
	CHECK(fi.error == (PF_P | PF_W));
	CHECK(*direct == 0xfeed);
	CHECK_ERR(copy_nofault(buf, (void *)(uintptr_t)va, sizeof(buf), &fi),
		  E_OK);
	CHECK(buf[0] == 0xfeed);
	CHECK_ERR(copy_nofault((void *)(uintptr_t)va, buf, sizeof(buf), &fi),
		  E_FAULT);
	CHECK(fi.error == (PF_P | PF_W) && fi.addr == va);
	CHECK_ERR(copy_nofault(buf, (void *)(uintptr_t)(UNMAPPED_VA(0) - 8),
			       sizeof(buf), &fi), E_FAULT);
	CHECK(fi.addr == UNMAPPED_VA(0) - 8 && fi.error == 0);

	CHECK_ERR(slot_map(SLOT_PROBE, pfn_to_pa(block), PTE_W), E_OK);
	CHECK_ERR(probe_write_u64((void *)(uintptr_t)va, 0xbeef), E_OK);
	CHECK(*direct == 0xbeef);
	if (!slot_park(SLOT_PROBE))
		return false;
	CHECK_ERR(frame_free(block, BLOCK_ORDER), E_OK);
	return true;
}

static void call_target(void *target)
{
	((void (*)(void))target)();
}

static void read_unmapped(void *arg)
{
	(void)arg;
	(void)*(volatile uint64_t *)(uintptr_t)UNMAPPED_VA(1);
}

/*
 * An instruction fetch from a no-execute page faults (protection,
 * instruction fetch, at the target's address), where the same page
 * mapped executable runs (EFER.NXE is on on every CPU from boot:
 * cpu_features_init). A fault outside the exception table is caught by
 * expect_fault(), not by any fixup.
 */
static bool test_exec_from_nx_page_faults(void)
{
	const uint64_t va = slot_va(SLOT_EXEC);
	struct fault_info fi;
	uint32_t r[4];
	pfn_t block;
	err_t e;

	CHECK_ERR(expect_fault(read_unmapped, NULL, &fi), E_FAULT);
	CHECK(fi.vector == VECTOR_PF && fi.addr == UNMAPPED_VA(1));
	CHECK(fi.error == 0);

	cpuid(0x80000001, 0, r);
	CHECK((r[3] >> 20) & 1); /* the CPU offers NX */
	CHECK(rdmsr(MSR_EFER) & EFER_NXE);
	if (!block_alloc(&block, 0xc3)) /* ret */
		return false;
	CHECK_ERR(slot_map(SLOT_EXEC, pfn_to_pa(block), 0), E_OK);
	CHECK_ERR(expect_fault(call_target, (void *)(uintptr_t)va, &fi), E_OK);
	e = slot_map(SLOT_EXEC, pfn_to_pa(block), PTE_NX);
	if (e == E_OK)
		e = expect_fault(call_target, (void *)(uintptr_t)va, &fi);
	(void)slot_park(SLOT_EXEC);
	klog("selftest:   call into a no-execute page: %s (vector %llu error "
	     "%#llx addr %#llx rip %#llx)", err_name(e),
	     (unsigned long long)fi.vector, (unsigned long long)fi.error,
	     (unsigned long long)fi.addr, (unsigned long long)fi.rip);
	CHECK_ERR(e, E_FAULT);
	CHECK(fi.vector == VECTOR_PF && fi.addr == va && fi.rip == va);
	CHECK(fi.error == (PF_P | PF_ID));
	CHECK_ERR(frame_free(block, BLOCK_ORDER), E_OK);
	return true;
}

/* What demand_hook saw; only the test's CPU faults in the slot. */
static struct {
	paddr_t pa;              /* the block to map on demand */
	unsigned runs, mapped;
	err_t nested;            /* its own probe, which faults */
	uint64_t cr2[4], error[4];
} demand;

#define NESTED_VA UNMAPPED_VA(2)

/*
 * A demand fault: map the block at the slot when the slot faults. First
 * it probes an unmapped address (a page fault inside the hook, which
 * overwrites CR2): the frame's cr2 must still be the hook's own fault.
 */
static bool demand_hook(struct trap_frame *f)
{
	uint64_t v;
	unsigned i = demand.runs++;

	demand.nested = probe_read_u64((void *)(uintptr_t)NESTED_VA, &v);
	if (i < ARRAY_SIZE(demand.cr2)) {
		demand.cr2[i] = f->cr2;
		demand.error[i] = f->error;
	}
	if (f->cr2 < slot_va(SLOT_DEMAND) ||
	    f->cr2 >= slot_va(SLOT_DEMAND) + PAGING_TEST_SLOT)
		return false;
	if (paging_map(slot_va(SLOT_DEMAND), demand.pa.v, PAGING_TEST_SLOT,
		       PTE_W, PAGING_NEW) != E_OK)
		return false;
	demand.mapped++;
	return true;
}

/*
 * The page-fault hook: a read of the unmapped slot runs the hook, which
 * maps it; the read is restarted and sees the data. A fault the hook
 * declines goes on to the exception table (probe_read_u64_info reports
 * the outer fault's address, not the nested one's) or to expect_fault().
 * Registration refuses what cannot be resumed, and a second hook.
 */
static bool test_page_fault_hook_maps_on_demand(void)
{
	const uint64_t va = slot_va(SLOT_DEMAND);
	uint64_t size, v = 0;
	struct fault_info fi;
	pfn_t block;
	bool ok = true;

	vmfault_fini(); /* the address spaces' hook: ours for this test */
	CHECK_ERR(trap_set_fault_hook(8, demand_hook), E_INVAL);
	CHECK_ERR(trap_set_fault_hook(2, demand_hook), E_INVAL);
	CHECK_ERR(trap_set_fault_hook(18, demand_hook), E_INVAL);
	CHECK_ERR(trap_set_fault_hook(32, demand_hook), E_INVAL);
	CHECK(paging_entry(va, &size) == 0); /* run once per boot */
	if (!block_alloc(&block, 0xd00d))
		return false;
	memset(&demand, 0, sizeof(demand));
	demand.pa = pfn_to_pa(block);
	CHECK_ERR(trap_set_fault_hook(VECTOR_PF, demand_hook), E_OK);
	if (trap_set_fault_hook(VECTOR_PF, demand_hook) != E_BUSY)
		ok = false;

	v = *(volatile uint64_t *)(uintptr_t)(va + 8 * 3) +
	    *(volatile uint64_t *)(uintptr_t)va; /* 0 + 0xd00d */
	if (probe_read_u64_info((void *)(uintptr_t)UNMAPPED_VA(3), &size,
				&fi) != E_FAULT ||
	    fi.addr != UNMAPPED_VA(3))
		ok = false;
	if (expect_fault(read_unmapped, NULL, NULL) != E_FAULT)
		ok = false;
	CHECK_ERR(trap_set_fault_hook(VECTOR_PF, NULL), E_OK);
	CHECK_ERR(vmfault_init(), E_OK);

	klog("selftest:   hook ran %u times, mapped %u; cr2 %#llx %#llx %#llx "
	     "error %#llx; its own probe %s; outer probe addr %#llx",
	     demand.runs, demand.mapped, (unsigned long long)demand.cr2[0],
	     (unsigned long long)demand.cr2[1],
	     (unsigned long long)demand.cr2[2],
	     (unsigned long long)demand.error[0], err_name(demand.nested),
	     (unsigned long long)fi.addr);
	CHECK(ok);
	CHECK(v == 0xd00d);
	CHECK(demand.runs == 3 && demand.mapped == 1);
	CHECK(demand.cr2[0] == va + 8 * 3 && demand.error[0] == 0);
	CHECK(demand.cr2[1] == UNMAPPED_VA(3));
	CHECK(demand.cr2[2] == UNMAPPED_VA(1));
	CHECK_ERR(demand.nested, E_FAULT);
	if (!slot_park(SLOT_DEMAND))
		return false;
	CHECK_ERR(frame_free(block, BLOCK_ORDER), E_OK);
	return true;
}

/* The live page-directory entry that maps 2 MiB slot va (a test walker). */
static volatile uint64_t *slot_pde(uint64_t va)
{
	uint64_t *t = phys_to_virt(PADDR(read_cr3() & PTE_ADDR));

	for (unsigned level = 3; level > 1; level--) {
		uint64_t e = t[(va >> (12 + 9 * level)) & 511];

		if (!(e & PTE_P) || (e & PTE_PS))
			return NULL;
		t = phys_to_virt(PADDR(e & PTE_ADDR));
	}
	return &t[(va >> 21) & 511];
}

enum flush_kind { FLUSH_PAGE, FLUSH_RANGE, FLUSH_RANGE_LONG, FLUSH_ALL,
		  FLUSH_ALL_GLOBAL, FLUSH_SWITCH, FLUSH_KINDS };

static const char *const flush_names[FLUSH_KINDS] = {
	"tlb_flush_page", "tlb_flush_range", "tlb_flush_range (long)",
	"tlb_flush_all", "tlb_flush_all (Global entry)", "mmu_switch_root",
};

static void flush(enum flush_kind k, uint64_t va)
{
	switch (k) {
	case FLUSH_PAGE:
		tlb_flush_page(va + 5 * PAGE_SIZE); /* any address in the page */
		break;
	case FLUSH_RANGE:
		tlb_flush_range(va - PAGE_SIZE, 2 * PAGE_SIZE);
		break;
	case FLUSH_RANGE_LONG:
		tlb_flush_range(va, PAGING_TEST_SLOT);
		break;
	case FLUSH_ALL:
	case FLUSH_ALL_GLOBAL:
		tlb_flush_all();
		break;
	default:
		mmu_switch_root(PADDR(read_cr3() & PTE_ADDR));
		break;
	}
}

/*
 * One flush: the slot maps block a and is read (its translation cached);
 * its entry is rewritten in place to block b, with no flush; after the
 * flush a read must see b. (Whether the read in between still sees a is
 * the TLB's business: not asserted.) Interrupts masked throughout.
 */
static bool flush_drops_translation(enum flush_kind k, paddr_t a, paddr_t b)
{
	const uint64_t va = slot_va(SLOT_TLB);
	volatile uint64_t *pde = slot_pde(va);
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)va;
	uint64_t g = k == FLUSH_ALL_GLOBAL ? PTE_G : 0;
	uint64_t before, between, after;
	irqflags_t f;

	CHECK(pde != NULL);
	CHECK_ERR(slot_map(SLOT_TLB, a, g), E_OK);
	f = irq_save();
	before = *p;
	*pde = (*pde & ~PTE_ADDR) | b.v;
	between = *p;
	flush(k, va);
	after = *p;
	irq_restore(f);
	klog("selftest:   %s: %#llx, rewritten %#llx, flushed %#llx",
	     flush_names[k], (unsigned long long)before,
	     (unsigned long long)between, (unsigned long long)after);
	CHECK(before == 0xa);
	CHECK(after == 0xb);
	return true;
}

/*
 * Each TLB hook drops a translation this CPU cached: tlb_flush_page for
 * any address in the (2 MiB) page, tlb_flush_range for a range that
 * overlaps it, short or long (a full flush), tlb_flush_all also a Global
 * one (CR4.PGE is on from boot), a CR3 load of the same root a
 * non-Global one.
 */
static bool test_tlb_flush_drops_translations(void)
{
	pfn_t a, b;
	bool ok = true;

	CHECK(read_cr4() & CR4_PGE);
	if (!block_alloc(&a, 0xa) || !block_alloc(&b, 0xb))
		return false;
	for (unsigned k = 0; k < FLUSH_KINDS && ok; k++)
		ok = flush_drops_translation(k, pfn_to_pa(a), pfn_to_pa(b));
	if (!slot_park(SLOT_TLB))
		return false;
	CHECK_ERR(frame_free(a, BLOCK_ORDER), E_OK);
	CHECK_ERR(frame_free(b, BLOCK_ORDER), E_OK);
	return ok;
}

/* -------------------------------------------------------------- frames */

/* A bad call: the error it must return, and nothing changed. */
#define CHECK_REJECTED(expr, want)                                      \
	do {                                                            \
		struct frame_stats before_, after_;                     \
		frame_get_stats(&before_);                              \
		CHECK_ERR(expr, want);                                  \
		frame_get_stats(&after_);                               \
		CHECK(same_stats(&before_, &after_));                   \
	} while (0)

/* The frame API's error cases (XEN-UE-*) on the real machine. */
static bool test_frame_bad_input_changes_nothing(void)
{
	struct frame_result r = frame_alloc(1, 0);
	pfn_t kernel_pfn = pa_to_pfn(virt_to_phys((const void *)selftest_run));

	CHECK_ERR(r.err, E_OK);
	CHECK_REJECTED(frame_alloc(FRAME_MAX_ORDER + 1, 0).err, E_INVAL);
	CHECK_REJECTED(frame_alloc(0, 1u << 20).err, E_INVAL);
	CHECK_REJECTED(frame_free(r.pfn, FRAME_MAX_ORDER + 1), E_INVAL);
	CHECK_REJECTED(frame_free(r.pfn, 0), E_BAD_ORDER);
	CHECK_REJECTED(frame_free(PFN(r.pfn.v + 1), 0), E_NOT_ALLOCATED);
	CHECK_REJECTED(frame_free(PFN(r.pfn.v + 1), 1), E_RANGE);
	CHECK_REJECTED(frame_free(PFN(frame_table_pages), 0), E_RANGE);
	CHECK_REJECTED(frame_free(kernel_pfn, 0), E_RESERVED);
	CHECK_ERR(frame_free(r.pfn, 1), E_OK);
	CHECK_REJECTED(frame_free(r.pfn, 1), E_NOT_ALLOCATED);
	return true;
}

/* Zone flags hold on the machine's real memory map; FRAME_ZERO zeroes. */
static bool test_frame_zones_and_zeroing(void)
{
	struct frame_result dma = frame_alloc(0, FRAME_DMA);
	struct frame_result dma32 = frame_alloc(3, FRAME_DMA32 | FRAME_ZERO);
	const uint64_t *w;

	CHECK_ERR(dma.err, E_OK);
	CHECK_ERR(dma32.err, E_OK);
	CHECK(dma.pfn.v < ZONE_DMA_END);
	CHECK(dma32.pfn.v + 8 <= ZONE_DMA32_END);
	w = phys_to_virt(pfn_to_pa(dma32.pfn));
	for (size_t i = 0; i < (PAGE_SIZE << 3) / sizeof(*w); i++)
		CHECK(w[i] == 0);
	CHECK_ERR(frame_free(dma.pfn, 0), E_OK);
	CHECK_ERR(frame_free(dma32.pfn, 3), E_OK);
	return true;
}

static uint64_t clock_ns(void)
{
	return time_ns();
}

static void torture_on_cpu(void *arg)
{
	(void)arg;
	torture_cpu(cpu_id());
}

/* The shadow owner map: as many frames as one top-order block covers. */
static bool owner_map_alloc(struct torture_opts *t, pfn_t *pfn,
			    unsigned *order)
{
	uint64_t bytes = frame_table_pages * sizeof(*t->owner);
	struct frame_result r;

	*order = 0;
	while (*order < FRAME_MAX_ORDER && (PAGE_SIZE << *order) < bytes)
		(*order)++;
	r = frame_alloc(*order, FRAME_ZERO);
	if (r.err != E_OK)
		return false;
	*pfn = r.pfn;
	t->owner = phys_to_virt(pfn_to_pa(r.pfn));
	t->owner_frames = MIN(frame_table_pages,
			      (PAGE_SIZE << *order) / sizeof(*t->owner));
	return true;
}

/*
 * Blocks each of cpus workers may hold so that all of them together, at
 * the average block size of the orders used, take about half of the free
 * memory: pressure enough to hit E_NOMEM now and then (and so the remote
 * drain path), not so much that most allocations fail, which would
 * measure little but the cost of drain rounds (with 64 vCPUs on 2 host
 * cores, a round waits until each target vCPU has been scheduled).
 */
static unsigned torture_hold(const struct torture_opts *t)
{
	struct frame_stats st;
	uint64_t frames = 0, hold;

	for (unsigned i = 0; i < t->norders; i++)
		frames += UINT64_C(1) << t->orders[i];
	frame_get_stats(&st);
	hold = st.free / 2 / t->cpus / (frames / t->norders);
	return (unsigned)MAX(UINT64_C(1), MIN(hold, UINT64_C(64)));
}

/*
 * stress/frame_torture on every CPU at once: mixed orders, cross-CPU
 * frees, accounts dying, and every CPU's timer interrupt allocating and
 * freeing inside whatever its CPU was doing; then drain and validate.
 */
static bool test_frame_torture_all_cpus_with_irqs(void)
{
	struct torture_opts t = {
		.cpus = ncpus(), .orders = { 0, 1, 3, 9 }, .norders = 4,
		.irq = true, .seed = rdtsc() | 1,
		.run_ns = opts.torture_ms * 1000000, .clock_ns = clock_ns,
	};
	struct torture_result r;
	char line[256];
	unsigned order;
	pfn_t map;
	bool ok;

	t.hold = torture_hold(&t);
	CHECK(owner_map_alloc(&t, &map, &order));
	CHECK_ERR(torture_init(&t), E_OK);
	timer_set_hook(torture_irq);
	smp_run_all(torture_on_cpu, NULL);
	timer_set_hook(NULL);
	ok = torture_finish(&r);
	torture_format(&r, line, sizeof(line));
	klog("selftest:   cpus=%u hold=%u seed=%#llx %s", t.cpus, t.hold,
	     (unsigned long long)t.seed, line);
	CHECK_ERR(frame_free(map, order), E_OK);
	CHECK(ok);
	CHECK(r.ops > 0 && r.irq_ops > 0);
	return true;
}

static uint64_t cached_frames(void)
{
	uint64_t n = 0;

	for (unsigned z = 0; z < ZONE_COUNT; z++)
		n += pcp_cached(&zones[z]);
	return n;
}

/* Leave some frames in this CPU's page caches. */
static void fill_cache(void *arg)
{
	pfn_t got[64];
	unsigned n = 0;

	(void)arg;
	scratch[cpu_id()] = 0;
	while (n < ARRAY_SIZE(got)) {
		struct frame_result r = frame_alloc(0, 0);

		if (r.err != E_OK)
			break;
		got[n++] = r.pfn;
	}
	while (n > 0)
		if (frame_free(got[--n], 0) != E_OK)
			scratch[cpu_id()]++; /* counted as a failure */
}

/* Chain frames through their first word; PFN(0) ends the chain. */
static void chain_push(pfn_t *head, pfn_t f)
{
	*(uint64_t *)phys_to_virt(pfn_to_pa(f)) = head->v;
	*head = f;
}

static pfn_t chain_pop(pfn_t *head)
{
	pfn_t f = *head;

	*head = PFN(*(uint64_t *)phys_to_virt(pfn_to_pa(f)));
	return f;
}

/*
 * Remote drain: with every other CPU's caches holding frames, exhaust
 * memory from CPU 0. The last allocations must still succeed: the
 * allocator drains the other CPUs' caches by IPI. Every frame but the DMA
 * reserve is handed out, and all come back.
 */
static bool test_frame_exhaustion_drains_remote_caches(void)
{
	struct frame_stats st;
	uint64_t want, got = 0, cached;
	pfn_t head = PFN(0);
	struct frame_result r;

	pcp_drain_all();
	smp_run_all(fill_cache, NULL);
	for (unsigned c = 0; c < ncpus(); c++)
		CHECK(scratch[c] == 0);
	cached = cached_frames();
	klog("selftest:   %llu frames cached on %u CPUs before exhaustion",
	     (unsigned long long)cached, ncpus());
	CHECK(cached > 0);
	frame_get_stats(&st);
	want = st.free - st.zone[ZONE_DMA].reserve;
	while ((r = frame_alloc(0, 0)).err == E_OK) {
		CHECK(r.pfn.v != 0); /* the chain's end marker: reserved */
		chain_push(&head, r.pfn);
		got++;
	}
	CHECK_ERR(r.err, E_NOMEM);
	CHECK(cached_frames() == 0);
	klog("selftest:   allocated %llu of %llu free frames",
	     (unsigned long long)got, (unsigned long long)st.free);
	while (head.v != 0)
		CHECK_ERR(frame_free(chain_pop(&head), 0), E_OK);
	CHECK(got == want);
	return true;
}

/* After everything: nothing lost, fully coalesced, every invariant. */
static bool test_frame_allocator_whole_at_end(void)
{
	struct frame_stats st;

	/* Objects the heap caches and its empty slabs are not lost frames:
	 * they go back first (RCU callbacks that free some, before that). */
	rcu_drain();
	(void)heap_reclaim();
	(void)scrub_run(UINT64_MAX);
	pcp_drain_all();
	frame_coalesce();
	frame_get_stats(&st);
	CHECK(frame_validate());
	CHECK(frame_free_pairs() == 0);
	CHECK(st.scrub_backlog == 0);
	/* Allocated: what boot took (page tables, AP stacks), no more. */
	klog("selftest:   %llu frames managed, %llu free, %llu allocated",
	     (unsigned long long)st.managed, (unsigned long long)st.free,
	     (unsigned long long)st.allocated);
	CHECK(st.allocated == opts.boot_allocated);
	return true;
}

/* The heap's torture runs as long as the frame torture. */
static bool test_heap_torture(void)
{
	return selftest_heap_torture(opts.torture_ms);
}

static bool test_rcu_torture(void)
{
	return selftest_rcu_torture(opts.torture_ms);
}

static bool test_vmspace_all_cpus(void)
{
	return selftest_vmspace_all_cpus(opts.torture_ms);
}

/* ------------------------------------------------------------- driver */

struct selftest {
	const char *name;
	bool (*run)(void);
};

static const struct selftest tests[] = {
	{ "every_cpu_online", test_every_cpu_online },
	{ "lapic_address_from_firmware", test_lapic_address_from_firmware },
	{ "timer_ticks_on_every_cpu", test_timer_ticks_on_every_cpu },
	{ "clock_counts_nanoseconds", test_clock_counts_nanoseconds },
	{ "call_all_reaches_every_cpu", test_call_all_reaches_every_cpu },
	{ "idle_wake_not_lost", test_idle_wake_not_lost },
	{ "call_wait_never_halts", test_call_wait_never_halts },
	{ "call_watchdog_names_stuck_cpu", test_call_watchdog_names_stuck_cpu },
	{ "stack_aligned_on_every_cpu", test_stack_aligned_on_every_cpu },
	{ "cpus_distinct", test_cpus_distinct },
	{ "spinlock_excludes_cpus_and_irqs",
	  test_spinlock_excludes_cpus_and_irqs },
	{ "page_tables", test_page_tables },
	{ "cpu_control_on_every_cpu", test_cpu_control_on_every_cpu },
	{ "wx_and_guard_pages", test_wx_and_guard_pages },
	{ "page_tables_refuse_overmap", test_page_tables_refuse_overmap },
	{ "probe_unmapped_faults_on_every_cpu",
	  test_probe_unmapped_faults_on_every_cpu },
	{ "probe_write_to_read_only_faults",
	  test_probe_write_to_read_only_faults },
	{ "exec_from_nx_page_faults", test_exec_from_nx_page_faults },
	{ "page_fault_hook_maps_on_demand",
	  test_page_fault_hook_maps_on_demand },
	{ "tlb_flush_drops_translations", test_tlb_flush_drops_translations },
	{ "frame_bad_input_changes_nothing",
	  test_frame_bad_input_changes_nothing },
	{ "frame_zones_and_zeroing", test_frame_zones_and_zeroing },
	{ "frame_torture_all_cpus_with_irqs",
	  test_frame_torture_all_cpus_with_irqs },
	{ "frame_exhaustion_drains_remote_caches",
	  test_frame_exhaustion_drains_remote_caches },
	{ "heap_bad_input_changes_nothing", selftest_heap_bad_input },
	{ "heap_torture_all_cpus_with_irqs", test_heap_torture },
	{ "heap_exhaustion_drains_remote_caches",
	  selftest_heap_exhaustion_drains_remote_caches },
	{ "rcu_synchronize_waits_for_sections",
	  selftest_rcu_synchronize_waits_for_sections },
	{ "rcu_callbacks_wait_for_sections",
	  selftest_rcu_callbacks_wait_for_sections },
	{ "rcu_torture_all_cpus_with_irqs", test_rcu_torture },
	{ "vmspace_map_touch_protect_unmap_all_cpus", test_vmspace_all_cpus },
	{ "vmspace_demand_and_cow_faults_all_cpus",
	  selftest_vmspace_faults_all_cpus },
	{ "frame_allocator_whole_at_end", test_frame_allocator_whole_at_end },
};

static bool selected(const struct selftest *t)
{
	return opts.only == NULL || (strlen(t->name) == opts.only_len &&
				     memcmp(t->name, opts.only, opts.only_len) == 0);
}

bool selftest_run(const struct selftest_opts *o)
{
	unsigned passed = 0, failed = 0;

	opts = *o;
	klog("selftest: %u tests on %u CPUs", (unsigned)ARRAY_SIZE(tests),
	     ncpus());
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
		uint64_t t0 = time_ns();
		bool ok;

		if (!selected(&tests[i]))
			continue;
		ok = tests[i].run();

		klog("selftest: %s %s (%llu ms)", ok ? "PASS" : "FAIL",
		     tests[i].name,
		     (unsigned long long)((time_ns() - t0) / 1000000));
		if (ok)
			passed++;
		else
			failed++;
	}
	if (passed + failed == 0) {
		klog("selftest: no test named '%.*s'", (int)opts.only_len,
		     opts.only);
		failed++;
	}
	klog("selftest: %u passed, %u failed", passed, failed);
	return failed == 0;
}
