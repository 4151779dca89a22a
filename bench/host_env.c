/* SPDX-License-Identifier: MIT */
/*
 * The host environment of the benchmark harness (bench/env.h): threads
 * are CPUs (host_cpu_register), RAM is the mmap'd arena, the allocator is
 * booted the way the kernel boots it (host_mm_boot), a CPU's timer
 * interrupt is its thread's POSIX timer signal.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "bench/env.h"
#include "host/host.h"

/*
 * RAM by default: at least 8 GiB, so that most of it is in the NORMAL zone
 * as on a real machine, and 4 times what the cases may hold (mixed holds
 * blocks of several orders: room against fragmentation). Only touched
 * pages cost: the arena is MAP_NORESERVE and the allocator does not write
 * free frames. --bench_ram_gib chooses another size (issue 11 measures at
 * 1 GiB, where below 4 GiB only the DMA and DMA32 zones exist and the
 * upper-order maps are a few words), down to bench_env_min_ram().
 */
#define MIN_BYTES (UINT64_C(8) << 30)

/*
 * [thread 0 of a run] the configuration booted now (a case's string; NULL:
 * none), the environment it names if it is no frame configuration (NULL:
 * a frame configuration), and what the frame allocator had allocated then
 */
static const char *booted;
static const struct bench_env *booted_env;
static uint64_t booted_allocated;
static uint64_t ram_bytes;
static unsigned cache_cpus;
/* [a] the running case's interrupt work. Stored (relaxed) before this
   thread's timer starts, by the same thread, so its own handler sees it;
   a handler that reads NULL does nothing, which is all a stale read can
   cause. */
static void (*_Atomic irq_fn)(void);

/*
 * The environments linked in (BENCH_ENV). Weak: a binary that links none
 * has no such section, and then both are NULL.
 */
extern const struct bench_env *const __start_bench_envs[] __attribute__((weak));
extern const struct bench_env *const __stop_bench_envs[] __attribute__((weak));

static const struct bench_env *env_named(const char *name)
{
	for (const struct bench_env *const *e = __start_bench_envs;
	     e < __stop_bench_envs; e++)
		if (strcmp((*e)->name, name) == 0)
			return *e;
	return NULL;
}

bool bench_env_config_known(const char *config)
{
	struct frame_config cfg;

	return frame_config_named(config, strlen(config), &cfg) == E_OK ||
	       env_named(config) != NULL;
}

static void timer_irq(unsigned vector)
{
	void (*fn)(void) = atomic_load_explicit(&irq_fn, memory_order_relaxed);

	(void)vector;
	if (fn != NULL)
		fn();
}

uint64_t bench_env_default_ram(unsigned max_threads)
{
	uint64_t need = 4 * BENCH_BYTES_PER_THREAD * max_threads;

	return MAX(MIN_BYTES, need + (UINT64_C(1) << 30));
}

/*
 * What every thread may hold, and an eighth more for what is not theirs:
 * the frame table (1/128 of RAM), the DMA zone with its reserve, and
 * regions of the largest order a held small block keeps from being whole
 * (mixed). Measured at 1 GiB (min time 0.01): 15 threads ran every case,
 * 16 failed rand at orders 9 and 10 with E_NOMEM; this allows 14.
 */
uint64_t bench_env_min_ram(unsigned max_threads)
{
	uint64_t held = BENCH_BYTES_PER_THREAD * max_threads;

	return held + held / 8;
}

uint64_t bench_env_ram(void)
{
	return ram_bytes;
}

bool bench_env_init(unsigned max_threads, uint64_t ram)
{
	ram_bytes = ram != 0 ? ram : bench_env_default_ram(max_threads);
	/* Caches sized for the most CPUs any run has, in every run alike. */
	cache_cpus = max_threads;
	if (host_arena_init(ram_bytes) != E_OK) {
		fprintf(stderr, "bench: cannot map %llu MiB of RAM\n",
			(unsigned long long)(ram_bytes >> 20));
		return false;
	}
	if (host_irq_set_handler(HOST_IRQ_TIMER, timer_irq) != E_OK)
		return false;
	return true;
}

bool bench_env_cpu_enter(void)
{
	return host_cpu_register() >= 0;
}

void bench_env_cpu_leave(void)
{
	host_cpu_unregister();
}

static uint64_t allocated_now(void)
{
	struct frame_stats st;

	frame_get_stats(&st);
	return st.allocated;
}

/* The previous configuration's runs are over: all given back, consistent? */
static bool check_booted(void)
{
	uint64_t now;

	if (booted == NULL)
		return true;
	if (booted_env != NULL && booted_env->check != NULL &&
	    !booted_env->check())
		return false;
	if (!frame_validate()) {
		fprintf(stderr, "bench: %s: the allocator is inconsistent "
			"after the last benchmark's runs\n", booted);
		return false;
	}
	now = allocated_now();
	if ((booted_env == NULL || booted_env->frames_balance) &&
	    now != booted_allocated) {
		fprintf(stderr, "bench: %s: the last benchmark leaked %lld "
			"frames\n", booted,
			(long long)(now - booted_allocated));
		return false;
	}
	return true;
}

/* Tear down what is booted, checked or not. */
static void shutdown_booted(void)
{
	if (booted == NULL)
		return;
	host_mm_shutdown();
	booted = NULL;
	booted_env = NULL;
}

bool bench_env_boot(const char *name)
{
	const struct bench_env *env = env_named(name);
	const char *frame_name = env != NULL ? env->frame_config : name;
	struct frame_config cfg;

	if (frame_config_named(frame_name, strlen(frame_name), &cfg) != E_OK) {
		fprintf(stderr, "bench: unknown configuration %s (known: "
			FRAME_CONFIG_NAMES ")\n", frame_name);
		return false;
	}
	if (!check_booted())
		return false;
	shutdown_booted();
	cfg.cpus = cache_cpus;
	if (host_mm_boot(ram_bytes, &cfg) != E_OK) {
		fprintf(stderr, "bench: cannot boot configuration %s\n", name);
		return false;
	}
	booted = name;
	booted_env = env;
	booted_allocated = allocated_now();
	if (env != NULL && env->setup != NULL && !env->setup()) {
		fprintf(stderr, "bench: %s: the environment cannot set up "
			"(the log says why)\n", name);
		shutdown_booted();
		return false;
	}
	return true;
}

bool bench_env_fini(void)
{
	bool ok;

	if (booted == NULL)
		return true;
	if (host_cpu_register() < 0)
		return false;
	ok = check_booted();
	shutdown_booted();
	host_cpu_unregister();
	return ok;
}

bool bench_env_irq_start(void (*irq)(void), uint64_t period_ns)
{
	if (irq == NULL)
		return true;
	atomic_store_explicit(&irq_fn, irq, memory_order_relaxed);
	return host_timer_start(period_ns) == E_OK;
}

void bench_env_irq_stop(void)
{
	host_timer_stop();
}

const char *bench_env_malloc_lib(void)
{
	/* Through a volatile pointer: the address the dynamic linker bound,
	   not one the compiler might fold for a builtin it knows. */
	void *(*volatile fn)(size_t) = malloc;
	Dl_info info;

	if (dladdr((void *)fn, &info) == 0 || info.dli_fname == NULL)
		return "unknown";
	return info.dli_fname;
}

uint64_t bench_env_cycles(void)
{
	return cycles();
}

uint64_t bench_env_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
