/* SPDX-License-Identifier: MIT */
/*
 * ACPI table walking (ACPI 6.x, sections 5.2.5 - 5.2.12). See acpi.h.
 *
 * Every read goes through at(), which checks it against the memory
 * window; multi-byte fields are read with memcpy, since tables and their
 * entries need not be aligned. Nothing here runs before the caller's
 * checks have passed: a table's length is believed only after its header
 * is known to be in the window, its contents only after its checksum.
 */
#include <stdbool.h>
#include <string.h>

#include "kernel/arch/x86_64/acpi.h"

#define RSDP_V1_LEN 20 /* what the revision-0 checksum covers */
#define RSDP_LEN    36 /* revision >= 2: the extended checksum's span */

/* Offsets in the RSDP. */
enum { RSDP_REVISION = 15, RSDP_RSDT = 16, RSDP_XSDT = 24 };

#define SDT_HEADER_LEN 36
enum { SDT_LENGTH = 4 };

/* The MADT: the header, the local APIC address, flags, then entries. */
enum { MADT_LAPIC_ADDR = 36, MADT_ENTRIES = 44 };

enum {
	MADT_LAPIC = 0,          /* uid(1) apic id(1) flags(4) */
	MADT_LAPIC_OVERRIDE = 5, /* reserved(2) address(8) */
	MADT_X2APIC = 9,         /* reserved(2) x2apic id(4) flags(4) uid(4) */
};
#define MADT_ENABLED 1u /* flags bit 0 */

#define MAX_TABLE (1u << 20) /* no sane table is larger */
#define LAPIC_ALIGN 4096

/* The n bytes at physical pa, or NULL if any is outside the window. */
static const uint8_t *at(const struct acpi_mem *m, uint64_t pa, uint64_t n)
{
	if (pa > m->size || n > m->size - pa)
		return NULL;
	return m->base + pa;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static bool checksum_ok(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum == 0;
}

static err_t fail(struct acpi_madt_info *out, err_t e, const char *why,
		  uint64_t where)
{
	out->why = why;
	out->where = where;
	return e;
}

/* Does an RSDP start at pa, and do its checksums hold? */
static bool rsdp_at(const struct acpi_mem *m, uint64_t pa, bool *bad_sum)
{
	const uint8_t *r = at(m, pa, RSDP_LEN);

	if (r == NULL || memcmp(r, "RSD PTR ", 8) != 0)
		return false;
	if (checksum_ok(r, RSDP_V1_LEN) &&
	    (r[RSDP_REVISION] < 2 || checksum_ok(r, RSDP_LEN)))
		return true;
	*bad_sum = true; /* or a chance match in BIOS data: keep looking */
	return false;
}

/* The first valid RSDP on a 16-byte boundary in [start, start + len). */
static bool scan_rsdp(const struct acpi_mem *m, uint64_t start, uint64_t len,
		      uint64_t *rsdp, uint64_t *bad)
{
	for (uint64_t pa = start; pa + RSDP_LEN <= start + len; pa += 16) {
		bool bad_sum = false;

		if (rsdp_at(m, pa, &bad_sum)) {
			*rsdp = pa;
			return true;
		}
		if (bad_sum && *bad == 0)
			*bad = pa;
	}
	return false;
}

/* The EBDA's first KiB (its segment is at 0x40e), then the BIOS area. */
static err_t find_rsdp(const struct acpi_mem *m, uint64_t *rsdp,
		       struct acpi_madt_info *out)
{
	const uint8_t *seg = at(m, 0x40e, 2);
	uint64_t ebda = seg != NULL ? (uint64_t)(seg[0] | seg[1] << 8) << 4 : 0;
	uint64_t bad = 0;

	if ((ebda != 0 && scan_rsdp(m, ebda, 1024, rsdp, &bad)) ||
	    scan_rsdp(m, 0xe0000, 0x20000, rsdp, &bad))
		return E_OK;
	if (bad != 0)
		return fail(out, E_RANGE, "RSDP found but its checksum is wrong",
			    bad);
	return fail(out, E_RANGE,
		    "no RSDP in the EBDA or 0xe0000-0xfffff", 0);
}

/* The table at pa, if its header is readable; *len its claimed length. */
static const uint8_t *header_at(const struct acpi_mem *m, uint64_t pa,
				uint32_t *len)
{
	const uint8_t *h = at(m, pa, SDT_HEADER_LEN);

	if (h != NULL)
		*len = rd32(h + SDT_LENGTH);
	return h;
}

/* What can be wrong with a table, and the words for it. */
enum problem { TABLE_OK, TABLE_OUTSIDE, TABLE_LENGTH, TABLE_CHECKSUM,
	       TABLE_SIGNATURE };
enum { RSDT, XSDT, MADT };

static const char *const problems[3][5] = {
	[RSDT] = { NULL, "RSDT outside memory", "RSDT length wrong",
		   "RSDT checksum wrong", "RSDT signature wrong" },
	[XSDT] = { NULL, "XSDT outside memory", "XSDT length wrong",
		   "XSDT checksum wrong", "XSDT signature wrong" },
	[MADT] = { NULL, "MADT outside memory", "MADT length wrong",
		   "MADT checksum wrong", "MADT signature wrong" },
};

/* The table at pa, its length and checksum checked. */
static enum problem check_table(const struct acpi_mem *m, uint64_t pa,
				const uint8_t **t, uint32_t *len)
{
	if ((*t = header_at(m, pa, len)) == NULL)
		return TABLE_OUTSIDE;
	if (*len < SDT_HEADER_LEN || *len > MAX_TABLE || at(m, pa, *len) == NULL)
		return TABLE_LENGTH;
	if (!checksum_ok(*t, *len))
		return TABLE_CHECKSUM;
	return TABLE_OK;
}

/*
 * The RSDT or XSDT the RSDP names, checked: its entries (4 or 8 bytes
 * each) in *entries, their count in *n, their width in *width.
 */
static err_t root_table(const struct acpi_mem *m, uint64_t rsdp,
			const uint8_t **entries, size_t *n, size_t *width,
			struct acpi_madt_info *out)
{
	const uint8_t *r = at(m, rsdp, RSDP_LEN);
	bool x = r[RSDP_REVISION] >= 2 && rd64(r + RSDP_XSDT) != 0;
	uint64_t pa = x ? rd64(r + RSDP_XSDT) : rd32(r + RSDP_RSDT);
	const uint8_t *t;
	uint32_t len;
	enum problem p = check_table(m, pa, &t, &len);

	if (p == TABLE_OK && memcmp(t, x ? "XSDT" : "RSDT", 4) != 0)
		p = TABLE_SIGNATURE;
	if (p != TABLE_OK)
		return fail(out, E_INVAL, problems[x ? XSDT : RSDT][p], pa);
	*width = x ? 8 : 4;
	*entries = t + SDT_HEADER_LEN;
	*n = (len - SDT_HEADER_LEN) / *width;
	return E_OK;
}

/*
 * The MADT among the root table's entries, checked. Tables with other
 * signatures, or outside the window (the kernel's is the first 4 GiB),
 * are not looked into.
 */
static err_t find_madt(const struct acpi_mem *m, uint64_t rsdp,
		       const uint8_t **madt, uint32_t *len,
		       struct acpi_madt_info *out)
{
	const uint8_t *entries;
	size_t n, width;
	err_t e = root_table(m, rsdp, &entries, &n, &width, out);

	if (e != E_OK)
		return e;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = entries + i * width;
		uint64_t pa = width == 8 ? rd64(p) : rd32(p);
		const uint8_t *h = header_at(m, pa, len);
		enum problem bad;

		if (h == NULL || memcmp(h, "APIC", 4) != 0)
			continue;
		if ((bad = check_table(m, pa, madt, len)) != TABLE_OK)
			return fail(out, E_INVAL, problems[MADT][bad], pa);
		if (*len < MADT_ENTRIES)
			return fail(out, E_INVAL, "MADT shorter than its header",
				    pa);
		return E_OK;
	}
	return fail(out, E_INVAL, "no MADT (\"APIC\") in the RSDT/XSDT", rsdp);
}

static void add_cpu(struct acpi_madt_info *out, uint32_t apic_id)
{
	for (unsigned i = 0; i < out->ncpus; i++)
		if (out->apic_id[i] == apic_id)
			return; /* listed by a type-0 and a type-9 entry */
	if (apic_id > ACPI_XAPIC_MAX_ID) {
		if (out->unaddressable++ == 0)
			out->first_unaddressable = apic_id;
		return;
	}
	if (out->ncpus == CONFIG_MAX_CPUS) {
		out->skipped++;
		return;
	}
	out->apic_id[out->ncpus++] = apic_id;
}

/* One MADT entry e of length n (>= 2, inside the table). */
static err_t madt_entry(const uint8_t *e, uint8_t n, struct acpi_madt_info *out)
{
	switch (e[0]) {
	case MADT_LAPIC:
		if (n < 8)
			return E_INVAL;
		if (rd32(e + 4) & MADT_ENABLED)
			add_cpu(out, e[3]);
		return E_OK;
	case MADT_X2APIC:
		if (n < 16)
			return E_INVAL;
		if (rd32(e + 8) & MADT_ENABLED)
			add_cpu(out, rd32(e + 4));
		return E_OK;
	case MADT_LAPIC_OVERRIDE:
		if (n < 12)
			return E_INVAL;
		out->lapic_phys = rd64(e + 4);
		return E_OK;
	default:
		return E_OK;
	}
}

/* The MADT's entries, each checked to lie inside the table. */
static err_t parse_madt(const uint8_t *madt, uint32_t len, uint64_t pa,
			struct acpi_madt_info *out)
{
	uint32_t off = MADT_ENTRIES;

	out->lapic_phys = rd32(madt + MADT_LAPIC_ADDR);
	while (off < len) {
		uint8_t n = len - off >= 2 ? madt[off + 1] : 0;

		if (n < 2 || n > len - off)
			return fail(out, E_INVAL,
				    "MADT entry overruns the table", pa + off);
		if (madt_entry(madt + off, n, out) != E_OK)
			return fail(out, E_INVAL,
				    "MADT entry too short for its type",
				    pa + off);
		off += n;
	}
	if (out->lapic_phys == 0 || !IS_ALIGNED(out->lapic_phys, LAPIC_ALIGN))
		return fail(out, E_INVAL,
			    "local APIC address zero or not page-aligned", pa);
	if (out->ncpus == 0)
		return fail(out, E_INVAL, "MADT lists no enabled processor the "
			    "xAPIC can address", pa);
	return E_OK;
}

err_t acpi_parse_madt(const struct acpi_mem *mem, struct acpi_madt_info *out)
{
	uint64_t rsdp;
	const uint8_t *madt;
	uint32_t len;
	err_t e;

	out->ncpus = 0;
	out->skipped = 0;
	out->unaddressable = 0;
	out->first_unaddressable = 0;
	out->why = NULL;
	out->where = 0;
	if ((e = find_rsdp(mem, &rsdp, out)) != E_OK ||
	    (e = find_madt(mem, rsdp, &madt, &len, out)) != E_OK)
		return e;
	return parse_madt(madt, len, (uint64_t)(madt - mem->base), out);
}
