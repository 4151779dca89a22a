#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages the project needs, only those missing.
# Fast when everything is there: one `dpkg-query` per package, no network.
# Needs only what every Debian system has (bash, dpkg-query, apt-get, id),
# so it can run before anything is installed, make included (.ci/run).
#   usage: tools/deps.sh [EXTRA_PACKAGE...]   (make debug adds gdb)
set -euo pipefail

PACKAGES=(
	make gcc g++ clang libclang-rt-14-dev binutils   # compilers, sanitizer runtimes
	libck-dev liburcu-dev libcmocka-dev libbenchmark-dev
	libjemalloc-dev libmimalloc-dev                   # make bench-heap's baselines
	qemu-system-x86                                   # the kernel runs here
	spin                                              # model checking (make verify)
	python3 python3-matplotlib                        # tools/plot
	"$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
	# Not through `| grep -q`: under pipefail, grep exiting at the first
	# match could make dpkg-query's SIGPIPE read as "missing".
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PACKAGES[@]} packages installed"
	exit 0
fi

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages and not root; run as root: apt-get install -y ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
