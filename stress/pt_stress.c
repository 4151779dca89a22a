/* SPDX-License-Identifier: MIT */
/*
 * pt_stress: page tables, cursors and address spaces (kernel/mm/pagetable.h,
 * cursor.h, vmspace.h) under contention, shootdowns, interrupts and forks,
 * on the host.
 *
 * Threads are CPUs; each runs a random mix of operations for the run:
 *
 *   (a) Cursors on one shared user table (the raw table, over a kernel
 *       table), whose flush is this program's (raw_flush(): an IPI to the
 *       CPUs whose TLB may hold its translations):
 *         - on the thread's private range (4 MiB, two 2 MiB chunks whose
 *           page directory its neighbours share): map 4 KiB pages, tracked
 *           or not, and 2 MiB tracked pages (with and without
 *           CURSOR_REPLACE, so a leaf of one kind replaces the other),
 *           unmap, protect, query, jump (inside and outside the barrier),
 *           move_forward, every result compared with an exact model
 *           (struct model); after the cursor, the range is walked and
 *           compared again, page by page;
 *         - on a shared area (16 MiB across a 1 GiB line) where every
 *           thread's cursors overlap: the same operations, each checked
 *           against what the cursor itself saw before (it holds its range
 *           alone), and scans that check every page's contents.
 *   (b) Address spaces: --spaces shared spaces that CPUs keep active
 *       (vmspace_activate(), switching now and then), so that every change
 *       is shot down on other CPUs:
 *         - a demand and copy region D: threads touch its pages through the
 *           software MMU (touch()) at once, read and write, unmap and
 *           protect parts of it;
 *         - a copy region H of 2 MiB and 4 KiB pages mapped and unmapped
 *           by anyone, touched by all: huge copy-on-write;
 *         - a slot per thread (M) where it alone maps tracked 4 KiB,
 *           untracked runs and tracked 2 MiB pages, unmaps and protects
 *           them (exact model, checked through the walk);
 *         - forks of the current space (vmspace_fork()), written on both
 *           sides (copy-on-write), then put or published in a child slot
 *           that other CPUs activate and touch too; a child replaced there
 *           is put once no CPU uses it.
 *   (c) Lock-free readers: the MMU's reads, of the raw table and of the
 *       current space, by threads and (--irq) by timer interrupts, which
 *       also allocate and free frames and heap objects. With --irq, more
 *       interrupts land at the cursors' and address spaces' pause points;
 *       now and then a thread yields there, to widen the protocol's
 *       windows.
 *   --squeeze: now and then one thread takes every free frame and gives
 *       them back slowly, so that operations run out of memory midway.
 *
 * The software MMU (mmu_access()). A translation and its access are one
 * step with interrupts masked, as an instruction is, so a shootdown waits
 * for it; a CPU reads only the space active on it (the current one) and
 * the raw table. Translations come from the CPU's TLB (struct tlb, --tlb
 * entries), filled by walks inside RCU read-side sections and used until
 * the CPU records a flush that covers them in the host's TLB event log:
 * a translation outlives its page-table entry exactly as long as the
 * kernel has not flushed it there.
 *
 * What is checked.
 *   - Copy-on-write: when a fault is about to copy a shared page
 *     (vmspace.cow.found), no CPU may still hold a writable translation
 *     to its frame: a store through it after the copy would be lost
 *     (tlb_check_cow()).
 *   - T13, flushed everywhere before freed: when a frame loses its last
 *     reference (the frame allocator's drop hook), and when an owner gives
 *     back a frame whose unmap returned, no CPU's TLB may still hold a
 *     translation to it (tlb_check_freed()). And every mapped page carries
 *     a tag in its first word, written through the direct map before it
 *     is mapped: tag_of(family, va); an owner writes POISON over it once
 *     its unmap returned. A read through the MMU must find its address's
 *     tag: POISON, or another address's tag, is a translation used after
 *     its flush, or a walk to the wrong frame.
 *   - Leaves: user, never global, 4 KiB or 2 MiB, aligned, copy-on-write
 *     never writable, tracked where they must be, and a tracked leaf's
 *     frame allocated with the leaf's order and referenced.
 *   - Region D: word k of a page is thread k's, each value carrying its
 *     writer's number; every other word stays zero (a demand frame is
 *     zeroed, a copy copies). Thread k's own word reads back exactly what
 *     it last wrote, in the parent and in children after forks, unless an
 *     unmap of that space may have run since (then it may be zero):
 *     unmaps_started/unmaps_finished bracket every unmap, so "started at
 *     the check == finished before the write" means no unmap overlapped.
 *     A child's write never shows in the parent (copy-on-write).
 *   - The exact models: every result code predicted (E_NOMEM allowed,
 *     changing nothing), the walk and the query equal to the model,
 *     contents written through the walk read back through the direct map,
 *     reference counts (a tracked frame: two while mapped, ours and the
 *     leaf's, one once the unmap returned; an untracked one: ours alone).
 *   - At the end: pt_validate() and vmspace_validate() clean, everything
 *     unmapped (the raw table back to its root alone) and put, rcu_drain(),
 *     heap_reclaim(), frame_validate(), and the frame allocator's free
 *     count back to its baseline.
 *   - A watchdog fails the run when no thread completes an operation for
 *     WATCHDOG_S seconds (a deadlock or livelock), naming what each thread
 *     was doing.
 *
 * One line on stdout at the end:
 *   pt_stress threads=N irq=on|off locking=tree|space ops=N faults=N
 *             forks=N shootdowns=N leaked_frames=N errors=N
 * Details go to stderr before it. Exit status 0 if every check held, 1
 * otherwise, 2 for bad flags.
 */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
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
#include "kernel/mm/vmspace.h"
#include "locks/spinlock.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define P4K (4 * KIB)
#define P2M (2 * MIB)
#define CHUNK_PAGES 512u /* 4 KiB pages in 2 MiB */
#define HUGE_ORDER 9u

/* The raw table's layout (tag family 0). */
#define PRIV_BASE   (1 * GIB)            /* thread i: + i * MODEL_LEN */
#define AREA_BASE   (8 * GIB - 8 * MIB)  /* the shared area: a 1 GiB line */
#define AREA_PAGES  4096u                /* 16 MiB */

/* Every address space's layout (tag family: the shared space's + 1). */
#define D_BASE      (4 * GIB - 256 * KIB) /* demand + copy: a 1 GiB line */
#define D_PAGES     128u
#define H_BASE      (16 * GIB)            /* copy region, 2 MiB pages */
#define H_CHUNKS    4u
#define M_BASE      (32 * GIB)            /* thread i's slot: + i * MODEL_LEN */

/* A model: a thread's private range, or its slot in a shared space. */
#define MODEL_CHUNKS 2u
#define MODEL_PAGES  (MODEL_CHUNKS * CHUNK_PAGES)
#define MODEL_LEN    (MODEL_PAGES * P4K)
#define MODEL_BLOCKS 32u /* untracked runs mapped at once */
#define RUN_ORDER    3u  /* an untracked run comes from an order-3 block */

#define MAX_SPACES  8u
#define CHILD_SLOTS 4u
#define TOUCH_TRIES 16u  /* faults before an access gives up (counted) */
#define STEPS_MAX   12u  /* operations under one cursor */
#define VERIFY_SAMPLE 32u
#define TASK_READS  32u
#define IRQ_READS   4u
#define IRQ_STASH   8u
#define TIMER_NS    (500 * 1000)
#define WATCHDOG_S  30
#define LOG_ERRORS  20
#define STEP_IRQ_ONE_IN 4u
#define STEP_YIELD_ONE_IN 16u
#define POISON UINT64_C(0xdead5a5adead5a5a) /* even: never a tag */
#define TLB_ENTRIES 16u /* at most, per CPU (--tlb) */
#define SQUEEZE_NS  (UINT64_C(250) * 1000 * 1000)

struct options {
	unsigned threads, seconds, spaces, mem_mib, tlb;
	bool irq, squeeze;
	enum pt_locking locking;
	uint64_t seed;
};

static struct options opt;

/* ------------------------------------------------------------ flags */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--threads N] [--seconds S] [--irq] [--seed X]\n"
		"          [--locking tree|space] [--spaces N] [--mem MIB]\n"
		"          [--squeeze] [--tlb N]\n"
		"  --threads N     threads, each a CPU (1..%d, default 8)\n"
		"  --seconds S     run time (1..86400, default 5)\n"
		"  --irq           timer interrupts allocate and free frames and\n"
		"                  heap objects and walk page tables lock-free;\n"
		"                  more land at the cursors' pause points\n"
		"  --seed X        random seed (default 1)\n"
		"  --locking L     tree: the per-node lock protocol (default);\n"
		"                  space: one lock per table (the baseline)\n"
		"  --spaces N      shared address spaces (1..%u, default 2)\n"
		"  --mem MIB       RAM to simulate (128..16384, default 512)\n"
		"  --squeeze       now and then take every free frame and give\n"
		"                  them back slowly: operations run out of\n"
		"                  memory midway\n"
		"  --tlb N         TLB entries per CPU (0..%u, default 8; 0: the\n"
		"                  MMU walks at every access)\n",
		prog, MAX_CPUS - 1, MAX_SPACES, TLB_ENTRIES);
	exit(2);
}

static void parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "irq", no_argument, NULL, 'i' },
		{ "seed", required_argument, NULL, 'r' },
		{ "locking", required_argument, NULL, 'l' },
		{ "spaces", required_argument, NULL, 'S' },
		{ "mem", required_argument, NULL, 'm' },
		{ "squeeze", no_argument, NULL, 'q' },
		{ "tlb", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	opt = (struct options){ .threads = 8, .seconds = 5, .spaces = 2,
				.mem_mib = 512, .tlb = 8, .locking = PT_LOCK_TREE,
				.seed = 1 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!parse_u64(optarg, 1, MAX_CPUS - 1, &v))
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
		case 'r':
			if (!parse_u64(optarg, 0, UINT64_MAX, &v))
				usage(argv[0]);
			opt.seed = v;
			break;
		case 'l':
			if (strcmp(optarg, "tree") == 0)
				opt.locking = PT_LOCK_TREE;
			else if (strcmp(optarg, "space") == 0)
				opt.locking = PT_LOCK_SPACE;
			else
				usage(argv[0]);
			break;
		case 'S':
			if (!parse_u64(optarg, 1, MAX_SPACES, &v))
				usage(argv[0]);
			opt.spaces = (unsigned)v;
			break;
		case 'm':
			if (!parse_u64(optarg, 128, 16384, &v))
				usage(argv[0]);
			opt.mem_mib = (unsigned)v;
			break;
		case 'q':
			opt.squeeze = true;
			break;
		case 'T':
			if (!parse_u64(optarg, 0, TLB_ENTRIES, &v))
				usage(argv[0]);
			opt.tlb = (unsigned)v;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
}

/* ------------------------------------------------------------ state */

/* What a thread is doing, for the watchdog's report. */
enum phase {
	PH_START, PH_RUN, PH_PRIV, PH_AREA, PH_SLOT, PH_TOUCH, PH_FAULT,
	PH_SPACE, PH_FORK, PH_SWITCH, PH_WAIT_USERS, PH_READ, PH_SQUEEZE,
	PH_CLEANUP, PH_WAIT_END, PH_FINAL, PH_DONE,
};

static const char *const phase_name[] = {
	"starting", "running", "in a cursor on its private range",
	"in a cursor on the shared area", "changing its slot",
	"in a user access", "in vmspace_fault",
	"changing a region", "in vmspace_fork",
	"in vmspace_activate", "waiting for a child slot's users to leave",
	"reading lock-free", "hoarding or giving back frames (--squeeze)",
	"unmapping what it holds",
	"waiting for the others to finish", "final checks", "done",
};
_Static_assert(ARRAY_SIZE(phase_name) == PH_DONE + 1, "a name per phase");

/* Where an address lies: what its page must hold. */
enum area { AREA_PRIV, AREA_SHARED, AREA_D, AREA_H, AREA_M };

/* A page of a model: absent (pa 0: no frame lies at 0, the first MiB is
   reserved), or mapped with prot, tracked (block < 0) or not. */
struct mpage {
	uint64_t pa;
	uint64_t prot;
	int block;
};

/* A block whose pages are mapped untracked (the thread frees it). */
struct block {
	uint64_t pa;
	unsigned order;
	unsigned mapped; /* its pages mapped now; 0: the entry is free */
};

/*
 * What one thread alone changes: its private range of the raw table, or
 * its slot in a shared space. Exact. Every frame it maps stays the
 * thread's too (a reference besides a tracked leaf's; an untracked
 * block's only one), given back, poisoned first, once the unmap that
 * cleared its last leaf returned (flushed).
 */
struct model {
	uint64_t base;    /* [I] */
	unsigned fam;     /* [I] tag family */
	bool huge[MODEL_CHUNKS];
	uint64_t huge_pa[MODEL_CHUNKS], huge_prot[MODEL_CHUNKS];
	struct mpage pg[MODEL_PAGES];
	struct block blocks[MODEL_BLOCKS];
	bool broken;      /* it disagreed once: no further comparisons */
};

/* A frame that lost its leaf, to poison and give back after the flush. */
struct pending {
	uint64_t pa;
	unsigned order;
	int block;        /* untracked: its block; else -1 */
};

/* A thread's knowledge of its own word in region D of one space. */
struct view {
	uint64_t gen;               /* child slots: the child it is about */
	uint64_t val[D_PAGES];      /* what it last wrote; 0: unknown */
	uint64_t fin[D_PAGES];      /* unmaps_finished before that write */
	bool maybe0[D_PAGES];       /* an unmap may have zeroed it since */
};

/*
 * An address space the threads share: a shared one ([I] vs, fam), or a
 * child slot, where a fork is published for others ([lock] vs, fam, gen,
 * replacing; users changed under lock, read by the replacer without).
 */
struct space {
	struct vmspace *vs;
	unsigned fam;
	_Atomic uint64_t unmaps_started, unmaps_finished; /* region D */
	spinlock_t lock;
	uint64_t gen;
	_Atomic unsigned users; /* threads that hold it, active or about to */
	bool replacing;
};

/* A thread. [I] set before it starts, [t] its own, [a] atomic. */
struct worker {
	pthread_t thread;             /* [I] */
	unsigned index;               /* [I] */
	unsigned cpu;                 /* [t] */
	uint64_t rng;                 /* [t] */
	uint64_t wseq;                /* [t] values written so far */
	struct space *cur;            /* [t] the space active here, or NULL */
	struct vmspace *cur_vs;       /* [t] its vmspace (a child slot's
					 may be emptied while we hold it) */
	int cur_slot;                 /* [t] cur's child slot, or -1 */
	struct model priv;            /* [t] */
	struct model slot[MAX_SPACES];/* [t] */
	struct view sview[MAX_SPACES];/* [t] */
	struct view cview[CHILD_SLOTS];/* [t] */
	struct view fview;            /* [t] a fork's child, before it is
					 published */
	unsigned npend;               /* [t] */
	/* [t] at most every page mapped at a cursor's start, and one
	   more per step under it */
	struct pending pend[MODEL_PAGES + MODEL_CHUNKS + STEPS_MAX];
	_Atomic uint64_t progress;    /* operations completed */
	_Atomic int phase;            /* enum phase */
} CACHE_ALIGNED;

/* What a CPU's timer handler holds: only that CPU touches it, by its
   handler or by its thread with interrupts masked. */
struct irq_stash {
	bool active;
	uint64_t rng;
	unsigned nf, no;
	struct {
		uint64_t pa, pat;
		unsigned order;
	} f[IRQ_STASH];
	struct {
		uint64_t *p, pat;
		size_t words;
	} o[IRQ_STASH];
} CACHE_ALIGNED;

static struct worker *workers;
static struct irq_stash stashes[MAX_CPUS];
/* CPUs whose TLB may hold translations of the raw table: set before a
   walk of it, cleared once its entries are dropped (tlb_drop_raw()). */
static _Atomic bool raw_loaded[MAX_CPUS];
/* The tag family of the space active on each CPU; 0 while it changes
   (activate()), when a handler must not read it. That CPU writes it. */
static _Atomic unsigned cur_fam[MAX_CPUS];

static struct pagetable kpt, upt; /* the kernel table, the raw table */
static struct space spaces[MAX_SPACES];
static struct space children[CHILD_SLOTS];
static _Atomic uint64_t child_gen;

static uint64_t base_free; /* [I] free frames at the start */
static pfn_t *hoard;       /* --squeeze: worker 0's */
static uint64_t hoard_cap; /* [I] */
static _Atomic uint64_t next_squeeze_ns;

static _Atomic bool stop;
static _Atomic unsigned arrived;
static _Atomic unsigned finished;
static _Atomic uint64_t ops, faults, forks, fork_nomem, raw_flushes, raw_ipis;
static _Atomic uint64_t space_shootdowns, space_ipis;
static _Atomic uint64_t nomem, gave_up, reads, irq_ops, irq_reads;
static _Atomic uint64_t step_irqs, yields, publishes, child_puts, squeezes;
static _Atomic uint64_t squeezed_maps;
static _Atomic uint64_t errors;

/* Written by worker 0 at the end, read by main after joining it. */
static struct {
	bool valid;
	int64_t leaked_frames;
} result;


/* A nonzero generator seed per stream (splitmix64 of seed and stream). */
static uint64_t seed_for(uint64_t stream)
{
	uint64_t z = opt.seed + (stream + 1) * UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return z != 0 ? z : 1;
}

/* Count a failed check; log the first LOG_ERRORS. Any context. */
static PRINTF_LIKE(1, 2) void error(const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&errors, 1);
	char what[320];
	va_list ap;

	if (n >= LOG_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	klog("pt_stress: ERROR: %s", what);
	if (n + 1 == LOG_ERRORS)
		klog("pt_stress: further errors are counted, not logged");
}

static void set_phase(struct worker *w, enum phase ph)
{
	atomic_store_explicit(&w->phase, (int)ph, memory_order_relaxed);
}

static void progressed(struct worker *w)
{
	atomic_fetch_add_explicit(&w->progress, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
}

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t rnd(struct worker *w)
{
	return rng_next(&w->rng);
}

static const char *en(err_t e)
{
	return err_name(e);
}

/* ------------------------------------------------- frames and tags */

/* The tag of the 4 KiB page at va in family fam: odd, never POISON. */
static uint64_t tag_of(unsigned fam, uint64_t va)
{
	uint64_t z = (va ^ ((uint64_t)fam << 52)) + UINT64_C(0x5851f42d4c957f2d);

	z = (z ^ (z >> 31)) * UINT64_C(0x9e3779b97f4a7c15);
	z ^= z >> 29;
	return z | 1;
}

/* Word i of the 4 KiB page at pa, through the direct map. Relaxed atomics:
   other CPUs read and write the same words (a race detector must see them
   as such; the order comes from the page tables and the shootdowns). */
static _Atomic uint64_t *word(uint64_t pa, unsigned i)
{
	return (_Atomic uint64_t *)phys_to_virt(PADDR(pa)) + i;
}

static uint64_t load(uint64_t pa, unsigned i)
{
	return atomic_load_explicit(word(pa, i), memory_order_relaxed);
}

static void store(uint64_t pa, unsigned i, uint64_t v)
{
	atomic_store_explicit(word(pa, i), v, memory_order_relaxed);
}

/* Tag the pages of the block at pa for [va, ...) in fam. */
static void tag_block(uint64_t pa, unsigned order, unsigned fam, uint64_t va)
{
	for (uint64_t j = 0; j < (UINT64_C(1) << order); j++)
		store(pa + j * P4K, 0, tag_of(fam, va + j * P4K));
}

/* A block of 2^order frames, or 0 (counted) without memory. */
static uint64_t new_block(unsigned order, unsigned flags)
{
	struct frame_result r = frame_alloc(order, flags);

	if (r.err != E_OK) {
		if (r.err != E_NOMEM)
			error("frame_alloc(%u) returned %s", order, en(r.err));
		count(&nomem);
		return 0;
	}
	return pfn_to_pa(r.pfn).v;
}

/* A block tagged for [va, ...) in fam, or 0 (counted). */
static uint64_t new_tagged(unsigned order, unsigned fam, uint64_t va,
			   unsigned flags)
{
	uint64_t pa = new_block(order, flags);

	if (pa != 0)
		tag_block(pa, order, fam, va);
	return pa;
}

static void poison(uint64_t pa, unsigned order)
{
	for (uint64_t j = 0; j < (UINT64_C(1) << order); j++)
		store(pa + j * P4K, 0, POISON);
}

static struct page *page_at(uint64_t pa)
{
	return pfn_to_page(pa_to_pfn(PADDR(pa)));
}

static void put_frame(uint64_t pa)
{
	err_t e = frame_put(page_at(pa));

	if (e != E_OK)
		error("frame_put(%#llx) returned %s", (unsigned long long)pa,
		      en(e));
}

/* ---------------------------------------------------- the raw flush */

struct raw_range {
	const struct flush_range *parts;
	unsigned n;
};

static bool raw_want(unsigned cpu, void *arg)
{
	(void)arg;
	return atomic_load(&raw_loaded[cpu]);
}

static void flush_parts(const struct flush_range *parts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		tlb_flush_range(parts[i].va, parts[i].len);
}

static void raw_flush_here(void *arg)
{
	const struct raw_range *r = arg;

	flush_parts(r->parts, r->n);
}

/*
 * The raw table's cursor flush: here, and on every CPU whose TLB may hold
 * its translations (raw_loaded), as vmspace.c's shootdown does for the
 * CPUs where a space is active. A CPU sets its flag (seq_cst) before it
 * walks the table, and this reads the flags after the cleared entries
 * (the fence): either it sees the flag, and that CPU flushes, or that
 * CPU's walk sees the cleared entry. A CPU clears its flag only after it
 * dropped its raw entries (tlb_drop_raw()).
 */
static void raw_flush_range(void *arg, const struct flush_range *parts,
			    unsigned n)
{
	struct raw_range r = { parts, n };

	(void)arg;
	count(&raw_flushes);
	flush_parts(parts, n);
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned c = 0; c < ncpus(); c++)
		if (c != cpu_id() && raw_want(c, NULL))
			count(&raw_ipis);
	smp_call_cond(raw_want, raw_flush_here, &r);
}

static const struct cursor_flush raw_flush = { raw_flush_range, NULL };

/* -------------------------------------------------- the software MMU */

/* The writer of a value in region D or H (values carry it). */
static uint64_t value_of(unsigned writer, uint64_t seq)
{
	return ((uint64_t)(writer + 1) << 48) | (seq & ((UINT64_C(1) << 48) - 1));
}

static unsigned writer_of(uint64_t v)
{
	return (unsigned)(v >> 48) - 1;
}

/* A leaf as the MMU found it at va: what any leaf here must be. */
static void check_leaf(pte_t e, unsigned level, uint64_t va, enum area area)
{
	uint64_t size = pt_entry_size(level), pa = pte_addr(e), st;
	bool tracked = e & PTE_TRACKED;

	if (level > 2 || !(e & PTE_U) || (e & PTE_G) ||
	    !IS_ALIGNED(pa, size) || pa + size > host_arena_size ||
	    ((e & PTE_COW) && (e & PTE_W)) ||
	    ((e & PTE_COW) && area != AREA_D && area != AREA_H) ||
	    (!tracked && area != AREA_M && area != AREA_PRIV)) {
		error("bad leaf %#llx at level %u for va %#llx (area %d)",
		      (unsigned long long)e, level, (unsigned long long)va,
		      (int)area);
		return;
	}
	if (!tracked)
		return;
	st = page_state(page_at(pa));
	if (ps_usage(st) != PAGE_FRAME || ps_ref(st) == 0 ||
	    ps_order(st) != (level == 1 ? 0 : HUGE_ORDER))
		error("the tracked leaf at va %#llx maps %#llx, which is no "
		      "referenced order-%u frame (state %#llx)",
		      (unsigned long long)va, (unsigned long long)pa,
		      level == 1 ? 0 : HUGE_ORDER, (unsigned long long)st);
}

/* The words of a region-D or H page: a writer's own, or zero. */
static void check_words(uint64_t pa, uint64_t va, unsigned first)
{
	for (unsigned i = first; i < PAGE_SIZE / 8; i++) {
		uint64_t x = load(pa, i);

		if (x == 0)
			continue;
		if (i - first >= opt.threads || writer_of(x) != i - first) {
			error("page %#llx (va %#llx): word %u is %#llx, written "
			      "by nobody who may write there",
			      (unsigned long long)pa, (unsigned long long)va, i,
			      (unsigned long long)x);
			return;
		}
	}
}

/* What the 4 KiB page at pa, which the MMU found for va (through its
   TLB if hit), must hold. */
static void check_page(uint64_t pa, uint64_t va, enum area area, unsigned fam,
		       bool hit)
{
	const char *how = hit ? " (a TLB hit)" : "";
	uint64_t want = tag_of(fam, va), x;

	if (area == AREA_D) {
		check_words(pa, va, 0);
		return;
	}
	x = load(pa, 0);
	if (x == POISON)
		error("va %#llx%s: its frame %#llx was poisoned: unmapped, "
		      "flushed and given back, yet still translated to (T13)",
		      (unsigned long long)va, how, (unsigned long long)pa);
	else if (x != want)
		error("va %#llx%s translates to %#llx, whose tag %#llx is not "
		      "the address's (%#llx): a stale or wrong translation",
		      (unsigned long long)va, how, (unsigned long long)pa,
		      (unsigned long long)x, (unsigned long long)want);
	else if (area == AREA_H)
		check_words(pa, va, 1);
}

/* ------------------------------------------------------- the TLB */

/*
 * Each CPU's TLB: translations the MMU (mmu_access()) filled and keeps
 * using, without walking, until its CPU records a flush that covers them
 * in the host's TLB event log (host.h), as a real TLB does. Not a cache
 * for speed: it lets a translation outlive the page-table entry it came
 * from for exactly as long as the kernel has not flushed it, so that a
 * frame freed, or reused, before every CPU flushed (T13) is read through
 * a stale entry, or seen by tlb_check_freed() when it is freed.
 *
 * An entry is written only by its CPU, with interrupts masked; other CPUs
 * read it (tlb_check_freed()) by its sequence count (odd while written).
 * It is trusted for TLB_MAX_AGE events of its CPU's log after its fill,
 * and dropped after that: the log keeps HOST_TLB_LOG_EVENTS, and
 * host_tlb_flushed() cannot answer for events it dropped.
 */
#define TLB_MAX_AGE (HOST_TLB_LOG_EVENTS / 2)

struct tlb_entry {
	_Atomic uint64_t seq;
	_Atomic uintptr_t pt;        /* 0: empty */
	_Atomic uint64_t va, size;   /* the page (4 KiB or 2 MiB) */
	_Atomic uint64_t pte;        /* the leaf */
	_Atomic uint64_t mark;       /* host_tlb_mark() before the walk */
	_Atomic uint64_t recorded;   /* its CPU's log length then */
	_Atomic unsigned area, fam;
};

struct tlb {
	struct tlb_entry e[TLB_ENTRIES];
	unsigned next;               /* the next victim */
} CACHE_ALIGNED;

/* An entry, read whole. */
struct tlb_snap {
	uintptr_t pt;
	uint64_t va, size, pte, mark, recorded;
	enum area area;
	unsigned fam;
};

static struct tlb tlbs[MAX_CPUS];

/* Entry e, consistent (false: empty or being written). Any CPU. */
static bool tlb_read(struct tlb_entry *e, struct tlb_snap *s)
{
	uint64_t seq = atomic_load_explicit(&e->seq, memory_order_acquire);

	if (seq % 2)
		return false;
	s->pt = atomic_load_explicit(&e->pt, memory_order_relaxed);
	s->va = atomic_load_explicit(&e->va, memory_order_relaxed);
	s->size = atomic_load_explicit(&e->size, memory_order_relaxed);
	s->pte = atomic_load_explicit(&e->pte, memory_order_relaxed);
	s->mark = atomic_load_explicit(&e->mark, memory_order_relaxed);
	s->recorded = atomic_load_explicit(&e->recorded, memory_order_relaxed);
	s->area = (enum area)atomic_load_explicit(&e->area,
						  memory_order_relaxed);
	s->fam = atomic_load_explicit(&e->fam, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	return s->pt != 0 &&
	       atomic_load_explicit(&e->seq, memory_order_relaxed) == seq;
}

/* Rewrite entry e (its CPU, interrupts masked); s->pt 0 empties it. */
static void tlb_write(struct tlb_entry *e, const struct tlb_snap *s)
{
	uint64_t seq = atomic_load_explicit(&e->seq, memory_order_relaxed);

	atomic_store_explicit(&e->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->pt, s->pt, memory_order_relaxed);
	atomic_store_explicit(&e->va, s->va, memory_order_relaxed);
	atomic_store_explicit(&e->size, s->size, memory_order_relaxed);
	atomic_store_explicit(&e->pte, s->pte, memory_order_relaxed);
	atomic_store_explicit(&e->mark, s->mark, memory_order_relaxed);
	atomic_store_explicit(&e->recorded, s->recorded, memory_order_relaxed);
	atomic_store_explicit(&e->area, s->area, memory_order_relaxed);
	atomic_store_explicit(&e->fam, s->fam, memory_order_relaxed);
	atomic_store_explicit(&e->seq, seq + 2, memory_order_release);
}

static void tlb_empty(struct tlb_entry *e)
{
	static const struct tlb_snap none = { 0 };

	tlb_write(e, &none);
}

/* Events CPU cpu has recorded in its log. Interrupts masked (the log's
   lock is taken by its CPU's handlers too). */
static uint64_t tlb_recorded(unsigned cpu)
{
	return host_tlb_log_read(cpu, NULL, 0);
}

/*
 * Whether CPU cpu still uses translation s: it recorded no flush that
 * covers it since its fill (and it is young enough to tell). A 2 MiB
 * page is flushed by its first address (the kernel steps by the page
 * size: MOM-02). Interrupts masked.
 */
static bool tlb_live(unsigned cpu, const struct tlb_snap *s)
{
	if (tlb_recorded(cpu) - s->recorded >= TLB_MAX_AGE)
		return false;
	return !host_tlb_flushed(cpu, s->va, s->mark, host_tlb_mark());
}

/*
 * The live entry of this CPU for va in pt, allowing the access, into *s;
 * false if none (dead entries, and one that forbids a write, are
 * dropped: the MMU walks again). Interrupts masked.
 */
static bool tlb_lookup(unsigned me, uintptr_t pt, uint64_t va, bool write,
		       struct tlb_snap *s)
{
	struct tlb *t = &tlbs[me];

	for (unsigned i = 0; i < opt.tlb; i++) {
		if (!tlb_read(&t->e[i], s) || s->pt != pt || va < s->va ||
		    va - s->va >= s->size)
			continue;
		if (tlb_live(me, s) && (!write || (s->pte & PTE_W)))
			return true;
		tlb_empty(&t->e[i]);
	}
	return false;
}

/* Keep translation s (replacing any other of the same address). */
static void tlb_fill(unsigned me, const struct tlb_snap *s)
{
	struct tlb *t = &tlbs[me];
	struct tlb_snap o;
	unsigned victim = t->next;

	if (opt.tlb == 0)
		return;
	for (unsigned i = 0; i < opt.tlb; i++)
		if (tlb_read(&t->e[i], &o) && o.pt == s->pt &&
		    o.va < s->va + s->size && s->va < o.va + o.size)
			tlb_empty(&t->e[i]);
	t->next = (victim + 1) % opt.tlb;
	tlb_write(&t->e[victim], s);
}

/* Drop this CPU's raw-table entries, then say so (raw_loaded). */
static void tlb_drop_raw(unsigned me)
{
	irqflags_t f = irq_save();
	struct tlb_snap s;

	for (unsigned i = 0; i < TLB_ENTRIES; i++)
		if (tlb_read(&tlbs[me].e[i], &s) && s.pt == (uintptr_t)&upt)
			tlb_empty(&tlbs[me].e[i]);
	atomic_store(&raw_loaded[me], false);
	irq_restore(f);
}

/* The first T13 report lists what CPU cpu flushed since mark. */
static void tlb_dump(unsigned cpu, uint64_t mark)
{
	static _Atomic bool dumped;
	static struct host_tlb_event ev[HOST_TLB_LOG_EVENTS];
	size_t n;

	if (atomic_exchange(&dumped, true))
		return;
	n = MIN(host_tlb_log_read(cpu, ev, ARRAY_SIZE(ev)), ARRAY_SIZE(ev));
	for (size_t i = 0; i < n; i++)
		if (ev[i].seq > mark)
			klog("pt_stress:   cpu %u flushed since: seq %llu op %d "
			     "va %#llx len %#llx", cpu,
			     (unsigned long long)ev[i].seq, (int)ev[i].op,
			     (unsigned long long)ev[i].va,
			     (unsigned long long)ev[i].len);
}

/*
 * The frames [pa, pa + bytes) lose their last mapping's reference, or
 * their owner gives them back after an unmap returned: no CPU may still
 * use a translation to them (T13: flushed everywhere before freed).
 */
static void tlb_check_freed(uint64_t pa, uint64_t bytes, const char *who)
{
	irqflags_t f = irq_save();

	for (unsigned cpu = 0; cpu < ncpus(); cpu++) {
		for (unsigned i = 0; i < TLB_ENTRIES; i++) {
			struct tlb_snap s;
			uint64_t at;

			if (!tlb_read(&tlbs[cpu].e[i], &s))
				continue;
			at = pte_addr(s.pte);
			if (at >= pa + bytes || pa >= at + s.size ||
			    !tlb_live(cpu, &s))
				continue;
			error("%s frame %#llx, yet CPU %u still translates va "
			      "%#llx to it (filled at mark %llu, no flush "
			      "since: T13)", who, (unsigned long long)pa, cpu,
			      (unsigned long long)s.va,
			      (unsigned long long)s.mark);
			tlb_dump(cpu, s.mark);
		}
	}
	irq_restore(f);
}

/*
 * A copy-on-write fault found its page (vmspace.cow.found: its cursor
 * holds the page, read-only and shared): no CPU may still write the
 * frame through a translation from before it was shared (the fork's
 * flush), or the copy about to be made would miss the write.
 */
static void tlb_check_cow(const struct vmspace *vs, uint64_t va)
{
	irqflags_t f = irq_save();
	unsigned level = 0;
	uint64_t pa, size;
	pte_t e;

	rcu_read_enter();
	e = pt_walk(&vs->pt, va, &level);
	rcu_read_exit();
	if (!pte_present(e) || !(e & PTE_COW)) {
		irq_restore(f);
		return;
	}
	pa = pte_addr(e);
	size = pt_entry_size(level);
	for (unsigned cpu = 0; cpu < ncpus(); cpu++) {
		for (unsigned i = 0; i < TLB_ENTRIES; i++) {
			struct tlb_snap s;
			uint64_t at;

			if (!tlb_read(&tlbs[cpu].e[i], &s) ||
			    !(s.pte & PTE_W))
				continue;
			at = pte_addr(s.pte);
			if (at >= pa + size || pa >= at + s.size ||
			    !tlb_live(cpu, &s))
				continue;
			{
				unsigned lv = 0;
				pte_t now;

				rcu_read_enter();
				now = pt_walk((const struct pagetable *)s.pt,
					      s.va, &lv);
				rcu_read_exit();
				error("copy-on-write of frame %#llx (va %#llx, "
				      "table %p, refs %u), yet CPU %u may still "
				      "write it through va %#llx of table %p "
				      "(filled at mark %llu, no flush since; "
				      "that table's entry now %#llx)",
				      (unsigned long long)pa,
				      (unsigned long long)va, (void *)&vs->pt,
				      frame_refcount(page_at(pa)), cpu,
				      (unsigned long long)s.va, (void *)s.pt,
				      (unsigned long long)s.mark,
				      (unsigned long long)now);
			}
			tlb_dump(cpu, s.mark);
		}
	}
	irq_restore(f);
}

/* The frame allocator's hook: a user frame's last reference is gone. */
static void on_frame_drop(struct page *p, unsigned order)
{
	tlb_check_freed(page_to_pa(p).v, PAGE_SIZE << order,
			"the last reference dropped to");
}

/* -------------------------------------------------- the software MMU */

/* A user access: its word, what to write, and what it found. */
struct access {
	bool write;
	unsigned word;
	uint64_t value; /* written */
	uint64_t got;   /* the word after the access */
};

/*
 * The MMU: translate va in pt (its TLB, else a walk that fills it) and
 * access the page, one step with interrupts masked (a shootdown waits
 * for it, as for an instruction), checking the leaf and the page. pt is
 * the raw table, or the space active on this CPU. False where the MMU
 * would fault (the walk found no leaf, or a read-only one for a write).
 */
static bool mmu_access(const struct pagetable *pt, uint64_t va,
		       enum area area, unsigned fam, struct access *a)
{
	irqflags_t f = irq_save();
	unsigned me = cpu_id();
	struct tlb_snap s;
	bool hit;

	hit = tlb_lookup(me, (uintptr_t)pt, va, a->write, &s);
	if (!hit) {
		unsigned level = 0;
		pte_t e;

		if (pt == &upt && !atomic_load(&raw_loaded[me])) {
			atomic_store(&raw_loaded[me], true);
			atomic_thread_fence(memory_order_seq_cst);
		}
		s.mark = host_tlb_mark(); /* before the walk: see tlb_live() */
		s.recorded = tlb_recorded(me);
		rcu_read_enter();
		e = pt_walk(pt, va, &level);
		rcu_read_exit();
		if (!pte_present(e) || (a->write && !(e & PTE_W))) {
			irq_restore(f);
			return false;
		}
		s.pt = (uintptr_t)pt;
		s.size = pt_entry_size(level);
		s.va = ALIGN_DOWN(va, s.size);
		s.pte = e;
		s.area = area;
		s.fam = fam;
		check_leaf(e, level, va, area);
		tlb_fill(me, &s);
	}
	{
		uint64_t page = pte_addr(s.pte) +
				ALIGN_DOWN(va - s.va, P4K);

		if (a->write)
			store(page, a->word, a->value);
		a->got = load(page, a->word);
		check_page(page, ALIGN_DOWN(va, P4K), area, fam, hit);
	}
	irq_restore(f);
	return true;
}

/* The fault this thread is in (vmspace_fault()), for the step hook. */
static _Thread_local const struct vmspace *fault_vs;
static _Thread_local uint64_t fault_va;

/*
 * A user access of va in vs (of family fam), which is active here: the
 * MMU, and vmspace_fault() where it faults. E_OK: done; E_BUSY: it
 * faulted TOUCH_TRIES times (counted: other CPUs kept unmapping the
 * page); else vmspace_fault()'s error.
 */
static err_t touch(struct worker *w, struct vmspace *vs, unsigned fam,
		   uint64_t va, enum area area, struct access *a)
{
	for (unsigned t = 0; t < TOUCH_TRIES; t++) {
		err_t e;

		if (mmu_access(&vs->pt, va, area, fam, a))
			return E_OK;
		set_phase(w, PH_FAULT);
		fault_vs = vs;
		fault_va = va;
		e = vmspace_fault(vs, va, a->write);
		fault_vs = NULL;
		set_phase(w, PH_TOUCH);
		if (e != E_OK)
			return e;
		count(&faults);
	}
	count(&gave_up);
	return E_BUSY;
}

/* ------------------------------------------------------- the models */

static uint64_t page_va(const struct model *m, unsigned i)
{
	return m->base + (uint64_t)i * P4K;
}

static bool chunk_has_small(const struct model *m, unsigned ch)
{
	for (unsigned i = ch * CHUNK_PAGES; i < (ch + 1) * CHUNK_PAGES; i++)
		if (m->pg[i].pa != 0)
			return true;
	return false;
}

/* What mapping a 4 KiB page at i must return. */
static err_t predict_map(const struct model *m, unsigned i, bool replace)
{
	if (m->huge[i / CHUNK_PAGES])
		return E_BUSY;
	if (m->pg[i].pa != 0)
		return replace ? E_OK : E_BUSY;
	return E_OK;
}

static err_t predict_map_huge(const struct model *m, unsigned ch,
			      bool replace)
{
	if (m->huge[ch])
		return replace ? E_OK : E_BUSY;
	return chunk_has_small(m, ch) ? E_BUSY : E_OK;
}

/* Unmap or protect [i0, i1): E_INVAL if a 2 MiB page reaches out. */
static err_t predict_range(const struct model *m, unsigned i0, unsigned i1)
{
	for (unsigned ch = i0 / CHUNK_PAGES; ch <= (i1 - 1) / CHUNK_PAGES; ch++)
		if (m->huge[ch] && (i0 > ch * CHUNK_PAGES ||
				    i1 < (ch + 1) * CHUNK_PAGES))
			return E_INVAL;
	return E_OK;
}

static void pend(struct worker *w, uint64_t pa, unsigned order, int block)
{
	w->pend[w->npend++] = (struct pending){ pa, order, block };
}

static void model_map(struct worker *w, struct model *m, unsigned i,
		      uint64_t pa, uint64_t prot, int block)
{
	if (m->pg[i].pa != 0) /* replaced */
		pend(w, m->pg[i].pa, 0, m->pg[i].block);
	m->pg[i] = (struct mpage){ pa, prot, block };
}

static void model_map_huge(struct worker *w, struct model *m, unsigned ch,
			   uint64_t pa, uint64_t prot)
{
	if (m->huge[ch])
		pend(w, m->huge_pa[ch], HUGE_ORDER, -1);
	m->huge[ch] = true;
	m->huge_pa[ch] = pa;
	m->huge_prot[ch] = prot;
}

static void model_unmap(struct worker *w, struct model *m, unsigned i0,
			unsigned i1)
{
	for (unsigned ch = i0 / CHUNK_PAGES; ch <= (i1 - 1) / CHUNK_PAGES;
	     ch++) {
		if (m->huge[ch]) {
			pend(w, m->huge_pa[ch], HUGE_ORDER, -1);
			m->huge[ch] = false;
		}
	}
	for (unsigned i = i0; i < i1; i++) {
		if (m->pg[i].pa != 0)
			pend(w, m->pg[i].pa, 0, m->pg[i].block);
		m->pg[i].pa = 0;
	}
}

static void model_protect(struct model *m, unsigned i0, unsigned i1,
			  uint64_t prot)
{
	for (unsigned ch = i0 / CHUNK_PAGES; ch <= (i1 - 1) / CHUNK_PAGES;
	     ch++)
		if (m->huge[ch])
			m->huge_prot[ch] = prot;
	for (unsigned i = i0; i < i1; i++)
		if (m->pg[i].pa != 0)
			m->pg[i].prot = prot;
}

/*
 * Frames whose leaves are gone and flushed: each holds our reference
 * alone now (tracked), or its block has no page mapped any more
 * (untracked). Poison, then give back: a reader still using a
 * translation to it would see the poison.
 */
static void settle(struct worker *w, struct model *m)
{
	for (unsigned k = 0; k < w->npend; k++) {
		const struct pending *p = &w->pend[k];

		tlb_check_freed(p->pa, PAGE_SIZE << p->order,
				"an unmap returned, its owner gives back the");
		if (p->block < 0) {
			uint32_t refs = frame_refcount(page_at(p->pa));

			if (refs != 1)
				error("frame %#llx: %u references after its "
				      "leaf was cleared and flushed, not 1 "
				      "(ours)", (unsigned long long)p->pa,
				      refs);
			poison(p->pa, p->order);
			put_frame(p->pa);
			continue;
		}
		if (--m->blocks[p->block].mapped > 0)
			continue;
		poison(m->blocks[p->block].pa, m->blocks[p->block].order);
		if (frame_free(pa_to_pfn(PADDR(m->blocks[p->block].pa)),
			       m->blocks[p->block].order) != E_OK)
			error("cannot free the untracked block %#llx",
			      (unsigned long long)m->blocks[p->block].pa);
	}
	w->npend = 0;
}

static PRINTF_LIKE(2, 3) void model_error(struct model *m, const char *fmt,
					  ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	error("model of [%#llx, +4 MiB) (family %u): %s",
	      (unsigned long long)m->base, m->fam, what);
	m->broken = true;
}

/* A result against the prediction. E_NOMEM may replace any: a cursor's
   descent may need a node before anything is checked. */
static bool as_predicted(struct model *m, const char *what, uint64_t va,
			 err_t got, err_t want)
{
	if (got == want)
		return true;
	if (got == E_NOMEM) {
		count(&nomem);
		return true;
	}
	model_error(m, "%s at %#llx returned %s, the model says %s", what,
		    (unsigned long long)va, en(got), en(want));
	return false;
}

/* The mapping q found at page i against the model. */
static void check_mapping(struct model *m, unsigned i,
			  const struct pt_mapping *q, const char *how)
{
	unsigned ch = i / CHUNK_PAGES;
	uint64_t va = page_va(m, i);
	const struct mpage *p = &m->pg[i];

	if (m->huge[ch]) {
		if (!q->present || q->size != P2M ||
		    q->va != page_va(m, ch * CHUNK_PAGES) ||
		    q->pa.v != m->huge_pa[ch] ||
		    q->prot != (m->huge_prot[ch] | PTE_U) || !q->tracked ||
		    q->cow)
			model_error(m, "%s at %#llx: present %d size %#llx pa "
				    "%#llx prot %#llx; the model has a 2 MiB "
				    "page at %#llx, prot %#llx", how,
				    (unsigned long long)va, q->present,
				    (unsigned long long)q->size,
				    (unsigned long long)q->pa.v,
				    (unsigned long long)q->prot,
				    (unsigned long long)m->huge_pa[ch],
				    (unsigned long long)m->huge_prot[ch]);
		return;
	}
	if (p->pa != 0) {
		if (!q->present || q->size != P4K || q->va != va ||
		    q->pa.v != p->pa || q->prot != (p->prot | PTE_U) ||
		    q->tracked != (p->block < 0) || q->cow)
			model_error(m, "%s at %#llx: present %d size %#llx pa "
				    "%#llx prot %#llx tracked %d; the model "
				    "has %#llx, prot %#llx, tracked %d", how,
				    (unsigned long long)va, q->present,
				    (unsigned long long)q->size,
				    (unsigned long long)q->pa.v,
				    (unsigned long long)q->prot, q->tracked,
				    (unsigned long long)p->pa,
				    (unsigned long long)p->prot, p->block < 0);
		return;
	}
	if (q->present) {
		model_error(m, "%s at %#llx: mapped to %#llx, the model has a "
			    "hole", how, (unsigned long long)va,
			    (unsigned long long)q->pa.v);
		return;
	}
	/* A hole: the absent entry's whole range is empty in the model. */
	if (q->size != P4K && q->size != P2M && q->size != GIB &&
	    q->size != 512 * GIB) {
		model_error(m, "%s at %#llx: a hole of size %#llx", how,
			    (unsigned long long)va, (unsigned long long)q->size);
		return;
	}
	if (q->va > va || va - q->va >= q->size) {
		model_error(m, "%s at %#llx: the hole [%#llx, +%#llx) does not "
			    "hold it", how, (unsigned long long)va,
			    (unsigned long long)q->va,
			    (unsigned long long)q->size);
		return;
	}
	for (unsigned j = 0; j < MODEL_PAGES; j++) {
		uint64_t v = page_va(m, j);

		if (v >= q->va && v - q->va < q->size &&
		    (m->pg[j].pa != 0 || m->huge[j / CHUNK_PAGES])) {
			model_error(m, "%s at %#llx: a hole [%#llx, +%#llx) "
				    "over the mapped page %#llx", how,
				    (unsigned long long)va,
				    (unsigned long long)q->va,
				    (unsigned long long)q->size,
				    (unsigned long long)v);
			return;
		}
	}
}

/* The walk's view of page i, as a pt_mapping. */
static struct pt_mapping walk_mapping(const struct pagetable *pt, uint64_t va)
{
	struct pt_mapping q = { 0 };
	unsigned level = 0;
	uint64_t size;
	pte_t e;

	rcu_read_enter();
	e = pt_walk(pt, va, &level);
	rcu_read_exit();
	if (!pte_present(e))
		return q;
	size = pt_entry_size(level);
	return (struct pt_mapping){
		.present = true, .va = ALIGN_DOWN(va, size), .size = size,
		.pa = PADDR(pte_addr(e)), .prot = pte_prot(e),
		.tracked = (e & PTE_TRACKED) != 0, .cow = (e & PTE_COW) != 0,
	};
}

/*
 * Page i as the MMU sees it, against the model; its contents through the
 * walk against the direct map of the frame we hold: the tag, and a word
 * written through the walk's address read back through the direct map.
 */
static void verify_page(struct worker *w, struct model *m,
			const struct pagetable *pt, unsigned i)
{
	uint64_t va = page_va(m, i), pa, sub;
	unsigned ch = i / CHUNK_PAGES;
	struct pt_mapping q = walk_mapping(pt, va);
	uint64_t v;

	if (m->broken)
		return;
	if (!q.present) { /* a walk's hole has no size: this page's */
		q.size = P4K;
		q.va = va;
	}
	check_mapping(m, i, &q, "the walk");
	if (m->broken || !q.present)
		return;
	pa = m->huge[ch] ? m->huge_pa[ch] : m->pg[i].pa;
	sub = m->huge[ch] ? (uint64_t)(i % CHUNK_PAGES) * P4K : 0;
	if (load(q.pa.v + sub, 0) != tag_of(m->fam, va))
		model_error(m, "page %#llx: tag %#llx through the walk, not "
			    "%#llx", (unsigned long long)va,
			    (unsigned long long)load(q.pa.v + sub, 0),
			    (unsigned long long)tag_of(m->fam, va));
	v = value_of(w->index, ++w->wseq);
	store(q.pa.v + sub, 1, v);
	if (load(pa + sub, 1) != v)
		model_error(m, "page %#llx: a word written through the walk "
			    "reads %#llx through the direct map, not %#llx",
			    (unsigned long long)va,
			    (unsigned long long)load(pa + sub, 1),
			    (unsigned long long)v);
	if ((m->huge[ch] ? i % CHUNK_PAGES == 0 : m->pg[i].block < 0) &&
	    frame_refcount(page_at(pa)) != 2)
		model_error(m, "page %#llx: frame %#llx has %u references, "
			    "not 2 (ours and the leaf's)",
			    (unsigned long long)va, (unsigned long long)pa,
			    frame_refcount(page_at(pa)));
	if (!m->huge[ch] && m->pg[i].block >= 0 &&
	    m->blocks[m->pg[i].block].pa == pa &&
	    frame_refcount(page_at(pa)) != 1)
		model_error(m, "page %#llx: untracked, yet its frame %#llx has "
			    "%u references, not 1 (ours)",
			    (unsigned long long)va, (unsigned long long)pa,
			    frame_refcount(page_at(pa)));
}

/* [i0, i1) page by page, and VERIFY_SAMPLE pages anywhere else. */
static void verify(struct worker *w, struct model *m,
		   const struct pagetable *pt, unsigned i0, unsigned i1)
{
	for (unsigned i = i0; i < i1 && !m->broken; i++)
		verify_page(w, m, pt, i);
	for (unsigned k = 0; k < VERIFY_SAMPLE && !m->broken; k++)
		verify_page(w, m, pt, (unsigned)(rnd(w) % MODEL_PAGES));
}

static uint64_t pick_prot(uint64_t r)
{
	static const uint64_t prots[] = { 0, PTE_W, PTE_NX, PTE_W | PTE_NX };

	return prots[r % ARRAY_SIZE(prots)];
}

/* A range of pages [*i0, *i1) of a model: one page, one or both chunks,
   or anything. */
static void pick_range(struct worker *w, unsigned *i0, unsigned *i1)
{
	uint64_t r = rnd(w);
	unsigned a, b;

	switch (r % 8) {
	case 0:
		a = (unsigned)((r >> 8) % MODEL_PAGES);
		b = a + 1;
		break;
	case 1:
		a = (unsigned)((r >> 8) % MODEL_CHUNKS) * CHUNK_PAGES;
		b = a + CHUNK_PAGES;
		break;
	case 2:
		a = 0;
		b = MODEL_PAGES;
		break;
	default:
		a = (unsigned)((r >> 8) % MODEL_PAGES);
		b = (unsigned)((r >> 24) % MODEL_PAGES);
		if (a > b) {
			unsigned t = a;

			a = b;
			b = t;
		}
		b++;
	}
	*i0 = a;
	*i1 = b;
}

/* ------------------------------ (a) cursors on the private range */

/* A free entry of m's blocks, or -1. */
static int free_block(struct model *m)
{
	for (unsigned b = 0; b < MODEL_BLOCKS; b++)
		if (m->blocks[b].mapped == 0)
			return (int)b;
	return -1;
}


/* A 4 KiB page, tracked or not (a frame of ours nobody counts), maybe
   replacing one of either kind: the reference the old leaf held is
   dropped or not by what the old entry was (NOE-03). */
static void priv_map(struct worker *w, struct cursor *c, unsigned lo,
		     unsigned hi)
{
	struct model *m = &w->priv;
	uint64_t r = rnd(w), prot = pick_prot(r >> 4);
	unsigned i = lo + (unsigned)((r >> 8) % (hi - lo));
	bool replace = r % 4 == 0;
	int blk = (r >> 32) % 3 == 0 ? free_block(m) : -1;
	err_t want = predict_map(m, i, replace), e;
	uint64_t pa;

	if ((e = cursor_jump(c, page_va(m, i))) != E_OK) {
		model_error(m, "cursor_jump inside the barrier: %s", en(e));
		return;
	}
	if ((pa = new_tagged(0, m->fam, page_va(m, i), 0)) == 0)
		return;
	e = cursor_map(c, PADDR(pa), prot,
		       (blk < 0 ? CURSOR_TRACKED : 0) |
			       (replace ? CURSOR_REPLACE : 0));
	if (!as_predicted(m, "cursor_map", page_va(m, i), e, want) ||
	    e != E_OK) {
		put_frame(pa);
		return;
	}
	if (blk >= 0)
		m->blocks[blk] = (struct block){ pa, 0, 1 };
	model_map(w, m, i, pa, prot, blk);
	if (c->va != page_va(m, i) + P4K)
		model_error(m, "cursor_map did not advance by 4 KiB");
}

static void priv_map_huge(struct worker *w, struct cursor *c, unsigned lo,
			  unsigned hi)
{
	struct model *m = &w->priv;
	uint64_t r = rnd(w), prot = pick_prot(r >> 4), pa;
	unsigned ch = (unsigned)((r >> 8) % MODEL_CHUNKS), i = ch * CHUNK_PAGES;
	bool replace = r % 4 == 0;
	err_t want, e;

	if (i < lo || i + CHUNK_PAGES > hi)
		return; /* not inside the barrier */
	want = predict_map_huge(m, ch, replace);
	if ((e = cursor_jump(c, page_va(m, i))) != E_OK) {
		model_error(m, "cursor_jump inside the barrier: %s", en(e));
		return;
	}
	if ((pa = new_tagged(HUGE_ORDER, m->fam, page_va(m, i), 0)) == 0)
		return;
	e = cursor_map_huge(c, PADDR(pa), prot,
			    CURSOR_TRACKED | (replace ? CURSOR_REPLACE : 0));
	if (!as_predicted(m, "cursor_map_huge", page_va(m, i), e, want) ||
	    e != E_OK) {
		put_frame(pa);
		return;
	}
	model_map_huge(w, m, ch, pa, prot);
}

/* Unmap or protect a random part of [lo, hi). */
static void priv_range(struct worker *w, struct cursor *c, unsigned lo,
		       unsigned hi, bool unmap)
{
	struct model *m = &w->priv;
	uint64_t r = rnd(w), prot = pick_prot(r >> 4);
	unsigned i0 = lo + (unsigned)((r >> 8) % (hi - lo));
	unsigned i1 = i0 + 1 + (unsigned)((r >> 24) % (hi - i0));
	err_t want = predict_range(m, i0, i1), e;
	uint64_t len = (uint64_t)(i1 - i0) * P4K;

	if (r % 4 == 0) { /* the whole barrier */
		i0 = lo;
		i1 = hi;
		len = (uint64_t)(hi - lo) * P4K;
		want = predict_range(m, i0, i1);
	}
	if ((e = cursor_jump(c, page_va(m, i0))) != E_OK) {
		model_error(m, "cursor_jump inside the barrier: %s", en(e));
		return;
	}
	e = unmap ? cursor_unmap(c, len) : cursor_protect(c, len, prot);
	if (!as_predicted(m, unmap ? "cursor_unmap" : "cursor_protect",
			  page_va(m, i0), e, want))
		return;
	if (e != E_OK) {
		if (c->va != page_va(m, i0))
			model_error(m, "a failed operation moved the cursor");
		return;
	}
	if (c->va != page_va(m, i0) + len)
		model_error(m, "the position is %#llx after [%#llx, +%#llx)",
			    (unsigned long long)c->va,
			    (unsigned long long)page_va(m, i0),
			    (unsigned long long)len);
	if (unmap)
		model_unmap(w, m, i0, i1);
	else
		model_protect(m, i0, i1, prot);
}

/* query, jump (out of the barrier too) and move_forward. */
static void priv_move(struct worker *w, struct cursor *c, unsigned lo,
		      unsigned hi)
{
	struct model *m = &w->priv;
	uint64_t r = rnd(w), pos, next;
	unsigned i = lo + (unsigned)((r >> 8) % (hi - lo));
	struct pt_mapping q;
	err_t e;

	if (cursor_jump(c, page_va(m, hi)) != E_RANGE ||
	    cursor_jump(c, page_va(m, lo) - P4K) != E_RANGE ||
	    cursor_jump(c, page_va(m, i) + 8) != E_INVAL)
		model_error(m, "cursor_jump out of the barrier [%#llx, %#llx) "
			    "or unaligned did not fail",
			    (unsigned long long)page_va(m, lo),
			    (unsigned long long)page_va(m, hi));
	if ((e = cursor_jump(c, page_va(m, i))) != E_OK) {
		model_error(m, "cursor_jump inside the barrier: %s", en(e));
		return;
	}
	for (unsigned k = 0; k < 1 + (r >> 40) % 8 && !m->broken; k++) {
		pos = c->va;
		if (pos == c->end) {
			if (cursor_move_forward(c) != E_RANGE)
				model_error(m, "move_forward at the end did "
					    "not fail");
			return;
		}
		q = cursor_query(c);
		check_mapping(m, (unsigned)((pos - m->base) / P4K), &q,
			      "cursor_query");
		next = MIN(q.va + q.size, c->end);
		if ((e = cursor_move_forward(c)) != E_OK || c->va != next ||
		    c->va <= pos)
			model_error(m, "move_forward from %#llx: %s, at %#llx, "
				    "not %#llx", (unsigned long long)pos,
				    en(e), (unsigned long long)c->va,
				    (unsigned long long)next);
	}
}

static void priv_op(struct worker *w)
{
	struct model *m = &w->priv;
	unsigned lo, hi, steps = 1 + (unsigned)(rnd(w) % STEPS_MAX);
	struct cursor c;
	err_t e;

	if (m->broken)
		return;
	pick_range(w, &lo, &hi);
	set_phase(w, PH_PRIV);
	e = cursor_new(&c, &upt, page_va(m, lo), page_va(m, hi), &raw_flush);
	if (e != E_OK) {
		if (e == E_NOMEM)
			count(&nomem);
		else
			error("cursor_new on a private range: %s", en(e));
		return;
	}
	for (unsigned k = 0; k < steps && !m->broken; k++) {
		switch (rnd(w) % 8) {
		case 0:
		case 1:
		case 2:
			priv_map(w, &c, lo, hi);
			break;
		case 3:
			priv_map_huge(w, &c, lo, hi);
			break;
		case 4:
			priv_range(w, &c, lo, hi, true);
			break;
		case 5:
			priv_range(w, &c, lo, hi, false);
			break;
		default:
			priv_move(w, &c, lo, hi);
		}
	}
	cursor_drop(&c);
	settle(w, m);
	verify(w, m, &upt, lo, hi);
}

/* ---------------------------- (a) cursors on the shared area */

static uint64_t area_va(unsigned i)
{
	return AREA_BASE + (uint64_t)i * P4K;
}

/* Move the cursor to va, inside its barrier. */
static void jump(struct cursor *c, uint64_t va)
{
	err_t e = cursor_jump(c, va);

	if (e != E_OK)
		error("cursor_jump(%#llx) inside [%#llx, %#llx): %s",
		      (unsigned long long)va, (unsigned long long)c->start,
		      (unsigned long long)c->end, en(e));
}

/* The mapping at va under the cursor (the position is kept). */
static struct pt_mapping query_at(struct cursor *c, uint64_t va)
{
	uint64_t pos = c->va;
	struct pt_mapping q;

	jump(c, va);
	q = cursor_query(c);
	if (pos < c->end)
		jump(c, pos);
	return q;
}

/* A leaf the cursor holds, and its page's contents. */
static void area_check(const struct pt_mapping *q, uint64_t va)
{
	uint64_t sub = ALIGN_DOWN(va - q->va, P4K), st;

	if (!q->tracked || q->cow || !(q->prot & PTE_U) || (q->prot & PTE_G) ||
	    !IS_ALIGNED(q->pa.v, q->size) ||
	    (q->size != P4K && q->size != P2M)) {
		error("shared area: bad mapping at %#llx: pa %#llx size %#llx "
		      "prot %#llx tracked %d cow %d", (unsigned long long)va,
		      (unsigned long long)q->pa.v, (unsigned long long)q->size,
		      (unsigned long long)q->prot, q->tracked, q->cow);
		return;
	}
	st = page_state(page_at(q->pa.v));
	if (ps_usage(st) != PAGE_FRAME || ps_ref(st) != 1)
		error("shared area: the frame at %#llx (va %#llx) has state "
		      "%#llx: not one reference, the leaf's",
		      (unsigned long long)q->pa.v, (unsigned long long)va,
		      (unsigned long long)st);
	check_page(q->pa.v + sub, ALIGN_DOWN(va, P4K), AREA_SHARED, 0, false);
}

/* Every page of [a, b) (pages) absent, or (prot) mapped with prot. */
static void area_scan(struct cursor *c, unsigned a, unsigned b, bool absent,
		      uint64_t prot, const char *after)
{
	if (cursor_jump(c, area_va(a)) != E_OK)
		return;
	while (c->va < area_va(b)) {
		struct pt_mapping q = cursor_query(c);

		if (q.present) {
			if (absent || (prot != UINT64_MAX &&
				       q.prot != (prot | PTE_U)))
				error("shared area after %s: page %#llx "
				      "mapped, prot %#llx", after,
				      (unsigned long long)c->va,
				      (unsigned long long)q.prot);
			area_check(&q, c->va);
		}
		if (cursor_move_forward(c) != E_OK)
			break;
	}
}

static void area_map(struct worker *w, struct cursor *c, unsigned a,
		     unsigned b, bool huge)
{
	uint64_t r = rnd(w), prot = pick_prot(r >> 4), pa, va;
	unsigned i = a + (unsigned)((r >> 8) % (b - a));
	bool replace = r % 4 == 0;
	struct pt_mapping q;
	err_t e, want;

	if (huge) {
		i = (unsigned)ALIGN_UP(i, CHUNK_PAGES);
		if (i + CHUNK_PAGES > b)
			return;
	}
	va = area_va(i);
	q = query_at(c, va);
	if (q.present)
		want = replace && q.size == (huge ? P2M : P4K) ? E_OK : E_BUSY;
	else
		want = E_OK; /* but a 2 MiB page over an empty table: below */
	if ((pa = new_tagged(huge ? HUGE_ORDER : 0, 0, va, 0)) == 0)
		return;
	jump(c, va);
	e = huge ? cursor_map_huge(c, PADDR(pa), prot,
				   CURSOR_TRACKED |
					   (replace ? CURSOR_REPLACE : 0))
		 : cursor_map(c, PADDR(pa), prot,
			      CURSOR_TRACKED | (replace ? CURSOR_REPLACE : 0));
	put_frame(pa); /* the leaf's reference, or none: freed */
	if (e == E_NOMEM && want == E_OK) {
		count(&nomem);
		return;
	}
	if (huge && e == E_BUSY && !q.present && q.size == P4K) {
		/* A page table there: E_BUSY iff a page inside is mapped. */
		for (unsigned j = i; j < i + CHUNK_PAGES; j++)
			if (query_at(c, area_va(j)).present)
				return;
		error("shared area: cursor_map_huge at %#llx: E_BUSY over an "
		      "empty 2 MiB", (unsigned long long)va);
		return;
	}
	if (e != want) {
		error("shared area: %s at %#llx returned %s, not %s; the "
		      "cursor saw present %d size %#llx there (replace %d)",
		      huge ? "cursor_map_huge" : "cursor_map",
		      (unsigned long long)va, en(e), en(want), q.present,
		      (unsigned long long)q.size, replace);
		return;
	}
	if (e != E_OK)
		return;
	q = query_at(c, va);
	if (!q.present || q.pa.v != pa || q.va != va ||
	    q.size != (huge ? P2M : P4K) || q.prot != (prot | PTE_U))
		error("shared area: after mapping %#llx at %#llx the cursor "
		      "finds %#llx (present %d size %#llx prot %#llx)",
		      (unsigned long long)pa, (unsigned long long)va,
		      (unsigned long long)q.pa.v, q.present,
		      (unsigned long long)q.size, (unsigned long long)q.prot);
	else
		area_check(&q, va);
}

/* Whether the page at va is inside a 2 MiB page reaching out of
   [lo, hi) (only the first and the last page can be). */
static bool reaches_out(struct cursor *c, uint64_t va, uint64_t lo,
			uint64_t hi)
{
	struct pt_mapping q = query_at(c, va);

	return q.present && (q.va < lo || q.va + q.size > hi);
}

static void area_range(struct worker *w, struct cursor *c, unsigned a,
		       unsigned b, bool unmap)
{
	uint64_t r = rnd(w), prot = pick_prot(r >> 4);
	unsigned i0 = a + (unsigned)((r >> 8) % (b - a));
	unsigned i1 = i0 + 1 + (unsigned)((r >> 24) % (b - i0));
	uint64_t lo = area_va(i0), hi = area_va(i1);
	err_t want, e;

	want = reaches_out(c, lo, lo, hi) || reaches_out(c, hi - P4K, lo, hi)
		       ? E_INVAL
		       : E_OK;
	jump(c, lo);
	e = unmap ? cursor_unmap(c, hi - lo) : cursor_protect(c, hi - lo, prot);
	if (e != want) {
		error("shared area: %s [%#llx, %#llx) returned %s, expected %s",
		      unmap ? "cursor_unmap" : "cursor_protect",
		      (unsigned long long)lo, (unsigned long long)hi, en(e),
		      en(want));
		return;
	}
	if (e == E_OK && c->va != hi)
		error("shared area: the position after [%#llx, %#llx) is %#llx",
		      (unsigned long long)lo, (unsigned long long)hi,
		      (unsigned long long)c->va);
	if (e == E_OK)
		area_scan(c, i0, i1, unmap, unmap ? 0 : prot,
			  unmap ? "cursor_unmap" : "cursor_protect");
}

/* A range of the shared area: mostly small, some large, some 2 MiB
   aligned; some across the 1 GiB line in its middle. */
static void pick_area(struct worker *w, unsigned *a, unsigned *b)
{
	uint64_t r = rnd(w);
	unsigned len;

	switch (r % 10) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
		len = 1 + (unsigned)((r >> 8) % 16);
		break;
	case 5:
	case 6:
	case 7:
		len = 1 + (unsigned)((r >> 8) % 1024);
		break;
	default:
		len = CHUNK_PAGES * (1 + (unsigned)((r >> 8) % 3));
		*a = (unsigned)((r >> 16) % (AREA_PAGES / CHUNK_PAGES - 2)) *
		     CHUNK_PAGES;
		*b = *a + len;
		return;
	}
	*a = (unsigned)((r >> 24) % (AREA_PAGES - len));
	if ((r >> 60) % 4 == 0) /* across the line */
		*a = AREA_PAGES / 2 - 1 - (unsigned)((r >> 24) % len);
	*b = *a + len;
}

static void area_op(struct worker *w)
{
	unsigned a, b, steps = 1 + (unsigned)(rnd(w) % STEPS_MAX);
	struct cursor c;
	err_t e;

	pick_area(w, &a, &b);
	set_phase(w, PH_AREA);
	e = cursor_new(&c, &upt, area_va(a), area_va(b), &raw_flush);
	if (e != E_OK) {
		if (e == E_NOMEM)
			count(&nomem);
		else
			error("cursor_new on the shared area: %s", en(e));
		return;
	}
	for (unsigned k = 0; k < steps; k++) {
		switch (rnd(w) % 8) {
		case 0:
		case 1:
		case 2:
			area_map(w, &c, a, b, false);
			break;
		case 3:
			area_map(w, &c, a, b, true);
			break;
		case 4:
			area_range(w, &c, a, b, true);
			break;
		case 5:
			area_range(w, &c, a, b, false);
			break;
		default:
			area_scan(&c, a, b, false, UINT64_MAX, "nothing");
		}
	}
	cursor_drop(&c);
}

/* ------------------------------------ (b) the thread's slot (M) */

/*
 * An untracked run of n pages at page i from the order-3 block at pa
 * (ours: freed here if the map fails). A run across the slot's 2 MiB line
 * may run out of memory for its second page table midway (--squeeze): it
 * must then be undone (SPA-01).
 */
static void map_run(struct worker *w, struct model *m, struct vmspace *vs,
		    unsigned i, unsigned n, uint64_t pa, uint64_t prot)
{
	int blk = free_block(m);
	err_t want = E_OK, e;

	if (blk < 0 || m->broken) {
		if (frame_free(pa_to_pfn(PADDR(pa)), RUN_ORDER) != E_OK)
			error("cannot free a block nothing maps");
		return;
	}
	for (unsigned j = i; j < i + n; j++)
		if (predict_map(m, j, false) != E_OK)
			want = E_BUSY;
	tag_block(pa, RUN_ORDER, m->fam, page_va(m, i));
	e = vmspace_map(vs, page_va(m, i), n * P4K, PADDR(pa), prot, 0);
	if (!as_predicted(m, "vmspace_map (untracked run)", page_va(m, i), e,
			  want) ||
	    e != E_OK) {
		if (frame_free(pa_to_pfn(PADDR(pa)), RUN_ORDER) != E_OK)
			error("cannot free a block nothing maps");
		return;
	}
	m->blocks[blk] = (struct block){ pa, RUN_ORDER, n };
	for (unsigned j = 0; j < n; j++)
		model_map(w, m, i + j, pa + j * P4K, prot, blk);
}

/* A run of 2..8 pages anywhere in the slot. */
static void slot_map_run(struct worker *w, struct model *m,
			 struct vmspace *vs, uint64_t r, uint64_t prot)
{
	unsigned n = 2 + (unsigned)((r >> 8) % 7);
	uint64_t pa = new_block(RUN_ORDER, 0);

	if (pa != 0)
		map_run(w, m, vs, (unsigned)((r >> 16) % (MODEL_PAGES - n)), n,
			pa, prot);
}

static void slot_op(struct worker *w)
{
	uint64_t r = rnd(w), prot = pick_prot(r >> 4), pa;
	unsigned s = (unsigned)((r >> 56) % opt.spaces);
	struct model *m = &w->slot[s];
	struct vmspace *vs = spaces[s].vs;
	unsigned i = (unsigned)((r >> 8) % MODEL_PAGES), ch = i / CHUNK_PAGES;
	unsigned i0 = 0, i1 = 0;
	err_t want, e;

	if (m->broken)
		return;
	set_phase(w, PH_SLOT);
	switch (r % 8) {
	case 0:
	case 1:
		want = predict_map(m, i, false);
		if ((pa = new_tagged(0, m->fam, page_va(m, i), 0)) == 0)
			break;
		e = vmspace_map(vs, page_va(m, i), P4K, PADDR(pa), prot,
				VM_TRACKED);
		if (as_predicted(m, "vmspace_map", page_va(m, i), e, want) &&
		    e == E_OK)
			model_map(w, m, i, pa, prot, -1);
		else
			put_frame(pa);
		break;
	case 2:
		slot_map_run(w, m, vs, r, prot);
		break;
	case 3:
		want = predict_map_huge(m, ch, false);
		if ((pa = new_tagged(HUGE_ORDER, m->fam,
				     page_va(m, ch * CHUNK_PAGES), 0)) == 0)
			break;
		e = vmspace_map(vs, page_va(m, ch * CHUNK_PAGES), P2M,
				PADDR(pa), prot, VM_TRACKED | VM_HUGE);
		if (as_predicted(m, "vmspace_map (2 MiB)",
				 page_va(m, ch * CHUNK_PAGES), e, want) &&
		    e == E_OK)
			model_map_huge(w, m, ch, pa, prot);
		else
			put_frame(pa);
		break;
	case 4:
	case 5:
	case 6:
		pick_range(w, &i0, &i1);
		want = predict_range(m, i0, i1);
		if (r % 8 == 6)
			e = vmspace_protect(vs, page_va(m, i0),
					    (uint64_t)(i1 - i0) * P4K, prot);
		else
			e = vmspace_unmap(vs, page_va(m, i0),
					  (uint64_t)(i1 - i0) * P4K);
		if (!as_predicted(m, r % 8 == 6 ? "vmspace_protect"
						: "vmspace_unmap",
				  page_va(m, i0), e, want) ||
		    e != E_OK)
			break;
		if (r % 8 == 6)
			model_protect(m, i0, i1, prot);
		else
			model_unmap(w, m, i0, i1);
		break;
	default:
		break; /* verify only */
	}
	settle(w, m); /* vmspace calls return flushed */
	verify(w, m, &vs->pt, i0, i1);
}

/* --------------------------- (b) the current space: D, H, forks */

/* This thread's record of its words in sp's region D. */
static struct view *view_of(struct worker *w, const struct space *sp)
{
	if (sp >= spaces && sp < spaces + MAX_SPACES)
		return &w->sview[sp - spaces];
	if (sp >= children && sp < children + CHILD_SLOTS)
		return &w->cview[sp - children];
	return &w->fview;
}

static void view_forget(struct view *v, uint64_t gen)
{
	memset(v, 0, sizeof(*v));
	v->gen = gen;
}

/*
 * Our word x of page p of sp's region D, against what we last wrote:
 * equal, or zero if an unmap of sp may have run since (read after x).
 */
static void check_own(struct worker *w, struct space *sp, unsigned p,
		      uint64_t x, const char *where)
{
	struct view *v = view_of(w, sp);
	uint64_t started;

	if (v->val[p] == 0 || x == v->val[p])
		return;
	started = atomic_load(&sp->unmaps_started);
	if (x == 0 && (v->maybe0[p] || started != v->fin[p])) {
		v->val[p] = 0; /* zeroed by an unmap: unknown from here */
		return;
	}
	error("%s: page %#llx of region D (family %u): thread %u's word is "
	      "%#llx, it last wrote %#llx%s", where,
	      (unsigned long long)(D_BASE + p * P4K), sp->fam, w->index,
	      (unsigned long long)x, (unsigned long long)v->val[p],
	      v->maybe0[p] || started != v->fin[p] ? ""
						   : " and no unmap ran since");
	v->val[p] = 0;
}

/* Write our word of page p of region D in vs (sp's, active here). */
static void d_write(struct worker *w, struct space *sp, struct vmspace *vs,
		    unsigned p, const char *where)
{
	struct view *v = view_of(w, sp);
	uint64_t fin = atomic_load(&sp->unmaps_finished);
	struct access a = { .write = true, .word = w->index,
			    .value = value_of(w->index, ++w->wseq) };
	err_t e = touch(w, vs, sp->fam,
			D_BASE + p * P4K + (w->wseq % 512) * 8, AREA_D, &a);

	if (e == E_OK) {
		if (a.got != a.value)
			error("%s: wrote %#llx at %#llx, read back %#llx", where,
			      (unsigned long long)a.value,
			      (unsigned long long)(D_BASE + p * P4K),
			      (unsigned long long)a.got);
		v->val[p] = a.value;
		v->fin[p] = fin;
		v->maybe0[p] = false;
	} else if (e == E_NOMEM) {
		count(&nomem);
	} else if (e != E_BUSY) {
		error("%s: a write to the writable demand region D at %#llx: "
		      "%s", where, (unsigned long long)(D_BASE + p * P4K),
		      en(e));
	}
}

static void d_read(struct worker *w, struct space *sp, struct vmspace *vs,
		   unsigned p, const char *where)
{
	struct access a = { .write = false, .word = w->index };
	err_t e = touch(w, vs, sp->fam, D_BASE + p * P4K, AREA_D, &a);

	if (e == E_OK)
		check_own(w, sp, p, a.got, where);
	else if (e == E_NOMEM)
		count(&nomem);
	else if (e != E_BUSY)
		error("%s: a read of the demand region D at %#llx: %s", where,
		      (unsigned long long)(D_BASE + p * P4K), en(e));
}

/* Touch region D of the current space: several pages, read or write. */
static void d_touch_op(struct worker *w)
{
	struct space *sp = w->cur;
	uint64_t r = rnd(w);

	if (sp == NULL)
		return;
	set_phase(w, PH_TOUCH);
	for (unsigned k = 0; k < 1 + (r >> 56) % 8; k++) {
		uint64_t x = rnd(w);
		unsigned p = (unsigned)(x % D_PAGES);

		if ((x >> 32) % 2)
			d_write(w, sp, w->cur_vs, p, "region D");
		else
			d_read(w, sp, w->cur_vs, p, "region D");
	}
}

/* Unmap or protect a part of region D of the current space. */
static void d_change_op(struct worker *w)
{
	struct space *sp = w->cur;
	uint64_t r = rnd(w);
	unsigned p = (unsigned)((r >> 8) % D_PAGES);
	unsigned n = 1 + (unsigned)((r >> 16) % MIN(32u, D_PAGES - p));
	err_t e;

	if (sp == NULL)
		return;
	if (r % 8 == 0) {
		p = 0;
		n = D_PAGES;
	}
	set_phase(w, PH_SPACE);
	if ((r >> 4) % 3 == 0) {
		e = vmspace_protect(w->cur_vs, D_BASE + p * P4K, n * P4K,
				    PTE_W | ((r >> 6) % 2 ? PTE_NX : 0));
		if (e == E_NOMEM)
			count(&nomem);
		else if (e != E_OK)
			error("vmspace_protect of region D: %s", en(e));
		return;
	}
	atomic_fetch_add(&sp->unmaps_started, 1);
	e = vmspace_unmap(w->cur_vs, D_BASE + p * P4K, n * P4K);
	atomic_fetch_add(&sp->unmaps_finished, 1);
	if (e == E_NOMEM)
		count(&nomem);
	else if (e != E_OK)
		error("vmspace_unmap of region D: %s", en(e));
}

/* Region H of the current space: map, unmap, protect, touch. */
static void h_op(struct worker *w)
{
	struct space *sp = w->cur;
	struct vmspace *vs = w->cur_vs;
	uint64_t r = rnd(w), pa;
	unsigned ch = (unsigned)((r >> 8) % H_CHUNKS);
	uint64_t va = H_BASE + ch * P2M + ((r >> 16) % CHUNK_PAGES) * P4K;
	struct access a = { .word = 1 + w->index };
	err_t e;

	if (sp == NULL)
		return;
	set_phase(w, PH_SPACE);
	switch (r % 8) {
	case 0:
		va = H_BASE + ch * P2M;
		if ((pa = new_tagged(HUGE_ORDER, sp->fam, va, FRAME_ZERO)) == 0)
			return;
		e = vmspace_map(vs, va, P2M, PADDR(pa), PTE_W,
				VM_TRACKED | VM_HUGE);
		put_frame(pa);
		break;
	case 1:
		if ((pa = new_tagged(0, sp->fam, va, FRAME_ZERO)) == 0)
			return;
		e = vmspace_map(vs, va, P4K, PADDR(pa), PTE_W, VM_TRACKED);
		put_frame(pa);
		break;
	case 2:
		e = vmspace_unmap(vs, H_BASE + ch * P2M, P2M);
		break;
	case 3:
		e = vmspace_unmap(vs, va, P4K);
		e = e == E_INVAL ? E_OK : e; /* inside a 2 MiB page */
		break;
	case 4:
		e = vmspace_protect(vs, H_BASE + ch * P2M, P2M,
				    PTE_W | ((r >> 6) % 2 ? PTE_NX : 0));
		break;
	default:
		set_phase(w, PH_TOUCH);
		a.write = (r >> 6) % 2;
		a.value = value_of(w->index, ++w->wseq);
		e = touch(w, vs, sp->fam, va, AREA_H, &a);
		if (e == E_OK && a.write && a.got != a.value)
			error("region H: wrote %#llx at %#llx, read back %#llx",
			      (unsigned long long)a.value,
			      (unsigned long long)va,
			      (unsigned long long)a.got);
		e = e == E_FAULT || e == E_BUSY ? E_OK : e; /* a hole */
	}
	if (e == E_NOMEM)
		count(&nomem);
	else if (e != E_OK && e != E_BUSY)
		error("region H (operation %u) at %#llx: %s",
		      (unsigned)(r % 8), (unsigned long long)va, en(e));
}

/* --------------------------------------------------- child slots */

/* Hold child slot c's space: NULL if empty, else it, and its
   generation in *gen. */
static struct vmspace *slot_enter(unsigned c, uint64_t *gen)
{
	struct space *sp = &children[c];
	struct vmspace *vs;

	spin_lock(&sp->lock);
	vs = sp->vs;
	if (vs != NULL) {
		atomic_fetch_add(&sp->users, 1);
		*gen = sp->gen;
	}
	spin_unlock(&sp->lock);
	return vs;
}

static void slot_leave(unsigned c)
{
	struct space *sp = &children[c];

	spin_lock(&sp->lock);
	atomic_fetch_sub(&sp->users, 1);
	spin_unlock(&sp->lock);
}

/* vmspace_activate(), with this CPU's family for its handlers. */
static void activate(struct worker *w, struct vmspace *vs, unsigned fam)
{
	set_phase(w, PH_SWITCH);
	atomic_store_explicit(&cur_fam[w->cpu], 0, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* before, for a handler */
	vmspace_activate(vs);
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&cur_fam[w->cpu], vs != NULL ? fam : 0,
			      memory_order_relaxed);
}

/* Make vs, to's (child slot `slot`, held, or -1), the space active
   here. */
static void switch_to(struct worker *w, struct space *to,
		      struct vmspace *vs, int slot)
{
	activate(w, vs, to != NULL ? to->fam : 0);
	tlb_drop_raw(w->cpu); /* now and then, so raw flushes skip us */
	if (w->cur_slot >= 0)
		slot_leave((unsigned)w->cur_slot);
	w->cur = to;
	w->cur_vs = vs;
	w->cur_slot = slot;
}

static void switch_op(struct worker *w)
{
	uint64_t r = rnd(w), gen = 0;
	struct vmspace *vs = NULL;
	struct space *to = NULL;
	int slot = -1;

	if (r % 16 == 0) {
		to = NULL;
	} else if (r % 3 == 0) {
		slot = (int)((r >> 8) % CHILD_SLOTS);
		if (slot == w->cur_slot ||
		    (vs = slot_enter((unsigned)slot, &gen)) == NULL)
			return;
		to = &children[slot];
		if (w->cview[slot].gen != gen)
			view_forget(&w->cview[slot], gen);
	} else {
		to = &spaces[(r >> 8) % opt.spaces];
		vs = to->vs;
	}
	if (to != w->cur)
		switch_to(w, to, vs, slot);
	else if (slot >= 0)
		slot_leave((unsigned)slot);
}

/* A space nobody uses any more: its statistics kept, then put. */
static void retire(struct vmspace *vs)
{
	atomic_fetch_add(&space_shootdowns, atomic_load(&vs->shootdowns));
	atomic_fetch_add(&space_ipis, atomic_load(&vs->ipis));
	vmspace_put(vs);
}

/*
 * Publish child in a random slot, retiring the child there once no CPU
 * holds it. A thread that holds a slot itself does not wait (two
 * replacers would wait for each other): it puts its child instead.
 */
static void publish(struct worker *w, struct vmspace *child, unsigned fam)
{
	unsigned c = (unsigned)(rnd(w) % CHILD_SLOTS);
	struct space *sp = &children[c];
	struct vmspace *old;

	spin_lock(&sp->lock);
	if (w->cur_slot >= 0 || sp->replacing) {
		spin_unlock(&sp->lock);
		retire(child);
		count(&child_puts);
		return;
	}
	sp->replacing = true;
	old = sp->vs;
	sp->vs = NULL;
	spin_unlock(&sp->lock);
	set_phase(w, PH_WAIT_USERS);
	while (atomic_load(&sp->users) != 0)
		cpu_relax(); /* interrupts enabled: IPIs are answered */
	if (old != NULL) {
		retire(old);
		count(&child_puts);
	}
	spin_lock(&sp->lock);
	sp->vs = child;
	sp->fam = fam;
	sp->gen = atomic_fetch_add(&child_gen, 1) + 1;
	atomic_store(&sp->unmaps_started, 0);
	atomic_store(&sp->unmaps_finished, 0);
	sp->replacing = false;
	w->fview.gen = sp->gen;
	w->cview[c] = w->fview;
	spin_unlock(&sp->lock);
	count(&publishes);
}

/*
 * Fork the current space: the child's view of our words is the parent's
 * (maybe zero where an unmap may have run since our write); read and
 * write them on the child's side, then check the parent did not change.
 */
static void fork_op(struct worker *w)
{
	struct space *sp = w->cur, local;
	struct view *pv;
	struct vmspace *child;
	uint64_t started;
	unsigned pages[8], n = 0;

	if (sp == NULL)
		return;
	pv = view_of(w, sp);
	set_phase(w, PH_FORK);
	child = vmspace_fork(w->cur_vs);
	if (child == NULL) {
		count(&fork_nomem);
		return;
	}
	count(&forks);
	started = atomic_load(&sp->unmaps_started);
	view_forget(&w->fview, 0);
	for (unsigned p = 0; p < D_PAGES; p++) {
		w->fview.val[p] = pv->val[p];
		w->fview.maybe0[p] = pv->maybe0[p] || started != pv->fin[p];
	}
	local = (struct space){ .vs = child, .fam = sp->fam };
	activate(w, child, sp->fam);
	set_phase(w, PH_TOUCH);
	for (unsigned p = 0; p < D_PAGES && n < ARRAY_SIZE(pages); p++) {
		if (w->fview.val[p] == 0 || rnd(w) % 4 != 0)
			continue;
		d_read(w, &local, child, p, "a fork's child");
		d_write(w, &local, child, p, "a fork's child");
		pages[n++] = p;
	}
	activate(w, w->cur_vs, sp->fam); /* drops the child's activation */
	set_phase(w, PH_TOUCH);
	for (unsigned k = 0; k < n; k++)
		d_read(w, sp, w->cur_vs, pages[k],
		       "a fork's parent after the child wrote");
	if (rnd(w) % 2 == 0) {
		publish(w, child, sp->fam);
	} else {
		retire(child);
		count(&child_puts);
	}
}

/* ------------------------------------------- (c) lock-free readers */

/*
 * Where one MMU read goes: half the time an address this CPU's TLB holds
 * (so that translations are used again, and a stale one shows), else a
 * random one of the raw table's private ranges and shared area, or of the
 * current space's regions and slots. False: nothing to read now.
 */
static bool pick_read(uint64_t r, const struct pagetable **pt, uint64_t *va,
		      enum area *area, unsigned *fam)
{
	unsigned me = cpu_id(), t = (unsigned)((r >> 8) % opt.threads);
	unsigned cf = atomic_load_explicit(&cur_fam[me], memory_order_relaxed);
	struct vmspace *cur;
	uint64_t off = (r >> 24) % MODEL_PAGES * P4K;
	struct tlb_snap s;

	atomic_signal_fence(memory_order_seq_cst); /* the family first */
	cur = vmspace_current();
	if (cf == 0)
		cur = NULL; /* changing: not to be read now */
	if (r % 2 && opt.tlb > 0 &&
	    tlb_read(&tlbs[me].e[(r >> 1) % opt.tlb], &s) &&
	    (s.pt == (uintptr_t)&upt ||
	     (cur != NULL && s.pt == (uintptr_t)&cur->pt && s.fam == cf))) {
		*pt = (const struct pagetable *)s.pt;
		*va = s.va + (r >> 40) % s.size;
		*area = s.area;
		*fam = s.fam;
		return true;
	}
	*fam = cf;
	switch ((r >> 1) % 5) {
	case 0:
		*pt = &upt;
		*va = PRIV_BASE + t * MODEL_LEN + off;
		*area = AREA_PRIV;
		*fam = 0;
		return true;
	case 1:
		*pt = &upt;
		*va = AREA_BASE + (r >> 24) % AREA_PAGES * P4K;
		*area = AREA_SHARED;
		*fam = 0;
		return true;
	case 2:
		*va = D_BASE + (r >> 24) % D_PAGES * P4K;
		*area = AREA_D;
		break;
	case 3:
		*va = H_BASE + (r >> 24) % (H_CHUNKS * CHUNK_PAGES) * P4K;
		*area = AREA_H;
		break;
	default:
		*va = M_BASE + t * MODEL_LEN + off;
		*area = AREA_M;
	}
	if (cur == NULL)
		return false;
	*pt = &cur->pt;
	return true;
}

/* One lock-free read, like the MMU's. Any context. */
static void read_one(uint64_t r)
{
	struct access a = { .write = false, .word = 0 };
	const struct pagetable *pt;
	enum area area;
	unsigned fam;
	uint64_t va;

	if (!pick_read(r, &pt, &va, &area, &fam))
		return;
	(void)mmu_access(pt, va, area, fam, &a);
	count(&reads);
}

static void read_op(struct worker *w)
{
	set_phase(w, PH_READ);
	for (unsigned k = 0; k < TASK_READS; k++)
		read_one(rnd(w));
}

/* ------------------------------------------------------- interrupts */

static uint64_t pattern(uint64_t pat, size_t i)
{
	return pat ^ (i * UINT64_C(0x9e3779b97f4a7c15));
}

/* Allocate or free a frame or a heap object, patterned: a page-table
   node freed while still in use, and given to us, breaks the pattern. */
static void irq_alloc_free(struct irq_stash *s, uint64_t r)
{
	if (r % 2 == 0) {
		if (s->nf == IRQ_STASH || (s->nf > 0 && (r >> 1) % 2)) {
			unsigned k = --s->nf;
			uint64_t pa = s->f[k].pa;

			for (size_t i = 0; i < (PAGE_SIZE << s->f[k].order) / 8;
			     i += 61)
				if (((uint64_t *)phys_to_virt(PADDR(pa)))[i] !=
				    pattern(s->f[k].pat, i))
					error("an interrupt's frame %#llx was "
					      "overwritten at word %zu",
					      (unsigned long long)pa, i);
			if (frame_free(pa_to_pfn(PADDR(pa)), s->f[k].order) !=
			    E_OK)
				error("an interrupt cannot free its frame");
		} else {
			unsigned order = (unsigned)((r >> 2) % 3);
			struct frame_result f = frame_alloc(order, 0);
			uint64_t *p;

			if (f.err != E_OK)
				return;
			s->f[s->nf] = (typeof(s->f[0])){ pfn_to_pa(f.pfn).v,
							 r, order };
			p = phys_to_virt(pfn_to_pa(f.pfn));
			for (size_t i = 0; i < (PAGE_SIZE << order) / 8; i += 61)
				p[i] = pattern(r, i);
			s->nf++;
		}
		return;
	}
	if (s->no == IRQ_STASH || (s->no > 0 && (r >> 1) % 2)) {
		unsigned k = --s->no;

		for (size_t i = 0; i < s->o[k].words; i++)
			if (s->o[k].p[i] != pattern(s->o[k].pat, i))
				error("an interrupt's heap object %p was "
				      "overwritten at word %zu",
				      (void *)s->o[k].p, i);
		if (kfree(s->o[k].p) != E_OK)
			error("an interrupt cannot kfree its object");
	} else {
		size_t words = 2 + (r >> 2) % 255;
		uint64_t *p = kmalloc(words * 8, 0);

		if (p == NULL)
			return;
		for (size_t i = 0; i < words; i++)
			p[i] = pattern(r, i);
		s->o[s->no++] = (typeof(s->o[0])){ p, r, words };
	}
}

static void timer_irq(unsigned vector)
{
	struct irq_stash *s = &stashes[cpu_id()];

	(void)vector;
	if (!s->active)
		return;
	irq_alloc_free(s, rng_next(&s->rng));
	for (unsigned k = 0; k < IRQ_READS; k++)
		read_one(rng_next(&s->rng));
	count(&irq_ops);
	atomic_fetch_add_explicit(&irq_reads, IRQ_READS, memory_order_relaxed);
}

/* Open (or close) this CPU's handler; closing frees what it kept. */
static void stash_set_active(struct worker *w, bool on)
{
	irqflags_t f = irq_save();
	struct irq_stash *s = &stashes[w->cpu];

	if (on) {
		s->rng = seed_for(MAX_CPUS + w->cpu);
		s->nf = s->no = 0;
	}
	s->active = on && opt.irq;
	while (!on && (s->nf > 0 || s->no > 0))
		irq_alloc_free(s, s->nf > 0 ? 2 : 3); /* a free each */
	irq_restore(f);
}

/*
 * The pause-point hook: at the cursors' and the address spaces' steps,
 * with --irq, one in STEP_IRQ_ONE_IN gets a timer interrupt right there
 * (a lock-free reader inside a cursor's step); one in STEP_YIELD_ONE_IN
 * gives the CPU away there, so other threads run into the step's window.
 */
static _Thread_local uint64_t step_rng;

static void step_hook(const char *point, void *arg)
{
	uint64_t r;

	(void)arg;
	if ((strncmp(point, "cursor.", 7) != 0 &&
	     strncmp(point, "vmspace.", 8) != 0) ||
	    in_irq() || step_rng == 0)
		return;
	if (fault_vs != NULL && strcmp(point, "vmspace.cow.found") == 0)
		tlb_check_cow(fault_vs, fault_va);
	r = rng_next(&step_rng);
	if (opt.irq && r % STEP_IRQ_ONE_IN == 0) {
		if (host_irq_raise_self(HOST_IRQ_TIMER) != E_OK)
			error("cannot raise an interrupt at %s", point);
		count(&step_irqs);
	}
	if ((r >> 8) % STEP_YIELD_ONE_IN == 0) {
		sched_yield();
		count(&yields);
	}
}

/* --------------------------------------------------------- threads */

/* One operation of the mix. */
static void one_op(struct worker *w, uint64_t r)
{
	switch (r % 20) {
	case 0:
	case 1:
	case 2:
		priv_op(w);
		break;
	case 3:
	case 4:
	case 5:
		area_op(w);
		break;
	case 6:
	case 7:
		slot_op(w);
		break;
	case 8:
	case 9:
	case 10:
	case 11:
		d_touch_op(w);
		break;
	case 12:
		d_change_op(w);
		break;
	case 13:
	case 14:
		h_op(w);
		break;
	case 15:
		if ((r >> 8) % 4 == 0)
			fork_op(w);
		else
			d_touch_op(w);
		break;
	case 16:
	case 17:
		switch_op(w);
		break;
	default:
		read_op(w);
	}
	set_phase(w, PH_RUN);
	progressed(w);
}

/*
 * --squeeze: worker 0, every SQUEEZE_NS, takes every free frame, runs a
 * few operations itself while every CPU's allocations fail (nodes,
 * demand and copy-on-write frames, forks, the heap), then gives the
 * frames back a few at a time, operations in between, so that
 * operations run out of memory midway: each must change nothing or undo
 * what it did (SPA-01, WF-FAIL-NOOP), which the models check.
 */
static void squeeze_op(struct worker *w)
{
	struct frame_result r;
	uint64_t n = 0;

	uint64_t run[MAX_SPACES];

	set_phase(w, PH_SQUEEZE);
	for (unsigned s = 0; s < opt.spaces; s++) {
		struct model *m = &w->slot[s];
		uint64_t pa;

		run[s] = 0;
		if (m->broken || m->huge[0] || m->huge[1] ||
		    chunk_has_small(m, 1))
			continue; /* its run would not fail midway */
		/* A page below the line, so that its page table exists. */
		if (!chunk_has_small(m, 0) &&
		    (pa = new_tagged(0, m->fam, m->base, 0)) != 0) {
			err_t e = vmspace_map(spaces[s].vs, m->base, P4K,
					      PADDR(pa), PTE_W, VM_TRACKED);

			if (e == E_OK)
				model_map(w, m, 0, pa, PTE_W, -1);
			else
				put_frame(pa);
		}
		run[s] = new_block(RUN_ORDER, 0);
	}
	while (n < hoard_cap && (r = frame_alloc(0, 0)).err == E_OK)
		hoard[n++] = r.pfn;
	count(&squeezes);
	/* Runs across the slots' 2 MiB line, with no frame for a node. */
	for (unsigned s = 0; s < opt.spaces; s++) {
		unsigned len = 2 + (unsigned)(rnd(w) % 7);
		unsigned i = CHUNK_PAGES - 1 - (unsigned)(rnd(w) % (len - 1));

		set_phase(w, PH_SLOT);
		if (run[s] != 0) {
			uint64_t before = atomic_load(&nomem);

			map_run(w, &w->slot[s], spaces[s].vs, i, len, run[s],
				pick_prot(rnd(w)));
			if (atomic_load(&nomem) != before)
				count(&squeezed_maps);
			settle(w, &w->slot[s]);
			verify(w, &w->slot[s], &spaces[s].vs->pt, i - 1,
			       i + len + 1);
		}
	}
	for (unsigned k = 0; k < 4; k++)
		one_op(w, rnd(w));
	for (unsigned round = 0; n > 0; round++) {
		uint64_t give = round < 32 ? 1 + rnd(w) % 8 : n;

		set_phase(w, PH_SQUEEZE);
		for (; give > 0 && n > 0; give--)
			if (frame_free(hoard[--n], 0) != E_OK)
				error("cannot give back a hoarded frame");
		if (round < 32 && round % 4 == 0)
			one_op(w, rnd(w));
	}
	atomic_store_explicit(&next_squeeze_ns, monotonic_ns() + SQUEEZE_NS,
			      memory_order_relaxed);
}

static void work_loop(struct worker *w)
{
	for (uint64_t n = 0;
	     !atomic_load_explicit(&stop, memory_order_relaxed); n++) {
		if (opt.squeeze && w->index == 0 && n % 16 == 0 &&
		    monotonic_ns() >= atomic_load_explicit(
					      &next_squeeze_ns,
					      memory_order_relaxed))
			squeeze_op(w);
		one_op(w, rnd(w));
	}
}

/* Wait until every thread has arrived, answering IPIs meanwhile
   (interrupts enabled). */
static void rendezvous(struct worker *w)
{
	set_phase(w, PH_WAIT_END);
	atomic_fetch_add(&arrived, 1);
	while (atomic_load(&arrived) < opt.threads)
		cpu_relax();
}

/* Unmap all a model holds, flushed; settle; check it is all gone. */
static void model_clear(struct worker *w, struct model *m,
			struct pagetable *pt, struct vmspace *vs)
{
	struct cursor c;
	err_t e;

	if (vs != NULL) {
		e = vmspace_unmap(vs, m->base, MODEL_LEN);
	} else if ((e = cursor_new(&c, pt, m->base, m->base + MODEL_LEN,
				   &raw_flush)) == E_OK) {
		e = cursor_unmap(&c, MODEL_LEN);
		cursor_drop(&c);
	}
	if (e != E_OK) {
		error("cannot unmap [%#llx, +4 MiB) at the end: %s",
		      (unsigned long long)m->base, en(e));
		return;
	}
	if (m->broken) /* the model is wrong: its frames are lost (counted) */
		return;
	model_unmap(w, m, 0, MODEL_PAGES);
	settle(w, m);
	verify(w, m, pt, 0, MODEL_PAGES);
}

static void cleanup(struct worker *w)
{
	set_phase(w, PH_CLEANUP);
	stash_set_active(w, false);
	switch_to(w, NULL, NULL, -1);
	model_clear(w, &w->priv, &upt, NULL);
	for (unsigned s = 0; s < opt.spaces; s++)
		model_clear(w, &w->slot[s], &spaces[s].vs->pt, spaces[s].vs);
}

static void final_check(struct worker *w);

static void *worker_main(void *p)
{
	struct worker *w = p;
	int cpu = host_cpu_register();

	if (cpu < 0) {
		klog("pt_stress: cannot register a CPU");
		exit(1);
	}
	w->cpu = (unsigned)cpu;
	step_rng = seed_for(3 * MAX_CPUS + w->index);
	stash_set_active(w, true);
	if (opt.irq && host_timer_start(TIMER_NS) != E_OK) {
		klog("pt_stress: cannot start a timer");
		exit(1);
	}
	set_phase(w, PH_RUN);
	switch_to(w, &spaces[w->index % opt.spaces],
		  spaces[w->index % opt.spaces].vs, -1);
	work_loop(w);
	host_timer_stop();
	step_rng = 0;
	cleanup(w);
	rendezvous(w);
	if (w->index == 0)
		final_check(w);
	set_phase(w, PH_DONE);
	progressed(w);
	atomic_fetch_add(&finished, 1);
	/* Every CPU stays online until worker 0's final checks are done. */
	while (atomic_load(&finished) < opt.threads)
		cpu_relax();
	host_cpu_unregister();
	return NULL;
}

/* ---------------------------------------------------------- the end */

/*
 * Worker 0, every other thread done and answering IPIs: check and put
 * every space, empty and destroy the tables, give every cache back and
 * compare the free frames with the start.
 */
static void final_check(struct worker *w)
{
	struct frame_stats fs;
	struct cursor c;
	bool ok = true;
	int64_t nodes;

	set_phase(w, PH_FINAL);
	for (unsigned s = 0; s < CHILD_SLOTS; s++) {
		if (children[s].vs == NULL)
			continue;
		if (!vmspace_validate(children[s].vs)) {
			klog("pt_stress: vmspace_validate of child slot %u "
			     "failed", s);
			ok = false;
		}
		retire(children[s].vs);
		children[s].vs = NULL;
		count(&child_puts);
	}
	for (unsigned s = 0; s < opt.spaces; s++) {
		if (!vmspace_validate(spaces[s].vs)) {
			klog("pt_stress: vmspace_validate of space %u failed",
			     s);
			ok = false;
		}
		retire(spaces[s].vs);
		spaces[s].vs = NULL;
	}
	if (!pt_validate(&upt, &kpt)) {
		klog("pt_stress: pt_validate of the raw table failed");
		ok = false;
	}
	/* Unmap the whole lower half: every empty node goes too. */
	if (cursor_new(&c, &upt, 0, PT_USER_END, &raw_flush) != E_OK) {
		klog("pt_stress: no cursor over the raw table's lower half");
		ok = false;
	} else {
		if (cursor_unmap(&c, PT_USER_END) != E_OK) {
			klog("pt_stress: cannot unmap the raw table's lower "
			     "half");
			ok = false;
		}
		cursor_drop(&c);
	}
	nodes = atomic_load(&upt.nodes);
	if (nodes != 1) {
		klog("pt_stress: the raw table has %lld nodes with nothing "
		     "mapped, not its root alone", (long long)nodes);
		ok = false;
	}
	if (!pt_validate(&upt, &kpt) || !pt_validate(&kpt, NULL)) {
		klog("pt_stress: pt_validate failed after the final unmap");
		ok = false;
	}
	progressed(w);
	pt_destroy(&upt);
	pt_destroy(&kpt);
	rcu_drain();
	(void)heap_reclaim();
	if (!frame_validate()) {
		klog("pt_stress: frame_validate() failed at the end");
		ok = false;
	}
	frame_get_stats(&fs);
	result.leaked_frames = (int64_t)base_free - (int64_t)fs.free;
	result.valid = ok;
}

static void print_summary(const char *leaked)
{
	klog("pt_stress: seed=%llu spaces=%u mem=%u squeezes=%llu "
	     "squeezed_maps=%llu reads=%llu irq_ops=%llu "
	     "irq_reads=%llu step_irqs=%llu yields=%llu fork_nomem=%llu "
	     "publishes=%llu child_puts=%llu raw_flushes=%llu raw_ipis=%llu "
	     "space_shootdowns=%llu space_ipis=%llu nomem=%llu gave_up=%llu",
	     (unsigned long long)opt.seed, opt.spaces, opt.mem_mib,
	     (unsigned long long)atomic_load(&squeezes),
	     (unsigned long long)atomic_load(&squeezed_maps),
	     (unsigned long long)atomic_load(&reads),
	     (unsigned long long)atomic_load(&irq_ops),
	     (unsigned long long)atomic_load(&irq_reads),
	     (unsigned long long)atomic_load(&step_irqs),
	     (unsigned long long)atomic_load(&yields),
	     (unsigned long long)atomic_load(&fork_nomem),
	     (unsigned long long)atomic_load(&publishes),
	     (unsigned long long)atomic_load(&child_puts),
	     (unsigned long long)atomic_load(&raw_flushes),
	     (unsigned long long)atomic_load(&raw_ipis),
	     (unsigned long long)atomic_load(&space_shootdowns),
	     (unsigned long long)atomic_load(&space_ipis),
	     (unsigned long long)atomic_load(&nomem),
	     (unsigned long long)atomic_load(&gave_up));
	printf("pt_stress threads=%u irq=%s locking=%s ops=%llu faults=%llu "
	       "forks=%llu shootdowns=%llu leaked_frames=%s errors=%llu\n",
	       opt.threads, opt.irq ? "on" : "off",
	       opt.locking == PT_LOCK_TREE ? "tree" : "space",
	       (unsigned long long)atomic_load(&ops),
	       (unsigned long long)atomic_load(&faults),
	       (unsigned long long)atomic_load(&forks),
	       (unsigned long long)(atomic_load(&raw_flushes) +
				    atomic_load(&space_shootdowns)),
	       leaked, (unsigned long long)atomic_load(&errors));
	fflush(stdout);
}

static bool finish(void)
{
	char leaked[32];
	bool ok = result.valid && result.leaked_frames == 0 &&
		  atomic_load(&errors) == 0;

	if (result.leaked_frames != 0)
		klog("pt_stress: %lld frames fewer free than at the start",
		     (long long)result.leaked_frames);
	if (opt.irq && atomic_load(&irq_reads) == 0) {
		klog("pt_stress: --irq but no interrupt read a page table");
		ok = false;
	}
	if (atomic_load(&faults) == 0 || atomic_load(&raw_flushes) == 0) {
		klog("pt_stress: no fault or no flush happened: the run "
		     "tested little");
		ok = false;
	}
	snprintf(leaked, sizeof(leaked), "%lld",
		 (long long)result.leaked_frames);
	print_summary(leaked);
	return ok;
}

/* No operation completed for WATCHDOG_S: say who does what, and fail. */
static NORETURN void hung(void)
{
	klog("pt_stress: WATCHDOG: no thread completed an operation for %d s "
	     "(a deadlock or livelock)", WATCHDOG_S);
	for (unsigned i = 0; i < opt.threads; i++)
		klog("pt_stress: thread %u: %s", i,
		     phase_name[atomic_load(&workers[i].phase)]);
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

/* The spaces: each with its regions D (demand, copy) and H (copy). */
static err_t make_spaces(void)
{
	for (unsigned s = 0; s < opt.spaces; s++) {
		struct vmspace *vs = vmspace_create(opt.locking);
		err_t e;

		if (vs == NULL)
			return E_NOMEM;
		spaces[s].vs = vs;
		spaces[s].fam = s + 1;
		if ((e = vmspace_add_region(vs, D_BASE, D_PAGES * P4K, PTE_W,
					    VM_DEMAND | VM_COPY)) != E_OK ||
		    (e = vmspace_add_region(vs, H_BASE, H_CHUNKS * P2M, PTE_W,
					    VM_COPY)) != E_OK)
			return e;
	}
	for (unsigned c = 0; c < CHILD_SLOTS; c++)
		spin_lock_init(&children[c].lock, "pt_stress.child_slot");
	return E_OK;
}

static err_t boot(void)
{
	static const struct frame_config cfg = FRAME_CONFIG_FULL;
	uint64_t bytes = (uint64_t)opt.mem_mib << 20;
	struct frame_stats fs;
	err_t e;

	if ((e = host_arena_init(bytes)) != E_OK)
		return e;
	hoard_cap = bytes / PAGE_SIZE;
	if (opt.squeeze && (hoard = calloc(hoard_cap, sizeof(*hoard))) == NULL)
		return E_NOMEM;
	if (host_cpu_register() < 0)
		return E_STATE;
	if ((e = host_mm_boot(bytes, &cfg)) != E_OK)
		return e;
	if ((e = host_irq_set_handler(HOST_IRQ_TIMER,
				      opt.irq ? timer_irq : NULL)) != E_OK)
		return e;
	frame_set_drop_hook(PAGE_FRAME, on_frame_drop);
	(void)heap_reclaim();
	frame_get_stats(&fs);
	base_free = fs.free;
	if ((e = pt_create(&kpt, PT_KERNEL, NULL, PT_LOCK_TREE)) != E_OK ||
	    (e = pt_create(&upt, PT_USER, &kpt, opt.locking)) != E_OK)
		return e;
	vmspace_init(pt_root_pa(&kpt));
	if ((e = make_spaces()) != E_OK)
		return e;
	host_cpu_unregister(); /* main only supervises */
	return E_OK;
}

static void init_worker(struct worker *w, unsigned i)
{
	w->index = i;
	w->rng = seed_for(i);
	w->cur_slot = -1;
	w->priv.base = PRIV_BASE + i * MODEL_LEN;
	w->priv.fam = 0;
	for (unsigned s = 0; s < opt.spaces; s++) {
		w->slot[s].base = M_BASE + i * MODEL_LEN;
		w->slot[s].fam = s + 1;
	}
}

int main(int argc, char **argv)
{
	err_t e;

	parse(argc, argv);
	if ((e = boot()) != E_OK) {
		klog("pt_stress: cannot boot with %u MiB: %s", opt.mem_mib,
		     err_name(e));
		return 1;
	}
	workers = aligned_alloc(CACHELINE, opt.threads * sizeof(*workers));
	if (workers == NULL)
		return 1;
	memset(workers, 0, opt.threads * sizeof(*workers));
	pause_set_hook(step_hook, NULL);
	atomic_store(&next_squeeze_ns, monotonic_ns() + SQUEEZE_NS);
	for (unsigned i = 0; i < opt.threads; i++) {
		init_worker(&workers[i], i);
		if (pthread_create(&workers[i].thread, NULL, worker_main,
				   &workers[i]) != 0) {
			klog("pt_stress: pthread_create failed");
			return 1;
		}
	}
	supervise();
	for (unsigned i = 0; i < opt.threads; i++)
		pthread_join(workers[i].thread, NULL);
	return finish() ? 0 : 1;
}
