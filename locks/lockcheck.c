/* SPDX-License-Identifier: MIT */
/*
 * The lock checker: see locks/lockcheck.h for what it reports.
 *
 * State and its protection:
 *   held[cpu]     the locks a CPU holds or waits for, in acquisition order.
 *                 [c] only that CPU touches it, with interrupts masked, so
 *                 an interrupt handler's pushes and pops nest inside ours.
 *   classes, edge_site, class irq sites
 *                 [G] graph_lock, a test-and-set flag taken with interrupts
 *                 masked (so a handler on the same CPU cannot want it too).
 *   after[a]      [a] bit b set iff class b was acquired while a was held in
 *                 the same context. Set with release under G after the
 *                 edge's sites are written; a reader that sees the bit
 *                 (acquire) may read the sites.
 *   class->irq_marks [a] written under G, read racily as a fast-path hint.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "locks/lockcheck.h"

static void default_report(enum lockcheck_kind kind, const char *msg)
{
	(void)kind;
	klog("%s", msg);
	panic("lock checker: %s", msg);
}

static _Atomic lockcheck_report_fn report_fn = default_report;

lockcheck_report_fn lockcheck_set_report(lockcheck_report_fn fn)
{
	return atomic_exchange(&report_fn, fn != NULL ? fn : default_report);
}

#if CONFIG_LOCK_DEBUG

#define MARK_IN_IRQ   1u /* taken in IRQ context */
#define MARK_IRQS_ON  2u /* held with interrupts enabled */
#define MARK_REPORTED 4u /* the conflict was reported */

struct lock_class {
	const char *name;           /* [G] */
	unsigned idx;               /* [G] index in classes[] */
	_Atomic unsigned irq_marks; /* [a] MARK_* */
	const char *irq_site[2];    /* [G] first site of IN_IRQ, IRQS_ON */
};

struct held_lock {
	const void *lock;
	struct lock_class *cls;
	const char *site;
	bool in_irq;  /* context it was taken in */
	bool waiting; /* announced, not yet acquired */
};

struct held_stack {
	unsigned depth;
	struct held_lock e[LOCKCHECK_MAX_HELD];
} CACHE_ALIGNED;

struct edge_site {
	const char *held_site; /* where the earlier lock was taken */
	const char *acq_site;  /* where the later one was taken */
};

_Static_assert(LOCKCHECK_MAX_CLASSES == 64, "after[] is one word per class");

static atomic_flag graph_lock = ATOMIC_FLAG_INIT;
static struct lock_class classes[LOCKCHECK_MAX_CLASSES];
static unsigned nclasses;
static _Atomic uint64_t after[LOCKCHECK_MAX_CLASSES];
static struct edge_site edge_site[LOCKCHECK_MAX_CLASSES][LOCKCHECK_MAX_CLASSES];
static struct held_stack held[MAX_CPUS];
/* [G] bit u of irq_dep_reported[s]: the path s ->* u was reported. */
static uint64_t irq_dep_reported[LOCKCHECK_MAX_CLASSES];

/* Pre for both: interrupts masked. */
static void graph_lock_take(void)
{
	while (atomic_flag_test_and_set_explicit(&graph_lock,
						 memory_order_acquire))
		cpu_relax();
}

static void graph_lock_drop(void)
{
	atomic_flag_clear_explicit(&graph_lock, memory_order_release);
}

static bool is_fatal(enum lockcheck_kind kind)
{
	return kind == LOCKCHECK_DEADLOCK || kind == LOCKCHECK_BAD_UNLOCK ||
	       kind == LOCKCHECK_LIMIT || kind == LOCKCHECK_HELD_ACROSS_WAIT;
}

static void report(enum lockcheck_kind kind, const char *msg)
{
	atomic_load(&report_fn)(kind, msg);
	if (is_fatal(kind))
		panic("lock checker: %s", msg);
}

/* ------------------------------------------------------------ classes */

static struct lock_class *class_find_or_add_locked(const char *name)
{
	for (unsigned i = 0; i < nclasses; i++)
		if (strcmp(classes[i].name, name) == 0)
			return &classes[i];
	if (nclasses == LOCKCHECK_MAX_CLASSES)
		return NULL;
	classes[nclasses].name = name;
	classes[nclasses].idx = nclasses;
	return &classes[nclasses++];
}

static struct lock_class *class_of(struct lockcheck_map *m, const void *lock)
{
	struct lock_class *c = atomic_load_explicit(&m->cls,
						    memory_order_acquire);
	char msg[256];

	if (likely(c != NULL))
		return c;
	if (m->name == NULL)
		panic("lock %p has no name: use SPINLOCK_INIT() or "
		      "spin_lock_init()", lock);
	graph_lock_take();
	c = class_find_or_add_locked(m->name);
	graph_lock_drop();
	if (c == NULL) {
		snprintf(msg, sizeof(msg),
			 "too many lock classes (%d) for \"%s\": raise "
			 "LOCKCHECK_MAX_CLASSES", LOCKCHECK_MAX_CLASSES,
			 m->name);
		report(LOCKCHECK_LIMIT, msg);
	}
	/* Pairs with the acquire load above. */
	atomic_store_explicit(&m->cls, c, memory_order_release);
	return c;
}

void lockcheck_map_init(struct lockcheck_map *m, const char *name)
{
	m->name = name;
	atomic_store_explicit(&m->cls, NULL, memory_order_relaxed);
}

/* ----------------------------------------------------------- ordering */

/*
 * Shortest path of order edges from class `from` to class `to`, as class
 * indices path[0] = from .. path[n-1] = to. Returns n, or 0 if none.
 * Pre: graph_lock held.
 */
static unsigned find_path(unsigned from, unsigned to,
			  unsigned path[LOCKCHECK_MAX_CLASSES])
{
	unsigned parent[LOCKCHECK_MAX_CLASSES], queue[LOCKCHECK_MAX_CLASSES];
	uint64_t seen = UINT64_C(1) << from;
	unsigned head = 0, tail = 0, n = 0;

	queue[tail++] = from;
	while (head < tail) {
		unsigned x = queue[head++];
		uint64_t next = atomic_load_explicit(&after[x],
						     memory_order_relaxed) & ~seen;

		for (; next != 0; next &= next - 1) {
			unsigned y = (unsigned)__builtin_ctzll(next);

			seen |= UINT64_C(1) << y;
			parent[y] = x;
			if (y == to)
				goto found;
			queue[tail++] = y;
		}
	}
	return 0;
found:
	for (unsigned y = to;; y = parent[y]) {
		path[n++] = y;
		if (y == from)
			break;
	}
	for (unsigned i = 0; i < n / 2; i++) {
		unsigned t = path[i];

		path[i] = path[n - 1 - i];
		path[n - 1 - i] = t;
	}
	return n;
}

/* Append to buf[0..cap) at len, truncating; returns the new length. */
__attribute__((format(printf, 4, 5)))
static size_t appendf(char *buf, size_t cap, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (len + 1 >= cap)
		return len;
	va_start(ap, fmt);
	n = vsnprintf(buf + len, cap - len, fmt, ap);
	va_end(ap);
	return n < 0 ? len : MIN(len + (size_t)n, cap - 1);
}

/* Append one edge "\"b\" acquired at S2 while holding \"a\" (at S1)". */
static size_t describe_edge(char *buf, size_t cap, size_t len, unsigned a,
			    unsigned b)
{
	const struct edge_site *s = &edge_site[a][b];

	return appendf(buf, cap, len, "\"%s\" acquired at %s while holding "
		       "\"%s\" (acquired at %s)", classes[b].name,
		       s->acq_site, classes[a].name, s->held_site);
}

/* Append every edge of path[0..n), joined by ", and ". */
static size_t describe_path(char *buf, size_t cap, size_t len,
			    const unsigned *path, unsigned n)
{
	for (unsigned i = 0; i + 1 < n; i++) {
		if (i > 0)
			len = appendf(buf, cap, len, ", and ");
		len = describe_edge(buf, cap, len, path[i], path[i + 1]);
	}
	return len;
}

static void format_inversion(char *msg, size_t cap, const unsigned *path,
			     unsigned n, unsigned a, unsigned b)
{
	size_t len = appendf(msg, cap, 0, "lock order inversion on CPU %u: ",
			     cpu_id());

	len = describe_edge(msg, cap, len, a, b);
	len = appendf(msg, cap, len, "; but earlier ");
	(void)describe_path(msg, cap, len, path, n);
}

/* Classes reachable from x over one or more edges. Pre: graph_lock. */
static uint64_t reachable(unsigned x)
{
	uint64_t seen = 0, todo = UINT64_C(1) << x;

	while (todo != 0) {
		unsigned y = (unsigned)__builtin_ctzll(todo);
		uint64_t next = atomic_load_explicit(&after[y],
						     memory_order_relaxed);

		todo &= todo - 1;
		todo |= next & ~seen;
		seen |= next;
	}
	return seen;
}

static uint64_t classes_marked(unsigned mark)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < nclasses; i++)
		if (atomic_load_explicit(&classes[i].irq_marks,
					 memory_order_relaxed) & mark)
			m |= UINT64_C(1) << i;
	return m;
}

/*
 * The IRQ-dependency rule (Linux lockdep's "irq-safe -> irq-unsafe"): if a
 * class s taken in IRQ context is ever held while taking, directly or
 * through other locks, a class u that is held with IRQs enabled somewhere,
 * then an IRQ taking s on a CPU that holds u waits for a CPU that holds s
 * and waits for u. Checked after every new edge and IRQ mark, so the order
 * in which they are seen does not matter. Formats the first unreported
 * such path into msg and returns true, or returns false.
 * Pre: graph_lock held.
 */
static bool find_irq_dependency(char *msg, size_t cap)
{
	uint64_t safe = classes_marked(MARK_IN_IRQ);
	uint64_t unsafe = classes_marked(MARK_IRQS_ON);

	for (; safe != 0; safe &= safe - 1) {
		unsigned sc = (unsigned)__builtin_ctzll(safe);
		uint64_t bad = reachable(sc) & unsafe &
			       ~irq_dep_reported[sc] & ~(UINT64_C(1) << sc);
		unsigned path[LOCKCHECK_MAX_CLASSES], n, uc;
		size_t len;

		if (bad == 0)
			continue;
		uc = (unsigned)__builtin_ctzll(bad);
		irq_dep_reported[sc] |= UINT64_C(1) << uc;
		n = find_path(sc, uc, path);
		len = appendf(msg, cap, 0, "irq-safe -> irq-unsafe dependency: "
			      "\"%s\" is taken in IRQ context at %s, \"%s\" is "
			      "held with IRQs enabled at %s, and ",
			      classes[sc].name, classes[sc].irq_site[0],
			      classes[uc].name, classes[uc].irq_site[1]);
		(void)describe_path(msg, cap, len, path, n);
		return true;
	}
	return false;
}

/* --------------------------------------------------------- IRQ safety */

static void mark_irq_usage(struct lock_class *c, unsigned mark,
			   const char *site)
{
	unsigned marks = atomic_load_explicit(&c->irq_marks,
					      memory_order_relaxed);
	bool conflict, dep = false;
	char msg[1024];

	if (marks & mark)
		return; /* racy hint: marks are only ever added */
	graph_lock_take();
	marks = atomic_load_explicit(&c->irq_marks, memory_order_relaxed);
	if (!(marks & mark)) {
		c->irq_site[mark == MARK_IN_IRQ ? 0 : 1] = site;
		marks |= mark;
	}
	conflict = (marks & (MARK_IN_IRQ | MARK_IRQS_ON)) ==
			   (MARK_IN_IRQ | MARK_IRQS_ON) &&
		   !(marks & MARK_REPORTED);
	if (conflict) {
		marks |= MARK_REPORTED;
		snprintf(msg, sizeof(msg),
			 "irq-unsafe lock \"%s\": taken in IRQ context at %s "
			 "and held with IRQs enabled at %s (take it with "
			 "spin_lock_irqsave outside IRQ context)",
			 c->name, c->irq_site[0], c->irq_site[1]);
	}
	atomic_store_explicit(&c->irq_marks, marks, memory_order_relaxed);
	if (!conflict)
		dep = find_irq_dependency(msg, sizeof(msg));
	graph_lock_drop();
	if (conflict || dep)
		report(LOCKCHECK_IRQ_UNSAFE, msg);
}

static void check_irq_usage(struct lock_class *c, bool irq, bool irqs_on,
			    const char *site)
{
	if (irq)
		mark_irq_usage(c, MARK_IN_IRQ, site);
	else if (irqs_on)
		mark_irq_usage(c, MARK_IRQS_ON, site);
}

/* Record "a held while b taken" and report if it closes a cycle. */
static void add_edge(const struct held_lock *h, struct lock_class *b,
		     const char *site)
{
	unsigned a = h->cls->idx;
	uint64_t bit = UINT64_C(1) << b->idx;
	unsigned path[LOCKCHECK_MAX_CLASSES], n = 0;
	bool dep = false;
	char msg[1024], dep_msg[1024];

	/* Acquire pairs with the release fetch_or below. */
	if (atomic_load_explicit(&after[a], memory_order_acquire) & bit)
		return;
	graph_lock_take();
	if (!(atomic_load_explicit(&after[a], memory_order_relaxed) & bit)) {
		n = find_path(b->idx, a, path);
		edge_site[a][b->idx] = (struct edge_site){ h->site, site };
		atomic_fetch_or_explicit(&after[a], bit, memory_order_release);
		if (n > 0)
			format_inversion(msg, sizeof(msg), path, n, a, b->idx);
		dep = find_irq_dependency(dep_msg, sizeof(dep_msg));
	}
	graph_lock_drop();
	if (n > 0)
		report(LOCKCHECK_ORDER, msg);
	if (dep)
		report(LOCKCHECK_IRQ_UNSAFE, dep_msg);
}

/* --------------------------------------------------- the held stack */

static struct held_lock *find_held(struct held_stack *s, const void *lock)
{
	for (unsigned i = s->depth; i-- > 0;)
		if (s->e[i].lock == lock)
			return &s->e[i];
	return NULL;
}

static void push(struct held_stack *s, const void *lock, struct lock_class *c,
		 const char *site, bool irq, bool waiting)
{
	char msg[256];

	if (s->depth == LOCKCHECK_MAX_HELD) {
		snprintf(msg, sizeof(msg),
			 "CPU %u holds more than %d locks taking \"%s\" at %s: "
			 "raise LOCKCHECK_MAX_HELD", cpu_id(),
			 LOCKCHECK_MAX_HELD, c->name, site);
		report(LOCKCHECK_LIMIT, msg);
	}
	s->e[s->depth++] = (struct held_lock){ lock, c, site, irq, waiting };
}

static void check_self_deadlock(struct held_stack *s, const void *lock,
				const char *name, const char *site)
{
	const struct held_lock *h = find_held(s, lock);
	char msg[512];

	if (h == NULL)
		return;
	snprintf(msg, sizeof(msg),
		 "deadlock: CPU %u already %s %s (taken at %s%s), "
		 "acquired again at %s%s", cpu_id(),
		 h->waiting ? "is waiting for" : "holds", name, h->site,
		 h->in_irq ? ", in IRQ context" : "", site,
		 in_irq() ? " in IRQ context" : "");
	report(LOCKCHECK_DEADLOCK, msg);
}

void lockcheck_acquire(struct lockcheck_map *m, const void *lock,
		       const char *site)
{
	bool irqs_on = irqs_enabled(), irq = in_irq();
	irqflags_t f = irq_save();
	struct held_stack *s = &held[cpu_id()];
	struct lock_class *c;

	check_self_deadlock(s, lock, m->name, site);
	c = class_of(m, lock);
	check_irq_usage(c, irq, irqs_on, site);
	for (unsigned i = 0; i < s->depth; i++)
		if (s->e[i].in_irq == irq && s->e[i].cls != c)
			add_edge(&s->e[i], c, site);
	push(s, lock, c, site, irq, true);
	irq_restore(f);
}

void lockcheck_acquired(const void *lock)
{
	irqflags_t f = irq_save();
	struct held_lock *h = find_held(&held[cpu_id()], lock);

	ASSERT(h != NULL && h->waiting);
	h->waiting = false;
	irq_restore(f);
}

void lockcheck_acquired_try(struct lockcheck_map *m, const void *lock,
			    const char *site)
{
	bool irqs_on = irqs_enabled(), irq = in_irq();
	irqflags_t f = irq_save();
	struct lock_class *c = class_of(m, lock);

	check_irq_usage(c, irq, irqs_on, site);
	push(&held[cpu_id()], lock, c, site, irq, false);
	irq_restore(f);
}

void lockcheck_release(struct lockcheck_map *m, const void *lock,
		       const char *site)
{
	irqflags_t f = irq_save();
	struct held_stack *s = &held[cpu_id()];
	struct held_lock *h = find_held(s, lock);
	char msg[256];

	if (h == NULL || h->waiting) {
		snprintf(msg, sizeof(msg),
			 "bad unlock: CPU %u releases %s at %s but does not "
			 "hold it", cpu_id(), m->name ? m->name : "(unnamed)",
			 site);
		report(LOCKCHECK_BAD_UNLOCK, msg);
	}
	for (; h + 1 < s->e + s->depth; h++)
		h[0] = h[1];
	s->depth--;
	irq_restore(f);
}

bool lockcheck_held(const void *lock)
{
	irqflags_t f = irq_save();
	const struct held_lock *h = find_held(&held[cpu_id()], lock);
	bool yes = h != NULL && !h->waiting;

	irq_restore(f);
	return yes;
}

unsigned lockcheck_held_count(void)
{
	irqflags_t f = irq_save();
	unsigned n = held[cpu_id()].depth;

	irq_restore(f);
	return n;
}

void lockcheck_assert_none_held(const char *what, const char *site)
{
	irqflags_t f = irq_save();
	const struct held_stack *s = &held[cpu_id()];
	struct held_lock h;
	char msg[512];

	if (likely(s->depth == 0)) {
		irq_restore(f);
		return;
	}
	h = s->e[s->depth - 1];
	irq_restore(f);
	snprintf(msg, sizeof(msg),
		 "lock held across a wait for other CPUs: CPU %u %s \"%s\" "
		 "(taken at %s) at %s, where %s; a CPU spinning for it with "
		 "interrupts masked would never answer", cpu_id(),
		 h.waiting ? "is waiting for" : "holds", h.cls->name, h.site,
		 site, what);
	report(LOCKCHECK_HELD_ACROSS_WAIT, msg);
}

void lockcheck_reset(void)
{
	irqflags_t f = irq_save();

	graph_lock_take();
	for (unsigned i = 0; i < LOCKCHECK_MAX_CLASSES; i++) {
		atomic_store(&after[i], 0);
		atomic_store(&classes[i].irq_marks, 0);
		classes[i].irq_site[0] = classes[i].irq_site[1] = NULL;
	}
	memset(edge_site, 0, sizeof(edge_site));
	memset(irq_dep_reported, 0, sizeof(irq_dep_reported));
	graph_lock_drop();
	irq_restore(f);
}

#endif /* CONFIG_LOCK_DEBUG */
