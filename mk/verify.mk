# SPDX-License-Identifier: MIT
# Model checking (kernel/mm/buddy.pml, Debian's spin): the buddy's protocol
# must verify with a complete, exhaustive search, and the model of the
# protocol before issue 8 (-DOLD_PROTOCOL) must be refuted by the hint
# assertion (defect 1): the proof that the model can fail. About 45 s and
# 1.4 GiB (the header of buddy.pml says what the model covers).
#
# A search that stops early proves nothing, so the new model fails on any
# sign of one: "Search not completed" (an error, or the memory bound), a
# depth bound reached (-m), memory exhausted. -DCOLLAPSE compresses states
# without losing any; there is no bitstate or hash-compact run here.

VERIFY_DIR := build/verify
PAN_CFLAGS := -O1 -w -DSAFETY -DCOLLAPSE -DMEMLIM=3584
PAN_RUN    := ./pan -m10000 -w24
PAN_BAD    := Search not completed|max search depth too small|out of memory|MEMLIM bound|too small, recompile

# $(1): new or old, $(2): spin's defines
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

.PHONY: verify verify-build
## verify-build: generate and compile both models' verifiers (no search)
verify-build: $(VERIFY_DIR)/new/pan $(VERIFY_DIR)/old/pan

## verify: model-check the buddy's protocol with spin; the old protocol must fail
verify: deps verify-build
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
	@cd $(VERIFY_DIR)/old && rm -f buddy.pml.trail && \
	$(PAN_RUN) > pan.out 2>&1; \
	if grep -q "assertion violated hint_order_ok" pan.out; then \
		echo "verify: old protocol refuted, as it must be: $$(grep -m1 'assertion violated' pan.out | sed 's/ (at depth.*//; s/^pan:1: //') after $$(awk '/states, stored/ {print $$1}' pan.out) states (defect 1; replay: cd $(VERIFY_DIR)/old && spin -DOLD_PROTOCOL -t -p buddy.pml)"; \
	else \
		sed '/^unreached in/,$$d' pan.out; \
		echo "verify: FAILED: the model of the old protocol was not refuted by hint_order_ok (defect 1): the model has lost its teeth"; \
		exit 1; \
	fi
