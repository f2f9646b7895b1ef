/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomfs: every difference between kernel versions lives here, as small
 * wrappers named after what they do. The module targets 6.1 (Debian
 * bookworm) and is kept ready for later API changes:
 *   6.2  get_acl() becomes get_inode_acl();
 *   6.3  struct mnt_idmap replaces user_namespace in inode operations;
 *   6.5  backing_file_open() replaces open_with_fake_path(),
 *        generic_file_splice_read() goes;
 *   6.10 block devices are opened as files (bd_inode goes).
 */
#ifndef _ATOMFS_COMPAT_H
#define _ATOMFS_COMPAT_H

#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/posix_acl.h>
#include <linux/version.h>
#include <linux/xattr.h>

/* The block device behind a file opened on a block device node. */
static inline struct block_device *atomfs_file_bdev(struct file *file)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	return file_bdev(file);
#else
	return I_BDEV(file->f_mapping->host);
#endif
}

/* Open the layer's file for an atomfs file, showing atomfs's path. */
static inline struct file *atomfs_open_backing(const struct path *user_path,
					       int flags,
					       const struct path *real_path,
					       const struct cred *cred)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	return backing_file_open(user_path, flags, real_path, cred);
#else
	return open_with_fake_path(user_path, flags, d_inode(real_path->dentry),
				   cred);
#endif
}

static inline struct posix_acl *atomfs_real_get_acl(struct inode *inode,
						    int type)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	return get_inode_acl(inode, type);
#else
	return get_acl(inode, type);
#endif
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define ATOMFS_IDMAP_ARG struct mnt_idmap *idmap
#define atomfs_nop_idmap (&nop_mnt_idmap)
#else
#define ATOMFS_IDMAP_ARG struct user_namespace *mnt_userns
#define atomfs_nop_idmap (&init_user_ns)
#endif

/* atomfs files have no page cache of their own: splice through read_iter. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define ATOMFS_SPLICE_READ copy_splice_read
#else
#define ATOMFS_SPLICE_READ generic_file_splice_read
#endif

static inline ssize_t atomfs_do_getxattr(struct dentry *real, const char *name,
					 void *buf, size_t size)
{
	return vfs_getxattr(atomfs_nop_idmap, real, name, buf, size);
}

#endif /* _ATOMFS_COMPAT_H */
