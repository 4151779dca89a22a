# SPDX-License-Identifier: MIT
# Benchmarks: one harness, Google Benchmark (Debian libbenchmark-dev) driving
# cases written in C (bench/cases/*.c, portable: bench/bench.h). Built in
# the bench variant: -O2, debug checks off. Results: Google Benchmark's
# JSON under results/ (docs: bench/gbench.cc, bench/bench.h).
#
#   make bench           the host suite (results/host-frame.json); the QEMU
#                        suite joins it as bench-qemu (issue 10, item 4)
#   make bench QUICK=1   the same, shorter (~2 minutes on 2 cores)
#   make bench-smoke     every case once, briefly, checked (make test)

BENCH_BIN := build/bench/bench/bench
BENCH_CASES := $(sort $(wildcard bench/cases/*.c))
BENCH_OBJS := build/bench/bench/gbench.o build/bench/bench/host_env.o \
	$(patsubst %.c,build/bench/%.o,$(BENCH_CASES))
BENCH_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror -I. -pthread
BENCH_LDLIBS := -lbenchmark $(HOST_LDLIBS)

# Which commit the figures are of (-dirty: tracked files differ from it).
BENCH_COMMIT = $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)

build/bench/bench/gbench.o: bench/gbench.cc bench/bench.h bench/env.h
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
ifeq ($(QUICK),1)
BENCH_REPS ?= 2
BENCH_MIN_TIME ?= 0.05
BENCH_THREADS ?= 1,2,4,8
else
BENCH_REPS ?= 5
BENCH_MIN_TIME ?= 0.2
BENCH_THREADS ?=
endif
# Smoke: 3 threads on 2 cores (preempted, and rand deals to an odd count),
# every operation timed, so that bench_check.py can match the merged
# histograms against the operations counted.
BENCH_SMOKE_THREADS := 1,3
BENCH_SMOKE_JSON := build/bench/smoke.json

# $(call bench_run,JSON,REPS,MIN_TIME,THREADS): run the suite into JSON.
bench_run = BENCH_COMMIT=$(BENCH_COMMIT) $(BENCH_BIN) \
	--benchmark_out=$(1) --benchmark_out_format=json \
	--benchmark_repetitions=$(2) --benchmark_min_time=$(3) \
	$(if $(4),--bench_threads=$(4))

.PHONY: build-bench bench bench-host bench-smoke
build-bench: $(BENCH_BIN)

# Built in the recipe, after deps (see `run` in mk/kernel.mk).
## bench: the benchmark suites: host now (bench-host); QUICK=1 for a short run
bench: bench-host

## bench-host: the host suite on Google Benchmark -> results/host-frame.json
bench-host: deps
	@$(MAKE) --no-print-directory build-bench
	@mkdir -p results
	$(call bench_run,results/host-frame.json.tmp,$(BENCH_REPS),$(BENCH_MIN_TIME),$(BENCH_THREADS))
	/usr/bin/python3 tools/bench_check.py results/host-frame.json.tmp
	mv results/host-frame.json.tmp results/host-frame.json

## bench-smoke: every case once, briefly, JSON checked (part of make test; no timing checked)
bench-smoke: deps
	@$(MAKE) --no-print-directory build-bench
	$(call bench_run,$(BENCH_SMOKE_JSON),1,0.01,$(BENCH_SMOKE_THREADS)) --bench_lat_every=1 > build/bench/smoke.log || { cat build/bench/smoke.log; exit 1; }
	/usr/bin/python3 tools/bench_check.py --threads $(BENCH_SMOKE_THREADS) $(BENCH_SMOKE_JSON)
	@# Bad arguments, its own and Google Benchmark's, fail with status 2.
	@for a in --bench_threads=0 --bench_lat_every=3 --no-such-flag --benchmark_min_time=x; do \
		$(BENCH_BIN) $$a > /dev/null 2>&1; rc=$$?; \
		if [ $$rc -ne 2 ]; then echo "bench-smoke: $$a: exit $$rc, not 2"; exit 1; fi; \
	done
	@echo "bench-smoke: every case ran and its record checks"
