// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: extended attributes and POSIX ACLs, passed through from the layer
 * that provides the inode. overlayfs's own xattrs (trusted.overlay.*,
 * user.overlay.*) are bookkeeping of the image format, never shown; so are
 * the layer format's trusted.atomfs.*, which store the POSIX ACLs squashfs
 * cannot (see "POSIX ACLs" in atomfs.rst and image-format.rst).
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xattr.h>

#include "atomfs.h"

#define ATOMFS_TRUSTED_OVERLAY XATTR_TRUSTED_PREFIX "overlay."
#define ATOMFS_USER_OVERLAY XATTR_USER_PREFIX "overlay."
#define ATOMFS_TRUSTED_ATOMFS XATTR_TRUSTED_PREFIX "atomfs."
#define ATOMFS_ACL_ACCESS ATOMFS_TRUSTED_ATOMFS "posix_acl_access"
#define ATOMFS_ACL_DEFAULT ATOMFS_TRUSTED_ATOMFS "posix_acl_default"
#define ATOMFS_ACL_MARK ATOMFS_TRUSTED_ATOMFS "has_posix_acl"

static bool atomfs_is_private_xattr(const char *name)
{
	return !strncmp(name, ATOMFS_TRUSTED_OVERLAY,
			sizeof(ATOMFS_TRUSTED_OVERLAY) - 1) ||
	       !strncmp(name, ATOMFS_USER_OVERLAY,
			sizeof(ATOMFS_USER_OVERLAY) - 1) ||
	       !strncmp(name, ATOMFS_TRUSTED_ATOMFS,
			sizeof(ATOMFS_TRUSTED_ATOMFS) - 1);
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
	ATOMFS_POSIX_ACL_XATTR_HANDLERS /* 6.1: before the catch-all */
	&atomfs_xattr_handler,
	NULL,
};

/*
 * May the caller see @name in a list? The layer lists under the mounter's
 * credentials, so trusted.* names only to whoever could read them (as
 * overlayfs's ovl_can_list()); runs under the caller's credentials.
 */
static bool atomfs_can_list(const char *name)
{
	if (atomfs_is_private_xattr(name))
		return false;
	if (strncmp(name, XATTR_TRUSTED_PREFIX, XATTR_TRUSTED_PREFIX_LEN))
		return true;
	return ns_capable_noaudit(&init_user_ns, CAP_SYS_ADMIN);
}

/*
 * The name a stored ACL is shown under, or NULL (the name is then hidden,
 * as private): only on a stack with ACLs, not for a symlink, and only for
 * a layer that does not have real ones of its own.
 */
static const char *atomfs_acl_list_name(struct inode *inode, const char *name)
{
	/* symlinks have no ACLs (getxattr says EOPNOTSUPP, copy-up stops) */
	if (!IS_POSIXACL(inode) || S_ISLNK(inode->i_mode) ||
	    IS_POSIXACL(d_inode(ATOMFS_I(inode)->real)))
		return NULL;
	if (!strcmp(name, ATOMFS_ACL_ACCESS))
		return XATTR_NAME_POSIX_ACL_ACCESS;
	if (!strcmp(name, ATOMFS_ACL_DEFAULT) && S_ISDIR(inode->i_mode))
		return XATTR_NAME_POSIX_ACL_DEFAULT;
	return NULL;
}

ssize_t atomfs_listxattr(struct dentry *dentry, char *list, size_t size)
{
	struct inode *inode = d_inode(dentry);
	const struct cred *old;
	const char *shown;
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
		shown = atomfs_acl_list_name(inode, s);
		if (shown) {
			/* shorter than the stored name: rewritten in place */
			size_t nlen = strlen(shown) + 1;

			memcpy(s, shown, nlen);
			memmove(s + nlen, s + slen, len);
			res -= slen - nlen;
			s += nlen;
		} else if (!atomfs_can_list(s)) {
			res -= slen;
			memmove(s, s + slen, len);
		} else {
			s += slen;
		}
	}
	return res;
}

/* An xattr that is absent, or not there to be read: "no". */
static bool atomfs_xattr_absent(ssize_t ret)
{
	return ret == -ENODATA || ret == -EOPNOTSUPP;
}

/*
 * Does @real carry overlayfs's opaque mark (when the stack uses it)? 1 or
 * 0, or -errno when the mark cannot be read: never "no" for an error. A
 * value longer than one byte (ERANGE) is not "y". Runs under the
 * mounter's credentials.
 */
int atomfs_is_opaque_dir(struct super_block *sb, struct dentry *real)
{
	static const char * const names[] = {
		ATOMFS_TRUSTED_OVERLAY "opaque",
		ATOMFS_USER_OVERLAY "opaque",
	};
	unsigned int i;
	ssize_t ret;
	char val;

	if (!(atomfs_stack(sb)->whiteout & ATOMFS_WHITEOUT_OVERLAY))
		return 0;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		ret = atomfs_do_getxattr(real, names[i], &val, 1);
		if (ret == 1 && val == 'y')
			return 1;
		if (ret < 0 && !atomfs_xattr_absent(ret) && ret != -ERANGE)
			return ret;
	}
	return 0;
}

/*
 * overlayfs's redirects (directories) and metacopy (regular files) would
 * be shown wrong: atomfs follows neither, so it refuses inodes that carry
 * them (EPERM, as overlayfs does when told not to follow).
 */
int atomfs_check_overlay_marks(struct dentry *real, unsigned int layer)
{
	static const char * const dir_marks[] = {
		ATOMFS_TRUSTED_OVERLAY "redirect",
		ATOMFS_USER_OVERLAY "redirect",
	};
	static const char * const file_marks[] = {
		ATOMFS_TRUSTED_OVERLAY "metacopy",
		ATOMFS_USER_OVERLAY "metacopy",
	};
	const char * const *names;
	unsigned int i;
	ssize_t ret;

	if (d_is_dir(real))
		names = dir_marks;
	else if (d_is_reg(real))
		names = file_marks;
	else
		return 0;
	for (i = 0; i < 2; i++) {
		ret = atomfs_do_getxattr(real, names[i], NULL, 0);
		if (ret >= 0) {
			pr_warn_ratelimited("layer %u: %pd2 carries %s, which atomfs does not follow: refused\n",
					    layer, real, names[i]);
			return -EPERM;
		}
		if (!atomfs_xattr_absent(ret))
			return ret;
	}
	return 0;
}

/*
 * A stored ACL of @real: NULL if it has none, else the ACL or -errno; a
 * value that is no valid ACL is EIO, never "none", so that a permission
 * check fails closed. Ids are the layer's own, as its uids (squashfs
 * reads them in the initial namespace). Under the mounter's credentials.
 */
static struct posix_acl *atomfs_read_stored_acl(struct dentry *real, int type)
{
	const char *name = type == ACL_TYPE_ACCESS ? ATOMFS_ACL_ACCESS :
						     ATOMFS_ACL_DEFAULT;
	struct posix_acl *acl;
	ssize_t size, got;
	void *buf;

	size = atomfs_do_getxattr(real, name, NULL, 0);
	if (atomfs_xattr_absent(size))
		return NULL;
	if (size < 0)
		return ERR_PTR(size);
	if (size > XATTR_SIZE_MAX)
		return ERR_PTR(-EIO);
	buf = kmalloc(size, GFP_KERNEL);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	got = atomfs_do_getxattr(real, name, buf, size);
	if (got < 0) {
		/* ERANGE: it grew, which a read-only layer cannot do */
		acl = ERR_PTR(got == -ERANGE ? -EIO : got);
		goto out;
	}
	acl = posix_acl_from_xattr(&init_user_ns, buf, got);
	if (IS_ERR(acl) || (acl && posix_acl_valid(&init_user_ns, acl))) {
		if (!IS_ERR(acl))
			posix_acl_release(acl);
		pr_warn_ratelimited("%pd2: %s is not a valid POSIX ACL\n",
				    real, name);
		acl = ERR_PTR(-EIO);
	}
out:
	kfree(buf);
	return acl;
}

/*
 * The ACL of an atomfs inode: the layer's own if its filesystem has ACLs
 * (a directory layer), else the one the layer format stores. The VFS
 * caches the answer in the inode (set once, read-only layers never change
 * it) and serialises concurrent first reads with its sentinel.
 */
struct posix_acl *atomfs_get_acl(struct inode *inode, int type, bool rcu)
{
	struct dentry *real = ATOMFS_I(inode)->real;
	struct inode *realinode = d_inode(real);
	const struct cred *old;
	struct posix_acl *acl;

	if (rcu)
		return ERR_PTR(-ECHILD);
	if (type == ACL_TYPE_DEFAULT && !S_ISDIR(inode->i_mode))
		return NULL;
	old = atomfs_override_creds(inode->i_sb);
	if (IS_POSIXACL(realinode))
		acl = atomfs_real_get_acl(realinode, type);
	else
		acl = atomfs_read_stored_acl(real, type);
	revert_creds(old);
	return acl;
}

/*
 * Does any layer's root carry the layer format's ACL mark? 1 or 0, or
 * -errno when a mark cannot be read: never "no" for an error, which would
 * leave stored ACLs unenforced (the mode's group bits hold the mask). Read
 * once at mount under the mounter's credentials (who can read trusted.*):
 * it decides SB_POSIXACL for the whole stack.
 */
int atomfs_layers_have_acl(struct super_block *sb)
{
	struct atomfs_stack *stack = atomfs_stack(sb);
	const struct cred *old;
	unsigned int i;
	ssize_t ret = 0;
	char val;

	old = atomfs_override_creds(sb);
	for (i = 0; i < stack->nr_layers; i++) {
		ret = atomfs_do_getxattr(stack->layers[i]->mnt->mnt_root,
					 ATOMFS_ACL_MARK, &val, 1);
		if (ret == 1 && val == '1')
			break;
		/* absent, or a value that is not the mark ("10": ERANGE) */
		if (atomfs_xattr_absent(ret) || ret == -ERANGE || ret >= 0) {
			ret = 0;
			continue;
		}
		break;
	}
	revert_creds(old);
	if (ret < 0)
		return ret;
	return i < stack->nr_layers;
}
