#!/bin/sh
# command tests: build --from/--apply composition and update --replace
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

mkdir base dep1 dep2 app
echo base >base/os-release
echo "v1" >dep1/libfoo.so; echo "v2" >dep2/libfoo.so; echo v2extra >dep2/libfoo-extra
echo app >app/app
atomfs build -q --mtime 1 --layer base B:base
atomfs build -q --mtime 1 --from B:base --layer dep1 D:dep-1
atomfs build -q --mtime 1 --from B:base --layer dep2 D:dep-2
check "compose: --from and --apply from other layouts" atomfs build -q --mtime 1 --from B:base --apply D:dep-1 --layer app A:app
set -- $(layers_of A:app)
check "compose: base layer, dependency layer, own layer" test $# -eq 3
check "compose: the base layer is the base image's blob" test "$1" = "$(layers_of B:base)"
check "compose: the shared base layer of the dependency is not repeated" test "$2" = "$(layers_of D:dep-1 | tail -1)"
check "compose: the dependency's blob is reused byte for byte" cmp "$(blob A "$2")" "$(blob D "$2")"
check "compose: blobs on one filesystem are hard-linked" test "$(stat -c %i "$(blob A "$2")")" = "$(stat -c %i "$(blob D "$2")")"
atomfs inspect --json A:app >i.json
check "compose: provenance names the base and the applied image" python3 -c '
import json; l = json.load(open("i.json"))["layers"]
assert l[0]["role"] == "base" and l[0]["source"].endswith("/B:base")
assert l[1]["role"] == "apply" and l[1]["source"].endswith("/D:dep-1") and l[1]["sourceManifest"].startswith("sha256:")
assert l[2]["role"] == "build" and l[2]["input"] == "app"'
check "compose: --apply of an image already included adds nothing" sh -c '
	atomfs build -q --from A:app --apply D:dep-1 A:same && test "$(atomfs inspect --json A:same | grep -c "\"digest\": \"sha256")" -eq 3'
check "compose: --annotation lands in the manifest" sh -c '
	atomfs build -q --from B:base --annotation org.example.k=v A:ann && atomfs inspect A:ann | grep -q "org.example.k=v"'

# update: swap dep-1 for dep-2 in place
old_app=$(layers_of A:app | tail -1)
check "update: --replace swaps the dependency" atomfs update -q --replace D:dep-1=D:dep-2 A:app
set -- $(layers_of A:app)
check "update: three layers remain" test $# -eq 3
check "update: the base stays" test "$1" = "$(layers_of B:base)"
check "update: the new dependency's layer is in the old one's place" test "$2" = "$(layers_of D:dep-2 | tail -1)"
check "update: the application's own layer is untouched" test "$3" = "$old_app"
check "update: provenance now names dep-2" sh -c 'atomfs inspect A:app | grep -q "apply from .*D:dep-2@"'
tree_state A >before
# run again (as after an interruption once the tag had moved): a no-op
check "update: the same update again succeeds" atomfs update --replace D:dep-1=D:dep-2 A:app
tree_state A >after
check "update: ... and changes nothing" cmp before after
check_fail_msg 3 "does not include" "update: an image without OLDREF (nor NEWREF) is an error (exit 3)" atomfs update --replace B:base=D:dep-1 A:app
tree_state A >after
check "update: the failed update changed nothing" cmp before after
check_fail_msg 3 "no image tagged" "update: an unknown NEWREF exits 3, changing nothing" atomfs update --replace D:dep-2=D:nope A:app
tree_state A >after
check "update: the layout is unchanged after a bad NEWREF" cmp before after
check_exit 2 "update: --replace without '=' is a usage error" atomfs update --replace D:dep-2 A:app
# the old dependency may be gone: its recorded reference is enough
check "update: back to dep-1 works" atomfs update -q --replace D:dep-2=D:dep-1 A:app
atomfs build -q --mtime 1 --from B:base --apply D:dep-1 --layer app A:fresh
updated=$(layers_of A:app); fresh=$(layers_of A:fresh)
check "update: the result equals a fresh build" test -n "$fresh" -a "$(echo "$updated" | wc -l)" = 3 -a "$updated" = "$fresh"
rm -rf D2; mkdir D2; cp -a D/. D2/
atomfs build -q --mtime 1 --from B:base --apply D2:dep-1 --layer app A:gone
rm -rf D2
check "update: works when OLDREF's layout is gone" atomfs update -q --replace D2:dep-1=D:dep-2 A:gone
check_schemas "update: the updated layout matches the image-spec schemas" A
check_skopeo "update: skopeo copies the updated image unchanged" A:app
check "update: --help exits 0" atomfs update --help
done_testing
