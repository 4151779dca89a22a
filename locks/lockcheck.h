/* SPDX-License-Identifier: MIT */
/*
 * The lock checker (debug builds: CONFIG_LOCK_DEBUG). Called by the lock
 * primitives around every acquisition and release; it finds, at the moment
 * the code runs rather than the day it hangs:
 *
 *   self-deadlock  a CPU acquires a lock it already holds or is already
 *                  waiting for, typically from an interrupt handler that
 *                  interrupted the holder (ALO-01):
 *                  "deadlock: CPU n already holds <lock>"          (fatal)
 *   order cycles   lock classes acquired in opposite orders anywhere,
 *                  ever (A then B here, B then A there), reported with the
 *                  acquisition sites of both orders, before any deadlock
 *                  happens                                          (report)
 *   IRQ safety     a class taken in IRQ context that is also held with
 *                  interrupts enabled somewhere; and, as Linux's lockdep
 *                  does, a class taken in IRQ context that is held (with
 *                  interrupts masked) while taking, through any chain of
 *                  order edges, a class held with interrupts enabled
 *                  somewhere: an IRQ on the second holder's CPU deadlocks
 *                  against the first                                (report)
 *   bad unlock     releasing a lock this CPU does not hold          (fatal)
 *   held across    a lock held where the code is about to wait for other
 *   a wait         CPUs to answer an IPI (lockcheck_assert_none_held()):
 *                  a CPU spinning for that lock with interrupts masked
 *                  never answers                                    (fatal)
 *
 * A class is a lock name: all locks initialised with the same name share
 * one. Order edges are recorded only between locks taken in the same
 * context (an IRQ handler's locks do not depend on the locks of the code it
 * interrupted, as in Linux's lockdep); self-deadlock is checked across
 * contexts, which is the point of it.
 *
 * Reports go to a hook (default: klog the message, then panic). A test can
 * install its own hook to collect reports; after a fatal report the checker
 * panics even if the hook returns, since going on would hang.
 */
#ifndef LOCKS_LOCKCHECK_H
#define LOCKS_LOCKCHECK_H

#include <stdatomic.h>

#include <platform.h>

enum lockcheck_kind {
	LOCKCHECK_DEADLOCK,   /* fatal */
	LOCKCHECK_ORDER,
	LOCKCHECK_IRQ_UNSAFE,
	LOCKCHECK_BAD_UNLOCK, /* fatal */
	LOCKCHECK_LIMIT,      /* fatal: a fixed table of the checker is full */
	LOCKCHECK_HELD_ACROSS_WAIT, /* fatal */
};

/* Install a report hook; NULL restores the default. Returns the old one. */
typedef void (*lockcheck_report_fn)(enum lockcheck_kind kind, const char *msg);
lockcheck_report_fn lockcheck_set_report(lockcheck_report_fn fn);

#define LOCKCHECK_MAX_CLASSES 64 /* distinct lock names */
#define LOCKCHECK_MAX_HELD    48 /* locks one CPU holds at once */

#if CONFIG_LOCK_DEBUG

struct lock_class;

/* The checker's part of a lock. */
struct lockcheck_map {
	const char *name;                 /* [I] the class name */
	struct lock_class *_Atomic cls;   /* [a] resolved at first use */
};
#define LOCKCHECK_MAP_INIT(n) { .name = (n), .cls = NULL }

void lockcheck_map_init(struct lockcheck_map *m, const char *name);

/*
 * Before spinning for lock (which m belongs to), at site. Panics on a
 * self-deadlock; records order and IRQ usage, reporting what is wrong.
 */
void lockcheck_acquire(struct lockcheck_map *m, const void *lock,
		       const char *site);
/* The lock announced by lockcheck_acquire() is now held. */
void lockcheck_acquired(const void *lock);
/* A trylock succeeded (a trylock never waits, so it adds no order edge). */
void lockcheck_acquired_try(struct lockcheck_map *m, const void *lock,
			    const char *site);
/* About to release lock; panics unless this CPU holds it. */
void lockcheck_release(struct lockcheck_map *m, const void *lock,
		       const char *site);
/* Whether this CPU holds lock. */
bool lockcheck_held(const void *lock);

/* Locks this CPU holds or waits for (its interrupt handlers' included). */
unsigned lockcheck_held_count(void);

/*
 * For code about to wait until other CPUs answer an IPI (a drain round of
 * the page caches): reports LOCKCHECK_HELD_ACROSS_WAIT, naming the lock
 * and where it was taken, if this CPU holds or waits for any. what says
 * what is about to wait; site is the caller's HERE.
 */
void lockcheck_assert_none_held(const char *what, const char *site);

/*
 * Forget every order edge and IRQ mark, keeping the classes (tests only:
 * no CPU may hold or wait for a lock meanwhile).
 */
void lockcheck_reset(void);

#else /* !CONFIG_LOCK_DEBUG: m is not even evaluated (it has no field) */

#define lockcheck_map_init(m, name)              ((void)(name))
#define lockcheck_acquire(m, lock, site)         ((void)(site))
#define lockcheck_acquired(lock)                 ((void)(lock))
#define lockcheck_acquired_try(m, lock, site)    ((void)(site))
#define lockcheck_release(m, lock, site)         ((void)(site))
#define lockcheck_held(lock)                     ((void)(lock), true)
#define lockcheck_held_count()                   0u
#define lockcheck_assert_none_held(what, site)   ((void)(what), (void)(site))
#define lockcheck_reset()                        ((void)0)

#endif /* CONFIG_LOCK_DEBUG */

#endif /* LOCKS_LOCKCHECK_H */
