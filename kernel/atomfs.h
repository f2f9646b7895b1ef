/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomfs: private declarations, grouped by the file that defines them.
 * Data structures, their lifetimes and locking are described in
 * Documentation/filesystems/atomfs.rst.
 */
#ifndef _ATOMFS_H
#define _ATOMFS_H

#undef pr_fmt
#define pr_fmt(fmt) "atomfs: " fmt

#include <linux/fs.h>
#include <uapi/linux/atomfs.h>

#include "compat.h"

/* super.c */
extern struct file_system_type atomfs_fs_type;

/* ctl.c */
int atomfs_ctl_init(void);
void atomfs_ctl_exit(void);

#endif /* _ATOMFS_H */
