#!/bin/sh
# style: C sources follow the repository's (kernel) .clang-format
. "$ATOMFS_TESTS/lib.sh"
top=$(cd "$ATOMFS_TESTS/.." && pwd)
if ! have clang-format; then
	skip "style: C sources match .clang-format" "clang-format is not installed"
	done_testing; exit
fi
if clang-format --dry-run -Werror --style="file:$top/../.clang-format" \
	"$top"/lib/*.[ch] "$top"/tools/*.[ch] "$top"/tests/*.[ch] >"$T/fmt" 2>&1; then
	pass "style: C sources match .clang-format"
else
	fail "style: C sources match .clang-format"
	{ echo "run 'make -C userspace format'"; grep 'warning:' "$T/fmt" | head -5; } | diag
fi
done_testing
