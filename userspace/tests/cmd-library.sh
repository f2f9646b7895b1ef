#!/bin/sh
# library manners: only atomfs_ symbols leave libatomfs, and the library
# neither prints, nor reads the environment, nor installs signal handlers
. "$ATOMFS_TESTS/lib.sh"
cd "$T"
so="$ATOMFS_BUILD/libatomfs.so.0"
a="$ATOMFS_BUILD/libatomfs.a"
map="$ATOMFS_TESTS/../lib/libatomfs.map"
if ! have nm; then
	skip "library: symbols" "nm (binutils) is not installed"
	done_testing; exit
fi

nm -g --defined-only "$a" 2>/dev/null | awk 'NF == 3 && $2 != "U" { print $3 }' | sort -u >static
check "library: libatomfs.a defines only atomfs_* symbols" sh -c '! grep -v "^atomfs_" static'
check "library: ... read_file, path_join, xcalloc among them no longer" sh -c '! grep -qx "read_file\|path_join\|xcalloc" static'
nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | sort >exported
sed -n 's/^\t\(atomfs_[a-z_]*\);$/\1@@LIBATOMFS_0/p' "$map" | sort >listed
check "library: libatomfs.so.0 exports under LIBATOMFS_0 exactly what libatomfs.map lists" sh -c 'grep "@@LIBATOMFS_0\$" exported | diff listed -'
check "library: ... and anything else only under LIBATOMFS_PRIVATE (its own tools)" sh -c '! grep -v -e "@@LIBATOMFS_0\$" -e "^atomfs_[a-z0-9_]*@@LIBATOMFS_PRIVATE\$" exported'
check "library: its soname is libatomfs.so.0" sh -c "objdump -p '$so' | grep -q 'SONAME *libatomfs.so.0'"
nm -D --undefined-only "$so" | awk '{ sub(/@.*/, "", $2); print $2 }' | sort -u >imports
check "library: libatomfs calls no printing, environment, signal handler or exit function" sh -c '
	grep -qx openat imports && ! grep -x "printf\|__printf_chk\|fprintf\|__fprintf_chk\|vfprintf\|__vfprintf_chk\|puts\|fputs\|fputc\|putchar\|putc\|fwrite\|stdout\|stderr\|perror\|getenv\|secure_getenv\|sigaction\|signal\|exit\|_exit" imports'
done_testing
