/* SPDX-License-Identifier: MIT */
/*
 * Local APIC registers (Intel SDM vol. 3, 11.4). Offsets from the base;
 * each register is a 32-bit word on a 16-byte boundary.
 */
#include <platform.h>

#include "kernel/arch/x86_64/acpi.h"
#include "kernel/arch/x86_64/lapic.h"
#include "kernel/arch/x86_64/time.h"
#include "kernel/arch/x86_64/trap.h"

enum {
	LAPIC_ID = 0x020,
	LAPIC_TPR = 0x080,
	LAPIC_EOI = 0x0b0,
	LAPIC_IRR = 0x200, /* 8 words: vectors 32k .. 32k+31 in word k */
	LAPIC_SVR = 0x0f0,
	LAPIC_ICR_LO = 0x300,
	LAPIC_ICR_HI = 0x310,
	LAPIC_LVT_TIMER = 0x320,
	LAPIC_LVT_LINT0 = 0x350,
	LAPIC_TIMER_INIT = 0x380,
	LAPIC_TIMER_CUR = 0x390,
	LAPIC_TIMER_DIV = 0x3e0,
};

#define SVR_ENABLE       (1u << 8)
#define ICR_PENDING      (1u << 12)
#define ICR_ASSERT       (1u << 14)
#define ICR_FIXED        (0u << 8)
#define ICR_NMI          (4u << 8)
#define ICR_INIT         (5u << 8)
#define ICR_STARTUP      (6u << 8)
#define LVT_MASKED       (1u << 16)
#define LVT_PERIODIC     (1u << 17)
#define TIMER_DIV_16     0x3u

_Static_assert(LAPIC_MAX_DEST == ACPI_XAPIC_MAX_ID,
	       "the MADT parser keeps exactly the ids the driver can address");

static uint64_t base_phys; /* [I] */

static volatile uint32_t *reg(unsigned off)
{
	return (volatile uint32_t *)((uint8_t *)phys_to_virt(PADDR(base_phys)) +
				     off);
}

static uint32_t rd(unsigned off)
{
	return *reg(off);
}

static void wr(unsigned off, uint32_t v)
{
	*reg(off) = v;
}

void lapic_set_base(uint64_t phys)
{
	base_phys = phys;
}

uint64_t lapic_base_phys(void)
{
	return base_phys;
}

uint64_t lapic_msr_base(void)
{
	return rdmsr(MSR_APIC_BASE) & UINT64_C(0x000ffffffffff000);
}

void lapic_check_mode(uint64_t msr)
{
	if (!(msr & APIC_BASE_EN) || (msr & APIC_BASE_EXTD))
		panic("lapic: CPU %u: IA32_APIC_BASE %#llx: the local APIC is "
		      "%s; this driver drives xAPIC mode only", cpu_id(),
		      (unsigned long long)msr,
		      (msr & APIC_BASE_EN) ? "in x2APIC mode" : "disabled");
}

void lapic_enable(void)
{
	lapic_check_mode(rdmsr(MSR_APIC_BASE));
	wr(LAPIC_TPR, 0);
	wr(LAPIC_SVR, SVR_ENABLE | VECTOR_SPURIOUS);
	/* LINT0 is where the firmware wired the 8259s (ExtINT): cut it. */
	wr(LAPIC_LVT_LINT0, LVT_MASKED);
}

/*
 * The legacy 8259 PICs. The firmware leaves them on with IRQ 0 (the PIT)
 * at vector 8, where the first sti turns a PIT tick into a "double
 * fault". Reprogram them to vectors PIC_VECTOR_BASE.. (clear of the
 * exceptions and of ours) and mask every line; a spurious IRQ 7 or 15 can
 * still arrive, and trap.c ignores that range.
 */
#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xa0
#define PIC2_DATA 0xa1

void legacy_pic_disable(void)
{
	outb(PIC1_CMD, 0x11);                  /* ICW1: init, ICW4 follows */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, PIC_VECTOR_BASE);      /* ICW2: vector base */
	outb(PIC2_DATA, PIC_VECTOR_BASE + 8);
	outb(PIC1_DATA, 0x04);                 /* ICW3: slave on IRQ 2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01);                 /* ICW4: 8086 mode */
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xff);                 /* mask everything */
	outb(PIC2_DATA, 0xff);
}

uint32_t lapic_id(void)
{
	return rd(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
	wr(LAPIC_EOI, 0);
}

static void wait_idle(void)
{
	while (rd(LAPIC_ICR_LO) & ICR_PENDING)
		pause();
}

/*
 * Writing the low half sends; interrupts masked so no IPI interleaves.
 * A dest the 8-bit field cannot hold exactly is refused, never truncated.
 */
static void send(uint32_t dest, uint32_t low)
{
	irqflags_t f;

	if (dest > LAPIC_MAX_DEST)
		panic("lapic: IPI to APIC id %u refused: the xAPIC addresses "
		      "0..%u (255 broadcasts, higher ids alias)", dest,
		      LAPIC_MAX_DEST);
	f = irq_save();

	wait_idle();
	wr(LAPIC_ICR_HI, dest << 24);
	wr(LAPIC_ICR_LO, low);
	wait_idle();
	irq_restore(f);
}

void lapic_send_ipi(uint32_t dest, uint8_t vector)
{
	send(dest, ICR_FIXED | ICR_ASSERT | vector);
}

void lapic_send_init(uint32_t dest)
{
	send(dest, ICR_INIT | ICR_ASSERT);
}

void lapic_send_startup(uint32_t dest, uint8_t vector)
{
	send(dest, ICR_STARTUP | ICR_ASSERT | vector);
}

void lapic_timer_count_down(void)
{
	wr(LAPIC_TIMER_DIV, TIMER_DIV_16);
	wr(LAPIC_LVT_TIMER, LVT_MASKED | VECTOR_TIMER);
	wr(LAPIC_TIMER_INIT, UINT32_MAX);
}

uint32_t lapic_timer_current(void)
{
	return rd(LAPIC_TIMER_CUR);
}

void lapic_timer_stop(void)
{
	wr(LAPIC_TIMER_INIT, 0);
}

void lapic_timer_start(uint32_t hz)
{
	uint64_t ticks = lapic_timer_hz() / hz;

	wr(LAPIC_TIMER_DIV, TIMER_DIV_16);
	wr(LAPIC_LVT_TIMER, LVT_PERIODIC | VECTOR_TIMER);
	wr(LAPIC_TIMER_INIT, (uint32_t)MAX(ticks, UINT64_C(1)));
}

/* NMI: no vector (the CPU takes vector 2), delivered even with IF clear. */
void lapic_send_nmi(uint32_t dest)
{
	send(dest, ICR_NMI | ICR_ASSERT);
}

bool lapic_irr_pending(uint8_t vector)
{
	return rd(LAPIC_IRR + 0x10 * (vector / 32u)) & (1u << (vector % 32u));
}

void lapic_timer_set_masked(bool masked)
{
	uint32_t lvt = rd(LAPIC_LVT_TIMER);

	wr(LAPIC_LVT_TIMER, masked ? lvt | LVT_MASKED : lvt & ~LVT_MASKED);
}
