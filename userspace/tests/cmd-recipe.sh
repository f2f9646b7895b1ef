#!/bin/sh
# command tests: recipes (atomfs build -f): parsing, file:line errors,
# planning (--dry-run), input digests, reuse, swap and rebuild, apply
# conflicts.  Stanzas here have no run: steps (those run in the VM:
# tools/testing/e2e/recipe), so everything below runs on the host.
. "$ATOMFS_TESTS/lib.sh"
cd "$T"
export SOURCE_DATE_EPOCH=1

mkdir -p b/etc s/usr/lib p/usr/lib p2/usr/lib
echo base >b/etc/os-release
echo ssl-1 >s/usr/lib/libssl.so
echo py >p/usr/lib/python3
tar -C b -cf base.tar .
tar -C s -cf ssl.tar .
tar -C p -cf py.tar .
cat >atomfs.yaml <<'EOF'
# the talk's example, without run steps
base:
  from: {type: tar, url: base.tar}
ssl:
  from: {type: tar, url: ssl.tar}
python3:
  from:
    type: tar
    url: ${{PYTAR:py.tar}}
app-common: &app
  from: {type: built, tag: base}
  apply: [ssl, python3]
  environment: {LANG: C.UTF-8}
  build_only: true
A:
  <<: *app
  build_only: false
  entrypoint: /bin/app --flag "x y"
  working_dir: /srv
  runtime_user: "1000:1000"
  labels: {org.example.app: A}
  annotations: {org.example.note: built by a recipe}
B:
  <<: *app
  build_only: false
  cmd: [/bin/b]
EOF

# ---- the plan before anything is built ----
check "recipe: --dry-run on a new recipe" sh -c 'atomfs build -f atomfs.yaml --dry-run >plan'
check "recipe: the plan lists every stanza, bases first" sh -c '
	test "$(cut -d: -f1 plan | tr "\n" " ")" = "base ssl python3 app-common A B "'
check "recipe: the plan says what is not built yet" grep -q "^ssl: rebuild: not built yet" plan
check "recipe: the plan says why a dependent stanza is rebuilt" grep -q "^A: rebuild: its base base will be rebuilt" plan
check "recipe: --dry-run builds nothing" test ! -e oci

# ---- first build ----
check "recipe: the talk's stanzas build" atomfs build -q -f atomfs.yaml
check "recipe: one tag per stanza, build_only ones not in the output" sh -c '
	python3 -c "import json; print(\" \".join(sorted(m[\"annotations\"][\"org.opencontainers.image.ref.name\"] for m in json.load(open(\"oci/index.json\"))[\"manifests\"])))" >tags
	test "$(cat tags)" = "A B base python3 ssl"'
check "recipe: a build_only stanza is kept in the build directory" test -f .atomfs/oci/index.json
layers_of oci:A >la; layers_of oci:B >lb
{ layers_of oci:base; layers_of oci:ssl; layers_of oci:python3; } >lparts
check "recipe: A and B have the same layers" cmp la lb
check "recipe: A's layers are base's, ssl's and python3's blobs" cmp la lparts
check "recipe: blobs stored once: 3 layers, 5 configs, 5 manifests" test "$(ls oci/blobs/sha256 | wc -l)" -eq 13
atomfs inspect --json oci:A >a.json
check "recipe: environment, entrypoint, working_dir, user, labels in the OCI config" python3 -c '
import json; c = json.load(open("a.json"))["runtime"]
assert c["Env"] == ["LANG=C.UTF-8"], c
assert c["Entrypoint"] == ["/bin/app", "--flag", "x y"], c
assert c["WorkingDir"] == "/srv" and c["User"] == "1000:1000", c
assert c["Labels"] == {"org.example.app": "A"}, c'
check "recipe: annotations and the input digests in the manifest" python3 -c '
import json; a = json.load(open("a.json"))["annotations"]
assert a["org.example.note"] == "built by a recipe", a
assert a["org.atomfs.recipe.input"].startswith("sha256:") and a["org.atomfs.recipe.own-input"].startswith("sha256:"), a
assert a["org.atomfs.recipe.input"] != a["org.atomfs.recipe.own-input"], a
assert a["org.atomfs.recipe.stanza"] == "A", a'
check_schemas "recipe: the output layout matches the image-spec schemas" oci

# ---- unchanged: nothing rebuilt ----
tree_state oci >before
check "recipe: an unchanged recipe plans no work" sh -c '
	atomfs build -f atomfs.yaml --dry-run >plan && test "$(grep -vc ": reuse: unchanged" plan)" -eq 0'
check "recipe: an unchanged recipe rebuilds nothing" sh -c 'atomfs build -f atomfs.yaml 2>err && test "$(grep -vc ": unchanged, reused" err)" -eq 0'
tree_state oci >after
check "recipe: ... and the layout is byte for byte the same" cmp before after

# ---- --no-cache: everything again, to the same digests ----
check "recipe: --no-cache rebuilds every stanza" sh -c 'atomfs build -f atomfs.yaml --no-cache 2>err && test "$(grep -c ": building (forced" err)" -eq 6'
tree_state oci >after
check "recipe: --no-cache gives the same digests (reproducible with SOURCE_DATE_EPOCH)" cmp before after

# ---- the update rule: ssl changes, A and B are swapped ----
a_old=$(manifest_of oci:A)
echo ssl-2 >s/usr/lib/libssl.so
tar -C s -cf ssl.tar .
check "recipe: after ssl changes, the plan rebuilds ssl only" sh -c '
	atomfs build -f atomfs.yaml --dry-run >plan &&
	grep -q "^ssl: rebuild: its recipe, base or imports changed" plan &&
	grep -q "^A: swap: ssl changed: layers swapped, run steps not repeated (--rebuild A runs them)" plan &&
	grep -q "^B: swap: ssl changed" plan && grep -q "^base: reuse" plan && grep -q "^python3: reuse" plan'
check "recipe: the build says A was swapped, not re-run" sh -c '
	atomfs build -f atomfs.yaml 2>err && grep -q "^A: ssl changed: layers swapped, run steps not repeated" err &&
	grep -q "^ssl: building" err && ! grep -q "^A: building" err'
check "recipe: A now holds the new ssl layer in the old one's place" \
	test "$(layers_of oci:A | sed -n 2p)" = "$(layers_of oci:ssl)"
check "recipe: A's manifest changed" test "$(manifest_of oci:A)" != "$a_old"
layers_of oci:A >swapped
check "recipe: --rebuild A runs it again" sh -c 'atomfs build -f atomfs.yaml --rebuild A 2>err && grep -q "^A: building (forced" err'
layers_of oci:A >fresh
check "recipe: the swapped A equals a fresh build of it" cmp swapped fresh
check "recipe: after the swap the recipe is up to date" sh -c '
	atomfs build -f atomfs.yaml --dry-run >plan && test "$(grep -vc ": reuse: unchanged" plan)" -eq 0'

# ---- substitutions change the input ----
cp -r p/. p2/; echo py-2 >p2/usr/lib/python3; tar -C p2 -cf py2.tar .
check "recipe: --substitute changes what a stanza is made of" sh -c '
	atomfs build -f atomfs.yaml --substitute PYTAR=py2.tar --dry-run >plan &&
	grep -q "^python3: rebuild" plan && grep -q "^A: swap: python3 changed" plan'

# ---- apply conflicts, from the layers' trees ----
mkdir -p c1/etc c2/etc
echo one >c1/etc/db; echo two >c2/etc/db; echo mine >c1/etc/only1
tar -C c1 -cf c1.tar .; tar -C c2 -cf c2.tar .
cat >conflict.yaml <<'EOF'
base:
  from: {type: tar, url: base.tar}
one:
  from: {type: tar, url: c1.tar}
two:
  from: {type: tar, url: c2.tar}
app:
  from: {type: built, tag: base}
  apply: [one, two]
EOF
tree_state oci >before
check_fail_msg 1 "conflict.yaml:7: stanza \"app\": 1 path is changed by more than one applied image" \
	"recipe: two applied images changing one file fail the build" atomfs build -f conflict.yaml -o conf
check "recipe: ... naming the path and both images" grep -q "applied images both change /etc/db (one, two)" "$T/.err"
check "recipe: ... and nothing is tagged" test ! -e conf/index.json
sed 's/  apply: \[one, two\]/&\n  apply_conflicts: [etc\/db]/' conflict.yaml >allowed.yaml
check "recipe: apply_conflicts allows the path" atomfs build -q -f allowed.yaml -o conf
check "recipe: ... and the later image's layer is on top" test "$(layers_of conf:app | tail -1)" = "$(layers_of conf:two)"

# ---- bad recipes: one line, file:line, nothing built ----
bad() { # NAME PATTERN TEXT
	printf '%b' "$3" >"$1.yaml"
	check_fail_msg 4 "$2" "recipe: $1 is refused with file:line" atomfs build -f "$1.yaml" -o badout
	if [ "$(wc -l <"$T/.err")" -ne 1 ]; then fail "recipe: $1: the error is one line"; diag <"$T/.err"; fi
}
bad unknown-key '^atomfs: unknown-key.yaml:3: stanza "A": unknown key "aply"$' \
	'A:\n  from: {type: scratch}\n  aply: [x]\n'
bad wrong-type '^atomfs: wrong-type.yaml:3: stanza "A": "run" must be a list of strings or one string, not a map$' \
	'A:\n  from: {type: scratch}\n  run: {a: b}\n'
bad wrong-bool 'wrong-bool.yaml:3: stanza "A": "build_only" must be true or false, not "maybe"' \
	'A:\n  from: {type: scratch}\n  build_only: maybe\n'
bad cycle 'cycle.yaml:1: stanza "A": dependency cycle: A -> B -> A' \
	'A:\n  from: {type: built, tag: B}\nB:\n  apply: [A]\n  from: {type: scratch}\n'
bad missing-built 'missing-built.yaml:4: stanza "A": apply "nope" is not a stanza of this recipe' \
	'A:\n  from: {type: scratch}\n  apply:\n    - nope\n'
bad duplicate 'duplicate.yaml:3: duplicate stanza "A" (first at line 1)' \
	'A:\n  from: {type: scratch}\nA:\n  from: {type: scratch}\n'
bad duplicate-key 'duplicate-key.yaml:3: stanza "A": duplicate key "from" (first at line 2)' \
	'A:\n  from: {type: scratch}\n  from: {type: scratch}\n'
bad no-subst 'no-subst.yaml:3: ${{VERSION}} has no value: give --substitute VERSION=VALUE' \
	'A:\n  from: {type: scratch}\n  run: echo ${{VERSION}}\n'
bad bad-subst 'bad-subst.yaml:2: bad substitution "${{1X}}"' \
	'A:\n  run: ${{1X}}\n'
bad unclosed-subst 'unclosed-subst.yaml:2: substitution "${{" is not closed' \
	'A:\n  run: ${{X\n'
bad no-from 'no-from.yaml:1: stanza "A": no "from"' \
	'A:\n  run: true\n'
bad from-type 'from-type.yaml:2: stanza "A": "from": unknown type "dockr"' \
	'A:\n  from: {type: dockr, url: x}\n'
bad bad-yaml 'bad-yaml.yaml:3: not valid YAML' \
	'A:\n  from: [\n'
bad bad-name 'bad-name.yaml:1: stanza "-A": the stanza name is the output tag' \
	'-A:\n  from: {type: scratch}\n'
bad two-docs 'two-docs.yaml:3: a recipe is one YAML document' \
	'A:\n  from: {type: scratch}\n---\nB: {}\n'
bad bad-hash 'bad-hash.yaml:4: stanza "A": import hash "sha256:xyz" is not sha256:<64 hex digits>' \
	'A:\n  from: {type: scratch}\n  imports:\n    - {path: a, hash: "sha256:xyz"}\n'
bad alias-bomb 'expands to more than' \
	"$(python3 -c '
print("A:\n  from: {type: scratch}\n  labels:\n  - &a0 [x, x, x, x, x, x, x, x, x, x]")
for i in range(1, 9): print("  - &a%d [%s]" % (i, ", ".join(["*a%d" % (i - 1)] * 10)))')"
check "recipe: nothing was built for any bad recipe" test ! -e badout

# ---- from and apply docker://: pulled with atomfs pull ----
if have docker-registry; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s/reg}}\nhttp: {addr: "127.0.0.1:%s"}\n' "$T" "$port" >reg.yml
	env -u REGISTRY_AUTH_FILE docker-registry serve reg.yml >reg.log 2>&1 &
	regpid=$!
	i=0; while [ $i -lt 100 ] && ! curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; do sleep 0.1; i=$((i + 1)); done
	R=docker://127.0.0.1:$port
	atomfs push -q --tls-verify=false oci:base $R/t/base:1 >/dev/null 2>&1
	printf 'A:\n  from: {type: docker, url: %s/t/base:1, insecure: true}\n  apply: [ssl]\nssl:\n  from: {type: oci, url: oci:ssl}\n' "$R" >docker.yaml
	check "recipe: a from docker:// image is pulled into the build directory" \
		atomfs build -q -f docker.yaml -o dockout --build-dir dockbuild
	layers_of oci:base >want; layers_of oci:ssl | tail -1 >>want
	layers_of dockout:A >got
	check "recipe: ... their layers verbatim" cmp want got
	check "recipe: ... and a second build reuses everything" sh -c '
		atomfs build -f docker.yaml -o dockout --build-dir dockbuild 2>err && grep -q "^A: unchanged, reused" err'
	sed 's|t/base:1|t/nope:1|' docker.yaml >nope.yaml
	check_fail_msg 1 "nope.yaml:2: cannot pull $R/t/nope:1" "recipe: an image the registry lacks fails with file:line" \
		atomfs build -f nope.yaml -o dockout2 --build-dir dockbuild2
	if have umoci && have skopeo; then
		umoci init --layout u >/dev/null 2>&1 && umoci new --image u:t >/dev/null 2>&1
		umoci unpack --image u:t ub >/dev/null 2>&1; echo tar >ub/rootfs/from-tar
		umoci repack --refresh-bundle --image u:t ub >/dev/null 2>&1
		skopeo copy -q --dest-tls-verify=false oci:u:t $R/t/tar:1 >/dev/null 2>&1
		printf 'T:\n  from: {type: docker, url: %s/t/tar:1, insecure: true}\n' "$R" >tar.yaml
		check "recipe: from a docker:// image with tar layers imports them" \
			atomfs build -q -f tar.yaml -o tarout --build-dir tarbuild
		l=$(layers_of tarout:T)
		check "recipe: ... into one squashfs layer holding the image's file" sh -c "
			[ \"\$(echo '$l' | wc -l)\" = 1 ] && unsquashfs -l tarout/blobs/sha256/$l | grep -q '/from-tar\$'"
	else
		skip "recipe: from a docker:// image with tar layers imports them" "umoci or skopeo is not installed"
	fi
	kill $regpid; wait $regpid 2>/dev/null
else
	skip "recipe: from docker:// (atomfs pull)" "docker-registry is not installed"
fi

# ---- imports: digests and hashes ----
echo data >imp.txt
h=$(sha256sum imp.txt | cut -d" " -f1)
cat >imp.yaml <<EOF
A:
  from: {type: built, tag: base}
  imports:
    - path: imp.txt
      hash: $h
base:
  from: {type: tar, url: base.tar}
EOF
check "recipe: an import with a matching hash is taken" atomfs build -q -f imp.yaml -o impout
echo changed >imp.txt
check_fail_msg 5 "imp.yaml:4: stanza \"A\": import imp.txt: its sha256 is sha256:.*but the recipe's hash says sha256:$h" \
	"recipe: an import whose hash does not match fails, naming both" atomfs build -f imp.yaml -o impout
printf 'A:\n  from: {type: built, tag: base}\n  import: imp.txt\nbase:\n  from: {type: tar, url: base.tar}\n' >imp2.yaml
check "recipe: an import without hash (stacker's import: spelling)" atomfs build -q -f imp2.yaml -o impout2
echo again >imp.txt
check "recipe: a changed import makes its stanza a rebuild" sh -c '
	atomfs build -f imp2.yaml -o impout2 --dry-run >plan && grep -q "^A: rebuild: its recipe, base or imports changed" plan'

# ---- imports by http(s): fetched into the build directory, hash checked ----
mkdir -p www && echo remote >www/r.txt
rh=$(sha256sum www/r.txt | cut -d" " -f1)
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# the interpreter itself, not a wrapper (pyenv's shim) whose pid $! would be
PY=$(python3 -c 'import sys; print(sys.executable)')
"$PY" -m http.server --bind 127.0.0.1 --directory www "$hport" >http.log 2>&1 &
httppid=$!
trap 'kill $httppid 2>/dev/null; rm -rf "$T"' EXIT
i=0; while [ $i -lt 100 ] && ! curl -s -o /dev/null "http://127.0.0.1:$hport/"; do sleep 0.1; i=$((i + 1)); done
U=http://127.0.0.1:$hport
printf 'A:\n  from: {type: built, tag: base}\n  imports:\n    - path: %s/r.txt\n      hash: sha256:%s\nbase:\n  from: {type: tar, url: base.tar}\n' "$U" "$rh" >url.yaml
check "recipe: an http import with the right hash is fetched" sh -c "atomfs build -f url.yaml -o urlout --build-dir urlb 2>url.err && grep -q 'A: fetching $U/r.txt' url.err"
check "recipe: ... into the build directory, with its content" sh -c 'cmp www/r.txt urlb/imports/*/r.txt'
check "recipe: ... and not fetched again while it has that hash" sh -c "atomfs build -f url.yaml -o urlout --build-dir urlb 2>url.err && ! grep -q fetching url.err && grep -q '^A: unchanged, reused' url.err"
echo tampered >www/r.txt
rm -rf urlb
check_fail_msg 5 "url.yaml:4: stanza \"A\": import $U/r.txt: its sha256 is sha256:.*but the recipe's hash says sha256:$rh" \
	"recipe: an http import whose content does not match the hash fails, naming both" atomfs build -f url.yaml -o urlout --build-dir urlb
sed 's|/r.txt|/nope.txt|' url.yaml >url404.yaml
check_fail_msg 1 "url404.yaml:4: stanza \"A\": cannot download $U/nope.txt: HTTP status 404" \
	"recipe: an http import the server does not have fails with file:line and the status" atomfs build -f url404.yaml -o urlout --build-dir urlb
printf 'A:\n  from: {type: built, tag: base}\n  import: %s/r.txt\nbase:\n  from: {type: tar, url: base.tar}\n' "$U" >urlnh.yaml
atomfs build -q -f urlnh.yaml -o urlnh --build-dir urlnhb || echo "not ok - fixture: build urlnh.yaml"
echo new >www/r.txt
check "recipe: an http import without hash is fetched each build: a changed file rebuilds" sh -c '
	atomfs build -f urlnh.yaml -o urlnh --build-dir urlnhb --dry-run >plan 2>&1 && grep -q "^A: rebuild: its recipe, base or imports changed" plan'
cp base.tar www/base.tar
printf 'base:\n  from: {type: tar, url: %s/base.tar}\n' "$U" >urltar.yaml
printf 'base:\n  from: {type: tar, url: base.tar}\n' >localtar.yaml
atomfs build -q -f localtar.yaml -o localtar --build-dir localtarb || echo "not ok - fixture: build localtar.yaml"
check "recipe: from tar by http URL is fetched and gives the layer the local file gives" sh -c "
	atomfs build -q -f urltar.yaml -o urltar --build-dir urltarb && cmp urltarb/from/*/from.tar base.tar &&
	test \"\$(atomfs inspect --json urltar:base | grep '\"digest\"')\" = \"\$(atomfs inspect --json localtar:base | grep '\"digest\"')\""
sed 's|/base.tar|/nope.tar|' urltar.yaml >urltar404.yaml
check_fail_msg 1 "urltar404.yaml:2: from tar: cannot download $U/nope.tar: HTTP status 404" \
	"recipe: a from tar URL the server lacks fails with file:line and the status" atomfs build -f urltar404.yaml -o urltar --build-dir urltarb
kill $httppid; wait $httppid 2>/dev/null

# ---- --sign: every tagged image signed for its tag ----
openssl genpkey -algorithm ed25519 -out rk.pem 2>/dev/null; openssl pkey -in rk.pem -pubout -out rk.pub
printf 'base:\n  from: {type: tar, url: base.tar}\nB2:\n  from: {type: built, tag: base}\n  environment: {X: y}\n' >sign.yaml
check "recipe: --sign signs each tagged image" atomfs build -q -f sign.yaml -o signout --build-dir signb --sign rk.pem
check "recipe: ... base verifies with the key" atomfs verify --pubkey rk.pub signout:base
check "recipe: ... B2 verifies with the key" atomfs verify --pubkey rk.pub signout:B2
check_exit 5 "recipe: without --sign the image is unsigned (verify exits 5)" \
	sh -c 'atomfs build -q -f sign.yaml -o unsignout --build-dir unsignb && atomfs verify --pubkey rk.pub unsignout:B2'

# ---- from oci: the url with or without its oci: prefix ----
printf 'P:\n  from: {type: oci, url: "oci:%s/signout:base"}\nQ:\n  from: {type: oci, url: "%s/signout:base"}\n' "$PWD" "$PWD" >ociurl.yaml
check "recipe: from oci takes url: oci:DIR:TAG as well as DIR:TAG" sh -c '
	atomfs build -q -f ociurl.yaml -o ociurlout --build-dir ociurlb &&
	test "$(atomfs inspect --json ociurlout:P | grep -c sha256)" -gt 0 &&
	test "$(atomfs inspect --json ociurlout:P | grep "\"digest\"")" = "$(atomfs inspect --json ociurlout:Q | grep "\"digest\"")"'

# ---- a stanza's tag listed twice is refused, not taken for "not built yet" ----
cp -a signout dupout
python3 - dupout/index.json <<'PY'
import json, sys
p = sys.argv[1]
j = json.load(open(p))
t = [m for m in j["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "B2"]
j["manifests"].append(t[0])
json.dump(j, open(p, "w"))
PY
check "recipe: a tag listed twice in the output layout fails the build, naming it" sh -c '
	! atomfs build -q -f sign.yaml -o dupout --build-dir dupb 2>err && grep -q "lists tag .B2. 2 times" err'

# ---- --clean ----
check "recipe: --clean removes the build directory" sh -c 'atomfs build -q -f atomfs.yaml --clean && test ! -e .atomfs'
check "recipe: --rebuild of an unknown stanza is an error" sh -c '! atomfs build -f atomfs.yaml --rebuild nope --dry-run 2>/dev/null'
check "recipe: build -f --help exits 0 and names the recipe options" sh -c 'atomfs build -f x --help | grep -q -- --dry-run'
done_testing
