/* SPDX-License-Identifier: MIT */
/*
 * Control registers: every CPU runs with the same, known CR0, CR4 and
 * EFER. Loaded whole rather than OR-ed into whatever firmware or the
 * trampoline left, so that a CPU's state does not depend on its history.
 *
 * [I] `chosen` is written by the boot CPU's first call, before any AP
 * starts (the AP's start is ordered after it by the startup IPI).
 */
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/cpu.h"

static struct cpu_control chosen; /* [I] */
static bool decided;              /* [I] */

/*
 * CR0: protected mode, paging, write protection even for the kernel (so
 * read-only mappings bind it), x87 errors reported natively; caches on
 * (CD and NW clear), no task-switch or emulation traps (TS, EM clear).
 */
#define CR0_KNOWN (CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG)

/* What this CPU offers, as the control bits it would load. */
static struct cpu_control offered(void)
{
	struct cpu_control c = { CR0_KNOWN, CR4_PAE, EFER_LME | EFER_LMA };
	uint32_t r[4];

	cpuid(0x80000001, 0, r);
	if (r[3] & (1u << 20))          /* NX */
		c.efer |= EFER_NXE;
	cpuid(1, 0, r);
	if (r[3] & (1u << 13))          /* PGE */
		c.cr4 |= CR4_PGE;
	if (r[3] & (1u << 7))           /* MCE */
		c.cr4 |= CR4_MCE;
	cpuid(0, 0, r);
	if (r[0] >= 7) {
		cpuid(7, 0, r);
		if (r[1] & (1u << 7))   /* SMEP */
			c.cr4 |= CR4_SMEP;
		if (r[1] & (1u << 20))  /* SMAP */
			c.cr4 |= CR4_SMAP;
	}
	return c;
}

static void log_chosen(void)
{
	const uint64_t cr4 = chosen.cr4;

	klog("cpu: NX on; global pages %s, SMEP %s, SMAP %s, machine check %s",
	     cr4 & CR4_PGE ? "on" : "off (not offered)",
	     cr4 & CR4_SMEP ? "on" : "off (not offered)",
	     cr4 & CR4_SMAP ? "on" : "off (not offered)",
	     cr4 & CR4_MCE ? "on" : "off (not offered)");
}

void cpu_identify(struct cpu_ident *id)
{
	uint32_t r[4], brand[12] = { 0 }, hv[3] = { 0 };
	size_t skip = 0;

	cpuid(0x80000000, 0, r);
	if (r[0] >= 0x80000004)
		for (uint32_t i = 0; i < 3; i++)
			cpuid(0x80000002 + i, 0, &brand[4 * i]);
	memcpy(id->brand, brand, sizeof(brand));
	id->brand[sizeof(brand)] = '\0';
	while (id->brand[skip] == ' ')
		skip++;
	memmove(id->brand, id->brand + skip, sizeof(id->brand) - skip);
	cpuid(1, 0, r);
	if (r[2] & (1u << 31)) { /* running under a hypervisor */
		cpuid(0x40000000, 0, r);
		hv[0] = r[1];
		hv[1] = r[2];
		hv[2] = r[3];
	}
	if (hv[0] != 0) {
		memcpy(id->hypervisor, hv, sizeof(hv));
		id->hypervisor[sizeof(hv)] = '\0';
	} else {
		memcpy(id->hypervisor, "none", 5);
	}
}

void cpu_features_init(void)
{
	struct cpu_control mine = offered();

	if (!decided) {
		/* The kernel's tables use NX everywhere but text: without
		   it, bit 63 is reserved and every access through them
		   faults. */
		if (!(mine.efer & EFER_NXE))
			panic("cpu: no NX (execute disable); W^X needs it");
		chosen = mine;
		decided = true;
		log_chosen();
	} else if ((chosen.cr4 & ~mine.cr4) != 0 ||
		   (chosen.efer & ~mine.efer) != 0) {
		panic("cpu: CPU %u lacks features the boot CPU has (CR4 "
		      "%#llx of %#llx, EFER %#llx of %#llx)", cpu_id(),
		      (unsigned long long)mine.cr4,
		      (unsigned long long)chosen.cr4,
		      (unsigned long long)mine.efer,
		      (unsigned long long)chosen.efer);
	}
	/* EFER first: nothing mapped yet depends on CR4's new bits. */
	wrmsr(MSR_EFER, chosen.efer);
	write_cr4(chosen.cr4);
	write_cr0(chosen.cr0);
}

const struct cpu_control *cpu_control(void)
{
	return &chosen;
}
