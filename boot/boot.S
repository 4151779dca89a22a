/* SPDX-License-Identifier: MIT */
/*
 * Multiboot (v1) entry: from 32-bit protected mode to the 64-bit kernel.
 *
 * QEMU's -kernel loads multiboot images that are 32-bit ELF or that use
 * the "a.out kludge" (header flag 16: load addresses given in the header).
 * The kernel is a 64-bit ELF, so the build flattens it (objcopy -O binary)
 * and this header says where it goes: the file is loaded at 1 MiB, bss is
 * zeroed up to _bss_end_phys, and execution starts at _start32 with
 * EAX = multiboot magic, EBX = physical address of the multiboot info.
 *
 * Boot page tables (2 MiB pages, in .bss): identity [0, 4 GiB) for the
 * switch, the same 4 GiB at DIRECT_MAP_BASE (PML4 slot 256), and
 * KERNEL_BASE -> physical [0, 1 GiB) for the kernel image (PML4 slot 511,
 * PDPT slot 510). No Global bit anywhere (finding BOO-01): these mappings
 * are temporary; kernel/arch/x86_64/paging.c builds the final ones, and
 * the application processors start on these (paging_init links the
 * kernel's stack area into them too, for the APs' first stacks).
 */
#define KERNEL_BASE 0xffffffff80000000
#define PHYS(x) ((x) - KERNEL_BASE)

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00010003 /* page-align modules, memory map, a.out kludge */

#define PTE_PW   0x003 /* present, writable */
#define PTE_PWS  0x083 /* present, writable, 2 MiB page */

	.section .multiboot, "a"
	.align 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long mb_header              /* header_addr (physical: this section) */
	.long _load_start_phys       /* load_addr */
	.long _load_end_phys         /* load_end_addr */
	.long _bss_end_phys          /* bss_end_addr */
	.long _start32               /* entry_addr */

	.section .boot.text, "ax"
	.code32
	.global _start32
_start32:
	cli
	cld
	movl %eax, boot_magic
	movl %ebx, boot_info
	movl $PHYS(boot_stack_top), %esp

	/* Long mode available? CPUID 0x80000001: EDX bit 29. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc no_long_mode

	/* Four page directories: 2048 x 2 MiB = [0, 4 GiB). */
	movl $PHYS(boot_pd), %edi
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $PTE_PWS, %eax
	movl %eax, (%edi, %ecx, 8)
	movl %ecx, %eax
	shrl $11, %eax                  /* high dword: bits 32.. of 2 MiB * i */
	movl %eax, 4(%edi, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jb 1b

	/* PDPT for the low 4 GiB: its four directories. */
	movl $PHYS(boot_pdpt_lo), %edi
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $12, %eax
	addl $(PHYS(boot_pd) + PTE_PW), %eax
	movl %eax, (%edi, %ecx, 8)
	incl %ecx
	cmpl $4, %ecx
	jb 2b

	/* PDPT for the top 2 GiB: slot 510 = the first directory. */
	movl $(PHYS(boot_pd) + PTE_PW), PHYS(boot_pdpt_hi) + 510 * 8

	/* PML4: identity, direct map, kernel image. */
	movl $(PHYS(boot_pdpt_lo) + PTE_PW), PHYS(boot_pml4) + 0 * 8
	movl $(PHYS(boot_pdpt_lo) + PTE_PW), PHYS(boot_pml4) + 256 * 8
	movl $(PHYS(boot_pdpt_hi) + PTE_PW), PHYS(boot_pml4) + 511 * 8

	/* PAE, the tables, long mode, paging (and write protection). */
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl $PHYS(boot_pml4), %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx          /* EFER */
	rdmsr
	orl $0x100, %eax                /* LME */
	wrmsr
	/* CR0 with known bits: PE, MP, ET, NE, WP, PG; caches on (CD = NW = 0). */
	movl $0x80010033, %eax
	movl %eax, %cr0

	lgdt boot_gdt_ptr
	ljmp $0x08, $long_mode

no_long_mode:
	/* Nothing to print with yet: QEMU's debug exit, failure code. */
	movw $0xf4, %dx
	movl $0x12, %eax
	outl %eax, %dx
3:	hlt
	jmp 3b

	.code64
long_mode:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movabsq $higher_half, %rax
	jmp *%rax

	.section .boot.data, "aw"
	.align 8
	.global boot_gdt
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff         /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff         /* 0x10: data */
	.quad 0x00cf9a000000ffff         /* 0x18: 32-bit code (AP trampoline) */
boot_gdt_end:
boot_gdt_ptr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt
	.global boot_magic, boot_info
boot_magic:
	.long 0
boot_info:
	.long 0

	.text
	.code64
higher_half:
	movabsq $boot_stack_top, %rsp
	xorl %ebp, %ebp
	movl boot_magic, %edi
	movl boot_info, %esi
	call kernel_main
4:	cli
	hlt
	jmp 4b

	.bss
	.align 4096
	.global boot_pml4
boot_pml4:
	.skip 4096
boot_pdpt_lo:
	.skip 4096
boot_pdpt_hi:
	.skip 4096
boot_pd:
	.skip 4 * 4096
	/* The boot CPU's stack, with a guard page below it that the
	   kernel's tables leave unmapped (paging_init): an overflow faults
	   instead of running into the page directories. */
	.align 4096
	.global boot_stack_guard, boot_stack, boot_stack_top
boot_stack_guard:
	.skip 4096
boot_stack:
	.skip 16384
boot_stack_top:
