/* SPDX-License-Identifier: MIT */
/*
 * The helpers that expect faults (extable.h has their contracts): each
 * access that may fault has an exception-table entry whose fixup stores
 * the fault (%r8-%r11, see extable.h) through the caller's fault_info
 * pointer, if any, and returns E_FAULT.
 */
#include "kernel/arch/x86_64/extable.h"

	.text
	.code64

/* %rax: the caller's struct fault_info * or NULL; %r8-%r11: the fault. */
fault_out:
	testq %rax, %rax
	jz 1f
	movq %r8, 0(%rax)       /* vector */
	movq %r9, 8(%rax)       /* error */
	movq %r10, 16(%rax)     /* addr */
	movq %r11, 24(%rax)     /* rip */
1:	movl $EXTABLE_E_FAULT, %eax
	ret

/* err_t probe_read_u64_info(const void *p, uint64_t *out, struct fault_info *fi) */
	.global probe_read_u64_info
probe_read_u64_info:
1:	movq (%rdi), %rax
	movq %rax, (%rsi)
	xorl %eax, %eax
	ret
2:	movq %rdx, %rax
	jmp fault_out
	EXTABLE_ENTRY(1b, 2b)

/* err_t probe_write_u64_info(void *p, uint64_t v, struct fault_info *fi) */
	.global probe_write_u64_info
probe_write_u64_info:
1:	movq %rsi, (%rdi)
	xorl %eax, %eax
	ret
2:	movq %rdx, %rax
	jmp fault_out
	EXTABLE_ENTRY(1b, 2b)

/* err_t copy_nofault(void *dst, const void *src, size_t len, struct fault_info *fi) */
	.global copy_nofault
copy_nofault:
	movq %rcx, %rax         /* fi, out of rep movsb's way */
	movq %rdx, %rcx
1:	rep movsb
	xorl %eax, %eax
	ret
2:	jmp fault_out
	EXTABLE_ENTRY(1b, 2b)

/*
 * err_t expect_fault_call(struct fault_jmp *j, void (*fn)(void *), void *arg)
 * Save what trap.c needs to come back here (struct fault_jmp, extable.c),
 * call fn(arg), return E_OK; or, after a fault, resume at
 * expect_fault_resume with those registers back and return E_FAULT.
 */
	.global expect_fault_call
expect_fault_call:
	movq %rbx, 0(%rdi)
	movq %rbp, 8(%rdi)
	movq %r12, 16(%rdi)
	movq %r13, 24(%rdi)
	movq %r14, 32(%rdi)
	movq %r15, 40(%rdi)
	movq %rsp, 48(%rdi)     /* points at our return address */
	pushq %rbp              /* a frame, and the call 16-byte aligned */
	movq %rsp, %rbp
	movq %rdx, %rdi
	call *%rsi
	popq %rbp
	xorl %eax, %eax
	ret
	.global expect_fault_resume
expect_fault_resume:
	movl $EXTABLE_E_FAULT, %eax
	ret
