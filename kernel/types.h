/* SPDX-License-Identifier: MIT */
/*
 * Address types shared by every layer.
 *
 * Physical addresses and frame numbers are one-member structs, so that
 * passing a frame number where a byte address is expected (or a virtual
 * pointer where either is expected) is a compile error, not a silent bug.
 * The value is always in `.v`.
 */
#ifndef KERNEL_TYPES_H
#define KERNEL_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel/lib/compiler.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE  (UINT64_C(1) << PAGE_SHIFT)

/*
 * x86-64 physical addresses are at most 52 bits wide (MAXPHYADDR <= 52);
 * anything at or above this limit cannot be memory.
 */
#define PHYS_ADDR_LIMIT (UINT64_C(1) << 52)

typedef struct { uint64_t v; } paddr_t; /* physical byte address */
typedef struct { uint64_t v; } pfn_t;   /* physical frame number */

#define PADDR(x) ((paddr_t){ (uint64_t)(x) })
#define PFN(x)   ((pfn_t){ (uint64_t)(x) })

static inline paddr_t pfn_to_pa(pfn_t p)
{
	return PADDR(p.v << PAGE_SHIFT);
}

/* The frame that contains byte address a. */
static inline pfn_t pa_to_pfn(paddr_t a)
{
	return PFN(a.v >> PAGE_SHIFT);
}

#endif /* KERNEL_TYPES_H */
