# SPDX-License-Identifier: MIT
# The host library: the portable sources plus the host platform, built once
# per variant into build/<variant>/libhost.a.

PORTABLE_SRCS := \
	kernel/lib/err.c \
	kernel/smp_call.c \
	kernel/mm/memmap.c \
	kernel/mm/bootmem.c \
	kernel/mm/page.c \
	kernel/mm/buddy.c \
	kernel/mm/account.c \
	kernel/mm/scrub.c \
	kernel/mm/frame.c \
	kernel/mm/slab.c \
	kernel/mm/heap.c \
	kernel/mm/pagetable.c \
	kernel/mm/cursor.c \
	kernel/mm/vmspace.c \
	percpu/pcp.c \
	locks/spinlock.c \
	locks/lockcheck.c

HOST_PLATFORM_SRCS := \
	host/cpu.c \
	host/irq.c \
	host/arena.c \
	host/log.c \
	host/smp.c \
	host/tlb.c \
	host/machine.c \
	host/pause.c \
	host/rcu.c \
	host/uaccess.c

HOST_LIB_SRCS := $(PORTABLE_SRCS) $(HOST_PLATFORM_SRCS)

# $(call host_variant,<variant>): object and library rules for one variant.
define host_variant
build/$(1)/%.o: %.c
	@mkdir -p $$(@D)
	$$(call say,CC,$$@)
	$$(Q)$$(CC_$(1)) $$(HOST_CPPFLAGS) $$(HOST_CFLAGS) $$(CFLAGS_$(1)) -MMD -MP -c $$< -o $$@

build/$(1)/libhost.a: $$(addprefix build/$(1)/,$$(HOST_LIB_SRCS:.c=.o))
	@rm -f $$@
	$$(call say,AR,$$@)
	$$(Q)ar rcs $$@ $$^

-include $$(wildcard build/$(1)/*/*.d build/$(1)/*/*/*.d)
endef

$(foreach v,$(VARIANTS),$(eval $(call host_variant,$(v))))
