/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support.h"

#define CHILD_TIMEOUT_S 30

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
