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
# run are kept in build/mutants/NAME.log.
#
# Ends with "mutants: N killed, N survived" and fails unless every mutant
# was killed and none was broken.
set -u
cd "$(dirname "$0")/.."
MUTANT_TIMEOUT=${MUTANT_TIMEOUT:-300}

if [ $# -eq 0 ]; then
	set -- tests/mutants/*.patch
fi

scratch=$(mktemp -d /tmp/mutants.XXXXXX)
logs=build/mutants
mkdir -p "$logs"
trap 'rm -rf "$scratch"' EXIT

killed=0
survived=0
broken=0
for patch in "$@"; do
	name=$(basename "$patch" .patch)
	kill_cmd=$(sed -n 's/^# kill: //p' "$patch" | head -1)
	build_cmd=$(sed -n 's/^# build: //p' "$patch" | head -1)
	claims=$(sed -n 's/^# claims: //p' "$patch" | head -1)
	if [ -z "$kill_cmd" ] || [ -z "$build_cmd" ]; then
		echo "mutant $name: BROKEN (no '# build:' or '# kill:' line)"
		broken=$((broken + 1))
		continue
	fi
	dir="$scratch/$name"
	mkdir -p "$dir"
	tar -cf - --exclude=./.git --exclude=./results . | tar -xf - -C "$dir"
	if ! patch -s -p1 -d "$dir" --no-backup-if-mismatch -r - <"$patch" >"$dir.patch.log" 2>&1; then
		echo "mutant $name: BROKEN (patch does not apply)"
		sed 's/^/    /' "$dir.patch.log"
		broken=$((broken + 1))
		rm -rf "$dir"
		continue
	fi
	start=$(date +%s)
	log="$logs/$name.log"
	if ! (cd "$dir" && timeout -k 10 "$MUTANT_TIMEOUT" bash -c "$build_cmd") \
		>"$log" 2>&1 </dev/null; then
		echo "mutant $name: BROKEN (does not build: $log)"
		tail -5 "$log" | sed 's/^/    /'
		broken=$((broken + 1))
		rm -rf "$dir"
		continue
	fi
	(cd "$dir" && timeout -k 10 "$MUTANT_TIMEOUT" bash -c "$kill_cmd") \
		>>"$log" 2>&1 </dev/null
	rc=$?
	secs=$(($(date +%s) - start))
	if [ "$rc" -ne 0 ]; then
		why="exit $rc"
		[ "$rc" -eq 124 ] && why="timed out after ${MUTANT_TIMEOUT}s"
		echo "mutant $name: killed ($why, ${secs}s) [$claims]"
		killed=$((killed + 1))
	else
		echo "mutant $name: SURVIVED (${secs}s) [$claims]"
		echo "    kill command passed: $kill_cmd"
		tail -5 "$log" | sed 's/^/    /'
		survived=$((survived + 1))
	fi
	rm -rf "$dir"
done

[ "$broken" -gt 0 ] && echo "mutants: $broken broken (patch or header)"
echo "mutants: $killed killed, $survived survived"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
