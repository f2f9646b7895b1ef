/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* input.h: reading a directory or a tar archive into a layer */
#ifndef ATOMFS_INPUT_H
#define ATOMFS_INPUT_H

#include <stdbool.h>

#include "squashfs.h"
#include "tree.h"

struct atomfs_input_opts {
	bool strict; /* fail on metadata a layer cannot store (system. xattrs
		      * other than POSIX ACLs, NFSv4 ACLs, reserved names,
		      * mtimes out of range) instead of warning */
	bool whiteouts; /* tar: convert OCI .wh. whiteouts to overlay style */
	bool overlay_upper; /* dir: an overlayfs upper directory: drop its
			     * trusted./user.overlay.* bookkeeping (origin,
			     * impure...) but keep overlay.opaque */
};

/* input_dir.c: read a directory tree (file data is read later, at feed time) */
int atomfs_input_dir(const char *dir, const struct atomfs_input_opts *o,
		     struct atomfs_tree *t);

/* input_tar.c: read a tar archive (any compression libarchive knows),
 * streaming file data into w as it goes */
int atomfs_input_tar(const char *path, const struct atomfs_input_opts *o,
		     struct atomfs_tree *t, struct atomfs_sqfs *w);

/* Build a squashfs layer at out from a directory or tar archive. */
int atomfs_build_layer(const char *input, const struct atomfs_input_opts *io,
		       const struct atomfs_sqfs_opts *so, const char *out);

/* What a built layer holds that its descriptor should say. */
struct atomfs_layer_info {
	bool posix_acl; /* POSIX ACLs stored: org.atomfs.layer.posix-acl=1 */
};
/* atomfs_build_layer(), also filling *info */
int atomfs_build_layer_info(const char *input,
			    const struct atomfs_input_opts *io,
			    const struct atomfs_sqfs_opts *so, const char *out,
			    struct atomfs_layer_info *info);

#endif
