# SPDX-License-Identifier: MIT
# Stress harnesses (host builds): tools/run-stress.sh runs each in every
# variant built here (normal, TSan, ASan, TSan with the MCS spinlock) with
# 8 threads on the 2-core machine and simulated IRQs. `make stress-short`
# runs each briefly (part of make test); `make stress` runs them long:
# SECONDS= sets each run's length.

SECONDS ?= 120
STRESS_SHORT_SECONDS ?= 2
STRESS_THREADS ?= 8

STRESS_PROGS := lock_stress frame_stress heap_stress pt_stress
STRESS_VARIANTS := tsan asan tsan-mcs normal

# heap_stress sees every frame allocation of the heap, to tell a NULL the
# frame allocator forced from one it did not (stress/heap_stress.c).
STRESS_LDFLAGS_heap_stress := -Wl,--wrap=frame_alloc_for

# frame_torture is the workload frame_stress shares with the kernel's
# self-test; linking it into both is harmless.
define stress_prog
build/$(1)/stress/$(2): build/$(1)/stress/$(2).o build/$(1)/stress/frame_torture.o build/$(1)/libhost.a
	$$(call say,LD,$$@)
	$$(Q)$$(CC_$(1)) $$(LDFLAGS_$(1)) $$(STRESS_LDFLAGS_$(2)) -pthread -o $$@ $$^ $$(HOST_LDLIBS)
endef

$(foreach v,$(STRESS_VARIANTS),$(foreach p,$(STRESS_PROGS),$(eval $(call stress_prog,$(v),$(p)))))

STRESS_BINS := $(foreach v,$(STRESS_VARIANTS),$(addprefix build/$(v)/stress/,$(STRESS_PROGS)))

.PHONY: build-stress stress stress-short
build-stress: $(STRESS_BINS)

## stress-short: every stress harness for a few seconds in every variant
stress-short: deps $(STRESS_BINS)
	STRESS_VARIANTS="$(STRESS_VARIANTS)" tools/run-stress.sh $(STRESS_SHORT_SECONDS) $(STRESS_THREADS)

## stress: every stress harness for SECONDS (default 120) in every variant
stress: deps $(STRESS_BINS)
	STRESS_VARIANTS="$(STRESS_VARIANTS)" tools/run-stress.sh $(SECONDS) $(STRESS_THREADS)
