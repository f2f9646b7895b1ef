#!/bin/sh
# command tests: push, pull and copy through Debian's docker-registry
# (distribution 2.8) on loopback: plain http, htpasswd basic auth over TLS,
# and the token flow against tests/token-server.py.  Every server runs on
# a free port with its storage under $T and is stopped on exit.
. "$ATOMFS_TESTS/lib.sh"
cd "$T"
export XDG_CACHE_HOME="$T/cache" HOME="$T/home" REGISTRY_AUTH_FILE="$T/auth.json"
unset XDG_RUNTIME_DIR
mkdir -p "$HOME"
PIDS=""
stop_all() { for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; PIDS=""; }
trap 'stop_all; rm -rf "$T"' EXIT

if ! have docker-registry || ! have htpasswd; then
	echo "not ok - docker-registry and htpasswd (apache2-utils) are needed: run 'make deps'"
	exit 1
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_port PORT [SCHEME]: until the server answers (10 s)
wait_up() {
	i=0
	while [ $i -lt 100 ]; do
		curl -sk -o /dev/null "$1" && return 0
		sleep 0.1; i=$((i + 1))
	done
	echo "# $1 did not come up"; return 1
}
# start_registry NAME [YAML-LINES]: $NAME_PORT, storage in $T/NAME
start_registry() {
	name=$1 extra=${2:-}
	port=$(free_port)
	cat >"$T/$name.yml" <<EOY
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $T/$name
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$extra
EOY
	# the registry takes REGISTRY_* variables as configuration
	env -u REGISTRY_AUTH_FILE docker-registry serve "$T/$name.yml" >"$T/$name.log" 2>&1 &
	PIDS="$PIDS $!"
	eval "${name}_PORT=$port"
	case "$extra" in *tls:*) s=https ;; *) s=http ;; esac
	wait_up "$s://127.0.0.1:$port/v2/"
}
# count_requests NAME PATTERN: lines of the registry's access log matching
count_requests() { grep -c "$2" "$T/$1.log"; }

mkdir a b c; echo one >a/f; head -c 200000 /dev/urandom >a/r
echo two >b/g; head -c 150000 /dev/urandom >b/s; echo three >c/h
openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null; openssl pkey -in k.pem -pubout -out k.pub
atomfs build -q --layer a --layer b --sign k.pem L:v1 || echo "not ok - fixture build"

start_registry plain || echo "not ok - docker-registry on loopback starts"
R=docker://127.0.0.1:$plain_PORT
X="--tls-verify=false"

# ---- round trip ----
check "push: a signed image to a plain-http registry" sh -c "atomfs push $X L:v1 $R/app/one:v1 >push1.out"
check "push: config, two layers and the signature's two blobs are sent" grep -q ": 5 blobs sent" push1.out
diag <push1.out
check "push: skopeo inspect accepts what atomfs pushed" sh -c "skopeo inspect $X $R/app/one:v1 >insp.json"
check "push: skopeo sees the same manifest digest" grep -q "\"Digest\": \"sha256:$(manifest_of L:v1)\"" insp.json
check "push: the signature went by the sha256-<hex> referrers tag" sh -c "skopeo inspect $X --raw $R/app/one:sha256-$(manifest_of L:v1) | grep -q application/vnd.atomfs.signature"
check "pull: into an empty directory keeps the source tag" sh -c "atomfs pull $X $R/app/one:v1 P >pull1.out"
diag <pull1.out
check "pull: the signature verifies after the round trip" atomfs verify -q --pubkey k.pub P:v1
check "pull: the manifest digest is the source's" test "$(manifest_of P:v1)" = "$(manifest_of L:v1)"
check "pull: the layer digests are the source's" test "$(layers_of P:v1)" = "$(layers_of L:v1)"
check "pull: again fetches nothing" sh -c "atomfs pull $X $R/app/one:v1 P | grep -q ': 0 blobs fetched'"
check "pull: by digest into DIR:TAG" atomfs pull -q $X $R/app/one@sha256:$(manifest_of L:v1) P2:x
check "pull: ... gives the same manifest" test "$(manifest_of P2:x)" = "$(manifest_of L:v1)"
check_fail_msg 4 "give.*TAG\|names no tag" "pull: by digest into a bare DIR asks for a tag" atomfs pull $X $R/app/one@sha256:$(manifest_of L:v1) P3
check_schemas "pull: the pulled layout matches the image-spec schemas" P

# ---- signatures bind the tag ----
check_fail_msg 0 "signature .* names tag 'v1', not 'prod'" "push: to another tag warns that the signature names the source tag" atomfs push $X L:v1 $R/app/one:prod
check_fail_msg 5 "" "pull: ... and that signature does not verify as 'prod'" sh -c "atomfs pull -q $X $R/app/one:prod PT && atomfs verify -q --pubkey k.pub PT:prod"
check "push --sign: signs for the destination tag" atomfs push -q --sign k.pem $X L:v1 $R/app/one:prod
check "pull: ... and the image verifies as 'prod'" sh -c "atomfs pull -q $X $R/app/one:prod PT2 && atomfs verify -q --pubkey k.pub PT2:prod"

# ---- shared layers: only new blobs, cross-repository mount ----
atomfs build -q --from L:v1 --layer c L:v2
check "push: an image sharing layers sends only the new layer and config" sh -c "atomfs push $X L:v2 $R/app/one:v2 >push2.out && grep -q ': 2 blobs sent.*2 already there' push2.out"
diag <push2.out
n_before=$(count_requests plain 'PUT /v2/app/two/blobs/uploads')
check "push: to another repository mounts every blob from the first" sh -c "atomfs push $X L:v2 $R/app/two:v2 >push3.out && grep -q ': 0 blobs sent.*4 mounted' push3.out"
diag <push3.out
check "push: the registry's log shows no blob upload to app/two" test "$(count_requests plain 'PUT /v2/app/two/blobs/uploads')" -eq "$n_before"
check "push: the log shows the mounts" test "$(count_requests plain 'POST /v2/app/two/blobs/uploads/?mount=')" -eq 4
check "pull: of v2 fetches only its new layer and config" sh -c "atomfs pull $X $R/app/two:v2 P | grep -q ': 2 blobs fetched'"

# ---- a tar-layer image (umoci-made, copied in by skopeo) is imported on pull ----
if have umoci && have skopeo; then
	umoci init --layout u >/dev/null 2>&1
	umoci new --image u:t >/dev/null 2>&1
	umoci unpack --image u:t ub >/dev/null 2>&1
	mkdir -p ub/rootfs/etc/d ub/rootfs/opq
	echo 1 >ub/rootfs/etc/gone; echo 2 >ub/rootfs/etc/d/x; echo o >ub/rootfs/opq/old
	umoci repack --refresh-bundle --image u:t ub >/dev/null 2>&1
	rm ub/rootfs/etc/gone; rm -rf ub/rootfs/opq; mkdir ub/rootfs/opq; echo n >ub/rootfs/opq/new
	umoci repack --refresh-bundle --image u:t ub >/dev/null 2>&1
	skopeo copy -q --dest-tls-verify=false oci:u:t $R/tar/img:t >/dev/null 2>&1 ||
		echo "not ok - skopeo copy of the umoci image into the registry"
	check "pull: a tar-layer image is pulled and imported in one step" sh -c "atomfs pull $X $R/tar/img:t TP >tp.out 2>&1"
	check "pull: it says it imported the tar layers" grep -q "TP:t has 2 tar layers: importing" tp.out
	check "pull: every layer of the pulled image is squashfs" sh -c "atomfs inspect --json TP:t | python3 -c 'import json,sys; assert all(\"squashfs\" in l[\"mediaType\"] for l in json.load(sys.stdin)[\"layers\"])'"
	same_tree_as_umoci "pull: the pulled image gives the tree umoci unpack gives" u:t TP:t pull
	check "pull: fsck of the layout is clean" atomfs fsck -q TP
	first=$(manifest_of TP:t)
	check "pull: a second pull of it converts nothing and fetches nothing" sh -c "atomfs pull $X $R/tar/img:t TP >tp2.out 2>&1 &&
		grep -q 'tar layers were imported before' tp2.out && grep -q ': 0 blobs fetched' tp2.out && ! grep -q importing tp2.out"
	check "pull: ... and the tag names the same import" test -n "$first" -a "$(manifest_of TP:t)" = "$first"
	# the import's layers name their source manifest; pushed and pulled
	# back they must not pass for a pull's import (only the local index
	# entry's record counts)
	atomfs push -q $X TP:t $R/forged/img:1 || echo "not ok - push TP:t"
	atomfs pull -q $X $R/forged/img:1 TF:t || echo "not ok - pull forged"
	check "pull: layers claiming to come from the tar image are not taken for its import" sh -c "
		atomfs pull $X $R/tar/img:t TF:t >tf.out 2>&1 && grep -q 'TF:t has 2 tar layers: importing' tf.out"
	# the tag's tar image changes: the next pull imports it again
	umoci unpack --image u:t ub2 >/dev/null 2>&1; echo more >ub2/rootfs/more
	umoci repack --refresh-bundle --image u:t ub2 >/dev/null 2>&1
	skopeo copy -q --dest-tls-verify=false oci:u:t $R/tar/img:t >/dev/null 2>&1 ||
		echo "not ok - skopeo copy of the changed umoci image"
	check "pull: a changed tar image at the same tag is imported again" sh -c "
		atomfs pull $X $R/tar/img:t TP >tp3.out 2>&1 && grep -q 'TP:t has 3 tar layers: importing' tp3.out"
	check "pull: ... to a new manifest" test -n "$first" -a "$(manifest_of TP:t)" != "$first"
	atomfs pull -q --no-import $X $R/tar/img:t TN || echo "not ok - pull --no-import"
	want=$(skopeo inspect --tls-verify=false $R/tar/img:t | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"][7:])')
	check "pull --no-import keeps the registry's manifest, tar layers and all" test "$(manifest_of TN:t)" = "$want"
else
	skip "pull: a tar-layer image is pulled and imported in one step" "umoci or skopeo is not installed"
fi

# ---- failures: one line, the layout unchanged ----
tree_state P >before
check_fail_msg 3 "has no manifest nope" "pull: an unknown manifest exits 3" atomfs pull $X $R/app/one:nope P
check "pull: ... and says so in one line" test "$(wc -l <"$T/.err")" -eq 1
dead=$(free_port)
check_fail_msg 1 "cannot reach registry 127.0.0.1:$dead" "pull: a registry that is down exits 1" atomfs pull $X docker://127.0.0.1:$dead/app/one:v1 P
tree_state P >after
check "pull: failures leave the layout unchanged" cmp before after
check_fail_msg 1 "cannot reach registry" "push: https with verification refuses a plain-http registry" atomfs push L:v1 $R/app/one:v1

# a layer blob damaged on the registry's disk
set -- $(layers_of L:v1); big=$1 l1=$1 l2=$2
data=$T/plain/docker/registry/v2/blobs/sha256/$(echo $big | cut -c1-2)/$big/data
python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(5000); b=f.read(1); f.seek(5000); f.write(bytes([b[0]^1]))" "$data"
check_fail_msg 5 "damaged on the registry or on the way" "pull: a blob corrupted on the registry is refused (exit 5)" atomfs pull $X $R/app/one:v1 Q
check "pull: the damaged blob is not stored, nothing is tagged" sh -c "test ! -e Q/blobs/sha256/$big && ! grep -q ref.name Q/index.json && test -z \"\$(ls -A Q/blobs/sha256 | grep tmp)\""
python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(5000); b=f.read(1); f.seek(5000); f.write(bytes([b[0]^1]))" "$data"

# a referrer that is not a valid signature: ignored with a warning
cp -a L B
python3 - B "$(manifest_of L:v1)" <<'EOPY'
import hashlib, json, os, sys
d, subj = sys.argv[1], "sha256:" + sys.argv[2]
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(d, "blobs/sha256", h), "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
at = "application/vnd.atomfs.signature.v1+json"
idx = json.load(open(os.path.join(d, "index.json")))
size = [m["size"] for m in idx["manifests"] if m["digest"] == subj][0]
pay = put(json.dumps({"manifest": "sha256:" + "0" * 64, "key": "k", "signature": "eA=="}).encode())
emp = put(b"{}")
man = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "artifactType": at, "config": dict(mediaType="application/vnd.oci.empty.v1+json", **emp),
    "layers": [dict(mediaType=at, **pay)],
    "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subj, "size": size}}).encode())
idx["manifests"].append(dict(mediaType="application/vnd.oci.image.manifest.v1+json", artifactType=at, **man))
json.dump(idx, open(os.path.join(d, "index.json"), "w"))
EOPY
check "push: an image with a bogus signature referrer" atomfs push -q $X B:v1 $R/app/bogus:v1
check_fail_msg 0 "warning: ignored referrer.*does not sign manifest" "pull: the bogus referrer is ignored with a warning" atomfs pull $X $R/app/bogus:v1 PB
check "pull: ... and the image and its valid signature still arrive" atomfs verify -q --pubkey k.pub PB:v1
check "pull: ... the bogus referrer is not listed" test "$(grep -c artifactType PB/index.json)" -eq "$(grep -c artifactType L/index.json)"

# ---- interrupted pull: a relay stalls the second layer, the client is killed ----
"$PY" "$ATOMFS_TESTS/stall-relay.py" relay.port "$plain_PORT" "sha256:$l2" 40000 &
PIDS="$PIDS $!"
i=0; while [ ! -s relay.port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
atomfs build -q --layer c I:other
cp I/index.json index.before
atomfs pull $X docker://127.0.0.1:$(cat relay.port)/app/one:v1 I >/dev/null 2>&1 &
cpid=$!
i=0; while [ ! -e relay.port.stalled ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
sleep 1 # the client takes in the bytes sent before the stall
kill -TERM $cpid; wait $cpid 2>/dev/null
check "interrupted pull: the relay stalled the blob part way" test -e relay.port.stalled
check "interrupted pull: index.json is unchanged" cmp index.before I/index.json
check "interrupted pull: the partial blob is discarded" sh -c "test -z \"\$(ls -A I/blobs/sha256 | grep tmp)\" && test ! -e I/blobs/sha256/$l2"
check "interrupted pull: the completed layer is kept" test -e "I/blobs/sha256/$l1"
check "interrupted pull: the next pull fetches only what is missing" sh -c "atomfs pull $X $R/app/one:v1 I >again.out && grep -q ': 1 blobs fetched.*2 already here' again.out"
diag <again.out
check "interrupted pull: ... and the image verifies" atomfs verify -q --pubkey k.pub I:v1

# ---- htpasswd basic auth over TLS with a self-signed CA ----
stop_all
mkdir certs
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=atomfs-test-ca \
	-keyout certs/ca.key -out certs/ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout srv.key -out srv.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >srv.ext
openssl x509 -req -in srv.csr -CA certs/ca.crt -CAkey certs/ca.key -CAcreateserial \
	-days 2 -extfile srv.ext -out srv.crt 2>/dev/null
rm certs/ca.key
htpasswd -Bbn alice 's3cret-Pw' >htpasswd 2>/dev/null
start_registry secure "  tls:
    certificate: $T/srv.crt
    key: $T/srv.key
auth:
  htpasswd:
    realm: atomfs-test
    path: $T/htpasswd" || echo "not ok - the TLS + htpasswd registry starts"
S=docker://127.0.0.1:$secure_PORT
auth_json() { printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}\n' "$1" "$(printf '%s' "$2" | base64 -w0)" >"$3"; }
auth_json "$secure_PORT" 'alice:s3cret-Pw' auth.json
check_fail_msg 1 "cannot reach registry.*--cert-dir" "tls: an unknown CA is refused" atomfs push -q L:v1 $S/app/one:v1
check "tls+basic: push with --cert-dir and the credentials of \$REGISTRY_AUTH_FILE" atomfs push -q --cert-dir certs L:v1 $S/app/one:v1
check "tls+basic: pull and verify" sh -c "atomfs pull -q --cert-dir certs $S/app/one:v1 SP && atomfs verify -q --pubkey k.pub SP:v1"
check "tls+basic: --tls-verify=false also works" atomfs pull -q --tls-verify=false $S/app/one:v1 SP2
mv auth.json "$HOME/docker-config.json"; mkdir -p "$HOME/.docker" && mv "$HOME/docker-config.json" "$HOME/.docker/config.json"
check "auth: ~/.docker/config.json is read when \$REGISTRY_AUTH_FILE has nothing" atomfs pull -q --cert-dir certs $S/app/one:v1 SP3
auth_json "$secure_PORT" 'alice:wrong-Pw' auth.json
tree_state SP >before
check_fail_msg 1 "refused the credentials for it from $T/auth.json" "auth: a wrong password is refused in one line" atomfs pull --cert-dir certs $S/app/one:v1 SP
check "auth: ... which names no password" sh -c "! grep -q 'wrong-Pw\|s3cret' $T/.err && test \$(wc -l <$T/.err) -eq 1"
tree_state SP >after
check "auth: ... and leaves the layout unchanged" cmp before after
rm -f auth.json "$HOME/.docker/config.json"
check_fail_msg 1 "asks for a login and no credentials" "auth: no credentials at all says how to log in" atomfs pull --cert-dir certs $S/app/one:v1 SP

# ---- the bearer-token flow against tests/token-server.py ----
stop_all
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=atomfs-token \
	-keyout tok.key -out tok.crt 2>/dev/null
"$PY" "$ATOMFS_TESTS/token-server.py" tok.port tok.key tok.crt atomfs-issuer atomfs-registry bob 'T0ken-Pw' 2>token.log &
PIDS="$PIDS $!"
i=0; while [ ! -s tok.port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
start_registry tok "auth:
  token:
    realm: http://127.0.0.1:$(cat tok.port)/token
    service: atomfs-registry
    issuer: atomfs-issuer
    rootcertbundle: $T/tok.crt" || echo "not ok - the token-auth registry starts"
K=docker://127.0.0.1:$tok_PORT
auth_json "$tok_PORT" 'bob:T0ken-Pw' auth.json
check "token: push with a token from the token server" atomfs push -q $X L:v1 $K/app/one:v1
check "token: a cross-repository mount asks for both repositories" sh -c "atomfs push $X L:v2 $K/app/two:v2 | grep -q ': 2 blobs sent .*, 0 already there, 2 mounted'"
check "token: pull and verify" sh -c "atomfs pull -q $X $K/app/two:v2 TP && atomfs verify -q TP:v2"
# The registry names the actions in either order (its challenge follows
# the request that was refused).
check "token: the token server was asked for push and pull scopes" sh -c \
	'grep -Eq "scope=repository%3Aapp%2Fone%3A(pull%2Cpush|push%2Cpull)" token.log || { sed "s/^/# token.log: /" token.log; false; }'
auth_json "$tok_PORT" 'bob:nope' auth.json
check_fail_msg 1 "refused the credentials" "token: a wrong password is refused" atomfs pull $X $K/app/one:v1 TP2
stop_all
check "all servers are stopped" sh -c "! pgrep -f '[d]ocker-registry serve $T/|[t]oken-server.py tok.port tok.key|[s]tall-relay.py relay.port $plain_PORT' >/dev/null"

done_testing
