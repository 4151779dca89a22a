/* SPDX-License-Identifier: MIT */
/*
 * The platform contract: everything portable code may ask of the machine.
 *
 * Every portable source (kernel/mm, percpu, locks) includes <platform.h>,
 * which the include path resolves to exactly one implementation:
 *
 *   -Ihost                 host/platform.h: threads play CPUs, POSIX timer
 *                          signals play interrupts, an mmap'd arena plays RAM
 *   -Ikernel/arch/x86_64   kernel/arch/x86_64/platform.h: the real machine
 *
 * Each implementation includes this file first and then defines every hook
 * below with exactly the contract written here, either static inline (the
 * hooks declared static inline, which sit on fast paths) or out of line.
 * Portable code relies on nothing else from its platform.
 */
#ifndef KERNEL_PLATFORM_CONTRACT_H
#define KERNEL_PLATFORM_CONTRACT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/config.h"
#include "kernel/lib/compiler.h"
#include "kernel/lib/err.h"
#include "kernel/types.h"

/* ------------------------------------------------------------------ CPUs */

#define MAX_CPUS CONFIG_MAX_CPUS

/*
 * The id of the CPU running the caller, in [0, MAX_CPUS).
 * Pre: the caller runs on an online CPU (kernel: after the CPU's per-CPU
 * area is installed; host: the thread has registered as a CPU). Calling it
 * elsewhere panics in debug builds.
 * Stable: code never migrates between CPUs (the kernel has no scheduler;
 * a host thread keeps its id until it unregisters), so the value may be
 * cached for as long as the caller runs.
 */
static inline unsigned cpu_id(void);

/*
 * One more than the highest CPU id that has been online since start-up.
 * Per-CPU arrays are walked over [0, ncpus()). Never decreases.
 */
static inline unsigned ncpus(void);

/*
 * Whether CPU c is online now. Racy: a host CPU may go offline right after
 * the call; callers that need a stable answer must serialise with that.
 */
bool cpu_online(unsigned c);

/*
 * Busy-wait hints, one call per iteration of every spin loop; a loop picks
 * one by how its wait ends.
 *
 * cpu_relax(): for waits on something that may take long, and for waits
 * with interrupts masked (lock waits). Both platforms: `pause`, and every
 * so often give the CPU away, because a host thread, like a vCPU, can be
 * descheduled while holding what others wait for, and spinning through its
 * whole time slice only delays it. Host: a yield of the thread. Kernel:
 * with interrupts enabled, a halt until the next interrupt (at most one
 * timer tick, 10 ms): right only where that much extra latency is fine.
 *
 * cpu_spin(): for waits, with interrupts enabled, whose end sends this CPU
 * no interrupt and must be seen at once: smp_call_cond() waiting for its
 * targets (a TLB shootdown waits there). Never waits for an interrupt.
 * Host: as cpu_relax() (a yield ends when the scheduler says, not at a
 * tick). Kernel: `pause` only.
 */
static inline void cpu_relax(void);
static inline void cpu_spin(void);

/* ------------------------------------------------------------ interrupts */

/* Saved interrupt state; only irq_restore() interprets it. */
typedef struct {
	unsigned long flags;
} irqflags_t;

/*
 * Mask interrupts on this CPU and return the previous state.
 * Pairs nest: inside an outer pair, an inner irq_restore() keeps interrupts
 * masked. Kernel: pushf; cli. Host: a thread-local "masked" flag; a
 * simulated IRQ arriving while it is set is recorded, not run.
 */
static inline irqflags_t irq_save(void);

/*
 * Restore the state saved by the matching irq_save() on this CPU.
 * If this unmasks, every IRQ that was raised while masked runs before
 * irq_restore() returns: once per raised vector, however many times it was
 * raised (a pending bit, as in the local APIC's IRR).
 */
static inline void irq_restore(irqflags_t f);

/* Whether interrupts are unmasked on this CPU. */
static inline bool irqs_enabled(void);

/*
 * Whether the caller runs in an interrupt handler (at any depth). Handlers
 * run with interrupts masked.
 */
static inline bool in_irq(void);

/*
 * Run fn(arg) on every online CPU, the caller's included, and return when
 * all have finished. Elsewhere fn runs in interrupt context (an IPI); on
 * the caller's CPU, with interrupts masked. fn must not block or take a
 * lock the caller might hold.
 * Pre: interrupts enabled, not in IRQ context, no spinlock held (a CPU
 * waiting with interrupts masked for one that waits for it would deadlock;
 * Linux's smp_call_function has the same rule; debug builds check it).
 * A target that has not answered after SMP_CALL_WATCHDOG_CYCLES
 * (kernel/smp_call.h) is named in the log, again after twice as long, and
 * so on; the caller keeps waiting (kernel/smp_call.c says why).
 */
void smp_call_all(void (*fn)(void *arg), void *arg);

/*
 * smp_call_all() restricted to the online CPUs for which want(cpu, arg)
 * is true, the caller's included (Linux's on_each_cpu_cond()). The caller
 * evaluates want once per CPU before interrupting it; want must be quick,
 * must not block, and may read other CPUs' state racily: a CPU it skips
 * is simply not called. Same preconditions as smp_call_all().
 */
void smp_call_cond(bool (*want)(unsigned cpu, void *arg),
		   void (*fn)(void *arg), void *arg);

/*
 * Interrupt CPU cpu so that it runs smp_call_serve() (kernel/smp_call.h)
 * in IRQ context, as soon as it has interrupts enabled. Returns false, and
 * sends nothing, if that CPU is not online. Pre: not in IRQ context.
 * (Used by kernel/smp_call.c; the kernel sends a fixed IPI, the host a
 * signal.)
 */
bool ipi_call(unsigned cpu);

/* ---------------------------------------------------------------- memory */

/*
 * Kernel virtual address of physical address pa, and back.
 * Pre: pa lies in memory the platform maps (kernel: the direct map of all
 * RAM; host: the arena). virt_to_phys() takes only pointers that
 * phys_to_virt() produced (or that point into the same mapping).
 * Alignment is kept up to 1 GiB: pa and phys_to_virt(pa) are aligned
 * alike to every power of two up to 2^30 (so a buddy block, or a
 * kmalloc_aligned() object, is aligned as its physical address is).
 */
static inline void *phys_to_virt(paddr_t pa);
static inline paddr_t virt_to_phys(const void *va);

/*
 * For an address from outside (kfree() of any pointer): true, and its
 * physical address in *pa, iff va lies in the mapping phys_to_virt()
 * produces (kernel: the direct map's window, mapped or not; host: the
 * arena). Reads nothing at va. Any context.
 */
static inline bool virt_to_phys_checked(const void *va, paddr_t *pa);

/* ------------------------------------------------------------------- TLB */

/*
 * TLB maintenance on the calling CPU only: a shootdown is the caller's
 * cross-CPU call (smp_call_cond) in which each target flushes its own.
 * When a call returns, this CPU no longer uses any translation it cached
 * before the call for an address the call covers: the next access walks
 * the page tables. Flushing more than asked is allowed (the kernel turns
 * a long range into a full flush). Any context; none blocks.
 *
 *   tlb_flush_page   the page that contains va, whatever its size
 *   tlb_flush_range  every page that overlaps [va, va + len); len 0
 *                    covers nothing
 *   tlb_flush_all    every translation, Global ones included
 *
 * Host: there is no MMU; each call is recorded, in order, in the calling
 * CPU's TLB event log (host/host.h: host_tlb_log_*), so that tests can
 * check that an address was flushed on every CPU that may have cached it
 * before its frame was freed.
 */
static inline void tlb_flush_page(uintptr_t va);
static inline void tlb_flush_range(uintptr_t va, size_t len);
static inline void tlb_flush_all(void);

/*
 * Make root (the physical address of a top-level page-table page) this
 * CPU's page tables. Drops every non-Global translation this CPU cached,
 * also when root is already the current one; Global ones (only ever in
 * the kernel half) stay: tlb_flush_all() drops those. Any context.
 * Kernel: a CR3 load. Host: recorded in the TLB event log, like a flush.
 */
static inline void mmu_switch_root(paddr_t root);

/* ------------------------------------------------------------------- RCU */

/*
 * Read-copy-update, quiescent-state based (QSBR): lock-free readers (the
 * page-table walks of kernel/mm/cursor.c) may use what they found until a
 * grace period after it was unlinked, and whoever unlinked it frees it
 * only after that grace period.
 *
 * rcu_read_enter(), rcu_read_exit()
 *   A read-side section. Sections nest, in any context: an interrupt
 *   handler's section nests in the one it interrupted. Inside one a CPU
 *   must not wait for a grace period (no rcu_synchronize() or
 *   rcu_drain(): it would wait for itself); it may wait for other CPUs
 *   (smp_call_*(), a frame allocation's reclaim), which serve those calls
 *   while they wait for grace periods.
 * rcu_reading()
 *   Whether this CPU is inside a section (assertions).
 * rcu_synchronize()
 *   Returns once every section that had begun, on any CPU, when it was
 *   called has ended. Pre: not in a section, interrupts enabled, not in
 *   IRQ context, no spinlock held (it waits for every CPU, as
 *   smp_call_all() does).
 * rcu_call(w, fn)
 *   fn(w) runs once, after a grace period that begins after this call: on
 *   some CPU, in any context (possibly IRQ context with interrupts masked;
 *   fn must not block: freeing frames and heap objects is fine). No later
 *   than that CPU's next timer tick, rcu_call() or rcu_drain() once the
 *   grace period has ended. Callbacks are not ordered among themselves.
 *   w must stay valid until fn runs. Any context.
 * rcu_drain()
 *   Returns once every fn queued by rcu_call() before it, on any CPU, has
 *   run (host: every fn queued so far, so under a steady stream of
 *   rcu_call()s on other CPUs it waits for a lull). Same preconditions
 *   as rcu_synchronize().
 *
 * Kernel (locks/qsbr.c): a CPU passes a quiescent state at each timer tick
 * and IPI that did not interrupt a section; rcu_synchronize() interrupts
 * every CPU to ask, and callbacks run from the tick. Host (host/rcu.c):
 * liburcu's QSBR flavour, with each host CPU registered and online only
 * inside sections (an extended quiescent state outside them, so a CPU
 * that blocks in a test never stalls a grace period); callbacks wait for
 * a grace period in a thread of host/rcu.c's own, and then run on a host
 * CPU.
 */
struct rcu_work {
	struct rcu_work *next;
	void (*fn)(struct rcu_work *w);
};

void rcu_read_enter(void);
void rcu_read_exit(void);
bool rcu_reading(void);
void rcu_synchronize(void);
void rcu_call(struct rcu_work *w, void (*fn)(struct rcu_work *w));
void rcu_drain(void);

/* ----------------------------------------------------------- user memory */

/*
 * Read or write the 64-bit word at user address va (8-byte aligned, in
 * the lower half) of this CPU's address space (kernel/mm/vmspace.h:
 * vmspace_current()) as a user access does: a fault the space resolves
 * (a demand page, a copy-on-write page) is resolved and the access done;
 * E_FAULT, changing nothing, if the address stays inaccessible (no space,
 * nothing mapped, read-only for a write). Pre: interrupts enabled, not in
 * IRQ context (resolving a fault takes cursors and may wait).
 * Kernel: a probe in an SMAP window, through the page-fault hook
 * (kernel/arch/x86_64/vmfault.c). Host: the MMU's walk done in software
 * with interrupts masked (a shootdown waits for it as for a TLB), and
 * vmspace_fault() where the MMU would fault (host/uaccess.c).
 */
MUST_CHECK err_t user_read_u64(uint64_t va, uint64_t *v);
MUST_CHECK err_t user_write_u64(uint64_t va, uint64_t v);

/* ------------------------------------------------------------------ time */

/*
 * A cycle counter (the TSC on both platforms): monotonic on one CPU,
 * roughly comparable across CPUs. For measuring, never for correctness.
 */
static inline uint64_t cycles(void);

/* ----------------------------------------------------------- diagnostics */

/*
 * Print "panic: cpu N: <message>" and stop for good. Kernel: halt every
 * CPU and leave QEMU with a non-zero exit code. Host: abort().
 * Callable in any context, with interrupts masked or from a handler.
 */
NORETURN void panic(const char *fmt, ...) PRINTF_LIKE(1, 2);

/*
 * Print one line (the newline is added). Lines from different CPUs never
 * interleave. Callable in any context. (Not log(): that is libm's.)
 */
void klog(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* Check an invariant in debug builds; a broken invariant is a panic. */
#if CONFIG_DEBUG
#define ASSERT(cond)                                                    \
	do {                                                            \
		if (unlikely(!(cond)))                                  \
			panic("assertion failed: %s at %s", #cond, HERE); \
	} while (0)
#else
#define ASSERT(cond) ((void)sizeof(cond))
#endif

/* ------------------------------------------------- race-detector hints */

/*
 * Tell a race detector that the caller has just acquired, or is about to
 * release, the synchronisation object at obj (a lock word). Needed where
 * the synchronisation itself is invisible to it: Concurrency Kit's x86-64
 * atomics are inline asm, which ThreadSanitizer cannot see. Pairing:
 * hb_release(obj) on one CPU happens-before a later hb_acquire(obj) on any
 * CPU. No-ops except in host ThreadSanitizer builds.
 */
static inline void hb_acquire(const void *obj);
static inline void hb_release(const void *obj);

#endif /* KERNEL_PLATFORM_CONTRACT_H */
