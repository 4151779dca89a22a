/* SPDX-License-Identifier: MIT */
/*
 * lock_stress: spinlocks under contention, preemption and interrupts.
 *
 * Threads (registered as CPUs) move money between accounts, each guarded by
 * its own lock, always locking the lower-numbered account first; some
 * transfers use trylock for the second lock and back off. With --irq every
 * thread's timer interrupt also takes a lock shared with the threads (who
 * take it with spin_lock_irqsave). At the end:
 *   - the money adds up (no lost update: mutual exclusion held),
 *   - no critical section ever saw a second CPU inside (checked live),
 *   - the IRQ-side count equals the IRQs that ran,
 *   - the lock checker (on in this build) reported nothing.
 * Prints one line and exits 0, or 1 on any violation:
 *   lock_stress impl=ticket threads=8 irq=on ops=N irq_ops=M violations=0
 */
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
#include "locks/spinlock.h"

#define NACCOUNTS 8
#define INITIAL   1000000

struct bank_account {
	spinlock_t lock;
	int64_t balance;         /* [lock] */
	_Atomic unsigned inside; /* [a] CPUs inside the critical section */
} CACHE_ALIGNED;

static struct bank_account accounts[NACCOUNTS];
static spinlock_t irq_lock = SPINLOCK_INIT("stress.irq");
static uint64_t irq_side GUARDED_BY(irq_lock);   /* bumped by IRQs */
static uint64_t thread_side GUARDED_BY(irq_lock); /* bumped by threads */
static _Atomic uint64_t irq_runs, ops, violations;
static _Atomic bool stop;

struct options {
	unsigned threads;
	unsigned seconds;
	bool irq;
	unsigned irq_us;
	uint64_t seed;
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--threads N] [--seconds S] [--irq] [--irq-us U] [--seed X]\n"
		"  --threads N   threads, each registered as a CPU (1..%d, default 8)\n"
		"  --seconds S   how long to run (1..86400, default 5)\n"
		"  --irq         per-thread timer interrupts also take a shared lock\n"
		"  --irq-us U    timer period in microseconds (10..1000000, default 500)\n"
		"  --seed X      random seed (default 1)\n",
		prog, MAX_CPUS);
	exit(2);
}

static struct options parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "irq", no_argument, NULL, 'i' },
		{ "irq-us", required_argument, NULL, 'u' },
		{ "seed", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { 8, 5, false, 500, 1 };
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!parse_u64(optarg, 1, MAX_CPUS, &v))
				usage(argv[0]);
			o.threads = (unsigned)v;
			break;
		case 's':
			if (!parse_u64(optarg, 1, 86400, &v))
				usage(argv[0]);
			o.seconds = (unsigned)v;
			break;
		case 'i':
			o.irq = true;
			break;
		case 'u':
			if (!parse_u64(optarg, 10, 1000000, &v))
				usage(argv[0]);
			o.irq_us = (unsigned)v;
			break;
		case 'r':
			if (!parse_u64(optarg, 0, UINT64_MAX, &v))
				usage(argv[0]);
			o.seed = v;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
	return o;
}

static void enter(struct bank_account *a)
{
	if (atomic_fetch_add_explicit(&a->inside, 1, memory_order_relaxed) != 0)
		atomic_fetch_add(&violations, 1);
}

static void leave(struct bank_account *a)
{
	atomic_fetch_sub_explicit(&a->inside, 1, memory_order_relaxed);
}

/* Move amount from account i to j (i < j), locking in index order. */
static void transfer(unsigned i, unsigned j, int64_t amount, bool try_second)
	NO_THREAD_SAFETY_ANALYSIS /* locks chosen at run time */
{
	struct bank_account *a = &accounts[i], *b = &accounts[j];

	spin_lock(&a->lock);
	enter(a);
	if (try_second) {
		if (!spin_trylock(&b->lock)) {
			leave(a);
			spin_unlock(&a->lock);
			return;
		}
	} else {
		spin_lock(&b->lock);
	}
	enter(b);
	a->balance -= amount;
	b->balance += amount;
	leave(b);
	spin_unlock(&b->lock);
	leave(a);
	spin_unlock(&a->lock);
}

static void timer_irq(unsigned vector)
{
	(void)vector;
	spin_lock(&irq_lock); /* interrupts are masked in a handler */
	irq_side++;
	spin_unlock(&irq_lock);
	atomic_fetch_add_explicit(&irq_runs, 1, memory_order_relaxed);
}

struct worker {
	pthread_t thread;
	uint64_t seed;
	bool irq;
	unsigned irq_us;
	pthread_barrier_t *start;
};

static void *work(void *p)
{
	struct worker *w = p;
	uint64_t rng = w->seed, n = 0;

	if (host_cpu_register() < 0) {
		fprintf(stderr, "lock_stress: cannot register a CPU\n");
		exit(1);
	}
	if (w->irq && host_timer_start(w->irq_us * UINT64_C(1000)) != E_OK) {
		fprintf(stderr, "lock_stress: cannot start a timer\n");
		exit(1);
	}
	pthread_barrier_wait(w->start);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t r = rng_next(&rng);
		unsigned i = (unsigned)(r % NACCOUNTS);
		unsigned j = (unsigned)((r >> 8) % (NACCOUNTS - 1));

		j += j >= i;
		transfer(MIN(i, j), MAX(i, j), (int64_t)(r >> 32) % 100 - 50,
			 (r >> 20) % 4 == 0);
		if ((r >> 24) % 8 == 0) {
			irqflags_t f = spin_lock_irqsave(&irq_lock);
			thread_side++;
			spin_unlock_irqrestore(&irq_lock, f);
		}
		n++;
	}
	host_timer_stop();
	atomic_fetch_add(&ops, n);
	host_cpu_unregister();
	return NULL;
}

int main(int argc, char **argv) NO_THREAD_SAFETY_ANALYSIS
{
	struct options o = parse(argc, argv);
	struct worker w[MAX_CPUS];
	pthread_barrier_t start;
	int64_t total = 0;

	/* One class per account, so the checker verifies the lock order. */
	static const char *const names[NACCOUNTS] = {
		"stress.account0", "stress.account1", "stress.account2",
		"stress.account3", "stress.account4", "stress.account5",
		"stress.account6", "stress.account7",
	};

	for (unsigned i = 0; i < NACCOUNTS; i++) {
		spin_lock_init(&accounts[i].lock, names[i]);
		accounts[i].balance = INITIAL;
	}
	if (host_irq_set_handler(HOST_IRQ_TIMER, o.irq ? timer_irq : NULL) != E_OK)
		return 1;
	pthread_barrier_init(&start, NULL, o.threads + 1);
	for (unsigned t = 0; t < o.threads; t++) {
		w[t] = (struct worker){ .seed = o.seed * 7919 + t + 1,
					.irq = o.irq, .irq_us = o.irq_us,
					.start = &start };
		if (pthread_create(&w[t].thread, NULL, work, &w[t]) != 0) {
			fprintf(stderr, "lock_stress: pthread_create failed\n");
			return 1;
		}
	}
	pthread_barrier_wait(&start);
	sleep(o.seconds);
	atomic_store(&stop, true);
	for (unsigned t = 0; t < o.threads; t++)
		pthread_join(w[t].thread, NULL);

	for (unsigned i = 0; i < NACCOUNTS; i++)
		total += accounts[i].balance;
	if (total != (int64_t)NACCOUNTS * INITIAL) {
		fprintf(stderr, "lock_stress: money %lld, expected %lld\n",
			(long long)total, (long long)NACCOUNTS * INITIAL);
		atomic_fetch_add(&violations, 1);
	}
	if (irq_side != atomic_load(&irq_runs)) {
		fprintf(stderr, "lock_stress: irq side %llu, irqs %llu\n",
			(unsigned long long)irq_side,
			(unsigned long long)atomic_load(&irq_runs));
		atomic_fetch_add(&violations, 1);
	}
	if (o.irq && irq_side == 0) {
		fprintf(stderr, "lock_stress: --irq but no interrupt ran\n");
		atomic_fetch_add(&violations, 1);
	}
	printf("lock_stress impl=%s threads=%u irq=%s ops=%llu irq_ops=%llu "
	       "violations=%llu\n",
	       CONFIG_SPINLOCK_MCS ? "mcs" : "ticket", o.threads,
	       o.irq ? "on" : "off", (unsigned long long)atomic_load(&ops),
	       (unsigned long long)irq_side,
	       (unsigned long long)atomic_load(&violations));
	return atomic_load(&violations) == 0 ? 0 : 1;
}
