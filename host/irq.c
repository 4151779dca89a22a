/* SPDX-License-Identifier: MIT */
/*
 * Simulated interrupts for host CPUs.
 *
 * An IRQ is two things: a bit in the target CPU's pending word (the IRR of
 * a local APIC), and a signal to the target thread (its POSIX timer, or
 * pthread_kill for an IPI). Masking is a thread-local flag, never a
 * sigprocmask() call, so irq_save()/irq_restore() cost a few instructions.
 *
 * Why every raised IRQ runs exactly once, and never while masked:
 *
 *  - Only host_irq_run_pending() runs handlers. It sets irq_off first and
 *    claims vectors with one atomic exchange of the pending word, so a
 *    pending bit is consumed by exactly one run.
 *  - The signal handler calls it only when irq_off is clear. When irq_off is
 *    set the bit simply stays pending.
 *  - The irq_restore() that unmasks clears irq_off and then looks at the
 *    pending word. A bit set before the clear is seen there and run; a
 *    signal arriving after the clear finds irq_off clear and runs it in the
 *    handler. (Both happen on one thread, so signal fences suffice for the
 *    flag. The pending word is shared with raising threads, who always send
 *    a signal after setting a bit: a bit is never left without a signal
 *    that will find it.)
 *  - host_irq_run_pending() loops until it sees an empty pending word after
 *    unmasking, so a bit set while its handlers ran is not stranded.
 *  - The handler ignores a signal only on a thread that is not a CPU
 *    (host_self.id < 0), and no raised bit can be waiting for such a
 *    thread: an IRQ is raised only at an online CPU (checked under the
 *    registry lock), and a thread sets up its id and pending word, with
 *    IRQs masked, before it goes online, and clears them only after it
 *    went offline (host/cpu.c). A signal that arrives while a thread
 *    registers finds a masked CPU and leaves its bit pending; registration
 *    ends with the unmasking irq_restore(), which runs it. (Before, a CPU
 *    was online before its id was set: the handler dropped the signal,
 *    the bit waited for an irq_restore() that might never come, and a
 *    smp_call_cond() waiting for that CPU hung.)
 *
 * Where an IRQ can land: in normal and ASan builds, at any instruction
 * (the kernel interrupts the thread). ThreadSanitizer holds asynchronous
 * signals until the thread reaches one of its interception points, so TSan
 * runs see fewer interleavings; tests that need IRQs at arbitrary points
 * rely on the other builds for that.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/internal.h"

static _Atomic host_irq_handler_t handlers[HOST_IRQ_VECTORS];
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* SIGUSR1: a standard signal, so the kernel coalesces repeats for us. */
int host_irq_signal(void)
{
	return SIGUSR1;
}

/* Run vectors until none is pending. Pre: IRQs masked, in_irq() false. */
static void dispatch_masked(void)
{
	_Atomic uint64_t *pending = host_self.pending;
	struct host_cpu *c = &host_cpus[host_self.id];
	uint64_t v;

	host_self.irq_depth++;
	/* Acquire pairs with the raiser's release fetch_or. */
	while ((v = atomic_exchange_explicit(pending, 0,
					     memory_order_acquire)) != 0) {
		while (v != 0) {
			unsigned vec = (unsigned)__builtin_ctzll(v);
			host_irq_handler_t fn = atomic_load_explicit(
				&handlers[vec], memory_order_acquire);

			v &= v - 1;
			if (fn != NULL)
				fn(vec);
			atomic_fetch_add_explicit(&c->irq_runs, 1,
						  memory_order_relaxed);
		}
	}
	host_self.irq_depth--;
}

void host_irq_run_pending(void)
{
	do {
		atomic_store_explicit(&host_self.irq_off, true,
				      memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
		dispatch_masked();
		atomic_signal_fence(memory_order_seq_cst);
		atomic_store_explicit(&host_self.irq_off, false,
				      memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
	} while (atomic_load_explicit(host_self.pending,
				      memory_order_relaxed) != 0);
}

static void on_signal(int signo, siginfo_t *si, void *uctx)
{
	int saved_errno = errno;

	(void)signo;
	(void)uctx;
	if (host_self.id >= 0) {
		if (si->si_code == SI_TIMER) {
			unsigned vec = (unsigned)si->si_value.sival_int;

			if (vec < HOST_IRQ_VECTORS)
				atomic_fetch_or_explicit(host_self.pending,
							 UINT64_C(1) << vec,
							 memory_order_relaxed);
		}
		if (!atomic_load_explicit(&host_self.irq_off,
					  memory_order_relaxed))
			host_irq_run_pending();
	}
	errno = saved_errno;
}

static void install(void)
{
	struct sigaction sa;

	atomic_store(&handlers[HOST_IRQ_CALL], host_smp_call_irq);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(host_irq_signal(), &sa, NULL) != 0)
		panic("sigaction: %s", strerror(errno));
}

void host_irq_install(void)
{
	pthread_once(&install_once, install);
}

err_t host_irq_set_handler(unsigned vector, host_irq_handler_t fn)
{
	if (vector >= HOST_IRQ_VECTORS)
		return E_RANGE;
	if (vector == HOST_IRQ_CALL)
		return E_INVAL;
	atomic_store_explicit(&handlers[vector], fn, memory_order_release);
	return E_OK;
}

err_t host_irq_raise(unsigned cpu, unsigned vector)
{
	err_t e = E_OK;

	if (vector >= HOST_IRQ_VECTORS || cpu >= MAX_CPUS)
		return E_RANGE;
	ASSERT(!in_irq());
	pthread_mutex_lock(&host_registry_lock);
	if (!atomic_load_explicit(&host_cpus[cpu].online,
				  memory_order_relaxed)) {
		e = E_STATE;
	} else {
		host_irq_raise_locked(cpu, vector);
	}
	pthread_mutex_unlock(&host_registry_lock);
	return e;
}

err_t host_irq_raise_self(unsigned vector)
{
	if (vector >= HOST_IRQ_VECTORS)
		return E_RANGE;
	if (host_self.id < 0)
		host_not_a_cpu();
	/* Release pairs with the acquire exchange in dispatch_masked. */
	atomic_fetch_or_explicit(host_self.pending, UINT64_C(1) << vector,
				 memory_order_release);
	atomic_signal_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&host_self.irq_off, memory_order_relaxed))
		host_irq_run_pending();
	return E_OK;
}

void host_irq_raise_locked(unsigned cpu, unsigned vector)
{
	/* Release pairs with the acquire exchange in dispatch_masked. */
	atomic_fetch_or_explicit(&host_cpus[cpu].pending, UINT64_C(1) << vector,
				 memory_order_release);
	/* The target is online, so its thread exists until the lock drops. */
	pthread_kill(host_cpus[cpu].thread, host_irq_signal());
}

err_t host_timer_start(uint64_t period_ns)
{
	struct host_cpu *c = &host_cpus[cpu_id()];
	struct itimerspec its;

	if (period_ns == 0)
		return E_INVAL;
	if (!c->timer_armed) {
		struct sigevent sev;

		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = host_irq_signal();
		sev.sigev_value.sival_int = HOST_IRQ_TIMER;
		sev._sigev_un._tid = c->tid;
		if (timer_create(CLOCK_MONOTONIC, &sev, &c->timer) != 0)
			return E_NOSPC;
		c->timer_armed = true;
	}
	its.it_value.tv_sec = (time_t)(period_ns / 1000000000u);
	its.it_value.tv_nsec = (long)(period_ns % 1000000000u);
	its.it_interval = its.it_value;
	if (timer_settime(c->timer, 0, &its, NULL) != 0)
		panic("timer_settime: %s", strerror(errno));
	return E_OK;
}

void host_timer_stop(void)
{
	struct host_cpu *c = &host_cpus[cpu_id()];

	if (!c->timer_armed)
		return;
	timer_delete(c->timer);
	c->timer_armed = false;
}

uint64_t host_irq_count(unsigned cpu)
{
	if (cpu >= MAX_CPUS)
		return 0;
	return atomic_load_explicit(&host_cpus[cpu].irq_runs,
				    memory_order_relaxed);
}
