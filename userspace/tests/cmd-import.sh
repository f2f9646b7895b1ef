#!/bin/sh
# command tests: atomfs import of tar-layer images (umoci-made and Docker-style)
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

if ! have umoci; then
	skip "import: umoci image with whiteouts" "umoci is not installed"
	done_testing; exit
fi
# three layers made by umoci: files; a whiteout and an opaque dir; a new file
umoci init --layout src >/dev/null 2>&1
umoci new --image src:t >/dev/null 2>&1
umoci unpack --image src:t b >/dev/null 2>&1
mkdir -p b/rootfs/etc/keep b/rootfs/opq/deep b/rootfs/bin
echo 1 >b/rootfs/etc/gone; echo 2 >b/rootfs/etc/keep/x; echo o >b/rootfs/opq/old; echo d >b/rootfs/opq/deep/f
ln -s ../etc/keep/x b/rootfs/bin/link
umoci repack --refresh-bundle --image src:t b >/dev/null 2>&1
rm b/rootfs/etc/gone; rm -rf b/rootfs/opq; mkdir b/rootfs/opq; echo n >b/rootfs/opq/new
umoci repack --refresh-bundle --image src:t b >/dev/null 2>&1
echo app >b/rootfs/app
umoci repack --refresh-bundle --image src:t b >/dev/null 2>&1
umoci config --image src:t --config.env FOO=bar --config.entrypoint /bin/sh --config.workingdir /etc \
	--config.user 1:2 --config.label L=v >/dev/null 2>&1
# a hand-made layer with .wh..wh..opq as Docker writes it
python3 - <<'PY'
import io, tarfile
t = tarfile.open('docker.tar', 'w')
for name in ('opq/', 'opq/.wh..wh..opq', 'opq/fresh', 'etc/.wh.keep'):
    i = tarfile.TarInfo(name.rstrip('/'))
    if name.endswith('/'):
        i.type, i.mode = tarfile.DIRTYPE, 0o755
        t.addfile(i)
    else:
        i.size = 1
        t.addfile(i, io.BytesIO(b'z'))
t.close()
PY

umoci raw add-layer --image src:t docker.tar >/dev/null 2>&1
nsrc=$(umoci stat --image src:t --json 2>/dev/null | python3 -c 'import json,sys; print(sum(1 for h in json.load(sys.stdin)["history"] if not h.get("empty_layer")))')

check "import: a umoci image with whiteouts and an opaque layer" atomfs import -q --mtime 5 src:t dst:t
check "import: one squashfs layer per tar layer" test "$(layers_of dst:t | wc -l)" -eq "$nsrc"
n=0
for l in $(layers_of dst:t); do
	n=$((n + 1)); rm -rf x$n; unsquashfs -q -d x$n "$(blob dst "$l")" >/dev/null 2>&1
done
check "import: layer 1 keeps files and symlinks" sh -c 'test "$(cat x1/etc/keep/x)" = 2 && test "$(readlink x1/bin/link)" = ../etc/keep/x'
check "import: layer 2 turns .wh.gone into a 0/0 char device" sh -c 'test -c x2/etc/gone && test "$(stat -c %t,%T x2/etc/gone)" = 0,0'
check "import: layer 2 whiteouts for the replaced directory" sh -c 'test -c x2/opq/old && test -c x2/opq/deep && test -f x2/opq/new'
check "import: no .wh. names remain" sh -c '! find x1 x2 x3 x4 -name ".wh.*" | grep -q .'
check "import: layer 3 holds the application file" test -f x3/app
check "import: .wh..wh..opq becomes trusted.overlay.opaque=y" sh -c 'getfattr -n trusted.overlay.opaque --only-values x4/opq | grep -qx y'
check "import: the opaque directory keeps its own files" test -f x4/opq/fresh
check "import: Docker-style .wh.NAME becomes a whiteout too" test -c x4/etc/keep
check "import: layers are marked with their source" sh -c "atomfs inspect dst:t | grep -q 'import from .*src:t@sha256:'"
atomfs inspect --json dst:t >i.json
check "import: config Env, Entrypoint, User, WorkingDir, Labels carry over" python3 -c '
import json; r = json.load(open("i.json"))["runtime"]
assert r["Env"][-1] == "FOO=bar" and r["Entrypoint"] == ["/bin/sh"] and r["User"] == "1:2"
assert r["WorkingDir"] == "/etc" and r["Labels"]["L"] == "v"'
check "import: diff_ids are the squashfs layer digests" python3 -c "
import json; m = json.load(open('dst/blobs/sha256/$(manifest_of dst:t)'))
c = json.load(open('dst/blobs/sha256/' + m['config']['digest'][7:]))
assert c['rootfs']['diff_ids'] == [l['digest'] for l in m['layers']]"
check_schemas "import: the imported layout matches the image-spec schemas" dst
check_skopeo "import: skopeo copies the imported image unchanged" dst:t
atomfs import -q --mtime 5 src:t dst:again
check "import: importing again gives the same layers" test "$(layers_of dst:t)" = "$(layers_of dst:again)"

if have skopeo; then
	skopeo copy -q --dest-compress --dest-compress-format zstd oci:src:t oci:zsrc:t
	atomfs import -q --mtime 5 zsrc:t dst:z
	check "import: +zstd tar layers convert to the same layers as +gzip ones" test "$(layers_of dst:z)" = "$(layers_of dst:t)"
else
	skip "import: +zstd tar layers convert to the same layers as +gzip ones" "skopeo is not installed"
fi

# umoci unpack is the reference: the merged tree must match
# against_umoci DESC IMG: import IMG:t and compare with `umoci unpack`
against_umoci() {
	desc=$1 img=$2
	if ! is_root; then skip "$desc" "extraction needs root"; return; fi
	rm -rf "dst-$img"
	if ! atomfs import -q --mtime 5 "$img:t" "dst-$img:t" >"$T/.out" 2>&1; then
		fail "$desc"; diag <"$T/.out"; return
	fi
	same_tree_as_umoci "$desc" "$img:t" "dst-$img:t" "$img"
}
against_umoci "import: overlaying the layers gives the tree umoci unpack gives" src

# whiteouts next to entries of the same layer (issue 11, item 7): each case
# an image of two hand-made tar layers over the same lower layer
python3 - <<'PY'
import io, tarfile
def mk(path, members):
    t = tarfile.open(path, 'w', format=tarfile.PAX_FORMAT)
    for name in members:
        i = tarfile.TarInfo(name.rstrip('/'))
        i.mtime = 1000
        if name.endswith('/'):
            i.type, i.mode = tarfile.DIRTYPE, 0o755
            t.addfile(i)
        else:
            i.size, i.mode = 1, 0o644
            t.addfile(i, io.BytesIO(b'u'))
    t.close()
mk('wh-lower.tar', ['a/', 'a/old', 'b/', 'b/old', 'srv/', 'srv/swap/', 'srv/swap/x', 'srv/swap/y/',
                    'srv/swap/y/z', 'c/', 'c/old', 'e'])
mk('wh-a.tar', ['.wh.a', 'a/', 'a/new'])
mk('wh-b.tar', ['b/.wh..wh..opq', 'b/', 'b/new'])
mk('wh-c.tar', ['srv/swap', 'srv/swap/.wh.x', 'srv/swap/.wh.y', 'srv/swap/y/.wh.z', 'srv/swap/y/.wh..wh..opq'])
mk('wh-d.tar', ['c/', 'c/new', '.wh.c', 'e', '.wh.e'])
mk('wh-e.tar', ['a/.wh.old', '.wh.a', 'b/.wh..wh..opq', '.wh.b'])
PY
for c in a b c d e; do
	umoci init --layout "wh$c" >/dev/null 2>&1
	umoci new --image "wh$c:t" >/dev/null 2>&1
	umoci raw add-layer --image "wh$c:t" wh-lower.tar >/dev/null 2>&1
	umoci raw add-layer --image "wh$c:t" "wh-$c.tar" >/dev/null 2>&1
done
against_umoci "import: '.wh.a' then 'a/' and 'a/new' in one layer give an opaque a (as umoci unpack)" wha
against_umoci "import: 'b/.wh..wh..opq' then 'b/' keeps b opaque (as umoci unpack)" whb
against_umoci "import: whiteouts below a directory this layer made a file are moot (as umoci unpack)" whc
against_umoci "import: a whiteout after this layer's own entries of that name keeps them (as umoci unpack)" whd
against_umoci "import: a whiteout of a directory this layer holds only whiteouts in deletes it (as umoci unpack)" whe

# bad input: layout unchanged, documented exit status
tree_state dst >before
check_fail_msg 3 "no image tagged 'nope'" "import: an unknown tag exits 3" atomfs import src:nope dst:x
bad=$(umoci stat --image src:t --json >/dev/null 2>&1; python3 -c "
import json; m = json.load(open('src/blobs/sha256/' + [d for d in json.load(open('src/index.json'))['manifests']][-1]['digest'][7:]))
print(m['layers'][1]['digest'][7:])")
cp -a src src2
printf 'X' | dd of="src2/blobs/sha256/$bad" bs=1 seek=100 conv=notrunc 2>/dev/null
check_fail_msg 5 "does not match its digest" "import: a damaged tar blob is refused (exit 5)" atomfs import src2:t dst:x
rm "src2/blobs/sha256/$bad"
check_fail_msg 3 "is missing" "import: a missing blob exits 3" atomfs import src2:t dst:x
cp -a src src3
python3 - <<PY
import json, hashlib, os
idx = json.load(open('src3/index.json'))
d = idx['manifests'][-1]
m = json.load(open('src3/blobs/sha256/' + d['digest'][7:]))
m['layers'][0]['mediaType'] = 'application/vnd.example.unknown'
b = json.dumps(m).encode(); h = hashlib.sha256(b).hexdigest()
open('src3/blobs/sha256/' + h, 'wb').write(b)
d['digest'] = 'sha256:' + h; d['size'] = len(b)
json.dump(idx, open('src3/index.json', 'w'))
PY
check_fail_msg 4 "unsupported media type" "import: an unknown layer media type is refused (exit 4)" atomfs import src3:t dst:x
tree_state dst >after
check "import: failed imports leave the layout unchanged" cmp before after
check_fail_msg 0 "imported" "import: into a new layout" atomfs import --compression gzip src:t fresh:t
check "import: --help exits 0" atomfs import --help
done_testing
