# SPDX-License-Identifier: MIT
# Benchmarks (host). Built in the bench variant: -O2, debug checks off.
# Results go to results/ (JSON, and the table as Markdown).

BENCH_PROGS := frame_bench
BENCH_BINS := $(addprefix build/bench/bench/,$(BENCH_PROGS))

build/bench/bench/%: build/bench/bench/%.o build/bench/libhost.a
	$(call say,LD,$@)
	$(Q)$(CC_bench) $(LDFLAGS_bench) -pthread -o $@ $^ $(HOST_LDLIBS)

.PHONY: build-bench bench bench-smoke
build-bench: $(BENCH_BINS)

## bench: the frame allocator micro-benchmark (results/frame_bench.*)
bench: deps $(BENCH_BINS)
	@mkdir -p results
	build/bench/bench/frame_bench --json results/frame_bench.json | tee results/frame_bench.md

## bench-smoke: each benchmark once, briefly (part of make test; no timing checked)
bench-smoke: deps $(BENCH_BINS)
	build/bench/bench/frame_bench --reps 1 --ms 10 > /dev/null
	@echo "bench-smoke: frame_bench ran"
