#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Mutation check: every test that claims to guard something must fail when
# that something is broken.
#
#   usage: tools/mutants.sh [tests/mutants/NAME.patch ...]   (default: all)
#
# Each tests/mutants/NAME.patch is a unified diff against the tree root
# (patch -p1) that re-introduces one bug, preceded by header lines:
#
#   # claims: ALO-01 defect-1        what it breaks (CHECKLIST IDs, defects)
#   # build: make -s -j2 build/normal/tests/test_buddy
#   # kill: build/normal/tests/test_buddy
#   # (free text saying what the mutant does)
#
# For each mutant the tree (with its build/ directory, so builds are
# incremental) is copied to a scratch directory, the patch applied, and
# the build command run there (it must succeed: a mutant that does not
# compile proves nothing), then the kill command, with a timeout
# (MUTANT_TIMEOUT, default 300 s). The mutant is killed if the kill command
# fails, survived if it passes. A patch that no longer applies or does not
# build, or that has no build or kill line, is an error. Logs of the last
# run are kept in build/mutants/NAME.log. MUTANT_JOBS mutants (default:
# one per CPU) run at once, each in its own copy, and are reported in the
# order given.
#
# Ends with "mutants: N killed, N survived" and fails unless every mutant
# was killed and none was broken.
set -u
cd "$(dirname "$0")/.."
MUTANT_TIMEOUT=${MUTANT_TIMEOUT:-300}
# A build is mostly one compile and a kill mostly one test binary: one
# mutant at a time leaves the second core of the 2-core machine idle.
MUTANT_JOBS=${MUTANT_JOBS:-$(nproc)}

if [ $# -eq 0 ]; then
	set -- tests/mutants/*.patch
fi

scratch=$(mktemp -d /tmp/mutants.XXXXXX)
logs=build/mutants
mkdir -p "$logs"
trap 'rm -rf "$scratch"' EXIT

# One mutant: build and kill it in its own copy of the tree. Writes what
# it found to $scratch/NAME.out and its verdict (killed, survived or
# broken) to $scratch/NAME.verdict; run_one's output is only those files,
# so mutants can run side by side and be reported in order.
run_one() {
	local patch=$1 name kill_cmd build_cmd claims dir log start rc secs why
	name=$(basename "$patch" .patch)
	local out="$scratch/$name.out" verdict="$scratch/$name.verdict"
	kill_cmd=$(sed -n 's/^# kill: //p' "$patch" | head -1)
	build_cmd=$(sed -n 's/^# build: //p' "$patch" | head -1)
	claims=$(sed -n 's/^# claims: //p' "$patch" | head -1)
	: >"$out"
	if [ -z "$kill_cmd" ] || [ -z "$build_cmd" ]; then
		echo "mutant $name: BROKEN (no '# build:' or '# kill:' line)" >>"$out"
		echo broken >"$verdict"
		return
	fi
	dir="$scratch/$name"
	mkdir -p "$dir"
	# Not the logs (being written by the mutants running beside this one),
	# nor build outputs no mutant's build or kill line uses: the fetched
	# Linux (mk/linux.mk, 180 MB), the TSan and MCS variants, the
	# comparison baseline and the device bundle. (A mutant that needs one
	# rebuilds it from scratch: slower, never wrong.)
	tar -cf - --exclude=./.git --exclude=./results --exclude=./build/mutants \
		--exclude=./build/linux --exclude='./build/tsan*' --exclude=./build/normal-mcs \
		--exclude='./build/base-*' --exclude=./build/devbench . | tar -xf - -C "$dir"
	if ! patch -s -p1 -d "$dir" --no-backup-if-mismatch -r - <"$patch" >"$dir.patch.log" 2>&1; then
		{
			echo "mutant $name: BROKEN (patch does not apply)"
			sed 's/^/    /' "$dir.patch.log"
		} >>"$out"
		echo broken >"$verdict"
		rm -rf "$dir"
		return
	fi
	start=$(date +%s)
	log="$logs/$name.log"
	if ! (cd "$dir" && timeout -k 10 "$MUTANT_TIMEOUT" bash -c "$build_cmd") \
		>"$log" 2>&1 </dev/null; then
		{
			echo "mutant $name: BROKEN (does not build: $log)"
			tail -5 "$log" | sed 's/^/    /'
		} >>"$out"
		echo broken >"$verdict"
		rm -rf "$dir"
		return
	fi
	(cd "$dir" && timeout -k 10 "$MUTANT_TIMEOUT" bash -c "$kill_cmd") \
		>>"$log" 2>&1 </dev/null
	rc=$?
	secs=$(($(date +%s) - start))
	if [ "$rc" -ne 0 ]; then
		why="exit $rc"
		[ "$rc" -eq 124 ] && why="timed out after ${MUTANT_TIMEOUT}s"
		echo "mutant $name: killed ($why, ${secs}s) [$claims]" >>"$out"
		echo killed >"$verdict"
	else
		{
			echo "mutant $name: SURVIVED (${secs}s) [$claims]"
			echo "    kill command passed: $kill_cmd"
			tail -5 "$log" | sed 's/^/    /'
		} >>"$out"
		echo survived >"$verdict"
	fi
	rm -rf "$dir"
}

# Print finished mutants' reports in the order given, as far as done.
next=1
report() {
	local patch name
	while [ "$next" -le $# ]; do
		patch=${!next}
		name=$(basename "$patch" .patch)
		[ -e "$scratch/$name.verdict" ] || return 0
		cat "$scratch/$name.out"
		next=$((next + 1))
	done
}

running=0
for patch in "$@"; do
	if [ "$running" -ge "$MUTANT_JOBS" ]; then
		wait -n
		running=$((running - 1))
		report "$@"
	fi
	run_one "$patch" &
	running=$((running + 1))
done
wait
report "$@"

killed=$(cat "$scratch"/*.verdict 2>/dev/null | grep -c '^killed$')
survived=$(cat "$scratch"/*.verdict 2>/dev/null | grep -c '^survived$')
broken=$(cat "$scratch"/*.verdict 2>/dev/null | grep -c '^broken$')
[ "$broken" -gt 0 ] && echo "mutants: $broken broken (patch or header)"
echo "mutants: $killed killed, $survived survived"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
