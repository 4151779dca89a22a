# Stress harnesses (host, sanitizer builds). `make stress-short` runs each
# briefly (part of `make test`); `make stress` runs them long: SECONDS=
# sets each run's length.

SECONDS ?= 120
STRESS_SHORT_SECONDS ?= 3
STRESS_THREADS ?= 8

STRESS_PROGS := lock_stress
STRESS_VARIANTS := tsan asan tsan-mcs normal

define stress_prog
build/$(1)/stress/$(2): build/$(1)/stress/$(2).o build/$(1)/libhost.a
	$$(call say,LD,$$@)
	$$(Q)$$(CC_$(1)) $$(LDFLAGS_$(1)) -pthread -o $$@ $$^ $$(HOST_LDLIBS)
endef

$(foreach v,$(STRESS_VARIANTS),$(foreach p,$(STRESS_PROGS),$(eval $(call stress_prog,$(v),$(p)))))

STRESS_BINS := $(foreach v,$(STRESS_VARIANTS),$(addprefix build/$(v)/stress/,$(STRESS_PROGS)))

.PHONY: build-stress stress stress-short
build-stress: $(STRESS_BINS)

## stress-short: every stress harness for a few seconds under TSan and ASan
stress-short: deps $(STRESS_BINS)
	@set -e; for v in tsan asan tsan-mcs; do \
		echo "=== lock_stress ($$v)"; \
		timeout -k 10 $$(( $(STRESS_SHORT_SECONDS) * 5 + 60 )) build/$$v/stress/lock_stress --threads $(STRESS_THREADS) \
			--seconds $(STRESS_SHORT_SECONDS) --irq; \
	done

## stress: every stress harness for SECONDS (default 120) under TSan and ASan
stress: deps $(STRESS_BINS)
	@set -e; for v in tsan asan tsan-mcs; do \
		echo "=== lock_stress ($$v, $(SECONDS) s)"; \
		timeout -k 10 $$(( $(SECONDS) * 5 + 60 )) build/$$v/stress/lock_stress --threads $(STRESS_THREADS) \
			--seconds $(SECONDS) --irq; \
	done
