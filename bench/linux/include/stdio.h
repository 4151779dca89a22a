/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/* <stdio.h> for the Linux module (see stdint.h): snprintf, vsnprintf. */
#ifndef BENCH_LINUX_STDIO_H
#define BENCH_LINUX_STDIO_H

#include <linux/kernel.h>

#endif
