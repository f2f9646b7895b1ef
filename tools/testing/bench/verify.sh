# SPDX-License-Identifier: GPL-2.0
# In the VM: the kernel's verification throughput against openssl's sha256
# of the same data in the same guest. $1: the directory with the blobs.
set -e
B=$1
echo 0 >/sys/module/atomfs/parameters/share_layers
cp "$B"/big.sqfs "$B"/small*.sqfs /tmp/
d() { awk -v f="$1" '$2 == f { print $1 }' "$B/digests"; }
mib() { echo $(( $(stat -c %s "$1") / 1048576 )); }

echo "== one 256 MiB blob"
o=$("$B/timeit" openssl dgst -sha256 /tmp/big.sqfs)
ossl=$(awk -v s="$o" -v m="$(mib /tmp/big.sqfs)" 'BEGIN { printf "%.1f", m / s }')
echo "openssl dgst -sha256:  $ossl MiB/s"
k=$("$B/verify_bench" "$(d big.sqfs)" /tmp/big.sqfs)
echo "kernel verification:   $k"
kr=$(echo "$k" | awk '{ print $(NF-1) }')
awk -v k="$kr" -v o="$ossl" 'BEGIN { printf "ratio kernel/openssl:  %.2f\n", k / o }'

echo "== 16 blobs of 32 MiB"
args=
for f in /tmp/small*.sqfs; do args="$args $(d "${f##*/}") $f"; done
o=$("$B/timeit" openssl dgst -sha256 /tmp/small*.sqfs)
ossl=$(awk -v s="$o" 'BEGIN { printf "%.1f", 512 / s }')
echo "openssl dgst -sha256 (one process, in turn): $ossl MiB/s"
k=$("$B/verify_bench" $args)
echo "kernel verification (parallel):              $k"
kr=$(echo "$k" | awk '{ print $(NF-1) }')
awk -v k="$kr" -v o="$ossl" -v n="$(nproc)" 'BEGIN { printf "ratio kernel/openssl:  %.2f with %d CPUs\n", k / o, n }'
echo "== kernel"
grep -E 'sha256_driver|max_workers|bytes_hashed' /proc/fs/atomfs/stats
