/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Mounting atomfs images: what mount.atomfs and `atomfs mount|umount|status`
 * share. Functions return 0 or -errno and leave a message with atomfs_err().
 */
#ifndef ATOMFS_MOUNT_H
#define ATOMFS_MOUNT_H

#include <jansson.h>
#include <stdbool.h>

#include "libatomfs.h"

#define ATOMFS_POLICY_FILE "/etc/atomfs/policy.json"
#define ATOMFS_RUN_DIR "/run/atomfs"

struct atomfs_mount_opts {
	unsigned long ms_flags; /* MS_* flags passed through to mount(2) */
	bool dev; /* -o dev: device nodes work (default: MS_NODEV) */
	bool writable; /* an overlayfs with a tmpfs upper on top */
	char *persist; /* writable, upper and work dirs kept here */
	char *pubkey; /* also require a valid signature by this key */
	unsigned int whiteout; /* ATOMFS_WHITEOUT_*, 0 for both */
	bool sloppy; /* -s: ignore unknown options */
	bool fake; /* -f: do everything but the mount */
	bool verbose; /* -v */
	char *ns; /* -N: mount in this mount namespace (a path or a PID) */
	const char *policy; /* the policy file; NULL: ATOMFS_POLICY_FILE */
};

/* Parse a comma-separated -o list into @o (which keeps earlier settings). */
ATOMFS_EXPORT int atomfs_mount_opts_parse(struct atomfs_mount_opts *o,
					  const char *opts);
ATOMFS_EXPORT void atomfs_mount_opts_free(struct atomfs_mount_opts *o);
/* the MS_* flags to mount with: MS_NODEV unless -o dev */
ATOMFS_EXPORT unsigned long
atomfs_mount_flags(const struct atomfs_mount_opts *o);

/* Mount image @ref ([oci:]DIR:TAG) on @target. */
ATOMFS_EXPORT int atomfs_mount(const char *ref, const char *target,
			       const struct atomfs_mount_opts *o);
/* Unmount @target (read-only or writable). */
ATOMFS_EXPORT int atomfs_umount(const char *target);
/*
 * What the kernel holds for the mount at @target, as JSON: target, mode
 * (read-only, writable, writable persistent), stack_id, label, layers
 * [{index, digest, verified, shared, size}] base first.  Caller frees.
 */
ATOMFS_EXPORT int atomfs_status(const char *target, json_t **out);

#endif /* ATOMFS_MOUNT_H */
