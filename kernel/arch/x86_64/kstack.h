/* SPDX-License-Identifier: MIT */
/*
 * Kernel stacks with guard pages (finding 5), in the kernel half's stack
 * area (KSTACK_AREA_BASE, PML4 slot 510: see paging.h).
 *
 * The area is cut into slots of KSTACK_SLOT_PAGES pages. A stack of n
 * pages (n <= KSTACK_MAX_PAGES) takes one slot and is mapped at its top,
 * read-write no-execute Global, on frames from frame_alloc (not contiguous:
 * only the mapping is); the slot's pages below it are never mapped. So
 * below every stack lies at least one unmapped guard page, and above it
 * the next slot's guard. An overflow faults on the guard; the CPU cannot
 * push the page fault's frame on the stack that overflowed, so it raises
 * a double fault, which runs on its own interrupt stack (IST, percpu.h)
 * and reports the overflow (kstack_explain_fault).
 *
 * Stacks are never freed: a CPU that failed to start may still run on its
 * stack later (finding 1), and a retired stack costs only its frames.
 */
#ifndef KERNEL_ARCH_X86_64_KSTACK_H
#define KERNEL_ARCH_X86_64_KSTACK_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel/lib/err.h"

#define KSTACK_SLOT_PAGES 8
#define KSTACK_MAX_PAGES  (KSTACK_SLOT_PAGES - 1)

/*
 * A new stack of pages pages; its top (exclusive, page-aligned: where RSP
 * starts) in *top. After frame_init, not in IRQ context, one CPU at a time
 * like paging_map() (today the boot CPU; the page-table layer brings the
 * locks).
 *   E_INVAL  pages is 0 or above KSTACK_MAX_PAGES
 *   E_NOMEM  no frames, or no slot left (its slot is then retired, and
 *            the frames already mapped in it with it)
 */
MUST_CHECK err_t kstack_alloc(unsigned pages, uint64_t *top);

/*
 * For a double fault's report: if rsp (the interrupted RSP) or cr2 lies in
 * this CPU's current stack's guard page or in the guard part of any stack
 * slot, log "kernel stack overflow on CPU n (stack [lo, hi), guard at g)"
 * and return true. Any context (reads without locks; called dying).
 */
bool kstack_explain_fault(uint64_t rsp, uint64_t cr2);

/*
 * Whether [va, va + len) lies inside the mapped part of one stack: a
 * backtrace through an AP's frames (which live here, not in the image or
 * the direct map) may read it without faulting. Any context, no lock.
 */
bool kstack_mapped(uint64_t va, uint64_t len);

/*
 * Every stack allocated so far is mapped read-write no-execute at its
 * slot's top, and the rest of its slot is unmapped. Logs the first
 * problem. Any CPU.
 */
bool kstack_validate(void);

#endif /* KERNEL_ARCH_X86_64_KSTACK_H */
