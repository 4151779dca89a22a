/* SPDX-License-Identifier: MIT */
/*
 * The scrub queue. See scrub.h.
 *
 * Lock: scrub_lock protects the list and the backlog's exact value [S].
 * It is a leaf lock (nothing is taken under it) and taken with interrupts
 * masked, since frees, and so queueing, happen in IRQ context too. The
 * backlog is an atomic so statistics can read it without the lock.
 */
#include <string.h>

#include "kernel/mm/scrub.h"
#include "kernel/mm/zone.h"
#include "locks/spinlock.h"

static spinlock_t scrub_lock = SPINLOCK_INIT("scrub");
static struct page *head GUARDED_BY(scrub_lock);  /* oldest */
static struct page *tail GUARDED_BY(scrub_lock);  /* newest */
static _Atomic uint64_t backlog; /* [a], changed under scrub_lock */

void scrub_queue(struct page *p, unsigned order)
{
	irqflags_t f;

	page_set_state(p, ps_make(0, PAGE_SCRUB, order, 0));
	p->u.next = NULL;
	f = spin_lock_irqsave(&scrub_lock);
	if (tail != NULL)
		tail->u.next = p;
	else
		head = p;
	tail = p;
	atomic_fetch_add_explicit(&backlog, UINT64_C(1) << order,
				  memory_order_relaxed);
	spin_unlock_irqrestore(&scrub_lock, f);
}

static struct page *dequeue(void)
{
	irqflags_t f = spin_lock_irqsave(&scrub_lock);
	struct page *p = head;

	if (p != NULL) {
		head = p->u.next;
		if (head == NULL)
			tail = NULL;
	}
	spin_unlock_irqrestore(&scrub_lock, f);
	return p;
}

uint64_t scrub_run(uint64_t max_pages)
{
	uint64_t done = 0;
	struct page *p;

	while (done < max_pages && (p = dequeue()) != NULL) {
		unsigned order = ps_order(page_state(p));
		uint64_t n = UINT64_C(1) << order;
		pfn_t pfn = page_to_pfn(p);

		memset(page_to_virt(p), 0, n * PAGE_SIZE);
		p->u.next = NULL;
		page_set_state(p, ps_make(0, PAGE_NONE, 0, 0));
		buddy_free(&zone_of(pfn)->buddy, pfn, order, true);
		atomic_fetch_sub_explicit(&backlog, n, memory_order_relaxed);
		done += n;
	}
	return done;
}

uint64_t scrub_backlog(void)
{
	return atomic_load_explicit(&backlog, memory_order_relaxed);
}

bool scrub_validate(uint64_t *frames)
{
	irqflags_t f = spin_lock_irqsave(&scrub_lock);
	uint64_t n = 0, steps = 0;
	bool ok = true;

	for (struct page *p = head; p != NULL && ok; p = p->u.next) {
		uint64_t s = page_state(p);

		if (ps_usage(s) != PAGE_SCRUB || ps_ref(s) != 0 ||
		    ++steps > frame_table_pages) {
			klog("scrub: bad entry pfn %llu (%s, ref %u)",
			     (unsigned long long)page_to_pfn(p).v,
			     page_usage_name(ps_usage(s)), ps_ref(s));
			ok = false;
		}
		n += UINT64_C(1) << ps_order(s);
	}
	if (ok && n != atomic_load(&backlog)) {
		klog("scrub: queue holds %llu frames, backlog says %llu",
		     (unsigned long long)n,
		     (unsigned long long)atomic_load(&backlog));
		ok = false;
	}
	spin_unlock_irqrestore(&scrub_lock, f);
	*frames = n;
	return ok;
}

void scrub_fini(void)
{
	irqflags_t f = spin_lock_irqsave(&scrub_lock);

	head = tail = NULL;
	atomic_store(&backlog, 0);
	spin_unlock_irqrestore(&scrub_lock, f);
}
