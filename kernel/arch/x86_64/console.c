/* SPDX-License-Identifier: MIT */
/*
 * COM1 at 0x3f8, 115200 8N1, polled. See console.h.
 *
 * The console lock is a raw test-and-set flag taken with interrupts
 * masked, not a checked spinlock_t: the lock checker reports through the
 * console, so the console must not report to the checker. Leaf lock.
 */
#include <stdatomic.h>
#include <stdio.h>

#include <platform.h>

#include "kernel/arch/x86_64/console.h"
#include "kernel/arch/x86_64/qemu.h"
#include "kernel/arch/x86_64/trap.h"

#define COM1 0x3f8

static atomic_flag console_lock = ATOMIC_FLAG_INIT;
static _Atomic int dying_cpu = -1; /* the CPU that owns the console for good */

void console_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* divisor latch */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8 bits, no parity, one stop bit */
	outb(COM1 + 2, 0xc7); /* FIFO on, cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS */
}

static void put(char c)
{
	while (!(inb(COM1 + 5) & 0x20)) /* transmitter holding register empty */
		pause();
	outb(COM1, (uint8_t)c);
}

static void put_all(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			put('\r');
		put(s[i]);
	}
}

void console_write(const char *s, size_t n)
{
	irqflags_t f = irq_save();
	int dying = atomic_load(&dying_cpu);

	if (dying >= 0) {
		if ((unsigned)dying == cpu_id())
			put_all(s, n);
		irq_restore(f);
		return;
	}
	while (atomic_flag_test_and_set_explicit(&console_lock,
						 memory_order_acquire))
		pause();
	put_all(s, n);
	atomic_flag_clear_explicit(&console_lock, memory_order_release);
	irq_restore(f);
}

void console_take_over(void)
{
	int none = -1;

	cli();
	if (!atomic_compare_exchange_strong(&dying_cpu, &none, (int)cpu_id()) &&
	    (unsigned)none != cpu_id()) {
		for (;;) /* another CPU is already reporting its death */
			hlt();
	}
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s", prefix);
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);

	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	console_write(buf, len);
}

void klog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void panic(const char *fmt, ...)
{
	char prefix[32];
	va_list ap;

	console_take_over();
	snprintf(prefix, sizeof(prefix), "panic: cpu %u: ", cpu_id());
	va_start(ap, fmt);
	vlog(prefix, fmt, ap);
	va_end(ap);
	backtrace_from(read_rbp());
	qemu_exit(QEMU_EXIT_FAILURE);
}

void qemu_exit(unsigned code)
{
	outl(QEMU_EXIT_PORT, code);
	for (;;) /* no debug-exit device: stop here */
		hlt();
}
