// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: regular files. Opening an atomfs file opens the layer's file with
 * the caller's flags (showing atomfs's path, as overlayfs does); reads, mmap,
 * llseek and fadvise go to it.
 */
#include <linux/fadvise.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/uio.h>

#include "atomfs.h"

static int atomfs_open(struct inode *inode, struct file *file)
{
	struct path real = atomfs_real_path(inode);
	const struct cred *old;
	struct file *realfile;
	int flags;

	/* Creation and truncation are done (or refused) by now. */
	flags = file->f_flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
	old = atomfs_override_creds(inode->i_sb);
	realfile = atomfs_open_backing(file, flags | O_NOATIME, &real,
				       current_cred());
	revert_creds(old);
	if (IS_ERR(realfile))
		return PTR_ERR(realfile);
	file->private_data = realfile;
	return 0;
}

static int atomfs_release(struct inode *inode, struct file *file)
{
	fput(file->private_data);
	return 0;
}

static ssize_t atomfs_read_iter(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *file = iocb->ki_filp;
	const struct cred *cred = ATOMFS_SB(file_inode(file)->i_sb)->creator_cred;

	return atomfs_backing_read_iter(file->private_data, iocb, iter, cred);
}

static ssize_t atomfs_splice_read(struct file *in, loff_t *ppos,
				  struct pipe_inode_info *pipe, size_t len,
				  unsigned int flags)
{
	const struct cred *cred = ATOMFS_SB(file_inode(in)->i_sb)->creator_cred;

	return atomfs_backing_splice_read(in->private_data, in, ppos, pipe,
					  len, flags, cred);
}

static int atomfs_mmap(struct file *file, struct vm_area_struct *vma)
{
	const struct cred *cred = ATOMFS_SB(file_inode(file)->i_sb)->creator_cred;

	if (WARN_ON(file != vma->vm_file))
		return -EIO;
	/* The mapping is the layer's: its page cache, shared by all. */
	return atomfs_backing_mmap(file->private_data, vma, cred);
}

static loff_t atomfs_llseek(struct file *file, loff_t offset, int whence)
{
	struct file *realfile = file->private_data;
	const struct cred *old;
	loff_t ret;

	/*
	 * The caller holds file->f_pos_lock; keep the layer file's position
	 * in step so SEEK_CUR, SEEK_DATA and SEEK_HOLE see the right start.
	 */
	realfile->f_pos = file->f_pos;
	old = atomfs_override_creds(file_inode(file)->i_sb);
	ret = vfs_llseek(realfile, offset, whence);
	revert_creds(old);
	file->f_pos = realfile->f_pos;
	return ret;
}

static int atomfs_fadvise(struct file *file, loff_t offset, loff_t len,
			  int advice)
{
	struct file *realfile = file->private_data;
	const struct cred *old;
	int ret;

	old = atomfs_override_creds(file_inode(file)->i_sb);
	ret = vfs_fadvise(realfile, offset, len, advice);
	revert_creds(old);
	return ret;
}

const struct file_operations atomfs_file_fops = {
	.open = atomfs_open,
	.release = atomfs_release,
	.llseek = atomfs_llseek,
	.read_iter = atomfs_read_iter,
	.mmap = atomfs_mmap,
	.splice_read = atomfs_splice_read,
	.fadvise = atomfs_fadvise,
	.unlocked_ioctl = atomfs_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};
