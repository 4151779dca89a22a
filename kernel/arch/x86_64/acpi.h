/* SPDX-License-Identifier: MIT */
/*
 * ACPI, as far as SMP needs it: RSDP -> RSDT or XSDT -> MADT, for the
 * processors (their local APIC ids) and the local APIC's MMIO address.
 * Every table is checked (signature, length, checksum) before use.
 */
#ifndef KERNEL_ARCH_X86_64_ACPI_H
#define KERNEL_ARCH_X86_64_ACPI_H

#include "kernel/config.h"
#include "kernel/lib/err.h"

struct acpi_madt_info {
	uint64_t lapic_phys;                 /* local APIC registers */
	unsigned ncpus;                      /* enabled processors */
	uint32_t apic_id[CONFIG_MAX_CPUS];   /* their APIC ids, MADT order */
	unsigned skipped;                    /* beyond CONFIG_MAX_CPUS */
};

/*
 * Find and parse the MADT. The tables must be reachable through
 * phys_to_virt() (the boot tables map the first 4 GiB).
 *   E_RANGE  no valid RSDP in the BIOS areas
 *   E_INVAL  a table failed its checks, or no MADT
 */
MUST_CHECK err_t acpi_parse_madt(struct acpi_madt_info *out);

#endif /* KERNEL_ARCH_X86_64_ACPI_H */
