/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomfs: private data structures and prototypes, grouped by the file that
 * defines them. Documentation/filesystems/atomfs.rst describes the
 * lifetimes and locking in prose; each lock is also named beside the data
 * it protects.
 */
#ifndef _ATOMFS_H
#define _ATOMFS_H

#undef pr_fmt
#define pr_fmt(fmt) "atomfs: " fmt

#include <linux/blk-mq.h>
#include <linux/completion.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/workqueue.h>
#include <uapi/linux/atomfs.h>

#include "compat.h"

#define ATOMFS_WH_PREFIX ".wh."
#define ATOMFS_WH_PREFIX_LEN 4
#define ATOMFS_WH_META_PREFIX ".wh..wh."
#define ATOMFS_WH_META_PREFIX_LEN 8
#define ATOMFS_WH_OPAQUE ".wh..wh..opq"

/*
 * Inode numbers (atomfs.rst, "Inode numbers"): bits 48..63 hold a layer
 * index plus one for numbers outside the shared range, so a stack has at
 * most 65535 layers.
 */
#define ATOMFS_INO_LAYER_SHIFT 48
#define ATOMFS_INO_LOW_MASK ((1ULL << ATOMFS_INO_LAYER_SHIFT) - 1)
#define ATOMFS_MAX_LAYERS_LIMIT 65535U

/* States of a layer with a digest (atomfs_lower.state). */
enum {
	ATOMFS_LOWER_PENDING,		/* being verified and mounted */
	ATOMFS_LOWER_READY,		/* verified, mounted, shareable */
	ATOMFS_LOWER_FAILED,		/* set-up failed, or no longer matches */
};

/* The module's block device for a layer given as a file (blob.c). */
struct atomfs_blob {
	struct file *file;		/* write-denied; NULL once given back */
	struct gendisk *disk;		/* read-only, reads @file */
	struct blk_mq_tag_set tag_set;
	int minor;
	bool direct;			/* read @file with IOCB_DIRECT */
	bool pinned;			/* the write denial pins @file's bytes */
	struct atomfs_blob *next;	/* atomfs_layers_release() only */
};

/* A layer the module holds, possibly for several stacks. */
struct atomfs_lower {
	struct vfsmount *mnt;		/* private mount, in no namespace */
	struct atomfs_blob *blob;	/* its device, for a file layer */
	refcount_t ref;			/* stacks (and waiters) using it */
	struct hlist_node held_node;	/* in atomfs_held: atomfs_held_lock */
	bool in_table;			/* atomfs_held_lock */
	int state;			/* ATOMFS_LOWER_*: atomfs_held_lock */
	struct completion ready;	/* set-up finished, either way */
	u64 ino_count;			/* inodes of a squashfs layer; 0: dir */
	u64 size;			/* blob size in bytes; 0 for a dir */
	u64 diskseq;			/* the device's, before it was hashed */
	bool rehash;			/* bytes may change: hash again on reuse */
	bool nosuid;			/* a directory layer's mount is nosuid */
	bool nodev;			/* ... or nodev */
	/* ATOMFS_INFO_*; VERIFIED cleared under atomfs_held_lock: READ_ONCE */
	unsigned int flags;
	struct atomfs_digest digest;	/* as given at creation */
};

/* What a stack fd stands for. Immutable once created. */
struct atomfs_stack {
	refcount_t ref;			/* the stack fd and each superblock */
	u64 id;				/* shown in mountinfo */
	unsigned int whiteout;		/* ATOMFS_WHITEOUT_* */
	int stack_depth;		/* deepest layer's s_stack_depth */
	bool posix_acl;			/* some layer has POSIX ACLs */
	char *label;			/* NUL-terminated, may be NULL */
	bool nosuid;			/* some directory layer is nosuid */
	bool nodev;			/* some directory layer is nodev */
	struct proc_dir_entry *proc;	/* /proc/fs/atomfs/<id> */
	unsigned int nr_layers;
	u64 *ino_base;			/* added to each layer's inode numbers */
	struct atomfs_lower *layers[];	/* image order: base first */
};

struct atomfs_sb_info {
	struct atomfs_stack *stack;	/* holds a reference */
	const struct cred *creator_cred; /* every call into a layer uses it */
};

static inline struct atomfs_sb_info *ATOMFS_SB(struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline struct atomfs_stack *atomfs_stack(struct super_block *sb)
{
	return ATOMFS_SB(sb)->stack;
}

static inline struct vfsmount *atomfs_layer_mnt(struct super_block *sb,
						unsigned int layer)
{
	return atomfs_stack(sb)->layers[layer]->mnt;
}

/* One name in a merged directory index. */
struct atomfs_dirent {
	struct hlist_node node;		/* in atomfs_dir.buckets */
	u64 ino;			/* atomfs inode number: d_ino */
	unsigned int layer;		/* the layer providing the name */
	unsigned int slot;		/* its directory in atomfs_dir.layers[] */
	unsigned char type;		/* DT_*, DT_WHT for a whiteout */
	bool closed;			/* no more lower directories */
	unsigned int nr_lower;		/* directories of this name below */
	unsigned int *lower;		/* their layers, top-down */
	unsigned int len;
	char name[];
};

/* One layer's directory taking part in a merged directory. */
struct atomfs_dir_layer {
	unsigned int layer;
	struct dentry *dentry;		/* pinned */
};

/*
 * The merged index of one directory: built once under
 * atomfs_inode.dir_lock, then immutable until the inode is destroyed.
 */
struct atomfs_dir {
	bool overflow;			/* over dir_index_max: layers only */
	unsigned int nr;		/* visible names */
	unsigned int nr_all;		/* names including whiteouts */
	unsigned int hash_bits;
	struct hlist_head *buckets;
	struct atomfs_dirent **sorted;	/* visible names, sorted: readdir */
	unsigned int nr_layers;
	unsigned int users;		/* overflow readdir list: open files */
	struct atomfs_dir_layer layers[]; /* top-down: layer decreasing */
};

struct atomfs_inode {
	struct inode vfs_inode;
	struct dentry *real;		/* the layer's dentry, pinned */
	unsigned int layer;		/* index of its layer */
	/* Directories only. */
	bool opaque;			/* hides the layers below */
	unsigned int nr_lower;		/* layers below that may merge */
	unsigned int *lower;		/* top-down; set up with the inode */
	struct mutex dir_lock;		/* serialises building @dir */
	struct atomfs_dir *dir;		/* published with release semantics */
	int dir_err;			/* a kept build error: dir_lock */
	struct atomfs_dir *list;	/* shared overflow readdir list: dir_lock */
};

static inline struct atomfs_inode *ATOMFS_I(struct inode *inode)
{
	return container_of(inode, struct atomfs_inode, vfs_inode);
}

static inline struct path atomfs_real_path(struct inode *inode)
{
	struct atomfs_inode *ai = ATOMFS_I(inode);

	return (struct path){ .mnt = atomfs_layer_mnt(inode->i_sb, ai->layer),
			      .dentry = ai->real };
}

static inline const struct cred *atomfs_override_creds(struct super_block *sb)
{
	return override_creds(ATOMFS_SB(sb)->creator_cred);
}

/* super.c */
extern struct file_system_type atomfs_fs_type;
extern unsigned int atomfs_max_layers;
extern bool atomfs_share_layers;
extern bool atomfs_require_verified;
extern unsigned int atomfs_dir_index_max;

/* ctl.c */
int atomfs_ctl_init(void);
void atomfs_ctl_exit(void);

/* stack.c */
int atomfs_stack_create(const struct atomfs_create_stack *args,
			u32 *failed_layer);
bool atomfs_stack_verified(const struct atomfs_stack *stack);
struct atomfs_stack *atomfs_stack_from_file(struct file *file);
void atomfs_stack_put(struct atomfs_stack *stack);

/* layer.c */
struct atomfs_lower *atomfs_lower_alloc(void);
struct file *atomfs_layer_get_bdev(const struct atomfs_layer *desc,
				   u64 *diskseq);
int atomfs_layer_mount_bdev(struct atomfs_lower *lower, struct file *file,
			    u64 diskseq);
int atomfs_layer_mount_blob(struct atomfs_lower *lower,
			    struct atomfs_blob *blob);
int atomfs_check_bdev_mount(struct vfsmount *mnt, dev_t dev);
struct atomfs_lower *atomfs_layer_open_dir(const struct atomfs_layer *desc);
void atomfs_layers_release(struct atomfs_lower **layers, unsigned int nr);

/* blob.c */
struct file *atomfs_layer_open_file(const struct atomfs_layer *desc);
void atomfs_layer_put_file(struct file *file);
struct atomfs_blob *atomfs_blob_create(struct file *file);
struct block_device *atomfs_blob_bdev(struct atomfs_blob *blob);
struct vfsmount *atomfs_blob_mount(struct atomfs_blob *blob);
void atomfs_blob_put(struct atomfs_blob *blob);
int atomfs_blob_init(void);
void atomfs_blob_exit(void);

/* held.c */
enum { ATOMFS_HELD_READY, ATOMFS_HELD_WAIT, ATOMFS_HELD_OWNED };
int atomfs_held_get(const struct atomfs_digest *digest, bool create,
		    struct atomfs_lower **lowerp);
void atomfs_held_done(struct atomfs_lower *lower, int err);
void atomfs_held_mark_bad(struct atomfs_lower *lower);
void atomfs_held_forget(struct atomfs_lower *lower);
int atomfs_held_query(struct atomfs_query_layer *q);

/* verify.c */
struct atomfs_verify {
	struct crypto_shash *tfm;
	atomic_t pending;		/* unfinished jobs, plus one */
	struct completion done;		/* pending reached zero */
	bool abort;			/* a fatal signal: stop early */
};

struct atomfs_verify_job {
	struct work_struct work;
	struct atomfs_verify *v;
	struct block_device *bdev;	/* kept open by the caller */
	u64 size;
	const struct atomfs_digest *expect;
	u8 actual[32];
	int err;
};

/* Counters, in /proc/fs/atomfs/stats. */
struct atomfs_stats {
	atomic64_t bytes_hashed;
	atomic64_t layers_verified;
	atomic64_t layers_reused;
	atomic64_t aborted;
	atomic64_t held_waits;		/* waits on a layer another sets up */
	atomic64_t dir_overflows;	/* directories over dir_index_max */
	atomic_t workers;
	atomic_t max_workers;
};

extern struct atomfs_stats atomfs_stats;
/* fault.c's delay point after each chunk hashed (tests: a layer in flight) */
#define ATOMFS_DELAY_HASH_CHUNK 4
int atomfs_verify_start(struct atomfs_verify *v);
void atomfs_verify_queue(struct atomfs_verify *v,
			 struct atomfs_verify_job *job);
int atomfs_verify_wait(struct atomfs_verify *v);
void atomfs_verify_end(struct atomfs_verify *v);
void atomfs_sha256_driver_name(char *buf, size_t size);
int atomfs_verify_init(void);
void atomfs_verify_exit(void);

/* info.c */
int atomfs_proc_init(void);
void atomfs_proc_exit(void);
int atomfs_stack_proc_add(struct atomfs_stack *stack);
void atomfs_stack_proc_remove(struct atomfs_stack *stack);
long atomfs_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* fault.c, or stubs without fault injection */
enum {
	ATOMFS_DELAY_INODE_NEW = 1,	/* a new inode, before its set-up */
	ATOMFS_DELAY_BEFORE_MOUNT = 2,	/* a layer hashed, not yet mounted */
	ATOMFS_DELAY_DIR_BUILD = 3,	/* dir_lock taken, index not built */
};

#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
bool atomfs_should_fail(void);
void atomfs_delay(unsigned int point);
int atomfs_fault_init(void);
void atomfs_fault_exit(void);
#else
static inline bool atomfs_should_fail(void)
{
	return false;
}

static inline void atomfs_delay(unsigned int point)
{
}

static inline int atomfs_fault_init(void)
{
	return 0;
}

static inline void atomfs_fault_exit(void)
{
}
#endif

/* inode.c */
extern struct kmem_cache *atomfs_inode_cachep;
struct inode *atomfs_alloc_inode(struct super_block *sb);
void atomfs_destroy_inode(struct inode *inode);
void atomfs_free_inode(struct inode *inode);
u64 atomfs_ino(struct super_block *sb, unsigned int layer, u64 real_ino);
struct inode *atomfs_get_inode(struct super_block *sb, struct dentry *real,
			       unsigned int layer, const unsigned int *lower,
			       unsigned int nr_lower);
bool atomfs_is_whiteout(struct super_block *sb, struct dentry *real);
int atomfs_dir_is_opaque(struct super_block *sb, struct dentry *real);
int atomfs_getattr(ATOMFS_IDMAP_ARG, const struct path *path,
		   struct kstat *stat, u32 request_mask, unsigned int flags);
int atomfs_permission(ATOMFS_IDMAP_ARG, struct inode *inode, int mask);

/* namei.c */
extern const struct inode_operations atomfs_dir_iops;

/* dir.c */
extern const struct file_operations atomfs_dir_fops;
struct atomfs_dir *atomfs_dir_get(struct dentry *dentry);
const struct atomfs_dirent *atomfs_dir_find(const struct atomfs_dir *dir,
					    const struct qstr *name);
struct dentry *atomfs_dir_layer_dentry(const struct atomfs_dir *dir,
				       unsigned int layer);
void atomfs_dir_free(struct atomfs_dir *dir);

/* file.c */
extern const struct file_operations atomfs_file_fops;

/* xattr.c */
extern const struct xattr_handler *atomfs_xattr_handlers[];
ssize_t atomfs_listxattr(struct dentry *dentry, char *list, size_t size);
int atomfs_is_opaque_dir(struct super_block *sb, struct dentry *real);
int atomfs_check_overlay_marks(struct dentry *real, unsigned int layer);
struct posix_acl *atomfs_get_acl(struct inode *inode, int type, bool rcu);
int atomfs_layers_have_acl(struct super_block *sb);

#endif /* _ATOMFS_H */
