// SPDX-License-Identifier: GPL-2.0
/*
 * Differential test: the same layers mounted with overlayfs (read-only,
 * lowerdir=top:...:base, each squashfs image mounted on its own loop device
 * in the test's namespace) and with atomfs (overlay whiteout style) must
 * give identical trees: names, types, modes, owners, sizes, mtimes of
 * non-directories, link targets, rdev, xattrs (overlay bookkeeping aside)
 * and file contents.
 *
 * The fixtures carry overlay-style whiteouts only (overlayfs does not know
 * OCI ones) and no user.overlay.opaque (overlayfs honours it only with
 * userxattr, and then ignores trusted.overlay.*): diff_mid.sqfs is top_ovl
 * without it.
 *
 * atomfs gets the layers either as block devices (other loop devices over
 * the same images) or as directory layers (the very squashfs mounts
 * overlayfs uses).
 */
#include "tree_cmp.h"
#include "kselftest_harness.h"

#define WORK "/tmp/atomfs-diff"
#define MNT WORK "/atomfs"
#define OVL WORK "/overlay"

FIXTURE(diff) {
	int loops;
};

FIXTURE_VARIANT(diff) {
	bool dir_layers;
	int nr;
	const char *layers[4]; /* base first */
};

FIXTURE_VARIANT_ADD(diff, blk2) {
	.dir_layers = false, .nr = 2,
	.layers = { "base.sqfs", "diff_mid.sqfs" },
};

FIXTURE_VARIANT_ADD(diff, blk3) {
	.dir_layers = false, .nr = 3,
	.layers = { "base.sqfs", "diff_mid.sqfs", "top2_ovl.sqfs" },
};

FIXTURE_VARIANT_ADD(diff, blk4) {
	.dir_layers = false, .nr = 4,
	.layers = { "base.sqfs", "top2_ovl.sqfs", "diff_mid.sqfs", "bigA.sqfs" },
};

FIXTURE_VARIANT_ADD(diff, blk_big) {
	.dir_layers = false, .nr = 2,
	.layers = { "bigA.sqfs", "bigB.sqfs" },
};

FIXTURE_VARIANT_ADD(diff, dir2) {
	.dir_layers = true, .nr = 2,
	.layers = { "base.sqfs", "diff_mid.sqfs" },
};

FIXTURE_VARIANT_ADD(diff, dir3) {
	.dir_layers = true, .nr = 3,
	.layers = { "base.sqfs", "diff_mid.sqfs", "top2_ovl.sqfs" },
};

FIXTURE_SETUP(diff)
{
	self->loops = count_layer_devs();
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
	ASSERT_EQ(0, mkdir(OVL, 0755));
}

FIXTURE_TEARDOWN(diff)
{
	EXPECT_EQ(0, count_mounts("atomfs"));
	EXPECT_EQ(0, count_mounts("overlay"));
	close_range(3, ~0U, 0);
	umount_below(WORK, false);
	EXPECT_EQ(self->loops, wait_layer_devs(self->loops, 5000));
}

/* Under the debug kernel (KASAN, TCG) the big trees take minutes. */
TEST_F_TIMEOUT(diff, same_tree_as_overlayfs, 900)
{
	struct layer_set *ls = calloc(1, sizeof(*ls));
	char opts[4096], dir[PATH_MAX];
	size_t len;
	int i, fd, diffs;

	ASSERT_NE(NULL, ls);
	/*
	 * blk_big: two 3000-name directories merged, the same comparison at
	 * a size. blk4, whose top layer is one of them, runs on every line.
	 */
	if (!strcmp(variant->layers[0], "bigA.sqfs") &&
	    atomfs_skip_line_independent()) {
		free(ls);
		SKIP(return, ATOMFS_LINE_SKIP_MSG);
	}
	/* overlayfs: lowerdir=top:...:base */
	len = snprintf(opts, sizeof(opts), "lowerdir=");
	for (i = variant->nr - 1; i >= 0; i--) {
		snprintf(dir, sizeof(dir), WORK "/sq%d", i);
		ASSERT_EQ(0, mount_squashfs(fixture(variant->layers[i]), dir));
		len += snprintf(opts + len, sizeof(opts) - len, "%s%s", dir,
				i ? ":" : "");
	}
	ASSERT_LT(len, 4095);
	ASSERT_EQ(0, mount("overlay", OVL, "overlay", MS_RDONLY, opts))
		TH_LOG("overlay %s: %s", opts, strerror(errno));

	for (i = 0; i < variant->nr; i++) {
		if (variant->dir_layers) {
			snprintf(dir, sizeof(dir), WORK "/sq%d", i);
			ASSERT_EQ(0, add_dir_layer(ls, dir));
		} else {
			ASSERT_EQ(0, add_file_layer(ls, fixture(variant->layers[i])));
		}
	}
	fd = create_stack(ls->l, ls->nr, ATOMFS_WHITEOUT_OVERLAY, NULL);
	ASSERT_GE(fd, 0) TH_LOG("create-stack: %s", strerror(-fd));
	put_layers(ls);
	ASSERT_EQ(0, mount_stack(fd, MNT));
	close(fd);

	diffs = tree_cmp(OVL, MNT, CMP_MTIME);
	EXPECT_EQ(0, diffs);
	/* the comparison saw the union, not an empty tree */
	if (!strcmp(variant->layers[0], "base.sqfs")) {
		EXPECT_TRUE(file_is(MNT "/dir1/x", "base x"));
		EXPECT_TRUE(file_is(MNT "/dir2/new", "top new"));
		EXPECT_EQ(ENOENT, lstat_errno(MNT "/dir2/old"));
		/* whited out by diff_mid, unless top2_ovl is above it */
		if (strcmp(variant->layers[variant->nr - 1], "top2_ovl.sqfs")) {
			EXPECT_EQ(ENOENT, lstat_errno(MNT "/file_b"));
		} else {
			EXPECT_TRUE(file_is(MNT "/file_b", "top2 b"));
		}
	} else {
		EXPECT_EQ(0, lstat_errno(MNT "/big/n0000"));
		EXPECT_EQ(0, lstat_errno(MNT "/big/n2999"));
	}
	EXPECT_EQ(0, umount(MNT));
	EXPECT_EQ(0, umount(OVL));
	free(ls);
}

TEST_HARNESS_MAIN
