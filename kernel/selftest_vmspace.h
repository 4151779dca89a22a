/* SPDX-License-Identifier: MIT */
/*
 * Address-space self-tests (kernel/selftest_vmspace.c), run by
 * selftest_run(). Boot CPU, interrupts enabled, the other CPUs idle; each
 * returns whether it passed and logs why not.
 */
#ifndef KERNEL_SELFTEST_VMSPACE_H
#define KERNEL_SELFTEST_VMSPACE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * For run_ms every CPU, with one space active on all: maps pages of its
 * own range, writes them through the user mapping and reads them through
 * the direct map, makes them read-only (a write faults), unmaps them (a
 * read faults) — each change shot down on every CPU by IPI; maps, unmaps
 * and reads a range all share; and switches to a space of its own and
 * back (CR3 loads). Then the tables and the frame allocator check out.
 */
bool selftest_vmspace_all_cpus(uint64_t run_ms);

/*
 * Demand faults on every CPU at once (all touch every page of a region
 * through the page-fault hook), then a fork, and copy-on-write faults on
 * every CPU at once, half of them in the child, half in the parent: the
 * parent's pages keep the parent's contents, the child's get the writes.
 */
bool selftest_vmspace_faults_all_cpus(void);

#endif /* KERNEL_SELFTEST_VMSPACE_H */
