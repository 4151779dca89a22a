/* SPDX-License-Identifier: MIT */
/*
 * The physical memory map. See memmap.h for the rules.
 *
 * The map is kept normalised at all times; adding a range is an "overlay":
 * one in-order walk over the regions that emits, in address order, the
 * parts outside the new range unchanged, the parts inside it with the
 * higher of the two types, and the holes inside it with the new type. An
 * emitted piece that touches the previous one and has the same type is
 * merged into it, so the output is normalised again. A batch applies its
 * overlays to a copy and commits only if all of them fit.
 */
#include <string.h>

#include <platform.h>

#include "kernel/mm/memmap.h"

static const char *const type_names[MEM_TYPE_COUNT] = {
	[MEM_NONE] = "none",
	[MEM_USABLE] = "usable",
	[MEM_ACPI_RECLAIM] = "acpi-reclaim",
	[MEM_KERNEL] = "kernel",
	[MEM_MODULE] = "module",
	[MEM_LOW] = "low-1MiB",
	[MEM_ACPI_NVS] = "acpi-nvs",
	[MEM_RESERVED] = "reserved",
	[MEM_BAD] = "bad",
};

const char *mem_type_name(enum mem_type type)
{
	if ((unsigned)type >= MEM_TYPE_COUNT)
		return "invalid";
	return type_names[type];
}

void memmap_init(struct memmap *m)
{
	m->count = 0;
}

/* Growing list of regions, merging a piece into a touching equal one. */
struct emitter {
	struct mem_region *out;
	unsigned n;
};

static void emit(struct emitter *em, uint64_t base, uint64_t end,
		 enum mem_type type)
{
	struct mem_region *last = em->n > 0 ? &em->out[em->n - 1] : NULL;

	if (base == end)
		return;
	if (last != NULL && last->end == base && last->type == type) {
		last->end = end;
		return;
	}
	ASSERT(em->n < MEMMAP_WORK_SLOTS);
	em->out[em->n++] = (struct mem_region){ base, end, type };
}

/*
 * out = in with r laid over it. Pure: in is sorted, disjoint and merged
 * (n <= MEMMAP_MAX_REGIONS), and so is the result. Returns its length.
 */
static unsigned overlay(const struct mem_region *in, unsigned n,
			struct mem_region r, struct mem_region *out)
{
	struct emitter em = { out, 0 };
	uint64_t pos = r.base; /* [r.base, pos) of r is emitted */

	for (unsigned i = 0; i < n; i++) {
		const struct mem_region *x = &in[i];
		uint64_t lo, hi;

		if (x->end <= r.base) {
			emit(&em, x->base, x->end, x->type);
			continue;
		}
		if (x->base >= r.end) {
			emit(&em, pos, r.end, r.type);
			pos = r.end;
			emit(&em, x->base, x->end, x->type);
			continue;
		}
		lo = MAX(x->base, r.base);
		hi = MIN(x->end, r.end);
		emit(&em, x->base, lo, x->type);   /* x's part before r */
		emit(&em, pos, lo, r.type);        /* the hole before x */
		emit(&em, lo, hi, MAX(x->type, r.type));
		pos = hi;
		emit(&em, hi, x->end, x->type);    /* x's part after r */
	}
	emit(&em, pos, r.end, r.type);
	return em.n;
}

static err_t check_entry(const struct memmap_entry *e)
{
	if (e->type <= MEM_NONE || e->type >= MEM_TYPE_COUNT)
		return E_INVAL;
	if (e->len > PHYS_ADDR_LIMIT || e->base > PHYS_ADDR_LIMIT - e->len)
		return E_RANGE;
	return E_OK;
}

err_t memmap_add_entries(struct memmap *m, const struct memmap_entry *e,
			 size_t n)
{
	unsigned cur = 0;

	for (size_t i = 0; i < n; i++) {
		err_t err = check_entry(&e[i]);

		if (err != E_OK)
			return err;
	}
	memcpy(m->work[cur], m->region, m->count * sizeof(m->region[0]));
	m->work_count[cur] = m->count;
	for (size_t i = 0; i < n; i++) {
		struct mem_region r = { e[i].base, e[i].base + e[i].len,
					e[i].type };

		if (e[i].len == 0)
			continue;
		m->work_count[!cur] = overlay(m->work[cur], m->work_count[cur],
					      r, m->work[!cur]);
		cur = !cur;
		if (m->work_count[cur] > MEMMAP_MAX_REGIONS)
			return E_NOSPC;
	}
	memcpy(m->region, m->work[cur],
	       m->work_count[cur] * sizeof(m->region[0]));
	m->count = m->work_count[cur];
	ASSERT(memmap_validate(m));
	return E_OK;
}

err_t memmap_add(struct memmap *m, uint64_t base, uint64_t len,
		 enum mem_type type)
{
	struct memmap_entry e = { base, len, type };

	return memmap_add_entries(m, &e, 1);
}

uint64_t memmap_bytes(const struct memmap *m, enum mem_type type)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < m->count; i++)
		if (m->region[i].type == type)
			sum += m->region[i].end - m->region[i].base;
	return sum;
}

const struct mem_region *memmap_find(const struct memmap *m, uint64_t addr)
{
	unsigned lo = 0, hi = m->count;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct mem_region *r = &m->region[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

bool memmap_validate(const struct memmap *m)
{
	if (m->count > MEMMAP_MAX_REGIONS)
		return false;
	for (unsigned i = 0; i < m->count; i++) {
		const struct mem_region *r = &m->region[i];

		if (r->type <= MEM_NONE || r->type >= MEM_TYPE_COUNT)
			return false;
		if (r->base >= r->end || r->end > PHYS_ADDR_LIMIT)
			return false;
		if (i == 0)
			continue;
		if (r[-1].end > r->base)
			return false;
		if (r[-1].end == r->base && r[-1].type == r->type)
			return false;
	}
	return true;
}

void memmap_dump(const struct memmap *m)
{
	for (unsigned i = 0; i < m->count; i++)
		klog("  [0x%012llx-0x%012llx) %s",
		     (unsigned long long)m->region[i].base,
		     (unsigned long long)m->region[i].end,
		     mem_type_name(m->region[i].type));
}
