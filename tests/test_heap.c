/* SPDX-License-Identifier: MIT */
/*
 * The kernel heap (kernel/mm/heap.h): size classes and alignment, large
 * blocks, the early arena, bad input that must change nothing, the
 * per-CPU caches under interrupts, cross-CPU frees, the audited rescue
 * bugs (HEP-01, HEP-02, HEP-03: each has a test named after it), reclaim
 * of other CPUs' caches, and heap_validate() catching what it must.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tests/heap_support.h"

/* Everything back: caches drained, empty slabs and frames returned. */
static void assert_baseline(uint64_t frames)
{
	(void)heap_reclaim();
	pcp_drain_local();
	assert_true(heap_validate());
	assert_int_equal(stats().bytes, 0);
	assert_int_equal(free_frames(), frames);
}

/* ------------------------------------------------------------ classes */

static void test_classes_fit_their_slabs(void **state)
{
	(void)state;
	for (unsigned c = 0; c < HEAP_CLASSES; c++) {
		const struct slab_class *sc = &slab_classes[c];

		assert_true(sc->objects >= 8);
		/* Objects, then one state byte each, inside the slab. */
		assert_true((uint64_t)sc->objects * (sc->size + 1) <=
			    slab_bytes(sc));
		assert_true(sc->order <= SLAB_MAX_ORDER);
		assert_true(c == 0 || slab_classes[c - 1].size < sc->size);
	}
	/* slab_index() divides exactly, at every byte of every slab. */
	for (unsigned c = 0; c < HEAP_CLASSES; c++) {
		const struct slab_class *sc = &slab_classes[c];

		for (uint64_t off = 0; off < slab_bytes(sc); off++)
			if (slab_index(sc, off) != off / sc->size)
				fail_msg("class %u B: offset %llu", sc->size,
					 (unsigned long long)off);
	}
	for (size_t size = 1; size <= HEAP_MAX_SMALL; size++) {
		unsigned c = slab_class_of(size);

		assert_true(slab_classes[c].size >= size);
		assert_true(c == 0 || slab_classes[c - 1].size < size);
	}
}

/* Every size gets distinct memory of at least its size, aligned. */
static void test_sizes_alignment_and_ksize(void **state)
{
	static const size_t sizes[] = { 1, 7, 8, 9, 16, 24, 33, 48, 64, 65,
					100, 128, 200, 256, 300, 512, 700,
					1024, 1500, 2048, 2049, 4096, 5000,
					65536, 1u << 20 };
	void *p[ARRAY_SIZE(sizes)];
	uint64_t frames = free_frames();

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t s = sizes[i], k = ksize(p[i] = kmalloc(s, 0));

		assert_non_null(p[i]);
		assert_true(k >= s);
		assert_int_equal((uintptr_t)p[i] % 8, 0);
		/* Power-of-two sizes are naturally aligned (up to a page). */
		if ((k & (k - 1)) == 0)
			assert_int_equal((uintptr_t)p[i] % MIN(k, PAGE_SIZE), 0);
		memset(p[i], (int)i, s);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		const uint8_t *b = p[i];

		for (size_t j = 0; j < sizes[i]; j++)
			assert_int_equal(b[j], (uint8_t)i);
		assert_int_equal(kfree(p[i]), E_OK);
	}
	assert_baseline(frames);
}

static void test_zeroed_allocations(void **state)
{
	uint8_t *p = kmalloc(100, 0), *q;
	uint64_t *big;

	(void)state;
	memset(p, 0xee, 100);
	assert_int_equal(kfree(p), E_OK);
	q = kmalloc(100, KM_ZERO); /* the same object, from this CPU's cache */
	assert_ptr_equal(q, p);
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(q[i], 0);
	assert_int_equal(kfree(q), E_OK);
	q = kcalloc(10, 10, 0);
	assert_ptr_equal(q, p);
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(q[i], 0);
	assert_int_equal(kfree(q), E_OK);
	big = kcalloc(1024, sizeof(*big), 0);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(big[i], 0);
	assert_int_equal(kfree(big), E_OK);
}

static void test_aligned_allocations(void **state)
{
	uint64_t frames = free_frames();

	(void)state;
	/* Up to the largest block: virtual addresses keep the physical
	 * alignment (the platform contract; the host's arena is aligned). */
	for (size_t align = 1; align <= PAGE_SIZE << FRAME_MAX_ORDER;
	     align <<= 1) {
		for (size_t size = 1; size <= 5000; size = size * 3 + 1) {
			void *p = kmalloc_aligned(size, align, 0);

			assert_non_null(p);
			assert_int_equal((uintptr_t)p % align, 0);
			assert_true(ksize(p) >= size);
			assert_int_equal(kfree(p), E_OK);
		}
	}
	assert_baseline(frames);
}

static void test_bad_requests_get_null(void **state)
{
	struct heap_stats before = stats(), after;
	uint64_t frames = free_frames();

	(void)state;
	assert_null(kmalloc(0, 0));
	assert_null(kmalloc(8, 1u << 7));
	assert_null(kmalloc((PAGE_SIZE << FRAME_MAX_ORDER) + 1, 0));
	assert_null(kcalloc(SIZE_MAX / 2, 3, 0));
	assert_null(kmalloc_aligned(64, 48, 0));
	assert_null(kmalloc_aligned(64, 0, 0));
	assert_null(kmalloc_aligned(64, PAGE_SIZE << (FRAME_MAX_ORDER + 1), 0));
	after = stats();
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(free_frames(), frames);
}

static void test_large_blocks(void **state)
{
	uint64_t frames = free_frames();
	uint8_t *p = kmalloc(3 * PAGE_SIZE, KM_ZERO);

	(void)state;
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % PAGE_SIZE, 0);
	assert_int_equal(ksize(p), 4 * PAGE_SIZE);
	for (unsigned i = 0; i < 3 * PAGE_SIZE; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(stats().large_blocks, 1);
	assert_int_equal(stats().large_bytes, 4 * PAGE_SIZE);
	assert_true(heap_validate());
	assert_int_equal(kfree(p), E_OK);
	assert_int_equal(stats().large_blocks, 0);
	assert_baseline(frames);
}

/* ------------------------------------------------------- bad frees */

/*
 * What a refused kfree() must leave alone: all of memory (objects, state
 * bytes, descriptors: the host arena holds them all) and the heap's
 * counters but the refusals.
 */
struct snapshot {
	uint8_t *arena;
	struct heap_stats st;
};

static void snap(struct snapshot *s)
{
	s->arena = malloc(host_arena_size);
	assert_non_null(s->arena);
	memcpy(s->arena, host_arena_base, host_arena_size);
	s->st = stats();
}

static void assert_refused(struct snapshot *s, void *p, err_t want)
{
	struct heap_stats now;

	assert_int_equal(kfree(p), want);
	now = stats();
	assert_int_equal(now.bad_frees, s->st.bad_frees + 1);
	now.bad_frees = s->st.bad_frees;
	assert_memory_equal(&now, &s->st, sizeof(now));
	assert_memory_equal(s->arena, host_arena_base, host_arena_size);
	s->st.bad_frees++;
}

static void test_bad_frees_change_nothing(void **state)
{
	uint8_t *small = kmalloc(64, 0), *big = kmalloc(3 * PAGE_SIZE, 0);
	uint8_t *gone = kmalloc(64, 0), *bigone = kmalloc(PAGE_SIZE * 2, 0);
	uint8_t *huge = kmalloc(16 * PAGE_SIZE, 0);
	struct frame_result notours = frame_alloc(0, 0);
	unsigned idx;
	bool inside;
	struct page *head = slab_find(small, &idx, &inside);
	int on_stack;
	struct snapshot s;

	(void)state;
	assert_int_equal(notours.err, E_OK);
	/* Whatever the frame holds, it is not a slab: not even if its last
	 * byte reads as a live object's state. */
	memset(page_to_virt(pfn_to_page(notours.pfn)), OBJ_LIVE, PAGE_SIZE);
	assert_int_equal(kfree(gone), E_OK);
	assert_int_equal(kfree(bigone), E_OK);
	snap(&s);
	assert_refused(&s, gone, E_NOT_ALLOCATED);   /* double free, cached */
	assert_refused(&s, bigone, E_NOT_ALLOCATED); /* double free, large */
	assert_refused(&s, small + 8, E_INVAL);      /* inside an object */
	assert_refused(&s, small + 63, E_INVAL);
	assert_refused(&s, big + PAGE_SIZE, E_INVAL); /* a tail frame */
	assert_refused(&s, big + 64, E_INVAL);
	assert_refused(&s, huge + 9 * PAGE_SIZE, E_INVAL); /* past 8 frames */
	assert_refused(&s, &on_stack, E_RANGE);      /* not the heap's memory */
	assert_refused(&s, s.arena, E_RANGE);
	assert_refused(&s, page_to_virt(pfn_to_page(notours.pfn)),
		       E_NOT_ALLOCATED);             /* a frame, not a slab */
	assert_refused(&s, slab_state(head, &slab_classes[C64], 0),
		       E_NOT_ALLOCATED);             /* the state bytes */
	assert_refused(&s, slab_obj(head, &slab_classes[C64],
				    slab_classes[C64].objects),
		       E_NOT_ALLOCATED);             /* one past the last */
	free(s.arena);
	assert_true(heap_validate());
	assert_int_equal(kfree(small), E_OK);
	assert_int_equal(kfree(big), E_OK);
	assert_int_equal(kfree(huge), E_OK);
	assert_int_equal(kfree(NULL), E_OK);
	assert_int_equal(frame_free(notours.pfn, 0), E_OK);
}

/*
 * The address just past a slab's last object is no object, even where
 * the byte its state would have (the next frame's first) reads live:
 * here the next frame is another slab, whose first object is ours and
 * starts with that byte.
 */
static void test_free_past_the_last_object_changes_nothing(void **state)
{
	const struct slab_class *sc = &slab_classes[C64];
	enum { N = 1024 };
	uint8_t **objs = calloc(N, sizeof(*objs)), *past = NULL;
	struct snapshot s;
	unsigned idx;
	bool inside;

	(void)state;
	assert_non_null(objs);
	for (unsigned i = 0; i < N; i++)
		assert_non_null(objs[i] = kmalloc(sc->size, 0));
	for (unsigned i = 0; i < N && past == NULL; i++) {
		uint8_t *before = objs[i] - PAGE_SIZE;
		struct page *h;

		if ((uintptr_t)objs[i] % PAGE_SIZE != 0)
			continue;
		h = slab_find(before, &idx, &inside);
		if (h == NULL || page_to_virt(h) != before ||
		    h->u.slab.size_class != C64)
			continue;
		past = slab_obj(h, sc, sc->objects);
		objs[i][0] = OBJ_LIVE;
	}
	assert_non_null(past);
	snap(&s);
	assert_refused(&s, past, E_NOT_ALLOCATED);
	free(s.arena);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(kfree(objs[i]), E_OK);
	free(objs);
	assert_true(heap_validate());
}

/*
 * An object past its slab's first frame: kfree() finds the slab the long
 * way (its fast path knows only head frames), with the same refusals.
 */
static void test_bad_frees_past_a_slabs_first_frame(void **state)
{
	const struct slab_class *sc = &slab_classes[C2K];
	void *objs[64];
	uint8_t *tail = NULL;
	unsigned n, idx;
	bool inside;
	struct snapshot s;

	(void)state;
	assert_true(sc->order > 0);
	for (n = 0; n < ARRAY_SIZE(objs) && tail == NULL; n++) {
		objs[n] = kmalloc(sc->size, 0);
		assert_non_null(objs[n]);
		if (page_to_virt(slab_find(objs[n], &idx, &inside)) !=
		    (void *)ALIGN_DOWN((uintptr_t)objs[n], PAGE_SIZE))
			tail = objs[n];
	}
	assert_non_null(tail);
	snap(&s);
	assert_refused(&s, tail + 8, E_INVAL);
	assert_refused(&s, tail + sc->size - 1, E_INVAL);
	free(s.arena);
	assert_int_equal(kfree(tail), E_OK);
	snap(&s);
	assert_refused(&s, tail, E_NOT_ALLOCATED);
	free(s.arena);
	for (unsigned i = 0; i + 1 < n; i++)
		assert_int_equal(kfree(objs[i]), E_OK);
	assert_true(heap_validate());
}

/* A double free is found whichever CPU's cache or slab holds the object. */
static void free_on_other_cpu(unsigned index, void *arg)
{
	(void)index;
	CHECK(kfree(arg) == E_OK);
	/* Now in this CPU's cache: a second free here or anywhere fails. */
	CHECK(kfree(arg) == E_NOT_ALLOCATED);
}

static void test_double_free_found_in_any_cache(void **state)
{
	void *p = kmalloc(64, 0);

	(void)state;
	run_on_cpus(1, free_on_other_cpu, p);
	/* The other CPU went away: its cache drained into the slab. */
	assert_int_equal(kfree(p), E_NOT_ALLOCATED);
	assert_true(heap_validate());
}

/* Debug builds: a write after free shows when the object is handed out. */
static void test_write_after_free_is_reported(void **state)
{
	uint8_t *p = kmalloc(64, 0), *q;

	(void)state;
	assert_int_equal(kfree(p), E_OK);
	p[10] = 1;
	q = kmalloc(64, 0);
	assert_ptr_equal(q, p);
	assert_int_equal(stats().poison_errors, CONFIG_DEBUG ? 1 : 0);
	assert_int_equal(kfree(q), E_OK);
}

/*
 * Debug builds: a write after free into a free object's free-list link
 * (which the poison cannot cover) shows in heap_validate() and when the
 * link is taken, and the heap does not follow it.
 */
static void test_write_after_free_to_the_link_is_reported(void **state)
{
	uint8_t *p = kmalloc(64, 0), *q;

	(void)state;
	if (!CONFIG_DEBUG)
		skip();
	assert_int_equal(kfree(p), E_OK);
	heap_drain_local(); /* p is on its slab's free list, at its head */
	assert_true(heap_validate());
	p[2] ^= 0xff;
	assert_false(heap_validate());
	q = kmalloc(64, 0);
	assert_ptr_equal(q, p);
	assert_int_equal(stats().poison_errors, 1);
	assert_int_equal(kfree(q), E_OK);
}

/* -------------------------------------------------- the early arena */

static void test_early_arena_before_init(void **state)
{
	uint8_t *a, *b;
	uint64_t frames = free_frames();

	(void)state;
	heap_fini();
	a = kmalloc(100, KM_ZERO);
	b = kmalloc_aligned(10, 64, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal((uintptr_t)b % 64, 0);
	assert_true(ksize(a) >= 100);
	assert_int_equal(a[99], 0);
	assert_int_equal(free_frames(), frames); /* no frame used */
	assert_int_equal(kfree(a + 8), E_NOT_ALLOCATED);
	assert_int_equal(heap_init(), E_OK);
	assert_int_equal(heap_init(), E_ALREADY);
	/* Early objects stay valid and are freed by the same kfree(). */
	assert_int_equal(kfree(a), E_OK);
	assert_int_equal(kfree(a), E_NOT_ALLOCATED);
	assert_int_equal(kfree(b), E_OK);
	assert_true(stats().early_bytes > 0);
}

static void test_init_needs_frames(void **state)
{
	(void)state;
	heap_fini();
	host_mm_shutdown();
	assert_int_equal(heap_init(), E_STATE);
	assert_int_equal(host_mm_boot(RAM, &heap_test_config), E_OK);
	assert_int_equal(heap_init(), E_ALREADY);
}

/* ---------------------------------------------- caches and interrupts */

static void *irq_got[8];
static _Atomic unsigned irq_n;
static _Atomic uint64_t irq_frames_before, irq_frames_after;

/* A fresh record of what the handler got, then the interrupt armed. */
static void irq_arm(const char *point, unsigned skip, host_irq_handler_t fn)
{
	atomic_store(&irq_n, 0);
	memset(irq_got, 0, sizeof(irq_got));
	irq_at(point, skip, fn);
}

static void irq_kmalloc_one(unsigned vector)
{
	(void)vector;
	irq_got[atomic_fetch_add(&irq_n, 1)] = kmalloc(64, 0);
}

/* An interrupt while the cache pops must not get the same object. */
static void test_cache_pop_masks_interrupts(void **state)
{
	void *p = kmalloc(64, 0), *q;

	(void)state;
	assert_int_equal(kfree(p), E_OK); /* p is the cache's top now */
	irq_arm("heap.cache.pop", 0, irq_kmalloc_one);
	q = kmalloc(64, 0);
	irq_at_done();
	assert_int_equal(atomic_load(&irq_n), 1);
	assert_non_null(irq_got[0]);
	assert_ptr_not_equal(q, irq_got[0]);
	assert_int_equal(kfree(q), E_OK);
	assert_int_equal(kfree(irq_got[0]), E_OK);
	assert_true(heap_validate());
}

static void *irq_victim;

static void irq_kfree_victim(unsigned vector)
{
	(void)vector;
	CHECK(kfree(irq_victim) == E_OK);
}

/* An interrupt's free while the cache pushes must not lose either. */
static void test_cache_push_masks_interrupts(void **state)
{
	void *p = kmalloc(64, 0);

	(void)state;
	irq_victim = kmalloc(64, 0);
	irq_arm("heap.cache.pushed", 0, irq_kfree_victim);
	assert_int_equal(kfree(p), E_OK);
	irq_at_done();
	assert_true(heap_validate());
	/* Both are free: the next two allocations are them. */
	void *a = kmalloc(64, 0), *b = kmalloc(64, 0);
	assert_true((a == p && b == irq_victim) || (a == irq_victim && b == p));
	assert_int_equal(kfree(a), E_OK);
	assert_int_equal(kfree(b), E_OK);
}

/* ------------------------------------------------------------- rescue */

/* Allocate 64-byte objects until the pause point's action has run. */
static unsigned alloc_until_fired(void)
{
	unsigned n = 0;

	while (!pause_fired(0) && n < HOLD) {
		held[n] = kmalloc(64, 0);
		assert_non_null(held[n]);
		n++;
	}
	return n;
}

/*
 * HEP-03: an interrupt that allocates while this CPU is inside rescue
 * (its second slab: the first was used up, its cache and the class's
 * slabs are empty) gets an object of the CPU's emergency reserve, without
 * entering rescue again: no frame is allocated inside the handler.
 */
static void irq_kmalloc_frames(unsigned vector)
{
	uint64_t before = free_frames(), rescues = stats().rescues;

	(void)vector;
	irq_kmalloc_one(vector);
	atomic_store(&irq_frames_before, before);
	atomic_store(&irq_frames_after, free_frames());
	CHECK(stats().rescues == rescues);
}

static void test_hep03_interrupt_inside_rescue_uses_the_reserve(void **state)
{
	uint64_t frames = free_frames();
	unsigned n;

	(void)state;
	irq_arm("heap.rescue.first_taken", 1, irq_kmalloc_frames);
	n = alloc_until_fired();
	irq_at_done();
	assert_non_null(irq_got[0]);
	assert_int_equal(atomic_load(&irq_frames_after),
			 atomic_load(&irq_frames_before));
	assert_int_equal(stats().reserve_used, 1);
	assert_int_equal(stats().rescues, 2);
	assert_int_equal(kfree(irq_got[0]), E_OK);
	free_held(n);
	assert_baseline(frames);
}

/* HEP-03 for large requests: they have no reserve, so NULL at once. */
static void irq_kmalloc_large(unsigned vector)
{
	uint64_t before = free_frames();

	(void)vector;
	irq_got[atomic_fetch_add(&irq_n, 1)] = kmalloc(3 * PAGE_SIZE, 0);
	atomic_store(&irq_frames_before, before);
	atomic_store(&irq_frames_after, free_frames());
}

static void test_hep03_large_request_inside_rescue_gets_null(void **state)
{
	uint64_t frames = free_frames();
	unsigned n;

	(void)state;
	irq_arm("heap.rescue.first_taken", 1, irq_kmalloc_large);
	n = alloc_until_fired();
	irq_at_done();
	assert_null(irq_got[0]);
	assert_int_equal(atomic_load(&irq_frames_after),
			 atomic_load(&irq_frames_before));
	free_held(n);
	assert_baseline(frames);
}

/*
 * HEP-01: the new slab's first object is the rescuer's. An interrupt at
 * that moment takes everything it can (step 1, then the reserve, then
 * NULL: it may not rescue, HEP-03); the rescuer still gets its object.
 */
static void irq_kmalloc_all(unsigned vector)
{
	void *p;

	(void)vector;
	while (atomic_load(&irq_n) < ARRAY_SIZE(irq_got) &&
	       (p = kmalloc(64, 0)) != NULL)
		irq_got[atomic_fetch_add(&irq_n, 1)] = p;
}

static void test_hep01_rescued_object_goes_to_the_rescuer(void **state)
{
	uint64_t frames = free_frames();
	unsigned n, got;

	(void)state;
	irq_arm("heap.rescue.first_taken", 1, irq_kmalloc_all);
	n = alloc_until_fired(); /* the last one is the rescuer's */
	irq_at_done();
	got = atomic_load(&irq_n);
	/* The reserve, and nothing of the new slab. */
	assert_int_equal(got, 2);
	for (unsigned i = 0; i < got; i++) {
		unsigned a, b;
		bool in;

		assert_ptr_not_equal(slab_find(irq_got[i], &a, &in),
				     slab_find(held[n - 1], &b, &in));
		assert_int_equal(kfree(irq_got[i]), E_OK);
	}
	free_held(n);
	assert_baseline(frames);
}

/*
 * HEP-02: slabs that empty go back to the frame allocator as they empty,
 * but for keep_empty per class; a reclaim returns those too.
 */
static void test_hep02_empty_slabs_go_back(void **state)
{
	const struct slab_class *sc = &slab_classes[C64];
	uint64_t frames = free_frames();
	unsigned n = 8 * sc->objects;

	(void)state;
	for (unsigned i = 0; i < n; i++)
		assert_non_null(held[i] = kmalloc(64, 0));
	assert_true(stats().cls[C64].slabs >= 8);
	free_held(n);
	heap_drain_local();
	assert_int_equal(stats().cls[C64].slabs, sc->keep_empty);
	assert_int_equal(stats().cls[C64].in_use, 0);
	assert_int_equal(heap_reclaim(), sc->keep_empty << sc->order);
	assert_int_equal(stats().cls[C64].slabs, 0);
	assert_baseline(frames);
}

/* heap_reclaim() says how many frames it gave back, caches' slabs too. */
static void test_reclaim_counts_what_it_gives_back(void **state)
{
	uint64_t before, given;
	unsigned n = 3 * slab_classes[C64].objects;

	(void)state;
	for (unsigned i = 0; i < n; i++)
		assert_non_null(held[i] = kmalloc(64, 0));
	free_held(n); /* some slabs empty in the cache, one kept empty */
	before = free_frames();
	given = heap_reclaim();
	assert_int_equal(given, free_frames() - before);
	assert_true(given > 0);
	assert_int_equal(stats().bytes, 0);
}

/* Another CPU holds free 64-byte objects in its cache, and waits. */
struct holder {
	void *objs[8];
	_Atomic int stage; /* 1: cached, 2: may go */
};

static void hold_in_cache(unsigned index, void *arg)
{
	struct holder *h = arg;

	(void)index;
	for (unsigned i = 0; i < ARRAY_SIZE(h->objs); i++)
		h->objs[i] = kmalloc(64, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(h->objs); i++)
		CHECK(kfree(h->objs[i]) == E_OK);
	atomic_store(&h->stage, 1);
	while (atomic_load(&h->stage) != 2) /* serving IPIs meanwhile */
		sleep_ms(1);
}

static void *run_holder(void *arg)
{
	run_on_cpus(1, hold_in_cache, arg);
	return NULL;
}

/*
 * With no frame left, the last free 64-byte objects are in another CPU's
 * cache: rescue's reclaim brings them back, and kmalloc() does not
 * return NULL. The holder makes the class's one slab and keeps most of it
 * cached; this CPU then takes every object not in the holder's cache and
 * reserve, and one more, which only the holder's can give.
 */
static void test_rescue_reclaims_other_cpus_caches(void **state)
{
	struct holder h = { .stage = 0 };
	pthread_t t;
	unsigned hoarded, n, others;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, run_holder, &h), 0);
	while (atomic_load(&h.stage) != 1)
		sleep_ms(1);
	hoarded = exhaust_frames();
	assert_int_equal(stats().cls[C64].slabs, 1);
	others = slab_classes[C64].objects - (unsigned)stats().cls[C64].cached;
	/* Every object not in the holder's caches, and one of the holder's. */
	for (n = 0; n < others + 1; n++) {
		held[n] = kmalloc(64, 0);
		assert_non_null(held[n]);
	}
	assert_true(stats().reclaims > 0);
	atomic_store(&h.stage, 2);
	assert_int_equal(pthread_join(t, NULL), 0);
	free_held(n);
	release_frames(hoarded);
	assert_no_check_failures();
	assert_true(heap_validate());
}

/* No frame, no free object anywhere: NULL, counted, nothing broken. */
static void test_null_only_when_nothing_is_free(void **state)
{
	unsigned hoarded, n = 0;
	void *p = kmalloc(64, 0); /* one slab: this CPU's cache and reserve */

	(void)state;
	assert_int_equal(kfree(p), E_OK);
	hoarded = exhaust_frames();
	while (n < HOLD && (p = kmalloc(64, 0)) != NULL)
		held[n++] = p;
	/* Every object of the slab, the reserve's too, before NULL. */
	assert_int_equal(n, slab_classes[C64].objects);
	assert_int_equal(stats().nulls, 1);
	/* Not one free object was left: not in a cache, not in a reserve. */
	assert_int_equal(stats().cls[C64].cached, 0);
	assert_int_equal(stats().cls[C64].in_use, n);
	assert_null(kmalloc(5000, 0));
	assert_int_equal(stats().nulls, 2);
	assert_true(heap_validate());
	free_held(n);
	release_frames(hoarded);
	/* Freed objects serve again. */
	p = kmalloc(64, 0);
	assert_non_null(p);
	assert_int_equal(kfree(p), E_OK);
}

/* An empty slab of another class is reclaimed for a new one. */
static void test_rescue_takes_other_classes_empty_slabs(void **state)
{
	void *small = kmalloc(16, 0);
	unsigned hoarded;
	void *p;

	(void)state;
	assert_int_equal(kfree(small), E_OK);
	heap_drain_local(); /* the 16-byte slab is empty and kept */
	assert_int_equal(stats().cls[1].slabs, 1);
	hoarded = exhaust_frames();
	p = kmalloc(64, 0);
	assert_non_null(p);
	assert_int_equal(stats().cls[1].slabs, 0);
	assert_int_equal(kfree(p), E_OK);
	release_frames(hoarded);
}

/* -------------------------------------------------------- cross-CPU */

struct relay {
	void *slot[256];
	_Atomic int ready[256];
	unsigned rounds;
};

/* Thread 0 allocates, thread 1 frees what it gets, through slots. */
static void producer_consumer(unsigned index, void *arg)
{
	struct relay *r = arg;

	for (unsigned k = 0; k < r->rounds; k++) {
		unsigned i = k % 256;

		if (index == 0) {
			void *p;

			while (atomic_load_explicit(&r->ready[i],
						    memory_order_acquire))
				;
			p = kmalloc(16 + (k % 7) * 40, 0);
			CHECK(p != NULL);
			memset(p, 0x5a, 16);
			r->slot[i] = p;
			atomic_store_explicit(&r->ready[i], 1,
					      memory_order_release);
		} else {
			while (!atomic_load_explicit(&r->ready[i],
						     memory_order_acquire))
				;
			CHECK(((uint8_t *)r->slot[i])[15] == 0x5a);
			CHECK(kfree(r->slot[i]) == E_OK);
			atomic_store_explicit(&r->ready[i], 0,
					      memory_order_release);
		}
	}
}

static void test_cross_cpu_frees(void **state)
{
	static struct relay r;
	uint64_t frames = free_frames();

	(void)state;
	memset(&r, 0, sizeof(r));
	r.rounds = 20000;
	run_on_cpus(2, producer_consumer, &r);
	assert_true(heap_validate());
	assert_baseline(frames);
}

/*
 * Each CPU refills from a slab of its own: two CPUs that allocate at once
 * do not get neighbouring objects of one slab (whose state bytes and
 * lines they would then write in turn).
 */
struct two_slabs {
	struct page *slab[2];
	pthread_barrier_t both;
};

static void alloc_after_the_other(unsigned index, void *arg)
{
	struct two_slabs *t = arg;

	void *p;
	unsigned idx;
	bool in;

	if (index == 1)
		pthread_barrier_wait(&t->both); /* after CPU 0's first */
	p = kmalloc(64, 0);
	t->slab[index] = slab_find(p, &idx, &in);
	if (index == 0)
		pthread_barrier_wait(&t->both);
	pthread_barrier_wait(&t->both); /* neither frees before both ran */
	CHECK(t->slab[index] != NULL && kfree(p) == E_OK);
}

static void test_each_cpu_refills_from_its_own_slab(void **state)
{
	struct two_slabs t;

	(void)state;
	pthread_barrier_init(&t.both, NULL, 2);
	run_on_cpus(2, alloc_after_the_other, &t);
	pthread_barrier_destroy(&t.both);
	assert_ptr_not_equal(t.slab[0], t.slab[1]);
	assert_true(heap_validate());
}

/* ----------------------------------------------------------- validate */

static void test_validate_catches_corruption(void **state)
{
	uint8_t *p = kmalloc(64, 0), *q = kmalloc(64, 0);
	const struct slab_class *sc = &slab_classes[C64];
	unsigned idx;
	bool inside;
	struct page *head = slab_find(p, &idx, &inside);

	(void)state;
	assert_true(heap_validate());
	head->u.slab.inuse--;
	assert_false(heap_validate());
	head->u.slab.inuse++;
	obj_set_state(head, sc, idx, OBJ_FREE); /* live, but says free */
	assert_false(heap_validate());
	obj_set_state(head, sc, idx, OBJ_CACHED); /* in no cache */
	assert_false(heap_validate());
	obj_set_state(head, sc, idx, OBJ_LIVE);
	assert_true(heap_validate());
	/* This CPU's own slab, which no CPU owns any more. */
	assert_int_equal(head->u.slab.list, SLAB_ON_CPU);
	slab_classes[C64].cur[cpu_id()] = SLAB_NIL;
	assert_false(heap_validate());
	slab_classes[C64].cur[cpu_id()] = (uint32_t)page_to_pfn(head).v;
	assert_true(heap_validate());
	assert_int_equal(kfree(q), E_OK);
	/* The cached q, put on the slab's free list as well. */
	(void)slab_find(q, &idx, &inside);
	obj_set_state(head, sc, idx, OBJ_FREE);
	assert_false(heap_validate());
	obj_set_state(head, sc, idx, OBJ_CACHED);
	assert_true(heap_validate());
	assert_int_equal(kfree(p), E_OK);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_classes_fit_their_slabs),
		T(test_sizes_alignment_and_ksize),
		T(test_zeroed_allocations),
		T(test_aligned_allocations),
		T(test_bad_requests_get_null),
		T(test_large_blocks),
		T(test_bad_frees_change_nothing),
		T(test_bad_frees_past_a_slabs_first_frame),
		T(test_free_past_the_last_object_changes_nothing),
		T(test_double_free_found_in_any_cache),
		T(test_write_after_free_is_reported),
		T(test_write_after_free_to_the_link_is_reported),
		T(test_early_arena_before_init),
		T(test_init_needs_frames),
		T(test_cache_pop_masks_interrupts),
		T(test_cache_push_masks_interrupts),
		T(test_hep03_interrupt_inside_rescue_uses_the_reserve),
		T(test_hep03_large_request_inside_rescue_gets_null),
		T(test_hep01_rescued_object_goes_to_the_rescuer),
		T(test_hep02_empty_slabs_go_back),
		T(test_rescue_reclaims_other_cpus_caches),
		T(test_null_only_when_nothing_is_free),
		T(test_reclaim_counts_what_it_gives_back),
		T(test_rescue_takes_other_classes_empty_slabs),
		T(test_cross_cpu_frees),
		T(test_each_cpu_refills_from_its_own_slab),
		T(test_validate_catches_corruption),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
