/* SPDX-License-Identifier: MIT */
/*
 * frame_stress: the frame allocator under contention, preemption,
 * interrupts and memory pressure, on the host.
 *
 * The workload is stress/frame_torture (the kernel's self-test runs the
 * same one on every vCPU): threads are CPUs, each thread's POSIX timer
 * signal is its timer interrupt. This file parses flags, boots the
 * allocator in a simulated RAM, starts the threads and prints one line:
 *
 *   frame_stress config=full threads=8 irq=on ops=N lost=0 coalesced=yes
 *
 * Exit status 0 if nothing went wrong, 1 otherwise (with --irq, also when
 * no interrupt handler allocated anything), 2 for bad flags.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/host.h"
#include "host/util.h"
#include "stress/frame_torture.h"

struct options {
	unsigned threads, seconds, mem_mib, hold;
	bool no_oom;
	bool irq;
	unsigned orders[FRAME_MAX_ORDER + 1], norders;
	const char *config;
	struct frame_config cfg;
	uint64_t seed;
};

static struct options opt;

/* ------------------------------------------------------------ flags */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--threads N] [--seconds S] [--irq] [--orders LIST]\n"
		"          [--config full|nopcp|locked] [--mem MIB] [--seed X]\n"
		"          [--hold N] [--no-oom]\n"
		"  --threads N     threads, each a CPU (1..%d, default 8)\n"
		"  --seconds S     run time (1..86400, default 5)\n"
		"  --irq           timer interrupts allocate and free too\n"
		"  --orders LIST   block orders, comma-separated (0..%d, "
		"default 0,3,9)\n"
		"  --config C      full: per-CPU caches + lock-free buddy;\n"
		"                  nopcp: lock-free buddy only;\n"
		"                  locked: buddy under one zone lock (default full)\n"
		"  --mem MIB       RAM to simulate (32..16384, default 256)\n"
		"  --seed X        random seed (default 1)\n"
		"  --hold N        blocks a thread holds at most (1..64, default 64)\n"
		"  --no-oom        any out-of-memory is a failure (the run must be\n"
		"                  sized so memory cannot run out: refused if not)\n",
		prog, MAX_CPUS, FRAME_MAX_ORDER);
	exit(2);
}

static bool parse_orders(const char *s, struct options *o)
{
	char buf[128], *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	o->norders = 0;
	for (char *t = strtok_r(buf, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (o->norders == ARRAY_SIZE(o->orders) ||
		    !parse_u64(t, 0, FRAME_MAX_ORDER, &v))
			return false;
		o->orders[o->norders++] = (unsigned)v;
	}
	return o->norders > 0;
}

static bool parse_config(const char *s, struct options *o)
{
	if (frame_config_named(s, strlen(s), &o->cfg) != E_OK)
		return false;
	o->config = s;
	return true;
}

static void parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "irq", no_argument, NULL, 'i' },
		{ "orders", required_argument, NULL, 'o' },
		{ "config", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 'r' },
		{ "hold", required_argument, NULL, 'H' },
		{ "no-oom", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	opt = (struct options){ .threads = 8, .seconds = 5, .mem_mib = 256,
				.seed = 1 };
	if (!parse_orders("0,3,9", &opt) || !parse_config("full", &opt))
		usage(argv[0]);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!parse_u64(optarg, 1, MAX_CPUS - 1, &v))
				usage(argv[0]);
			opt.threads = (unsigned)v;
			break;
		case 's':
			if (!parse_u64(optarg, 1, 86400, &v))
				usage(argv[0]);
			opt.seconds = (unsigned)v;
			break;
		case 'i':
			opt.irq = true;
			break;
		case 'o':
			if (!parse_orders(optarg, &opt))
				usage(argv[0]);
			break;
		case 'c':
			if (!parse_config(optarg, &opt))
				usage(argv[0]);
			break;
		case 'm':
			if (!parse_u64(optarg, 32, 16384, &v))
				usage(argv[0]);
			opt.mem_mib = (unsigned)v;
			break;
		case 'r':
			if (!parse_u64(optarg, 0, UINT64_MAX, &v))
				usage(argv[0]);
			opt.seed = v;
			break;
		case 'H':
			if (!parse_u64(optarg, 1, 64, &v))
				usage(argv[0]);
			opt.hold = (unsigned)v;
			break;
		case 'N':
			opt.no_oom = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
}

/* ------------------------------------------------------------- run */


static void timer_irq(unsigned vector)
{
	(void)vector;
	torture_irq();
}

static void *worker_main(void *p)
{
	unsigned index = (unsigned)(uintptr_t)p;

	if (host_cpu_register() < 0) {
		klog("frame_stress: cannot register a CPU");
		exit(1);
	}
	if (opt.irq && host_timer_start(500 * 1000) != E_OK) {
		klog("frame_stress: cannot start a timer");
		exit(1);
	}
	torture_cpu(index);
	host_timer_stop();
	host_cpu_unregister(); /* drains this CPU's page caches */
	return NULL;
}

static bool finish(void)
{
	struct torture_result r;
	char line[256];
	bool ok;

	if (host_cpu_register() < 0)
		return false;
	ok = torture_finish(&r);
	torture_format(&r, line, sizeof(line));
	printf("frame_stress config=%s threads=%u irq=%s %s\n", opt.config,
	       opt.threads, opt.irq ? "on" : "off", line);
	/*
	 * A run with --irq in which no handler allocated tested nothing of
	 * ALO-01. (A handler's first operation on a CPU is an allocation, as
	 * its stash starts empty, so irq_ops > 0 means one happened.)
	 */
	if (opt.irq && r.irq_ops == 0) {
		klog("frame_stress: --irq but no interrupt allocated");
		ok = false;
	}
	host_cpu_unregister();
	return ok;
}

int main(int argc, char **argv)
{
	static pthread_t thread[MAX_CPUS];
	struct torture_opts t;
	uint64_t bytes;

	parse(argc, argv);
	bytes = (uint64_t)opt.mem_mib << 20;
	if (host_arena_init(bytes) != E_OK || host_cpu_register() < 0)
		return 1;
	if (host_mm_boot(bytes, &opt.cfg) != E_OK) {
		klog("frame_stress: cannot boot the memory system");
		return 1;
	}
	t = (struct torture_opts){
		.cpus = opt.threads, .norders = opt.norders, .irq = opt.irq,
		.hold = opt.hold, .nomem_is_fault = opt.no_oom,
		.seed = opt.seed,
		.run_ns = (uint64_t)opt.seconds * 1000000000u,
		.clock_ns = monotonic_ns,
		.owner = calloc(bytes / PAGE_SIZE, sizeof(*t.owner)),
		.owner_frames = bytes / PAGE_SIZE,
	};
	memcpy(t.orders, opt.orders, sizeof(t.orders));
	if (torture_init(&t) != E_OK) {
		klog("frame_stress: bad options%s", opt.no_oom ?
		     " (--no-oom: this run could exhaust memory)" : "");
		return 2;
	}
	if (
	    host_irq_set_handler(HOST_IRQ_TIMER, opt.irq ? timer_irq : NULL) !=
		    E_OK)
		return 1;
	host_cpu_unregister(); /* main only waits */

	for (unsigned i = 0; i < opt.threads; i++)
		if (pthread_create(&thread[i], NULL, worker_main,
				   (void *)(uintptr_t)i) != 0)
			return 1;
	for (unsigned i = 0; i < opt.threads; i++)
		pthread_join(thread[i], NULL);
	return finish() ? 0 : 1;
}
