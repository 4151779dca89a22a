# SPDX-License-Identifier: MIT
# Benchmarks: cases written in C (bench/cases/*.c, portable: bench/bench.h),
# run two ways. On the host, Google Benchmark (Debian libbenchmark-dev)
# drives them, built in the bench variant (-O2, debug checks off): its JSON
# goes to results/host-frame.json (docs: bench/gbench.cc, bench/bench.h).
# In the kernel (build/kernel-bench: debug checks off as well), booted under
# QEMU with bench=CONFIG, they run on every vCPU
# at once and print one JSON record per repetition on the serial port;
# tools/bench_qemu.py boots it once per (vCPU count, configuration), checks
# every record and writes results/qemu-<accel>-smp<N>.json (one file per
# vCPU count, all configurations). tools/plot/ reads both.
#
#   make bench             both suites, one after the other: bench-host, bench-qemu
#   make bench QUICK=1     the same, shorter (~2-3 minutes on 2 cores)
#   make bench-host        the host suite alone
#   make bench-qemu        the kernel's suite alone: BENCH_QEMU_SMP= (vCPU
#                          counts), BENCH_QEMU_CONFIGS= (the frame
#                          configurations, then the page-table cases'
#                          environments tree and space; also known: zero,
#                          the frame cases with FRAME_ZERO, and kmalloc,
#                          the heap's cases), ACCEL=kvm|tcg|auto
#                          (decided once for all boots, as make run does);
#                          locked only up to the host's CPUs unless
#                          BENCH_QEMU_LOCKED_BEYOND_HOST=1 (bench_qemu.py)
#   make bench-smoke       every host case once, briefly, checked (make test)
#   make bench-qemu-smoke  five boots, -smp 3 under TCG, the debug kernel
#                          (full, and the environments tree, space, zero
#                          and kmalloc): every kernel case once, briefly,
#                          every operation timed, every record checked
#                          (make test)
#   make test-bench-qemu   bench_qemu.py's own tests, on fixture serial logs
#                          through qemu-run.sh and a stand-in QEMU (make test)

BENCH_BIN := build/bench/bench/bench
BENCH_CASES := $(sort $(wildcard bench/cases/*.c))
BENCH_OBJS := build/bench/bench/gbench.o build/bench/bench/host_env.o \
	build/bench/bench/barrier.o \
	$(patsubst %.c,build/bench/%.o,$(BENCH_CASES))
BENCH_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror -I. -pthread
BENCH_LDLIBS := -lbenchmark $(HOST_LDLIBS)

# Which commit the figures are of (-dirty: tracked files other than the
# results themselves differ from it; a suite that has just rewritten
# results/host-frame.json still measures the committed code).
BENCH_COMMIT = $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- . ':!results' 2>/dev/null || echo -dirty)

build/bench/bench/gbench.o: bench/gbench.cc bench/bench.h bench/env.h bench/barrier.h
	@mkdir -p $(@D)
	$(call say,CXX,$@)
	$(Q)$(CXX_bench) $(BENCH_CXXFLAGS) -MMD -MP -c $< -o $@

# The case objects are linked directly: nothing references them (they
# register through the bench_cases section), so from an archive the
# linker would drop them.
$(BENCH_BIN): $(BENCH_OBJS) build/bench/libhost.a
	$(call say,LD,$@)
	$(Q)$(CXX_bench) $(LDFLAGS_bench) -pthread -o $@ $^ $(BENCH_LDLIBS)

# Suite settings. Repetitions: the median is what counts; min time: per
# repetition. QUICK=1: every workload, configuration, order and thread count up to 8, fewer
# repetitions and a shorter time.
# The kernel's suite: BENCH_QEMU_MS is bench_ms (minimum time of each
# measured run), BENCH_QEMU_REPS bench_reps, BENCH_QEMU_BOOTS how many
# times each vCPU count and configuration boots (in rounds; every
# repetition of every boot is a sample). Several boots, because under TCG
# on this shared 2-core machine the same kernel's 2-vCPU throughput moved
# between 5 and 16 Mops/s from one boot to the next (order-0 repeat),
# with the host's load, not the kernel's.
ifeq ($(QUICK),1)
BENCH_REPS ?= 2
BENCH_MIN_TIME ?= 0.05
BENCH_THREADS ?= 1,2,4,8
BENCH_QEMU_MS ?= 20
BENCH_QEMU_REPS ?= 2
BENCH_QEMU_BOOTS ?= 1
else
BENCH_REPS ?= 5
BENCH_MIN_TIME ?= 0.2
BENCH_THREADS ?=
BENCH_QEMU_MS ?= 100
BENCH_QEMU_REPS ?= 5
BENCH_QEMU_BOOTS ?= 3
endif
# 1 2 4 8, and on to twice the host CPUs where there are more than 4 (as
# the host suite's thread counts).
BENCH_QEMU_SMP ?= $(shell n=$$(nproc); s=1; l=""; while [ $$s -le 8 ] || [ $$s -le $$((2 * n)) ]; do l="$$l $$s"; s=$$((s * 2)); done; echo $$l)
BENCH_QEMU_CONFIGS ?= full nopcp locked tree space
BENCH_QEMU_TIMEOUT ?= 600
BENCH_QEMU_SMOKE_DIR := build/bench/qemu-smoke
# Smoke: 3 threads on 2 cores (preempted, and rand deals to an odd count),
# every operation timed, so that bench_check.py can match the merged
# histograms against the operations counted.
BENCH_SMOKE_THREADS := 1,3
# Only the cases whose names this regex matches (the mutants' kill lines:
# a mutant of frame/mixed needs only frame/mixed's runs); empty: all.
BENCH_SMOKE_ONLY ?=
BENCH_SMOKE_JSON := build/bench/smoke.json

# $(call bench_run,JSON,REPS,MIN_TIME,THREADS): run the suite into JSON.
bench_run = BENCH_COMMIT=$(BENCH_COMMIT) $(BENCH_BIN) \
	--benchmark_out=$(1) --benchmark_out_format=json \
	--benchmark_repetitions=$(2) --benchmark_min_time=$(3) \
	$(if $(4),--bench_threads=$(4))

# $(call bench_qemu_run,KERNEL,OUT_DIR,LOG_DIR,OPTIONS): the kernel's suite.
# The measured kernel is the one without debug checks (mk/kernel.mk).
bench_qemu_run = /usr/bin/python3 tools/bench_qemu.py --kernel $(1) \
	--commit $(BENCH_COMMIT) --out-dir $(2) --log-dir $(3) $(4)

.PHONY: build-bench bench bench-host bench-smoke bench-qemu bench-qemu-smoke test-bench-qemu
build-bench: $(BENCH_BIN)

# Built in the recipe, after deps (see `run` in mk/kernel.mk). The suites
# run one after the other, never together (make -j): each would be
# measuring the other's load.
## bench: the benchmark suites, host then QEMU (bench-host, bench-qemu); QUICK=1 for a short run
bench:
	@$(MAKE) --no-print-directory bench-host
	@$(MAKE) --no-print-directory bench-qemu

## bench-host: the host suite on Google Benchmark -> results/host-frame.json
bench-host: deps
	@$(MAKE) --no-print-directory build-bench
	@mkdir -p results
	$(call bench_run,results/host-frame.json.tmp,$(BENCH_REPS),$(BENCH_MIN_TIME),$(BENCH_THREADS))
	/usr/bin/python3 tools/bench_check.py results/host-frame.json.tmp
	mv results/host-frame.json.tmp results/host-frame.json

## bench-qemu: the kernel's suite under QEMU at -smp BENCH_QEMU_SMP (1 2 4 8), ACCEL= -> results/qemu-*.json
bench-qemu: deps
	@$(MAKE) --no-print-directory kernel
	$(call bench_qemu_run,$(KBENCH_DIR)/kernel.bin,results,build/bench/qemu,--smp "$(BENCH_QEMU_SMP)" \
		--configs "$(BENCH_QEMU_CONFIGS)" --accel $(ACCEL) --ms $(BENCH_QEMU_MS) \
		--reps $(BENCH_QEMU_REPS) --boots $(BENCH_QEMU_BOOTS) --timeout $(BENCH_QEMU_TIMEOUT) \
		$(if $(BENCH_QEMU_LOCKED_BEYOND_HOST),--locked-beyond-host))

## bench-qemu-smoke: five boots (-smp 3, TCG, debug checks on; full, and the environments tree, space, zero and kmalloc): every kernel case once, briefly (10 ms: frame/irq needs ticks of its 1 kHz timer), every operation timed, every record checked (part of make test)
bench-qemu-smoke: deps
	@$(MAKE) --no-print-directory kernel
	@mkdir -p $(BENCH_QEMU_SMOKE_DIR)
	$(call bench_qemu_run,$(KERNEL_DIR)/kernel.bin,$(BENCH_QEMU_SMOKE_DIR),$(BENCH_QEMU_SMOKE_DIR),--smp 3 \
		--configs "full tree space zero kmalloc" --accel tcg --ms 10 --reps 1 --lat-every 1 --complete --timeout 300) \
		> $(BENCH_QEMU_SMOKE_DIR)/progress.log || { cat $(BENCH_QEMU_SMOKE_DIR)/progress.log; exit 1; }
	@echo "bench-qemu-smoke: every kernel case ran and its records check ($(BENCH_QEMU_SMOKE_DIR)/)"

## test-bench-qemu: bench_qemu.py's tests, on fixture serial logs with a stand-in QEMU (seconds; part of make test)
test-bench-qemu: deps
	/usr/bin/python3 -m unittest discover -s tools -p 'test_bench_qemu.py'

## bench-smoke: every case once, briefly, JSON checked, bad arguments refused (part of make test; no timing checked)
bench-smoke: deps
	@$(MAKE) --no-print-directory build-bench
	$(call bench_run,$(BENCH_SMOKE_JSON),1,0.01,$(BENCH_SMOKE_THREADS)) --bench_lat_every=1 \
		$(if $(BENCH_SMOKE_ONLY),--benchmark_filter='$(BENCH_SMOKE_ONLY)') > build/bench/smoke.log || { cat build/bench/smoke.log; exit 1; }
	/usr/bin/python3 tools/bench_check.py --threads $(BENCH_SMOKE_THREADS) \
		$(if $(BENCH_SMOKE_ONLY),--only '$(BENCH_SMOKE_ONLY)') $(BENCH_SMOKE_JSON)
	@# Bad arguments, its own and Google Benchmark's, fail with status 2;
	@# --bench_ram_gib's bounds, and its size in the JSON context.
	BENCH_BIN=$(BENCH_BIN) /usr/bin/python3 -m unittest discover -s tools -p 'test_bench_args.py'
	@echo "bench-smoke: every case ran and its record checks"
