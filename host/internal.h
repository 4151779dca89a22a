/* SPDX-License-Identifier: MIT */
/*
 * State shared by the host platform's own files (cpu.c, irq.c). Not for
 * anyone else.
 *
 * Lock: host_registry_lock (a pthread mutex, host-only code) protects
 * which ids are held and online, and their thread handles: [R] below.
 * host/cpu.c says what held and online mean and why the order is right.
 * [a] atomic, [c] only the CPU's own thread.
 */
#ifndef HOST_INTERNAL_H
#define HOST_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

#include "host/host.h"

struct host_cpu {
	_Atomic uint64_t pending;  /* [a] vectors raised and not yet run */
	_Atomic uint64_t irq_runs; /* [a] handler runs (owner adds, anyone reads) */
	bool held;                 /* [R] a thread owns the id (taken or leaving) */
	_Atomic bool online;       /* [R] to write; racy reads are hints;
				      a target for IRQs (implies held) */
	pthread_t thread;          /* [R] */
	pid_t tid;                 /* [R] */
	bool timer_armed;          /* [c] */
	timer_t timer;             /* [c] */
} CACHE_ALIGNED;

extern struct host_cpu host_cpus[MAX_CPUS];
extern pthread_mutex_t host_registry_lock;

/* The pending word of a thread that is not a CPU: always zero. */
extern _Atomic uint64_t host_no_pending;

/* Install the IRQ signal handler (idempotent, thread-safe). */
void host_irq_install(void);

/*
 * Raise vector on online CPU cpu. Pre: host_registry_lock held (which keeps
 * the target online and its thread alive).
 */
void host_irq_raise_locked(unsigned cpu, unsigned vector);

/* The HOST_IRQ_CALL handler: runs smp_call_serve(). */
void host_smp_call_irq(unsigned vector);

/*
 * The calling thread, becoming a CPU, registers with liburcu (offline
 * outside sections: host/rcu.c); and unregisters, leaving. The first
 * registration starts RCU's grace-period thread.
 */
void host_rcu_register(void);
void host_rcu_unregister(void);

#endif /* HOST_INTERNAL_H */
