/* SPDX-License-Identifier: MIT */
/*
 * The harnesses' barrier (bench/barrier.c): the start of every run's
 * loop, and bench_barrier() inside it, on the host (bench/gbench.cc) and
 * in the kernel (bench/kernel.c). Plain C over GCC's __atomic builtins,
 * so that the C++ harness links the same code.
 */
#ifndef BENCH_BARRIER_H
#define BENCH_BARRIER_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* [atomic: only barrier.c touches the fields, with __atomic builtins] */
struct hbarrier {
	unsigned arrived; /* threads waiting in this round */
	unsigned round;   /* rounds opened so far */
};

/* Ready for a new run (no thread in the barrier). */
void hbarrier_reset(struct hbarrier *b);

/*
 * Wait until n threads have arrived, spinning with wait() (cpu_spin() in
 * the kernel, a yield on the host). With a failure flag (failed not
 * NULL; read with __atomic loads, set by bench_error() once and never
 * cleared during a run), a thread that sees it set returns false, without
 * arriving if it had not yet. The answer is the same for all n: true if
 * the barrier opened (every thread arrived: each then gets true, whatever
 * anyone fails afterwards), false if it never will (a thread that failed
 * never arrives, and each waiter learns it from the flag). A waiter that
 * sees the flag first looks at the round once more: a thread that failed
 * after passing the barrier set the flag after the round opened, so
 * seeing its flag means seeing the open round (both sequentially
 * consistent).
 */
bool hbarrier_wait(struct hbarrier *b, unsigned n, const bool *failed,
		   void (*wait)(void));

#ifdef __cplusplus
}
#endif

#endif /* BENCH_BARRIER_H */
