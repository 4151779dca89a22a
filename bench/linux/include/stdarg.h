/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/* <stdarg.h> for the Linux module (see stdint.h). */
#ifndef BENCH_LINUX_STDARG_H
#define BENCH_LINUX_STDARG_H

#include <linux/stdarg.h>

#endif
