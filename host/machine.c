/* SPDX-License-Identifier: MIT */
/*
 * Booting the memory system on the host the way the kernel boots it:
 * a memory map, the boot allocator over it, then the frame allocator,
 * which takes its metadata from the boot allocator and inherits every
 * page it has left.
 */
#include <string.h>

#include "host/host.h"
#include "kernel/mm/heap.h"
#include "percpu/pcp.h"

static struct memmap map;
static struct bootmem bm;

/* A CPU going away leaves nothing cached: heap objects, then frames. */
static void drain_on_offline(unsigned cpu)
{
	(void)cpu;
	heap_drain_local();
	if (frame_ready())
		pcp_drain_local();
}

static err_t register_drain(void)
{
	static bool done; /* [boot] first boot registers the hook */

	if (done)
		return E_OK;
	done = true;
	return host_cpu_on_offline(drain_on_offline);
}

err_t host_mm_boot_map(const struct memmap *m, const struct frame_config *cfg)
{
	err_t e;

	if (frame_ready())
		return E_ALREADY;
	if ((e = register_drain()) != E_OK)
		return e;
	memset(&bm, 0, sizeof(bm));
	if ((e = bootmem_init(&bm, m, BOOTMEM_NO_LIMIT)) != E_OK)
		return e;
	frame_early_init(&bm);
	if ((e = frame_init(&bm, m, cfg)) != E_OK)
		return e;
	return heap_init();
}

err_t host_mm_pc_map(struct memmap *m, uint64_t bytes)
{
	const struct memmap_entry e[] = {
		{ 0, 0x9fc00, MEM_USABLE },
		{ 0x9fc00, 0x60400, MEM_RESERVED },
		{ 0x100000, bytes - 0x100000, MEM_USABLE },
	};
	err_t err;

	if (bytes <= 0x100000 || bytes > host_arena_size)
		return E_RANGE;
	memmap_init(m);
	if ((err = memmap_add_entries(m, e, ARRAY_SIZE(e))) != E_OK)
		return err;
	return memmap_add(m, 0, 0x100000, MEM_LOW);
}

err_t host_mm_boot(uint64_t bytes, const struct frame_config *cfg)
{
	err_t e = host_mm_pc_map(&map, bytes);

	return e != E_OK ? e : host_mm_boot_map(&map, cfg);
}

void host_mm_shutdown(void)
{
	heap_fini();
	frame_fini();
}
