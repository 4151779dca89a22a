/* SPDX-License-Identifier: MIT */
/*
 * The TLB event log: see host/host.h.
 *
 * Lock: each CPU's log has its own mutex, which protects the log ([L]).
 * Its CPU takes it with IRQs masked, so its own simulated interrupt
 * handler (which may flush: a shootdown's target) never runs while the
 * interrupted thread holds it; readers on other threads take it too. It
 * is a leaf: nothing else is taken under it.
 * The sequence counter is atomic; an event's number is taken under its
 * CPU's lock, so each log is in sequence order.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "host/host.h"
#include "kernel/lib/pause.h"

struct tlb_log {
	pthread_mutex_t lock;
	uint64_t recorded;  /* [L] events since the last clear */
	uint64_t dropped_seq; /* [L] the newest dropped event's seq, or 0 */
	struct host_tlb_event ev[HOST_TLB_LOG_EVENTS]; /* [L] a ring:
				 event i at ev[i % HOST_TLB_LOG_EVENTS] */
};

static struct tlb_log logs[MAX_CPUS] = {
	[0 ... MAX_CPUS - 1] = { .lock = PTHREAD_MUTEX_INITIALIZER },
};
static _Atomic uint64_t last_seq;

void host_tlb_record(enum host_tlb_op op, uintptr_t va, size_t len,
		     paddr_t root)
{
	struct tlb_log *l = &logs[cpu_id()];
	irqflags_t f = irq_save();

	pthread_mutex_lock(&l->lock);
	if (l->recorded >= HOST_TLB_LOG_EVENTS)
		l->dropped_seq = l->ev[l->recorded % HOST_TLB_LOG_EVENTS].seq;
	l->ev[l->recorded % HOST_TLB_LOG_EVENTS] = (struct host_tlb_event){
		.seq = atomic_fetch_add(&last_seq, 1) + 1,
		.op = op, .va = va, .len = len, .root = root,
	};
	PAUSE("host.tlb.record.locked");
	l->recorded++;
	pthread_mutex_unlock(&l->lock);
	irq_restore(f);
}

/* The first kept event's index (older ones were overwritten). [L] */
static uint64_t first_kept(const struct tlb_log *l)
{
	return l->recorded > HOST_TLB_LOG_EVENTS
		       ? l->recorded - HOST_TLB_LOG_EVENTS
		       : 0;
}

size_t host_tlb_log_read(unsigned cpu, struct host_tlb_event *out,
			 size_t max)
{
	struct tlb_log *l = &logs[cpu];
	size_t n = 0;
	uint64_t recorded;

	ASSERT(cpu < MAX_CPUS);
	pthread_mutex_lock(&l->lock);
	recorded = l->recorded;
	for (uint64_t i = first_kept(l); i < recorded && n < max; i++)
		out[n++] = l->ev[i % HOST_TLB_LOG_EVENTS];
	pthread_mutex_unlock(&l->lock);
	return recorded;
}

void host_tlb_log_clear(void)
{
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		pthread_mutex_lock(&logs[c].lock);
		logs[c].recorded = 0;
		logs[c].dropped_seq = 0;
		pthread_mutex_unlock(&logs[c].lock);
	}
}

uint64_t host_tlb_mark(void)
{
	return atomic_load(&last_seq);
}

static bool covers(const struct host_tlb_event *e, uintptr_t va)
{
	uint64_t page = ALIGN_DOWN(va, PAGE_SIZE);

	switch (e->op) {
	case HOST_TLB_PAGE:
		return ALIGN_DOWN(e->va, PAGE_SIZE) == page;
	case HOST_TLB_RANGE:
		/* [page, page + PAGE_SIZE) overlaps [e->va, e->va + len) */
		return e->len > 0 && page <= e->va + (e->len - 1) &&
		       e->va < page + PAGE_SIZE;
	case HOST_TLB_ALL:
		return true;
	case HOST_TLB_SWITCH:
		/* Drops every non-Global translation: all of the lower
		 * half's (no Global bit there: BOO-01), none of the
		 * kernel half's (all Global). */
		return va < HOST_LOWER_HALF_END;
	default:
		return false;
	}
}

bool host_tlb_flushed(unsigned cpu, uintptr_t va, uint64_t after,
		      uint64_t upto)
{
	struct tlb_log *l = &logs[cpu];
	bool found = false, dropped;

	ASSERT(cpu < MAX_CPUS);
	pthread_mutex_lock(&l->lock);
	dropped = l->dropped_seq > after;
	for (uint64_t i = first_kept(l); i < l->recorded && !found; i++) {
		const struct host_tlb_event *e = &l->ev[i % HOST_TLB_LOG_EVENTS];

		found = e->seq > after && e->seq <= upto && covers(e, va);
	}
	pthread_mutex_unlock(&l->lock);
	if (dropped && !found)
		panic("host_tlb_flushed: CPU %u's TLB log dropped events after "
		      "mark %llu (clear it more often, or raise "
		      "HOST_TLB_LOG_EVENTS)", cpu, (unsigned long long)after);
	return found;
}
