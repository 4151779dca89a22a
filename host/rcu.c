/* SPDX-License-Identifier: MIT */
/*
 * The host's RCU (the platform contract's RCU section): liburcu's QSBR
 * flavour for grace periods, and callbacks of our own on top of it.
 *
 * Sections. Every host CPU is registered with liburcu (host_cpu_register())
 * and kept offline to it, an extended quiescent state, except inside a
 * section: the outermost rcu_read_enter() puts it online, the outermost
 * rcu_read_exit() offline again. So a grace period waits only for the
 * sections running, never for a test thread that blocks in pthread_join()
 * or a barrier (a QSBR reader that stays online without reporting would
 * stall every grace period). The depth is changed with interrupts masked:
 * a handler's section inside ours sees the depth ours left, and neither
 * takes the other's online/offline step.
 *
 * Callbacks. rcu_call() pushes its work on `queued` (a lock-free stack:
 * pushes by compare-and-swap, any context, signal handlers included) and
 * wakes the grace-period thread with sem_post() (async-signal-safe) if it
 * may be asleep. That
 * thread, which is not a CPU, takes the whole stack, waits for a grace
 * period (urcu_qsbr_synchronize_rcu(), which needs no registration), and
 * pushes the works on `ready`. Every work on `ready` was queued before a
 * grace period began and is safe to run; CPUs run them in rcu_call() and
 * rcu_drain() (the contract: on some CPU, in any context), never the
 * thread itself (callbacks free frames, which takes a CPU). Popping is by
 * exchanging the whole stack with NULL, so no ABA.
 *
 * ThreadSanitizer does not see liburcu's synchronisation: the outermost
 * exit releases `tsan_gp` and whoever has waited for a grace period
 * acquires it, which is the order the grace period guarantees.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <urcu-qsbr.h>

#include "host/host.h"
#include "host/internal.h"
#include "locks/lockcheck.h"

static _Thread_local unsigned depth; /* this CPU's sections */

static _Atomic(struct rcu_work *) queued; /* waiting for a grace period */
static _Atomic(struct rcu_work *) ready;  /* ready to run */
static _Atomic uint64_t n_queued, n_run;  /* rcu_call()s, fn()s run */
static sem_t wake;                        /* wakes the thread ... */
static _Atomic bool gp_asleep;            /* ... if it may be asleep */
static pthread_once_t gp_once = PTHREAD_ONCE_INIT;
static char tsan_gp;                      /* hb_release/acquire token */

static void start_gp_thread(void);

void host_rcu_register(void)
{
	pthread_once(&gp_once, start_gp_thread);
	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
}

void host_rcu_unregister(void)
{
	ASSERT(depth == 0);
	urcu_qsbr_unregister_thread();
}

void rcu_read_enter(void)
{
	irqflags_t f = irq_save();

	(void)cpu_id(); /* CPUs only: the thread is registered */
	if (depth++ == 0)
		urcu_qsbr_thread_online();
	irq_restore(f);
}

void rcu_read_exit(void)
{
	irqflags_t f = irq_save();

	ASSERT(depth > 0);
	if (--depth == 0) {
		hb_release(&tsan_gp);
		urcu_qsbr_thread_offline();
	}
	irq_restore(f);
}

bool rcu_reading(void)
{
	return depth > 0;
}

static void check_may_wait(const char *what)
{
	if (depth > 0)
		panic("%s inside an RCU read-side section", what);
	if (CONFIG_LOCK_DEBUG && irqs_enabled() && !in_irq())
		lockcheck_assert_none_held(what, HERE);
	ASSERT(irqs_enabled() && !in_irq());
}

void rcu_synchronize(void)
{
	check_may_wait("rcu_synchronize()");
	urcu_qsbr_synchronize_rcu();
	hb_acquire(&tsan_gp);
}

/* Push the list first..last on *top. */
static void push_list(_Atomic(struct rcu_work *) *top, struct rcu_work *first,
		      struct rcu_work *last)
{
	struct rcu_work *old = atomic_load_explicit(top, memory_order_relaxed);

	do
		last->next = old;
	while (!atomic_compare_exchange_weak_explicit(
		top, &old, first, memory_order_release, memory_order_relaxed));
}

static struct rcu_work *take_all(_Atomic(struct rcu_work *) *top)
{
	return atomic_exchange_explicit(top, NULL, memory_order_acquire);
}

/* The grace-period thread: queued -> (a grace period) -> ready. */
static void *gp_thread(void *arg)
{
	(void)arg;
	for (;;) {
		struct rcu_work *first, *last;

		/* Say we may sleep, then look: a push after the look finds
		 * the flag and posts (both seq_cst: one sees the other). */
		atomic_store(&gp_asleep, true);
		if (atomic_load(&queued) == NULL)
			while (sem_wait(&wake) != 0)
				; /* EINTR */
		atomic_store(&gp_asleep, false);
		first = take_all(&queued);
		if (first == NULL)
			continue; /* an earlier round took this post's work */
		urcu_qsbr_synchronize_rcu();
		hb_acquire(&tsan_gp);
		for (last = first; last->next != NULL; last = last->next)
			;
		push_list(&ready, first, last);
	}
	return NULL;
}

static void start_gp_thread(void)
{
	pthread_t t;
	sigset_t all, old;

	if (sem_init(&wake, 0, 0) != 0) {
		perror("host rcu: sem_init");
		abort();
	}
	/* Signals are CPUs' interrupts; this thread is no CPU. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, NULL, gp_thread, NULL) != 0) {
		perror("host rcu: pthread_create");
		abort();
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_detach(t);
}

/* Run the works whose grace period has ended (a CPU, any context). */
static void run_ready(void)
{
	struct rcu_work *w = take_all(&ready);
	uint64_t n = 0;

	while (w != NULL) {
		struct rcu_work *next = w->next;

		w->fn(w);
		w = next;
		n++;
	}
	if (n > 0)
		atomic_fetch_add_explicit(&n_run, n, memory_order_release);
}

void rcu_call(struct rcu_work *w, void (*fn)(struct rcu_work *w))
{
	(void)cpu_id(); /* a CPU: host_rcu_register() started the thread */
	w->fn = fn;
	atomic_fetch_add_explicit(&n_queued, 1, memory_order_relaxed);
	push_list(&queued, w, w);
	atomic_thread_fence(memory_order_seq_cst); /* the push, then the flag */
	if (atomic_exchange(&gp_asleep, false))
		sem_post(&wake); /* one syscall per sleep, not per call */
	run_ready();
}

/*
 * Every callback queued so far has run once n_run, read first, reaches
 * n_queued, read after: completions never outnumber queued works, so
 * n_run >= a later n_queued means nothing queued by the time n_run was
 * read is left. (Comparing with a snapshot of n_queued taken at the
 * start is wrong: a later callback that finishes first makes up for an
 * earlier one still running.) Under a steady stream of rcu_call()s on
 * other CPUs this waits for a lull.
 */
void rcu_drain(void)
{
	check_may_wait("rcu_drain()");
	for (;;) {
		uint64_t run = atomic_load_explicit(&n_run, memory_order_acquire);

		if (run >= atomic_load_explicit(&n_queued, memory_order_acquire))
			return;
		run_ready();
		cpu_relax();
	}
}
