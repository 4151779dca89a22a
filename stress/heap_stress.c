/* SPDX-License-Identifier: MIT */
/*
 * heap_stress: the kernel heap (kmalloc/kfree, heap.h) under contention,
 * interrupts and memory pressure, on the host.
 *
 * Threads are CPUs. Each allocates random sizes (8 B .. 8 KiB, mostly
 * small; now and then zeroed, now and then with interrupts masked),
 * writes a pattern over the whole usable size of every object and checks
 * it before the object is freed, so two live objects that overlap (a
 * double hand-out) show as a broken pattern. A third of the frees are
 * cross-CPU: the object goes through another thread's mailbox and that
 * thread checks and frees it. With --irq each thread's timer interrupt
 * allocates and frees too, inside whatever its CPU was doing, and more
 * interrupts land at the heap's pause points (step_irq()): between the
 * two steps of a cache pop or push, and inside a rescue.
 * --budget-frames N boots the frame allocator with exactly N free frames
 * (boot_budget()), so that a small N keeps rescue and reclaim busy.
 *
 * Checks, each counted as a violation when it fails:
 *   - every object: aligned as heap.h promises, ksize() >= the request
 *     and a class size, KM_ZERO objects zero, its pattern intact at free,
 *     kfree() returns E_OK;
 *   - at quiescent points (a frozen world, below): heap_validate(); each
 *     class's in_use and the large-block count equal the objects this
 *     program holds; the frames the frame allocator has handed out since
 *     the start equal the heap's growth in bytes;
 *   - null_while_free (defined below) is 0;
 *   - at the end, everything freed and heap_reclaim() run: heap_validate(),
 *     nothing in use, no refused frees, no poison errors, and the frame
 *     allocator's allocated frames back to the baseline (leaked_bytes 0);
 *   - a watchdog fails the run when no thread completes a heap call for
 *     WATCHDOG_S seconds (a deadlock or livelock), naming what each thread
 *     was doing;
 *   - with --irq, some interrupt handler must have used the heap, and an
 *     interrupt that lands inside a rescue must get no frames (HEP-03: the
 *     class's slabs, the reserve or NULL, never a second rescue).
 *
 * THE FROZEN WORLD. freeze() stops every other thread between two heap
 * calls, spinning with interrupts enabled (so it still answers the IPIs of
 * drain rounds and of heap_reclaim()), and holds off their timer handlers'
 * heap calls (irq_hold_off()); it returns once no CPU is inside the heap.
 * Then the heap's and the frame allocator's stats are exact (both say so
 * at quiescence), and nothing changes but what the freezing thread does.
 *
 * NULL_WHILE_FREE, exactly: the sum of two counts, each of which can miss
 * a fault but never invents one.
 *
 * (1) Unforced NULLs. heap.h lets kmalloc() give up only when the frame
 * allocator could not provide a slab (or, for a handler that interrupted
 * a rescue on its CPU, when the emergency reserve is empty). Every frame
 * allocation the heap makes passes through __wrap_frame_alloc_for() (the
 * link wraps frame_alloc_for, mk/stress.mk), which counts refusals per
 * CPU. A kmalloc() that cannot be inside a rescue on its CPU (a thread's,
 * or a handler's that did not interrupt one of its thread's kmalloc()
 * calls: only kmalloc() rescues) and returns NULL although its CPU's
 * refusal count did not move during the call is a null_while_free. The
 * count is the CPU's own, read before and after on that CPU, so no other
 * CPU moves it; a refusal to a handler in between only hides a fault.
 * This catches HEP-01 (a rescued slab taken by others before the
 * rescuer) even with memory to spare.
 *
 * (2) NULLs repeated in a frozen world. Any other NULL is counted (nulls=)
 * but not judged by itself: whatever state one looks at afterwards may
 * hold memory freed after kmalloc() decided, and a check built on it
 * would lie. Instead it is repeated in a frozen world, for the same size
 * and flags, in the same kind of context (task with interrupts enabled,
 * task with interrupts masked, interrupt handler), but only when the
 * frozen state obliges kmalloc() to succeed by heap.h's guarantee,
 * counting only memory that context can reach (must_succeed()):
 *   - a free object of the request's class on one of the class's slabs;
 *   - from task context with interrupts enabled, one in any CPU's cache
 *     or reserve (heap_stats' `cached`), which a rescue's reclaim drains;
 *   - an empty slab, of any class, of at least the order a new slab or
 *     large block needs: reclaim gives it back to the frame allocator
 *     before kmalloc() may give up (heap.c's rescue step 3, and a large
 *     request's retry after E_NOMEM);
 *   - a free block of at least that order in the frame allocator's buddies.
 * Not counted: frames in per-CPU page caches, which the frame allocator
 * drains when it runs dry (the stats do not say which CPU holds them,
 * and masked or in a handler only the own CPU's are reached), and, masked
 * or in a handler, the own CPU's cached objects (the stats do not say
 * which CPU holds them either). A NULL from that repeated call
 * is a null_while_free: nothing else ran between the state we read and
 * the call, so no race can have taken the memory. The same repeat is made
 * at every periodic quiescent point for a random size and context, so the
 * guarantee is also checked while memory is short but no NULL happened.
 * This misses a NULL that only a race produced and the repeat does not
 * reproduce, and memory we did not count. Under a tiny budget NULLs come
 * by the thousand a second, and a freeze for each would leave the world
 * frozen most of the time, its handlers held off: a NULL within
 * JUDGE_GAP_NS of the last freeze's end is counted (unjudged=) and not
 * repeated.
 *
 * One line on stdout at the end:
 *   heap_stress threads=N irq=on|off ops=N null_while_free=N leaked_bytes=N
 * ops: kmalloc() and kfree() calls, by threads and handlers. leaked_bytes:
 * the frame allocator's allocated bytes at the end minus at the start (a
 * hang prints "unknown"). Details go to stderr before it. Exit status 0
 * if every check held, 1 otherwise, 2 for bad flags.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/host.h"
#include "host/util.h"
#include "stress/supervise.h"
#include "kernel/lib/pause.h"
#include "kernel/mm/heap.h"
#include "locks/spinlock.h"

#if !CONFIG_PAUSE_POINTS
#error "heap_stress lands interrupts at the heap's pause points"
#endif

#define HOLD        64   /* objects a thread holds at most */
#define MAILBOX     128  /* objects waiting in a mailbox at most */
#define IRQ_STASH   4    /* objects a CPU's timer handler keeps */
#define MIN_SIZE    8
#define MAX_SIZE    8192
#define TIMER_NS    (500 * 1000)
#define CHECK_NS    (UINT64_C(250) * 1000 * 1000) /* quiescent checks */
#define JUDGE_GAP_NS (UINT64_C(1000) * 1000) /* between NULL judgements */
#define CLOCK_EVERY 16   /* a thread reads the clock every this many ops */
#define WATCHDOG_S  20   /* no heap call completed for this long: hung */
#define CLS_LARGE   HEAP_CLASSES /* class index of a large block */
#define LOG_VIOLATIONS 20
#define STEP_IRQ_ONE_IN 4 /* pause points that get an interrupt */
#define RESCUE_POINT "heap.rescue.first_taken" /* heap.c, inside new_slab() */
#define MIN_RESCUES 64    /* rescues that surely met a step interrupt */

/* Budgets: the least still holds a few top-order (8-frame) slabs; the
   most is what the arena's address space comfortably maps. */
#define MIN_BUDGET  32
#define MAX_BUDGET  (UINT64_C(1) << 22)
#define DEF_BUDGET  (UINT64_C(1) << 16)
/* Budget memory starts at 16 MiB: above the DMA zone, whose emergency
   reserve would withhold frames from the heap and which has no per-CPU
   page caches; there the heap sees the frame allocator it sees in a
   real machine's DMA32 or NORMAL zone. */
#define BUDGET_BASE (UINT64_C(16) << 20)

struct options {
	unsigned threads, seconds;
	bool irq;
	uint64_t budget; /* frames free at the start */
	uint64_t seed;
};

static struct options opt;

/* ------------------------------------------------------------ flags */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--threads N] [--seconds S] [--irq]\n"
		"          [--budget-frames N] [--seed X]\n"
		"  --threads N        threads, each a CPU (1..%d, default 8)\n"
		"  --seconds S        run time (1..86400, default 5)\n"
		"  --irq              timer interrupts kmalloc and kfree too\n"
		"  --budget-frames N  free frames the frame allocator starts "
		"with\n"
		"                     (%d..%llu, default %llu)\n"
		"  --seed X           random seed (default 1)\n",
		prog, MAX_CPUS, MIN_BUDGET, (unsigned long long)MAX_BUDGET,
		(unsigned long long)DEF_BUDGET);
	exit(2);
}

static void parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "irq", no_argument, NULL, 'i' },
		{ "budget-frames", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	opt = (struct options){ .threads = 8, .seconds = 5,
				.budget = DEF_BUDGET, .seed = 1 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!parse_u64(optarg, 1, MAX_CPUS, &v))
				usage(argv[0]);
			opt.threads = (unsigned)v;
			break;
		case 's':
			if (!parse_u64(optarg, 1, 86400, &v))
				usage(argv[0]);
			opt.seconds = (unsigned)v;
			break;
		case 'i':
			opt.irq = true;
			break;
		case 'b':
			if (!parse_u64(optarg, MIN_BUDGET, MAX_BUDGET, &v))
				usage(argv[0]);
			opt.budget = v;
			break;
		case 'r':
			if (!parse_u64(optarg, 0, UINT64_MAX, &v))
				usage(argv[0]);
			opt.seed = v;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
}

/* ------------------------------------------------------------ state */

/* An object this program holds. */
struct obj {
	uint8_t *p;
	uint32_t size;   /* asked for */
	uint32_t usable; /* ksize(), all of it carries the pattern */
	uint64_t tag;    /* the pattern's seed, random per allocation */
	unsigned cls;    /* class index, CLS_LARGE for a large block */
};

/* Where a kmalloc() ran: what heap.h lets it reach depends on it. */
enum ctx { CTX_TASK, CTX_MASKED, CTX_IRQ };

/* What a thread is doing, for the watchdog's report. */
enum phase {
	PH_START, PH_RUN, PH_KMALLOC, PH_KFREE, PH_MAINTAIN, PH_PARKED,
	PH_FREEZING, PH_FROZEN, PH_CLEANUP, PH_FINAL, PH_DONE,
};

static const char *const phase_name[] = {
	"starting", "running", "in kmalloc", "in kfree",
	"in heap_drain_local/heap_reclaim", "parked", "freezing the world",
	"checking a frozen world", "freeing what it holds",
	"final reclaim and checks", "done",
};
_Static_assert(ARRAY_SIZE(phase_name) == PH_DONE + 1, "a name per phase");

/* A thread's incoming cross-CPU frees. */
struct mailbox {
	spinlock_t lock;
	struct obj slot[MAILBOX]; /* [lock] */
	unsigned n;               /* [lock] */
} CACHE_ALIGNED;

/*
 * What a CPU's timer handler holds. Touched only on that CPU: by its
 * handler, and by its thread with interrupts masked.
 */
struct irq_stash {
	struct obj o[IRQ_STASH];
	unsigned n;
	uint64_t rng;
	bool active;         /* a thread runs here and has not finished */
	struct worker *w;    /* that thread */
	_Atomic bool in_heap; /* the handler is in a heap call (watchdog) */
	uint32_t null_size;  /* a handler's NULL awaiting its repeat, or 0 */
	unsigned null_flags;
	/* Interrupts at pause points (step_irq()): their own generator, as
	   the hook runs in task context; whether the interrupt being raised
	   lands inside a rescue, and so whether the handler's kmalloc() may
	   take frames (HEP-03). */
	uint64_t step_rng;
	bool inside_rescue;
	bool frames_forbidden;
	/* The frozen-world repeat in interrupt context (probe_irq()). */
	uint32_t probe_size;
	unsigned probe_flags;
	void *probe_result;
} CACHE_ALIGNED;

/* A thread. [I] set before it starts, [t] its own, [a] atomic. */
struct worker {
	pthread_t thread;           /* [I] */
	unsigned index;             /* [I] */
	unsigned cpu;               /* [t] its CPU id */
	uint64_t rng;               /* [t] */
	struct obj held[HOLD];      /* [t] */
	unsigned n;                 /* [t] */
	_Atomic uint64_t parked_at; /* the freeze it waits out, 0: none */
	_Atomic uint64_t progress;  /* heap calls and freezes completed */
	_Atomic int phase;          /* enum phase */
} CACHE_ALIGNED;

static struct worker workers[MAX_CPUS];
static struct mailbox mailboxes[MAX_CPUS]; /* by worker index */
static struct irq_stash stashes[MAX_CPUS]; /* by CPU id */

static uint32_t class_size[HEAP_CLASSES];  /* [I] from heap_get_stats() */
static uint64_t base_allocated;            /* [I] frames at the start */
static uint64_t base_heap_bytes;           /* [I] heap bytes then */

/*
 * Objects this program holds, per class (and CLS_LARGE), counted after
 * kmalloc() returns and before kfree() is called: so every object the
 * heap counts as in use is counted here, and, frozen (no heap call in
 * flight), both counts are equal.
 */
static _Atomic int64_t live[HEAP_CLASSES + 1];

static _Atomic bool stop;
static _Atomic unsigned arrived[3]; /* the end's barriers */
static _Atomic unsigned finished;   /* threads past their last barrier */
static _Atomic uint64_t next_check_ns;
static _Atomic uint64_t last_thaw_ns;
static _Atomic uint64_t ops, irq_ops, nulls, irq_nulls, unjudged, repeats;
static _Atomic uint64_t null_while_free;
static _Atomic uint64_t violations, remote_frees, freezes;
static _Atomic uint64_t step_irqs, rescue_irqs;
static _Atomic bool invalid_seen; /* heap_validate() failed, frozen */

/* Written by worker 0 at the end, read by main after joining it. */
struct result {
	bool valid;
	int64_t leaked_bytes;
	struct heap_stats hs;
};
static struct result result;


/* A nonzero generator seed per stream (splitmix64 of seed and stream). */
static uint64_t seed_for(uint64_t stream)
{
	uint64_t z = opt.seed + (stream + 1) * UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return z != 0 ? z : 1;
}

/*
 * Count a failed check; log the first LOG_VIOLATIONS (a lost object is
 * found again at every later quiescent point: the first reports are the
 * ones that tell when).
 */
static PRINTF_LIKE(2, 3) void violation(const struct obj *o,
					const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&violations, 1);
	char what[256];
	va_list ap;

	if (n >= LOG_VIOLATIONS)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (o != NULL)
		klog("heap_stress: VIOLATION: %s: object %p size %u usable %u",
		     what, (void *)o->p, o->size, o->usable);
	else
		klog("heap_stress: VIOLATION: %s", what);
	if (n + 1 == LOG_VIOLATIONS)
		klog("heap_stress: further violations are counted, not logged");
}

/* Fenced: the thread's own handlers read it (irq_null()) and must see
   PH_KMALLOC for the whole of a kmalloc() call. */
static void set_phase(struct worker *w, enum phase ph)
{
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&w->phase, (int)ph, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
}

static void progressed(struct worker *w)
{
	atomic_fetch_add_explicit(&w->progress, 1, memory_order_relaxed);
}

/* --------------------------------------------------------- budgets */

/* Usable RAM: `frames` frames from BUDGET_BASE, nothing else. */
static err_t budget_map(struct memmap *m, uint64_t frames)
{
	memmap_init(m);
	return memmap_add(m, BUDGET_BASE, frames * PAGE_SIZE, MEM_USABLE);
}

/*
 * Boot the frame allocator with exactly `budget` free frames. Its
 * metadata (frame table, buddy maps, the boot allocator's bitmap) comes
 * out of the same usable memory, so we boot, see how far free frames
 * miss the budget, and boot again with that much more (or less) RAM.
 * Metadata grows with RAM, never shrinks, so from below free frames stay
 * at most the budget and from above at least it, and the loop settles in
 * a few boots; where the metadata does not fit at all (E_NOMEM), RAM
 * doubles first. A real machine with less RAM, not a cap on an allocator
 * that has more: the allocator's own rules (per-CPU caches sized to the
 * zone, drains when it runs dry) act as they would.
 */
static err_t boot_budget(uint64_t budget, struct memmap *m)
{
	static const struct frame_config cfg = FRAME_CONFIG_FULL;
	uint64_t ram = budget;

	for (unsigned tries = 0; tries < 32; tries++) {
		struct frame_stats st;
		err_t e;

		if (BUDGET_BASE + ram * PAGE_SIZE > host_arena_size)
			return E_RANGE;
		if ((e = budget_map(m, ram)) != E_OK)
			return e;
		if ((e = host_mm_boot_map(m, &cfg)) == E_NOMEM) {
			ram *= 2;
			continue;
		}
		if (e != E_OK)
			return e;
		frame_get_stats(&st);
		if (st.free == budget)
			return E_OK;
		host_mm_shutdown();
		ram = ram + budget - st.free; /* up or down; free <= ram */
	}
	return E_RANGE;
}

/* Address space for boot_budget()'s largest try: RAM plus metadata (a
   32-byte descriptor per frame, buddy maps: far below a quarter). */
static uint64_t arena_bytes(uint64_t budget)
{
	return BUDGET_BASE + (budget + budget / 4 + 4096) * PAGE_SIZE;
}

/* --------------------------------------------- the frame allocator */

struct frame_result __real_frame_alloc_for(struct account *acct,
					   unsigned order, unsigned flags,
					   enum page_usage usage);
struct frame_result __wrap_frame_alloc_for(struct account *acct,
					   unsigned order, unsigned flags,
					   enum page_usage usage);

/* Frame allocations refused to this CPU (its thread and its handlers). */
static _Thread_local _Atomic uint64_t frame_refusals;
static _Atomic uint64_t frame_calls; /* > 0: the wrap is in place */

/* Every frame allocation of the heap, by the link's --wrap. */
struct frame_result __wrap_frame_alloc_for(struct account *acct,
					   unsigned order, unsigned flags,
					   enum page_usage usage)
{
	struct frame_result r = __real_frame_alloc_for(acct, order, flags,
						       usage);

	atomic_fetch_add_explicit(&frame_calls, 1, memory_order_relaxed);
	if (in_irq() && stashes[cpu_id()].frames_forbidden)
		violation(NULL, "a handler that interrupted a rescue asked the "
			  "frame allocator for order %u (HEP-03: rescue "
			  "re-entered)", order);
	if (r.err != E_OK)
		atomic_fetch_add_explicit(&frame_refusals, 1,
					  memory_order_relaxed);
	return r;
}

static uint64_t refusals(void)
{
	return atomic_load_explicit(&frame_refusals, memory_order_relaxed);
}

/* Count (1) of null_while_free: a NULL although this CPU was refused no
   frame since `before`. */
static bool unforced_null(uint32_t size, unsigned flags, const char *where,
			  uint64_t before)
{
	if (refusals() != before)
		return false;
	klog("heap_stress: NULL WHILE FREE: kmalloc(%u, %#x) in %s context "
	     "returned NULL, and the frame allocator refused this CPU nothing "
	     "meanwhile", size, flags, where);
	atomic_fetch_add(&null_while_free, 1);
	return true;
}

/* ----------------------------------------------------------- objects */

/* The class index whose object size is `usable`, or -1 for none. */
static int class_of_usable(size_t usable)
{
	if (usable > HEAP_MAX_SMALL)
		return CLS_LARGE;
	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		if (class_size[c] == usable)
			return (int)c;
	return -1;
}

/* The class a request of size bytes (<= HEAP_MAX_SMALL) comes from. */
static unsigned class_for(size_t size)
{
	unsigned best = CLS_LARGE;

	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		if (class_size[c] >= size &&
		    (best == CLS_LARGE || class_size[c] < class_size[best]))
			best = c;
	return best;
}

/* 8 B .. 8 KiB: about 69% up to 256 B, 19% up to 2 KiB, 12% large. */
static uint32_t pick_size(uint64_t r)
{
	unsigned kind = (unsigned)(r >> 40) % 16;
	uint64_t x = r >> 44;

	if (kind < 11)
		return (uint32_t)(MIN_SIZE + x % (256 - MIN_SIZE + 1));
	if (kind < 14)
		return (uint32_t)(257 + x % (HEAP_MAX_SMALL - 257 + 1));
	return (uint32_t)(HEAP_MAX_SMALL + 1 + x % (MAX_SIZE - HEAP_MAX_SMALL));
}

static uint64_t pattern(uint64_t tag, size_t word)
{
	return tag ^ (word * UINT64_C(0x9e3779b97f4a7c15));
}

/* The pattern over every usable byte: an overlapping live object, or a
   write by the heap into a live one, breaks it. */
static void fill(const struct obj *o)
{
	uint64_t *w = (uint64_t *)(void *)o->p;

	for (size_t i = 0; i < o->usable / 8; i++)
		w[i] = pattern(o->tag, i);
}

/* The first word that lost its pattern, or usable / 8 if none did. */
static size_t first_broken_word(const struct obj *o)
{
	const uint64_t *w = (const uint64_t *)(const void *)o->p;
	size_t i = 0;

	while (i < o->usable / 8 && w[i] == pattern(o->tag, i))
		i++;
	return i;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* What heap.h promises of a new object; false (counted) if not. */
static bool obj_sane(const struct obj *o, unsigned flags)
{
	uintptr_t a = (uintptr_t)o->p;
	int cls = class_of_usable(o->usable);

	if (cls < 0 || o->usable < o->size || o->usable % 8 != 0)
		violation(o, "ksize() is no class size or below the request");
	else if (a % 8 != 0 ||
		 (cls == CLS_LARGE && a % PAGE_SIZE != 0) ||
		 (cls != CLS_LARGE && (o->usable & (o->usable - 1)) == 0 &&
		  a % o->usable != 0))
		violation(o, "misaligned object");
	else if ((flags & KM_ZERO) && !all_zero(o->p, o->size))
		violation(o, "KM_ZERO object not zero");
	else
		return true;
	return false;
}

/*
 * Count a kmalloc() that returned p and make p one of ours: checked,
 * counted live, patterned. False for NULL; a bad object is counted as a
 * violation, kept out of circulation and false too.
 */
static bool obj_take(void *p, uint32_t size, unsigned flags, uint64_t tag,
		     struct obj *o)
{
	atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	if (p == NULL)
		return false;
	*o = (struct obj){ .p = p, .size = size, .usable = (uint32_t)ksize(p),
			   .tag = tag };
	if (!obj_sane(o, flags))
		return false;
	o->cls = (unsigned)class_of_usable(o->usable);
	atomic_fetch_add_explicit(&live[o->cls], 1, memory_order_relaxed);
	fill(o);
	return true;
}

static void *kmalloc_in(enum ctx ctx, uint32_t size, unsigned flags)
{
	irqflags_t f;
	void *p;

	if (ctx != CTX_MASKED)
		return kmalloc(size, flags);
	f = irq_save();
	p = kmalloc(size, flags);
	irq_restore(f);
	return p;
}

/* Check the pattern, then kfree(). */
static void obj_free(const struct obj *o)
{
	size_t bad = first_broken_word(o);
	err_t e;

	if (bad < o->usable / 8)
		violation(o, "overwritten while live: word %zu is %#llx, not "
			  "%#llx", bad,
			  (unsigned long long)((uint64_t *)(void *)o->p)[bad],
			  (unsigned long long)pattern(o->tag, bad));
	atomic_fetch_sub_explicit(&live[o->cls], 1, memory_order_relaxed);
	if ((e = kfree(o->p)) != E_OK)
		violation(o, "kfree() returned %s", err_name(e));
	atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
}

/* ------------------------------------------------ the frozen world */

static _Atomic unsigned freeze_owner; /* 0, or the freezer's index + 1 */
static _Atomic uint64_t freeze_gen;   /* odd while a world is frozen */
static _Atomic unsigned irq_inside;   /* handlers in a heap call */

/*
 * A handler's heap calls, held off while a world is frozen. Dekker's
 * pattern with freeze(): the handler raises irq_inside then reads the
 * generation, freeze() makes it odd then reads irq_inside (all seq_cst),
 * so either the handler sees the freeze and stays out or freeze() sees
 * the handler and waits for it.
 */
static bool irq_hold_off(void)
{
	atomic_fetch_add(&irq_inside, 1);
	if (atomic_load(&freeze_gen) % 2 == 0)
		return false;
	atomic_fetch_sub(&irq_inside, 1);
	return true;
}

static void irq_done(void)
{
	atomic_fetch_sub(&irq_inside, 1);
}

/*
 * Wait out a freeze under way (call between heap calls, interrupts
 * enabled). parked_at names the generation waited out, so a freezer
 * never counts a thread that parked for an earlier freeze and is
 * leaving.
 */
static void maybe_park(struct worker *w)
{
	uint64_t g = atomic_load(&freeze_gen);
	int was;

	if (g % 2 == 0)
		return;
	was = atomic_load_explicit(&w->phase, memory_order_relaxed);
	set_phase(w, PH_PARKED);
	atomic_store(&w->parked_at, g);
	while (atomic_load(&freeze_gen) == g)
		cpu_relax();
	atomic_store(&w->parked_at, 0);
	set_phase(w, (enum phase)was);
}

/*
 * Stop every other thread between two heap calls and hold off every
 * handler's; one freezer at a time, the others park meanwhile. Spins with
 * interrupts enabled: a thread still inside the heap may be waiting for
 * this CPU to answer an IPI.
 */
static void freeze(struct worker *w)
{
	unsigned none = 0;
	uint64_t g;

	set_phase(w, PH_FREEZING);
	while (!atomic_compare_exchange_weak(&freeze_owner, &none,
					     w->index + 1)) {
		none = 0;
		maybe_park(w);
		cpu_relax();
	}
	g = atomic_fetch_add(&freeze_gen, 1) + 1;
	for (unsigned i = 0; i < opt.threads; i++)
		while (i != w->index && atomic_load(&workers[i].parked_at) != g)
			cpu_relax();
	while (atomic_load(&irq_inside) != 0)
		cpu_relax();
	set_phase(w, PH_FROZEN);
	atomic_fetch_add_explicit(&freezes, 1, memory_order_relaxed);
}

static void thaw(struct worker *w)
{
	atomic_store_explicit(&last_thaw_ns, monotonic_ns(),
			      memory_order_relaxed);
	atomic_fetch_add(&freeze_gen, 1);
	atomic_store(&freeze_owner, 0);
	set_phase(w, PH_RUN);
	progressed(w);
}

/* Frozen: what this program holds, per class, equals the heap's count,
   and the frames handed out since the start are the heap's growth. */
static void check_counts(const struct heap_stats *hs)
{
	struct frame_stats fs;
	int64_t heap_frames, frames;

	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		if ((int64_t)hs->cls[c].in_use != atomic_load(&live[c])) {
			violation(NULL, "class %u B: the heap has %llu objects in "
				  "use, we hold %lld", hs->cls[c].size,
				  (unsigned long long)hs->cls[c].in_use,
				  (long long)atomic_load(&live[c]));
		}
	if ((int64_t)hs->large_blocks != atomic_load(&live[CLS_LARGE])) {
		violation(NULL, "the heap has %llu large blocks, we hold %lld",
			  (unsigned long long)hs->large_blocks,
			  (long long)atomic_load(&live[CLS_LARGE]));
	}
	frame_get_stats(&fs);
	heap_frames = ((int64_t)hs->bytes - (int64_t)base_heap_bytes) /
		      (int64_t)PAGE_SIZE;
	frames = (int64_t)fs.allocated - (int64_t)base_allocated;
	if (frames != heap_frames) {
		violation(NULL, "%lld frames allocated since the start, the "
			  "heap grew by %lld", (long long)frames,
			  (long long)heap_frames);
	}
}

static uint64_t slab_free_objects(const struct heap_class_stats *c)
{
	uint64_t total = c->slabs * c->objects, off = c->in_use + c->cached;

	return total > off ? total - off : 0;
}

/* The order of a large block for size bytes. */
static unsigned large_order(size_t size)
{
	unsigned order = 0;

	while ((PAGE_SIZE << order) < size)
		order++;
	return order;
}

/*
 * Whether, frozen, heap.h obliges kmalloc(size) in ctx to succeed; `why`
 * says with what memory. Counts only what ctx surely reaches (the file's
 * head says what is left out and why).
 */
static bool must_succeed(uint32_t size, enum ctx ctx,
			 const struct heap_stats *hs, char *why, size_t len)
{
	bool small = size <= HEAP_MAX_SMALL;
	unsigned c = small ? class_for(size) : CLS_LARGE;
	unsigned order = small ? hs->cls[c].order : large_order(size);
	int largest = frame_largest_free_order();

	if (small && slab_free_objects(&hs->cls[c]) > 0) {
		snprintf(why, len, "class %u B has %llu free objects on slabs",
			 hs->cls[c].size,
			 (unsigned long long)slab_free_objects(&hs->cls[c]));
		return true;
	}
	if (small && ctx == CTX_TASK && hs->cls[c].cached > 0) {
		snprintf(why, len, "class %u B has %llu objects in CPUs' caches "
			 "and reserves", hs->cls[c].size,
			 (unsigned long long)hs->cls[c].cached);
		return true;
	}
	if (largest >= (int)order) {
		snprintf(why, len, "the buddies have a free order-%d block, "
			 "order %u needed", largest, order);
		return true;
	}
	for (unsigned j = 0; j < HEAP_CLASSES; j++)
		if (hs->cls[j].empty > 0 && hs->cls[j].order >= order) {
			snprintf(why, len, "class %u B has %llu empty order-%u "
				 "slabs, order %u needed", hs->cls[j].size,
				 (unsigned long long)hs->cls[j].empty,
				 hs->cls[j].order, order);
			return true;
		}
	return false;
}

/* The frozen-world repeat in interrupt context (HOST_IRQ_TEST). */
static void probe_irq(unsigned vector)
{
	struct irq_stash *s = &stashes[cpu_id()];

	(void)vector;
	s->probe_result = kmalloc(s->probe_size, s->probe_flags);
}

static void *kmalloc_frozen(enum ctx ctx, uint32_t size, unsigned flags)
{
	struct irq_stash *s = &stashes[cpu_id()];

	if (ctx != CTX_IRQ)
		return kmalloc_in(ctx, size, flags);
	s->probe_size = size;
	s->probe_flags = flags;
	s->probe_result = NULL;
	if (host_irq_raise_self(HOST_IRQ_TEST) != E_OK)
		violation(NULL, "cannot raise the probe interrupt");
	return s->probe_result; /* the handler ran before the raise returned */
}

static const char *ctx_name(enum ctx ctx)
{
	return ctx == CTX_TASK ? "task" : ctx == CTX_MASKED ? "masked" : "irq";
}

static void keep(struct worker *w, const struct obj *o)
{
	if (w->n < HOLD)
		w->held[w->n++] = *o;
	else
		obj_free(o);
}

/*
 * Frozen: the heap's invariants and our counts; then, if the state
 * obliges it, kmalloc(size) in ctx, whose NULL is a null_while_free.
 */
static void frozen_checks(struct worker *w, uint32_t size, unsigned flags,
			  enum ctx ctx)
{
	struct heap_stats hs;
	char why[160];
	struct obj o;

	/* Once it failed, it would fail (and log) at every later freeze. */
	if (!atomic_load(&invalid_seen) && !heap_validate()) {
		atomic_store(&invalid_seen, true);
		violation(NULL, "heap_validate() failed in a frozen world (no "
			  "longer called until the end)");
	}
	heap_get_stats(&hs);
	check_counts(&hs);
	if (!must_succeed(size, ctx, &hs, why, sizeof(why)))
		return;
	atomic_fetch_add_explicit(&repeats, 1, memory_order_relaxed);
	if (obj_take(kmalloc_frozen(ctx, size, flags), size, flags,
		     rng_next(&w->rng), &o)) {
		keep(w, &o);
		return;
	}
	klog("heap_stress: NULL WHILE FREE: kmalloc(%u, %#x) in %s context "
	     "returned NULL in a frozen world where %s", size, flags,
	     ctx_name(ctx), why);
	atomic_fetch_add(&null_while_free, 1);
}

static void judge_in_frozen_world(struct worker *w, uint32_t size,
				  unsigned flags, enum ctx ctx)
{
	freeze(w);
	frozen_checks(w, size, flags, ctx);
	thaw(w);
}

/* A NULL met in the running world: judged, unless a freeze just ended. */
static void judge_null(struct worker *w, uint32_t size, unsigned flags,
		       enum ctx ctx)
{
	if (monotonic_ns() - atomic_load_explicit(&last_thaw_ns,
						  memory_order_relaxed) <
	    JUDGE_GAP_NS) {
		atomic_fetch_add_explicit(&unjudged, 1, memory_order_relaxed);
		return;
	}
	judge_in_frozen_world(w, size, flags, ctx);
}

/* Every CHECK_NS, one thread freezes the world to check it and makes a
   random request there. */
static void periodic_check(struct worker *w, uint64_t r)
{
	uint64_t now = monotonic_ns(), due = atomic_load(&next_check_ns);

	if (now < due || !atomic_compare_exchange_strong(&next_check_ns, &due,
							 now + CHECK_NS))
		return;
	judge_in_frozen_world(w, pick_size(r), 0, (enum ctx)((r >> 8) % 3));
}

/* ------------------------------------------------------- interrupts */

/*
 * A handler's NULL: unforced if its thread was in no kmalloc(), so that
 * the CPU was in no rescue; else its thread repeats it in a frozen world.
 */
static void irq_null(struct irq_stash *s, uint32_t size, unsigned flags,
		     uint64_t refused)
{
	bool in_kmalloc = atomic_load_explicit(&s->w->phase,
					       memory_order_relaxed) ==
			  PH_KMALLOC;

	atomic_fetch_add(&nulls, 1);
	atomic_fetch_add(&irq_nulls, 1);
	if (!in_kmalloc && unforced_null(size, flags, "irq", refused))
		return;
	if (s->null_size == 0) {
		s->null_size = size;
		s->null_flags = flags;
	}
}

/* Free the oldest stashed object or allocate one, at random (not both:
   the pair would leave the CPU's cache as it was and hide a race). */
static void irq_work(struct irq_stash *s)
{
	uint64_t r = rng_next(&s->rng);
	uint32_t size = pick_size(r);
	unsigned flags = (r >> 4) % 8 == 0 ? KM_ZERO : 0;
	uint64_t refused = refusals();
	void *p;

	atomic_fetch_add_explicit(&irq_ops, 1, memory_order_relaxed);
	if (s->n == IRQ_STASH || (s->n > 0 && r % 2 == 0)) {
		obj_free(&s->o[0]);
		memmove(&s->o[0], &s->o[1], (s->n - 1) * sizeof(s->o[0]));
		s->n--;
		return;
	}
	s->frames_forbidden = s->inside_rescue;
	p = kmalloc(size, flags);
	s->frames_forbidden = false;
	if (obj_take(p, size, flags, r, &s->o[s->n]))
		s->n++;
	else if (p == NULL)
		irq_null(s, size, flags, refused);
}

static void timer_irq(unsigned vector)
{
	struct irq_stash *s = &stashes[cpu_id()];

	(void)vector;
	if (!s->active || irq_hold_off())
		return;
	atomic_store_explicit(&s->in_heap, true, memory_order_relaxed);
	irq_work(s);
	atomic_store_explicit(&s->in_heap, false, memory_order_relaxed);
	irq_done();
}

/*
 * The pause-point hook (kernel/lib/pause.h): with --irq, one heap pause
 * point in STEP_IRQ_ONE_IN gets a timer interrupt at that very step. One
 * that is masked there runs at the unmasking irq_restore(), as a device
 * interrupt would; one at RESCUE_POINT runs at once, inside the rescue.
 * Not from a handler: the step would be the handler's, and one interrupt
 * inside another is what the host cannot deliver anyway.
 */
static void step_irq(const char *point, void *arg)
{
	struct irq_stash *s;
	bool rescue;

	(void)arg;
	if (strncmp(point, "heap.", 5) != 0 || in_irq())
		return;
	s = &stashes[cpu_id()];
	if (!s->active || rng_next(&s->step_rng) % STEP_IRQ_ONE_IN != 0)
		return;
	rescue = strcmp(point, RESCUE_POINT) == 0 && irqs_enabled();
	s->inside_rescue = rescue;
	atomic_signal_fence(memory_order_seq_cst); /* before the handler */
	if (host_irq_raise_self(HOST_IRQ_TIMER) != E_OK)
		violation(NULL, "cannot raise an interrupt at %s", point);
	atomic_signal_fence(memory_order_seq_cst);
	s->inside_rescue = false;
	atomic_fetch_add_explicit(&step_irqs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rescue_irqs, rescue, memory_order_relaxed);
}

/* Open (or close) this CPU's handler; closing frees what it kept. */
static void stash_set_active(struct worker *w, bool on)
{
	irqflags_t f = irq_save();
	struct irq_stash *s = &stashes[w->cpu];

	if (on) {
		s->w = w;
		s->n = 0;
		s->rng = seed_for(MAX_CPUS + w->cpu);
		s->step_rng = seed_for(2 * MAX_CPUS + w->cpu);
		s->inside_rescue = s->frames_forbidden = false;
		s->null_size = 0;
	}
	s->active = on && opt.irq;
	while (!on && s->n > 0)
		obj_free(&s->o[--s->n]);
	irq_restore(f);
}

/* A handler's NULL on this CPU, repeated in a frozen world. */
static void judge_irq_null(struct worker *w)
{
	struct irq_stash *s = &stashes[w->cpu];
	irqflags_t f = irq_save();
	uint32_t size = s->null_size;
	unsigned flags = s->null_flags;

	s->null_size = 0;
	irq_restore(f);
	if (size != 0)
		judge_null(w, size, flags, CTX_IRQ);
}

/* --------------------------------------------------------- threads */

static void alloc_one(struct worker *w, uint64_t r)
{
	uint32_t size = pick_size(r);
	unsigned flags = (r >> 4) % 8 == 0 ? KM_ZERO : 0;
	enum ctx ctx = (r >> 7) % 16 == 0 ? CTX_MASKED : CTX_TASK;
	uint64_t refused = refusals();
	void *p;

	set_phase(w, PH_KMALLOC);
	p = kmalloc_in(ctx, size, flags);
	set_phase(w, PH_RUN);
	progressed(w);
	if (obj_take(p, size, flags, r, &w->held[w->n])) {
		w->n++;
	} else if (p == NULL) {
		atomic_fetch_add(&nulls, 1);
		if (!unforced_null(size, flags, ctx_name(ctx), refused))
			judge_null(w, size, flags, ctx);
	}
}

static void release(struct worker *w, const struct obj *o)
{
	set_phase(w, PH_KFREE);
	obj_free(o);
	set_phase(w, PH_RUN);
	progressed(w);
}

/* Hand an object to another thread, or free it here if its mailbox is
   full. */
static void give_away(struct worker *w, const struct obj *o, uint64_t r)
{
	unsigned to = (w->index + 1 + (unsigned)(r % (opt.threads - 1))) %
		      opt.threads;
	struct mailbox *mb = &mailboxes[to];
	irqflags_t f = spin_lock_irqsave(&mb->lock);

	if (mb->n < MAILBOX) {
		mb->slot[mb->n++] = *o;
		spin_unlock_irqrestore(&mb->lock, f);
		return;
	}
	spin_unlock_irqrestore(&mb->lock, f);
	release(w, o);
}

static void free_one(struct worker *w, uint64_t r)
{
	unsigned i = (unsigned)((r >> 16) % w->n);
	struct obj o = w->held[i];

	w->held[i] = w->held[--w->n];
	if (opt.threads > 1 && (r >> 28) % 3 == 0)
		give_away(w, &o, r);
	else
		release(w, &o);
}

/* Free what others sent, a bounded batch at a time, never under the
   mailbox lock: kfree() may drain, and a drain must hold no lock. */
static void empty_mailbox(struct worker *w)
{
	struct mailbox *mb = &mailboxes[w->index];
	struct obj got[32];
	unsigned n;

	do {
		irqflags_t f = spin_lock_irqsave(&mb->lock);

		n = MIN(mb->n, (unsigned)ARRAY_SIZE(got));
		mb->n -= n;
		memcpy(got, &mb->slot[mb->n], n * sizeof(got[0]));
		spin_unlock_irqrestore(&mb->lock, f);
		for (unsigned i = 0; i < n; i++)
			release(w, &got[i]);
		atomic_fetch_add_explicit(&remote_frees, n,
					  memory_order_relaxed);
	} while (n == ARRAY_SIZE(got));
}

/* Now and then give memory back by hand, as kernel code may. */
static void maintain(struct worker *w, uint64_t r)
{
	if (r % 4096 != 1 && r % 16384 != 2)
		return;
	set_phase(w, PH_MAINTAIN);
	if (r % 4096 == 1)
		heap_drain_local();
	else
		(void)heap_reclaim();
	set_phase(w, PH_RUN);
	progressed(w);
}

static void work_loop(struct worker *w)
{
	for (uint64_t n = 0; !atomic_load_explicit(&stop, memory_order_relaxed);
	     n++) {
		uint64_t r = rng_next(&w->rng);

		maybe_park(w);
		judge_irq_null(w);
		if (w->n < HOLD && (w->n == 0 || r % 8 < 5))
			alloc_one(w, r);
		else
			free_one(w, r);
		if (r % 64 == 0)
			empty_mailbox(w);
		maintain(w, r);
		if (n % CLOCK_EVERY == 0)
			periodic_check(w, r);
	}
}

/* Wait until every thread has arrived at barrier `which`; meanwhile park
   for a freeze, as threads still in work_loop() may make one. */
static void rendezvous(struct worker *w, unsigned which)
{
	atomic_fetch_add(&arrived[which], 1);
	while (atomic_load(&arrived[which]) < opt.threads) {
		maybe_park(w);
		cpu_relax();
	}
}

/* Worker 0, everything freed, every other CPU online and answering
   IPIs: give every cache back and compare with the start. */
static void final_check(struct worker *w)
{
	struct frame_stats fs;

	set_phase(w, PH_FINAL);
	(void)heap_reclaim();
	result.valid = heap_validate();
	heap_get_stats(&result.hs);
	frame_get_stats(&fs);
	result.leaked_bytes = ((int64_t)fs.allocated - (int64_t)base_allocated) *
			      (int64_t)PAGE_SIZE;
	progressed(w);
}

static void cleanup(struct worker *w)
{
	set_phase(w, PH_CLEANUP);
	stash_set_active(w, false);
	while (w->n > 0)
		release(w, &w->held[--w->n]);
	rendezvous(w, 1); /* nobody sends mail after this */
	empty_mailbox(w);
	rendezvous(w, 2);
	if (w->index == 0)
		final_check(w);
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	int cpu = host_cpu_register();

	if (cpu < 0) {
		klog("heap_stress: cannot register a CPU");
		exit(1);
	}
	w->cpu = (unsigned)cpu;
	stash_set_active(w, true);
	if (opt.irq && host_timer_start(TIMER_NS) != E_OK) {
		klog("heap_stress: cannot start a timer");
		exit(1);
	}
	set_phase(w, PH_RUN);
	work_loop(w);
	host_timer_stop();
	rendezvous(w, 0); /* nobody freezes after this */
	cleanup(w);
	set_phase(w, PH_DONE);
	atomic_fetch_add(&finished, 1);
	/* Every CPU stays online until worker 0's final reclaim is done. */
	while (atomic_load(&finished) < opt.threads)
		cpu_relax();
	host_cpu_unregister();
	return NULL;
}

/* ---------------------------------------------------------- the end */

static void print_summary(const char *leaked)
{
	klog("heap_stress: budget_frames=%llu seed=%llu nulls=%llu "
	     "irq_nulls=%llu unjudged=%llu repeats=%llu freezes=%llu "
	     "irq_ops=%llu step_irqs=%llu rescue_irqs=%llu remote_frees=%llu "
	     "violations=%llu",
	     (unsigned long long)opt.budget, (unsigned long long)opt.seed,
	     (unsigned long long)atomic_load(&nulls),
	     (unsigned long long)atomic_load(&irq_nulls),
	     (unsigned long long)atomic_load(&unjudged),
	     (unsigned long long)atomic_load(&repeats),
	     (unsigned long long)atomic_load(&freezes),
	     (unsigned long long)atomic_load(&irq_ops),
	     (unsigned long long)atomic_load(&step_irqs),
	     (unsigned long long)atomic_load(&rescue_irqs),
	     (unsigned long long)atomic_load(&remote_frees),
	     (unsigned long long)atomic_load(&violations));
	printf("heap_stress threads=%u irq=%s ops=%llu null_while_free=%llu "
	       "leaked_bytes=%s\n", opt.threads, opt.irq ? "on" : "off",
	       (unsigned long long)atomic_load(&ops),
	       (unsigned long long)atomic_load(&null_while_free), leaked);
	fflush(stdout);
}

/* What the heap says at the end, beyond the leak: all clean? */
static bool heap_clean(const struct heap_stats *hs)
{
	bool ok = hs->large_blocks == 0 && hs->bad_frees == 0 &&
		  hs->poison_errors == 0;

	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		ok = ok && hs->cls[c].in_use == 0;
	klog("heap_stress: heap rescues=%llu reclaims=%llu reserve_used=%llu "
	     "nulls=%llu bad_frees=%llu poison_errors=%llu bytes=%llu",
	     (unsigned long long)hs->rescues, (unsigned long long)hs->reclaims,
	     (unsigned long long)hs->reserve_used,
	     (unsigned long long)hs->nulls, (unsigned long long)hs->bad_frees,
	     (unsigned long long)hs->poison_errors,
	     (unsigned long long)hs->bytes);
	if (!ok)
		klog("heap_stress: objects still in use, refused frees or "
		     "poison errors at the end");
	return ok;
}

static bool finish(void)
{
	char leaked[32];
	bool clean = heap_clean(&result.hs); /* logs the heap's counters */
	bool ok = result.valid && clean && result.leaked_bytes == 0 &&
		  atomic_load(&violations) == 0 &&
		  atomic_load(&null_while_free) == 0;

	if (!result.valid)
		klog("heap_stress: heap_validate() failed at the end");
	if (opt.irq && atomic_load(&irq_ops) == 0) {
		klog("heap_stress: --irq but no interrupt used the heap");
		ok = false;
	}
	/* Else HEP-03's check never ran: has RESCUE_POINT been renamed? */
	if (opt.irq && result.hs.rescues >= MIN_RESCUES &&
	    atomic_load(&rescue_irqs) == 0) {
		klog("heap_stress: %llu rescues, no interrupt inside one: is the "
		     "pause point " RESCUE_POINT " gone?",
		     (unsigned long long)result.hs.rescues);
		ok = false;
	}
	/* Else count (1) of null_while_free would see no refusal at all. */
	if (result.hs.rescues > 0 && atomic_load(&frame_calls) == 0) {
		klog("heap_stress: the heap got frames, none through "
		     "__wrap_frame_alloc_for: is the link's --wrap gone?");
		ok = false;
	}
	snprintf(leaked, sizeof(leaked), "%lld", (long long)result.leaked_bytes);
	print_summary(leaked);
	return ok;
}

/* No heap call completed for WATCHDOG_S: say who does what, and fail. */
static NORETURN void hung(void)
{
	klog("heap_stress: WATCHDOG: no thread completed a heap call for %d s",
	     WATCHDOG_S);
	for (unsigned i = 0; i < opt.threads; i++)
		klog("heap_stress: thread %u: %s", i,
		     phase_name[atomic_load(&workers[i].phase)]);
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
		if (atomic_load(&stashes[cpu].in_heap))
			klog("heap_stress: cpu %u: its timer handler is in a "
			     "heap call", cpu);
	print_summary("unknown");
	_exit(1);
}

static uint64_t total_progress(void)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < opt.threads; i++)
		sum += atomic_load_explicit(&workers[i].progress,
					    memory_order_relaxed);
	return sum;
}

/* The main thread: ends the run on time and watches for a hang. */
static void supervise(void)
{
	const struct stress_watch w = {
		.seconds = opt.seconds, .watchdog_s = WATCHDOG_S,
		.threads = opt.threads, .finished = &finished, .stop = &stop,
		.progress = total_progress, .hung = hung,
	};

	stress_supervise(&w);
}

/* ------------------------------------------------------------ start */

/* The class sizes, and the footprint everything is compared with. */
static void take_baseline(void)
{
	struct heap_stats hs;
	struct frame_stats fs;

	(void)heap_reclaim();
	heap_get_stats(&hs);
	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		class_size[c] = hs.cls[c].size;
	base_heap_bytes = hs.bytes;
	frame_get_stats(&fs);
	base_allocated = fs.allocated;
}

static err_t boot(void)
{
	static struct memmap map;
	err_t e;

	if ((e = host_arena_init(arena_bytes(opt.budget))) != E_OK)
		return e;
	if (host_cpu_register() < 0)
		return E_STATE;
	if ((e = boot_budget(opt.budget, &map)) != E_OK) /* heap included */
		return e;
	if ((e = host_irq_set_handler(HOST_IRQ_TIMER,
				      opt.irq ? timer_irq : NULL)) != E_OK ||
	    (e = host_irq_set_handler(HOST_IRQ_TEST, probe_irq)) != E_OK)
		return e;
	take_baseline();
	host_cpu_unregister(); /* main only supervises */
	return E_OK;
}

int main(int argc, char **argv)
{
	err_t e;

	parse(argc, argv);
	if ((e = boot()) != E_OK) {
		klog("heap_stress: cannot boot with %llu frames: %s",
		     (unsigned long long)opt.budget, err_name(e));
		return 1;
	}
	if (opt.irq)
		pause_set_hook(step_irq, NULL);
	for (unsigned i = 0; i < opt.threads; i++)
		spin_lock_init(&mailboxes[i].lock, "heap_stress.mailbox");
	atomic_store(&next_check_ns, monotonic_ns() + CHECK_NS);
	for (unsigned i = 0; i < opt.threads; i++) {
		workers[i].index = i;
		workers[i].rng = seed_for(i);
		if (pthread_create(&workers[i].thread, NULL, worker_main,
				   &workers[i]) != 0) {
			klog("heap_stress: pthread_create failed");
			return 1;
		}
	}
	supervise();
	for (unsigned i = 0; i < opt.threads; i++)
		pthread_join(workers[i].thread, NULL);
	return finish() ? 0 : 1;
}
