// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: the filesystem type, its mount context, the superblock and module
 * set-up.
 */
#include <linux/file.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/statfs.h>

#include "atomfs.h"

unsigned int atomfs_max_layers = 4096;

/*
 * 1..65535: the inode-number scheme keeps 16 bits for the layer index, and
 * the descriptor array is copied in with one allocation.
 */
static int atomfs_set_max_layers(const char *val,
				 const struct kernel_param *kp)
{
	unsigned int n;
	int err;

	err = kstrtouint(val, 0, &n);
	if (err)
		return err;
	if (!n || n > ATOMFS_MAX_LAYERS_LIMIT)
		return -EINVAL;
	WRITE_ONCE(*(unsigned int *)kp->arg, n);
	return 0;
}

static const struct kernel_param_ops atomfs_max_layers_ops = {
	.set = atomfs_set_max_layers,
	.get = param_get_uint,
};
module_param_cb(max_layers, &atomfs_max_layers_ops, &atomfs_max_layers, 0644);
MODULE_PARM_DESC(max_layers, "Most layers in one stack, 1..65535 (default 4096)");

bool atomfs_share_layers = true;
module_param_named(share_layers, atomfs_share_layers, bool, 0644);
MODULE_PARM_DESC(share_layers, "Share verified layers between stacks by digest (default on)");

unsigned int atomfs_dir_index_max = 1000000;
module_param_named(dir_index_max, atomfs_dir_index_max, uint, 0644);
MODULE_PARM_DESC(dir_index_max, "Most names a directory's kept index holds; bigger directories are looked up layer by layer (default 1000000)");

bool atomfs_require_verified = true;
module_param_named(require_verified, atomfs_require_verified, bool, 0644);
MODULE_PARM_DESC(require_verified, "Refuse layers without a digest, directory layers included (default on)");

struct atomfs_fs_context {
	struct atomfs_stack *stack;	/* from stack=FD, holds a reference */
};

enum { Opt_stack };

static const struct fs_parameter_spec atomfs_param_spec[] = {
	fsparam_fd("stack", Opt_stack),
	{}
};

static int atomfs_parse_param(struct fs_context *fc,
			      struct fs_parameter *param)
{
	struct atomfs_fs_context *ctx = fc->fs_private;
	struct fs_parse_result result;
	struct atomfs_stack *stack;
	struct file *file;
	int opt;

	opt = fs_parse(fc, atomfs_param_spec, param, &result);
	if (opt < 0)
		return opt;

	if (fc->purpose == FS_CONTEXT_FOR_RECONFIGURE)
		return invalfc(fc, "the stack cannot change on remount");
	if (ctx->stack)
		return invalfc(fc, "stack given twice");

	if (param->type == fs_value_is_file)
		file = get_file(param->file);
	else
		file = fget(result.uint_32);
	if (!file)
		return invalfc(fc, "stack=%u is not an open file", result.uint_32);
	stack = atomfs_stack_from_file(file);
	fput(file);
	if (IS_ERR(stack))
		return invalfc(fc, "stack fd is not an atomfs stack (see ATOMFS_IOC_CREATE_STACK)");
	ctx->stack = stack;
	return 0;
}

static void atomfs_free_sbi(struct atomfs_sb_info *sbi)
{
	if (!sbi)
		return;
	atomfs_stack_put(sbi->stack);
	if (sbi->creator_cred)
		put_cred(sbi->creator_cred);
	kfree(sbi);
}

static int atomfs_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct super_block *sb = dentry->d_sb;
	struct vfsmount *top = atomfs_layer_mnt(sb, atomfs_stack(sb)->nr_layers - 1);
	const struct cred *old;
	int err;

	old = atomfs_override_creds(sb);
	err = vfs_statfs(&(struct path){ .mnt = top, .dentry = top->mnt_root },
			 buf);
	revert_creds(old);
	if (err)
		return err;
	buf->f_type = ATOMFS_SUPER_MAGIC;
	buf->f_fsid = u64_to_fsid(huge_encode_dev(sb->s_dev));
	buf->f_namelen = NAME_MAX;
	return 0;
}

static int atomfs_show_options(struct seq_file *m, struct dentry *root)
{
	struct atomfs_stack *stack = atomfs_stack(root->d_sb);

	/* Now, not at creation: a layer may have been marked bad since. */
	seq_printf(m, ",layers=%u,id=%llu,%s", stack->nr_layers, stack->id,
		   atomfs_stack_verified(stack) ? "verified" : "unverified");
	return 0;
}

static const struct super_operations atomfs_super_ops = {
	.alloc_inode = atomfs_alloc_inode,
	.destroy_inode = atomfs_destroy_inode,
	.free_inode = atomfs_free_inode,
	.drop_inode = generic_delete_inode,
	.statfs = atomfs_statfs,
	.show_options = atomfs_show_options,
};

static struct dentry *atomfs_d_real(struct dentry *dentry, ATOMFS_D_REAL_ARG)
{
	struct dentry *real;

	if (atomfs_d_real_is_self(dentry, want))
		return dentry;
	if (!d_inode(dentry) || d_is_dir(dentry))
		return dentry;
	real = ATOMFS_I(d_inode(dentry))->real;
	if (atomfs_d_real_is_final(real, want))
		return real;
	/* A layer that is itself stacked (a directory layer). */
	return d_real(real, want);
}

static const struct dentry_operations atomfs_dentry_ops = {
	.d_real = atomfs_d_real,
};

static int atomfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct atomfs_fs_context *ctx = fc->fs_private;
	struct atomfs_stack *stack;
	struct atomfs_sb_info *sbi;
	unsigned int top, i, *lower;
	struct inode *root;
	int err = -ENOMEM;

	sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);
	if (!sbi)
		return -ENOMEM;
	sbi->stack = stack = ctx->stack;
	ctx->stack = NULL;
	sb->s_fs_info = sbi;
	sbi->creator_cred = prepare_creds();
	if (!sbi->creator_cred)
		return -ENOMEM;

	sb->s_magic = ATOMFS_SUPER_MAGIC;
	sb->s_op = &atomfs_super_ops;
	sb->s_d_op = &atomfs_dentry_ops;
	sb->s_xattr = atomfs_xattr_handlers;
	sb->s_flags |= SB_RDONLY | SB_NOSEC;
	/* a layer filesystem's own ACLs, or ones the layer format stores */
	err = atomfs_layers_have_acl(sb);
	if (err < 0)
		return err;
	if (stack->posix_acl || err)
		sb->s_flags |= SB_POSIXACL;
	/* A nodev directory layer keeps its devices closed through atomfs. */
	if (stack->nodev)
		sb->s_iflags |= SB_I_NODEV;
	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_time_gran = 1;
	sb->s_stack_depth = stack->stack_depth + 1;

	/* The root merges the roots of all layers, top-down. */
	top = stack->nr_layers - 1;
	lower = kvmalloc_array(max(top, 1U), sizeof(*lower), GFP_KERNEL);
	if (!lower)
		return -ENOMEM;
	for (i = 0; i < top; i++)
		lower[i] = top - 1 - i;
	root = atomfs_get_inode(sb, atomfs_layer_mnt(sb, top)->mnt_root, top,
				lower, top);
	kvfree(lower);
	if (IS_ERR(root))
		return PTR_ERR(root);
	err = -ENOMEM;
	sb->s_root = d_make_root(root);
	if (!sb->s_root)
		return err;
	return 0;
}

static int atomfs_get_tree(struct fs_context *fc)
{
	struct atomfs_fs_context *ctx = fc->fs_private;

	/*
	 * A mount without a stack fails with EINVAL before anything else is
	 * checked: mount(8) and busybox then run the mount.atomfs helper.
	 */
	if (!ctx->stack)
		return invalfc(fc, "no stack given: mount with stack=FD, see mount.atomfs(8)");
	/* The policy holds at mount too: it may have been off at creation. */
	if (READ_ONCE(atomfs_require_verified) &&
	    !atomfs_stack_verified(ctx->stack)) {
		errorfc(fc, "stack %llu has unverified layers and require_verified is on",
			ctx->stack->id);
		return -EPERM;
	}
	if (!(fc->sb_flags & SB_RDONLY)) {
		infofc(fc, "atomfs is read-only: mounting read-only");
		fc->sb_flags |= SB_RDONLY;
	}
	return get_tree_nodev(fc, atomfs_fill_super);
}

static int atomfs_reconfigure(struct fs_context *fc)
{
	if (!(fc->sb_flags & SB_RDONLY)) {
		infofc(fc, "atomfs is read-only: staying read-only");
		fc->sb_flags |= SB_RDONLY;
	}
	return 0;
}

static void atomfs_free_fc(struct fs_context *fc)
{
	struct atomfs_fs_context *ctx = fc->fs_private;

	if (ctx)
		atomfs_stack_put(ctx->stack);
	kfree(ctx);
}

static const struct fs_context_operations atomfs_context_ops = {
	.parse_param = atomfs_parse_param,
	.get_tree = atomfs_get_tree,
	.reconfigure = atomfs_reconfigure,
	.free = atomfs_free_fc,
};

static int atomfs_init_fs_context(struct fs_context *fc)
{
	struct atomfs_fs_context *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	fc->fs_private = ctx;
	fc->ops = &atomfs_context_ops;
	return 0;
}

/*
 * Inodes pin dentries of the layers: they go in generic_shutdown_super(),
 * before the stack (and with it the layers' private mounts) is released.
 */
static void atomfs_kill_sb(struct super_block *sb)
{
	struct atomfs_sb_info *sbi = ATOMFS_SB(sb);

	kill_anon_super(sb);
	atomfs_free_sbi(sbi);
}

struct file_system_type atomfs_fs_type = {
	.owner = THIS_MODULE,
	.name = "atomfs",
	.init_fs_context = atomfs_init_fs_context,
	.parameters = atomfs_param_spec,
	.kill_sb = atomfs_kill_sb,
};
MODULE_ALIAS_FS("atomfs");

static void atomfs_inode_init_once(void *p)
{
	struct atomfs_inode *ai = p;

	inode_init_once(&ai->vfs_inode);
}

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

	atomfs_inode_cachep = kmem_cache_create("atomfs_inode",
						sizeof(struct atomfs_inode), 0,
						SLAB_RECLAIM_ACCOUNT |
						SLAB_ACCOUNT,
						atomfs_inode_init_once);
	if (!atomfs_inode_cachep)
		return -ENOMEM;

	err = atomfs_verify_init();
	if (err)
		goto verify_err;
	err = atomfs_blob_init();
	if (err)
		goto blob_err;
	err = atomfs_proc_init();
	if (err)
		goto proc_err;
	atomfs_fault_init();

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
	atomfs_fault_exit();
	atomfs_proc_exit();
proc_err:
	atomfs_blob_exit();
blob_err:
	atomfs_verify_exit();
verify_err:
	kmem_cache_destroy(atomfs_inode_cachep);
	return err;
}

static void __exit atomfs_exit(void)
{
	unregister_filesystem(&atomfs_fs_type);
	atomfs_ctl_exit();
	atomfs_fault_exit();
	atomfs_proc_exit();
	atomfs_blob_exit();
	atomfs_verify_exit();
	/* Inodes are freed after an RCU grace period. */
	rcu_barrier();
	kmem_cache_destroy(atomfs_inode_cachep);
}

module_init(atomfs_init);
module_exit(atomfs_exit);

MODULE_DESCRIPTION("atomfs: read-only stacking filesystem for OCI images of squashfs layers");
MODULE_AUTHOR("atomfs developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(ATOMFS_VERSION);
/* The optimised sha256 driver, where the CPU has what it needs. */
MODULE_SOFTDEP("pre: sha256_ssse3");
