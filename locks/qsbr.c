/* SPDX-License-Identifier: MIT */
/*
 * The kernel's RCU: quiescent-state based (the platform contract's RCU
 * section is the interface; the host's is liburcu, host/rcu.c).
 *
 * State. gp_ctr counts grace periods begun (from 1). Each CPU has
 *   nesting  its read-side depth: changed only by the CPU itself, and an
 *            interrupt handler's sections leave it as they found it, so a
 *            handler reads the depth of the code it interrupted (as
 *            Linux's preempt count);
 *   seen     the value of gp_ctr it read at its last quiescent state: a
 *            point where nesting was 0 (a timer tick or an IPI that
 *            interrupted no section, or rcu_synchronize() itself);
 *   next, batch   its callbacks: queued, and waiting for grace period
 *            batch_gp (touched only by the CPU, interrupts masked).
 *
 * Correctness. Grace period g begins with the fetch-and-add that makes
 * gp_ctr g; it has ended once every online CPU's seen is at least g.
 *   - A section that was running at the add, on CPU c, keeps c from
 *     reporting (nesting > 0) until it ends, and c's next report reads
 *     gp_ctr >= g only after that: seen[c] >= g implies the section is
 *     over. The report is a release store and gp_done() loads it with
 *     acquire, so the section's reads happen before anything the waiter
 *     does next (freeing what the section may have read).
 *   - A section that begins after c reported seen >= g read gp_ctr >= g
 *     (acquire, from the add): whatever was unlinked before the add is
 *     visible as unlinked to it, so it cannot reach what will be freed.
 *   - A CPU that comes online later starts with seen 0 and is waited for
 *     (it reports at its first tick); an offline CPU runs no sections.
 * Callbacks queued on a CPU wait in `next` until the CPU has no batch,
 * then become the batch and begin a grace period: every section running
 * at any of their rcu_call()s was running at the add or had ended, so
 * running them once the period ends is safe. They run at a tick or an
 * IPI of their CPU (IRQ context), or in rcu_drain()'s polls.
 */
#include "locks/qsbr.h"

#include <stdatomic.h>

#include "locks/lockcheck.h"

struct qsbr_cpu {
	_Atomic unsigned nesting;   /* [this CPU] relaxed: see above */
	_Atomic uint64_t seen;      /* [this CPU writes] release/acquire */
	struct rcu_work *next;      /* [this CPU, masked] queued */
	struct rcu_work *batch;     /* [this CPU, masked] waiting ... */
	uint64_t batch_gp;          /* ... for this grace period */
	_Atomic uint64_t queued;    /* [this CPU writes] rcu_call()s */
	_Atomic uint64_t done;      /* [this CPU writes] callbacks run */
} CACHE_ALIGNED;

static struct qsbr_cpu qsbr[MAX_CPUS];
static _Atomic uint64_t gp_ctr = 1;

static struct qsbr_cpu *me(void)
{
	return &qsbr[cpu_id()];
}

static unsigned depth(const struct qsbr_cpu *q)
{
	return atomic_load_explicit(&q->nesting, memory_order_relaxed);
}

void rcu_read_enter(void)
{
	struct qsbr_cpu *q = me();

	atomic_store_explicit(&q->nesting, depth(q) + 1, memory_order_relaxed);
	/* The section's loads stay after the increment (our own handlers
	 * are the only other readers of it: program order suffices). */
	atomic_signal_fence(memory_order_seq_cst);
}

void rcu_read_exit(void)
{
	struct qsbr_cpu *q = me();

	atomic_signal_fence(memory_order_seq_cst);
	ASSERT(depth(q) > 0);
	atomic_store_explicit(&q->nesting, depth(q) - 1, memory_order_relaxed);
}

bool rcu_reading(void)
{
	return depth(me()) > 0;
}

/* A quiescent state of this CPU: it runs no section now. */
static void quiescent(struct qsbr_cpu *q)
{
	/* Acquire: pairs with the add that began the period (what was
	 * unlinked before it is unlinked for our next sections). Release:
	 * our ended sections' loads come before the store (gp_done()). */
	uint64_t g = atomic_load_explicit(&gp_ctr, memory_order_acquire);

	ASSERT(depth(q) == 0);
	atomic_store_explicit(&q->seen, g, memory_order_release);
}

/* Begin a grace period; returns its number. */
static uint64_t begin_gp(void)
{
	/* seq_cst: the unlinks before it are published with it, and the
	 * loads of seen in gp_done() are not hoisted above it. */
	return atomic_fetch_add_explicit(&gp_ctr, 1, memory_order_seq_cst) + 1;
}

/* Whether grace period g has ended. */
static bool gp_done(uint64_t g)
{
	for (unsigned c = 0; c < ncpus(); c++)
		if (cpu_online(c) &&
		    atomic_load_explicit(&qsbr[c].seen, memory_order_acquire) < g)
			return false;
	return true;
}

/* Run this CPU's batch if its period has ended. Interrupts masked. */
static void run_batch(struct qsbr_cpu *q)
{
	struct rcu_work *w = q->batch;
	uint64_t n = 0;

	if (w == NULL || !gp_done(q->batch_gp))
		return;
	q->batch = NULL;
	while (w != NULL) {
		struct rcu_work *next = w->next;

		w->fn(w); /* may queue more: onto q->next */
		w = next;
		n++;
	}
	atomic_store_explicit(&q->done,
			      atomic_load_explicit(&q->done,
						   memory_order_relaxed) + n,
			      memory_order_release);
}

/*
 * A tick, an IPI or a poll on this CPU, interrupts masked: report if no
 * section was interrupted, run the batch whose period ended, start the
 * next batch's.
 */
static void poll_cpu(void)
{
	struct qsbr_cpu *q = me();

	if (depth(q) == 0)
		quiescent(q);
	run_batch(q);
	if (q->batch == NULL && q->next != NULL) {
		q->batch = q->next;
		q->next = NULL;
		q->batch_gp = begin_gp();
		if (depth(q) == 0)
			quiescent(q);
	}
}

void qsbr_tick(void)
{
	poll_cpu();
}

static void poll_ipi(void *arg)
{
	(void)arg;
	poll_cpu();
}

/* rcu_synchronize() and rcu_drain() wait for other CPUs. */
static void check_may_wait(const char *what)
{
	if (depth(me()) > 0)
		panic("%s inside an RCU read-side section", what);
	if (CONFIG_LOCK_DEBUG)
		lockcheck_assert_none_held(what, HERE);
}

void rcu_synchronize(void)
{
	uint64_t g;
	irqflags_t f;

	check_may_wait("rcu_synchronize()");
	g = begin_gp();
	f = irq_save();
	quiescent(me());
	irq_restore(f);
	/* Ask every CPU now rather than wait for its tick, and again until
	 * all have reported: a CPU still in its section at one round may
	 * have its timer masked (a self-test masks the APs'). */
	for (;;) {
		smp_call_all(poll_ipi, NULL);
		if (gp_done(g))
			return;
		cpu_relax();
	}
}

void rcu_call(struct rcu_work *w, void (*fn)(struct rcu_work *w))
{
	irqflags_t f = irq_save();
	struct qsbr_cpu *q = me();

	w->fn = fn;
	w->next = q->next;
	q->next = w;
	atomic_store_explicit(&q->queued,
			      atomic_load_explicit(&q->queued,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
	irq_restore(f);
}

void rcu_drain(void)
{
	check_may_wait("rcu_drain()");
	for (unsigned c = 0; c < ncpus(); c++) {
		uint64_t want = atomic_load_explicit(&qsbr[c].queued,
						     memory_order_relaxed);

		/* Each round starts, reports or ends grace periods on every
		 * CPU: two or three rounds end all that was queued. */
		while (cpu_online(c) &&
		       atomic_load_explicit(&qsbr[c].done,
					    memory_order_acquire) < want) {
			smp_call_all(poll_ipi, NULL);
			cpu_relax();
		}
	}
}

uint64_t qsbr_grace_periods(void)
{
	return atomic_load_explicit(&gp_ctr, memory_order_relaxed) - 1;
}
