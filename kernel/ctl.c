// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: the control device /dev/atomfs, through which userspace hands the
 * module its layers.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

#include "atomfs.h"

static int atomfs_ctl_open(struct inode *inode, struct file *file)
{
	/* Layers become private mounts: only the initial namespace's admin. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

static long atomfs_ctl_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	switch (cmd) {
	default:
		return -ENOTTY;
	}
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
