// SPDX-License-Identifier: LGPL-2.1-or-later
/* layer.c: one squashfs layer file from a directory or a tar archive */
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"
#include "internal.h"
#include "progress.h"

static uint64_t tree_bytes(const struct atomfs_node *n)
{
	uint64_t sum = S_ISREG(n->mode) && !n->link ? n->size : 0;
	size_t i;

	for (i = 0; i < n->nkids; i++)
		sum += tree_bytes(n->kids[i]);
	return sum;
}

int atomfs_build_layer(const char *input, const struct atomfs_input_opts *io,
		       const struct atomfs_sqfs_opts *so, const char *out)
{
	struct atomfs_layer_info info;

	return atomfs_build_layer_info(input, io, so, out, &info);
}

int atomfs_build_layer_info(const char *input,
			    const struct atomfs_input_opts *io,
			    const struct atomfs_sqfs_opts *so, const char *out,
			    struct atomfs_layer_info *info)
{
	struct atomfs_tree t;
	struct atomfs_sqfs *w = NULL;
	struct stat st;
	int err;

	*info = (struct atomfs_layer_info){ 0 };
	if (stat(input, &st) < 0)
		return atomfs_err(errno, "cannot use %s as a layer: %m", input);
	err = atomfs_tree_init(&t);
	if (!err)
		err = atomfs_sqfs_create(out, so, &w);
	if (err)
		goto out;
	if (S_ISDIR(st.st_mode)) {
		err = atomfs_input_dir(input, io, &t);
		if (!err)
			atomfs_progress_set_total(so->progress,
						  tree_bytes(t.root));
	} else
		err = atomfs_input_tar(input, io, &t, w);
	if (!err)
		err = atomfs_sqfs_finish(w, &t);
	info->posix_acl = !err && t.nacl;
out:
	atomfs_sqfs_destroy(w);
	atomfs_tree_free(&t);
	if (err && w)
		unlink(out);
	return err;
}
