// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unit tests: building from a directory that changes between the walk and
 * the read of file data (issue 11, item 4).  The library walks first and
 * reads data later; these tests change the tree in exactly that window.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"
#include "internal.h"
#include "tap.h"

static char tmpdir[] = "/tmp/atomfs-unit-dir.XXXXXX";

static void put(const char *rel, const char *content)
{
	cleanup_free char *p = path_join(tmpdir, rel);

	if (write_file_atomic(p, content, strlen(content)) < 0)
		tap_diag("cannot write %s", p);
}

static char *at(const char *rel)
{
	return path_join(tmpdir, rel);
}

/* walk IN, run CHANGE on the tree, then feed and write: 0 or -errno */
static int build_with_change(const char *in, void (*change)(void))
{
	struct atomfs_input_opts io = { 0 };
	struct atomfs_sqfs_opts so = { .comp = ATOMFS_COMP_GZIP,
				       .threads = 1,
				       .have_mtime = true,
				       .mtime = 1 };
	cleanup_free char *src = at(in);
	cleanup_free char *out = at("out.sqfs");
	struct atomfs_sqfs *w = NULL;
	struct atomfs_tree t;
	int err;

	atomfs_tree_init(&t);
	err = atomfs_input_dir(src, &io, &t);
	if (!err)
		change();
	if (!err)
		err = atomfs_sqfs_create(out, &so, &w);
	if (!err)
		err = atomfs_sqfs_finish(w, &t);
	atomfs_sqfs_destroy(w);
	atomfs_tree_free(&t);
	return err;
}

/* the layer holds the outside file's bytes (what must never happen) */
static int layer_has_secret(void)
{
	cleanup_free char *out = at("out.sqfs");
	cleanup_free char *cmd = xasprintf(
		"unsquashfs -cat %s sub/file 2>/dev/null | grep -q SECRET",
		out);

	return system(cmd) == 0;
}

static void parent_to_symlink(void)
{
	cleanup_free char *sub = at("in1/sub");
	cleanup_free char *old = at("in1/sub.old");

	if (rename(sub, old) < 0 || symlink("../outside", sub) < 0)
		tap_diag("cannot swap %s: %m", sub);
}

static void file_to_symlink(void)
{
	cleanup_free char *f = at("in2/sub/file");
	cleanup_free char *target = at("outside/file");

	if (unlink(f) < 0 || symlink(target, f) < 0)
		tap_diag("cannot swap %s: %m", f);
}

static void file_to_hardlink(void)
{
	cleanup_free char *f = at("in3/sub/file");
	cleanup_free char *target = at("outside/file");

	if (unlink(f) < 0 || link(target, f) < 0)
		tap_diag("cannot swap %s: %m", f);
}

static void file_to_fifo(void)
{
	cleanup_free char *f = at("in4/sub/file");

	if (unlink(f) < 0 || mkfifo(f, 0644) < 0)
		tap_diag("cannot swap %s: %m", f);
}

static void nothing(void)
{
}

static void check_refused(const char *what, int err)
{
	const char *msg = atomfs_last_error();

	if (!ok(err == -EAGAIN &&
			strstr(msg, "changed while the layer was built") &&
			!layer_has_secret(),
		"input dir: %s between walk and read is refused", what))
		tap_diag("  err %d, message: %s, secret in layer: %d", err, msg,
			 layer_has_secret());
}

int main(void)
{
	int i;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	{
		cleanup_free char *o = at("outside");

		mkdir(o, 0755);
	}
	put("outside/file", "SECRET\n"); /* same size as "inside" */
	for (i = 1; i <= 5; i++) {
		cleanup_free char *d = xasprintf("in%d", i);
		cleanup_free char *sub = xasprintf("in%d/sub", i);
		cleanup_free char *f = xasprintf("in%d/sub/file", i);
		cleanup_free char *dp = at(d), *sp = at(sub);

		mkdir(dp, 0755);
		mkdir(sp, 0755);
		put(f, "inside\n");
	}
	check_refused(
		"a parent directory replaced by a symlink out of the tree",
		build_with_change("in1", parent_to_symlink));
	check_refused("a file replaced by a symlink out of the tree",
		      build_with_change("in2", file_to_symlink));
	check_refused(
		"a file replaced by a hard link to a file out of the tree",
		build_with_change("in3", file_to_hardlink));
	check_refused("a file replaced by a FIFO (no hang)",
		      build_with_change("in4", file_to_fifo));
	is_int(build_with_change("in5", nothing), 0,
	       "input dir: an unchanged tree builds");
	{
		cleanup_free char *out = at("out.sqfs");
		cleanup_free char *cmd = xasprintf(
			"unsquashfs -cat %s sub/file 2>/dev/null | grep -qx inside",
			out);

		ok(system(cmd) == 0, "input dir: ... with the file's data");
	}
	{
		cleanup_free char *cmd = xasprintf("rm -rf %s", tmpdir);

		if (system(cmd) != 0)
			tap_diag("could not remove %s", tmpdir);
	}
	return tap_done();
}
