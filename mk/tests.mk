# SPDX-License-Identifier: MIT
# Unit tests (cmocka), built in every variant; the lock tests also with the
# MCS spinlock.

LOCK_TESTS := test_spinlock test_lockcheck
UNIT_TESTS := test_platform $(LOCK_TESTS) test_memmap test_bootmem \
	test_buddy test_frame test_heap test_heap_review test_rcu test_pagetable \
	test_pagetable_review test_vmspace test_klib \
	test_acpi \
	test_bench_barrier test_bench_ring test_bench_run
TEST_VARIANTS := normal tsan asan
LOCK_TEST_VARIANTS := normal-mcs tsan-mcs

# $(call unit_test,<variant>,<test>)
define unit_test
build/$(1)/tests/$(2): build/$(1)/tests/$(2).o build/$(1)/tests/support.o build/$(1)/libhost.a
	$$(call say,LD,$$@)
	$$(Q)$$(CC_$(1)) $$(LDFLAGS_$(1)) -pthread -o $$@ $$^ -lcmocka $$(HOST_LDLIBS)
endef

# test_klib checks the kernel's printf and string functions against
# glibc's: both files are compiled for it with every function renamed to
# klib_*, and without builtins, so the code under test is really ours.
KLIB_RENAMES := $(foreach f,snprintf vsnprintf memset memcpy memmove memcmp \
	strlen strcmp strstr,-D$(f)=klib_$(f))
KLIB_SRCS := kernel/lib/printf.c kernel/lib/string.c

define klib_test
build/$(1)/tests/klib/%.o: kernel/lib/%.c
	@mkdir -p $$(@D)
	$$(call say,CC,$$@)
	$$(Q)$$(CC_$(1)) $$(HOST_CPPFLAGS) $$(HOST_CFLAGS) $$(CFLAGS_$(1)) \
		$$(KLIB_RENAMES) -fno-builtin \
		$$(if $$(filter gcc,$$(CC_$(1))),-fno-tree-loop-distribute-patterns) \
		-c $$< -o $$@

build/$(1)/tests/test_klib: $$(patsubst kernel/lib/%.c,build/$(1)/tests/klib/%.o,$$(KLIB_SRCS))
endef

# test_acpi runs the kernel's MADT parser as it is: acpi.c has no asm and
# no platform hooks, so it compiles for the host like a portable source.
define acpi_test
build/$(1)/tests/test_acpi: build/$(1)/kernel/arch/x86_64/acpi.o
endef

$(foreach v,$(TEST_VARIANTS),$(eval $(call klib_test,$(v))))
# test_bench_barrier: the benchmark harnesses' barrier, as both link it.
define bench_barrier_test
build/$(1)/tests/test_bench_barrier: build/$(1)/bench/barrier.o
endef

# test_bench_run: the kernels' shared measuring (bench/run.c) on the host.
define bench_run_test
build/$(1)/tests/test_bench_run: build/$(1)/bench/run.o build/$(1)/bench/barrier.o
endef

$(foreach v,$(TEST_VARIANTS),$(eval $(call acpi_test,$(v))))
$(foreach v,$(TEST_VARIANTS),$(eval $(call bench_run_test,$(v))))
$(foreach v,$(TEST_VARIANTS),$(eval $(call bench_barrier_test,$(v))))
$(foreach v,$(TEST_VARIANTS),$(foreach t,$(UNIT_TESTS),$(eval $(call unit_test,$(v),$(t)))))
$(foreach v,$(LOCK_TEST_VARIANTS),$(foreach t,$(LOCK_TESTS),$(eval $(call unit_test,$(v),$(t)))))

UNIT_BINS := \
	$(foreach v,$(TEST_VARIANTS),$(addprefix build/$(v)/tests/,$(UNIT_TESTS))) \
	$(foreach v,$(LOCK_TEST_VARIANTS),$(addprefix build/$(v)/tests/,$(LOCK_TESTS)))

.PHONY: test-unit build-tests
build-tests: $(UNIT_BINS)

## test-unit: build and run the unit tests in every variant
test-unit: deps $(UNIT_BINS)
	tools/run-tests.sh $(UNIT_BINS)
