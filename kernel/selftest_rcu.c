/* SPDX-License-Identifier: MIT */
/*
 * The kernel's RCU (locks/qsbr.c) on every CPU (selftest_rcu.h).
 *
 * The waits are forced: a reader stays in its section, interrupts
 * enabled, for RCU_HOLD_MS after the waiter began (three timer ticks at
 * least), so a tick or an IPI that wrongly counted as a quiescent state
 * would end the wait before the reader says it has left.
 */
#include <stdatomic.h>

#include <platform.h>

#include "kernel/arch/x86_64/smp.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/lib/rng.h"
#include "kernel/mm/heap.h"
#include "kernel/selftest_check.h"
#include "kernel/selftest_rcu.h"
#include "locks/qsbr.h"

#define RCU_HOLD_MS 40

static _Atomic int reader_in, waiter_began, reader_left;

static void wait_for(_Atomic int *flag)
{
	while (!atomic_load_explicit(flag, memory_order_acquire))
		cpu_spin();
}

static void set(_Atomic int *flag)
{
	atomic_store_explicit(flag, 1, memory_order_release);
}

/* CPU 1: a section that lasts until RCU_HOLD_MS after CPU 0 began. */
static void hold_section(void)
{
	uint64_t until;

	rcu_read_enter();
	set(&reader_in);
	wait_for(&waiter_began);
	until = time_ns() + RCU_HOLD_MS * UINT64_C(1000000);
	while (time_ns() < until)
		cpu_spin(); /* interrupts enabled: ticks and IPIs come */
	set(&reader_left);
	rcu_read_exit();
}

static void reset_flags(void)
{
	atomic_store(&reader_in, 0);
	atomic_store(&waiter_began, 0);
	atomic_store(&reader_left, 0);
}

static _Atomic int result; /* CPU 0's verdict: 1 passed, -1 failed */

static void sync_roles(void *arg)
{
	(void)arg;
	if (cpu_id() == 1) {
		hold_section();
	} else if (cpu_id() == 0) {
		wait_for(&reader_in);
		set(&waiter_began);
		rcu_synchronize();
		atomic_store(&result,
			     atomic_load(&reader_left) ? 1 : -1);
	}
}

bool selftest_rcu_synchronize_waits_for_sections(void)
{
	uint64_t gps = qsbr_grace_periods();

	rcu_synchronize(); /* alone: no section anywhere */
	CHECK(qsbr_grace_periods() > gps);
	if (ncpus() < 2)
		return true;
	reset_flags();
	atomic_store(&result, 0);
	smp_run_all(sync_roles, NULL);
	if (atomic_load(&result) != 1)
		klog("selftest:   rcu_synchronize() returned while CPU 1 was "
		     "still in its section");
	return atomic_load(&result) == 1;
}

/* ------------------------------------------------------------ callbacks */

struct flagged {
	struct rcu_work work;
	_Atomic int ran;
};

static void set_ran(struct rcu_work *w)
{
	atomic_store(&((struct flagged *)w)->ran, 1);
}

static struct flagged early, late;

static void call_roles(void *arg)
{
	(void)arg;
	if (cpu_id() == 1) {
		hold_section();
	} else if (cpu_id() == 0) {
		wait_for(&reader_in);
		rcu_call(&early.work, set_ran);
		set(&waiter_began);
		wait_for(&reader_left);
		/* Ticks ran CPU 0's polls all along: early waited. */
		atomic_store(&result, atomic_load(&early.ran) ? -1 : 1);
	}
}

bool selftest_rcu_callbacks_wait_for_sections(void)
{
	atomic_store(&late.ran, 0);
	rcu_call(&late.work, set_ran);
	rcu_drain();
	CHECK(atomic_load(&late.ran));
	if (ncpus() < 2)
		return true;
	reset_flags();
	atomic_store(&early.ran, 0);
	atomic_store(&result, 0);
	smp_run_all(call_roles, NULL);
	rcu_drain();
	CHECK(atomic_load(&early.ran));
	if (atomic_load(&result) != 1)
		klog("selftest:   a callback ran while a section that began "
		     "before its rcu_call() was still running");
	return atomic_load(&result) == 1;
}

/* -------------------------------------------------------------- torture */

/*
 * Every CPU reads the shared object inside sections, in tasks and in its
 * timer interrupt, and checks its magic; every CPU in turn replaces it and
 * frees the old one through rcu_call(), whose callback wipes the magic
 * before kfree(): a reader that sees a wiped or foreign magic saw an
 * object freed under it.
 */
#define MAGIC 0x7c0de5eau

struct obj {
	struct rcu_work work;
	_Atomic uint32_t magic;
};

static _Atomic(struct obj *) shared;
static _Atomic uint64_t replaced, freed, bad_reads, bad_frees, reads;

static void free_obj(struct rcu_work *w)
{
	struct obj *o = (struct obj *)w;

	atomic_store_explicit(&o->magic, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed);
	if (kfree(o) != E_OK)
		atomic_fetch_add(&bad_frees, 1);
}

static void read_shared(void)
{
	struct obj *o;

	rcu_read_enter();
	o = atomic_load_explicit(&shared, memory_order_acquire);
	for (int k = 0; k < 8; k++)
		if (atomic_load_explicit(&o->magic, memory_order_relaxed) !=
		    MAGIC)
			atomic_fetch_add(&bad_reads, 1);
	rcu_read_exit();
	atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
}

static void replace_shared(void)
{
	struct obj *o = kmalloc(sizeof(*o), 0), *old;

	if (o == NULL)
		return;
	atomic_store_explicit(&o->magic, MAGIC, memory_order_relaxed);
	old = atomic_exchange_explicit(&shared, o, memory_order_acq_rel);
	rcu_call(&old->work, free_obj);
	atomic_fetch_add(&replaced, 1);
}

static void torture_cpu(void *arg)
{
	uint64_t until = *(const uint64_t *)arg;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (cpu_id() + 1);

	while (time_ns() < until) {
		if (rng_next(&rng) % 64 == 0)
			replace_shared();
		else
			read_shared();
		if (rng_next(&rng) % 4096 == 0)
			rcu_synchronize();
	}
}

bool selftest_rcu_torture(uint64_t run_ms)
{
	uint64_t until, gps = qsbr_grace_periods();
	struct obj *first = kmalloc(sizeof(*first), 0);

	CHECK(first != NULL);
	atomic_store(&first->magic, MAGIC);
	atomic_store(&shared, first);
	atomic_store(&replaced, 0);
	atomic_store(&freed, 0);
	atomic_store(&bad_reads, 0);
	atomic_store(&bad_frees, 0);
	atomic_store(&reads, 0);
	timer_set_hook(read_shared); /* interrupts read too */
	until = time_ns() + run_ms * UINT64_C(1000000);
	smp_run_all(torture_cpu, &until);
	timer_set_hook(NULL);
	rcu_drain();
	klog("selftest:   %llu reads, %llu objects replaced and freed, %llu "
	     "grace periods", (unsigned long long)atomic_load(&reads),
	     (unsigned long long)atomic_load(&replaced),
	     (unsigned long long)(qsbr_grace_periods() - gps));
	CHECK(atomic_load(&bad_reads) == 0);
	CHECK(atomic_load(&bad_frees) == 0);
	CHECK(atomic_load(&freed) == atomic_load(&replaced));
	CHECK(atomic_load(&replaced) > 0);
	free_obj(&atomic_load(&shared)->work);
	return atomic_load(&bad_frees) == 0;
}
