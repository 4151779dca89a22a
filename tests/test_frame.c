/* SPDX-License-Identifier: MIT */
/*
 * The frame API: every checklist row of this layer (XEN-UE-*, XEN-ZONE,
 * XEN-DMA-POOL, XEN-QUOTA, XEN-SCRUB, XEN-AVAIL, ALO-01, ALO-02, ALO-04,
 * MOP-02, T3-T5, T8), bad input that must change nothing (checked against
 * a byte snapshot of the allocator), the early-boot path, per-CPU caches
 * and their remote drain. Runs in the full configuration; the buddy and
 * the stress harness cover the others.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/mm/scrub.h"
#include "locks/spinlock.h"
#include "percpu/pcp.h"
#include "tests/support.h"

#define MIB (UINT64_C(1) << 20)
#define RAM (64 * MIB)

static const struct frame_config full = FRAME_CONFIG_FULL;

static int setup(void **state)
{
	(void)state;
	if (host_arena_init(RAM) != E_OK || host_cpu_register() < 0)
		return -1;
	return host_mm_boot(RAM, &full) == E_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	host_mm_shutdown();
	host_cpu_unregister();
	host_arena_fini();
	return 0;
}

/* --------------------------------------------------------- snapshots */

/*
 * Everything the allocator is: descriptors, free maps, counters, and the
 * account a test charges (snap_account()). WF-FAIL-NOOP: every failing
 * call is made between snap() and assert_unchanged().
 */
struct snapshot {
	struct frame_stats stats;
	struct page *table;
	uint64_t *maps[ZONE_COUNT];
	size_t map_bytes[ZONE_COUNT];
	const struct account *acct;
	struct account acct_bytes;
};

static void snap(struct snapshot *s)
{
	s->acct = NULL;
	s->table = malloc(frame_table_pages * sizeof(struct page));
	memcpy(s->table, frame_table, frame_table_pages * sizeof(struct page));
	frame_get_stats(&s->stats);
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		const struct buddy *b = &zones[z].buddy;

		s->map_bytes[z] = 0;
		s->maps[z] = NULL;
		if (!zone_present(&zones[z]))
			continue;
		s->map_bytes[z] = buddy_metadata_bytes(b->npages) -
				  MAX_CPUS * sizeof(struct buddy_cpu);
		s->maps[z] = malloc(s->map_bytes[z]);
		memcpy(s->maps[z], (const void *)b->map[0].bits, s->map_bytes[z]);
	}
}

/* Also compare account a (after snap()). */
static void snap_account(struct snapshot *s, const struct account *a)
{
	s->acct = a;
	memcpy(&s->acct_bytes, a, sizeof(*a));
}

static void assert_unchanged(struct snapshot *s)
{
	struct frame_stats now;

	if (s->acct != NULL)
		assert_memory_equal(s->acct, &s->acct_bytes, sizeof(*s->acct));
	frame_get_stats(&now);
	assert_memory_equal(&now, &s->stats, sizeof(now));
	/* The generation (page.h) counts allocations, as an ABA guard: a
	   failing call that allocated and rolled back moves it, and no
	   caller can see it. Everything else must be as it was. */
	for (uint64_t i = 0; i < frame_table_pages; i++) {
		s->table[i].state &= ~PS_GEN_MASK;
		s->table[i].state |= frame_table[i].state & PS_GEN_MASK;
	}
	assert_memory_equal(frame_table, s->table,
			    frame_table_pages * sizeof(struct page));
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		if (s->maps[z] != NULL)
			assert_memory_equal((const void *)zones[z].buddy.map[0].bits,
					    s->maps[z], s->map_bytes[z]);
		free(s->maps[z]);
	}
	free(s->table);
}

/*
 * For a call that may fail with E_NOMEM: its last resort drains the
 * per-CPU caches, which moves free frames into the buddies without
 * changing which frames are free. With this CPU's caches drained on both
 * sides (the tests run no other CPU), anything else it changed shows.
 */
static void snap_drained(struct snapshot *s)
{
	pcp_drain_local();
	snap(s);
}

static void assert_unchanged_drained(struct snapshot *s)
{
	pcp_drain_local();
	assert_unchanged(s);
}

static uint64_t free_frames(void)
{
	struct frame_stats st;

	frame_get_stats(&st);
	return st.free;
}

/*
 * Interrupts at chosen steps: irq_at(point, skip, fn) makes an interrupt
 * arrive on this CPU when it reaches a pause point (kernel/lib/pause.h),
 * and fn is its handler; irq_at_done() removes both and checks it fired.
 */
static _Atomic uint64_t irq_kept;   /* pfn the handler allocated */
static _Atomic uint64_t irq_victim; /* pfn the handler frees */
static _Atomic bool irq_freed;

#define NO_PFN UINT64_MAX

static void irq_alloc_and_keep(unsigned vector)
{
	struct frame_result r = frame_alloc(0, 0);

	(void)vector;
	CHECK(r.err == E_OK);
	if (r.err == E_OK)
		atomic_store(&irq_kept, r.pfn.v);
}

static void irq_free_victim(unsigned vector)
{
	(void)vector;
	CHECK(frame_free(PFN(atomic_load(&irq_victim)), 0) == E_OK);
	atomic_store(&irq_freed, true);
}

static void irq_here(void *arg)
{
	(void)arg;
	CHECK(host_irq_raise_self(HOST_IRQ_TEST) == E_OK);
}

/* At the (skip + 1)-th time this CPU reaches point, an IRQ runs fn. */
static void irq_at(const char *point, unsigned skip, host_irq_handler_t fn)
{
	atomic_store(&irq_kept, NO_PFN);
	atomic_store(&irq_freed, false);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TEST, fn), E_OK);
	pause_arm(0, point, skip, (int)cpu_id(), irq_here, NULL);
}

static void irq_at_done(void)
{
	bool fired = pause_fired(0);

	pause_reset();
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TEST, NULL), E_OK);
	assert_true(fired);
	assert_no_check_failures();
}

/* The handler's frame is its alone: allocated once, not in any cache. */
static void assert_irq_frame_owned(pfn_t interrupted)
{
	uint64_t kept = atomic_load(&irq_kept);

	assert_int_not_equal(kept, NO_PFN);
	assert_int_not_equal(kept, interrupted.v);
	assert_int_equal(page_state(pfn_to_page(PFN(kept))) & ~PS_GEN_MASK,
			 ps_make(1, PAGE_FRAME, 0, 0));
	assert_true(frame_validate());
	assert_int_equal(frame_free(PFN(kept), 0), E_OK);
}

/* ----------------------------------------------------- basic behaviour */

/* T3: a new frame is fully initialised: one reference, usage, order. */
static void test_t3_new_frame_is_initialised(void **state)
{
	struct account a;

	(void)state;
	account_init(&a, "t3", 1000);
	struct frame_result r = frame_alloc_for(&a, 2, 0, PAGE_PAGETABLE);
	assert_int_equal(r.err, E_OK);
	assert_int_equal(r.pfn.v % 4, 0);
	struct page *p = pfn_to_page(r.pfn);
	uint64_t s = page_state(p);
	assert_int_equal(ps_ref(s), 1);
	assert_int_equal(ps_usage(s), PAGE_PAGETABLE);
	assert_int_equal(ps_order(s), 2);
	assert_ptr_equal(p->owner, &a);
	assert_int_equal(p->u.raw[0] | p->u.raw[1], 0);
	assert_int_equal(account_pages(&a), 4);
	assert_true(frame_validate());
	assert_int_equal(frame_free(r.pfn, 2), E_OK);
	assert_int_equal(account_pages(&a), 0);
	assert_true(frame_validate());
}

static void test_frame_zero_clears_memory(void **state)
{
	(void)state;
	struct frame_result r = frame_alloc(1, 0);
	assert_int_equal(r.err, E_OK);
	memset(phys_to_virt(pfn_to_pa(r.pfn)), 0xaa, 2 * PAGE_SIZE);
	assert_int_equal(frame_free(r.pfn, 1), E_OK);
	/* The per-CPU cache hands the same block back (LIFO). */
	struct frame_result z = frame_alloc(1, FRAME_ZERO);
	assert_int_equal(z.err, E_OK);
	assert_int_equal(z.pfn.v, r.pfn.v);
	const uint8_t *m = phys_to_virt(pfn_to_pa(z.pfn));
	for (uint64_t i = 0; i < 2 * PAGE_SIZE; i++)
		assert_int_equal(m[i], 0);
	assert_int_equal(frame_free(z.pfn, 1), E_OK);
}

/* -------------------------------------------------------- bad input */

/* XEN-UE-DOUBLE and every other bad free: an error, and no change. */
static void test_xen_ue_double_and_bad_frees_change_nothing(void **state)
{
	struct snapshot s;
	pfn_t self;

	(void)state;
	struct frame_result f = frame_alloc(0, 0), g = frame_alloc(2, 0);
	assert_int_equal(f.err, E_OK);
	assert_int_equal(g.err, E_OK);
	assert_int_equal(frame_free(f.pfn, 0), E_OK);

	snap(&s);
	assert_int_equal(frame_free(f.pfn, 0), E_NOT_ALLOCATED);  /* double */
	assert_int_equal(frame_free(PFN(g.pfn.v + 1), 0), E_NOT_ALLOCATED);
	assert_int_equal(frame_free(g.pfn, 1), E_BAD_ORDER);
	assert_int_equal(frame_free(g.pfn, 3), g.pfn.v % 8 ? E_RANGE
							   : E_BAD_ORDER);
	assert_int_equal(frame_free(PFN(g.pfn.v + 2), 2), E_RANGE); /* unaligned */
	assert_int_equal(frame_free(PFN(frame_table_pages), 0), E_RANGE);
	assert_int_equal(frame_free(PFN(UINT64_MAX - 1), 0), E_RANGE);
	assert_int_equal(frame_free(g.pfn, FRAME_MAX_ORDER + 1), E_INVAL);
	self = page_to_pfn(&frame_table[0]); /* pfn 0: low memory, reserved */
	assert_int_equal(frame_free(self, 0), E_RESERVED);
	/* The frame table's own frames are metadata. */
	assert_int_equal(frame_free(pa_to_pfn(virt_to_phys(frame_table)), 0),
			 E_RESERVED);
	assert_unchanged(&s);

	/* A frame someone else still references. */
	assert_int_equal(frame_get(pfn_to_page(g.pfn)), E_OK);
	snap(&s);
	assert_int_equal(frame_free(g.pfn, 2), E_REFERENCED);
	assert_unchanged(&s);
	assert_int_equal(frame_put(pfn_to_page(g.pfn)), E_OK);
	assert_int_equal(frame_free(g.pfn, 2), E_OK);
	assert_true(frame_validate());
}

/* A frame that was never allocated: every free frame in the buddy. */
static void test_free_of_never_allocated_frames(void **state)
{
	struct snapshot s;
	const struct zone *z = &zones[ZONE_DMA32];

	(void)state;
	snap(&s);
	for (uint64_t pfn = z->start; pfn < z->end; pfn += 97) {
		uint64_t u = ps_usage(page_state(pfn_to_page(PFN(pfn))));

		if (u == PAGE_NONE)
			assert_int_equal(frame_free(PFN(pfn), 0), E_NOT_ALLOCATED);
	}
	assert_unchanged(&s);
}

/* XEN-UE-ORDER: order > max fails from every entry point. */
static void test_xen_ue_order_rejected_everywhere(void **state)
{
	struct account a;
	struct snapshot s;
	pfn_t out[4];

	(void)state;
	account_init(&a, "order", 1 << 20);
	snap(&s);
	assert_int_equal(frame_alloc(FRAME_MAX_ORDER + 1, 0).err, E_INVAL);
	assert_int_equal(frame_alloc(255, 0).err, E_INVAL);
	assert_int_equal(frame_alloc_for(&a, FRAME_MAX_ORDER + 1, 0,
					 PAGE_FRAME).err, E_INVAL);
	assert_int_equal(frame_free(PFN(0), FRAME_MAX_ORDER + 1), E_INVAL);
	/* Other malformed requests, while we are here. */
	assert_int_equal(frame_alloc(0, 1u << 20).err, E_INVAL);
	assert_int_equal(frame_alloc_for(NULL, 0, 0, PAGE_META).err, E_INVAL);
	assert_int_equal(frames_alloc(4, 1u << 20, out), E_INVAL);
	assert_unchanged(&s);
	assert_int_equal(account_pages(&a), 0);
}

/* Two CPUs free the same frame at once: exactly one succeeds. */
struct race {
	pthread_barrier_t go;
	_Atomic uint64_t pfn;
	_Atomic unsigned ok, refused, rounds;
};

static void racing_free(unsigned index, void *arg)
{
	struct race *r = arg;

	for (unsigned round = 0; round < 2000; round++) {
		if (index == 0) {
			struct frame_result f = frame_alloc(0, 0);

			CHECK(f.err == E_OK);
			atomic_store(&r->pfn, f.pfn.v);
		}
		pthread_barrier_wait(&r->go);
		err_t e = frame_free(PFN(atomic_load(&r->pfn)), 0);
		if (e == E_OK)
			atomic_fetch_add(&r->ok, 1);
		else if (e == E_NOT_ALLOCATED)
			atomic_fetch_add(&r->refused, 1);
		pthread_barrier_wait(&r->go);
		if (index == 0)
			atomic_fetch_add(&r->rounds, 1);
	}
}

static void test_racing_double_free_exactly_one_wins(void **state)
{
	struct race r;

	(void)state;
	memset(&r, 0, sizeof(r));
	pthread_barrier_init(&r.go, NULL, 2);
	run_on_cpus(2, racing_free, &r);
	pthread_barrier_destroy(&r.go);
	assert_int_equal(atomic_load(&r.ok), atomic_load(&r.rounds));
	assert_int_equal(atomic_load(&r.refused), atomic_load(&r.rounds));
	assert_true(frame_validate());
}

/* ---------------------------------------------------------- refcounts */

/* MOP-02 / T5: the count equals the owners, under concurrent gets/puts. */
static struct page *shared;

static void get_put(unsigned index, void *arg)
{
	(void)index;
	(void)arg;
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 50; i++)
			CHECK(frame_get(shared) == E_OK);
		CHECK(frame_refcount(shared) >= 51);
		for (int i = 0; i < 50; i++)
			CHECK(frame_put(shared) == E_OK);
	}
}

static void test_mop02_refcount_equals_owners(void **state)
{
	(void)state;
	struct frame_result r = frame_alloc(0, 0);
	assert_int_equal(r.err, E_OK);
	shared = pfn_to_page(r.pfn);
	uint64_t before = free_frames();
	run_on_cpus(4, get_put, NULL);
	/* Our one reference is left; the frame is still allocated. */
	assert_int_equal(frame_refcount(shared), 1);
	assert_int_equal(ps_usage(page_state(shared)), PAGE_FRAME);
	assert_int_equal(free_frames(), before);
	/* The last put frees it; another put is refused, changing nothing. */
	assert_int_equal(frame_put(shared), E_OK);
	assert_int_equal(free_frames(), before + 1);
	assert_int_equal(frame_put(shared), E_NOT_ALLOCATED);
	assert_int_equal(free_frames(), before + 1);
	assert_true(frame_validate());
}

/*
 * MOP-02: frame_get() is one atomic step, even against an interrupt on its
 * own CPU. This CPU takes references in a tight loop while fast timer
 * interrupts take more; a get made of a load and a store loses the
 * interrupt's reference whenever the interrupt lands between the two
 * (most runs see hundreds; the loop runs until a few thousand interrupts
 * did, so one in the window is as good as certain).
 */
static _Atomic uint64_t irq_gets;

static void irq_takes_a_reference(unsigned vector)
{
	(void)vector;
	CHECK(frame_get(shared) == E_OK);
	atomic_fetch_add_explicit(&irq_gets, 1, memory_order_relaxed);
}

static void test_mop02_get_is_atomic_against_irqs(void **state)
{
	uint64_t mine = 0;

	(void)state;
	struct frame_result r = frame_alloc(0, 0);
	assert_int_equal(r.err, E_OK);
	shared = pfn_to_page(r.pfn);
	atomic_store(&irq_gets, 0);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TIMER,
					      irq_takes_a_reference), E_OK);
	assert_int_equal(host_timer_start(20 * 1000), E_OK);
	while (atomic_load(&irq_gets) < 3000 && mine < (UINT64_C(1) << 30)) {
		CHECK(frame_get(shared) == E_OK);
		mine++;
	}
	host_timer_stop();
	irqflags_t f = irq_save(); /* no interrupt after the count */
	uint64_t theirs = atomic_load(&irq_gets);
	uint32_t count = frame_refcount(shared);
	irq_restore(f);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TIMER, NULL), E_OK);
	assert_int_equal(count, 1 + mine + theirs);
	for (uint64_t i = 0; i < mine + theirs; i++)
		assert_int_equal(frame_put(shared), E_OK);
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
}

/*
 * T4: a reference held as a raw address (frame_into_raw) keeps the block
 * allocated, with the count unchanged both ways, and the usage too.
 */
static void test_t4_raw_reference_keeps_the_frame(void **state)
{
	(void)state;
	struct frame_result r = frame_alloc_for(NULL, 1, 0, PAGE_PAGETABLE);
	assert_int_equal(r.err, E_OK);
	struct page *p = pfn_to_page(r.pfn);
	assert_int_equal(frame_get(p), E_OK); /* two handles */
	uint64_t before = free_frames();

	paddr_t raw = frame_into_raw(p); /* one of them becomes raw */
	assert_int_equal(raw.v, r.pfn.v << PAGE_SHIFT);
	assert_int_equal(frame_refcount(p), 2);
	assert_int_equal(ps_raw(page_state(p)), 1);
	/* The other handle goes: the raw reference holds the block. */
	assert_int_equal(frame_put(p), E_OK);
	assert_int_equal(page_state(p) & ~PS_GEN_MASK,
			 ps_make(1, PAGE_PAGETABLE, 1, 0) | PS_RAW_ONE);
	assert_int_equal(free_frames(), before);
	assert_true(frame_validate());

	struct page *q = frame_from_raw(raw);
	assert_ptr_equal(q, p);
	assert_int_equal(page_state(q) & ~PS_GEN_MASK,
			 ps_make(1, PAGE_PAGETABLE, 1, 0));
	/* The restored handle is the last reference: its put frees. */
	assert_int_equal(frame_put(q), E_OK);
	assert_int_equal(free_frames(), before + 2);
	assert_false(page_usage_allocatable(ps_usage(page_state(p))));
	assert_true(frame_validate());
}

/*
 * T4: each restore matches one into_raw. A second restore, or one of an
 * address that no into_raw gave, is refused and changes nothing; so is an
 * old raw address once its block was freed and allocated again.
 */
static void test_t4_second_restore_is_refused(void **state)
{
	struct snapshot s;

	(void)state;
	struct frame_result r = frame_alloc(2, 0), plain = frame_alloc(0, 0);
	assert_int_equal(r.err, E_OK);
	assert_int_equal(plain.err, E_OK);
	struct page *p = pfn_to_page(r.pfn);

	assert_int_equal(frame_get(p), E_OK);
	paddr_t a = frame_into_raw(p), b = frame_into_raw(p); /* both refs */
	assert_int_equal(a.v, b.v);
	assert_int_equal(frame_refcount(p), 2);
	assert_int_equal(ps_raw(page_state(p)), 2);
	assert_ptr_equal(frame_from_raw(a), p);
	assert_ptr_equal(frame_from_raw(b), p);
	assert_int_equal(page_state(p) & ~PS_GEN_MASK,
			 ps_make(2, PAGE_FRAME, 2, 0));

	snap(&s);
	assert_null(frame_from_raw(a));                    /* a third restore */
	assert_null(frame_from_raw(pfn_to_pa(plain.pfn))); /* never raw */
	assert_null(frame_from_raw(PADDR(a.v + PAGE_SIZE))); /* inside p */
	assert_null(frame_from_raw(PADDR(a.v + 8)));       /* not aligned */
	assert_null(frame_from_raw(pfn_to_pa(PFN(frame_table_pages))));
	assert_null(frame_from_raw(PADDR(UINT64_MAX & ~(PAGE_SIZE - 1))));
	assert_unchanged(&s);

	/* Freed, reallocated (LIFO cache): the old raw address is stale. */
	paddr_t stale = frame_into_raw(p);
	assert_ptr_equal(frame_from_raw(stale), p);
	assert_int_equal(frame_put(p), E_OK);
	assert_int_equal(frame_free(r.pfn, 2), E_OK);
	struct frame_result again = frame_alloc(2, 0);
	assert_int_equal(again.pfn.v, r.pfn.v);
	snap(&s);
	assert_null(frame_from_raw(stale));
	assert_unchanged(&s);
	assert_int_equal(frame_free(again.pfn, 2), E_OK);
	assert_int_equal(frame_free(plain.pfn, 0), E_OK);
	assert_true(frame_validate());
}

/* T4: distinct blocks give distinct raw addresses, each restoring its own. */
static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return (a > b) - (a < b);
}

static void test_t4_raw_addresses_are_unique(void **state)
{
	enum { N = 96 };
	struct page *p[N];
	paddr_t raw[N];
	uint64_t sorted[N];

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		struct frame_result r = frame_alloc(i % 4, 0);

		assert_int_equal(r.err, E_OK);
		p[i] = pfn_to_page(r.pfn);
		raw[i] = frame_into_raw(p[i]);
		sorted[i] = raw[i].v;
	}
	qsort(sorted, N, sizeof(sorted[0]), cmp_u64);
	for (unsigned i = 1; i < N; i++)
		assert_true(sorted[i - 1] < sorted[i]);
	for (unsigned i = N; i-- > 0;) {
		assert_ptr_equal(frame_from_raw(raw[i]), p[i]);
		assert_null(frame_from_raw(raw[i]));
		assert_int_equal(frame_free(page_to_pfn(p[i]), i % 4), E_OK);
	}
	assert_true(frame_validate());
}

/* T4 under concurrency: raw round trips, gets and puts keep both counts. */
static void raw_round_trips(unsigned index, void *arg)
{
	(void)index;
	(void)arg;
	for (int round = 0; round < 2000; round++) {
		CHECK(frame_get(shared) == E_OK);
		paddr_t raw = frame_into_raw(shared);
		struct page *back = frame_from_raw(raw);

		CHECK(back == shared);
		CHECK(frame_put(shared) == E_OK);
	}
}

static void test_t4_concurrent_raw_round_trips(void **state)
{
	(void)state;
	struct frame_result r = frame_alloc(0, 0);
	assert_int_equal(r.err, E_OK);
	shared = pfn_to_page(r.pfn);
	run_on_cpus(4, raw_round_trips, NULL);
	assert_int_equal(page_state(shared) & ~PS_GEN_MASK,
			 ps_make(1, PAGE_FRAME, 0, 0));
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	assert_true(frame_validate());
}

/*
 * T4: a block whose only reference is held raw cannot be freed or put by
 * someone who thinks they hold a handle (the raw address, in a page-table
 * entry say, would point at a free frame): E_REFERENCED, changing
 * nothing. Once restored, it frees as usual.
 */
static void test_t4_free_of_a_block_held_only_raw_is_refused(void **state)
{
	struct snapshot s;

	(void)state;
	struct frame_result r = frame_alloc(1, 0);
	assert_int_equal(r.err, E_OK);
	struct page *p = pfn_to_page(r.pfn);
	paddr_t raw = frame_into_raw(p);

	snap(&s);
	assert_int_equal(frame_free(r.pfn, 1), E_REFERENCED);
	assert_int_equal(frame_put(p), E_REFERENCED);
	assert_unchanged(&s);
	/* Two references, both raw: still no handle to drop. */
	assert_ptr_equal(frame_from_raw(raw), p);
	assert_int_equal(frame_get(p), E_OK);
	raw = frame_into_raw(p);
	raw = frame_into_raw(p);
	snap(&s);
	assert_int_equal(frame_put(p), E_REFERENCED);
	assert_unchanged(&s);
	assert_ptr_equal(frame_from_raw(raw), p);
	assert_int_equal(frame_put(p), E_OK);
	assert_ptr_equal(frame_from_raw(raw), p);
	assert_int_equal(frame_free(r.pfn, 1), E_OK);
	assert_true(frame_validate());
}

/* T4: frame_validate() checks that raw references are references. */
static void test_t4_validate_finds_more_raw_than_references(void **state)
{
	(void)state;
	struct frame_result r = frame_alloc(0, 0);
	assert_int_equal(r.err, E_OK);
	struct page *p = pfn_to_page(r.pfn);

	page_set_state(p, ps_make(1, PAGE_FRAME, 0, 0) | 2 * PS_RAW_ONE);
	assert_false(frame_validate());
	page_set_state(p, ps_make(2, PAGE_FRAME, 0, 0) | 2 * PS_RAW_ONE);
	assert_true(frame_validate());
	page_set_state(p, ps_make(1, PAGE_FRAME, 0, 0));
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	assert_true(frame_validate());
}

/*
 * T4: past PS_RAW_STUCK - 1 raw references the count sticks: restores of
 * that block are no longer checked, and nothing else breaks (validate,
 * puts and the free go on as if no reference were raw).
 */
static void test_t4_raw_count_saturates(void **state)
{
	(void)state;
	struct frame_result r = frame_alloc(0, 0);
	assert_int_equal(r.err, E_OK);
	struct page *p = pfn_to_page(r.pfn);
	paddr_t raw = PADDR(0);

	for (unsigned i = 0; i < PS_RAW_STUCK; i++)
		assert_int_equal(frame_get(p), E_OK);
	for (unsigned i = 0; i < PS_RAW_STUCK; i++) {
		raw = frame_into_raw(p);
		assert_int_equal(ps_raw(page_state(p)), i + 1);
	}
	raw = frame_into_raw(p); /* the last handle: stuck, not counted */
	assert_int_equal(ps_raw(page_state(p)), PS_RAW_STUCK);
	assert_true(frame_validate());
	for (unsigned i = 0; i < PS_RAW_STUCK + 1; i++)
		assert_ptr_equal(frame_from_raw(raw), p);
	assert_ptr_equal(frame_from_raw(raw), p); /* unchecked now */
	assert_int_equal(ps_raw(page_state(p)), PS_RAW_STUCK);
	for (unsigned i = 0; i < PS_RAW_STUCK; i++)
		assert_int_equal(frame_put(p), E_OK);
	assert_int_equal(frame_refcount(p), 1);
	assert_true(frame_validate());
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	assert_true(frame_validate());
}

/*
 * T4 with the generation: two restores of one raw reference, the first
 * parked between its look (allocated, one raw reference) and its
 * compare-and-swap while the second restores it. With realloc, the block
 * is then freed, allocated again (LIFO cache) and its new owner turns its
 * reference into the same raw address: the word the parked restore finds
 * differs from the one it saw only by the generation. Either way the
 * parked restore must get NULL and leave the block alone (without the
 * generation check it would take the new owner's raw reference).
 */
struct raw_call {
	struct gate gate;
	paddr_t raw;
	struct page *_Atomic got;
};

static void *raw_restorer(void *arg)
{
	struct raw_call *c = arg;

	if (host_cpu_register() < 0)
		panic("raw_restorer: cannot register");
	atomic_store(&c->got, frame_from_raw(c->raw));
	host_cpu_unregister();
	return NULL;
}

static void racing_restores(bool realloc)
{
	struct frame_result r = frame_alloc(0, 0);
	struct raw_call c = { .raw = PADDR(0), .got = NULL };
	struct page *p;
	pthread_t t;
	uint64_t s;

	assert_int_equal(r.err, E_OK);
	p = pfn_to_page(r.pfn);
	c.raw = frame_into_raw(p);
	atomic_store(&c.got, p);
	pause_arm(0, "page.from_raw.checked", 0, -1, gate_pass, &c.gate);
	assert_int_equal(pthread_create(&t, NULL, raw_restorer, &c), 0);
	gate_wait_reached(&c.gate); /* it saw: one raw reference */
	assert_ptr_equal(frame_from_raw(c.raw), p);
	if (realloc) {
		assert_int_equal(frame_put(p), E_OK);
		struct frame_result again = frame_alloc(0, 0);
		assert_int_equal(again.pfn.v, r.pfn.v);
		assert_int_equal(frame_into_raw(p).v, c.raw.v);
	}
	s = page_state(p);
	gate_open(&c.gate);
	pthread_join(t, NULL);
	pause_reset();
	assert_null(atomic_load(&c.got));
	assert_int_equal(page_state(p), s); /* left alone */
	assert_true(frame_validate());
	if (realloc)
		assert_ptr_equal(frame_from_raw(c.raw), p);
	assert_int_equal(frame_put(p), E_OK);
	assert_true(frame_validate());
}

static void test_t4_racing_restores_exactly_one_wins(void **state)
{
	(void)state;
	racing_restores(false);
}

static void test_t4_stale_restore_after_reallocation_is_refused(void **state)
{
	(void)state;
	racing_restores(true);
}

/* into_raw of a reference that is already held raw panics, in every build. */
static void into_raw_twice(void *arg)
{
	(void)arg;
	struct frame_result r = frame_alloc(0, 0);
	struct page *p = pfn_to_page(r.pfn);

	(void)frame_into_raw(p);
	(void)frame_into_raw(p); /* the only reference is raw already */
}

static void into_raw_of_a_free_frame(void *arg)
{
	(void)frame_into_raw(arg);
}

static void test_t4_into_raw_without_a_reference_panics(void **state)
{
	struct child_result c;

	(void)state;
	run_in_child(into_raw_twice, NULL, &c);
	assert_child_panicked_with(&c, "holds no reference that is not raw");
	struct frame_result r = frame_alloc(0, 0);
	assert_int_equal(r.err, E_OK);
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	run_in_child(into_raw_of_a_free_frame, pfn_to_page(r.pfn), &c);
	assert_child_panicked_with(&c, "holds no reference that is not raw");
	assert_true(frame_validate());
}

/*
 * frame_free_seen() and frame_get_seen() act on the allocation whose head
 * state the caller read, and on no later one: kfree() finds a block from
 * an address, looks, and only then frees or pins it.
 */
static void test_seen_state_names_one_allocation(void **state)
{
	struct frame_result r = frame_alloc(0, 0), again;
	struct page *p = pfn_to_page(r.pfn);
	uint64_t old = page_state(p);
	struct snapshot s;

	(void)state;
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	again = frame_alloc(0, 0); /* the same frame: the cache is LIFO */
	assert_int_equal(again.pfn.v, r.pfn.v);
	snap(&s);
	assert_int_equal(frame_get_seen(p, old), E_NOT_ALLOCATED);
	assert_int_equal(frame_free_seen(r.pfn, 0, old), E_NOT_ALLOCATED);
	assert_unchanged(&s);
	assert_int_equal(frame_get_seen(p, page_state(p)), E_OK);
	assert_int_equal(frame_refcount(p), 2);
	assert_int_equal(frame_put(p), E_OK);
	assert_int_equal(frame_free_seen(r.pfn, 0, page_state(p)), E_OK);
	assert_int_equal(frame_get_seen(p, page_state(p)), E_NOT_ALLOCATED);
	assert_no_check_failures();
}

/* T8: the last put runs the drop hook, resets, and only then frees. */
static _Atomic unsigned drops;
static uint16_t inuse_seen;

static void slab_dropped(struct page *p, unsigned order)
{
	inuse_seen = p->u.slab.inuse; /* not reset yet */
	CHECK(order == 0);
	atomic_fetch_add(&drops, 1);
}

static void test_t8_reset_before_reuse(void **state)
{
	struct account a;

	(void)state;
	account_init(&a, "t8", 10);
	frame_set_drop_hook(PAGE_SLAB, slab_dropped);
	struct frame_result r = frame_alloc_for(&a, 0, 0, PAGE_SLAB);
	struct page *p = pfn_to_page(r.pfn);
	p->u.slab.inuse = 7;
	p->u.slab.next = 1;
	assert_int_equal(frame_put(p), E_OK);
	assert_int_equal(atomic_load(&drops), 1);
	assert_int_equal(inuse_seen, 7);
	assert_int_equal(account_pages(&a), 0);
	/* Reused at once (LIFO cache) and clean. */
	struct frame_result again = frame_alloc(0, 0);
	assert_int_equal(again.pfn.v, r.pfn.v);
	assert_null(p->owner);
	assert_int_equal(p->u.raw[0] | p->u.raw[1], 0);
	assert_int_equal(frame_free(again.pfn, 0), E_OK);
	assert_no_check_failures();
}

/*
 * T8 at the earliest reuse: an interrupt on this CPU allocates at the very
 * moment the last put hands the frame to the per-CPU cache (at the push,
 * whose irq_restore runs it), and gets that frame (LIFO): it must already
 * be reset, with no owner and no slab fields left.
 */
static void test_t8_reset_before_an_irq_can_reuse_it(void **state)
{
	struct account a;

	(void)state;
	account_init(&a, "t8", 10);
	struct frame_result r = frame_alloc_for(&a, 0, 0, PAGE_SLAB);
	assert_int_equal(r.err, E_OK);
	struct page *p = pfn_to_page(r.pfn);
	p->u.slab.inuse = 3;
	p->u.slab.next = 1;

	irq_at("pcp.push.linked", 0, irq_alloc_and_keep);
	assert_int_equal(frame_put(p), E_OK);
	irq_at_done();
	assert_int_equal(atomic_load(&irq_kept), r.pfn.v);
	assert_null(p->owner);
	assert_int_equal(p->u.raw[0] | p->u.raw[1], 0);
	assert_int_equal(account_pages(&a), 0);
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	assert_true(frame_validate());
}

/* ------------------------------------------------------------- zones */

static void test_xen_zone_requests_stay_in_their_zone(void **state)
{
	static pfn_t got[RAM / PAGE_SIZE];
	unsigned n = 0;
	struct snapshot s;

	(void)state;
	/* FRAME_DMA: only below 16 MiB, until the zone is empty. */
	for (;;) {
		struct frame_result r = frame_alloc(4, FRAME_DMA);

		if (r.err != E_OK) {
			assert_int_equal(r.err, E_NOMEM);
			break;
		}
		assert_true(r.pfn.v + 16 <= ZONE_DMA_END);
		got[n++] = r.pfn;
	}
	assert_true(n > 0);
	snap_drained(&s);
	assert_int_equal(frame_alloc(4, FRAME_DMA).err, E_NOMEM);
	assert_int_equal(frame_alloc(0, FRAME_DMA).err, E_NOMEM);
	assert_unchanged_drained(&s);
	while (n > 0)
		assert_int_equal(frame_free(got[--n], 4), E_OK);
	/* Top-order blocks: none crosses the 16 MiB border. */
	for (;;) {
		struct frame_result r = frame_alloc(FRAME_MAX_ORDER, 0);

		if (r.err != E_OK)
			break;
		assert_ptr_equal(zone_of(r.pfn),
				 zone_of(PFN(r.pfn.v + BUDDY_MAX_PAGES - 1)));
		got[n++] = r.pfn;
	}
	while (n > 0)
		assert_int_equal(frame_free(got[--n], FRAME_MAX_ORDER), E_OK);
	assert_true(frame_validate());
}

/*
 * XEN-DMA-POOL: ordinary requests drain the DMA32 zone, then fall back
 * into DMA only down to its reserve; FRAME_DMA requests can then still
 * have the reserve.
 */
static void test_xen_dma_pool_reserve_kept(void **state)
{
	static pfn_t got[RAM / PAGE_SIZE];
	unsigned n = 0, dma_ordinary = 0, dma_special = 0;
	bool seen_dma = false;
	struct zone *dma = &zones[ZONE_DMA];
	struct snapshot s;

	(void)state;
	assert_true(dma->reserve > 0);
	for (;;) {
		struct frame_result r = frame_alloc(0, 0);

		if (r.err != E_OK)
			break;
		if (r.pfn.v < ZONE_DMA_END) {
			seen_dma = true;
			dma_ordinary++;
		} else {
			assert_false(seen_dma); /* DMA32 first, all of it */
		}
		got[n++] = r.pfn;
	}
	assert_true(dma_ordinary > 0);
	assert_int_equal(buddy_free_pages(&dma->buddy), dma->reserve);
	snap_drained(&s); /* the reserve is refused, changing nothing */
	assert_int_equal(frame_alloc(0, 0).err, E_NOMEM);
	assert_int_equal(frame_alloc(0, FRAME_DMA32).err, E_NOMEM);
	assert_unchanged_drained(&s);
	for (;;) {
		struct frame_result r = frame_alloc(0, FRAME_DMA);

		if (r.err != E_OK)
			break;
		assert_true(r.pfn.v < ZONE_DMA_END);
		dma_special++;
		got[n++] = r.pfn;
	}
	assert_int_equal(dma_special, dma->reserve);
	assert_int_equal(free_frames(), 0);
	snap_drained(&s);
	assert_int_equal(frame_alloc(0, FRAME_DMA).err, E_NOMEM);
	assert_unchanged_drained(&s);
	while (n > 0)
		assert_int_equal(frame_free(got[--n], 0), E_OK);
	assert_true(frame_validate());
}

/* A machine with memory above 4 GiB: NORMAL first; DMA32 requests stay low. */
static void test_xen_zone_normal_and_dma32(void **state)
{
	const uint64_t gib4 = UINT64_C(4) << 30;
	const struct memmap_entry e[] = {
		{ MIB, 31 * MIB, MEM_USABLE },
		{ gib4, 64 * MIB, MEM_USABLE },
	};
	struct memmap m;
	pfn_t got[8];

	(void)state;
	host_mm_shutdown();
	host_arena_fini();
	assert_int_equal(host_arena_init(gib4 + 64 * MIB), E_OK);
	memmap_init(&m);
	assert_int_equal(memmap_add_entries(&m, e, 2), E_OK);
	assert_int_equal(host_mm_boot_map(&m, &full), E_OK);
	assert_true(zone_present(&zones[ZONE_NORMAL]));

	struct frame_result r = frame_alloc(3, 0);
	assert_int_equal(r.err, E_OK);
	assert_true(r.pfn.v >= ZONE_DMA32_END); /* NORMAL first */
	got[0] = r.pfn;
	r = frame_alloc(3, FRAME_DMA32);
	assert_int_equal(r.err, E_OK);
	assert_true(r.pfn.v >= ZONE_DMA_END && r.pfn.v < ZONE_DMA32_END);
	got[1] = r.pfn;
	r = frame_alloc(3, FRAME_DMA);
	assert_int_equal(r.err, E_OK);
	assert_true(r.pfn.v < ZONE_DMA_END);
	got[2] = r.pfn;
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(frame_free(got[i], 3), E_OK);
	assert_true(frame_validate());
}

/*
 * The caches' budget (pcp_init): each CPU may cache 1/8 of the zone / the
 * CPUs, the orders taking their shares smallest first. At 1 GiB and 8
 * CPUs orders 0-3 keep their defaults and order 9 gets the rest: 5
 * blocks, refilled 4 at a time (one below the mark). Split evenly over the orders (before
 * issue 11's change) order 9 had one block: every allocation went to the
 * buddy. At 64 MiB, order 9 does not fit and is not cached.
 */
static void test_pcp_budget_goes_smallest_first(void **state)
{
	const struct frame_config eight = { true, false, UINT64_MAX, 8 };
	const uint64_t gib = UINT64_C(1) << 30;
	const unsigned orders[] = { 0, 1, 2, 3, 9 };
	const struct zone *z = &zones[ZONE_DMA32];
	uint64_t held = 0, left;

	(void)state;
	host_mm_shutdown();
	host_arena_fini();
	assert_int_equal(host_arena_init(gib), E_OK);
	assert_int_equal(host_mm_boot(gib, &eight), E_OK);
	assert_int_equal(pcp_params_of(z, 0).high, 128);
	assert_int_equal(pcp_params_of(z, 3).high, 64);
	assert_int_equal(pcp_params_of(z, 3).batch, 16);
	/* What orders 0-3 leave (128 + 2 * 64 + 4 * 64 + 8 * 64 frames). */
	left = z->managed / 8 / 8 - 1024;
	assert_int_equal(pcp_params_of(z, 9).high, left / 512);
	assert_int_equal(pcp_params_of(z, 9).batch, left / 512 - 1);
	assert_true(pcp_params_of(z, 9).high >= 5);
	assert_true(pcp_caches(z, 9));
	for (unsigned i = 0; i < ARRAY_SIZE(orders); i++)
		held += (uint64_t)pcp_params_of(z, orders[i]).high << orders[i];
	assert_true(held <= z->managed / 8 / 8);
	assert_int_equal(pcp_params_of(z, 4).high, 0); /* not a cached order */

	/* 64 MiB and 8 CPUs: orders 0 and 1 take all there is. */
	host_mm_shutdown();
	host_arena_fini();
	assert_int_equal(host_arena_init(RAM), E_OK);
	assert_int_equal(host_mm_boot(RAM, &eight), E_OK);
	assert_false(pcp_caches(z, 9));
	assert_int_equal(pcp_params_of(z, 9).high, 0);
	assert_true(pcp_caches(z, 0));
}

/*
 * REVIEW (issue 11, review of 2ba4a1f..36aa117): pcp_init()'s budget at
 * the edges. For tiny and large zones and 1 to 100000 CPUs: the marks of
 * one CPU's cached orders sum to at most zone / 8 / cpus, every cached
 * order has 1 <= batch <= high <= its default, an order is cached iff
 * its mark is non-zero. Then a zone whose order-0 mark is 1 (and whose
 * other orders are not cached): frees and allocations keep the cache at
 * one block at most between calls, and nothing is lost. Passes at
 * 36aa117.
 */
static void check_budget(uint64_t ram, unsigned cpus, bool *saw_one)
{
	const struct frame_config cfg = { true, false, UINT64_MAX, cpus };
	const unsigned orders[] = { 0, 1, 2, 3, 9 };
	const unsigned def_high[] = { 128, 64, 64, 64, 16 };
	const struct zone *z = &zones[ZONE_DMA32];
	uint64_t held = 0;

	host_mm_shutdown();
	host_arena_fini();
	assert_int_equal(host_arena_init(ram), E_OK);
	assert_int_equal(host_mm_boot(ram, &cfg), E_OK);
	for (unsigned i = 0; i < ARRAY_SIZE(orders); i++) {
		struct pcp_params pp = pcp_params_of(z, orders[i]);

		held += (uint64_t)pp.high << orders[i];
		assert_int_equal(pcp_caches(z, orders[i]), pp.high > 0);
		if (pp.high == 0)
			continue;
		assert_true(pp.batch >= 1 && pp.batch <= pp.high);
		assert_true(pp.high <= def_high[i]);
		assert_true(pp.batch <= PCP_MAX_BATCH);
		if (pp.high == 1)
			*saw_one = true;
	}
	if (held > z->managed / 8 / cpus)
		print_error("ram %llu cpus %u: %llu frames cached > %llu\n",
			    (unsigned long long)ram, cpus,
			    (unsigned long long)held,
			    (unsigned long long)(z->managed / 8 / cpus));
	assert_true(held <= z->managed / 8 / cpus);
}

static _Atomic uint64_t cached_at_drain;

static void note_cached(void *zone)
{
	atomic_store(&cached_at_drain, pcp_cached(zone));
}

static void test_review_pcp_budget_edges(void **state)
{
	static const uint64_t rams[] = { 20 * MIB, 32 * MIB, RAM, 1024 * MIB };
	static const unsigned cpus[] = { 1, 2, 7, 8, 64, 256, 1000, 100000 };
	const struct zone *z = &zones[ZONE_DMA32];
	bool saw_one = false;
	pfn_t got[40];

	(void)state;
	for (unsigned r = 0; r < ARRAY_SIZE(rams); r++)
		for (unsigned c = 0; c < ARRAY_SIZE(cpus); c++)
			check_budget(rams[r], cpus[c], &saw_one);

	/* Order 0's mark 1: a budget of 1 to 1 frame per CPU. */
	check_budget(RAM, 1, &saw_one);
	{
		unsigned n = (unsigned)(z->managed / 8);

		check_budget(RAM, n, &saw_one);
	}
	assert_true(saw_one);
	assert_int_equal(pcp_params_of(z, 0).high, 1);
	assert_int_equal(pcp_params_of(z, 0).batch, 1);
	assert_false(pcp_caches(z, 1));
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < ARRAY_SIZE(got); i++) {
			struct frame_result fr = frame_alloc(0, 0);

			assert_int_equal(fr.err, E_OK);
			got[i] = fr.pfn;
			assert_true(pcp_cached(z) <= 1);
		}
		for (unsigned i = 0; i < ARRAY_SIZE(got); i++) {
			assert_int_equal(frame_free(got[i], 0), E_OK);
			assert_true(pcp_cached(z) <= 1);
		}
		assert_true(frame_validate());
	}
	/*
	 * Between calls, that is. pcp_free() pushes before it drains, so
	 * inside it (interrupts masked) the list holds high + 1 blocks: a
	 * racy pcp_cached() on another CPU can see one block over the
	 * budget. As before issue 11; noted, not a defect.
	 */
	pcp_drain_local();
	got[0] = frame_alloc(0, 0).pfn;
	got[1] = frame_alloc(0, 0).pfn;
	atomic_store(&cached_at_drain, 0);
	pause_arm(0, "pcp.pop.head_read", 0, -1, note_cached, (void *)z);
	assert_int_equal(frame_free(got[0], 0), E_OK);
	assert_int_equal(frame_free(got[1], 0), E_OK);
	assert_true(pause_fired(0));
	pause_reset();
	assert_int_equal(atomic_load(&cached_at_drain), 2); /* high + 1 */
	assert_true(pcp_cached(z) <= 1);
	pcp_drain_local();
	assert_int_equal(pcp_cached(z), 0);
	assert_true(frame_validate());
	host_mm_shutdown();
	host_arena_fini();
	assert_int_equal(host_arena_init(RAM), E_OK);
	assert_int_equal(host_mm_boot(RAM, &full), E_OK);
}

/* ------------------------------------------------------------ quotas */

static void test_xen_quota_limits_and_unaccounted(void **state)
{
	struct account a;
	pfn_t got[9];
	struct snapshot s;

	(void)state;
	account_init(&a, "quota", 8);
	for (unsigned i = 0; i < 8; i++) { /* exactly max_pages: fine */
		struct frame_result r = frame_alloc_for(&a, 0, 0, PAGE_FRAME);

		assert_int_equal(r.err, E_OK);
		got[i] = r.pfn;
	}
	assert_int_equal(account_pages(&a), 8);
	snap(&s);
	snap_account(&s, &a);
	assert_int_equal(frame_alloc_for(&a, 0, 0, PAGE_FRAME).err, E_QUOTA);
	assert_int_equal(frame_alloc_for(&a, 3, 0, PAGE_FRAME).err, E_QUOTA);
	assert_int_equal(frame_alloc_for(&a, 0, FRAME_DMA, PAGE_SLAB).err,
			 E_QUOTA);
	assert_unchanged(&s);
	assert_int_equal(account_pages(&a), 8);

	/* Unaccounted: neither checked nor counted, nor uncharged later. */
	struct frame_result u = frame_alloc_for(&a, 1, FRAME_NOACCOUNT, PAGE_FRAME);
	assert_int_equal(u.err, E_OK);
	assert_int_equal(account_pages(&a), 8);
	assert_null(pfn_to_page(u.pfn)->owner);
	assert_int_equal(frame_free(u.pfn, 1), E_OK);
	assert_int_equal(account_pages(&a), 8);

	assert_int_equal(frame_free(got[0], 0), E_OK);
	assert_int_equal(account_pages(&a), 7);
	snap(&s);
	snap_account(&s, &a);
	struct frame_result big = frame_alloc_for(&a, 1, 0, PAGE_FRAME);
	assert_int_equal(big.err, E_QUOTA); /* 7 + 2 > 8 */
	assert_unchanged(&s);
	struct frame_result one = frame_alloc_for(&a, 0, 0, PAGE_FRAME);
	assert_int_equal(one.err, E_OK);
	got[0] = one.pfn;

	/* A dying account gets nothing, changing nothing. */
	account_set_dying(&a);
	assert_int_equal(frame_free(got[1], 0), E_OK); /* goes to scrubbing */
	snap(&s);
	snap_account(&s, &a);
	assert_int_equal(frame_alloc_for(&a, 0, 0, PAGE_FRAME).err, E_DYING);
	assert_int_equal(frame_alloc_for(&a, 0, FRAME_ZERO, PAGE_FRAME).err,
			 E_DYING);
	assert_unchanged(&s);
	for (unsigned i = 0; i < 8; i++)
		if (i != 1)
			assert_int_equal(frame_free(got[i], 0), E_OK);
	assert_int_equal(account_pages(&a), 0);
	assert_int_equal(scrub_run(UINT64_MAX), 8);
	assert_true(frame_validate());

	/* Within quota but no such block left: the charge is taken back. */
	account_init(&a, "quota", 1 << 20);
	unsigned n = 0;
	for (struct frame_result r; n < ARRAY_SIZE(got) &&
	     (r = frame_alloc_for(&a, FRAME_MAX_ORDER, FRAME_DMA,
				  PAGE_FRAME)).err == E_OK;)
		got[n++] = r.pfn;
	assert_in_range(n, 1, ARRAY_SIZE(got));
	snap_drained(&s);
	snap_account(&s, &a);
	assert_int_equal(frame_alloc_for(&a, FRAME_MAX_ORDER, FRAME_DMA,
					 PAGE_FRAME).err, E_NOMEM);
	assert_unchanged_drained(&s);
	while (n > 0)
		assert_int_equal(frame_free(got[--n], FRAME_MAX_ORDER), E_OK);
	assert_int_equal(account_pages(&a), 0);
	assert_true(frame_validate());
}

/* ---------------------------------------------------------- scrubbing */

static void test_xen_scrub_dying_frames_zeroed_before_reuse(void **state)
{
	static pfn_t all[RAM / PAGE_SIZE];
	static bool mine[RAM / PAGE_SIZE];
	struct account a;
	unsigned n = 0;
	uint64_t run;
	pfn_t again[64];
	struct frame_stats st;
	struct snapshot s;

	(void)state;
	account_init(&a, "dying", UINT64_MAX);
	memset(mine, 0, sizeof(mine));
	/* Take every ordinary frame for the account, dirty them all. */
	for (;;) {
		struct frame_result r = frame_alloc_for(&a, 0, 0, PAGE_FRAME);

		if (r.err != E_OK)
			break;
		memset(phys_to_virt(pfn_to_pa(r.pfn)), 0x5a, PAGE_SIZE);
		all[n++] = r.pfn;
		mine[r.pfn.v] = true;
	}
	account_set_dying(&a);
	/* Free an aligned run of 64 frames (its neighbours stay allocated). */
	for (run = ZONE_DMA_END;; run += 64) {
		bool whole = true;

		for (uint64_t i = 0; i < 64; i++)
			whole &= mine[run + i];
		if (whole)
			break;
	}
	for (uint64_t i = 0; i < 64; i++)
		assert_int_equal(frame_free(PFN(run + i), 0), E_OK);
	frame_get_stats(&st);
	assert_int_equal(st.scrub_backlog, 64);
	assert_int_equal(account_pages(&a), n - 64);

	/* Nothing ordinary is free, and the queued frames are not handed out. */
	snap_drained(&s);
	assert_int_equal(frame_alloc(0, 0).err, E_NOMEM);
	assert_unchanged_drained(&s);
	const uint8_t *m = phys_to_virt(pfn_to_pa(PFN(run)));
	assert_int_equal(m[0], 0x5a); /* not reused, not yet scrubbed */
	assert_true(frame_validate());

	/* Bounded batches. */
	assert_int_equal(scrub_run(16), 16);
	frame_get_stats(&st);
	assert_int_equal(st.scrub_backlog, 48);
	assert_int_equal(scrub_run(UINT64_MAX), 48);
	assert_int_equal(scrub_backlog(), 0);
	assert_true(frame_validate());

	/* Now reused: zero, and FRAME_ZERO needs no clearing. */
	uint64_t skipped = frame_zero_skipped();
	for (unsigned i = 0; i < 64; i++) {
		struct frame_result r = frame_alloc(0, FRAME_ZERO);

		assert_int_equal(r.err, E_OK);
		assert_true(r.pfn.v >= run && r.pfn.v < run + 64);
		m = phys_to_virt(pfn_to_pa(r.pfn));
		for (uint64_t b = 0; b < PAGE_SIZE; b++)
			assert_int_equal(m[b], 0);
		again[i] = r.pfn;
	}
	assert_int_equal(frame_zero_skipped() - skipped, 64);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(frame_free(again[i], 0), E_OK);
	for (unsigned i = 0; i < n; i++)
		if (all[i].v < run || all[i].v >= run + 64)
			assert_int_equal(frame_free(all[i], 0), E_OK);
	assert_int_equal(scrub_run(UINT64_MAX), n - 64);
	assert_int_equal(account_pages(&a), 0);
	assert_true(frame_validate());
}

/* ------------------------------------------------ counters (XEN-AVAIL) */

static void test_xen_avail_counters_match_a_scan(void **state)
{
	pfn_t held[200];
	uint64_t rng = 7;
	unsigned n = 0;
	struct frame_stats st;

	(void)state;
	for (int op = 0; op < 3000; op++) {
		uint64_t r = rng_next(&rng);

		if (n < 200 && r % 3 != 0) {
			struct frame_result f = frame_alloc((unsigned)(r >> 8) % 4, 0);

			if (f.err == E_OK)
				held[n++] = f.pfn;
		} else if (n > 0) {
			unsigned i = (unsigned)(r >> 16) % n;

			assert_int_equal(frame_free(held[i],
				ps_order(page_state(pfn_to_page(held[i])))), E_OK);
			held[i] = held[--n];
		}
	}
	assert_true(frame_validate()); /* the scan agrees with the counters */
	frame_get_stats(&st);
	uint64_t free_total = 0, held_pages = 0;
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		uint64_t pages[BUDDY_ORDERS], maps = 0, cached = 0;

		if (!st.zone[z].present)
			continue;
		buddy_count(&zones[z].buddy, pages);
		for (unsigned k = 0; k < BUDDY_ORDERS; k++)
			maps += pages[k];
		assert_true(pcp_validate(&zones[z], &cached));
		assert_int_equal(st.zone[z].free, maps + cached);
		assert_int_equal(st.zone[z].cached, cached);
		free_total += maps + cached;
	}
	for (unsigned i = 0; i < n; i++)
		held_pages += UINT64_C(1) << ps_order(page_state(pfn_to_page(held[i])));
	assert_int_equal(st.free, free_total);
	assert_int_equal(st.allocated, held_pages);
	assert_int_equal(st.free + st.allocated + st.scrub_backlog, st.managed);
	while (n > 0) {
		n--;
		assert_int_equal(frame_free(held[n],
			ps_order(page_state(pfn_to_page(held[n])))), E_OK);
	}
	assert_true(frame_validate());
}

/* frame_validate() can fail: a frame that is nowhere is reported lost. */
static void test_validate_finds_a_lost_frame(void **state)
{
	(void)state;
	struct frame_result r = frame_alloc(0, 0);
	assert_true(frame_validate());
	struct page *p = pfn_to_page(r.pfn);
	uint64_t s = page_state(p);
	page_set_state(p, ps_make(0, PAGE_NONE, 0, 0)); /* forget it */
	assert_false(frame_validate());
	page_set_state(p, s);
	assert_true(frame_validate());
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
}

/* ------------------------------------------ fragmentation (frame/mixed) */

/* The highest order with free frames in any zone's maps, from buddy_count(). */
static int highest_counted_order(void)
{
	uint64_t pages[BUDDY_ORDERS];
	int best = -1;

	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		if (!zone_present(&zones[z]))
			continue;
		buddy_count(&zones[z].buddy, pages);
		for (unsigned k = 0; k < BUDDY_ORDERS; k++)
			if (pages[k] != 0)
				best = MAX(best, (int)k);
	}
	return best;
}

static void assert_top_blocks_coalesced(void)
{
	struct frame_top_blocks tb;

	frame_top_blocks(&tb);
	assert_int_equal(tb.free[0], tb.coalesced[0]);
	assert_int_equal(tb.free[1], tb.coalesced[1]);
}

/*
 * frame_largest_free_order() is the highest over every zone, DMA's too;
 * frame_top_blocks() counts what full coalescing gives and tells when the
 * maps hold less (two free order-9 buddies forged behind the buddy's back).
 */
static void test_fragmentation_report(void **state)
{
	static pfn_t top[RAM >> (PAGE_SHIFT + FRAME_MAX_ORDER)];
	struct buddy *b32 = &zones[ZONE_DMA32].buddy, *bdma = &zones[ZONE_DMA].buddy;
	struct frame_top_blocks tb, before;
	unsigned n32 = 0, ndma = 0;
	pfn_t p;

	(void)state;
	frame_top_blocks(&before);
	assert_true(before.free[1] > 0);
	assert_top_blocks_coalesced();
	assert_int_equal(frame_largest_free_order(), FRAME_MAX_ORDER);

	/* DMA32 without a top-order block: DMA's still count. */
	while (buddy_alloc(b32, FRAME_MAX_ORDER, &p))
		top[n32++] = p;
	assert_true(n32 > 0);
	assert_int_equal(frame_largest_free_order(), FRAME_MAX_ORDER);
	assert_top_blocks_coalesced();
	/* And without any: the highest order left anywhere (DMA's partial
	   regions below 1 MiB and its metadata's). */
	while (buddy_alloc(bdma, FRAME_MAX_ORDER, &p))
		top[n32 + ndma++] = p;
	assert_true(ndma > 0);
	assert_int_equal(frame_largest_free_order(), highest_counted_order());
	assert_true(frame_largest_free_order() < FRAME_MAX_ORDER);
	frame_top_blocks(&tb);
	assert_int_equal(tb.free[1], 0);
	assert_int_equal(tb.coalesced[1], 0);
	assert_int_equal(tb.free[0], tb.coalesced[0]);

	/* One taken top-order block published as two free halves unmerged. */
	uint64_t idx = (top[0].v - b32->base) >> (FRAME_MAX_ORDER - 1);
	_Atomic uint64_t *w = buddy_map_word(&b32->map[FRAME_MAX_ORDER - 1], idx / 64);
	uint64_t both = UINT64_C(3) << (idx % 64);

	atomic_fetch_or(w, both);
	frame_top_blocks(&tb);
	assert_int_equal(tb.free[0], tb.coalesced[0] + 2);
	assert_int_equal(tb.coalesced[1], 1);
	assert_int_equal(tb.free[1], 0);
	assert_int_equal(frame_largest_free_order(), FRAME_MAX_ORDER - 1);
	atomic_fetch_and(w, ~both);

	for (unsigned i = 0; i < n32; i++)
		buddy_free(b32, top[i], FRAME_MAX_ORDER, false);
	for (unsigned i = n32; i < n32 + ndma; i++)
		buddy_free(bdma, top[i], FRAME_MAX_ORDER, false);
	frame_top_blocks(&tb);
	assert_memory_equal(&tb, &before, sizeof(tb));
	assert_true(frame_validate());
}

/* ------------------------------------------------ ALO-02: fragmented */

static void test_alo02_noncontiguous_request_succeeds(void **state)
{
	static pfn_t all[RAM / PAGE_SIZE], out[RAM / PAGE_SIZE];
	unsigned n = 0, holes = 0;
	struct snapshot s;

	(void)state;
	for (;;) {
		struct frame_result r = frame_alloc(0, 0);

		if (r.err != E_OK)
			break;
		all[n++] = r.pfn;
	}
	/*
	 * Free every other DMA32 frame: plenty free, no two adjacent. (The
	 * DMA zone keeps its reserve, which ordinary requests cannot use.)
	 */
	for (unsigned i = 0; i < n; i++) {
		if (all[i].v % 2 == 0 && all[i].v >= ZONE_DMA_END) {
			assert_int_equal(frame_free(all[i], 0), E_OK);
			holes++;
			all[i] = PFN(UINT64_MAX);
		}
	}
	snap_drained(&s);
	assert_int_equal(frame_alloc(1, 0).err, E_NOMEM);
	assert_int_equal(frames_alloc(holes + 1, 0, out), E_NOMEM);
	assert_unchanged_drained(&s); /* all or nothing */
	assert_int_equal(frames_alloc(holes, 0, out), E_OK);
	assert_int_equal(free_frames(), zones[ZONE_DMA].reserve);
	for (unsigned i = 0; i < holes; i++)
		assert_int_equal(frame_free(out[i], 0), E_OK);
	for (unsigned i = 0; i < n; i++)
		if (all[i].v != UINT64_MAX)
			assert_int_equal(frame_free(all[i], 0), E_OK);
	assert_true(frame_validate());
}

/*
 * Lazy merging under the frame layer (buddy.c, LAZY MERGING): frames of
 * this CPU's area freed one by one reach the buddy through the per-CPU
 * cache as order-0 blocks, beside free buddies they are not merged with;
 * a top-order request, with nothing else free, still gets them as one
 * block (the allocation coalesces before it gives up).
 */
static void test_top_order_from_lazily_freed_frames(void **state)
{
	static pfn_t all[RAM / PAGE_SIZE];
	static bool ours[RAM / PAGE_SIZE];
	struct zone *z = &zones[ZONE_DMA32];
	struct buddy *b = &z->buddy;
	uint64_t n = 0, first = 0;
	struct frame_result r;

	(void)state;
	memset(ours, 0, sizeof(ours));
	for (;;) {
		r = frame_alloc(0, 0);
		if (r.err != E_OK)
			break;
		ours[r.pfn.v] = true;
		all[n++] = r.pfn;
	}
	/* An area of the zone whose frames are all ours: this CPU's now. */
	for (uint64_t a = 0; first == 0 && a < b->npages / BUDDY_MAX_PAGES; a++) {
		uint64_t s = b->base + a * BUDDY_MAX_PAGES, i = 0;

		while (i < BUDDY_MAX_PAGES && ours[s + i])
			i++;
		if (i == BUDDY_MAX_PAGES) {
			first = s;
			atomic_store(&b->cpu[cpu_id()].area, (uint32_t)a);
			atomic_store(&b->owner[a], (uint16_t)(cpu_id() + 1));
		}
	}
	assert_int_not_equal(first, 0);
	/* Even frames, then odd ones: no two in a row merge on the drain. */
	for (uint64_t odd = 0; odd < 2; odd++) {
		for (uint64_t pfn = first + odd; pfn < first + BUDDY_MAX_PAGES;
		     pfn += 2) {
			assert_int_equal(frame_free(PFN(pfn), 0), E_OK);
			ours[pfn] = false;
		}
		pcp_drain_local();
	}
	assert_int_equal(buddy_free_order_at(b, PFN(first)), 0);
	assert_int_equal(buddy_free_pairs(b), BUDDY_MAX_PAGES / 2);
	assert_true(frame_validate()); /* pairs inside this CPU's area */
	r = frame_alloc(FRAME_MAX_ORDER, 0);
	assert_int_equal(r.err, E_OK);
	assert_int_equal(r.pfn.v, first);
	assert_int_equal(buddy_free_pairs(b), 0);
	assert_int_equal(frame_free(r.pfn, FRAME_MAX_ORDER), E_OK);
	for (uint64_t i = 0; i < n; i++)
		if (ours[all[i].v])
			assert_int_equal(frame_free(all[i], 0), E_OK);
	assert_true(frame_validate());
}

/* ------------------------------------------ per-CPU caches and drains */

struct drain_test {
	_Atomic int phase;
	_Atomic uint64_t got;
};

/*
 * CPU 0 fills its cache and then idles; CPU 1 takes every frame there is.
 * It gets them all: CPU 0's cache is drained by an IPI.
 */
static void cached_vs_greedy(unsigned index, void *arg)
{
	struct drain_test *t = arg;

	if (index == 0) {
		pfn_t mine[64];

		for (unsigned i = 0; i < 64; i++) {
			struct frame_result r = frame_alloc(0, 0);

			CHECK(r.err == E_OK);
			mine[i] = r.pfn;
		}
		for (unsigned i = 0; i < 64; i++)
			CHECK(frame_free(mine[i], 0) == E_OK);
		atomic_store(&t->phase, 1);
		while (atomic_load(&t->phase) != 2)
			sleep_ms(1); /* idle, interrupts on */
	} else {
		static pfn_t all[RAM / PAGE_SIZE];
		uint64_t n = 0;

		while (atomic_load(&t->phase) != 1)
			sleep_ms(1);
		for (;;) {
			struct frame_result r = frame_alloc(0, 0);

			if (r.err != E_OK)
				break;
			all[n++] = r.pfn;
		}
		atomic_store(&t->got, n);
		while (n > 0)
			CHECK(frame_free(all[--n], 0) == E_OK);
		atomic_store(&t->phase, 2);
	}
}

static void test_remote_drain_frees_other_cpus_caches(void **state)
{
	struct drain_test t = { 0, 0 };
	struct frame_stats st;

	(void)state;
	pcp_drain_local(); /* this (main) CPU caches nothing */
	frame_get_stats(&st);
	uint64_t ordinary = st.free - zones[ZONE_DMA].reserve;
	run_on_cpus(2, cached_vs_greedy, &t);
	assert_int_equal(atomic_load(&t.got), ordinary);
	/* Both CPUs unregistered, so their caches were drained. */
	assert_int_equal(pcp_cached(&zones[ZONE_DMA32]), 0);
	assert_true(frame_validate());
}

/*
 * Eight CPUs with full caches all drain everyone at once: every call
 * returns (overlapping calls share a round instead of deadlocking or
 * piling up), and afterwards no CPU caches anything.
 */
struct concurrent_drain {
	_Atomic unsigned filled, drained;
	_Atomic uint64_t cached_after;
};

static void rendezvous(_Atomic unsigned *count, unsigned n)
{
	atomic_fetch_add(count, 1);
	while (atomic_load(count) < n)
		cpu_relax();
}

static void fill_then_drain_all(unsigned index, void *arg)
{
	struct concurrent_drain *t = arg;
	pfn_t mine[32];

	for (unsigned i = 0; i < ARRAY_SIZE(mine); i++) {
		struct frame_result r = frame_alloc(0, 0);

		CHECK(r.err == E_OK);
		mine[i] = r.pfn;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(mine); i++)
		CHECK(frame_free(mine[i], 0) == E_OK);
	rendezvous(&t->filled, 8);
	pcp_drain_all();
	rendezvous(&t->drained, 8);
	if (index == 0) /* everyone is registered and idle here */
		atomic_store(&t->cached_after, pcp_cached(&zones[ZONE_DMA32]));
}

static void test_concurrent_drains_share_rounds(void **state)
{
	struct concurrent_drain t = { 0, 0, UINT64_MAX };
	uint64_t rounds = pcp_drain_rounds();

	(void)state;
	pcp_drain_local();
	run_on_cpus(8, fill_then_drain_all, &t);
	assert_int_equal(atomic_load(&t.cached_after), 0);
	assert_in_range(pcp_drain_rounds() - rounds, 1, 8);
	assert_true(frame_validate());
}

/*
 * An allocation that saw a drain round begin and end while it looked for
 * memory takes that round as its own instead of starting another; one
 * whose ticket is current starts one.
 */
static void test_drain_since_reuses_a_round_that_already_ran(void **state)
{
	uint64_t ticket = pcp_drain_ticket();
	uint64_t rounds = pcp_drain_rounds();

	(void)state;
	pcp_drain_all();
	assert_int_equal(pcp_drain_rounds(), rounds + 1);
	pcp_drain_since(ticket);
	assert_int_equal(pcp_drain_rounds(), rounds + 1);
	pcp_drain_since(pcp_drain_ticket());
	assert_int_equal(pcp_drain_rounds(), rounds + 2);
}

static void fill_cache_and_leave(unsigned index, void *arg)
{
	pfn_t mine[16];

	(void)index;
	(void)arg;
	for (unsigned i = 0; i < 16; i++)
		mine[i] = frame_alloc(0, 0).pfn;
	for (unsigned i = 0; i < 16; i++)
		CHECK(frame_free(mine[i], 0) == E_OK);
	CHECK(pcp_cached(&zones[ZONE_DMA32]) > 0);
}

static void test_unregister_drains_the_cache(void **state)
{
	(void)state;
	pcp_drain_local(); /* our own (CPU 0's) cache */
	run_on_cpus(1, fill_cache_and_leave, NULL);
	assert_int_equal(pcp_cached(&zones[ZONE_DMA32]), 0);
	assert_true(frame_validate());
}

/*
 * ALO-01: timer interrupts allocate while their CPU is inside the
 * allocator. Each handler frees the frame the previous one on its CPU kept
 * and keeps a new one, so allocations and frees in interrupts land in the
 * middle of the interrupted code's (a handler that allocates and frees at
 * once leaves the caches as it found them, and hides a missing mask).
 */
static _Atomic uint64_t irq_ops;

struct irq_hold {
	pfn_t pfn;
	unsigned order;
	bool held;
	bool closed; /* the CPU's loop is over: keep nothing more */
};
static struct irq_hold irq_holds[MAX_CPUS]; /* [c] */

static void irq_allocates(unsigned vector)
{
	struct irq_hold *h = &irq_holds[cpu_id()];
	unsigned order = atomic_load(&irq_ops) % 2 ? 0 : 9;
	struct frame_result r;

	(void)vector;
	if (h->closed)
		return;
	if (h->held)
		CHECK(frame_free(h->pfn, h->order) == E_OK);
	h->held = false;
	r = frame_alloc(order, 0);
	if (r.err == E_OK) {
		*h = (struct irq_hold){ r.pfn, order, true, false };
		atomic_fetch_add(&irq_ops, 1);
	}
}

/* Free what this CPU's handlers kept, and keep nothing more. */
static void irq_holds_close(void)
{
	irqflags_t f = irq_save();
	struct irq_hold *h = &irq_holds[cpu_id()];

	if (h->held)
		CHECK(frame_free(h->pfn, h->order) == E_OK);
	*h = (struct irq_hold){ PFN(0), 0, false, true };
	irq_restore(f);
}

static void alloc_loop(unsigned index, void *arg)
{
	pfn_t held[32];
	unsigned n = 0;
	uint64_t rng = index + 11;

	(void)arg;
	irq_holds[cpu_id()] = (struct irq_hold){ PFN(0), 0, false, false };
	CHECK(host_timer_start(200 * 1000) == E_OK);
	for (int op = 0; op < 30000; op++) {
		uint64_t r = rng_next(&rng);

		if (n < 32 && r % 2) {
			struct frame_result f = frame_alloc(r % 3 == 0 ? 9 : 0, 0);

			if (f.err == E_OK)
				held[n++] = f.pfn;
		} else if (n > 0) {
			n--;
			CHECK(frame_free(held[n], ps_order(page_state(
				pfn_to_page(held[n])))) == E_OK);
		}
	}
	host_timer_stop();
	irq_holds_close();
	while (n > 0) {
		n--;
		CHECK(frame_free(held[n], ps_order(page_state(
			pfn_to_page(held[n])))) == E_OK);
	}
}

static void test_alo01_irq_allocations_inside_allocator(void **state)
{
	(void)state;
	atomic_store(&irq_ops, 0);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TIMER, irq_allocates), E_OK);
	run_on_cpus(4, alloc_loop, NULL);
	assert_int_equal(host_irq_set_handler(HOST_IRQ_TIMER, NULL), E_OK);
	assert_true(atomic_load(&irq_ops) > 0);
	assert_true(frame_validate());
	struct frame_stats st;
	frame_get_stats(&st);
	assert_int_equal(st.allocated, 0);
}

/*
 * ALO-01, forced: an interrupt arrives on this CPU between the two steps of
 * a per-CPU list operation (the pause points in pcp.c's push and pop), and
 * its handler uses the same list: it allocates a frame and keeps it, or
 * frees one allocated earlier. pcp_alloc() and pcp_free() mask interrupts
 * around the list, so the handler must run after the operation, at its
 * irq_restore(); unmasked, it would run in the middle and the list would
 * lose a block or hand one out twice. The same interleaving every run.
 */
/* pcp_alloc(): the IRQ comes after pop() read the head, before it moved it. */
static void test_alo01_irq_inside_pcp_alloc_pop(void **state)
{
	(void)state;
	struct frame_result warm = frame_alloc(0, 0); /* the cache holds some */
	assert_int_equal(warm.err, E_OK);
	assert_int_equal(frame_free(warm.pfn, 0), E_OK);

	irq_at("pcp.pop.head_read", 0, irq_alloc_and_keep);
	struct frame_result r = frame_alloc(0, 0);
	irq_at_done();
	assert_int_equal(r.err, E_OK);
	assert_irq_frame_owned(r.pfn);
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	assert_true(frame_validate());
}

/* pcp_free(): the IRQ frees another frame in the middle of push(). */
static void test_alo01_irq_inside_pcp_free_push(void **state)
{
	(void)state;
	struct frame_result a = frame_alloc(0, 0), b = frame_alloc(0, 0);
	assert_int_equal(a.err, E_OK);
	assert_int_equal(b.err, E_OK);
	uint64_t before = free_frames();

	atomic_store(&irq_victim, b.pfn.v);
	irq_at("pcp.push.linked", 0, irq_free_victim);
	assert_int_equal(frame_free(a.pfn, 0), E_OK);
	irq_at_done();
	assert_true(atomic_load(&irq_freed));
	assert_true(frame_validate()); /* b is not lost from the cache */
	assert_int_equal(free_frames(), before + 2);
	assert_int_equal(page_state(pfn_to_page(a.pfn)) & ~(PS_REF_MASK | PS_GEN_MASK),
			 ps_make(0, PAGE_PCP, 0, 0));
	assert_int_equal(page_state(pfn_to_page(b.pfn)) & ~(PS_REF_MASK | PS_GEN_MASK),
			 ps_make(0, PAGE_PCP, 0, 0));
}

/* pcp_alloc() on an empty cache: the IRQ allocates during the refill. */
static void test_alo01_irq_inside_pcp_refill(void **state)
{
	(void)state;
	pcp_drain_local();
	/* At the second block the refill pushes: the list has one already. */
	irq_at("pcp.push.linked", 1, irq_alloc_and_keep);
	struct frame_result r = frame_alloc(0, 0);
	irq_at_done();
	assert_int_equal(r.err, E_OK);
	assert_irq_frame_owned(r.pfn);
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	assert_true(frame_validate());
}

/* pcp_free() over the high mark: the IRQ allocates during the drain. */
static void test_alo01_irq_inside_pcp_drain(void **state)
{
	static pfn_t got[1024];
	unsigned n = 0, freed = 0;

	(void)state;
	pcp_drain_local();
	for (; n < ARRAY_SIZE(got); n++) {
		struct frame_result r = frame_alloc(0, 0);

		assert_int_equal(r.err, E_OK);
		got[n] = r.pfn;
	}
	/* Frees only push, until one takes the cache over its high mark. */
	irq_at("pcp.pop.head_read", 0, irq_alloc_and_keep);
	while (freed < n && !pause_fired(0))
		assert_int_equal(frame_free(got[freed++], 0), E_OK);
	irq_at_done();
	assert_irq_frame_owned(got[freed - 1]);
	while (freed < n)
		assert_int_equal(frame_free(got[freed++], 0), E_OK);
	assert_true(frame_validate());
}

/* ----------------------------------------------- early boot (ALO-04) */

static void test_alo04_early_typed_frames_join_the_table(void **state)
{
	static struct memmap m;
	static struct bootmem bm;
	pfn_t early[3];

	(void)state;
	host_mm_shutdown();
	assert_int_equal(frame_alloc(0, 0).err, E_STATE); /* no allocator */
	assert_int_equal(host_mm_pc_map(&m, RAM), E_OK);
	memset(&bm, 0, sizeof(bm));
	assert_int_equal(bootmem_init(&bm, &m, BOOTMEM_NO_LIMIT), E_OK);
	frame_early_init(&bm);
	/* Page-table nodes before the frame table exists. */
	for (unsigned i = 0; i < 3; i++) {
		struct frame_result r = frame_alloc_for(NULL, 0, 0, PAGE_PAGETABLE);

		assert_int_equal(r.err, E_OK);
		early[i] = r.pfn;
	}
	assert_int_equal(frame_free(early[0], 0), E_STATE);
	assert_int_equal(frame_init(&bm, &m, &full), E_OK);
	assert_int_equal(frame_init(&bm, &m, &full), E_ALREADY);
	for (unsigned i = 0; i < 3; i++) {
		uint64_t s = page_state(pfn_to_page(early[i]));

		assert_int_equal(ps_usage(s), PAGE_PAGETABLE);
		assert_int_equal(ps_ref(s), 1);
	}
	assert_true(frame_validate());
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(frame_put(pfn_to_page(early[i])), E_OK);
	assert_true(frame_validate());
}

/* --------------------------------------------- defect 5: stale frees */

/*
 * The loser of two racing frees (or puts) of one frame stops between its
 * look at the descriptor and its compare-and-swap (pause point); the
 * winner frees the frame and this CPU's cache hands it to a new owner,
 * whose state word is the one the loser saw but for the generation. The
 * loser must fail and leave the new owner's frame alone (it used to free
 * it: ABA).
 */
struct stale_call {
	struct gate gate;
	pfn_t pfn;
	bool put; /* frame_put() instead of frame_free() */
	_Atomic int err;
};

static void *stale_caller(void *arg)
{
	struct stale_call *c = arg;

	if (host_cpu_register() < 0)
		panic("stale_caller: cannot register");
	atomic_store(&c->err, c->put ? frame_put(pfn_to_page(c->pfn))
				     : frame_free(c->pfn, 0));
	host_cpu_unregister();
	return NULL;
}

static void stale_free_leaves_new_owner_alone(bool put)
{
	struct stale_call c = { .pfn = PFN(0), .put = put, .err = -1 };
	struct frame_result r = frame_alloc(0, 0), again;
	struct page *p;
	pthread_t t;
	uint64_t s;

	assert_int_equal(r.err, E_OK);
	c.pfn = r.pfn;
	p = pfn_to_page(r.pfn);
	pause_arm(0, put ? "frame.put.checked" : "frame.free.checked", 0, -1,
		  gate_pass, &c.gate);
	assert_int_equal(pthread_create(&t, NULL, stale_caller, &c), 0);
	gate_wait_reached(&c.gate); /* it saw: allocated, one reference */
	assert_int_equal(put ? frame_put(p) : frame_free(r.pfn, 0), E_OK);
	again = frame_alloc(0, 0); /* LIFO cache: the same frame */
	assert_int_equal(again.err, E_OK);
	assert_int_equal(again.pfn.v, r.pfn.v);
	s = page_state(p);
	gate_open(&c.gate);
	pthread_join(t, NULL);
	pause_reset();
	assert_int_equal(atomic_load(&c.err), E_NOT_ALLOCATED);
	assert_int_equal(page_state(p), s); /* the new owner's, untouched */
	assert_true(frame_validate());
	assert_int_equal(frame_free(again.pfn, 0), E_OK);
	assert_true(frame_validate());
}

static void test_stale_free_after_reallocation_fails(void **state)
{
	(void)state;
	stale_free_leaves_new_owner_alone(false);
}

static void test_stale_put_after_reallocation_fails(void **state)
{
	(void)state;
	stale_free_leaves_new_owner_alone(true);
}

/*
 * XEN-UE-DOUBLE, forced: two frees of one frame, the first parked between
 * its check (allocated, one reference) and its state change, while the
 * second frees the frame (nothing allocates it again). Exactly one may
 * succeed: the check and the change are one compare-and-swap, so the
 * parked free finds the frame gone and changes nothing. A check followed
 * by a plain store frees the frame twice (both return E_OK), which
 * test_racing_double_free_exactly_one_wins alone did not catch.
 */
static void test_xen_ue_double_free_forced_exactly_one_wins(void **state)
{
	struct stale_call c = { .pfn = PFN(0), .put = false, .err = -1 };
	struct frame_result r = frame_alloc(0, 0);
	uint64_t before, s;
	pthread_t t;

	(void)state;
	assert_int_equal(r.err, E_OK);
	c.pfn = r.pfn;
	before = free_frames();
	pause_arm(0, "frame.free.checked", 0, -1, gate_pass, &c.gate);
	assert_int_equal(pthread_create(&t, NULL, stale_caller, &c), 0);
	gate_wait_reached(&c.gate); /* it saw: allocated, one reference */
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	s = page_state(pfn_to_page(r.pfn));
	gate_open(&c.gate);
	pthread_join(t, NULL);
	pause_reset();
	assert_int_equal(atomic_load(&c.err), E_NOT_ALLOCATED);
	assert_int_equal(page_state(pfn_to_page(r.pfn)), s); /* left alone */
	assert_int_equal(free_frames(), before + 1); /* freed once */
	assert_true(frame_validate());
}

/* ------------------------------------- defect 6: validate, then compute */

/*
 * Orders far beyond FRAME_MAX_ORDER are refused before anything shifts by
 * them (1 << 64 is undefined: the asan variant's UBSan aborts), by every
 * entry point, changing nothing.
 */
static void test_huge_orders_refused_before_any_shift(void **state)
{
	static const unsigned orders[] = { FRAME_MAX_ORDER + 1, 31, 32, 63, 64,
					   65, 100, 255, 256, UINT32_MAX };
	struct account a;
	struct snapshot s;

	(void)state;
	account_init(&a, "huge", UINT64_MAX);
	struct frame_result r = frame_alloc(0, 0);
	assert_int_equal(r.err, E_OK);
	snap(&s);
	for (unsigned i = 0; i < ARRAY_SIZE(orders); i++) {
		unsigned o = orders[i];

		assert_int_equal(frame_free(PFN(0), o), E_INVAL);
		assert_int_equal(frame_free(r.pfn, o), E_INVAL);
		assert_int_equal(frame_alloc(o, 0).err, E_INVAL);
		assert_int_equal(frame_alloc_for(&a, o, 0, PAGE_FRAME).err,
				 E_INVAL);
		assert_int_equal(pcp_index(o), -1);
		assert_false(pcp_caches(&zones[ZONE_DMA32], o));
	}
	assert_unchanged(&s);
	assert_int_equal(account_pages(&a), 0);
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
}

/*
 * The refcount cannot carry into the usage and order: at FRAME_REF_MAX
 * frame_get() is refused, changing nothing, in every build (it used to be
 * a bare increment with only a debug-build assertion).
 */
static void test_refcount_limit_keeps_usage_and_order(void **state)
{
	(void)state;
	struct frame_result r = frame_alloc(2, 0);
	assert_int_equal(r.err, E_OK);
	struct page *p = pfn_to_page(r.pfn);

	page_set_state(p, ps_make(FRAME_REF_MAX - 1, PAGE_FRAME, 2, 0));
	assert_int_equal(frame_get(p), E_OK);
	uint64_t s = page_state(p);
	assert_int_equal(ps_ref(s), FRAME_REF_MAX);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(frame_get(p), E_RANGE);
		assert_int_equal(page_state(p), s);
	}
	assert_int_equal(ps_usage(s), PAGE_FRAME);
	assert_int_equal(ps_order(s), 2);
	/* Puts still count down from the limit. */
	assert_int_equal(frame_put(p), E_OK);
	assert_int_equal(ps_ref(page_state(p)), FRAME_REF_MAX - 1);
	assert_int_equal(frame_get(p), E_OK);
	page_set_state(p, ps_make(1, PAGE_FRAME, 2, 0));
	assert_int_equal(frame_free(r.pfn, 2), E_OK);
	assert_true(frame_validate());
}

static void get_free_frame(void *arg)
{
	err_t e = frame_get(arg);

	(void)e;
}

/* A get of a frame nobody holds panics in every build. */
static void test_get_of_a_free_frame_panics(void **state)
{
	struct child_result c;

	(void)state;
	struct frame_result r = frame_alloc(0, 0);
	assert_int_equal(r.err, E_OK);
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	run_in_child(get_free_frame, pfn_to_page(r.pfn), &c);
	assert_child_panicked_with(&c, "holds no reference");
	assert_true(frame_validate());
}

/* ------------------------------------- defect 7: no lock across a drain */

static spinlock_t held_lock = SPINLOCK_INIT("test.held");

static void drain_holding_a_spinlock(void *arg)
{
	(void)arg;
	spin_lock(&held_lock); /* interrupts stay enabled */
	pcp_drain_all();
	spin_unlock(&held_lock);
}

static void alloc_holding_a_spinlock(void *arg)
{
	(void)arg;
	spin_lock(&held_lock);
	struct frame_result r = frame_alloc(0, 0);
	(void)r;
	spin_unlock(&held_lock);
}

/*
 * A drain round waits for every CPU's IPI; a CPU spinning with interrupts
 * masked for a lock the round's starter holds never answers. So starting
 * (or waiting for) a round while holding a spinlock panics in debug
 * builds, naming the lock; so does an allocation that could start one.
 */
static void test_drain_round_holding_a_spinlock_panics(void **state)
{
	struct child_result r;

	(void)state;
	run_in_child(drain_holding_a_spinlock, NULL, &r);
	assert_child_panicked_with(&r, "\"test.held\"");
	assert_non_null(strstr(r.err, "drain round"));
	run_in_child(alloc_holding_a_spinlock, NULL, &r);
	assert_child_panicked_with(&r, "\"test.held\"");
	assert_non_null(strstr(r.err, "drain round"));
}

/* With interrupts masked the drain is local and waits for nobody: fine. */
static void test_local_drain_under_irqsave_lock_is_allowed(void **state)
{
	(void)state;
	irqflags_t f = spin_lock_irqsave(&held_lock);
	pcp_drain_all();
	struct frame_result r = frame_alloc(0, 0);
	spin_unlock_irqrestore(&held_lock, f);
	assert_int_equal(r.err, E_OK);
	assert_int_equal(frame_free(r.pfn, 0), E_OK);
	assert_true(frame_validate());
}

/* The configurations by name: exact names only; a bad name changes nothing. */
static void test_config_named(void **state)
{
	static const struct frame_config nopcp = FRAME_CONFIG_NOPCP,
		locked = FRAME_CONFIG_LOCKED;
	struct frame_config c, before;

	(void)state;
	assert_int_equal(frame_config_named("full", 4, &c), E_OK);
	assert_memory_equal(&c, &full, sizeof(c));
	assert_int_equal(frame_config_named("nopcp", 5, &c), E_OK);
	assert_memory_equal(&c, &nopcp, sizeof(c));
	/* The length counts, not a terminator: "locked" of "locked_x". */
	assert_int_equal(frame_config_named("locked_x", 6, &c), E_OK);
	assert_memory_equal(&c, &locked, sizeof(c));
	before = c;
	assert_int_equal(frame_config_named("ful", 3, &c), E_INVAL);
	assert_int_equal(frame_config_named("fullx", 5, &c), E_INVAL);
	assert_int_equal(frame_config_named("full", 0, &c), E_INVAL);
	assert_int_equal(frame_config_named("FULL", 4, &c), E_INVAL);
	assert_memory_equal(&c, &before, sizeof(c));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_named),
		T(test_t3_new_frame_is_initialised),
		T(test_pcp_budget_goes_smallest_first),
		T(test_review_pcp_budget_edges),
		T(test_frame_zero_clears_memory),
		T(test_xen_ue_double_and_bad_frees_change_nothing),
		T(test_free_of_never_allocated_frames),
		T(test_xen_ue_order_rejected_everywhere),
		T(test_racing_double_free_exactly_one_wins),
		T(test_mop02_refcount_equals_owners),
		T(test_mop02_get_is_atomic_against_irqs),
		T(test_t4_raw_reference_keeps_the_frame),
		T(test_t4_second_restore_is_refused),
		T(test_t4_raw_addresses_are_unique),
		T(test_t4_concurrent_raw_round_trips),
		T(test_t4_free_of_a_block_held_only_raw_is_refused),
		T(test_t4_validate_finds_more_raw_than_references),
		T(test_t4_raw_count_saturates),
		T(test_t4_racing_restores_exactly_one_wins),
		T(test_t4_stale_restore_after_reallocation_is_refused),
		T(test_t4_into_raw_without_a_reference_panics),
		T(test_seen_state_names_one_allocation),
		T(test_t8_reset_before_reuse),
		T(test_t8_reset_before_an_irq_can_reuse_it),
		T(test_xen_zone_requests_stay_in_their_zone),
		T(test_xen_dma_pool_reserve_kept),
		T(test_xen_zone_normal_and_dma32),
		T(test_xen_quota_limits_and_unaccounted),
		T(test_xen_scrub_dying_frames_zeroed_before_reuse),
		T(test_xen_avail_counters_match_a_scan),
		T(test_validate_finds_a_lost_frame),
		T(test_fragmentation_report),
		T(test_alo02_noncontiguous_request_succeeds),
		T(test_top_order_from_lazily_freed_frames),
		T(test_remote_drain_frees_other_cpus_caches),
		T(test_unregister_drains_the_cache),
		T(test_concurrent_drains_share_rounds),
		T(test_drain_since_reuses_a_round_that_already_ran),
		T(test_alo01_irq_inside_pcp_alloc_pop),
		T(test_alo01_irq_inside_pcp_free_push),
		T(test_alo01_irq_inside_pcp_refill),
		T(test_alo01_irq_inside_pcp_drain),
		T(test_alo01_irq_allocations_inside_allocator),
		T(test_alo04_early_typed_frames_join_the_table),
		T(test_stale_free_after_reallocation_fails),
		T(test_stale_put_after_reallocation_fails),
		T(test_xen_ue_double_free_forced_exactly_one_wins),
		T(test_huge_orders_refused_before_any_shift),
		T(test_refcount_limit_keeps_usage_and_order),
		T(test_get_of_a_free_frame_panics),
		T(test_drain_round_holding_a_spinlock_panics),
		T(test_local_drain_under_irqsave_lock_is_allowed),
	};
#undef T

	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
