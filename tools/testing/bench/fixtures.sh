#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fixtures.sh DIR quick|full [BENCH]...: the squashfs layer blobs `make bench`
# measures, made on the host (cached in DIR: a set is made once), and
# DIR/fixtures-STAMP.tar holding the sets the benchmarks BENCH (default: all
# of MODE's) need, which the guest unpacks onto its ext4 scratch disk. Each
# set has a list, SET.list: "SHA256HEX RELPATH" lines, base layer first.
# Progress goes to stderr; the tar's path is the last line of stdout.
#
#   L/NNNN      4096 layers (mount4096; else 1000; quick: 100): the base
#               holds h0000..h1999 and
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
F=${1:?usage: fixtures.sh DIR quick|full [BENCH]...}
mode=${2:?usage: fixtures.sh DIR quick|full [BENCH]...}
shift 2
which=" ${*:-mount lookup readdir read small mem verify} "
wants() { [[ "$which" == *" $1 "* ]]; }
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

# par CMD...: run in the background, at most $(nproc) at once.
par() {
	while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n; done
	"$@" &
}
mk_l() { # I: layer I of L
	local f d
	f=$(printf '%s/L/%04d.sqfs' "$F" "$1")
	[ -f "$f" ] && return 0
	d=$T/l$1
	rm -rf "$d" && l_tree "$d" "$1"
	mksquashfs "$d" "$f.tmp" "${SQ[@]}" >/dev/null && mv "$f.tmp" "$f" && rm -rf "$d"
}

sets=
nl=0
wants lookup && nl=1000
wants mount && nl=1000
wants mount4096 && [ "$mode" = full ] && nl=4096
[ "$mode" = quick ] && [ $nl -gt 0 ] && nl=100
if [ $nl -gt 0 ] && ! set_done "L$nl"; then
	echo "bench: making $nl layers (L)" >&2
	mkdir -p "$F/L"
	for ((i = 0; i < nl; i++)); do par mk_l $i; done
	wait
	(cd "$F" && for ((i = 0; i < nl; i++)); do printf 'L/%04d.sqfs\n' "$i"; done |
		xargs sha256sum >"$T/list" && mv "$T/list" "$F/L$nl.list")
fi
[ $nl -gt 0 ] && sets="L$nl"

counts=
wants lookup && counts="1 100" && [ "$mode" = full ] && counts="1 10 100 500"
for n in $counts; do
	sets="$sets flat$n"
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
if { wants verify || { wants read && [ "$mode" = full ]; }; } && ! set_done $big; then
	echo "bench: making the $mib MiB blob ($big)" >&2
	rm -rf "$T/d" && mkdir -p "$T/d" "$F/$big"
	random "$T/d/data" $mib
	mksquashfs "$T/d" "$F/$big/0.sqfs" -noappend -quiet -no-progress >/dev/null
	finish_set $big
fi
{ wants verify || { wants read && [ "$mode" = full ]; }; } && sets="$sets $big"
if [ "$mode" = full ]; then
	if wants readdir; then
		for k in 1 100 500; do
			sets="$sets r$k"
			set_done "r$k" && continue
			echo "bench: making 10,000 entries over $k layers (r$k)" >&2
			mkdir -p "$F/r$k"
			per=$((10000 / k))
			for ((j = 0; j < k; j++)); do
				rm -rf "$T/d" && mkdir -p "$T/d/r"
				(cd "$T/d/r" && eval "touch \$(seq -f e%05g $((j * per)) $(((j + 1) * per - 1)))")
				mksquashfs "$T/d" "$(printf '%s/r%d/%04d.sqfs' "$F" "$k" "$j")" "${SQ[@]}" >/dev/null
			done
			finish_set "r$k"
		done
	fi
	if wants small && ! set_done small; then
		echo "bench: making 10,000 files of 4 KiB (small)" >&2
		rm -rf "$T/d" && mkdir -p "$T/d/s" "$F/small"
		for ((i = 0; i < 10000; i++)); do
			printf '%04096d' "$i" >"$T/d/s/$i"
		done
		mksquashfs "$T/d" "$F/small/0.sqfs" -noappend -quiet -no-progress >/dev/null
		finish_set small
	fi
	wants small && sets="$sets small"
	if wants verify && ! set_done v; then
		echo "bench: making 16 blobs of 16 MiB (v)" >&2
		mkdir -p "$F/v"
		for ((j = 0; j < 16; j++)); do
			rm -rf "$T/d" && mkdir -p "$T/d"
			random "$T/d/data" 16
			mksquashfs "$T/d" "$(printf '%s/v/%02d.sqfs' "$F" "$j")" -noappend -quiet -no-progress -noD >/dev/null
		done
		finish_set v
	fi
	wants verify && sets="$sets v"
	mk_m() { # SET COMP BS J
		local d=$T/m$4 f
		rm -rf "$d" && l_tree "$d" $(($4 + 1))
		seq 1 12000 >"$d/text"
		f=$(printf '%s/%s/%02d.sqfs' "$F" "$1" "$4")
		mksquashfs "$d" "$f.tmp" "${SQ[@]}" -comp "$2" -b "$3" >/dev/null &&
			mv "$f.tmp" "$f" && rm -rf "$d"
	}
	if wants mem; then
		for c in gzip xz lz4 zstd; do
			for bs in 128K 1M; do
				s=m-$c-$bs
				sets="$sets $s"
				set_done "$s" && continue
				echo "bench: making 50 layers with $c, block size $bs ($s)" >&2
				mkdir -p "$F/$s"
				for ((j = 0; j < 50; j++)); do par mk_m "$s" $c $bs $j; done
				wait
				[ "$(ls "$F/$s" | grep -c '\.sqfs$')" = 50 ] ||
					{ echo "fixtures.sh: a layer of $s failed (above)" >&2; exit 1; }
				finish_set "$s"
			done
		done
	fi
fi

# The tar the guest unpacks: the sets' blobs and lists.
[ -n "$sets" ] || { echo "fixtures.sh: no layer set for '$*' in a $mode run" >&2; exit 1; }
stamp=$(echo "$sets" | sha256sum | cut -c1-12)
if [ ! -f "$F/fixtures-$stamp.tar" ]; then
	rm -f "$F"/fixtures-*.tar
	(cd "$F" && tar -cf "$T/f.tar" $(for s in $sets; do echo "$s.list"; cut -d' ' -f3 "$s.list"; done))
	mv "$T/f.tar" "$F/fixtures-$stamp.tar"
fi
echo "$F/fixtures-$stamp.tar"
