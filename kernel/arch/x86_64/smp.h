/* SPDX-License-Identifier: MIT */
/*
 * Bringing up the application processors, and running work on all CPUs.
 */
#ifndef KERNEL_ARCH_X86_64_SMP_H
#define KERNEL_ARCH_X86_64_SMP_H

#include "kernel/arch/x86_64/acpi.h"

#define TRAMPOLINE_PHYS 0x8000 /* in the reserved first MiB */

/* How long the boot CPU waits for the APs to arrive, all together. */
#define AP_ARRIVE_TIMEOUT_MS 2000

/*
 * Start every processor the MADT lists besides this one, all at once
 * (INIT to each, 10 ms, then startup IPIs to each, through the
 * trampoline), each on its own stack with its own GDT, TSS, IDT, LAPIC
 * timer (hz ticks a second) and per-CPU caches. CPU ids are dense, in
 * the order the APs arrived (percpu_of(c)->apic_id says which is which); an
 * AP that does not arrive within AP_ARRIVE_TIMEOUT_MS is reported, parked
 * with INIT, and its slot and stack are never used by another CPU.
 * Returns how many came up.
 * Boot CPU, once, with the frame allocator up and interrupts enabled.
 */
unsigned smp_start_aps(const struct acpi_madt_info *madt, uint32_t timer_hz);

/*
 * Test injection (kernel command line late_ap=ID, late_ap_unparked=ID):
 * the AP with APIC id apic_id, once it has found its slot, waits until
 * the boot CPU has given up on it before it tries to claim the slot: the
 * worst case of an AP late past the timeout, every time. With park false
 * the boot CPU does not send the parking INIT, so the AP itself must see
 * that its slot was retired (and says so in the slot, for the test).
 * smp_start_aps panics if no AP has that APIC id (the boot CPU's, or
 * one the MADT lacks): an injection that hits nothing tests nothing.
 * Before smp_start_aps.
 */
void smp_inject_late_ap(uint32_t apic_id, bool park);

/*
 * Run fn(arg) on every CPU at once, in process context with interrupts
 * enabled (unlike smp_call_all, for long work such as self-tests), and
 * return when every CPU has finished. Boot CPU only.
 */
void smp_run_all(void (*fn)(void *arg), void *arg);

/*
 * Test hook (selftest idle_wake_not_lost): make every AP hold in its idle
 * loop between finding no work and halting, until the next smp_run_all()
 * has sent its wake IPIs (smp.c, hold_in_idle_window()). Returns whether
 * every AP is holding (within 1 s). Boot CPU, APs idle.
 */
bool smp_idle_race_arm(void);

/* Mark the boot CPU online (before any other CPU starts). */
void smp_boot_cpu_online(void);

#endif /* KERNEL_ARCH_X86_64_SMP_H */
