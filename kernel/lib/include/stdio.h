/* SPDX-License-Identifier: MIT */
/*
 * <stdio.h> for the freestanding kernel build: formatting only
 * (kernel/lib/printf.c). Output goes through klog().
 */
#ifndef KERNEL_LIB_INCLUDE_STDIO_H
#define KERNEL_LIB_INCLUDE_STDIO_H

#include <stdarg.h>
#include <stddef.h>

int snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif /* KERNEL_LIB_INCLUDE_STDIO_H */
