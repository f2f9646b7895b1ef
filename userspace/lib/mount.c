// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mount.c: mounting an atomfs image, what mount.atomfs and `atomfs mount`
 * share.  Resolve the image, check the signature policy, load the module,
 * verify and stack the layers (mount_stack.c), then mount the stack fd
 * read-only, or under an overlayfs (mount_writable.c), with nodev unless
 * -o dev.  With -N, the mount is made in another mount namespace.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "mount-int.h"

/* -N NS: a mount namespace file, or the PID of a process in it */
static int enter_ns(const char *ns)
{
	cleanup_free char *path = NULL;
	int fd, err = 0;

	path = ns[strspn(ns, "0123456789")] ?
		       strdup(ns) :
		       atomfs_asprintf("/proc/%s/ns/mnt", ns);
	if (!path)
		return atomfs_enomem();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return atomfs_err(-errno, "-N %s: cannot open %s: %s", ns, path,
				  strerror(errno));
	if (setns(fd, CLONE_NEWNS))
		err = atomfs_err(-errno,
				 "-N %s: cannot enter that mount namespace: %s",
				 ns, strerror(errno));
	close(fd);
	return err;
}

static int check_target(const char *target)
{
	struct stat st;

	if (stat(target, &st) || !S_ISDIR(st.st_mode))
		return atomfs_err(-ENOTDIR,
				  "%s: the mount point is not a directory",
				  target);
	return 0;
}

int atomfs_mount(const char *ref, const char *target,
		 const struct atomfs_mount_opts *o)
{
	struct atomfs_image_info *info = NULL;
	unsigned long flags = atomfs_mount_flags(o);
	cleanup_free char *opt = NULL;
	sigset_t block, old;
	int stack, err;

	/* with -N the target lives in the other namespace */
	if (!o->ns) {
		err = check_target(target);
		if (err)
			return err;
	}
	err = atomfs_resolve(ref, &info);
	if (err)
		return err;
	err = atomfs_mount_check_signature(info, ref, o);
	if (err)
		goto out;
	err = atomfs_mount_load_module();
	if (err)
		goto out;

	/* Every resource so far is an fd: a signal before here leaks nothing. */
	stack = atomfs_mount_create_stack(ref, info, o);
	if (stack < 0) {
		err = stack;
		goto out;
	}
	if (o->ns) {
		err = enter_ns(o->ns);
		if (!err)
			err = check_target(target);
		if (err) {
			close(stack);
			goto out;
		}
	}
	sigfillset(&block);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (o->writable) {
		err = atomfs_mount_writable(stack, ref, target, o, flags);
	} else if (!o->fake) {
		opt = atomfs_asprintf("stack=%d", stack);
		if (!opt)
			err = atomfs_enomem();
		else if (mount("none", target, "atomfs", flags | MS_RDONLY,
			       opt))
			err = atomfs_err(-errno,
					 "%s: mounting atomfs on %s failed: %s",
					 ref, target, strerror(errno));
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(stack);
out:
	atomfs_image_info_free(info);
	return err;
}
