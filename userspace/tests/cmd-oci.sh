#!/bin/sh
# command tests: images are valid OCI 1.1 layouts (JSON schemas, skopeo), bad layouts
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

SCHEMAS=/usr/share/gocode/src/github.com/opencontainers/image-spec/schema
mkdir in dep; echo x >in/f; echo d >dep/d
openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
atomfs build -q --mtime 3 --layer dep L:dep
atomfs build -q --mtime 3 --layer in L:base
atomfs build -q --from L:base --apply L:dep --layer in --sign k.pem --annotation org.example=1 L:app
if [ -d "$SCHEMAS" ] && python3 -c 'import jsonschema' 2>/dev/null; then
	check "oci: index, manifests (signature included) and configs match the image-spec schemas" \
		python3 "$ATOMFS_TESTS/validate.py" "$SCHEMAS" L
	mkdir V; echo '{"imageLayoutVersion": "1.0.0"}' >V/oci-layout
	echo '{"schemaVersion": 2, "manifests": [{"mediaType": "x", "size": -1, "digest": "sha256:00"}]}' >V/index.json
	check "oci: the schema check rejects a broken index (it is not vacuous)" sh -c "! $PY $ATOMFS_TESTS/validate.py $SCHEMAS V >/dev/null 2>&1"
else
	skip "oci: index, manifests (signature included) and configs match the image-spec schemas" \
		"golang-github-opencontainers-image-spec-dev or python3-jsonschema missing"
	skip "oci: the schema check rejects a broken index (it is not vacuous)" "no schemas"
fi
if have skopeo; then
	check "oci: skopeo inspect oci:L:app" sh -c 'skopeo inspect oci:L:app >s.json'
	check "oci: skopeo sees the layers atomfs wrote" python3 -c "
import json; assert [l[7:] for l in json.load(open('s.json'))['Layers']] == '''$(layers_of L:app)'''.split()"
	check "oci: skopeo copy oci:L:app oci:C:app" skopeo copy -q oci:L:app oci:C:app
	check "oci: the copy has the same manifest digest" test "$(manifest_of C:app)" = "$(manifest_of L:app)"
	check "oci: the copy verifies" atomfs verify -q C:app
else
	for t in inspect layers copy digest verifies; do skip "oci: skopeo $t" "skopeo is not installed"; done
fi

# bad layouts: one message, documented exit status
mkdir notalayout
check_fail_msg 3 "not an OCI image layout" "oci: a directory without oci-layout exits 3" atomfs inspect notalayout:t
cp -a L B1; rm B1/index.json
check_fail_msg 3 "has no index.json" "oci: a missing index.json exits 3" atomfs inspect B1:app
cp -a L B2; echo '{"schemaVersion": 2, "manifests": [' >B2/index.json
check_fail_msg 4 "index.json is malformed" "oci: a malformed index.json exits 4" atomfs inspect B2:app
cp -a L B3; echo '{"schemaVersion": 2}' >B3/index.json
check_fail_msg 4 "not an OCI image index" "oci: an index.json without manifests exits 4" atomfs inspect B3:app
cp -a L B4; sed -i 's/"sha256:\([0-9a-f]*\)"/"md5:\1"/' B4/index.json
check_fail_msg 4 "unsupported algorithm" "oci: a non-sha256 digest is refused" atomfs inspect B4:app
tree_state B2 >before
check_fail_msg 4 "malformed" "oci: build into a layout with a bad index.json fails" atomfs build --layer in B2:new
tree_state B2 >after
check "oci: ... and leaves it unchanged" cmp before after
check_fail_msg 3 "no image tagged 'nope'" "oci: an unknown tag exits 3" atomfs inspect L:nope
check_fail_msg 4 "has no tag" "oci: a reference without a tag exits 4" atomfs inspect L
check "oci: inspect --json is JSON" sh -c 'atomfs inspect --json L:app | python3 -m json.tool >/dev/null'

# a layer whose digest is right but which is no squashfs, or is truncated
mkdir C1 rnd; echo '{"imageLayoutVersion": "1.0.0"}' >C1/oci-layout; mkdir -p C1/blobs/sha256
head -c 300000 /dev/urandom >rnd/r; atomfs build -q --layer rnd L:rnd
GOOD=$(blob L "$(layers_of L:rnd)") python3 - <<'PY'
import os
import hashlib, json
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open('C1/blobs/sha256/' + h, 'wb').write(b)
    return {'digest': 'sha256:' + h, 'size': len(b)}
good = open(os.environ['GOOD'], 'rb').read()
ms = []
for tag, layer in (('junk', b'\0' * 8192), ('trunc', good[:8192])):
    l = dict(put(layer), mediaType='application/vnd.stacker.image.layer.squashfs+zstd')
    c = dict(put(json.dumps({'architecture': 'amd64', 'os': 'linux', 'rootfs': {'type': 'layers', 'diff_ids': [l['digest']]}}).encode()),
             mediaType='application/vnd.oci.image.config.v1+json')
    m = dict(put(json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'config': c, 'layers': [l]}).encode()),
             mediaType='application/vnd.oci.image.manifest.v1+json', annotations={'org.opencontainers.image.ref.name': tag})
    ms.append(m)
json.dump({'schemaVersion': 2, 'manifests': ms}, open('C1/index.json', 'w'))
PY
tree_state L >before
check_fail_msg 4 "not a squashfs filesystem" "oci: --from a layer that is no squashfs is refused (exit 4)" atomfs build --from C1:junk --layer in L:bad
check_fail_msg 4 "truncated squashfs" "oci: --apply a truncated squashfs layer is refused (exit 4)" atomfs build --apply C1:trunc --layer in L:bad
tree_state L >after
check "oci: refused squashfs layers leave the layout unchanged" cmp before after
check_fail_msg 4 "not a squashfs filesystem" "verify: a layer that is no squashfs fails" atomfs verify C1:junk

# concurrent writers serialise on the layout lock
for i in 1 2 3 4 5 6; do mkdir p$i; echo $i >p$i/f; done
for i in 1 2 3 4 5 6; do atomfs build -q --layer p$i P:t$i & done; wait
check "oci: six concurrent builds into one layout all land" sh -c 'for i in 1 2 3 4 5 6; do atomfs verify -q P:t$i || exit 1; done'
check "oci: index.json lists all six tags" test "$(grep -c ref.name P/index.json)" -eq 6
check "oci: fsck is clean after concurrent builds" atomfs fsck P
# an interrupted build leaves a valid layout and no temporary files
mkdir big; head -c 150000000 /dev/urandom >big/r
tree_state P >before
atomfs build -q --layer big P:int & pid=$!
sleep 1; kill -INT $pid; wait $pid
rc=$?
if [ $rc -ne 0 ]; then
	check "oci: SIGINT during a build leaves no temporary file" sh -c '! ls -a P/blobs/sha256 | grep -q "^\.tmp"'
	tree_state P >after
	check "oci: SIGINT during a build leaves the layout unchanged" cmp before after
else
	skip "oci: SIGINT during a build leaves no temporary file" "the build finished before the signal"
	skip "oci: SIGINT during a build leaves the layout unchanged" "the build finished before the signal"
fi
done_testing
