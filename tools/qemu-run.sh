#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Boot the kernel under QEMU and turn the run into pass or fail.
#
#   tools/qemu-run.sh [options] build/kernel/kernel.bin
#     --smp N[,TOPO]   vCPUs (1..255, default: host CPUs), optionally with
#                      QEMU's topology keys, e.g. 4,sockets=2,cores=3,maxcpus=6
#                      (non-contiguous APIC ids)
#     --mem SIZE       RAM, QEMU syntax: 512M, 1G (default 1G)
#     --accel A        kvm, tcg or auto (default auto: see below)
#     --append CMD     kernel command line (see kernel/main.c)
#     --initrd FILE    an initramfs (QEMU's -initrd): for a Linux kernel
#                      image, whose benchmark module (bench/linux/) leaves
#                      QEMU through the same exit device with our codes
#     --timeout S      a run that has not exited after S seconds is a hang
#                      (default 600)
#     --log FILE       keep the serial output here (default
#                      build/kernel/logs/smp<N>-<accel>.log)
#     --quiet          print only the summary lines, and the log's tail on
#                      failure
#     --print-accel    print the accelerator --accel resolves to (kvm or
#                      tcg; auto probes as below) and exit without booting,
#                      so that a series of boots decides once
#     --gdb            start stopped, with a gdb stub on :1234, no timeout,
#                      serial output to the log; runs gdb with
#                      tools/gdb/kernel.gdb when stdin is a terminal
#
# Pass: QEMU exits through the isa-debug-exit device with the kernel's
# success code (QEMU reports (code << 1) | 1 = 33) and the serial output
# has "selftest: N passed, 0 failed" (N >= 1), or for a command line with a
# bench= word (benchmark mode, no self-tests) "bench: N passed, 0 failed";
# a command line that says "probe" needs only the exit code.
# A panic or exception exits with 35; a triple fault shuts the machine
# down (-no-reboot), which QEMU reports as 0; a hang hits the timeout.
# All of these fail.
#
# ACCEL=auto uses KVM only when /dev/kvm opens *and* a probe boot (which
# touches 256 MiB) is not slower under KVM than under TCG: where /dev/kvm
# is nested virtualization, memory-touching code has been measured ~40x
# slower under KVM. Every run prints the accelerator it used.
set -uo pipefail

die() { echo "qemu-run: $*" >&2; exit 2; }

smp=$(nproc)
mem=1G
accel=auto
append=""
initrd=""
timeout_s=600
log=""
quiet=0
gdb=0
print_accel=0
kernel=""

while [ $# -gt 0 ]; do
	case "$1" in
	--smp) smp=${2:-}; shift 2 || die "--smp needs a value" ;;
	--mem) mem=${2:-}; shift 2 || die "--mem needs a value" ;;
	--accel) accel=${2:-}; shift 2 || die "--accel needs a value" ;;
	--append) append=${2-}; shift 2 || die "--append needs a value" ;;
	--initrd) initrd=${2:-}; shift 2 || die "--initrd needs a value" ;;
	--timeout) timeout_s=${2:-}; shift 2 || die "--timeout needs a value" ;;
	--log) log=${2:-}; shift 2 || die "--log needs a value" ;;
	--quiet) quiet=1; shift ;;
	--gdb) gdb=1; shift ;;
	--print-accel) print_accel=1; shift ;;
	-h|--help) sed -n '2,35p' "$0"; exit 0 ;;
	-*) die "unknown option '$1' (see --help)" ;;
	*) [ -z "$kernel" ] || die "one kernel image only"; kernel=$1; shift ;;
	esac
done

[ -n "$kernel" ] || die "no kernel image given (see --help)"
[ -r "$kernel" ] || die "cannot read kernel image '$kernel'"
[ -z "$initrd" ] || [ -r "$initrd" ] || die "cannot read initramfs '$initrd'"
# The probe boot is our kernel's ("probe" on its command line).
[ -z "$initrd" ] || [ "$accel" != auto ] ||
	die "--initrd needs --accel kvm or tcg (decide with --print-accel on our kernel)"
[[ "$smp" =~ ^([0-9]+)(,[a-z-]+=[0-9]+)*$ ]] &&
	[ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le 255 ] ||
	die "--smp must be 1..255, optionally followed by ,key=N topology keys, not '$smp'"
[[ "$mem" =~ ^[0-9]+[MG]$ ]] || die "--mem must look like 512M or 2G, not '$mem'"
[[ "$timeout_s" =~ ^[0-9]+$ ]] && [ "$timeout_s" -ge 1 ] ||
	die "--timeout must be a number of seconds, not '$timeout_s'"
case "$accel" in kvm|tcg|auto) ;; *) die "--accel must be kvm, tcg or auto, not '$accel'" ;; esac
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (make deps)"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# qemu_cmd ACCEL SMP MEM APPEND: the command line, in the array `cmd`.
qemu_cmd() {
	local a=$1 n=$2 m=$3 app=$4
	cmd=(qemu-system-x86_64 -smp "$n" -m "$m" -kernel "$kernel"
	     -append "$app" -display none -serial stdio -monitor none
	     -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04)
	[ -z "$initrd" ] || cmd+=(-initrd "$initrd")
	if [ "$a" = kvm ]; then
		# -arch-capabilities: nested KVM here rejects that MSR (QEMU
		# aborts: "failed to set MSR 0x10a"); the kernel never reads it.
		cmd+=(-accel kvm -cpu host,-arch-capabilities)
	else
		cmd+=(-accel tcg,thread=multi -cpu max)
	fi
}

kvm_usable() {
	[ -e /dev/kvm ] && { exec 3<>/dev/kvm; } 2>/dev/null && exec 3>&-
}

# One probe boot: prints its wall time in seconds, or why there is none.
probe_time() {
	local a=$1 limit=$2 t0 t1 rc
	qemu_cmd "$a" 1 512M probe
	t0=$(now)
	timeout -k 2 "$limit" "${cmd[@]}" >/dev/null 2>&1 </dev/null
	rc=$?
	t1=$(now)
	case $rc in
	33) elapsed "$t0" "$t1" ;;
	124|137) echo ">${limit} s (stopped)" ;;
	*) echo "failed (exit $rc)" ;;
	esac
}
# A probe result for people: seconds get their unit.
with_unit() { if [[ "$1" =~ ^[0-9.]+$ ]]; then echo "$1 s"; else echo "$1"; fi; }

pick_accel() {
	local tcg kvm limit
	if ! kvm_usable; then
		echo "qemu-run: accel=auto: /dev/kvm does not open: TCG" >&2
		accel=tcg
		return
	fi
	tcg=$(probe_time tcg 60)
	# KVM gets twice TCG's time plus slack; slower than that is slower.
	limit=$(awk -v t="$tcg" 'BEGIN { if (t + 0 > 0) printf "%d", 2 * t + 5; else print 60 }')
	kvm=$(probe_time kvm "$limit")
	if [[ "$kvm" =~ ^[0-9.]+$ ]] && [[ "$tcg" =~ ^[0-9.]+$ ]] &&
	   awk -v k="$kvm" -v t="$tcg" 'BEGIN { exit !(k <= t) }'; then
		accel=kvm
	elif [[ "$kvm" =~ ^[0-9.]+$ ]] && ! [[ "$tcg" =~ ^[0-9.]+$ ]]; then
		accel=kvm
	else
		accel=tcg
	fi
	echo "qemu-run: accel=auto: probe boot (touch 256 MiB) took tcg $(with_unit "$tcg"), kvm $(with_unit "$kvm"): $(echo $accel | tr a-z A-Z)" >&2
}

if [ "$accel" = auto ]; then
	pick_accel
elif [ "$accel" = kvm ] && ! kvm_usable; then
	die "--accel kvm: /dev/kvm does not open"
fi
if [ $print_accel -eq 1 ]; then
	echo "$accel"
	exit 0
fi

[ -n "$log" ] || log="build/kernel/logs/smp${smp}-${accel}.log"
mkdir -p "$(dirname "$log")"
qemu_cmd "$accel" "$smp" "$mem" "$append"

if [ $gdb -eq 1 ]; then
	# Serial output to the log, so that it does not mix with gdb's.
	cmd=("${cmd[@]/#stdio/file:$log}")
	"${cmd[@]}" -s -S </dev/null &
	qemu_pid=$!
	trap 'kill $qemu_pid 2>/dev/null' EXIT
	echo "qemu-run: QEMU stopped at the first instruction, gdb stub on :1234; serial output in $log" >&2
	if [ -t 0 ] && command -v gdb >/dev/null; then
		gdb -q -x tools/gdb/kernel.gdb
	else
		echo "qemu-run: attach with: gdb -x tools/gdb/kernel.gdb" >&2
		wait $qemu_pid
	fi
	exit 0
fi

echo "qemu-run: ${cmd[*]}" >&2
t0=$(now)
if [ $quiet -eq 1 ]; then
	timeout -k 5 "$timeout_s" "${cmd[@]}" </dev/null >"$log" 2>&1
	rc=$?
	# The kernel's own words: "exception N (...) on CPU n", panics, the
	# halt summary after either, smp_call's watchdog; the self-tests' and
	# the benchmarks' summaries and failures.
	grep -E "CPUs online|selftest: (PASS|FAIL)|^bench: .* FAILED|passed, .* failed|panic|^exception |^halt: |^smp_call: " "$log"
else
	timeout -k 5 "$timeout_s" "${cmd[@]}" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
fi
t1=$(now)
secs=$(elapsed "$t0" "$t1")

verdict=""
case $rc in
33) ;;
35) verdict="the kernel reported failure (exit code 35)" ;;
0) verdict="the machine shut down without the kernel's exit (triple fault?)" ;;
124|137) verdict="hang: no exit after ${timeout_s} s" ;;
*) verdict="QEMU exited with $rc" ;;
esac
# Benchmark mode runs no self-tests: its own summary counts instead.
summary=selftest
[[ " $append " == *" bench="* ]] && summary=bench
if [ -z "$verdict" ] && [[ " $append " != *" probe "* ]] &&
   ! grep -Eq "^$summary: [1-9][0-9]* passed, 0 failed" "$log"; then
	verdict="exit code said success but no '$summary: N passed, 0 failed' line"
fi

# The addresses of a panic's or an exception's backtrace, with names.
symbolize() {
	local elf=${kernel%.bin}.elf addrs
	[ -r "$elf" ] && command -v addr2line >/dev/null || return 0
	addrs=$(grep -Eo '^  #[0-9 ]+ ?0x[0-9a-f]+' "$log" | grep -Eo '0x[0-9a-f]+')
	[ -n "$addrs" ] || return 0
	echo "--- backtrace ($elf):"
	# shellcheck disable=SC2086
	addr2line -f -i -p -e "$elf" $addrs | sed 's/^/  /'
}

if [ -n "$verdict" ]; then
	[ $quiet -eq 1 ] && { echo "--- last 40 lines of $log:"; tail -n 40 "$log"; }
	symbolize
	echo "qemu-run: FAIL smp=$smp mem=$mem accel=$accel (${secs} s): $verdict"
	exit 1
fi
echo "qemu-run: PASS smp=$smp mem=$mem accel=$accel (${secs} s, log $log)"
