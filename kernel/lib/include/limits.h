/* SPDX-License-Identifier: MIT */
/*
 * <limits.h> for the freestanding kernel build (x86-64, LP64). GCC's own
 * copy chains to the C library's; Concurrency Kit's ck_limits.h wants it.
 */
#ifndef KERNEL_LIB_INCLUDE_LIMITS_H
#define KERNEL_LIB_INCLUDE_LIMITS_H

#define CHAR_BIT   8
#define SCHAR_MIN  (-128)
#define SCHAR_MAX  127
#define UCHAR_MAX  255
#define CHAR_MIN   SCHAR_MIN
#define CHAR_MAX   SCHAR_MAX
#define SHRT_MIN   (-32768)
#define SHRT_MAX   32767
#define USHRT_MAX  65535
#define INT_MIN    (-INT_MAX - 1)
#define INT_MAX    2147483647
#define UINT_MAX   4294967295U
#define LONG_MIN   (-LONG_MAX - 1L)
#define LONG_MAX   9223372036854775807L
#define ULONG_MAX  18446744073709551615UL
#define LLONG_MIN  (-LLONG_MAX - 1LL)
#define LLONG_MAX  9223372036854775807LL
#define ULLONG_MAX 18446744073709551615ULL

#endif /* KERNEL_LIB_INCLUDE_LIMITS_H */
