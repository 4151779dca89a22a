#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every stress harness in every variant that is built (normal, the
# sanitizers, MCS: mk/stress.mk passes its STRESS_VARIANTS) for SECONDS
# each, with more threads than cores and simulated IRQs. Each run prints
# its summary line; a failed or hung run (killed after 5 x SECONDS + 120 s)
# fails the whole script, after the rest have run. A variant whose binary
# is missing is a failure too: a stress run that silently does not run
# proves nothing.
#   usage: tools/run-stress.sh SECONDS [THREADS]
#   STRESS_VARIANTS="normal tsan ..." overrides the variants.
set -u
seconds=${1:?usage: run-stress.sh SECONDS [THREADS]}
threads=${2:-8}
variants=${STRESS_VARIANTS:-normal tsan asan tsan-mcs}
limit=$((seconds * 5 + 120))
failed=0
runs=0

run() {
	local variant=$1 prog=$2; shift 2
	echo "=== $prog ($variant) $*"
	runs=$((runs + 1))
	if ! timeout -k 10 "$limit" "build/$variant/stress/$prog" "$@"; then
		echo "FAILED: build/$variant/stress/$prog $*"
		failed=$((failed + 1))
	fi
}

for v in $variants; do
	for c in full nopcp locked; do
		run "$v" frame_stress --config "$c" --threads "$threads" \
			--seconds "$seconds" --irq --orders 0,1,3,9
	done
	# Sized so memory cannot run out: any E_NOMEM is a failure.
	run "$v" frame_stress --config full --threads "$threads" \
		--seconds "$seconds" --irq --orders 0,1,3 --hold 16 --mem 512 \
		--no-oom
	run "$v" lock_stress --threads "$threads" --seconds "$seconds" --irq
	# The heap with memory to spare, then on so few frames that rescue
	# and reclaim run all the time.
	run "$v" heap_stress --threads "$threads" --seconds "$seconds" --irq
	run "$v" heap_stress --threads "$threads" --seconds "$seconds" --irq \
		--budget-frames 128
	# Page tables, cursors and address spaces: the tree lock protocol,
	# then the one-lock baseline with memory running out midway.
	run "$v" pt_stress --threads "$threads" --seconds "$seconds" --irq
	run "$v" pt_stress --threads "$threads" --seconds "$seconds" --irq \
		--locking space --squeeze
done

echo "stress: $runs runs, $failed failed"
[ "$failed" -eq 0 ]
