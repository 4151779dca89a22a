/* SPDX-License-Identifier: MIT */
/*
 * Host-only API: what tests, stress harnesses and benchmarks use to set up
 * the machine the portable code runs on. Portable code never includes this.
 *
 * Threads and CPUs
 *   A thread becomes CPU n with host_cpu_register() and stops being one
 *   with host_cpu_unregister(). Ids are the lowest free ones in
 *   [0, MAX_CPUS). Functions marked "CPU only" must be called by a
 *   registered thread.
 *
 * Interrupts
 *   Vectors 0..HOST_IRQ_VECTORS-1 each have one handler (set globally).
 *   An IRQ is raised on a CPU by its timer or by host_irq_raise(); the
 *   handler runs on that CPU's thread, with IRQs masked and in_irq() true,
 *   at once if the thread has IRQs unmasked, otherwise at the irq_restore()
 *   that unmasks them. Raising a vector that is already pending does
 *   nothing more: it runs once.
 */
#ifndef HOST_HOST_H
#define HOST_HOST_H

#include <platform.h>

#include "kernel/lib/err.h"
#include "kernel/mm/frame.h"

/* ------------------------------------------------------------------ CPUs */

/*
 * Make the calling thread a CPU. Returns its id (>= 0), or -1 if it
 * already is one or all MAX_CPUS ids are taken. IRQs may be raised at the
 * new CPU as soon as it is online, before this returns; those run (IRQs
 * unmasked) before it returns.
 */
int host_cpu_register(void);

/*
 * Stop being a CPU (CPU only). Stops this CPU's timer and masks its IRQs,
 * takes it offline (no IPI can target it any more), runs the cross-CPU
 * calls already addressed to it, then the offline hooks (still as this
 * CPU, IRQs masked), and drops anything else pending. Only then, when
 * this thread no longer acts as that CPU, is the id free for the next
 * registration.
 */
void host_cpu_unregister(void);

/*
 * Call fn(cpu) on every CPU that unregisters, as that CPU, with its IRQs
 * masked (the per-CPU page cache drains itself this way). At most
 * HOST_MAX_OFFLINE_HOOKS hooks; returns E_NOSPC beyond that.
 */
#define HOST_MAX_OFFLINE_HOOKS 8
MUST_CHECK err_t host_cpu_on_offline(void (*fn)(unsigned cpu));

/* Number of CPUs online now. */
unsigned host_cpus_online(void);

/* ------------------------------------------------------------ interrupts */

#define HOST_IRQ_VECTORS 8
enum {
	HOST_IRQ_TIMER = 0, /* the per-CPU periodic timer */
	HOST_IRQ_CALL = 1,  /* smp_call_all()'s IPI (reserved: host/smp.c) */
	HOST_IRQ_TEST = 7,  /* free for tests */
};

typedef void (*host_irq_handler_t)(unsigned vector);

/*
 * Install fn as the handler of vector (NULL: ignore the vector).
 * E_RANGE for a bad vector, E_INVAL for the reserved HOST_IRQ_CALL.
 */
MUST_CHECK err_t host_irq_set_handler(unsigned vector, host_irq_handler_t fn);

/*
 * Raise vector on CPU cpu (which may be the caller). Not from IRQ context:
 * it takes the CPU registry lock. E_RANGE for a bad vector, E_STATE if that
 * CPU is not online.
 */
MUST_CHECK err_t host_irq_raise(unsigned cpu, unsigned vector);

/*
 * An interrupt arrives on this CPU at this very instruction (CPU only;
 * any context): vector is raised here, and its handler runs before this
 * returns if IRQs are unmasked, else at the irq_restore() that unmasks
 * them, exactly as a device interrupt would. Tests call it from a pause
 * point (kernel/lib/pause.h) to put an interrupt at a chosen step.
 * E_RANGE for a bad vector.
 */
MUST_CHECK err_t host_irq_raise_self(unsigned vector);

/*
 * Start this CPU's periodic timer (CPU only): HOST_IRQ_TIMER is raised on
 * this CPU every period_ns nanoseconds, by a POSIX timer whose signal is
 * directed at this thread (SIGEV_THREAD_ID). Restarting changes the period.
 */
MUST_CHECK err_t host_timer_start(uint64_t period_ns);
void host_timer_stop(void);

/* Handler runs on CPU cpu so far, over all vectors (for tests and stats). */
uint64_t host_irq_count(unsigned cpu);

/* The signal that carries simulated IRQs. */
int host_irq_signal(void);

/* ------------------------------------------------------------------- TLB */

/*
 * The TLB event log. The host has no MMU; tlb_flush_page/range/all() and
 * mmu_switch_root() append an event to the calling CPU's log instead, so
 * that tests can check what the kernel would have flushed, where, and in
 * which order (the page-table layer's oracle: an unmapped page was
 * flushed on every CPU that may have cached it before its frame was
 * freed). Every event gets a sequence number from one counter, so events
 * of different CPUs are ordered too, and host_tlb_mark() places other
 * actions (a free) in that order.
 *
 * Each CPU's log keeps its last HOST_TLB_LOG_EVENTS events; older ones
 * are dropped (counted). Logs outlive their CPUs: a test reads them after
 * its threads have unregistered. Reading is safe while CPUs record.
 */
#define HOST_TLB_LOG_EVENTS 512

struct host_tlb_event {
	uint64_t seq;        /* position among all CPUs' events, from 1 */
	enum host_tlb_op op;
	uintptr_t va;        /* PAGE, RANGE: as passed; else 0 */
	size_t len;          /* RANGE: as passed; else 0 */
	paddr_t root;        /* SWITCH: the new root; else 0 */
};

/*
 * Copy CPU cpu's kept events, oldest first, up to max of them, to out.
 * Returns how many it recorded since the last clear: more than it copied
 * if that exceeds max or HOST_TLB_LOG_EVENTS (the oldest were dropped).
 */
size_t host_tlb_log_read(unsigned cpu, struct host_tlb_event *out,
			 size_t max);

/* Empty every CPU's log (sequence numbers keep growing). */
void host_tlb_log_clear(void);

/*
 * A point in the order of events: every event recorded before the call
 * has seq <= the mark, every event recorded after it returns has
 * seq > the mark.
 */
uint64_t host_tlb_mark(void);

/*
 * Whether CPU cpu recorded, after mark `after` and up to mark `upto`, a
 * flush that covers va: a page flush of va's page, a range flush that
 * overlaps it, or a full flush. The host knows no page sizes: a page is
 * PAGE_SIZE here. A root switch counts for the lower half only: on the
 * real machine it keeps Global entries, which only the kernel half has
 * (BOO-01). Panics rather than answer no when events of
 * that window were dropped (the answer would be a guess).
 */
#define HOST_LOWER_HALF_END (UINT64_C(1) << 47)
bool host_tlb_flushed(unsigned cpu, uintptr_t va, uint64_t after,
		      uint64_t upto);

/* ---------------------------------------------------------------- memory */

/*
 * Reserve the physical-memory arena: bytes of address space (rounded up to
 * pages), mapped MAP_NORESERVE so only touched pages cost memory. Physical
 * address p is arena offset p. E_ALREADY if one exists, E_NOMEM if the
 * mapping fails, E_INVAL for 0 bytes.
 */
MUST_CHECK err_t host_arena_init(uint64_t bytes);

/* Unmap the arena (no CPU may use it any more). */
void host_arena_fini(void);

/* --------------------------------------------------- the memory system */

/*
 * A PC-like memory map of `bytes` of RAM (<= the arena): usable low memory
 * to 639 KiB, the BIOS hole to 1 MiB, usable from 1 MiB, and the first MiB
 * reserved (MEM_LOW) as the kernel does. E_RANGE if bytes does not fit.
 */
MUST_CHECK err_t host_mm_pc_map(struct memmap *m, uint64_t bytes);

/*
 * Boot the memory system on map m (or on host_mm_pc_map(bytes)) the way
 * the kernel does: boot allocator, early frames, frame allocator with
 * configuration cfg. CPU only; the arena must cover the map. A CPU that
 * unregisters drains its page caches first.
 */
MUST_CHECK err_t host_mm_boot_map(const struct memmap *m,
				  const struct frame_config *cfg);
MUST_CHECK err_t host_mm_boot(uint64_t bytes, const struct frame_config *cfg);

/*
 * Forget the memory system (no CPU may be using it), for a fresh boot.
 * CPU only.
 */
void host_mm_shutdown(void);

#endif /* HOST_HOST_H */
