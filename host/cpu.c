/* SPDX-License-Identifier: MIT */
/*
 * Host CPUs: threads register to get a CPU id, and unregister to give it
 * back. See host/host.h for the contract, host/internal.h for the locking.
 *
 * An id has two states, both written under host_registry_lock:
 *
 *   held    a thread owns the id: from the registration that takes it to
 *           the very end of the unregistration that gives it back. Only a
 *           free (not held) id is handed out.
 *   online  the id is a target: IRQs and cross-CPU calls may be raised at
 *           it (host_irq_raise() and ipi_call() check it under the lock).
 *           online implies held.
 *
 * Why no two threads ever act as one CPU: a thread going away runs its
 * last smp_call_serve() and the offline hooks (the page-cache drain) as
 * its CPU after going offline, so the id must stay held until those are
 * done. It clears held last, under the lock; the next thread to take the
 * id does so under the same lock, so everything the old thread did as
 * that CPU (its caches, its pending word, its call bits) happens-before
 * everything the new one does.
 *
 * Why no IRQ raised at a registering CPU is stranded: the thread masks
 * IRQs and sets up its thread-local state (id, pending word) before it
 * goes online, so a signal that arrives from then on finds a CPU and,
 * masked, leaves its bit pending; registration ends with the unmasking
 * irq_restore(), which runs whatever is pending (host/irq.c).
 */
#include <unistd.h>

#include "host/internal.h"
#include "kernel/lib/pause.h"
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
		if (!host_cpus[id].held)
			return (int)id;
	return -1;
}

/* Become CPU id, ready to run IRQs before anyone may raise one at it. */
static void become_cpu_locked(int id)
{
	struct host_cpu *c = &host_cpus[id];

	c->held = true;
	atomic_store_explicit(&c->pending, 0, memory_order_relaxed);
	c->thread = pthread_self();
	c->tid = gettid();
	c->timer_armed = false;
	host_self.irq_depth = 0;
	host_self.pending = &c->pending;
	/* Our signal handler sees the pending word before the id. */
	atomic_signal_fence(memory_order_seq_cst);
	host_self.id = id;
	atomic_signal_fence(memory_order_seq_cst);
	/* Release pairs with cpu_online()'s acquire. */
	atomic_store_explicit(&c->online, true, memory_order_release);
	if ((unsigned)id + 1 > atomic_load(&host_ncpus_seen))
		atomic_store_explicit(&host_ncpus_seen, (unsigned)id + 1,
				      memory_order_release);
}

int host_cpu_register(void)
{
	static const irqflags_t unmasked = { HOST_IRQF_ENABLED };
	int id;

	if (host_self.id >= 0)
		return -1;
	host_rcu_register();
	host_irq_install();
	/* Masked until registered: an IRQ raised meanwhile stays pending. */
	atomic_store_explicit(&host_self.irq_off, true, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);

	pthread_mutex_lock(&host_registry_lock);
	id = take_free_id_locked();
	if (id >= 0)
		become_cpu_locked(id);
	pthread_mutex_unlock(&host_registry_lock);
	PAUSE("host.cpu.register.online");
	/* Unmask, running what was raised since we went online. */
	irq_restore(unmasked);
	if (id < 0)
		host_rcu_unregister();
	return id;
}

/* Stop being a target; returns the offline hooks to run, in hooks. */
static unsigned go_offline(unsigned id,
			   void (*hooks[HOST_MAX_OFFLINE_HOOKS])(unsigned))
{
	unsigned n;

	pthread_mutex_lock(&host_registry_lock);
	atomic_store_explicit(&host_cpus[id].online, false,
			      memory_order_release);
	n = n_offline_hooks;
	for (unsigned i = 0; i < n; i++)
		hooks[i] = offline_hooks[i];
	pthread_mutex_unlock(&host_registry_lock);
	return n;
}

/* Give the id back: the last thing this thread does as CPU id. */
static void release_id(unsigned id)
{
	atomic_signal_fence(memory_order_seq_cst);
	host_self.id = -1;
	host_self.pending = &host_no_pending;
	atomic_signal_fence(memory_order_seq_cst);
	/* Nothing is raised at an offline id: what is left here is dropped. */
	atomic_store_explicit(&host_cpus[id].pending, 0, memory_order_relaxed);
	/* The lock orders all we did as id before the next owner's start. */
	pthread_mutex_lock(&host_registry_lock);
	host_cpus[id].held = false;
	pthread_mutex_unlock(&host_registry_lock);
}

/*
 * Going offline, in an order that strands nothing: stop taking interrupts
 * (timer off, masked), stop being a target (offline under the registry
 * lock, so no new IPI is raised), run the calls addressed to us (a
 * caller whose IPI finds us offline takes back any this serve does not
 * take: kernel/smp_call.c), then the offline hooks (the page caches
 * drain here, and no interrupt can refill them now), and only then give
 * up the id: until then no other thread can become this CPU.
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

	n = go_offline(id, hooks);
	PAUSE("host.cpu.unregister.offline");
	smp_call_serve();
	for (unsigned i = 0; i < n; i++)
		hooks[i](id);
	release_id(id);
	host_rcu_unregister();
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
