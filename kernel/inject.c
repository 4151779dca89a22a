/* SPDX-License-Identifier: MIT */
/*
 * Injected failures. See inject.h. One function per name, in the table at
 * the bottom; tools/test-kernel.sh says what each must end in.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <platform.h>

#include "bench/kernel.h"
#include "kernel/arch/x86_64/console.h"
#include "kernel/arch/x86_64/extable.h"
#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/trap.h"
#include "kernel/inject.h"
#include "kernel/mm/frame.h"
#include "kernel/smp_call.h"

NORETURN void kernel_main(uint32_t magic, uint32_t info_pa);

struct injection {
	const char *name;
	void (*run)(void); /* NULL: fail=test (the self-tests fail) */
	bool armed;        /* run() arms a failure the benchmarks (bench=)
			      carry out later: it returns */
};

/* ------------------------------------------------- the runner's verdicts */

static void fail_panic(void)
{
	panic("injected by fail=panic");
}

/* The lower half is unmapped once the boot tables are gone. The probe
   expects its fault (no report); the write does not. */
static void fail_fault(void)
{
	uint64_t v;

	klog("boot: probe_read_u64(0x1000): %s",
	     err_name(probe_read_u64((void *)(uintptr_t)0x1000, &v)));
	*(volatile uint64_t *)(uintptr_t)0x1000 = 1;
}

static void fail_triple(void)
{
	cpu_triple_fault();
}

static void fail_hang(void)
{
	cli();
	for (;;)
		hlt();
}

/* ---------------------------------------- every CPU at once (smp_run_all) */

static _Atomic unsigned arrived; /* CPUs at the start line */
static _Atomic bool stuck;       /* call_stuck: CPU 1 has masked */
static _Atomic unsigned masked;  /* panic_irqoff: APs that have */

/* Run fn on every CPU, all starting together. */
static void on_every_cpu(void (*fn)(void *arg))
{
	smp_run_all(fn, NULL);
}

static void start_line(void)
{
	atomic_fetch_add(&arrived, 1);
	while (atomic_load(&arrived) < ncpus())
		pause();
}

static NORETURN void spin_forever(void)
{
	for (;;)
		pause();
}

static void panic_everywhere(void *arg)
{
	(void)arg;
	start_line();
	/* The winner waits for a second CPU to start dying: forced. */
	panic("injected by fail=panic_all");
}

static void fail_panic_all(void)
{
	console_panic_race_arm();
	on_every_cpu(panic_everywhere);
}

/* CPU 0 panics once every AP spins with interrupts masked: only an NMI
   stops those. */
static void panic_with_aps_masked(void *arg)
{
	(void)arg;
	start_line();
	if (cpu_id() == 0) {
		while (atomic_load(&masked) < ncpus() - 1)
			pause();
		panic("injected by fail=panic_irqoff");
	}
	cli();
	atomic_fetch_add(&masked, 1);
	spin_forever();
}

static void fail_panic_irqoff(void)
{
	on_every_cpu(panic_with_aps_masked);
}

/* An NMI with no panic in progress: reported (to CPU 1; at -smp 1, to
   this CPU itself). */
static void nmi_to_cpu1(void *arg)
{
	(void)arg;
	start_line();
	if (cpu_id() == 0)
		lapic_send_nmi(percpu_of(ncpus() > 1 ? 1 : 0)->apic_id);
	spin_forever();
}

static void fail_nmi(void)
{
	on_every_cpu(nmi_to_cpu1);
}

static void noop(void *arg)
{
	(void)arg;
}

/* CPU 1 masks interrupts until the smp_call watchdog has named it, while
   CPU 0 calls everyone. */
static void call_while_cpu1_deaf(void *arg)
{
	(void)arg;
	start_line();
	if (cpu_id() == 1) {
		irqflags_t fl = irq_save();

		atomic_store(&stuck, true);
		while (smp_call_watchdog_reports() == 0)
			pause();
		irq_restore(fl);
		panic("fail=call_stuck: the smp_call watchdog reported");
	}
	if (cpu_id() == 0) {
		while (!atomic_load(&stuck))
			pause();
		smp_call_all(noop, NULL);
	}
	spin_forever();
}

static void fail_call_stuck(void)
{
	on_every_cpu(call_while_cpu1_deaf);
}

/* 255 is the xAPIC broadcast: the driver must refuse it as a destination. */
static void fail_ipi255(void)
{
	lapic_send_ipi(255, VECTOR_CALL);
}

/* As if firmware had left this CPU's LAPIC in x2APIC mode: the driver,
   which speaks xAPIC only, must refuse to go on (finding 3). The MSR's
   value is faked, not written: QEMU's TCG offers no x2APIC to switch to. */
static void fail_x2apic(void)
{
	lapic_check_mode(rdmsr(MSR_APIC_BASE) | APIC_BASE_EXTD);
}

/* ------------------------------------------------------------ protections */

/* A recursion nothing stops (the compiler cannot see that it never ends). */
static volatile uint64_t recursion_limit = UINT64_MAX;

static NOINLINE uint64_t recurse(uint64_t depth)
{
	volatile uint64_t frame[8] = { depth };

	if (depth == recursion_limit)
		return 0;
	return recurse(depth + 1) + frame[0];
}

static void fail_stack_overflow(void)
{
	recurse(0);
}

static void overflow_on_cpu1(void *arg)
{
	(void)arg;
	if (cpu_id() == 1)
		recurse(0);
}

static void fail_stack_overflow_ap(void)
{
	if (ncpus() < 2)
		panic("fail=stack_overflow_ap needs 2 CPUs");
	on_every_cpu(overflow_on_cpu1);
}

static void fail_write_text(void)
{
	*(volatile uint8_t *)(uintptr_t)kernel_main =
		*(volatile uint8_t *)(uintptr_t)kernel_main;
}

/* The same text through its other mapping, the direct map's. */
static void fail_write_text_alias(void)
{
	volatile uint8_t *alias = phys_to_virt(
		virt_to_phys((const void *)(uintptr_t)kernel_main));

	*alias = *alias;
}

/* Read-only data: what fail=write_rodata writes to (test-kernel.sh looks
   its address up in the ELF). */
static const uint64_t rodata_word = 1;

static void fail_write_rodata(void)
{
	*(volatile uint64_t *)(uintptr_t)&rodata_word = 2;
}

/* A `ret` in a fresh frame, called through the direct map. */
static void fail_exec_direct(void)
{
	struct frame_result r = frame_alloc(0, 0);
	uint8_t *code;

	if (r.err != E_OK)
		panic("fail=exec_direct: no frame");
	code = phys_to_virt(pfn_to_pa(r.pfn));
	code[0] = 0xc3; /* ret */
	((void (*)(void))(uintptr_t)code)();
}

/* The benchmark harness must fail the benchmark that leaks or errs. */
static void fail_bench_leak(void)
{
	kbench_inject(KBENCH_FAULT_LEAK);
}

static void fail_bench_error(void)
{
	kbench_inject(KBENCH_FAULT_ERROR);
}

/* ------------------------------------------------------------------ table */

static const struct injection injections[] = {
	/* The runner must report each of these as a failure. */
	{ "panic", fail_panic, false },
	{ "fault", fail_fault, false },             /* a page fault */
	{ "triple", fail_triple, false },           /* a triple fault */
	{ "hang", fail_hang, false },
	{ "test", NULL, false },                    /* a self-test fails */
	/* A death stops every CPU and is reported once (finding 7). */
	{ "panic_all", fail_panic_all, false },     /* every CPU panics at once */
	{ "panic_irqoff", fail_panic_irqoff, false }, /* APs masked: NMI them */
	{ "nmi", fail_nmi, false },                 /* an NMI with no panic */
	/* smp_call names a CPU that does not answer (finding 8). */
	{ "call_stuck", fail_call_stuck, false },
	/* The LAPIC driver refuses the broadcast id (finding 3). */
	{ "ipi255", fail_ipi255, false },
	{ "x2apic", fail_x2apic, false },           /* ... and x2APIC mode */
	/* Protections (findings 4, 5): each must end in an exception. */
	{ "stack_overflow", fail_stack_overflow, false },     /* boot CPU's guard */
	{ "stack_overflow_ap", fail_stack_overflow_ap, false }, /* CPU 1's guard */
	{ "write_text", fail_write_text, false },   /* a write to kernel_main */
	{ "write_text_alias", fail_write_text_alias, false }, /* ... in the direct map */
	{ "write_rodata", fail_write_rodata, false },
	{ "exec_direct", fail_exec_direct, false }, /* a call into the direct map */
	/* With bench=: the first benchmark leaks a frame, or its case fails. */
	{ "bench_leak", fail_bench_leak, true },
	{ "bench_error", fail_bench_error, true },
};

const struct injection *inject_find(const char *name, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(injections); i++)
		if (strlen(injections[i].name) == n &&
		    memcmp(injections[i].name, name, n) == 0)
			return &injections[i];
	return NULL;
}

const char *inject_name(const struct injection *i)
{
	return i->name;
}

bool inject_is_selftest_failure(const struct injection *i)
{
	return i->run == NULL;
}

bool inject_is_bench_failure(const struct injection *i)
{
	return i->armed;
}

void inject_names(char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(injections) && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
					 i > 0 ? "|" : "", injections[i].name);
}

void inject_run(const struct injection *i)
{
	if (i->run == NULL)
		return;
	klog("boot: failing on purpose (fail=%s)", i->name);
	i->run();
	if (!i->armed)
		panic("fail=%s did not fail", i->name);
}
