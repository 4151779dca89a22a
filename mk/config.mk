# SPDX-License-Identifier: MIT
# Compilers, flags and build variants for host programs.
#
# Every variant builds the same sources into its own directory:
#   build/normal      gcc   -O2 -g                       unit tests, stress
#   build/tsan        clang -O1 -g -fsanitize=thread      race detection
#   build/asan        clang -O1 -g -fsanitize=address,undefined
#   build/normal-mcs, build/tsan-mcs   the same with the MCS spinlock
#   build/bench       gcc   -O2 -g, debug checks off (benchmarks only)
# clang builds also run clang's thread-safety analysis (-Wthread-safety).

# `make V=1` shows full command lines.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
endif

WARN := -Wall -Wextra -Werror \
	-Werror=strict-prototypes -Werror=missing-prototypes -Werror=vla \
	-Werror=implicit-fallthrough -Werror=old-style-definition \
	-Werror=shadow -Werror=undef -Werror=pointer-arith \
	-Werror=format=2 -Werror=missing-declarations \
	-Werror=implicit-function-declaration -Werror=int-conversion \
	-Werror=incompatible-pointer-types -Werror=return-type
CLANG_WARN := -Wthread-safety -Werror=thread-safety

# -Ihost: portable sources' <platform.h> is the host platform.
HOST_CPPFLAGS := -I. -Ihost -D_GNU_SOURCE
HOST_CFLAGS := -std=gnu11 $(WARN) -fno-strict-aliasing -pthread
HOST_LDLIBS := -lck -lurcu-qsbr -lurcu-common -lpthread -lrt -rdynamic

# Test builds have pause points (kernel/lib/pause.h); benchmarks do not.
PAUSE_POINTS := -DCONFIG_PAUSE_POINTS=1

VARIANTS := normal tsan asan normal-mcs tsan-mcs bench

CC_normal := gcc
CXX_normal := g++
CFLAGS_normal := -O2 -g $(PAUSE_POINTS)
LDFLAGS_normal :=

CC_tsan := clang
CXX_tsan := clang++
CFLAGS_tsan := -O1 -g -fsanitize=thread $(CLANG_WARN) $(PAUSE_POINTS)
LDFLAGS_tsan := -fsanitize=thread

CC_asan := clang
CXX_asan := clang++
CFLAGS_asan := -O1 -g -fno-omit-frame-pointer $(PAUSE_POINTS) \
	-fsanitize=address,undefined -fno-sanitize-recover=all $(CLANG_WARN)
LDFLAGS_asan := -fsanitize=address,undefined

CC_normal-mcs := $(CC_normal)
CXX_normal-mcs := $(CXX_normal)
CFLAGS_normal-mcs := $(CFLAGS_normal) -DCONFIG_SPINLOCK_MCS=1
LDFLAGS_normal-mcs := $(LDFLAGS_normal)

CC_bench := gcc
CXX_bench := g++
CFLAGS_bench := -O2 -g -DCONFIG_DEBUG=0
LDFLAGS_bench :=

CC_tsan-mcs := $(CC_tsan)
CXX_tsan-mcs := $(CXX_tsan)
CFLAGS_tsan-mcs := $(CFLAGS_tsan) -DCONFIG_SPINLOCK_MCS=1
LDFLAGS_tsan-mcs := $(LDFLAGS_tsan)

# Sanitizer run-time options: any report fails the run.
export TSAN_OPTIONS ?= halt_on_error=1 abort_on_error=1 second_deadlock_stack=1
export ASAN_OPTIONS ?= abort_on_error=1 detect_leaks=1
export UBSAN_OPTIONS ?= halt_on_error=1 print_stacktrace=1
