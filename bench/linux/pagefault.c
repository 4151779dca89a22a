// SPDX-License-Identifier: MIT
/*
 * pt/fault on Linux, from user space (will-it-scale's page_fault1): each
 * thread maps a fresh 4 MiB anonymous region, touches every page of it
 * (a first write: a demand fault that maps a zeroed page) and unmaps it,
 * again. All threads are one process, so the address space is active on
 * every CPU of the run and each munmap() shoots down the others' TLBs: as
 * our kernel's pt/fault (bench/cases/pt_fault.c) faults and unmaps in one
 * space active on every CPU.
 *
 * An operation is one page's fault, each timed alone in timed
 * iterations; the mmap() and madvise() before the first touch are in
 * the first page's time and the munmap() in the last page's (our case
 * counts its unmap in the last page's time and adds its region once,
 * before the loop: one mmap per 1024 faults is within the noise).
 * MADV_NOHUGEPAGE: Debian's kernel has transparent huge pages "always",
 * which would fault the region in 2 MiB pages; ours maps 4 KiB pages.
 *
 * A static program in the benchmark initramfs (bench/linux/init runs it
 * for bench=linux_user), measured and reported by the same code as our
 * kernel's harness and the module (bench/run.c): threads pinned one to
 * each CPU play the CPUs.
 *
 *   pagefault config=linux_user [ms=N] [reps=N] [lat_every=N] [filter=S]
 *             [qemu_exit=1]
 *
 * qemu_exit=1 leaves QEMU through its isa-debug-exit device at the end
 * (ioperm(): root only), with our kernel's codes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "bench/run.h"

#define PAGE 4096u
#define FAULT_PAGES 1024u /* 4 MiB, as pt/fault's */
#define MAX_THREADS 64

#define QEMU_EXIT_PORT 0xf4
#define QEMU_EXIT_SUCCESS 0x10
#define QEMU_EXIT_FAILURE 0x11

static inline uint64_t cycles(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* ------------------------------------------------------------ the case */

/* Map, touch every page of, and unmap a region of n pages: n faults. */
static bool fault_region(struct bench_state *st, unsigned n, uint64_t *t)
{
	size_t len = (size_t)n * PAGE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		bench_error(st, "mmap failed");
		return false;
	}
	if (madvise(p, len, MADV_NOHUGEPAGE) != 0) {
		bench_error(st, "madvise(MADV_NOHUGEPAGE) failed");
		(void)munmap(p, len);
		return false;
	}
	for (unsigned i = 0; i < n; i++) {
		*(volatile char *)(p + (size_t)i * PAGE) = 1;
		if (i + 1 < n && bench_timing(st))
			bench_lap(st, t, cycles());
	}
	if (munmap(p, len) != 0) {
		bench_error(st, "munmap failed");
		return false;
	}
	if (bench_timing(st))
		bench_lap(st, t, cycles());
	return true;
}

static void pt_fault(struct bench_state *st)
{
	unsigned n = (unsigned)bench_arg(st, 0);

	while (bench_keep_running(st)) {
		uint64_t t = cycles();

		if (!fault_region(st, n, &t))
			return;
		bench_items(st, n);
	}
}

static const int64_t fault_pages[] = { FAULT_PAGES };

static const struct bench_case pt_fault_case = {
	.name = "pt/fault",
	.run = pt_fault,
	.configs = (const char *const[]){ "linux_user", NULL },
	.arg_name = "pages",
	.args = fault_pages,
	.nargs = 1,
};

static const struct bench_case *const cases[] = { &pt_fault_case };

/* ------------------------------------------------------------ platform */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static void emit(const char *line, size_t len)
{
	/* One write() per line: whole lines on the console. */
	char buf[sizeof(((struct bench_line *)0)->buf) + 1];

	memcpy(buf, line, len);
	buf[len] = '\n';
	(void)!write(STDOUT_FILENO, buf, len + 1);
}

struct thread_arg {
	struct bench_run *run;
	unsigned cpu;
};

static void *cpu_thread(void *p)
{
	struct thread_arg *a = p;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(a->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		/* Unpinned, two threads could share a CPU: not the case. */
		fprintf(stderr, "pagefault: cannot pin a thread to CPU %u\n", a->cpu);
		exit(1);
	}
	bench_cpu_run(a->run, a->cpu);
	return NULL;
}

static void run_all(struct bench_run *run)
{
	pthread_t t[MAX_THREADS];
	struct thread_arg a[MAX_THREADS];

	for (unsigned i = 0; i < run->threads; i++) {
		a[i] = (struct thread_arg){ run, i };
		if (pthread_create(&t[i], NULL, cpu_thread, &a[i]) != 0) {
			/* The others would wait at the start barrier for ever. */
			fprintf(stderr, "pagefault: pthread_create failed\n");
			exit(1);
		}
	}
	for (unsigned i = 0; i < run->threads; i++)
		pthread_join(t[i], NULL);
}

/* The TSC's rate against CLOCK_MONOTONIC over 100 ms. */
static uint64_t tsc_hz(void)
{
	uint64_t t0 = now_ns(), c0 = cycles(), t1, c1;

	do
		t1 = now_ns();
	while (t1 - t0 < 100000000u);
	c1 = cycles();
	return (uint64_t)((double)(c1 - c0) * 1e9 / (double)(t1 - t0));
}

/* CPUID 0x40000000's signature, as our kernel reports it. */
static void hypervisor_signature(char sig[13])
{
	unsigned regs[4];

	__asm__ volatile("cpuid" : "=a"(regs[0]), "=b"(regs[1]), "=c"(regs[2]),
			 "=d"(regs[3]) : "a"(0x40000000u), "c"(0));
	memcpy(sig, &regs[1], 12);
	sig[12] = '\0';
	for (unsigned i = 0; i < 12; i++)
		if (sig[i] < 0x20 || sig[i] > 0x7e)
			sig[i] = '?';
}

/* /proc/cpuinfo's first "model name". */
static void cpu_model(char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, size, "unknown");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
			snprintf(buf, size, "%s", colon + 2);
			buf[strcspn(buf, "\n")] = '\0';
			break;
		}
	}
	if (f != NULL)
		fclose(f);
}

/* ------------------------------------------------------------ main */

struct args {
	const char *config, *filter;
	unsigned long ms, reps, lat_every;
	bool qemu_exit;
};

static bool number(const char *v, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *v == '\0' || *end != '\0' || n < lo || n > hi)
		return false;
	*out = n;
	return true;
}

/* key=value words; false (having said why) on anything else. */
static bool parse(int argc, char **argv, struct args *a)
{
	*a = (struct args){ .config = "", .filter = "", .ms = 100, .reps = 3,
			    .lat_every = BENCH_LAT_EVERY };
	for (int i = 1; i < argc; i++) {
		char *w = argv[i], *v = strchr(w, '=');
		unsigned long flag;
		bool ok;

		if (v == NULL) {
			fprintf(stderr, "pagefault: want key=value, not '%s'\n", w);
			return false;
		}
		*v++ = '\0';
		if (strcmp(w, "config") == 0)
			ok = (a->config = v, true);
		else if (strcmp(w, "filter") == 0)
			ok = (a->filter = v, true);
		else if (strcmp(w, "ms") == 0)
			ok = number(v, 1, 60000, &a->ms);
		else if (strcmp(w, "reps") == 0)
			ok = number(v, 1, BENCH_REPS_MAX, &a->reps);
		else if (strcmp(w, "lat_every") == 0)
			ok = number(v, 1, 1u << 20, &a->lat_every) &&
			     (a->lat_every & (a->lat_every - 1)) == 0;
		else if (strcmp(w, "qemu_exit") == 0)
			ok = number(v, 0, 1, &flag) && (a->qemu_exit = flag, true);
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "pagefault: bad %s=%s\n", w, v);
			return false;
		}
	}
	if (strcmp(a->config, "linux_user") != 0) {
		fprintf(stderr, "pagefault: config= must be linux_user\n");
		return false;
	}
	return true;
}

/* Every benchmark; whether all passed. */
static bool run_benchmarks(const struct args *a, unsigned cpus)
{
	static struct bench_platform platform = {
		.now_ns = now_ns, .spin = spin, .run_all = run_all, .emit = emit,
	};
	static struct bench_part parts[MAX_THREADS];
	static struct bench_run run;
	static struct bench_line l;
	struct bench_opts o = { .min_ns = a->ms * 1000000, .reps = (unsigned)a->reps,
				.lat_every = a->lat_every };
	const struct bench_case *const *end = cases + sizeof(cases) / sizeof(cases[0]);
	size_t flen = strlen(a->filter);
	unsigned total = bench_benchmark_at(cases, end, a->config, false, a->filter,
					    flen, 0, NULL), passed = 0;
	char model[128], sig[13];

	platform.tsc_hz = tsc_hz();
	cpu_model(model, sizeof(model));
	hypervisor_signature(sig);
	bench_put_context(&l, a->config, cpus, model, sig, &o, platform.tsc_hz, total);
	bench_put(&l, ",\"impl\":\"linux\"}");
	bench_emit(&platform, &l);
	run = (struct bench_run){ .p = &platform, .threads = cpus, .parts = parts };
	for (unsigned i = 0; i < total; i++) {
		struct bench_benchmark b;

		bench_benchmark_at(cases, end, a->config, false, a->filter, flen, i, &b);
		passed += bench_measure(&run, &o, &b, i + 1, total);
	}
	bench_put(&l, "bench: %u passed, %u failed", passed, total - passed);
	bench_emit(&platform, &l);
	return total > 0 && passed == total;
}

int main(int argc, char **argv)
{
	struct args a;
	int cpus = get_nprocs();
	bool ok;

	if (!parse(argc, argv, &a))
		return 2;
	if (cpus < 1 || cpus > MAX_THREADS) {
		fprintf(stderr, "pagefault: %d CPUs: want 1..%d\n", cpus, MAX_THREADS);
		return 1;
	}
	ok = run_benchmarks(&a, (unsigned)cpus);
	if (a.qemu_exit) {
		if (ioperm(QEMU_EXIT_PORT, 1, 1) != 0) {
			perror("pagefault: ioperm");
			return 1;
		}
		outb(ok ? QEMU_EXIT_SUCCESS : QEMU_EXIT_FAILURE, QEMU_EXIT_PORT);
	}
	return ok ? 0 : 1;
}
