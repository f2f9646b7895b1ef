// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: lookup. The directory's merged index (dir.c) says which layer
 * provides a name; the name is then looked up in that layer only. A name
 * that is missing or whited out touches no layer at all.
 */
#include <linux/fs.h>
#include <linux/namei.h>
#include <linux/slab.h>

#include "atomfs.h"

/* Is there a .wh.NAME (an OCI whiteout) for @name in @realdir? 1, 0, -errno */
static int atomfs_has_oci_whiteout(struct dentry *realdir,
				   const struct qstr *name)
{
	char buf[ATOMFS_WH_PREFIX_LEN + NAME_MAX + 1];
	struct dentry *wh;
	int found;

	if (name->len > NAME_MAX - ATOMFS_WH_PREFIX_LEN)
		return 0; /* such a whiteout could not exist */
	memcpy(buf, ATOMFS_WH_PREFIX, ATOMFS_WH_PREFIX_LEN);
	memcpy(buf + ATOMFS_WH_PREFIX_LEN, name->name, name->len);
	wh = lookup_one_len_unlocked(buf, realdir,
				     ATOMFS_WH_PREFIX_LEN + name->len);
	if (IS_ERR(wh))
		return PTR_ERR(wh);
	found = d_is_positive(wh);
	dput(wh);
	return found;
}

/*
 * A directory too big to index (dir_index_max): look the name up in each
 * layer in turn, as overlayfs does, with the same rules as the index.
 */
static struct dentry *atomfs_lookup_slow(struct super_block *sb,
					 struct dentry *dentry,
					 const struct atomfs_dir *index)
{
	unsigned int style = atomfs_stack(sb)->whiteout;
	const struct qstr *name = &dentry->d_name;
	unsigned int i, top_layer = 0, nr_lower = 0, *lower;
	struct dentry *real, *top = NULL;
	struct inode *inode = NULL;
	int hidden;

	/* Whiteouts and .wh..wh.* bookkeeping are never visible. */
	if (name->len >= ATOMFS_WH_META_PREFIX_LEN &&
	    !memcmp(name->name, ATOMFS_WH_META_PREFIX, ATOMFS_WH_META_PREFIX_LEN))
		return d_splice_alias(NULL, dentry);
	if ((style & ATOMFS_WHITEOUT_OCI) && name->len > ATOMFS_WH_PREFIX_LEN &&
	    !memcmp(name->name, ATOMFS_WH_PREFIX, ATOMFS_WH_PREFIX_LEN))
		return d_splice_alias(NULL, dentry);

	lower = kmalloc_array(index->nr_layers, sizeof(*lower), GFP_KERNEL);
	if (!lower)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < index->nr_layers; i++) {
		real = lookup_one_len_unlocked(name->name,
					       index->layers[i].dentry,
					       name->len);
		if (IS_ERR(real)) {
			dput(top);
			kfree(lower);
			return ERR_CAST(real);
		}
		hidden = 0;
		if (style & ATOMFS_WHITEOUT_OCI)
			hidden = atomfs_has_oci_whiteout(index->layers[i].dentry,
							 name);
		if (hidden < 0) {
			dput(real);
			dput(top);
			kfree(lower);
			return ERR_PTR(hidden);
		}
		if (d_is_negative(real) || atomfs_is_whiteout(sb, real)) {
			/* A char 0/0 whiteout ends the search, as .wh.NAME does. */
			hidden |= d_is_positive(real);
			dput(real);
		} else if (!top) {
			top = real;
			top_layer = index->layers[i].layer;
		} else if (d_is_dir(top) && d_is_dir(real)) {
			lower[nr_lower++] = index->layers[i].layer;
			dput(real);
		} else {
			dput(real);
			break;
		}
		if (hidden || (top && !d_is_dir(top)))
			break;
	}
	if (top) {
		inode = atomfs_get_inode(sb, top, top_layer, lower, nr_lower);
		dput(top);
	}
	kfree(lower);
	if (IS_ERR(inode))
		return ERR_CAST(inode);
	return d_splice_alias(inode, dentry);
}

/* The index path: one hash probe, then the winning layer only. */
static struct dentry *atomfs_lookup_index(struct super_block *sb,
					  struct dentry *dentry,
					  const struct atomfs_dir *index)
{
	const struct atomfs_dirent *de;
	struct dentry *real, *realparent;
	struct inode *inode = NULL;

	de = atomfs_dir_find(index, &dentry->d_name);
	if (!de || de->type == DT_WHT)
		return d_splice_alias(NULL, dentry);

	if (WARN_ON_ONCE(de->slot >= index->nr_layers))
		return ERR_PTR(-EIO);
	realparent = index->layers[de->slot].dentry;
	real = lookup_one_len_unlocked(de->name, realparent, de->len);
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

/*
 * Everything a lookup decides about the layers (which layer wins, whether
 * a directory is opaque, whether an inode carries marks atomfs refuses) is
 * decided under the mounter's credentials: the inode it makes is cached
 * for every later caller (see "Credentials" in atomfs.rst).
 */
static struct dentry *atomfs_lookup(struct inode *dir, struct dentry *dentry,
				    unsigned int flags)
{
	struct super_block *sb = dir->i_sb;
	struct atomfs_dir *index;
	const struct cred *old;
	struct dentry *ret;

	/* as the layers' own lookups (and overlayfs) answer */
	if (dentry->d_name.len > NAME_MAX)
		return ERR_PTR(-ENAMETOOLONG);

	old = atomfs_override_creds(sb);
	index = atomfs_dir_get(dentry->d_parent);
	if (IS_ERR(index))
		ret = ERR_CAST(index);
	else if (index->overflow)
		ret = atomfs_lookup_slow(sb, dentry, index);
	else
		ret = atomfs_lookup_index(sb, dentry, index);
	revert_creds(old);
	return ret;
}

const struct inode_operations atomfs_dir_iops = {
	.lookup = atomfs_lookup,
	.permission = atomfs_permission,
	.getattr = atomfs_getattr,
	.listxattr = atomfs_listxattr,
	ATOMFS_IOP_GET_ACL(atomfs_get_acl),
};
