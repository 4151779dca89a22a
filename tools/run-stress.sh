#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every stress harness in every sanitizer variant for SECONDS each,
# with more threads than cores and simulated IRQs. Each run prints its
# summary line; a failed or hung run (killed after 5 x SECONDS + 120 s)
# fails the whole script, after the rest have run.
#   usage: tools/run-stress.sh SECONDS [THREADS]
set -u
seconds=${1:?usage: run-stress.sh SECONDS [THREADS]}
threads=${2:-8}
limit=$((seconds * 5 + 120))
failed=0

run() {
	local variant=$1 prog=$2; shift 2
	echo "=== $prog ($variant) $*"
	if ! timeout -k 10 "$limit" "build/$variant/stress/$prog" "$@"; then
		echo "FAILED: build/$variant/stress/$prog $*"
		failed=$((failed + 1))
	fi
}

for v in tsan asan; do
	for c in full nopcp locked; do
		run "$v" frame_stress --config "$c" --threads "$threads" \
			--seconds "$seconds" --irq --orders 0,1,3,9
	done
done
for v in tsan asan tsan-mcs; do
	run "$v" lock_stress --threads "$threads" --seconds "$seconds" --irq
done

echo "stress: $failed failed"
[ "$failed" -eq 0 ]
