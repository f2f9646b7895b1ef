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
struct evp_mac_ctx_st;

/*
 * Limits on what one layer may hold.  Inputs are hostile: each limit
 * bounds the memory and time a small archive can make us spend, and each
 * is reported with its own error (see atomfs_tree_insert()).
 */
#define ATOMFS_NAME_MAX 255 /* bytes in one name, as squashfs-tools and Linux */
#define ATOMFS_XATTR_LIST_MAX 65536 /* bytes of names, as listxattr() */
#define ATOMFS_XATTR_SIZE_MAX 65536 /* bytes in a value, as getxattr() */
#define ATOMFS_SYMLINK_MAX 4095 /* bytes in a symlink target (PATH_MAX - 1) */
#define ATOMFS_TREE_MAX_DEPTH 2048 /* a/a/a/... fills PATH_MAX at this depth */
#define ATOMFS_TREE_MAX_NODES (1u << 22) /* entries, replaced ones included */
#define ATOMFS_DIR_HASH_MIN 8 /* directories this large get a hash table */

struct atomfs_xattr {
	char *key;
	void *value;
	size_t size;
};

struct atomfs_node {
	char *name; /* one path component; "" for the root */
	struct atomfs_node *parent; /* NULL for the root */
	uint32_t idx; /* position in parent->kids */
	uint32_t depth; /* path components from the root (root: 0) */
	uint64_t hash; /* of name, keyed per tree (set once inserted) */
	/* directories: children, sorted by atomfs_tree_sort() */
	struct atomfs_node **kids;
	size_t nkids, kids_cap;
	/* directories with ATOMFS_DIR_HASH_MIN+ children: kids by name hash
	 * (open addressing, idx + 1, 0 = free, at most half full) */
	uint32_t *htab;
	size_t hcap;
	mode_t mode; /* type and permission bits */
	uint32_t uid, gid;
	int64_t mtime;
	uint64_t rdev; /* devices: st_rdev */
	uint64_t size; /* regular files: size in bytes */
	char *symlink; /* symlinks: target */
	struct atomfs_xattr *xattrs; /* sorted by key */
	size_t nxattrs;
	/* regular files from a directory: path below the tree's src_fd, and
	 * the inode the walk saw there (data is read later, at feed time) */
	char *src;
	dev_t src_dev;
	ino_t src_ino;
	struct atomfs_node *link; /* hard link: the node that owns the inode */
	/* tar with whiteouts: this node or one below it came from an entry of
	 * the archive that is not a whiteout (implicit parents do not) */
	bool content;

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
	size_t ngraveyard, graveyard_cap;
	/* limits: ATOMFS_TREE_MAX_* unless a caller (a test) lowers them */
	size_t max_nodes; /* nnodes + ngraveyard */
	uint32_t max_depth;
	/* keyed name hash (SipHash with a random key: names are chosen by
	 * the archive's author, who must not be able to make them collide) */
	struct evp_mac_ctx_st *mac;
	/* directory input: its root, held open until the data is fed */
	int src_fd; /* -1 if none */
	char *src_dir; /* its path, for messages */
	uint64_t ncmp; /* child slots examined by lookups and inserts */
	size_t nacl; /* ACLs stored (the writer marks the root if any) */
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
/*
 * Insert n under parent, replacing an existing entry of that name.  On
 * error n is not in the tree (the caller still owns it): -ENAMETOOLONG
 * (a name over ATOMFS_NAME_MAX), -ELOOP (deeper than max_depth),
 * -E2BIG (more than max_nodes entries).
 */
int atomfs_tree_insert(struct atomfs_tree *t, struct atomfs_node *parent,
		       struct atomfs_node *n);
struct atomfs_node *atomfs_node_child(struct atomfs_tree *t,
				      struct atomfs_node *dir,
				      const char *name);
int atomfs_node_set_xattr(struct atomfs_node *n, const char *key,
			  const void *val, size_t size);
/* Add copies of v[0..count), later ones replacing earlier ones by key. */
int atomfs_node_add_xattrs(struct atomfs_node *n, const struct atomfs_xattr *v,
			   size_t count);
void atomfs_tree_sort(struct atomfs_node *dir);
/*
 * Visit root and everything below it without recursion (trees are as
 * deep as an archive says): pre(n) before n's children, post(n) after
 * them, children in kids order.  A callback returning non-zero stops the
 * walk and is returned.  post may free n.
 */
typedef int (*atomfs_walk_fn)(struct atomfs_node *n, void *arg);
int atomfs_tree_walk(struct atomfs_node *root, atomfs_walk_fn pre,
		     atomfs_walk_fn post, void *arg);
char *atomfs_node_path(const struct atomfs_node *n);
/* squashfs keeps one unsigned 32-bit mtime: 1970-01-01 to 2106-02-07 */
#define ATOMFS_MTIME_MAX 4294967295ll
static inline int64_t atomfs_mtime_clamp(int64_t t)
{
	return t < 0 ? 0 : t > ATOMFS_MTIME_MAX ? ATOMFS_MTIME_MAX : t;
}
/*
 * POSIX ACLs (see "POSIX ACLs" in Documentation/image-format.rst): squashfs
 * keeps no system. xattrs, so an ACL is stored under trusted.atomfs. as the
 * system.posix_acl_* value (format 2), and the root of a layer that has any
 * carries the mark.  Every other trusted.atomfs. name is reserved.
 */
#define ATOMFS_XATTR_RESERVED "trusted.atomfs."
#define ATOMFS_ACL_ACCESS "trusted.atomfs.posix_acl_access"
#define ATOMFS_ACL_DEFAULT "trusted.atomfs.posix_acl_default"
#define ATOMFS_ACL_MARK "trusted.atomfs.has_posix_acl"
enum { ATOMFS_ACL_TYPE_ACCESS, ATOMFS_ACL_TYPE_DEFAULT };
/* tags and permissions as in the xattr (include/uapi/linux/posix_acl.h) */
#define ATOMFS_ACL_USER_OBJ 0x01
#define ATOMFS_ACL_USER 0x02
#define ATOMFS_ACL_GROUP_OBJ 0x04
#define ATOMFS_ACL_GROUP 0x08
#define ATOMFS_ACL_MASK 0x10
#define ATOMFS_ACL_OTHER 0x20
#define ATOMFS_ACL_MAX_ENTRIES ((ATOMFS_XATTR_SIZE_MAX - 4) / 8)
struct atomfs_acl_entry {
	uint16_t tag, perm;
	uint32_t id; /* ATOMFS_ACL_USER and _GROUP only */
};
/* system.posix_acl_access -> ATOMFS_ACL_TYPE_ACCESS, _default, else -1 */
int atomfs_acl_xattr_type(const char *name);
/*
 * Store an ACL of @count entries (any order; may be reordered) on @n:
 * sorted as the kernel wants, a missing mask computed as setfacl does,
 * checked as posix_acl_valid() checks.  An access ACL sets n's permission
 * bits (the group bits to its mask); one of only the three base entries is
 * the mode and is not stored.  1 if stored, 0 if not needed, -EINVAL if it
 * is no valid ACL (n unchanged), -ENOMEM.
 */
int atomfs_node_set_acl(struct atomfs_node *n, int type,
			struct atomfs_acl_entry *e, size_t count);
/* The same from a system.posix_acl_* xattr value; -EBADMSG if malformed. */
int atomfs_node_set_acl_xattr(struct atomfs_node *n, int type, const void *val,
			      size_t size);
/* Linux ids are 32-bit and (uid_t)-1 means "no change" */
#define ATOMFS_ID_MAX 4294967294ll
/* input_dir.c: open n's data below t->src_fd, checked to be the file
 * the walk saw; *shown: its path for messages (free it) */
int atomfs_src_open(const struct atomfs_tree *t, const struct atomfs_node *n,
		    char **shown);
/* Normalise a tar member name: strip "./" and "/" doubling; -EPERM on ".." or absolute. */
int atomfs_path_clean(const char *in, char **out);

#endif
