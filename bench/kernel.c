/* SPDX-License-Identifier: MIT */
/*
 * The in-kernel benchmark harness: bench.h on the kernel's CPUs, for the
 * command line's bench= mode (kernel/main.c). Every case of the
 * bench_cases section that runs in the booted configuration runs, for
 * each of its arguments, on all online CPUs at once (thread i is CPU i;
 * the vCPU count is the thread count), and each result goes to the
 * console as one JSON object per line for tools/bench_qemu.py.
 *
 * How a benchmark is measured and reported is bench/run.c's, shared with
 * the Linux module (bench/linux/harness.c), so that both kernels' records
 * mean the same thing; bench/run.h has the rules and the console
 * protocol. This file is the platform: smp_run_all() starts a run on
 * every CPU (it returns after every CPU's body has, its completion count
 * ordering every CPU's part before the merge), the TSC and time_ns(), the
 * console, and the checks around each benchmark.
 *
 * Unlike the host, the kernel cannot boot its allocator again (its own
 * page tables and stacks came from it): one QEMU boot per configuration.
 * Between benchmarks every CPU's page caches are drained, so that none
 * starts with another's cached frames, and the allocator is checked
 * (frame_validate(), and every frame the benchmark took given back), so
 * that a leak or a corruption fails the benchmark that caused it. In an
 * environment's configuration (bench.h: bench=tree boots the allocator in
 * configuration full and runs the cases that list tree), the
 * environment's setup() runs before each benchmark and its check() after
 * it, before the allocator is checked. An environment whose layer keeps
 * frames between benchmarks (frames_balance false: bench=kmalloc, the
 * heap's slabs) runs only if it says how many (frames_held()): "every
 * frame given back" is then the frames allocated minus frames_held(),
 * after each benchmark, equal to that difference when the benchmarks
 * began.
 *
 * Timer interrupts: a case with an irq function has it run in every
 * CPU's timer tick while that CPU's loop runs, the CPU's timer sped up to
 * BENCH_IRQ_PERIOD_NS for the time.
 */
#include <stdio.h>
#include <string.h>

#include <platform.h>

#include "bench/bench.h"
#include "bench/kernel.h"
#include "bench/run.h"
#include "kernel/arch/x86_64/console.h"
#include "kernel/arch/x86_64/cpu.h"
#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/mm/frame.h"
#include "percpu/pcp.h"

extern const struct bench_case *const __start_bench_cases[];
extern const struct bench_case *const __stop_bench_cases[];
extern const struct bench_env *const __start_bench_envs[];
extern const struct bench_env *const __stop_bench_envs[];

static struct bench_part parts[CONFIG_MAX_CPUS];
static struct bench_run the_run;
/* [CPU c writes its own; its timer hook reads it] c's loop is running */
static bool irq_on[CONFIG_MAX_CPUS];
static enum kbench_fault fault; /* [B] kbench_inject(), until the first
				   benchmark is over */

void kbench_inject(enum kbench_fault f)
{
	fault = f;
}

/* ---------------------------------------------------- timer interrupts */

/* Every CPU's timer hook while benchmarks run: the case's irq work. */
static void bench_tick(void)
{
	unsigned me = cpu_id();

	/* irq_on[me] is written by this CPU only, around its loop. */
	if (__atomic_load_n(&irq_on[me], __ATOMIC_RELAXED))
		the_run.c->irq();
}

static void irq_start(const struct bench_run *run)
{
	unsigned me = cpu_id();

	if (run->c->irq == NULL)
		return;
	__atomic_store_n(&irq_on[me], true, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
	timer_set_hz((uint32_t)(UINT64_C(1000000000) / BENCH_IRQ_PERIOD_NS));
}

static void irq_stop(const struct bench_run *run)
{
	unsigned me = cpu_id();

	if (run->c->irq == NULL)
		return;
	__atomic_store_n(&irq_on[me], false, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
	timer_set_hz(TIMER_HZ);
}

/* ------------------------------------------------------------ platform */

/*
 * Barrier waits spin (cpu_spin()): the last arrival sends no interrupt,
 * so a halted waiter would sleep to its next tick.
 */
static void barrier_spin(void)
{
	cpu_spin();
}

static void run_on_cpu(void *arg)
{
	bench_cpu_run(arg, cpu_id());
}

static void run_all(struct bench_run *run)
{
	smp_run_all(run_on_cpu, run);
}

static void emit(const char *line, size_t len)
{
	console_write(line, len);
	console_write("\n", 1);
}

/* fail=bench_error: the last CPU fails the first benchmark's runs. */
static void inject_before(struct bench_state *st)
{
	if (fault == KBENCH_FAULT_ERROR)
		bench_error(st, "injected by fail=bench_error");
}

/* fail=bench_leak: the last CPU keeps a frame after each run. */
static void inject_after(void)
{
	if (fault == KBENCH_FAULT_LEAK)
		(void)!frame_alloc(0, 0).err; /* kept: leaked */
}

static struct bench_platform platform = {
	.now_ns = time_ns,
	.spin = barrier_spin,
	.run_all = run_all,
	.loop_start = irq_start,
	.loop_end = irq_stop,
	.emit = emit,
	.inject_before = inject_before,
	.inject_after = inject_after,
};

/* ----------------------------------------------------- environments */

/* The environment named name[0..n) (bench.h), or NULL. */
static const struct bench_env *env_named(const char *name, size_t n)
{
	for (const struct bench_env *const *e = __start_bench_envs;
	     e < __stop_bench_envs; e++)
		if (strlen((*e)->name) == n && memcmp((*e)->name, name, n) == 0)
			return *e;
	return NULL;
}

const char *kbench_frame_config(const char *name, size_t n)
{
	const struct bench_env *env = env_named(name, n);

	return env != NULL ? env->frame_config : NULL;
}

size_t kbench_env_names(char *buf, size_t size)
{
	size_t len = 0;

	if (size > 0)
		buf[0] = '\0';
	for (const struct bench_env *const *e = __start_bench_envs;
	     e < __stop_bench_envs && size > 0; e++) {
		int k = snprintf(buf + len, size - len, "%s%s",
				 len > 0 ? "|" : "", (*e)->name);

		if (k > 0)
			len = MIN(len + (size_t)k, size - 1);
	}
	return len;
}

/* [B] the booted configuration's environment; NULL: a frame configuration */
static const struct bench_env *env;

/* ------------------------------------------------- around a benchmark */

/*
 * Frames allocated when the benchmarks began, caches drained, less those
 * the environment's layer held then (frames_held()).
 */
static uint64_t baseline;

/*
 * Frames allocated, less those the environment's layer holds (at
 * quiescence: no body runs).
 */
static uint64_t allocated_now(void)
{
	struct frame_stats st;
	uint64_t held = env != NULL && env->frames_held != NULL
				? env->frames_held() : 0;

	frame_get_stats(&st);
	return st.allocated - held;
}

/*
 * After a benchmark: caches drained and lazy frees merged (the next one
 * starts from coalesced memory), allocator consistent, nothing kept.
 */
static const char *check_allocator(void)
{
	pcp_drain_all();
	frame_coalesce();
	if (!frame_validate())
		return "the allocator is inconsistent after it (the log says why)";
	if (allocated_now() != baseline)
		return "it did not give back every frame it allocated";
	return NULL;
}

static const char *setup(const struct bench_benchmark *b)
{
	(void)b;
	if (env == NULL || env->setup == NULL || env->setup())
		return NULL;
	fault = KBENCH_FAULT_NONE; /* check() does not run: nothing ran */
	/* Drained and counted again: the next benchmark starts clean. */
	(void)check_allocator();
	baseline = allocated_now();
	return "the environment cannot set up (the log says why)";
}

/*
 * The environment's check, then the allocator's; after a failure (of the
 * runs or of a check) the count starts again, so that only the
 * benchmark that leaked fails.
 */
static const char *check(const struct bench_benchmark *b, bool failed)
{
	const char *why = NULL, *alloc;

	(void)b;
	fault = KBENCH_FAULT_NONE;
	if (env != NULL && env->check != NULL && !env->check())
		why = "the environment is inconsistent after it (the log says why)";
	alloc = check_allocator();
	if (why == NULL)
		why = alloc;
	if (failed || why != NULL)
		baseline = allocated_now();
	return why;
}

/*
 * Whether the machine has the memory every CPU's case may hold at once
 * (BENCH_BYTES_PER_THREAD each: rand holds it all between its barriers);
 * if not, say so, as the cases would only fail with E_NOMEM.
 */
static bool enough_memory(void)
{
	uint64_t need = ncpus() * BENCH_BYTES_PER_THREAD;
	struct frame_stats st;

	frame_get_stats(&st);
	if (st.free * PAGE_SIZE >= need)
		return true;
	klog("bench: %u vCPUs need %llu MiB free (%llu MiB each), %llu MiB "
	     "are: give the machine more memory", ncpus(),
	     (unsigned long long)(need >> 20),
	     (unsigned long long)(BENCH_BYTES_PER_THREAD >> 20),
	     (unsigned long long)(st.free * PAGE_SIZE >> 20));
	return false;
}

/* ------------------------------------------------------------ the run */

static void print_context(const struct kbench_opts *ko, const struct bench_opts *o,
			  unsigned total)
{
	static struct bench_line l; /* [B] */
	struct cpu_ident id;

	cpu_identify(&id);
	bench_put_context(&l, ko->config, ncpus(), id.brand, id.hypervisor, o,
			  platform.tsc_hz, total);
	bench_put(&l, "}");
	bench_emit(&platform, &l);
}

/* The i-th benchmark of the booted configuration (NULL: count them). */
static unsigned benchmark_at(const struct kbench_opts *o, unsigned i,
			     struct bench_benchmark *b)
{
	return bench_benchmark_at(__start_bench_cases, __stop_bench_cases,
				  o->config, false, o->filter, o->filter_len, i, b);
}

bool kbench_run(const struct kbench_opts *ko)
{
	struct bench_opts o = { .min_ns = ko->min_ns, .reps = ko->reps,
				.lat_every = ko->lat_every, .setup = setup,
				.check = check };
	unsigned total = benchmark_at(ko, 0, NULL), passed = 0;
	bool runnable;

	ASSERT(ko->reps >= 1 && ko->reps <= BENCH_REPS_MAX);
	ASSERT(ko->lat_every >= 1 && (ko->lat_every & (ko->lat_every - 1)) == 0);
	env = env_named(ko->config, strlen(ko->config));
	if (env != NULL && !env->frames_balance && env->frames_held == NULL) {
		/* Every benchmark here must give back every frame. */
		klog("bench: environment %s keeps frames between benchmarks "
		     "and does not say how many (frames_held): host only",
		     env->name);
		return false;
	}
	platform.tsc_hz = tsc_hz();
	the_run = (struct bench_run){ .p = &platform, .threads = ncpus(),
				      .parts = parts };
	print_context(ko, &o, total);
	pcp_drain_all();
	baseline = allocated_now();
	runnable = enough_memory();
	if (total == 0)
		klog("bench: no benchmark to run (configuration %s, "
		     "bench_filter=%.*s)", ko->config, (int)ko->filter_len,
		     ko->filter_len > 0 ? ko->filter : "");
	timer_set_hook(bench_tick);
	for (unsigned i = 0; runnable && i < total; i++) {
		struct bench_benchmark b;

		benchmark_at(ko, i, &b);
		passed += bench_measure(&the_run, &o, &b, i + 1, total);
	}
	timer_set_hook(NULL);
	klog("bench: %u passed, %u failed", passed, total - passed);
	return total > 0 && passed == total;
}
