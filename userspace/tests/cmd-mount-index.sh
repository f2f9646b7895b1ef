#!/bin/sh
# command tests: `atomfs mount` trusts index.json only when it is root's
# alone (issue 11, review): whoever can rewrite it chooses which manifest a
# tag names, so a user-owned index.json in a root-owned layout would let
# that user retag what root mounts. Refused before the policy and the
# kernel (not loaded on this host) are asked.
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

mkdir in other mnt; echo x >in/f; echo y >other/f
atomfs build -q --layer in L:prod
atomfs build -q --layer other L:debug
chmod 0755 L; chmod 0644 L/index.json

# past the index.json check, the mount goes on to the kernel
atomfs mount L:prod mnt >out 2>&1
check "index: a root-owned, 0644 index.json passes the check" sh -c 'grep -q "kernel module is not installed" out && ! grep -q "index.json" out'

chmod 0664 L/index.json
check_fail_msg 4 "L/index.json is writable by group or others: whoever can write it chooses which image a tag mounts" \
	"index: a group-writable index.json refuses the mount" atomfs mount L:prod mnt
chmod 0644 L/index.json

if is_root; then
	# the retag itself: the user points prod at the debug manifest
	python3 - L/index.json <<'PY'
import json, sys
p = sys.argv[1]
j = json.load(open(p))
tag = "org.opencontainers.image.ref.name"
d = [m for m in j["manifests"] if m.get("annotations", {}).get(tag) == "debug"][0]
for m in j["manifests"]:
    if m.get("annotations", {}).get(tag) == "prod":
        m["digest"], m["size"] = d["digest"], d["size"]
json.dump(j, open(p, "w"))
PY
	chown 65534 L/index.json
	check_fail_msg 4 "L/index.json is owned by uid 65534" \
		"index: a user-owned index.json (prod retagged to debug's manifest) refuses the mount" \
		atomfs mount L:prod mnt
else
	skip "index: a user-owned index.json refuses the mount" "needs root to chown"
fi
done_testing
