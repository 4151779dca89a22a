/* SPDX-License-Identifier: MIT */
/*
 * frame_torture: see frame_torture.h. Portable: only the platform
 * contract, the allocator and the spinlock.
 *
 * Ownership tags: worker i owns with tag i + 1; CPU c's interrupt handler
 * with 0x8000 | c; 0 is "free". A block in worker j's mailbox is tagged
 * j + 1 while it waits.
 */
#include <stdio.h>
#include <string.h>

#include <platform.h>

#include "kernel/lib/rng.h"
#include "kernel/mm/scrub.h"
#include "locks/spinlock.h"
#include "percpu/pcp.h"
#include "stress/frame_torture.h"

#define HOLD        64  /* blocks a worker can hold (opts.hold: at most) */
#define MAILBOX     256 /* blocks waiting in a mailbox at most */
#define IRQ_STASH   4   /* blocks an interrupt handler keeps per CPU */
#define ACCOUNTS    512 /* accounts over the run (each dies once) */
#define ACCOUNT_MAX 2048
#define CLOCK_EVERY 16  /* a worker reads the clock every this many ops */

struct block {
	pfn_t pfn;
	unsigned order;
};

/* A worker's incoming cross-CPU frees. */
struct mailbox {
	spinlock_t lock;
	struct block slot[MAILBOX]; /* [lock] */
	unsigned n;                 /* [lock] */
} CACHE_ALIGNED;

/* What a CPU's interrupt handler holds: touched only on that CPU, by its
   interrupts and (with interrupts masked) by its worker. */
struct irq_stash {
	struct block b[IRQ_STASH];
	unsigned n;
	uint64_t ops;
	_Atomic bool active; /* a worker runs here and has not finished */
} CACHE_ALIGNED;

struct worker {
	unsigned index;
	uint16_t tag;
	uint64_t rng;
	struct account *acct;
	struct block held[HOLD];
	unsigned n;
} CACHE_ALIGNED;

static struct torture_opts opt;
static struct worker workers[MAX_CPUS];
static struct mailbox mailboxes[MAX_CPUS]; /* by worker index */
static struct irq_stash stashes[MAX_CPUS]; /* by CPU id */
static struct account accounts[ACCOUNTS];
static _Atomic unsigned next_account;
static _Atomic unsigned arrived[2]; /* the two barriers of torture_cpu */
static _Atomic bool stop;
static uint64_t allocated_before; /* managed - free at torture_init() */
static _Atomic uint64_t ops, nomem, remote_frees, irq_ops, deaths, violations;

/* Whether no allocation of the run can find memory exhausted. */
static bool cannot_run_out(const struct torture_opts *o,
			   const struct frame_stats *st)
{
	unsigned top = 0;
	uint64_t zone = 0, worst;

	for (unsigned i = 0; i < o->norders; i++)
		top = MAX(top, o->orders[i]);
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		zone = MAX(zone, st->zone[z].managed);
	worst = (uint64_t)o->cpus * ((o->hold ? o->hold : HOLD) + MAILBOX +
				     IRQ_STASH) << top;
	worst += (uint64_t)o->cpus * 2 * (UINT64_C(1) << FRAME_MAX_ORDER);
	worst += st->allocated + zone / 8;
	return worst <= zone / 2;
}

err_t torture_init(const struct torture_opts *o)
{
	struct frame_stats st;

	if (o->cpus == 0 || o->cpus > MAX_CPUS || o->norders == 0 ||
	    o->norders > ARRAY_SIZE(o->orders) || o->hold > HOLD ||
	    o->clock_ns == NULL || o->owner == NULL)
		return E_INVAL;
	for (unsigned i = 0; i < o->norders; i++)
		if (o->orders[i] > FRAME_MAX_ORDER)
			return E_INVAL;
	frame_get_stats(&st);
	if (o->nomem_is_fault && !cannot_run_out(o, &st))
		return E_INVAL;
	opt = *o;
	if (opt.hold == 0)
		opt.hold = HOLD;
	allocated_before = st.managed - st.free;
	memset(workers, 0, sizeof(workers));
	memset(stashes, 0, sizeof(stashes));
	for (unsigned i = 0; i < MAX_CPUS; i++) {
		spin_lock_init(&mailboxes[i].lock, "torture.mailbox");
		mailboxes[i].n = 0;
	}
	atomic_store(&next_account, 0);
	atomic_store(&arrived[0], 0);
	atomic_store(&arrived[1], 0);
	atomic_store(&stop, false);
	atomic_store(&ops, 0);
	atomic_store(&nomem, 0);
	atomic_store(&remote_frees, 0);
	atomic_store(&irq_ops, 0);
	atomic_store(&deaths, 0);
	atomic_store(&violations, 0);
	return E_OK;
}

/* ---------------------------------------------------------- checking */

static void violation(const char *what, const struct block *b, unsigned tag,
		      unsigned seen)
{
	klog("frame_torture: VIOLATION: %s: block %llu order %u, owner %u, "
	     "found %u", what, (unsigned long long)b->pfn.v, b->order, tag,
	     seen);
	atomic_fetch_add(&violations, 1);
}

/*
 * Swap the tag of every frame of b (below the map's end) from `from` to
 * `to`; `what` names the fault when a frame had another tag.
 */
static void retag(const struct block *b, uint16_t from, uint16_t to,
		  const char *what)
{
	uint64_t end = b->pfn.v + (UINT64_C(1) << b->order);

	if (end > opt.owner_frames)
		end = opt.owner_frames;
	for (uint64_t f = b->pfn.v; f < end; f++) {
		uint16_t was = atomic_exchange_explicit(&opt.owner[f], to,
							memory_order_relaxed);

		if (was != from)
			violation(what, b, from, was);
	}
}

/* Claim every frame of b for tag; they must all be unowned. */
static void own(const struct block *b, uint16_t tag)
{
	retag(b, 0, tag, "frame handed to two owners");
}

/* Pass every frame of b from tag `from` to `to` (0: give it up). */
static void disown(const struct block *b, uint16_t from, uint16_t to)
{
	retag(b, from, to, "frame owned by someone else");
}

static uint64_t signature(const struct block *b)
{
	return b->pfn.v * UINT64_C(0x9e3779b97f4a7c15) ^ b->order;
}

static uint64_t *first_word(const struct block *b)
{
	return phys_to_virt(pfn_to_pa(b->pfn));
}

static uint64_t *last_word(const struct block *b)
{
	return (uint64_t *)((uint8_t *)first_word(b) +
			    (PAGE_SIZE << b->order)) - 1;
}

/* A signature in the first and the last word of the block. */
static void sign(const struct block *b)
{
	*first_word(b) = *last_word(b) = signature(b);
}

static void check_signature(const struct block *b, uint16_t tag)
{
	if (*first_word(b) != signature(b) || *last_word(b) != signature(b))
		violation("block overwritten while owned", b, tag, 0);
}

static void release(const struct block *b, uint16_t tag)
{
	err_t e;

	check_signature(b, tag);
	disown(b, tag, 0);
	if ((e = frame_free(b->pfn, b->order)) != E_OK)
		violation(err_name(e), b, tag, 0);
}

/* ------------------------------------------------------- interrupts */

static uint16_t irq_tag(unsigned cpu)
{
	return (uint16_t)(0x8000 | cpu);
}

/*
 * Free the oldest stashed block or take a new one, at random. (Not both:
 * a free and an allocation in one interrupt would leave a per-CPU cache
 * as it was and hide a race with the interrupted code.)
 */
void torture_irq(void)
{
	unsigned cpu = cpu_id();
	struct irq_stash *s = &stashes[cpu];
	uint64_t r = (s->ops + 1) * UINT64_C(6364136223846793005) + cpu;
	struct block b = { PFN(0), opt.orders[(r >> 33) % opt.norders] };
	struct frame_result f;

	if (!atomic_load_explicit(&s->active, memory_order_relaxed))
		return;
	s->ops++;
	if (s->n == IRQ_STASH || (s->n > 0 && (r >> 40) % 2 == 0)) {
		release(&s->b[0], irq_tag(cpu));
		memmove(&s->b[0], &s->b[1], (s->n - 1) * sizeof(s->b[0]));
		s->n--;
		atomic_fetch_add_explicit(&irq_ops, 1, memory_order_relaxed);
		return;
	}
	f = frame_alloc(b.order, 0);
	if (f.err != E_OK) {
		if (f.err != E_NOMEM || opt.nomem_is_fault)
			violation(err_name(f.err), &b, irq_tag(cpu), 0);
		atomic_fetch_add_explicit(&nomem, 1, memory_order_relaxed);
		return;
	}
	b.pfn = f.pfn;
	own(&b, irq_tag(cpu));
	sign(&b);
	s->b[s->n++] = b;
	atomic_fetch_add_explicit(&irq_ops, 1, memory_order_relaxed);
}

/* Open (or close) this CPU's handler; closing frees what it kept. */
static void stash_set_active(bool on)
{
	irqflags_t f = irq_save();
	unsigned cpu = cpu_id();
	struct irq_stash *s = &stashes[cpu];

	atomic_store_explicit(&s->active, on && opt.irq, memory_order_relaxed);
	while (s->n > 0)
		release(&s->b[--s->n], irq_tag(cpu));
	irq_restore(f);
}

/* ---------------------------------------------------------- workers */

static struct account *new_account(void)
{
	unsigned i = atomic_fetch_add(&next_account, 1);

	if (i >= ACCOUNTS)
		return NULL; /* out of accounts: allocate unaccounted */
	account_init(&accounts[i], "torture", ACCOUNT_MAX);
	return &accounts[i];
}

static void alloc_one(struct worker *w, uint64_t r)
{
	struct block b = { PFN(0), opt.orders[(r >> 8) % opt.norders] };
	struct frame_result f;

	if ((r >> 20) % 4 == 0 && w->acct != NULL)
		f = frame_alloc_for(w->acct, b.order, 0, PAGE_FRAME);
	else
		f = frame_alloc(b.order, (r >> 24) % 8 == 0 ? FRAME_ZERO : 0);
	if (f.err != E_OK) {
		if ((f.err != E_NOMEM && f.err != E_QUOTA) ||
		    (f.err == E_NOMEM && opt.nomem_is_fault))
			violation(err_name(f.err), &b, w->tag, 0);
		atomic_fetch_add_explicit(&nomem, f.err == E_NOMEM,
					  memory_order_relaxed);
		return;
	}
	b.pfn = f.pfn;
	own(&b, w->tag);
	sign(&b);
	w->held[w->n++] = b;
}

/* Hand a block to another worker, or free it here if its mailbox is full. */
static void give_away(struct worker *w, struct block b, uint64_t r)
{
	unsigned to = (w->index + 1 + (unsigned)(r % (opt.cpus - 1))) %
		      opt.cpus;
	uint16_t to_tag = (uint16_t)(to + 1);
	struct mailbox *mb = &mailboxes[to];
	irqflags_t f;

	check_signature(&b, w->tag);
	disown(&b, w->tag, to_tag);
	f = spin_lock_irqsave(&mb->lock);
	if (mb->n < MAILBOX) {
		mb->slot[mb->n++] = b;
		spin_unlock_irqrestore(&mb->lock, f);
		return;
	}
	spin_unlock_irqrestore(&mb->lock, f);
	disown(&b, to_tag, w->tag);
	release(&b, w->tag);
}

static void free_one(struct worker *w, uint64_t r)
{
	unsigned i = (unsigned)((r >> 16) % w->n);
	struct block b = w->held[i];

	w->held[i] = w->held[--w->n];
	if (opt.cpus > 1 && (r >> 28) % 3 == 0)
		give_away(w, b, r);
	else
		release(&b, w->tag);
}

/* Free what others sent, a bounded batch at a time (small stacks). */
static void empty_mailbox(struct worker *w)
{
	struct mailbox *mb = &mailboxes[w->index];
	struct block got[32];
	unsigned n;

	do {
		irqflags_t f = spin_lock_irqsave(&mb->lock);

		n = mb->n < ARRAY_SIZE(got) ? mb->n : ARRAY_SIZE(got);
		mb->n -= n;
		memcpy(got, &mb->slot[mb->n], n * sizeof(got[0]));
		spin_unlock_irqrestore(&mb->lock, f);
		for (unsigned i = 0; i < n; i++)
			release(&got[i], w->tag);
		atomic_fetch_add_explicit(&remote_frees, n,
					  memory_order_relaxed);
	} while (n == ARRAY_SIZE(got));
}

/* The account dies with frames out; they go through the scrub queue. */
static void kill_account(struct worker *w)
{
	if (w->acct == NULL)
		return;
	account_set_dying(w->acct);
	atomic_fetch_add(&deaths, 1);
	w->acct = new_account();
}

/*
 * Every worker reads the clock. When only one did, a descheduled vCPU kept
 * every other worker running past the deadline: 64 vCPUs on 2 host cores
 * overran a 2 s run by up to 70 s.
 */
static bool time_is_up(uint64_t n, uint64_t t0)
{
	if (n % CLOCK_EVERY == 0 && opt.clock_ns() - t0 >= opt.run_ns)
		atomic_store_explicit(&stop, true, memory_order_relaxed);
	return atomic_load_explicit(&stop, memory_order_relaxed);
}

static void work_loop(struct worker *w)
{
	uint64_t n = 0, t0 = opt.clock_ns();

	while (!time_is_up(n, t0)) {
		uint64_t r = rng_next(&w->rng);

		if (w->n < opt.hold && (w->n == 0 || r % 8 < 5))
			alloc_one(w, r);
		else if (w->n > 0)
			free_one(w, r);
		if (r % 64 == 0)
			empty_mailbox(w);
		if (r % 4096 == 1)
			kill_account(w);
		if (r % 1024 == 2)
			(void)scrub_run(64);
		n++;
	}
	atomic_fetch_add(&ops, n);
}

/* Wait until every worker has arrived at barrier `which`. */
static void rendezvous(unsigned which)
{
	atomic_fetch_add_explicit(&arrived[which], 1, memory_order_acq_rel);
	while (atomic_load_explicit(&arrived[which], memory_order_acquire) <
	       opt.cpus)
		cpu_relax();
}

void torture_cpu(unsigned index)
{
	struct worker *w = &workers[index];

	ASSERT(index < opt.cpus);
	*w = (struct worker){ .index = index, .tag = (uint16_t)(index + 1),
			      .rng = opt.seed * 7919 + index + 1 };
	w->acct = new_account();
	stash_set_active(true);
	rendezvous(0);
	work_loop(w);
	stash_set_active(false);
	while (w->n > 0)
		release(&w->held[--w->n], w->tag);
	rendezvous(1); /* nobody sends mail after this */
	empty_mailbox(w);
}

/* ------------------------------------------------------------ the end */

bool torture_finish(struct torture_result *r)
{
	struct frame_stats st;

	(void)scrub_run(UINT64_MAX);
	pcp_drain_all();
	/*
	 * Consistent with lazy frees still unmerged in CPUs' areas; then,
	 * once they are merged, fully coalesced.
	 */
	r->coalesced = frame_validate();
	frame_coalesce();
	r->coalesced = r->coalesced && frame_free_pairs() == 0 &&
		       frame_validate();
	frame_get_stats(&st);
	r->ops = atomic_load(&ops);
	r->irq_ops = atomic_load(&irq_ops);
	r->nomem = atomic_load(&nomem);
	r->remote_frees = atomic_load(&remote_frees);
	r->deaths = atomic_load(&deaths);
	r->violations = atomic_load(&violations);
	r->lost = st.managed - st.free - allocated_before;
	return r->coalesced && r->lost == 0 && r->violations == 0;
}

void torture_format(const struct torture_result *r, char *buf, size_t size)
{
	snprintf(buf, size,
		 "ops=%llu lost=%llu coalesced=%s nomem=%llu remote_frees=%llu "
		 "irq_ops=%llu account_deaths=%llu violations=%llu",
		 (unsigned long long)r->ops, (unsigned long long)r->lost,
		 r->coalesced ? "yes" : "no", (unsigned long long)r->nomem,
		 (unsigned long long)r->remote_frees,
		 (unsigned long long)r->irq_ops,
		 (unsigned long long)r->deaths,
		 (unsigned long long)r->violations);
}
