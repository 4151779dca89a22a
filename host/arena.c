/* SPDX-License-Identifier: MIT */
/*
 * The host's "physical memory": one anonymous mapping. Physical address p
 * is offset p into it, so phys_to_virt() is an addition. The mapping
 * starts on a 1 GiB boundary, so that virtual addresses keep the
 * alignment of physical ones as the kernel's direct map does (the
 * platform contract's promise: a 4 MiB buddy block, or a
 * kmalloc_aligned() object, is aligned in both).
 */
#include <sys/mman.h>

#include "host/host.h"

uint8_t *host_arena_base; /* [I] */
uint64_t host_arena_size; /* [I] */

#define HOST_ARENA_ALIGN (UINT64_C(1) << 30)

err_t host_arena_init(uint64_t bytes)
{
	uintptr_t start, head;
	void *p;

	if (bytes == 0)
		return E_INVAL;
	if (host_arena_base != NULL)
		return E_ALREADY;
	if (bytes > PHYS_ADDR_LIMIT)
		return E_RANGE;
	bytes = ALIGN_UP(bytes, PAGE_SIZE);
	/* Map the slack too, then give back what lies outside the boundary. */
	p = mmap(NULL, bytes + HOST_ARENA_ALIGN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return E_NOMEM;
	start = ALIGN_UP((uintptr_t)p, HOST_ARENA_ALIGN);
	head = start - (uintptr_t)p;
	if (head > 0)
		munmap(p, head);
	if (HOST_ARENA_ALIGN - head > 0)
		munmap((void *)(start + bytes), HOST_ARENA_ALIGN - head);
	host_arena_base = (uint8_t *)start;
	host_arena_size = bytes;
	return E_OK;
}

void host_arena_fini(void)
{
	if (host_arena_base == NULL)
		return;
	munmap(host_arena_base, host_arena_size);
	host_arena_base = NULL;
	host_arena_size = 0;
}
