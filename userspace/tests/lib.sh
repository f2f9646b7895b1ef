# SPDX-License-Identifier: GPL-2.0-or-later
# Shell helpers for command tests: each check prints "ok - DESC" or
# "not ok - DESC" (tests/run-tests numbers them); diagnostics go on "#" lines.
set -u
FAILED=0
T=$(mktemp -d "${TMPDIR:-/tmp}/atomfs-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset SOURCE_DATE_EPOCH
# Debian's python (python3-jsonschema lives there), not a user's pyenv shim
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
python3() { "$PY" "$@"; }

pass() { echo "ok - $1"; }
fail() { echo "not ok - $1"; FAILED=$((FAILED + 1)); }
diag() { sed 's/^/# /'; }

# check DESC CMD...: CMD must exit 0
check() {
	desc=$1; shift
	"$@" >"$T/.out" 2>&1
	got=$?
	if [ "$got" -eq 0 ]; then pass "$desc"; else
		fail "$desc"; echo "exit $got from: $*" | diag; diag <"$T/.out"; fi
}

# check_exit CODE DESC CMD...: CMD must exit with CODE
check_exit() {
	want=$1 desc=$2; shift 2
	"$@" >"$T/.out" 2>&1
	got=$?
	if [ "$got" -eq "$want" ]; then pass "$desc"; else
		fail "$desc"; echo "exit $got, want $want, from: $*" | diag; diag <"$T/.out"; fi
}

# check_fail_msg CODE PATTERN DESC CMD...: exit CODE and stderr matches PATTERN
check_fail_msg() {
	want=$1 pat=$2 desc=$3; shift 3
	"$@" >"$T/.out" 2>"$T/.err"
	got=$?
	if [ "$got" -eq "$want" ] && grep -q -- "$pat" "$T/.err"; then pass "$desc"; else
		fail "$desc"; echo "exit $got (want $want), from: $*" | diag; diag <"$T/.err"; fi
}

# skip DESC REASON
skip() { echo "ok - $1 # SKIP $2"; }

done_testing() { [ "$FAILED" -eq 0 ]; }

# tree_state DIR: a listing of everything in DIR (for "layout unchanged")
tree_state() { (cd "$1" && find . -printf '%p %y %s %m\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort); }

# layers_of REF: the layer digests (hex) of image REF, bottom first
layers_of() { atomfs inspect --json "$1" | python3 -c 'import json,sys; [print(l["digest"][7:]) for l in json.load(sys.stdin)["layers"]]'; }
# manifest_of REF: the manifest digest (hex)
manifest_of() { atomfs inspect --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"][7:])'; }
# blob DIR HEX
blob() { echo "$1/blobs/sha256/$2"; }
treelist() { python3 "$ATOMFS_TESTS/treelist.py" "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# check_schemas DESC DIR: every document of layout DIR matches the image-spec schemas
SCHEMAS=/usr/share/gocode/src/github.com/opencontainers/image-spec/schema
check_schemas() {
	if [ -d "$SCHEMAS" ] && python3 -c 'import jsonschema' 2>/dev/null; then
		check "$1" "$PY" "$ATOMFS_TESTS/validate.py" "$SCHEMAS" "$2"
	else
		skip "$1" "golang-github-opencontainers-image-spec-dev or python3-jsonschema missing"
	fi
}
# check_skopeo DESC REF: skopeo can copy REF and the copy keeps the digest
check_skopeo() {
	if have skopeo; then
		rm -rf "$T/skopeo-copy"
		check "$1" sh -c "skopeo copy -q oci:$2 oci:$T/skopeo-copy:x && test \"\$(atomfs inspect --json $T/skopeo-copy:x | grep -m1 '\"manifest\"')\" = \"\$(atomfs inspect --json $2 | grep -m1 '\"manifest\"')\""
	else
		skip "$1" "skopeo is not installed"
	fi
}

# same_tree_as_umoci DESC UMOCI_DIR:TAG DIR:TAG: the layers of atomfs image
# DIR:TAG, extracted and stacked as atomfs does (overlay.py), give the tree
# `umoci unpack` gives for the tar image UMOCI_DIR:TAG (needs root)
same_tree_as_umoci() {
	desc=$1 uref=$2 aref=$3 w=umoci-cmp-$$-${4:-x}
	if ! is_root; then skip "$desc" "extraction needs root"; return; fi
	rm -rf "$w"; mkdir "$w"
	if ! umoci unpack --image "$uref" "$w/ref" >"$w/unpack.out" 2>&1; then
		fail "$desc"; diag <"$w/unpack.out"; return
	fi
	set --
	for l in $(layers_of "$aref"); do
		set -- "$@" "$w/x$(($# + 1))"
		unsquashfs -q -d "$w/x$#" "$(blob "${aref%:*}" "$l")" >/dev/null 2>&1
	done
	python3 "$ATOMFS_TESTS/overlay.py" "$w/ov" "$@"
	treelist "$w/ref/rootfs" --no-mtime --no-root | awk '{print $1, $2, $NF}' >"$w/ref.list"
	treelist "$w/ov" --no-mtime --no-root | awk '{print $1, $2, $NF}' >"$w/ov.list"
	check "$desc" sh -c "test -s '$w/ref.list' && diff '$w/ref.list' '$w/ov.list'"
}
