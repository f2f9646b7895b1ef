// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mount_stack.c: from resolved layers to a stack fd.  Each layer's blob file
 * is opened read-only and handed to the kernel as it is (ATOMFS_LAYER_FILE):
 * no loop device.  One ATOMFS_IOC_CREATE_STACK takes every layer and its
 * digest; the kernel verifies each blob (or reuses a layer it already holds
 * for that digest), denies writes to it for as long as it holds it, and
 * mounts squashfs on a read-only device of its own.  The caller mounts the
 * stack fd and closes it, so a plain umount releases everything.
 *
 * Write denial stops writers through this kernel; the layout's owner can
 * still delete and replace a blob, which matters for the next mount, not
 * for this one.  A held layer is reused as it is, unless the blob is not
 * root's (a caller other than root): then ATOMFS_LAYER_REHASH.  So when root mounts, the layout directory, blobs/,
 * blobs/sha256/ and every blob must be root's alone (owned by root, not
 * writable by group or others), and blobs are opened relative to the
 * layout directory without following symlinks.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/atomfs.h>

#include "internal.h"
#include "mount-int.h"

static int parse_digest(const char *s, struct atomfs_digest *d)
{
	unsigned char *b = (unsigned char *)d->bytes;
	int i;

	memset(d, 0, sizeof(*d));
	if (!str_has_prefix(s, "sha256:") || strlen(s) != 7 + 64)
		return -EINVAL;
	for (i = 0; i < 32; i++)
		if (sscanf(s + 7 + 2 * i, "%2hhx", &b[i]) != 1)
			return -EINVAL;
	d->algo = ATOMFS_DIGEST_SHA256;
	d->size = 32;
	return 0;
}

/* Enough descriptors for one open blob per layer. */
static int raise_nofile(size_t nlayers)
{
	struct rlimit rl;
	rlim_t need = nlayers + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need)
		return atomfs_err(
			-EMFILE,
			"the image has %zu layers but RLIMIT_NOFILE allows %llu open files: raise it (ulimit -Hn)",
			nlayers, (unsigned long long)rl.rlim_max);
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) ? -errno : 0;
}

static void close_layers(struct atomfs_layer *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (l[i].fd != ATOMFS_NO_FD)
			close((int)l[i].fd);
		l[i].fd = ATOMFS_NO_FD;
	}
}

/* Root's alone: owned by root (or the caller) and not group/other-writable. */
static int check_owner(const char *path, const struct stat *st)
{
	char why[64] = "writable by group or others";

	if ((st->st_uid == 0 || st->st_uid == geteuid()) &&
	    !(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	if (st->st_uid != 0 && st->st_uid != geteuid())
		snprintf(why, sizeof(why), "owned by uid %u",
			 (unsigned int)st->st_uid);
	return atomfs_err(
		-EPERM,
		"%s is %s: whoever can write it could change a layer after the kernel verified it; make it root's alone (chown root: and chmod go-w) or copy the image into a root-owned layout",
		path, why);
}

/* DIR, DIR/blobs, DIR/blobs/sha256, checked, without following symlinks */
static int open_blobdir(const struct atomfs_image_info *info)
{
	static const char *const names[] = { "blobs", "sha256" };
	cleanup_free char *shown = strdup(info->dir);
	struct stat st;
	int fd, next, err;
	size_t i;

	if (!shown)
		return atomfs_enomem();
	fd = open(info->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (i = 0;; i++) {
		if (fd < 0)
			return atomfs_err(-errno, "%s: %s", shown,
					  strerror(errno));
		if (fstat(fd, &st)) {
			err = atomfs_err(-errno, "%s: %s", shown,
					 strerror(errno));
			close(fd);
			return err;
		}
		err = check_owner(shown, &st);
		if (err || i == ARRAY_SIZE(names)) {
			if (err)
				close(fd);
			return err ? err : fd;
		}
		next = openat(fd, names[i],
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		free(shown);
		shown = atomfs_asprintf("%s/%s", info->dir,
					i ? "blobs/sha256" : "blobs");
		if (!shown) {
			if (fd >= 0)
				close(fd);
			return atomfs_enomem();
		}
	}
}

/* Check the blobs and open each one read-only for the kernel. */
static int prepare_layers(const struct atomfs_image_info *info,
			  struct atomfs_layer *l)
{
	struct stat st;
	size_t i;
	int dir, fd, err = 0;

	for (i = 0; i < info->nlayers; i++)
		l[i].fd = ATOMFS_NO_FD;
	dir = open_blobdir(info);
	if (dir < 0)
		return dir;
	for (i = 0; i < info->nlayers && !err; i++) {
		const struct atomfs_image_layer *li = &info->layers[i];

		if (parse_digest(li->digest, &l[i].digest)) {
			err = atomfs_err(
				-EINVAL,
				"layer %zu: unsupported digest %s (atomfs verifies sha256)",
				i, li->digest);
			break;
		}
		/* O_NONBLOCK: a FIFO in the layout must not hang us. */
		fd = openat(dir, li->digest + 7,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			err = atomfs_err(
				-errno,
				"layer %zu (%s): blob %s: %s; the layout is incomplete, copy the image again",
				i, li->digest, li->path, strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		}
		if (!S_ISREG(st.st_mode))
			err = atomfs_err(
				-EPERM,
				"layer %zu (%s): blob %s is not a regular file",
				i, li->digest, li->path);
		else if ((uint64_t)st.st_size != li->size || st.st_size % 4096)
			err = atomfs_err(
				-EMSGSIZE,
				"layer %zu (%s): blob %s is %lld bytes (manifest: %llu); atomfs needs blobs padded to a multiple of 4096 bytes: rebuild the layer with 'atomfs build' or 'atomfs import'",
				i, li->digest, li->path, (long long)st.st_size,
				(unsigned long long)li->size);
		else
			err = check_owner(li->path, &st);
		/* The kernel reads through this file: plain blocking reads. */
		if (!err && fcntl(fd, F_SETFL, 0))
			err = atomfs_err(-errno, "blob %s: %s", li->path,
					 strerror(errno));
		if (err) {
			close(fd);
			break;
		}
		/*
		 * Also for a layer the kernel already holds: it then reuses
		 * its own, and the file only proves that nobody writes it.
		 * A blob root does not own (a caller other than root) has a
		 * held layer hashed again rather than trusted (issue 11).
		 */
		l[i].fd = (uint32_t)fd;
		l[i].flags = ATOMFS_LAYER_FILE;
		if (st.st_uid != 0)
			l[i].flags |= ATOMFS_LAYER_REHASH;
		l[i].size = li->size;
	}
	close(dir);
	return err;
}

/*
 * Does the module know ATOMFS_LAYER_FILE? A module that does looks at the
 * fd of such a layer (an O_PATH fd is not one it takes: EBADF); one that
 * does not refuses the unknown flag first (EINVAL). Nothing is created.
 */
static bool module_takes_files(int ctl)
{
	struct atomfs_layer l = { .flags = ATOMFS_LAYER_FILE, .size = 4096 };
	struct atomfs_create_stack cs = { .nr_layers = 1 };
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), ret;

	if (fd < 0)
		return true; /* cannot tell: say nothing about the module */
	l.fd = (uint32_t)fd;
	l.digest.algo = ATOMFS_DIGEST_SHA256;
	l.digest.size = 32;
	cs.layers = (uintptr_t)&l;
	ret = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, &cs);
	if (ret >= 0)
		close(ret);
	close(fd);
	return ret >= 0 || errno != EINVAL;
}

static int stack_error(int ctl, int err, const char *ref,
		       const struct atomfs_image_info *info, uint32_t failed)
{
	const struct atomfs_image_layer *li =
		failed < info->nlayers ? &info->layers[failed] : NULL;

	if (err == -EINVAL && !module_takes_files(ctl))
		return atomfs_err(
			err,
			"%s: the loaded atomfs module is too old: it does not take layer blobs as files (ATOMFS_LAYER_FILE); unmount every atomfs mount and load the module of atomfs " ATOMFS_VERSION
			" (modprobe -r atomfs && modprobe atomfs, after installing atomfs-dkms " ATOMFS_VERSION
			")",
			ref);
	if (err == -ETXTBSY && li)
		return atomfs_err(
			err,
			"%s: layer %u (%s): the blob %s is open for writing (by some process): atomfs refuses a layer that can change while it is mounted; close whatever writes it ('fuser -v %s' names it) and mount again",
			ref, failed, li->digest, li->path, li->path);
	if (err == -EBADMSG && li)
		return atomfs_err(
			err,
			"%s: layer %u (%s) does not match its digest: the blob %s was changed or damaged; run 'atomfs fsck %s'",
			ref, failed, li->digest, li->path, info->dir);
	if (li)
		return atomfs_err(err,
				  "%s: the kernel refused layer %u (%s): %s",
				  ref, failed, li->digest, strerror(-err));
	return atomfs_err(err, "%s: the kernel refused the stack: %s", ref,
			  strerror(-err));
}

static char *make_label(const char *ref, const char *manifest)
{
	char *label = atomfs_asprintf("%s@%s", ref, manifest);
	size_t len = label ? strlen(label) : 0;

	/* Keep the digest whole; shorten the reference from the left. */
	if (len >= ATOMFS_LABEL_MAX)
		memmove(label, label + len - (ATOMFS_LABEL_MAX - 1),
			ATOMFS_LABEL_MAX);
	return label;
}

int atomfs_mount_create_stack(const char *ref,
			      const struct atomfs_image_info *info,
			      const struct atomfs_mount_opts *o)
{
	struct atomfs_create_stack cs = { 0 };
	cleanup_free struct atomfs_layer *l = NULL;
	cleanup_free char *label = NULL;
	unsigned int max = atomfs_mount_max_layers();
	int ctl, fd, err;

	/* before any blob is opened */
	if (max && info->nlayers > max)
		return atomfs_err(
			-E2BIG,
			"%s has %zu layers but the atomfs module takes at most %u: raise its max_layers parameter (/sys/module/atomfs/parameters/max_layers) to mount it",
			ref, info->nlayers, max);
	err = raise_nofile(info->nlayers);
	if (err)
		return err;
	ctl = open(ATOMFS_CTL_DEVICE, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return atomfs_err(-errno, "%s: %s", ATOMFS_CTL_DEVICE,
				  strerror(errno));
	l = calloc(info->nlayers, sizeof(*l));
	label = make_label(ref, info->manifest_digest);
	if (!l || !label) {
		close(ctl);
		return atomfs_enomem();
	}
	err = prepare_layers(info, l);
	if (err)
		goto out;

	cs.whiteout = o->whiteout;
	cs.nr_layers = (uint32_t)info->nlayers;
	cs.failed_layer = ATOMFS_NO_LAYER;
	cs.layers = (uintptr_t)l;
	cs.label = (uintptr_t)label;
	fd = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, &cs);
	err = fd < 0 ? -errno : fd;
	if (err < 0)
		stack_error(ctl, err, ref, info, cs.failed_layer);
out:
	close_layers(l, info->nlayers);
	close(ctl);
	return err;
}
