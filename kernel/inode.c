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
	ai->dir_err = 0;
	ai->list = NULL;
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
	const struct atomfs_lower *lower = stack->layers[layer];

	if (READ_ONCE(lower->flags) & ATOMFS_INFO_DIR)
		return stack->ino_base[layer] + (real_ino & ATOMFS_INO_LOW_MASK);
	/* A crafted layer's number in another layer's range: keep it apart. */
	if (!real_ino || real_ino > lower->ino_count)
		return ((u64)(layer + 1) << ATOMFS_INO_LAYER_SHIFT) |
		       (real_ino & ATOMFS_INO_LOW_MASK);
	return stack->ino_base[layer] + real_ino;
}

/* setuid and setgid bits a nosuid directory layer must not pass on. */
static umode_t atomfs_mode(struct super_block *sb, umode_t mode)
{
	if (atomfs_stack(sb)->nosuid && !S_ISDIR(mode)) {
		mode &= ~S_ISUID;
		if (mode & 0010) /* setgid only with group exec */
			mode &= ~S_ISGID;
	}
	return mode;
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
	stat->mode = atomfs_mode(inode->i_sb, stat->mode);
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

/*
 * Directories: is @real opaque, hiding the directories below it? 1 or 0,
 * or -errno: a mark that cannot be read is an error, never a "no". Runs
 * under the mounter's credentials (see "Credentials" in atomfs.rst).
 */
int atomfs_dir_is_opaque(struct super_block *sb, struct dentry *real)
{
	struct dentry *marker;
	int opaque;

	opaque = atomfs_is_opaque_dir(sb, real);
	if (opaque)
		return opaque;
	if (!(atomfs_stack(sb)->whiteout & ATOMFS_WHITEOUT_OCI))
		return 0;
	marker = lookup_one_len_unlocked(ATOMFS_WH_OPAQUE, real,
					 strlen(ATOMFS_WH_OPAQUE));
	if (IS_ERR(marker))
		return PTR_ERR(marker);
	opaque = d_is_positive(marker);
	dput(marker);
	return opaque;
}

/* What identifies an atomfs inode: its number and the layer inode. */
struct atomfs_inode_key {
	u64 ino;
	struct dentry *real;
	unsigned int layer;
};

/*
 * Called under inode_hash_lock for every inode of the bucket, new ones of
 * concurrent lookups included: read only what atomfs_inode_set() filled in
 * before the inode was hashed (as overlayfs's ovl_inode_test() does).
 */
static int atomfs_inode_test(struct inode *inode, void *data)
{
	const struct atomfs_inode_key *key = data;

	return inode->i_ino == key->ino &&
	       inode->i_private == d_inode(key->real);
}

/* Under inode_hash_lock, before the new inode is hashed: no sleeping. */
static int atomfs_inode_set(struct inode *inode, void *data)
{
	const struct atomfs_inode_key *key = data;
	struct atomfs_inode *ai = ATOMFS_I(inode);

	inode->i_ino = key->ino;
	inode->i_private = d_inode(key->real);
	/* The reference is taken once iget5_locked() returns the inode. */
	ai->real = key->real;
	ai->layer = key->layer;
	return 0;
}

static void atomfs_copy_attr(struct inode *inode, struct inode *real)
{
	inode->i_mode = atomfs_mode(inode->i_sb, real->i_mode);
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
 * Runs under the mounter's credentials: it decides facts about the layer.
 */
struct inode *atomfs_get_inode(struct super_block *sb, struct dentry *real,
			       unsigned int layer, const unsigned int *lower,
			       unsigned int nr_lower)
{
	struct inode *realinode = d_inode(real);
	struct atomfs_inode_key key = {
		.ino = atomfs_ino(sb, layer, realinode->i_ino),
		.real = real,
		.layer = layer,
	};
	struct atomfs_inode *ai;
	struct inode *inode;
	int err;

	inode = iget5_locked(sb, key.ino, atomfs_inode_test, atomfs_inode_set,
			     &key);
	if (!inode)
		return ERR_PTR(-ENOMEM);
	if (!(inode->i_state & I_NEW))
		return inode;

	ai = ATOMFS_I(inode);
	dget(ai->real);
	atomfs_delay(ATOMFS_DELAY_INODE_NEW);
	atomfs_copy_attr(inode, realinode);
	inode->i_flags |= S_NOATIME | S_NOCMTIME;

	err = atomfs_check_overlay_marks(real, layer);
	if (err)
		goto fail;

	switch (inode->i_mode & S_IFMT) {
	case S_IFDIR:
		err = atomfs_dir_is_opaque(sb, real);
		if (err < 0)
			goto fail;
		ai->opaque = err;
		err = -ENOMEM;
		if (nr_lower && !ai->opaque) {
			ai->lower = kmemdup(lower, nr_lower * sizeof(*lower),
					    GFP_KERNEL_ACCOUNT);
			if (!ai->lower)
				goto fail;
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

fail:
	iget_failed(inode);
	return ERR_PTR(err);
}
