/* SPDX-License-Identifier: MIT */
/*
 * Slabs: size classes, slab layout, and the class lists (slab.h says what
 * a slab is, who owns which object state, and the lock rules).
 */
#include "kernel/mm/slab.h"

#include <string.h>
#include "kernel/mm/frame.h"

/*
 * Powers of two and the steps halfway between them from 32 B: the waste
 * of rounding a request up stays under a third.
 */
static const uint16_t class_size[HEAP_CLASSES] = {
	8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048,
};

struct slab_class slab_classes[HEAP_CLASSES];

uint8_t slab_class_by_eighth[HEAP_MAX_SMALL / 8];

static uint32_t objects_in(uint32_t size, unsigned order)
{
	return (uint32_t)(((uint64_t)PAGE_SIZE << order) / (size + 1u));
}

/*
 * The smallest order that leaves at most 1/32 of the slab unused (besides
 * the state bytes), else the largest: 8 B-192 B get one frame, 256 B and
 * 384 B two, 512 B and 768 B four, 1 KiB-2 KiB eight.
 */
static unsigned order_for(uint32_t size)
{
	for (unsigned k = 0; k < SLAB_MAX_ORDER; k++) {
		uint64_t bytes = PAGE_SIZE << k;

		if (bytes - objects_in(size, k) * (size + 1u) <= bytes / 32)
			return k;
	}
	return SLAB_MAX_ORDER;
}

/* A CPU cache's capacity: 32 small objects, fewer large ones. */
static uint8_t cache_size_for(uint32_t size)
{
	return size <= 128 ? 32 : size <= 512 ? 16 : 8;
}

void slab_classes_init(void)
{
	unsigned c = 0;

	for (unsigned e = 0; e < HEAP_MAX_SMALL / 8; e++) {
		while (class_size[c] < (e + 1) * 8)
			c++;
		slab_class_by_eighth[e] = (uint8_t)c;
	}
	for (c = 0; c < HEAP_CLASSES; c++) {
		struct slab_class *sc = &slab_classes[c];

		spin_lock_init(&sc->lock, "slab_class");
		for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
			sc->cur[cpu] = SLAB_NIL;
		sc->partial = sc->empty = SLAB_NIL;
		sc->nr_empty = 0;
		sc->slabs = sc->inuse = 0;
		sc->size = class_size[c];
		sc->recip = (uint32_t)(((UINT64_C(1) << 32) + sc->size - 1) /
				       sc->size);
		sc->order = (uint8_t)order_for(sc->size);
		sc->objects = objects_in(sc->size, sc->order);
		sc->state_off = (uint32_t)(slab_bytes(sc) - sc->objects);
		sc->cache_size = cache_size_for(sc->size);
		sc->keep_empty = 1;
		ASSERT(sc->objects >= 8 && sc->objects < SLAB_NO_OBJ);
	}
}

/* -------------------------------------------------------------- lookup */

struct page *slab_find(const void *p, unsigned *idx, bool *inside)
{
	uint64_t seen;
	paddr_t pa;
	struct page *head;
	const struct slab_class *c;
	uint64_t off;

	*inside = false;
	if (!virt_to_phys_checked(p, &pa) || !pfn_valid(pa_to_pfn(pa)))
		return NULL;
	head = slab_head_of(pa_to_pfn(pa), &seen);
	if (head == NULL || head->u.slab.size_class >= HEAP_CLASSES)
		return NULL;
	c = &slab_classes[head->u.slab.size_class];
	off = (uint64_t)((const uint8_t *)p - slab_base(head));
	if (off >= (uint64_t)c->objects * c->size)
		return NULL; /* the state bytes, or the unused end */
	*idx = slab_index(c, off);
	*inside = off != (uint64_t)*idx * c->size;
	return head;
}

/* --------------------------------------------------------- free lists */

/*
 * A free object's first bytes: the next free object's index, and in debug
 * builds its complement after it. The poison cannot cover the link, so
 * this is how a write after free into it is caught: when the link is
 * taken (slab_take) or checked (slab_validate). An index out of the slab
 * is caught in every build, before it is followed.
 */
#define LINK_BYTES  (CONFIG_DEBUG ? 4u : 2u)
#define LINK_BROKEN UINT32_MAX

_Atomic uint64_t slab_link_errors;

static bool poisoned(const void *obj, size_t n)
{
	const uint8_t *b = obj;

	for (size_t i = 0; i < n; i++)
		if (b[i] != HEAP_POISON)
			return false;
	return true;
}

static uint32_t next_free(const struct page *head, const struct slab_class *c,
			  unsigned i)
{
	uint16_t w[2] = { 0, 0 };

	memcpy(w, slab_obj(head, c, i), LINK_BYTES);
	if ((w[0] != SLAB_NO_OBJ && w[0] >= c->objects) ||
	    (CONFIG_DEBUG && (uint16_t)(w[0] ^ w[1]) != 0xffffu))
		return LINK_BROKEN;
	return w[0];
}

static void set_next_free(const struct page *head, const struct slab_class *c,
			  unsigned i, uint16_t next)
{
	uint16_t w[2] = { next, (uint16_t)~next };

	memcpy(slab_obj(head, c, i), w, LINK_BYTES);
}

/* A write after free found where the poison cannot show it. */
static void link_error(const struct slab_class *c, const void *obj,
		       const char *where)
{
	atomic_fetch_add_explicit(&slab_link_errors, 1, memory_order_relaxed);
	klog("heap: %u-byte object %p was written after it was freed (%s)",
	     c->size, obj, where);
}

void slab_format(struct page *head, unsigned c)
{
	const struct slab_class *sc = &slab_classes[c];

	head->u.slab.size_class = (uint8_t)c;
	head->u.slab.list = SLAB_ON_NONE;
	head->u.slab.next = head->u.slab.prev = SLAB_NIL;
	head->u.slab.inuse = 0;
	head->u.slab.free = 0;
	if (CONFIG_DEBUG)
		memset(slab_base(head), HEAP_POISON,
		       (uint64_t)sc->objects * sc->size);
	for (unsigned i = 0; i < sc->objects; i++) {
		set_next_free(head, sc, i,
			      i + 1 < sc->objects ? (uint16_t)(i + 1)
						  : SLAB_NO_OBJ);
		obj_set_state(head, sc, i, OBJ_FREE);
	}
}

unsigned slab_take(struct page *head, unsigned c, void **out, unsigned n)
{
	const struct slab_class *sc = &slab_classes[c];
	unsigned got = 0;

	bool broken = false;

	while (got < n && head->u.slab.free != SLAB_NO_OBJ) {
		unsigned i = head->u.slab.free;
		uint32_t next = next_free(head, sc, i);

		ASSERT(i < sc->objects && obj_state(head, sc, i) == OBJ_FREE);
		if (next == LINK_BROKEN) {
			link_error(sc, slab_obj(head, sc, i),
				   "its free-list link; the rest of its slab's "
				   "free list is lost");
			next = SLAB_NO_OBJ;
			broken = true;
		}
		head->u.slab.free = (uint16_t)next;
		out[got++] = slab_obj(head, sc, i);
	}
	/*
	 * A broken list: what was after the break counts as in use for good,
	 * so the slab leaves the partial list (full) instead of blocking it
	 * with nothing to give; its states no longer add up, so
	 * heap_validate() reports it too.
	 */
	head->u.slab.inuse = broken ? (uint16_t)sc->objects
				    : (uint16_t)(head->u.slab.inuse + got);
	return got;
}

void slab_own(unsigned c, void *const *objs, unsigned n, enum obj_state s)
{
	const struct slab_class *sc = &slab_classes[c];

	for (unsigned k = 0; k < n; k++) {
		if (CONFIG_DEBUG) /* the link was the poison's first bytes */
			memset(objs[k], HEAP_POISON, LINK_BYTES);
		atomic_store_explicit(obj_state_of(objs[k], sc), (uint8_t)s,
				      memory_order_relaxed);
	}
}

/* Put object i, already OBJ_FREE, on its slab's free list (lock held). */
static void put_free(struct page *head, const struct slab_class *sc,
		     unsigned i)
{
	ASSERT(head->u.slab.inuse > 0 && obj_state(head, sc, i) == OBJ_FREE);
	set_next_free(head, sc, i, head->u.slab.free);
	head->u.slab.free = (uint16_t)i;
	head->u.slab.inuse--;
}

/* ------------------------------------------------------- class lists */

static struct page *slab_at(uint32_t pfn)
{
	return pfn == SLAB_NIL ? NULL : pfn_to_page(PFN(pfn));
}

static uint32_t *list_head(struct slab_class *sc, enum slab_list l)
{
	ASSERT(l != SLAB_ON_NONE);
	return l == SLAB_ON_PARTIAL ? &sc->partial : &sc->empty;
}

static void link_slab(struct slab_class *sc, struct page *head,
		      enum slab_list l)
{
	uint32_t *first = list_head(sc, l);
	uint32_t me = (uint32_t)page_to_pfn(head).v;

	head->u.slab.list = (uint8_t)l;
	head->u.slab.prev = SLAB_NIL;
	head->u.slab.next = *first;
	if (*first != SLAB_NIL)
		slab_at(*first)->u.slab.prev = me;
	*first = me;
	if (l == SLAB_ON_EMPTY)
		sc->nr_empty++;
}

static void unlink_slab(struct slab_class *sc, struct page *head)
{
	enum slab_list l = head->u.slab.list;

	if (l == SLAB_ON_NONE || l == SLAB_ON_CPU)
		return;
	if (head->u.slab.prev != SLAB_NIL)
		slab_at(head->u.slab.prev)->u.slab.next = head->u.slab.next;
	else
		*list_head(sc, l) = head->u.slab.next;
	if (head->u.slab.next != SLAB_NIL)
		slab_at(head->u.slab.next)->u.slab.prev = head->u.slab.prev;
	head->u.slab.next = head->u.slab.prev = SLAB_NIL;
	head->u.slab.list = SLAB_ON_NONE;
	if (l == SLAB_ON_EMPTY)
		sc->nr_empty--;
}

/* The list a slab belongs on by its counts. */
static enum slab_list list_for(const struct slab_class *sc,
			       const struct page *head)
{
	if (head->u.slab.inuse == 0)
		return SLAB_ON_EMPTY;
	return head->u.slab.inuse < sc->objects ? SLAB_ON_PARTIAL
						: SLAB_ON_NONE;
}

/* Move a slab to the list its counts say, unless a CPU owns it. */
static void relist(struct slab_class *sc, struct page *head)
{
	enum slab_list want = list_for(sc, head);

	if (head->u.slab.list == want || head->u.slab.list == SLAB_ON_CPU)
		return;
	unlink_slab(sc, head);
	if (want != SLAB_ON_NONE)
		link_slab(sc, head, want);
}

/* CPU cpu's own slab goes back to the list its counts say (lock held). */
static void release_cur(struct slab_class *sc, unsigned cpu)
{
	struct page *head = slab_at(sc->cur[cpu]);

	if (head == NULL)
		return;
	sc->cur[cpu] = SLAB_NIL;
	head->u.slab.list = SLAB_ON_NONE;
	relist(sc, head);
}

/* Make head CPU cpu's own slab, in place of the one it had (lock held). */
static void adopt(struct slab_class *sc, unsigned cpu, struct page *head)
{
	release_cur(sc, cpu);
	unlink_slab(sc, head);
	head->u.slab.list = SLAB_ON_CPU;
	sc->cur[cpu] = (uint32_t)page_to_pfn(head).v;
}

/* Whether CPU cpu's own slab has nothing left to give. */
static bool cur_spent(const struct slab_class *sc, unsigned cpu)
{
	const struct page *head = slab_at(sc->cur[cpu]);

	return head == NULL || head->u.slab.free == SLAB_NO_OBJ;
}

void slab_publish(struct page *head, unsigned c)
{
	struct slab_class *sc = &slab_classes[c];
	irqflags_t f = spin_lock_irqsave(&sc->lock);

	sc->slabs++;
	sc->inuse += head->u.slab.inuse;
	if (cur_spent(sc, cpu_id()) && head->u.slab.free != SLAB_NO_OBJ)
		adopt(sc, cpu_id(), head);
	else
		relist(sc, head);
	spin_unlock_irqrestore(&sc->lock, f);
}

/*
 * The CPU's own slab, or (when it is spent) a new one taken whole from
 * the partial list, else the empty one (partial first: an empty slab may
 * still go back, HEP-02). NULL if the class has no free object on a list.
 */
static struct page *own_slab(struct slab_class *sc, unsigned cpu)
{
	struct page *head;

	if (!cur_spent(sc, cpu))
		return slab_at(sc->cur[cpu]);
	head = slab_at(sc->partial != SLAB_NIL ? sc->partial : sc->empty);
	if (head == NULL)
		return NULL;
	adopt(sc, cpu, head);
	return head;
}

/*
 * The lists are empty: another CPU's own slab that has free objects (its
 * free list is the lock's like any other; owning a slab only steers
 * refills). Rescue's last refill takes from there, so it reaches every
 * free object on a slab from any context, as heap.h's guarantee says,
 * even when this CPU cannot wait for the others to release their slabs.
 * Earlier refills do not: a CPU would share another's slab instead of
 * making its own.
 */
static struct page *others_slab(struct slab_class *sc)
{
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
		if (!cur_spent(sc, cpu))
			return slab_at(sc->cur[cpu]);
	return NULL;
}

unsigned slab_refill(unsigned c, void **out, unsigned n, bool steal)
{
	struct slab_class *sc = &slab_classes[c];
	irqflags_t f = spin_lock_irqsave(&sc->lock);
	unsigned got = 0, cpu = cpu_id();
	struct page *head;

	while (got < n && ((head = own_slab(sc, cpu)) != NULL ||
			   (steal && (head = others_slab(sc)) != NULL))) {
		unsigned before = head->u.slab.inuse;

		got += slab_take(head, c, out + got, n - got);
		sc->inuse += head->u.slab.inuse - before;
	}
	spin_unlock_irqrestore(&sc->lock, f);
	/* Off their free lists they are ours: their states need no lock. */
	slab_own(c, out, got, OBJ_CACHED);
	return got;
}

/* Unlink empty slabs beyond keep into give (class lock held). */
static unsigned take_empty_locked(struct slab_class *sc, unsigned keep,
				  struct page **give, unsigned max)
{
	unsigned n = 0;

	while (sc->nr_empty > keep && n < max) {
		struct page *head = slab_at(sc->empty);

		unlink_slab(sc, head);
		sc->slabs--;
		give[n++] = head;
	}
	return n;
}

unsigned slab_flush(unsigned c, void *const *objs, unsigned n,
		    struct page **give)
{
	struct slab_class *sc = &slab_classes[c];
	irqflags_t f;
	unsigned given;

	/* Ours until they are on a free list: marked before the lock. */
	for (unsigned k = 0; k < n; k++) {
		ASSERT(atomic_load_explicit(obj_state_of(objs[k], sc),
					    memory_order_relaxed) ==
		       OBJ_CACHED);
		/* The link overwrites these bytes: check them now. */
		if (CONFIG_DEBUG && !poisoned(objs[k], LINK_BYTES))
			link_error(sc, objs[k], "its first bytes, about to "
						"hold its free-list link");
		atomic_store_explicit(obj_state_of(objs[k], sc), OBJ_FREE,
				      memory_order_relaxed);
	}
	f = spin_lock_irqsave(&sc->lock);
	for (unsigned k = 0; k < n; k++) {
		struct page *head = slab_head_in_class(objs[k], sc);
		unsigned idx = slab_index(sc, (uint64_t)((uint8_t *)objs[k] -
							 slab_base(head)));

		ASSERT(head->u.slab.size_class == c &&
		       slab_obj(head, sc, idx) == objs[k]);
		put_free(head, sc, idx);
		relist(sc, head);
	}
	sc->inuse -= n;
	given = take_empty_locked(sc, sc->keep_empty, give, n);
	spin_unlock_irqrestore(&sc->lock, f);
	return given;
}

unsigned slab_release_cpu(unsigned cpu, struct page **give,
			  unsigned *give_class)
{
	unsigned n = 0;

	for (unsigned c = 0; c < HEAP_CLASSES; c++) {
		struct slab_class *sc = &slab_classes[c];
		irqflags_t f = spin_lock_irqsave(&sc->lock);

		release_cur(sc, cpu);
		if (take_empty_locked(sc, sc->keep_empty, give + n, 1) == 1)
			give_class[n++] = c;
		spin_unlock_irqrestore(&sc->lock, f);
	}
	return n;
}

unsigned slab_take_empty(unsigned c, unsigned keep, struct page **give,
			 unsigned max)
{
	struct slab_class *sc = &slab_classes[c];
	irqflags_t f = spin_lock_irqsave(&sc->lock);
	unsigned n = take_empty_locked(sc, keep, give, max);

	spin_unlock_irqrestore(&sc->lock, f);
	return n;
}

struct page *slab_take_empty_of_order(unsigned order)
{
	for (unsigned c = 0; c < HEAP_CLASSES; c++) {
		struct page *got;

		if (slab_classes[c].order != order)
			continue;
		if (slab_take_empty(c, 0, &got, 1) == 1)
			return got;
	}
	return NULL;
}

uint64_t slab_give_back(unsigned c, struct page *const *give, unsigned n)
{
	/*
	 * A put, not a free: a kfree() that found the slab may still hold it
	 * (heap.c pins it in debug builds), and then its own put frees it.
	 */
	for (unsigned k = 0; k < n; k++) {
		err_t e = frame_put(give[k]);

		ASSERT(e == E_OK);
		(void)e;
	}
	return (uint64_t)n << slab_classes[c].order;
}

/* ------------------------------------------------------------- checks */

void slab_class_counts(unsigned c, struct slab_counts *out)
{
	struct slab_class *sc = &slab_classes[c];
	irqflags_t f = spin_lock_irqsave(&sc->lock);

	out->slabs = sc->slabs;
	out->empty = sc->nr_empty;
	out->inuse = sc->inuse;
	spin_unlock_irqrestore(&sc->lock, f);
	out->cached = 0;
}

/* What one slab holds, counted from its states and free list. */
struct slab_tally {
	uint64_t live, seen, free;
};

static bool fail(const char *what, const struct page *head)
{
	klog("heap: slab at frame %llu: %s",
	     (unsigned long long)page_to_pfn(head).v, what);
	return false;
}

/* The free list: in range, every entry OBJ_FREE, as long as the count. */
static bool check_free_list(const struct page *head,
			    const struct slab_class *sc, uint64_t nfree)
{
	uint64_t n = 0;

	for (uint32_t i = head->u.slab.free; i != SLAB_NO_OBJ;
	     i = next_free(head, sc, i)) {
		if (i == LINK_BROKEN)
			return fail("a free object's link was overwritten",
				    head);
		if (i >= sc->objects)
			return fail("free list leaves the slab", head);
		if (obj_state(head, sc, i) != OBJ_FREE)
			return fail("free list holds an object not free", head);
		if (++n > nfree)
			return fail("free list longer than its free objects "
				    "(a loop, or an object on it twice)",
				    head);
	}
	if (n != nfree)
		return fail("free objects off the free list", head);
	return true;
}

static bool validate_slab(const struct page *head, struct slab_tally *t)
{
	const struct slab_class *sc = &slab_classes[head->u.slab.size_class];
	uint64_t free = 0;

	t->live = t->seen = 0;
	for (unsigned i = 0; i < sc->objects; i++) {
		uint8_t s = obj_state(head, sc, i);

		if (s == OBJ_FREE)
			free++;
		else if (s == OBJ_LIVE)
			t->live++;
		else if (s == OBJ_SEEN)
			t->seen++;
		else
			return fail(s == OBJ_CACHED
					    ? "an object cached by no CPU"
					    : "an object in no known state",
				    head);
	}
	t->free = free;
	if (head->u.slab.inuse != sc->objects - free)
		return fail("in-use count is not objects minus free ones",
			    head);
	if (head->u.slab.list != SLAB_ON_CPU &&
	    head->u.slab.list != list_for(sc, head))
		return fail("on the wrong class list", head);
	return check_free_list(head, sc, free);
}

/* One class list: each member of the class, on it, linked both ways. */
static bool validate_list(const struct slab_class *sc, unsigned c,
			  enum slab_list l, uint64_t *count)
{
	uint32_t prev = SLAB_NIL;
	uint32_t first = l == SLAB_ON_PARTIAL ? sc->partial : sc->empty;

	*count = 0;
	for (uint32_t at = first; at != SLAB_NIL;) {
		const struct page *head;

		if (!pfn_valid(PFN(at)) || *count > sc->slabs) {
			klog("heap: class %u B: a list leaves the table or "
			     "loops", sc->size);
			return false;
		}
		head = pfn_to_page(PFN(at));
		if (ps_usage(page_state(head)) != PAGE_SLAB ||
		    head->u.slab.size_class != c || head->u.slab.list != l ||
		    head->u.slab.prev != prev)
			return fail("class list holds a stranger", head);
		prev = at;
		at = head->u.slab.next;
		(*count)++;
	}
	return true;
}

/* What the frame table holds for each class. */
struct class_tally {
	uint64_t slabs, partial, owned, inuse, seen;
};

static bool tally_table(struct class_tally tally[HEAP_CLASSES],
			uint64_t *large)
{
	*large = 0;
	for (uint64_t pfn = 0; pfn < frame_table_pages; pfn++) {
		const struct page *head = pfn_to_page(PFN(pfn));
		uint64_t s = page_state(head);
		struct slab_tally t;
		unsigned c;

		if (ps_usage(s) != PAGE_SLAB || ps_ref(s) == 0)
			continue;
		c = head->u.slab.size_class;
		if (c == SLAB_LARGE) {
			(*large)++;
			continue;
		}
		if (c >= HEAP_CLASSES)
			return fail("a slab of no class", head);
		if (ps_order(s) != slab_classes[c].order)
			return fail("a slab of its class's wrong order", head);
		if (!validate_slab(head, &t))
			return false;
		tally[c].slabs++;
		tally[c].partial += head->u.slab.list == SLAB_ON_PARTIAL;
		tally[c].owned += head->u.slab.list == SLAB_ON_CPU;
		tally[c].inuse += t.live + t.seen;
		tally[c].seen += t.seen;
	}
	return true;
}

/* Each CPU's own slab: a slab of the class, marked so; one per CPU. */
static bool validate_cur(const struct slab_class *sc, unsigned c,
			 uint64_t owned)
{
	uint64_t n = 0;

	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) {
		const struct page *head;

		if (sc->cur[cpu] == SLAB_NIL)
			continue;
		head = pfn_valid(PFN(sc->cur[cpu])) ? slab_at(sc->cur[cpu])
						    : NULL;
		if (head == NULL || ps_usage(page_state(head)) != PAGE_SLAB ||
		    head->u.slab.size_class != c ||
		    head->u.slab.list != SLAB_ON_CPU) {
			klog("heap: class %u B: CPU %u's own slab is not one "
			     "of the class's", sc->size, cpu);
			return false;
		}
		n++;
	}
	if (n != owned) { /* two CPUs on one slab, or one owned by none */
		klog("heap: class %u B: %llu slabs marked a CPU's own, %llu "
		     "CPUs own one", sc->size, (unsigned long long)owned,
		     (unsigned long long)n);
		return false;
	}
	return true;
}

bool slab_validate(const uint64_t cached[HEAP_CLASSES], uint64_t *large)
{
	struct class_tally tally[HEAP_CLASSES] = { 0 };

	if (!tally_table(tally, large))
		return false;
	for (unsigned c = 0; c < HEAP_CLASSES; c++) {
		const struct slab_class *sc = &slab_classes[c];
		uint64_t partial, empty;

		if (!validate_list(sc, c, SLAB_ON_PARTIAL, &partial) ||
		    !validate_list(sc, c, SLAB_ON_EMPTY, &empty) ||
		    !validate_cur(sc, c, tally[c].owned))
			return false;
		if (sc->nr_empty > sc->keep_empty) { /* HEP-02 */
			klog("heap: class %u B keeps %u empty slabs, more than "
			     "its %u", sc->size, sc->nr_empty, sc->keep_empty);
			return false;
		}
		if (tally[c].slabs != sc->slabs || tally[c].inuse != sc->inuse ||
		    empty != sc->nr_empty || partial != tally[c].partial ||
		    tally[c].seen != cached[c]) {
			klog("heap: class %u B: the table holds %llu slabs "
			     "(%llu partial), %llu objects in use, %llu cached; "
			     "the class says %llu slabs, %llu in use; its lists "
			     "hold %llu partial, %llu empty (count %u); the "
			     "caches hold %llu",
			     sc->size, (unsigned long long)tally[c].slabs,
			     (unsigned long long)tally[c].partial,
			     (unsigned long long)tally[c].inuse,
			     (unsigned long long)tally[c].seen,
			     (unsigned long long)sc->slabs,
			     (unsigned long long)sc->inuse,
			     (unsigned long long)partial,
			     (unsigned long long)empty, sc->nr_empty,
			     (unsigned long long)cached[c]);
			return false;
		}
	}
	return true;
}
