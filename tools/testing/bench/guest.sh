#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# guest.sh TAR OUT quick|full REPS [BENCH]...: in the VM (vm/run --disk-mb),
# unpack the fixtures onto the ext4 scratch disk and run the benchmarks,
# atomfs and its comparators interleaved within each repetition; every
# figure is appended to OUT by atomfs_bench. BENCH: mount lookup readdir
# read small mem verify (default: all that MODE runs), mount4096. To keep the
# full run within its time on a 2-core TCG host, mount at N >= 500, mount4096,
# mem, small, overlayfs's lookups at 500 layers, FUSE's reads and the 16-blob
# verification run in the first repetition only (the report shows the run
# count); QUICK runs neither FUSE nor the loop-backed atomfs series. Each benchmark's time per repetition goes to timings.txt beside OUT.
set -eu
TAR=$1 OUT=$2 MODE=$3 REPS=$4
shift 4
HERE=$(cd "$(dirname "$0")" && pwd)
AB=$ATOMFS_TOP/build/bench/atomfs_bench
S=/mnt/scratch/bench
grep -q ' /mnt/scratch ext4 ' /proc/mounts || { echo "guest.sh: no ext4 scratch disk (vm/run --disk)" >&2; exit 1; }
if [ "$MODE" = quick ]; then
	which=${*:-mount lookup verify}
	MOUNT_N="1 100" LOOKUP_N="1 100" NAMES=500
else
	which=${*:-mount lookup readdir read small mem verify}
	MOUNT_N="1 2 10 50 100 500 1000" LOOKUP_N="1 10 100 500" NAMES=2000
fi
TIMES=$(dirname "$OUT")/timings.txt
t0=$(cut -d' ' -f1 /proc/uptime)
el() { awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%4.0f s", b - a }'; }
echo "== guest: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print $2 / 1024 }' /proc/meminfo) MiB; unpacking the fixtures onto ext4"
mkdir -p $S
tar -xf "$TAR" -C $S
for l in $S/*.list; do
	awk -v d=$S '{ print $1, d "/" $2 }' "$l" >"${l%.list}.abs"
done
echo "   $(du -sm $S | cut -f1) MiB of blobs unpacked ($(el))"
echo "unpack 0 $(el | tr -d ' s')" >>"$TIMES"
# The largest layer set made (fixtures.sh: 100, 1000 or 4096 layers).
NL=$(ls $S/L*.abs 2>/dev/null | sed 's/.*L\([0-9]*\)\.abs/\1/' | sort -n | tail -n1)
cannot() { # BENCH SYSTEM N WHY
	printf '{"benchmark": "%s", "system": "%s", "n": %d, "rep": %d, "value": null, "unit": "cannot", "why": "%s"}\n' \
		"$1" "$2" "$3" "$r" "$4" >>"$OUT"
	echo "  $1 $2 n=$3 cannot ($4)"
}
echo 1 >/sys/module/atomfs/parameters/share_layers
# rot R WORD...: the words rotated left by R-1, so that in each repetition
# another system goes first (none always runs on the coldest guest)
rot() {
	_k=$1
	shift
	[ $# -gt 0 ] || return 0
	_k=$(((_k - 1) % $#))
	_head= _tail= _i=0
	for _w; do
		if [ $_i -lt $_k ]; then _tail="$_tail $_w"; else _head="$_head $_w"; fi
		_i=$((_i + 1))
	done
	echo $_head $_tail
}
ab() { "$AB" -o "$OUT" -w /tmp/atomfs-bench -r "$r" -n $NAMES "$@"; }

for r in $(seq 1 "$REPS"); do
	for w in $which; do
		echo "== rep $r/$REPS: $w ($(el), load $(cut -d' ' -f1-3 /proc/loadavg))"
		tw=$(cut -d' ' -f1 /proc/uptime)
		case $w in
		mount)
			for n in $MOUNT_N; do
				[ "$n" -lt 500 ] || [ "$r" = 1 ] || continue
				[ "$n" -le "$NL" ] || continue
				# QUICK: no loop-backed series, no FUSE (their time
				# goes to the three repetitions of the rest). Over 500
				# layers overlayfs refuses: measured once (N >= 500).
				sys="atomfs overlay"
				[ "$MODE" = quick ] || sys="$sys atomfs-loop"
				[ "$n" -gt 100 ] || [ "$MODE" = quick ] || sys="$sys fuse"
				for s in $(rot "$r" $sys); do
					ab mount "$s" $S/L$NL.abs "$n"
				done
			done ;;
		lookup)
			for n in $LOOKUP_N; do
				sys="atomfs flat"
				# overlayfs at 500 layers: 4 minutes a run, so once
				[ "$n" -ge 500 ] && [ "$r" != 1 ] || sys="$sys overlay"
				[ "$n" -gt 100 ] || [ "$MODE" = quick ] || sys="$sys fuse"
				for s in $(rot "$r" $sys); do
					if [ "$s" = flat ]; then
						ab lookup flat $S/flat$n.abs "$n"
					else
						ab lookup "$s" $S/L$NL.abs "$n"
					fi
				done
			done ;;
		readdir)
			for k in 1 100 500; do
				# fuse: fuse-overlayfs took 253 s for the first listing at
				# K = 1 (2026-11-30): too long to repeat here
				for s in $(rot "$r" atomfs overlay flat); do
					if [ "$s" = flat ]; then
						ab readdir flat $S/r1.abs "$k"
					else
						ab readdir "$s" $S/r$k.abs "$k"
					fi
				done
			done ;;
		read)
			# atomfs-loop: the loop-backed layer (atomfs_bench's
			# set-up of the mount series), beside the file-backed one
			# and squashfs on the same kind of direct-I/O loop device
			for s in $(rot "$r" atomfs atomfs-loop overlay squashfs fuse); do
				# FUSE reads at a quarter of the speed: once
				[ "$s" != fuse ] || [ "$r" = 1 ] || continue
				[ "$s" != atomfs-loop ] || [ "$MODE" != quick ] || continue
				ab read $s $S/big.abs data
			done ;;
		small)
			[ "$r" = 1 ] || continue
			for s in atomfs overlay squashfs fuse; do
				ab small $s $S/small.abs s
			done ;;
		mount4096)
			# Once: gzip layers of 128 KiB blocks (L); atomfs cold and
			# warm (file-backed) only, if the guest's memory holds them;
			# overlayfs (refused over 500 lowers).
			[ "$r" = 1 ] || continue
			if [ "$NL" -lt 4096 ]; then
				echo "guest.sh: mount4096 needs the 4096-layer set (fixtures.sh DIR full mount4096)" >&2
				continue
			fi
			# KiB per layer of this run's 1000-layer cold mount, else
			# 1 MiB (gzip, 128 KiB blocks: 839 KiB measured by mem)
			per=$(awk -F'[:,]' '/"mount-kmem".*"atomfs".*"n": 1000,/ { v = $10 } END { print v ? int(v) + 1 : 1024 }' "$OUT")
			need=$((4096 * per / 1024 + 256))
			avail=$(awk '/MemAvailable/ { print int($2 / 1024) }' /proc/meminfo)
			if [ "$avail" -lt "$need" ]; then
				cannot mount atomfs 4096 "guest memory: ${avail} MiB available, about ${need} MiB needed (${per} KiB per held layer)"
			else
				echo "   4096 layers: ${avail} MiB available, about ${need} MiB needed (${per} KiB per layer)"
				ab mount atomfs $S/L$NL.abs 4096
			fi
			# refused at once: atomfs_bench tries it over bare directories
			ab mount overlay $S/L$NL.abs 4096 ;;
		mem)
			[ "$r" = 1 ] || continue
			for c in gzip xz lz4 zstd; do
				for bs in 128K 1M; do
					ab mem atomfs $S/m-$c-$bs.abs 50 "$c-$bs"
					ab mem overlay $S/m-$c-$bs.abs 50 "$c-$bs"
				done
			done ;;
		verify)
			if [ "$MODE" = quick ]; then ab verify $S/big64.abs 1; else ab verify $S/big.abs 1; fi
			# 16 blobs in parallel: once
			[ "$MODE" = quick ] || [ "$r" != 1 ] || ab verify $S/v.abs 16 ;;
		*) echo "guest.sh: unknown benchmark $w" >&2; exit 2 ;;
		esac
		tw=$(awk -v a="$tw" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.0f", b - a }')
		echo "$w $r $tw" >>"$TIMES"
		echo "   $w took $tw s"
	done
done
echo "== guest: done ($(el), load $(cut -d' ' -f1-3 /proc/loadavg))"
