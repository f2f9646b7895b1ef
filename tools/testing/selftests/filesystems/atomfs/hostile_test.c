// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile and odd layers (issue 15, point 2), built by make-hostile into
 * build/fixtures/hostile: whiteout look-alikes, OCI marker names as every
 * type, opaque xattrs with other values, a name that changes type from
 * layer to layer, 100,000 entries in one directory, a 4,096-deep tree,
 * 255-byte names, hard links across directories, every file type and every
 * xattr namespace squashfs stores.
 *
 * Each stack is mounted from file layers (ATOMFS_LAYER_FILE) and walked in
 * full: readdir, lstat, read of every regular file, readlink, listxattr and
 * getxattr of every entry. The test checks the merged result it expects,
 * then mounts overlayfs over the same layers (each squashfs image on a loop
 * device) and compares the two walks entry by entry, where overlayfs can
 * mount the stack and has the same rules. Where not, the variant says why:
 *   - OCI whiteouts (.wh.NAME, .wh..wh..opq) are not overlayfs's: it shows
 *     them as names;
 *   - atomfs hides every .wh..wh.* name whatever the whiteout style; overlayfs
 *     shows them;
 *   - user.overlay.opaque counts for overlayfs only with userxattr, which
 *     then ignores trusted.overlay.opaque; atomfs honours both.
 * The overlay bookkeeping xattrs are left out of the comparison (atomfs
 * never shows them; overlayfs shows a lower layer's user.overlay.*).
 */
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "tree_cmp.h"
#include "kselftest_harness.h"

#define WORK "/tmp/atomfs-hostile"
#define MNT WORK "/atomfs"
#define OVL WORK "/overlay"
#define MAX_DEPTH 5000
/*
 * In a directory of more entries than this, every name is read and
 * compared but only one entry in SAMPLE is stat'ed, read and its xattrs
 * listed: a full walk of 100,000 entries takes over 8 minutes under TCG
 * (about 5 ms per entry on a loaded host).
 */
#define HUGE_DIR 10000
#define SAMPLE 500

/* One walk of a tree: a line per entry, in a fixed (sorted, pre-order) order. */
struct walk {
	char *buf;
	size_t len, cap;
	long entries;
	long errors;
	const char *skip;	/* names at depth 1 left out (see the variants) */
};

static void walk_add(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && w->len + n < w->cap)
			break;
		w->cap = w->cap ? w->cap * 2 + n : 1 << 20;
		w->buf = realloc(w->buf, w->cap);
		if (!w->buf)
			abort();
	}
	w->len += n;
}

/* FNV-1a over the bytes of the regular file NAME in DFD; -errno on error. */
static long long content_hash(int dfd, const char *name, long long *size)
{
	static char buf[1 << 16];
	unsigned long long h = 1469598103934665603ULL;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n, i;

	*size = 0;
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
		*size += n;
	}
	close(fd);
	if (n < 0)
		return -EIO;
	return h & 0x7fffffffffffffffLL;
}

/* The names in the directory DFD, sorted; NULL and -errno in *NR on error. */
static char **read_names(int dfd, int *nr)
{
	char buf[8192];
	char **v = NULL;
	int n = 0, cap = 0;
	long got, off;

	for (;;) {
		got = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
		if (got < 0) {
			*nr = -errno;
			free_names(v, n);
			return NULL;
		}
		if (!got)
			break;
		for (off = 0; off < got;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);

			off += de->d_reclen;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = realloc(v, cap * sizeof(*v));
				if (!v)
					abort();
			}
			v[n++] = strdup(de->d_name);
		}
	}
	qsort(v, n, sizeof(*v), name_cmp);
	*nr = n;
	return v;
}

/* Append NAME's xattrs (names sorted, overlay bookkeeping left out), with
 * the cwd at its directory. */
static void walk_xattrs(struct walk *w, const char *name)
{
	char names[8192], val[4096], *p;
	int len = xattr_names(name, names, sizeof(names));
	ssize_t n;

	if (len < 0) {
		walk_add(w, " xattrs:%s", strerror(-len));
		/* a squashfs inode without xattrs says so, as overlayfs does */
		if (len != -EOPNOTSUPP)
			w->errors++;
		return;
	}
	for (p = names; p < names + len; p += strlen(p) + 1) {
		unsigned long long h = 1469598103934665603ULL;
		ssize_t i;

		n = lgetxattr(name, p, val, sizeof(val));
		if (n < 0) {
			w->errors++;
			walk_add(w, " %s:%s", p, strerror(errno));
			continue;
		}
		for (i = 0; i < n; i++)
			h = (h ^ (unsigned char)val[i]) * 1099511628211ULL;
		walk_add(w, " %s=%zd:%llx", p, n, h);
	}
}

/* Is NAME one of LIST's words, or does it start with a word "PREFIX*"? */
static bool skipped(const char *list, const char *name)
{
	const char *p = list, *e;

	while (p && *p) {
		e = strchrnul(p, ' ');
		if (e > p && e[-1] == '*' ? !strncmp(name, p, e - p - 1) :
		    (strlen(name) == (size_t)(e - p) && !strncmp(name, p, e - p)))
			return true;
		p = *e ? e + 1 : e;
	}
	return false;
}

/* Walk the directory DFD at DEPTH: every entry's line, then its subtree. */
static void walk_dir(struct walk *w, int dfd, int depth)
{
	char **names;
	int nr, i;

	names = read_names(dfd, &nr);
	if (!names && nr < 0) {
		walk_add(w, "%d readdir:%s\n", depth, strerror(-nr));
		w->errors++;
		return;
	}
	if (fchdir(dfd)) {
		w->errors++;
		free_names(names, nr);
		return;
	}
	for (i = 0; i < nr; i++) {
		const char *name = names[i];
		struct stat st;

		if (depth == 0 && skipped(w->skip, name))
			continue;
		w->entries++;
		if (nr > HUGE_DIR && i % SAMPLE) {
			walk_add(w, "%d %s\n", depth, name);
			continue;
		}
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
			walk_add(w, "%d %s stat:%s\n", depth, name, strerror(errno));
			w->errors++;
			continue;
		}
		walk_add(w, "%d %s %o %u:%u", depth, name, st.st_mode,
			 st.st_uid, st.st_gid);
		if (!S_ISDIR(st.st_mode))
			walk_add(w, " size=%lld nlink=%lu mtime=%lld",
				 (long long)st.st_size, (unsigned long)st.st_nlink,
				 (long long)st.st_mtime);
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			walk_add(w, " rdev=%u:%u", major(st.st_rdev),
				 minor(st.st_rdev));
		if (S_ISLNK(st.st_mode)) {
			static char target[PATH_MAX];	/* off the stack: 4,096 levels */
			ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);

			if (n < 0) {
				walk_add(w, " readlink:%s", strerror(errno));
				w->errors++;
			} else {
				target[n] = 0;
				walk_add(w, " -> %s", target);
			}
		}
		if (S_ISREG(st.st_mode)) {
			long long size, h = content_hash(dfd, name, &size);

			if (h < 0 || size != st.st_size) {
				walk_add(w, " read:%s", h < 0 ? strerror(-h) : "short");
				w->errors++;
			} else {
				walk_add(w, " data=%llx", h);
			}
		}
		walk_xattrs(w, name);
		walk_add(w, "\n");
		if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
			int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY |
					 O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				walk_add(w, "%d %s open:%s\n", depth, name,
					 strerror(errno));
				w->errors++;
				continue;
			}
			walk_dir(w, sub, depth + 1);
			close(sub);
			if (fchdir(dfd))
				w->errors++;
		}
	}
	free_names(names, nr);
}

static void walk_tree(struct walk *w, const char *dir, const char *skip)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	memset(w, 0, sizeof(*w));
	w->skip = skip;
	walk_add(w, "");
	if (fd < 0) {
		w->errors++;
		return;
	}
	walk_dir(w, fd, 0);
	close(fd);
	if (chdir("/"))
		w->errors++;
}

/* Print the first lines where two walks differ; return how many differ. */
static int walk_diff(const struct walk *a, const struct walk *b)
{
	const char *pa = a->buf, *pb = b->buf;
	int diffs = 0, line = 0;

	while (*pa || *pb) {
		const char *ea = strchrnul(pa, '\n'), *eb = strchrnul(pb, '\n');

		line++;
		if (ea - pa != eb - pb || memcmp(pa, pb, ea - pa)) {
			if (diffs++ < 10)
				printf("# line %d:\n#  atomfs:   %.300s\n#  overlay:  %.300s\n",
				       line, *pa ? strndupa(pa, ea - pa) : "(end)",
				       *pb ? strndupa(pb, eb - pb) : "(end)");
		}
		pa = *ea ? ea + 1 : ea;
		pb = *eb ? eb + 1 : eb;
	}
	return diffs;
}

/* --- what each stack must look like --- */

#define M(p) MNT "/" p

static bool is_chr(const char *path, unsigned int maj, unsigned int min, bool blk)
{
	struct stat st;

	return !lstat(path, &st) && (blk ? S_ISBLK(st.st_mode) : S_ISCHR(st.st_mode)) &&
	       major(st.st_rdev) == maj && minor(st.st_rdev) == min;
}

static int nr_names(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), nr = -1;
	char **v;

	if (fd < 0)
		return -errno;
	v = read_names(fd, &nr);
	free_names(v, nr);
	close(fd);
	return nr;
}

static bool xattr_is(const char *path, const char *name, const char *value)
{
	char buf[4096];
	ssize_t n = lgetxattr(path, name, buf, sizeof(buf));

	return n == (ssize_t)strlen(value) && !memcmp(buf, value, n);
}

static void expect_wo(struct __test_metadata *_metadata)
{
	EXPECT_EQ(ENOENT, lstat_errno(M("a")));		/* 0/0: a whiteout */
	EXPECT_TRUE(is_chr(M("b"), 1, 3, false));	/* not whiteouts */
	EXPECT_TRUE(is_chr(M("c"), 0, 1, false));
	EXPECT_TRUE(is_chr(M("d"), 0, 0, true));
	EXPECT_TRUE(is_chr(M("e"), 256, 0, false));
	EXPECT_EQ(ENOENT, lstat_errno(M("dd")));
	EXPECT_EQ(ENOENT, lstat_errno(M("dd/inside")));
	EXPECT_EQ(4, nr_names(MNT));
}

static void expect_wh_oci(struct __test_metadata *_metadata)
{
	EXPECT_TRUE(file_is(M(".wh."), "dot wh"));	/* the prefix alone */
	EXPECT_EQ(ENOENT, lstat_errno(M("x")));		/* .wh.x, a file */
	EXPECT_EQ(ENOENT, lstat_errno(M("y")));		/* .wh.y, a directory */
	EXPECT_TRUE(file_is(M("z"), "lower z"));
	EXPECT_EQ(ENOENT, lstat_errno(M(".wh.x")));
	EXPECT_EQ(ENOENT, lstat_errno(M(".wh.y")));
	EXPECT_EQ(5, nr_names(MNT));			/* .wh. z o1 o2 o3 */
	/* .wh..wh..opq as a directory and as a symlink: opaque, hidden */
	EXPECT_EQ(1, nr_names(M("o1")));
	EXPECT_TRUE(file_is(M("o1/new"), "upper o1 new"));
	EXPECT_EQ(ENOENT, lstat_errno(M("o1/keep")));
	EXPECT_EQ(ENOENT, lstat_errno(M("o1/.wh..wh..opq")));
	EXPECT_EQ(0, nr_names(M("o2")));
	EXPECT_EQ(ENOENT, lstat_errno(M("o2/.wh..wh..opq")));
	/* another .wh..wh.* name: hidden, and not a marker */
	EXPECT_EQ(1, nr_names(M("o3")));
	EXPECT_TRUE(file_is(M("o3/keep"), "lower o3 keep"));
	EXPECT_EQ(ENOENT, lstat_errno(M("o3/.wh..wh.other")));
}

static void expect_wh_ovl(struct __test_metadata *_metadata)
{
	/* overlay style only: the OCI names are names */
	EXPECT_TRUE(file_is(M(".wh."), "dot wh"));
	EXPECT_TRUE(file_is(M("x"), "lower x"));
	EXPECT_EQ(0, lstat_errno(M(".wh.x")));
	EXPECT_EQ(0, lstat_errno(M("y")));
	EXPECT_EQ(0, lstat_errno(M(".wh.y")));
	/* no OCI opaque marker: merged; the .wh..wh.* names stay hidden */
	EXPECT_EQ(2, nr_names(M("o1")));
	EXPECT_TRUE(file_is(M("o1/keep"), "lower o1 keep"));
	EXPECT_EQ(ENOENT, lstat_errno(M("o1/.wh..wh..opq")));
	EXPECT_EQ(1, nr_names(M("o2")));
	EXPECT_EQ(1, nr_names(M("o3")));
}

static void expect_op(struct __test_metadata *_metadata)
{
	static const char * const merged[] = { "p3", "p4", "p5", "p6", "p7" };
	char path[PATH_MAX];
	unsigned int i;

	/* only the value "y" makes a directory opaque */
	EXPECT_EQ(1, nr_names(M("p1")));
	EXPECT_EQ(ENOENT, lstat_errno(M("p1/keep")));
	EXPECT_EQ(1, nr_names(M("p2")));
	EXPECT_EQ(ENOENT, lstat_errno(M("p2/keep")));
	for (i = 0; i < ARRAY_SIZE(merged); i++) {
		snprintf(path, sizeof(path), MNT "/%s", merged[i]);
		EXPECT_EQ(2, nr_names(path)) TH_LOG("%s", merged[i]);
	}
	/* the marks themselves are never shown */
	EXPECT_EQ(-1, lgetxattr(M("p1"), "trusted.overlay.opaque", path, 8));
	EXPECT_EQ(ENODATA, errno);
	EXPECT_EQ(-1, lgetxattr(M("p7"), "user.overlay.opaque", path, 8));
	EXPECT_EQ(ENODATA, errno);
}

static void expect_flip_dir(struct __test_metadata *_metadata)
{
	struct stat st;

	ASSERT_EQ(0, lstat(M("n"), &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_TRUE(file_is(M("n/inside"), "inside in layer 1"));
	EXPECT_EQ(1, nr_names(M("n")));
}

static void expect_flip_gone(struct __test_metadata *_metadata)
{
	EXPECT_EQ(ENOENT, lstat_errno(M("n")));
	EXPECT_EQ(0, nr_names(MNT));
}

static void expect_flip_fresh(struct __test_metadata *_metadata)
{
	/* the whiteout between them cuts layer 1's n off */
	EXPECT_TRUE(file_is(M("n/fresh"), "fresh in layer 3"));
	EXPECT_EQ(ENOENT, lstat_errno(M("n/inside")));
	EXPECT_EQ(1, nr_names(M("n")));
}

static void expect_flip_file(struct __test_metadata *_metadata)
{
	EXPECT_TRUE(file_is(M("n"), "file in layer 0"));
}

static void expect_big(struct __test_metadata *_metadata)
{
	EXPECT_EQ(100000, nr_names(M("big")));
	EXPECT_EQ(ENOENT, lstat_errno(M("big/n000000")));
	EXPECT_EQ(0, lstat_errno(M("big/n000001")));
	EXPECT_EQ(0, lstat_errno(M("big/n099999")));
	EXPECT_EQ(ENOENT, lstat_errno(M("big/n100000")));
	EXPECT_TRUE(file_is(M("big/extra"), "extra"));
}

/* Open d/d/.../d DEPTH levels down, one level at a time. */
static int open_deep(int depth)
{
	int fd = open(MNT, O_RDONLY | O_DIRECTORY | O_CLOEXEC), sub, i;

	for (i = 0; i < depth && fd >= 0; i++) {
		sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = sub;
	}
	return fd;
}

static void expect_deep(struct __test_metadata *_metadata)
{
	char buf[64] = "";
	ssize_t n;
	int fd, f;

	fd = open_deep(4096);
	ASSERT_GE(fd, 0);
	f = openat(fd, "leaf", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(f, 0);
	n = read(f, buf, sizeof(buf) - 1);
	EXPECT_EQ(10, n);
	EXPECT_STREQ("deep leaf\n", buf);
	close(f);
	EXPECT_EQ(-1, faccessat(fd, "d", F_OK, AT_SYMLINK_NOFOLLOW));
	close(fd);
	fd = open_deep(2048);		/* merged: mid from the top, d below */
	ASSERT_GE(fd, 0);
	EXPECT_EQ(0, faccessat(fd, "mid", F_OK, AT_SYMLINK_NOFOLLOW));
	EXPECT_EQ(0, faccessat(fd, "d", F_OK, AT_SYMLINK_NOFOLLOW));
	close(fd);
}

static char *repeat(int len, char c)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 4];

	memset(b, c, len);
	b[len] = 0;
	return b;
}

static void expect_long(struct __test_metadata *_metadata)
{
	char path[3 * PATH_MAX], target[PATH_MAX];

	snprintf(path, sizeof(path), MNT "/%s", repeat(255, 'a'));
	EXPECT_TRUE(file_is(path, "long a"));
	snprintf(path, sizeof(path), MNT "/%s/%s", repeat(255, 'b'), repeat(255, 'b'));
	EXPECT_TRUE(file_is(path, "long b in b"));
	snprintf(path, sizeof(path), MNT "/%s/%s", repeat(255, 'b'), repeat(255, 'a'));
	EXPECT_TRUE(file_is(path, "long a in b"));
	snprintf(path, sizeof(path), MNT "/%s", repeat(255, 'c'));
	EXPECT_EQ(4095, readlink(path, target, sizeof(target)));
	EXPECT_EQ(0, memcmp(target, repeat(4095, 't'), 4095));
	/* whited out: a 251-byte name by .wh.NAME, a 255-byte one by 0/0 */
	snprintf(path, sizeof(path), MNT "/%s", repeat(251, 'e'));
	EXPECT_EQ(ENOENT, lstat_errno(path));
	snprintf(path, sizeof(path), MNT "/%s", repeat(255, 'd'));
	EXPECT_EQ(ENOENT, lstat_errno(path));
	/* 256 bytes: ENAMETOOLONG, as squashfs and overlayfs answer */
	snprintf(path, sizeof(path), MNT "/%s", repeat(256, 'a'));
	EXPECT_EQ(ENAMETOOLONG, lstat_errno(path));
	EXPECT_EQ(3, nr_names(MNT));
}

static void expect_hard(struct __test_metadata *_metadata)
{
	struct stat a, b, c, s1, s2;

	/* mksquashfs keeps the hard links of the file, not of the symlink */

	ASSERT_EQ(0, lstat(M("a/f"), &a));
	ASSERT_EQ(0, lstat(M("b/g"), &b));
	ASSERT_EQ(0, lstat(M("c/d/h"), &c));
	EXPECT_EQ(3, a.st_nlink);
	EXPECT_EQ(a.st_ino, b.st_ino);
	EXPECT_EQ(a.st_ino, c.st_ino);
	EXPECT_TRUE(file_is(M("c/d/h"), "hard linked"));
	ASSERT_EQ(0, lstat(M("s1"), &s1));
	ASSERT_EQ(0, lstat(M("b/s2"), &s2));
	EXPECT_TRUE(S_ISLNK(s2.st_mode));
}

static void expect_types(struct __test_metadata *_metadata)
{
	static const struct { const char *name; mode_t type; } types[] = {
		{ "empty", S_IFREG }, { "dir", S_IFDIR }, { "sym", S_IFLNK },
		{ "chr", S_IFCHR }, { "blk", S_IFBLK }, { "fifo", S_IFIFO },
		{ "sock", S_IFSOCK },
	};
	char path[PATH_MAX], buf[4096];
	struct stat st;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		snprintf(path, sizeof(path), MNT "/%s", types[i].name);
		ASSERT_EQ(0, lstat(path, &st));
		EXPECT_EQ(types[i].type, st.st_mode & S_IFMT) TH_LOG("%s", path);
	}
	ASSERT_EQ(0, lstat(M("owned"), &st));
	EXPECT_EQ(2000000000U, st.st_uid);
	EXPECT_EQ(3000000000U, st.st_gid);
	ASSERT_EQ(0, lstat(M("sticky"), &st));
	EXPECT_EQ(01777, st.st_mode & 07777);
	ASSERT_EQ(0, lstat(M("sparse"), &st));
	EXPECT_EQ(4 << 20, st.st_size);
	/* every namespace, on every type that takes it */
	EXPECT_TRUE(xattr_is(M("small"), "user.a", "user small"));
	EXPECT_TRUE(xattr_is(M("dir"), "trusted.b", "trusted dir"));
	EXPECT_TRUE(xattr_is(M("dir"), "security.c", "security dir"));
	EXPECT_TRUE(xattr_is(M("sym"), "trusted.b", "trusted sym"));
	EXPECT_TRUE(xattr_is(M("chr"), "security.c", "security chr"));
	EXPECT_TRUE(xattr_is(M("sock"), "trusted.b", "trusted sock"));
	EXPECT_TRUE(xattr_is(M("empty"), "user.empty", ""));
	EXPECT_EQ(3000, lgetxattr(M("empty"), "user.big", buf, sizeof(buf)));
	EXPECT_EQ(20, lgetxattr(M("blocks"), "security.capability", buf, sizeof(buf)));
	/* user.many1..user.many24 */
	EXPECT_EQ(9 * 11 + 15 * 12, llistxattr(M("sparse"), buf, sizeof(buf)));
	/* a size too small is ERANGE, as on the layer */
	EXPECT_EQ(-1, lgetxattr(M("empty"), "user.big", buf, 10));
	EXPECT_EQ(ERANGE, errno);
}

FIXTURE(hostile) {
	int devs;
};

FIXTURE_VARIANT(hostile) {
	int nr;
	const char *layers[5];		/* bottom first, in hostile/ */
	unsigned int whiteout;
	void (*expect)(struct __test_metadata *_metadata);
	bool scale;			/* stock kernel only (ATOMFS_SKIP_SCALE) */
	bool overlay;			/* compare with overlayfs */
	const char *ovl_opts;		/* more overlay options */
	const char *ovl_skip;		/* top-level names not compared */
	const char *why;		/* why overlayfs is not compared (all or part) */
};

FIXTURE_VARIANT_ADD(hostile, whiteout_lookalikes) {
	.nr = 2, .layers = { "wo_lower", "wo_upper" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_wo, .overlay = true,
};

FIXTURE_VARIANT_ADD(hostile, oci_names) {
	.nr = 2, .layers = { "wh_lower", "wh_upper" },
	.whiteout = ATOMFS_WHITEOUT_OCI, .expect = expect_wh_oci,
	.why = "OCI whiteouts are not overlayfs's",
};

FIXTURE_VARIANT_ADD(hostile, oci_names_overlay_style) {
	.nr = 2, .layers = { "wh_lower", "wh_upper" },
	.whiteout = ATOMFS_WHITEOUT_OVERLAY, .expect = expect_wh_ovl,
	.overlay = true, .ovl_skip = "o1 o2 o3",
	.why = "o1-o3: overlayfs shows .wh..wh.* names, atomfs never does",
};

FIXTURE_VARIANT_ADD(hostile, opaque_values) {
	.nr = 2, .layers = { "op_lower", "op_upper" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_op,
	.overlay = true, .ovl_skip = "p2",
	.why = "p2: user.overlay.opaque counts for overlayfs only with userxattr",
};

FIXTURE_VARIANT_ADD(hostile, opaque_values_userxattr) {
	.nr = 2, .layers = { "op_lower", "op_upper" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_op,
	.overlay = true, .ovl_opts = ",userxattr", .ovl_skip = "p1",
	.why = "p1: with userxattr overlayfs ignores trusted.overlay.opaque",
};

FIXTURE_VARIANT_ADD(hostile, file_then_dir) {
	.nr = 2, .layers = { "flip0", "flip1" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_flip_dir,
	.overlay = true,
};

FIXTURE_VARIANT_ADD(hostile, dir_then_file) {
	.nr = 2, .layers = { "flip1", "flip0" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_flip_file,
	.overlay = true,
};

FIXTURE_VARIANT_ADD(hostile, file_dir_whiteout) {
	.nr = 3, .layers = { "flip0", "flip1", "flip2_ovl" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_flip_gone,
	.overlay = true,
};

FIXTURE_VARIANT_ADD(hostile, file_dir_oci_whiteout) {
	.nr = 3, .layers = { "flip0", "flip1", "flip2_oci" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_flip_gone,
	.why = "OCI whiteouts are not overlayfs's",
};

FIXTURE_VARIANT_ADD(hostile, file_dir_whiteout_dir) {
	.nr = 4, .layers = { "flip0", "flip1", "flip2_ovl", "flip3" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_flip_fresh,
	.overlay = true,
};

FIXTURE_VARIANT_ADD(hostile, file_dir_oci_whiteout_dir) {
	.nr = 4, .layers = { "flip0", "flip1", "flip2_oci", "flip3" },
	.whiteout = ATOMFS_WHITEOUT_OCI, .expect = expect_flip_fresh,
	.why = "OCI whiteouts are not overlayfs's",
};

FIXTURE_VARIANT_ADD(hostile, dir_100000_entries) {
	.nr = 2, .layers = { "big", "bigtop" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_big,
	.overlay = true, .scale = true,
};

FIXTURE_VARIANT_ADD(hostile, tree_4096_deep) {
	.nr = 2, .layers = { "deep", "deeptop" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_deep,
	.overlay = true, .scale = true,
};

FIXTURE_VARIANT_ADD(hostile, names_255_bytes) {
	.nr = 2, .layers = { "long", "longtop" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_long,
	.overlay = true, .ovl_skip = ".wh.e* e*",
	.why = "the 251-byte .wh.eee... and eee...: OCI whiteouts are not overlayfs's",
};

FIXTURE_VARIANT_ADD(hostile, hard_links) {
	.nr = 2, .layers = { "hard", "empty" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_hard,
	.overlay = true,
};

FIXTURE_VARIANT_ADD(hostile, every_type_and_xattr) {
	.nr = 2, .layers = { "types", "empty" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_types,
	.overlay = true,
};

FIXTURE_VARIANT_ADD(hostile, one_layer_types) {
	.nr = 1, .layers = { "types" },
	.whiteout = ATOMFS_WHITEOUT_BOTH, .expect = expect_types,
	.why = "overlayfs needs two lower layers without an upper",
};

FIXTURE_SETUP(hostile)
{
	self->devs = count_layer_devs();
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, raise_nofile(MAX_DEPTH * 2 + 100));
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
	ASSERT_EQ(0, mkdir(OVL, 0755));
}

FIXTURE_TEARDOWN(hostile)
{
	EXPECT_EQ(0, count_mounts("atomfs"));
	EXPECT_EQ(0, count_mounts("overlay"));
	close_range(3, ~0U, 0);
	umount_below(WORK, false);
	EXPECT_EQ(self->devs, wait_layer_devs(self->devs, 5000));
}

static const char *layer(const char *name)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "hostile/%s.sqfs", name);
	return fixture(rel);
}

TEST_F_TIMEOUT(hostile, walk, 900)
{
	struct layer_set *ls = calloc(1, sizeof(*ls));
	struct walk aw, ow;
	char opts[4096], dir[PATH_MAX];
	long long t0;
	size_t len;
	int i, fd;

	ASSERT_NE(NULL, ls);
	if (variant->scale && getenv("ATOMFS_SKIP_SCALE") &&
	    !strcmp(getenv("ATOMFS_SKIP_SCALE"), "1")) {
		free(ls);
		SKIP(return, "ATOMFS_SKIP_SCALE=1: stock kernel only");
	}
	for (i = 0; i < variant->nr; i++)
		ASSERT_EQ(0, add_file_layer(ls, layer(variant->layers[i])))
			TH_LOG("%s: %s", layer(variant->layers[i]), strerror(errno));
	fd = create_stack(ls->l, ls->nr, variant->whiteout, NULL);
	ASSERT_GE(fd, 0) TH_LOG("create-stack: %s", strerror(-fd));
	put_layers(ls);
	free(ls);
	ASSERT_EQ(0, mount_stack(fd, MNT));
	close(fd);

	t0 = now_ms();
	walk_tree(&aw, MNT, NULL);
	printf("# atomfs: %ld entries walked in %lld ms\n", aw.entries,
	       now_ms() - t0);
	EXPECT_EQ(0, aw.errors) TH_LOG("%.2000s", aw.buf);
	if (variant->expect != expect_flip_gone)	/* the one empty tree */
		EXPECT_GT(aw.entries, 0);
	variant->expect(_metadata);

	if (variant->why)
		printf("# overlayfs: %s%s\n", variant->overlay ? "compared, except " :
		       "not compared: ", variant->why);
	if (variant->overlay) {
		/* overlayfs: lowerdir=top:...:bottom, squashfs on loop devices */
		len = snprintf(opts, sizeof(opts), "lowerdir=");
		for (i = variant->nr - 1; i >= 0; i--) {
			snprintf(dir, sizeof(dir), WORK "/sq%d", i);
			ASSERT_EQ(0, mount_squashfs(layer(variant->layers[i]), dir));
			len += snprintf(opts + len, sizeof(opts) - len, "%s%s", dir,
					i ? ":" : "");
		}
		len += snprintf(opts + len, sizeof(opts) - len, "%s",
				variant->ovl_opts ? variant->ovl_opts : "");
		ASSERT_LT(len, 4095);
		ASSERT_EQ(0, mount("overlay", OVL, "overlay", MS_RDONLY, opts))
			TH_LOG("overlay %s: %s", opts, strerror(errno));
		if (variant->ovl_skip) {
			free(aw.buf);
			walk_tree(&aw, MNT, variant->ovl_skip);
		}
		t0 = now_ms();
		walk_tree(&ow, OVL, variant->ovl_skip);
		printf("# overlayfs: %ld entries walked in %lld ms\n", ow.entries,
		       now_ms() - t0);
		EXPECT_EQ(aw.entries, ow.entries);
		EXPECT_EQ(0, walk_diff(&aw, &ow));
		free(ow.buf);
		EXPECT_EQ(0, umount(OVL));
	}
	free(aw.buf);
	EXPECT_EQ(0, umount(MNT));
}

/*
 * On the debug kernel (run_tests --debug sets ATOMFS_SKIP_SCALE=1) the walks
 * take minutes under KASAN and TCG: that kernel gets the corpus through
 * mut_fuzz (tools/testing/fuzz/run --mutate) instead. ATOMFS_HOSTILE_DEBUG=1
 * runs the small stacks there anyway (the scale ones still skip): make
 * check does so on a second kernel line (6.12), to compare with its
 * overlayfs.
 */
int main(int argc, char **argv)
{
	const char *skip = getenv("ATOMFS_SKIP_SCALE");
	const char *force = getenv("ATOMFS_HOSTILE_DEBUG");

	if (skip && !strcmp(skip, "1") && !(force && !strcmp(force, "1"))) {
		printf("TAP version 13\n1..0 # SKIP ATOMFS_SKIP_SCALE=1: the corpus "
		       "walk runs on the stock kernel, mut_fuzz on this one\n");
		return 0;
	}
	ATOMFS_SELFTEST_FILTER();
	return test_harness_run(argc, argv);
}
