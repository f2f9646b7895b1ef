#!/bin/sh
# command tests: sign, verify, gc, fsck
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

mkdir in; echo data >in/f; head -c 100000 /dev/urandom >in/r
openssl genpkey -algorithm ed25519 -out ed.pem 2>/dev/null; openssl pkey -in ed.pem -pubout -out ed.pub
openssl genpkey -algorithm ed25519 -out other.pem 2>/dev/null; openssl pkey -in other.pem -pubout -out other.pub
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null; openssl pkey -in ec.pem -pubout -out ec.pub
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null; openssl pkey -in rsa.pem -pubout -out rsa.pub

check "sign: build --sign with an Ed25519 key" atomfs build -q --layer in --sign ed.pem L:t
check "verify: blobs and the Ed25519 signature" atomfs verify -q --pubkey ed.pub L:t
check "verify: without a key checks the blobs" atomfs verify -q L:t
check_fail_msg 5 "carries no signature by key other.pub" "verify: another key fails (exit 5)" atomfs verify --pubkey other.pub L:t
check "verify: a private key file works as the public key" atomfs verify -q --pubkey ed.pem L:t
for k in ec rsa; do
	check "sign: atomfs sign with a $k key" atomfs sign -q --key $k.pem L:t
	check "verify: the $k signature" atomfs verify -q --pubkey $k.pub L:t
done
check "sign: signing twice with one key adds no second referrer" sh -c '
	atomfs sign -q --key ed.pem L:t && test "$(grep -c artifactType L/index.json)" -eq 3'
check "inspect: lists the signatures" sh -c 'test "$(atomfs inspect L:t | grep -c "^signature:")" -eq 3'
check "inspect: a signature's key is shown as a claim, not as 'by key'" sh -c '
	atomfs inspect L:t >insp && grep -q "claims key sha256:" insp && ! grep -q "by key" insp'
atomfs build -q --layer in --annotation "$(printf 'evil=\033[2J\033]0;x\007\nsignature:    by key trusted\302\233')" E:t
check "inspect: annotations are printed with control characters escaped" sh -c '
	atomfs inspect E:t >insp && ! grep -q "$(printf "[\033\007\302]")" insp &&
	! grep -q "^signature:    by key" insp && grep -q "evil=\\\\x1b\[2J" insp'
check "sign: the signature is an OCI 1.1 referrer with a subject" python3 -c "
import json
idx = json.load(open('L/index.json'))
refs = [d for d in idx['manifests'] if d.get('artifactType') == 'application/vnd.atomfs.signature.v2+json']
m = json.load(open('L/blobs/sha256/' + refs[0]['digest'][7:]))
assert m['subject']['digest'] == 'sha256:$(manifest_of L:t)'
assert m['artifactType'] == refs[0]['artifactType'] and m['config']['mediaType'] == 'application/vnd.oci.empty.v1+json'"

# bad keys
echo "not a key" >junk.pem
check_fail_msg 4 "not a PEM private key" "sign: a file that is no key is refused (exit 4)" atomfs sign --key junk.pem L:t
check_fail_msg 3 "cannot read key" "sign: a missing key file exits 3" atomfs sign --key nothere.pem L:t
tree_state L >before
check_fail_msg 4 "not a PEM private key" "build --sign: a bad key fails before any work" atomfs build --layer in --sign junk.pem L:u
tree_state L >after
check "build --sign: the layout is unchanged" cmp before after

# a forged signature: right key fingerprint, wrong bytes
cp -a L F
python3 - <<'PY'
import json, hashlib, base64
idx = json.load(open('F/index.json'))
for d in idx['manifests']:
    if d.get('artifactType'):
        m = json.load(open('F/blobs/sha256/' + d['digest'][7:]))
        p = json.load(open('F/blobs/sha256/' + m['layers'][0]['digest'][7:]))
        s = bytearray(base64.b64decode(p['signature'])); s[0] ^= 1
        p['signature'] = base64.b64encode(bytes(s)).decode()
        b = json.dumps(p).encode(); h = hashlib.sha256(b).hexdigest()
        open('F/blobs/sha256/' + h, 'wb').write(b)
        m['layers'][0]['digest'] = 'sha256:' + h; m['layers'][0]['size'] = len(b)
        b = json.dumps(m).encode(); h = hashlib.sha256(b).hexdigest()
        open('F/blobs/sha256/' + h, 'wb').write(b)
        d['digest'] = 'sha256:' + h; d['size'] = len(b)
json.dump(idx, open('F/index.json', 'w'))
PY
check_fail_msg 5 "INVALID" "verify: a tampered signature is rejected (exit 5)" atomfs verify --pubkey ed.pub F:t

# the signature binds the tag: retagging 'prod' to a 'debug' manifest signed
# by the same key does not verify, nor does a copy under another tag
mkdir dbg; echo debug >dbg/f
atomfs build -q --mtime 5 --layer in --sign ed.pem T:prod
atomfs build -q --mtime 5 --layer dbg --sign ed.pem T:debug
check "sign: prod and debug verify under their own tags" sh -c '
	atomfs verify -q --pubkey ed.pub T:prod && atomfs verify -q --pubkey ed.pub T:debug'
python3 - <<'PY'
import json
idx = json.load(open('T/index.json'))
tags = {d.get('annotations', {}).get('org.opencontainers.image.ref.name'): d for d in idx['manifests']}
for k in ('digest', 'size'):
    tags['prod'][k] = tags['debug'][k]
json.dump(idx, open('T/index.json', 'w'))
PY
check_fail_msg 5 "under tag 'debug', not 'prod'" "sign: prod retagged to the debug manifest is refused (exit 5)" atomfs verify --pubkey ed.pub T:prod
atomfs build -q --mtime 5 --layer in --sign ed.pem T:prod
python3 - <<'PY'
import copy, json
idx = json.load(open('T/index.json'))
prod = [d for d in idx['manifests'] if d.get('annotations', {}).get('org.opencontainers.image.ref.name') == 'prod'][0]
c = copy.deepcopy(prod); c['annotations']['org.opencontainers.image.ref.name'] = 'copy'
idx['manifests'].append(c)
json.dump(idx, open('T/index.json', 'w'))
PY
check "sign: a copy under another tag has the same manifest" test "$(manifest_of T:copy)" = "$(manifest_of T:prod)"
check_fail_msg 5 "must be signed again" "sign: ... but is not signed under that tag" atomfs verify --pubkey ed.pub T:copy
check "sign: verify --signed-tag names the tag that was signed" atomfs verify -q --pubkey ed.pub --signed-tag prod T:copy
check_fail_msg 5 "under tag 'prod', not 'debug'" "sign: --signed-tag with another tag fails" atomfs verify --pubkey ed.pub --signed-tag debug T:copy
check "sign: signing the copy makes it verify" sh -c 'atomfs sign -q --key ed.pem T:copy && atomfs verify -q --pubkey ed.pub T:copy'

# an old-format (v1) signature, which signed the digest alone, is refused
mkdir in3; echo v1 >in3/f
atomfs build -q --mtime 5 --layer in3 O:t
man=$(manifest_of O:t)
printf 'atomfs-signature-v1\nsha256:%s' "$man" >msg
openssl pkeyutl -sign -rawin -inkey ed.pem -in msg -out msg.sig
FP=$(openssl pkey -pubin -in ed.pub -outform DER | sha256sum | cut -c1-64) MAN=$man python3 - <<'PY'
import base64, hashlib, json, os
def put(o):
    b = json.dumps(o).encode(); h = hashlib.sha256(b).hexdigest()
    open('O/blobs/sha256/' + h, 'wb').write(b)
    return {'digest': 'sha256:' + h, 'size': len(b)}
fp, man = 'sha256:' + os.environ['FP'], 'sha256:' + os.environ['MAN']
mt = 'application/vnd.atomfs.signature.v1+json'
idx = json.load(open('O/index.json'))
msize = [d for d in idx['manifests'] if d['digest'] == man][0]['size']
p = put({'manifest': man, 'algorithm': 'ed25519', 'key': fp,
         'signature': base64.b64encode(open('msg.sig', 'rb').read()).decode()})
e = put({})
r = put({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'artifactType': mt,
         'config': dict(e, mediaType='application/vnd.oci.empty.v1+json'), 'layers': [dict(p, mediaType=mt)],
         'subject': {'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': man, 'size': msize},
         'annotations': {'org.atomfs.signature.key': fp}})
idx['manifests'].append(dict(r, mediaType='application/vnd.oci.image.manifest.v1+json', artifactType=mt,
                             annotations={'org.atomfs.signature.key': fp}))
json.dump(idx, open('O/index.json', 'w'))
PY
check_fail_msg 5 "old-format (v1) signature.*re-sign" "sign: an old-format signature is refused, saying to re-sign" atomfs verify --pubkey ed.pub O:t
check "sign: re-signing makes it verify" sh -c 'atomfs sign -q --key ed.pem O:t && atomfs verify -q --pubkey ed.pub O:t'

# weak keys: only RSA >= 2048, ECDSA P-256/384/521 and Ed25519
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp224r1 -out p224.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.pem 2>/dev/null
openssl pkey -in rsa1024.pem -pubout -out rsa1024.pub
check_fail_msg 4 "1024 bits, which is too weak" "keys: RSA-1024 is refused for signing (exit 4)" atomfs sign --key rsa1024.pem L:t
check_fail_msg 4 "1024 bits, which is too weak" "keys: ... and for verifying" atomfs verify --pubkey rsa1024.pub L:t
check_fail_msg 4 "curve secp224r1, which is not accepted" "keys: ECDSA on P-224 is refused" atomfs sign --key p224.pem L:t
check "keys: ECDSA on P-384 is accepted" sh -c 'atomfs sign -q --key p384.pem L:t && atomfs verify -q --pubkey p384.pem L:t'

# gc keeps what tags reach and their signatures
atomfs build -q --layer in --mtime 7 L:old
oldlayer=$(layers_of L:old); oldman=$(manifest_of L:old)
mkdir in2; echo other >in2/g
atomfs build -q --layer in2 L:old
touch L/blobs/sha256/.tmp-999-1
check "gc: runs" atomfs gc -q L
check "gc: a blob no tag reaches is removed" test ! -e "$(blob L "$oldlayer")"
check "gc: the untagged manifest is removed" test ! -e "$(blob L "$oldman")"
check "gc: a stale temporary file is removed" test ! -e L/blobs/sha256/.tmp-999-1
check "gc: the signature survives" atomfs verify -q --pubkey ed.pub L:t
check "gc: fsck is clean afterwards" atomfs fsck L
atomfs sign -q --key ed.pem L:old
python3 - <<'PY'
import json
idx = json.load(open('L/index.json'))
idx['manifests'] = [d for d in idx['manifests'] if d.get('annotations', {}).get('org.opencontainers.image.ref.name') != 'old']
json.dump(idx, open('L/index.json', 'w'))
PY
check_fail_msg 0 "1 orphaned signatures" "gc: a signature of a removed manifest is dropped" atomfs gc L
check "gc: index.json keeps the other signatures" test "$(grep -c artifactType L/index.json)" -eq 4

# fsck and verify find damage
layer=$(layers_of L:t)
cp "$(blob L "$layer")" saved
printf 'X' | dd of="$(blob L "$layer")" bs=1 seek=5000 conv=notrunc 2>/dev/null
check_fail_msg 5 "DAMAGED\|damaged" "fsck: a damaged blob is reported (exit 5)" sh -c 'atomfs fsck L >&2'
check_fail_msg 5 "does not match its digest" "verify: a damaged layer fails (exit 5)" atomfs verify L:t
rm "$(blob L "$layer")"
check_fail_msg 3 "is missing" "verify: a missing layer exits 3" atomfs verify L:t
check_fail_msg 5 "MISSING" "fsck: a missing blob is reported" sh -c 'atomfs fsck L >&2'
cp saved "$(blob L "$layer")"
check "fsck: clean again once restored" atomfs fsck L
man=$(manifest_of L:t)
cp -a L M; echo '{"broken' >"M/blobs/sha256/$man"
check_fail_msg 5 "does not match" "verify: a damaged manifest fails (exit 5)" atomfs verify M:t
check_fail_msg 5 "nothing removed" "gc: refuses to collect around a damaged manifest" atomfs gc M
done_testing
