#!/bin/sh
# Documentation/userspace-api/atomfs.rst names every ioctl, struct, field
# and constant of include/uapi/linux/atomfs.h.
. "$ATOMFS_TESTS/lib.sh"
cd "$T"
h="$ATOMFS_TESTS/../../include/uapi/linux/atomfs.h"
doc="$ATOMFS_TESTS/../../Documentation/userspace-api/atomfs.rst"
sed -n 's/^#define \(ATOMFS_[A-Z0-9_]*\).*/\1/p' "$h" | sort -u >names
sed -n 's/^struct \(atomfs_[a-z_]*\) {.*/\1/p' "$h" >>names
# fields: "	__u32 name;" and "	struct atomfs_digest name;"
sed -n 's/^\t\(__u[0-9]*\|struct atomfs_[a-z_]*\) \([a-z_0-9]*\).*;.*/\2/p' "$h" | sort -u >>names
check "uapi doc: the header has names to check" test "$(wc -l <names)" -gt 40
: >missing
while read -r w; do
	grep -qw -e "$w" "$doc" || echo "$w" >>missing
done <names
check "uapi doc: every ioctl, struct, field and constant of linux/atomfs.h is in Documentation/userspace-api/atomfs.rst" sh -c '! grep . missing'
done_testing
