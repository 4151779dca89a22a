/* SPDX-License-Identifier: MIT */
/*
 * Host CPUs: threads register to get a CPU id, and unregister to give it
 * back. See host/host.h for the contract, host/internal.h for the locking.
 */
#include <unistd.h>

#include "host/internal.h"
#include "kernel/smp_call.h"

_Thread_local struct host_cpu_local host_self = {
	.id = -1,
	.pending = &host_no_pending,
};
_Atomic uint64_t host_no_pending;
_Atomic unsigned host_ncpus_seen;

struct host_cpu host_cpus[MAX_CPUS];
pthread_mutex_t host_registry_lock = PTHREAD_MUTEX_INITIALIZER;

static void (*offline_hooks[HOST_MAX_OFFLINE_HOOKS])(unsigned); /* [R] */
static unsigned n_offline_hooks;                                 /* [R] */

void host_not_a_cpu(void)
{
	panic("cpu_id() called by a thread that is not a registered CPU");
}

static int take_free_id_locked(void)
{
	for (unsigned id = 0; id < MAX_CPUS; id++)
		if (!atomic_load_explicit(&host_cpus[id].online,
					  memory_order_relaxed))
			return (int)id;
	return -1;
}

int host_cpu_register(void)
{
	if (host_self.id >= 0)
		return -1;
	host_irq_install();

	pthread_mutex_lock(&host_registry_lock);
	int id = take_free_id_locked();
	if (id < 0) {
		pthread_mutex_unlock(&host_registry_lock);
		return -1;
	}
	struct host_cpu *c = &host_cpus[id];
	atomic_store_explicit(&c->pending, 0, memory_order_relaxed);
	c->thread = pthread_self();
	c->tid = gettid();
	c->timer_armed = false;
	atomic_store_explicit(&c->online, true, memory_order_release);
	if ((unsigned)id + 1 > atomic_load(&host_ncpus_seen))
		atomic_store_explicit(&host_ncpus_seen, (unsigned)id + 1,
				      memory_order_release);
	pthread_mutex_unlock(&host_registry_lock);

	atomic_store_explicit(&host_self.irq_off, false, memory_order_relaxed);
	host_self.irq_depth = 0;
	host_self.pending = &c->pending;
	atomic_signal_fence(memory_order_seq_cst);
	host_self.id = id; /* from here on our signal handler runs IRQs */
	return id;
}

/*
 * Going offline, in an order that strands nothing: stop taking interrupts
 * (timer off, masked), stop being a target (offline under the registry
 * lock, so no new IPI is raised), run the calls addressed to us before
 * that, then the offline hooks (the page caches drain here, and no
 * interrupt can refill them now), and only then give up the id.
 */
void host_cpu_unregister(void)
{
	unsigned id = cpu_id();
	void (*hooks[HOST_MAX_OFFLINE_HOOKS])(unsigned);
	unsigned n;

	ASSERT(irqs_enabled() && !in_irq());
	host_timer_stop();
	atomic_store_explicit(&host_self.irq_off, true, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);

	pthread_mutex_lock(&host_registry_lock);
	atomic_store_explicit(&host_cpus[id].online, false,
			      memory_order_release);
	n = n_offline_hooks;
	for (unsigned i = 0; i < n; i++)
		hooks[i] = offline_hooks[i];
	pthread_mutex_unlock(&host_registry_lock);
	smp_call_serve();
	for (unsigned i = 0; i < n; i++)
		hooks[i](id);

	atomic_signal_fence(memory_order_seq_cst);
	host_self.id = -1;
	host_self.pending = &host_no_pending;
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&host_cpus[id].pending, 0, memory_order_relaxed);
	atomic_store_explicit(&host_self.irq_off, false, memory_order_relaxed);
}

err_t host_cpu_on_offline(void (*fn)(unsigned cpu))
{
	err_t e = E_OK;

	if (fn == NULL)
		return E_INVAL;
	pthread_mutex_lock(&host_registry_lock);
	if (n_offline_hooks == HOST_MAX_OFFLINE_HOOKS)
		e = E_NOSPC;
	else
		offline_hooks[n_offline_hooks++] = fn;
	pthread_mutex_unlock(&host_registry_lock);
	return e;
}

bool cpu_online(unsigned c)
{
	return c < MAX_CPUS &&
	       atomic_load_explicit(&host_cpus[c].online, memory_order_acquire);
}

unsigned host_cpus_online(void)
{
	unsigned n = 0;

	for (unsigned c = 0; c < ncpus(); c++)
		n += cpu_online(c);
	return n;
}
