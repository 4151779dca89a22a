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

/* The direct map of all physical memory, and the kernel image. */
#define DIRECT_MAP_BASE UINT64_C(0xffff800000000000) /* PML4 slot 256 */
#define KERNEL_BASE     UINT64_C(0xffffffff80000000) /* top 2 GiB: -mcmodel=kernel */

/* --------------------------------------------------------- registers */

#define RFLAGS_IF (UINT64_C(1) << 9) /* interrupts enabled */

#define CR0_PG   (UINT64_C(1) << 31)
#define CR4_PAE  (UINT64_C(1) << 5)
#define CR4_PGE  (UINT64_C(1) << 7)

#define EFER_NXE (UINT64_C(1) << 11) /* the NX bit of page-table entries works */

#define MSR_EFER        0xc0000080u
#define MSR_GS_BASE     0xc0000101u
#define MSR_APIC_BASE   0x0000001bu

/* --------------------------------------------------- page-table entries */

#define PTE_P    (UINT64_C(1) << 0)  /* present */
#define PTE_W    (UINT64_C(1) << 1)  /* writable */
#define PTE_U    (UINT64_C(1) << 2)  /* user */
#define PTE_PWT  (UINT64_C(1) << 3)  /* write-through */
#define PTE_PCD  (UINT64_C(1) << 4)  /* cache disable */
#define PTE_A    (UINT64_C(1) << 5)  /* accessed: set by the CPU */
#define PTE_D    (UINT64_C(1) << 6)  /* dirty (in a leaf): set by the CPU */
#define PTE_PS   (UINT64_C(1) << 7)  /* large page (in a PDPT or PD entry) */
#define PTE_G    (UINT64_C(1) << 8)  /* global: never set here (BOO-01) */
#define PTE_NX   (UINT64_C(1) << 63) /* no execute (needs EFER.NXE) */
#define PTE_ADDR UINT64_C(0x000ffffffffff000)

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

/* hlt with interrupts enabled on the same instruction boundary. */
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

/* Switch page tables; flushes every non-global TLB entry. */
static inline void write_cr3(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline uint64_t read_cr4(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr4, %0" : "=r"(v));
	return v;
}

/* A write that changes CR4.PGE (or PCIDE) flushes the whole TLB. */
static inline void write_cr4(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr4" : : "r"(v) : "memory");
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

/* The caller's frame pointer (kernel code keeps frame pointers). */
static inline uint64_t read_rbp(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%rbp, %0" : "=r"(v));
	return v;
}

#endif /* KERNEL_ARCH_X86_64_CPU_H */
