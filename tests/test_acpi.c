/* SPDX-License-Identifier: MIT */
/*
 * The ACPI MADT parser (kernel/arch/x86_64/acpi.c, compiled for the host
 * as it is: it is a pure function over a window of memory) on synthetic
 * firmware tables: RSDP -> RSDT or XSDT -> MADT.
 *
 * KSP-02: the local APIC's address must come from the tables. Under QEMU
 * the MADT and the APIC base MSR both say 0xfee00000, so the kernel's
 * self-test cannot tell a parser that returns the constant; here the
 * tables say something else (and a type-5 entry overrides it). Bad
 * checksums, tables outside memory and malformed entries are rejected
 * with a reason and an address; x2APIC ids the xAPIC driver cannot
 * address are counted and ignored, not handed to it.
 */
#include <stdlib.h>
#include <string.h>

#include "kernel/arch/x86_64/acpi.h"
#include "tests/support.h"

#define MEM_SIZE   (UINT64_C(2) << 20)
#define EBDA       UINT64_C(0x9fc00)
#define BIOS_RSDP  UINT64_C(0xf5a30)
#define RSDT_PA    UINT64_C(0x100000)
#define XSDT_PA    UINT64_C(0x100800)
#define FACP_PA    UINT64_C(0x101000)
#define MADT_PA    UINT64_C(0x102000)
#define MADT2_PA   UINT64_C(0x103003) /* unaligned, as firmware may */

static uint8_t *mem;
static struct acpi_mem window;
static struct acpi_madt_info info;

static int setup(void **state)
{
	(void)state;
	mem = calloc(1, MEM_SIZE);
	window = (struct acpi_mem){ mem, MEM_SIZE };
	memset(&info, 0xa5, sizeof(info)); /* the parser must set what it says */
	return mem == NULL;
}

static int teardown(void **state)
{
	(void)state;
	free(mem);
	return 0;
}

/* ------------------------------------------------------- table builder */

static void wr16(uint64_t pa, uint16_t v) { memcpy(mem + pa, &v, 2); }
static void wr32(uint64_t pa, uint32_t v) { memcpy(mem + pa, &v, 4); }
static void wr64(uint64_t pa, uint64_t v) { memcpy(mem + pa, &v, 8); }

static uint32_t rd32(uint64_t pa)
{
	uint32_t v;

	memcpy(&v, mem + pa, 4);
	return v;
}

/* Set the byte at pa + at so that the len bytes from pa sum to zero. */
static void fix_checksum(uint64_t pa, uint32_t len, uint32_t at)
{
	uint8_t sum = 0;

	mem[pa + at] = 0;
	for (uint32_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + mem[pa + i]);
	mem[pa + at] = (uint8_t)-sum;
}

static void put_rsdp(uint64_t pa, uint8_t revision, uint32_t rsdt,
		     uint64_t xsdt)
{
	memcpy(mem + pa, "RSD PTR ", 8);
	memcpy(mem + pa + 9, "TESTER", 6);
	mem[pa + 15] = revision;
	wr32(pa + 16, rsdt);
	wr32(pa + 20, 36);
	wr64(pa + 24, xsdt);
	fix_checksum(pa, 20, 8);
	if (revision >= 2)
		fix_checksum(pa, 36, 32);
}

static void put_header(uint64_t pa, const char *sig, uint32_t len)
{
	memcpy(mem + pa, sig, 4);
	wr32(pa + 4, len);
	mem[pa + 8] = 1;
	memcpy(mem + pa + 10, "TESTER", 6);
}

/* The checksum of the table at pa, over the length its header gives. */
static void seal(uint64_t pa)
{
	fix_checksum(pa, rd32(pa + 4), 9);
}

/* An RSDT (4-byte entries) or an XSDT (8-byte entries) listing tables. */
static void put_root(uint64_t pa, bool xsdt, const uint64_t *tables,
		     unsigned n)
{
	unsigned w = xsdt ? 8 : 4;

	put_header(pa, xsdt ? "XSDT" : "RSDT", 36 + n * w);
	for (unsigned i = 0; i < n; i++) {
		if (xsdt)
			wr64(pa + 36 + i * w, tables[i]);
		else
			wr32(pa + 36 + i * w, (uint32_t)tables[i]);
	}
	seal(pa);
}

/* A table the parser must pass over. */
static void put_facp(uint64_t pa)
{
	put_header(pa, "FACP", 116);
	seal(pa);
}

struct madt { uint64_t pa; uint32_t len; };

static struct madt madt_begin(uint64_t pa, uint32_t lapic)
{
	put_header(pa, "APIC", 44);
	wr32(pa + 36, lapic);
	wr32(pa + 40, 1); /* PCAT_COMPAT */
	return (struct madt){ pa, 44 };
}

static void madt_lapic(struct madt *m, uint8_t id, bool enabled)
{
	uint64_t e = m->pa + m->len;

	mem[e] = 0;
	mem[e + 1] = 8;
	mem[e + 2] = id; /* processor uid */
	mem[e + 3] = id;
	wr32(e + 4, enabled);
	m->len += 8;
}

static void madt_x2apic(struct madt *m, uint32_t id, bool enabled)
{
	uint64_t e = m->pa + m->len;

	mem[e] = 9;
	mem[e + 1] = 16;
	wr16(e + 2, 0);
	wr32(e + 4, id);
	wr32(e + 8, enabled);
	wr32(e + 12, id); /* uid */
	m->len += 16;
}

static void madt_override(struct madt *m, uint64_t lapic)
{
	uint64_t e = m->pa + m->len;

	mem[e] = 5;
	mem[e + 1] = 12;
	wr64(e + 4, lapic);
	m->len += 12;
}

static void madt_ioapic(struct madt *m) /* type 1: not ours, skipped */
{
	uint64_t e = m->pa + m->len;

	mem[e] = 1;
	mem[e + 1] = 12;
	wr32(e + 4, 0xfec00000);
	m->len += 12;
}

static void madt_end(struct madt *m)
{
	wr32(m->pa + 4, m->len);
	seal(m->pa);
}

/*
 * A machine like QEMU's, with the local APIC at lapic: a revision-0 RSDP
 * in the BIOS area, an RSDT listing a FACP and the MADT; CPUs 0 and 1
 * enabled, 2 disabled.
 */
static void qemu_like(uint32_t lapic)
{
	const uint64_t tables[] = { FACP_PA, MADT_PA };
	struct madt m = madt_begin(MADT_PA, lapic);

	madt_lapic(&m, 0, true);
	madt_ioapic(&m);
	madt_lapic(&m, 1, true);
	madt_lapic(&m, 2, false);
	madt_end(&m);
	put_facp(FACP_PA);
	put_root(RSDT_PA, false, tables, 2);
	put_rsdp(BIOS_RSDP, 0, RSDT_PA, 0);
}

static void assert_rejected(err_t want, const char *why, uint64_t where)
{
	assert_int_equal(acpi_parse_madt(&window, &info), want);
	assert_non_null(info.why);
	assert_string_equal(info.why, why);
	assert_int_equal(info.where, where);
}

static void assert_cpus(const uint32_t *ids, unsigned n)
{
	assert_int_equal(info.ncpus, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(info.apic_id[i], ids[i]);
}

/* ----------------------------------------------------------------- KSP-02 */

/* The address is the MADT's, whatever it is: not the usual 0xfee00000. */
static void test_lapic_address_from_madt(void **state)
{
	const uint32_t ids[] = { 0, 1 };

	(void)state;
	qemu_like(0xfeb00000);
	assert_int_equal(acpi_parse_madt(&window, &info), E_OK);
	assert_int_equal(info.lapic_phys, 0xfeb00000);
	assert_cpus(ids, 2);
	assert_int_equal(info.skipped, 0);
	assert_int_equal(info.unaddressable, 0);
}

/* And the usual value when the tables say so. */
static void test_lapic_default_address_from_madt(void **state)
{
	(void)state;
	qemu_like(0xfee00000);
	assert_int_equal(acpi_parse_madt(&window, &info), E_OK);
	assert_int_equal(info.lapic_phys, 0xfee00000);
}

/*
 * A revision-2 RSDP in the EBDA: the XSDT wins over the RSDT (whose MADT
 * says otherwise), and the XSDT's MADT (unaligned in memory) has a type-5
 * entry whose 64-bit address overrides its 32-bit field.
 */
static void test_lapic_override_through_xsdt(void **state)
{
	const uint64_t rsdt_tables[] = { MADT_PA };
	const uint64_t xsdt_tables[] = { FACP_PA, MADT2_PA };
	const uint32_t ids[] = { 4, 6 };
	struct madt old = madt_begin(MADT_PA, 0xfec80000);
	struct madt m = madt_begin(MADT2_PA, 0xfee00000);

	(void)state;
	madt_lapic(&old, 9, true);
	madt_end(&old);
	madt_lapic(&m, 4, true);
	madt_override(&m, UINT64_C(0x123456000));
	madt_lapic(&m, 6, true);
	madt_end(&m);
	put_facp(FACP_PA);
	put_root(RSDT_PA, false, rsdt_tables, 1);
	put_root(XSDT_PA, true, xsdt_tables, 2);
	wr16(0x40e, EBDA >> 4);
	put_rsdp(EBDA + 0x40, 2, RSDT_PA, XSDT_PA);
	assert_int_equal(acpi_parse_madt(&window, &info), E_OK);
	assert_int_equal(info.lapic_phys, UINT64_C(0x123456000));
	assert_cpus(ids, 2);
}

/* "RSD PTR " with a bad checksum is a chance match: the search goes on. */
static void test_rsdp_chance_match_skipped(void **state)
{
	(void)state;
	qemu_like(0xfeb00000);
	memcpy(mem + 0xe0010, "RSD PTR ", 8);
	assert_int_equal(acpi_parse_madt(&window, &info), E_OK);
	assert_int_equal(info.lapic_phys, 0xfeb00000);
}

/* ------------------------------------------------------------- rejected */

static void test_no_rsdp_rejected(void **state)
{
	(void)state;
	assert_rejected(E_RANGE, "no RSDP in the EBDA or 0xe0000-0xfffff", 0);
}

static void test_rsdp_bad_checksum_rejected(void **state)
{
	(void)state;
	qemu_like(0xfeb00000);
	mem[BIOS_RSDP + 16] ^= 1; /* the RSDT address */
	assert_rejected(E_RANGE, "RSDP found but its checksum is wrong",
			BIOS_RSDP);
}

/* Revision 2: the extended checksum covers the XSDT address. */
static void test_rsdp_bad_extended_checksum_rejected(void **state)
{
	(void)state;
	qemu_like(0xfeb00000);
	put_rsdp(BIOS_RSDP, 2, RSDT_PA, XSDT_PA);
	mem[BIOS_RSDP + 24] ^= 0x40;
	assert_rejected(E_RANGE, "RSDP found but its checksum is wrong",
			BIOS_RSDP);
}

static void test_rsdt_bad_checksum_rejected(void **state)
{
	(void)state;
	qemu_like(0xfeb00000);
	mem[RSDT_PA + 16] ^= 1; /* OEM table id: still a checksummed byte */
	assert_rejected(E_INVAL, "RSDT checksum wrong", RSDT_PA);
}

static void test_xsdt_bad_checksum_rejected(void **state)
{
	const uint64_t tables[] = { MADT_PA };

	(void)state;
	qemu_like(0xfeb00000);
	put_root(XSDT_PA, true, tables, 1);
	put_rsdp(BIOS_RSDP, 2, RSDT_PA, XSDT_PA);
	mem[XSDT_PA + 36] ^= 0x10; /* the MADT's address */
	assert_rejected(E_INVAL, "XSDT checksum wrong", XSDT_PA);
}

static void test_madt_bad_checksum_rejected(void **state)
{
	(void)state;
	qemu_like(0xfeb00000);
	mem[MADT_PA + 36] ^= 0x20; /* the local APIC address */
	assert_rejected(E_INVAL, "MADT checksum wrong", MADT_PA);
}

static void test_root_signature_checked(void **state)
{
	(void)state;
	qemu_like(0xfeb00000);
	memcpy(mem + RSDT_PA, "XSDT", 4);
	seal(RSDT_PA);
	assert_rejected(E_INVAL, "RSDT signature wrong", RSDT_PA);
}

/* Nothing is read outside the window (ASan would see it). */
static void test_tables_outside_memory_rejected(void **state)
{
	const uint64_t far[] = { FACP_PA, MEM_SIZE - 8 };

	(void)state;
	qemu_like(0xfeb00000);
	put_rsdp(BIOS_RSDP, 0, (uint32_t)MEM_SIZE, 0);
	assert_rejected(E_INVAL, "RSDT outside memory", MEM_SIZE);

	put_rsdp(BIOS_RSDP, 0, RSDT_PA, 0);
	wr32(MADT_PA + 4, (uint32_t)(MEM_SIZE - MADT_PA + 1));
	assert_rejected(E_INVAL, "MADT length wrong", MADT_PA);

	/* A table whose header is not in the window is not looked into. */
	put_root(RSDT_PA, false, far, 2);
	assert_rejected(E_INVAL, "no MADT (\"APIC\") in the RSDT/XSDT",
			BIOS_RSDP);
}

static void test_malformed_madt_entries_rejected(void **state)
{
	struct madt m;

	(void)state;
	qemu_like(0xfeb00000);
	m = madt_begin(MADT_PA, 0xfeb00000);
	madt_lapic(&m, 0, true);
	mem[m.pa + m.len] = 0; /* a type-0 entry of length 0 */
	m.len += 2;
	madt_end(&m);
	assert_rejected(E_INVAL, "MADT entry overruns the table", MADT_PA + 52);

	m = madt_begin(MADT_PA, 0xfeb00000);
	madt_lapic(&m, 0, true);
	madt_x2apic(&m, 1, true);
	m.len -= 4; /* the table ends inside the entry */
	madt_end(&m);
	assert_rejected(E_INVAL, "MADT entry overruns the table", MADT_PA + 52);

	m = madt_begin(MADT_PA, 0xfeb00000);
	madt_lapic(&m, 0, true);
	mem[m.pa + m.len + 1] = 6; /* a type-0 entry too short for its fields */
	m.len += 6;
	madt_end(&m);
	assert_rejected(E_INVAL, "MADT entry too short for its type",
			MADT_PA + 52);
}

static void test_bad_lapic_address_rejected(void **state)
{
	struct madt m;

	(void)state;
	qemu_like(0xfeb00800);
	assert_rejected(E_INVAL, "local APIC address zero or not page-aligned",
			MADT_PA);

	m = madt_begin(MADT_PA, 0xfeb00000);
	madt_lapic(&m, 0, true);
	madt_override(&m, 0);
	madt_end(&m);
	assert_rejected(E_INVAL, "local APIC address zero or not page-aligned",
			MADT_PA);
}

static void test_no_enabled_cpu_rejected(void **state)
{
	struct madt m;

	(void)state;
	qemu_like(0xfeb00000);
	m = madt_begin(MADT_PA, 0xfeb00000);
	madt_lapic(&m, 0, false);
	madt_end(&m);
	assert_rejected(E_INVAL,
			"MADT lists no enabled processor the xAPIC can address",
			MADT_PA);
}

/* ---------------------------------------------------------- x2APIC ids */

/*
 * The xAPIC driver sends to 8-bit ids, and 0xff broadcasts: ids 255 and
 * up are counted and ignored (255 would reach every CPU, 256 the boot
 * CPU), here three entries: x2APIC 255 and 256, and a type-0 0xff. A CPU
 * listed by a type-0 and a type-9 entry counts once.
 */
static void test_x2apic_ids_beyond_xapic_ignored(void **state)
{
	const uint32_t ids[] = { 0, 3 };
	struct madt m;

	(void)state;
	qemu_like(0xfeb00000);
	m = madt_begin(MADT_PA, 0xfeb00000);
	madt_lapic(&m, 0, true);
	madt_lapic(&m, 3, true);
	madt_x2apic(&m, 3, true);
	madt_x2apic(&m, 255, true);
	madt_x2apic(&m, 256, true);
	madt_x2apic(&m, 300, false);
	madt_lapic(&m, 0xff, true);
	madt_end(&m);
	assert_int_equal(acpi_parse_madt(&window, &info), E_OK);
	assert_cpus(ids, 2);
	assert_int_equal(info.unaddressable, 3);
	assert_int_equal(info.first_unaddressable, 255);
	assert_int_equal(info.skipped, 0);
}

/*
 * Each CPU counts once, whichever entry type lists it first, and only if
 * an enabled entry lists it: 5 by a type-9 then a type-0 entry, 7 by two
 * type-0 entries, 9 by a disabled type-0 then an enabled type-9. 254, the
 * highest id the xAPIC can address (255 is the broadcast), is kept.
 */
static void test_cpu_listed_twice_counts_once(void **state)
{
	const uint32_t ids[] = { 0, 5, 7, 9, 254 };
	struct madt m;

	(void)state;
	qemu_like(0xfeb00000);
	m = madt_begin(MADT_PA, 0xfeb00000);
	madt_lapic(&m, 0, true);
	madt_x2apic(&m, 5, true);
	madt_lapic(&m, 5, true);
	madt_lapic(&m, 7, true);
	madt_lapic(&m, 7, true);
	madt_lapic(&m, 9, false);
	madt_x2apic(&m, 9, true);
	madt_x2apic(&m, 254, true);
	madt_end(&m);
	assert_int_equal(acpi_parse_madt(&window, &info), E_OK);
	assert_cpus(ids, 5);
	assert_int_equal(info.unaddressable, 0);
	assert_int_equal(info.skipped, 0);
}

/* Only unaddressable CPUs: nothing to run on. */
static void test_only_x2apic_ids_rejected(void **state)
{
	struct madt m;

	(void)state;
	qemu_like(0xfeb00000);
	m = madt_begin(MADT_PA, 0xfeb00000);
	madt_x2apic(&m, 1000, true);
	madt_end(&m);
	assert_rejected(E_INVAL,
			"MADT lists no enabled processor the xAPIC can address",
			MADT_PA);
	assert_int_equal(info.unaddressable, 1);
	assert_int_equal(info.first_unaddressable, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_lapic_address_from_madt),
		T(test_lapic_default_address_from_madt),
		T(test_lapic_override_through_xsdt),
		T(test_rsdp_chance_match_skipped),
		T(test_no_rsdp_rejected),
		T(test_rsdp_bad_checksum_rejected),
		T(test_rsdp_bad_extended_checksum_rejected),
		T(test_rsdt_bad_checksum_rejected),
		T(test_xsdt_bad_checksum_rejected),
		T(test_madt_bad_checksum_rejected),
		T(test_root_signature_checked),
		T(test_tables_outside_memory_rejected),
		T(test_malformed_madt_entries_rejected),
		T(test_bad_lapic_address_rejected),
		T(test_no_enabled_cpu_rejected),
		T(test_x2apic_ids_beyond_xapic_ignored),
		T(test_only_x2apic_ids_rejected),
		T(test_cpu_listed_twice_counts_once),
#undef T
	};

	return cmocka_run_group_tests_name("acpi", tests, NULL, NULL);
}
