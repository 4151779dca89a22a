/* SPDX-License-Identifier: MIT */
/*
 * COM1 at 0x3f8, 115200 8N1, polled. See console.h.
 *
 * The console lock is a raw test-and-set flag taken with interrupts
 * masked, not a checked spinlock_t: the lock checker reports through the
 * console, so the console must not report to the checker. Leaf lock.
 *
 * Dying (a panic or a fatal exception): the first CPU to get there wins
 * dying_cpu (a compare-exchange, so exactly one) and owns the console for
 * good. It stops every other online CPU with an NMI, which arrives even
 * with interrupts masked; their NMI path (trap.c) sees dying_cpu set and
 * parks them: parked[], then cli; hlt for good (an NMI handler that never
 * returns blocks later NMIs too). A CPU that starts dying after the
 * winner parks itself without printing. The winner waits up to
 * STOP_WAIT_MS for the others to park, writes its report, names any CPU
 * that did not stop (qemu_exit()) and leaves QEMU.
 */
#include <stdatomic.h>
#include <stdio.h>

#include <platform.h>

#include "kernel/arch/x86_64/console.h"
#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/qemu.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/arch/x86_64/trap.h"

#define COM1 0x3f8
#define STOP_WAIT_MS 100

static atomic_flag console_lock = ATOMIC_FLAG_INIT;
static _Atomic int dying_cpu = -1; /* the CPU that owns the console for good */
static _Atomic bool parked[CONFIG_MAX_CPUS]; /* stopped by a death */
static unsigned stop_sent;       /* [dying CPU] CPUs sent an NMI */
static _Atomic bool hold_winner; /* console_panic_race_arm() */
static _Atomic unsigned losers;  /* CPUs that started dying second */

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

/* Park this CPU for good, as stopped by the dying CPU. */
static NORETURN void park(void)
{
	cli();
	atomic_store_explicit(&parked[cpu_id()], true, memory_order_release);
	for (;;)
		hlt();
}

void panic_nmi_stop(void)
{
	int dying = atomic_load(&dying_cpu);

	if (dying >= 0 && (unsigned)dying != cpu_id())
		park();
}

void console_panic_race_arm(void)
{
	atomic_store(&hold_winner, true);
}

/* NMI every other online CPU, and wait (bounded) until they have parked. */
static void stop_others(void)
{
	unsigned me = cpu_id(), n = ncpus(), left;
	uint64_t t0 = rdtsc(), limit = tsc_hz() / 1000 * STOP_WAIT_MS;

	/* fail=panic_all: the race, forced: another CPU starts dying now. */
	while (atomic_load(&hold_winner) && atomic_load(&losers) == 0 &&
	       rdtsc() - t0 < limit)
		pause();
	for (unsigned c = 0; c < n; c++) {
		if (c == me || !cpu_online(c))
			continue;
		lapic_send_nmi(percpu_of(c)->apic_id);
		stop_sent++;
	}
	t0 = rdtsc();
	do {
		left = 0;
		for (unsigned c = 0; c < n; c++)
			left += c != me && cpu_online(c) &&
				!atomic_load_explicit(&parked[c],
						      memory_order_acquire);
	} while (left > 0 && rdtsc() - t0 < limit);
}

/* The stop's outcome, the last line of a death's report. */
static void log_stopped(void)
{
	char missing[128];
	size_t n = 0;
	unsigned stopped = 0, me = cpu_id();

	missing[0] = '\0';
	for (unsigned c = 0; c < ncpus(); c++) {
		if (c == me || !cpu_online(c))
			continue;
		if (atomic_load(&parked[c]))
			stopped++;
		else if (n < sizeof(missing))
			n += (size_t)snprintf(missing + n, sizeof(missing) - n,
					      " %u", c);
	}
	klog("halt: stopped %u other CPUs (%u sent an NMI)%s%s", stopped,
	     stop_sent, n > 0 ? "; still running:" : "", missing);
}

void console_take_over(void)
{
	int none = -1;

	cli();
	if (!atomic_compare_exchange_strong(&dying_cpu, &none, (int)cpu_id())) {
		if ((unsigned)none == cpu_id())
			return; /* dying twice (a fault in the report) */
		atomic_fetch_add(&losers, 1);
		park(); /* another CPU is already reporting its death */
	}
	/* Only once the APs exist: the LAPIC and the TSC rate are set up. */
	if (ncpus() > 1)
		stop_others();
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
	int dying = atomic_load(&dying_cpu);

	if (dying >= 0 && (unsigned)dying == cpu_id() && ncpus() > 1)
		log_stopped();
	outl(QEMU_EXIT_PORT, code);
	for (;;) /* no debug-exit device: stop here */
		hlt();
}
