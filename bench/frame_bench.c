/* SPDX-License-Identifier: MIT */
/*
 * frame_bench: a quick micro-benchmark of the frame allocator on the host
 * (the full Google Benchmark suite is bench/'s own issue).
 *
 * Workloads, per thread (each thread is a CPU; all start together):
 *   repeat  allocate one block, free it, again; an operation is one
 *           allocation or one free
 *   bulk    allocate 1024 blocks, then free all 1024 (alloc and free
 *           phases timed separately)
 * for orders 0, 3, 9; 1, 2 and 8 threads; in the three configurations
 * (full: per-CPU caches + lock-free buddy; nopcp: the lock-free buddy
 * alone; locked: the buddy under one zone spinlock), all in one run so
 * the ratios compare like with like.
 *
 * Reported per case: the median over repetitions of the nanoseconds per
 * operation per thread (a thread's own wall time over its operations, so
 * with more threads than cores it includes time spent preempted) and of
 * the total throughput (operations of all threads over the wall time from
 * the first thread's start to the last one's end), with the min-max
 * spread of the throughput. Bulk reports one throughput for allocations
 * and frees together, and the latency of each phase. Output: a Markdown
 * table on stdout and, with --json FILE, one JSON object per case.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/host.h"
#include "host/util.h"

#define BULK_N    1024
#define MAX_REPS  15

enum workload { REPEAT, BULK, BULK_ALLOC, BULK_FREE, WORKLOADS };

static const char *const workload_name[WORKLOADS] = {
	"repeat", "bulk", "bulk-alloc", "bulk-free",
};

struct config {
	const char *name;
	struct frame_config cfg;
};

static const struct config configs[] = {
	{ "full", FRAME_CONFIG_FULL },
	{ "nopcp", FRAME_CONFIG_NOPCP },
	{ "locked", FRAME_CONFIG_LOCKED },
};

static const unsigned orders[] = { 0, 3, 9 };
static const unsigned thread_counts[] = { 1, 2, 8 };

struct options {
	unsigned reps;
	unsigned ms;         /* target time per measurement */
	uint64_t arena_gib;
	const char *json;
	const char *config;  /* only this configuration (NULL: all) */
	int workload;        /* only REPEAT or BULK (-1: both) */
	int order;           /* only this order (-1: all) */
	int threads;         /* only this thread count (-1: all) */
};

static struct options opt = { 7, 100, 20, NULL, NULL, -1, -1, -1 };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ----------------------------------------------------------- a run */

struct run {
	unsigned order;
	unsigned threads;
	enum workload w; /* REPEAT or BULK (which measures both phases) */
	pthread_barrier_t start;
	_Atomic uint64_t deadline;
	/* per thread results */
	uint64_t ops[MAX_CPUS][WORKLOADS];
	uint64_t ns[MAX_CPUS][WORKLOADS];
	uint64_t begin[MAX_CPUS], end[MAX_CPUS];
	_Atomic unsigned failures;
};

static void fail(struct run *r, err_t e)
{
	if (atomic_fetch_add(&r->failures, 1) == 0)
		fprintf(stderr, "frame_bench: %s\n", err_name(e));
}

static void run_repeat(struct run *r, unsigned t)
{
	uint64_t ops = 0, t0 = now_ns(), deadline = atomic_load(&r->deadline);

	r->begin[t] = t0;
	do {
		for (int i = 0; i < 256; i++) {
			struct frame_result f = frame_alloc(r->order, 0);

			if (f.err != E_OK) {
				fail(r, f.err);
				return;
			}
			if (frame_free(f.pfn, r->order) != E_OK)
				fail(r, E_INVAL);
		}
		ops += 512;
	} while (now_ns() < deadline);
	r->end[t] = now_ns();
	r->ops[t][REPEAT] = ops;
	r->ns[t][REPEAT] = r->end[t] - t0;
}

static void run_bulk(struct run *r, unsigned t)
{
	static _Thread_local pfn_t held[BULK_N];
	uint64_t deadline = atomic_load(&r->deadline);

	r->begin[t] = now_ns();
	do {
		uint64_t t0 = now_ns(), t1;

		for (unsigned i = 0; i < BULK_N; i++) {
			struct frame_result f = frame_alloc(r->order, 0);

			if (f.err != E_OK) {
				fail(r, f.err);
				for (; i > 0; i--)
					(void)!frame_free(held[i - 1], r->order);
				return;
			}
			held[i] = f.pfn;
		}
		t1 = now_ns();
		for (unsigned i = 0; i < BULK_N; i++)
			if (frame_free(held[i], r->order) != E_OK)
				fail(r, E_INVAL);
		r->ns[t][BULK_ALLOC] += t1 - t0;
		r->ns[t][BULK_FREE] += now_ns() - t1;
		r->ops[t][BULK_ALLOC] += BULK_N;
		r->ops[t][BULK_FREE] += BULK_N;
	} while (now_ns() < deadline);
	r->end[t] = now_ns();
	r->ops[t][BULK] = r->ops[t][BULK_ALLOC] + r->ops[t][BULK_FREE];
	r->ns[t][BULK] = r->ns[t][BULK_ALLOC] + r->ns[t][BULK_FREE];
}

struct thread_arg {
	struct run *r;
	unsigned t;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	if (host_cpu_register() < 0)
		exit(1);
	pthread_barrier_wait(&a->r->start);
	if (a->t == 0)
		atomic_store(&a->r->deadline, now_ns() + opt.ms * 1000000ull);
	pthread_barrier_wait(&a->r->start);
	if (a->r->w == REPEAT)
		run_repeat(a->r, a->t);
	else
		run_bulk(a->r, a->t);
	host_cpu_unregister();
	return NULL;
}

/*
 * One measurement: ns/op per thread for each workload, and the total
 * throughput (Mops/s over the run's wall span) for the one measured.
 */
static bool measure(struct run *r, double ns_per_op[WORKLOADS], double *mops)
{
	pthread_t tid[MAX_CPUS];
	struct thread_arg args[MAX_CPUS];
	uint64_t first = UINT64_MAX, last = 0, total = 0;

	memset(r->ops, 0, sizeof(r->ops));
	memset(r->ns, 0, sizeof(r->ns));
	atomic_store(&r->failures, 0);
	pthread_barrier_init(&r->start, NULL, r->threads);
	for (unsigned t = 0; t < r->threads; t++) {
		args[t] = (struct thread_arg){ r, t };
		pthread_create(&tid[t], NULL, thread_main, &args[t]);
	}
	for (unsigned t = 0; t < r->threads; t++)
		pthread_join(tid[t], NULL);
	pthread_barrier_destroy(&r->start);
	if (atomic_load(&r->failures) != 0)
		return false;
	for (unsigned w = 0; w < WORKLOADS; w++) {
		uint64_t ops = 0, ns = 0;

		for (unsigned t = 0; t < r->threads; t++) {
			ops += r->ops[t][w];
			ns += r->ns[t][w];
		}
		ns_per_op[w] = ops ? (double)ns / (double)ops : 0;
		if (w == r->w)
			total = ops;
	}
	for (unsigned t = 0; t < r->threads; t++) {
		first = MIN(first, r->begin[t]);
		last = MAX(last, r->end[t]);
	}
	*mops = (double)total / (double)(last - first) * 1e3;
	return true;
}

/* --------------------------------------------------------- reporting */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct result {
	const char *config;
	enum workload w;
	unsigned order, threads;
	double ns, mops, mops_min, mops_max;
};

static struct result results[512];
static unsigned nresults;

static void record(const char *config, enum workload w, unsigned order,
		   unsigned threads, double *ns, double *mops, unsigned reps)
{
	struct result *res = &results[nresults++];

	res->config = config;
	res->w = w;
	res->order = order;
	res->threads = threads;
	res->ns = median(ns, reps);
	if (mops == NULL) {
		res->mops = res->mops_min = res->mops_max = 0;
		return;
	}
	res->mops = median(mops, reps); /* sorts mops */
	res->mops_min = mops[0];
	res->mops_max = mops[reps - 1];
}

static const struct result *find(const char *config, enum workload w,
				 unsigned order, unsigned threads)
{
	for (unsigned i = 0; i < nresults; i++) {
		const struct result *r = &results[i];

		if (strcmp(r->config, config) == 0 && r->w == w &&
		    r->order == order && r->threads == threads)
			return r;
	}
	return NULL;
}

static void print_table(void)
{
	static const struct result none = { .ns = 0, .mops = 0 };

	printf("\n| workload | order | config | ns/op per thread: 1 | 2 | 8 "
	       "| Mops/s total: 1 | 2 | 8 | 2T/1T | 8T/2T |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (unsigned w = 0; w < WORKLOADS; w++)
		for (unsigned o = 0; o < ARRAY_SIZE(orders); o++)
			for (unsigned c = 0; c < ARRAY_SIZE(configs); c++) {
				const struct result *r[3];

				for (unsigned t = 0; t < 3; t++)
					r[t] = find(configs[c].name, w, orders[o],
						    thread_counts[t]);
				if (!r[0] && !r[1] && !r[2])
					continue;
				for (unsigned t = 0; t < 3; t++)
					if (r[t] == NULL)
						r[t] = &none;
				printf("| %s | %u | %s | %.1f | %.1f | %.1f | ",
				       workload_name[w], orders[o],
				       configs[c].name, r[0]->ns, r[1]->ns,
				       r[2]->ns);
				if (r[0]->mops == 0)
					printf("- | - | - | - | - |\n");
				else
					printf("%.1f | %.1f | %.1f | %.2f | %.2f |\n",
					       r[0]->mops, r[1]->mops, r[2]->mops,
					       r[1]->mops / r[0]->mops,
					       r[2]->mops / r[1]->mops);
			}
}

static void write_json(const char *path)
{
	FILE *f = fopen(path, "w");
	char host[128] = "unknown";

	if (f == NULL) {
		fprintf(stderr, "frame_bench: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	gethostname(host, sizeof(host) - 1);
	for (unsigned i = 0; i < nresults; i++) {
		const struct result *r = &results[i];

		fprintf(f, "{\"bench\": \"frame_bench\", \"workload\": \"%s\", "
			"\"config\": \"%s\", \"order\": %u, \"threads\": %u, "
			"\"ns_per_op\": %.2f, \"mops_total\": %.3f, "
			"\"mops_min\": %.3f, \"mops_max\": %.3f, "
			"\"reps\": %u, \"host_cpus\": %ld, \"host\": \"%s\", "
			"\"platform\": \"host\"}\n",
			workload_name[r->w], r->config, r->order, r->threads,
			r->ns, r->mops, r->mops_min, r->mops_max, opt.reps,
			sysconf(_SC_NPROCESSORS_ONLN), host);
	}
	fclose(f);
}

/* -------------------------------------------------------------- main */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--reps N] [--ms MS] [--arena-gib G] [--json FILE]\n"
		"  --reps N       repetitions per case, median reported "
		"(1..%d, default 7)\n"
		"  --ms MS        time per repetition (10..10000, default 100)\n"
		"  --arena-gib G  simulated RAM (1..64, default 20; bulk order 9\n"
		"                 on 8 threads needs 16)\n"
		"  --json FILE    also write one JSON object per case\n"
		"  --config C     only configuration C (full, nopcp, locked)\n"
		"  --workload W   only workload W (repeat, bulk)\n"
		"  --order N      only order N (0, 3 or 9)\n"
		"  --threads N    only N threads (1, 2 or 8)\n",
		prog, MAX_REPS);
	exit(2);
}

static unsigned parse_num(const char *s, unsigned lo, unsigned hi,
			  const char *prog)
{
	uint64_t v;

	if (!parse_u64(s, lo, hi, &v))
		usage(prog);
	return (unsigned)v;
}

static void parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reps", required_argument, NULL, 'r' },
		{ "ms", required_argument, NULL, 'm' },
		{ "arena-gib", required_argument, NULL, 'a' },
		{ "json", required_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "workload", required_argument, NULL, 'w' },
		{ "order", required_argument, NULL, 'o' },
		{ "threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': opt.reps = parse_num(optarg, 1, MAX_REPS, argv[0]); break;
		case 'm': opt.ms = parse_num(optarg, 10, 10000, argv[0]); break;
		case 'a': opt.arena_gib = parse_num(optarg, 1, 64, argv[0]); break;
		case 'j': opt.json = optarg; break;
		case 'c':
			opt.config = optarg;
			if (strcmp(optarg, "full") && strcmp(optarg, "nopcp") &&
			    strcmp(optarg, "locked"))
				usage(argv[0]);
			break;
		case 'w':
			opt.workload = !strcmp(optarg, "repeat") ? REPEAT
				     : !strcmp(optarg, "bulk")   ? BULK : -2;
			if (opt.workload < 0)
				usage(argv[0]);
			break;
		case 'o':
			opt.order = (int)parse_num(optarg, 0, 9, argv[0]);
			if (opt.order != 0 && opt.order != 3 && opt.order != 9)
				usage(argv[0]);
			break;
		case 't':
			opt.threads = (int)parse_num(optarg, 1, 8, argv[0]);
			if (opt.threads != 1 && opt.threads != 2 && opt.threads != 8)
				usage(argv[0]);
			break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
}

/* Samples of every case, by repetition. */
struct samples {
	double ns[WORKLOADS][MAX_REPS];
	double mops[MAX_REPS];
};

static bool selected(unsigned w, unsigned o, unsigned t)
{
	return (opt.workload < 0 || (int)w == opt.workload) &&
	       (opt.order < 0 || (int)orders[o] == opt.order) &&
	       (opt.threads < 0 || (int)thread_counts[t] == opt.threads);
}

/* Boot configuration c and measure every selected case once. */
static void run_config(unsigned c, uint64_t bytes, unsigned rep,
		       struct samples s[2][ARRAY_SIZE(orders)][ARRAY_SIZE(thread_counts)])
{
	static struct run r;

	if (host_cpu_register() < 0 ||
	    host_mm_boot(bytes, &configs[c].cfg) != E_OK) {
		fprintf(stderr, "frame_bench: cannot boot %s\n", configs[c].name);
		exit(1);
	}
	host_cpu_unregister();
	for (unsigned w = REPEAT; w <= BULK; w++)
		for (unsigned o = 0; o < ARRAY_SIZE(orders); o++)
			for (unsigned t = 0; t < ARRAY_SIZE(thread_counts); t++) {
				struct samples *x = &s[w][o][t];
				double n1[WORKLOADS];

				if (!selected(w, o, t))
					continue;
				fprintf(stderr, "\rrepetition %u/%u: %-6s %-6s order %u, "
					"%u threads   ", rep + 1, opt.reps,
					configs[c].name, workload_name[w], orders[o],
					thread_counts[t]);
				r.order = orders[o];
				r.threads = thread_counts[t];
				r.w = (enum workload)w;
				if (!measure(&r, n1, &x->mops[rep]))
					exit(1);
				for (unsigned k = 0; k < WORKLOADS; k++)
					x->ns[k][rep] = n1[k];
			}
	if (host_cpu_register() < 0)
		exit(1);
	host_mm_shutdown();
	host_cpu_unregister();
}

/*
 * Repetitions outermost, every configuration and case inside each: slow
 * spells of a shared machine then hit all of them alike, and the medians
 * and ratios compare like with like.
 */
static void run_all(uint64_t bytes)
{
	static struct samples s[ARRAY_SIZE(configs)][2][ARRAY_SIZE(orders)]
			       [ARRAY_SIZE(thread_counts)];

	for (unsigned rep = 0; rep < opt.reps; rep++)
		for (unsigned c = 0; c < ARRAY_SIZE(configs); c++)
			if (opt.config == NULL ||
			    !strcmp(opt.config, configs[c].name))
				run_config(c, bytes, rep, s[c]);
	for (unsigned c = 0; c < ARRAY_SIZE(configs); c++)
		for (unsigned w = REPEAT; w <= BULK; w++)
			for (unsigned o = 0; o < ARRAY_SIZE(orders); o++)
				for (unsigned t = 0; t < ARRAY_SIZE(thread_counts);
				     t++) {
					struct samples *x = &s[c][w][o][t];

					if (!selected(w, o, t) ||
					    (opt.config != NULL &&
					     strcmp(opt.config, configs[c].name)))
						continue;
					record(configs[c].name, (enum workload)w,
					       orders[o], thread_counts[t],
					       x->ns[w], x->mops, opt.reps);
					if (w != BULK)
						continue;
					record(configs[c].name, BULK_ALLOC,
					       orders[o], thread_counts[t],
					       x->ns[BULK_ALLOC], NULL, opt.reps);
					record(configs[c].name, BULK_FREE,
					       orders[o], thread_counts[t],
					       x->ns[BULK_FREE], NULL, opt.reps);
				}
}

int main(int argc, char **argv)
{
	uint64_t bytes;

	parse(argc, argv);
	bytes = opt.arena_gib << 30;
	if (host_arena_init(bytes) != E_OK) {
		fprintf(stderr, "frame_bench: cannot map %llu GiB\n",
			(unsigned long long)opt.arena_gib);
		return 1;
	}
	run_all(bytes);
	fprintf(stderr, "\n");
	printf("frame_bench: host, %ld CPUs online, %u repetitions of %u ms, "
	       "median\n", sysconf(_SC_NPROCESSORS_ONLN), opt.reps, opt.ms);
	print_table();
	if (opt.json != NULL)
		write_json(opt.json);
	return 0;
}
