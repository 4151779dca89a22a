/* SPDX-License-Identifier: MIT */
/*
 * ACPI table walking (ACPI 6.x, sections 5.2.5 - 5.2.12).
 */
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/acpi.h"

struct rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum;
	char oem[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;   /* revision >= 2 from here */
	uint64_t xsdt;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

struct sdt_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem[6];
	char oem_table[8];
	uint32_t oem_revision;
	uint32_t creator;
	uint32_t creator_revision;
} __attribute__((packed));

struct madt {
	struct sdt_header h;
	uint32_t lapic;
	uint32_t flags;
	uint8_t entries[];
} __attribute__((packed));

enum {
	MADT_LAPIC = 0,
	MADT_LAPIC_OVERRIDE = 5,
	MADT_X2APIC = 9,
};

#define MAX_TABLE (1u << 20) /* no sane table is larger */

static bool checksum_ok(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + b[i]);
	return sum == 0;
}

static const struct rsdp *scan_rsdp(uint64_t start, uint64_t len)
{
	for (uint64_t pa = start; pa + sizeof(struct rsdp) <= start + len;
	     pa += 16) {
		const struct rsdp *r = phys_to_virt(PADDR(pa));

		if (memcmp(r->signature, "RSD PTR ", 8) == 0 &&
		    checksum_ok(r, 20) &&
		    (r->revision < 2 || checksum_ok(r, sizeof(*r))))
			return r;
	}
	return NULL;
}

/* The EBDA's first KiB, then the BIOS area 0xe0000 - 0xfffff. */
static const struct rsdp *find_rsdp(void)
{
	uint16_t ebda_seg = *(const uint16_t *)phys_to_virt(PADDR(0x40e));
	const struct rsdp *r = NULL;

	if (ebda_seg != 0)
		r = scan_rsdp((uint64_t)ebda_seg << 4, 1024);
	return r != NULL ? r : scan_rsdp(0xe0000, 0x20000);
}

static const struct sdt_header *table_at(uint64_t pa)
{
	const struct sdt_header *h;

	if (pa == 0 || pa >= (UINT64_C(4) << 30))
		return NULL; /* the boot tables map only the first 4 GiB */
	h = phys_to_virt(PADDR(pa));
	if (h->length < sizeof(*h) || h->length > MAX_TABLE ||
	    !checksum_ok(h, h->length))
		return NULL;
	return h;
}

/* The table with signature sig listed in the RSDT or XSDT, or NULL. */
static const struct sdt_header *find_table(const struct rsdp *r,
					   const char *sig)
{
	bool x = r->revision >= 2 && r->xsdt != 0;
	const struct sdt_header *root = table_at(x ? r->xsdt : r->rsdt);
	size_t width = x ? 8 : 4, n;

	if (root == NULL)
		return NULL;
	n = (root->length - sizeof(*root)) / width;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)(root + 1) + i * width;
		uint64_t pa = x ? *(const uint64_t *)(const void *)e
				: *(const uint32_t *)(const void *)e;
		const struct sdt_header *h = table_at(pa);

		if (h != NULL && memcmp(h->signature, sig, 4) == 0)
			return h;
	}
	return NULL;
}

static void add_cpu(struct acpi_madt_info *out, uint32_t apic_id)
{
	if (out->ncpus == CONFIG_MAX_CPUS) {
		out->skipped++;
		return;
	}
	out->apic_id[out->ncpus++] = apic_id;
}

err_t acpi_parse_madt(struct acpi_madt_info *out)
{
	const struct rsdp *r = find_rsdp();
	const struct madt *m;
	const uint8_t *e, *end;

	if (r == NULL)
		return E_RANGE;
	m = (const struct madt *)find_table(r, "APIC");
	if (m == NULL || m->h.length < sizeof(*m))
		return E_INVAL;
	out->lapic_phys = m->lapic;
	out->ncpus = 0;
	out->skipped = 0;
	end = (const uint8_t *)m + m->h.length;
	for (e = m->entries; e + 2 <= end && e[1] >= 2 && e + e[1] <= end;
	     e += e[1]) {
		switch (e[0]) {
		case MADT_LAPIC: /* uid, apic id, flags (bit 0: enabled) */
			if (e[1] >= 8 && (*(const uint32_t *)(const void *)(e + 4) & 1))
				add_cpu(out, e[3]);
			break;
		case MADT_X2APIC: /* reserved(2), x2apic id, flags, uid */
			if (e[1] >= 16 && (*(const uint32_t *)(const void *)(e + 8) & 1))
				add_cpu(out, *(const uint32_t *)(const void *)(e + 4));
			break;
		case MADT_LAPIC_OVERRIDE:
			if (e[1] >= 12)
				out->lapic_phys = *(const uint64_t *)(const void *)(e + 4);
			break;
		default:
			break;
		}
	}
	return out->ncpus > 0 ? E_OK : E_INVAL;
}
