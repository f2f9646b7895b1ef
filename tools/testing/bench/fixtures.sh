#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fixtures.sh DIR quick|full: the squashfs layer blobs `make bench` measures,
# made on the host (cached in DIR: a set is made once), and DIR/fixtures.tar
# holding the sets the run needs, which the guest unpacks onto its ext4
# scratch disk. Each set has a list, SET.list: "SHA256HEX RELPATH" lines,
# base layer first.
#
#   L/NNNN      1000 layers (quick: 100): the base holds h0000..h1999 and
#               a/b/c/d/e; every layer holds lNNNN and the directories
#               a/b/c/d (merged in every layer, as /usr/lib is)
#   flatN       one squashfs holding the merged tree of L's first N layers
#   rK/J        the same 10,000 entries r/e00000..e09999 spread over K
#               layers, K = 1, 100, 500
#   big         one 256 MiB file "data" of random bytes (read, verify);
#               quick: big64, 64 MiB (the 9p copy into the guest is slow)
#   small       10,000 files of 4 KiB in s/ (one layer)
#   v/J         16 blobs of 16 MiB of random bytes (parallel verification)
#   m-COMP-BS/J 50 layers like L's 1..50 plus a 64 KiB text file, with
#               COMP in gzip xz lz4 zstd and block size BS 128K, 1M
set -euo pipefail
F=${1:?usage: fixtures.sh DIR quick|full}
mode=${2:?usage: fixtures.sh DIR quick|full}
mkdir -p "$F"
F=$(cd "$F" && pwd)
T=$(mktemp -d "$F/tmp.XXXXXX")
trap 'rm -rf "$T"' EXIT
SQ=(-noappend -quiet -no-progress -processors 1)

# l_tree DIR I: the content of layer I of L.
l_tree() {
	mkdir -p "$1/a/b/c/d"
	: >"$1/$(printf l%04d "$2")"
	if [ "$2" = 0 ]; then
		(cd "$1" && touch h{0000..1999} && echo deep >a/b/c/d/e)
	fi
}

# set_done NAME: the set exists with its list.
set_done() { [ -f "$F/$1.list" ]; }
finish_set() { # NAME: write its list
	(cd "$F" && find "$1" -name '*.sqfs' | sort | xargs sha256sum >"$T/list" && mv "$T/list" "$F/$1.list")
}

nl=1000
[ "$mode" = quick ] && nl=100
if ! set_done "L$nl"; then
	echo "bench: making $nl layers (L)"
	mkdir -p "$F/L"
	for ((i = 0; i < nl; i++)); do
		f=$(printf '%s/L/%04d.sqfs' "$F" "$i")
		[ -f "$f" ] && continue
		rm -rf "$T/d" && l_tree "$T/d" "$i"
		mksquashfs "$T/d" "$f.tmp" "${SQ[@]}" >/dev/null && mv "$f.tmp" "$f"
	done
	(cd "$F" && for ((i = 0; i < nl; i++)); do printf 'L/%04d.sqfs\n' "$i"; done |
		xargs sha256sum >"$T/list" && mv "$T/list" "$F/L$nl.list")
fi

counts="1 100"
[ "$mode" = quick ] || counts="1 10 100 500"
for n in $counts; do
	set_done "flat$n" && continue
	rm -rf "$T/d"
	for ((i = 0; i < n; i++)); do l_tree "$T/d" "$i"; done
	mkdir -p "$F/flat$n"
	mksquashfs "$T/d" "$F/flat$n/0.sqfs" "${SQ[@]}" >/dev/null
	finish_set "flat$n"
done

# random FILE MIB
random() { head -c "$(($2 * 1048576))" /dev/urandom >"$1"; }
big=big mib=256
[ "$mode" = quick ] && big=big64 mib=64
if ! set_done $big; then
	echo "bench: making the $mib MiB blob ($big)"
	rm -rf "$T/d" && mkdir -p "$T/d" "$F/$big"
	random "$T/d/data" $mib
	mksquashfs "$T/d" "$F/$big/0.sqfs" -noappend -quiet -no-progress >/dev/null
	finish_set $big
fi
[ "$mode" = quick ] && sets="L$nl flat1 flat100 big64" || {
	for k in 1 100 500; do
		set_done "r$k" && continue
		echo "bench: making 10,000 entries over $k layers (r$k)"
		mkdir -p "$F/r$k"
		per=$((10000 / k))
		for ((j = 0; j < k; j++)); do
			rm -rf "$T/d" && mkdir -p "$T/d/r"
			(cd "$T/d/r" && eval "touch \$(seq -f e%05g $((j * per)) $(((j + 1) * per - 1)))")
			mksquashfs "$T/d" "$(printf '%s/r%d/%04d.sqfs' "$F" "$k" "$j")" "${SQ[@]}" >/dev/null
		done
		finish_set "r$k"
	done
	if ! set_done small; then
		echo "bench: making 10,000 files of 4 KiB (small)"
		rm -rf "$T/d" && mkdir -p "$T/d/s" "$F/small"
		for ((i = 0; i < 10000; i++)); do
			printf '%04096d' "$i" >"$T/d/s/$i"
		done
		mksquashfs "$T/d" "$F/small/0.sqfs" -noappend -quiet -no-progress >/dev/null
		finish_set small
	fi
	if ! set_done v; then
		echo "bench: making 16 blobs of 16 MiB (v)"
		mkdir -p "$F/v"
		for ((j = 0; j < 16; j++)); do
			rm -rf "$T/d" && mkdir -p "$T/d"
			random "$T/d/data" 16
			mksquashfs "$T/d" "$(printf '%s/v/%02d.sqfs' "$F" "$j")" -noappend -quiet -no-progress -noD >/dev/null
		done
		finish_set v
	fi
	for c in gzip xz lz4 zstd; do
		for bs in 128K 1M; do
			s=m-$c-$bs
			set_done "$s" && continue
			echo "bench: making 50 layers with $c, block size $bs ($s)"
			mkdir -p "$F/$s"
			for ((j = 0; j < 50; j++)); do
				rm -rf "$T/d" && l_tree "$T/d" $((j + 1))
				seq 1 12000 >"$T/d/text"
				mksquashfs "$T/d" "$(printf '%s/%s/%02d.sqfs' "$F" "$s" "$j")" "${SQ[@]}" \
					-comp "$c" -b "$bs" >/dev/null
			done
			finish_set "$s"
		done
	done
	sets="L$nl flat1 flat10 flat100 flat500 big r1 r100 r500 small v"
	for c in gzip xz lz4 zstd; do sets="$sets m-$c-128K m-$c-1M"; done
}

# The tar the guest unpacks: the sets' blobs and lists.
stamp=$(echo "$sets" | sha256sum | cut -c1-12)
if [ ! -f "$F/fixtures-$stamp.tar" ]; then
	rm -f "$F"/fixtures-*.tar
	(cd "$F" && tar -cf "$T/f.tar" $(for s in $sets; do echo "$s.list"; cut -d' ' -f3 "$s.list"; done))
	mv "$T/f.tar" "$F/fixtures-$stamp.tar"
fi
echo "$F/fixtures-$stamp.tar"
