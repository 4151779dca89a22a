/* SPDX-License-Identifier: MIT */
/*
 * The application-processor trampoline: real mode -> protected mode ->
 * long mode -> the kernel's ap_entry().
 *
 * The boot CPU copies [trampoline_start, trampoline_end) to physical
 * TRAMPOLINE_PHYS (in the reserved first MiB) and fills the fields at the
 * end: the page-table root (below 4 GiB: the boot tables, which identity-
 * map this page), the stack and the 64-bit entry point. A startup IPI
 * with vector TRAMPOLINE_PHYS >> 12 starts an AP here in real mode with
 * CS = 0x0800, IP = 0. All addresses are computed from the copy's place;
 * the code depends on nothing else in the image.
 */
#define TRAMPOLINE_PHYS 0x8000
#define T(x) ((x) - trampoline_start + TRAMPOLINE_PHYS)

	.section .rodata
	.code16
	.global trampoline_start, trampoline_end
	.global tramp_cr3, tramp_stack, tramp_entry
trampoline_start:
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl T(tramp_gdt_ptr)
	movl %cr0, %eax
	orl $1, %eax                    /* PE */
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
	movl %cr0, %eax
	orl $0x80010000, %eax           /* PG | WP */
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
	movq T(tramp_stack), %rsp
	xorl %ebp, %ebp
	movq T(tramp_entry), %rax
	jmp *%rax

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
tramp_stack:
	.quad 0
tramp_entry:
	.quad 0
trampoline_end:
