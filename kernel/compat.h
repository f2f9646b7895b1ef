/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomfs: every difference between kernel versions lives here, as small
 * wrappers named after what they do. The module targets 6.1 (Debian
 * bookworm) and is kept ready for later API changes:
 *   6.3  struct mnt_idmap replaces user_namespace in inode operations;
 *   6.5  backing_file_open() replaces open_with_fake_path(),
 *        generic_file_splice_read() goes;
 *   6.10 block devices are opened as files (bd_inode goes).
 */
#ifndef _ATOMFS_COMPAT_H
#define _ATOMFS_COMPAT_H

#include <linux/version.h>

#endif /* _ATOMFS_COMPAT_H */
