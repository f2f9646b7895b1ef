/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomfs: every difference between kernel versions lives here, as small
 * wrappers named after what they do; the .c files test no versions. The
 * module is built and tested against Debian bookworm's two kernel lines,
 * 6.1 and 6.12 (see "Supported kernels" in atomfs.rst). The changes met
 * between them:
 *   6.2  get_acl() becomes get_inode_acl(), and so does the inode operation;
 *        the VFS, not the xattr handlers, answers system.posix_acl_*;
 *   6.3  struct mnt_idmap replaces user_namespace in inode operations;
 *   6.5  backing_file_open() replaces open_with_fake_path(),
 *        generic_file_splice_read() goes;
 *   6.5  block_device_operations.open takes the gendisk and a blk_mode_t;
 *   6.6  i_ctime is read and set through accessors, 6.7 i_atime and i_mtime;
 *   6.7  getattr may be called with AT_GETATTR_NOSEC, which vfs_getattr()
 *        refuses;
 *   6.8  linux/backing-file.h: backing_file_open() and helpers that read,
 *        splice and mmap a backing file as the stacking filesystem's file;
 *   6.9  ->d_real() is asked by enum d_real_type, not by inode;
 *   6.9  queue limits are given to blk_mq_alloc_disk();
 *   6.10 block devices are opened as files (file_bdev(), bd_inode goes).
 * Where a version number does not tell what a kernel has (a stable update
 * changed backing_file_open()'s first argument within 6.12.y, and the
 * backing file helpers need CONFIG_FS_STACK), Kbuild asks the compiler:
 * see the probe script and the atomfs_probe.h it writes.
 * Next known change: lookup_one_len_unlocked() becomes lookup_one_unlocked()
 * with a mnt_idmap (6.16).
 */
#ifndef _ATOMFS_COMPAT_H
#define _ATOMFS_COMPAT_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/uio.h>
#include <linux/version.h>
#include <linux/xattr.h>

#include "atomfs_probe.h"

#ifdef ATOMFS_HAVE_BACKING_FILE_HELPERS
#include <linux/backing-file.h>
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
#error "atomfs needs CONFIG_FS_STACK (backing files) on this kernel"
#endif

/* The block device behind a file opened on a block device node. */
static inline struct block_device *atomfs_file_bdev(struct file *file)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	return file_bdev(file);
#else
	return I_BDEV(file->f_mapping->host);
#endif
}

/*
 * Regular files: opening an atomfs file opens the layer's file as a backing
 * file of @user_file, with the creator's credentials @cred. It shows
 * atomfs's path in /proc (maps, fd links); since 6.7 its f_path is the
 * layer's, and the kernel keeps atomfs's path beside it.
 */
static inline struct file *atomfs_open_backing(struct file *user_file,
					       int flags,
					       const struct path *real_path,
					       const struct cred *cred)
{
#if defined(ATOMFS_BACKING_FILE_OPEN_TAKES_FILE)
	return backing_file_open(user_file, flags, real_path, cred);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	return backing_file_open(&user_file->f_path, flags, real_path, cred);
#else
	return open_with_fake_path(&user_file->f_path, flags,
				   d_inode(real_path->dentry), cred);
#endif
}

/*
 * Reading, splicing and mapping @realfile, the backing file of an atomfs
 * file, as @cred. Since 6.8 the kernel's backing file helpers do it (they
 * also run aio and io_uring reads asynchronously on the layer, splice the
 * layer's page cache without a copy, and let the LSMs see the mmap of the
 * backing file); before, the same by hand.
 */
#ifdef ATOMFS_HAVE_BACKING_FILE_HELPERS
static inline ssize_t atomfs_backing_read_iter(struct file *realfile,
					       struct kiocb *iocb,
					       struct iov_iter *iter,
					       const struct cred *cred)
{
	struct backing_file_ctx ctx = {
		.cred = cred,
		.user_file = iocb->ki_filp,
	};

	return backing_file_read_iter(realfile, iter, iocb, iocb->ki_flags,
				      &ctx);
}

static inline ssize_t atomfs_backing_splice_read(struct file *realfile,
						 struct file *in, loff_t *ppos,
						 struct pipe_inode_info *pipe,
						 size_t len, unsigned int flags,
						 const struct cred *cred)
{
	struct backing_file_ctx ctx = {
		.cred = cred,
		.user_file = in,
	};

	return backing_file_splice_read(realfile, ppos, pipe, len, flags, &ctx);
}

static inline int atomfs_backing_mmap(struct file *realfile,
				      struct vm_area_struct *vma,
				      const struct cred *cred)
{
	struct backing_file_ctx ctx = {
		.cred = cred,
		.user_file = vma->vm_file,
	};

	return backing_file_mmap(realfile, vma, &ctx);
}
#else
static inline ssize_t atomfs_backing_read_iter(struct file *realfile,
					       struct kiocb *iocb,
					       struct iov_iter *iter,
					       const struct cred *cred)
{
	const struct cred *old;
	rwf_t rwf = 0;
	ssize_t ret;

	if (!iov_iter_count(iter))
		return 0;
	if (iocb->ki_flags & IOCB_NOWAIT)
		rwf |= RWF_NOWAIT;
	if (iocb->ki_flags & IOCB_HIPRI)
		rwf |= RWF_HIPRI;
	old = override_creds(cred);
	ret = vfs_iter_read(realfile, iter, &iocb->ki_pos, rwf);
	revert_creds(old);
	return ret;
}

/* Through atomfs's read_iter, as copy_splice_read() does. */
static inline ssize_t atomfs_backing_splice_read(struct file *realfile,
						 struct file *in, loff_t *ppos,
						 struct pipe_inode_info *pipe,
						 size_t len, unsigned int flags,
						 const struct cred *cred)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	return copy_splice_read(in, ppos, pipe, len, flags);
#else
	return generic_file_splice_read(in, ppos, pipe, len, flags);
#endif
}

static inline int atomfs_backing_mmap(struct file *realfile,
				      struct vm_area_struct *vma,
				      const struct cred *cred)
{
	const struct cred *old;
	int ret;

	if (!realfile->f_op->mmap)
		return -ENODEV;
	/* The mapping is the layer's: its page cache, shared by all. */
	vma_set_file(vma, realfile);
	old = override_creds(cred);
	ret = call_mmap(vma->vm_file, vma);
	revert_creds(old);
	return ret;
}
#endif /* ATOMFS_HAVE_BACKING_FILE_HELPERS */

/*
 * ->d_real(): on 6.1 the caller names the inode it wants (NULL: the one
 * with the data; file_dentry() asks for the inode of an open backing file,
 * whose f_path is atomfs's); since 6.9 it asks for D_REAL_DATA or
 * D_REAL_METADATA. An atomfs file has one layer dentry, the answer to
 * either, unless that is itself stacked: then d_real() goes on down.
 * ATOMFS_D_REAL_ARG names the second parameter "want".
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
#define ATOMFS_D_REAL_ARG enum d_real_type want
#else
#define ATOMFS_D_REAL_ARG const struct inode *want
#endif

/* Is @dentry itself what the caller wants? */
static inline bool atomfs_d_real_is_self(struct dentry *dentry,
					 ATOMFS_D_REAL_ARG)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	return false;
#else
	return want && d_inode(dentry) == want;
#endif
}

/* Is @real, the layer's dentry, the answer without going on down? */
static inline bool atomfs_d_real_is_final(struct dentry *real,
					  ATOMFS_D_REAL_ARG)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	return false;
#else
	return !want || d_inode(real) == want;
#endif
}

/* The inode operation that reads an inode's ACL for permission checks. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define ATOMFS_IOP_GET_ACL(fn) .get_inode_acl = (fn)
#else
#define ATOMFS_IOP_GET_ACL(fn) .get_acl = (fn)
#endif

static inline struct posix_acl *atomfs_real_get_acl(struct inode *inode,
						    int type)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	return get_inode_acl(inode, type);
#else
	return get_acl(inode, type);
#endif
}

/*
 * POSIX ACLs (see "POSIX ACLs" in atomfs.rst). 6.1 reads system.posix_acl_*
 * through the superblock's xattr handlers, so the VFS's ACL handlers go
 * before atomfs's catch-all (which would ask the layer); from 6.2 the VFS
 * sends those names to the ACL calls (get_inode_acl) itself.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0) && IS_ENABLED(CONFIG_FS_POSIX_ACL)
#define ATOMFS_POSIX_ACL_XATTR_HANDLERS \
	&posix_acl_access_xattr_handler, &posix_acl_default_xattr_handler,
#else
#define ATOMFS_POSIX_ACL_XATTR_HANDLERS
#endif

/* Copy the three timestamps of @from to @to. */
static inline void atomfs_copy_times(struct inode *to, struct inode *from)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	inode_set_atime_to_ts(to, inode_get_atime(from));
	inode_set_mtime_to_ts(to, inode_get_mtime(from));
#else
	to->i_atime = from->i_atime;
	to->i_mtime = from->i_mtime;
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	inode_set_ctime_to_ts(to, inode_get_ctime(from));
#else
	to->i_ctime = from->i_ctime;
#endif
}

/*
 * The attributes of the layer's file. Since 6.7 (and in stable updates of
 * earlier lines) vfs_getattr_nosec() passes AT_GETATTR_NOSEC down to a
 * stacking filesystem's getattr, and vfs_getattr() refuses that flag with a
 * warning and EPERM: pass such a request on without the security hook, as
 * overlayfs does. The flag itself tells whether the kernel has this.
 */
static inline int atomfs_real_getattr(const struct path *path,
				      struct kstat *stat, u32 request_mask,
				      unsigned int flags)
{
#ifdef AT_GETATTR_NOSEC
	if (flags & AT_GETATTR_NOSEC)
		return vfs_getattr_nosec(path, stat, request_mask, flags);
#endif
	return vfs_getattr(path, stat, request_mask, flags);
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define ATOMFS_IDMAP_ARG struct mnt_idmap *idmap
#define atomfs_nop_idmap (&nop_mnt_idmap)
#else
#define ATOMFS_IDMAP_ARG struct user_namespace *mnt_userns
#define atomfs_nop_idmap (&init_user_ns)
#endif

/* Is @mnt an idmapped mount? 6.3 API change: mnt_idmap replaces mnt_userns. */
static inline bool atomfs_mnt_idmapped(struct vfsmount *mnt)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	return mnt_idmap(mnt) != &nop_mnt_idmap;
#else
	return mnt_user_ns(mnt) != &init_user_ns;
#endif
}

static inline ssize_t atomfs_do_getxattr(struct dentry *real, const char *name,
					 void *buf, size_t size)
{
	return vfs_getxattr(atomfs_nop_idmap, real, name, buf, size);
}

/*
 * The disk of a layer blob (blob.c), with logical blocks of @block_size
 * (512 or that of the disk under the blob's filesystem, at most 4096):
 * limits are set at allocation from 6.9,
 * and block_device_operations.open takes the gendisk and a blk_mode_t from
 * 6.5.
 */
#define ATOMFS_BLOB_MAX_SECTORS 2048	/* 1 MiB requests */
#define ATOMFS_BLOB_MAX_SEGMENTS 256

static inline struct gendisk *atomfs_blob_alloc_disk(struct blk_mq_tag_set *set,
						     void *queuedata,
						     unsigned int block_size)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct queue_limits lim = {
		.logical_block_size = block_size,
		.physical_block_size = PAGE_SIZE,
		.max_hw_sectors = ATOMFS_BLOB_MAX_SECTORS,
		.max_segments = ATOMFS_BLOB_MAX_SEGMENTS,
	};

	return blk_mq_alloc_disk(set, &lim, queuedata);
#else
	struct gendisk *disk = blk_mq_alloc_disk(set, queuedata);

	if (IS_ERR(disk))
		return disk;
	blk_queue_logical_block_size(disk->queue, block_size);
	blk_queue_physical_block_size(disk->queue, PAGE_SIZE);
	blk_queue_max_hw_sectors(disk->queue, ATOMFS_BLOB_MAX_SECTORS);
	blk_queue_max_segments(disk->queue, ATOMFS_BLOB_MAX_SEGMENTS);
	return disk;
#endif
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define ATOMFS_BDEV_OPEN_ARGS struct gendisk *disk, blk_mode_t mode
#define atomfs_bdev_open_write(mode) ((mode) & BLK_OPEN_WRITE)
#else
#define ATOMFS_BDEV_OPEN_ARGS struct block_device *bdev, fmode_t mode
#define atomfs_bdev_open_write(mode) ((mode) & FMODE_WRITE)
#endif

/*
 * The mapping count of an order-0 folio: folio_mapcount() is inline only
 * from 6.4 (6.1: page_mapcount() of its page).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#define atomfs_small_folio_mapcount(folio) folio_mapcount(folio)
#else
#define atomfs_small_folio_mapcount(folio) page_mapcount(&(folio)->page)
#endif

#endif /* _ATOMFS_COMPAT_H */
