/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/*
 * kernel/mm/frame.h for the Linux module: the part of our frame API the
 * frame cases call, declared in lx_bench.h and implemented over Linux's
 * page allocator in glue.c. The cases' include of "kernel/mm/frame.h"
 * finds this file first (the module's include path puts
 * bench/linux/include before the tree's root).
 */
#ifndef BENCH_LINUX_FRAME_H
#define BENCH_LINUX_FRAME_H

#include "lx_bench.h"

typedef struct lx_pfn pfn_t;
typedef enum err err_t;

#endif
