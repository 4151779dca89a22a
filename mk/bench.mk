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

# Built in the recipe, after deps (see `run` in mk/kernel.mk).
# pipefail: without it the pipeline's status is tee's, and a benchmark
# that crashed or failed would pass.
## bench: the frame allocator micro-benchmark (results/frame_bench.*)
bench: deps
	@$(MAKE) --no-print-directory build-bench
	@mkdir -p results
	set -o pipefail; build/bench/bench/frame_bench --json results/frame_bench.json | tee results/frame_bench.md

## bench-smoke: each benchmark once, briefly (part of make test; no timing checked)
bench-smoke: deps
	@$(MAKE) --no-print-directory build-bench
	build/bench/bench/frame_bench --reps 1 --ms 10 > /dev/null
	@echo "bench-smoke: frame_bench ran"
