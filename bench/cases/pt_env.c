/* SPDX-License-Identifier: MIT */
/*
 * The page-table cases' environments (bench.h, BENCH_ENV): "tree" and
 * "space", the frame allocator in configuration full with a kernel table
 * and a user table over it, the user table locked per node (PT_LOCK_TREE)
 * or as a whole (PT_LOCK_SPACE). Portable: both harnesses run them (the
 * kernel: bench=tree, bench=space).
 *
 * Per benchmark: setup() makes the tables; check() checks them
 * (pt_validate() of both, the user table's kernel half included), destroys
 * them, checks that every node they ever made has been freed (the
 * tables' node counts back to zero), and waits for the RCU callbacks
 * that free detached nodes, so that the harness, which then compares the
 * frames allocated with what they were before setup() (frames_balance),
 * sees them back. A leaf still mapped after the runs is the case's to
 * catch (its frame_free() fails: pt_map_unmap.c); pt_destroy() would drop
 * it here, and the frames would balance.
 */
#include "bench/cases/pt_cases.h"

struct pt_bench pt_bench;

static bool pt_setup(enum pt_locking locking)
{
	err_t e;

	if ((e = pt_create(&pt_bench.kernel, PT_KERNEL, NULL,
			   PT_LOCK_TREE)) != E_OK) {
		klog("bench: pt: cannot make the kernel table: %s",
		     err_name(e));
		return false;
	}
	if ((e = pt_create(&pt_bench.user, PT_USER, &pt_bench.kernel,
			   locking)) != E_OK) {
		klog("bench: pt: cannot make the user table: %s", err_name(e));
		pt_destroy(&pt_bench.kernel);
		return false;
	}
	pt_bench.made = true;
	return true;
}

static bool pt_setup_tree(void)
{
	return pt_setup(PT_LOCK_TREE);
}

static bool pt_setup_space(void)
{
	return pt_setup(PT_LOCK_SPACE);
}

static bool pt_check(void)
{
	bool ok;
	int64_t user_nodes, kernel_nodes;

	if (!pt_bench.made)
		return true;
	ok = pt_validate(&pt_bench.user, &pt_bench.kernel) &&
	     pt_validate(&pt_bench.kernel, NULL);
	if (!ok)
		klog("bench: pt: the tables are inconsistent after the runs "
		     "(the line above says how)");
	pt_destroy(&pt_bench.user);
	pt_destroy(&pt_bench.kernel);
	pt_bench.made = false;
	user_nodes = atomic_load(&pt_bench.user.nodes);
	kernel_nodes = atomic_load(&pt_bench.kernel.nodes);
	if (user_nodes != 0 || kernel_nodes != 0) {
		klog("bench: pt: %lld user and %lld kernel table nodes not "
		     "freed by pt_destroy()", (long long)user_nodes,
		     (long long)kernel_nodes);
		ok = false;
	}
	rcu_drain(); /* detached nodes: back before the frames are counted */
	return ok;
}

static const struct bench_env pt_tree_env = {
	.name = "tree",
	.frame_config = "full",
	.setup = pt_setup_tree,
	.check = pt_check,
	.frames_balance = true,
};
BENCH_ENV(pt_tree_env);

static const struct bench_env pt_space_env = {
	.name = "space",
	.frame_config = "full",
	.setup = pt_setup_space,
	.check = pt_check,
	.frames_balance = true,
};
BENCH_ENV(pt_space_env);
