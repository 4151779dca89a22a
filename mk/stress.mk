# SPDX-License-Identifier: MIT
# Stress harnesses (host, sanitizer builds): tools/run-stress.sh runs each
# in the TSan and ASan variants with 8 threads on the 2-core machine and
# simulated IRQs. `make stress-short` runs each briefly (part of make
# test); `make stress` runs them long: SECONDS= sets each run's length.

SECONDS ?= 120
STRESS_SHORT_SECONDS ?= 3
STRESS_THREADS ?= 8

STRESS_PROGS := lock_stress frame_stress
STRESS_VARIANTS := tsan asan tsan-mcs normal

# frame_torture is the workload frame_stress shares with the kernel's
# self-test; linking it into both is harmless.
define stress_prog
build/$(1)/stress/$(2): build/$(1)/stress/$(2).o build/$(1)/stress/frame_torture.o build/$(1)/libhost.a
	$$(call say,LD,$$@)
	$$(Q)$$(CC_$(1)) $$(LDFLAGS_$(1)) -pthread -o $$@ $$^ $$(HOST_LDLIBS)
endef

$(foreach v,$(STRESS_VARIANTS),$(foreach p,$(STRESS_PROGS),$(eval $(call stress_prog,$(v),$(p)))))

STRESS_BINS := $(foreach v,$(STRESS_VARIANTS),$(addprefix build/$(v)/stress/,$(STRESS_PROGS)))

.PHONY: build-stress stress stress-short
build-stress: $(STRESS_BINS)

## stress-short: every stress harness for a few seconds under TSan and ASan
stress-short: deps $(STRESS_BINS)
	tools/run-stress.sh $(STRESS_SHORT_SECONDS) $(STRESS_THREADS)

## stress: every stress harness for SECONDS (default 120) under TSan and ASan
stress: deps $(STRESS_BINS)
	tools/run-stress.sh $(SECONDS) $(STRESS_THREADS)
