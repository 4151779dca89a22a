/* SPDX-License-Identifier: MIT */
/*
 * x86-64 instructions and architectural facts the kernel uses. Every line
 * of inline assembly outside boot/ and entry.S is here, each with why.
 */
#ifndef KERNEL_ARCH_X86_64_CPU_H
#define KERNEL_ARCH_X86_64_CPU_H

#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------ address space */

/* The direct map, the kernel stacks, the kernel image: see paging.h. */
#define DIRECT_MAP_BASE UINT64_C(0xffff800000000000) /* PML4 slot 256 */
#define DIRECT_MAP_SIZE (UINT64_C(128) << 39)        /* slots 256..383 */
#define KSTACK_AREA_BASE UINT64_C(0xffffff0000000000) /* PML4 slot 510 */
#define KSTACK_AREA_SIZE (UINT64_C(1) << 39)          /* the whole slot */
#define KERNEL_BASE     UINT64_C(0xffffffff80000000) /* top 2 GiB: -mcmodel=kernel */

/* --------------------------------------------------------- registers */

#define RFLAGS_IF (UINT64_C(1) << 9) /* interrupts enabled */
#define RFLAGS_AC (UINT64_C(1) << 18) /* with CR4.SMAP: user pages open */

#define CR0_PE   (UINT64_C(1) << 0)  /* protected mode */
#define CR0_MP   (UINT64_C(1) << 1)  /* wait/fwait honour TS */
#define CR0_ET   (UINT64_C(1) << 4)  /* extension type: hardwired 1 */
#define CR0_NE   (UINT64_C(1) << 5)  /* native x87 error reporting */
#define CR0_WP   (UINT64_C(1) << 16) /* supervisor writes obey read-only */
#define CR0_PG   (UINT64_C(1) << 31)
#define CR4_PAE  (UINT64_C(1) << 5)
#define CR4_MCE  (UINT64_C(1) << 6)  /* machine-check exception enabled */
#define CR4_PGE  (UINT64_C(1) << 7)  /* Global pages survive CR3 loads */
#define CR4_SMEP (UINT64_C(1) << 20) /* no supervisor execution of user pages */
#define CR4_SMAP (UINT64_C(1) << 21) /* no supervisor access to user pages */

#define MSR_EFER        0xc0000080u
#define EFER_LME        (UINT64_C(1) << 8)  /* long mode enabled */
#define EFER_LMA        (UINT64_C(1) << 10) /* long mode active (CPU's) */
#define EFER_NXE        (UINT64_C(1) << 11) /* PTE bit 63 means no-execute */
#define MSR_GS_BASE     0xc0000101u
#define MSR_APIC_BASE   0x0000001bu
#define APIC_BASE_EXTD  (UINT64_C(1) << 10) /* x2APIC mode */
#define APIC_BASE_EN    (UINT64_C(1) << 11) /* the local APIC is on */

/* Page-table entries: kernel/arch/x86_64/pte.h (PTE_P, PTE_W, ...). */
#include "kernel/arch/x86_64/pte.h"

/* ---------------------------------------------------------- helpers */

static inline uint64_t read_rflags(void)
{
	uint64_t f;

	__asm__ __volatile__("pushfq; popq %0" : "=r"(f) : : "memory");
	return f;
}

/* pushf + cli: save the interrupt flag and mask interrupts. */
static inline uint64_t local_irq_save(void)
{
	uint64_t f;

	__asm__ __volatile__("pushfq; popq %0; cli" : "=r"(f) : : "memory");
	return f;
}

/* popf: restore exactly the saved flags (IF included). */
static inline void local_irq_restore(uint64_t f)
{
	__asm__ __volatile__("pushq %0; popfq" : : "r"(f) : "memory", "cc");
}

static inline void sti(void)
{
	__asm__ __volatile__("sti" : : : "memory");
}

static inline void cli(void)
{
	__asm__ __volatile__("cli" : : : "memory");
}

/*
 * stac/clac: set and clear RFLAGS.AC, which with CR4.SMAP lets the
 * kernel reach user pages (SDM vol. 3, 4.6.1). #UD without SMAP: callers
 * check CR4 first (vmfault.h's user_access_begin()).
 */
static inline void stac(void)
{
	__asm__ __volatile__("stac" : : : "memory");
}

static inline void clac(void)
{
	__asm__ __volatile__("clac" : : : "memory");
}

/*
 * Enable interrupts and halt, atomically: sti delays their recognition by
 * one instruction (its interrupt shadow), so an interrupt that became
 * pending while they were masked ends the hlt instead of being taken just
 * before it. The idle pattern, which cannot lose a wakeup:
 *     cli(); if (!work()) sti_hlt(); else sti();
 */
static inline void sti_hlt(void)
{
	__asm__ __volatile__("sti; hlt" : : : "memory");
}

static inline void hlt(void)
{
	__asm__ __volatile__("hlt" : : : "memory");
}

/* Spin-wait hint: lets a hyperthread sibling (or the hypervisor) run. */
static inline void pause(void)
{
	__asm__ __volatile__("pause" : : : "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ __volatile__("wrmsr" : : "c"(msr), "a"((uint32_t)v),
			     "d"((uint32_t)(v >> 32)) : "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ __volatile__("cpuid"
			     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			     : "a"(leaf), "c"(sub));
}

static inline uint64_t read_cr0(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline void write_cr0(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr0" : : "r"(v) : "memory");
}

static inline uint64_t read_cr4(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr4, %0" : "=r"(v));
	return v;
}

/* Toggling CR4.PGE flushes the whole TLB, Global entries included. */
static inline void write_cr4(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr4" : : "r"(v) : "memory");
}

static inline uint64_t read_cr2(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_cr3(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr3, %0" : "=r"(v));
	return v;
}

/*
 * Switch page tables; flushes every TLB entry but the Global ones (the
 * kernel half's, with CR4.PGE on: they are the same in every table).
 */
static inline void write_cr3(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr3" : : "r"(v) : "memory");
}

/*
 * Drop the TLB entry of one page (MOM-01: the raw instruction), Global or
 * not, whatever the size of the page that maps va.
 */
static inline void invlpg(uint64_t va)
{
	__asm__ __volatile__("invlpg (%0)" : : "r"(va) : "memory");
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ __volatile__("outl %0, %1" : : "a"(v), "Nd"(port));
}

/* Descriptor-table registers: a 16-bit limit and a 64-bit base. */
struct dt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static inline void lidt(const struct dt_ptr *p)
{
	__asm__ __volatile__("lidt %0" : : "m"(*p) : "memory");
}

/*
 * Reset the machine the hard way, for testing that the runner notices: an
 * empty IDT turns the breakpoint into #GP, then #DF, then a triple fault
 * (QEMU with -no-reboot shuts down).
 */
static inline NORETURN void cpu_triple_fault(void)
{
	static const struct dt_ptr none = { 0, 0 };

	lidt(&none);
	__asm__ __volatile__("int3");
	__builtin_unreachable();
}

/*
 * Load a GDT and reload every segment register from it: CS by a far
 * return (there is no "mov to CS"), the data selectors directly.
 */
static inline void lgdt_reload(const struct dt_ptr *p, uint16_t code,
			       uint16_t data)
{
	__asm__ __volatile__("lgdt %0\n\t"
			     "pushq %q1\n\t"
			     "leaq 1f(%%rip), %%rax\n\t"
			     "pushq %%rax\n\t"
			     "lretq\n"
			     "1:\n\t"
			     "movw %w2, %%ds\n\t"
			     "movw %w2, %%es\n\t"
			     "movw %w2, %%ss\n\t"
			     : : "m"(*p), "r"((uint64_t)code), "r"(data)
			     : "rax", "memory");
}

/* Load the task register (the TSS selector). */
static inline void ltr(uint16_t sel)
{
	__asm__ __volatile__("ltr %0" : : "r"(sel) : "memory");
}

/*
 * This CPU's APIC id as CPUID reports it, readable before the local APIC
 * is mapped: leaf 0xB's 32-bit x2APIC id where the CPU has that leaf,
 * else leaf 1's initial 8-bit id (EBX[31:24]). Firmware does not change
 * the id, so it is the id the MADT lists and IPIs address.
 */
static inline uint32_t cpuid_apic_id(void)
{
	uint32_t r[4];

	cpuid(0, 0, r);
	if (r[0] >= 0xb) {
		cpuid(0xb, 0, r);
		if (r[1] != 0) /* EBX = 0: leaf 0xB not implemented */
			return r[3];
	}
	cpuid(1, 0, r);
	return r[1] >> 24;
}

/* CPUID.1:ECX.CX16: the CPU has cmpxchg16b. */
static inline bool cpu_has_cx16(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	return (r[2] & (1u << 13)) != 0;
}

/*
 * Compare *p with *expected and, if equal, store desired; else load *p
 * into *expected. Returns whether it stored. p must be 16-byte aligned
 * (else #GP): used to check that every CPU runs on an ABI-aligned stack.
 */
static inline bool cmpxchg16b(unsigned __int128 *p, unsigned __int128 *expected,
			      unsigned __int128 desired)
{
	uint64_t lo = (uint64_t)*expected, hi = (uint64_t)(*expected >> 64);
	bool ok;

	__asm__ __volatile__("lock cmpxchg16b %[m]"
			     : [m] "+m"(*p), "+a"(lo), "+d"(hi), "=@ccz"(ok)
			     : "b"((uint64_t)desired),
			       "c"((uint64_t)(desired >> 64))
			     : "memory");
	*expected = (unsigned __int128)hi << 64 | lo;
	return ok;
}

/* The stack pointer (for checks that a CPU runs on its own stack). */
static inline uint64_t read_rsp(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%rsp, %0" : "=r"(v));
	return v;
}

/* The caller's frame pointer (kernel code keeps frame pointers). */
static inline uint64_t read_rbp(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%rbp, %0" : "=r"(v));
	return v;
}

/* --------------------------------------------- control registers (cpu.c) */

/* CR0, CR4 and EFER as every CPU runs with them. */
struct cpu_control {
	uint64_t cr0, cr4, efer;
};

/*
 * The processor and the hypervisor, as CPUID tells them: the brand string
 * (leading blanks dropped; "" if CPUID has none) and the hypervisor's
 * signature, "none" on bare metal. The log and the benchmark records say
 * which accelerator a run used by it: QEMU's TCG says "TCGTCGTCGTCG", KVM
 * "KVMKVMKVM".
 */
struct cpu_ident {
	char brand[49];
	char hypervisor[13];
};
void cpu_identify(struct cpu_ident *id);

/*
 * Load this CPU's CR0, CR4 and EFER with known values, before it loads the
 * kernel's CR3 (whose entries carry NX, which needs EFER.NXE, and Global,
 * which needs CR4.PGE to mean anything): NX, Global pages, SMEP, SMAP and
 * machine checks where CPUID offers them. The boot CPU's first call
 * decides (and logs) the set; the APs load the same one, and panic if
 * their CPUID lacks part of it. Pre: this CPU's GS base is set.
 */
void cpu_features_init(void);

/* What cpu_features_init() loads. Pre: the boot CPU's call is done. */
const struct cpu_control *cpu_control(void);

#endif /* KERNEL_ARCH_X86_64_CPU_H */
