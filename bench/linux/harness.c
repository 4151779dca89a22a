// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * The benchmark harness as a Linux module (make bench-linux): our cases
 * (cases.c) on Linux's allocators, measured and reported exactly as our
 * kernel's harness does it (bench/run.c, shared), so that a record from
 * Linux and one from our kernel mean the same thing.
 *
 * Loading the module runs everything, from its init function, and prints
 * the console protocol (bench/run.h) through printk at KERN_NOTICE (the
 * initramfs boots with loglevel=6, so that little else reaches the
 * serial console, and printk.time=0, so that lines start at column 0).
 * Every online CPU is one thread (CPUs 0..n-1, hotplug held off for the
 * whole load): a run creates one kthread bound to each CPU, and each
 * calls bench_cpu_run(); the loading task waits for them all. The kthreads run at normal priority with preemption as the
 * kernel is configured (Debian: voluntary): as allocations run in
 * Linux.
 *
 * Parameters (the initramfs's /init passes the kernel command line's
 * bench_* words, as our kernel reads them):
 *   config=linux|linux_zero   the configuration's name in the records;
 *                 refused unless it agrees with the kernel's
 *                 init_on_alloc (linux: off, linux_zero: on; Debian's
 *                 default is on)
 *   ms=N reps=N lat_every=N filter=S   as bench_ms= ... on our kernel
 *   qemu_exit=1   at the end, leave QEMU through its isa-debug-exit
 *                 device with our kernel's codes (33: every benchmark
 *                 passed, 35: not), as tools/qemu-run.sh expects. Never
 *                 on a real machine.
 *
 * The context line adds to the common fields: "impl":"linux", the
 * kernel's "release" and "version", and "init_on_alloc" (0 or 1).
 */
#include <linux/completion.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/utsname.h>
#include <asm/processor.h>
#include <asm/tsc.h>

#include "lx_bench.h"
#include "bench/run.h"

MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("The allocator benchmark suite's cases on Linux's page allocator and SLUB");

static char *config = "linux";
module_param(config, charp, 0444);
MODULE_PARM_DESC(config, "linux (init_on_alloc=0) or linux_zero (init_on_alloc=1)");
static uint ms = 100;
module_param(ms, uint, 0444);
MODULE_PARM_DESC(ms, "each measured run lasts at least this many ms");
static uint reps = 3;
module_param(reps, uint, 0444);
MODULE_PARM_DESC(reps, "repetitions per benchmark");
static uint lat_every = BENCH_LAT_EVERY;
module_param(lat_every, uint, 0444);
MODULE_PARM_DESC(lat_every, "time one iteration in this many (a power of two)");
static char *filter = "";
module_param(filter, charp, 0444);
MODULE_PARM_DESC(filter, "only benchmarks whose name contains this");
static bool qemu_exit;
module_param(qemu_exit, bool, 0444);
MODULE_PARM_DESC(qemu_exit, "leave QEMU through isa-debug-exit at the end (QEMU only)");

/* QEMU's isa-debug-exit, as our kernel uses it (kernel/arch/x86_64/qemu.h). */
#define QEMU_EXIT_PORT 0xf4
#define QEMU_EXIT_SUCCESS 0x10
#define QEMU_EXIT_FAILURE 0x11

/* ------------------------------------------------------------ platform */

static void emit(const char *line, size_t len)
{
	printk(KERN_NOTICE "%.*s\n", (int)len, line);
}

static uint64_t now_ns(void)
{
	return ktime_get_ns();
}

static void spin(void)
{
	cpu_relax();
}

/*
 * A run's CPUs: each a kthread bound to it, which completes all_done as
 * it exits (kthread_complete_and_exit(): the completion is signalled from
 * the core kernel's code, so no thread is still in this module's text
 * when the loader has counted them all and may unload it).
 */
static DECLARE_COMPLETION(all_done);

/* [H: set before the kthreads start; they only read it] thread i's run and index */
static struct thread_arg {
	struct bench_run *run;
	unsigned i;
} thread_args[LX_MAX_CPUS];

static int cpu_thread(void *arg)
{
	struct thread_arg *a = arg;

	bench_cpu_run(a->run, a->i);
	kthread_complete_and_exit(&all_done, 0);
}

static void run_all(struct bench_run *run)
{
	struct task_struct *t[LX_MAX_CPUS];

	reinit_completion(&all_done);
	for (unsigned i = 0; i < run->threads; i++) {
		thread_args[i] = (struct thread_arg){ run, i };
		t[i] = kthread_create(cpu_thread, &thread_args[i], "bench/%u", i);
		/*
		 * No thread of the run may be missing (the others would wait
		 * at the start barrier for ever): this is memory for a task,
		 * at module load, with 1 GiB free: fail loudly.
		 */
		BUG_ON(IS_ERR(t[i]));
		kthread_bind(t[i], i);
	}
	for (unsigned i = 0; i < run->threads; i++)
		wake_up_process(t[i]);
	for (unsigned i = 0; i < run->threads; i++)
		wait_for_completion(&all_done);
}

static struct bench_platform platform = {
	.now_ns = now_ns,
	.spin = spin,
	.run_all = run_all,
	.emit = emit,
};

/* ------------------------------------------------------------ checks */

static bool init_on_alloc_on(void)
{
	return want_init_on_alloc(GFP_KERNEL);
}

/*
 * Why the module cannot run as asked, or NULL: the configuration must say
 * what the kernel does, the CPUs must be 0..n-1 and fit the cases' arrays,
 * and every CPU's case may hold BENCH_BYTES_PER_THREAD at once.
 */
static const char *refusal(unsigned cpus)
{
	struct sysinfo si;

	if (strcmp(config, "linux") == 0 ? init_on_alloc_on()
	    : strcmp(config, "linux_zero") == 0 ? !init_on_alloc_on() : true)
		return "config= must be linux with init_on_alloc=0 or linux_zero "
		       "with init_on_alloc=1 (the kernel command line)";
	if (reps < 1 || reps > BENCH_REPS_MAX || ms < 1 || ms > 60000 ||
	    lat_every < 1 || (lat_every & (lat_every - 1)) != 0)
		return "ms= must be 1..60000, reps= 1..100, lat_every= a power of two";
	if (cpus > LX_MAX_CPUS)
		return "more online CPUs than the cases' arrays hold (LX_MAX_CPUS)";
	for (unsigned c = 0; c < cpus; c++)
		if (!cpu_online(c))
			return "the online CPUs must be 0..n-1 (thread i runs on CPU i)";
	if (tsc_khz == 0)
		return "no TSC frequency";
	si_meminfo(&si);
	if ((uint64_t)si.freeram * si.mem_unit < cpus * BENCH_BYTES_PER_THREAD)
		return "not enough free memory for every CPU's case (64 MiB each)";
	return NULL;
}

/* CPUID 0x40000000's signature: "TCGTCGTCGTCG" under QEMU's TCG. */
static void hypervisor_signature(char sig[13])
{
	unsigned eax, regs[3];

	cpuid(0x40000000, &eax, &regs[0], &regs[1], &regs[2]);
	memcpy(sig, regs, 12);
	sig[12] = '\0';
	for (unsigned i = 0; i < 12; i++)
		if (sig[i] < 0x20 || sig[i] > 0x7e)
			sig[i] = '?';
}

/* ------------------------------------------------------------ the run */

static struct bench_part parts[LX_MAX_CPUS];
static struct bench_run the_run;

static void print_context(const struct bench_opts *o, unsigned cpus, unsigned total)
{
	static struct bench_line l;
	char sig[13];

	hypervisor_signature(sig);
	bench_put_context(&l, config, cpus, boot_cpu_data.x86_model_id, sig, o,
			  platform.tsc_hz, total);
	bench_put(&l, ",\"impl\":\"linux\",\"release\":");
	bench_put_string(&l, utsname()->release);
	bench_put(&l, ",\"version\":");
	bench_put_string(&l, utsname()->version);
	bench_put(&l, ",\"init_on_alloc\":%d}", init_on_alloc_on() ? 1 : 0);
	bench_emit(&platform, &l);
}

static bool run_all_benchmarks(void)
{
	struct bench_opts o = { .min_ns = (uint64_t)ms * 1000000, .reps = reps,
				.lat_every = lat_every };
	unsigned cpus = num_online_cpus(), total, passed = 0;
	size_t filter_len = strlen(filter);
	const struct bench_case *const *end = lx_cases + lx_ncases;
	const char *why = refusal(cpus);

	platform.tsc_hz = (uint64_t)tsc_khz * 1000;
	total = bench_benchmark_at(lx_cases, end, config, true, filter, filter_len,
				   0, NULL);
	if (why != NULL) {
		printk(KERN_NOTICE "bench: cannot run: %s\n", why);
		printk(KERN_NOTICE "bench: 0 passed, %u failed\n", total);
		return false;
	}
	if (total == 0)
		printk(KERN_NOTICE "bench: no benchmark to run (configuration %s, filter=%s)\n",
		       config, filter);
	print_context(&o, cpus, total);
	the_run = (struct bench_run){ .p = &platform, .threads = cpus, .parts = parts };
	for (unsigned i = 0; i < total; i++) {
		struct bench_benchmark b;

		bench_benchmark_at(lx_cases, end, config, true, filter, filter_len, i, &b);
		passed += bench_measure(&the_run, &o, &b, i + 1, total);
	}
	printk(KERN_NOTICE "bench: %u passed, %u failed\n", passed, total - passed);
	return total > 0 && passed == total;
}

static int __init allocbench_init(void)
{
	bool ok;

	/* The CPUs stay as they are while the runs bind threads to them. */
	cpus_read_lock();
	ok = run_all_benchmarks();
	cpus_read_unlock();

	if (qemu_exit) {
		outb(ok ? QEMU_EXIT_SUCCESS : QEMU_EXIT_FAILURE, QEMU_EXIT_PORT);
		/* Not under QEMU after all: nothing happened; carry on. */
	}
	return ok ? 0 : -EIO;
}

static void __exit allocbench_exit(void)
{
}

module_init(allocbench_init);
module_exit(allocbench_exit);
