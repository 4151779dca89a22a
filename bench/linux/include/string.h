/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/* <string.h> for the Linux module (see stdint.h). */
#ifndef BENCH_LINUX_STRING_H
#define BENCH_LINUX_STRING_H

#include <linux/string.h>

#endif
