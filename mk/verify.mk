# SPDX-License-Identifier: MIT
# Model checking (Debian's spin): each protocol model must verify with a
# complete, exhaustive search, and broken models must each be refuted by
# the assertion that guards what they break: the proof that the model can
# fail.
#
# kernel/mm/buddy.pml, the lock-free buddy (verify-new): -DOLD_PROTOCOL,
# the protocol before issue 8, by the hint assertion (defect 1);
# -DNO_RECHECK, lazy frees that do not re-check their area, by the
# lazy-pair assertions (a pair left where no CPU will merge it);
# -DNO_LAST_COALESCE, last passes that do not coalesce, by completeness
# (an allocation that fails beside a free pair). About 2 minutes and 2.4
# GiB, most of it the default model's search (the header of buddy.pml
# says what the model covers).
#
# kernel/mm/cursor.pml, the page-table cursor's lock protocol
# (verify-cursor): -DRELEASE_ROOT_FIRST, locks released root first
# (CUR-03), by the structure assertion (a held node whose parent is not);
# -DNO_STRAY_RECHECK, a covering node kept without re-checking its stray
# flag, by not_stray; -DNO_DESCENDANT_LOCKS, no locks below the covering
# node, by exclusion (a write to a node not held, or two overlapping
# cursors operating at once); -DNO_GRACE_PERIOD, a detached node freed at
# once, by use after free. About 2 seconds and 200 MiB in all (the header
# of cursor.pml says what the model covers and abstracts).
#
# make -j2 verify runs the searches two at a time.
#
# A search that stops early proves nothing, so a protocol model fails on
# any sign of one: "Search not completed" (an error, or the memory
# bound), a depth bound reached (-m), memory exhausted. -DCOLLAPSE
# compresses states without losing any; there is no bitstate or
# hash-compact run here.

VERIFY_DIR := build/verify
PAN_CFLAGS := -O1 -w -DSAFETY -DCOLLAPSE -DMEMLIM=3584
PAN_RUN    := ./pan -m10000 -w24
PAN_BAD    := Search not completed|max search depth too small|out of memory|MEMLIM bound|too small, recompile

# $(1): the model (kernel/mm/$(1).pml), $(2): the variant's directory,
# $(3): spin's defines
define pan_rule
$(VERIFY_DIR)/$(2)/pan: kernel/mm/$(1).pml mk/verify.mk
	@mkdir -p $(VERIFY_DIR)/$(2)
	$$(call say,SPIN,$$@)
	$(Q)cp $$< $(VERIFY_DIR)/$(2)/$(1).pml
	$(Q)cd $(VERIFY_DIR)/$(2) && rm -f $(1).pml.trail && spin $(3) -a $(1).pml
	$(Q)$(CC_normal) $(PAN_CFLAGS) -o $$@ $(VERIFY_DIR)/$(2)/pan.c
endef
$(eval $(call pan_rule,buddy,new,))
$(eval $(call pan_rule,buddy,old,-DOLD_PROTOCOL))
$(eval $(call pan_rule,buddy,no-recheck,-DNO_RECHECK))
$(eval $(call pan_rule,buddy,no-last-coalesce,-DNO_LAST_COALESCE))
$(eval $(call pan_rule,cursor,cursor,))
$(eval $(call pan_rule,cursor,cursor-release-root-first,-DRELEASE_ROOT_FIRST))
$(eval $(call pan_rule,cursor,cursor-no-stray-recheck,-DNO_STRAY_RECHECK))
$(eval $(call pan_rule,cursor,cursor-no-descendant-locks,-DNO_DESCENDANT_LOCKS))
$(eval $(call pan_rule,cursor,cursor-no-grace-period,-DNO_GRACE_PERIOD))

# A protocol model must verify: no errors, a complete search. $(1): the
# model, $(2): its directory (target verify-$(2)), $(3): what it is.
define verify_rule
.PHONY: verify-$(2)
verify-$(2): deps $(VERIFY_DIR)/$(2)/pan
	@cd $(VERIFY_DIR)/$(2) && rm -f $(1).pml.trail && \
	start=$$$$(date +%s); $(PAN_RUN) > pan.out 2>&1; secs=$$$$(( $$$$(date +%s) - start )); \
	if grep -q "errors: 0" pan.out && grep -q "states, stored" pan.out && \
	   ! grep -qE "$(PAN_BAD)" pan.out; then \
		echo "verify: $(3): no errors, complete search: $$$$(awk '/states, stored/ {print $$$$1}' pan.out) states, depth $$$$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out), $$$$(awk '/total actual memory usage/ {print $$$$1}' pan.out) MB, $$$${secs} s"; \
	else \
		sed '/^unreached in/,$$$$d' pan.out; \
		echo "verify: FAILED: the $(3)'s model has an error or its search is incomplete (trail: cd $(VERIFY_DIR)/$(2) && spin -t -p $(1).pml)"; \
		exit 1; \
	fi
endef
$(eval $(call verify_rule,buddy,new,new protocol))
$(eval $(call verify_rule,cursor,cursor,cursor protocol))

# A broken model must be refuted: $(1): the model, $(2): its directory
# (target verify-$(2)), $(3): spin's defines, $(4): the assertions (an
# extended regex) that must fail, $(5): what it breaks.
define refute
.PHONY: verify-$(2)
verify-$(2): deps $(VERIFY_DIR)/$(2)/pan
	@cd $(VERIFY_DIR)/$(2) && rm -f $(1).pml.trail && \
	$(PAN_RUN) > pan.out 2>&1; \
	if grep -qE "assertion violated ($(4))\b" pan.out; then \
		echo "verify: $(3) refuted, as it must be: $$$$(grep -m1 'assertion violated' pan.out | sed 's/ (at depth.*//; s/^pan:1: //') after $$$$(awk '/states, stored/ {print $$$$1}' pan.out) states ($(5); replay: cd $(VERIFY_DIR)/$(2) && spin $(3) -t -p $(1).pml)"; \
	else \
		sed '/^unreached in/,$$$$d' pan.out; \
		echo "verify: FAILED: the model with $(3) ($(5)) was not refuted by $(4): the model has lost its teeth"; \
		exit 1; \
	fi
endef
$(eval $(call refute,buddy,old,-DOLD_PROTOCOL,hint_order_ok,defect 1 of issue 8))
$(eval $(call refute,buddy,no-recheck,-DNO_RECHECK,pairs_in_areas|pairs_dirty,a lazy free without its re-check))
$(eval $(call refute,buddy,no-last-coalesce,-DNO_LAST_COALESCE,completeness,last passes that do not coalesce))
$(eval $(call refute,cursor,cursor-release-root-first,-DRELEASE_ROOT_FIRST,parent_held,locks released root first: CUR-03))
$(eval $(call refute,cursor,cursor-no-stray-recheck,-DNO_STRAY_RECHECK,not_stray,no re-check of the stray flag under the lock))
$(eval $(call refute,cursor,cursor-no-descendant-locks,-DNO_DESCENDANT_LOCKS,locked_write|exclusive,no locks below the covering node))
$(eval $(call refute,cursor,cursor-no-grace-period,-DNO_GRACE_PERIOD,not_freed,a detached node freed without a grace period))

VERIFY_CURSOR := cursor cursor-release-root-first cursor-no-stray-recheck \
	cursor-no-descendant-locks cursor-no-grace-period

.PHONY: verify verify-build
## verify-build: generate and compile the models' verifiers (no search)
verify-build: $(VERIFY_DIR)/new/pan $(VERIFY_DIR)/old/pan \
	$(VERIFY_DIR)/no-recheck/pan $(VERIFY_DIR)/no-last-coalesce/pan \
	$(VERIFY_CURSOR:%=$(VERIFY_DIR)/%/pan)

## verify: model-check the buddy's and the page-table cursor's protocols with spin; the broken models must fail (-j2: in parallel)
verify: verify-new verify-old verify-no-recheck verify-no-last-coalesce \
	$(VERIFY_CURSOR:%=verify-%)
