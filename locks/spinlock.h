/* SPDX-License-Identifier: MIT */
/*
 * Spinlocks: FIFO-fair, IRQ-safe, checked in debug builds.
 *
 * Two implementations behind one API, chosen at build time:
 *
 *   ticket (default, CONFIG_SPINLOCK_MCS=0): one 32-bit word, a "next"
 *     ticket and a "now serving" ticket. Acquire is one fetch-and-add plus
 *     a spin on the shared word; release is one store. Smallest, and the
 *     cheapest uncontended: that is the common case here, because the hot
 *     paths are per-CPU or lock-free and locks guard cold paths.
 *   MCS (CONFIG_SPINLOCK_MCS=1): a queue of per-CPU nodes; each waiter
 *     spins on its own node, so a contended hand-over touches one remote
 *     line instead of every waiter's. Better under heavy contention on many
 *     CPUs; costs a swap, a compare-and-swap at release and a node per
 *     held lock.
 *
 * Both are built on Concurrency Kit's atomics and fences (ck_pr). The wait
 * loops are our own rather than ck_spinlock_*'s so that each iteration calls
 * the platform's cpu_relax(): with ck's loops, 8 host threads on 2 cores
 * did not finish 2.4 million acquisitions in 120 s (a FIFO lock handed to a
 * descheduled thread waits out whole time slices); with cpu_relax() yielding
 * they take seconds. Kernel vCPUs have the same problem, which paravirtual
 * spinlocks solve the same way.
 *
 * ThreadSanitizer cannot see ck's inline-asm atomics, so the raw lock and
 * unlock tell it about the hand-over (hb_acquire/hb_release, no-ops outside
 * TSan builds), right at the acquire and release fences.
 *
 * IRQ rules. A lock that an interrupt handler takes must be taken with
 * interrupts masked everywhere else: spin_lock_irqsave(). Otherwise a
 * handler that interrupts the holder on its own CPU spins forever (finding
 * ALO-01). spin_lock() is for locks never taken in IRQ context, or for code
 * that already runs with interrupts masked.
 *
 * Debug builds (CONFIG_LOCK_DEBUG) check every acquisition: see
 * locks/lockcheck.h. Each lock has a name; locks with the same name form one
 * class for the order checker.
 *
 * Every lock's declaration says what it protects and where it sits in the
 * lock order.
 */
#ifndef LOCKS_SPINLOCK_H
#define LOCKS_SPINLOCK_H

#include <ck_pr.h>
#include <platform.h>

#include "locks/lockcheck.h"

#if CONFIG_SPINLOCK_MCS
/* A waiter's queue entry (per CPU, see locks/spinlock.c). */
struct mcs_node {
	struct mcs_node *next; /* [a] successor, set by it */
	unsigned int locked;   /* [a] 1 while waiting; the predecessor clears */
	unsigned int slot;     /* [c] index in the owning CPU's pool */
};
#endif

typedef struct CAPABILITY("spinlock") spinlock {
#if CONFIG_SPINLOCK_MCS
	struct mcs_node *tail;   /* [a] last queued node; NULL when free */
	struct mcs_node *holder; /* holder's node: written after acquire */
#else
	union {
		uint32_t word; /* [a] both halves, for trylock's CAS */
		struct {
			uint16_t owner; /* [a] ticket being served */
			uint16_t next;  /* [a] next ticket to hand out */
		} t;
	} ticket;
#endif
#if CONFIG_LOCK_DEBUG
	struct lockcheck_map dep;
#endif
} spinlock_t;

#if CONFIG_LOCK_DEBUG
#define SPINLOCK_DEP_INIT(name) .dep = LOCKCHECK_MAP_INIT(name),
#else
#define SPINLOCK_DEP_INIT(name)
#endif

/* Static initialiser: spinlock_t l = SPINLOCK_INIT("zone"); */
#define SPINLOCK_INIT(name) { SPINLOCK_DEP_INIT(name) }

/* Name is the lock's class for the checker (a string literal). */
void spin_lock_init(spinlock_t *l, const char *name);

/* ----------------------------------------------------- raw lock words */

#if CONFIG_SPINLOCK_MCS
struct mcs_node *spin_mcs_node_get(void);
void spin_mcs_node_put(struct mcs_node *n);

static inline void spin_raw_lock(spinlock_t *l)
{
	struct mcs_node *n = spin_mcs_node_get();
	struct mcs_node *prev;

	ck_pr_store_ptr(&n->next, NULL);
	ck_pr_store_uint(&n->locked, 1);
	/* Make our node's fields visible before we are linked. */
	ck_pr_fence_store_atomic();
	prev = ck_pr_fas_ptr(&l->tail, n);
	if (prev != NULL) {
		ck_pr_store_ptr(&prev->next, n);
		while (ck_pr_load_uint(&n->locked) != 0)
			cpu_relax();
	}
	/* Pairs with the fence_unlock in spin_raw_unlock. */
	ck_pr_fence_lock();
	hb_acquire(l);
	l->holder = n;
}

static inline bool spin_raw_trylock(spinlock_t *l)
{
	struct mcs_node *n = spin_mcs_node_get();

	ck_pr_store_ptr(&n->next, NULL);
	ck_pr_store_uint(&n->locked, 1);
	ck_pr_fence_store_atomic();
	if (!ck_pr_cas_ptr(&l->tail, NULL, n)) {
		spin_mcs_node_put(n);
		return false;
	}
	ck_pr_fence_lock();
	hb_acquire(l);
	l->holder = n;
	return true;
}

static inline void spin_raw_unlock(spinlock_t *l)
{
	struct mcs_node *n = l->holder;
	struct mcs_node *next;

	hb_release(l);
	/* Pairs with ck_pr_fence_lock in the next holder's acquire. */
	ck_pr_fence_unlock();
	next = ck_pr_load_ptr(&n->next);
	if (next == NULL) {
		if (ck_pr_cas_ptr(&l->tail, n, NULL))
			goto done;
		/* A successor swapped itself in; wait until it links. */
		while ((next = ck_pr_load_ptr(&n->next)) == NULL)
			cpu_relax();
	}
	ck_pr_store_uint(&next->locked, 0);
done:
	spin_mcs_node_put(n);
}

static inline bool spin_raw_is_locked(const spinlock_t *l)
{
	return ck_pr_load_ptr(&l->tail) != NULL;
}

#else /* ticket */

static inline void spin_raw_lock(spinlock_t *l)
{
	uint16_t me = ck_pr_faa_16(&l->ticket.t.next, 1);

	while (ck_pr_load_16(&l->ticket.t.owner) != me)
		cpu_relax();
	/* Pairs with the fence_unlock in spin_raw_unlock. */
	ck_pr_fence_lock();
	hb_acquire(l);
}

static inline bool spin_raw_trylock(spinlock_t *l)
{
	uint32_t w = ck_pr_load_32(&l->ticket.word);
	uint16_t owner = (uint16_t)w, next = (uint16_t)(w >> 16);

	if (owner != next)
		return false;
	if (!ck_pr_cas_32(&l->ticket.word, w,
			  (uint32_t)owner | (uint32_t)(uint16_t)(next + 1) << 16))
		return false;
	ck_pr_fence_lock();
	hb_acquire(l);
	return true;
}

static inline void spin_raw_unlock(spinlock_t *l)
{
	hb_release(l);
	/* Pairs with ck_pr_fence_lock in the next holder's acquire. */
	ck_pr_fence_unlock();
	/* Only the holder writes owner; a locked 16-bit add, as ck does. */
	ck_pr_inc_16(&l->ticket.t.owner);
}

static inline bool spin_raw_is_locked(const spinlock_t *l)
{
	uint32_t w = ck_pr_load_32(&l->ticket.word);

	return (uint16_t)w != (uint16_t)(w >> 16);
}
#endif

/* --------------------------------------------------------- the API */

/*
 * The *_at functions take the call site ("file:line") for the checker's
 * reports; use the macros without _at.
 */
static inline void spin_lock_at(spinlock_t *l, const char *site)
	ACQUIRE(l) NO_THREAD_SAFETY_ANALYSIS
{
	lockcheck_acquire(&l->dep, l, site);
	spin_raw_lock(l);
	lockcheck_acquired(l);
}

static inline bool spin_trylock_at(spinlock_t *l, const char *site)
	TRY_ACQUIRE(true, l) NO_THREAD_SAFETY_ANALYSIS
{
	if (!spin_raw_trylock(l))
		return false;
	lockcheck_acquired_try(&l->dep, l, site);
	return true;
}

static inline void spin_unlock_at(spinlock_t *l, const char *site)
	RELEASE(l) NO_THREAD_SAFETY_ANALYSIS
{
	lockcheck_release(&l->dep, l, site);
	spin_raw_unlock(l);
}

static inline irqflags_t spin_lock_irqsave_at(spinlock_t *l, const char *site)
	ACQUIRE(l) NO_THREAD_SAFETY_ANALYSIS
{
	irqflags_t f = irq_save();

	spin_lock_at(l, site);
	return f;
}

static inline void spin_unlock_irqrestore_at(spinlock_t *l, irqflags_t f,
					     const char *site)
	RELEASE(l) NO_THREAD_SAFETY_ANALYSIS
{
	spin_unlock_at(l, site);
	irq_restore(f);
}

#define spin_lock(l)         spin_lock_at((l), HERE)
#define spin_trylock(l)      spin_trylock_at((l), HERE)
#define spin_unlock(l)       spin_unlock_at((l), HERE)
#define spin_lock_irqsave(l) spin_lock_irqsave_at((l), HERE)
#define spin_unlock_irqrestore(l, f) spin_unlock_irqrestore_at((l), (f), HERE)

/* Racy peek, for assertions and statistics only. */
static inline bool spin_is_locked(const spinlock_t *l)
{
	return spin_raw_is_locked(l);
}

/*
 * Panic (in debug builds) unless this CPU holds l. Tells clang's analysis
 * that l is held from here on.
 */
static inline void spin_assert_held(const spinlock_t *l) ASSERT_CAPABILITY(l)
{
	ASSERT(CONFIG_LOCK_DEBUG ? lockcheck_held(l) : spin_is_locked(l));
	(void)l;
}

#endif /* LOCKS_SPINLOCK_H */
