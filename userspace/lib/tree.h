/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tree.h: the in-memory file tree a squashfs layer is made from.
 *
 * Inputs (a directory, a tar archive) fill a tree; regular file data is
 * fed to the squashfs writer as the input is read (tar) or once the tree
 * is complete (directory); then the writer serialises the tree.
 */
#ifndef ATOMFS_TREE_H
#define ATOMFS_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sqfs_inode_generic_t;

struct atomfs_xattr {
	char *key;
	void *value;
	size_t size;
};

struct atomfs_node {
	char *name; /* one path component; "" for the root */
	struct atomfs_node *parent; /* NULL for the root */
	/* directories: children, sorted by atomfs_tree_sort() */
	struct atomfs_node **kids;
	size_t nkids, kids_cap;
	mode_t mode; /* type and permission bits */
	uint32_t uid, gid;
	int64_t mtime;
	uint64_t rdev; /* devices: st_rdev */
	uint64_t size; /* regular files: size in bytes */
	char *symlink; /* symlinks: target */
	struct atomfs_xattr *xattrs; /* sorted by key */
	size_t nxattrs;
	char *src; /* regular files from a directory: path to read */
	struct atomfs_node *link; /* hard link: the node that owns the inode */

	/* writer state */
	uint32_t nlink; /* entries sharing this inode (owners only) */
	uint32_t ino; /* inode number, 0 until numbered */
	uint64_t ref; /* inode reference once written */
	/* regular file inode from the block processor */
	struct sqfs_inode_generic_t *inode;
	bool data_done; /* file data has been fed */
};

struct atomfs_tree {
	struct atomfs_node *root;
	size_t nnodes;
	/* entries replaced by later ones (tar), freed with the tree */
	struct atomfs_node **graveyard;
	size_t ngraveyard;
};

/* tree.c */
int atomfs_tree_init(struct atomfs_tree *t);
void atomfs_tree_free(struct atomfs_tree *t);
struct atomfs_node *atomfs_node_new(const char *name, mode_t mode);
void atomfs_node_free(struct atomfs_node *n);
/* Find (or with create, make as a directory) the node for a relative path. */
int atomfs_tree_lookup(struct atomfs_tree *t, const char *path,
		       bool create_parents, struct atomfs_node **parent,
		       const char **leaf);
/* Insert n under parent, replacing an existing entry of that name. */
int atomfs_tree_insert(struct atomfs_tree *t, struct atomfs_node *parent,
		       struct atomfs_node *n);
struct atomfs_node *atomfs_node_child(struct atomfs_node *dir,
				      const char *name);
int atomfs_node_set_xattr(struct atomfs_node *n, const char *key,
			  const void *val, size_t size);
void atomfs_tree_sort(struct atomfs_node *dir);
char *atomfs_node_path(const struct atomfs_node *n);
/* Normalise a tar member name: strip "./" and "/" doubling; -EPERM on ".." or absolute. */
int atomfs_path_clean(const char *in, char **out);

#endif
