#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Merge extracted squashfs layers the way atomfs (and overlayfs) stack them,
for comparing an imported image with what `umoci unpack` gives: a 0/0
character device deletes the name below it, a directory with
trusted.overlay.opaque=y hides everything below it, any other
non-directory hides what is below it, directories merge.
usage: overlay.py OUT LAYER... (bottom first; needs root for devices and
trusted xattrs)"""
import os, shutil, stat, subprocess, sys


def remove(q):
    if os.path.isdir(q) and not os.path.islink(q):
        shutil.rmtree(q)
    elif os.path.lexists(q):
        os.unlink(q)


def apply(layer, dst):
    for d, dirs, files in os.walk(layer):
        rel = os.path.relpath(d, layer)
        tgt = os.path.join(dst, rel)
        try:
            opaque = os.getxattr(d, 'trusted.overlay.opaque') == b'y'
        except OSError:
            opaque = False
        if opaque and rel != '.':
            remove(tgt)
            os.makedirs(tgt)
        for n in sorted(dirs + files):
            p = os.path.join(d, n)
            q = os.path.join(tgt, n)
            st = os.lstat(p)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                remove(q)
            elif not stat.S_ISDIR(st.st_mode):
                remove(q)
                subprocess.run(['cp', '-a', p, q], check=True)
            else:
                if os.path.lexists(q) and not os.path.isdir(q):
                    os.unlink(q)
                os.makedirs(q, exist_ok=True)


os.makedirs(sys.argv[1], exist_ok=True)
for layer in sys.argv[2:]:
    apply(layer, sys.argv[1])
