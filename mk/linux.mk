# SPDX-License-Identifier: MIT
# Linux side by side: the benchmark suite's cases on Debian's stock
# kernel, booted under QEMU exactly as our kernel is (tools/qemu-run.sh,
# the same -smp, memory, accelerator and flags), its results next to
# ours (results/qemu-linux-*.json; the plots and RESULTS.md show both).
#
#   make bench-linux         fetch Linux (tools/linux/fetch.sh: apt-get
#                            download + dpkg-deb -x into build/linux/,
#                            nothing installed), build the module and the
#                            initramfs; then for each vCPU count of
#                            BENCH_LINUX_SMP (1 2), our kernel in the
#                            configurations compared (BENCH_LINUX_OURS:
#                            full zero kmalloc tree) and Linux in its
#                            (BENCH_LINUX_CONFIGS), one after the other, so
#                            both see the same host -> results/linux/
#                            qemu-<accel>-smpN.json, qemu-linux-<accel>-smpN.json
#                            (BENCH_LINUX_MS per run, 300; BENCH_LINUX_REPS 5;
#                            ACCEL= decided once for both)
#   make linux-smoke         when build/linux/ has Linux: one brief boot of
#                            each configuration, every record checked
#                            (make test); without it, says so and passes
#   make test-linux-tools    tools/linux's own tests (make test)
#
# Linux's configurations (bench/linux/harness.c, bench/linux/init):
#   linux        the module, booted init_on_alloc=0: frames and objects
#                not zeroed, as our plain allocations
#   linux_zero   the module, Debian's default init_on_alloc=1: every
#                allocation zeroed, as our configuration zero
#   linux_user   bench/linux/pagefault.c from user space: pt/fault
#                (will-it-scale's page_fault1), init_on_alloc=0
#
# The module is built against the fetched headers with the compiler they
# name (gcc-12, Debian 12's); its sources are bench/linux/*.c plus
# bench/run.c and bench/barrier.c (shared with our kernel's harness) and
# the case files they include, copied into build/linux/module/ because
# Kbuild builds in the module's directory.

LINUX_DIR := build/linux
LINUX_MODULE_DIR := $(LINUX_DIR)/module
LINUX_KO := $(LINUX_MODULE_DIR)/allocbench.ko
LINUX_PAGEFAULT := $(LINUX_DIR)/pagefault
LINUX_INITRAMFS := $(LINUX_DIR)/initramfs.cpio.gz
LINUX_FETCHED := $(LINUX_DIR)/versions.txt
LINUX_MODULE_SRCS := $(wildcard bench/linux/*.c) bench/run.c bench/barrier.c
LINUX_MODULE_DEPS := $(LINUX_MODULE_SRCS) bench/linux/Kbuild \
	$(wildcard bench/linux/include/*.h bench/linux/include/kernel/mm/*.h) \
	bench/run.h bench/bench.h bench/harness.h bench/barrier.h \
	$(wildcard bench/cases/frame_*.c bench/cases/frame_*.h bench/heap/*.h)
BENCH_LINUX_CONFIGS ?= linux linux_zero linux_user
BENCH_LINUX_OURS ?= full zero kmalloc tree
BENCH_LINUX_SMP ?= 1 2
BENCH_LINUX_MS ?= 300
BENCH_LINUX_REPS ?= 5
BENCH_LINUX_OUT := results/linux
LINUX_SMOKE_DIR := build/bench/linux-smoke

.PHONY: linux-fetch linux-build bench-linux linux-smoke test-linux-tools

## linux-fetch: Debian's stock Linux, its headers and busybox-static into build/linux/ (apt-get download, nothing installed)
linux-fetch: deps
	tools/linux/fetch.sh $(LINUX_DIR)

# Rebuilt when the fetched packages change (versions.txt is rewritten
# only then).
$(LINUX_KO): $(LINUX_MODULE_DEPS) $(LINUX_FETCHED)
	@rm -rf $(LINUX_MODULE_DIR) && mkdir -p $(LINUX_MODULE_DIR)
	cp bench/linux/Kbuild $(LINUX_MODULE_SRCS) $(LINUX_MODULE_DIR)/
	$(MAKE) --no-print-directory -C $(LINUX_DIR)/headers M=$(CURDIR)/$(LINUX_MODULE_DIR) \
		BENCH_ROOT=$(CURDIR) modules > $(LINUX_MODULE_DIR)/build.log 2>&1 || \
		{ cat $(LINUX_MODULE_DIR)/build.log; exit 1; }
	@grep -E 'warning|error' $(LINUX_MODULE_DIR)/build.log || true

$(LINUX_PAGEFAULT): bench/linux/pagefault.c bench/run.c bench/run.h bench/barrier.c bench/barrier.h bench/bench.h bench/harness.h
	@mkdir -p $(@D)
	gcc -static -O2 -g -std=gnu11 -Wall -Wextra -Werror -pthread -I. -o $@ \
		bench/linux/pagefault.c bench/run.c bench/barrier.c

$(LINUX_INITRAMFS): bench/linux/init $(LINUX_KO) $(LINUX_PAGEFAULT) $(LINUX_FETCHED) tools/linux/initramfs.py
	/usr/bin/python3 tools/linux/initramfs.py $@ init=bench/linux/init \
		bin/busybox=$(LINUX_DIR)/root/bin/busybox \
		allocbench.ko=$(LINUX_KO) bin/pagefault=$(LINUX_PAGEFAULT)

## linux-build: the module, the user-space fault benchmark and the initramfs (needs linux-fetch)
linux-build: $(LINUX_INITRAMFS)

# $(call bench_linux_run,OUT_DIR,LOG_DIR,OPTIONS): Linux's suite, the
# accelerator decided by our kernel's probe boot, as bench-qemu decides it.
bench_linux_run = /usr/bin/python3 tools/bench_qemu.py --linux $(LINUX_DIR) \
	--kernel $(KERNEL_DIR)/kernel.bin --commit $(BENCH_COMMIT) --out-dir $(1) --log-dir $(2) $(3)

## bench-linux: our kernel and Debian's Linux under QEMU, the same cases and flags, vCPU count by vCPU count -> results/linux/
bench-linux: deps
	tools/linux/fetch.sh $(LINUX_DIR)
	@$(MAKE) --no-print-directory kernel linux-build
	@mkdir -p $(BENCH_LINUX_OUT)
	accel=$$(tools/qemu-run.sh --accel $(ACCEL) --print-accel $(KBENCH_DIR)/kernel.bin) && \
	for n in $(BENCH_LINUX_SMP); do \
		$(call bench_qemu_run,$(KBENCH_DIR)/kernel.bin,$(BENCH_LINUX_OUT),build/bench/linux,--smp $$n \
			--configs "$(BENCH_LINUX_OURS)" --accel $$accel --ms $(BENCH_LINUX_MS) \
			--reps $(BENCH_LINUX_REPS) --timeout $(BENCH_QEMU_TIMEOUT)) || exit 1; \
		$(call bench_linux_run,$(BENCH_LINUX_OUT),build/bench/linux,--smp $$n \
			--configs "$(BENCH_LINUX_CONFIGS)" --accel $$accel --ms $(BENCH_LINUX_MS) \
			--reps $(BENCH_LINUX_REPS) --timeout $(BENCH_QEMU_TIMEOUT)) || exit 1; \
	done

## linux-smoke: with Linux in build/linux/, boot each Linux configuration once briefly (-smp 2, TCG), every record checked (make test)
linux-smoke: deps
	@if [ ! -f $(LINUX_FETCHED) ]; then \
		echo "linux-smoke: no Linux in $(LINUX_DIR)/ (make linux-fetch or make bench-linux fetch it): not booted"; \
		exit 0; \
	fi; \
	$(MAKE) --no-print-directory kernel linux-build && mkdir -p $(LINUX_SMOKE_DIR) && \
	$(call bench_linux_run,$(LINUX_SMOKE_DIR),$(LINUX_SMOKE_DIR),--smp 2 \
		--configs "$(BENCH_LINUX_CONFIGS)" --accel tcg --ms 10 --reps 1 --lat-every 1 \
		--complete --timeout 300) > $(LINUX_SMOKE_DIR)/progress.log || \
		{ cat $(LINUX_SMOKE_DIR)/progress.log; exit 1; }; \
	echo "linux-smoke: every Linux configuration booted and its records check ($(LINUX_SMOKE_DIR)/)"

## test-linux-tools: tools/linux's tests (the initramfs writer), no Linux needed (seconds; make test)
test-linux-tools: deps
	/usr/bin/python3 -m unittest discover -s tools/linux -p 'test_*.py'
