// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: the control device /dev/atomfs, through which userspace hands the
 * module its layers.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "atomfs.h"

static int atomfs_ctl_open(struct inode *inode, struct file *file)
{
	/* Layers become private mounts: only the initial namespace's admin. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

static long atomfs_ioctl_create_stack(struct atomfs_create_stack __user *uarg)
{
	struct atomfs_create_stack args;
	u32 failed_layer;
	int ret;

	if (copy_from_user(&args, uarg, sizeof(args)))
		return -EFAULT;
	ret = atomfs_stack_create(&args, &failed_layer);
	/* failed_layer is an output on failure only: a new fd is never lost. */
	if (ret < 0 && put_user(failed_layer, &uarg->failed_layer))
		return -EFAULT;
	return ret;
}

static long atomfs_ioctl_query_layer(struct atomfs_query_layer __user *uarg)
{
	struct atomfs_query_layer q;

	if (copy_from_user(&q, uarg, sizeof(q)))
		return -EFAULT;
	if (q.reserved32 || memchr_inv(q.reserved, 0, sizeof(q.reserved)))
		return -EINVAL;
	if (q.digest.algo != ATOMFS_DIGEST_SHA256 || q.digest.size != 32 ||
	    memchr_inv((u8 *)q.digest.bytes + 32, 0, sizeof(q.digest.bytes) - 32))
		return -EINVAL;
	atomfs_held_query(&q);
	return copy_to_user(uarg, &q, sizeof(q)) ? -EFAULT : 0;
}

static long atomfs_ctl_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	if (cmd != ATOMFS_IOC_CREATE_STACK && cmd != ATOMFS_IOC_QUERY_LAYER)
		return -ENOTTY;
	/*
	 * Checked again at each call: the fd may have been passed to, or kept
	 * by, a task without the capability.
	 */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (cmd == ATOMFS_IOC_CREATE_STACK)
		return atomfs_ioctl_create_stack(argp);
	return atomfs_ioctl_query_layer(argp);
}

static const struct file_operations atomfs_ctl_fops = {
	.owner = THIS_MODULE,
	.open = atomfs_ctl_open,
	.unlocked_ioctl = atomfs_ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice atomfs_ctl_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "atomfs",
	.fops = &atomfs_ctl_fops,
	.mode = 0600,
};

int atomfs_ctl_init(void)
{
	return misc_register(&atomfs_ctl_dev);
}

void atomfs_ctl_exit(void)
{
	misc_deregister(&atomfs_ctl_dev);
}
