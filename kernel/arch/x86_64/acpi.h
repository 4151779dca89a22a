/* SPDX-License-Identifier: MIT */
/*
 * ACPI, as far as SMP needs it: RSDP -> RSDT or XSDT -> MADT, for the
 * processors (their local APIC ids) and the local APIC's MMIO address
 * (KSP-02: from the firmware, never a constant). Every table is checked
 * (signature, length, checksum) before use.
 *
 * The parser is a pure function over a window of physical memory: it
 * reads nothing outside the window and has no asm and no platform hooks,
 * so host unit tests (tests/test_acpi.c) run it on synthetic tables.
 */
#ifndef KERNEL_ARCH_X86_64_ACPI_H
#define KERNEL_ARCH_X86_64_ACPI_H

#include "kernel/config.h"
#include "kernel/lib/err.h"

/*
 * The xAPIC driver's reach: physical destinations are 8 bits and 0xff
 * broadcasts, so it can address APIC ids 0..254 only.
 */
#define ACPI_XAPIC_MAX_ID 254u

/* Physical memory [0, size) as the parser sees it: byte pa at base[pa]. */
struct acpi_mem {
	const uint8_t *base;
	uint64_t size;
};

struct acpi_madt_info {
	uint64_t lapic_phys;                 /* local APIC registers */
	unsigned ncpus;                      /* enabled processors */
	uint32_t apic_id[CONFIG_MAX_CPUS];   /* their APIC ids, MADT order,
						each once */
	unsigned skipped;                    /* beyond CONFIG_MAX_CPUS */
	unsigned unaddressable;              /* entries of enabled CPUs with
						an APIC id above
						ACPI_XAPIC_MAX_ID: ignored */
	uint32_t first_unaddressable;        /* the first such id */
	const char *why;                     /* on error: what was wrong */
	uint64_t where;                      /* on error: at this address */
};

/*
 * Find the RSDP (the EBDA's first KiB, then 0xe0000 - 0xfffff), the RSDT
 * or XSDT (the XSDT when the RSDP has one), the MADT among the tables it
 * lists, and parse it into *out. Type-0 (local APIC) and type-9 (x2APIC)
 * entries give processors (an id listed by both counts once); a type-5
 * entry overrides the 32-bit local APIC address.
 *   E_RANGE  no RSDP with a valid checksum
 *   E_INVAL  a table failed its checks, no MADT, a malformed entry, a
 *            local APIC address not page-aligned, or no enabled processor
 * On error out->why says what, in words, and out->where at which
 * physical address.
 */
MUST_CHECK err_t acpi_parse_madt(const struct acpi_mem *mem,
				 struct acpi_madt_info *out);

#endif /* KERNEL_ARCH_X86_64_ACPI_H */
