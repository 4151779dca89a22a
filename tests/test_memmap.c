/* SPDX-License-Identifier: MIT */
/*
 * The memory map: MEM-01's proof of concept, precedence and merging, bad
 * input (which must change nothing), and property tests on random maps
 * against a byte-by-byte oracle.
 */
#include <stdlib.h>
#include <string.h>

#include "kernel/mm/memmap.h"
#include "tests/support.h"

static struct memmap map, copy;

static void assert_regions(const struct memmap *m,
			   const struct mem_region *want, unsigned n)
{
	assert_true(memmap_validate(m));
	assert_int_equal(m->count, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(m->region[i].base, want[i].base);
		assert_int_equal(m->region[i].end, want[i].end);
		assert_int_equal(m->region[i].type, want[i].type);
	}
}

static void assert_unchanged(void)
{
	assert_int_equal(map.count, copy.count);
	assert_memory_equal(map.region, copy.region,
			    map.count * sizeof(map.region[0]));
}

/*
 * MEM-01, the audit's proof of concept: usable 4-9 and 5-9 overlap;
 * reserved 1-2, 3-5, 8-10 and 11-12 cut them. The usable bytes 5-8 must
 * come out once, not twice.
 */
static void test_mem01_overlapping_usable_merged(void **state)
{
	const struct memmap_entry poc[] = {
		{ 4, 5, MEM_USABLE },   { 5, 4, MEM_USABLE },
		{ 1, 1, MEM_RESERVED }, { 3, 2, MEM_RESERVED },
		{ 8, 2, MEM_RESERVED }, { 11, 1, MEM_RESERVED },
	};
	const struct mem_region want[] = {
		{ 1, 2, MEM_RESERVED }, { 3, 5, MEM_RESERVED },
		{ 5, 8, MEM_USABLE },   { 8, 10, MEM_RESERVED },
		{ 11, 12, MEM_RESERVED },
	};

	(void)state;
	memmap_init(&map);
	assert_int_equal(memmap_add_entries(&map, poc, ARRAY_SIZE(poc)), E_OK);
	assert_regions(&map, want, ARRAY_SIZE(want));
	assert_int_equal(memmap_bytes(&map, MEM_USABLE), 3);
}

static void test_touching_usable_ranges_merge(void **state)
{
	const struct memmap_entry e[] = {
		{ 0x2000, 0x1000, MEM_USABLE },
		{ 0x0000, 0x1000, MEM_USABLE },
		{ 0x1000, 0x1000, MEM_USABLE },
		{ 0x1800, 0x0000, MEM_RESERVED }, /* zero length: ignored */
	};
	const struct mem_region want[] = { { 0, 0x3000, MEM_USABLE } };

	(void)state;
	memmap_init(&map);
	assert_int_equal(memmap_add_entries(&map, e, ARRAY_SIZE(e)), E_OK);
	assert_regions(&map, want, 1);
}

static void test_reserved_splits_usable(void **state)
{
	const struct mem_region want[] = {
		{ 0, 40, MEM_USABLE },
		{ 40, 60, MEM_RESERVED },
		{ 60, 100, MEM_USABLE },
	};

	(void)state;
	memmap_init(&map);
	assert_int_equal(memmap_add(&map, 40, 20, MEM_RESERVED), E_OK);
	assert_int_equal(memmap_add(&map, 0, 100, MEM_USABLE), E_OK);
	assert_regions(&map, want, ARRAY_SIZE(want));
	assert_null(memmap_find(&map, 100));
	assert_int_equal(memmap_find(&map, 45)->type, MEM_RESERVED);
	assert_int_equal(memmap_find(&map, 99)->type, MEM_USABLE);
}

static void test_precedence_between_reserved_types(void **state)
{
	const struct memmap_entry e[] = {
		{ 0, 100, MEM_ACPI_RECLAIM },
		{ 10, 10, MEM_BAD },
		{ 0, 50, MEM_RESERVED },
		{ 90, 20, MEM_ACPI_NVS },
	};
	const struct mem_region want[] = {
		{ 0, 10, MEM_RESERVED },
		{ 10, 20, MEM_BAD },
		{ 20, 50, MEM_RESERVED },
		{ 50, 90, MEM_ACPI_RECLAIM },
		{ 90, 110, MEM_ACPI_NVS },
	};

	(void)state;
	memmap_init(&map);
	assert_int_equal(memmap_add_entries(&map, e, ARRAY_SIZE(e)), E_OK);
	assert_regions(&map, want, ARRAY_SIZE(want));
}

/* What the kernel does at boot: the loader's map, then its own reserves. */
static void test_kernel_modules_and_low_mib_reserved(void **state)
{
	const uint64_t mib = 1 << 20;
	const struct memmap_entry bios[] = {
		{ 0, 0x9fc00, MEM_USABLE },
		{ 0x9fc00, 0x400, MEM_RESERVED },
		{ 0xf0000, 0x10000, MEM_RESERVED },
		{ mib, 127 * mib, MEM_USABLE },
		{ 0xfffc0000, 0x40000, MEM_RESERVED },
	};

	(void)state;
	memmap_init(&map);
	assert_int_equal(memmap_add_entries(&map, bios, ARRAY_SIZE(bios)), E_OK);
	assert_int_equal(memmap_add(&map, 0, mib, MEM_LOW), E_OK);
	assert_int_equal(memmap_add(&map, mib, 2 * mib, MEM_KERNEL), E_OK);
	assert_int_equal(memmap_add(&map, 3 * mib + 4096, mib, MEM_MODULE), E_OK);

	assert_int_equal(memmap_find(&map, 0x500)->type, MEM_LOW);
	assert_int_equal(memmap_find(&map, 0x9fc00)->type, MEM_RESERVED);
	assert_int_equal(memmap_find(&map, mib)->type, MEM_KERNEL);
	assert_int_equal(memmap_find(&map, 3 * mib)->type, MEM_USABLE);
	assert_int_equal(memmap_find(&map, 3 * mib + 4096)->type, MEM_MODULE);
	assert_int_equal(memmap_bytes(&map, MEM_USABLE),
			 128 * mib - mib - 2 * mib - mib);
	assert_int_equal(memmap_bytes(&map, MEM_KERNEL), 2 * mib);
}

/* ------------------------------------------------------- bad input */

static void test_bad_entries_change_nothing(void **state)
{
	(void)state;
	memmap_init(&map);
	assert_int_equal(memmap_add(&map, 0x1000, 0x9000, MEM_USABLE), E_OK);
	copy = map;

	const struct memmap_entry wraps[] = {
		{ 0x100000, 0x1000, MEM_USABLE },
		{ UINT64_MAX - 5, 10, MEM_USABLE },
	};
	assert_int_equal(memmap_add_entries(&map, wraps, 2), E_RANGE);
	assert_unchanged();

	assert_int_equal(memmap_add(&map, PHYS_ADDR_LIMIT - 0x1000, 0x2000,
				    MEM_USABLE), E_RANGE);
	assert_int_equal(memmap_add(&map, 0, PHYS_ADDR_LIMIT + 1, MEM_USABLE),
			 E_RANGE);
	assert_int_equal(memmap_add(&map, 0, 0x1000, MEM_NONE), E_INVAL);
	assert_int_equal(memmap_add(&map, 0, 0x1000, MEM_TYPE_COUNT), E_INVAL);
	assert_int_equal(memmap_add(&map, 0, 0x1000, (enum mem_type)-1), E_INVAL);
	assert_unchanged();

	/* The very top of the physical address space is fine. */
	assert_int_equal(memmap_add(&map, PHYS_ADDR_LIMIT - 0x1000, 0x1000,
				    MEM_RESERVED), E_OK);
	assert_int_equal(map.count, 2);
}

/* More regions than the map holds: E_NOSPC, and nothing committed. */
static void test_too_many_regions_changes_nothing(void **state)
{
	struct memmap_entry e[MEMMAP_MAX_REGIONS + 1];

	(void)state;
	memmap_init(&map);
	for (unsigned i = 0; i < ARRAY_SIZE(e); i++)
		e[i] = (struct memmap_entry){ i * 0x2000, 0x1000, MEM_USABLE };
	assert_int_equal(memmap_add_entries(&map, e, MEMMAP_MAX_REGIONS), E_OK);
	assert_int_equal(map.count, MEMMAP_MAX_REGIONS);
	copy = map;
	assert_int_equal(memmap_add_entries(&map, &e[MEMMAP_MAX_REGIONS], 1),
			 E_NOSPC);
	assert_unchanged();
	/* Nor in the middle, where keeping what fits would lose the end. */
	const struct memmap_entry middle[] = {
		{ 64 * 0x2000 + 0x1400, 0x400, MEM_USABLE },   /* in a gap */
		{ 5 * 0x2000 + 0x400, 0x400, MEM_RESERVED },   /* splits one */
	};
	for (unsigned i = 0; i < ARRAY_SIZE(middle); i++) {
		assert_int_equal(memmap_add_entries(&map, &middle[i], 1),
				 E_NOSPC);
		assert_unchanged();
	}
	/* Merging two neighbours frees a slot: then it fits. */
	assert_int_equal(memmap_add(&map, 0x1000, 0x1000, MEM_USABLE), E_OK);
	assert_int_equal(memmap_add_entries(&map, &e[MEMMAP_MAX_REGIONS], 1),
			 E_OK);
	assert_int_equal(map.count, MEMMAP_MAX_REGIONS);
}

/* ------------------------------------------------ property tests */

enum { UNIVERSE = 96, TRIALS = 3000 };

/* The type of each byte: the highest type of any entry covering it. */
static void oracle(const struct memmap_entry *e, unsigned n,
		   uint8_t type[UNIVERSE])
{
	memset(type, MEM_NONE, UNIVERSE);
	for (unsigned i = 0; i < n; i++)
		for (uint64_t x = e[i].base; x < e[i].base + e[i].len; x++)
			type[x] = (uint8_t)MAX(type[x], (uint8_t)e[i].type);
}

static unsigned random_entries(uint64_t *rng, struct memmap_entry *e,
			       unsigned max)
{
	unsigned n = 1 + (unsigned)(rng_next(rng) % max);

	for (unsigned i = 0; i < n; i++) {
		uint64_t base = rng_next(rng) % (UNIVERSE - 16);
		uint64_t len = rng_next(rng) % 17; /* zero-length too */
		/* Usable half the time, so usable ranges overlap often. */
		enum mem_type t = rng_next(rng) % 2
			? MEM_USABLE
			: (enum mem_type)(1 + rng_next(rng) % (MEM_TYPE_COUNT - 1));

		e[i] = (struct memmap_entry){ base, len, t };
	}
	return n;
}

/*
 * For random maps, whole or in random pieces and orders: the regions are
 * sorted and disjoint, and every byte has exactly the oracle's type, so no
 * usable byte is lost, none is listed twice, and none a reserved range
 * covers is usable.
 */
static void test_random_maps_match_oracle(void **state)
{
	uint64_t rng = 0x5eed;

	(void)state;
	for (unsigned trial = 0; trial < TRIALS; trial++) {
		struct memmap_entry e[24];
		uint8_t want[UNIVERSE];
		unsigned n = random_entries(&rng, e, ARRAY_SIZE(e));
		uint64_t covered = 0, expected = 0;

		oracle(e, n, want);
		memmap_init(&map);
		/* Feed it in random chunks, in a shuffled order. */
		for (unsigned i = n; i > 1; i--) {
			unsigned j = (unsigned)(rng_next(&rng) % i);
			struct memmap_entry t = e[i - 1];

			e[i - 1] = e[j];
			e[j] = t;
		}
		for (unsigned i = 0; i < n;) {
			unsigned k = 1 + (unsigned)(rng_next(&rng) % (n - i));

			assert_int_equal(memmap_add_entries(&map, &e[i], k), E_OK);
			i += k;
		}
		assert_true(memmap_validate(&map));
		for (uint64_t x = 0; x < UNIVERSE; x++) {
			const struct mem_region *r = memmap_find(&map, x);

			assert_int_equal(r ? r->type : MEM_NONE, want[x]);
			expected += want[x] != MEM_NONE;
		}
		for (unsigned i = 0; i < map.count; i++)
			covered += map.region[i].end - map.region[i].base;
		assert_int_equal(covered, expected); /* each byte once */
		for (unsigned t = MEM_USABLE; t < MEM_TYPE_COUNT; t++) {
			uint64_t bytes = 0;

			for (uint64_t x = 0; x < UNIVERSE; x++)
				bytes += want[x] == t;
			assert_int_equal(memmap_bytes(&map, (enum mem_type)t),
					 bytes);
		}
	}
}

/* The same at scale: page-sized units near the top of the address space. */
static void test_random_maps_at_high_addresses(void **state)
{
	const uint64_t unit = 4096, origin = PHYS_ADDR_LIMIT - UNIVERSE * unit;
	uint64_t rng = 0xabcdef;

	(void)state;
	for (unsigned trial = 0; trial < TRIALS / 3; trial++) {
		struct memmap_entry e[16], scaled[16];
		uint8_t want[UNIVERSE];
		unsigned n = random_entries(&rng, e, ARRAY_SIZE(e));

		oracle(e, n, want);
		for (unsigned i = 0; i < n; i++)
			scaled[i] = (struct memmap_entry){
				origin + e[i].base * unit, e[i].len * unit,
				e[i].type };
		memmap_init(&map);
		assert_int_equal(memmap_add_entries(&map, scaled, n), E_OK);
		assert_true(memmap_validate(&map));
		for (uint64_t x = 0; x < UNIVERSE; x++) {
			const struct mem_region *r =
				memmap_find(&map, origin + x * unit + unit / 2);

			assert_int_equal(r ? r->type : MEM_NONE, want[x]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem01_overlapping_usable_merged),
		cmocka_unit_test(test_touching_usable_ranges_merge),
		cmocka_unit_test(test_reserved_splits_usable),
		cmocka_unit_test(test_precedence_between_reserved_types),
		cmocka_unit_test(test_kernel_modules_and_low_mib_reserved),
		cmocka_unit_test(test_bad_entries_change_nothing),
		cmocka_unit_test(test_too_many_regions_changes_nothing),
		cmocka_unit_test(test_random_maps_match_oracle),
		cmocka_unit_test(test_random_maps_at_high_addresses),
	};

	return cmocka_run_group_tests_name("memmap", tests, NULL, NULL);
}
