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
 *   fail=WHAT       fail on purpose after boot (kernel/inject.c has the
 *                   names): the runner must notice, a protection must
 *                   fault
 *   late_ap=ID      the AP with APIC id ID comes too late (it waits until
 *                   the boot CPU gave up on it): the boot must report it,
 *                   park it and pass every self-test without it
 *   late_ap_unparked=ID  the same, but the boot CPU does not park it with
 *                   INIT: the AP must see its slot retired and halt
 *   test=NAME       run only the self-test NAME (a mutant's kill command
 *                   runs the one test that claims it)
 *   bench=CONFIG    benchmark mode (bench/kernel.c): boot the frame
 *                   allocator in CONFIG (full, nopcp, locked), or in the
 *                   frame configuration of the environment CONFIG
 *                   (bench/bench.h: tree, space), run the cases that
 *                   list CONFIG on all CPUs instead of the self-tests
 *                   (so test= and fail=test are refused with it, and
 *                   fail=bench_* without it)
 *   bench_ms=N      with bench=: each measured run lasts at least N ms
 *                   (default 100)
 *   bench_reps=N    with bench=: repetitions per benchmark (default 3)
 *   bench_filter=S  with bench=: only benchmarks whose name contains S
 *   bench_lat_every=N  with bench=: time one iteration in N (a power of
 *                   two; default 16; 1: every operation)
 */
#include <string.h>

#include <platform.h>

#include "bench/bench.h"
#include "bench/kernel.h"
#include "kernel/arch/x86_64/acpi.h"
#include "kernel/arch/x86_64/console.h"
#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/multiboot.h"
#include "kernel/arch/x86_64/paging.h"
#include "kernel/arch/x86_64/qemu.h"
#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/arch/x86_64/trap.h"
#include "kernel/arch/x86_64/vmfault.h"
#include "kernel/inject.h"
#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"
#include "kernel/mm/vmspace.h"
#include "kernel/selftest.h"
#include "kernel/smp_call.h"

#define GIB      (UINT64_C(1) << 30)

extern char _load_start_phys[], _kernel_end[], boot_stack[], boot_stack_top[];

static struct memmap map;
static struct bootmem bm;
static struct acpi_madt_info madt;
static char cmdline[256];
static uint64_t entry_tsc; /* TSC at kernel_main() */

struct boot_args {
	bool probe;
	uint64_t torture_ms;
	const struct injection *fail; /* fail=: NULL if none */
	const char *only; /* test=: in cmdline, only_len chars */
	size_t only_len;
	uint64_t late_apic; /* late_ap*=: UINT64_MAX if none */
	bool late_park;     /* late_ap= (not late_ap_unparked=) */
	struct frame_config frame; /* bench=, else full */
	bool bench;         /* bench= */
	char bench_config[16];
	uint64_t bench_ms, bench_reps, bench_lat_every;
	bool bench_option;  /* a bench_*= word (needs bench=) */
	const char *bench_filter; /* in cmdline, bench_filter_len chars */
	size_t bench_filter_len;
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

/* The log says which accelerator a run used (cpu.h: cpu_identify). */
static void log_cpu(void)
{
	struct cpu_ident id;

	cpu_identify(&id);
	klog("cpu: %s; hypervisor: %s", id.brand, id.hypervisor);
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

	if (e == E_NOSPC)
		panic("boot: the command line is longer than %u characters",
		      (unsigned)sizeof(cmdline) - 1);
	if (e != E_OK)
		boot_fail("multiboot information", e);
	klog("memory map (%llu MiB usable):",
	     (unsigned long long)(memmap_bytes(&map, MEM_USABLE) >> 20));
	memmap_dump(&map);
	read_madt();
}

static void boot_memory(const struct boot_args *a)
{
	struct frame_config cfg = a->frame;
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
	percpu_of(0)->apic_id = lapic_id();
	time_calibrate();
	klog("clocks: TSC %llu MHz, LAPIC timer %llu kHz",
	     (unsigned long long)(tsc_hz() / 1000000),
	     (unsigned long long)(lapic_timer_hz() / 1000));
	cfg.cpus = madt.ncpus;
	if ((e = frame_init(&bm, &map, &cfg)) != E_OK)
		boot_fail("frame allocator", e);
	if ((e = heap_init()) != E_OK)
		boot_fail("heap", e);
	vmspace_init(PADDR(paging_root()));
	if ((e = vmfault_init()) != E_OK)
		boot_fail("page-fault hook", e);
	if ((e = percpu_ist_alloc(percpu_of(0))) != E_OK)
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
	timer_set_hz(TIMER_HZ);
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

/* Whether w[0..n) is key (ending in '=') followed by a value; *v: the value. */
static bool has_key(const char *w, size_t n, const char *key, const char **v,
		    size_t *vn)
{
	size_t kn = strlen(key);

	if (n <= kn || memcmp(w, key, kn) != 0)
		return false;
	*v = w + kn;
	*vn = n - kn;
	return true;
}

/* late_ap=ID or late_ap_unparked=ID; false if w is neither. */
static bool parse_late_ap(const char *w, size_t n, struct boot_args *a)
{
	const char *v;
	size_t vn;

	a->late_park = has_key(w, n, "late_ap=", &v, &vn);
	return (a->late_park || has_key(w, n, "late_ap_unparked=", &v, &vn)) &&
	       parse_number(v, vn, 0, LAPIC_MAX_DEST, &a->late_apic);
}

/* bench=CONFIG and the bench_*= words; false if w is none of them. */
static bool parse_bench(const char *w, size_t n, struct boot_args *a)
{
	const char *v;
	size_t vn;

	if (has_key(w, n, "bench=", &v, &vn)) {
		/* An environment boots the allocator in its frame
		 * configuration (bench/bench.h). */
		const char *env_frame = kbench_frame_config(v, vn);

		if (vn >= sizeof(a->bench_config) ||
		    (env_frame != NULL
			     ? frame_config_named(env_frame, strlen(env_frame),
						  &a->frame)
			     : frame_config_named(v, vn, &a->frame)) != E_OK)
			return false;
		memcpy(a->bench_config, v, vn); /* checked: short */
		a->bench_config[vn] = '\0';
		return a->bench = true;
	}
	a->bench_option = true;
	if (has_key(w, n, "bench_ms=", &v, &vn))
		return parse_number(v, vn, 1, 60000, &a->bench_ms);
	if (has_key(w, n, "bench_reps=", &v, &vn))
		return parse_number(v, vn, 1, BENCH_REPS_MAX, &a->bench_reps);
	if (has_key(w, n, "bench_lat_every=", &v, &vn))
		return parse_number(v, vn, 1, 1u << 20, &a->bench_lat_every) &&
		       (a->bench_lat_every & (a->bench_lat_every - 1)) == 0;
	if (has_key(w, n, "bench_filter=", &v, &vn)) {
		a->bench_filter = v;
		a->bench_filter_len = vn;
		return true;
	}
	return false;
}

/* One word of the command line; false if it is not one we know. */
static bool parse_word(const char *w, size_t n, struct boot_args *a)
{
	const char *v;
	size_t vn;

	if (n > 7 && memcmp(w, "late_ap", 7) == 0)
		return parse_late_ap(w, n, a);
	if (n > 5 && memcmp(w, "bench", 5) == 0)
		return parse_bench(w, n, a);
	if (n == 5 && memcmp(w, "probe", 5) == 0)
		return a->probe = true;
	if (has_key(w, n, "test=", &v, &vn)) {
		a->only = v;
		a->only_len = vn;
		return true;
	}
	if (has_key(w, n, "fail=", &v, &vn))
		return (a->fail = inject_find(v, vn)) != NULL;
	return has_key(w, n, "torture_ms=", &v, &vn) &&
	       parse_number(v, vn, 1, 3600 * 1000, &a->torture_ms);
}

static NORETURN void bad_cmdline(const char *word, size_t n)
{
	char names[256], envs[64];

	inject_names(names, sizeof(names));
	kbench_env_names(envs, sizeof(envs));
	klog("boot: bad command line word '%.*s' (known: probe, "
	     "torture_ms=1..3600000, fail=%s, test=NAME, late_ap=APICID, "
	     "late_ap_unparked=APICID, bench=" FRAME_CONFIG_NAMES "%s%s, "
	     "bench_ms=1..60000, bench_reps=1..%u, bench_filter=S, "
	     "bench_lat_every=1|2|4..1048576; the "
	     "bench_* words need bench=)", (int)n, word, names,
	     envs[0] != '\0' ? "|" : "", envs, BENCH_REPS_MAX);
	qemu_exit(QEMU_EXIT_FAILURE);
}

/*
 * Words that would do nothing in the mode the command line chose are
 * refused: a boot that ignored them would pass a test that tests nothing.
 * test= and fail=test act in the self-tests, which bench= does not run;
 * fail=bench_* in the benchmarks.
 */
static void check_mode(const struct boot_args *a)
{
	const char *fail = a->fail != NULL ? inject_name(a->fail) : "";

	if (a->bench && a->only != NULL)
		klog("boot: bad command line: test=%.*s with bench= (no "
		     "self-test runs)", (int)a->only_len, a->only);
	else if (a->bench && a->fail != NULL &&
		 inject_is_selftest_failure(a->fail))
		klog("boot: bad command line: fail=%s with bench= (no "
		     "self-test runs)", fail);
	else if (!a->bench && a->fail != NULL &&
		 inject_is_bench_failure(a->fail))
		klog("boot: bad command line: fail=%s needs bench=", fail);
	else
		return;
	qemu_exit(QEMU_EXIT_FAILURE);
}

static void parse_cmdline(struct boot_args *a)
{
	static const struct frame_config full = FRAME_CONFIG_FULL;
	const char *p = cmdline, *option = NULL; /* the first bench_*= word */
	size_t option_n = 0;

	*a = (struct boot_args){ .torture_ms = 2000, .late_apic = UINT64_MAX,
				 .frame = full,
				 .bench_ms = KBENCH_MIN_MS_DEFAULT,
				 .bench_reps = KBENCH_REPS_DEFAULT,
				 .bench_lat_every = BENCH_LAT_EVERY };
	for (;;) {
		size_t n = 0;
		bool had_option = a->bench_option;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		while (p[n] != ' ' && p[n] != '\0')
			n++;
		if (!parse_word(p, n, a))
			bad_cmdline(p, n);
		if (a->bench_option && !had_option) {
			option = p;
			option_n = n;
		}
		p += n;
	}
	if (option != NULL && !a->bench)
		bad_cmdline(option, option_n);
	check_mode(a);
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
		    madt.apic_id[i] != percpu_of(0)->apic_id)
			late++;
	return listed - late +
	       (a->fail != NULL && inject_is_selftest_failure(a->fail));
}

void kernel_main(uint32_t magic, uint32_t info_pa)
{
	struct boot_args args;
	struct frame_stats st;

	entry_tsc = rdtsc();
	percpu_install(percpu_of(0), 0, 0, (uint64_t)(uintptr_t)boot_stack_top);
	percpu_of(0)->stack_lo = (uint64_t)(uintptr_t)boot_stack;
	smp_boot_cpu_online();
	console_init();
	cpu_tables_init(percpu_of(0));
	klog("kernel: booting (x86-64, multiboot)");
	log_cpu();
	cpu_features_init(); /* NXE, PGE...: before the kernel's tables */
	read_firmware(magic, info_pa);
	parse_cmdline(&args);
	boot_memory(&args);
	start_cpus(&args);
	if (args.probe)
		probe();
	if (args.fail != NULL)
		inject_run(args.fail);
	if (args.bench)
		qemu_exit(kbench_run(&(struct kbench_opts){
				  .config = args.bench_config,
				  .min_ns = args.bench_ms * 1000000,
				  .reps = (unsigned)args.bench_reps,
				  .lat_every = args.bench_lat_every,
				  .filter = args.bench_filter,
				  .filter_len = args.bench_filter_len })
				  ? QEMU_EXIT_SUCCESS
				  : QEMU_EXIT_FAILURE);
	frame_get_stats(&st);
	qemu_exit(selftest_run(&(struct selftest_opts){
			  .expected_cpus = expected_cpus(&args),
			  .torture_ms = args.torture_ms,
			  .boot_allocated = st.allocated,
			  .only = args.only, .only_len = args.only_len })
			  ? QEMU_EXIT_SUCCESS
			  : QEMU_EXIT_FAILURE);
}
