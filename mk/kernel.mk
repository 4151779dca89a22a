# SPDX-License-Identifier: MIT
# The kernel: the portable sources plus the x86-64 platform, built
# freestanding into build/kernel/kernel.elf (symbols, for gdb) and
# flattened into build/kernel/kernel.bin (what QEMU's -kernel loads: a
# multiboot image using the a.out kludge, see boot/boot.S).
#
# Two builds of the same sources: build/kernel (debug checks on: ASSERT,
# validation, the lock checker; what the self-tests run) and
# build/kernel-bench (CONFIG_DEBUG=0, as the host's bench variant: what
# the in-kernel benchmarks measure).

# The benchmark cases: every portable case and environment (bench/cases/),
# and the heap suite on the kernel heap (bench/heap/kmalloc.c); not
# bench/heap/malloc.c, which is the host's libc.

KERNEL_DIR := build/kernel
KBENCH_DIR := build/kernel-bench

KERNEL_SRCS := \
	boot/boot.S \
	boot/trampoline.S \
	kernel/arch/x86_64/entry.S \
	kernel/arch/x86_64/probe.S \
	kernel/arch/x86_64/extable.c \
	kernel/arch/x86_64/acpi.c \
	kernel/arch/x86_64/console.c \
	kernel/arch/x86_64/cpu.c \
	kernel/arch/x86_64/kstack.c \
	kernel/arch/x86_64/lapic.c \
	kernel/arch/x86_64/multiboot.c \
	kernel/arch/x86_64/paging.c \
	kernel/arch/x86_64/percpu.c \
	kernel/arch/x86_64/smp.c \
	kernel/arch/x86_64/time.c \
	kernel/arch/x86_64/trap.c \
	kernel/arch/x86_64/vmfault.c \
	kernel/lib/printf.c \
	kernel/lib/string.c \
	kernel/inject.c \
	kernel/main.c \
	kernel/selftest.c \
	kernel/selftest_heap.c \
	kernel/selftest_rcu.c \
	kernel/selftest_vmspace.c \
	locks/qsbr.c \
	stress/frame_torture.c \
	bench/kernel.c \
	bench/run.c \
	bench/barrier.c \
	$(wildcard bench/cases/*.c) \
	bench/heap/kmalloc.c \
	$(PORTABLE_SRCS)

kernel_objs = $(addprefix $(1)/,$(addsuffix .o,$(basename $(KERNEL_SRCS))))

# Headers: ours first (<string.h>, <stdio.h>, <limits.h> from kernel/lib,
# <platform.h> from the arch), then GCC's freestanding ones (<stdint.h>,
# <stdatomic.h>...), then Concurrency Kit's through links in
# $(KERNEL_DIR)/include, so that nothing else from /usr/include leaks in.
# Both are recursive (=) and expanded only in recipes: gcc may not be
# installed yet when the Makefile is read (make deps installs it). The
# first expansion asks gcc once and keeps the answer.
GCC_INCLUDE = $(eval GCC_INCLUDE := $(shell gcc -print-file-name=include))$(GCC_INCLUDE)
KERNEL_CPPFLAGS = -nostdinc -Ikernel/lib/include -I. -Ikernel/arch/x86_64 \
	-isystem $(GCC_INCLUDE) -isystem $(KERNEL_DIR)/include

# No red zone (interrupts push onto the same stack), no SSE (interrupts do
# not save it), top-2-GiB code model, frame pointers for backtraces. No
# stack frame as large as a guard page (kstack.h): a bigger one could
# step over the guard into whatever lies below it.
KERNEL_CFLAGS := -std=gnu11 $(WARN) -ffreestanding -fno-strict-aliasing \
	-Wframe-larger-than=3072 \
	-O2 -g -mcmodel=kernel -mno-red-zone -mgeneral-regs-only \
	-fno-pic -fno-pie -fno-stack-protector -fno-omit-frame-pointer \
	-fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns

# (ELF segment permissions mean nothing here: the image is flattened.)
KERNEL_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,boot/kernel.ld \
	-Wl,-z,max-page-size=4096 -Wl,--build-id=none -Wl,-z,noexecstack \
	-Wl,--no-warn-rwx-segments

$(KERNEL_DIR)/include/.stamp:
	@mkdir -p $(@D)
	$(Q)ln -sf /usr/include/ck_*.h $(@D)/
	$(Q)ln -sfn /usr/include/gcc $(@D)/gcc
	@touch $@

# $(call kernel_build,DIR,EXTRA_CFLAGS): the rules of one kernel build.
define kernel_build
$(1)/%.o: %.c $(KERNEL_DIR)/include/.stamp
	@mkdir -p $$(@D)
	$$(call say,KCC,$$@)
	$$(Q)gcc $$(KERNEL_CPPFLAGS) $$(KERNEL_CFLAGS) $(2) -MMD -MP -c $$< -o $$@

$(1)/%.o: %.S
	@mkdir -p $$(@D)
	$$(call say,KAS,$$@)
	$$(Q)gcc $$(KERNEL_CPPFLAGS) $(2) -D__ASSEMBLY__ -MMD -MP -c $$< -o $$@

$(1)/kernel.elf: $$(call kernel_objs,$(1)) boot/kernel.ld
	$$(call say,KLD,$$@)
	$$(Q)gcc $$(KERNEL_LDFLAGS) -o $$@ $$(call kernel_objs,$(1)) -lgcc

$(1)/kernel.bin: $(1)/kernel.elf
	$$(call say,OBJCOPY,$$@)
	$$(Q)objcopy -O binary $$< $$@

-include $$(patsubst %.o,%.d,$$(call kernel_objs,$(1)))
endef

$(eval $(call kernel_build,$(KERNEL_DIR),))
$(eval $(call kernel_build,$(KBENCH_DIR),-DCONFIG_DEBUG=0))

# QEMU runs: tools/qemu-run.sh picks the accelerator, applies a timeout
# and turns the exit code and the self-test summary into pass or fail.
# SMP empty: qemu-run.sh's default, every host CPU.
SMP ?=
MEM ?= 1G
ACCEL ?= auto
TORTURE_MS ?= 3000
KERNEL_TEST_SMP ?= 1 2 4 16

.PHONY: kernel run test-kernel debug

## kernel: build the kernel images (build/kernel/kernel.bin; build/kernel-bench/kernel.bin without debug checks)
kernel: $(KERNEL_DIR)/kernel.bin $(KBENCH_DIR)/kernel.bin

# Targets that install dependencies build in their recipe, after deps:
# as prerequisites next to deps, `make -j` would compile while deps still
# installs the compiler.
# After the self-tests, a short benchmark boot on the same vCPUs (their
# count: SMP's topology keys are for the self-tests), configuration full,
# with the report; its files go under build/bench/run/ (results/ is make
# bench's). The accelerator is decided once, for both boots.
RUN_BENCH_MS ?= 20

## run: boot the kernel under QEMU on SMP= CPUs (default: all), MEM=, ACCEL=kvm|tcg|auto: self-tests, then a short benchmark report
run: deps
	@$(MAKE) --no-print-directory kernel
	accel=$$(tools/qemu-run.sh --accel $(ACCEL) --print-accel $(KERNEL_DIR)/kernel.bin) && \
	tools/qemu-run.sh $(if $(SMP),--smp $(SMP)) --mem $(MEM) --accel $$accel \
		--append "torture_ms=$(TORTURE_MS)" $(KERNEL_DIR)/kernel.bin && \
	smp="$(SMP)" && smp=$${smp%%,*} && \
	/usr/bin/python3 tools/bench_qemu.py --report --kernel $(KBENCH_DIR)/kernel.bin \
		--smp "$${smp:-$$(nproc)}" --configs full --accel $$accel --ms $(RUN_BENCH_MS) --reps 1 \
		--commit $(BENCH_COMMIT) --out-dir build/bench/run --log-dir build/bench/run

## test-kernel: boot under TCG with -smp 1, 2, 4 and 16 (all self-tests pass), and check the runner catches failures
test-kernel: deps
	@$(MAKE) --no-print-directory kernel
	tools/test-kernel.sh $(KERNEL_DIR)/kernel.bin "$(KERNEL_TEST_SMP)" 1000

## debug: boot under QEMU stopped at the first instruction and attach gdb (tools/gdb/kernel.gdb)
debug:
	@tools/deps.sh gdb
	@$(MAKE) --no-print-directory kernel
	tools/qemu-run.sh $(if $(SMP),--smp $(SMP)) --mem $(MEM) --accel tcg --gdb \
		--append "torture_ms=$(TORTURE_MS)" $(KERNEL_DIR)/kernel.bin
