#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# atomfs layer-writer benchmark: build a squashfs layer from a directory tree
# and from a tar.gz, beside mksquashfs and tar2sqfs on the same input with the
# same compressor (zstd at each tool's default level, 15 for all three), block
# size and thread count.  Prints wall and CPU seconds (the median of REPEAT
# runs, tools interleaved so a busy machine hurts each alike) and ratios
# (other tool / atomfs: above 1.00 means atomfs is faster).  On a shared
# machine the CPU seconds are the steadier figure.
#
# Not a test and not part of 'make check'.  Run from the repository:
#   make -C userspace && userspace/bench/bench.sh
# Environment: BENCH_DIR (input tree, default /usr/share/locale),
#   BENCH_THREADS (default: CPUs), BENCH_REPEAT (default 3),
#   BENCH_WORK (scratch directory, default a new one under /tmp; kept when
#   given), BENCH_REPORT_ONLY=1 (print the report of an earlier BENCH_WORK), ATOMFS.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ATOMFS=${ATOMFS:-$here/../build/bin/atomfs}
DIR=${BENCH_DIR:-/usr/share/locale}
J=${BENCH_THREADS:-$(nproc)}
N=${BENCH_REPEAT:-3}
W=${BENCH_WORK:-$(mktemp -d /tmp/atomfs-bench.XXXXXX)}
B=131072

for t in mksquashfs tar2sqfs gzip /usr/bin/time; do
	command -v $t >/dev/null || { echo "bench: $t is missing (apt-get install squashfs-tools squashfs-tools-ng time)" >&2; exit 1; }
done
[ -x "$ATOMFS" ] || { echo "bench: build atomfs first: make -C userspace" >&2; exit 1; }

echo "# input: $DIR ($(du -sh "$DIR" | cut -f1), $(find "$DIR" | wc -l) entries); zstd, block $B, $J threads, median of $N runs"
echo "# $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
[ -f "$W/in.tar.gz" ] || tar -C "$DIR" -czf "$W/in.tar.gz" .
echo "# tar.gz: $(du -h "$W/in.tar.gz" | cut -f1)"
# warm the page cache so the first tool pays no cold-read penalty
tar -C "$DIR" -cf - . >/dev/null; cat "$W/in.tar.gz" >/dev/null

# run NAME CMD...: append "wall cpu" of one run to $W/NAME.times
run() {
	name=$1; shift
	rm -f "$W/out.sqfs"
	/usr/bin/time -f "%e %U %S" -o "$W/t" sh -c "$*" >/dev/null 2>&1 || { echo "bench: $name failed: $*" >&2; exit 1; }
	awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$W/t" >>"$W/$name.times"
	stat -c %s "$W/out.sqfs" >"$W/$name.size"
}
# median of column $2 of NAME's runs
best() { cut -d' ' -f"$2" "$W/$1.times" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

[ -n "${BENCH_REPORT_ONLY:-}" ] && N=0
[ "$N" -eq 0 ] || rm -f "$W"/*.times
for i in $(seq "$N"); do
	run atomfs-dir "$ATOMFS layer -q --compression zstd --block-size $B --threads $J '$DIR' '$W/out.sqfs'"
	run mksquashfs-dir "mksquashfs '$DIR' '$W/out.sqfs' -comp zstd -b $B -processors $J -noappend -quiet -no-progress"
	run atomfs-tgz "$ATOMFS layer -q --whiteouts --compression zstd --block-size $B --threads $J '$W/in.tar.gz' '$W/out.sqfs'"
	run tar2sqfs-tgz "gzip -dc '$W/in.tar.gz' | tar2sqfs -q -c zstd -b $B -j $J -f '$W/out.sqfs'"
	run mksquashfs-tgz "gzip -dc '$W/in.tar.gz' | mksquashfs - '$W/out.sqfs' -tar -comp zstd -b $B -processors $J -noappend -quiet -no-progress"
done

echo "# runs per tool: $(wc -l <"$W/atomfs-dir.times")"
printf '%-16s %9s %9s %12s %10s %10s\n' tool wall-s cpu-s size-bytes wall-ratio cpu-ratio
for pair in dir:atomfs-dir:mksquashfs-dir tgz:atomfs-tgz:tar2sqfs-tgz:mksquashfs-tgz; do
	IFS=:; set -- $pair; unset IFS
	ref=$2; shift
	for n in "$@"; do
		printf '%-16s %9s %9s %12s %10s %10s\n' "$n" "$(best $n 1)" "$(best $n 2)" "$(cat "$W/$n.size")" \
			"$(echo "$(best $n 1) $(best $ref 1)" | awk '{printf "%.2f", $1 / $2}')" \
			"$(echo "$(best $n 2) $(best $ref 2)" | awk '{printf "%.2f", $1 / $2}')"
	done
done
echo "# ratios: tool time / atomfs time for the same input (>1.00: atomfs faster)"
echo "# tar2sqfs and mksquashfs -tar read 'gzip -dc |' in a second process; atomfs decompresses in-process"
[ -n "${BENCH_WORK:-}" ] || rm -rf "$W"
