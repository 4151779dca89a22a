/* SPDX-License-Identifier: MIT */
/*
 * The in-kernel benchmark harness: bench.h on the kernel's CPUs, for the
 * command line's bench= mode (kernel/main.c). Every case of the
 * bench_cases section that runs in the booted configuration runs, for
 * each of its arguments, on all online CPUs at once (thread i is CPU i;
 * the vCPU count is the thread count), and each result goes to the
 * console as one JSON object per line for tools/bench_qemu.py.
 *
 * Measuring, as Google Benchmark measures a benchmark on the host: runs
 * of a fixed iteration count, the same on every CPU; the count grows from
 * 1 until a run lasts at least min_ns of wall time (and, for a case with
 * timer work, every CPU's loop IRQ_MIN_LOOP_NS); that run and reps - 1
 * more at the same count are the repetitions, one record each. A run:
 * smp_run_all() starts the body on every CPU; the first
 * bench_keep_running() is a barrier of all of them and starts each CPU's
 * clock; the last stops it. Each CPU keeps its results in its own slot,
 * and the boot CPU merges the slots after smp_run_all() returned, which
 * orders every CPU's writes before those reads (work_done, release and
 * acquire): nothing is merged under a lock, nothing on the hot path is
 * shared.
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
 *
 * The console protocol (whole lines; tools/bench_qemu.py reads them and
 * ignores the rest of the log):
 *
 *   bench: context {"config":"full","vcpus":2,"cpu":"...",
 *          "hypervisor":"TCGTCGTCGTCG","tsc_mhz":2495,"min_ms":100,
 *          "reps":3,"lat_every":16,"benchmarks":24}
 *   bench-json: {"name":"frame/repeat/full/order:0","workload":"repeat",
 *          "config":"full","order":0,"threads":2,"repetition":0,
 *          "iterations":..,"ops":..,"lat_ops":..,"wall_ns":..,
 *          "ns_per_op":12.345,
 *          "mops_total":40.123,"p50_ns":..,"p90_ns":..,"p99_ns":..,
 *          "p999_ns":..,"max_ns":..,<counters>,"lat_log2_ns":{"3":100}}
 *   bench: [1/24] frame/repeat/full/order:0: 12.345 ns/op, 40.123 Mops/s,
 *          p99 64 ns, max 2100 ns       (after its repetitions' records)
 *   bench: [7/24] frame/rand/full/order:9 FAILED: why   (and no records)
 *   bench: 23 passed, 1 failed          (the last line)
 *
 * The figures mean what bench.h says they mean on the host; the
 * percentiles come from bench/harness.h, as the host's do.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <platform.h>

#include "bench/barrier.h"
#include "bench/bench.h"
#include "bench/kernel.h"
#include "bench/harness.h"
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

#define MAX_ITERS (UINT64_C(1) << 32)

struct counter {
	const char *name;
	uint64_t value;
};

/*
 * One CPU's part of a run. [CPU c resets and writes slot c during the
 * run; the boot CPU reads them after smp_run_all() returned, which orders
 * every CPU's writes before (its completion count: release, acquire)]
 */
struct cpu_part {
	bool running;          /* the clock runs (not paused) */
	uint64_t since;        /* when it last started, time_ns() */
	uint64_t start, end;   /* when the loop started and ended; 0: never */
	uint64_t timed_ns;     /* with the clock running, so far */
	uint64_t ops, lat_max; /* lat_max in cycles */
	uint64_t lat[BENCH_LAT_BUCKETS];
	struct counter counters[BENCH_COUNTERS];
	unsigned ncounters;
};

/*
 * What a run's CPUs share. [B: the boot CPU sets it up before
 * smp_run_all(); the CPUs only read it] except the failure and the
 * barriers, which are atomic.
 */
struct run {
	const struct bench_case *c; /* [B] */
	int64_t arg;                /* [B] */
	unsigned threads;           /* [B] */
	uint64_t iters;             /* [B] */
	bool failed;                /* [atomic] bench_error() was called */
	const char *_Atomic error;  /* the first bench_error()'s message: set
				       once (CAS from NULL), read by the boot
				       CPU after smp_run_all() */
	struct hbarrier start;      /* the loop's start: every CPU passes */
	struct hbarrier bar;        /* bench_barrier() */
};

/* A run's results, merged. */
struct result {
	uint64_t ops, timed_ns, wall_ns, lat_max_ns, lat_ops;
	uint64_t loop_min_ns; /* the shortest CPU's loop */
	uint64_t lat[BENCH_LAT_BUCKETS];
	struct counter counters[BENCH_COUNTERS];
	unsigned ncounters;
};

static struct run the_run;
static struct cpu_part parts[CONFIG_MAX_CPUS];
/* [CPU c writes its own; its timer hook reads it] c's loop is running */
static bool irq_on[CONFIG_MAX_CPUS];
static uint64_t ns_mult; /* bench_state.ns_mult, from the TSC rate */
static uint64_t lat_mask; /* bench_state.lat_mask: lat_every - 1 */
static enum kbench_fault fault; /* [B] kbench_inject(), until the first
				   benchmark is over */

void kbench_inject(enum kbench_fault f)
{
	fault = f;
}

static struct cpu_part *part(const struct bench_state *st)
{
	return st->impl;
}

/* ------------------------------------------------------------ failure */

/* [atomic] the_run.failed: set by bench_error(), read by every CPU */
static bool run_failed(void)
{
	return __atomic_load_n(&the_run.failed, __ATOMIC_SEQ_CST);
}

/*
 * Barrier waits spin (cpu_spin()): the last arrival sends no interrupt,
 * so a halted waiter would sleep to its next tick.
 */
static void barrier_spin(void)
{
	cpu_spin();
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

static void irq_start(void)
{
	unsigned me = cpu_id();

	if (the_run.c->irq == NULL)
		return;
	__atomic_store_n(&irq_on[me], true, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
	timer_set_hz((uint32_t)(UINT64_C(1000000000) / BENCH_IRQ_PERIOD_NS));
}

static void irq_stop(void)
{
	unsigned me = cpu_id();

	if (the_run.c->irq == NULL)
		return;
	__atomic_store_n(&irq_on[me], false, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
	timer_set_hz(TIMER_HZ);
}

/* ------------------------------------------------------------ bench.h */

bool bench_loop_edge(struct bench_state *st)
{
	struct cpu_part *me = part(st);

	if (st->left == -2)
		return false;
	if (st->left < 0) {
		/* Start: every CPU passes, failed or not (bench_end_loop relies). */
		hbarrier_wait(&the_run.start, the_run.threads, NULL, barrier_spin);
		if (!run_failed()) {
			irq_start();
			st->left = (int64_t)the_run.iters - 1;
			st->timing = true; /* the first: always */
			me->running = true;
			me->since = me->start = time_ns();
			return true;
		}
		st->left = -2;
		return false;
	}
	me->end = time_ns();
	if (me->running)
		me->timed_ns += me->end - me->since;
	me->running = false;
	irq_stop();
	st->left = -2;
	return false;
}

int64_t bench_arg(const struct bench_state *st, unsigned i)
{
	(void)st;
	return i == 0 ? the_run.arg : 0;
}

unsigned bench_thread(const struct bench_state *st)
{
	(void)st;
	return cpu_id();
}

unsigned bench_threads(const struct bench_state *st)
{
	(void)st;
	return the_run.threads;
}

void bench_pause(struct bench_state *st)
{
	struct cpu_part *me = part(st);

	if (!me->running)
		return;
	me->timed_ns += time_ns() - me->since;
	me->running = false;
}

void bench_resume(struct bench_state *st)
{
	struct cpu_part *me = part(st);

	if (me->running || st->left < 0)
		return;
	me->running = true;
	me->since = time_ns();
}

bool bench_barrier(struct bench_state *st)
{
	(void)st;
	return hbarrier_wait(&the_run.bar, the_run.threads, &the_run.failed,
			     barrier_spin);
}

void bench_counter(struct bench_state *st, const char *name, uint64_t value)
{
	struct cpu_part *me = part(st);
	unsigned i = 0;

	while (i < me->ncounters && strcmp(me->counters[i].name, name) != 0)
		i++;
	if (i == BENCH_COUNTERS) {
		bench_error(st, "more counters than BENCH_COUNTERS");
		return;
	}
	if (i == me->ncounters)
		me->counters[me->ncounters++] = (struct counter){ name, 0 };
	me->counters[i].value += value;
}

void bench_error(struct bench_state *st, const char *msg)
{
	const char *none = NULL;

	atomic_compare_exchange_strong(&the_run.error, &none, msg);
	__atomic_store_n(&the_run.failed, true, __ATOMIC_SEQ_CST);
	if (st->left > 0)
		st->left = 0;
}

/* ------------------------------------------------------------ a run */

/* Every CPU, at once: the body, then this CPU's histogram into its slot. */
static void run_on_cpu(void *arg)
{
	struct cpu_part *me = &parts[cpu_id()];
	struct bench_state st = { .left = -1, .ns_mult = ns_mult,
				  .lat_mask = lat_mask,
				  .impl = me };

	bool injected = fault != KBENCH_FAULT_NONE &&
			cpu_id() == the_run.threads - 1;

	(void)arg;
	*me = (struct cpu_part){ 0 };
	if (injected && fault == KBENCH_FAULT_ERROR)
		bench_error(&st, "injected by fail=bench_error");
	the_run.c->run(&st);
	bench_end_loop(&st);
	if (injected && fault == KBENCH_FAULT_LEAK)
		(void)!frame_alloc(0, 0).err; /* kept: leaked */
	me->ops = st.ops;
	me->lat_max = st.lat_max;
	memcpy(me->lat, st.lat, sizeof(me->lat));
}

static void add_counter(struct result *res, const struct counter *c)
{
	unsigned i = 0;

	while (i < res->ncounters && strcmp(res->counters[i].name, c->name) != 0)
		i++;
	if (i == res->ncounters) {
		if (i == BENCH_COUNTERS)
			return; /* each CPU has at most BENCH_COUNTERS */
		res->counters[res->ncounters++] = (struct counter){ c->name, 0 };
	}
	res->counters[i].value += c->value;
}

static uint64_t cycles_to_ns(uint64_t c)
{
	return (uint64_t)(((unsigned __int128)c * ns_mult) >> BENCH_NS_SHIFT);
}

/* The CPUs' slots of the run just finished, merged (never averaged). */
static void merge(struct result *res)
{
	uint64_t first = UINT64_MAX, last = 0, lat_max = 0;

	*res = (struct result){ .loop_min_ns = UINT64_MAX };
	for (unsigned c = 0; c < the_run.threads; c++) {
		const struct cpu_part *p = &parts[c];

		res->ops += p->ops;
		res->timed_ns += p->timed_ns;
		lat_max = MAX(lat_max, p->lat_max);
		if (p->start != 0) {
			first = MIN(first, p->start);
			last = MAX(last, p->end);
			res->loop_min_ns = MIN(res->loop_min_ns, p->end - p->start);
		}
		for (unsigned k = 0; k < BENCH_LAT_BUCKETS; k++) {
			res->lat[k] += p->lat[k];
			res->lat_ops += p->lat[k];
		}
		for (unsigned i = 0; i < p->ncounters; i++)
			add_counter(res, &p->counters[i]);
	}
	res->wall_ns = last > first ? last - first : 0;
	if (res->loop_min_ns == UINT64_MAX)
		res->loop_min_ns = 0;
	res->lat_max_ns = cycles_to_ns(lat_max);
}

/* One run of iters iterations on every CPU; false (why in *error) if it failed. */
static bool run_once(uint64_t iters, struct result *res, const char **error)
{
	the_run.iters = iters;
	__atomic_store_n(&the_run.failed, false, __ATOMIC_SEQ_CST);
	atomic_store(&the_run.error, NULL);
	hbarrier_reset(&the_run.start);
	hbarrier_reset(&the_run.bar);
	smp_run_all(run_on_cpu, NULL);
	merge(res);
	*error = NULL;
	if (!run_failed())
		return true;
	*error = atomic_load(&the_run.error);
	if (*error == NULL)
		*error = "the case failed without saying why";
	return false;
}

/*
 * The next iteration count while looking for min_ns (Google Benchmark's
 * rule): 10 times more while a run is under a tenth of it, else enough
 * for 1.4 times it at the last run's rate; always more than now.
 */
static uint64_t next_iters(uint64_t iters, uint64_t wall_ns, uint64_t min_ns)
{
	unsigned __int128 want;

	if (wall_ns == 0 || wall_ns * 10 < min_ns)
		return MIN(iters * 10, MAX_ITERS);
	want = (unsigned __int128)iters * min_ns * 14 / ((unsigned __int128)wall_ns * 10);
	return MIN(MAX((uint64_t)MIN(want, (unsigned __int128)MAX_ITERS), iters + 1),
		   iters * 10);
}

/*
 * A case's timer work runs only in the ticks that come while a CPU's loop
 * runs, the first a period after the loop started; and a CPU's loop may
 * last much less than the run's wall time (vCPUs that share host cores
 * take turns). So every CPU's loop must last several periods, or the
 * record could count no interrupt at all. Three were not enough with 4
 * vCPUs under TCG on a loaded 2-core host (make test, 2026-11-30: a
 * frame/irq record with irq_ops 0): a vCPU's loop is timed by the TSC,
 * which runs on while the host has the vCPU descheduled, so a loop can
 * "last" three periods and execute for much less than one.
 */
#define IRQ_MIN_LOOP_NS (10 * (uint64_t)BENCH_IRQ_PERIOD_NS)

/*
 * The iteration count for the next run, after a run of iters that gave r:
 * iters if r lasted long enough to be a repetition (min_ns of wall time,
 * and IRQ_MIN_LOOP_NS of every CPU's loop for a case with timer work) or
 * iters is MAX_ITERS; else more.
 */
static uint64_t iters_wanted(const struct kbench_opts *o,
			     const struct result *r, uint64_t iters)
{
	uint64_t want = iters;

	if (iters >= MAX_ITERS)
		return iters;
	if (r->wall_ns < o->min_ns)
		want = next_iters(iters, r->wall_ns, o->min_ns);
	if (the_run.c->irq != NULL && r->loop_min_ns < IRQ_MIN_LOOP_NS)
		want = MAX(want, next_iters(iters, r->loop_min_ns,
					    IRQ_MIN_LOOP_NS));
	return want;
}

/* ------------------------------------------------------------ output */

/* A line being built, then written whole (klog()'s lines are shorter). */
struct line {
	char buf[2048];
	size_t len;
};

static void PRINTF_LIKE(2, 3) put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len = MIN(l->len + (size_t)n, sizeof(l->buf) - 1);
}

static void emit(struct line *l)
{
	l->buf[MIN(l->len, sizeof(l->buf) - 2)] = '\n';
	console_write(l->buf, MIN(l->len + 1, sizeof(l->buf) - 1));
	l->len = 0;
}

/* thousandths as a decimal: 12345 -> "12.345" */
static void put_milli(struct line *l, uint64_t milli)
{
	put(l, "%llu.%03llu", (unsigned long long)(milli / 1000),
	    (unsigned long long)(milli % 1000));
}

/* A JSON string value; names and CPUID's strings need no escapes but " and \. */
static void put_string(struct line *l, const char *s)
{
	put(l, "\"");
	for (; *s != '\0'; s++)
		put(l, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
	put(l, "\"");
}

/* A benchmark: a case in the booted configuration with one argument. */
struct benchmark {
	const struct bench_case *c;
	const char *config;
	int64_t arg;
	char name[128];
};

/* ns per operation per CPU, and Mops/s of the whole run, in thousandths. */
static uint64_t ns_per_op_milli(const struct result *r)
{
	return r->ops > 0 ? (uint64_t)((unsigned __int128)r->timed_ns * 1000 / r->ops) : 0;
}

static uint64_t mops_milli(const struct result *r)
{
	return r->wall_ns > 0 ? (uint64_t)((unsigned __int128)r->ops * 1000000 / r->wall_ns) : 0;
}

static uint64_t percentile(const struct result *r, uint64_t q_per_10k)
{
	return MIN(bench_percentile_ns(r->lat, r->lat_ops, q_per_10k), r->lat_max_ns);
}

static void print_record(const struct benchmark *b, unsigned rep,
			 uint64_t iters, const struct result *r)
{
	static struct line l; /* [B] */
	const char *workload = b->c->name;
	bool comma = false;

	/* "frame/repeat": the workload is what follows the suite. */
	for (const char *p = b->c->name; *p != '\0'; p++)
		if (*p == '/') {
			workload = p + 1;
			break;
		}

	put(&l, "bench-json: {\"name\":");
	put_string(&l, b->name);
	put(&l, ",\"workload\":");
	put_string(&l, workload);
	put(&l, ",\"config\":");
	put_string(&l, b->config);
	put(&l, ",\"%s\":%lld,\"threads\":%u,\"repetition\":%u,"
	    "\"iterations\":%llu,\"ops\":%llu,\"lat_ops\":%llu,"
	    "\"wall_ns\":%llu,\"ns_per_op\":",
	    b->c->arg_name, (long long)b->arg, the_run.threads, rep,
	    (unsigned long long)iters, (unsigned long long)r->ops,
	    (unsigned long long)r->lat_ops, (unsigned long long)r->wall_ns);
	put_milli(&l, ns_per_op_milli(r));
	put(&l, ",\"mops_total\":");
	put_milli(&l, mops_milli(r));
#define PERCENTILE(name, q) \
	put(&l, ",\"" name "\":%llu", (unsigned long long)percentile(r, q));
	BENCH_PERCENTILES(PERCENTILE)
#undef PERCENTILE
	put(&l, ",\"max_ns\":%llu", (unsigned long long)r->lat_max_ns);
	for (unsigned i = 0; i < r->ncounters; i++)
		put(&l, ",\"%s\":%llu", r->counters[i].name,
		    (unsigned long long)r->counters[i].value);
	put(&l, ",\"lat_log2_ns\":{");
	for (unsigned k = 0; k < BENCH_LAT_BUCKETS; k++)
		if (r->lat[k] != 0) {
			put(&l, "%s\"%u\":%llu", comma ? "," : "", k,
			    (unsigned long long)r->lat[k]);
			comma = true;
		}
	put(&l, "}}");
	emit(&l);
}

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

/* ------------------------------------------------------- benchmarks */

static bool config_listed(const struct bench_case *c, const char *config)
{
	for (const char *const *p = c->configs; *p != NULL; p++)
		if (strcmp(*p, config) == 0)
			return true;
	return false;
}

static bool selected(const struct kbench_opts *o, const char *name)
{
	size_t n = strlen(name);

	if (o->filter_len == 0)
		return true;
	for (size_t i = 0; i + o->filter_len <= n; i++)
		if (memcmp(name + i, o->filter, o->filter_len) == 0)
			return true;
	return false;
}

/*
 * The benchmarks to run, in section order, into *out (NULL: only count
 * them); returns how many.
 */
static unsigned each_benchmark(const struct kbench_opts *o, unsigned index,
			       struct benchmark *out)
{
	unsigned n = 0;

	for (const struct bench_case *const *p = __start_bench_cases;
	     p < __stop_bench_cases; p++) {
		if (!config_listed(*p, o->config))
			continue;
		for (unsigned a = 0; a < (*p)->nargs; a++) {
			struct benchmark b = { *p, o->config, (*p)->args[a], "" };

			snprintf(b.name, sizeof(b.name), "%s/%s/%s:%lld",
				 b.c->name, b.config, b.c->arg_name,
				 (long long)b.arg);
			if (!selected(o, b.name))
				continue;
			if (out != NULL && n == index) {
				*out = b;
				return n + 1;
			}
			n++;
		}
	}
	return n;
}

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

/* Sort the repetitions' figures (a handful: insertion sort). */
static void sort_u64(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

/* A benchmark's repetitions, kept until it has passed its checks. [B] */
static struct result reps[KBENCH_REPS_MAX];

/*
 * Run one benchmark's repetitions into reps[], between the environment's
 * setup() and check(); NULL, or why it failed (the environment, a run's
 * error, or the allocator's state after them).
 */
static const char *run_reps(const struct kbench_opts *o, uint64_t *iters)
{
	const char *error = NULL;
	uint64_t want = 1;

	*iters = 0;
	if (env != NULL && env->setup != NULL && !env->setup())
		return "the environment cannot set up (the log says why)";
	/* The first repetition is the first run that lasted long enough. */
	do {
		*iters = want;
		if (!run_once(*iters, &reps[0], &error))
			break;
		want = iters_wanted(o, &reps[0], *iters);
	} while (want != *iters);
	for (unsigned rep = 1; error == NULL && rep < o->reps; rep++)
		run_once(*iters, &reps[rep], &error);
	fault = KBENCH_FAULT_NONE;
	if (env != NULL && env->check != NULL && !env->check() && error == NULL)
		error = "the environment is inconsistent after it (the log "
			"says why)";
	return error != NULL ? error : check_allocator();
}

/*
 * Run one benchmark, print its records (only if it passed: a failed one
 * has none) and its progress line; whether it passed.
 */
static bool measure(const struct kbench_opts *o, const struct benchmark *b,
		    unsigned k, unsigned total)
{
	uint64_t iters, ns[KBENCH_REPS_MAX], mops[KBENCH_REPS_MAX];
	uint64_t p99 = 0, max = 0;
	const char *error;
	unsigned rep = o->reps;

	the_run.c = b->c;
	the_run.arg = b->arg;
	the_run.threads = ncpus();
	error = run_reps(o, &iters);
	if (error != NULL) {
		/* Drained and counted again: the next benchmark starts clean. */
		(void)check_allocator();
		baseline = allocated_now();
		klog("bench: [%u/%u] %s FAILED: %s", k, total, b->name, error);
		return false;
	}
	for (unsigned i = 0; i < rep; i++) {
		const struct result *r = &reps[i];

		print_record(b, i, iters, r);
		ns[i] = ns_per_op_milli(r);
		mops[i] = mops_milli(r);
		p99 = MAX(p99, percentile(r, 9900));
		max = MAX(max, r->lat_max_ns);
	}
	sort_u64(ns, rep);
	sort_u64(mops, rep);
	klog("bench: [%u/%u] %s: %llu.%03llu ns/op, %llu.%03llu Mops/s, "
	     "p99 %llu ns, max %llu ns", k, total, b->name,
	     (unsigned long long)(ns[rep / 2] / 1000),
	     (unsigned long long)(ns[rep / 2] % 1000),
	     (unsigned long long)(mops[rep / 2] / 1000),
	     (unsigned long long)(mops[rep / 2] % 1000),
	     (unsigned long long)p99, (unsigned long long)max);
	return true;
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

static void print_context(const struct kbench_opts *o, unsigned total)
{
	static struct line l; /* [B] */
	struct cpu_ident id;

	cpu_identify(&id);
	put(&l, "bench: context {\"config\":");
	put_string(&l, o->config);
	put(&l, ",\"vcpus\":%u,\"cpu\":", ncpus());
	put_string(&l, id.brand);
	put(&l, ",\"hypervisor\":");
	put_string(&l, id.hypervisor);
	put(&l, ",\"tsc_mhz\":%llu,\"min_ms\":%llu,\"reps\":%u,"
	    "\"lat_every\":%llu,\"benchmarks\":%u}",
	    (unsigned long long)(tsc_hz() / 1000000),
	    (unsigned long long)(o->min_ns / 1000000), o->reps,
	    (unsigned long long)o->lat_every, total);
	emit(&l);
}

bool kbench_run(const struct kbench_opts *o)
{
	unsigned total = each_benchmark(o, 0, NULL), passed = 0;
	bool runnable;

	ASSERT(o->reps >= 1 && o->reps <= KBENCH_REPS_MAX);
	ASSERT(o->lat_every >= 1 && (o->lat_every & (o->lat_every - 1)) == 0);
	lat_mask = o->lat_every - 1;
	env = env_named(o->config, strlen(o->config));
	if (env != NULL && !env->frames_balance && env->frames_held == NULL) {
		/* Every benchmark here must give back every frame. */
		klog("bench: environment %s keeps frames between benchmarks "
		     "and does not say how many (frames_held): host only",
		     env->name);
		return false;
	}
	ns_mult = (UINT64_C(1000000000) << BENCH_NS_SHIFT) / tsc_hz();
	print_context(o, total);
	pcp_drain_all();
	baseline = allocated_now();
	runnable = enough_memory();
	if (total == 0)
		klog("bench: no benchmark to run (configuration %s, "
		     "bench_filter=%.*s)", o->config, (int)o->filter_len,
		     o->filter_len > 0 ? o->filter : "");
	timer_set_hook(bench_tick);
	for (unsigned i = 0; runnable && i < total; i++) {
		struct benchmark b;

		each_benchmark(o, i, &b);
		passed += measure(o, &b, i + 1, total);
	}
	timer_set_hook(NULL);
	klog("bench: %u passed, %u failed", passed, total - passed);
	return total > 0 && passed == total;
}
