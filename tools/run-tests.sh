#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run cmocka test binaries, one after another, and sum up.
# Each binary's own output ends with cmocka's summary; this script then
# prints one line: "N passed, N failed" over all tests of all binaries
# (a binary that dies without a summary counts as one failed test).
# A binary still running after TEST_TIMEOUT seconds (default 600) is killed:
# a hang is a failure, not a stuck CI run.
set -u
TEST_TIMEOUT=${TEST_TIMEOUT:-600}

passed=0
failed=0
broken=()
for bin in "$@"; do
	echo "=== $bin"
	out=$(timeout -k 10 "$TEST_TIMEOUT" "$bin" 2>&1)
	rc=$?
	[ "$rc" -eq 124 ] && out="$out
$bin: killed after ${TEST_TIMEOUT}s (hang)"
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | tail -1)
	if [ -z "$p" ] && [ -z "$f" ]; then
		failed=$((failed + 1))
		broken+=("$bin (exit $rc, no summary)")
		continue
	fi
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
		failed=$((failed + 1))
		broken+=("$bin (exit $rc)")
	elif [ -n "$f" ] && [ "$f" -gt 0 ]; then
		broken+=("$bin")
	fi
done

for b in "${broken[@]+"${broken[@]}"}"; do
	echo "FAILED: $b"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
