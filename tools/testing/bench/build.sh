#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh OUT quick|full REPS: on the host, the image writers. Appends
# records (benchmark, system, n = threads or images, rep, value, unit) to OUT.
#   build-dir   one squashfs layer from a directory: atomfs build --layer,
#               mksquashfs, gensquashfs (zstd, 128 KiB blocks, same
#               threads), mkfs.erofs (lz4hc: erofs-utils 1.5 has no zstd)
#   build-tgz   a layer from a tar.gz: atomfs build --layer X.tar.gz (the
#               import path) against gzip -dc | tar2sqfs
#   image-size  the same content (a base: /usr/lib/python3; dependencies:
#               /usr/share/perl, /usr/share/zoneinfo; small applications)
#               as an OCI image of tar.gz layers made by
#               umoci and as an atomfs image: one image, and three images
#               sharing a base and two dependency layers (blobs stored once)
# Wall seconds, CPU seconds (user + system) and output bytes; tools
# interleaved in each repetition. Environment: BENCH_DIR (the tree, default
# /usr/share/perl), ATOMFS, IMAGE_ONLY=1 (image-size only).
set -euo pipefail
OUT=${1:?} MODE=${2:?} REPS=${3:?}
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
ATOMFS=${ATOMFS:-$TOP/userspace/build/bin/atomfs}
DIR=${BENCH_DIR:-/usr/share/perl}
J=$(nproc)
B=131072
W=$(mktemp -d /tmp/atomfs-bench-build.XXXXXX)
trap 'rm -rf "$W"' EXIT
export SOURCE_DATE_EPOCH=1
for t in mksquashfs gensquashfs tar2sqfs mkfs.erofs umoci /usr/bin/time; do
	command -v $t >/dev/null || { echo "build.sh: $t is missing: run 'make deps'" >&2; exit 1; }
done
[ -x "$ATOMFS" ] || { echo "build.sh: $ATOMFS is missing: run 'make'" >&2; exit 1; }

rec() { # BENCH SYSTEM N REP VALUE UNIT
	printf '{"benchmark": "%s", "system": "%s", "n": %d, "rep": %d, "value": %s, "unit": "%s"}\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" >>"$OUT"
	printf '  %-22s %-12s n=%-5d rep=%d %12s %s\n' "$1" "$2" "$3" "$4" "$5" "$6"
}
# run BENCH SYSTEM REP CMD: wall, cpu and size of $W/out
run() {
	local bench=$1 sys=$2 r=$3
	shift 3
	rm -rf "$W/out" "$W/oci"
	/usr/bin/time -f "%e %U %S" -o "$W/t" sh -c "$*" >/dev/null 2>"$W/err" ||
		{ echo "build.sh: $sys failed: $*" >&2; cat "$W/err" >&2; exit 1; }
	rec "$bench" "$sys" "$J" "$r" "$(cut -d' ' -f1 "$W/t")" s
	rec "$bench-cpu" "$sys" "$J" "$r" "$(awk '{ print $2 + $3 }' "$W/t")" s
	if [ -d "$W/oci" ]; then # the layer blob: the largest file of the layout
		rec "$bench-size" "$sys" "$J" "$r" "$(find "$W/oci/blobs" -type f -printf '%s\n' | sort -n | tail -n1)" bytes
	else
		rec "$bench-size" "$sys" "$J" "$r" "$(stat -c %s "$W/out")" bytes
	fi
}

echo "== build: $DIR ($(du -sh "$DIR" | cut -f1), $(find "$DIR" | wc -l) entries), $J threads, host load $(cut -d' ' -f1-3 /proc/loadavg)"
# build-tgz: `atomfs import` of an OCI image whose one layer is the tree as
# a tar.gz (umoci adds it verbatim and gzips it), against tar2sqfs reading
# that same layer blob through gzip -dc. QUICK has no build-tgz.
if [ "$MODE" != quick ]; then
	tar -C "$DIR" -cf "$W/in.tar" .
	rm -rf "$W/src"
	umoci init --layout "$W/src" && umoci new --image "$W/src:t" &&
		umoci raw add-layer --image "$W/src:t" "$W/in.tar" ||
		{ echo "build.sh: umoci could not make the tar.gz source image" >&2; exit 1; }
	rm -f "$W/in.tar"
	# the layer: the largest blob of the source layout
	TGZ=$(find "$W/src/blobs" -type f -printf '%s %p\n' | sort -n | tail -n1 | cut -d' ' -f2)
fi
tar -C "$DIR" -cf - . >/dev/null # the page cache: no tool pays the cold read
for r in $(seq 1 "$REPS"); do
	[ -n "${IMAGE_ONLY:-}" ] && break
	# The writers in a different order in each repetition: none always
	# runs first (or after the same one's write-back).
	for i in $(seq 0 3); do
		case $(((i + r - 1) % 4)) in
		0) run build-dir atomfs "$r" "'$ATOMFS' build -q --compression zstd --block-size $B --threads $J --layer '$DIR' oci:'$W/oci':t" ;;
		1) run build-dir mksquashfs "$r" "mksquashfs '$DIR' '$W/out' -comp zstd -b $B -processors $J -noappend -quiet -no-progress" ;;
		2) run build-dir gensquashfs "$r" "gensquashfs -q -c zstd -b $B -j $J -D '$DIR' '$W/out'" ;;
		3) run build-dir mkfs.erofs "$r" "mkfs.erofs --quiet -zlz4hc -C$B '$W/out' '$DIR'" ;;
		esac
	done
	[ "$MODE" = quick ] && continue
	for i in $(seq 0 1); do
		case $(((i + r - 1) % 2)) in
		0) run build-tgz atomfs "$r" "'$ATOMFS' import -q --compression zstd --block-size $B --threads $J oci:'$W/src':t oci:'$W/oci':t" ;;
		1) run build-tgz tar2sqfs "$r" "gzip -dc '$TGZ' | tar2sqfs -q -c zstd -b $B -j $J '$W/out'" ;;
		esac
	done
done
[ "$MODE" = quick ] && exit 0

# image-size: a base, two dependencies, three applications.
echo "== image size: umoci (tar.gz layers) against atomfs (squashfs zstd layers)"
mkdir -p "$W/tree/base" "$W/tree/dep1" "$W/tree/dep2"
cp -a /usr/lib/python3 "$W/tree/base/lib"
cp -a /usr/share/perl "$W/tree/dep1/perl"
cp -a /usr/share/zoneinfo "$W/tree/dep2/zoneinfo"
for a in 1 2 3; do
	mkdir -p "$W/tree/app$a/srv"
	seq 1 $((a * 20000)) >"$W/tree/app$a/srv/data"
done
blobs() { find "$1/blobs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }'; }
# umoci: each layer a repack of an unpacked bundle with the layer's tree added
U=$W/umoci
umoci init --layout "$U"
umoci new --image "$U:base"
layer() { # FROM TO TREE
	rm -rf "$W/b"
	umoci unpack --image "$U:$1" "$W/b" >/dev/null
	cp -a "$W/tree/$3"/. "$W/b/rootfs/"
	umoci repack --image "$U:$2" "$W/b" >/dev/null
}
layer base base base
layer base deps dep1
layer deps deps dep2
layer deps app1 app1
rec image-size umoci 1 1 "$(blobs "$U")" bytes
layer deps app2 app2
layer deps app3 app3
rec image-size umoci 3 1 "$(blobs "$U")" bytes
A=$W/atomfs
"$ATOMFS" build -q --layer "$W/tree/base" oci:"$A":base
"$ATOMFS" build -q --from oci:"$A":base --layer "$W/tree/dep1" --layer "$W/tree/dep2" oci:"$A":deps
"$ATOMFS" build -q --from oci:"$A":deps --layer "$W/tree/app1" oci:"$A":app1
rec image-size atomfs 1 1 "$(blobs "$A")" bytes
"$ATOMFS" build -q --from oci:"$A":deps --layer "$W/tree/app2" oci:"$A":app2
"$ATOMFS" build -q --from oci:"$A":deps --layer "$W/tree/app3" oci:"$A":app3
rec image-size atomfs 3 1 "$(blobs "$A")" bytes
