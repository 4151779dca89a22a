/* SPDX-License-Identifier: MIT */
/*
 * The frame API. See frame.h for the contract.
 *
 * State: zones[], cfg, drop_hooks[] are [I] after frame_init() (written on
 * the boot CPU before `ready` is published with release). early[] belongs
 * to the boot CPU before frame_init(). Descriptors are owned as page.h
 * says; a block between its claim and its arrival in a cache, the buddy or
 * the scrub queue is "in transit": PAGE_NONE, owned by the freeing or
 * allocating thread alone.
 *
 * Progress. ALLOCATOR.md asks for a lock-free buddy; the layers above it
 * may wait, but each wait must end. Every path, and what it may wait on:
 *
 *   lock-free    frame_free(), frame_put(), frame_get(): one atomic step,
 *                or a CAS loop on the head's state that retries only
 *                because another CPU's step succeeded; account charges (a
 *                CAS loop); the buddy (the argument atop buddy.c). They
 *                never wait for another CPU.
 *   no waiting   the per-CPU caches (pcp.c): only the owning CPU touches
 *                one, with interrupts masked for one batch (at most
 *                PCP_MAX_BATCH blocks), or one cache's contents in
 *                pcp_drain_local(); no lock.
 *   spinlock     take_above_reserve(), only for a request that fell back
 *                into the DMA zone because NORMAL and DMA32 had nothing:
 *                zone.fallback_lock, interrupts masked, held around one
 *                read of the free count and one buddy_alloc(), which never
 *                waits. scrub_queue() and the scrubber: scrub_lock, a leaf,
 *                interrupts masked, held for one list insertion or removal
 *                (scrub_validate() walks the queue under it, at quiescence
 *                only). Both locks are FIFO (ticket or MCS), so a CPU waits
 *                at most one short critical section per other CPU.
 *   IPI round    an allocation that finds nothing while other CPUs cache
 *                frames, with interrupts enabled outside IRQ context, calls
 *                pcp_drain_since() (find_block()), as pcp_drain_all() does:
 *                it leads a drain round, waiting until every CPU it
 *                interrupted has drained its caches, or waits for the round
 *                under way and then at most one more. A CPU answers the
 *                next time it has interrupts enabled, and every masked
 *                section above is bounded, so a round ends provided that
 *                  (a) no CPU holds a spinlock while it leads or waits: a
 *                      CPU spinning for that lock with interrupts masked
 *                      would never answer. Debug builds check it
 *                      (lockcheck_assert_none_held()) on every allocation
 *                      that could start a round (check_may_drain()) and in
 *                      pcp_drain_since();
 *                  (b) leaders and waiters keep interrupts enabled, so two
 *                      CPUs that start rounds at once answer each other;
 *                  (c) a CPU that is offline is not interrupted, and one
 *                      that goes offline first serves what was addressed
 *                      to it (smp_call.c; host/cpu.c on the host).
 *                With interrupts masked, or in an IRQ handler, the drain is
 *                this CPU's caches only and waits for nobody. A preempted
 *                leader (a descheduled vCPU or host thread) delays the
 *                waiters until it runs again: this is the one wait that is
 *                not lock-free, on the path where memory is exhausted.
 *
 * Why zone.fallback_lock stays a lock: what it makes atomic is "the free
 * count is at least reserve + 2^order, and then a block is taken", two
 * steps over the buddy's own count and maps. Without it, two fallbacks
 * could each see room for one and both take a block, eating into the
 * reserve. A lock-free reservation kept here (a count of frames promised
 * to fallbacks in flight, raised with a CAS and checked against the free
 * count) counts a fallback's frames twice between its buddy_alloc() and
 * the release of its promise, so another fallback can fail while there is
 * room for it: E_NOMEM while memory is free. Taking the block first and
 * giving it back when the count turns out too low makes FRAME_DMA
 * requests fail while the reserve is intact. Doing it exactly without a
 * lock needs a CAS on the buddy's count itself, in buddy.c. The lock costs
 * little where it is: only requests that NORMAL and DMA32 cannot satisfy
 * take it, for a bounded section, with interrupts masked.
 */
#include <string.h>

#include "kernel/lib/pause.h"
#include "kernel/mm/frame.h"
#include "kernel/mm/scrub.h"
#include "locks/lockcheck.h"
#include "percpu/pcp.h"

struct zone zones[ZONE_COUNT];

static struct frame_config cfg;
static _Atomic bool ready;
static frame_drop_fn drop_hooks[PAGE_USAGE_COUNT];
static _Atomic uint64_t zero_skipped;

/*
 * Frames handed out before the frame table existed: the kernel's page
 * tables, the kernel half's 256 preallocated PDPTs among them
 * (PAGETABLE.md), and the tables of the direct map and the image.
 */
#define EARLY_MAX 512
struct early_frame {
	uint64_t pfn;
	uint8_t order;
	uint8_t usage;
};
static struct bootmem *early_bm;
static struct early_frame early[EARLY_MAX];
static unsigned nearly;

/* In transit (with the generation of the state it replaces). */
#define TRANSIT ps_make(0, PAGE_NONE, 0, 0)

_Static_assert(FRAME_MAX_ORDER <= PS_ORDER_MAX, "orders fit the state word");

err_t frame_config_named(const char *name, size_t len,
			 struct frame_config *out)
{
	static const struct {
		const char *name;
		struct frame_config cfg;
	} named[] = {
		{ "full", FRAME_CONFIG_FULL },
		{ "nopcp", FRAME_CONFIG_NOPCP },
		{ "locked", FRAME_CONFIG_LOCKED },
	};

	for (size_t i = 0; i < ARRAY_SIZE(named); i++)
		if (strlen(named[i].name) == len &&
		    memcmp(named[i].name, name, len) == 0) {
			*out = named[i].cfg;
			return E_OK;
		}
	return E_INVAL;
}

bool frame_ready(void)
{
	return atomic_load_explicit(&ready, memory_order_acquire);
}

/* --------------------------------------------------------- early boot */

void frame_early_init(struct bootmem *bm)
{
	early_bm = bm;
	nearly = 0;
}

static struct frame_result early_alloc(unsigned order, enum page_usage usage)
{
	struct bootmem_result r;

	if (early_bm == NULL)
		return (struct frame_result){ E_STATE, PFN(0) };
	if (nearly == EARLY_MAX)
		return (struct frame_result){ E_NOMEM, PFN(0) };
	r = bootmem_alloc(early_bm, UINT64_C(1) << order, UINT64_C(1) << order);
	if (r.err != E_OK)
		return (struct frame_result){ r.err == E_STATE ? E_STATE
							       : E_NOMEM, PFN(0) };
	early[nearly++] = (struct early_frame){ r.pfn.v, (uint8_t)order,
						(uint8_t)usage };
	return (struct frame_result){ E_OK, r.pfn };
}

/* --------------------------------------------------------------- init */

static uint64_t usable_end_pfn(const struct memmap *map)
{
	uint64_t end = 0;

	for (unsigned i = 0; i < map->count; i++)
		if (map->region[i].type == MEM_USABLE)
			end = MAX(end, map->region[i].end >> PAGE_SHIFT);
	return end;
}

static void setup_zones(uint64_t span_end)
{
	static const struct {
		const char *name;
		uint64_t lo, hi;
	} spec[ZONE_COUNT] = {
		[ZONE_DMA] = { "DMA", 0, ZONE_DMA_END },
		[ZONE_DMA32] = { "DMA32", ZONE_DMA_END, ZONE_DMA32_END },
		[ZONE_NORMAL] = { "NORMAL", ZONE_DMA32_END, UINT64_MAX },
	};

	for (unsigned i = 0; i < ZONE_COUNT; i++) {
		struct zone *z = &zones[i];

		memset(z, 0, sizeof(*z));
		z->id = (enum zone_id)i;
		z->name = spec[i].name;
		z->start = spec[i].lo;
		z->end = MAX(spec[i].lo, MIN(spec[i].hi, span_end));
		z->pcp = cfg.pcp && i != ZONE_DMA;
		spin_lock_init(&z->fallback_lock, "zone.fallback");
	}
}

static void give_back_meta(struct bootmem *bm, const uint64_t bytes[],
			   const pfn_t at[], unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (bytes[i] > 0) {
			err_t e = bootmem_free(bm, at[i], (bytes[i] + PAGE_SIZE - 1) /
							  PAGE_SIZE);

			ASSERT(e == E_OK);
			(void)e;
		}
	}
}

/* Metadata from the boot allocator; on failure, gives back what it took. */
static err_t take_meta(struct bootmem *bm, uint64_t bytes[], pfn_t at[],
		       unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t pages = (bytes[i] + PAGE_SIZE - 1) / PAGE_SIZE;
		struct bootmem_result r;

		if (pages == 0)
			continue;
		r = bootmem_alloc(bm, pages, 1);
		if (r.err != E_OK) {
			give_back_meta(bm, bytes, at, i);
			return E_NOMEM;
		}
		at[i] = r.pfn;
	}
	return E_OK;
}

static void mark_meta(pfn_t at, uint64_t bytes)
{
	page_table_mark(at, (bytes + PAGE_SIZE - 1) / PAGE_SIZE, PAGE_META);
}

/* Usable memory starts as PAGE_KERNEL: what boot took keeps that usage. */
static void mark_usable(const struct memmap *map)
{
	for (unsigned i = 0; i < map->count; i++) {
		const struct mem_region *r = &map->region[i];
		uint64_t s = ALIGN_UP(r->base, PAGE_SIZE) >> PAGE_SHIFT;
		uint64_t e = r->end >> PAGE_SHIFT;

		if (r->type == MEM_USABLE && s < e)
			page_table_mark(PFN(s), e - s, PAGE_KERNEL);
	}
}

static void adopt_early_frames(void)
{
	for (unsigned i = 0; i < nearly; i++) {
		struct page *p = pfn_to_page(PFN(early[i].pfn));

		page_set_allocated(p, early[i].usage, early[i].order);
		zone_of(PFN(early[i].pfn))->managed += UINT64_C(1)
						      << early[i].order;
	}
	nearly = 0;
	early_bm = NULL;
}

static void handoff(void *ctx, pfn_t pfn, unsigned order)
{
	struct zone *z = zone_of(pfn);

	(void)ctx;
	ASSERT(z != NULL);
	page_table_mark(pfn, UINT64_C(1) << order, PAGE_NONE);
	z->managed += UINT64_C(1) << order;
	buddy_free(&z->buddy, pfn, order, false);
}

static void set_reserve(void)
{
	struct zone *dma = &zones[ZONE_DMA];

	if (cfg.dma_reserve == UINT64_MAX)
		dma->reserve = MIN(dma->managed / 4, UINT64_C(1024));
	else
		dma->reserve = MIN(cfg.dma_reserve, dma->managed);
}

err_t frame_init(struct bootmem *bm, const struct memmap *map,
		 const struct frame_config *config)
{
	uint64_t bytes[1 + ZONE_COUNT], span_end, handed;
	pfn_t at[1 + ZONE_COUNT], self;
	uint64_t self_pages;
	err_t e;

	if (frame_ready())
		return E_ALREADY;
	span_end = ALIGN_UP(usable_end_pfn(map), BUDDY_MAX_PAGES);
	if (span_end == 0)
		return E_INVAL;
	cfg = *config;
	setup_zones(span_end);
	bytes[0] = page_table_bytes(span_end);
	for (unsigned i = 0; i < ZONE_COUNT; i++)
		bytes[1 + i] = zone_present(&zones[i])
			? buddy_metadata_bytes(zones[i].end - zones[i].start)
			: 0;
	e = take_meta(bm, bytes, at, 1 + ZONE_COUNT);
	if (e != E_OK)
		return e;

	page_table_init(phys_to_virt(pfn_to_pa(at[0])), span_end);
	mark_usable(map);
	for (unsigned i = 0; i < 1 + ZONE_COUNT; i++)
		if (bytes[i] > 0)
			mark_meta(at[i], bytes[i]);
	bootmem_self(bm, &self, &self_pages);
	page_table_mark(self, self_pages, PAGE_META);
	for (unsigned i = 0; i < ZONE_COUNT; i++)
		if (zone_present(&zones[i]))
			buddy_init(&zones[i].buddy, PFN(zones[i].start),
				   zones[i].end - zones[i].start,
				   phys_to_virt(pfn_to_pa(at[1 + i])),
				   cfg.buddy_locked);
	adopt_early_frames();
	e = bootmem_end(bm, BUDDY_MAX_ORDER, handoff, NULL, &handed);
	ASSERT(e == E_OK);
	(void)e;
	set_reserve();
	pcp_init(cfg.cpus != 0 ? cfg.cpus : ncpus());
	atomic_store_explicit(&ready, true, memory_order_release);
	return E_OK;
}

void frame_fini(void)
{
	atomic_store(&ready, false);
	pcp_fini();
	scrub_fini();
	memset(zones, 0, sizeof(zones));
	memset(drop_hooks, 0, sizeof(drop_hooks));
	page_table_fini();
	early_bm = NULL;
	nearly = 0;
	atomic_store(&zero_skipped, 0);
}

void frame_set_drop_hook(enum page_usage usage, frame_drop_fn fn)
{
	ASSERT(page_usage_allocatable(usage));
	drop_hooks[usage] = fn;
}

/* ----------------------------------------------------------- allocate */

/* A DMA-zone block for a request that fell back: keep the reserve. */
static struct page *take_above_reserve(struct zone *z, unsigned order)
{
	irqflags_t f = spin_lock_irqsave(&z->fallback_lock);
	struct page *p = NULL;
	pfn_t pfn;

	if (buddy_free_pages(&z->buddy) >=
		    (int64_t)(z->reserve + (UINT64_C(1) << order)) &&
	    buddy_alloc(&z->buddy, order, &pfn))
		p = pfn_to_page(pfn);
	spin_unlock_irqrestore(&z->fallback_lock, f);
	return p;
}

static struct page *take(struct zone *z, unsigned order, bool may_use_reserve)
{
	pfn_t pfn;

	if (z->managed == 0)
		return NULL;
	if (pcp_caches(z, order))
		return pcp_alloc(z, order);
	if (z->reserve > 0 && !may_use_reserve)
		return take_above_reserve(z, order);
	return buddy_alloc(&z->buddy, order, &pfn) ? pfn_to_page(pfn) : NULL;
}

/* The zones a request may use, best first; terminated by NULL. */
static struct zone *const chain_dma[] = { &zones[ZONE_DMA], NULL };
static struct zone *const chain_dma32[] = { &zones[ZONE_DMA32],
					    &zones[ZONE_DMA], NULL };
static struct zone *const chain_any[] = { &zones[ZONE_NORMAL],
					  &zones[ZONE_DMA32], &zones[ZONE_DMA],
					  NULL };

static struct zone *const *zone_chain(unsigned flags)
{
	return flags & FRAME_DMA ? chain_dma
	       : flags & FRAME_DMA32 ? chain_dma32 : chain_any;
}

/* Whether any CPU caches frames of a zone in the chain (racy hint). */
static bool chain_cached(struct zone *const *chain)
{
	for (; *chain != NULL; chain++)
		if ((*chain)->pcp && pcp_cached(*chain) > 0)
			return true;
	return false;
}

static struct page *take_from(struct zone *const *chain, unsigned order,
			      unsigned flags)
{
	for (; *chain != NULL; chain++) {
		struct page *p = take(*chain, order, flags & FRAME_DMA);

		if (p != NULL)
			return p;
	}
	return NULL;
}

/*
 * An allocation with interrupts enabled outside IRQ context may start a
 * drain round, which waits for every CPU's IPI: it must hold no spinlock.
 * Checked on every such call (debug builds), not only when memory runs
 * short, so the mistake shows the first time the code runs.
 */
static void check_may_drain(void)
{
	if (CONFIG_LOCK_DEBUG && cfg.pcp && irqs_enabled() && !in_irq())
		lockcheck_assert_none_held("an allocation may start a drain "
					   "round (it waits for every CPU's "
					   "IPI)", HERE);
}

static struct page *find_block(unsigned order, unsigned flags)
{
	struct zone *const *chain = zone_chain(flags);
	uint64_t ticket = cfg.pcp ? pcp_drain_ticket() : 0;
	struct page *p;

	check_may_drain();
	p = take_from(chain, order, flags);

	/*
	 * What other CPUs cache is free too: drain it and look again.
	 * Not when every cache is empty, which saves an IPI to every CPU per
	 * failing allocation when memory stays exhausted; and not if a round
	 * began and ended while we looked (the ticket).
	 */
	if (p != NULL || !cfg.pcp || !chain_cached(chain))
		return p;
	pcp_drain_since(ticket);
	return take_from(chain, order, flags);
}

struct frame_result frame_alloc_for(struct account *acct, unsigned order,
				    unsigned flags, enum page_usage usage)
{
	bool charge = acct != NULL && !(flags & FRAME_NOACCOUNT);
	struct page *p;
	unsigned was;
	err_t e;

	if (order > FRAME_MAX_ORDER || (flags & ~FRAME_FLAGS_ALL) ||
	    !page_usage_allocatable(usage))
		return (struct frame_result){ E_INVAL, PFN(0) };
	if (!frame_ready())
		return early_alloc(order, usage);
	if (charge && (e = account_charge(acct, UINT64_C(1) << order)) != E_OK)
		return (struct frame_result){ e, PFN(0) };
	p = find_block(order, flags);
	if (p == NULL) {
		if (charge)
			account_uncharge(acct, UINT64_C(1) << order);
		return (struct frame_result){ E_NOMEM, PFN(0) };
	}
	was = ps_flags(page_state(p));
	/* A free reset the descriptor (release()); only the owner is new. */
	ASSERT(p->owner == NULL && p->u.raw[0] == 0 && p->u.raw[1] == 0);
	if (charge)
		p->owner = acct;
	page_set_allocated(p, usage, order);
	if (flags & FRAME_ZERO) {
		if (was & PF_ZEROED)
			atomic_fetch_add_explicit(&zero_skipped, 1,
						  memory_order_relaxed);
		else
			memset(page_to_virt(p), 0, PAGE_SIZE << order);
	}
	return (struct frame_result){ E_OK, page_to_pfn(p) };
}

struct frame_result frame_alloc(unsigned order, unsigned flags)
{
	return frame_alloc_for(NULL, order, flags, PAGE_FRAME);
}

err_t frames_alloc(size_t n, unsigned flags, pfn_t *out)
{
	for (size_t i = 0; i < n; i++) {
		struct frame_result r = frame_alloc(0, flags);

		if (r.err != E_OK) {
			while (i-- > 0) {
				err_t e = frame_free(out[i], 0);

				ASSERT(e == E_OK);
				(void)e;
			}
			return r.err;
		}
		out[i] = r.pfn;
	}
	return E_OK;
}

/* --------------------------------------------------------------- free */

/* We own the block (its head is in transit): send it where it goes. */
static void release(struct page *p, unsigned order)
{
	struct account *a = p->owner;
	pfn_t pfn = page_to_pfn(p);
	struct zone *z = zone_of(pfn);

	p->owner = NULL;
	p->u.raw[0] = p->u.raw[1] = 0;
	if (a != NULL) {
		account_uncharge(a, UINT64_C(1) << order);
		if (account_dying(a)) {
			scrub_queue(p, order);
			return;
		}
	}
	ASSERT(z != NULL);
	if (pcp_caches(z, order))
		pcp_free(z, p, order);
	else
		buddy_free(&z->buddy, pfn, order, false);
}

/*
 * Why the block whose head has state s cannot be freed as order, or E_OK;
 * seen is the state the free first read. Another generation than seen's
 * means the block was freed and allocated again since then (page.h): the
 * block the caller meant is gone, and the new owner's is not the caller's
 * to free. A block whose one reference is held raw (frame_into_raw()) is
 * the raw address's, not the caller's: freeing it would leave that
 * address pointing at a free block.
 */
static err_t check_freeable(uint64_t s, uint64_t seen, unsigned order)
{
	enum page_usage u = ps_usage(s);

	if (ps_gen(s) != ps_gen(seen))
		return E_NOT_ALLOCATED;
	if (u == PAGE_META || u == PAGE_KERNEL || u == PAGE_RESERVED)
		return E_RESERVED;
	if (!page_usage_allocatable(u) || ps_ref(s) == 0)
		return E_NOT_ALLOCATED;
	if (ps_order(s) != order)
		return E_BAD_ORDER;
	if (ps_ref(s) > 1 || ps_raw_known(s) != 0)
		return E_REFERENCED;
	return E_OK;
}

/* The checks frame_free() makes before it looks at the descriptor. */
static err_t check_block(pfn_t pfn, unsigned order)
{
	uint64_t n;

	if (order > FRAME_MAX_ORDER) /* before anything shifts by it */
		return E_INVAL;
	if (!frame_ready())
		return E_STATE;
	n = UINT64_C(1) << order;
	if (!IS_ALIGNED(pfn.v, n) || pfn.v >= frame_table_pages ||
	    n > frame_table_pages - pfn.v)
		return E_RANGE;
	return E_OK;
}

err_t frame_free(pfn_t pfn, unsigned order)
{
	err_t e = check_block(pfn, order);

	return e != E_OK ? e
			 : frame_free_seen(pfn, order,
					   page_state(pfn_to_page(pfn)));
}

err_t frame_free_seen(pfn_t pfn, unsigned order, uint64_t seen)
{
	struct page *p;
	uint64_t s = seen;
	err_t bad = check_block(pfn, order);

	if (bad != E_OK)
		return bad;
	p = pfn_to_page(pfn);
	do {
		err_t e = check_freeable(s, seen, order);

		if (e != E_OK)
			return e;
		PAUSE("frame.free.checked");
		/* Fails, and we look again, if a get or put changed the count
		 * or the block was freed (and maybe allocated again). */
	} while (!atomic_compare_exchange_weak_explicit(
		&p->state, &s, ps_keep_gen(TRANSIT, s), memory_order_acq_rel,
		memory_order_acquire));
	release(p, order);
	return E_OK;
}

err_t frame_put(struct page *p)
{
	uint64_t s = page_state(p), seen = s, next;

	do {
		/* Another generation: freed and allocated again since we
		 * looked, so ours was not a reference (a racing double put). */
		if (ps_gen(s) != ps_gen(seen) ||
		    !page_usage_allocatable(ps_usage(s)) || ps_ref(s) == 0)
			return E_NOT_ALLOCATED;
		/* Every reference left is held raw: none is the caller's. */
		if (ps_ref(s) <= ps_raw_known(s))
			return E_REFERENCED;
		next = ps_ref(s) == 1 ? ps_keep_gen(TRANSIT, s) : s - 1;
		PAUSE("frame.put.checked");
		/* Release: our uses happen-before the last put's reset;
		 * acquire: the last put sees everyone's. */
	} while (!atomic_compare_exchange_weak_explicit(
		&p->state, &s, next, memory_order_acq_rel,
		memory_order_acquire));
	if (ps_ref(s) > 1)
		return E_OK;
	if (drop_hooks[ps_usage(s)] != NULL)
		drop_hooks[ps_usage(s)](p, ps_order(s));
	release(p, ps_order(s));
	return E_OK;
}

/* -------------------------------------------------------------- stats */

void frame_get_stats(struct frame_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < ZONE_COUNT; i++) {
		const struct zone *z = &zones[i];
		struct frame_zone_stats *zs = &st->zone[i];

		zs->name = z->name;
		zs->present = zone_present(z);
		if (!zs->present)
			continue;
		zs->managed = z->managed;
		zs->cached = pcp_cached(z);
		zs->free = (uint64_t)MAX(buddy_free_pages(&z->buddy), 0) +
			   zs->cached;
		zs->reserve = z->reserve;
		st->managed += zs->managed;
		st->free += zs->free;
	}
	st->scrub_backlog = scrub_backlog();
	st->allocated = st->managed - MIN(st->managed,
					  st->free + st->scrub_backlog);
}

uint64_t frame_zero_skipped(void)
{
	return atomic_load_explicit(&zero_skipped, memory_order_relaxed);
}

/* --------------------------------------------------------- validation */

struct walk {
	uint64_t free, cached, scrub, allocated;
};

/* Tails of the block at pfn head nothing and have no references. */
static bool tails_clean(uint64_t pfn, unsigned order)
{
	for (uint64_t i = 1; i < (UINT64_C(1) << order); i++) {
		uint64_t s = page_state(pfn_to_page(PFN(pfn + i)));

		if (ps_usage(s) != PAGE_NONE || ps_ref(s) != 0) {
			klog("frame: frame %llu inside the order-%u block at "
			     "%llu is %s with refcount %u",
			     (unsigned long long)(pfn + i), order,
			     (unsigned long long)pfn,
			     page_usage_name(ps_usage(s)), ps_ref(s));
			return false;
		}
	}
	return true;
}

/* One block (or unmanaged frame) at pfn: account it, return its size. */
static uint64_t walk_block(const struct zone *z, uint64_t pfn, struct walk *w)
{
	uint64_t s = page_state(pfn_to_page(PFN(pfn)));
	enum page_usage u = ps_usage(s);
	unsigned order = ps_order(s);
	int k;

	switch (u) {
	case PAGE_META:
	case PAGE_KERNEL:
	case PAGE_RESERVED:
		return 1;
	case PAGE_NONE:
		k = buddy_free_order_at(&z->buddy, PFN(pfn));
		if (k < 0 || ps_ref(s) != 0) {
			klog("frame: frame %llu of %s heads nothing and is in "
			     "no free block: lost", (unsigned long long)pfn,
			     z->name);
			return 0;
		}
		order = (unsigned)k;
		w->free += UINT64_C(1) << order;
		break;
	case PAGE_PCP:
	case PAGE_SCRUB:
		if (ps_ref(s) != 0) {
			klog("frame: %s block at %llu has refcount %u",
			     page_usage_name(u), (unsigned long long)pfn,
			     ps_ref(s));
			return 0;
		}
		*(u == PAGE_PCP ? &w->cached : &w->scrub) += UINT64_C(1) << order;
		break;
	default:
		if (ps_ref(s) == 0 || ps_ref(s) > FRAME_REF_MAX ||
		    ps_raw_known(s) > ps_ref(s) || order > FRAME_MAX_ORDER) {
			klog("frame: allocated block at %llu has refcount %u "
			     "(%u raw), order %u", (unsigned long long)pfn,
			     ps_ref(s), ps_raw(s), order);
			return 0;
		}
		w->allocated += UINT64_C(1) << order;
		break;
	}
	if (pfn + (UINT64_C(1) << order) > z->end || !tails_clean(pfn, order))
		return 0;
	return UINT64_C(1) << order;
}

static bool validate_zone(const struct zone *z, uint64_t *scrub)
{
	struct walk w = { 0, 0, 0, 0 };
	uint64_t pages[BUDDY_ORDERS], in_maps = 0, cached;

	if (!buddy_validate(&z->buddy) || !pcp_validate(z, &cached))
		return false;
	for (uint64_t pfn = z->start; pfn < z->end;) {
		uint64_t n = walk_block(z, pfn, &w);

		if (n == 0)
			return false;
		pfn += n;
	}
	buddy_count(&z->buddy, pages);
	for (unsigned k = 0; k < BUDDY_ORDERS; k++)
		in_maps += pages[k];
	if (w.free != in_maps || w.cached != cached ||
	    w.free + w.cached + w.scrub + w.allocated != z->managed) {
		klog("frame: %s: walk found free %llu cached %llu scrub %llu "
		     "allocated %llu; maps hold %llu, caches %llu, managed %llu",
		     z->name, (unsigned long long)w.free,
		     (unsigned long long)w.cached, (unsigned long long)w.scrub,
		     (unsigned long long)w.allocated,
		     (unsigned long long)in_maps, (unsigned long long)cached,
		     (unsigned long long)z->managed);
		return false;
	}
	*scrub += w.scrub;
	return true;
}

void frame_coalesce(void)
{
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		if (zones[z].managed > 0)
			buddy_coalesce(&zones[z].buddy);
}

uint64_t frame_free_pairs(void)
{
	uint64_t n = 0;

	for (unsigned z = 0; z < ZONE_COUNT; z++)
		if (zones[z].managed > 0)
			n += buddy_free_pairs(&zones[z].buddy);
	return n;
}

bool frame_validate(void)
{
	uint64_t queued, scrubbing = 0;

	if (!frame_ready())
		return false;
	if (!scrub_validate(&queued))
		return false;
	for (unsigned i = 0; i < ZONE_COUNT; i++)
		if (zone_present(&zones[i]) &&
		    !validate_zone(&zones[i], &scrubbing))
			return false;
	if (scrubbing != queued) {
		klog("frame: %llu frames marked for scrubbing, %llu queued",
		     (unsigned long long)scrubbing, (unsigned long long)queued);
		return false;
	}
	return true;
}

/* ------------------------------------------------------ fragmentation */

int frame_largest_free_order(void)
{
	int best = -1;

	for (unsigned i = 0; i < ZONE_COUNT; i++)
		if (zone_present(&zones[i]))
			best = MAX(best, buddy_largest_free_order(&zones[i].buddy));
	return best;
}

/*
 * The block at pfn (a block's head, or an unmanaged frame): its frames,
 * and whether it is free in the buddy. Racy (frame_top_blocks()): a head
 * whose state changed under us counts as one frame, not free.
 */
static uint64_t block_at(const struct zone *z, uint64_t pfn, bool *free)
{
	uint64_t s = page_state(pfn_to_page(PFN(pfn)));
	int k;

	*free = false;
	switch (ps_usage(s)) {
	case PAGE_META:
	case PAGE_KERNEL:
	case PAGE_RESERVED:
		return 1;
	case PAGE_NONE:
		k = buddy_free_order_at(&z->buddy, PFN(pfn));
		*free = k >= 0;
		return k >= 0 ? UINT64_C(1) << k : 1;
	default:
		return UINT64_C(1) << MIN(ps_order(s), FRAME_MAX_ORDER);
	}
}

/* One top-order region of z from pfn: free frames in each half, into *out. */
static void count_region(const struct zone *z, uint64_t start,
			 struct frame_top_blocks *out)
{
	const uint64_t top = UINT64_C(1) << FRAME_MAX_ORDER, half = top / 2;
	uint64_t in_half[2] = { 0, 0 };
	bool free;

	for (uint64_t pfn = start; pfn < start + top;) {
		uint64_t n = block_at(z, pfn, &free);

		if (free && n == top)
			in_half[0] = in_half[1] = half;
		else if (free)
			in_half[(pfn - start) / half] += n;
		pfn += n;
	}
	if (in_half[0] == half && in_half[1] == half)
		out->coalesced[1]++;
	else
		out->coalesced[0] += (in_half[0] == half) + (in_half[1] == half);
}

void frame_top_blocks(struct frame_top_blocks *out)
{
	uint64_t pages[BUDDY_ORDERS];

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < ZONE_COUNT; i++) {
		const struct zone *z = &zones[i];

		if (!zone_present(z))
			continue;
		buddy_count(&z->buddy, pages);
		out->free[0] += pages[FRAME_MAX_ORDER - 1] >> (FRAME_MAX_ORDER - 1);
		out->free[1] += pages[FRAME_MAX_ORDER] >> FRAME_MAX_ORDER;
		/* Zones start and end on top-order boundaries (buddy_init). */
		for (uint64_t r = z->start; r < z->end;
		     r += UINT64_C(1) << FRAME_MAX_ORDER)
			count_region(z, r, out);
	}
}
