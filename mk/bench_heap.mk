# SPDX-License-Identifier: MIT
# The heap suite (issue 12, item 9): kmalloc/kfree against glibc malloc,
# jemalloc and mimalloc, the same C cases (bench/heap/) on the same host
# harness (bench/gbench.cc), compared in one run, rounds interleaved
# (tools/bench_heap.py).
#
# One binary per malloc library, identical but for the library linked
# before libc: linking jemalloc or mimalloc replaces malloc for the whole
# process (bench/heap/malloc.c says why prefixed calls are no way out).
# The kernel heap runs in the glibc binary (kmalloc calls no malloc).
# Each binary's JSON names the file that defines its malloc (context
# malloc_lib); bench_heap.py refuses a run whose library is not the one
# it asked for.
#
#   make bench-heap [ROUNDS=5] [THREADS=1,2,8] [MIN_TIME=0.2]
#                   [CASES="repeat bulk pc"] [SIZES="16 64 256 1024 4096"]
#                   [HEAP_OUT=results]
#       -> results/heap.json and results/heap.md
#   make bench-heap-smoke   every case, size and backend once, briefly,
#                           checked (part of make test; no timing judged)
#   make build-bench-heap   the three binaries

HEAP_BENCH_DIR := build/bench/heap
HEAP_MALLOCS := glibc jemalloc mimalloc
HEAP_BENCH_BINS := $(addprefix $(HEAP_BENCH_DIR)/bench-,$(HEAP_MALLOCS))
HEAP_BENCH_SRCS := $(sort $(wildcard bench/heap/*.c))
HEAP_BENCH_OBJS := build/bench/bench/gbench.o build/bench/bench/host_env.o \
	build/bench/bench/barrier.o \
	$(patsubst %.c,build/bench/%.o,$(HEAP_BENCH_SRCS))
# Linked first, and kept even if nothing names it (--no-as-needed): its
# malloc is then the one every caller binds to.
HEAP_LIB_glibc :=
HEAP_LIB_jemalloc := -ljemalloc
HEAP_LIB_mimalloc := -lmimalloc

$(HEAP_BENCH_DIR)/bench-%: $(HEAP_BENCH_OBJS) build/bench/libhost.a
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CXX_bench) $(LDFLAGS_bench) -pthread -o $@ \
		-Wl,--no-as-needed $(HEAP_LIB_$*) $^ $(BENCH_LDLIBS)

# The heap binary with a case that leaks on purpose (tests/bench_heap_leak.c):
# the smoke test expects its run to fail with the kmalloc environment's report.
HEAP_LEAK_BIN := $(HEAP_BENCH_DIR)/bench-leak
$(HEAP_LEAK_BIN): $(HEAP_BENCH_OBJS) build/bench/tests/bench_heap_leak.o build/bench/libhost.a
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CXX_bench) $(LDFLAGS_bench) -pthread -o $@ $^ $(BENCH_LDLIBS)

ROUNDS ?= 5
THREADS ?= 1,2,8
MIN_TIME ?= 0.2
HEAP_ALL_CASES := repeat bulk pc
HEAP_ALL_SIZES := 16 64 256 1024 4096
CASES ?= $(HEAP_ALL_CASES)
SIZES ?= $(HEAP_ALL_SIZES)
HEAP_OUT ?= results
# Smoke: 1 thread (heap/pc's thread alone) and 2 (a pair), every
# operation timed so that the histograms can be checked against the
# operations counted. Not 3 (a pair and one alone, preempted on 2 cores):
# the kernel heap's slab paths then took up to 6 us an operation on the
# 2-core machine, and the smoke run three times as long.
HEAP_SMOKE_DIR := build/bench/heap-smoke
HEAP_SMOKE_THREADS := 1,2

# $(call bench_heap_run,OUT_DIR,WORK_DIR,ROUNDS,THREADS,MIN_TIME,CASES,SIZES,EXTRA):
# each round's JSON into WORK_DIR, the results into OUT_DIR.
bench_heap_run = /usr/bin/python3 tools/bench_heap.py \
	$(foreach m,$(HEAP_MALLOCS),--$(m)-bin $(HEAP_BENCH_DIR)/bench-$(m)) \
	--rounds $(3) --threads $(4) --min-time $(5) --cases "$(6)" --sizes "$(7)" \
	--out-dir $(1) --work-dir $(2) $(8)

.PHONY: bench-heap bench-heap-smoke build-bench-heap
build-bench-heap: $(HEAP_BENCH_BINS)

## bench-heap: kmalloc/kfree against glibc, jemalloc and mimalloc, rounds interleaved -> results/heap.{json,md}
bench-heap: deps
	@$(MAKE) --no-print-directory build-bench-heap
	@mkdir -p $(HEAP_OUT)
	$(call bench_heap_run,$(HEAP_OUT),$(HEAP_BENCH_DIR)/runs,$(ROUNDS),$(THREADS),$(MIN_TIME),$(CASES),$(SIZES),\
		--command "make bench-heap ROUNDS=$(ROUNDS) THREADS=$(THREADS) MIN_TIME=$(MIN_TIME) CASES='$(CASES)' SIZES='$(SIZES)'")

## bench-heap-smoke: every heap case, size and backend once, briefly, checked; bad arguments refused (part of make test)
bench-heap-smoke: deps
	@$(MAKE) --no-print-directory build-bench-heap $(HEAP_LEAK_BIN)
	@mkdir -p $(HEAP_SMOKE_DIR)
	$(call bench_heap_run,$(HEAP_SMOKE_DIR),$(HEAP_SMOKE_DIR)/runs,1,$(HEAP_SMOKE_THREADS),0.005,$(HEAP_ALL_CASES),$(HEAP_ALL_SIZES),--lat-every 1) \
		> $(HEAP_SMOKE_DIR)/progress.log || { cat $(HEAP_SMOKE_DIR)/progress.log; exit 1; }
	@# Each binary's malloc is its library, and a preloaded one is seen;
	@# a kmalloc case that leaks fails its run.
	HEAP_BENCH_DIR=$(HEAP_BENCH_DIR) /usr/bin/python3 -m unittest discover -s tools -p 'test_bench_heap_bins.py'
	@echo "bench-heap-smoke: every heap case ran on every backend, each on its own malloc ($(HEAP_SMOKE_DIR)/)"
