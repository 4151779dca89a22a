/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernel/lib/pause.h"
#include "tests/support.h"

/*
 * TEST_ONLY=pattern runs only the tests whose names match it (cmocka's
 * wildcards, * and ?), in every binary that links this file: a mutant's
 * kill command names the test that claims it, instead of running a whole
 * binary up to a later test that the mutant makes wait out a timeout.
 */
__attribute__((constructor)) static void test_only_from_env(void)
{
	const char *only = getenv("TEST_ONLY");

	if (only != NULL && *only != '\0')
		cmocka_set_test_filter(only);
}

#define CHILD_TIMEOUT_S 30

/*
 * Every test process is multi-threaded once a thread registers as a CPU
 * (host/rcu.c starts its grace-period thread), and some children that
 * run_in_child() forks start threads of their own (a CPU that must hang
 * without taking the binary with it): ThreadSanitizer refuses threads
 * after a multi-threaded fork unless told. (In such a child the grace-
 * period thread is gone: rcu_synchronize() works, rcu_call() callbacks
 * never run.)
 */
#if HAVE_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#endif

void run_in_child(void (*fn)(void *), void *arg, struct child_result *r)
{
	int fds[2], status;
	size_t got = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		alarm(CHILD_TIMEOUT_S); /* a hang becomes a SIGALRM death */
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], r->err + got, sizeof(r->err) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(r->err) - 1)
			got = 0; /* keep the tail: the panic comes last */
	}
	r->err[got] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	r->exited = WIFEXITED(status);
	r->exit_code = r->exited ? WEXITSTATUS(status) : 0;
	r->signaled = WIFSIGNALED(status);
	r->signo = r->signaled ? WTERMSIG(status) : 0;
}

_Atomic unsigned check_failures;

void check_failed(const char *what, const char *where)
{
	klog("CHECK failed: %s at %s", what, where);
	atomic_fetch_add(&check_failures, 1);
}

struct cpu_thread {
	unsigned index;
	cpu_fn fn;
	void *arg;
	pthread_barrier_t *start;
};

static void *cpu_thread_main(void *p)
{
	struct cpu_thread *t = p;

	if (host_cpu_register() < 0)
		panic("run_on_cpus: cannot register thread %u", t->index);
	pthread_barrier_wait(t->start);
	t->fn(t->index, t->arg);
	host_cpu_unregister();
	return NULL;
}

void run_on_cpus(unsigned n, cpu_fn fn, void *arg)
{
	pthread_t tid[MAX_CPUS];
	struct cpu_thread t[MAX_CPUS];
	pthread_barrier_t start;

	assert_true(n > 0 && n <= MAX_CPUS);
	pthread_barrier_init(&start, NULL, n);
	for (unsigned i = 0; i < n; i++) {
		t[i] = (struct cpu_thread){ i, fn, arg, &start };
		assert_int_equal(pthread_create(&tid[i], NULL, cpu_thread_main,
						&t[i]), 0);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&start);
	assert_no_check_failures();
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---------------------------------------------------------- pause points */

struct pause_slot {
	_Atomic bool armed;
	_Atomic bool fired;
	const char *point;
	_Atomic unsigned skip;
	int cpu;
	void (*fn)(void *arg);
	void *arg;
};

static struct pause_slot pause_slots[PAUSE_SLOTS];

/* Count one hit against p's skip; true if the hit is to be skipped. */
static bool skip_hit(struct pause_slot *p)
{
	unsigned n = atomic_load(&p->skip);

	/* A CAS, not a load then a decrement: two threads at the point
	   must not both take the last skip (the count would wrap). */
	while (n > 0 && !atomic_compare_exchange_weak(&p->skip, &n, n - 1))
		;
	return n > 0;
}

static void pause_hook(const char *point, void *unused)
{
	(void)unused;
	for (unsigned s = 0; s < PAUSE_SLOTS; s++) {
		struct pause_slot *p = &pause_slots[s];
		bool yes = true;

		/* host_self.id, not cpu_id(): points are also reached by
		   threads that are not (or not yet) a CPU. */
		if (!atomic_load(&p->armed) || strcmp(point, p->point) != 0 ||
		    (p->cpu >= 0 && p->cpu != host_self.id))
			continue;
		if (skip_hit(p))
			continue;
		/* Exactly one thread takes the action. */
		if (!atomic_compare_exchange_strong(&p->armed, &yes, false))
			continue;
		p->fn(p->arg);
		atomic_store(&p->fired, true);
	}
}

void pause_arm(unsigned slot, const char *point, unsigned skip, int cpu,
	       void (*fn)(void *arg), void *arg)
{
	struct pause_slot *p;

	assert_true(slot < PAUSE_SLOTS);
	p = &pause_slots[slot];
	atomic_store(&p->armed, false);
	p->point = point;
	atomic_store(&p->skip, skip);
	p->cpu = cpu;
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->fired, false);
	atomic_store(&p->armed, true);
	/* Install once: reinstalling clears the hook for a moment, and a
	   thread already running (parked at another slot's point, say)
	   could miss its point in that moment. */
	if (atomic_load(&pause_hook_fn) != pause_hook)
		pause_set_hook(pause_hook, NULL);
}

bool pause_fired(unsigned slot)
{
	return atomic_load(&pause_slots[slot].fired);
}

void pause_reset(void)
{
	pause_set_hook(NULL, NULL);
	for (unsigned s = 0; s < PAUSE_SLOTS; s++)
		atomic_store(&pause_slots[s].armed, false);
}

void gate_pass(void *gate)
{
	struct gate *g = gate;
	int idle = 0;

	/* Park unless already opened (then a plain store would re-close
	   the gate and park us for good). */
	if (!atomic_compare_exchange_strong(&g->state, &idle, 1))
		return;
	while (atomic_load(&g->state) != 2)
		sched_yield();
}

#define GATE_REACH_TIMEOUT_MS 30000

void gate_wait_reached(struct gate *g)
{
	/* Bounded: a point that is never reached fails, not hangs. */
	for (unsigned ms = 0; atomic_load(&g->state) == 0; ms++) {
		if (ms == GATE_REACH_TIMEOUT_MS)
			panic("gate_wait_reached: nobody reached the gate in %u ms",
			      GATE_REACH_TIMEOUT_MS);
		sleep_ms(1);
	}
}

void gate_open(struct gate *g)
{
	atomic_store(&g->state, 2);
}

static void hung(int sig)
{
	static const char msg[] = ": the test hung\n";
	const char *name = program_invocation_short_name;

	(void)sig;
	if (write(2, name, strlen(name)) < 0 ||
	    write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

void hang_watchdog_arm(unsigned seconds)
{
	static bool installed; /* [main thread] */

	if (!installed) {
		signal(SIGALRM, hung);
		installed = true;
	}
	alarm(seconds);
}
