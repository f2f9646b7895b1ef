#!/bin/sh
# command tests: the example of atomfs-recipe(5) is a valid recipe
. "$ATOMFS_TESTS/lib.sh"
cd "$T"
man5="$ATOMFS_TESTS/../../Documentation/man/atomfs-recipe.5"
# the text between the example markers, roff escapes undone
sed -n '/^\.\\" example-begin/,/^\.\\" example-end/p' "$man5" |
	grep -v '^\.' | sed 's/\\-/-/g' >atomfs.yaml
check "recipe-man: the example is extracted" grep -q '^A:' atomfs.yaml
mkdir -p root/etc; echo hello >root/etc/motd; tar -C root -cf rootfs.tar .
check "recipe-man: the example parses and plans six stanzas" sh -c '
	atomfs build -f atomfs.yaml --dry-run >plan && test "$(grep -c ": rebuild: " plan)" -eq 6'
check "recipe-man: the example's stanzas in dependency order" sh -c '
	test "$(cut -d: -f1 plan | tr "\n" " ")" = "base ssl python3 app-base A B "'
check "recipe-man: substitutions of the example are accepted" \
	atomfs build -f atomfs.yaml --substitute SSL_VERSION=2 --dry-run
if have man; then
	check "recipe-man: the page renders without warnings" sh -c '
		! LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "'"$man5"'" 2>&1 >/dev/null | grep .'
fi
done_testing
