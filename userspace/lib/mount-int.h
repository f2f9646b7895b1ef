/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mount-int.h: the mount code, one concern per file (prototypes grouped
 * by file).  Everything returns 0 or -errno with a message (atomfs_err).
 */
#ifndef ATOMFS_MOUNT_INT_H
#define ATOMFS_MOUNT_INT_H

#include <stdint.h>

#include "libatomfs.h"
#include "mount.h"

/* mount_policy.c: /etc/atomfs/policy.json and -o pubkey= */
int atomfs_mount_check_signature(const struct atomfs_image_info *info,
				 const char *ref,
				 const struct atomfs_mount_opts *o);

/* mount_module.c */
int atomfs_mount_load_module(void);
/* the module's max_layers parameter, 0 if unknown */
unsigned int atomfs_mount_max_layers(void);

/* mount_stack.c: verify and stack the layers; returns the stack fd */
int atomfs_mount_create_stack(const char *ref,
			      const struct atomfs_image_info *info,
			      const struct atomfs_mount_opts *o);

/* mount_writable.c */
int atomfs_mount_writable(int stack, const char *ref, const char *target,
			  const struct atomfs_mount_opts *o,
			  unsigned long ms_flags);
char *atomfs_mount_record_path(const char *target);

#endif
