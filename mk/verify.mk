# SPDX-License-Identifier: MIT
# Model checking (kernel/mm/buddy.pml, Debian's spin): the buddy's protocol
# must verify with a complete, exhaustive search, and three broken models
# must each be refuted by the assertion that guards what it breaks: the
# proof that the model can fail. -DOLD_PROTOCOL, the protocol before issue
# 8, by the hint assertion (defect 1); -DNO_RECHECK, lazy frees that do not
# re-check their area, by the lazy-pair assertions (a pair left where no
# CPU will merge it); -DNO_LAST_COALESCE, last passes that do not
# coalesce, by completeness (an allocation that fails beside a free pair).
# About 2 minutes and 2.4 GiB, most of it the default model's search (the
# header of buddy.pml says what the model covers); make -j2 verify runs
# the four at once.
#
# A search that stops early proves nothing, so the new model fails on any
# sign of one: "Search not completed" (an error, or the memory bound), a
# depth bound reached (-m), memory exhausted. -DCOLLAPSE compresses states
# without losing any; there is no bitstate or hash-compact run here.

VERIFY_DIR := build/verify
PAN_CFLAGS := -O1 -w -DSAFETY -DCOLLAPSE -DMEMLIM=3584
PAN_RUN    := ./pan -m10000 -w24
PAN_BAD    := Search not completed|max search depth too small|out of memory|MEMLIM bound|too small, recompile

# $(1): the variant's directory, $(2): spin's defines
define pan_rule
$(VERIFY_DIR)/$(1)/pan: kernel/mm/buddy.pml mk/verify.mk
	@mkdir -p $(VERIFY_DIR)/$(1)
	$$(call say,SPIN,$$@)
	$(Q)cp $$< $(VERIFY_DIR)/$(1)/buddy.pml
	$(Q)cd $(VERIFY_DIR)/$(1) && rm -f buddy.pml.trail && spin $(2) -a buddy.pml
	$(Q)$(CC_normal) $(PAN_CFLAGS) -o $$@ $(VERIFY_DIR)/$(1)/pan.c
endef
$(eval $(call pan_rule,new,))
$(eval $(call pan_rule,old,-DOLD_PROTOCOL))
$(eval $(call pan_rule,no-recheck,-DNO_RECHECK))
$(eval $(call pan_rule,no-last-coalesce,-DNO_LAST_COALESCE))

# A broken model must be refuted: $(1): its directory, $(2): spin's
# defines, $(3): the assertions (an extended regex) that must fail, $(4):
# what it breaks.
define refute
.PHONY: verify-$(1)
verify-$(1): deps $(VERIFY_DIR)/$(1)/pan
	@cd $(VERIFY_DIR)/$(1) && rm -f buddy.pml.trail && \
	$(PAN_RUN) > pan.out 2>&1; \
	if grep -qE "assertion violated ($(3))\b" pan.out; then \
		echo "verify: $(2) refuted, as it must be: $$$$(grep -m1 'assertion violated' pan.out | sed 's/ (at depth.*//; s/^pan:1: //') after $$$$(awk '/states, stored/ {print $$$$1}' pan.out) states ($(4); replay: cd $(VERIFY_DIR)/$(1) && spin $(2) -t -p buddy.pml)"; \
	else \
		sed '/^unreached in/,$$$$d' pan.out; \
		echo "verify: FAILED: the model with $(2) ($(4)) was not refuted by $(3): the model has lost its teeth"; \
		exit 1; \
	fi
endef
$(eval $(call refute,old,-DOLD_PROTOCOL,hint_order_ok,defect 1 of issue 8))
$(eval $(call refute,no-recheck,-DNO_RECHECK,pairs_in_areas|pairs_dirty,a lazy free without its re-check))
$(eval $(call refute,no-last-coalesce,-DNO_LAST_COALESCE,completeness,last passes that do not coalesce))

.PHONY: verify verify-build verify-new
## verify-build: generate and compile the models' verifiers (no search)
verify-build: $(VERIFY_DIR)/new/pan $(VERIFY_DIR)/old/pan \
	$(VERIFY_DIR)/no-recheck/pan $(VERIFY_DIR)/no-last-coalesce/pan

## verify: model-check the buddy's protocol with spin; the broken models must fail (-j2: in parallel)
verify: verify-new verify-old verify-no-recheck verify-no-last-coalesce

verify-new: deps $(VERIFY_DIR)/new/pan
	@cd $(VERIFY_DIR)/new && rm -f buddy.pml.trail && \
	start=$$(date +%s); $(PAN_RUN) > pan.out 2>&1; secs=$$(( $$(date +%s) - start )); \
	if grep -q "errors: 0" pan.out && grep -q "states, stored" pan.out && \
	   ! grep -qE "$(PAN_BAD)" pan.out; then \
		echo "verify: new protocol: no errors, complete search: $$(awk '/states, stored/ {print $$1}' pan.out) states, depth $$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out), $$(awk '/total actual memory usage/ {print $$1}' pan.out) MB, $${secs} s"; \
	else \
		sed '/^unreached in/,$$d' pan.out; \
		echo "verify: FAILED: the new protocol's model has an error or its search is incomplete (trail: cd $(VERIFY_DIR)/new && spin -t -p buddy.pml)"; \
		exit 1; \
	fi
