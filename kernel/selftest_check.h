/* SPDX-License-Identifier: MIT */
/*
 * The self-tests' checks (kernel/selftest.c and its companions): CHECK()
 * logs the first condition that failed, with where, and makes the test
 * return false; CHECK_ERR() does the same for an err_t, naming both errors.
 */
#ifndef KERNEL_SELFTEST_CHECK_H
#define KERNEL_SELFTEST_CHECK_H

#include <platform.h>

#include "kernel/lib/err.h"

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			klog("selftest:   check failed: %s (%s)", #cond,  \
			     HERE);                                     \
			return false;                                   \
		}                                                       \
	} while (0)

/* CHECK for an err_t, naming the error. */
#define CHECK_ERR(expr, want)                                           \
	do {                                                            \
		err_t got_ = (expr);                                    \
		if (got_ != (want)) {                                   \
			klog("selftest:   %s returned %s, expected %s (%s)", \
			     #expr, err_name(got_), err_name(want), HERE); \
			return false;                                   \
		}                                                       \
	} while (0)

#endif /* KERNEL_SELFTEST_CHECK_H */
