/* SPDX-License-Identifier: MIT */
/*
 * Bringing up the application processors, and running work on all CPUs.
 */
#ifndef KERNEL_ARCH_X86_64_SMP_H
#define KERNEL_ARCH_X86_64_SMP_H

#include "kernel/arch/x86_64/acpi.h"

#define TRAMPOLINE_PHYS 0x8000 /* in the reserved first MiB */

/*
 * Start every processor the MADT lists besides this one, one at a time
 * (INIT, then startup IPIs through the trampoline), each on its own stack
 * (from the frame allocator) with its own GDT, TSS, IDT, LAPIC timer
 * (hz ticks a second) and per-CPU caches. Returns how many came up.
 * Boot CPU, with the frame allocator up and interrupts enabled.
 */
unsigned smp_start_aps(const struct acpi_madt_info *madt, uint32_t timer_hz);

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
