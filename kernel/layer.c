// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: layers. A layer is a private mount that the module owns: squashfs
 * on a read-only block device, or a private clone of a directory's mount.
 * Neither is in any mount namespace, so no mount table ever shows them.
 */
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/fs_context.h>
#include <linux/magic.h>
#include <linux/major.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/slab.h>
#include <linux/statfs.h>

#include "atomfs.h"

/* Filesystems that cannot be layers: they stack themselves. */
static bool atomfs_is_stacking_fs(struct super_block *sb)
{
	return sb->s_type == &atomfs_fs_type ||
	       !strcmp(sb->s_type->name, "overlay");
}

/*
 * fc_mount() took a path, which was looked up again in the caller's
 * namespace and may name another device node than the fd (a decoy in a
 * chroot): check the device of the result. A superblock that already
 * existed would serve caches that nobody checked: refuse a device mounted
 * elsewhere.
 */
int atomfs_check_bdev_mount(struct vfsmount *mnt, dev_t dev)
{
	struct super_block *sb = mnt->mnt_sb;

	if (!sb->s_bdev || sb->s_bdev->bd_dev != dev)
		return -ESTALE;
	/* Our mount holds the only active reference of a new superblock. */
	if (atomic_read(&sb->s_active) != 1)
		return -EBUSY;
	if (sb->s_magic != SQUASHFS_MAGIC)
		return -EINVAL;
	return 0;
}

/* Mount the squashfs on @file's block device privately. */
static struct vfsmount *atomfs_mount_bdev(struct file *file)
{
	struct file_system_type *type;
	struct fs_context *fc;
	struct vfsmount *mnt;
	char *buf, *path;
	int err;

	if (atomfs_file_bdev(file)->bd_holder)
		return ERR_PTR(-EBUSY);

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	path = d_path(&file->f_path, buf, PATH_MAX);
	mnt = ERR_CAST(path);
	if (IS_ERR(path))
		goto out_buf;

	mnt = ERR_PTR(-ENODEV);
	type = get_fs_type("squashfs");
	if (!type)
		goto out_buf;
	fc = fs_context_for_mount(type, SB_RDONLY);
	/* The context holds its own reference; put_filesystem() is private. */
	module_put(type->owner);
	mnt = ERR_CAST(fc);
	if (IS_ERR(fc))
		goto out_buf;

	err = vfs_parse_fs_string(fc, "source", path, strlen(path));
	mnt = err ? ERR_PTR(err) : fc_mount(fc);
	put_fs_context(fc);
	if (IS_ERR(mnt))
		goto out_buf;

	err = atomfs_check_bdev_mount(mnt, file_inode(file)->i_rdev);
	if (err) {
		mntput(mnt);
		mnt = ERR_PTR(err);
	}
out_buf:
	kfree(buf);
	return mnt;
}

struct atomfs_lower *atomfs_lower_alloc(void)
{
	struct atomfs_lower *lower;

	if (atomfs_should_fail())
		return NULL;
	lower = kzalloc(sizeof(*lower), GFP_KERNEL_ACCOUNT);
	if (!lower)
		return NULL;
	refcount_set(&lower->ref, 1);
	init_completion(&lower->ready);
	return lower;
}

/*
 * The block device of a layer descriptor, checked: read-only, and exactly
 * the stated size (a multiple of 4096 when it is to be verified). *@diskseq
 * gets the device's sequence number, read before anything of it is hashed.
 */
struct file *atomfs_layer_get_bdev(const struct atomfs_layer *desc,
				   u64 *diskseq)
{
	struct block_device *bdev;
	struct file *file;
	int err;

	file = fget(desc->fd);
	if (!file)
		return ERR_PTR(-EBADF);

	err = -ENOTBLK;
	if (!S_ISBLK(file_inode(file)->i_mode))
		goto out;
	bdev = atomfs_file_bdev(file);
	err = -EACCES;
	if (!bdev_read_only(bdev))
		goto out;
	err = -EMSGSIZE;
	if (bdev_nr_bytes(bdev) != desc->size)
		goto out;
	if (desc->digest.algo != ATOMFS_DIGEST_NONE &&
	    !IS_ALIGNED(desc->size, 4096))
		goto out;
	*diskseq = READ_ONCE(bdev->bd_disk->diskseq);
	return file;
out:
	fput(file);
	return ERR_PTR(err);
}

/*
 * Mount @file's device as @lower's layer. @diskseq is the device's sequence
 * number from before it was hashed: a loop device whose file was swapped
 * (LOOP_CHANGE_FD) or which was set up again since then has another one.
 */
int atomfs_layer_mount_bdev(struct atomfs_lower *lower, struct file *file,
			    u64 diskseq)
{
	struct block_device *bdev = atomfs_file_bdev(file);
	struct vfsmount *mnt;
	struct kstatfs st;
	int err;

	atomfs_delay(ATOMFS_DELAY_BEFORE_MOUNT);
	mnt = atomfs_mount_bdev(file);
	if (IS_ERR(mnt))
		return PTR_ERR(mnt);
	if (READ_ONCE(bdev->bd_disk->diskseq) != diskseq) {
		pr_warn_ratelimited("%pg changed between its hash and its mount (diskseq %llu, now %llu): refused\n",
				    bdev, diskseq,
				    READ_ONCE(bdev->bd_disk->diskseq));
		mntput(mnt);
		return -ESTALE;
	}

	/* squashfs numbers its inodes 1..inodes and reports the count. */
	err = vfs_statfs(&(struct path){ .mnt = mnt, .dentry = mnt->mnt_root },
			 &st);
	if (err) {
		mntput(mnt);
		return err;
	}
	lower->mnt = mnt;
	lower->ino_count = st.f_files;
	lower->size = bdev_nr_bytes(bdev);
	lower->diskseq = diskseq;
	/* A loop device's file can be swapped or written behind our back. */
	lower->rehash = MAJOR(bdev->bd_dev) == LOOP_MAJOR;
	return 0;
}

/*
 * Mount @blob's device as @lower's layer; @lower takes @blob over, also on
 * failure. The device's file cannot change (write access is denied and
 * the device has no change-fd), so no diskseq check is needed.
 */
int atomfs_layer_mount_blob(struct atomfs_lower *lower,
			    struct atomfs_blob *blob)
{
	struct vfsmount *mnt;
	struct kstatfs st;
	int err;

	lower->blob = blob;
	atomfs_delay(ATOMFS_DELAY_BEFORE_MOUNT);
	mnt = atomfs_blob_mount(blob);
	if (IS_ERR(mnt))
		return PTR_ERR(mnt);
	lower->mnt = mnt;
	err = vfs_statfs(&(struct path){ .mnt = mnt, .dentry = mnt->mnt_root },
			 &st);
	if (err)
		return err;
	lower->ino_count = st.f_files;
	lower->size = bdev_nr_bytes(atomfs_blob_bdev(blob));
	lower->diskseq = READ_ONCE(blob->disk->diskseq);
	lower->rehash = !blob->pinned;
	return 0;
}

/* A directory layer: a private clone of the directory's mount. */
struct atomfs_lower *atomfs_layer_open_dir(const struct atomfs_layer *desc)
{
	struct atomfs_lower *lower;
	struct vfsmount *mnt;
	struct file *file;
	int err;

	/* O_PATH descriptors are fine for a directory. */
	file = fget_raw(desc->fd);
	if (!file)
		return ERR_PTR(-EBADF);

	err = -ENOTDIR;
	if (!S_ISDIR(file_inode(file)->i_mode))
		goto out;
	err = -EINVAL;
	if (atomfs_is_stacking_fs(file->f_path.mnt->mnt_sb))
		goto out;
	/* atomfs shows the layer's own ids: an idmapping would be lost. */
	if (atomfs_mnt_idmapped(file->f_path.mnt))
		goto out;
	err = -ENOMEM;
	lower = atomfs_lower_alloc();
	if (!lower)
		goto out;

	mnt = clone_private_mount(&file->f_path);
	err = PTR_ERR(mnt);
	if (IS_ERR(mnt)) {
		kfree(lower);
		goto out;
	}
	lower->mnt = mnt;
	lower->flags |= ATOMFS_INFO_DIR;
	/* Carried over to the stack: atomfs must not lift them. */
	lower->nosuid = file->f_path.mnt->mnt_flags & MNT_NOSUID;
	lower->nodev = (file->f_path.mnt->mnt_flags & MNT_NODEV) ||
		       (file->f_path.mnt->mnt_sb->s_iflags & SB_I_NODEV);
	fput(file);
	return lower;
out:
	fput(file);
	return ERR_PTR(err);
}

/*
 * Drop a reference on each of @layers, and consume the array: it is reused
 * to collect the internal mounts, so releasing never allocates. Squashfs mounts are put one by one:
 * the last mntput() of a mount in no namespace costs no RCU grace period and
 * finishes as task work in this task, so an autoclear loop device is gone
 * before the unmounting system call returns. Directory clones and mounts
 * of file layers are internal mounts, which kern_unmount() would release
 * with one grace period each: release them all with one, synchronously,
 * then remove the file layers' devices.
 */
void atomfs_layers_release(struct atomfs_lower **layers, unsigned int nr)
{
	unsigned int i, nr_internal = 0;
	struct vfsmount **internal = (struct vfsmount **)layers;
	struct atomfs_blob *blobs = NULL, *blob;

	for (i = 0; i < nr; i++) {
		struct atomfs_lower *layer = layers[i];

		if (!layer || !refcount_dec_and_test(&layer->ref))
			continue;
		atomfs_held_forget(layer);
		if (layer->blob) {
			layer->blob->next = blobs;
			blobs = layer->blob;
		}
		/* No mount if its set-up failed. */
		if (layer->mnt && ((layer->flags & ATOMFS_INFO_DIR) ||
				   layer->blob))
			internal[nr_internal++] = layer->mnt;
		else if (layer->mnt)
			mntput(layer->mnt);
		kfree(layer);
	}
	if (nr_internal)
		kern_unmount_array(internal, nr_internal);
	while (blobs) {
		blob = blobs;
		blobs = blob->next;
		atomfs_blob_put(blob);
	}
}
