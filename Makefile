# SPDX-License-Identifier: MIT
# The SMP memory-allocator kernel and its host harness.
#
#   make run    build the kernel, boot it under QEMU on all host CPUs,
#               run its self-tests, print the report
#   make test   everything CI runs; non-zero exit on any failure
#   make help   every target
#
# Both install missing Debian packages first (tools/deps.sh).

.DEFAULT_GOAL := help
SHELL := /bin/bash
MAKEFLAGS += --no-builtin-rules
.SUFFIXES:
.DELETE_ON_ERROR:

include mk/config.mk
include mk/host.mk
include mk/tests.mk
include mk/stress.mk
include mk/verify.mk
include mk/bench.mk
include mk/compare.mk
include mk/bench_heap.mk
include mk/plot.mk
include mk/kernel.mk
include mk/linux.mk
include mk/mutants.mk

.PHONY: help deps test build clean

## help: list the targets
help:
	@echo "Targets:"
	@sed -n 's/^## \([^:]*\): \(.*\)/  \1\t\2/p' $(filter-out %.d,$(MAKEFILE_LIST)) | expand -t 24

## deps: install the Debian packages that are missing (checks dpkg first)
deps:
	@tools/deps.sh

## test: unit tests in every variant, kernel boots, short stress runs, the model, benchmark smoke runs (frame, heap, Linux when fetched), mutants
test: deps
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-kernel
	$(MAKE) --no-print-directory stress-short
	$(MAKE) --no-print-directory -j2 verify
	$(MAKE) --no-print-directory bench-smoke
	$(MAKE) --no-print-directory bench-heap-smoke
	$(MAKE) --no-print-directory bench-qemu-smoke
	$(MAKE) --no-print-directory linux-smoke
	$(MAKE) --no-print-directory test-bench-qemu
	$(MAKE) --no-print-directory test-linux-tools
	$(MAKE) --no-print-directory test-plot
	$(MAKE) --no-print-directory mutants
	@echo "make test: all passed"

## build: build every host program in every variant
build: build-tests build-stress build-bench kernel

## clean: remove build outputs
clean:
	rm -rf build
