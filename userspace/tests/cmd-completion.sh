#!/bin/sh
# Every command and option that 'atomfs --help' and 'atomfs CMD --help' print
# is in the bash completion (and nothing else is) and in atomfs(1); the man
# pages render without man --warnings complaints.
. "$ATOMFS_TESTS/lib.sh"
cd "$T"
comp="$ATOMFS_TESTS/../completion/atomfs"
man="$ATOMFS_TESTS/../../Documentation/man"
if ! have bash; then
	skip "completion: options" "bash is not installed"
	done_testing; exit
fi
atomfs --help 2>&1 | awk '/^commands:/ { f = 1; next } f && /^  [a-z]/ { print $1 }' >commands
check "completion: atomfs --help lists commands" test -s commands
bash -c ". '$comp'; echo \$_atomfs_commands" | tr ' ' '\n' | sort >comp-commands
check "completion: its commands are those of atomfs --help" sh -c "sort commands | diff - comp-commands"
if have man; then
	MANWIDTH=250 man -l "$man/atomfs.1" 2>/dev/null | col -b >atomfs.1.txt
fi
while read -r cmd; do
	# options: the usage line's and those of the lines that start with one
	atomfs "$cmd" --help 2>&1 |
		awk 'NR == 1 || /^ +-/' | grep -oE '(^|[][ ,|])--?[a-z][-a-z]*' |
		sed 's/^[][ ,|]//' | sort -u >help-$cmd
	bash -c ". '$comp'; _atomfs_options $cmd" | tr ' ' '\n' | sed 's/=$//' | grep . | sort -u >comp-$cmd
	check "completion: atomfs $cmd: the options of --help and no others" diff help-$cmd comp-$cmd
	if [ -s atomfs.1.txt ]; then
		: >missing
		for o in $(cat help-$cmd); do
			grep -qe "$o" atomfs.1.txt || echo "$o" >>missing
		done
		check "atomfs(1) names every option of atomfs $cmd" sh -c '! grep . missing'
	fi
done <commands
if have man; then
	for m in "$man"/*.[158]; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$m" 2>warn >/dev/null
		check "man --warnings: ${m##*/} renders without complaints" sh -c '! grep . warn'
	done
else
	skip "man pages render" "man is not installed"
fi
done_testing
