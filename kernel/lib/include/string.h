/* SPDX-License-Identifier: MIT */
/*
 * <string.h> for the freestanding kernel build (kernel/lib/string.c).
 * Host builds use the C library's; portable code uses only these.
 */
#ifndef KERNEL_LIB_INCLUDE_STRING_H
#define KERNEL_LIB_INCLUDE_STRING_H

#include <stddef.h>

void *memset(void *s, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
char *strstr(const char *haystack, const char *needle);

#endif /* KERNEL_LIB_INCLUDE_STRING_H */
