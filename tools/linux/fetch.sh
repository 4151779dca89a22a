#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetch Debian's stock Linux kernel, the headers to build a module against
# it, and a static busybox, into a directory (default build/linux/),
# without installing anything: `apt-get download` and `dpkg-deb -x`.
#
#   usage: tools/linux/fetch.sh [DIR]
#
# What is fetched is what apt resolves now on this machine, the versions
# pinned by the package lists (as `make deps` resolves its packages):
#   linux-image-amd64    -> linux-image-<abi>-amd64      (only /boot of it)
#   linux-headers-amd64  -> linux-headers-<abi>-amd64, linux-headers-<abi>-common,
#                           linux-kbuild-<major.minor>
#   busybox-static
# DIR/versions.json records every package's name and version and the
# kernel release; DIR/root/ holds the extracted trees; DIR/vmlinuz and
# DIR/headers (the module build directory) are links into it.
#
# The headers package's Makefile includes the common headers by an
# absolute /usr/src path; it is rewritten to point into DIR/root (the only
# edit), so that nothing under /usr/src is needed, and rewritten again
# whenever DIR is found moved or copied.
#
# Idempotent: a directory whose versions.json names the packages apt
# resolves now is left alone. Exit status: 0 done, 1 failed (said why).
set -euo pipefail

die() { echo "linux-fetch: $*" >&2; exit 1; }

dir=${1:-build/linux}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# The package a metapackage depends on whose name starts with prefix.
depends_on() {
	apt-cache depends "$1" 2>/dev/null | sed -n "s/^  Depends: \($2[^ ]*\)\$/\1/p" | head -1
}
candidate() {
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^  Candidate: //p'
}

# Package lists: `apt-get update` once, only if apt knows no candidate.
if [ -z "$(candidate linux-image-amd64)" ] || [ "$(candidate linux-image-amd64)" = "(none)" ]; then
	[ "$(id -u)" -eq 0 ] || die "apt has no package lists and this is not root: run apt-get update"
	echo "linux-fetch: apt-get update"
	apt-get update -q >/dev/null
fi

image=$(depends_on linux-image-amd64 linux-image-)
headers=$(depends_on linux-headers-amd64 linux-headers-)
[ -n "$image" ] && [ -n "$headers" ] ||
	die "cannot resolve linux-image-amd64 / linux-headers-amd64 (apt-cache depends)"
common=$(depends_on "$headers" linux-headers-)
kbuild=$(depends_on "$headers" linux-kbuild-)
[ -n "$common" ] && [ -n "$kbuild" ] || die "cannot resolve what $headers depends on"
release=${image#linux-image-}
packages=("$image" "$headers" "$common" "$kbuild" busybox-static)

# The record of what is (to be) there: name=version, one per line, sorted.
want=""
pins=()
for p in "${packages[@]}"; do
	v=$(candidate "$p")
	[ -n "$v" ] && [ "$v" != "(none)" ] || die "apt has no candidate for $p"
	want+="$p=$v"$'\n'
	pins+=("$p=$v")
done

# Point the headers' Makefile at the common headers in this directory:
# after a fetch, and again when the directory was moved or copied.
point_headers() {
	local mk="$dir/root/usr/src/$headers/Makefile"
	sed -i "s#^include .*/usr/src/\($common/Makefile\)\$#include $dir/root/usr/src/\1#" "$mk"
	grep -qx "include $dir/root/usr/src/$common/Makefile" "$mk" ||
		die "$headers/Makefile does not include $common's as expected"
}

if [ -f "$dir/versions.txt" ] && [ "$(cat "$dir/versions.txt")" = "${want%$'\n'}" ] &&
	[ -e "$dir/vmlinuz" ] && [ -e "$dir/headers/Makefile" ] && [ -x "$dir/root/bin/busybox" ]; then
	point_headers
	echo "linux-fetch: $release already in $dir"
	exit 0
fi

echo "linux-fetch: downloading ${packages[*]}"
rm -rf "$dir/debs" "$dir/root" "$dir/vmlinuz" "$dir/headers" "$dir/versions.txt" "$dir/versions.json"
mkdir -p "$dir/debs" "$dir/root"
# As root, apt drops to _apt for downloads, which cannot write here:
# download in a directory it may write, then move.
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "${pins[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
for p in "${packages[@]}"; do
	ls "$tmp/${p}_"*.deb >/dev/null 2>&1 || die "apt-get download did not fetch $p"
done
mv "$tmp"/*.deb "$dir/debs/"

for deb in "$dir"/debs/*.deb; do
	case "$(basename "$deb")" in
	linux-image-*)
		# Only the kernel itself and its configuration (not 400 MB of modules).
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir/root" ./boot ;;
	*)
		dpkg-deb -x "$deb" "$dir/root" ;;
	esac
done

[ -f "$dir/root/usr/src/$headers/Makefile" ] || die "$headers has no Makefile at usr/src/$headers"
point_headers
ln -s "root/boot/vmlinuz-$release" "$dir/vmlinuz"
ln -s "root/usr/src/$headers" "$dir/headers"
[ -x "$dir/root/bin/busybox" ] || die "busybox-static has no bin/busybox"

printf '%s\n' "${want%$'\n'}" >"$dir/versions.txt"
{
	printf '{"release": "%s", "packages": {' "$release"
	first=1
	while IFS== read -r p v; do
		[ $first -eq 1 ] || printf ', '
		printf '"%s": "%s"' "$p" "$v"
		first=0
	done <"$dir/versions.txt"
	printf '}}\n'
} >"$dir/versions.json"
echo "linux-fetch: $release in $dir ($(cat "$dir/versions.json"))"
