/* SPDX-License-Identifier: MIT */
/*
 * Error values. Every fallible call in the memory system returns an err_t
 * (or a result struct holding one) and is marked MUST_CHECK. A call that
 * returns an error has changed nothing: each module validates its whole
 * input before it modifies any state.
 */
#ifndef KERNEL_LIB_ERR_H
#define KERNEL_LIB_ERR_H

#include "kernel/lib/compiler.h"

typedef enum err {
	E_OK = 0,
	E_INVAL,         /* malformed argument: zero count, bad alignment, bad type */
	E_RANGE,         /* address outside what the module manages, or overflow */
	E_NOMEM,         /* not enough free memory */
	E_NOSPC,         /* a fixed-size table is full */
	E_BUSY,          /* part of the requested range is already in use */
	E_ALREADY,       /* already initialised */
	E_STATE,         /* call not valid in the module's current state */
	E_NOT_ALLOCATED, /* freeing memory that is not allocated (double free) */
	E_BAD_ORDER,     /* freeing a block with an order it was not allocated at */
	E_RESERVED,      /* a frame the allocator does not manage */
	E_REFERENCED,    /* freeing a frame that others still reference */
	E_QUOTA,         /* the account would exceed its max_pages */
	E_DYING,         /* the account is dying */
	E_FAULT,         /* an access faulted (probe and copy helpers) */
	E_COUNT
} err_t;

/* A short fixed name for an error ("E_BUSY"); never NULL. */
const char *err_name(err_t e);

#endif /* KERNEL_LIB_ERR_H */
