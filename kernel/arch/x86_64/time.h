/* SPDX-License-Identifier: MIT */
/*
 * Time: the TSC and the local APIC timer, both calibrated at boot against
 * the PIT (channel 2, gated through port 0x61), which runs at a known
 * 1193182 Hz on real machines and in QEMU (KVM or TCG alike).
 */
#ifndef KERNEL_ARCH_X86_64_TIME_H
#define KERNEL_ARCH_X86_64_TIME_H

#include <stdint.h>

/* Measure both clocks over 20 ms of PIT time. Boot CPU, after lapic_set_base. */
void time_calibrate(void);

uint64_t tsc_hz(void);
uint64_t lapic_timer_hz(void); /* at divide-by-16 */

/* Busy-wait us microseconds (TSC). */
void udelay(uint64_t us);

/* Nanoseconds since time_calibrate(). */
uint64_t time_ns(void);

/* Every CPU's timer rate, unless a benchmark changes its own for a while. */
#define TIMER_HZ 100

/* Reprogram this CPU's periodic timer to hz (the LAPIC's: per CPU). */
void timer_set_hz(uint32_t hz);

/*
 * The periodic timer interrupt (VECTOR_TIMER, every CPU): counts the CPU's
 * ticks and runs the hook, if any, in IRQ context.
 */
void timer_tick(void);

/*
 * Make fn (NULL: none) the hook every CPU's timer runs from now on, and
 * return only once no CPU can still be running the previous one (after
 * every online CPU has ticked twice: 20 ms at 100 Hz). Boot CPU, process
 * context, interrupts enabled.
 */
void timer_set_hook(void (*fn)(void));

/* Ticks CPU cpu has taken. */
uint64_t timer_ticks(unsigned cpu);

#endif /* KERNEL_ARCH_X86_64_TIME_H */
