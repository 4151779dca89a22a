#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kernel's boot tests (make test-kernel), all under TCG:
#   1. boot with each -smp in SMP_LIST; every self-test must pass;
#   2. boot with each injected failure (kernel command line fail=...) and
#      check that the runner reports it as a failure, for the right
#      reason: a runner that cannot fail would make step 1 worthless.
# Ends with "test-kernel: N passed, N failed".
#   usage: tools/test-kernel.sh KERNEL_BIN "SMP_LIST" TORTURE_MS
set -u
kernel=${1:?usage: test-kernel.sh KERNEL_BIN SMP_LIST TORTURE_MS}
smp_list=${2:-1 2 4}
torture_ms=${3:-1000}
logs=build/kernel/logs
passed=0
failed=0

result() { # result OK|FAIL NAME [WHY]
	if [ "$1" = OK ]; then
		echo "test-kernel: PASS $2"
		passed=$((passed + 1))
	else
		echo "test-kernel: FAIL $2: $3"
		failed=$((failed + 1))
	fi
}

for n in $smp_list; do
	if tools/qemu-run.sh --smp "$n" --mem 512M --accel tcg --quiet \
		--timeout 300 --log "$logs/test-smp$n.log" \
		--append "torture_ms=$torture_ms" "$kernel"; then
		result OK "boot_and_selftest_smp$n"
	else
		result FAIL "boot_and_selftest_smp$n" "see $logs/test-smp$n.log"
	fi
done

# expect_failure NAME APPEND TIMEOUT VERDICT_PATTERN [LOG_PATTERN...]
expect_failure() {
	local name=$1 append=$2 limit=$3 verdict=$4 out log=$logs/test-$1.log
	shift 4
	out=$(tools/qemu-run.sh --smp 2 --mem 256M --accel tcg --quiet \
		--timeout "$limit" --log "$log" --append "$append" "$kernel" 2>&1)
	if [ $? -eq 0 ]; then
		result FAIL "runner_catches_$name" "the runner passed it"
		return
	fi
	if ! grep -Eq "qemu-run: FAIL .*$verdict" <<<"$out"; then
		result FAIL "runner_catches_$name" "verdict not /$verdict/: $(tail -n 1 <<<"$out")"
		return
	fi
	for p in "$@"; do
		if ! grep -Eq "$p" "$log"; then
			result FAIL "runner_catches_$name" "no /$p/ in $log"
			return
		fi
	done
	result OK "runner_catches_$name"
}

expect_failure panic "fail=panic" 60 "reported failure" \
	"panic: cpu 0: injected by fail=panic" "backtrace"
# The probe of the same address first must not be reported (it returns
# E_FAULT); the plain write after it must.
expect_failure page_fault "fail=fault" 60 "reported failure" \
	"boot: probe_read_u64\(0x1000\): E_FAULT" \
	"exception 14 \(page fault\) on CPU 0, error code 0x2" \
	"cr2 0000000000001000" "rip "
expect_failure triple_fault "fail=triple" 60 "shut down"
expect_failure hang "fail=hang" 10 "hang: no exit after 10 s"
expect_failure failed_selftest "fail=test torture_ms=100" 120 \
	"reported failure" "selftest: [0-9]+ passed, 1 failed"
expect_failure bad_command_line "fail=bogus" 60 "reported failure" \
	"bad command line word 'fail=bogus'"
expect_failure unknown_selftest "test=bogus" 60 "reported failure" \
	"selftest: no test named 'bogus'"

echo "test-kernel: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
