/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/* <stdbool.h> for the Linux module (see stdint.h): linux/types.h has bool. */
#ifndef BENCH_LINUX_STDBOOL_H
#define BENCH_LINUX_STDBOOL_H

#include <linux/types.h>
#include <linux/stddef.h>

#endif
