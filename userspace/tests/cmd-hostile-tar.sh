#!/bin/sh
# command tests: hostile tar layers (issue 11, items 8, 9 and 11): each is
# refused with a clear error, or taken with a warning, never crashes or runs away
. "$ATOMFS_TESTS/lib.sh"
cd "$T"

# mktar NAME.tar: the members the python snippet on stdin adds to t
mktar() {
	python3 -c '
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, data=b"", **kw):
    i = tarfile.TarInfo(name)
    i.size = len(data)
    for k, v in kw.items():
        setattr(i, k, v)
    t.addfile(i, io.BytesIO(data))
exec(sys.stdin.read())
t.close()' "$1"
}

# --- item 9: depth, names, sparse sizes ---
echo 'add("a/" * 300000 + "f")' | mktar deep.tar
check_fail_msg 4 "lies more than 2048 directories deep" \
	"hostile tar: a path 300,000 directories deep is refused, no stack overflow" \
	atomfs build -q --layer deep.tar D:t
if have umoci; then
	umoci init --layout src >/dev/null 2>&1 && umoci new --image src:t >/dev/null 2>&1 &&
		umoci raw add-layer --image src:t deep.tar >/dev/null 2>&1
	check_fail_msg 4 "more than 2048 directories deep" \
		"hostile tar: import refuses it too" atomfs import -q src:t D:i
else
	skip "hostile tar: import refuses it too" "umoci is not installed"
fi
echo 'add("a/" * 2047 + "f", b"x")' | mktar deep-ok.tar
check "hostile tar: a path 2048 entries deep is taken" atomfs build -q --layer deep-ok.tar D:ok

n255=$(printf 'n%.0s' $(seq 255))
printf 'add("d/%s", b"x")\n' "${n255}x" | mktar long.tar
check_fail_msg 4 "has a name longer than 255 bytes, which squashfs cannot store" \
	"hostile tar: a file name of 256 bytes is refused" atomfs build -q --layer long.tar N:t
printf 'add("%s/f", b"x")\n' "${n255}x" | mktar longdir.tar
check_fail_msg 4 "has a name longer than 255 bytes" \
	"hostile tar: a directory name of 256 bytes is refused" atomfs build -q --layer longdir.tar N:t
printf 'add("d/%s", b"x")\n' "$n255" | mktar ok255.tar
check "hostile tar: a name of 255 bytes is taken" atomfs build -q --layer ok255.tar N:ok
if have umoci; then
	printf 'add("d/.wh.%s")\n' "$n255" | mktar wh255.tar
	umoci init --layout wsrc >/dev/null 2>&1 && umoci new --image wsrc:t >/dev/null 2>&1 &&
		umoci raw add-layer --image wsrc:t wh255.tar >/dev/null 2>&1
	check "hostile tar: a whiteout of a 255-byte name (a 259-byte member name) is taken" \
		atomfs import -q wsrc:t W:t
else
	skip "hostile tar: a whiteout of a 255-byte name (a 259-byte member name) is taken" "umoci is not installed"
fi

python3 -c '
import tarfile
t = tarfile.open("link.tar", "w", format=tarfile.PAX_FORMAT)
for name, target in (("long", "t" * 4096), ("max", "t" * 4095)):
    i = tarfile.TarInfo(name); i.type, i.linkname = tarfile.SYMTYPE, target
    t.addfile(i)
t.close()'
check_fail_msg 4 "symlink 'long' has a target longer than 4095 bytes" \
	"hostile tar: a symlink target of 4096 bytes is refused (squashfs calls it corrupt)" \
	atomfs build -q --layer link.tar SL:t
python3 -c '
import tarfile
t = tarfile.open("link-ok.tar", "w", format=tarfile.PAX_FORMAT)
i = tarfile.TarInfo("max"); i.type, i.linkname = tarfile.SYMTYPE, "t" * 4095
t.addfile(i); t.close()'
check "hostile tar: a symlink target of 4095 bytes is taken" atomfs build -q --layer link-ok.tar SL:ok

# 35,000 xattrs on one member (a 1 MB pax header, written by hand: python's
# tarfile takes half a minute over it): more than Linux can list
python3 -c '
import tarfile
def rec(k, v):
    p = " %s=%s\n" % (k, v); n = len(p) + 1
    while len(str(n)) + len(p) != n: n += 1
    return ("%d%s" % (n, p)).encode()
def pad(b): return b + b"\0" * (-len(b) % 512)
recs = b"".join(rec("SCHILY.xattr.user.%d" % n, "") for n in range(35000))
x = tarfile.TarInfo("PaxHeader/f"); x.type, x.size = tarfile.XHDTYPE, len(recs)
f = tarfile.TarInfo("f"); f.size = 1
open("xattrs.tar", "wb").write(x.tobuf(tarfile.USTAR_FORMAT) + pad(recs) +
    f.tobuf(tarfile.USTAR_FORMAT) + pad(b"x") + b"\0" * 1024)'
check_fail_msg 4 "member 'f' has more xattrs than Linux can list (names over 65536 bytes)" \
	"hostile tar: 35,000 xattrs on a member are refused at once (not sorted 35,000 times)" \
	timeout 120 atomfs build -q --layer xattrs.tar X:t
echo 'add("g", b"x", pax_headers={"SCHILY.xattr.user.big": "v" * 65537})' | mktar bigxattr.tar
check_fail_msg 4 "member 'g' has xattr user.big of 65537 bytes; Linux xattr values hold at most 65536" \
	"hostile tar: an xattr value of 65537 bytes is refused" atomfs build -q --layer bigxattr.tar X:t

# a 10 KiB tar declaring a 1 TiB sparse file (GNU tar finds the holes)
truncate -s 1T huge && echo tail >>huge && tar --format=gnu -S -cf sparse.tar huge && rm huge
check_fail_msg 4 "is a sparse file of 1099511627781 bytes; with it the layer holds more than 68719476736 bytes of holes" \
	"hostile tar: a 10 KiB tar declaring a 1 TiB sparse file is refused at once" \
	timeout 120 atomfs build -q --layer sparse.tar S:t
truncate -s 50M small && echo tail >>small && tar --format=posix -S -cf small.tar small
check "hostile tar: a 50 MiB sparse file is taken" atomfs build -q --layer small.tar S:ok
unsquashfs -q -d sp "$(blob S "$(layers_of S:ok)")" >/dev/null 2>&1
check "hostile tar: ... and reads back as zeros and its tail" cmp small sp/small

# --- item 8: owners and mtimes squashfs cannot store ---
echo 'add("suid", b"x", uid=2**32, mode=0o4755)' | mktar uid.tar
check_fail_msg 4 "has owner 4294967296:0, outside the ids Linux can store" \
	"hostile tar: uid 2^32 on a setuid file is refused, not truncated to root" \
	atomfs build -q --layer uid.tar U:t
echo 'add("f", b"x", gid=2**32 - 1)' | mktar gid.tar
check_fail_msg 4 "has owner 0:4294967295, outside" "hostile tar: gid 4294967295 ((gid_t)-1) is refused" \
	atomfs build -q --layer gid.tar U:t
echo 'add("f", b"x", uid=2**32 - 2, gid=7)' | mktar idmax.tar
check "hostile tar: uid 4294967294 is taken" atomfs build -q --layer idmax.tar U:ok
check "hostile tar: ... and stored as it is" sh -c \
	"unsquashfs -lln $(blob U "$(layers_of U:ok)") | grep -q ' 4294967294/7 .* squashfs-root/f\$'"

echo 'add("old", b"x", mtime=-100); add("new", b"y", mtime=2**33); add("ok", b"z", mtime=1000)' | mktar mtime.tar
check_fail_msg 0 "member 'old' has mtime -100, outside what squashfs can store (1970 to 2106): stored as 0" \
	"hostile tar: an mtime before 1970 is clamped with a warning" atomfs build --layer mtime.tar M:t
check "hostile tar: ... and one more is counted" grep -q "1 more members' mtimes clamped likewise" "$T/.err"
rm -rf mt && unsquashfs -q -d mt "$(blob M "$(layers_of M:t)")" >/dev/null 2>&1
check "hostile tar: clamped mtimes are 0 and 2^32-1, the others kept" \
	test "$(stat -c %Y mt/old mt/new mt/ok | tr '\n' ' ')" = "0 4294967295 1000 "
check_fail_msg 4 "member 'old' has mtime -100, outside what squashfs can store .*build without --strict" \
	"hostile tar: --strict refuses it" atomfs build --strict --layer mtime.tar M:s

# --- item 11: ACLs are kept (issue 17), NFSv4 ones named and dropped ---
python3 -c '
import io, tarfile
t = tarfile.open("acl.tar", "w", format=tarfile.PAX_FORMAT)
def add(name, pax, typ=tarfile.REGTYPE):
    i = tarfile.TarInfo(name); i.type = typ; i.mode = 0o640
    i.size = 0 if typ == tarfile.DIRTYPE else 1
    i.pax_headers = pax
    t.addfile(i, None if typ == tarfile.DIRTYPE else io.BytesIO(b"x"))
add("f", {"SCHILY.acl.access": "user::rw-,user:1000:r--,group::r--,mask::r--,other::---"})
# no mask: computed as setfacl does (the union of the group class)
add("nomask", {"SCHILY.acl.access": "user::rw-,group:7:rwx,user:5:r--,group::r--,other::---"})
add("d", {"SCHILY.acl.default": "user::rwx,user:1000:r-x,group::r-x,mask::r-x,other::---"}, tarfile.DIRTYPE)
t.close()
t = tarfile.open("nfs4.tar", "w", format=tarfile.PAX_FORMAT)
i = tarfile.TarInfo("f"); i.size = 1
i.pax_headers = {"SCHILY.acl.ace": "owner@:rwpaARWcCos::allow,everyone@:rwpaARWcCos::allow"}
t.addfile(i, io.BytesIO(b"x")); t.close()
for name, acl in (("named.tar", "user::rw-,user:daemon:r--,group::r--,mask::r--,other::---"),
                  ("bigid.tar", "user::rw-,user:3000000000:r--,group::r--,mask::r--,other::---")):
    t = tarfile.open(name, "w", format=tarfile.PAX_FORMAT)
    i = tarfile.TarInfo("f"); i.size = 1; i.pax_headers = {"SCHILY.acl.access": acl}
    t.addfile(i, io.BytesIO(b"x")); t.close()
t = tarfile.open("badacl.tar", "w", format=tarfile.PAX_FORMAT)
i = tarfile.TarInfo("f"); i.size = 1
i.pax_headers = {"SCHILY.xattr.system.posix_acl_access": "\x02\x00\x00\x00\x01\x00"}
t.addfile(i, io.BytesIO(b"x")); t.close()'
check "hostile tar: a tar with POSIX ACLs builds with --strict" atomfs build -q --strict --layer acl.tar A:t
rm -rf ac && unsquashfs -q -d ac "$(blob A "$(layers_of A:t)")" >/dev/null 2>&1
hx() { getfattr --absolute-names -n "$1" -e hex "$2" 2>/dev/null | sed -n 's/^[^=]*=0x//p'; }
# version 2; USER_OBJ rw, USER 1000 r, GROUP_OBJ r, MASK r, OTHER none
check "hostile tar: the access ACL is stored in the kernel's format" \
	test "$(hx trusted.atomfs.posix_acl_access ac/f)" = 0200000001000600ffffffff02000400e803000004000400ffffffff10000400ffffffff20000000ffffffff
check "hostile tar: named entries sorted, the missing mask computed" \
	test "$(hx trusted.atomfs.posix_acl_access ac/nomask)" = 0200000001000600ffffffff020004000500000004000400ffffffff080007000700000010000700ffffffff20000000ffffffff
# libarchive sets the group bits from group::, the kernel wants the mask there
check "hostile tar: the mode's group bits are the ACL mask" \
	test "$(stat -c %a ac/f ac/nomask | tr '\n' ' ')" = "640 670 "
check "hostile tar: the default ACL is stored" \
	test "$(hx trusted.atomfs.posix_acl_default ac/d)" = 0200000001000700ffffffff02000500e803000004000500ffffffff10000500ffffffff20000000ffffffff
check_fail_msg 0 "nfs4.tar: f: NFSv4 ACLs not stored" "hostile tar: an NFSv4 ACL is dropped with a warning" \
	atomfs build --layer nfs4.tar A:n
check_fail_msg 4 "member 'f' has NFSv4 ACLs, which Linux filesystems and atomfs layers cannot hold" \
	"hostile tar: --strict refuses an NFSv4 ACL" atomfs build --strict --layer nfs4.tar A:s
check_fail_msg 4 "member 'f' has xattr system.posix_acl_access that is not a valid POSIX ACL" \
	"hostile tar: a malformed ACL xattr is refused" atomfs build --layer badacl.tar A:b
check_fail_msg 4 "member 'f' has an ACL entry for user 'daemon' without a numeric id" \
	"hostile tar: an ACL entry naming a user without an id (GNU tar) is refused, saying why" atomfs build --layer named.tar A:g
check_fail_msg 4 "member 'f' has an ACL entry with an id of 2^31-1 or more" \
	"hostile tar: an ACL id libarchive caps is refused, not stored as another uid" atomfs build --layer bigid.tar A:i
done_testing
