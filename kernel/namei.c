// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: lookup. The directory's merged index (dir.c) says which layer
 * provides a name; the name is then looked up in that layer only. A name
 * that is missing or whited out touches no layer at all.
 */
#include <linux/fs.h>
#include <linux/namei.h>

#include "atomfs.h"

static struct dentry *atomfs_lookup(struct inode *dir, struct dentry *dentry,
				    unsigned int flags)
{
	struct super_block *sb = dir->i_sb;
	const struct atomfs_dirent *de;
	struct atomfs_dir *index;
	struct dentry *real, *realparent;
	struct inode *inode = NULL;
	const struct cred *old;

	index = atomfs_dir_get(dentry->d_parent);
	if (IS_ERR(index))
		return ERR_CAST(index);
	de = atomfs_dir_find(index, &dentry->d_name);
	if (!de || de->type == DT_WHT)
		return d_splice_alias(NULL, dentry);

	realparent = atomfs_dir_layer_dentry(index, de->layer);
	if (WARN_ON_ONCE(!realparent))
		return ERR_PTR(-EIO);

	old = atomfs_override_creds(sb);
	real = lookup_one_len_unlocked(de->name, realparent, de->len);
	revert_creds(old);
	if (IS_ERR(real))
		return ERR_CAST(real);
	/* Only a directory layer changed under us can make this negative. */
	if (d_is_positive(real)) {
		inode = atomfs_get_inode(sb, real, de->layer, de->lower,
					 de->nr_lower);
		if (IS_ERR(inode)) {
			dput(real);
			return ERR_CAST(inode);
		}
	}
	dput(real);
	return d_splice_alias(inode, dentry);
}

const struct inode_operations atomfs_dir_iops = {
	.lookup = atomfs_lookup,
	.permission = atomfs_permission,
	.getattr = atomfs_getattr,
	.listxattr = atomfs_listxattr,
	.get_acl = atomfs_get_acl,
};
