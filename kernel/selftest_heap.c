/* SPDX-License-Identifier: MIT */
/*
 * The kernel heap on every CPU (selftest_heap.h). Objects carry their own
 * size and a tag, checked before they are freed, so a block handed out
 * twice or written by someone else shows as a wrong tag.
 */
#include <stdatomic.h>
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/cpu.h"
#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/lib/rng.h"
#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"
#include "kernel/mm/slab.h"
#include "kernel/selftest_check.h"
#include "kernel/selftest_heap.h"
#include "percpu/pcp.h"

/* ------------------------------------------------------ tagged objects */

/* An object's first 8 bytes: its size and tag; its last byte: the tag. */
struct tagged {
	uint32_t size;
	uint32_t tag;
};

static void *tagged_alloc(uint32_t size, uint32_t tag)
{
	uint8_t *p = kmalloc(size, 0);

	if (p != NULL) {
		memcpy(p, &(struct tagged){ size, tag }, sizeof(struct tagged));
		p[size - 1] = (uint8_t)tag;
	}
	return p;
}

/* Check and free; false if the object is not what its tag says. */
static bool tagged_free(void *obj)
{
	uint8_t *p = obj;
	struct tagged t;

	memcpy(&t, p, sizeof(t));
	if (t.size < sizeof(t) || ksize(p) < t.size ||
	    p[t.size - 1] != (uint8_t)t.tag) {
		klog("selftest:   object %p (size %u, tag %#x) was overwritten",
		     obj, t.size, t.tag);
		return false;
	}
	return kfree(p) == E_OK;
}

/* Mostly small, now and then a few pages. */
static uint32_t random_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng);

	return (uint32_t)(r % 16 == 0 ? 8 + (r >> 8) % (4 * PAGE_SIZE)
				      : 8 + (r >> 8) % 512);
}

/* ------------------------------------------------------------ torture */

#define SLOTS     64
#define MAILBOXES 64

struct torture_cpu {
	void *slot[SLOTS];
	void *irq_obj;        /* the timer interrupt's object */
	uint64_t rng;
	uint64_t ops, irq_ops;
	uint64_t irq_nulls;   /* NULLs inside the CPU's own heap call */
	uint32_t failures;    /* NULL or a failed check */
	volatile bool in_heap; /* the task is in a heap call (its IRQ reads) */
} CACHE_ALIGNED;

static struct torture_cpu cpus[MAX_CPUS];
static _Atomic(void *) mailbox[MAILBOXES]; /* objects between CPUs */
static uint64_t deadline_ns;

static uint32_t tag_of(unsigned cpu, uint64_t n)
{
	return (uint32_t)(cpu << 24 | (n & 0xffffff));
}

/* Pass p to another CPU through a mailbox; free whatever was there. */
static bool hand_over(void *p, uint64_t *rng)
{
	void *old = atomic_exchange(&mailbox[rng_next(rng) % MAILBOXES], p);

	return old == NULL || tagged_free(old);
}

static void torture_step(struct torture_cpu *t, unsigned cpu)
{
	unsigned i = (unsigned)(rng_next(&t->rng) % SLOTS);
	bool ok = true;

	t->in_heap = true;
	if (t->slot[i] == NULL) {
		t->slot[i] = tagged_alloc(random_size(&t->rng),
					  tag_of(cpu, t->ops));
		ok = t->slot[i] != NULL;
	} else if (rng_next(&t->rng) % 4 == 0) {
		ok = hand_over(t->slot[i], &t->rng);
		t->slot[i] = NULL;
	} else {
		ok = tagged_free(t->slot[i]);
		t->slot[i] = NULL;
	}
	t->in_heap = false;
	t->failures += !ok;
	t->ops++;
}

static void torture_on_cpu(void *arg)
{
	unsigned cpu = cpu_id();
	struct torture_cpu *t = &cpus[cpu];

	(void)arg;
	while (time_ns() < deadline_ns)
		torture_step(t, cpu);
	for (unsigned i = 0; i < SLOTS; i++) {
		if (t->slot[i] != NULL)
			t->failures += !tagged_free(t->slot[i]);
		t->slot[i] = NULL;
	}
}

/* Every timer tick: free the interrupt's object, or take a new one. */
static void torture_irq(void)
{
	struct torture_cpu *t = &cpus[cpu_id()];

	if (t->irq_obj != NULL) {
		t->failures += !tagged_free(t->irq_obj);
		t->irq_obj = NULL;
	} else {
		t->irq_obj = tagged_alloc(8 + (uint32_t)(t->irq_ops % 256),
					  tag_of(cpu_id(), t->irq_ops) | 1);
		/* Inside its CPU's rescue an interrupt may get NULL (HEP-03:
		 * the reserve, or NULL); anywhere else memory is plentiful. */
		if (t->irq_obj == NULL && t->in_heap)
			t->irq_nulls++;
		else
			t->failures += t->irq_obj == NULL;
	}
	t->irq_ops++;
}

/*
 * What the heap and the frame allocator hold with every cache drained and
 * every empty slab returned: what the kernel keeps for good (the APs'
 * per-CPU areas are heap objects).
 */
struct baseline {
	struct heap_stats heap;
	uint64_t frames;
};

static void settle(struct baseline *b)
{
	struct frame_stats fs;

	(void)heap_reclaim();
	pcp_drain_all();
	heap_get_stats(&b->heap);
	frame_get_stats(&fs);
	b->frames = fs.allocated;
}

/* Back to the baseline: nothing more held, every invariant intact. */
static bool back_to(const struct baseline *before)
{
	struct baseline now;

	settle(&now);
	CHECK(heap_validate());
	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		CHECK(now.heap.cls[c].in_use == before->heap.cls[c].in_use &&
		      now.heap.cls[c].slabs == before->heap.cls[c].slabs);
	CHECK(now.heap.large_blocks == before->heap.large_blocks);
	CHECK(now.heap.bytes == before->heap.bytes);
	CHECK(now.heap.poison_errors == 0);
	if (now.frames != before->frames)
		klog("selftest:   %llu frames allocated, %llu before",
		     (unsigned long long)now.frames,
		     (unsigned long long)before->frames);
	CHECK(now.frames == before->frames);
	return true;
}

bool selftest_heap_torture(uint64_t run_ms)
{
	struct baseline before;
	struct heap_stats st;
	uint64_t ops = 0, irq_ops = 0, irq_nulls = 0;
	uint32_t failures = 0;

	settle(&before); /* also what earlier tests left cached */
	memset(cpus, 0, sizeof(cpus));
	for (unsigned c = 0; c < MAX_CPUS; c++)
		cpus[c].rng = (rdtsc() ^ (uint64_t)c << 32) | 1;
	deadline_ns = time_ns() + run_ms * 1000000;
	timer_set_hook(torture_irq);
	smp_run_all(torture_on_cpu, NULL);
	timer_set_hook(NULL); /* returns when no handler runs it any more */
	for (unsigned m = 0; m < MAILBOXES; m++) {
		void *p = atomic_exchange(&mailbox[m], NULL);

		failures += p != NULL && !tagged_free(p);
	}
	for (unsigned c = 0; c < ncpus(); c++) {
		if (cpus[c].irq_obj != NULL)
			failures += !tagged_free(cpus[c].irq_obj);
		failures += cpus[c].failures;
		ops += cpus[c].ops;
		irq_ops += cpus[c].irq_ops;
		irq_nulls += cpus[c].irq_nulls;
	}
	heap_get_stats(&st);
	klog("selftest:   cpus=%u ops=%llu irq_ops=%llu irq_nulls_in_rescue=%llu "
	     "rescues=%llu reclaims=%llu reserve_used=%llu failures=%u",
	     ncpus(), (unsigned long long)ops, (unsigned long long)irq_ops,
	     (unsigned long long)irq_nulls,
	     (unsigned long long)st.rescues, (unsigned long long)st.reclaims,
	     (unsigned long long)st.reserve_used, failures);
	CHECK(failures == 0);
	/* Memory was plentiful: NULLs only inside a CPU's rescue. */
	CHECK(st.nulls == before.heap.nulls + irq_nulls);
	CHECK(ops > 0 && irq_ops > 0);
	return back_to(&before);
}

/* --------------------------------------------------------- bad input */

static uint8_t not_heap[64];

bool selftest_heap_bad_input(void)
{
	uint8_t *p = kmalloc(64, 0), *big = kmalloc(3 * PAGE_SIZE, 0);
	struct frame_result f = frame_alloc(0, FRAME_ZERO);
	void *frame;
	struct heap_stats st;
	uint64_t refused;

	CHECK(p != NULL && big != NULL);
	CHECK_ERR(f.err, E_OK);
	frame = phys_to_virt(pfn_to_pa(f.pfn));
	memset(p, 0xa5, 64);
	heap_get_stats(&st);
	refused = st.bad_frees;
	CHECK_ERR(kfree(p + 1), E_INVAL);
	CHECK_ERR(kfree(big + 8), E_INVAL);
	CHECK_ERR(kfree(not_heap), E_RANGE);  /* the kernel image */
	CHECK_ERR(kfree(frame), E_NOT_ALLOCATED);
	CHECK(p[0] == 0xa5 && p[63] == 0xa5);
	CHECK_ERR(kfree(p), E_OK);
	CHECK_ERR(kfree(p), E_NOT_ALLOCATED); /* double free */
	CHECK_ERR(kfree(big), E_OK);
	CHECK_ERR(kfree(big), E_NOT_ALLOCATED);
	heap_get_stats(&st);
	CHECK(st.bad_frees == refused + 6);
	CHECK(kmalloc(0, 0) == NULL);
	CHECK(kmalloc_aligned(64, 3, 0) == NULL);
	CHECK(kcalloc(SIZE_MAX, 2, 0) == NULL);
	CHECK_ERR(frame_free(f.pfn, 0), E_OK);
	CHECK(heap_validate());
	return true;
}

/* ------------------------------------------------------- exhaustion */

#define PARKED 16 /* 64-byte objects each other CPU leaves cached */

static void park_in_cache(void *arg)
{
	void *got[PARKED];

	(void)arg;
	if (cpu_id() == 0)
		return;
	for (unsigned i = 0; i < PARKED; i++)
		got[i] = kmalloc(64, 0);
	for (unsigned i = 0; i < PARKED; i++)
		if (got[i] == NULL || kfree(got[i]) != E_OK)
			cpus[cpu_id()].failures++;
}

/* Chain objects or frames through their first word. */
static void chain_push(void **head, void *p)
{
	*(void **)p = *head;
	*head = p;
}

static void *chain_pop(void **head)
{
	void *p = *head;

	*head = *(void **)p;
	return p;
}

bool selftest_heap_exhaustion_drains_remote_caches(void)
{
	struct baseline before;
	struct heap_stats st;
	struct frame_result r;
	void *frames = NULL, *objs = NULL, *p;
	uint64_t cached, got = 0;

	settle(&before);
	memset(cpus, 0, sizeof(cpus));
	smp_run_all(park_in_cache, NULL);
	for (unsigned c = 0; c < ncpus(); c++)
		CHECK(cpus[c].failures == 0);
	heap_get_stats(&st);
	cached = st.cls[slab_class_of(64)].cached;
	CHECK(ncpus() == 1 || cached >= (ncpus() - 1) * PARKED);
	while ((r = frame_alloc(0, 0)).err == E_OK)
		chain_push(&frames, phys_to_virt(pfn_to_pa(r.pfn)));
	while ((p = kmalloc(64, 0)) != NULL) {
		chain_push(&objs, p);
		got++;
	}
	klog("selftest:   %llu objects cached on other CPUs; %llu allocated "
	     "with no frame left", (unsigned long long)cached,
	     (unsigned long long)got);
	heap_get_stats(&st);
	/* Every CPU's cache was drained: what is left are the reserves. */
	CHECK(st.cls[slab_class_of(64)].cached <= 2 * ncpus());
	while (objs != NULL)
		CHECK_ERR(kfree(chain_pop(&objs)), E_OK);
	while (frames != NULL)
		CHECK_ERR(frame_free(pa_to_pfn(virt_to_phys(chain_pop(&frames))),
				     0),
			  E_OK);
	return back_to(&before);
}
