/* SPDX-License-Identifier: MIT */
/*
 * Spinlock support: initialisation, and the MCS queue nodes.
 *
 * MCS nodes: each CPU owns a small pool. A node is taken when a CPU starts
 * waiting for an MCS lock and given back when it releases that lock, so a
 * CPU needs one node per MCS lock it holds or waits for at once, interrupt
 * handlers included. Locks may be released in any order, so the pool is a
 * bitmap of free slots, updated with interrupts masked ([c] below).
 */
#include "locks/spinlock.h"

void spin_lock_init(spinlock_t *l, const char *name)
{
	*l = (spinlock_t)SPINLOCK_INIT(name);
	(void)name;
}

#if CONFIG_SPINLOCK_MCS

#define MCS_NODES_PER_CPU 32

struct mcs_pool {
	struct mcs_node node[MCS_NODES_PER_CPU]; /* [c] */
	uint32_t used;                           /* [c] bit i: node i taken */
} CACHE_ALIGNED;

_Static_assert(MCS_NODES_PER_CPU <= 32, "used is a 32-bit mask");

static struct mcs_pool pools[MAX_CPUS];

struct mcs_node *spin_mcs_node_get(void)
{
	irqflags_t f = irq_save();
	struct mcs_pool *p = &pools[cpu_id()];
	unsigned slot;

	if (p->used == UINT32_MAX)
		panic("CPU %u holds or waits for more than %d MCS locks",
		      cpu_id(), MCS_NODES_PER_CPU);
	slot = (unsigned)__builtin_ctz(~p->used);
	p->used |= UINT32_C(1) << slot;
	irq_restore(f);
	p->node[slot].slot = slot;
	return &p->node[slot];
}

void spin_mcs_node_put(struct mcs_node *n)
{
	irqflags_t f = irq_save();
	struct mcs_pool *p = &pools[cpu_id()];

	ASSERT(&p->node[n->slot] == n && (p->used & (UINT32_C(1) << n->slot)));
	p->used &= ~(UINT32_C(1) << n->slot);
	irq_restore(f);
}

#endif /* CONFIG_SPINLOCK_MCS */
