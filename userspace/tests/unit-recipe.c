// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unit tests: an overlayfs upper directory as a layer (recipes, issue 13).
 * With overlay_upper, overlayfs's bookkeeping xattrs (trusted.overlay.origin,
 * impure, ...) are dropped and the opaque mark is kept; without it, a plain
 * directory keeps every storable xattr.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "input.h"
#include "internal.h"
#include "tap.h"

static char tmpdir[] = "/tmp/atomfs-unit-recipe.XXXXXX";

/* build IN into a layer, unsquash it into OUT: 0 or -errno/-1 */
static int round_trip(bool overlay_upper, const char *out)
{
	struct atomfs_input_opts io = { .overlay_upper = overlay_upper };
	struct atomfs_sqfs_opts so = { .comp = ATOMFS_COMP_GZIP,
				       .threads = 1,
				       .have_mtime = true,
				       .mtime = 1 };
	cleanup_free char *in = path_join(tmpdir, "upper");
	cleanup_free char *sq = path_join(tmpdir, "layer.sqfs");
	cleanup_free char *cmd = NULL;
	int err = atomfs_build_layer(in, &io, &so, sq);

	if (err)
		return err;
	cmd = xasprintf("unsquashfs -q -n -d '%s/%s' '%s' >/dev/null", tmpdir,
			out, sq);
	return system(cmd) ? -1 : 0;
}

static bool has_xattr(const char *out, const char *rel, const char *name)
{
	cleanup_free char *p = xasprintf("%s/%s/%s", tmpdir, out, rel);

	return lgetxattr(p, name, NULL, 0) >= 0;
}

int main(void)
{
	cleanup_free char *up = NULL, *dir = NULL, *file = NULL;

	if (geteuid() || system("command -v unsquashfs >/dev/null")) {
		printf("1..0 # SKIP needs root (trusted. xattrs) and unsquashfs\n");
		return 0;
	}
	if (!mkdtemp(tmpdir))
		return 1;
	up = path_join(tmpdir, "upper");
	dir = path_join(up, "opq");
	file = path_join(dir, "f");
	mkdir(up, 0755);
	mkdir(dir, 0755);
	write_file_atomic(file, "x", 1);
	setxattr(dir, "trusted.overlay.opaque", "y", 1, 0);
	setxattr(dir, "trusted.overlay.impure", "y", 1, 0);
	setxattr(file, "trusted.overlay.origin", "\0\1\2", 3, 0);
	setxattr(file, "user.overlay.origin", "o", 1, 0);
	setxattr(file, "user.keep", "k", 1, 0);

	is_int(round_trip(true, "upper-out"), 0,
	       "an upper directory becomes a layer");
	ok(has_xattr("upper-out", "opq", "trusted.overlay.opaque"),
	   "the opaque mark is kept");
	ok(!has_xattr("upper-out", "opq", "trusted.overlay.impure"),
	   "trusted.overlay.impure is dropped");
	ok(!has_xattr("upper-out", "opq/f", "trusted.overlay.origin"),
	   "trusted.overlay.origin is dropped");
	ok(!has_xattr("upper-out", "opq/f", "user.overlay.origin"),
	   "user.overlay.origin is dropped");
	ok(has_xattr("upper-out", "opq/f", "user.keep"),
	   "the file's own xattrs are kept");
	is_int(round_trip(false, "plain-out"), 0,
	       "a plain directory becomes a layer");
	ok(has_xattr("plain-out", "opq/f", "trusted.overlay.origin"),
	   "without overlay_upper every storable xattr is kept");
	{
		cleanup_free char *rm = xasprintf("rm -rf '%s'", tmpdir);

		if (system(rm))
			tap_diag("cannot remove %s", tmpdir);
	}
	return tap_done();
}
