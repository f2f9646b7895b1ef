// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: inodes. An atomfs inode stands for the layer inode that provides
 * a name; it is found by its inode number, so hard links inside a layer
 * share one atomfs inode. Attributes are copied once: layers are read-only.
 */
#include <linux/fs.h>
#include <linux/namei.h>
#include <linux/slab.h>
#include <linux/xattr.h>

#include "atomfs.h"

struct kmem_cache *atomfs_inode_cachep;

struct inode *atomfs_alloc_inode(struct super_block *sb)
{
	struct atomfs_inode *ai;

	ai = alloc_inode_sb(sb, atomfs_inode_cachep, GFP_KERNEL);
	if (!ai)
		return NULL;
	ai->real = NULL;
	ai->layer = 0;
	ai->opaque = false;
	ai->nr_lower = 0;
	ai->lower = NULL;
	ai->dir = NULL;
	mutex_init(&ai->dir_lock);
	return &ai->vfs_inode;
}

/* Runs before the RCU grace period: drop what the inode pins. */
void atomfs_destroy_inode(struct inode *inode)
{
	struct atomfs_inode *ai = ATOMFS_I(inode);

	dput(ai->real);
	kfree(ai->lower);
	atomfs_dir_free(ai->dir);
	mutex_destroy(&ai->dir_lock);
}

void atomfs_free_inode(struct inode *inode)
{
	kmem_cache_free(atomfs_inode_cachep, ATOMFS_I(inode));
}

/* See "Inode numbers" in Documentation/filesystems/atomfs.rst. */
u64 atomfs_ino(struct super_block *sb, unsigned int layer, u64 real_ino)
{
	struct atomfs_stack *stack = atomfs_stack(sb);

	if (stack->layers[layer]->flags & ATOMFS_INFO_DIR)
		real_ino &= (1ULL << 48) - 1;
	return stack->ino_base[layer] + real_ino;
}

/* An overlay-style whiteout: a character device 0/0. */
bool atomfs_is_whiteout(struct super_block *sb, struct dentry *real)
{
	struct inode *inode = d_inode(real);

	return (atomfs_stack(sb)->whiteout & ATOMFS_WHITEOUT_OVERLAY) &&
	       inode && S_ISCHR(inode->i_mode) && inode->i_rdev == WHITEOUT_DEV;
}

int atomfs_getattr(ATOMFS_IDMAP_ARG, const struct path *path,
			  struct kstat *stat, u32 request_mask,
			  unsigned int flags)
{
	struct inode *inode = d_inode(path->dentry);
	struct atomfs_inode *ai = ATOMFS_I(inode);
	struct path real = atomfs_real_path(inode);
	const struct cred *old;
	int err;

	old = atomfs_override_creds(inode->i_sb);
	err = atomfs_real_getattr(&real, stat, request_mask, flags);
	revert_creds(old);
	if (err)
		return err;

	stat->dev = inode->i_sb->s_dev;
	stat->ino = inode->i_ino;
	/* Merged directories report one link, as overlayfs does. */
	if (S_ISDIR(inode->i_mode) && ai->nr_lower && !ai->opaque)
		stat->nlink = 1;
	return 0;
}

int atomfs_permission(ATOMFS_IDMAP_ARG, struct inode *inode, int mask)
{
	/* The attributes (and ACLs, through get_acl) are the layer's. */
	return generic_permission(atomfs_nop_idmap, inode, mask);
}

static const char *atomfs_get_link(struct dentry *dentry, struct inode *inode,
				   struct delayed_call *done)
{
	const struct cred *old;
	const char *link;

	if (!dentry)
		return ERR_PTR(-ECHILD);
	old = atomfs_override_creds(inode->i_sb);
	link = vfs_get_link(ATOMFS_I(inode)->real, done);
	revert_creds(old);
	return link;
}

static const struct inode_operations atomfs_file_iops = {
	.permission = atomfs_permission,
	.getattr = atomfs_getattr,
	.listxattr = atomfs_listxattr,
	ATOMFS_IOP_GET_ACL(atomfs_get_acl),
};

static const struct inode_operations atomfs_symlink_iops = {
	.get_link = atomfs_get_link,
	.getattr = atomfs_getattr,
	.listxattr = atomfs_listxattr,
};

static const struct inode_operations atomfs_special_iops = {
	.permission = atomfs_permission,
	.getattr = atomfs_getattr,
	.listxattr = atomfs_listxattr,
	ATOMFS_IOP_GET_ACL(atomfs_get_acl),
};

/* Directories: is @real opaque, hiding the directories below it? */
bool atomfs_dir_is_opaque(struct super_block *sb, struct dentry *real)
{
	struct dentry *marker;
	bool opaque;

	if (atomfs_is_opaque_dir(sb, real))
		return true;
	if (!(atomfs_stack(sb)->whiteout & ATOMFS_WHITEOUT_OCI))
		return false;
	marker = lookup_one_len_unlocked(ATOMFS_WH_OPAQUE, real,
					 strlen(ATOMFS_WH_OPAQUE));
	if (IS_ERR(marker))
		return false;
	opaque = d_is_positive(marker);
	dput(marker);
	return opaque;
}

static int atomfs_inode_test(struct inode *inode, void *data)
{
	return d_inode(ATOMFS_I(inode)->real) == data;
}

static int atomfs_inode_set(struct inode *inode, void *data)
{
	return 0;
}

static void atomfs_copy_attr(struct inode *inode, struct inode *real)
{
	inode->i_mode = real->i_mode;
	inode->i_uid = real->i_uid;
	inode->i_gid = real->i_gid;
	atomfs_copy_times(inode, real);
	inode->i_blkbits = real->i_blkbits;
	inode->i_blocks = real->i_blocks;
	set_nlink(inode, real->i_nlink);
	i_size_write(inode, i_size_read(real));
}

/*
 * The atomfs inode for @real, found in @layer, creating it if needed. For a
 * directory, @lower lists the layers below that hold a directory of the same
 * name (top-down), from the parent's index. Returns a referenced inode.
 */
struct inode *atomfs_get_inode(struct super_block *sb, struct dentry *real,
			       unsigned int layer, const unsigned int *lower,
			       unsigned int nr_lower)
{
	struct inode *realinode = d_inode(real);
	struct atomfs_inode *ai;
	struct inode *inode;
	u64 ino;

	ino = atomfs_ino(sb, layer, realinode->i_ino);
	inode = iget5_locked(sb, ino, atomfs_inode_test, atomfs_inode_set,
			     realinode);
	if (!inode)
		return ERR_PTR(-ENOMEM);
	if (!(inode->i_state & I_NEW))
		return inode;

	ai = ATOMFS_I(inode);
	inode->i_ino = ino;
	ai->real = dget(real);
	ai->layer = layer;
	atomfs_copy_attr(inode, realinode);
	inode->i_flags |= S_NOATIME | S_NOCMTIME;

	switch (inode->i_mode & S_IFMT) {
	case S_IFDIR:
		ai->opaque = atomfs_dir_is_opaque(sb, real);
		if (nr_lower && !ai->opaque) {
			ai->lower = kmemdup(lower, nr_lower * sizeof(*lower),
					    GFP_KERNEL_ACCOUNT);
			if (!ai->lower) {
				iget_failed(inode);
				return ERR_PTR(-ENOMEM);
			}
			ai->nr_lower = nr_lower;
		}
		inode->i_op = &atomfs_dir_iops;
		inode->i_fop = &atomfs_dir_fops;
		break;
	case S_IFREG:
		inode->i_op = &atomfs_file_iops;
		inode->i_fop = &atomfs_file_fops;
		break;
	case S_IFLNK:
		inode->i_op = &atomfs_symlink_iops;
		break;
	default:
		inode->i_op = &atomfs_special_iops;
		init_special_inode(inode, inode->i_mode, realinode->i_rdev);
		break;
	}
	unlock_new_inode(inode);
	return inode;
}
