#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""report.py DIR: the host side of `make bench`.

Reads DIR/results.jsonl (one record a line, written by atomfs_bench in the
guest and build.sh on the host), DIR/meta.txt and DIR/load.txt; writes
DIR/results.json (the JSON array of records), prints the medians and the
ratios, draws DIR/*.svg with gnuplot and writes DIR/performance.rst.
"""
import json
import os
import statistics
import subprocess
import sys

D = sys.argv[1] if len(sys.argv) > 1 else "build/bench"

# What each benchmark measures, for the tables and the report.
ABOUT = {
    "mount": "cold mount of N layers: from the first blob opened to the mount made "
             "(atomfs: open + CREATE_STACK with sha256 verification + mount; overlay: "
             "loop device + squashfs mount per layer, then the overlay mount; fuse: a "
             "squashfuse daemon per layer, then fuse-overlayfs); atomfs-warm: the same N "
             "layers again while a first mount holds them; overlay-warm: the overlay mount "
             "alone over layers already set up",
    "mount-warm-parts": "atomfs-warm's time in its two parts: opening the N blob files "
                        "(atomfs-open) and CREATE_STACK over the held layers plus the mount "
                        "(atomfs-stack); overlay-warm for comparison",
    "mount-kmem": "kernel memory (Slab + VmallocUsed + Percpu, /proc/meminfo) grown by that "
                  "cold mount, per layer (lookups of the mount itself included)",
    "lookup-hit": "stat of 2,000 (QUICK: 500) distinct existing names of the base layer, each "
                  "once, on freshly mounted layers (first access included), per name",
    "lookup-miss": "stat of 2,000 (QUICK: 500) distinct missing names, each once, per name",
    "lookup-miss-slab": "slab grown by the missing-name run",
    "lookup-miss-dentries": "dentries grown by the missing-name run (2,000, QUICK 500: one each)",
    "lookup-deep": "first stat of a/b/c/d/e, a path whose directories every layer holds",
    "readdir-first": "first listing of a directory of 10,000 entries spread over N layers",
    "readdir-reopen": "listing again after close and reopen (mean of 10)",
    "readdir-rewind": "listing again after rewinddir on the open directory (mean of 10)",
    "read-seq-cold": "sequential 1 MiB reads of a 256 MiB file, freshly mounted, caches dropped "
                     "(atomfs: the blob file given to the kernel; atomfs-loop: the blob on a "
                     "read-only direct-I/O loop device; squashfs: that blob mounted alone on such "
                     "a loop device)",
    "read-seq-warm": "the same again, page cache warm",
    "read-mmap-cold": "mmap of the 256 MiB file, one byte read per page, fresh mount",
    "read-mmap-warm": "the same again",
    "small-files-cold": "open + read + close of 10,000 files of 4 KiB, fresh mount, per file",
    "small-files-warm": "the same again",
    "verify": "sha256 of one 256 MiB blob (QUICK: 64 MiB; page cache warm): the kernel's check in "
              "CREATE_STACK against openssl dgst -sha256 in the guest",
    "verify-parallel": "16 blobs of 16 MiB in one CREATE_STACK (hashed in parallel) "
                       "against one openssl dgst -sha256 of the 16 files (openssl) and "
                       "16 openssl processes at once (openssl-par)",
    "verify-warm": "CREATE_STACK of the blob while the first stack holds it (no hash)",
    "verify-parallel-warm": "the same for the 16 blobs",
    "build-dir": "one squashfs layer from a directory, wall time (host)",
    "build-dir-cpu": "the same, CPU time (user + system)",
    "build-dir-size": "the same, output bytes",
    "build-tgz": "one squashfs layer from a tar.gz layer, wall time (host): atomfs import of an OCI "
                 "image whose one layer it is (made by umoci), against gzip -dc LAYER | tar2sqfs",
    "build-tgz-cpu": "the same, CPU time",
    "build-tgz-size": "the same, output bytes",
    "image-size": "bytes of blobs in the layout: one image, and three sharing a base "
                  "and two dependency layers",
}
COMPS = ("gzip", "xz", "lz4", "zstd")
BSS = ("128K", "1M")
MEMPARTS = ("", "-slab", "-vmalloc", "-decomp", "-percpu")
REF = {  # the system the ratios divide by
    "build-dir": "atomfs", "build-dir-cpu": "atomfs", "build-dir-size": "atomfs",
    "build-tgz": "atomfs", "build-tgz-cpu": "atomfs", "build-tgz-size": "atomfs",
}
ORDER = list(ABOUT)
HOW = """\
- The layers are squashfs blobs made on the host by
  ``tools/testing/bench/fixtures.sh`` with mksquashfs (gzip, 128 KiB blocks
  unless a memory set says otherwise) and copied onto the guest's ext4 disk.
  The lookup and mount set: a base layer holding ``h0000..h1999`` and
  ``a/b/c/d/e``, and layers that each hold one file of their own and the
  directories ``a/b/c/d`` (merged in every layer, as ``/usr/lib`` is). The
  readdir sets hold the same 10,000 names spread over 1, 100 or 500 layers.
  The flat comparator is one squashfs image of the merged tree (for readdir,
  the one-layer set).
- Cold means freshly mounted layers, with the page cache, dentries and inodes
  dropped before the mount (``drop_caches`` alone does not make squashfs cold:
  it keeps its own metadata cache until unmounted). atomfs mounts are
  file-backed (``ATOMFS_LAYER_FILE``) unless named atomfs-loop, and include
  the kernel's sha256 verification of every blob.
- overlayfs is given what its users set up: one read-only direct-I/O loop
  device and one squashfs mount per layer (done in C, ``atomfs_bench``), then
  ``mount -t overlay`` with short relative ``lowerdir`` paths (options are cut
  at one page); one layer gets an empty second lower directory, which
  overlayfs needs without an upper one (as the Go atomfs does). It refuses
  more than 500 layers. fuse is squashfuse 0.1.105 per layer under
  fuse-overlayfs 1.10, tried for N <= 100; a mount it does not finish within
  30 s is recorded as "cannot" and not tried again for that layer set.
- The guest's timings come from ``clock_gettime(CLOCK_MONOTONIC)`` around
  the system calls in ``tools/testing/bench/atomfs_bench.c``; the host's
  (image writers) from ``/usr/bin/time``. Kernel memory per held layer is
  Slab + VmallocUsed + Percpu from ``/proc/meminfo`` after dropping caches,
  before and after mounting 50 layers (after one untimed mount and unmount
  of the same layers, so that loop devices made on first use are not
  counted), each part also on its own; the decompressors' workspaces are
  the ``/proc/vmallocinfo`` areas made by squashfs's decompressor set-up
  (``zlib_init``, ``lz4_init``, ``zstd_init``, ``xz_dec_lzma2_create``), and
  the slab caches that grew most come from ``/proc/slabinfo``; slab growth
  of lookups is ``Slab`` before and after the missing-name run, dentries
  from ``/proc/sys/fs/dentry-state``.
- Under TCG every instruction is emulated: absolute figures (notably sha256
  and decompression, which use SIMD instructions the emulator runs slowly)
  are far below hardware; the comparisons are the result.""".split("\n")


def load():
    recs = []
    with open(os.path.join(D, "results.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    with open(os.path.join(D, "results.json"), "w") as f:
        json.dump(recs, f, indent=1)
        f.write("\n")
    return recs


def meta():
    m = {}
    try:
        with open(os.path.join(D, "meta.txt")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition(" ")
                m[k] = v
    except OSError:
        pass
    loads = []
    try:
        with open(os.path.join(D, "load.txt")) as f:
            loads = [float(l.split()[1]) for l in f if len(l.split()) > 1]
    except OSError:
        pass
    if loads:
        m["load"] = "1-minute load average %.2f to %.2f, median %.2f (%d samples, every 15 s)" % (
            min(loads), max(loads), statistics.median(loads), len(loads))
    else:
        m["load"] = "not sampled"
    return m


def medians(recs):
    groups, cannot = {}, {}
    for r in recs:
        k = (r["benchmark"], r["system"], r["n"])
        if r["value"] is None:
            cannot[k] = r.get("why", "cannot")
            continue
        groups.setdefault(k, []).append(r["value"])
    med = {k: (statistics.median(v), len(v), recs_unit(recs, k)) for k, v in groups.items()}
    return med, cannot


def recs_unit(recs, k):
    for r in recs:
        if (r["benchmark"], r["system"], r["n"]) == k:
            return r["unit"]
    return ""


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e6:
        return "%.4g" % v
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 0.1:
        return "%.2f" % v
    return "%.3g" % v


def tables(med, cannot):
    """[(benchmark, unit, systems, rows)], rows: (n, {system: text}, ratios)."""
    out = []
    benches = sorted({k[0] for k in list(med) + list(cannot) if not k[0].startswith("mem-")},
                     key=lambda b: (ORDER.index(b) if b in ORDER else 999, b))
    for b in benches:
        keys = [k for k in list(med) + list(cannot) if k[0] == b]
        systems = sorted({k[1] for k in keys}, key=sysorder)
        ns = sorted({k[2] for k in keys})
        unit = next((med[k][2] for k in med if k[0] == b), "")
        ref = REF.get(b, "atomfs")
        if b.startswith("mount"):
            ref = "atomfs-stack" if b == "mount-warm-parts" else "atomfs"
        rows = []
        for n in ns:
            cells, ratios = {}, {}
            for s in systems:
                if (b, s, n) in med:
                    v, cnt, _ = med[(b, s, n)]
                    cells[s] = fmt(v) + ("" if cnt >= 3 else " (%d run%s)" % (cnt, "s" if cnt > 1 else ""))
                    r = med.get((b, ref, n))
                    if s != ref and r and r[0]:
                        ratios[s] = v / r[0]
                elif (b, s, n) in cannot:
                    cells[s] = "cannot"
                else:
                    cells[s] = "not run"
            rows.append((n, cells, ratios))
        out.append((b, unit, systems, ref, rows))
    return out


def sysorder(s):
    o = ["atomfs", "atomfs-warm", "atomfs-loop", "overlay", "overlay-warm", "fuse", "squashfs",
         "flat", "openssl", "mksquashfs", "gensquashfs", "mkfs.erofs", "tar2sqfs", "umoci"]
    return (o.index(s) if s in o else 99, s)


def mem_rows(med):
    """Kernel memory per held layer: [(set, {column: value})] for the sets measured."""
    rows = []
    for c in COMPS:
        for bs in BSS:
            tag = "%s-%s" % (c, bs)
            cols = {}
            for sys in ("atomfs", "overlay"):
                for part in MEMPARTS:
                    v = g(med, "mem-%s%s" % (tag, part), sys, 50)
                    if v is not None:
                        cols[(sys, part)] = v
            if cols:
                rows.append((tag, cols))
    return rows


MEMCOLS = [("atomfs", ""), ("atomfs", "-slab"), ("atomfs", "-vmalloc"), ("atomfs", "-decomp"),
           ("atomfs", "-percpu"), ("overlay", ""), ("overlay", "-slab"), ("overlay", "-vmalloc"),
           ("overlay", "-decomp")]


def mem_runs(med):
    """How many runs the memory figures are the median of."""
    cnts = sorted({v[1] for k, v in med.items() if k[0].startswith("mem-")})
    if not cnts:
        return "no run"
    if cnts == [1]:
        return "one run of each set"
    return "medians of %s runs" % "-".join(str(c) for c in (cnts[0], cnts[-1]) if c) \
        if cnts[0] != cnts[-1] else "medians of %d runs" % cnts[0]


def mem_head(c):
    return c[0] + (" " + c[1][1:] if c[1] else " total")


def mem_table_text(rows):
    head = ["set"] + [mem_head(c) for c in MEMCOLS] + ["atomfs/overlay"]
    lines = []
    for tag, cols in rows:
        a, o = cols.get(("atomfs", "")), cols.get(("overlay", ""))
        lines.append([tag] + [fmt(cols.get(c)) for c in MEMCOLS] +
                     ["x%.2f" % (a / o) if a is not None and o else "-"])
    return head, lines


def slab_tops():
    """{(set, system): [(cache, KiB/layer)]} from mem-slabs.txt, largest first."""
    tops = {}
    try:
        with open(os.path.join(D, "mem-slabs.txt")) as f:
            for line in f:
                p = line.split()
                if len(p) == 4:
                    tops.setdefault((p[0], p[1]), []).append((p[2], float(p[3])))
    except OSError:
        pass
    return tops


def timings():
    """[(part, total seconds, [per rep])] from timings.txt, longest first."""
    t = {}
    try:
        with open(os.path.join(D, "timings.txt")) as f:
            for line in f:
                p = line.split()
                if len(p) == 3:
                    e = t.setdefault(p[0], [0, []])
                    e[0] += int(float(p[2]))
                    if p[1] != "0":
                        e[1].append(int(float(p[2])))
    except OSError:
        pass
    return sorted(((k, v[0], v[1]) for k, v in t.items()), key=lambda x: -x[1])


def print_tables(tabs):
    for b, unit, systems, ref, rows in tabs:
        print("\n%s (%s; median; ratio = system / %s)" % (b, unit, ref))
        print("%6s " % "N" + "".join("%16s" % s for s in systems))
        for n, cells, ratios in rows:
            print("%6d " % n + "".join("%16s" % cells[s] for s in systems))
            if ratios:
                print("%6s " % "" + "".join("%16s" % ("x%.2f" % ratios[s] if s in ratios else "")
                                             for s in systems))


def plot(med, name, benches, ylabel, logy=True):
    series = {}
    for (b, s, n), (v, _, _) in med.items():
        if b in benches and v > 0:
            series.setdefault((b, s), []).append((n, v))
    series = {k: sorted(v) for k, v in series.items() if len(v) >= 2}
    if not series:
        return None
    dat = os.path.join(D, name + ".dat")
    cmds = ["set terminal svg size 800,500 dynamic enhanced font 'sans,11'",
            "set output '%s'" % os.path.join(D, name + ".svg"),
            "set logscale x", "set xlabel 'layers (N)'", "set ylabel '%s'" % ylabel,
            "set key outside right", "set grid", "set title '%s'" % name]
    if logy:
        cmds.append("set logscale y")
    plots = []
    with open(dat, "w") as f:
        for i, ((b, s), pts) in enumerate(sorted(series.items(), key=lambda x: (x[0][0], sysorder(x[0][1])))):
            f.write("# %s %s\n" % (b, s))
            for n, v in pts:
                f.write("%d %.9g\n" % (n, v))
            f.write("\n\n")
            title = s if len(benches) == 1 else "%s %s" % (b, s)
            plots.append("'%s' index %d with linespoints title '%s'" % (dat, i, title))
    cmds.append("plot " + ", ".join(plots))
    try:
        subprocess.run(["gnuplot"], input="\n".join(cmds) + "\n", text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("report: gnuplot failed for %s: %s (apt-get install gnuplot-nox)" % (name, e),
              file=sys.stderr)
        return None
    return name + ".svg"


def g(med, b, s, n):
    v = med.get((b, s, n))
    return v[0] if v else None


def targets(med):
    res = []

    def add(what, ok, why):
        res.append((what, "not measured" if ok is None else ("met" if ok else "NOT met"), why))

    h1, h500 = g(med, "lookup-hit", "atomfs", 1), g(med, "lookup-hit", "atomfs", 500)
    m1, m500 = g(med, "lookup-miss", "atomfs", 1), g(med, "lookup-miss", "atomfs", 500)
    d1, d500 = g(med, "lookup-miss-dentries", "atomfs", 1), g(med, "lookup-miss-dentries", "atomfs", 500)
    if None in (h1, h500, m1, m500, d1, d500):
        add("lookup at 500 layers within 2x of 1 layer, missing names included, no lower dentries",
            None, "lookups at 1 and 500 layers not both in this run")
    else:
        # No lower dentries: the misses grow the dentry cache by about
        # one per name at 500 layers as at 1 (overlayfs: one per layer).
        ok = h500 / h1 <= 2 and m500 / m1 <= 2 and d500 <= d1 * 1.05 + 10
        dp1, dp500 = g(med, "lookup-deep", "atomfs", 1), g(med, "lookup-deep", "atomfs", 500)
        deep = ("" if None in (dp1, dp500) else
                "; not counted: the first walk of a/b/c/d/e, a path whose directories all "
                "500 layers hold, x%.1f (each layer's copy of each directory is visited once)"
                % (dp500 / dp1))
        add("lookup at 500 layers within 2x of 1 layer, missing names included, no lower dentries",
            ok, "per name, 500 layers against 1: existing x%.2f, missing x%.2f; dentries grown by "
            "the missing-name run: %d at 500 layers, %d at 1%s" % (h500 / h1, m500 / m1, d500, d1, deep))
    r1, r500 = g(med, "readdir-reopen", "atomfs", 1), g(med, "readdir-reopen", "atomfs", 500)
    add("reopen+list at 500 layers within 2x of 1 layer",
        None if None in (r1, r500) else r500 / r1 <= 2,
        "not in this run" if None in (r1, r500) else "x%.2f (%s ms against %s ms)" % (
            r500 / r1, fmt(r500), fmt(r1)))
    w, o = g(med, "mount", "atomfs-warm", 100), g(med, "mount", "overlay-warm", 100)
    add("warm mount of 100 layers faster than overlayfs mounting the same set-up layers",
        None if None in (w, o) else w < o,
        "not in this run" if None in (w, o) else "atomfs warm %s s (blob opens, CREATE_STACK, "
        "mount), overlay mount alone %s s: atomfs takes x%.2f the time" % (fmt(w), fmt(o), w / o))
    a, s = g(med, "verify", "atomfs", 1), g(med, "verify", "openssl", 1)
    add("verification >= 0.9x openssl", None if None in (a, s) else a >= 0.9 * s,
        "not in this run" if None in (a, s) else "atomfs %s MiB/s, openssl %s MiB/s: atomfs at x%.2f "
        "of openssl's rate" % (fmt(a), fmt(s), a / s))
    parts, ok = [], None
    for b in ("read-seq-cold", "read-seq-warm"):
        a, s = g(med, b, "atomfs", 1), g(med, b, "squashfs", 1)
        if None not in (a, s):
            ok = (ok is not False) and a >= 0.95 * s
            parts.append("%s x%.3f" % (b, a / s))
    add("sequential read >= 0.95x raw squashfs", ok,
        ("atomfs's rate over squashfs's: " + ", ".join(parts)) if parts else "not in this run")
    parts, ok = [], None
    for b in ("read-seq-cold", "read-seq-warm"):
        a, s = g(med, b, "atomfs", 1), g(med, b, "atomfs-loop", 1)
        if None not in (a, s):
            ok = (ok is not False) and a >= 0.95 * s
            parts.append("%s x%.3f" % (b, a / s))
    add("file-backed sequential read >= 0.95x loop-backed (atomfs-loop)", ok,
        ("file-backed rate over loop-backed: " + ", ".join(parts)) if parts else "not in this run")
    a, s = g(med, "build-dir", "atomfs", os.cpu_count()), g(med, "build-dir", "mksquashfs", os.cpu_count())
    if a is None:
        ks = [k for k in med if k[0] == "build-dir" and k[1] == "atomfs"]
        if ks:
            a, s = g(med, "build-dir", "atomfs", ks[0][2]), g(med, "build-dir", "mksquashfs", ks[0][2])
    add("build at least as fast as mksquashfs", None if None in (a, s) else a <= s,
        "not in this run" if None in (a, s) else "atomfs %s s, mksquashfs %s s (wall): atomfs takes "
        "x%.2f the time" % (fmt(a), fmt(s), a / s))
    parts, ok = [], None
    for c in ("gzip", "xz", "lz4", "zstd"):
        for bs in ("128K", "1M"):
            b = "mem-%s-%s" % (c, bs)
            a, s = g(med, b, "atomfs", 50), g(med, b, "overlay", 50)
            if None not in (a, s):
                ok = (ok is not False) and a <= s
                parts.append("%s-%s %s/%s KiB" % (c, bs, fmt(a), fmt(s)))
    add("kernel memory per layer no more than overlayfs's", ok,
        ("atomfs/overlay per layer: " + ", ".join(parts)) if parts else "not in this run")
    return res


def rst_table(b, unit, systems, ref, rows):
    head = ["N"] + systems
    lines = []
    for n, cells, ratios in rows:
        lines.append([str(n)] + [cells[s] + (" (x%.2f)" % ratios[s] if s in ratios else "") for s in systems])
    w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
    sep = "  ".join("=" * x for x in w)
    out = [sep, "  ".join(h.ljust(w[i]) for i, h in enumerate(head)), sep]
    out += ["  ".join(c.ljust(w[i]) for i, c in enumerate(l)) for l in lines]
    out.append(sep)
    return "\n".join(out)


def main():
    recs = load()
    m = meta()
    med, cannot = medians(recs)
    tabs = tables(med, cannot)
    print_tables(tabs)
    plots = []
    for name, benches, ylabel in (
            ("mount", ["mount"], "seconds"),
            ("mount-kmem", ["mount-kmem"], "KiB per layer"),
            ("lookup-hit", ["lookup-hit"], "microseconds per name"),
            ("lookup-miss", ["lookup-miss"], "microseconds per name"),
            ("lookup-miss-dentries", ["lookup-miss-dentries"], "dentries grown by 2,000 misses"),
            ("lookup-deep", ["lookup-deep"], "microseconds"),
            ("readdir", ["readdir-first", "readdir-reopen", "readdir-rewind"], "milliseconds per listing")):
        p = plot(med, name, benches, ylabel)
        if p:
            plots.append(p)
    mrows = mem_rows(med)
    if mrows:
        head, lines = mem_table_text(mrows)
        print("\nkernel memory per held layer (KiB/layer, 50 layers, median)")
        print("".join("%16s" % h for h in head))
        for l in lines:
            print("".join("%16s" % x for x in l))
        best = min((cols[("atomfs", "")], tag) for tag, cols in mrows if ("atomfs", "") in cols)
        print("least kernel memory per atomfs layer: %s (%s KiB)" % (best[1], fmt(best[0])))
    tops = slab_tops()
    tims = timings()
    if tims:
        print("\nwhere the time went (s):")
        for part, tot, reps in tims:
            print("  %-18s %6d%s" % (part, tot, ("  per rep: " + " ".join(map(str, reps))) if reps else ""))
    tg = targets(med)
    print("\ntargets (issue 16, point 9; issue 12, point 4):")
    for what, st, why in tg:
        print("  %-8s %s: %s" % (st, what, why))

    present = sorted({r["benchmark"] for r in recs}, key=lambda b: (ORDER.index(b) if b in ORDER else 999, b))
    absent = [b for b in ORDER if b not in present]
    if any(b.startswith("mem-") for b in present):
        present = [b for b in present if not b.startswith("mem-")] + ["mem (kernel memory per layer)"]
    else:
        absent.append("mem (kernel memory per layer)")
    o = []
    o.append("=======================================")
    o.append("atomfs performance: measured, compared")
    o.append("=======================================")
    o.append("")
    o.append("Made by ``make bench%s`` (``tools/testing/bench/run``); the raw records are "
             "``build/bench/results.json``, the plots ``build/bench/*.svg``." %
             (" QUICK=1" if m.get("mode") == "quick" else ""))
    o.append("")
    o.append("The run")
    o.append("=======")
    o.append("")
    o.append("- Date: %s; %s run, %s repetitions, %s s in all; tree %s." % (
        m.get("date", "?"), m.get("mode", "?"), m.get("reps", "?"), m.get("seconds", "?"), m.get("commit", "?")))
    o.append("- Machine: %s host CPUs (%s), shared with other jobs. The guest is Debian's "
             "6.1 kernel in qemu, 2 virtual CPUs, 3 GiB, %s. Layer blobs on an ext4 "
             "scratch disk of the guest (virtio, cache=%s%s), never on 9p. Cold means "
             "freshly mounted with the guest's caches dropped%s." % (
                 m.get("host_cpus", "?"), m.get("host_cpu", "?"), m.get("accel", "accelerator unknown"),
                 m.get("disk_cache", "unsafe"),
                 ": O_DIRECT on the host" if m.get("disk_cache") == "none" else "",
                 ", and the disk read from the host's disk, not its page cache"
                 if m.get("disk_cache") == "none" else
                 "; the host's page cache still holds the disk image (guest-cold, host-warm)"))
    o.append("- Host load during the run: %s. Under TCG emulation every figure is slower "
             "than on hardware; ratios between systems measured in the same guest, "
             "interleaved within each repetition, are the meaningful part." % m["load"])
    o.append("- Figures are medians of the repetitions (a count in parentheses where fewer "
             "were made); ratios in parentheses divide by the first system named (atomfs).")
    o.append("- Benchmarks in this run: %s." % ", ".join(present))
    o.append("- Not in this run: %s." % (", ".join(absent) or "none"))
    o.append("")
    o.append("How the figures were made")
    o.append("=========================")
    o.append("")
    o.extend(HOW)
    o.append("")
    o.append("Targets")
    o.append("=======")
    o.append("")
    for what, st, why in tg:
        o.append("- **%s**: %s. %s." % (st, what, why))
    o.append("")
    o.append("Figures")
    o.append("=======")
    for b, unit, systems, ref, rows in tabs:
        o.append("")
        o.append(b)
        o.append("-" * len(b))
        o.append("")
        o.append("%s. Unit: %s; ratio: system / %s." % ((lambda t: t[:1].upper() + t[1:])(ABOUT.get(b, b)), unit, ref))
        o.append("")
        o.append(rst_table(b, unit, systems, ref, rows))
    if mrows:
        o.append("")
        o.append("Kernel memory per held layer")
        o.append("----------------------------")
        o.append("")
        o.append("Growth of Slab, VmallocUsed and Percpu (``/proc/meminfo``) from before to after "
                 "mounting 50 layers of one compressor and block size (each layer holds the "
                 "lookup set's tree plus a 64 KiB text file), caches dropped, per layer; "
                 "decomp is the part of vmalloc whose areas ``/proc/vmallocinfo`` attributes "
                 "to squashfs's decompressors (one stream per possible CPU). Unit: KiB/layer; "
                 "%s." % mem_runs(med))
        o.append("")
        head, lines = mem_table_text(mrows)
        w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        sep = "  ".join("=" * x for x in w)
        o += [sep, "  ".join(h.ljust(w[i]) for i, h in enumerate(head)), sep]
        o += ["  ".join(x.ljust(w[i]) for i, x in enumerate(l)) for l in lines]
        o.append(sep)
        if tops:
            o.append("")
            o.append("Slab caches grown most (``/proc/slabinfo``, KiB per layer):")
            o.append("")
            for (tag, sys), caches in sorted(tops.items()):
                o.append("- %s, %s: %s" % (tag, sys, ", ".join("%s %s" % (c, fmt(v)) for c, v in caches[:4])))
    if tims:
        o.append("")
        o.append("Where the time went")
        o.append("-------------------")
        o.append("")
        o.append("Seconds per part of this run (``build/bench/timings.txt``); the guest's "
                 "benchmarks per repetition in parentheses.")
        o.append("")
        for part, tot, reps in tims:
            o.append("- %s: %d s%s" % (part, tot, (" (%s)" % ", ".join(map(str, reps))) if reps else ""))
    o.append("")
    if plots:
        o.append("Plots (in ``build/bench/``): %s." % ", ".join(plots))
        o.append("")
    with open(os.path.join(D, "performance.rst"), "w") as f:
        f.write("\n".join(o))
    print("\nreport: %s/results.json (%d records), %s/performance.rst, plots: %s" % (
        D, len(recs), D, " ".join(plots) or "none"))


main()
