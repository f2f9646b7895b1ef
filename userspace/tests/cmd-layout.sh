#!/bin/sh
# command tests: a layout that belongs to someone else (symlinks planted where
# the tool writes or deletes, duplicate tags, a FIFO or a huge index.json),
# blobs shared across owners, the order of syncs
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

mkdir in; echo data >in/f
atomfs build -q --mtime 1 --layer in L:t

# gc walks blobs/sha256 from a directory fd: a symlinked blobs/sha256 or
# blobs is refused, and nothing outside the layout is deleted
for link in blobs/sha256 blobs; do
	rm -rf G outside; cp -a L G; mkdir outside
	# a working layout through the link, plus a file gc would collect
	if [ $link = blobs ]; then mkdir outside/sha256; o=outside/sha256; else o=outside; fi
	cp -a G/blobs/sha256/. $o/; echo keep >$o/victim; touch outside/victim
	rm -rf "G/$link"; ln -s "$T/outside" "G/$link"
	check_fail_msg 4 "symbolic link" "gc: a symlinked $link is refused" atomfs gc G
	check "gc: ... and the file outside the layout is still there" test -e $o/victim
done

# temporary files are never opened through a planted symlink: the names
# an attacker could predict from the PID (exec keeps it) lead nowhere
echo precious >victim
check "build: symlinks planted at the temporary names are not followed" sh -c '
	for i in 0 1 2 3 4 5 6 7; do ln -s "$PWD/victim" "L/blobs/sha256/.tmp-$$-$i"; done
	ln -s "$PWD/victim" "L/index.json.tmp-$$"
	exec atomfs build -q --layer in L:t2'
check "build: ... and the symlinks' target is unchanged" test "$(cat victim)" = precious
check "build: ... and the image is sound" atomfs verify -q L:t2
check "gc: removes the stale temporary names" sh -c '
	atomfs gc -q L && ! ls -a L/blobs/sha256 L | grep -q "tmp-"'
check "gc: ... and leaves their target alone" test "$(cat victim)" = precious

# a tagged manifest of a media type gc cannot read (an OCI 1.1-rc artifact
# manifest lists its blobs under "blobs"): gc stops instead of deleting them
rm -rf A; cp -a L A
python3 - A <<'PY'
import hashlib, json, sys
d = sys.argv[1]
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(b)
    return h
blob = put(b"precious artifact data")
man = json.dumps({"mediaType": "application/vnd.oci.artifact.manifest.v1+json",
                  "artifactType": "application/x-thing",
                  "blobs": [{"mediaType": "application/octet-stream",
                             "digest": "sha256:" + blob, "size": 22}]}).encode()
idx = json.load(open(f"{d}/index.json"))
idx["manifests"].append({"mediaType": "application/vnd.oci.artifact.manifest.v1+json",
                         "digest": "sha256:" + put(man), "size": len(man),
                         "annotations": {"org.opencontainers.image.ref.name": "thing"}})
json.dump(idx, open(f"{d}/index.json", "w"))
open(f"{d}/blob", "w").write(blob)
PY
check_fail_msg 1 "whose references atomfs cannot follow.*gc removes nothing" \
	"gc: a manifest of an unknown media type stops gc" atomfs gc A
check "gc: ... and the blob it references is still there" test -f "A/blobs/sha256/$(cat A/blob)"

# duplicate tags: refused when read, reported by fsck
mkdir in2; echo other >in2/g
atomfs build -q --mtime 1 --layer in2 L:other
cp -a L D
python3 - <<'PY'
import json
idx = json.load(open('D/index.json'))
for d in idx['manifests']:
    if d.get('annotations', {}).get('org.opencontainers.image.ref.name') == 'other':
        d['annotations']['org.opencontainers.image.ref.name'] = 't'
json.dump(idx, open('D/index.json', 'w'))
PY
check_fail_msg 4 "lists tag 't' 2 times" "tags: a tag listed twice is refused (exit 4)" atomfs inspect D:t
check_fail_msg 4 "lists tag 't' 2 times" "tags: verify refuses it too" atomfs verify D:t
check_fail_msg 5 "DUPLICATE TAG: 't'" "tags: fsck reports the duplicate" sh -c 'atomfs fsck D >&2'
check "tags: retagging resolves it" sh -c 'atomfs build -q --mtime 1 --layer in2 D:t && atomfs fsck -q D'

# index.json: a FIFO must not block, a huge file is refused before reading
cp -a L P; rm P/index.json; mkfifo P/index.json
check_fail_msg 4 "not a regular file" "index: a FIFO index.json is refused at once" timeout 20 atomfs inspect P:t
cp -a L H; truncate -s 17M H/index.json
check_fail_msg 4 "more than the" "index: a 17 MiB index.json is refused" atomfs inspect H:t
cp -a L S; mv S/index.json S/real-index; ln -s real-index S/index.json
check_fail_msg 4 "symbolic link" "index: a symlinked index.json is refused" atomfs inspect S:t

# a blob owned by another user is copied, never hard-linked, into root's layout
if is_root && id nobody >/dev/null 2>&1; then
	cp -a L U; chown -R nobody U
	check "owners: build --from a user's layout" atomfs build -q --from U:t R:t
	l=$(layers_of R:t)
	check "owners: root's copy is another inode, owned by root" sh -c "
		test \"\$(stat -c %i $(blob R "$l"))\" != \"\$(stat -c %i $(blob U "$l"))\" &&
		test \"\$(stat -c %u $(blob R "$l"))\" = 0"
	check "owners: within one owner the blob is still shared" sh -c "
		atomfs build -q --from L:t R2:t &&
		test \"\$(stat -c %i $(blob R2 "$l"))\" = \"\$(stat -c %i $(blob L "$l"))\""
else
	skip "owners: a user's blob is copied into root's layout" "needs root and user nobody"
fi

# blobs/sha256 reaches the disk before the index.json naming a linked blob
if have strace; then
	rm -rf A B; atomfs build -q --mtime 1 --layer in A:t
	atomfs build -q --from A:t B:t
	rm "$(blob B "$(layers_of A:t)")" # only the layer is new: it is hard-linked
	strace -f -y -o trace -e trace=fsync,link,linkat,rename,renameat,renameat2 \
		atomfs build -q --from A:t B:t >/dev/null 2>&1
	check "sync: blobs/sha256 is synced after the link, before index.json is renamed" python3 - <<'PY'
import re
lines = open('trace').read().splitlines()
link = max(i for i, l in enumerate(lines) if re.search(r'link(at)?\(', l) and 'blobs/sha256' in l)
ren = max(i for i, l in enumerate(lines) if 'rename' in l and 'index.json' in l)
assert link < ren, (link, ren)
assert any(re.search(r'fsync\(\d+<[^>]*/B/blobs/sha256>', l) for l in lines[link:ren]), lines[link:ren + 1]
PY
else
	skip "sync: blobs/sha256 is synced before index.json is renamed" "strace is not installed"
fi
done_testing
