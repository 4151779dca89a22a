# SPDX-License-Identifier: MIT
# Model checking: the lock-free buddy's core protocol in Promela
# (kernel/mm/buddy.pml), exhaustively with spin (about 30 s, 1 GiB).

VERIFY_DIR := build/verify

$(VERIFY_DIR)/pan: kernel/mm/buddy.pml
	@mkdir -p $(VERIFY_DIR)
	$(call say,SPIN,$<)
	$(Q)cp $< $(VERIFY_DIR)/buddy.pml
	$(Q)cd $(VERIFY_DIR) && spin -a buddy.pml
	$(Q)$(CC_normal) -O2 -w -DSAFETY -DCOLLAPSE -o $@ $(VERIFY_DIR)/pan.c

.PHONY: verify
## verify: model-check the buddy's alloc/free/merge protocol with spin
verify: deps $(VERIFY_DIR)/pan
	@cd $(VERIFY_DIR) && ./pan -m100000 > pan.out 2>&1; \
	grep -E "errors:|states, stored" pan.out; \
	if grep -q "errors: 0" pan.out; then echo "verify: buddy.pml: no errors"; \
	else cat pan.out; echo "verify: buddy.pml: FAILED"; exit 1; fi
