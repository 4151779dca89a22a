/* SPDX-License-Identifier: MIT */
/*
 * smp_call_all() and smp_call_cond(): run a function on every online CPU,
 * or on those a predicate picks, and wait, over the platform's ipi_call()
 * (a real IPI in the kernel, a signal on the host).
 *
 * reqs[s] belongs to CPU s: it writes fn and arg, then sets one pending bit
 * per target (release) and interrupts the target, and waits until every
 * target has cleared its bit. A target that sees its bit (acquire) may
 * read fn and arg; it clears the bit (release) once fn has returned. CPU s
 * reuses its request only after every bit is clear, so a target never
 * sees a request change under it.
 *
 * A target that is not online when interrupted (ipi_call() says so) gets
 * its bit cleared again by the caller; a host CPU that goes offline serves
 * what was addressed to it before (host/cpu.c), so no caller waits for a
 * CPU that left.
 */
#include <stdatomic.h>

#include <platform.h>

#include "kernel/smp_call.h"

#define WORDS ((MAX_CPUS + 63) / 64)

struct call_req {
	void (*fn)(void *arg);          /* [owner] set before the bits */
	void *arg;                      /* [owner] */
	_Atomic uint64_t pending[WORDS]; /* [a] targets yet to run it */
} CACHE_ALIGNED;

static struct call_req reqs[MAX_CPUS];

void smp_call_serve(void)
{
	unsigned me = cpu_id();
	uint64_t mine = UINT64_C(1) << (me % 64);

	ASSERT(!irqs_enabled());
	for (unsigned s = 0; s < ncpus(); s++) {
		struct call_req *r = &reqs[s];

		/* Acquire pairs with the caller's release fetch_or. */
		if (!(atomic_load_explicit(&r->pending[me / 64],
					   memory_order_acquire) & mine))
			continue;
		r->fn(r->arg);
		/* Release: fn's effects happen-before the caller returns. */
		atomic_fetch_and_explicit(&r->pending[me / 64], ~mine,
					  memory_order_release);
	}
}

static bool all_done(const struct call_req *r)
{
	for (unsigned w = 0; w < WORDS; w++)
		if (atomic_load_explicit(&r->pending[w], memory_order_acquire))
			return false;
	return true;
}

void smp_call_cond(bool (*want)(unsigned cpu, void *arg),
		   void (*fn)(void *arg), void *arg)
{
	unsigned me = cpu_id();
	struct call_req *r = &reqs[me];
	irqflags_t f;

	ASSERT(irqs_enabled() && !in_irq());
	r->fn = fn;
	r->arg = arg;
	for (unsigned c = 0; c < ncpus(); c++) {
		uint64_t bit = UINT64_C(1) << (c % 64);

		if (c == me || !cpu_online(c) || (want && !want(c, arg)))
			continue;
		atomic_fetch_or_explicit(&r->pending[c / 64], bit,
					 memory_order_release);
		if (!ipi_call(c)) /* went offline meanwhile */
			atomic_fetch_and_explicit(&r->pending[c / 64], ~bit,
						  memory_order_relaxed);
	}
	if (!want || want(me, arg)) {
		f = irq_save();
		fn(arg);
		irq_restore(f);
	}
	/* Interrupts stay enabled while we wait: we serve others' calls. */
	while (!all_done(r))
		cpu_relax();
}

void smp_call_all(void (*fn)(void *arg), void *arg)
{
	smp_call_cond(NULL, fn, arg);
}
