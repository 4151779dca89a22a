# SPDX-License-Identifier: MIT
# Issue 11's like-with-like comparison: today's host benchmark against the
# same harness built with an older allocator core, in one run, rounds
# interleaved (tools/bench_compare.py).
#
# The base binary is today's harness (bench/, the host environment, the
# frame layer, everything) with the allocator core taken from BASE
# (git show BASE:path): kernel/mm/buddy.[ch] and percpu/pcp.[ch], built
# into build/base-<sha>/ with the bench variant's flags. BASE's headers
# come first on the include path, so every object (frame.c, the cases)
# sees BASE's struct buddy; the link checks that frame.o was compiled
# against them. 933f143 predates the suite (it had bench/frame_bench.c
# only), hence today's harness for both. Its buddy lacks
# buddy_largest_free_order() (frame/mixed's report): bench/compare/
# buddy_compat.[ch] add it to this build only.
#
#   make bench-compare [BASE=933f143] [RAM_GIB="1 20"] [THREADS=1,2,8]
#                      [ROUNDS=5] [FILTER=regex] [MIN_TIME=0.2]
#                      [COMPARE_OUT=results]
#       -> results/compare-<ram>g.json and .md for each RAM size;
#          `make results` puts their tables into RESULTS.md
#   make build-bench-base [BASE=...]   the base binary alone

BASE ?= 933f143
RAM_GIB ?= 1 20
THREADS ?= 1,2,8
ROUNDS ?= 5
# repeat, bulk_alloc and bulk_free, nopcp and full, orders 0 3 9 10: the
# cases issue 11's targets name.
FILTER ?= ^frame/(repeat|bulk_alloc|bulk_free)/(nopcp|full)/order:(0|3|9|10)/
MIN_TIME ?= 0.2
# Where the results go (a smoke run elsewhere leaves results/ alone).
COMPARE_OUT ?= results

CMP_CORE := kernel/mm/buddy.c kernel/mm/buddy.h percpu/pcp.c percpu/pcp.h

.PHONY: bench-compare build-bench-base

# Only a make that builds the base resolves BASE (git), and then must.
ifneq ($(filter bench-compare build-bench-base,$(MAKECMDGOALS)),)
BASE_SHA := $(shell git rev-parse --verify --quiet --short=7 '$(BASE)^{commit}' 2>/dev/null)
ifeq ($(BASE_SHA),)
$(error BASE=$(BASE) is not a commit of this repository)
endif
CMP_DIR := build/base-$(BASE_SHA)
CMP_SRC := $(CMP_DIR)/src
CMP_BIN := $(CMP_DIR)/bench/bench
CMP_HEADERS := $(CMP_SRC)/kernel/mm/buddy.h $(CMP_SRC)/percpu/pcp.h
CMP_CPPFLAGS := -I$(CMP_SRC) $(HOST_CPPFLAGS)
CMP_LIB_OBJS := $(addprefix $(CMP_DIR)/,$(HOST_LIB_SRCS:.c=.o)) \
	$(CMP_DIR)/bench/compare/buddy_compat.o
CMP_BENCH_OBJS := $(CMP_DIR)/bench/gbench.o $(CMP_DIR)/bench/host_env.o \
	$(CMP_DIR)/bench/barrier.o $(patsubst %.c,$(CMP_DIR)/%.o,$(BENCH_CASES))

# BASE's files, as they are; buddy.h with the shim's include when it lacks
# what frame.c calls (bench/compare/buddy_compat.h).
$(CMP_SRC)/%:
	@mkdir -p $(@D)
	$(call say,GIT,$@)
	$(Q)git show '$(BASE_SHA):$*' > $@.tmp && mv $@.tmp $@

$(CMP_SRC)/kernel/mm/buddy.h:
	@mkdir -p $(@D)
	$(call say,GIT,$@)
	$(Q)git show '$(BASE_SHA):kernel/mm/buddy.h' > $@.tmp
	$(Q)if ! grep -q buddy_largest_free_order $@.tmp; then \
		awk '{ l[NR] = $$0; if ($$0 ~ /^#endif/) e = NR } \
		     END { for (i = 1; i <= NR; i++) { \
			if (i == e) print "#include \"bench/compare/buddy_compat.h\""; \
			print l[i] } }' $@.tmp > $@.shim && mv $@.shim $@.tmp; \
	fi
	$(Q)mv $@.tmp $@

# Every object waits for BASE's headers (order-only): compiled before
# they exist, it would find today's through -I. and say nothing.
$(CMP_DIR)/%.o: %.c | $(CMP_HEADERS)
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC_bench) $(CMP_CPPFLAGS) $(HOST_CFLAGS) $(CFLAGS_bench) -MMD -MP -c $< -o $@

$(CMP_DIR)/kernel/mm/buddy.o: $(CMP_SRC)/kernel/mm/buddy.c | $(CMP_HEADERS)
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC_bench) $(CMP_CPPFLAGS) $(HOST_CFLAGS) $(CFLAGS_bench) -MMD -MP -c $< -o $@

$(CMP_DIR)/percpu/pcp.o: $(CMP_SRC)/percpu/pcp.c | $(CMP_HEADERS)
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC_bench) $(CMP_CPPFLAGS) $(HOST_CFLAGS) $(CFLAGS_bench) -MMD -MP -c $< -o $@

$(CMP_DIR)/bench/gbench.o: bench/gbench.cc | $(CMP_HEADERS)
	@mkdir -p $(@D)
	$(call say,CXX,$@)
	$(Q)$(CXX_bench) -I$(CMP_SRC) $(BENCH_CXXFLAGS) -MMD -MP -c $< -o $@

$(CMP_DIR)/libhost.a: $(CMP_LIB_OBJS)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(CMP_BIN): $(CMP_BENCH_OBJS) $(CMP_DIR)/libhost.a
	$(Q)grep -q '$(CMP_SRC)/kernel/mm/buddy.h' $(CMP_DIR)/kernel/mm/frame.d || \
		{ echo "bench-compare: frame.c was not compiled against $(BASE)'s buddy.h"; exit 1; }
	$(call say,LD,$@)
	$(Q)$(CXX_bench) $(LDFLAGS_bench) -pthread -o $@ $^ $(BENCH_LDLIBS)

-include $(wildcard $(CMP_DIR)/*/*.d $(CMP_DIR)/*/*/*.d $(CMP_DIR)/*/*/*/*.d)

build-bench-base: $(CMP_BIN)
endif

# The command line the results record (what the lead reruns).
CMP_COMMAND = make bench-compare BASE=$(BASE) RAM_GIB='$(RAM_GIB)' THREADS=$(THREADS) \
	ROUNDS=$(ROUNDS) FILTER='$(FILTER)' MIN_TIME=$(MIN_TIME)

## bench-compare: today's host benchmark against BASE's allocator core (default 933f143), rounds interleaved -> results/compare-*g.{json,md}
bench-compare: deps
	@$(MAKE) --no-print-directory build-bench build-bench-base BASE=$(BASE)
	/usr/bin/python3 tools/bench_compare.py --base-bin $(CMP_BIN) --new-bin $(BENCH_BIN) \
		--base $(BASE_SHA) --ram-gib "$(RAM_GIB)" --threads $(THREADS) --rounds $(ROUNDS) \
		--filter '$(FILTER)' --min-time $(MIN_TIME) --out-dir $(COMPARE_OUT) \
		--work-dir $(CMP_DIR)/runs --command "$(CMP_COMMAND)"
