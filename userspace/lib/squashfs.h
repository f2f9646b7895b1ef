/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * squashfs.h: writing a squashfs layer with libsquashfs.
 *
 * Output layout (the order mksquashfs and gensquashfs use): super block,
 * compressor options, data and fragment blocks, inode table, directory
 * table, fragment table, id table, xattr table, zero padding to 4096.
 * Every input gives the same bytes: entries are sorted, inode numbers
 * follow the sorted tree, the block processor keeps submission order.
 */
#ifndef ATOMFS_SQUASHFS_H
#define ATOMFS_SQUASHFS_H

#include <stdbool.h>
#include <stdint.h>

#include "tree.h"

enum atomfs_comp {
	ATOMFS_COMP_NONE = 0,
	ATOMFS_COMP_GZIP = 1, /* values match SQFS_COMPRESSOR */
	ATOMFS_COMP_LZO = 3,
	ATOMFS_COMP_XZ = 4,
	ATOMFS_COMP_LZ4 = 5,
	ATOMFS_COMP_ZSTD = 6,
};

struct atomfs_progress;

struct atomfs_sqfs_opts {
	enum atomfs_comp comp;
	uint32_t block_size; /* power of two, 4 KiB .. 1 MiB */
	unsigned int threads; /* compression workers; 0: one per CPU */
	bool have_mtime; /* set every timestamp to mtime */
	int64_t mtime;
	struct atomfs_progress *progress; /* optional */
};

struct atomfs_sqfs;

/* squashfs.c */
int atomfs_comp_from_name(const char *name, enum atomfs_comp *out);
const char *atomfs_comp_name(enum atomfs_comp c);
/* stacker's media type for a squashfs layer with this compressor */
const char *atomfs_comp_media_type(enum atomfs_comp c);
/* Is this xattr name one squashfs can store (user., trusted., security.)? */
bool atomfs_sqfs_xattr_supported(const char *key);

int atomfs_sqfs_create(const char *path, const struct atomfs_sqfs_opts *opts,
		       struct atomfs_sqfs **out);
/* Feed one regular file's data: begin, append..., end. */
int atomfs_sqfs_file_begin(struct atomfs_sqfs *w, struct atomfs_node *n);
int atomfs_sqfs_file_append(struct atomfs_sqfs *w, const void *data,
			    size_t len);
int atomfs_sqfs_file_end(struct atomfs_sqfs *w);
/* Feed the data of every regular file in the tree not fed yet (from node->src). */
int atomfs_sqfs_feed_tree(struct atomfs_sqfs *w, struct atomfs_tree *t);
/* Write inodes, directories and tables; pad; close.  The file is complete after this. */
int atomfs_sqfs_finish(struct atomfs_sqfs *w, struct atomfs_tree *t);
void atomfs_sqfs_destroy(struct atomfs_sqfs *w);
/* A squashfs layer's super block is sane, its tables lie inside the file,
 * and the file is padded to 4096 bytes: 0 or -EBADMSG. */
int atomfs_sqfs_check(const char *path);

#endif
