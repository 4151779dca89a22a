/* SPDX-License-Identifier: MIT */
/*
 * panic() and klog() for the host: whole lines with one write(2) each, so
 * lines from different threads never interleave.
 */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <platform.h>

static void write_line(char *buf, size_t cap, int len)
{
	size_t n = len < 0 ? 0 : (size_t)len;

	if (n > cap - 2)
		n = cap - 2;
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, n);
}

void klog(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	write_line(buf, sizeof(buf), n);
}

void panic(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n, m;

	n = snprintf(buf, sizeof(buf), "panic: cpu %d: ", host_self.id);
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	write_line(buf, sizeof(buf), n + m);
	{
		void *frames[32];
		int depth = backtrace(frames, 32);

		backtrace_symbols_fd(frames, depth, STDERR_FILENO);
	}
	abort();
}
