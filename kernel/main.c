/* SPDX-License-Identifier: MIT */
/*
 * The kernel: boot the memory system and every CPU, test it all, leave
 * QEMU with a code saying whether everything passed.
 *
 * Boot order, and why:
 *   1. this CPU's per-CPU area, console, GDT/TSS/IDT: so anything that
 *      goes wrong from here on is reported;
 *   2. the multiboot memory map -> memmap (MEM-01), then ACPI's MADT (the
 *      CPUs and the LAPIC address, KSP-02), both read through the boot
 *      tables, which map the first 4 GiB;
 *   3. the boot allocator below 4 GiB, and the frame API's early path on
 *      it, which gives typed page-table frames (ALO-04/NOE-01) to
 *   4. the kernel's own page tables (after this CPU's NX, Global pages,
 *      SMEP, SMAP: cpu_features_init): direct map of all RAM, LAPIC
 *      uncached, the image W^X, the boot stack's guard page unmapped;
 *   5. the LAPIC, clock calibration, the frame allocator (which takes the
 *      frame table from the boot allocator and inherits the rest), then
 *      this CPU's guard-paged interrupt stacks;
 *   6. the timer, interrupts on, the other CPUs;
 *   7. self-tests on all CPUs, then exit.
 * Command line (space-separated; anything else is an error):
 *   probe           only boot, touch 256 MiB and exit (the runner's
 *                   accelerator probe)
 *   torture_ms=N    how long the all-CPU frame torture runs (default 2000)
 *   fail=WHAT       fail on purpose after boot, so that tests can check
 *                   the runner notices: panic, fault (a page fault),
 *                   triple (a triple fault), hang, test (a self-test fails),
 *                   panic_all (every CPU panics at once), panic_irqoff
 *                   (CPU 0 panics while the others spin with interrupts
 *                   masked), nmi (an NMI with no panic), call_stuck (a
 *                   CPU masks interrupts for good during an smp_call),
 *                   ipi255 (an IPI to APIC id 255, which the LAPIC driver
 *                   must refuse: 255 is the broadcast); and that
 *                   protections hold: stack_overflow (unbounded
 *                   recursion on the boot CPU: its guard page),
 *                   stack_overflow_ap (the same on CPU 1), write_text (a
 *                   write to kernel_main), write_rodata, exec_direct (a
 *                   call to a `ret` in the direct map), write_text_alias
 *                   (a write to kernel_main through the direct map)
 *   late_ap=ID      the AP with APIC id ID comes too late (it waits until
 *                   the boot CPU gave up on it): the boot must report it,
 *                   park it and pass every self-test without it
 *   late_ap_unparked=ID  the same, but the boot CPU does not park it with
 *                   INIT: the AP must see its slot retired and halt
 *   test=NAME       run only the self-test NAME (a mutant's kill command
 *                   runs the one test that claims it)
 */
#include <stdatomic.h>
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/acpi.h"
#include "kernel/arch/x86_64/console.h"
#include "kernel/arch/x86_64/extable.h"
#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/multiboot.h"
#include "kernel/arch/x86_64/paging.h"
#include "kernel/arch/x86_64/qemu.h"
#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/arch/x86_64/trap.h"
#include "kernel/mm/frame.h"
#include "kernel/selftest.h"
#include "kernel/smp_call.h"

#define TIMER_HZ 100
#define GIB      (UINT64_C(1) << 30)

extern char _load_start_phys[], _kernel_end[], boot_stack[], boot_stack_top[];

static struct memmap map;
static struct bootmem bm;
static struct acpi_madt_info madt;
static char cmdline[256];
static uint64_t entry_tsc; /* TSC at kernel_main() */

enum injected_failure { FAIL_NONE, FAIL_PANIC, FAIL_FAULT, FAIL_TRIPLE,
			FAIL_HANG, FAIL_TEST, FAIL_PANIC_ALL, FAIL_PANIC_IRQOFF,
			FAIL_NMI, FAIL_CALL_STUCK, FAIL_IPI255, FAIL_STACK_OVERFLOW,
			FAIL_STACK_OVERFLOW_AP, FAIL_WRITE_TEXT,
			FAIL_WRITE_RODATA, FAIL_EXEC_DIRECT,
			FAIL_WRITE_TEXT_ALIAS };

struct boot_args {
	bool probe;
	uint64_t torture_ms;
	enum injected_failure fail;
	const char *only; /* test=: in cmdline, only_len chars */
	size_t only_len;
	uint64_t late_apic; /* late_ap*=: UINT64_MAX if none */
	bool late_park;     /* late_ap= (not late_ap_unparked=) */
};

static const char *const failure_names[] = {
	[FAIL_PANIC] = "panic", [FAIL_FAULT] = "fault",
	[FAIL_TRIPLE] = "triple", [FAIL_HANG] = "hang", [FAIL_TEST] = "test",
	[FAIL_PANIC_ALL] = "panic_all", [FAIL_PANIC_IRQOFF] = "panic_irqoff",
	[FAIL_NMI] = "nmi", [FAIL_CALL_STUCK] = "call_stuck",
	[FAIL_IPI255] = "ipi255",
	[FAIL_STACK_OVERFLOW] = "stack_overflow",
	[FAIL_STACK_OVERFLOW_AP] = "stack_overflow_ap",
	[FAIL_WRITE_TEXT] = "write_text", [FAIL_WRITE_RODATA] = "write_rodata",
	[FAIL_EXEC_DIRECT] = "exec_direct",
	[FAIL_WRITE_TEXT_ALIAS] = "write_text_alias",
};

NORETURN void kernel_main(uint32_t magic, uint32_t info_pa);

static uint64_t image_end_phys(void)
{
	return (uint64_t)(uintptr_t)_kernel_end - KERNEL_BASE;
}

static void boot_fail(const char *what, err_t e)
{
	panic("boot: %s: %s", what, err_name(e));
}

/*
 * The processor and the hypervisor, as CPUID tells them: the log says
 * which accelerator a run used (KVM says "KVMKVMKVM", QEMU's TCG
 * "TCGTCGTCGTCG").
 */
static void log_cpu(void)
{
	uint32_t r[4], brand[12] = { 0 }, hv[3] = { 0 };

	cpuid(0x80000000, 0, r);
	if (r[0] >= 0x80000004)
		for (uint32_t i = 0; i < 3; i++)
			cpuid(0x80000002 + i, 0, &brand[4 * i]);
	cpuid(1, 0, r);
	if (r[2] & (1u << 31)) { /* running under a hypervisor */
		cpuid(0x40000000, 0, r);
		hv[0] = r[1];
		hv[1] = r[2];
		hv[2] = r[3];
	}
	klog("cpu: %.48s; hypervisor: %.12s", (const char *)brand,
	     hv[0] ? (const char *)hv : "none");
}

/* The MADT, read through the boot tables' map of the first 4 GiB. */
static void read_madt(void)
{
	const struct acpi_mem low4g = { phys_to_virt(PADDR(0)), 4 * GIB };
	err_t e = acpi_parse_madt(&low4g, &madt);

	if (e != E_OK) {
		klog("ACPI: %s (at %#llx)", madt.why,
		     (unsigned long long)madt.where);
		boot_fail("ACPI MADT", e);
	}
	klog("ACPI: %u CPUs, local APIC at %#llx%s", madt.ncpus,
	     (unsigned long long)madt.lapic_phys,
	     madt.skipped ? " (some beyond CONFIG_MAX_CPUS ignored)" : "");
	if (madt.unaddressable > 0)
		klog("ACPI: %u enabled CPUs ignored: APIC ids above %u (the "
		     "first: %u), which the xAPIC driver cannot address",
		     madt.unaddressable, ACPI_XAPIC_MAX_ID,
		     madt.first_unaddressable);
}

static void read_firmware(uint32_t magic, uint32_t info_pa)
{
	err_t e = multiboot_parse(magic, info_pa,
				  (uint64_t)(uintptr_t)_load_start_phys,
				  image_end_phys(), &map, cmdline,
				  sizeof(cmdline));

	if (e != E_OK)
		boot_fail("multiboot information", e);
	klog("memory map (%llu MiB usable):",
	     (unsigned long long)(memmap_bytes(&map, MEM_USABLE) >> 20));
	memmap_dump(&map);
	read_madt();
}

static void boot_memory(void)
{
	const struct frame_config cfg = { true, false, UINT64_MAX, madt.ncpus };
	struct frame_stats st;
	err_t e;

	/* Everything before the new tables must be below 4 GiB. */
	if ((e = bootmem_init(&bm, &map, PFN(4 * GIB >> PAGE_SHIFT))) != E_OK)
		boot_fail("boot allocator", e);
	frame_early_init(&bm);
	if ((e = paging_init(&map, madt.lapic_phys)) != E_OK)
		boot_fail("page tables", e);
	legacy_pic_disable();
	lapic_set_base(madt.lapic_phys);
	lapic_enable();
	percpu[0].apic_id = lapic_id();
	time_calibrate();
	klog("clocks: TSC %llu MHz, LAPIC timer %llu kHz",
	     (unsigned long long)(tsc_hz() / 1000000),
	     (unsigned long long)(lapic_timer_hz() / 1000));
	if ((e = frame_init(&bm, &map, &cfg)) != E_OK)
		boot_fail("frame allocator", e);
	if ((e = percpu_ist_alloc(&percpu[0])) != E_OK)
		boot_fail("interrupt stacks", e);
	frame_get_stats(&st);
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		if (st.zone[z].present)
			klog("zone %-6s %8llu frames, %llu free",
			     st.zone[z].name,
			     (unsigned long long)st.zone[z].managed,
			     (unsigned long long)st.zone[z].free);
}

static void call_ipi(void)
{
	smp_call_serve();
}

static void start_cpus(const struct boot_args *a)
{
	unsigned started;

	if (a->late_apic != UINT64_MAX)
		smp_inject_late_ap((uint32_t)a->late_apic, a->late_park);

	trap_set_handler(VECTOR_TIMER, timer_tick);
	trap_set_handler(VECTOR_CALL, call_ipi);
	lapic_timer_start(TIMER_HZ);
	sti();
	started = smp_start_aps(&madt, TIMER_HZ);
	/* From kernel entry: under KVM the TSC does not start at reset. */
	klog("CPUs online: %u (%u started, %u listed by ACPI; %llu ms after "
	     "kernel entry)", ncpus(), started, madt.ncpus,
	     (unsigned long long)((rdtsc() - entry_tsc) / (tsc_hz() / 1000)));
}

/* A decimal number in [lo, hi], the whole of s[0..n). */
static bool parse_number(const char *s, size_t n, uint64_t lo, uint64_t hi,
			 uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 12)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* late_ap=ID or late_ap_unparked=ID; false if w is neither. */
static bool parse_late_ap(const char *w, size_t n, struct boot_args *a)
{
	static const char parked[] = "late_ap=", unparked[] = "late_ap_unparked=";
	const size_t pn = sizeof(parked) - 1, un = sizeof(unparked) - 1;

	if (n > pn && memcmp(w, parked, pn) == 0) {
		a->late_park = true;
		return parse_number(w + pn, n - pn, 0, LAPIC_MAX_DEST,
				    &a->late_apic);
	}
	a->late_park = false;
	return n > un && memcmp(w, unparked, un) == 0 &&
	       parse_number(w + un, n - un, 0, LAPIC_MAX_DEST, &a->late_apic);
}

/* One word of the command line; false if it is not one we know. */
static bool parse_word(const char *w, size_t n, struct boot_args *a)
{
	static const char torture[] = "torture_ms=";
	const size_t tn = sizeof(torture) - 1;

	if (n > 7 && memcmp(w, "late_ap", 7) == 0)
		return parse_late_ap(w, n, a);

	if (n == 5 && memcmp(w, "probe", 5) == 0) {
		a->probe = true;
		return true;
	}
	if (n > 5 && memcmp(w, "test=", 5) == 0) {
		a->only = w + 5;
		a->only_len = n - 5;
		return true;
	}
	if (n > 5 && memcmp(w, "fail=", 5) == 0) {
		for (unsigned i = FAIL_PANIC; i < ARRAY_SIZE(failure_names); i++) {
			if (strlen(failure_names[i]) == n - 5 &&
			    memcmp(w + 5, failure_names[i], n - 5) == 0) {
				a->fail = i;
				return true;
			}
		}
		return false;
	}
	return n > tn && memcmp(w, torture, tn) == 0 &&
	       parse_number(w + tn, n - tn, 1, 3600 * 1000, &a->torture_ms);
}

static void parse_cmdline(struct boot_args *a)
{
	const char *p = cmdline;

	*a = (struct boot_args){ .torture_ms = 2000, .late_apic = UINT64_MAX };
	for (;;) {
		size_t n = 0;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			return;
		while (p[n] != ' ' && p[n] != '\0')
			n++;
		if (!parse_word(p, n, a)) {
			klog("boot: bad command line word '%.*s' (known: probe, "
			     "torture_ms=1..3600000, fail=panic|fault|triple|"
			     "hang|test|panic_all|panic_irqoff|nmi|call_stuck|"
			     "ipi255|stack_overflow|stack_overflow_ap|write_text|"
			     "write_rodata|exec_direct|write_text_alias, "
			     "test=NAME, late_ap=APICID, "
			     "late_ap_unparked=APICID)", (int)n, p);
			qemu_exit(QEMU_EXIT_FAILURE);
		}
		p += n;
	}
}

static _Atomic unsigned arrived; /* CPUs at the injection's start line */
static _Atomic bool stuck;       /* fail=call_stuck: CPU 1 has masked */
static _Atomic unsigned masked;  /* fail=panic_irqoff: APs that have */

/* Every CPU waits here until all have arrived. */
static void start_line(void)
{
	atomic_fetch_add(&arrived, 1);
	while (atomic_load(&arrived) < ncpus())
		pause();
}

static void noop(void *arg)
{
	(void)arg;
}

/* The injections that need every CPU (smp_run_all work). */
static void inject_on_every_cpu(void *arg)
{
	enum injected_failure f = *(const enum injected_failure *)arg;
	unsigned me = cpu_id();

	start_line();
	switch (f) {
	case FAIL_PANIC_ALL:
		/* The winner waits for a second CPU to die: forced. */
		panic("injected by fail=panic_all");
	case FAIL_PANIC_IRQOFF:
		if (me == 0) {
			while (atomic_load(&masked) < ncpus() - 1)
				pause();
			panic("injected by fail=panic_irqoff");
		}
		cli();
		atomic_fetch_add(&masked, 1);
		for (;;) /* only an NMI stops this */
			pause();
	case FAIL_NMI:
		if (me == 0) /* to CPU 1 (at -smp 1, to itself) */
			lapic_send_nmi(percpu[ncpus() > 1 ? 1 : 0].apic_id);
		for (;;)
			pause();
	case FAIL_CALL_STUCK:
		if (me == 1) { /* stuck until the watchdog names it */
			irqflags_t fl = irq_save();

			atomic_store(&stuck, true);
			while (smp_call_watchdog_reports() == 0)
				pause();
			irq_restore(fl);
			panic("fail=call_stuck: the smp_call watchdog reported");
		}
		if (me == 0) { /* calls CPU 1 once it is deaf to the IPI */
			while (!atomic_load(&stuck))
				pause();
			smp_call_all(noop, NULL);
		}
		for (;;)
			pause();
	default:
		break;
	}
}

/* A recursion nothing stops (the compiler cannot see that it never ends). */
static volatile uint64_t recursion_limit = UINT64_MAX;

static NOINLINE uint64_t recurse(uint64_t depth)
{
	volatile uint64_t frame[8] = { depth };

	if (depth == recursion_limit)
		return 0;
	return recurse(depth + 1) + frame[0];
}

static void overflow_on_cpu1(void *arg)
{
	(void)arg;
	if (cpu_id() == 1)
		recurse(0);
}

/* Read-only data: what fail=write_rodata writes to. */
static const uint64_t rodata_word = 1;

/* A `ret` in a fresh frame, called through the direct map. */
static void exec_direct(void)
{
	struct frame_result r = frame_alloc(0, 0);
	uint8_t *code;

	if (r.err != E_OK)
		panic("fail=exec_direct: no frame");
	code = phys_to_virt(pfn_to_pa(r.pfn));
	code[0] = 0xc3; /* ret */
	((void (*)(void))(uintptr_t)code)();
}

/*
 * The failures tools/test-kernel.sh checks the runner for; the protection
 * ones each end in an exception report (a page fault, or for an overflow
 * the double fault that follows the guard page's), else in the panic.
 */
static void inject_failure(enum injected_failure f)
{
	if (f == FAIL_NONE || f == FAIL_TEST)
		return;
	klog("boot: failing on purpose (fail=%s)", failure_names[f]);
	switch (f) {
	case FAIL_PANIC:
		panic("injected by fail=panic");
	case FAIL_FAULT: {
		/* The lower half is unmapped once the boot tables are gone.
		   The probe expects its fault (no report); the write not. */
		uint64_t v;

		klog("boot: probe_read_u64(0x1000): %s",
		     err_name(probe_read_u64((void *)(uintptr_t)0x1000, &v)));
		*(volatile uint64_t *)(uintptr_t)0x1000 = 1;
		break;
	}
	case FAIL_TRIPLE:
		cpu_triple_fault();
	case FAIL_HANG:
		cli();
		for (;;)
			hlt();
	case FAIL_PANIC_ALL:
		console_panic_race_arm();
		smp_run_all(inject_on_every_cpu, &f);
		break;
	case FAIL_PANIC_IRQOFF:
	case FAIL_NMI:
	case FAIL_CALL_STUCK:
		smp_run_all(inject_on_every_cpu, &f);
		break;
	case FAIL_IPI255:
		lapic_send_ipi(255, VECTOR_CALL);
		break;
	case FAIL_STACK_OVERFLOW:
		recurse(0);
		break;
	case FAIL_STACK_OVERFLOW_AP:
		if (ncpus() < 2)
			panic("fail=stack_overflow_ap needs 2 CPUs");
		smp_run_all(overflow_on_cpu1, NULL);
		break;
	case FAIL_WRITE_TEXT:
		*(volatile uint8_t *)(uintptr_t)kernel_main =
			*(volatile uint8_t *)(uintptr_t)kernel_main;
		break;
	case FAIL_WRITE_RODATA:
		*(volatile uint64_t *)(uintptr_t)&rodata_word = 2;
		break;
	case FAIL_EXEC_DIRECT:
		exec_direct();
		break;
	case FAIL_WRITE_TEXT_ALIAS: {
		volatile uint8_t *alias = phys_to_virt(
			virt_to_phys((const void *)(uintptr_t)kernel_main));

		*alias = *alias;
		break;
	}
	default:
		break;
	}
	panic("fail=%s did not fail", failure_names[f]);
}

/*
 * The accelerator probe: memory-touching work the runner can time (up to
 * 256 MiB, in top-order blocks, each written once).
 */
static void probe(void)
{
	uint64_t t0 = time_ns(), bytes = 0;

	for (int i = 0; i < 64; i++) {
		struct frame_result r = frame_alloc(FRAME_MAX_ORDER, 0);

		if (r.err != E_OK)
			break;
		memset(phys_to_virt(pfn_to_pa(r.pfn)), i,
		       PAGE_SIZE << FRAME_MAX_ORDER);
		bytes += PAGE_SIZE << FRAME_MAX_ORDER;
	}
	klog("probe: touched %llu MiB in %llu ms",
	     (unsigned long long)(bytes >> 20),
	     (unsigned long long)((time_ns() - t0) / 1000000));
	qemu_exit(QEMU_EXIT_SUCCESS);
}

/*
 * The CPUs that must be online: all the MADT lists (up to
 * CONFIG_MAX_CPUS), less a listed AP made late on purpose; one more with
 * fail=test, so that every_cpu_online fails.
 */
static unsigned expected_cpus(const struct boot_args *a)
{
	unsigned listed = MIN(madt.ncpus, CONFIG_MAX_CPUS), late = 0;

	for (unsigned i = 0; i < listed; i++)
		if (madt.apic_id[i] == a->late_apic &&
		    madt.apic_id[i] != percpu[0].apic_id)
			late++;
	return listed - late + (a->fail == FAIL_TEST);
}

void kernel_main(uint32_t magic, uint32_t info_pa)
{
	struct boot_args args;
	struct frame_stats st;

	entry_tsc = rdtsc();
	percpu_install(&percpu[0], 0, 0, (uint64_t)(uintptr_t)boot_stack_top);
	percpu[0].stack_lo = (uint64_t)(uintptr_t)boot_stack;
	smp_boot_cpu_online();
	console_init();
	cpu_tables_init(&percpu[0]);
	klog("kernel: booting (x86-64, multiboot)");
	log_cpu();
	cpu_features_init(); /* NXE, PGE...: before the kernel's tables */
	read_firmware(magic, info_pa);
	parse_cmdline(&args);
	boot_memory();
	start_cpus(&args);
	if (args.probe)
		probe();
	inject_failure(args.fail);
	frame_get_stats(&st);
	qemu_exit(selftest_run(&(struct selftest_opts){
			  .expected_cpus = expected_cpus(&args),
			  .torture_ms = args.torture_ms,
			  .boot_allocated = st.allocated,
			  .only = args.only, .only_len = args.only_len })
			  ? QEMU_EXIT_SUCCESS
			  : QEMU_EXIT_FAILURE);
}
