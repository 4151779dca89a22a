/* SPDX-License-Identifier: MIT */
/*
 * The physical memory map: the boot loader's list of (base, length, type)
 * entries, made into sorted, disjoint, typed regions.
 *
 * Boot loader maps can be unsorted, can overlap, can list the same RAM
 * twice, and can mark one range both usable and reserved. The map resolves
 * every byte to exactly one type by precedence: where ranges overlap, the
 * higher enum mem_type wins, so anything reserved beats usable. Adjacent or
 * overlapping ranges of one type merge into one region, so no byte of
 * usable RAM is listed twice (finding MEM-01: Asterinas truncated usable
 * ranges against reserved ones but never merged overlapping usable ones,
 * and handed the same frames to its allocator twice).
 *
 * Invariant (memmap_validate): regions are sorted by base, base < end,
 * end <= PHYS_ADDR_LIMIT, region[i].end <= region[i+1].base, and touching
 * neighbours differ in type.
 *
 * Updates are all-or-nothing: a call that fails changes nothing. The map
 * carries its own scratch space, so it needs no allocator and no static
 * state. Not thread-safe: it is built on the boot CPU.
 */
#ifndef KERNEL_MM_MEMMAP_H
#define KERNEL_MM_MEMMAP_H

#include <stddef.h>

#include "kernel/lib/err.h"
#include "kernel/types.h"

/* Precedence: where ranges overlap, the higher value wins. */
enum mem_type {
	MEM_NONE = 0,     /* a hole: never stored in the map */
	MEM_USABLE,       /* RAM the allocators may use */
	MEM_ACPI_RECLAIM, /* ACPI tables (RAM once parsed; we keep them) */
	MEM_KERNEL,       /* the kernel image */
	MEM_MODULE,       /* boot modules */
	MEM_LOW,          /* the first MiB: IVT, BDA, EBDA, ROMs, AP trampoline */
	MEM_ACPI_NVS,     /* firmware state kept across sleep */
	MEM_RESERVED,     /* firmware reserved, MMIO holes */
	MEM_BAD,          /* defective RAM */
	MEM_TYPE_COUNT
};

/* [base, end): byte addresses, end exclusive. */
struct mem_region {
	uint64_t base;
	uint64_t end;
	enum mem_type type;
};

/* One boot loader entry, as the caller translated it. */
struct memmap_entry {
	uint64_t base;
	uint64_t len;
	enum mem_type type;
};

#define MEMMAP_MAX_REGIONS 128
/* Adding one range to n regions makes at most 2n + 3 before merging. */
#define MEMMAP_WORK_SLOTS (2 * MEMMAP_MAX_REGIONS + 3)

struct memmap {
	unsigned count;
	struct mem_region region[MEMMAP_MAX_REGIONS];
	/* private: scratch for building an update before committing it */
	unsigned work_count[2];
	struct mem_region work[2][MEMMAP_WORK_SLOTS];
};

/* An empty map. */
void memmap_init(struct memmap *m);

/*
 * Add the boot loader's entries, all or nothing. Entries may come in any
 * order and overlap. Zero-length entries are ignored. Errors, leaving the
 * map unchanged:
 *   E_INVAL  an entry's type is MEM_NONE or out of range
 *   E_RANGE  base + len overflows, or the end is beyond PHYS_ADDR_LIMIT
 *   E_NOSPC  the result would need more than MEMMAP_MAX_REGIONS regions
 */
MUST_CHECK err_t memmap_add_entries(struct memmap *m,
				    const struct memmap_entry *e, size_t n);

/*
 * Add one range: memmap_add_entries() with one entry. Also how the kernel
 * image (MEM_KERNEL), boot modules (MEM_MODULE) and the first MiB (MEM_LOW)
 * are reserved.
 */
MUST_CHECK err_t memmap_add(struct memmap *m, uint64_t base, uint64_t len,
			    enum mem_type type);

/* Total bytes of the given type. */
uint64_t memmap_bytes(const struct memmap *m, enum mem_type type);

/* The region containing byte address addr, or NULL if it is a hole. */
const struct mem_region *memmap_find(const struct memmap *m, uint64_t addr);

/* Whether the map satisfies its invariant (see above). */
bool memmap_validate(const struct memmap *m);

/* "usable", "reserved", ...; "invalid" for out-of-range values. */
const char *mem_type_name(enum mem_type type);

/* klog() one line per region. */
void memmap_dump(const struct memmap *m);

#endif /* KERNEL_MM_MEMMAP_H */
