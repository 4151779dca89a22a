#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run cmocka test binaries, TEST_JOBS at a time (default: the number of
# CPUs), and sum up. Each binary's output is printed whole, in the order
# given, and ends with cmocka's summary; this script then prints one
# line: "N passed, N failed" over all tests of all binaries (a binary
# that dies without a summary counts as one failed test). A binary still
# running after TEST_TIMEOUT seconds (default 600) is killed: a hang is a
# failure, not a stuck CI run. (The tests force their interleavings with
# gates and pause points, so a second binary on the other core changes
# only how long they take.)
set -u
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
TEST_JOBS=${TEST_JOBS:-$(nproc)}

out_dir=$(mktemp -d)
trap 'rm -rf "$out_dir"' EXIT

# run INDEX BIN: the binary's output and exit code into out_dir.
run() {
	timeout -k 10 "$TEST_TIMEOUT" "$2" > "$out_dir/$1.out" 2>&1
	echo $? > "$out_dir/$1.rc"
}

i=0
for bin in "$@"; do
	while [ "$(jobs -rp | wc -l)" -ge "$TEST_JOBS" ]; do
		wait -n
	done
	run "$i" "$bin" &
	i=$((i + 1))
done
wait

passed=0
failed=0
broken=()
i=0
for bin in "$@"; do
	echo "=== $bin"
	out=$(cat "$out_dir/$i.out")
	rc=$(cat "$out_dir/$i.rc")
	i=$((i + 1))
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
