// SPDX-License-Identifier: GPL-2.0
/*
 * The union's semantics (Documentation/filesystems/atomfs.rst, "Semantics")
 * on the fixtures of make-fixtures: one, two and three layers, both whiteout
 * styles and the style selection, opaque directories, dir-over-file and
 * file-over-dir, inode numbers, every file type, xattrs, sparse and large
 * files, read/mmap/splice/exec/chroot, EROFS everywhere, statfs, readdir
 * with telldir/seekdir, overlayfs on top.
 *
 * Each test runs twice: with the squashfs images as block-device layers
 * (loop devices), and with the same images mounted in the test's mount
 * namespace and passed as directory layers.
 */
#include <grp.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

#include "tree_cmp.h"
#include "kselftest_harness.h"

#define WORK "/tmp/atomfs-union"
#define MNT WORK "/mnt"

FIXTURE(u) {
	int loops;
	int nlower;
};

FIXTURE_VARIANT(u) {
	bool dir_layers;
};

FIXTURE_VARIANT_ADD(u, blk) {
	.dir_layers = false,
};

FIXTURE_VARIANT_ADD(u, dir) {
	.dir_layers = true,
};

FIXTURE_SETUP(u)
{
	self->loops = count_layer_devs();
	ASSERT_GE(self->loops, 0);
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
	ASSERT_EQ(0, mkdir(WORK "/lower", 0755));
}

FIXTURE_TEARDOWN(u)
{
	EXPECT_EQ(0, count_mounts("atomfs"));
	close_range(3, ~0U, 0);
	umount_below(WORK, false);
	EXPECT_EQ(self->loops, wait_layer_devs(self->loops, 5000));
}

/* Mount flags for stack_at(): read-only unless a test says otherwise. */
static unsigned long stack_mount_flags = MS_RDONLY;

/*
 * Stack the fixture images NAMES (base first) with whiteout style STYLE
 * and mount the stack at DIR (with stack_mount_flags). Layers are block devices or, for the dir
 * variant, the images mounted under WORK/lower.
 */
static int stack_at(FIXTURE_DATA(u) *self, bool dir_layers, const char *dir,
		    unsigned int style, int nr, const char *const *names)
{
	static struct layer_set ls;
	char path[PATH_MAX];
	int i, err = 0, fd;

	ls.nr = 0;
	for (i = 0; i < nr && !err; i++) {
		if (!dir_layers) {
			err = add_file_layer(&ls, fixture(names[i]));
			continue;
		}
		snprintf(path, sizeof(path), WORK "/lower/%d", self->nlower++);
		err = mount_squashfs(fixture(names[i]), path);
		if (!err)
			err = add_dir_layer(&ls, path);
	}
	if (err) {
		put_layers(&ls);
		return err;
	}
	fd = create_stack(ls.l, ls.nr, style, NULL);
	put_layers(&ls);
	if (fd < 0)
		return fd;
	err = mount_stack_flags(fd, dir, stack_mount_flags);
	close(fd);
	return err;
}

#define STACK(style, ...)                                                  \
	({                                                                 \
		const char *const __n[] = { __VA_ARGS__ };                 \
		stack_at(self, variant->dir_layers, MNT, style,            \
			 sizeof(__n) / sizeof(__n[0]), __n);               \
	})

/* The names in DIR, sorted, joined by spaces (without . and ..). */
static const char *listing(const char *dir)
{
	static char buf[65536];
	char **v;
	int n, i;
	size_t len = 0;

	buf[0] = 0;
	v = dir_names(dir, &n);
	if (n < 0)
		return "(error)";
	for (i = 0; i < n; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s%s",
				i ? " " : "", v[i]);
	free_names(v, n);
	return buf;
}

#define EXPECT_LISTING(dir, want) EXPECT_STREQ(want, listing(dir))
#define EXPECT_CONTENT(path, want) \
	EXPECT_TRUE(file_is(path, want)) TH_LOG("%s is not \"%s\"", path, want)
#define EXPECT_ENOENT(path) EXPECT_EQ(ENOENT, lstat_errno(path)) TH_LOG("%s", path)

static bool is_type(const char *path, mode_t type)
{
	struct stat st;

	return !lstat(path, &st) && (st.st_mode & S_IFMT) == type;
}

#define ROOT_2 "abssym blk chr dir1 dir2 dir3 dir5 dir6 dsym fifo file4 " \
	"file_a hard1 hard2 large odir owned selfname sock sparse sym tfile xfile"

/* The merged view of base + one of top_ovl/top_oci (identical changes). */
static void check_two_layers(struct __test_metadata *_metadata)
{
	EXPECT_LISTING(MNT, ROOT_2);
	EXPECT_CONTENT(MNT "/file_a", "base a");
	EXPECT_ENOENT(MNT "/file_b"); /* whiteout */
	EXPECT_ENOENT(MNT "/nothing"); /* whiteout of nothing */
	EXPECT_ENOENT(MNT "/dir7"); /* whiteout of a directory */
	EXPECT_ENOENT(MNT "/dir7/deep/file");
	EXPECT_LISTING(MNT "/dir1", "x y z"); /* merged */
	EXPECT_CONTENT(MNT "/dir1/x", "base x");
	EXPECT_CONTENT(MNT "/dir1/y", "top y");
	EXPECT_CONTENT(MNT "/dir1/z", "top z");
	EXPECT_LISTING(MNT "/dir2", "new"); /* opaque */
	EXPECT_ENOENT(MNT "/dir2/old");
	EXPECT_CONTENT(MNT "/dir2/new", "top new");
	EXPECT_TRUE(is_type(MNT "/dir3", S_IFREG)); /* file over dir */
	EXPECT_CONTENT(MNT "/dir3", "top dir3");
	EXPECT_EQ(ENOTDIR, lstat_errno(MNT "/dir3/inner3"));
	EXPECT_TRUE(is_type(MNT "/file4", S_IFDIR)); /* dir over file */
	EXPECT_LISTING(MNT "/file4", "inner4");
	EXPECT_CONTENT(MNT "/file4/inner4", "top inner4");
	EXPECT_LISTING(MNT "/dir5", "shown"); /* user.overlay.opaque / OCI */
	EXPECT_ENOENT(MNT "/dir5/hidden");
	EXPECT_LISTING(MNT "/dir6", "p"); /* opaque hides only lower */
	EXPECT_ENOENT(MNT "/dir6/q");
	EXPECT_CONTENT(MNT "/selfname", "top selfname"); /* own-layer .wh. */
}

TEST_F(u, two_layers_overlay_whiteouts)
{
	ASSERT_EQ(0, STACK(ATOMFS_WHITEOUT_BOTH, "base.sqfs", "top_ovl.sqfs"));
	check_two_layers(_metadata);
	EXPECT_EQ(0, umount(MNT));
	ASSERT_EQ(0, STACK(ATOMFS_WHITEOUT_OVERLAY, "base.sqfs", "top_ovl.sqfs"));
	check_two_layers(_metadata);
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, two_layers_oci_whiteouts)
{
	ASSERT_EQ(0, STACK(ATOMFS_WHITEOUT_BOTH, "base.sqfs", "top_oci.sqfs"));
	check_two_layers(_metadata);
	EXPECT_ENOENT(MNT "/.wh.file_b");
	EXPECT_ENOENT(MNT "/.wh..wh.plnk");
	EXPECT_ENOENT(MNT "/.wh..wh.orph");
	EXPECT_ENOENT(MNT "/dir2/.wh..wh..opq");
	EXPECT_EQ(0, umount(MNT));
	ASSERT_EQ(0, STACK(ATOMFS_WHITEOUT_OCI, "base.sqfs", "top_oci.sqfs"));
	check_two_layers(_metadata);
	EXPECT_EQ(0, umount(MNT));
}

static void check_three_layers(struct __test_metadata *_metadata)
{
	EXPECT_LISTING(MNT, "abssym blk chr dir1 dir2 dir3 dir5 dir6 dir7 "
		       "dsym fifo file4 file_a file_b hard1 hard2 large odir "
		       "owned selfname sock sparse sym tfile xfile");
	EXPECT_CONTENT(MNT "/file_a", "top2 a");
	EXPECT_CONTENT(MNT "/file_b", "top2 b"); /* back after a whiteout */
	EXPECT_LISTING(MNT "/dir1", "x y");
	EXPECT_LISTING(MNT "/dir2", "new newer"); /* merges down to opaque */
	EXPECT_LISTING(MNT "/dir7", "fresh"); /* not base's dir7 */
	EXPECT_CONTENT(MNT "/dir7/fresh", "top2 fresh");
	EXPECT_LISTING(MNT "/dir5", "shown");
}

TEST_F(u, three_layers)
{
	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs", "top2_ovl.sqfs"));
	check_three_layers(_metadata);
	EXPECT_EQ(0, umount(MNT));
	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_oci.sqfs", "top2_oci.sqfs"));
	check_three_layers(_metadata);
	EXPECT_EQ(0, umount(MNT));
	/* both styles in one stack */
	ASSERT_EQ(0, STACK(ATOMFS_WHITEOUT_BOTH, "base.sqfs", "top_ovl.sqfs",
			   "top2_oci.sqfs"));
	check_three_layers(_metadata);
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, overlay_only_style_ignores_oci_names)
{
	ASSERT_EQ(0, STACK(ATOMFS_WHITEOUT_OVERLAY, "base.sqfs", "top_oci.sqfs"));
	/* .wh.NAME is an ordinary file, and hides nothing */
	EXPECT_TRUE(is_type(MNT "/.wh.file_b", S_IFREG));
	EXPECT_CONTENT(MNT "/file_b", "base b");
	EXPECT_CONTENT(MNT "/dir7/deep/file", "base deep");
	EXPECT_LISTING(MNT "/dir2", "new old");
	EXPECT_LISTING(MNT "/dir6", "p q");
	/* .wh..wh.* stays invisible in every style */
	EXPECT_ENOENT(MNT "/.wh..wh.plnk");
	EXPECT_ENOENT(MNT "/.wh..wh.orph");
	EXPECT_ENOENT(MNT "/dir2/.wh..wh..opq");
	EXPECT_EQ(NULL, strstr(listing(MNT "/dir5"), ".wh..wh."));
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, oci_only_style_ignores_overlay_whiteouts)
{
	struct stat st;
	char v[16];

	ASSERT_EQ(0, STACK(ATOMFS_WHITEOUT_OCI, "base.sqfs", "top_ovl.sqfs"));
	/* char 0/0 is just a character device */
	ASSERT_EQ(0, lstat(MNT "/file_b", &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0, st.st_rdev);
	ASSERT_EQ(0, lstat(MNT "/nothing", &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_TRUE(is_type(MNT "/dir7", S_IFCHR));
	/* overlay.opaque means nothing, but stays hidden */
	EXPECT_LISTING(MNT "/dir2", "new old");
	EXPECT_LISTING(MNT "/dir5", "hidden shown");
	EXPECT_EQ(-1, lgetxattr(MNT "/dir2", "trusted.overlay.opaque", v, sizeof(v)));
	EXPECT_EQ(ENODATA, errno);
	EXPECT_EQ(-1, lgetxattr(MNT "/dir5", "user.overlay.opaque", v, sizeof(v)));
	EXPECT_EQ(ENODATA, errno);
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, one_layer_is_the_layer)
{
	int diffs;

	ASSERT_EQ(0, STACK(0, "base.sqfs"));
	ASSERT_EQ(0, mount_squashfs(fixture("base.sqfs"), WORK "/ref"));
	diffs = tree_cmp(WORK "/ref", MNT, CMP_MTIME | CMP_NLINK | CMP_BLOCKS);
	EXPECT_EQ(0, diffs);
	EXPECT_EQ(0, umount(MNT));
	ASSERT_EQ(0, STACK(0, "top_ovl.sqfs"));
	/* a one-layer stack of a layer with whiteouts shows no whiteouts */
	EXPECT_ENOENT(MNT "/file_b");
	EXPECT_LISTING(MNT "/dir2", "new");
	EXPECT_EQ(0, umount(MNT));
}

/* Collect st_ino of every entry below DIR; check d_ino == st_ino. */
struct ino_rec {
	char path[256];
	ino_t ino;
	nlink_t nlink;
	bool dir;
};

static int walk_inos(const char *dir, struct ino_rec *recs, int n, int max,
		     int *bad_dino)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX];
	struct stat st;

	if (!d)
		return n;
	while ((de = readdir(d)) && n < max) {
		if (!strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st))
			continue;
		if (de->d_ino != st.st_ino) {
			printf("# %s: d_ino %lu, st_ino %lu\n", p,
			       (unsigned long)de->d_ino, (unsigned long)st.st_ino);
			(*bad_dino)++;
		}
		if (!strcmp(de->d_name, "."))
			continue;
		/* d_type agrees with the type */
		if (de->d_type != DT_UNKNOWN &&
		    (unsigned int)de->d_type != IFTODT(st.st_mode)) {
			printf("# %s: d_type %u, mode 0%o\n", p, de->d_type,
			       st.st_mode);
			(*bad_dino)++;
		}
		snprintf(recs[n].path, sizeof(recs[n].path), "%s", p + strlen(MNT));
		recs[n].ino = st.st_ino;
		recs[n].nlink = st.st_nlink;
		recs[n].dir = S_ISDIR(st.st_mode);
		n++;
		if (S_ISDIR(st.st_mode))
			n = walk_inos(p, recs, n, max, bad_dino);
	}
	closedir(d);
	return n;
}

TEST_F(u, inode_numbers)
{
	static struct ino_rec a[512], b[512];
	int na, nb, bad = 0, i, j;
	struct stat s1, s2;

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs", "top2_ovl.sqfs"));
	na = walk_inos(MNT, a, 0, 512, &bad);
	EXPECT_EQ(0, bad);
	ASSERT_GT(na, 30);
	/* hard links share one number; everything else is unique */
	ASSERT_EQ(0, lstat(MNT "/hard1", &s1));
	ASSERT_EQ(0, lstat(MNT "/hard2", &s2));
	EXPECT_EQ(s1.st_ino, s2.st_ino);
	EXPECT_EQ(2, s1.st_nlink);
	for (i = 0; i < na; i++)
		for (j = i + 1; j < na; j++)
			if (a[i].ino == a[j].ino && s1.st_ino != a[i].ino) {
				printf("# %s and %s share %lu\n", a[i].path,
				       a[j].path, (unsigned long)a[i].ino);
				bad++;
			}
	EXPECT_EQ(0, bad);
	/* squashfs layers: below 2^32 */
	if (!variant->dir_layers)
		for (i = 0; i < na; i++)
			EXPECT_LT(a[i].ino, 1ULL << 32) TH_LOG("%s", a[i].path);
	/* merged directories report nlink 1 */
	ASSERT_EQ(0, lstat(MNT "/dir1", &s1));
	EXPECT_EQ(1, s1.st_nlink);
	EXPECT_EQ(0, umount(MNT));

	/* the same numbers on a new mount of a new stack of the same images */
	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs", "top2_ovl.sqfs"));
	nb = walk_inos(MNT, b, 0, 512, &bad);
	ASSERT_EQ(na, nb);
	for (i = 0; i < na; i++) {
		EXPECT_STREQ(a[i].path, b[i].path);
		/* directory layers may use a non-stable scheme (documented) */
		if (!variant->dir_layers)
			EXPECT_EQ(a[i].ino, b[i].ino) TH_LOG("%s", a[i].path);
	}
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, special_files)
{
	struct stat st;
	char buf[PATH_MAX];

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	EXPECT_EQ(6, readlink(MNT "/sym", buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "file_a", 6));
	EXPECT_EQ(7, readlink(MNT "/abssym", buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "/file_a", 7));
	EXPECT_CONTENT(MNT "/sym", "base a");
	EXPECT_CONTENT(MNT "/dsym/z", "top z");
	ASSERT_EQ(0, lstat(MNT "/chr", &st));
	EXPECT_EQ(S_IFCHR | 0620, st.st_mode);
	EXPECT_EQ(makedev(1, 3), st.st_rdev);
	EXPECT_EQ(1000, st.st_uid);
	EXPECT_EQ(1001, st.st_gid);
	ASSERT_EQ(0, lstat(MNT "/blk", &st));
	EXPECT_EQ(S_IFBLK | 0660, st.st_mode);
	EXPECT_EQ(makedev(7, 0), st.st_rdev);
	EXPECT_EQ(6, st.st_gid);
	ASSERT_EQ(0, lstat(MNT "/fifo", &st));
	EXPECT_EQ(S_IFIFO | 0640, st.st_mode);
	EXPECT_EQ(1002, st.st_uid);
	ASSERT_EQ(0, lstat(MNT "/sock", &st));
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	ASSERT_EQ(0, lstat(MNT "/owned", &st));
	EXPECT_EQ(S_IFREG | 0640, st.st_mode);
	EXPECT_EQ(1234, st.st_uid);
	EXPECT_EQ(5678, st.st_gid);
	EXPECT_EQ(6, st.st_size);
	ASSERT_EQ(0, lstat(MNT "/odir", &st));
	EXPECT_EQ(S_IFDIR | 0750, st.st_mode);
	EXPECT_EQ(4321, st.st_uid);
	EXPECT_EQ(8765, st.st_gid);
	ASSERT_EQ(0, lstat(MNT "/file_a", &st));
	EXPECT_EQ(S_IFREG | 04755, st.st_mode);
	/* statx agrees with stat */
	{
		struct statx stx;

		ASSERT_EQ(0, statx(AT_FDCWD, MNT "/owned", AT_SYMLINK_NOFOLLOW,
				   STATX_BASIC_STATS, &stx));
		ASSERT_EQ(0, lstat(MNT "/owned", &st));
		EXPECT_EQ(st.st_ino, stx.stx_ino);
		EXPECT_EQ(st.st_mode, stx.stx_mode);
		EXPECT_EQ(1234, stx.stx_uid);
		EXPECT_EQ(6, stx.stx_size);
		EXPECT_EQ(st.st_mtim.tv_sec, stx.stx_mtime.tv_sec);
		EXPECT_EQ(st.st_blocks, stx.stx_blocks);
	}
	/* the device node opens the device, read-only */
	{
		int fd = open(MNT "/chr", O_RDONLY); /* /dev/null */

		EXPECT_GE(fd, 0);
		EXPECT_EQ(0, read(fd, buf, 10));
		close(fd);
	}
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, xattrs)
{
	char names[8192], v[256];
	ssize_t n;

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	n = llistxattr(MNT "/xfile", names, sizeof(names));
	ASSERT_GT(n, 0);
	/* exactly the three, in any order */
	{
		int count = 0;
		char *p;

		for (p = names; p < names + n; p += strlen(p) + 1) {
			count++;
			EXPECT_TRUE(!strcmp(p, "user.foo") ||
				    !strcmp(p, "trusted.t") ||
				    !strcmp(p, "security.capability"))
				TH_LOG("unexpected xattr %s", p);
		}
		EXPECT_EQ(3, count);
	}
	EXPECT_EQ(3, lgetxattr(MNT "/xfile", "user.foo", v, sizeof(v)));
	EXPECT_EQ(0, memcmp(v, "bar", 3));
	EXPECT_EQ(1, lgetxattr(MNT "/xfile", "trusted.t", v, sizeof(v)));
	EXPECT_EQ(20, lgetxattr(MNT "/xfile", "security.capability", v, sizeof(v)));
	EXPECT_EQ(0x02000001U, *(unsigned int *)v); /* v2, effective */
	EXPECT_EQ(1U << 13, *(unsigned int *)(v + 4)); /* cap_net_raw */
	/* size query */
	EXPECT_EQ(3, lgetxattr(MNT "/xfile", "user.foo", NULL, 0));
	errno = 0;
	EXPECT_EQ(-1, lgetxattr(MNT "/xfile", "user.foo", v, 1));
	EXPECT_EQ(ERANGE, errno);
	/* overlay bookkeeping is never visible */
	n = llistxattr(MNT "/tfile", names, sizeof(names));
	EXPECT_EQ(10, n);
	EXPECT_STREQ("user.keep", names);
	errno = 0;
	EXPECT_EQ(-1, lgetxattr(MNT "/tfile", "trusted.overlay.junk", v, sizeof(v)));
	EXPECT_EQ(ENODATA, errno);
	errno = 0;
	EXPECT_EQ(-1, lgetxattr(MNT "/tfile", "user.overlay.junk", v, sizeof(v)));
	EXPECT_EQ(ENODATA, errno);
	errno = 0;
	EXPECT_EQ(-1, lgetxattr(MNT "/dir2", "trusted.overlay.opaque", v, sizeof(v)));
	EXPECT_EQ(ENODATA, errno);
	EXPECT_EQ(0, llistxattr(MNT "/dir2", names, sizeof(names)));
	errno = 0;
	EXPECT_EQ(-1, lgetxattr(MNT "/xfile", "user.nope", v, sizeof(v)));
	EXPECT_EQ(ENODATA, errno);
	EXPECT_EQ(0, umount(MNT));
}

/* Byte O of fixture "large": word i = O/8 is (le32 i, le32 i ^ 0xa5a5a5a5). */
static unsigned char large_byte(unsigned long long o)
{
	unsigned int i = o / 8, w = (o % 8) < 4 ? i : i ^ 0xa5a5a5a5U;

	return w >> (8 * (o % 4));
}

static bool large_ok(const unsigned char *buf, unsigned long long off, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (buf[k] != large_byte(off + k))
			return false;
	return true;
}

#define LARGE_SIZE (6ULL << 20)

TEST_F(u, read_pread_readv_large)
{
	static unsigned char buf[1 << 20];
	unsigned long long off = 0;
	struct iovec iov[3];
	struct stat st;
	ssize_t n;
	int fd, i;

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	fd = open(MNT "/large", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(LARGE_SIZE, st.st_size);
	while ((n = read(fd, buf, 100000)) > 0) {
		if (!large_ok(buf, off, n)) {
			EXPECT_TRUE(large_ok(buf, off, n)) TH_LOG("at %llu", off);
			break;
		}
		off += n;
	}
	EXPECT_EQ(0, n);
	EXPECT_EQ(LARGE_SIZE, off);
	for (i = 0; i < 50; i++) {
		unsigned long long o = (i * 2654435761ULL) % LARGE_SIZE;

		n = pread(fd, buf, 777, o);
		EXPECT_EQ(o + 777 > LARGE_SIZE ? LARGE_SIZE - o : 777, n);
		EXPECT_TRUE(large_ok(buf, o, n)) TH_LOG("pread at %llu", o);
	}
	iov[0].iov_base = buf;
	iov[0].iov_len = 5;
	iov[1].iov_base = buf + 100;
	iov[1].iov_len = 131072;
	iov[2].iov_base = buf + 200000;
	iov[2].iov_len = 3;
	ASSERT_EQ(131080, preadv(fd, iov, 3, 131070));
	EXPECT_TRUE(large_ok(buf, 131070, 5));
	EXPECT_TRUE(large_ok(buf + 100, 131075, 131072));
	EXPECT_TRUE(large_ok(buf + 200000, 131075 + 131072, 3));
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	ASSERT_EQ(131080, readv(fd, iov, 3));
	EXPECT_TRUE(large_ok(buf, 0, 5));
	EXPECT_EQ(131080, lseek(fd, 0, SEEK_CUR));
	EXPECT_EQ(0, posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED));
	EXPECT_EQ(0, posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
	EXPECT_EQ(0, pread(fd, buf, 10, LARGE_SIZE));
	close(fd);
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, huge_sparse_file)
{
	unsigned long long size = (4ULL << 30) + 8192;
	char buf[64], zero[64] = { 0 };
	struct stat st;
	int fd;

	ASSERT_EQ(0, STACK(0, "base.sqfs", "huge.sqfs"));
	fd = open(MNT "/huge", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(size, st.st_size);
	EXPECT_EQ(8, pread(fd, buf, sizeof(buf), size - 8));
	EXPECT_EQ(0, memcmp(buf, "HUGE-END", 8));
	EXPECT_EQ(64, pread(fd, buf, 64, 3ULL << 30));
	EXPECT_EQ(0, memcmp(buf, zero, 64));
	EXPECT_EQ((off_t)size, lseek(fd, 0, SEEK_END));
	close(fd);
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, sparse_file_lseek_like_the_layer)
{
	off_t offs[] = { 0, 1, 4095, 4096, 65536, 1048575, 1048576, 1048583,
			 2 << 20, (4 << 20) - 1, 4 << 20 };
	int whence[] = { SEEK_DATA, SEEK_HOLE };
	char buf[8];
	int a, b;
	unsigned int i, w;

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	ASSERT_EQ(0, mount_squashfs(fixture("base.sqfs"), WORK "/ref"));
	a = open(MNT "/sparse", O_RDONLY | O_CLOEXEC);
	b = open(WORK "/ref/sparse", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(a, 0);
	ASSERT_GE(b, 0);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		for (w = 0; w < 2; w++) {
			off_t ra, rb;
			int ea, eb;

			errno = 0;
			ra = lseek(a, offs[i], whence[w]);
			ea = errno;
			errno = 0;
			rb = lseek(b, offs[i], whence[w]);
			eb = errno;
			EXPECT_EQ(rb, ra) TH_LOG("whence %d at %lld", whence[w],
						 (long long)offs[i]);
			EXPECT_EQ(eb, ea);
		}
	EXPECT_EQ(7, pread(a, buf, 7, 1 << 20));
	EXPECT_EQ(0, memcmp(buf, "SPARSE1", 7));
	EXPECT_EQ(7, pread(a, buf, 7, 0));
	EXPECT_EQ(0, memcmp(buf, "SPARSE0", 7));
	close(a);
	close(b);
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, mmap_shared_and_private)
{
	unsigned char *s, *p;
	int fd;

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	fd = open(MNT "/large", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	s = mmap(NULL, LARGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, s);
	p = mmap(NULL, LARGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_TRUE(large_ok(s, 0, LARGE_SIZE));
	EXPECT_TRUE(large_ok(p + 3000000, 3000000, 1000));
	p[5] = ~p[5]; /* copy-on-write, not written back */
	EXPECT_NE(p[5], s[5]);
	EXPECT_TRUE(large_ok(s, 0, 4096));
	EXPECT_EQ(0, madvise(s, LARGE_SIZE, MADV_DONTNEED));
	EXPECT_TRUE(large_ok(s + 5000000, 5000000, 4096));
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	EXPECT_EQ(EACCES, errno);
	munmap(s, LARGE_SIZE);
	munmap(p, LARGE_SIZE);
	close(fd);
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, sendfile_and_splice)
{
	static unsigned char buf[1 << 16];
	int fd, out, pfd[2];
	off_t off = 0;
	ssize_t n;

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	fd = open(MNT "/large", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	out = open(WORK "/copy", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_GE(out, 0);
	while (off < (off_t)LARGE_SIZE) {
		n = sendfile(out, fd, &off, LARGE_SIZE - off);
		ASSERT_GT(n, 0);
	}
	ASSERT_EQ(0, lseek(out, 0, SEEK_SET));
	for (off = 0; (n = read(out, buf, sizeof(buf))) > 0; off += n)
		if (!large_ok(buf, off, n))
			break;
	EXPECT_EQ(LARGE_SIZE, off);
	ASSERT_EQ(0, pipe(pfd));
	off = 12345;
	n = splice(fd, &off, pfd[1], NULL, 60000, 0);
	EXPECT_EQ(60000, n);
	EXPECT_EQ(60000, read(pfd[0], buf, sizeof(buf)));
	EXPECT_TRUE(large_ok(buf, 12345, 60000));
	close(pfd[0]);
	close(pfd[1]);
	close(out);
	close(fd);
	EXPECT_EQ(0, umount(MNT));
}

/* execve(PATH) in a child: 0 if it ran (and exited 0), else its errno. */
static int exec_errno(const char *path)
{
	char *argv[] = { "true", NULL }, *envp[] = { NULL };
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		execve(path, argv, envp);
		_exit(errno);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

TEST_F(u, exec_and_chroot)
{
	struct stat st;
	char out[4096];
	char *argv[] = { "env", NULL };
	char *envp[] = { "ATOMFS_SELFTEST=exec", NULL };

	/* rootfs on top of base: /usr/bin/env and its libraries */
	ASSERT_EQ(0, STACK(0, "base.sqfs", "rootfs.sqfs"));
	EXPECT_EQ(0, run_capture(NULL, MNT "/usr/bin/env", argv, envp, out,
				 sizeof(out)));
	EXPECT_STREQ("ATOMFS_SELFTEST=exec\n", out);
	/* chroot: the dynamic loader and libc come from the mount too */
	EXPECT_EQ(0, run_capture(MNT, "/usr/bin/env", argv, envp, out,
				 sizeof(out)));
	EXPECT_STREQ("ATOMFS_SELFTEST=exec\n", out);
	/* a regular file without x bits does not run: EACCES, nothing else */
	ASSERT_EQ(0, stat(MNT "/owned", &st));
	EXPECT_TRUE(S_ISREG(st.st_mode) && !(st.st_mode & 0111));
	EXPECT_EQ(EACCES, exec_errno(MNT "/owned"));
	EXPECT_EQ(0, exec_errno(MNT "/usr/bin/env"));
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, o_direct_is_einval)
{
	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	errno = 0;
	EXPECT_EQ(-1, open(MNT "/large", O_RDONLY | O_DIRECT));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, umount(MNT));
}

#define EXPECT_EROFS(call) do { errno = 0; EXPECT_EQ(-1, (call)); \
	EXPECT_EQ(EROFS, errno) TH_LOG("%s", #call); } while (0)

TEST_F(u, every_write_is_erofs)
{
	struct timespec ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
	char line[8192];
	int fd;

	/*
	 * A mount without MS_RDONLY: the VFS's mount flag does not answer,
	 * atomfs's read-only superblock does (mountinfo: mount rw, super ro).
	 */
	stack_mount_flags = 0;
	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	stack_mount_flags = MS_RDONLY;
	ASSERT_TRUE(mountinfo_line(MNT, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " " MNT " rw")) TH_LOG("%s", line);
	EXPECT_NE(NULL, strstr(line, " none ro")) TH_LOG("%s", line);
	EXPECT_EROFS(open(MNT "/new", O_CREAT | O_WRONLY, 0644));
	EXPECT_EROFS(open(MNT "/dir1/x", O_WRONLY));
	EXPECT_EROFS(open(MNT "/dir1/y", O_RDWR));
	EXPECT_EROFS(open(MNT "/file_a", O_RDONLY | O_TRUNC));
	EXPECT_EROFS(open(MNT "/dir1", O_RDWR | O_TMPFILE, 0600));
	EXPECT_EROFS(mkdir(MNT "/newdir", 0755));
	EXPECT_EROFS(mknod(MNT "/newnod", S_IFIFO | 0644, 0));
	EXPECT_EROFS(symlink("x", MNT "/newsym"));
	EXPECT_EROFS(link(MNT "/file_a", MNT "/newlink"));
	EXPECT_EROFS(unlink(MNT "/file_a"));
	EXPECT_EROFS(unlink(MNT "/dir1/x"));
	EXPECT_EROFS(rmdir(MNT "/odir"));
	EXPECT_EROFS(rename(MNT "/file_a", MNT "/file_z"));
	EXPECT_EROFS(rename(MNT "/dir1/x", MNT "/dir2/x"));
	EXPECT_EROFS(lsetxattr(MNT "/xfile", "user.foo", "x", 1, 0));
	EXPECT_EROFS(lsetxattr(MNT "/file_a", "user.new", "x", 1, 0));
	EXPECT_EROFS(lremovexattr(MNT "/xfile", "user.foo"));
	EXPECT_EROFS(chmod(MNT "/file_a", 0600));
	EXPECT_EROFS(lchown(MNT "/file_a", 1, 1));
	EXPECT_EROFS(utimensat(AT_FDCWD, MNT "/file_a", ts, 0));
	EXPECT_EROFS(truncate(MNT "/file_a", 0));
	EXPECT_EROFS(truncate(MNT "/large", 1 << 30));
	fd = open(MNT "/file_a", O_RDONLY);
	ASSERT_GE(fd, 0);
	EXPECT_EROFS(fchmod(fd, 0600));
	EXPECT_EROFS(fsetxattr(fd, "user.x", "y", 1, 0));
	EXPECT_EQ(-1, write(fd, "x", 1));
	EXPECT_EQ(EBADF, errno);
	close(fd);
	EXPECT_CONTENT(MNT "/file_a", "base a");
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, no_file_handles_yet_and_syncfs)
{
	struct file_handle *fh = calloc(1, sizeof(*fh) + 128);
	int mount_id, fd, ref, ref_errno;

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	fh->handle_bytes = 128;
	errno = 0;
	EXPECT_EQ(-1, name_to_handle_at(AT_FDCWD, MNT "/file_a", fh, &mount_id, 0));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* syncfs succeeds (and is not forwarded); fsync does what it does
	 * on the layer itself (squashfs has no fsync: EINVAL) */
	ASSERT_EQ(0, mount_squashfs(fixture("base.sqfs"), WORK "/ref"));
	fd = open(WORK "/ref/file_a", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	errno = 0;
	ref = fsync(fd);
	ref_errno = errno;
	close(fd);
	fd = open(MNT "/file_a", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(0, syncfs(fd));
	errno = 0;
	EXPECT_EQ(ref, fsync(fd));
	EXPECT_EQ(ref_errno, errno);
	close(fd);
	free(fh);
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, statfs)
{
	struct statfs sf;
	struct statvfs sv;

	struct statfs top;

	/* The figures are the top layer's (atomfs.rst, Semantics). */
	ASSERT_EQ(0, mount_squashfs(fixture("top_ovl.sqfs"), WORK "/top"));
	ASSERT_EQ(0, statfs(WORK "/top", &top));
	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	ASSERT_EQ(0, statfs(MNT, &sf));
	EXPECT_EQ(ATOMFS_SUPER_MAGIC, sf.f_type);
	EXPECT_NE(top.f_type, sf.f_type);
	EXPECT_EQ(top.f_bsize, sf.f_bsize);
	EXPECT_EQ(top.f_blocks, sf.f_blocks);
	EXPECT_EQ(top.f_bfree, sf.f_bfree);
	EXPECT_EQ(top.f_bavail, sf.f_bavail);
	EXPECT_EQ(top.f_files, sf.f_files);
	EXPECT_EQ(top.f_ffree, sf.f_ffree);
	/* squashfs says 256; no name the VFS passes is longer than 255 */
	EXPECT_EQ(NAME_MAX, sf.f_namelen);
	EXPECT_GT(sf.f_blocks, 0);
	/* an fsid of its own, not the layer's */
	EXPECT_TRUE(sf.f_fsid.__val[0] || sf.f_fsid.__val[1]);
	EXPECT_TRUE(sf.f_fsid.__val[0] != top.f_fsid.__val[0] ||
		    sf.f_fsid.__val[1] != top.f_fsid.__val[1]);
	EXPECT_TRUE(!!(sf.f_flags & ST_RDONLY));
	ASSERT_EQ(0, statvfs(MNT "/dir1", &sv));
	EXPECT_TRUE(!!(sv.f_flag & ST_RDONLY));
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, readdir_dots_types_and_no_duplicates)
{
	struct stat root, parent, st;
	int dot = 0, dotdot = 0, bad = 0;
	struct dirent *de;
	DIR *d;

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs", "top2_ovl.sqfs"));
	ASSERT_EQ(0, stat(MNT, &root));
	ASSERT_EQ(0, stat(MNT "/dir1", &parent));
	d = opendir(MNT "/dir1");
	ASSERT_NE(NULL, d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".")) {
			dot++;
			EXPECT_EQ(parent.st_ino, de->d_ino);
			EXPECT_EQ(DT_DIR, de->d_type);
		} else if (!strcmp(de->d_name, "..")) {
			dotdot++;
			EXPECT_EQ(root.st_ino, de->d_ino);
			EXPECT_EQ(DT_DIR, de->d_type);
		} else {
			ASSERT_EQ(0, fstatat(dirfd(d), de->d_name, &st,
					     AT_SYMLINK_NOFOLLOW));
			if (IFTODT(st.st_mode) != de->d_type)
				bad++;
		}
	}
	closedir(d);
	EXPECT_EQ(1, dot);
	EXPECT_EQ(1, dotdot);
	EXPECT_EQ(0, bad);
	/* "..": the parent, for a merged directory two levels down too */
	ASSERT_EQ(0, stat(MNT "/dir1/..", &st));
	EXPECT_EQ(root.st_ino, st.st_ino);
	/* every d_type right, d_ino == st_ino, over the whole tree */
	{
		static struct ino_rec recs[512];

		walk_inos(MNT, recs, 0, 512, &bad);
		EXPECT_EQ(0, bad);
	}
	EXPECT_EQ(0, umount(MNT));
}

/* Read every name of DIR with telldir positions; return the count. */
static int read_positions(const char *dir, char (*names)[32], long *pos, int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	for (;;) {
		long p = telldir(d);

		de = readdir(d);
		if (!de || n >= max)
			break;
		pos[n] = p;
		snprintf(names[n], 32, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

TEST_F(u, seekdir_stable_across_reopen)
{
	static char names[4000][32], again[4000][32];
	static long pos[4000], pos2[4000];
	int n, n2, i, dups = 0;
	struct dirent *de;
	DIR *d;

	ASSERT_EQ(0, STACK(0, "bigA.sqfs", "bigB.sqfs"));
	n = read_positions(MNT "/big", names, pos, 4000);
	ASSERT_EQ(3002, n);
	/* no duplicates (names are n0000..n2999 plus . and ..) */
	{
		static char seen[3000];

		for (i = 0; i < n; i++) {
			int k;

			if (names[i][0] != 'n')
				continue;
			k = atoi(names[i] + 1);
			if (k < 0 || k >= 3000 || seen[k]++)
				dups++;
		}
	}
	EXPECT_EQ(0, dups);
	/* a second listing: same order, same positions */
	n2 = read_positions(MNT "/big", again, pos2, 4000);
	ASSERT_EQ(n, n2);
	for (i = 0; i < n; i++) {
		EXPECT_STREQ(names[i], again[i]);
		EXPECT_EQ(pos[i], pos2[i]);
	}
	/* seekdir on a freshly opened directory to positions from another */
	for (i = 0; i < 100; i++) {
		int k = (i * 7919) % n;

		d = opendir(MNT "/big");
		ASSERT_NE(NULL, d);
		seekdir(d, pos[k]);
		de = readdir(d);
		ASSERT_NE(NULL, de);
		EXPECT_STREQ(names[k], de->d_name);
		de = readdir(d);
		if (k + 1 < n) {
			ASSERT_NE(NULL, de);
			EXPECT_STREQ(names[k + 1], de->d_name);
		} else {
			EXPECT_EQ(NULL, de);
		}
		closedir(d);
	}
	EXPECT_EQ(0, umount(MNT));
}

TEST_F(u, overlayfs_on_top)
{
	char opts[512];

	ASSERT_EQ(0, STACK(0, "base.sqfs", "top_ovl.sqfs"));
	ASSERT_EQ(0, mkdir(WORK "/upper", 0755));
	ASSERT_EQ(0, mkdir(WORK "/ovlwork", 0755));
	ASSERT_EQ(0, mkdir(WORK "/merged", 0755));
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", MNT,
		 WORK "/upper", WORK "/ovlwork");
	ASSERT_EQ(0, mount("overlay", WORK "/merged", "overlay", 0, opts));
	EXPECT_CONTENT(WORK "/merged/dir1/z", "top z");
	EXPECT_ENOENT(WORK "/merged/file_b");
	EXPECT_EQ(0, write_file(WORK "/merged/newfile", "new\n", 4, 0644));
	EXPECT_CONTENT(WORK "/merged/newfile", "new");
	EXPECT_EQ(0, write_file(WORK "/merged/dir1/x", "changed\n", 8, 0644));
	EXPECT_CONTENT(WORK "/merged/dir1/x", "changed");
	EXPECT_EQ(0, unlink(WORK "/merged/dir1/y"));
	EXPECT_ENOENT(WORK "/merged/dir1/y");
	EXPECT_LISTING(WORK "/merged/dir2", "new");
	EXPECT_EQ(0, mkdir(WORK "/merged/dir5/sub", 0755));
	/* atomfs itself is unchanged */
	EXPECT_CONTENT(MNT "/dir1/x", "base x");
	EXPECT_CONTENT(MNT "/dir1/y", "top y");
	EXPECT_ENOENT(MNT "/newfile");
	EXPECT_CONTENT(WORK "/upper/dir1/x", "changed");
	/* overlayfs on atomfs cannot be a layer of atomfs (too deep, and a
	 * stacking filesystem anyway) */
	{
		struct atomfs_layer l;
		int fd = open(WORK "/merged", O_PATH | O_CLOEXEC), st;

		ASSERT_GE(fd, 0);
		layer_init(&l, fd, ATOMFS_LAYER_DIR, 0);
		st = create_stack(&l, 1, 0, NULL);
		EXPECT_EQ(-EINVAL, st);
		if (st >= 0)
			close(st);
		close(fd);
	}
	EXPECT_EQ(0, umount(WORK "/merged"));
	EXPECT_EQ(0, umount(MNT));
}

/* Directory layers built on tmpfs at test time. */
FIXTURE(tmp) {
	int loops;
};

FIXTURE_SETUP(tmp)
{
	self->loops = count_layer_devs();
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
}

FIXTURE_TEARDOWN(tmp)
{
	EXPECT_EQ(0, count_mounts("atomfs"));
	close_range(3, ~0U, 0);
	umount_below(WORK, false);
	EXPECT_EQ(self->loops, wait_layer_devs(self->loops, 5000));
}

TEST_F(tmp, tmpfs_dir_layers)
{
	struct layer_set *ls = calloc(1, sizeof(*ls));
	char buf[16];
	int fd, st, a;

	ASSERT_NE(NULL, ls);
	ASSERT_EQ(0, mkdir(WORK "/l0", 0755));
	ASSERT_EQ(0, mkdir(WORK "/l0/d", 0755));
	ASSERT_EQ(0, mkdir(WORK "/l0/e", 0755));
	ASSERT_EQ(0, write_file(WORK "/l0/a", "a0\n", 3, 0644));
	ASSERT_EQ(0, write_file(WORK "/l0/b", "b0\n", 3, 0644));
	ASSERT_EQ(0, write_file(WORK "/l0/d/x", "x0\n", 3, 0644));
	ASSERT_EQ(0, write_file(WORK "/l0/e/x", "x0\n", 3, 0644));
	/* a real hole: data, 1 MiB hole, data */
	fd = open(WORK "/l0/holes", O_WRONLY | O_CREAT, 0644);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(4, pwrite(fd, "head", 4, 0));
	ASSERT_EQ(4, pwrite(fd, "tail", 4, 1 << 20));
	close(fd);
	ASSERT_EQ(0, mkdir(WORK "/l1", 0755));
	ASSERT_EQ(0, mknod(WORK "/l1/a", S_IFCHR | 0600, makedev(0, 0)));
	ASSERT_EQ(0, write_file(WORK "/l1/.wh.b", "", 0, 0644));
	ASSERT_EQ(0, mkdir(WORK "/l1/d", 0755));
	ASSERT_EQ(0, setxattr(WORK "/l1/d", "trusted.overlay.opaque", "y", 1, 0));
	ASSERT_EQ(0, write_file(WORK "/l1/d/y", "y1\n", 3, 0644));
	ASSERT_EQ(0, mkdir(WORK "/l1/e", 0755));
	ASSERT_EQ(0, write_file(WORK "/l1/e/.wh..wh..opq", "", 0, 0644));
	ASSERT_EQ(0, write_file(WORK "/l1/e/y", "y1\n", 3, 0644));
	ASSERT_EQ(0, add_dir_layer(ls, WORK "/l0"));
	ASSERT_EQ(0, add_dir_layer(ls, WORK "/l1"));
	st = create_stack(ls->l, ls->nr, 0, NULL);
	ASSERT_GE(st, 0);
	put_layers(ls);
	ASSERT_EQ(0, mount_stack(st, MNT));
	close(st);
	EXPECT_LISTING(MNT, "d e holes");
	EXPECT_LISTING(MNT "/d", "y");
	EXPECT_LISTING(MNT "/e", "y");
	EXPECT_CONTENT(MNT "/d/y", "y1");
	a = open(MNT "/holes", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(a, 0);
	EXPECT_EQ(0, lseek(a, 0, SEEK_DATA));
	EXPECT_EQ(4096, lseek(a, 0, SEEK_HOLE));
	EXPECT_EQ(1 << 20, lseek(a, 4096, SEEK_DATA));
	EXPECT_EQ((1 << 20) + 4, lseek(a, 1 << 20, SEEK_HOLE)); /* EOF */
	EXPECT_EQ(4, pread(a, buf, 4, 1 << 20));
	close(a);
	/* the layers stay writable underneath, but atomfs does not write */
	EXPECT_EROFS(open(MNT "/new", O_CREAT | O_WRONLY, 0644));
	EXPECT_EQ(0, umount(MNT));
	free(ls);
}

/* system.posix_acl_access: user::rw- user:1000:r-- group::--- mask::r-- other::--- */
struct acl_entry_x {
	unsigned short tag, perm;
	unsigned int id;
};

/* Open PATH in a child running as UID (gid 2000, no capabilities): 0 if
 * it opened, 1 on EACCES. */
static int read_as(const char *path, uid_t uid)
{
	pid_t pid = fork();
	int st, fd;

	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(2000, 2000, 2000) ||
		    setresuid(uid, uid, uid))
			_exit(10);
		fd = open(path, O_RDONLY);
		if (fd >= 0)
			_exit(0);
		_exit(errno == EACCES ? 1 : 11);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

TEST_F(tmp, posix_acls_of_directory_layers)
{
	struct {
		unsigned int version;
		struct acl_entry_x e[5];
	} acl = { 2, { { 0x01, 6, ~0U }, { 0x02, 4, 1000 }, { 0x04, 0, ~0U },
		       { 0x10, 4, ~0U }, { 0x20, 0, ~0U } } };
	struct layer_set *ls = calloc(1, sizeof(*ls));
	char v[256];
	int st;

	ASSERT_NE(NULL, ls);
	ASSERT_EQ(0, mkdir(WORK "/l0", 0755));
	ASSERT_EQ(0, write_file(WORK "/l0/secret", "secret\n", 7, 0600));
	if (setxattr(WORK "/l0/secret", "system.posix_acl_access", &acl,
		     sizeof(acl), 0) && errno == EOPNOTSUPP)
		SKIP(return, "tmpfs without POSIX ACLs in this kernel");
	ASSERT_EQ(0, read_as(WORK "/l0/secret", 1000));
	ASSERT_EQ(1, read_as(WORK "/l0/secret", 1001));
	ASSERT_EQ(0, add_dir_layer(ls, WORK "/l0"));
	st = create_stack(ls->l, ls->nr, 0, NULL);
	ASSERT_GE(st, 0);
	put_layers(ls);
	ASSERT_EQ(0, mount_stack(st, MNT));
	close(st);
	EXPECT_EQ(sizeof(acl), getxattr(MNT "/secret", "system.posix_acl_access",
					v, sizeof(v)));
	EXPECT_EQ(0, memcmp(v, &acl, sizeof(acl)));
	/* permission follows the ACL, as in the layer */
	EXPECT_EQ(0, read_as(MNT "/secret", 1000));
	EXPECT_EQ(1, read_as(MNT "/secret", 1001));
	EXPECT_EQ(0, umount(MNT));
	free(ls);
}

ATOMFS_HARNESS_MAIN
