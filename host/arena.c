/* SPDX-License-Identifier: MIT */
/*
 * The host's "physical memory": one anonymous mapping. Physical address p
 * is offset p into it, so phys_to_virt() is an addition.
 */
#include <sys/mman.h>

#include "host/host.h"

uint8_t *host_arena_base; /* [I] */
uint64_t host_arena_size; /* [I] */

err_t host_arena_init(uint64_t bytes)
{
	void *p;

	if (bytes == 0)
		return E_INVAL;
	if (host_arena_base != NULL)
		return E_ALREADY;
	if (bytes > PHYS_ADDR_LIMIT)
		return E_RANGE;
	bytes = ALIGN_UP(bytes, PAGE_SIZE);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return E_NOMEM;
	host_arena_base = p;
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
