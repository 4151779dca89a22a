/* SPDX-License-Identifier: MIT */
/*
 * The host platform: implements kernel/platform_contract.h for a Linux
 * process, so the allocator sources run unchanged as a normal program.
 *
 *   CPU         a thread that called host_cpu_register(); its id lives in a
 *               thread-local variable
 *   interrupts  soft masking: irq_save() sets a thread-local flag. An IRQ is
 *               a bit in the CPU's pending word plus a signal to its thread
 *               (a POSIX timer with SIGEV_THREAD_ID, or pthread_kill for an
 *               IPI). The signal handler runs the pending vectors at once if
 *               the thread has IRQs unmasked; otherwise the unmasking
 *               irq_restore() runs them (host/irq.c has the protocol)
 *   memory      one mmap'd arena; physical address = offset into it
 *   TLB         no MMU: flushes and root switches are recorded in the
 *               calling CPU's TLB event log (host/tlb.c)
 *   time        the TSC
 *
 * The host-only API (registering CPUs, timers, raising IRQs, the arena) is
 * in host/host.h; portable code never includes that.
 */
#ifndef HOST_PLATFORM_H
#define HOST_PLATFORM_H

#include "kernel/platform_contract.h"

#include <ck_pr.h>
#include <sched.h>
#include <stdatomic.h>

#if HAVE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/*
 * This thread's CPU state. Written only by the thread itself and by its own
 * signal handler, which can interrupt it anywhere: hence atomics with
 * signal fences (no cross-thread ordering is needed for these fields).
 */
struct host_cpu_local {
	int id;                    /* CPU id, or -1 when not a CPU */
	_Atomic bool irq_off;      /* IRQs masked (by irq_save or in a handler) */
	unsigned irq_depth;        /* > 0 while running a handler */
	unsigned relax_count;      /* cpu_relax() calls, for the periodic yield */
	_Atomic uint64_t *pending; /* this CPU's pending vectors (host/irq.c) */
};
extern _Thread_local struct host_cpu_local host_self;

extern _Atomic unsigned host_ncpus_seen;
extern uint8_t *host_arena_base; /* [I] set before any CPU uses memory */
extern uint64_t host_arena_size; /* [I] */

NORETURN void host_not_a_cpu(void);
void host_irq_run_pending(void);

/* cpu_relax() yields the thread after this many calls (a power of two). */
#define HOST_RELAX_YIELD 128u

static inline unsigned cpu_id(void)
{
	if (CONFIG_DEBUG && unlikely(host_self.id < 0))
		host_not_a_cpu();
	return (unsigned)host_self.id;
}

static inline unsigned ncpus(void)
{
	return atomic_load_explicit(&host_ncpus_seen, memory_order_acquire);
}

static inline void cpu_relax(void)
{
	ck_pr_stall();
	if (unlikely((++host_self.relax_count & (HOST_RELAX_YIELD - 1)) == 0))
		sched_yield();
}

/* Same as cpu_relax(): a yield is not a wait for an interrupt. */
static inline void cpu_spin(void)
{
	cpu_relax();
}

#define HOST_IRQF_ENABLED 1ul

static inline bool irqs_enabled(void)
{
	return !atomic_load_explicit(&host_self.irq_off, memory_order_relaxed);
}

static inline bool in_irq(void)
{
	return host_self.irq_depth > 0;
}

static inline irqflags_t irq_save(void)
{
	irqflags_t f = { irqs_enabled() ? HOST_IRQF_ENABLED : 0 };

	atomic_store_explicit(&host_self.irq_off, true, memory_order_relaxed);
	/* The mask is visible to our own signal handler before anything after. */
	atomic_signal_fence(memory_order_seq_cst);
	return f;
}

static inline void irq_restore(irqflags_t f)
{
	if (!(f.flags & HOST_IRQF_ENABLED))
		return; /* an inner pair: stay masked */
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&host_self.irq_off, false, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	/*
	 * An IRQ raised before the store above was deferred: its bit is set
	 * and we run it now. One raised after the store ran in the signal
	 * handler, which cleared its bit. Either way it runs exactly once.
	 */
	if (unlikely(atomic_load_explicit(host_self.pending,
					  memory_order_relaxed) != 0))
		host_irq_run_pending();
}

static inline void *phys_to_virt(paddr_t pa)
{
	ASSERT(pa.v <= host_arena_size);
	return host_arena_base + pa.v;
}

static inline paddr_t virt_to_phys(const void *va)
{
	const uint8_t *p = va;

	ASSERT(p >= host_arena_base && p <= host_arena_base + host_arena_size);
	return PADDR((uint64_t)(p - host_arena_base));
}

static inline bool virt_to_phys_checked(const void *va, paddr_t *pa)
{
	uintptr_t v = (uintptr_t)va, base = (uintptr_t)host_arena_base;

	if (v < base || v - base >= host_arena_size)
		return false;
	*pa = PADDR((uint64_t)(v - base));
	return true;
}

/* What the TLB event log records (host/host.h: host_tlb_log_*). */
enum host_tlb_op {
	HOST_TLB_PAGE = 1, /* tlb_flush_page(va) */
	HOST_TLB_RANGE,    /* tlb_flush_range(va, len) */
	HOST_TLB_ALL,      /* tlb_flush_all() */
	HOST_TLB_SWITCH,   /* mmu_switch_root(root) */
};

/* Append to this CPU's log (CPU only; any context). */
void host_tlb_record(enum host_tlb_op op, uintptr_t va, size_t len,
		     paddr_t root);

static inline void tlb_flush_page(uintptr_t va)
{
	host_tlb_record(HOST_TLB_PAGE, va, 0, PADDR(0));
}

static inline void tlb_flush_range(uintptr_t va, size_t len)
{
	host_tlb_record(HOST_TLB_RANGE, va, len, PADDR(0));
}

static inline void tlb_flush_all(void)
{
	host_tlb_record(HOST_TLB_ALL, 0, 0, PADDR(0));
}

static inline void mmu_switch_root(paddr_t root)
{
	host_tlb_record(HOST_TLB_SWITCH, 0, 0, root);
}

static inline uint64_t cycles(void)
{
	return __builtin_ia32_rdtsc();
}

#if HAVE_TSAN
static inline void hb_acquire(const void *obj)
{
	__tsan_acquire((void *)(uintptr_t)obj);
}
static inline void hb_release(const void *obj)
{
	__tsan_release((void *)(uintptr_t)obj);
}
#else
static inline void hb_acquire(const void *obj) { (void)obj; }
static inline void hb_release(const void *obj) { (void)obj; }
#endif

#endif /* HOST_PLATFORM_H */
