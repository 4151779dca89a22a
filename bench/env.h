/* SPDX-License-Identifier: MIT */
/*
 * The environment the host harness (bench/gbench.cc) runs benchmark cases
 * in: the machine's side, kept apart from the harness and the cases.
 * bench/host_env.c implements it: threads registered as CPUs, the
 * allocator booted on an mmap'd arena, POSIX timer signals as timer
 * interrupts. (The in-kernel harness, bench/kernel.c, runs on the
 * kernel's own CPUs and allocator, booted once: it needs none of this.)
 *
 * Call order, per run of a case on n threads (thread 0 is one of them):
 *	every thread: bench_env_cpu_enter()
 *	thread 0:     bench_env_boot(config) if the benchmark changed, before
 *	              the run's start barrier
 *	every thread: bench_env_irq_start(), after the start barrier, and
 *	              bench_env_irq_stop() when its loop ends
 *	every thread: bench_env_cpu_leave(), after its body returned
 */
#ifndef BENCH_ENV_H
#define BENCH_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/bench.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Set up for runs of at most max_threads threads (memory for them all):
 * ram_bytes of RAM, or with 0 the default (bench_env_default_ram()).
 * Returns false, having said why on stderr, if it cannot.
 */
bool bench_env_init(unsigned max_threads, uint64_t ram_bytes);

/* The RAM bench_env_init() gives max_threads threads by default. */
uint64_t bench_env_default_ram(unsigned max_threads);

/*
 * The least RAM in which runs of max_threads threads work: every case's
 * memory (BENCH_BYTES_PER_THREAD a thread) with room for the allocator's
 * own, fragmentation and the per-CPU caches. Smaller, a case fails
 * mid-run with E_NOMEM; the harness refuses such a size up front.
 */
uint64_t bench_env_min_ram(unsigned max_threads);

/* The RAM the machine has (after bench_env_init()). */
uint64_t bench_env_ram(void);

/* Whether config names a configuration this environment can boot. */
bool bench_env_config_known(const char *config);

/*
 * Make the calling thread a CPU / stop being one (returns false if no CPU
 * id is free). Leaving drains the CPU's page caches.
 */
bool bench_env_cpu_enter(void);
void bench_env_cpu_leave(void);

/*
 * Boot the allocator afresh in configuration config (thread 0 of a run,
 * as a CPU, while no other CPU uses the allocator). It first checks that
 * the runs since the last boot gave back every frame and left the
 * allocator consistent (returns false, having said what is wrong, if
 * not). The harness boots once per benchmark (not per run or repetition),
 * so that no benchmark inherits another's allocator state (fragmentation,
 * caches) and a leak is blamed on the right one. (The host's count of CPUs
 * ever seen, ncpus(), cannot be reset: it stays at the most threads run
 * so far.)
 */
bool bench_env_boot(const char *config);

/*
 * Check the allocator at the end (as bench_env_boot() checks before a
 * reboot) and tear it down. Returns false if the check fails.
 */
bool bench_env_fini(void);

/*
 * Run irq() in a timer interrupt on this CPU every period_ns until
 * bench_env_irq_stop() (irq NULL: nothing to do). The function is global:
 * every thread of a run passes the same one.
 */
bool bench_env_irq_start(void (*irq)(void), uint64_t period_ns);
void bench_env_irq_stop(void);

/*
 * Environments (struct bench_env, BENCH_ENV(): bench/bench.h) are
 * configurations too (bench_env_config_known(), bench_env_boot()).
 * Booting one boots the memory system as a frame configuration does
 * (host_mm_boot(): the frame allocator in configuration frame_config,
 * and the heap on it), then runs its setup(); before the next boot, and
 * at bench_env_fini(), its check(). The heap suite's binaries link
 * bench/heap/kmalloc.c (the kernel heap; portable, the kernel links it
 * too) and the host-only bench/heap/malloc.c (the process's malloc); the
 * frame suite's binary links the portable ones of bench/cases/ (pt_env.c:
 * the page-table cases'; zero_env.c: the frame cases with FRAME_ZERO),
 * and no host-only environment.
 */

/*
 * The file of the shared object that defines the malloc() this process
 * calls (glibc's libc.so.6 unless a library that replaces it is linked or
 * preloaded), or "unknown". The heap suite checks it: a baseline named
 * glibc must really be glibc's malloc.
 */
const char *bench_env_malloc_lib(void);

/* The platform's cycles() and a monotonic clock in ns, for calibration. */
uint64_t bench_env_cycles(void);
uint64_t bench_env_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_ENV_H */
