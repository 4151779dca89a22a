/* SPDX-License-Identifier: MIT */
/*
 * The application-processor trampoline: real mode -> protected mode ->
 * long mode -> the kernel's ap_entry().
 *
 * The boot CPU copies [trampoline_start, trampoline_end) to physical
 * TRAMPOLINE_PHYS (in the reserved first MiB) and fills the fields at the
 * end, once, before it starts any AP: the page-table root (below 4 GiB:
 * the boot tables, which identity-map this page and map the kernel
 * image), the address of the slot table (kernel/arch/x86_64/smp.c:
 * ap_slot_of_apic[256], a pointer per 8-bit APIC id) and the 64-bit entry
 * point. A startup IPI with vector TRAMPOLINE_PHYS >> 12 starts an AP
 * here in real mode with CS = 0x0800, IP = 0. All addresses are computed
 * from the copy's place.
 *
 * Many APs run this at once, so nothing here is per AP: each AP finds its
 * own slot by its APIC id (CPUID leaf 1, EBX[31:24]) and takes its stack
 * from the slot (offset 0). One without a slot halts. It enters
 * ap_entry(slot) with a call, so that RSP is 16-byte aligned before the
 * call (the ABI's rule; a jmp left it 8 bytes off inside ap_entry).
 *
 * CR0 is loaded with known bits, not OR-ed into whatever reset left.
 */
#define TRAMPOLINE_PHYS 0x8000
#define T(x) ((x) - trampoline_start + TRAMPOLINE_PHYS)

#define CR0_PE 0x00000001
#define CR0_MP 0x00000002
#define CR0_ET 0x00000010
#define CR0_NE 0x00000020
#define CR0_WP 0x00010000
#define CR0_PG 0x80000000
/* Caches on (CD = NW = 0), FPU errors native, writes to read-only pages fault. */
#define CR0_LONG (CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG)

	.section .rodata
	.code16
	.global trampoline_start, trampoline_end
	.global tramp_cr3, tramp_slots, tramp_entry
trampoline_start:
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl T(tramp_gdt_ptr)
	movl $(CR0_PE | CR0_ET), %eax
	movl %eax, %cr0
	ljmpl $0x18, $T(tramp_32)

	.code32
tramp_32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr4, %eax
	orl $0x20, %eax                 /* PAE */
	movl %eax, %cr4
	movl T(tramp_cr3), %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx          /* EFER.LME, NXE: the stack is NX */
	rdmsr
	orl $0x900, %eax
	wrmsr
	movl $CR0_LONG, %eax
	movl %eax, %cr0
	ljmpl $0x08, $T(tramp_64)

	.code64
tramp_64:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $1, %eax
	cpuid
	shrl $24, %ebx                  /* initial APIC id, 8 bits */
	movq T(tramp_slots), %rsi
	movq (%rsi, %rbx, 8), %rdi      /* this AP's slot, or none */
	testq %rdi, %rdi
	jz tramp_halt
	movq (%rdi), %rsp               /* slot->stack_top: 16-byte aligned */
	xorl %ebp, %ebp
	movq T(tramp_entry), %rax
	call *%rax                      /* ap_entry(slot): does not return */
tramp_halt:
	cli
	hlt
	jmp tramp_halt

	.align 8
tramp_gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
	.quad 0x00cf9a000000ffff        /* 0x18: 32-bit code */
tramp_gdt_ptr:
	.word tramp_gdt_ptr - tramp_gdt - 1
	.long T(tramp_gdt)
	.align 8
tramp_cr3:
	.quad 0
tramp_slots:
	.quad 0
tramp_entry:
	.quad 0
trampoline_end:
