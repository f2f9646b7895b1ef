// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: audit. What a stack is made of, for a program (ATOMFS_IOC_GET_INFO
 * on any file of a mounted atomfs) and for a person (/proc/fs/atomfs/<id>/
 * layers), and the module's counters (/proc/fs/atomfs/stats).
 */
#include <linux/capability.h>
#include <linux/crypto.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>

#include "atomfs.h"

static struct proc_dir_entry *atomfs_proc_root;

static u32 atomfs_layer_info_flags(const struct atomfs_lower *lower)
{
	u32 flags = READ_ONCE(lower->flags) &
		    (ATOMFS_INFO_VERIFIED | ATOMFS_INFO_DIR);

	if (refcount_read(&lower->ref) > 1)
		flags |= ATOMFS_INFO_SHARED;
	return flags;
}

static int atomfs_layers_show(struct seq_file *m, void *v)
{
	struct atomfs_stack *stack = m->private;
	unsigned int i;

	seq_puts(m, "label ");
	seq_escape(m, stack->label ?: "", " \t\n\\");
	seq_printf(m, "\nwhiteout %s%s\nlayers %u\n",
		   stack->whiteout & ATOMFS_WHITEOUT_OVERLAY ? "overlay" : "",
		   stack->whiteout == ATOMFS_WHITEOUT_BOTH ? ",oci" :
		   stack->whiteout & ATOMFS_WHITEOUT_OCI ? "oci" : "",
		   stack->nr_layers);
	seq_puts(m, "# index digest verified shared size\n");
	for (i = 0; i < stack->nr_layers; i++) {
		const struct atomfs_lower *lower = stack->layers[i];
		u32 flags = atomfs_layer_info_flags(lower);

		seq_printf(m, "%u ", i);
		if (lower->digest.algo == ATOMFS_DIGEST_SHA256)
			seq_printf(m, "sha256:%*phN", 32, lower->digest.bytes);
		else
			seq_puts(m, flags & ATOMFS_INFO_DIR ? "dir" : "none");
		seq_printf(m, " %s %s %llu\n",
			   flags & ATOMFS_INFO_VERIFIED ? "verified" : "unverified",
			   flags & ATOMFS_INFO_SHARED ? "shared" : "private",
			   lower->size);
	}
	return 0;
}

int atomfs_stack_proc_add(struct atomfs_stack *stack)
{
	char name[24];

	snprintf(name, sizeof(name), "%llu", stack->id);
	stack->proc = proc_mkdir(name, atomfs_proc_root);
	if (!stack->proc)
		return -ENOMEM;
	if (!proc_create_single_data("layers", 0400, stack->proc,
				     atomfs_layers_show, stack)) {
		proc_remove(stack->proc);
		stack->proc = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Waits for readers in progress: the stack may be freed afterwards. */
void atomfs_stack_proc_remove(struct atomfs_stack *stack)
{
	proc_remove(stack->proc);
	stack->proc = NULL;
}

static int atomfs_stats_show(struct seq_file *m, void *v)
{
	char driver[CRYPTO_MAX_ALG_NAME];

	atomfs_sha256_driver_name(driver, sizeof(driver));
	seq_printf(m, "bytes_hashed %lld\nlayers_verified %lld\nlayers_reused %lld\nverifications_aborted %lld\nmax_workers %d\nsha256_driver %s\nshared_layer_waits %lld\ndir_index_overflows %lld\n",
		   atomic64_read(&atomfs_stats.bytes_hashed),
		   atomic64_read(&atomfs_stats.layers_verified),
		   atomic64_read(&atomfs_stats.layers_reused),
		   atomic64_read(&atomfs_stats.aborted),
		   atomic_read(&atomfs_stats.max_workers), driver,
		   atomic64_read(&atomfs_stats.held_waits),
		   atomic64_read(&atomfs_stats.dir_overflows));
	return 0;
}

int __init atomfs_proc_init(void)
{
	atomfs_proc_root = proc_mkdir("fs/atomfs", NULL);
	if (!atomfs_proc_root)
		return -ENOMEM;
	if (!proc_create_single("stats", 0444, atomfs_proc_root,
				atomfs_stats_show)) {
		proc_remove(atomfs_proc_root);
		return -ENOMEM;
	}
	return 0;
}

void atomfs_proc_exit(void)
{
	proc_remove(atomfs_proc_root);
}

static int atomfs_get_info(struct super_block *sb,
			   struct atomfs_info __user *uarg)
{
	struct atomfs_stack *stack = atomfs_stack(sb);
	struct atomfs_layer_info __user *ulayers;
	struct atomfs_layer_info li;
	struct atomfs_info info;
	u32 label_size;
	unsigned int i;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	if (info.flags || memchr_inv(info.reserved, 0, sizeof(info.reserved)))
		return -EINVAL;

	label_size = stack->label ? strlen(stack->label) + 1 : 1;
	if (info.nr_layers < stack->nr_layers || info.label_size < label_size) {
		info.nr_layers = stack->nr_layers;
		info.label_size = label_size;
		info.whiteout = stack->whiteout;
		info.id = stack->id;
		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : -E2BIG;
	}

	if (copy_to_user(u64_to_user_ptr(info.label), stack->label ?: "",
			 label_size))
		return -EFAULT;
	ulayers = u64_to_user_ptr(info.layers);
	for (i = 0; i < stack->nr_layers; i++) {
		const struct atomfs_lower *lower = stack->layers[i];

		memset(&li, 0, sizeof(li));
		li.index = i;
		li.flags = atomfs_layer_info_flags(lower);
		li.size = lower->size;
		li.digest = lower->digest;
		if (copy_to_user(&ulayers[i], &li, sizeof(li)))
			return -EFAULT;
	}
	info.nr_layers = stack->nr_layers;
	info.label_size = label_size;
	info.whiteout = stack->whiteout;
	info.id = stack->id;
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

/* ioctls on files and directories of a mounted atomfs. */
long atomfs_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case ATOMFS_IOC_GET_INFO:
		return atomfs_get_info(file_inode(file)->i_sb,
				       (struct atomfs_info __user *)arg);
	default:
		return -ENOTTY;
	}
}
