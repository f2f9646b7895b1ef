#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# recipe.sh N: in the VM, the talk's update rule measured.  A recipe with a
# base, an ssl stanza and N applications that apply ssl and each run one
# step; ssl changes; the time to bring the N applications up to date by
# swapping ssl's layers (what atomfs build -f does) against re-running their
# steps (--rebuild for each).  Prints figures, not pass/fail.
set -eu
N=${1:-20}
W=/tmp/bench-recipe
rm -rf $W && mkdir -p $W/root/bin $W/root/etc $W/root/proc $W/root/dev $W/root/sys
cd $W
[ -e /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 cgroup2 /sys/fs/cgroup
cp /bin/busybox root/bin/ && for a in sh mkdir echo; do ln -s busybox root/bin/$a; done
tar -C root -cf rootfs.tar .
{
	echo 'base: {from: {type: tar, url: rootfs.tar}}'
	echo 'ssl:'
	echo '  from: {type: built, tag: base}'
	echo '  run: mkdir -p /usr/lib/ssl && echo "${{SSL:1}}" >/usr/lib/ssl/version'
	i=1
	while [ $i -le $N ]; do
		echo "app$i:"
		echo '  from: {type: built, tag: base}'
		echo '  apply: [ssl]'
		echo "  run: mkdir -p /srv && echo app$i >/srv/app"
		i=$((i + 1))
	done
} >atomfs.yaml
export SOURCE_DATE_EPOCH=1
O="-q --build-dir $W/build -o $W/oci"
now() { cut -d' ' -f1 /proc/uptime; }
s=$(now)
atomfs build -f atomfs.yaml $O
e=$(now)
echo "first build of base, ssl and $N applications: $(awk "BEGIN { print $e - $s }") s"
s=$(now)
atomfs build -f atomfs.yaml $O --substitute SSL=2
e=$(now)
swap=$(awk "BEGIN { print $e - $s }")
rebuild=""
i=1
while [ $i -le $N ]; do rebuild="$rebuild --rebuild app$i"; i=$((i + 1)); done
s=$(now)
atomfs build -f atomfs.yaml $O --substitute SSL=3 $rebuild
e=$(now)
rerun=$(awk "BEGIN { print $e - $s }")
echo "ssl changed, $N applications updated by swapping layers: $swap s (ssl's own step included)"
echo "ssl changed, $N applications updated by re-running their steps: $rerun s"
awk "BEGIN { printf \"swapping is %.1fx faster\\n\", $rerun / $swap }"
cd /
rm -rf $W
