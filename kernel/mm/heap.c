/* SPDX-License-Identifier: MIT */
/*
 * The kernel heap: per-CPU object caches, rescue, large blocks and the
 * early arena (heap.h is the contract, slab.h the slabs and object states).
 *
 * Concurrency. Each CPU's caches (struct heap_cpu) are touched only by
 * that CPU with interrupts masked, so an interrupt handler's kmalloc() on
 * the same CPU sees them whole (ALO-01's rule for the page caches), and
 * the fast path is: mask, pop or push, one state byte, unmask. Counts are
 * relaxed atomics only for heap_get_stats() on other CPUs. Everything
 * shared is in slab.c under a class lock (a leaf), or in the frame
 * allocator, which never calls the heap (HEP-03).
 *
 * Rescue (HEAP.md, in order; heap.h states the guarantee):
 *   1. refill the CPU cache from the class's slabs (slab_refill), masked;
 *   2. a new slab: frame_alloc_for() with the caller's interrupt state; the
 *      slab is formatted privately and its first object taken for the
 *      caller before anyone else can see the slab (HEP-01), the next ones
 *      for this CPU's cache and reserve, and only then is it published;
 *   3. reclaim: this CPU's caches, reserves and own slabs and
 *      (interrupts enabled, not in an interrupt) every CPU's back to the
 *      class lists; step 1 again, now also from other CPUs' own slabs;
 *      else an empty slab of the class's order, from any class, made the
 *      rescuer's directly (HEP-01: it never passes through the shared
 *      frame allocator); else every empty slab back to the frame
 *      allocator and step 2 once more (the frame allocator drains its
 *      own per-CPU page caches when it finds nothing: frame.h);
 *   4. NULL.
 * Steps 2-3 set this CPU's in_rescue. Whoever finds it set on entering
 * the slow path (an interrupt handler that interrupted steps 2-3 on this
 * CPU) tries step 1 only, then the CPU's emergency reserve (a few cached
 * objects per class, kept for exactly this), then returns NULL: rescue is
 * never re-entered on a CPU (HEP-03). Step 1 is safe from such a handler:
 * the class lock is never held across an unmasked section.
 */
#include "kernel/mm/heap.h"

#include "kernel/lib/pause.h"
#include <string.h>
#include "kernel/mm/frame.h"
#include "kernel/mm/slab.h"
#include "locks/lockcheck.h"

#define CACHE_MAX   32u /* largest cache_size (slab.c) */
#define RESERVE_MAX 2u  /* emergency objects per class and CPU */

struct obj_cache {
	_Atomic uint16_t n;       /* objects in obj[] (relaxed: for stats) */
	_Atomic uint16_t nres;    /* objects in res[] */
	void *obj[CACHE_MAX];     /* OBJ_CACHED; top is obj[n - 1] */
	void *res[RESERVE_MAX];   /* OBJ_CACHED; only when in rescue */
};

/* [this CPU, interrupts masked] */
struct heap_cpu {
	struct obj_cache cache[HEAP_CLASSES];
	_Atomic bool in_rescue; /* steps 2-3 run on this CPU */
} CACHE_ALIGNED;

static struct heap_cpu heap_cpus[MAX_CPUS];
/*
 * heap_init() done: slabs, not the arena. Its release store pairs with
 * the acquire loads in kmalloc() and kfree(): whoever sees it set sees
 * the classes slab_classes_init() wrote.
 */
static _Atomic bool ready;

/* [a] relaxed counters, slow paths only */
static struct {
	_Atomic uint64_t large_blocks, large_bytes, rescues, reclaims,
		reserve_used, nulls, bad_frees, poison_errors;
} stats;

static void count(_Atomic uint64_t *c, int64_t d)
{
	atomic_fetch_add_explicit(c, (uint64_t)d, memory_order_relaxed);
}

/*
 * frame_alloc()'s rule, checked on every call (debug builds), not only
 * when a rescue happens to wait, so the mistake shows the first time the
 * code runs: with interrupts enabled outside an interrupt handler, a call
 * that may reclaim waits for every CPU's IPI and must hold no spinlock.
 */
static void check_may_wait(const char *what)
{
	if (CONFIG_LOCK_DEBUG && irqs_enabled() && !in_irq())
		lockcheck_assert_none_held(what, HERE);
}

/* ------------------------------------------------------- early arena */

/*
 * Before heap_init(): a bump allocator over a static array. Objects are
 * never reused; a bit per 8-byte granule marks each live object's start,
 * so kfree() of an early object is checked like any other.
 */
#define EARLY_BYTES (64u * 1024)

static uint8_t early_arena[EARLY_BYTES] __attribute__((aligned(4096)));
static spinlock_t early_lock = SPINLOCK_INIT("heap_early");
static uint64_t early_used;                    /* [early_lock] */
static uint64_t early_live[EARLY_BYTES / 8 / 64]; /* [early_lock] */

static bool in_early_arena(const void *p)
{
	uintptr_t v = (uintptr_t)p, base = (uintptr_t)early_arena;

	return v >= base && v - base < EARLY_BYTES;
}

static NOINLINE void *early_alloc(size_t size, size_t align, unsigned flags)
{
	irqflags_t f = spin_lock_irqsave(&early_lock);
	uint64_t at = ALIGN_UP(early_used, MAX(align, (size_t)8));
	void *p = NULL;

	if (align <= 4096 && at <= EARLY_BYTES && size <= EARLY_BYTES - at) {
		early_live[at / 8 / 64] |= UINT64_C(1) << (at / 8 % 64);
		early_used = at + size;
		p = early_arena + at;
	}
	spin_unlock_irqrestore(&early_lock, f);
	if (p == NULL)
		count(&stats.nulls, 1);
	else if (flags & KM_ZERO)
		memset(p, 0, size);
	return p;
}

static err_t early_free(const void *p)
{
	uint64_t at = (uint64_t)((const uint8_t *)p - early_arena);
	irqflags_t f = spin_lock_irqsave(&early_lock);
	uint64_t *w = &early_live[at / 8 / 64], bit = UINT64_C(1) << (at / 8 % 64);
	err_t e = at % 8 == 0 && (*w & bit) ? E_OK : E_NOT_ALLOCATED;

	if (e == E_OK)
		*w &= ~bit;
	spin_unlock_irqrestore(&early_lock, f);
	return e;
}

/*
 * Bytes from a live early object to the next one's start (or the end of
 * what was handed out); 0 for any other address, as for slabs.
 */
static NOINLINE size_t early_size(const void *p)
{
	uint64_t at = (uint64_t)((const uint8_t *)p - early_arena), end;
	irqflags_t f = spin_lock_irqsave(&early_lock);

	if (at % 8 != 0 || at >= early_used ||
	    !(early_live[at / 8 / 64] & UINT64_C(1) << (at / 8 % 64))) {
		spin_unlock_irqrestore(&early_lock, f);
		return 0;
	}
	for (end = at + 8; end < early_used; end += 8)
		if (early_live[end / 8 / 64] & UINT64_C(1) << (end / 8 % 64))
			break;
	end = MIN(end, early_used);
	spin_unlock_irqrestore(&early_lock, f);
	return (size_t)(end - at);
}

/* ------------------------------------------------- objects and states */

/* Object p, cached or live, of class c. */
static void set_state(const void *p, unsigned c, enum obj_state s)
{
	atomic_store_explicit(obj_state_of(p, &slab_classes[c]), (uint8_t)s,
			      memory_order_relaxed);
}

/* Debug: a freed object must still hold the poison kfree() wrote. */
static void check_poison(const void *p, unsigned c)
{
	const uint8_t *b = p;

	for (uint32_t i = 0; i < slab_classes[c].size; i++) {
		if (b[i] != HEAP_POISON) {
			count(&stats.poison_errors, 1);
			klog("heap: %u-byte object %p was written after it was "
			     "freed (byte %u is %#x)",
			     slab_classes[c].size, p, i, b[i]);
			return;
		}
	}
}

/* Make cached object p the caller's. */
static void hand_out(void *p, unsigned c)
{
	if (CONFIG_DEBUG)
		check_poison(p, c);
	set_state(p, c, OBJ_LIVE);
}

/* ------------------------------------------------------ the CPU cache */

static struct obj_cache *my_cache(unsigned c)
{
	return &heap_cpus[cpu_id()].cache[c];
}

static unsigned cache_n(const struct obj_cache *oc)
{
	return atomic_load_explicit(&oc->n, memory_order_relaxed);
}

static void cache_set_n(struct obj_cache *oc, unsigned n)
{
	atomic_store_explicit(&oc->n, (uint16_t)n, memory_order_relaxed);
}

static unsigned res_n(const struct obj_cache *oc)
{
	return atomic_load_explicit(&oc->nres, memory_order_relaxed);
}

static void res_set_n(struct obj_cache *oc, unsigned n)
{
	atomic_store_explicit(&oc->nres, (uint16_t)n, memory_order_relaxed);
}

static bool in_rescue(void)
{
	return atomic_load_explicit(&heap_cpus[cpu_id()].in_rescue,
				    memory_order_relaxed);
}

static void set_in_rescue(bool on)
{
	/* Read only by this CPU's own interrupt handlers: program order. */
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&heap_cpus[cpu_id()].in_rescue, on,
			      memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
}

/* Pre (all below): interrupts masked. */
static void *cache_pop(struct obj_cache *oc)
{
	unsigned n = cache_n(oc);

	if (n == 0)
		return NULL;
	PAUSE("heap.cache.pop"); /* an IRQ here would take the same top */
	cache_set_n(oc, n - 1);
	return oc->obj[n - 1];
}

/* Top the reserve up from the slabs (not while rescuing: it is for that). */
static void fill_reserve(struct obj_cache *oc, unsigned c)
{
	unsigned have = res_n(oc);

	if (have < RESERVE_MAX)
		res_set_n(oc, have + slab_refill(c, oc->res + have,
						 RESERVE_MAX - have, false));
}

/*
 * Rescue step 1: the class's slabs into the cache, if it is empty (an
 * interrupt may have filled it since the caller looked); one object out.
 * With steal, other CPUs' own slabs too (step 3's last look).
 */
static void *refill_and_pop(struct obj_cache *oc, unsigned c, bool steal)
{
	const struct slab_class *sc = &slab_classes[c];

	if (cache_n(oc) == 0)
		cache_set_n(oc, slab_refill(c, oc->obj, sc->cache_size / 2,
					    steal));
	if (!in_rescue())
		fill_reserve(oc, c);
	return cache_pop(oc);
}

/* An interrupt during rescue on this CPU: the reserve or nothing. */
static void *reserve_pop(struct obj_cache *oc)
{
	unsigned n = res_n(oc);

	if (n == 0)
		return NULL;
	res_set_n(oc, n - 1);
	count(&stats.reserve_used, 1);
	return oc->res[n - 1];
}

/*
 * Send the oldest half of a full cache back to the slabs, and the slabs
 * that emptied beyond the class's keep to the frame allocator (it may be
 * called masked). Out of line: kfree()'s fast path keeps no array.
 */
static NOINLINE void cache_spill(struct obj_cache *oc, unsigned c)
{
	struct page *give[CACHE_MAX];
	unsigned n = cache_n(oc), half = n / 2, given;

	given = slab_flush(c, oc->obj, half, give);
	memmove(oc->obj, oc->obj + half, (n - half) * sizeof(oc->obj[0]));
	cache_set_n(oc, n - half);
	(void)slab_give_back(c, give, given);
}

/*
 * Everything in the cache and the reserve to the slabs; returns the frames
 * of the slabs that emptied and went back.
 */
static uint64_t cache_drain(struct obj_cache *oc, unsigned c)
{
	struct page *give[CACHE_MAX];
	uint64_t frames;
	unsigned given;

	given = slab_flush(c, oc->obj, cache_n(oc), give);
	cache_set_n(oc, 0);
	frames = slab_give_back(c, give, given);
	given = slab_flush(c, oc->res, res_n(oc), give);
	res_set_n(oc, 0);
	return frames + slab_give_back(c, give, given);
}

/* This CPU's caches, reserves and own slabs back to the class lists. */
static uint64_t drain_local(void)
{
	irqflags_t f = irq_save();
	struct page *give[HEAP_CLASSES];
	unsigned give_class[HEAP_CLASSES], n;
	uint64_t frames = 0;

	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		frames += cache_drain(my_cache(c), c);
	n = slab_release_cpu(cpu_id(), give, give_class);
	for (unsigned i = 0; i < n; i++)
		frames += slab_give_back(give_class[i], &give[i], 1);
	irq_restore(f);
	return frames;
}

void heap_drain_local(void)
{
	if (atomic_load_explicit(&ready, memory_order_acquire))
		(void)drain_local();
}

/* -------------------------------------------------------------- rescue */

/* Every empty slab of every class back to the frame allocator. */
static uint64_t give_back_empty(void)
{
	uint64_t frames = 0;

	for (unsigned c = 0; c < HEAP_CLASSES; c++) {
		struct page *give[16];
		unsigned n;

		while ((n = slab_take_empty(c, 0, give, ARRAY_SIZE(give))) > 0) {
			frames += slab_give_back(c, give, n);
			PAUSE("heap.reclaim.given");
		}
	}
	return frames;
}

static void drain_ipi(void *frames)
{
	atomic_fetch_add_explicit((_Atomic uint64_t *)frames, drain_local(),
				  memory_order_relaxed);
}

/*
 * Every CPU's caches and reserves, where this context may wait for them;
 * else ours. Returns the frames of the slabs that emptied and went back.
 */
static uint64_t drain_everywhere(void)
{
	_Atomic uint64_t frames = 0;

	if (!irqs_enabled() || in_irq())
		return drain_local();
	smp_call_all(drain_ipi, (void *)&frames);
	return atomic_load_explicit(&frames, memory_order_relaxed);
}

/*
 * Rescue step 3 and heap_reclaim(): the reserves too. They are the last
 * free objects a rescue that got here can hand out; an interrupt inside
 * this rescue from now on gets NULL instead (HEP-03 allows either).
 */
static uint64_t reclaim(void)
{
	uint64_t frames;

	count(&stats.reclaims, 1);
	frames = drain_everywhere();
	return frames + give_back_empty();
}

uint64_t heap_reclaim(void)
{
	check_may_wait("heap_reclaim() waits for every CPU's IPI");
	if (!atomic_load_explicit(&ready, memory_order_acquire))
		return 0;
	return reclaim();
}

/* Up to n objects of a private slab into out, made OBJ_CACHED. */
static unsigned take_cached(struct page *head, unsigned c, void **out,
			    unsigned n)
{
	unsigned got = slab_take(head, c, out, n);

	slab_own(c, out, got, OBJ_CACHED);
	return got;
}

/*
 * Make the block at head, which this CPU alone holds, a slab of class c:
 * its first object is the caller's before the slab is published (HEP-01);
 * then this CPU's cache and reserve take from it while it is still
 * private.
 */
static void *start_slab(struct page *head, unsigned c)
{
	const struct slab_class *sc = &slab_classes[c];
	struct obj_cache *oc;
	unsigned n, room;
	irqflags_t f;
	void *mine;

	count(&stats.rescues, 1);
	slab_format(head, c);
	(void)take_cached(head, c, &mine, 1);
	PAUSE("heap.rescue.first_taken");
	f = irq_save();
	oc = my_cache(c);
	/* An interrupt may have filled the cache meanwhile: room only. */
	n = cache_n(oc);
	room = MIN(sc->cache_size / 2u, sc->cache_size - n);
	cache_set_n(oc, n + take_cached(head, c, oc->obj + n, room));
	n = res_n(oc);
	res_set_n(oc, n + take_cached(head, c, oc->res + n, RESERVE_MAX - n));
	slab_publish(head, c);
	irq_restore(f);
	return mine;
}

/* Rescue step 2: a new slab from the frame allocator. */
static void *new_slab(unsigned c)
{
	struct frame_result r = frame_alloc_for(NULL, slab_classes[c].order, 0,
						PAGE_SLAB);

	return r.err == E_OK ? start_slab(pfn_to_page(r.pfn), c) : NULL;
}

/*
 * Rescue step 3's slab: an empty one of the same order from any class,
 * made class c's and this CPU's at once. Given to the frame allocator
 * and asked for again, it could go to another CPU in between (HEP-01:
 * what rescue obtains goes to the requester first).
 */
static void *reuse_empty_slab(unsigned c)
{
	struct page *head = slab_take_empty_of_order(slab_classes[c].order);

	return head != NULL ? start_slab(head, c) : NULL;
}

/*
 * Step 3: every cache and reserve back to the slabs, then step 1 again;
 * else an empty slab of the class's order, straight to us; only then the
 * other empty slabs back to the frame allocator (which merges them) and
 * step 2 again.
 */
static void *rescue_by_reclaim(unsigned c)
{
	irqflags_t f;
	void *p;

	count(&stats.reclaims, 1);
	(void)drain_everywhere();
	PAUSE("heap.rescue.reclaimed");
	f = irq_save();
	p = refill_and_pop(my_cache(c), c, true); /* every slab */
	irq_restore(f);
	if (p == NULL)
		p = reuse_empty_slab(c);
	if (p == NULL) {
		(void)give_back_empty();
		p = new_slab(c);
	}
	return p;
}

/* Steps 2-4 for class c; the cache was empty and step 1 found nothing. */
static NOINLINE void *rescue(unsigned c)
{
	void *p;

	if (in_rescue()) { /* an interrupt inside this CPU's rescue */
		irqflags_t f = irq_save();

		p = reserve_pop(my_cache(c));
		irq_restore(f);
		return p;
	}
	set_in_rescue(true);
	PAUSE("heap.rescue.entered");
	p = new_slab(c);
	if (p == NULL)
		p = rescue_by_reclaim(c);
	PAUSE("heap.rescue.leaving");
	set_in_rescue(false);
	return p;
}

/* ----------------------------------------------------------- kmalloc */


/* KM_ZERO's memset, out of line: the fast path then saves no registers. */
static NOINLINE void *zeroed(void *p, unsigned c)
{
	return memset(p, 0, slab_classes[c].size);
}

/* Cached object p becomes the caller's. */
static ALWAYS_INLINE void *finish_alloc(void *p, unsigned c, unsigned flags)
{
	hand_out(p, c);
	if (unlikely(flags & KM_ZERO))
		return zeroed(p, c);
	return p;
}

/* This CPU's cache was empty: rescue (steps 1-4, at the top). */
static NOINLINE void *small_alloc_slow(unsigned c, unsigned flags)
{
	irqflags_t f = irq_save();
	void *p = refill_and_pop(my_cache(c), c, false);

	irq_restore(f);
	if (p == NULL)
		PAUSE("heap.alloc.slow");
	if (p == NULL && (p = rescue(c)) == NULL) {
		count(&stats.nulls, 1);
		return NULL;
	}
	return finish_alloc(p, c, flags);
}

/* The fast path: a pop with interrupts masked; nothing else shared. */
static ALWAYS_INLINE void *small_alloc(unsigned c, unsigned flags)
{
	irqflags_t f = irq_save();
	void *p = cache_pop(my_cache(c));

	irq_restore(f);
	if (unlikely(p == NULL))
		return small_alloc_slow(c, flags);
	return finish_alloc(p, c, flags);
}

/* The order of a block of at least bytes, or FRAME_MAX_ORDER + 1. */
static unsigned order_of(uint64_t bytes)
{
	unsigned k = 0;

	while (k <= FRAME_MAX_ORDER && (PAGE_SIZE << k) < bytes)
		k++;
	return k;
}

static struct frame_result large_frames(unsigned k, unsigned flags)
{
	unsigned ff = flags & KM_ZERO ? FRAME_ZERO : 0;
	struct frame_result r = frame_alloc_for(NULL, k, ff, PAGE_SLAB);

	if (r.err == E_NOMEM) { /* empty slabs may be what is missing */
		(void)reclaim();
		r = frame_alloc_for(NULL, k, ff, PAGE_SLAB);
	}
	return r;
}

static NOINLINE void *large_alloc(uint64_t bytes, unsigned flags)
{
	unsigned k = order_of(bytes);
	struct frame_result r;
	struct page *head;

	if (k > FRAME_MAX_ORDER)
		return NULL;
	if (in_rescue()) { /* HEP-03: large blocks have no reserve */
		count(&stats.nulls, 1);
		return NULL;
	}
	r = large_frames(k, flags);
	if (r.err != E_OK) {
		count(&stats.nulls, 1);
		return NULL;
	}
	head = pfn_to_page(r.pfn);
	PAUSE("heap.large.allocated");
	head->u.slab.size_class = SLAB_LARGE;
	count(&stats.large_blocks, 1);
	count(&stats.large_bytes, (int64_t)(PAGE_SIZE << k));
	return page_to_virt(head);
}

/* kmalloc() of anything but a small object once the heap is up. */
static NOINLINE void *kmalloc_other(size_t size, unsigned flags)
{
	if (size == 0 || (flags & ~KM_FLAGS_ALL))
		return NULL;
	if (!atomic_load_explicit(&ready, memory_order_acquire))
		return early_alloc(size, 8, flags);
	if (size > HEAP_MAX_SMALL)
		return large_alloc(size, flags);
	return small_alloc(slab_class_of(size), flags);
}

void *kmalloc(size_t size, unsigned flags)
{
	check_may_wait("kmalloc() may reclaim (it waits for every CPU's IPI)");
	/* size - 1 wraps for 0: one compare takes both ends. */
	if (likely(size - 1 < HEAP_MAX_SMALL && !(flags & ~KM_FLAGS_ALL) &&
		   atomic_load_explicit(&ready, memory_order_acquire)))
		return small_alloc(slab_class_of(size), flags);
	return kmalloc_other(size, flags);
}

void *kcalloc(size_t n, size_t size, unsigned flags)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	return kmalloc(bytes, flags | KM_ZERO);
}

/* The first class at least size bytes whose objects all align to align. */
static int aligned_class(size_t size, size_t align)
{
	for (unsigned c = slab_class_of(size); c < HEAP_CLASSES; c++)
		if (slab_classes[c].size % align == 0)
			return (int)c;
	return -1;
}

void *kmalloc_aligned(size_t size, size_t align, unsigned flags)
{
	int c;

	if (align == 0 || (align & (align - 1)) ||
	    align > (PAGE_SIZE << FRAME_MAX_ORDER))
		return NULL;
	if (align <= 8)
		return kmalloc(size, flags);
	check_may_wait("kmalloc_aligned() may reclaim (it waits for every "
		       "CPU's IPI)");
	if (size == 0 || (flags & ~KM_FLAGS_ALL))
		return NULL;
	if (unlikely(!atomic_load_explicit(&ready, memory_order_acquire)))
		return early_alloc(size, align, flags);
	if (size <= HEAP_MAX_SMALL && (c = aligned_class(size, align)) >= 0)
		return small_alloc((unsigned)c, flags);
	/* Buddy blocks are aligned to their size. */
	return large_alloc(MAX(size, align), flags);
}

/* ------------------------------------------------------------- kfree */

static NOINLINE err_t refuse(const void *p, err_t e, const char *why)
{
	count(&stats.bad_frees, 1);
	klog("heap: kfree(%p) refused (%s): %s", p, err_name(e), why);
	return e;
}

/* Claim a live object for the cache by its state byte: false if not live. */
static bool claim_live(_Atomic uint8_t *s)
{
	if (CONFIG_DEBUG) { /* two racing frees: one wins */
		uint8_t live = OBJ_LIVE;

		return atomic_compare_exchange_strong_explicit(
			s, &live, OBJ_CACHED, memory_order_relaxed,
			memory_order_relaxed);
	}
	if (atomic_load_explicit(s, memory_order_relaxed) != OBJ_LIVE)
		return false;
	atomic_store_explicit(s, OBJ_CACHED, memory_order_relaxed);
	return true;
}

/* The last step of a push: n objects below p stay. */
static ALWAYS_INLINE void cache_push(struct obj_cache *oc, unsigned n,
				     void *p)
{
	oc->obj[n] = p;
	PAUSE("heap.cache.pushed"); /* an IRQ here would overwrite p */
	cache_set_n(oc, n + 1);
}

/*
 * The slow ends of small_free(), out of line so that its fast path keeps
 * nothing in callee-saved registers. Both are entered masked (f).
 */
static NOINLINE err_t refuse_not_live(void *p, irqflags_t f)
{
	irq_restore(f);
	return refuse(p, E_NOT_ALLOCATED, "not a live object (a double free?)");
}

static NOINLINE err_t spill_and_push(struct obj_cache *oc, unsigned c,
				     void *p, irqflags_t f)
{
	cache_spill(oc, c);
	cache_push(oc, cache_n(oc), p);
	irq_restore(f);
	return E_OK;
}

/* Object p of class c, whose state byte is at state, into this CPU's cache. */
static ALWAYS_INLINE err_t small_free(void *p, _Atomic uint8_t *state,
				      unsigned c)
{
	const struct slab_class *sc = &slab_classes[c];
	irqflags_t f = irq_save();
	struct obj_cache *oc;
	unsigned n;

	if (unlikely(!claim_live(state)))
		return refuse_not_live(p, f);
	if (CONFIG_DEBUG)
		memset(p, HEAP_POISON, sc->size);
	oc = my_cache(c);
	n = cache_n(oc);
	if (unlikely(n == sc->cache_size))
		return spill_and_push(oc, c, p, f);
	cache_push(oc, n, p);
	irq_restore(f);
	return E_OK;
}

/*
 * Debug builds: small_free() with the slab pinned (a frame reference)
 * from the state kfree() read on. Two kfree()s of one object racing each
 * other are then always told apart by the state byte: without the pin,
 * the winner's free could let the slab empty, go back and be reused
 * before the loser's compare-and-swap, which would then land in another
 * owner's frame. slab_give_back() puts the heap's reference; the last put
 * (ours, if we still hold the slab) frees it.
 */
static NOINLINE err_t pinned_free(void *p, struct page *head, uint64_t seen,
				  unsigned c, _Atomic uint8_t *state)
{
	err_t e, put;

	if (frame_get_seen(head, seen) != E_OK)
		return refuse(p, E_NOT_ALLOCATED,
			      "not a live object (its slab went back)");
	e = small_free(p, state, c);
	put = frame_put(head);
	ASSERT(put == E_OK);
	(void)put;
	return e;
}

/*
 * A large block whose head state kfree() read as seen: freed only if it is
 * still that allocation, so a racing second kfree() cannot free the next
 * owner's block (frame_free_seen()).
 */
static NOINLINE err_t large_free(void *p, struct page *head, uint64_t seen)
{
	unsigned k = ps_order(seen);
	err_t e;

	if (p != page_to_virt(head))
		return refuse(p, E_INVAL, "inside a large heap block");
	PAUSE("heap.free.large_found");
	e = frame_free_seen(page_to_pfn(head), k, seen);
	if (e != E_OK) /* a racing free of the same block won */
		return refuse(p, E_NOT_ALLOCATED, "not a live block");
	count(&stats.large_blocks, -1);
	count(&stats.large_bytes, -(int64_t)(PAGE_SIZE << k));
	return E_OK;
}

/*
 * p's frame is in no slab: in a large heap block more than SLAB_MAX_ORDER
 * frames from its start (slab_head_of() does not look that far), or not
 * the heap's at all. The refusal says which.
 */
static NOINLINE err_t refuse_no_slab(void *p, pfn_t pfn)
{
	for (unsigned k = SLAB_MAX_ORDER + 1; k <= FRAME_MAX_ORDER; k++) {
		pfn_t h = PFN(pfn.v & ~((UINT64_C(1) << k) - 1));
		uint64_t s = page_state(pfn_to_page(h));

		if (ps_usage(s) == PAGE_SLAB && ps_ref(s) > 0 &&
		    pfn.v < h.v + (UINT64_C(1) << ps_order(s)) &&
		    pfn_to_page(h)->u.slab.size_class == SLAB_LARGE)
			return refuse(p, E_INVAL, "inside a large heap block");
		if (ps_usage(s) != PAGE_NONE)
			break;
	}
	return refuse(p, E_NOT_ALLOCATED, "not in a heap block");
}

/*
 * Object p of slab head, of class c, whose state byte is at state; seen
 * is the head's frame state kfree() read.
 */
static ALWAYS_INLINE err_t free_object(void *p, struct page *head,
				       uint64_t seen, unsigned c,
				       _Atomic uint8_t *state)
{
	PAUSE("heap.free.found");
	if (!CONFIG_DEBUG)
		return small_free(p, state, c);
	return pinned_free(p, head, seen, c, state);
}

static NOINLINE err_t kfree_early(void *p)
{
	return early_free(p) == E_OK ? E_OK
				     : refuse(p, E_NOT_ALLOCATED,
					      "not a live early object");
}

/*
 * kfree()'s full classification: the early arena, foreign addresses,
 * large blocks, the frames of a slab past its first, and every refusal.
 */
static NOINLINE err_t kfree_checked(void *p)
{
	const struct slab_class *sc;
	paddr_t pa;
	struct page *head;
	unsigned c, idx;
	uint64_t off, seen;

	if (p == NULL)
		return E_OK;
	if (unlikely(in_early_arena(p)))
		return kfree_early(p);
	if (!virt_to_phys_checked(p, &pa) || !pfn_valid(pa_to_pfn(pa)))
		return refuse(p, E_RANGE, "not memory the heap can own");
	if (!atomic_load_explicit(&ready, memory_order_acquire))
		return refuse(p, E_NOT_ALLOCATED, "the heap has no slabs yet");
	head = slab_head_of(pa_to_pfn(pa), &seen);
	if (head == NULL)
		return refuse_no_slab(p, pa_to_pfn(pa));
	c = head->u.slab.size_class;
	if (c == SLAB_LARGE)
		return large_free(p, head, seen);
	if (c >= HEAP_CLASSES)
		return refuse(p, E_NOT_ALLOCATED, "a slab of no class");
	sc = &slab_classes[c];
	off = (uint64_t)((uint8_t *)p - slab_base(head));
	if (off >= (uint64_t)sc->objects * sc->size)
		return refuse(p, E_NOT_ALLOCATED,
			      "in a slab's bookkeeping, not an object");
	idx = slab_index(sc, off);
	if (off != (uint64_t)idx * sc->size)
		return refuse(p, E_INVAL, "inside an object, not at its start");
	return free_object(p, head, seen, c, slab_state(head, sc, idx));
}

/*
 * p is at the start of an object in a slab whose head is p's own frame
 * (every object of a one-frame slab, the first frame's of larger ones):
 * its head, state and index. The common case, found with one descriptor
 * read; false sends anything else to kfree_checked(), which classifies
 * it from scratch (so nothing is refused here).
 */
static ALWAYS_INLINE bool in_head_frame(const void *p, struct page **head,
					uint64_t *seen, unsigned *c,
					_Atomic uint8_t **state)
{
	const struct slab_class *sc;
	paddr_t pa;
	uint64_t s;
	unsigned off, i;

	if (unlikely(!virt_to_phys_checked(p, &pa) ||
		     !pfn_valid(pa_to_pfn(pa))))
		return false;
	*head = pfn_to_page(pa_to_pfn(pa));
	s = page_state(*head);
	if (unlikely(ps_usage(s) != PAGE_SLAB || ps_ref(s) == 0))
		return false;
	*c = (*head)->u.slab.size_class; /* a slab's: set before it was */
	if (unlikely(*c >= HEAP_CLASSES))  /* published, or SLAB_LARGE */
		return false;
	sc = &slab_classes[*c];
	off = (unsigned)(pa.v & (PAGE_SIZE - 1));
	i = slab_index(sc, off);
	if (unlikely(i * sc->size != off || i >= sc->objects))
		return false;
	*seen = s;
	*state = (_Atomic uint8_t *)((const uint8_t *)p - off +
				     sc->state_off + i);
	return atomic_load_explicit(&ready, memory_order_acquire);
}

err_t kfree(void *p)
{
	struct page *head;
	_Atomic uint8_t *state;
	uint64_t seen;
	unsigned c;

	if (likely(in_head_frame(p, &head, &seen, &c, &state)))
		return free_object(p, head, seen, c, state);
	return kfree_checked(p); /* NULL too */
}

size_t ksize(const void *p)
{
	unsigned idx;
	bool inside;
	struct page *head;
	uint64_t seen;
	paddr_t pa;

	if (p == NULL)
		return 0;
	if (in_early_arena(p))
		return early_size(p);
	if (!atomic_load_explicit(&ready, memory_order_acquire) ||
	    !virt_to_phys_checked(p, &pa) || !pfn_valid(pa_to_pfn(pa)))
		return 0;
	head = slab_find(p, &idx, &inside);
	if (head != NULL)
		return inside ? 0 : slab_classes[head->u.slab.size_class].size;
	head = slab_head_of(pa_to_pfn(pa), &seen);
	return head != NULL && p == page_to_virt(head)
		       ? (size_t)(PAGE_SIZE << ps_order(page_state(head)))
		       : 0;
}

/* -------------------------------------------------------------- boot */

err_t heap_init(void)
{
	if (atomic_load_explicit(&ready, memory_order_acquire))
		return E_ALREADY;
	if (!frame_ready())
		return E_STATE;
	if (frame_table_pages >= SLAB_NIL)
		return E_RANGE;
	slab_classes_init();
	atomic_store_explicit(&ready, true, memory_order_release);
	return E_OK;
}

void heap_fini(void)
{
	atomic_store(&ready, false);
	memset(heap_cpus, 0, sizeof(heap_cpus));
	memset(&stats, 0, sizeof(stats));
	atomic_store(&slab_link_errors, 0);
	early_used = 0;
	memset(early_live, 0, sizeof(early_live));
	slab_classes_init();
}

/* ------------------------------------------------------------- state */

void heap_get_stats(struct heap_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned c = 0; c < HEAP_CLASSES && ready; c++) {
		const struct slab_class *sc = &slab_classes[c];
		struct heap_class_stats *cs = &st->cls[c];
		struct slab_counts n;

		slab_class_counts(c, &n);
		for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
			n.cached += cache_n(&heap_cpus[cpu].cache[c]) +
				    res_n(&heap_cpus[cpu].cache[c]);
		*cs = (struct heap_class_stats){
			.size = sc->size, .order = sc->order,
			.objects = sc->objects, .slabs = n.slabs,
			.empty = n.empty, .cached = n.cached,
			.in_use = n.inuse > n.cached ? n.inuse - n.cached : 0,
			.bytes = n.slabs * slab_bytes(sc),
		};
		st->bytes += cs->bytes;
	}
	st->large_blocks = atomic_load(&stats.large_blocks);
	st->large_bytes = atomic_load(&stats.large_bytes);
	st->bytes += st->large_bytes;
	st->early_bytes = early_used;
	st->rescues = atomic_load(&stats.rescues);
	st->reclaims = atomic_load(&stats.reclaims);
	st->reserve_used = atomic_load(&stats.reserve_used);
	st->nulls = atomic_load(&stats.nulls);
	st->bad_frees = atomic_load(&stats.bad_frees);
	st->poison_errors = atomic_load(&stats.poison_errors) +
			    atomic_load(&slab_link_errors);
}

/*
 * Mark (OBJ_CACHED -> OBJ_SEEN) or unmark every cached object, counting
 * them per class. Marking fails on an object that is not in a slab of its
 * cache's class, or not OBJ_CACHED (a second cache holds it, or it is
 * free or live).
 */
static bool mark_one(void *p, unsigned c, bool mark)
{
	unsigned idx;
	bool inside;
	struct page *head = slab_find(p, &idx, &inside);
	const struct slab_class *sc = &slab_classes[c];

	if (!mark) {
		if (head != NULL && !inside &&
		    obj_state(head, sc, idx) == OBJ_SEEN)
			obj_set_state(head, sc, idx, OBJ_CACHED);
		return true;
	}
	if (head == NULL || inside || head->u.slab.size_class != c ||
	    obj_state(head, sc, idx) != OBJ_CACHED) {
		klog("heap: a CPU cache of the %u-byte class holds %p, which "
		     "is not a cached object of that class (or is in two "
		     "caches)", sc->size, p);
		return false;
	}
	obj_set_state(head, sc, idx, OBJ_SEEN);
	return true;
}

static bool mark_caches(bool mark, uint64_t cached[HEAP_CLASSES])
{
	bool ok = true;

	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) {
		for (unsigned c = 0; c < HEAP_CLASSES; c++) {
			struct obj_cache *oc = &heap_cpus[cpu].cache[c];

			for (unsigned i = 0; i < cache_n(oc) && ok; i++)
				ok = mark_one(oc->obj[i], c, mark);
			for (unsigned i = 0; i < res_n(oc) && ok; i++)
				ok = mark_one(oc->res[i], c, mark);
			cached[c] += cache_n(oc) + res_n(oc);
		}
	}
	return ok;
}

bool heap_validate(void)
{
	uint64_t cached[HEAP_CLASSES] = { 0 }, unused[HEAP_CLASSES] = { 0 };
	uint64_t large = 0;
	bool ok;

	if (!atomic_load(&ready))
		return true;
	ok = mark_caches(true, cached) && slab_validate(cached, &large);
	(void)mark_caches(false, unused);
	if (ok && large != atomic_load(&stats.large_blocks)) {
		klog("heap: %llu large blocks in the table, %llu counted",
		     (unsigned long long)large,
		     (unsigned long long)atomic_load(&stats.large_blocks));
		ok = false;
	}
	return ok;
}
