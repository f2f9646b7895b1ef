// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: the filesystem type, its mount context and module set-up.
 */
#include <linux/fs_context.h>
#include <linux/module.h>

#include "atomfs.h"

static int atomfs_get_tree(struct fs_context *fc)
{
	/*
	 * A mount without a stack fails with EINVAL before anything else is
	 * checked: mount(8) and busybox then run the mount.atomfs helper.
	 */
	return invalfc(fc, "no stack given: mount with stack=FD, see mount.atomfs(8)");
}

static const struct fs_context_operations atomfs_context_ops = {
	.get_tree = atomfs_get_tree,
};

static int atomfs_init_fs_context(struct fs_context *fc)
{
	fc->ops = &atomfs_context_ops;
	return 0;
}

struct file_system_type atomfs_fs_type = {
	.owner = THIS_MODULE,
	.name = "atomfs",
	.init_fs_context = atomfs_init_fs_context,
	.kill_sb = kill_anon_super,
};
MODULE_ALIAS_FS("atomfs");

static void __init atomfs_check_abi(void)
{
	BUILD_BUG_ON(sizeof(struct atomfs_digest) != 72);
	BUILD_BUG_ON(sizeof(struct atomfs_layer) != 120);
	BUILD_BUG_ON(sizeof(struct atomfs_create_stack) != 64);
	BUILD_BUG_ON(sizeof(struct atomfs_query_layer) != 120);
	BUILD_BUG_ON(sizeof(struct atomfs_layer_info) != 104);
	BUILD_BUG_ON(sizeof(struct atomfs_info) != 64);
}

static int __init atomfs_init(void)
{
	int err;

	atomfs_check_abi();

	err = atomfs_ctl_init();
	if (err)
		goto ctl_err;

	err = register_filesystem(&atomfs_fs_type);
	if (err)
		goto fs_err;

	return 0;

fs_err:
	atomfs_ctl_exit();
ctl_err:
	return err;
}

static void __exit atomfs_exit(void)
{
	unregister_filesystem(&atomfs_fs_type);
	atomfs_ctl_exit();
}

module_init(atomfs_init);
module_exit(atomfs_exit);

MODULE_DESCRIPTION("atomfs: read-only stacking filesystem for OCI images of squashfs layers");
MODULE_AUTHOR("atomfs developers");
MODULE_LICENSE("GPL");
