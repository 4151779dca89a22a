/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/*
 * Measuring a benchmark on every CPU of a kernel at once (bench/run.h):
 * bench.h's functions over a CPU's part, merging the parts, the
 * iteration count, the records.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench/run.h"
#include "bench/harness.h"

#define MAX_ITERS (UINT64_C(1) << 32)

#define RUN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RUN_MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * a * b / c (c > 0), saturated at UINT64_MAX: the product in 128 bits and
 * a long division by shift and subtract, as no kernel here links a
 * 128-bit division (Linux has no __udivti3). A handful of calls a run.
 */
static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c)
{
	unsigned __int128 n = (unsigned __int128)a * b, q = 0, r = 0;

	for (int bit = 127; bit >= 0; bit--) {
		r = (r << 1) | ((n >> bit) & 1);
		if (r >= c) {
			r -= c;
			q |= (unsigned __int128)1 << bit;
		}
	}
	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

static struct bench_part *part(const struct bench_state *st)
{
	return st->impl;
}

/* ------------------------------------------------------------ failure */

/* [atomic] run->failed: set by bench_error(), read by every CPU */
static bool run_failed(const struct bench_run *run)
{
	return __atomic_load_n(&run->failed, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------ bench.h */

bool bench_loop_edge(struct bench_state *st)
{
	struct bench_part *me = part(st);
	struct bench_run *run = me->run;

	if (st->left == -2)
		return false;
	if (st->left < 0) {
		/* Start: every CPU passes, failed or not (bench_end_loop relies). */
		hbarrier_wait(&run->start, run->threads, NULL, run->p->spin);
		if (!run_failed(run)) {
			if (run->p->loop_start != NULL)
				run->p->loop_start(run);
			st->left = (int64_t)run->iters - 1;
			st->timing = true; /* the first: always */
			me->running = true;
			me->since = me->start = run->p->now_ns();
			return true;
		}
		st->left = -2;
		return false;
	}
	me->end = run->p->now_ns();
	if (me->running)
		me->timed_ns += me->end - me->since;
	me->running = false;
	if (run->p->loop_end != NULL)
		run->p->loop_end(run);
	st->left = -2;
	return false;
}

int64_t bench_arg(const struct bench_state *st, unsigned i)
{
	return i == 0 ? part(st)->run->arg : 0;
}

unsigned bench_thread(const struct bench_state *st)
{
	return part(st)->index;
}

unsigned bench_threads(const struct bench_state *st)
{
	return part(st)->run->threads;
}

void bench_pause(struct bench_state *st)
{
	struct bench_part *me = part(st);

	if (!me->running)
		return;
	me->timed_ns += me->run->p->now_ns() - me->since;
	me->running = false;
}

void bench_resume(struct bench_state *st)
{
	struct bench_part *me = part(st);

	if (me->running || st->left < 0)
		return;
	me->running = true;
	me->since = me->run->p->now_ns();
}

bool bench_barrier(struct bench_state *st)
{
	struct bench_run *run = part(st)->run;

	return hbarrier_wait(&run->bar, run->threads, &run->failed, run->p->spin);
}

void bench_counter(struct bench_state *st, const char *name, uint64_t value)
{
	struct bench_part *me = part(st);
	unsigned i = 0;

	while (i < me->ncounters && strcmp(me->counters[i].name, name) != 0)
		i++;
	if (i == BENCH_COUNTERS) {
		bench_error(st, "more counters than BENCH_COUNTERS");
		return;
	}
	if (i == me->ncounters)
		me->counters[me->ncounters++] = (struct bench_counter_value){ name, 0 };
	me->counters[i].value += value;
}

void bench_error(struct bench_state *st, const char *msg)
{
	struct bench_run *run = part(st)->run;
	const char *none = NULL;

	__atomic_compare_exchange_n(&run->error, &none, msg, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	__atomic_store_n(&run->failed, true, __ATOMIC_SEQ_CST);
	if (st->left > 0)
		st->left = 0;
}

/* ------------------------------------------------------------ a run */

void bench_cpu_run(struct bench_run *run, unsigned i)
{
	struct bench_part *me = &run->parts[i];
	struct bench_state st = { .left = -1, .ns_mult = run->ns_mult,
				  .lat_mask = run->lat_mask, .impl = me };
	bool injected = i == run->threads - 1;

	*me = (struct bench_part){ .run = run, .index = i };
	if (injected && run->p->inject_before != NULL)
		run->p->inject_before(&st);
	run->c->run(&st);
	bench_end_loop(&st);
	if (injected && run->p->inject_after != NULL)
		run->p->inject_after();
	me->ops = st.ops;
	me->lat_max = st.lat_max;
	memcpy(me->lat, st.lat, sizeof(me->lat));
}

/* A run's results, merged. */
struct result {
	uint64_t ops, timed_ns, wall_ns, lat_max_ns, lat_ops;
	uint64_t loop_min_ns; /* the shortest CPU's loop */
	uint64_t lat[BENCH_LAT_BUCKETS];
	struct bench_counter_value counters[BENCH_COUNTERS];
	unsigned ncounters;
};

static void add_counter(struct result *res, const struct bench_counter_value *c)
{
	unsigned i = 0;

	while (i < res->ncounters && strcmp(res->counters[i].name, c->name) != 0)
		i++;
	if (i == res->ncounters) {
		if (i == BENCH_COUNTERS)
			return; /* each CPU has at most BENCH_COUNTERS */
		res->counters[res->ncounters++] = (struct bench_counter_value){ c->name, 0 };
	}
	res->counters[i].value += c->value;
}

static uint64_t cycles_to_ns(const struct bench_run *run, uint64_t c)
{
	return (uint64_t)(((unsigned __int128)c * run->ns_mult) >> BENCH_NS_SHIFT);
}

/* The CPUs' parts of the run just finished, merged (never averaged). */
static void merge(const struct bench_run *run, struct result *res)
{
	uint64_t first = UINT64_MAX, last = 0, lat_max = 0;

	*res = (struct result){ .loop_min_ns = UINT64_MAX };
	for (unsigned c = 0; c < run->threads; c++) {
		const struct bench_part *p = &run->parts[c];

		res->ops += p->ops;
		res->timed_ns += p->timed_ns;
		lat_max = RUN_MAX(lat_max, p->lat_max);
		if (p->start != 0) {
			first = RUN_MIN(first, p->start);
			last = RUN_MAX(last, p->end);
			res->loop_min_ns = RUN_MIN(res->loop_min_ns, p->end - p->start);
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
	res->lat_max_ns = cycles_to_ns(run, lat_max);
}

/* One run of iters iterations on every CPU; false (why in *error) if it failed. */
static bool run_once(struct bench_run *run, uint64_t iters, struct result *res,
		     const char **error)
{
	run->iters = iters;
	__atomic_store_n(&run->failed, false, __ATOMIC_SEQ_CST);
	__atomic_store_n(&run->error, NULL, __ATOMIC_SEQ_CST);
	hbarrier_reset(&run->start);
	hbarrier_reset(&run->bar);
	run->p->run_all(run);
	merge(run, res);
	*error = NULL;
	if (!run_failed(run))
		return true;
	*error = __atomic_load_n(&run->error, __ATOMIC_SEQ_CST);
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
	uint64_t want;

	if (wall_ns == 0 || wall_ns * 10 < min_ns)
		return RUN_MIN(iters * 10, MAX_ITERS);
	want = mul_div(iters, min_ns * 14, wall_ns * 10);
	return RUN_MIN(RUN_MAX(RUN_MIN(want, MAX_ITERS), iters + 1), iters * 10);
}

/*
 * The iteration count for the next run, after a run of iters that gave r:
 * iters if r lasted long enough to be a repetition (min_ns of wall time,
 * and BENCH_IRQ_MIN_LOOP_NS of every CPU's loop for a case with timer
 * work) or iters is MAX_ITERS; else more.
 */
static uint64_t iters_wanted(const struct bench_run *run, const struct bench_opts *o,
			     const struct result *r, uint64_t iters)
{
	uint64_t want = iters;

	if (iters >= MAX_ITERS)
		return iters;
	if (r->wall_ns < o->min_ns)
		want = next_iters(iters, r->wall_ns, o->min_ns);
	if (run->c->irq != NULL && r->loop_min_ns < BENCH_IRQ_MIN_LOOP_NS)
		want = RUN_MAX(want, next_iters(iters, r->loop_min_ns,
						BENCH_IRQ_MIN_LOOP_NS));
	return want;
}

/* ------------------------------------------------------------ output */

void bench_put(struct bench_line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(l->buf) - l->len)
		l->overflow = true;
	l->len = RUN_MIN(l->len + (size_t)n, sizeof(l->buf) - 1);
}

void bench_put_string(struct bench_line *l, const char *s)
{
	bench_put(l, "\"");
	for (; *s != '\0'; s++)
		bench_put(l, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
	bench_put(l, "\"");
}

/* thousandths as a decimal: 12345 -> "12.345" */
static void put_milli(struct bench_line *l, uint64_t milli)
{
	bench_put(l, "%llu.%03llu", (unsigned long long)(milli / 1000),
		  (unsigned long long)(milli % 1000));
}

void bench_emit(const struct bench_platform *p, struct bench_line *l)
{
	/* A cut line is not silently half a record: it breaks the protocol. */
	if (l->overflow) {
		static const char cut[] = "bench: a line longer than the console's was cut";

		p->emit(cut, sizeof(cut) - 1);
	} else {
		p->emit(l->buf, l->len);
	}
	l->len = 0;
	l->overflow = false;
}

/* ns per operation per CPU, and Mops/s of the whole run, in thousandths. */
static uint64_t ns_per_op_milli(const struct result *r)
{
	return r->ops > 0 ? mul_div(r->timed_ns, 1000, r->ops) : 0;
}

static uint64_t mops_milli(const struct result *r)
{
	return r->wall_ns > 0 ? mul_div(r->ops, 1000000, r->wall_ns) : 0;
}

static uint64_t percentile(const struct result *r, uint64_t q_per_10k)
{
	return RUN_MIN(bench_percentile_ns(r->lat, r->lat_ops, q_per_10k), r->lat_max_ns);
}

/* "frame/repeat": the workload is what follows the suite. */
static const char *workload_of(const char *case_name)
{
	for (const char *p = case_name; *p != '\0'; p++)
		if (*p == '/')
			return p + 1;
	return case_name;
}

static void print_record(const struct bench_run *run, const struct bench_benchmark *b,
			 unsigned rep, const struct result *r)
{
	static struct bench_line l; /* [H] */
	bool comma = false;

	bench_put(&l, "bench-json: {\"name\":");
	bench_put_string(&l, b->name);
	bench_put(&l, ",\"workload\":");
	bench_put_string(&l, workload_of(b->c->name));
	bench_put(&l, ",\"config\":");
	bench_put_string(&l, b->config);
	bench_put(&l, ",\"%s\":%lld,\"threads\":%u,\"repetition\":%u,"
		  "\"iterations\":%llu,\"ops\":%llu,\"lat_ops\":%llu,"
		  "\"wall_ns\":%llu,\"ns_per_op\":",
		  b->c->arg_name, (long long)b->arg, run->threads, rep,
		  (unsigned long long)run->iters, (unsigned long long)r->ops,
		  (unsigned long long)r->lat_ops, (unsigned long long)r->wall_ns);
	put_milli(&l, ns_per_op_milli(r));
	bench_put(&l, ",\"mops_total\":");
	put_milli(&l, mops_milli(r));
#define PERCENTILE(name, q) \
	bench_put(&l, ",\"" name "\":%llu", (unsigned long long)percentile(r, q));
	BENCH_PERCENTILES(PERCENTILE)
#undef PERCENTILE
	bench_put(&l, ",\"max_ns\":%llu", (unsigned long long)r->lat_max_ns);
	for (unsigned i = 0; i < r->ncounters; i++)
		bench_put(&l, ",\"%s\":%llu", r->counters[i].name,
			  (unsigned long long)r->counters[i].value);
	bench_put(&l, ",\"lat_log2_ns\":{");
	for (unsigned k = 0; k < BENCH_LAT_BUCKETS; k++)
		if (r->lat[k] != 0) {
			bench_put(&l, "%s\"%u\":%llu", comma ? "," : "", k,
				  (unsigned long long)r->lat[k]);
			comma = true;
		}
	bench_put(&l, "}}");
	bench_emit(run->p, &l);
}

void bench_put_context(struct bench_line *l, const char *config,
		       unsigned vcpus, const char *cpu, const char *hypervisor,
		       const struct bench_opts *o, uint64_t tsc_hz,
		       unsigned benchmarks)
{
	bench_put(l, "bench: context {\"config\":");
	bench_put_string(l, config);
	bench_put(l, ",\"vcpus\":%u,\"cpu\":", vcpus);
	bench_put_string(l, cpu);
	bench_put(l, ",\"hypervisor\":");
	bench_put_string(l, hypervisor);
	bench_put(l, ",\"tsc_mhz\":%llu,\"min_ms\":%llu,\"reps\":%u,"
		  "\"lat_every\":%llu,\"benchmarks\":%u",
		  (unsigned long long)(tsc_hz / 1000000),
		  (unsigned long long)(o->min_ns / 1000000), o->reps,
		  (unsigned long long)o->lat_every, benchmarks);
}

/* ----------------------------------------------------- benchmarks */

static bool config_listed(const struct bench_case *c, const char *config)
{
	for (const char *const *p = c->configs; *p != NULL; p++)
		if (strcmp(*p, config) == 0)
			return true;
	return false;
}

static bool selected(const char *filter, size_t filter_len, const char *name)
{
	size_t n = strlen(name);

	if (filter_len == 0)
		return true;
	for (size_t i = 0; i + filter_len <= n; i++)
		if (memcmp(name + i, filter, filter_len) == 0)
			return true;
	return false;
}

unsigned bench_benchmark_at(const struct bench_case *const *begin,
			    const struct bench_case *const *end,
			    const char *config, bool config_all,
			    const char *filter, size_t filter_len,
			    unsigned index, struct bench_benchmark *out)
{
	unsigned n = 0;

	for (const struct bench_case *const *p = begin; p < end; p++) {
		if (!config_all && !config_listed(*p, config))
			continue;
		for (unsigned a = 0; a < (*p)->nargs; a++) {
			struct bench_benchmark b = { *p, config, (*p)->args[a], "" };

			snprintf(b.name, sizeof(b.name), "%s/%s/%s:%lld",
				 b.c->name, b.config, b.c->arg_name,
				 (long long)b.arg);
			if (!selected(filter, filter_len, b.name))
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

/* ------------------------------------------------------- measuring */

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

/* A benchmark's repetitions, kept until it has passed its checks. [H] */
static struct result reps[BENCH_REPS_MAX];

/*
 * Run one benchmark's repetitions into reps[], between the harness's
 * setup() and check(); NULL, or why it failed (the setup, a run's error,
 * or the check after them).
 */
static const char *run_reps(struct bench_run *run, const struct bench_opts *o,
			    const struct bench_benchmark *b)
{
	const char *error = NULL, *checked;
	uint64_t want = 1, iters;

	if (o->setup != NULL && (error = o->setup(b)) != NULL)
		return error;
	/* The first repetition is the first run that lasted long enough. */
	do {
		iters = want;
		if (!run_once(run, iters, &reps[0], &error))
			break;
		want = iters_wanted(run, o, &reps[0], iters);
	} while (want != iters);
	for (unsigned rep = 1; error == NULL && rep < o->reps; rep++)
		run_once(run, iters, &reps[rep], &error);
	checked = o->check != NULL ? o->check(b, error != NULL) : NULL;
	return error != NULL ? error : checked;
}

bool bench_measure(struct bench_run *run, const struct bench_opts *o,
		   const struct bench_benchmark *b, unsigned k, unsigned total)
{
	static struct bench_line l; /* [H] */
	uint64_t ns[BENCH_REPS_MAX], mops[BENCH_REPS_MAX];
	uint64_t p99 = 0, max = 0;
	const char *error;
	unsigned rep = o->reps;

	run->c = b->c;
	run->arg = b->arg;
	run->lat_mask = o->lat_every - 1;
	run->ns_mult = (UINT64_C(1000000000) << BENCH_NS_SHIFT) / run->p->tsc_hz;
	error = run_reps(run, o, b);
	if (error != NULL) {
		bench_put(&l, "bench: [%u/%u] %s FAILED: %s", k, total, b->name, error);
		bench_emit(run->p, &l);
		return false;
	}
	for (unsigned i = 0; i < rep; i++) {
		const struct result *r = &reps[i];

		print_record(run, b, i, r);
		ns[i] = ns_per_op_milli(r);
		mops[i] = mops_milli(r);
		p99 = RUN_MAX(p99, percentile(r, 9900));
		max = RUN_MAX(max, r->lat_max_ns);
	}
	sort_u64(ns, rep);
	sort_u64(mops, rep);
	bench_put(&l, "bench: [%u/%u] %s: %llu.%03llu ns/op, %llu.%03llu Mops/s, "
		  "p99 %llu ns, max %llu ns", k, total, b->name,
		  (unsigned long long)(ns[rep / 2] / 1000),
		  (unsigned long long)(ns[rep / 2] % 1000),
		  (unsigned long long)(mops[rep / 2] / 1000),
		  (unsigned long long)(mops[rep / 2] % 1000),
		  (unsigned long long)p99, (unsigned long long)max);
	bench_emit(run->p, &l);
	return true;
}
