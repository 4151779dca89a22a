/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU page caches. See pcp.h for the design.
 *
 * Protection: caches[cpu][zone] is [c]: only CPU cpu touches it, with
 * interrupts masked. count is an atomic only so that statistics on other
 * CPUs may read it (the owner stores it with plain loads and stores).
 * params[][] is [I] after pcp_init().
 */
#include <stdatomic.h>
#include <string.h>

#include "kernel/lib/pause.h"
#include "locks/lockcheck.h"
#include "percpu/pcp.h"

struct pcp_list {
	struct page *head;      /* [c] */
	_Atomic unsigned count; /* [c] writes; racy reads elsewhere */
};

struct pcp {
	struct pcp_list list[PCP_ORDERS];
} CACHE_ALIGNED;

static struct pcp caches[MAX_CPUS][ZONE_COUNT];
static struct pcp_params params[ZONE_COUNT][PCP_ORDERS];

static const unsigned cached_order[PCP_ORDERS] = { 0, 1, 2, 3, 9 };
/*
 * Orders 1-3 and 9 move 16 and 8 blocks at a time: a refill is then one
 * claim of whole words of an area, or of a window's top-order blocks,
 * for many allocations (issue 11's measurements; pcp_init() cuts them
 * to the zone's budget).
 */
static const struct pcp_params defaults[PCP_ORDERS] = {
	{ 32, 128 }, { 16, 64 }, { 16, 64 }, { 16, 64 }, { 8, 16 },
};

/*
 * The high mark and batch of a cached order of block frames, within
 * budget frames: the defaults, or the highest mark that fits, with the
 * default batch if it leaves a block of room below the mark, else one
 * less than the mark (a refill then fills the cache but one, a drain
 * leaves two); high 0 (not cached) if not even one block fits. At 1 GiB
 * and 8 CPUs order 9 gets 5 blocks and a batch of 4: a refill claims two
 * top-order blocks with one CAS, and bulk order-9 allocation ran 1.2-1.3x
 * faster than with half the mark, 2.
 */
static struct pcp_params fit(struct pcp_params p, uint64_t block,
			     uint64_t budget)
{
	if (p.high * block > budget) {
		p.high = (unsigned)(budget / block);
		p.batch = MAX(1u, MIN(p.batch, p.high - 1));
	}
	if (p.high < p.batch)
		p.high = 0;
	return p;
}

/*
 * Each CPU may cache up to 1/8 of the zone, all orders together. The
 * orders take their shares smallest first, so order 9 gets what the
 * small orders leave (at most a few thousand frames) rather than a fifth
 * of the budget: at 1 GiB and 8 CPUs a fifth held one order-9 block,
 * every order-9 allocation went to the buddy, and the cache only added
 * its cost (issue 11).
 */
void pcp_init(unsigned cpus)
{
	memset(caches, 0, sizeof(caches));
	memset(params, 0, sizeof(params));
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		uint64_t budget = zones[z].managed / 8 / MAX(cpus, 1u);

		zones[z].pcp_orders = 0;
		if (!zones[z].pcp)
			continue;
		for (unsigned i = 0; i < PCP_ORDERS; i++) {
			uint64_t block = UINT64_C(1) << cached_order[i];
			struct pcp_params p = fit(defaults[i], block, budget);

			params[z][i] = p;
			if (p.high > 0) {
				zones[z].pcp_orders |= 1u << cached_order[i];
				budget -= p.high * block;
			}
		}
	}
}

struct pcp_params pcp_params_of(const struct zone *z, unsigned order)
{
	int i = pcp_index(order);

	return i < 0 ? (struct pcp_params){ 0, 0 } : params[z->id][i];
}

/*
 * ------------------------------------------------------ list ops [c]
 *
 * Each list op is two plain steps on the head, so the caller must mask
 * interrupts: an IRQ handler using the same list between the steps would
 * lose a block or hand one out twice (ALO-01). The pause points sit
 * between the steps, where tests raise an interrupt to check the masking.
 */

static unsigned count_of(const struct pcp_list *l)
{
	return atomic_load_explicit(&l->count, memory_order_relaxed);
}

static void push(struct pcp_list *l, struct page *p)
{
	p->u.next = l->head;
	PAUSE("pcp.push.linked");
	l->head = p;
	atomic_store_explicit(&l->count, count_of(l) + 1, memory_order_relaxed);
}

static struct page *pop(struct pcp_list *l)
{
	struct page *p = l->head;

	PAUSE("pcp.pop.head_read");
	if (p != NULL) {
		l->head = p->u.next;
		p->u.next = NULL;
		atomic_store_explicit(&l->count, count_of(l) - 1,
				      memory_order_relaxed);
	}
	return p;
}

static unsigned zeroed_flag(const struct page *p)
{
	return ps_flags(page_state(p)) & PF_ZEROED;
}

/* Pre (both): interrupts masked, l is this CPU's list for (z, order). */
static void refill(struct zone *z, struct pcp_list *l, unsigned order,
		   unsigned batch)
{
	pfn_t got[PCP_MAX_BATCH];
	unsigned n = buddy_alloc_bulk(&z->buddy, order, batch, got);

	for (unsigned i = 0; i < n; i++) {
		struct page *p = pfn_to_page(got[i]);

		page_set_state(p, ps_make(0, PAGE_PCP, order, zeroed_flag(p)));
		push(l, p);
	}
}

static void drain(struct zone *z, struct pcp_list *l, unsigned order,
		  unsigned n)
{
	pfn_t out[PCP_MAX_BATCH];
	unsigned k = 0;

	for (struct page *p; k < n && (p = pop(l)) != NULL; k++) {
		page_set_state(p, ps_make(0, PAGE_NONE, 0, zeroed_flag(p)));
		out[k] = page_to_pfn(p);
	}
	if (k > 0)
		buddy_free_bulk(&z->buddy, out, k, order);
}

/* ------------------------------------------------------------- API */

struct page *pcp_alloc(struct zone *z, unsigned order)
{
	int i = pcp_index(order);
	irqflags_t f = irq_save();
	struct pcp_list *l = &caches[cpu_id()][z->id].list[i];
	struct page *p;

	ASSERT(pcp_caches(z, order));
	if (l->head == NULL)
		refill(z, l, order, params[z->id][i].batch);
	p = pop(l);
	irq_restore(f);
	return p;
}

void pcp_free(struct zone *z, struct page *p, unsigned order)
{
	int i = pcp_index(order);
	irqflags_t f = irq_save();
	struct pcp_list *l = &caches[cpu_id()][z->id].list[i];
	const struct pcp_params *pp = &params[z->id][i];

	ASSERT(pcp_caches(z, order));
	page_set_state(p, ps_make(0, PAGE_PCP, order, 0));
	push(l, p);
	if (count_of(l) > pp->high)
		drain(z, l, order, pp->batch);
	irq_restore(f);
}

void pcp_drain_local(void)
{
	irqflags_t f = irq_save();
	unsigned cpu = cpu_id();

	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		if (!zones[z].pcp)
			continue;
		for (unsigned i = 0; i < PCP_ORDERS; i++) {
			struct pcp_list *l = &caches[cpu][z].list[i];

			while (l->head != NULL)
				drain(&zones[z], l, cached_order[i],
				      PCP_MAX_BATCH);
		}
	}
	irq_restore(f);
}

static void drain_ipi(void *arg)
{
	(void)arg;
	pcp_drain_local();
}

/* smp_call_cond() predicate: whether cpu caches anything (racy). */
static bool cpu_has_cached(unsigned cpu, void *arg)
{
	(void)arg;
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		if (!zones[z].pcp)
			continue;
		for (unsigned i = 0; i < PCP_ORDERS; i++)
			if (count_of(&caches[cpu][z].list[i]) > 0)
				return true;
	}
	return false;
}

/*
 * Drain rounds are shared. pcp_drain_seq counts round starts and ends (odd
 * while one runs); only the CPU that moves it from even to odd sends
 * IPIs, and only to CPUs that cache something (Linux's drain_all_pages()
 * keeps rounds apart with a mutex and skips CPUs without pages too).
 * A caller whose ticket predates a round that has since ended takes that
 * round as its own. When memory runs short on many CPUs at once, each
 * would otherwise interrupt every other CPU: 64 vCPUs on 2 host cores
 * spent tens of seconds in back-to-back rounds. A waiter keeps interrupts
 * enabled, so the round it waits for drains its cache too. Neither a
 * leader nor a waiter may hold a spinlock (checked in debug builds): a
 * CPU spinning for it with interrupts masked would never answer the IPI,
 * and the round would never end. frame.c's top comment says why every
 * other wait a round depends on ends.
 *
 * Ordering: the store that ends a round (release) pairs with the load in
 * pcp_drain_ticket() (acquire): a caller that sees a round ended also
 * sees the blocks it returned to the buddies.
 */
_Atomic uint64_t pcp_drain_seq;

void pcp_drain_since(uint64_t ticket)
{
	/* Where pcp_drain_seq stands once the first round to start after the
	 * ticket has ended (if one runs at the ticket, it is not that one). */
	uint64_t done = ticket + 2 + (ticket & 1);
	uint64_t s;

	if (!irqs_enabled() || in_irq()) {
		pcp_drain_local();
		return;
	}
	/* From here we wait: for every CPU's IPI as a round's leader, or
	 * for another CPU's round (frame.c's top comment). */
	lockcheck_assert_none_held("a drain round may start (it waits for "
				   "every CPU's IPI)", HERE);
	while ((s = pcp_drain_ticket()) < done) {
		if (s & 1) {
			while (pcp_drain_ticket() == s)
				cpu_relax();
		} else if (atomic_compare_exchange_strong_explicit(
				   &pcp_drain_seq, &s, s + 1, memory_order_acquire,
				   memory_order_relaxed)) {
			smp_call_cond(cpu_has_cached, drain_ipi, NULL);
			atomic_store_explicit(&pcp_drain_seq, s + 2,
					      memory_order_release);
			return;
		}
	}
}

void pcp_drain_all(void)
{
	pcp_drain_since(pcp_drain_ticket());
}

uint64_t pcp_drain_rounds(void)
{
	return pcp_drain_ticket() / 2;
}

uint64_t pcp_cached(const struct zone *z)
{
	uint64_t n = 0;

	for (unsigned c = 0; c < ncpus(); c++)
		for (unsigned i = 0; i < PCP_ORDERS; i++)
			n += (uint64_t)count_of(&caches[c][z->id].list[i])
			     << cached_order[i];
	return n;
}

static bool validate_list(const struct zone *z, const struct pcp_list *l,
			  unsigned order, uint64_t *frames)
{
	unsigned n = 0;

	for (const struct page *p = l->head; p != NULL; p = p->u.next) {
		uint64_t s = page_state(p);
		pfn_t pfn = page_to_pfn(p);

		if (ps_usage(s) != PAGE_PCP || ps_order(s) != order ||
		    ps_ref(s) != 0 || zone_of(pfn) != z ||
		    n > count_of(l)) {
			klog("pcp: bad entry pfn %llu (%s, order %u, ref %u) "
			     "in the order-%u list of %s",
			     (unsigned long long)pfn.v,
			     page_usage_name(ps_usage(s)), ps_order(s),
			     ps_ref(s), order, z->name);
			return false;
		}
		n++;
	}
	if (n != count_of(l)) {
		klog("pcp: %s order-%u list holds %u blocks, count says %u",
		     z->name, order, n, count_of(l));
		return false;
	}
	*frames += (uint64_t)n << order;
	return true;
}

bool pcp_validate(const struct zone *z, uint64_t *frames)
{
	*frames = 0;
	for (unsigned c = 0; c < MAX_CPUS; c++)
		for (unsigned i = 0; i < PCP_ORDERS; i++)
			if (!validate_list(z, &caches[c][z->id].list[i],
					   cached_order[i], frames))
				return false;
	return true;
}

void pcp_fini(void)
{
	memset(caches, 0, sizeof(caches));
	memset(params, 0, sizeof(params));
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		zones[z].pcp_orders = 0;
}
