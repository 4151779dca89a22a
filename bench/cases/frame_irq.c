/* SPDX-License-Identifier: MIT */
/*
 * frame/irq: repeat while every CPU's timer interrupt (every
 * BENCH_IRQ_PERIOD_NS) also allocates and frees, an order-0 and an
 * order-3 block, on the same CPU's caches: the interrupted fast path
 * must stay correct and the latency shows what an interrupt in the middle
 * of an operation costs. Counter irq_ops: the interrupts' operations (0
 * would mean no interrupt ran, and the case measured plain repeat).
 */
#include "bench/cases/frame_cases.h"

/*
 * [CPU c: written by c's interrupt handler, read by c's own thread after
 * its timer stopped]
 */
static uint64_t irq_ops[MAX_CPUS];
static uint64_t irq_failures[MAX_CPUS];

static void irq_alloc_free(unsigned cpu, unsigned order)
{
	struct frame_result f = frame_alloc(order, 0);

	if (f.err != E_OK || frame_free(f.pfn, order) != E_OK)
		irq_failures[cpu]++;
	else
		irq_ops[cpu] += 2;
}

static void frame_irq_tick(void)
{
	unsigned cpu = cpu_id();

	irq_alloc_free(cpu, 0);
	irq_alloc_free(cpu, 3);
}

static void frame_irq(struct bench_state *st)
{
	unsigned cpu = cpu_id();
	uint64_t ops = irq_ops[cpu], failures = irq_failures[cpu];

	frame_repeat_loop(st, (unsigned)bench_arg(st, 0), 0);
	/* The loop's last call stopped the timer: the counts are final. */
	bench_counter(st, "irq_ops", irq_ops[cpu] - ops);
	if (irq_failures[cpu] != failures)
		bench_error(st, "an interrupt's allocation or free failed");
}

FRAME_CASE(frame_irq_case, "frame/irq", frame_irq, BENCH_FRAME_CONFIGS,
	   .irq = frame_irq_tick);
