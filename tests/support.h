/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the unit tests: running code in a child process (to
 * check that something panics, with the right message), and running a
 * function on n threads registered as CPUs.
 */
#ifndef TESTS_SUPPORT_H
#define TESTS_SUPPORT_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "host/host.h"
#include "host/util.h"

struct child_result {
	bool exited;      /* exited normally, with exit_code */
	int exit_code;
	bool signaled;    /* killed by signal signo */
	int signo;
	char err[8192];   /* what it wrote to stderr (truncated) */
};

/*
 * Run fn(arg) in a forked child, capturing its stderr. A child still
 * running after 30 s is killed by SIGALRM (so a hang fails the test).
 */
void run_in_child(void (*fn)(void *), void *arg, struct child_result *r);

/* Assert the child aborted (panic) and its stderr contains needle. */
#define assert_child_panicked_with(r, needle)                          \
	do {                                                           \
		if (!(r)->signaled || (r)->signo != SIGABRT ||         \
		    strstr((r)->err, (needle)) == NULL)                \
			print_error("child: signaled=%d signo=%d "     \
				    "exited=%d code=%d stderr:\n%s\n", \
				    (r)->signaled, (r)->signo,         \
				    (r)->exited, (r)->exit_code,       \
				    (r)->err);                         \
		assert_true((r)->signaled);                            \
		assert_int_equal((r)->signo, SIGABRT);                 \
		assert_non_null(strstr((r)->err, (needle)));           \
	} while (0)

/*
 * CHECK(cond): an assertion for worker threads and IRQ handlers, where
 * cmocka's assert_*() cannot be used (they longjmp to the test's frame on
 * the main thread). A failure is printed and counted; run_on_cpus() and
 * assert_no_check_failures() turn the count into a test failure.
 */
extern _Atomic unsigned check_failures;
void check_failed(const char *what, const char *where);
#define CHECK(cond)                                    \
	do {                                           \
		if (!(cond))                           \
			check_failed(#cond, HERE);     \
	} while (0)
#define assert_no_check_failures() \
	assert_int_equal(atomic_exchange(&check_failures, 0), 0)

/*
 * Run fn(index, arg) on n threads at once, each registered as a CPU for the
 * duration (index is the thread's number 0..n-1, not necessarily its CPU
 * id). Returns when all have finished and unregistered, and fails the
 * test if any CHECK() failed meanwhile.
 */
typedef void (*cpu_fn)(unsigned index, void *arg);
void run_on_cpus(unsigned n, cpu_fn fn, void *arg);

/*
 * Forced interleavings (kernel/lib/pause.h). pause_arm() sets up to
 * PAUSE_SLOTS actions: slot s runs fn(arg) once, on the thread that
 * reaches point for the (skip + 1)-th time on CPU cpu (-1: any CPU).
 * A slot disarms itself before fn runs, so fn may run code that reaches
 * the same point again (an interrupt handler allocating, say). The hook
 * is installed by the first pause_arm() and removed by pause_reset(),
 * which every test using it calls at its end.
 *
 *     pause_arm(0, "buddy.free.merged", 0, -1, irq_now, NULL);
 *
 * where irq_now() calls host_irq_raise_self(): an interrupt at that step.
 */
#define PAUSE_SLOTS 4
void pause_arm(unsigned slot, const char *point, unsigned skip, int cpu,
	       void (*fn)(void *arg), void *arg);
/* Whether slot's action has run. */
bool pause_fired(unsigned slot);
/* Disarm every slot and remove the hook. */
void pause_reset(void);

/*
 * A gate for two threads: the one that reaches a point waits in
 * gate_pass() until another thread calls gate_open() (or passes at once
 * if the gate is already open); gate_wait_reached() lets that other
 * thread wait until the first one is parked there, and panics if none is
 * within 30 s (a hang is a failure). A gate starts idle (zeroed); set
 * state to 0 to reuse one.
 * Use as a pause_arm() action: pause_arm(0, "x.y", 0, -1, gate_pass, &g).
 */
struct gate {
	_Atomic int state; /* 0 idle, 1 parked, 2 open */
};
void gate_pass(void *gate);
void gate_wait_reached(struct gate *g);
void gate_open(struct gate *g);

/*
 * A hang (a deadlock, a grace period that never ends) fails fast: after
 * hang_watchdog_arm(seconds) the process prints "<binary>: the test hung"
 * and exits 1 unless hang_watchdog_arm(0) comes first (SIGALRM). For
 * cmocka setup and teardown functions and for main.
 */
void hang_watchdog_arm(unsigned seconds);

/* Sleep for ms milliseconds (interrupted sleeps are resumed). */
void sleep_ms(unsigned ms);

#endif /* TESTS_SUPPORT_H */
