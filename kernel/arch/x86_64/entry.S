/* SPDX-License-Identifier: MIT */
/*
 * Interrupt and exception entry: one stub per vector pushes a zero where
 * the CPU pushes no error code, then the vector, and jumps to the common
 * path, which saves every general register (struct trap_frame in trap.h,
 * in the reverse order of the pushes) and calls trap_dispatch(frame).
 * Stack alignment: the CPU aligns RSP to 16 and pushes 5 words (6 with an
 * error code, whose slot we fill otherwise); 2 + 15 + 2 (CR2 and a
 * reserved word) more keep it aligned at the call.
 *
 * CR2 is read here, for a page fault only, before any C runs: a page
 * fault taken while the first is handled (in a fault hook, a probe, the
 * report) overwrites CR2, so trap_dispatch and the hooks use the frame's
 * copy, never the register.
 */
	.altmacro
	.text
	.code64

/* Vectors that push an error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX */
.macro STUB n
	.align 16
isr\n:
	.if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
	.else
	pushq $0
	.endif
	pushq $\n
	jmp isr_common
.endm

.set vec, 0
.rept 256
	STUB %vec
	.set vec, vec + 1
.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	xorl %eax, %eax
	cmpq $14, 15*8(%rsp)    /* the vector: a page fault? */
	jne 1f
	movq %cr2, %rax
1:	subq $16, %rsp
	movq %rax, (%rsp)       /* frame.cr2 */
	movq $0, 8(%rsp)        /* frame.reserved */
	movq %rsp, %rdi
	cld
	call trap_dispatch
	addq $16, %rsp          /* cr2, reserved */
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp          /* vector, error code */
	iretq

.macro TABLE_ENTRY n
	.quad isr\n
.endm

	.section .rodata
	.align 8
	.global isr_table
isr_table:
.set vec, 0
.rept 256
	TABLE_ENTRY %vec
	.set vec, vec + 1
.endr
