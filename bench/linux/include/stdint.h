/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/*
 * <stdint.h> for the portable benchmark sources built into the Linux
 * module: the kernel builds with -nostdinc, and linux/types.h has the
 * fixed-width types; the macros the sources use are added here.
 */
#ifndef BENCH_LINUX_STDINT_H
#define BENCH_LINUX_STDINT_H

#include <linux/types.h>

#define UINT64_C(x) x##ULL
#define INT64_C(x)  x##LL
#define UINT32_C(x) x##U
#ifndef UINT64_MAX
#define UINT64_MAX  (~0ULL)
#endif
#ifndef UINT32_MAX
#define UINT32_MAX  (~0U)
#endif

#endif
