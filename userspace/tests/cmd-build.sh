#!/bin/sh
# command tests: atomfs build from directories and tar archives
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

# an input with every file type squashfs can hold
mkdir -p in/dir/sub in/opaque in/empty
echo hello >in/file
head -c 300000 /dev/urandom >in/dir/random
ln in/file in/dir/hardlink
ln -s ../file in/dir/symlink
ln -s /absolute/target in/abs-symlink
mkfifo in/fifo
python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("in/socket")'
truncate -s 20M in/sparse && echo tail >>in/sparse
long=$(printf 'L%.0s' $(seq 255)); echo long >"in/$long"
chmod 4755 in/dir/random; chmod 1777 in/empty
setfattr -n user.comment -v "a value" in/file
if is_root; then
	mknod in/dir/cdev c 1 3; mknod in/dir/bdev b 7 200
	chown 1234:5678 in/dir/random; chown -h 42:43 in/dir/symlink
	setfattr -n trusted.overlay.opaque -v y in/opaque
	cp /bin/true in/captrue && setcap cap_net_raw+ep in/captrue
fi

check "build: a directory with every file type" atomfs build -q --mtime 1000 --layer in L:t
layer=$(layers_of L:t)
check "build: the image has one squashfs layer" test "$(echo "$layer" | wc -l)" -eq 1
size=$(stat -c %s "$(blob L "$layer")")
check "build: the layer blob is padded to 4096 bytes" test $((size % 4096)) -eq 0
check "build: the blob's name is its sha256" sh -c "sha256sum $(blob L "$layer") | grep -q ^$layer"
check "build: unsquashfs -lls lists the layer" sh -c "unsquashfs -lls $(blob L "$layer") >lls.txt"
for t in 'crw' 'brw' 'prw' 'srw' 'lrw' 'drw' '-rw'; do
	case $t in [cb]rw) is_root || { skip "build: unsquashfs shows type $t" "device nodes need root"; continue; } ;; esac
	check "build: unsquashfs shows type $t" grep -q "^$t" lls.txt
done
check "build: the 255-character name is kept" grep -q "$long" lls.txt
check "build: every timestamp is --mtime" sh -c "! grep -v '1970-01-01 00:16' lls.txt | grep -q ."

unsquashfs -q -d out "$(blob L "$layer")" >/dev/null 2>&1
treelist in --no-mtime --no-root >in.list
treelist out --no-mtime --no-root >out.list
if is_root; then
	check "build: extraction equals the input (types, modes, owners, sizes, contents, links, xattrs)" diff in.list out.list
	check "build: security.capability survives" sh -c 'getcap out/captrue | grep -q cap_net_raw'
	check "build: trusted.overlay.opaque survives" sh -c 'getfattr -n trusted.overlay.opaque --only-values out/opaque | grep -qx y'
else
	skip "build: extraction equals the input" "owners, devices and trusted xattrs need root"
fi
check "build: hard links share an inode" test "$(stat -c %i out/file)" = "$(stat -c %i out/dir/hardlink)"
check "build: the sparse file costs almost nothing" test "$size" -lt 2000000

# reproducible: same input, same bytes, whatever the thread count
atomfs build -q --mtime 1000 --layer in R1:t
atomfs build -q --mtime 1000 --threads 1 --layer in R2:t
SOURCE_DATE_EPOCH=1000 atomfs build -q --layer in R3:t
check "build: rebuilding gives the same layer digest" test "$(layers_of R1:t)" = "$layer"
check "build: one thread gives the same layer digest" test "$(layers_of R2:t)" = "$layer"
check "build: SOURCE_DATE_EPOCH acts as --mtime" test "$(layers_of R3:t)" = "$layer"
check_fail_msg 2 "SOURCE_DATE_EPOCH=1e9: use seconds" \
	"build: a malformed SOURCE_DATE_EPOCH is refused, not silently ignored" env SOURCE_DATE_EPOCH=1e9 atomfs build -q --layer in R4:t
check_fail_msg 2 "SOURCE_DATE_EPOCH=4294967296: use seconds" \
	"build: an out-of-range SOURCE_DATE_EPOCH is refused" env SOURCE_DATE_EPOCH=4294967296 atomfs build -q --layer in R4:t
check "build: --mtime overrides a malformed SOURCE_DATE_EPOCH" env SOURCE_DATE_EPOCH=x atomfs build -q --mtime 1 --layer in R4:t
check "build: rebuilding gives the same manifest digest" test "$(manifest_of R1:t)" = "$(manifest_of L:t)"
touch in/file
atomfs build -q --layer in R4:t; atomfs build -q --layer in R5:t
check "build: without --mtime identical input is still reproducible" test "$(layers_of R4:t)" = "$(layers_of R5:t)"

# identical files are stored once
mkdir dd; head -c 1000000 /dev/urandom >dd/a; cp dd/a dd/b; cp dd/a dd/c
atomfs build -q --layer dd D:t
check "build: identical files are stored once" test "$(stat -c %s "$(blob D "$(layers_of D:t)")")" -lt 1200000

# every compressor, with the media type stacker uses
for c in zstd gzip xz lz4 lzo none; do
	if ! atomfs build -q --compression $c --layer dd C:$c 2>err; then
		if grep -q "not available in libsquashfs" err; then
			skip "build: --compression $c gives its media type" "this libsquashfs lacks $c"
			skip "build: --compression $c layer extracts intact" "this libsquashfs lacks $c"
			continue
		fi
	fi
	mt=$(atomfs inspect --json C:$c | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["mediaType"])')
	case $c in none) want=application/vnd.stacker.image.layer.squashfs ;; *) want=application/vnd.stacker.image.layer.squashfs+$c ;; esac
	check "build: --compression $c gives its media type" test "$mt" = "$want"
	# rdsquashfs: bookworm's unsquashfs misreads lz4 id tables (the kernel reads them fine)
	check "build: --compression $c layer extracts intact" sh -c "rdsquashfs -c /c $(blob C "$(layers_of C:$c)") | cmp - dd/c"
done
check "build: --block-size 1048576 works" atomfs build -q --block-size 1048576 --layer dd C:big
check_exit 2 "build: --block-size 1000 is refused" atomfs build --block-size 1000 --layer dd C:bad
check_exit 2 "build: --compression brotli is refused" atomfs build --compression brotli --layer dd C:bad

# tar inputs: the same tree from .tar, .tar.gz, .tar.zst, .tar.xz
rm -f in/socket
treelist in --no-mtime --no-root | grep -v '^socket' >in.list
tar -S --xattrs --xattrs-include='*' -C in -cf in.tar .
gzip -k in.tar; xz -k in.tar; zstd -q -k in.tar
for f in in.tar in.tar.gz in.tar.xz in.tar.zst; do
	check "build: tar input $f" atomfs build -q --layer $f TAR:t
	rm -rf x; unsquashfs -q -d x "$(blob TAR "$(layers_of TAR:t)")" >/dev/null 2>&1
	treelist x --no-mtime --no-root >x.list
	if is_root; then check "build: $f extracts to the input tree" diff in.list x.list
	else skip "build: $f extracts to the input tree" "owners need root"; fi
done

# a later member replaces an earlier one; a hard link keeps the old inode
python3 - <<'PY'
import io, tarfile
t = tarfile.open('dup.tar', 'w')
def reg(name, data):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
reg('d/a', b'first' * 100000)
i = tarfile.TarInfo('d/b'); i.type, i.linkname = tarfile.LNKTYPE, 'd/a'; t.addfile(i)
i = tarfile.TarInfo('d/a'); i.type, i.linkname = tarfile.SYMTYPE, 'elsewhere'; t.addfile(i)
reg('d/c', b'second')
i = tarfile.TarInfo('d'); i.type, i.mode = tarfile.DIRTYPE, 0o700; t.addfile(i)
t.close()
PY
check "build: a tar with a replaced member and a link to it" atomfs build -q --layer dup.tar DUP:t
dup=$(blob DUP "$(layers_of DUP:t)")
rdsquashfs -c /d/b "$dup" >dup-b 2>/dev/null
check "build: the link keeps the replaced member's data" test "$(stat -c %s dup-b)" -eq 500000 -a "$(head -c 5 dup-b)" = first
check "build: the later member wins" sh -c "rdsquashfs -s /d/a $dup | grep -q 'Link target: elsewhere'"
check "build: a directory member after its contents sets its mode" sh -c "rdsquashfs -s /d $dup | grep -q 'Access: 0700'"

# several layers in order, with provenance
check "build: two --layer make two layers in order" atomfs build -q --layer dd --layer in.tar M:t
check "build: two layers listed" test "$(layers_of M:t | wc -l)" -eq 2
check "build: provenance names the input" sh -c 'atomfs inspect M:t | grep -q "build from in.tar"'

# POSIX ACLs are kept as trusted.atomfs.posix_acl_* (image-format.rst),
# byte for byte the kernel's value; the layer descriptor says so
mkdir acl; echo x >acl/f; mkdir acl/d
if setfacl -m u:1:r acl/f 2>/dev/null && setfacl -d -m u:2:rx acl/d; then
	check "build: a directory with ACLs builds with --strict" atomfs build -q --strict --layer acl A:acl
	rm -rf acl-out && unsquashfs -q -d acl-out "$(blob A "$(layers_of A:acl)")" >/dev/null 2>&1
	xv() { getfattr --absolute-names -n "$1" -e hex "$2" 2>/dev/null | sed -n 's/^[^=]*=//p'; }
	check "build: the access ACL is stored as the kernel's value" \
		test -n "$(xv system.posix_acl_access acl/f)" -a "$(xv trusted.atomfs.posix_acl_access acl-out/f)" = "$(xv system.posix_acl_access acl/f)"
	check "build: the default ACL is stored likewise" \
		test -n "$(xv system.posix_acl_default acl/d)" -a "$(xv trusted.atomfs.posix_acl_default acl-out/d)" = "$(xv system.posix_acl_default acl/d)"
	check "build: the layer's root carries the ACL mark" test "$(xv trusted.atomfs.has_posix_acl acl-out)" = 0x31
	ann() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][0].get("annotations",{}).get("org.atomfs.layer.posix-acl","none"))' "$(blob "$1" "$(manifest_of "$1:$2")")"; }
	check "build: the layer descriptor has org.atomfs.layer.posix-acl=1" test "$(ann A acl)" = 1
	check "build: a layer without ACLs has no such annotation" sh -c "atomfs build -q --layer dd A:noacl && test \"\$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m[\"layers\"][0].get(\"annotations\",{}).get(\"org.atomfs.layer.posix-acl\",\"none\"))' $(pwd)/A/blobs/sha256/\$(atomfs inspect --json A:noacl | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"manifest\"][7:])'))\" = none"
else
	for t in "a directory with ACLs builds with --strict" "the access ACL is stored as the kernel's value" \
		"the default ACL is stored likewise" "the layer's root carries the ACL mark" \
		"the layer descriptor has org.atomfs.layer.posix-acl=1" "a layer without ACLs has no such annotation"; do
		skip "build: $t" "setfacl unsupported here"
	done
fi
# the layer format's own names are not taken from the input
mkdir rsv; echo x >rsv/f
if setfattr -n trusted.atomfs.posix_acl_access -v 0x02000000 rsv/f 2>/dev/null; then
	check_fail_msg 0 "rsv/f: xattr trusted.atomfs.posix_acl_access not stored: trusted.atomfs. names are reserved" \
		"build: a reserved trusted.atomfs. xattr is dropped with a warning" atomfs build --layer rsv A:rsv
	tree_state L >before
	check_fail_msg 4 "rsv/f has xattr trusted.atomfs.posix_acl_access; the trusted.atomfs. names are reserved" \
		"build: --strict refuses a reserved xattr" atomfs build --strict --layer rsv L:rsv
	tree_state L >after
	check "build: a --strict failure leaves the layout unchanged" cmp before after
else
	skip "build: a reserved trusted.atomfs. xattr is dropped with a warning" "trusted xattrs need root"
	skip "build: --strict refuses a reserved xattr" "trusted xattrs need root"
	skip "build: a --strict failure leaves the layout unchanged" "trusted xattrs need root"
fi

# bad input: clear message, documented exit status, layout unchanged
tree_state L >before
printf 'not a tar archive at all, just text\n%.0s' $(seq 40) >junk.tar
check_fail_msg 4 "junk.tar is not a readable tar archive" "build: a non-tar input is refused (exit 4)" atomfs build --layer junk.tar L:t
head -c 200000 in.tar.gz >trunc.tar.gz
check_fail_msg 4 "trunc.tar.gz is not a readable tar archive" "build: a truncated tar.gz is refused (exit 4)" atomfs build --layer trunc.tar.gz L:t
python3 - <<'PY'
import io, tarfile
def mk(name, members):
    t = tarfile.open(name, 'w')
    for m, link in members:
        i = tarfile.TarInfo(m)
        if link:
            i.type, i.linkname = tarfile.LNKTYPE, link
            t.addfile(i)
        else:
            i.size = 1
            t.addfile(i, io.BytesIO(b'x'))
    t.close()
mk('dotdot.tar', [('a/../../etc/passwd', None)])
mk('abs.tar', [('/etc/passwd', None)])
mk('hlescape.tar', [('a', None), ('b', '../../etc/shadow')])
mk('hlmissing.tar', [('b', 'nothere')])
mk('throughfile.tar', [('f', None), ('f/x', None)])
PY
check_fail_msg 4 "contains '..'" "build: a tar member with '..' is refused" atomfs build --layer dotdot.tar L:t
check_fail_msg 4 "absolute path" "build: an absolute tar member is refused" atomfs build --layer abs.tar L:t
check_fail_msg 4 "outside the archive's root" "build: a hard link escaping the root is refused" atomfs build --layer hlescape.tar L:t
check_fail_msg 4 "not an earlier file" "build: a hard link to nothing is refused" atomfs build --layer hlmissing.tar L:t
check_fail_msg 4 "not a directory" "build: a member below a file is refused" atomfs build --layer throughfile.tar L:t
check_fail_msg 3 "nothere" "build: a missing --layer path exits 3" atomfs build --layer nothere L:t
check_fail_msg 4 "not a valid OCI tag" "build: a bad tag is refused" atomfs build --layer dd L:-bad
check_fail_msg 4 "at least one layer" "build: an image without layers is refused" atomfs build L:empty
tree_state L >after
check "build: failed builds leave the layout unchanged" cmp before after
check_fail_msg 4 "not squashfs" "build: --from an unconverted tar image is refused" sh -c 'umoci init --layout U >/dev/null 2>&1 && umoci new --image U:t >/dev/null 2>&1 && umoci raw add-layer --image U:t in.tar >/dev/null 2>&1 && atomfs build --from U:t L:x'
check_fail_msg 3 "no image tagged 'nope'" "build: --from an unknown tag exits 3" atomfs build --from L:nope --layer dd L:x
check_fail_msg 3 "not an OCI image layout" "build: --from a directory that is no layout exits 3" atomfs build --from dd:t --layer dd L:x
check_fail_msg 0 "built" "build: creates a new layout directory" atomfs build --layer dd new/sub/layout:t
check "build: the new layout has oci-layout" test -f new/sub/layout/oci-layout
check "build: --help exits 0" atomfs build --help

# mtimes squashfs cannot store (issue 11 item 8): clamped, saying so
mkdir mt && echo x >mt/old && touch -d '1960-01-01 UTC' mt/old
check_fail_msg 0 "mt/old has mtime -315619200, outside what squashfs can store (1970 to 2106): stored as 0" \
	"build: a directory entry's mtime before 1970 is clamped with a warning" atomfs build --layer mt MT:t
check_fail_msg 4 "mt/old has mtime -315619200, .*build without --strict" \
	"build: --strict refuses it" atomfs build --strict --layer mt MT:s

# a directory deeper than 2048 levels (issue 11 item 9): refused, no recursion
python3 -c '
import os
os.mkdir("deep"); os.chdir("deep")
for i in range(2049):
    os.mkdir("d"); os.chdir("d")
open("f", "w").write("x")'
check_fail_msg 4 "lies more than 2048 directories deep" \
	"build: a directory 2049 levels deep is refused" atomfs build -q --layer deep DP:t
done_testing
