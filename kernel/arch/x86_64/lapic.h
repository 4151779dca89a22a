/* SPDX-License-Identifier: MIT */
/*
 * The local APIC, in xAPIC mode: memory-mapped registers at the address
 * the ACPI MADT gives (finding KSP-02: never a hard-coded address), mapped
 * uncached (finding BOO-04) by paging_init().
 */
#ifndef KERNEL_ARCH_X86_64_LAPIC_H
#define KERNEL_ARCH_X86_64_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

/* Where the registers are (physical); before any other call. */
void lapic_set_base(uint64_t phys);
uint64_t lapic_base_phys(void);

/* Where this CPU's IA32_APIC_BASE MSR says its APIC is (a cross-check). */
uint64_t lapic_msr_base(void);

/*
 * Software-enable this CPU's APIC, spurious vector VECTOR_SPURIOUS, and
 * mask LINT0 (the legacy PICs' line).
 */
void lapic_enable(void);

/*
 * This driver speaks xAPIC: registers in memory, 8-bit ids. Firmware may
 * hand over a CPU with its LAPIC globally disabled or in x2APIC mode
 * (IA32_APIC_BASE bits 11 and 10), where the memory window is dead:
 * panic, saying which, unless msr (that MSR's value) says enabled, xAPIC
 * mode. lapic_enable() checks this CPU's first.
 */
void lapic_check_mode(uint64_t msr);

/* Move the legacy 8259 PICs out of the way and mask them. Boot CPU, early. */
void legacy_pic_disable(void);

uint32_t lapic_id(void);
void lapic_eoi(void);

/*
 * The highest APIC id an IPI can name: xAPIC destinations are 8 bits and
 * 0xff is the broadcast. Every lapic_send_* panics on a dest above it
 * rather than truncate it (256 would reach APIC id 0) or broadcast (255).
 */
#define LAPIC_MAX_DEST 254u

/* A fixed-delivery IPI with vector to the CPU with APIC id dest. */
void lapic_send_ipi(uint32_t dest, uint8_t vector);

/* INIT, and a startup IPI with the given vector (page of the trampoline). */
void lapic_send_init(uint32_t dest);
void lapic_send_startup(uint32_t dest, uint8_t vector);

/* Periodic timer on VECTOR_TIMER, hz times a second (after calibration). */
void lapic_timer_start(uint32_t hz);

/* Timer programming for calibration: count down from max, read, stop. */
void lapic_timer_count_down(void);
uint32_t lapic_timer_current(void);
void lapic_timer_stop(void);

/* An NMI to the CPU with APIC id dest (panic stops the others with it). */
void lapic_send_nmi(uint32_t dest);

/* Whether vector is requested on this CPU and not yet taken (its IRR bit). */
bool lapic_irr_pending(uint8_t vector);

/* Mask or unmask this CPU's timer interrupt; the count runs on (tests). */
void lapic_timer_set_masked(bool masked);

#endif /* KERNEL_ARCH_X86_64_LAPIC_H */
