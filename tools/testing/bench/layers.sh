# SPDX-License-Identifier: GPL-2.0
# In the VM (run --disk): issue 12's figures. Cold mount time of N layers
# given as blob files (ATOMFS_LAYER_FILE) against one read-only direct-I/O
# loop device per layer (the previous path, flags 0), hashing included; and
# sequential read throughput of one big layer file-backed, loop-backed, and
# as a plain squashfs on a loop device without atomfs. The blobs are copied
# to the guest-local ext4 scratch disk first. Medians of REPS runs.
# $1: the directory with the blobs, $2: the layer counts, $3: REPS.
set -eu
B=$1
COUNTS=${2:-1 10 100 1000}
REPS=${3:-3}
S=/mnt/scratch/bench
M=/tmp/bench-mnt
LB="$B/layers_bench"
grep -q ' /mnt/scratch ext4 ' /proc/mounts || { echo "layers.sh: no ext4 scratch disk (vm/run --disk)" >&2; exit 1; }
mkdir -p $S/layers $M
cp "$B"/layers/*.sqfs $S/layers/
cp "$B"/read.sqfs $S/
awk -v d=$S/layers '{ print $1, d "/" $2 }' "$B/layers/digests" >$S/digests
rd=$(awk '$2 == "read.sqfs" { print $1 }' "$B/read.digest")
med() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== cold mount, N layers on ext4 (hashing included), median of $REPS"
echo "   (s: total = open/attach + CREATE_STACK + mount; ms/l: total per layer)"
printf '%6s %5s %9s %9s %9s %9s %8s\n' layers path total open stack mount ms/l
for n in $COUNTS; do
	: >/tmp/bench-file; : >/tmp/bench-loop
	for r in $(seq 1 "$REPS"); do # interleaved: drift hits both alike
		"$LB" mount file $M $S/digests "$n" >>/tmp/bench-file
		"$LB" mount loop $M $S/digests "$n" >>/tmp/bench-loop
	done
	for p in file loop; do
		set -- $(for c in 1 2 3 4; do cut -d' ' -f$c /tmp/bench-$p | tr '\n' ' ' | med; done)
		eval "${p}_total=$1"
		awk -v n="$n" -v p="$p" -v t="$1" -v o="$2" -v s="$3" -v m="$4" 'BEGIN {
			printf "%6d %5s %9.4f %9.4f %9.4f %9.4f %8.3f\n", n, p, t, o, s, m, 1000 * t / n }'
	done
	awk -v f="$file_total" -v l="$loop_total" 'BEGIN { printf "%6s ratio loop/file: %.2f\n", "", l / f }'
	echo "#   file runs (total): $(cut -d' ' -f1 /tmp/bench-file | tr '\n' ' ')"
	echo "#   loop runs (total): $(cut -d' ' -f1 /tmp/bench-loop | tr '\n' ' ')"
done

mib=$(( $(stat -c %s $S/read.sqfs) / 1048576 ))
echo "== sequential read of a $mib MiB file, 1 MiB reads, caches dropped, median of $REPS (MiB/s)"
f= l= w=
for r in $(seq 1 "$REPS"); do
	f="$f $("$LB" read file $M "$rd" $S/read.sqfs data)"
	l="$l $("$LB" read loop $M "$rd" $S/read.sqfs data)"
	w="$w $("$LB" read raw $M "$rd" $S/read.sqfs data)"
done
fm=$(echo "$f" | med) lm=$(echo "$l" | med) wm=$(echo "$w" | med)
awk -v f="$fm" -v l="$lm" -v w="$wm" 'BEGIN {
	printf "atomfs, file-backed:       %8.1f MiB/s\n", f
	printf "atomfs, loop-backed:       %8.1f MiB/s\n", l
	printf "squashfs on loop, raw:     %8.1f MiB/s\n", w
	printf "ratio file/loop %.3f, file/raw %.3f, loop/raw %.3f\n", f / l, f / w, l / w }'
echo "#   file:$f"
echo "#   loop:$l"
echo "#   raw:$w"
rm -rf $S
