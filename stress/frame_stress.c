/*
 * frame_stress: the frame allocator under contention, preemption,
 * interrupts and memory pressure.
 *
 * Every thread is a CPU. It allocates blocks of random orders (from
 * --orders), some charged to accounts, writes a signature into each, and
 * frees them: itself, or by handing them to another CPU's mailbox (cross-
 * CPU frees). With --irq, every CPU's timer interrupt allocates and frees
 * blocks too, inside whatever the CPU was doing. Now and then an account
 * dies with frames still out, sending them through the scrub queue.
 *
 * A shadow owner map (one tag per frame, swapped atomically) catches a
 * frame handed to two owners the moment it happens; signatures catch
 * writes into a block someone else owns. At the end everything is freed,
 * caches drained, the scrub queue emptied, frame_validate() run, and one
 * line printed:
 *
 *   frame_stress config=full threads=8 irq=on ops=N lost=0 coalesced=yes
 *
 * Exit status 0 if nothing went wrong, 1 otherwise, 2 for bad flags.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/host.h"
#include "host/util.h"
#include "kernel/mm/scrub.h"
#include "locks/spinlock.h"
#include "percpu/pcp.h"

#define HOLD        64  /* blocks a thread holds at most */
#define MAILBOX     256 /* blocks waiting in a CPU's mailbox at most */
#define IRQ_STASH   4   /* blocks an interrupt handler keeps per CPU */
#define ACCOUNTS    512 /* accounts over the run (each dies once) */
#define ACCOUNT_MAX 2048

struct options {
	unsigned threads, seconds, mem_mib;
	bool irq;
	unsigned orders[FRAME_MAX_ORDER + 1], norders;
	const char *config;
	struct frame_config cfg;
	uint64_t seed;
};

struct block {
	pfn_t pfn;
	unsigned order;
};

/* A CPU's incoming cross-CPU frees. */
struct mailbox {
	spinlock_t lock;
	struct block slot[MAILBOX]; /* [lock] */
	unsigned n;                 /* [lock] */
} CACHE_ALIGNED;

/* What a CPU's interrupt handler holds: touched only in its IRQs. */
struct irq_stash {
	struct block b[IRQ_STASH];
	unsigned n;
	uint64_t ops;
	bool closed; /* the CPU is finishing: a late tick must not allocate */
} CACHE_ALIGNED;

static struct options opt;
static _Atomic uint16_t *owner;      /* per frame: 0 or the owner's tag */
static struct mailbox mailboxes[MAX_CPUS];
static struct irq_stash stashes[MAX_CPUS];
static _Atomic unsigned cpu_of_thread[MAX_CPUS];
static struct account accounts[ACCOUNTS];
static _Atomic unsigned next_account;
static _Atomic bool stop;
static _Atomic uint64_t ops, nomem, remote_frees, irq_ops, deaths, violations;

/* ------------------------------------------------------------ flags */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--threads N] [--seconds S] [--irq] [--orders LIST]\n"
		"          [--config full|nopcp|locked] [--mem MIB] [--seed X]\n"
		"  --threads N     threads, each a CPU (1..%d, default 8)\n"
		"  --seconds S     run time (1..86400, default 5)\n"
		"  --irq           timer interrupts allocate and free too\n"
		"  --orders LIST   block orders, comma-separated (0..%d, "
		"default 0,3,9)\n"
		"  --config C      full: per-CPU caches + lock-free buddy;\n"
		"                  nopcp: lock-free buddy only;\n"
		"                  locked: buddy under one zone lock (default full)\n"
		"  --mem MIB       RAM to simulate (32..16384, default 256)\n"
		"  --seed X        random seed (default 1)\n",
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
	static const struct frame_config full = FRAME_CONFIG_FULL,
		nopcp = FRAME_CONFIG_NOPCP, locked = FRAME_CONFIG_LOCKED;

	if (strcmp(s, "full") == 0)
		o->cfg = full;
	else if (strcmp(s, "nopcp") == 0)
		o->cfg = nopcp;
	else if (strcmp(s, "locked") == 0)
		o->cfg = locked;
	else
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
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
}

/* --------------------------------------------------------- checking */

static void violation(const char *what, const struct block *b, unsigned tag,
		      unsigned seen)
{
	klog("frame_stress: VIOLATION: %s: block %llu order %u, owner %u, "
	     "found %u", what, (unsigned long long)b->pfn.v, b->order, tag,
	     seen);
	atomic_fetch_add(&violations, 1);
}

/* Claim every frame of b for tag; they must all be unowned. */
static void own(const struct block *b, uint16_t tag)
{
	for (uint64_t i = 0; i < (UINT64_C(1) << b->order); i++) {
		uint16_t was = atomic_exchange_explicit(&owner[b->pfn.v + i], tag,
							memory_order_relaxed);

		if (was != 0)
			violation("frame handed to two owners", b, tag, was);
	}
}

/* Pass every frame of b from tag `from` to `to` (0: give it up). */
static void disown(const struct block *b, uint16_t from, uint16_t to)
{
	for (uint64_t i = 0; i < (UINT64_C(1) << b->order); i++) {
		uint16_t was = atomic_exchange_explicit(&owner[b->pfn.v + i], to,
							memory_order_relaxed);

		if (was != from)
			violation("frame owned by someone else", b, from, was);
	}
}

static uint64_t signature(const struct block *b)
{
	return b->pfn.v * UINT64_C(0x9e3779b97f4a7c15) ^ b->order;
}

/* A signature in the first and the last word of the block. */
static void sign(const struct block *b)
{
	uint64_t *first = phys_to_virt(pfn_to_pa(b->pfn));
	uint64_t *last = (uint64_t *)((uint8_t *)first +
				      (PAGE_SIZE << b->order)) - 1;

	*first = *last = signature(b);
}

static void check_signature(const struct block *b, uint16_t tag)
{
	const uint64_t *first = phys_to_virt(pfn_to_pa(b->pfn));
	const uint64_t *last = (const uint64_t *)((const uint8_t *)first +
						  (PAGE_SIZE << b->order)) - 1;

	if (*first != signature(b) || *last != signature(b))
		violation("block overwritten while owned", b, tag, 0);
}

static void release(const struct block *b, uint16_t tag)
{
	check_signature(b, tag);
	disown(b, tag, 0);
	err_t e = frame_free(b->pfn, b->order);
	if (e != E_OK)
		violation(err_name(e), b, tag, 0);
}

/* ------------------------------------------------------- interrupts */

static uint16_t irq_tag(unsigned cpu)
{
	return (uint16_t)(0x8000 | cpu);
}

/*
 * The timer interrupt: free the oldest stashed block or take a new one, at
 * random. (Not both: a free and an allocation in one interrupt would leave
 * a per-CPU cache as it was and hide a race with the interrupted code.)
 */
static void timer_irq(unsigned vector)
{
	unsigned cpu = cpu_id();
	struct irq_stash *s = &stashes[cpu];
	uint64_t r = (s->ops + 1) * UINT64_C(6364136223846793005) + cpu;
	struct block b = { PFN(0), opt.orders[(r >> 33) % opt.norders] };
	struct frame_result f;

	(void)vector;
	if (s->closed)
		return;
	s->ops++;
	if (s->n == IRQ_STASH || (s->n > 0 && (r >> 40) % 2 == 0)) {
		release(&s->b[0], irq_tag(cpu));
		memmove(&s->b[0], &s->b[1], (s->n - 1) * sizeof(s->b[0]));
		s->n--;
		atomic_fetch_add_explicit(&irq_ops, 1, memory_order_relaxed);
		return;
	}
	f = frame_alloc(b.order, 0);
	if (f.err != E_OK)
		return;
	b.pfn = f.pfn;
	own(&b, irq_tag(cpu));
	sign(&b);
	s->b[s->n++] = b;
	atomic_fetch_add_explicit(&irq_ops, 1, memory_order_relaxed);
}

/*
 * After the timer stopped: free what this CPU's handler kept. A tick may
 * still be pending, so close the stash first (interrupts masked).
 */
static void empty_stash(void)
{
	irqflags_t f = irq_save();
	unsigned cpu = cpu_id();
	struct irq_stash *s = &stashes[cpu];

	s->closed = true;
	while (s->n > 0)
		release(&s->b[--s->n], irq_tag(cpu));
	irq_restore(f);
}

/* ---------------------------------------------------------- workers */

struct worker {
	pthread_t thread;
	unsigned index;
	uint64_t rng;
	uint16_t tag;
	struct account *acct;
	struct block held[HOLD];
	unsigned n;
	pthread_barrier_t *start;
};

static uint64_t next(struct worker *w)
{
	return rng_next(&w->rng);
}

static struct account *new_account(void)
{
	unsigned i = atomic_fetch_add(&next_account, 1);

	if (i >= ACCOUNTS)
		return NULL; /* out of accounts: allocate unaccounted */
	account_init(&accounts[i], "stress", ACCOUNT_MAX);
	return &accounts[i];
}

static void alloc_one(struct worker *w, uint64_t r)
{
	struct block b = { PFN(0), opt.orders[(r >> 8) % opt.norders] };
	struct frame_result f;

	if ((r >> 20) % 4 == 0 && w->acct != NULL)
		f = frame_alloc_for(w->acct, b.order, 0, PAGE_FRAME);
	else
		f = frame_alloc(b.order, (r >> 24) % 8 == 0 ? FRAME_ZERO : 0);
	if (f.err != E_OK) {
		if (f.err != E_NOMEM && f.err != E_QUOTA)
			violation(err_name(f.err), &b, w->tag, 0);
		atomic_fetch_add_explicit(&nomem, f.err == E_NOMEM,
					  memory_order_relaxed);
		return;
	}
	b.pfn = f.pfn;
	own(&b, w->tag);
	sign(&b);
	w->held[w->n++] = b;
}

/* Hand a block to another CPU, or free it here if its mailbox is full. */
static void give_away(struct worker *w, struct block b, uint64_t r)
{
	unsigned to = (w->index + 1 + (unsigned)(r % (opt.threads - 1))) %
		      opt.threads;
	unsigned cpu = atomic_load(&cpu_of_thread[to]);
	struct mailbox *mb = &mailboxes[cpu];
	irqflags_t f;

	check_signature(&b, w->tag);
	disown(&b, w->tag, (uint16_t)(to + 1));
	f = spin_lock_irqsave(&mb->lock);
	if (mb->n < MAILBOX) {
		mb->slot[mb->n++] = b;
		spin_unlock_irqrestore(&mb->lock, f);
		return;
	}
	spin_unlock_irqrestore(&mb->lock, f);
	disown(&b, (uint16_t)(to + 1), w->tag);
	release(&b, w->tag);
}

static void free_one(struct worker *w, uint64_t r)
{
	unsigned i = (unsigned)((r >> 16) % w->n);
	struct block b = w->held[i];

	w->held[i] = w->held[--w->n];
	if (opt.threads > 1 && (r >> 28) % 3 == 0)
		give_away(w, b, r);
	else
		release(&b, w->tag);
}

static void empty_mailbox(struct worker *w)
{
	struct mailbox *mb = &mailboxes[cpu_id()];
	struct block got[MAILBOX];
	unsigned n;
	irqflags_t f = spin_lock_irqsave(&mb->lock);

	n = mb->n;
	memcpy(got, mb->slot, n * sizeof(got[0]));
	mb->n = 0;
	spin_unlock_irqrestore(&mb->lock, f);
	for (unsigned i = 0; i < n; i++)
		release(&got[i], w->tag);
	atomic_fetch_add_explicit(&remote_frees, n, memory_order_relaxed);
}

/* The account dies with frames out; they go through the scrub queue. */
static void kill_account(struct worker *w)
{
	if (w->acct == NULL)
		return;
	account_set_dying(w->acct);
	atomic_fetch_add(&deaths, 1);
	w->acct = new_account();
}

static void work_loop(struct worker *w)
{
	uint64_t n = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t r = next(w);

		if (w->n < HOLD && (w->n == 0 || r % 8 < 5))
			alloc_one(w, r);
		else if (w->n > 0)
			free_one(w, r);
		if (r % 64 == 0)
			empty_mailbox(w);
		if (r % 4096 == 1)
			kill_account(w);
		if (r % 1024 == 2)
			(void)scrub_run(64);
		n++;
	}
	atomic_fetch_add(&ops, n);
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	int cpu = host_cpu_register();

	if (cpu < 0) {
		klog("frame_stress: cannot register a CPU");
		exit(1);
	}
	atomic_store(&cpu_of_thread[w->index], (unsigned)cpu);
	w->acct = new_account();
	if (opt.irq && host_timer_start(500 * 1000) != E_OK) {
		klog("frame_stress: cannot start a timer");
		exit(1);
	}
	pthread_barrier_wait(w->start); /* everyone has a CPU id */
	work_loop(w);
	host_timer_stop();
	empty_stash();
	while (w->n > 0)
		release(&w->held[--w->n], w->tag);
	pthread_barrier_wait(w->start); /* no more mail after this */
	empty_mailbox(w);
	host_cpu_unregister(); /* drains this CPU's page caches */
	return NULL;
}

/* ------------------------------------------------------------- main */

static bool finish(void)
{
	struct frame_stats st;
	bool ok;

	if (host_cpu_register() < 0)
		return false;
	(void)scrub_run(UINT64_MAX);
	pcp_drain_local();
	ok = frame_validate();
	frame_get_stats(&st);
	printf("frame_stress config=%s threads=%u irq=%s ops=%llu lost=%llu "
	       "coalesced=%s nomem=%llu remote_frees=%llu irq_ops=%llu "
	       "account_deaths=%llu violations=%llu\n",
	       opt.config, opt.threads, opt.irq ? "on" : "off",
	       (unsigned long long)atomic_load(&ops),
	       (unsigned long long)(st.managed - st.free),
	       ok ? "yes" : "no", (unsigned long long)atomic_load(&nomem),
	       (unsigned long long)atomic_load(&remote_frees),
	       (unsigned long long)atomic_load(&irq_ops),
	       (unsigned long long)atomic_load(&deaths),
	       (unsigned long long)atomic_load(&violations));
	host_cpu_unregister();
	return ok && st.managed == st.free && atomic_load(&violations) == 0;
}

int main(int argc, char **argv)
{
	static struct worker w[MAX_CPUS];
	uint64_t bytes;
	pthread_barrier_t start;

	parse(argc, argv);
	bytes = (uint64_t)opt.mem_mib << 20;
	if (host_arena_init(bytes) != E_OK || host_cpu_register() < 0)
		return 1;
	if (host_mm_boot(bytes, &opt.cfg) != E_OK) {
		klog("frame_stress: cannot boot the memory system");
		return 1;
	}
	owner = calloc(bytes / PAGE_SIZE, sizeof(*owner));
	for (unsigned i = 0; i < MAX_CPUS; i++)
		spin_lock_init(&mailboxes[i].lock, "stress.mailbox");
	if (host_irq_set_handler(HOST_IRQ_TIMER, opt.irq ? timer_irq : NULL) !=
	    E_OK)
		return 1;
	host_cpu_unregister(); /* main only watches the clock */

	pthread_barrier_init(&start, NULL, opt.threads + 1);
	for (unsigned t = 0; t < opt.threads; t++) {
		w[t] = (struct worker){ .index = t, .tag = (uint16_t)(t + 1),
					.rng = opt.seed * 7919 + t + 1,
					.start = &start };
		if (pthread_create(&w[t].thread, NULL, worker_main, &w[t]) != 0)
			return 1;
	}
	pthread_barrier_wait(&start);
	sleep(opt.seconds);
	atomic_store(&stop, true);
	pthread_barrier_wait(&start);
	for (unsigned t = 0; t < opt.threads; t++)
		pthread_join(w[t].thread, NULL);
	return finish() ? 0 : 1;
}
