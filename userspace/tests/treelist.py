#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Print a canonical listing of a tree, for comparing a layer's input with
what comes back out of it: path, type, mode, owner, size, device, link
target, content hash, xattrs (squashfs-storable ones), hard link group.
usage: treelist.py DIR [--no-mtime] [--no-root]"""
import hashlib, os, stat, sys

root = sys.argv[1]
opts = sys.argv[2:]
groups = {}
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files) + ([''] if dirpath == root else []):
        p = os.path.join(dirpath, name) if name else dirpath
        rel = os.path.relpath(p, root)
        if rel == '.' and '--no-root' in opts:
            continue
        st = os.lstat(p)
        f = [rel, stat.filemode(st.st_mode), '%d:%d' % (st.st_uid, st.st_gid)]
        if '--no-mtime' not in opts:
            f.append('mtime=%d' % int(st.st_mtime))
        if stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(p, 'rb') as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b''):
                    h.update(chunk)
            f += ['size=%d' % st.st_size, h.hexdigest()[:16]]
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                f.append('hardlink=%s' % groups.setdefault(key, rel))
        elif stat.S_ISLNK(st.st_mode):
            f.append('-> ' + os.readlink(p))
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            f.append('dev=%d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        try:
            xs = sorted(x for x in os.listxattr(p, follow_symlinks=False)
                        if x.split('.')[0] in ('user', 'trusted', 'security'))
            for x in xs:
                f.append('%s=%r' % (x, os.getxattr(p, x, follow_symlinks=False)))
        except OSError:
            pass
        print(' '.join(f))
