/* SPDX-License-Identifier: MIT */
/*
 * The scrub queue: blocks freed by a dying account wait here, counted in
 * the backlog, until the scrubber has zeroed them; only then do they go
 * back to the buddy (XEN-SCRUB), marked PF_ZEROED so that FRAME_ZERO
 * allocations need not clear them again.
 *
 * The scrubber works in bounded batches: the kernel runs it from its idle
 * loop, host programs from a thread or a test.
 */
#ifndef KERNEL_MM_SCRUB_H
#define KERNEL_MM_SCRUB_H

#include "kernel/mm/page.h"

/*
 * Queue the block headed by p (2^order frames). Pre: the caller owns the
 * block (its free claimed it); any context.
 */
void scrub_queue(struct page *p, unsigned order);

/*
 * Zero and free queued blocks, oldest first, until at least max_pages
 * frames are done or the queue is empty. Returns the frames scrubbed.
 * Process or idle context (zeroing is slow; interrupts stay enabled).
 */
uint64_t scrub_run(uint64_t max_pages);

/* Frames waiting to be scrubbed (exact when no operation is in flight). */
uint64_t scrub_backlog(void);

/*
 * Check the queue: every entry is a PAGE_SCRUB head, the list has no cycle,
 * and the backlog equals its frames. Sets *frames to them.
 */
bool scrub_validate(uint64_t *frames);

/* Forget the queue (host tests only, with the frame allocator). */
void scrub_fini(void);

#endif /* KERNEL_MM_SCRUB_H */
