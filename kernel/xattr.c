// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: extended attributes and POSIX ACLs, passed through from the layer
 * that provides the inode. overlayfs's own xattrs (trusted.overlay.*,
 * user.overlay.*) are bookkeeping of the image format, never shown.
 */
#include <linux/fs.h>
#include <linux/posix_acl.h>
#include <linux/string.h>
#include <linux/xattr.h>

#include "atomfs.h"

#define ATOMFS_TRUSTED_OVERLAY XATTR_TRUSTED_PREFIX "overlay."
#define ATOMFS_USER_OVERLAY XATTR_USER_PREFIX "overlay."

static bool atomfs_is_private_xattr(const char *name)
{
	return !strncmp(name, ATOMFS_TRUSTED_OVERLAY,
			sizeof(ATOMFS_TRUSTED_OVERLAY) - 1) ||
	       !strncmp(name, ATOMFS_USER_OVERLAY,
			sizeof(ATOMFS_USER_OVERLAY) - 1);
}

static int atomfs_xattr_get(const struct xattr_handler *handler,
			    struct dentry *dentry, struct inode *inode,
			    const char *name, void *buffer, size_t size)
{
	const struct cred *old;
	int ret;

	if (atomfs_is_private_xattr(name))
		return -ENODATA;
	old = atomfs_override_creds(inode->i_sb);
	ret = atomfs_do_getxattr(ATOMFS_I(inode)->real, name, buffer, size);
	revert_creds(old);
	return ret;
}

static int atomfs_xattr_set(const struct xattr_handler *handler,
			    ATOMFS_IDMAP_ARG,
			    struct dentry *dentry, struct inode *inode,
			    const char *name, const void *value, size_t size,
			    int flags)
{
	return -EROFS;
}

/* Every name: the layer decides what it has. */
static const struct xattr_handler atomfs_xattr_handler = {
	.prefix = "",
	.get = atomfs_xattr_get,
	.set = atomfs_xattr_set,
};

const struct xattr_handler *atomfs_xattr_handlers[] = {
	&atomfs_xattr_handler,
	NULL,
};

ssize_t atomfs_listxattr(struct dentry *dentry, char *list, size_t size)
{
	struct inode *inode = d_inode(dentry);
	const struct cred *old;
	ssize_t res, len;
	char *s;

	old = atomfs_override_creds(inode->i_sb);
	res = vfs_listxattr(ATOMFS_I(inode)->real, list, size);
	revert_creds(old);
	if (res <= 0 || !size)
		return res; /* a size query may count hidden names: harmless */

	for (s = list, len = res; len > 0;) {
		size_t slen = strnlen(s, len) + 1;

		if (WARN_ON_ONCE(slen > len))
			return -EIO;
		len -= slen;
		if (atomfs_is_private_xattr(s)) {
			res -= slen;
			memmove(s, s + slen, len);
		} else {
			s += slen;
		}
	}
	return res;
}

/* Does @real carry overlayfs's opaque mark (when the stack uses it)? */
bool atomfs_is_opaque_dir(struct super_block *sb, struct dentry *real)
{
	static const char * const names[] = {
		ATOMFS_TRUSTED_OVERLAY "opaque",
		ATOMFS_USER_OVERLAY "opaque",
	};
	unsigned int i;
	char val;

	if (!(atomfs_stack(sb)->whiteout & ATOMFS_WHITEOUT_OVERLAY))
		return false;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (atomfs_do_getxattr(real, names[i], &val, 1) == 1 &&
		    val == 'y')
			return true;
	}
	return false;
}

struct posix_acl *atomfs_get_acl(struct inode *inode, int type, bool rcu)
{
	struct inode *realinode = d_inode(ATOMFS_I(inode)->real);
	const struct cred *old;
	struct posix_acl *acl;

	if (!IS_POSIXACL(realinode))
		return NULL;
	if (rcu)
		return ERR_PTR(-ECHILD);
	old = atomfs_override_creds(inode->i_sb);
	acl = atomfs_real_get_acl(realinode, type);
	revert_creds(old);
	return acl;
}
