#!/bin/sh
# command tests: the CLI skeleton
. "$ATOMFS_TESTS/lib.sh"

check "atomfs --version prints the version" sh -c 'atomfs --version | grep -q "^atomfs [0-9]"'
check "atomfs --help exits 0" atomfs --help
check_exit 2 "atomfs without a command exits 2" atomfs
check_exit 2 "atomfs with an unknown command exits 2" atomfs frobnicate
done_testing
