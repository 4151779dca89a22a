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
expect_failure page_fault "fail=fault" 60 "reported failure" \
	"exception 14 \(page fault\) on CPU 0" "cr2 0000000000001000" "rip "
expect_failure triple_fault "fail=triple" 60 "shut down"

# Protections (issue 9, findings 4 and 5): each must end in the exception
# report, not in "fail=... did not fail". The addresses come from the ELF.
sym() {
	nm "${kernel%.bin}.elf" |
		awk -v s="$1" '$3 == s { a = $1 } END { print a ? a : "no-symbol-" s }'
}
expect_failure stack_overflow "fail=stack_overflow" 60 "reported failure" \
	"exception 8 \(double fault\) on CPU 0" \
	"kernel stack overflow on CPU 0 \(stack \[0x[0-9a-f]+, 0x[0-9a-f]+\), guard at 0x"
expect_failure stack_overflow_ap "fail=stack_overflow_ap" 60 "reported failure" \
	"exception 8 \(double fault\) on CPU 1" \
	"kernel stack overflow on CPU 1 \(stack \[0xffffff0[0-9a-f]+, 0x[0-9a-f]+\), guard at"
# Error codes: 0x3 = present | write, 0x11 = present | instruction fetch.
expect_failure write_text "fail=write_text" 60 "reported failure" \
	"exception 14 \(page fault\) on CPU 0, error code 0x3\b" \
	"cr2 $(sym kernel_main)"
expect_failure write_rodata "fail=write_rodata" 60 "reported failure" \
	"exception 14 \(page fault\) on CPU 0, error code 0x3\b" \
	"cr2 $(sym rodata_word)"
expect_failure exec_direct "fail=exec_direct" 60 "reported failure" \
	"exception 14 \(page fault\) on CPU 0, error code 0x11\b" \
	"cr2 ffff8"
expect_failure hang "fail=hang" 10 "hang: no exit after 10 s"
expect_failure failed_selftest "fail=test torture_ms=100" 120 \
	"reported failure" "selftest: [0-9]+ passed, 1 failed"
expect_failure bad_command_line "fail=bogus" 60 "reported failure" \
	"bad command line word 'fail=bogus'"
expect_failure unknown_selftest "test=bogus" 60 "reported failure" \
	"selftest: no test named 'bogus'"

echo "test-kernel: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
