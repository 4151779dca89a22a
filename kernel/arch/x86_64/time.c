/* SPDX-License-Identifier: MIT */
/*
 * Clock calibration. See time.h.
 */
#include <platform.h>

#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/time.h"
#include "locks/qsbr.h"

#include <stdatomic.h>

#define PIT_HZ         1193182u
#define PIT_CH2        0x42
#define PIT_CMD        0x43
#define PIT_GATE       0x61
#define CALIBRATE_MS   20

static uint64_t tsc_freq;   /* [I] */
static uint64_t ns_per_tsc; /* [I] ns per TSC tick, fixed point: << 32 */
static void (*_Atomic tick_hook)(void);
static uint64_t lapic_freq; /* [I] */
static uint64_t tsc_at_boot; /* [I] */

/* One-shot PIT countdown of ms milliseconds on channel 2 (mode 0). */
static void pit_start(unsigned ms)
{
	uint16_t count = (uint16_t)(PIT_HZ / 1000 * ms);

	outb(PIT_GATE, (uint8_t)((inb(PIT_GATE) & ~0x02) | 0x01)); /* gate on, speaker off */
	outb(PIT_CMD, 0xb0);                 /* channel 2, lo/hi byte, mode 0 */
	outb(PIT_CH2, (uint8_t)count);
	outb(PIT_CH2, (uint8_t)(count >> 8)); /* counting starts now */
}

static void pit_wait(void)
{
	while (!(inb(PIT_GATE) & 0x20)) /* OUT2 goes high at zero */
		pause();
}

void time_calibrate(void)
{
	uint64_t t0, t1;
	uint32_t c0, c1;

	lapic_timer_count_down();
	pit_start(CALIBRATE_MS);
	t0 = rdtsc();
	c0 = lapic_timer_current();
	pit_wait();
	t1 = rdtsc();
	c1 = lapic_timer_current();
	lapic_timer_stop();
	tsc_freq = (t1 - t0) * (1000 / CALIBRATE_MS);
	ns_per_tsc = (UINT64_C(1000000000) << 32) / tsc_freq;
	lapic_freq = (uint64_t)(c0 - c1) * (1000 / CALIBRATE_MS);
	tsc_at_boot = t1;
}

uint64_t tsc_hz(void)
{
	return tsc_freq;
}

uint64_t lapic_timer_hz(void)
{
	return lapic_freq;
}

void udelay(uint64_t us)
{
	uint64_t end = rdtsc() + tsc_freq / 1000000 * us;

	while (rdtsc() < end)
		pause();
}

uint64_t time_ns(void)
{
	uint64_t d = rdtsc() - tsc_at_boot;

	/* Every ns, not whole microseconds (benchmarks time spans of a few). */
	return (uint64_t)(((unsigned __int128)d * ns_per_tsc) >> 32);
}

void timer_set_hz(uint32_t hz)
{
	lapic_timer_start(hz);
}

void timer_tick(void)
{
	void (*hook)(void) = atomic_load_explicit(&tick_hook,
						  memory_order_acquire);

	this_cpu()->ticks++;
	qsbr_tick();
	if (hook != NULL)
		hook();
}

/*
 * A handler that loaded the old hook has either counted its tick already
 * or is about to; either way the CPU's second tick after the store comes
 * from a later handler (they do not nest), which loads the new hook.
 */
void timer_set_hook(void (*fn)(void))
{
	static uint64_t seen[CONFIG_MAX_CPUS]; /* [B] boot CPU only */
	void (*old)(void) = atomic_exchange_explicit(&tick_hook, fn,
						     memory_order_acq_rel);
	unsigned n = ncpus();

	ASSERT(irqs_enabled() && !in_irq());
	if (old == NULL)
		return;
	for (unsigned c = 0; c < n; c++)
		seen[c] = timer_ticks(c);
	for (unsigned c = 0; c < n; c++)
		while (timer_ticks(c) < seen[c] + 2)
			pause();
}

uint64_t timer_ticks(unsigned cpu)
{
	return __atomic_load_n(&percpu_of(cpu)->ticks, __ATOMIC_RELAXED);
}
