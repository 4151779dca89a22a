/* SPDX-License-Identifier: MIT */
/*
 * smp_call_all() and smp_call_cond(): run a function on every online CPU,
 * or on those a predicate picks, and wait, over the platform's ipi_call()
 * (a real IPI in the kernel, a signal on the host).
 *
 * reqs[s] belongs to CPU s, the caller. It writes fn and arg, then marks
 * each target t with two bits and interrupts it:
 *
 *   pending[t]    fn is owed to t: set first; cleared by whoever took the
 *                 job, once done with it. The caller waits until every
 *                 pending bit is clear, and only then reuses the request.
 *   unclaimed[t]  nobody has taken the job yet: set second (release: fn,
 *                 arg and the pending bit come with it). Taking the job is
 *                 clearing this bit with a fetch_and that sees it set, so
 *                 exactly one party takes it: t in smp_call_serve()
 *                 (acquire: it then reads fn and arg, runs fn, and clears
 *                 pending, release), or the caller, when ipi_call() says t
 *                 is offline (it clears pending itself, running nothing).
 *
 * Why this is right:
 *  - The caller returns only when fn has run on every target that took
 *    the job: only the taker clears a pending bit, the target after fn.
 *  - A target never sees the request change under it: it reads fn and arg
 *    after its claim and before its pending clear, and the caller writes
 *    them again only after seeing every pending bit clear (acquire).
 *  - No clear is late, so none can hit a later round: each pending bit is
 *    cleared once, by its taker, before the round it belongs to can end.
 *    That holds whichever thread owns the target's id later (a host id is
 *    given to a new thread only after its old thread has finished its last
 *    smp_call_serve(), host/cpu.c, but this argument does not need that).
 *  - No caller waits for a CPU that left: if ipi_call() fails, the target
 *    is offline and gets no IPI; a host CPU going offline serves once
 *    more after it stopped being a target (host/cpu.c). Either that serve
 *    took the job (it runs fn; the caller waits for it) or the caller takes
 *    it back. Before, the caller cleared the bit even when that last serve
 *    had seen it and was about to run fn: the caller returned early, and
 *    the serve's late clear could land in the caller's next round.
 *  Kernel CPUs never go offline, so there ipi_call() fails for none of
 *  the targets, which cpu_online() picked.
 */
#include <stdatomic.h>
#include <stdio.h>

#include <platform.h>

#include "kernel/lib/pause.h"
#include "kernel/smp_call.h"
#include "locks/lockcheck.h"

#define WORDS ((MAX_CPUS + 63) / 64)

struct call_req {
	void (*fn)(void *arg);             /* [owner] set before the bits */
	void *arg;                         /* [owner] */
	_Atomic uint64_t pending[WORDS];   /* [a] targets fn is still owed to */
	_Atomic uint64_t unclaimed[WORDS]; /* [a] targets whose job is not taken */
} CACHE_ALIGNED;

static struct call_req reqs[MAX_CPUS];

/*
 * The watchdog, after Linux's CSD-lock watchdog: a caller still waiting
 * after watchdog_cycles names the targets that have not answered, again
 * after twice as long, and so on, and keeps waiting. A target that never
 * answers is a bug (it spins with interrupts masked, or its call function
 * blocks), but one that answers late is not: under TCG with 64 vCPUs on
 * 2 host cores a vCPU can go unscheduled for more than a second (one AP
 * took 1.3 s to come up), and a panic would turn that into a failed run.
 * Waiting on loses nothing: a stuck target is named in the log, and the
 * runner's hang timeout ends the run; a slow one answers and the run goes
 * on, its delay on record.
 */
static _Atomic uint64_t watchdog_cycles = SMP_CALL_WATCHDOG_CYCLES; /* [a] */
static _Atomic uint64_t watchdog_reports;                           /* [a] */

uint64_t smp_call_set_watchdog(uint64_t limit)
{
	return atomic_exchange_explicit(&watchdog_cycles, limit,
					memory_order_relaxed);
}

uint64_t smp_call_watchdog_reports(void)
{
	return atomic_load_explicit(&watchdog_reports, memory_order_relaxed);
}

static uint64_t bit_of(unsigned cpu)
{
	return UINT64_C(1) << (cpu % 64);
}

/* Take the job for target t: true for exactly one taker per marking. */
static bool take_job(struct call_req *r, unsigned t, memory_order mo)
{
	return atomic_fetch_and_explicit(&r->unclaimed[t / 64], ~bit_of(t),
					 mo) & bit_of(t);
}

void smp_call_serve(void)
{
	unsigned me = cpu_id();

	ASSERT(!irqs_enabled());
	for (unsigned s = 0; s < ncpus(); s++) {
		struct call_req *r = &reqs[s];

		/* A look first, as most requests are not for us. Our IPI was
		 * sent after the caller's release fetch_or, so this sees it. */
		if (!(atomic_load_explicit(&r->unclaimed[me / 64],
					   memory_order_acquire) & bit_of(me)))
			continue;
		/* Acquire pairs with the caller's release fetch_or. */
		if (!take_job(r, me, memory_order_acquire))
			continue; /* the caller took it back */
		PAUSE("smp_call.serve.claimed");
		r->fn(r->arg);
		/* Release: fn's effects, and our reads of the request,
		 * happen-before the caller's all_done() (acquire). */
		atomic_fetch_and_explicit(&r->pending[me / 64], ~bit_of(me),
					  memory_order_release);
	}
}

/* Mark target t in r and interrupt it. */
static void call_one(struct call_req *r, unsigned t)
{
	atomic_fetch_or_explicit(&r->pending[t / 64], bit_of(t),
				 memory_order_relaxed);
	/* Release: fn, arg and the pending bit before a taker's acquire. */
	atomic_fetch_or_explicit(&r->unclaimed[t / 64], bit_of(t),
				 memory_order_release);
	PAUSE("smp_call.cond.marked");
	/* Offline meanwhile: no IPI will come; take the job back unless
	 * t's last serve took it (then we wait for its run). */
	if (!ipi_call(t) && take_job(r, t, memory_order_relaxed))
		atomic_fetch_and_explicit(&r->pending[t / 64], ~bit_of(t),
					  memory_order_relaxed);
}

static bool all_done(const struct call_req *r)
{
	for (unsigned w = 0; w < WORDS; w++)
		if (atomic_load_explicit(&r->pending[w], memory_order_acquire))
			return false;
	return true;
}

/* Name the targets of r that still owe an answer (the first 16). */
static void report_stall(const struct call_req *r, uint64_t waited)
{
	char who[128];
	size_t n = 0;
	unsigned late = 0;

	who[0] = '\0';
	for (unsigned c = 0; c < ncpus(); c++) {
		if (!(atomic_load_explicit(&r->pending[c / 64],
					   memory_order_relaxed) & bit_of(c)))
			continue;
		if (late++ < 16 && n < sizeof(who))
			n += (size_t)snprintf(who + n, sizeof(who) - n, "%s%u",
					      late > 1 ? ", " : "", c);
	}
	atomic_fetch_add_explicit(&watchdog_reports, 1, memory_order_relaxed);
	klog("smp_call: no answer from CPU%s %s%s after %llu M cycles "
	     "(caller CPU %u, fn %p); still waiting", late > 1 ? "s" : "",
	     who, late > 16 ? " ..." : "",
	     (unsigned long long)(waited >> 20), cpu_id(), (void *)r->fn);
}

/*
 * Wait until every target has answered. cpu_spin(), not cpu_relax():
 * targets send nothing back, so a halt would sleep until the next tick.
 * Interrupts stay enabled: we serve others' calls meanwhile.
 */
static void wait_all_done(const struct call_req *r)
{
	uint64_t start = cycles();
	uint64_t next = atomic_load_explicit(&watchdog_cycles,
					     memory_order_relaxed);

	while (!all_done(r)) {
		uint64_t waited;

		PAUSE("smp_call.cond.wait");
		cpu_spin();
		waited = cycles() - start;
		if (unlikely(waited >= next)) {
			report_stall(r, waited);
			next = next > UINT64_MAX / 2 ? UINT64_MAX : 2 * next;
		}
	}
}

void smp_call_cond(bool (*want)(unsigned cpu, void *arg),
		   void (*fn)(void *arg), void *arg)
{
	unsigned me = cpu_id();
	struct call_req *r = &reqs[me];
	irqflags_t f;

	ASSERT(irqs_enabled() && !in_irq());
	lockcheck_assert_none_held("smp_call_cond() waits for other CPUs to "
				   "answer its IPI", HERE);
	r->fn = fn;
	r->arg = arg;
	for (unsigned c = 0; c < ncpus(); c++)
		if (c != me && cpu_online(c) && (!want || want(c, arg)))
			call_one(r, c);
	if (!want || want(me, arg)) {
		f = irq_save();
		fn(arg);
		irq_restore(f);
	}
	wait_all_done(r);
}

void smp_call_all(void (*fn)(void *arg), void *arg)
{
	smp_call_cond(NULL, fn, arg);
}
