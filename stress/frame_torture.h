/* SPDX-License-Identifier: MIT */
/*
 * frame_torture: the frame allocator's concurrent workload, portable, so
 * that the host stress harness (threads play CPUs, signals play the timer)
 * and the kernel's self-test (every vCPU, the real LAPIC timer) run the
 * same test body.
 *
 * Every worker is a CPU. It allocates blocks of random orders, some
 * charged to accounts, writes a signature into each, and frees them:
 * itself, or by handing them to another worker's mailbox (cross-CPU
 * frees). With irq set, the driver calls torture_irq() from every CPU's
 * timer interrupt, which allocates and frees blocks too, inside whatever
 * the CPU was doing. Now and then an account dies with frames still out,
 * sending them through the scrub queue.
 *
 * A shadow owner map (one tag per frame, swapped atomically) catches a
 * frame handed to two owners the moment it happens; signatures catch
 * writes into a block someone else owns.
 *
 * Driver's protocol:
 *   torture_init(&opts)            once, before any worker starts, with
 *                                  the allocator quiescent (what is
 *                                  allocated then is not the run's)
 *   torture_cpu(i)                 on each of opts.cpus CPUs, i = 0..cpus-1,
 *                                  all at once; returns when every worker
 *                                  has given back everything it held
 *   torture_irq()                  from the timer interrupt (any CPU, any
 *                                  time; a no-op where no worker runs)
 *   torture_finish(&result)        once, after every torture_cpu returned,
 *                                  on a CPU, with the timer hook removed
 */
#ifndef STRESS_FRAME_TORTURE_H
#define STRESS_FRAME_TORTURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/lib/err.h"
#include "kernel/mm/frame.h"

struct torture_opts {
	unsigned cpus;        /* workers, 1..MAX_CPUS */
	unsigned orders[FRAME_MAX_ORDER + 1]; /* block orders to use */
	unsigned norders;     /* 1..FRAME_MAX_ORDER+1 */
	unsigned hold;        /* blocks a worker holds at most, 1..64 (0: 64) */
	bool irq;             /* torture_irq() allocates and frees */
	/* Size the run so that memory cannot run out (torture_init() checks
	   the worst case fits, see there) and count every E_NOMEM as a
	   violation: the allocator's completeness rule under concurrency. */
	bool nomem_is_fault;
	uint64_t seed;
	uint64_t run_ns;      /* every worker stops after this long */
	uint64_t (*clock_ns)(void); /* a monotonic clock */
	/* The shadow owner map, zeroed: one tag per frame, for frames below
	   owner_frames (the caller sizes it to the frame table; frames above
	   go unchecked). */
	_Atomic uint16_t *owner;
	uint64_t owner_frames;
};

struct torture_result {
	uint64_t ops;          /* worker operations */
	uint64_t irq_ops;      /* allocations and frees in interrupts */
	uint64_t nomem;        /* allocations that found no memory */
	uint64_t remote_frees; /* blocks freed by a CPU other than the
				  allocating one */
	uint64_t deaths;       /* accounts that died with frames out */
	uint64_t violations;   /* ownership, signature or error-code faults */
	uint64_t lost;         /* frames allocated after the final drain
				  beyond those allocated at torture_init */
	bool coalesced;        /* frame_validate() passed */
};

/*
 * Reset all state for a run. E_INVAL (nothing changed) for bad options:
 * cpus or orders out of range, no clock, no owner map, or nomem_is_fault
 * on a run whose worst case could exhaust memory: the frames that
 * workers, mailboxes and interrupt stashes can hold at once, plus what
 * allocations and frees can hold in transit (two per CPU, a top-order
 * block each), plus every per-CPU cache full (an eighth of each zone),
 * must stay within half of the largest zone.
 */
MUST_CHECK err_t torture_init(const struct torture_opts *o);

/* The work of worker `index` (0 .. cpus-1), on its own CPU. */
void torture_cpu(unsigned index);

/* The timer interrupt's share of the work. IRQ context. */
void torture_irq(void);

/*
 * Empty the scrub queue, drain every cache, validate the allocator and
 * fill *r. Returns whether the run was clean: no violation, nothing lost,
 * frame_validate() passed.
 */
bool torture_finish(struct torture_result *r);

/* The one-line summary: "ops=N lost=N coalesced=yes ...". */
void torture_format(const struct torture_result *r, char *buf, size_t size);

#endif /* STRESS_FRAME_TORTURE_H */
