/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/* <stddef.h> for the Linux module (see stdint.h): NULL, size_t. */
#ifndef BENCH_LINUX_STDDEF_H
#define BENCH_LINUX_STDDEF_H

#include <linux/types.h>
#include <linux/stddef.h>

#endif
