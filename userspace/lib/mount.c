// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Mounting atomfs images. For each layer of the resolved image: reuse the
 * layer if the kernel already holds its digest, else bind the blob to a new
 * read-only autoclear loop device. Then one ATOMFS_IOC_CREATE_STACK with
 * every layer and its digest (the kernel verifies them), one mount with the
 * stack fd, and every fd closed: the mount then holds everything it needs,
 * and a plain umount releases it all.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libkmod.h>
#include <limits.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/atomfs.h>

#include "internal.h"
#include "mount.h"

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

/* ---- options ---- */

static const struct {
	const char *name;
	unsigned long set, clear;
} vfs_flags[] = {
	{ "ro", MS_RDONLY, 0 },
	{ "rw", 0, 0 }, /* atomfs itself is always read-only: see "writable" */
	{ "nosuid", MS_NOSUID, 0 },
	{ "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },
	{ "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },
	{ "exec", 0, MS_NOEXEC },
	{ "noatime", MS_NOATIME, 0 },
	{ "atime", 0, MS_NOATIME },
	{ "nodiratime", MS_NODIRATIME, 0 },
	{ "diratime", 0, MS_NODIRATIME },
	{ "relatime", MS_RELATIME, 0 },
	{ "norelatime", 0, MS_RELATIME },
	{ "strictatime", MS_STRICTATIME, 0 },
	{ "sync", MS_SYNCHRONOUS, 0 },
	{ "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },
	{ "silent", MS_SILENT, 0 },
	{ "loud", 0, MS_SILENT },
};

/* Accepted and ignored, as mount(8) does. */
static bool ignored_option(const char *o)
{
	return !strcmp(o, "defaults") || !strcmp(o, "nofail") ||
	       !strcmp(o, "_netdev") || !strcmp(o, "auto") ||
	       !strcmp(o, "noauto") || !strcmp(o, "nouser") ||
	       str_has_prefix(o, "x-") || str_has_prefix(o, "comment=");
}

static int set_string(char **dst, const char *val, const char *name)
{
	if (!*val)
		return atomfs_err(-EINVAL, "option %s= needs a value", name);
	free(*dst);
	*dst = xstrdup(val);
	return 0;
}

static int parse_one(struct atomfs_mount_opts *o, const char *opt)
{
	const char *eq = strchr(opt, '=');
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vfs_flags); i++) {
		if (!strcmp(opt, vfs_flags[i].name)) {
			o->ms_flags = (o->ms_flags | vfs_flags[i].set) &
				      ~vfs_flags[i].clear;
			return 0;
		}
	}
	if (!strcmp(opt, "writable")) {
		o->writable = true;
		return 0;
	}
	if (eq && !strncmp(opt, "persist=", 8)) {
		o->writable = true;
		return set_string(&o->persist, eq + 1, "persist");
	}
	if (eq && !strncmp(opt, "pubkey=", 7))
		return set_string(&o->pubkey, eq + 1, "pubkey");
	if (eq && !strncmp(opt, "whiteouts=", 10)) {
		if (!strcmp(eq + 1, "both"))
			o->whiteout = ATOMFS_WHITEOUT_BOTH;
		else if (!strcmp(eq + 1, "overlay"))
			o->whiteout = ATOMFS_WHITEOUT_OVERLAY;
		else if (!strcmp(eq + 1, "oci"))
			o->whiteout = ATOMFS_WHITEOUT_OCI;
		else
			return atomfs_err(-EINVAL, "whiteouts=%s: use both, overlay or oci", eq + 1);
		return 0;
	}
	if (ignored_option(opt) || o->sloppy)
		return 0;
	return atomfs_err(-EINVAL,
			  "unknown mount option '%s' (atomfs takes writable, persist=DIR, pubkey=PATH, whiteouts=both|overlay|oci and the usual VFS flags; see mount.atomfs(8))",
			  opt);
}

int atomfs_mount_opts_parse(struct atomfs_mount_opts *o, const char *opts)
{
	cleanup_free char *copy = xstrdup(opts);
	char *save = NULL, *tok;
	int err;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		err = parse_one(o, tok);
		if (err)
			return err;
	}
	return 0;
}

void atomfs_mount_opts_free(struct atomfs_mount_opts *o)
{
	free(o->persist);
	free(o->pubkey);
	o->persist = o->pubkey = NULL;
}

/* ---- policy: /etc/atomfs/policy.json ---- */

/*
 * {"require_signature": true, "trusted_keys": ["/etc/atomfs/keys/a.pem"]}
 * ATOMFS_POLICY names another file (tests use it).
 */
static int check_signature(const struct atomfs_image_info *info, const char *ref,
			   const struct atomfs_mount_opts *o)
{
	const char *file = getenv("ATOMFS_POLICY") ?: ATOMFS_POLICY_FILE;
	json_t *policy = NULL, *keys, *k;
	bool require = false;
	json_error_t jerr;
	size_t i;
	int err;

	if (access(file, F_OK) == 0) {
		policy = json_load_file(file, 0, &jerr);
		if (!policy || !json_is_object(policy)) {
			json_decref(policy);
			return atomfs_err(-EINVAL, "%s: not a valid policy (line %d: %s); fix or remove it",
					  file, jerr.line, jerr.text);
		}
		require = json_is_true(json_object_get(policy, "require_signature"));
	}

	err = 0;
	if (o->pubkey) {
		err = atomfs_verify_signature(info, o->pubkey);
		if (err)
			atomfs_err_prefix("%s: signature check with %s failed", ref, o->pubkey);
	} else if (require) {
		keys = json_object_get(policy, "trusted_keys");
		err = atomfs_err(-ENOKEY, "%s: the policy %s requires a signature, but it names no trusted_keys",
				 ref, file);
		json_array_foreach(keys, i, k) {
			if (!json_is_string(k))
				continue;
			err = atomfs_verify_signature(info, json_string_value(k));
			if (!err)
				break;
		}
		if (err)
			atomfs_err_prefix("%s: the policy %s requires a signature by a trusted key", ref, file);
	}
	json_decref(policy);
	return err;
}

/* ---- the kernel module ---- */

static int load_module(void)
{
	struct kmod_module *mod = NULL;
	struct kmod_ctx *ctx;
	int err;

	if (access(ATOMFS_CTL_DEVICE, F_OK) == 0)
		return 0;
	ctx = kmod_new(NULL, NULL);
	if (!ctx)
		return atomfs_err(-ENOMEM, "cannot start libkmod");
	err = kmod_module_new_from_name(ctx, "atomfs", &mod);
	if (!err)
		err = kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL, NULL);
	if (err == -ENOENT || err == -ENOSYS)
		err = atomfs_err(-ENOENT, "the atomfs kernel module is not installed for this kernel: install it with DKMS (dkms install atomfs/0.1.0) or 'make install'");
	else if (err < 0)
		err = atomfs_err(err, "cannot load the atomfs kernel module: %s", strerror(-err));
	kmod_module_unref(mod);
	kmod_unref(ctx);
	if (!err && access(ATOMFS_CTL_DEVICE, F_OK))
		err = atomfs_err(-ENODEV, "the atomfs module is loaded but %s is missing (is devtmpfs mounted on /dev?)",
				 ATOMFS_CTL_DEVICE);
	return err;
}

/* ---- layers ---- */

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

/* A read-only, autoclear loop device over @path; returns its fd. */
static int loop_attach(const char *path)
{
	struct loop_config cfg = { 0 };
	int ctl, blob, dev = -1, n, err;
	char name[32];

	blob = open(path, O_RDONLY | O_CLOEXEC);
	if (blob < 0)
		return atomfs_err(-errno, "%s: cannot open the layer blob: %s", path, strerror(errno));
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		err = atomfs_err(-errno, "/dev/loop-control: %s (is the loop module available?)", strerror(errno));
		close(blob);
		return err;
	}
	cfg.fd = blob;
	/* Direct I/O when the backing filesystem can: no second page cache. */
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
	for (;;) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			err = atomfs_err(-errno, "no free loop device: %s", strerror(errno));
			break;
		}
		snprintf(name, sizeof(name), "/dev/loop%d", n);
		dev = open(name, O_RDONLY | O_CLOEXEC);
		if (dev < 0) {
			err = atomfs_err(-errno, "%s: %s", name, strerror(errno));
			break;
		}
		if (ioctl(dev, LOOP_CONFIGURE, &cfg) == 0) {
			err = dev;
			break;
		}
		err = -errno;
		close(dev);
		dev = -1;
		if (err != -EBUSY) { /* EBUSY: another process took it first */
			err = atomfs_err(err, "%s: cannot bind %s: %s", name, path, strerror(-err));
			break;
		}
	}
	close(ctl);
	close(blob);
	return err;
}

static bool layer_is_held(int ctl, const struct atomfs_digest *d)
{
	struct atomfs_query_layer q = { .digest = *d };

	return ioctl(ctl, ATOMFS_IOC_QUERY_LAYER, &q) == 0 && (q.flags & ATOMFS_QUERY_HELD);
}

/* Enough descriptors for a loop device per layer. */
static int raise_nofile(size_t nlayers)
{
	struct rlimit rl;
	rlim_t need = nlayers + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need)
		return atomfs_err(-EMFILE, "the image has %zu layers but RLIMIT_NOFILE allows %llu open files: raise it (ulimit -Hn)",
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

/* Check the blobs and give each layer a loop device, or none if held. */
static int prepare_layers(int ctl, const struct atomfs_image_info *info,
			  struct atomfs_layer *l)
{
	struct stat st;
	size_t i;
	int fd;

	for (i = 0; i < info->nlayers; i++)
		l[i].fd = ATOMFS_NO_FD;
	for (i = 0; i < info->nlayers; i++) {
		const struct atomfs_image_layer *li = &info->layers[i];

		if (parse_digest(li->digest, &l[i].digest))
			return atomfs_err(-EINVAL, "layer %zu: unsupported digest %s (atomfs verifies sha256)",
					  i, li->digest);
		if (stat(li->path, &st))
			return atomfs_err(-errno, "layer %zu (%s): blob %s: %s; the layout is incomplete, copy the image again",
					  i, li->digest, li->path, strerror(errno));
		if ((uint64_t)st.st_size != li->size || st.st_size % 4096)
			return atomfs_err(-EMSGSIZE, "layer %zu (%s): blob %s is %lld bytes (manifest: %llu); atomfs needs blobs padded to a multiple of 4096 bytes: rebuild the layer with 'atomfs build' or 'atomfs import'",
					  i, li->digest, li->path, (long long)st.st_size,
					  (unsigned long long)li->size);
		l[i].size = li->size;
		if (layer_is_held(ctl, &l[i].digest))
			continue; /* the kernel reuses it: no loop device */
		fd = loop_attach(li->path);
		if (fd < 0)
			return fd;
		l[i].fd = (uint32_t)fd;
	}
	return 0;
}

static char *make_label(const char *ref, const char *manifest)
{
	char *label = xasprintf("%s@%s", ref, manifest);
	size_t len = strlen(label);

	/* Keep the digest whole; shorten the reference from the left. */
	if (len >= ATOMFS_LABEL_MAX)
		memmove(label, label + len - (ATOMFS_LABEL_MAX - 1), ATOMFS_LABEL_MAX);
	return label;
}

/* Returns the stack fd. */
static int create_stack(const char *ref, const struct atomfs_image_info *info,
			const struct atomfs_mount_opts *o)
{
	struct atomfs_create_stack cs = { 0 };
	cleanup_free struct atomfs_layer *l = NULL;
	cleanup_free char *label = NULL;
	int ctl, fd, err;

	err = raise_nofile(info->nlayers);
	if (err)
		return err;
	ctl = open(ATOMFS_CTL_DEVICE, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return atomfs_err(-errno, "%s: %s", ATOMFS_CTL_DEVICE, strerror(errno));
	l = xcalloc(info->nlayers, sizeof(*l));
	err = prepare_layers(ctl, info, l);
	if (err)
		goto out;

	label = make_label(ref, info->manifest_digest);
	cs.whiteout = o->whiteout;
	cs.nr_layers = (uint32_t)info->nlayers;
	cs.layers = (uintptr_t)l;
	cs.label = (uintptr_t)label;
	fd = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, &cs);
	err = fd < 0 ? -errno : fd;
	if (err == -EBADMSG && cs.failed_layer < info->nlayers)
		atomfs_err(err, "%s: layer %u (%s) does not match its digest: the blob %s was changed or damaged; run 'atomfs fsck %s'",
			   ref, cs.failed_layer, info->layers[cs.failed_layer].digest,
			   info->layers[cs.failed_layer].path, info->dir);
	else if (err < 0 && cs.failed_layer < info->nlayers)
		atomfs_err(err, "%s: the kernel refused layer %u (%s): %s", ref, cs.failed_layer,
			   info->layers[cs.failed_layer].digest, strerror(-err));
	else if (err < 0)
		atomfs_err(err, "%s: the kernel refused the stack: %s", ref, strerror(-err));
out:
	close_layers(l, info->nlayers);
	close(ctl);
	return err;
}

/* ---- writable mounts ---- */

static bool is_mount_point(const char *path)
{
	struct stat a, b;
	cleanup_free char *parent = xasprintf("%s/..", path);

	return !stat(path, &a) && !stat(parent, &b) && a.st_dev != b.st_dev;
}

/* /run/atomfs, a private mount so that nothing staged there propagates. */
static int run_dir(void)
{
	int err = mkdir_p(ATOMFS_RUN_DIR "/mounts", 0700);

	if (err)
		return atomfs_err(err, "%s: cannot create it", ATOMFS_RUN_DIR);
	if (!is_mount_point(ATOMFS_RUN_DIR) &&
	    mount(ATOMFS_RUN_DIR, ATOMFS_RUN_DIR, NULL, MS_BIND, NULL))
		return atomfs_err(-errno, "%s: cannot bind-mount it: %s", ATOMFS_RUN_DIR, strerror(errno));
	if (mount(NULL, ATOMFS_RUN_DIR, NULL, MS_PRIVATE, NULL))
		return atomfs_err(-errno, "%s: cannot make it private: %s", ATOMFS_RUN_DIR, strerror(errno));
	return 0;
}

static char *record_path(const char *target)
{
	char *p = xcalloc(1, sizeof(ATOMFS_RUN_DIR "/mounts/") + 2 * strlen(target) + 8);
	size_t i, n = strlen(strcpy(p, ATOMFS_RUN_DIR "/mounts/"));

	for (i = 0; target[i]; i++)
		n += (size_t)sprintf(p + n, "%02x", (unsigned char)target[i]);
	strcpy(p + n, ".json");
	return p;
}

static uint64_t stack_id_of(int fd)
{
	struct atomfs_info info = { 0 };

	if (ioctl(fd, ATOMFS_IOC_GET_INFO, &info) && errno != E2BIG)
		return 0;
	return info.id;
}

/*
 * overlayfs on 6.1 takes its lower layer by path: stage the atomfs mount in
 * /run/atomfs, mount overlayfs on the target, then detach the staging
 * mounts (overlayfs holds its own private clones of them).
 */
static int mount_writable(int stack, const char *ref, const char *target,
			  const struct atomfs_mount_opts *o)
{
	char stage[] = ATOMFS_RUN_DIR "/stage.XXXXXX";
	char upper[] = ATOMFS_RUN_DIR "/upper.XXXXXX";
	cleanup_free char *opt = NULL, *ovl = NULL, *up = NULL, *work = NULL;
	cleanup_free char *rec = NULL, *json = NULL;
	bool staged = false, tmpfs = false;
	uint64_t id = 0;
	int err, dfd;

	err = run_dir();
	if (err)
		return err;
	if (!mkdtemp(stage))
		return atomfs_err(-errno, "%s: %s", stage, strerror(errno));
	opt = xasprintf("stack=%d", stack);
	if (mount("none", stage, "atomfs", MS_RDONLY, opt)) {
		err = atomfs_err(-errno, "%s: mounting atomfs failed: %s", ref, strerror(errno));
		goto out;
	}
	staged = true;
	dfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		id = stack_id_of(dfd);
		close(dfd);
	}

	if (o->persist) {
		up = path_join(o->persist, "upper");
		work = path_join(o->persist, "work");
	} else {
		if (!mkdtemp(upper)) {
			err = atomfs_err(-errno, "%s: %s", upper, strerror(errno));
			goto out;
		}
		if (mount("tmpfs", upper, "tmpfs", 0, "mode=0755")) {
			err = atomfs_err(-errno, "%s: mounting tmpfs failed: %s", upper, strerror(errno));
			rmdir(upper);
			goto out;
		}
		tmpfs = true;
		up = path_join(upper, "upper");
		work = path_join(upper, "work");
	}
	if ((err = mkdir_p(up, 0755)) || (err = mkdir_p(work, 0755))) {
		atomfs_err(err, "%s: cannot create the upper and work directories: %s",
			   o->persist ? o->persist : upper, strerror(-err));
		goto out;
	}
	ovl = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", stage, up, work);
	if (!o->fake && mount("overlay", target, "overlay", o->ms_flags & ~MS_RDONLY, ovl)) {
		err = atomfs_err(-errno, "%s: mounting overlayfs on %s failed: %s", ref, target, strerror(errno));
		goto out;
	}
	/* What `atomfs status` needs: overlayfs passes no atomfs ioctl through. */
	rec = record_path(target);
	json = xasprintf("{\"target\": \"%s\", \"stack_id\": %llu, \"persist\": %s}\n", target,
			 (unsigned long long)id, o->persist ? "true" : "false");
	write_file_atomic(rec, json, strlen(json));
	err = 0;
out:
	if (tmpfs) {
		umount2(upper, MNT_DETACH);
		rmdir(upper);
	}
	if (staged)
		umount2(stage, MNT_DETACH);
	rmdir(stage);
	return err;
}

/* ---- mount, umount, status ---- */

int atomfs_mount(const char *ref, const char *target, const struct atomfs_mount_opts *o)
{
	struct atomfs_image_info *info = NULL;
	sigset_t block, old;
	cleanup_free char *opt = NULL;
	struct stat st;
	int stack, err;

	if (stat(target, &st) || !S_ISDIR(st.st_mode))
		return atomfs_err(-ENOTDIR, "%s: the mount point is not a directory", target);
	err = atomfs_resolve(ref, &info);
	if (err)
		return err;
	err = check_signature(info, ref, o);
	if (err)
		goto out;
	err = load_module();
	if (err)
		goto out;

	/* Every resource so far is an fd: a signal before here leaks nothing. */
	stack = create_stack(ref, info, o);
	if (stack < 0) {
		err = stack;
		goto out;
	}
	sigfillset(&block);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (o->writable) {
		err = mount_writable(stack, ref, target, o);
	} else if (!o->fake) {
		opt = xasprintf("stack=%d", stack);
		if (mount("none", target, "atomfs", o->ms_flags | MS_RDONLY, opt))
			err = atomfs_err(-errno, "%s: mounting atomfs on %s failed: %s", ref, target,
					 strerror(errno));
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(stack);
out:
	atomfs_image_info_free(info);
	return err;
}

int atomfs_umount(const char *target)
{
	cleanup_free char *rec = record_path(target);

	if (umount2(target, 0))
		return atomfs_err(-errno, "%s: cannot unmount: %s", target, strerror(errno));
	unlink(rec);
	return 0;
}

struct status_layer {
	unsigned int index;
	char digest[80];
	bool verified, shared;
	unsigned long long size;
};

/* /proc/fs/atomfs/<id>/layers, for writable mounts. */
static int status_from_proc(uint64_t id, char **label, struct status_layer **layers, size_t *n)
{
	cleanup_free char *path = xasprintf("/proc/fs/atomfs/%llu/layers", (unsigned long long)id);
	char line[512], ver[16], sh[16];
	FILE *f = fopen(path, "re");
	struct status_layer sl;

	if (!f)
		return atomfs_err(-errno, "%s: %s (is the mount still there?)", path, strerror(errno));
	*n = 0;
	*layers = NULL;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "label ", 6)) {
			line[strcspn(line, "\n")] = 0;
			*label = xstrdup(line + 6);
		} else if (sscanf(line, "%u %79s %15s %15s %llu", &sl.index, sl.digest, ver, sh,
				  &sl.size) == 5) {
			sl.verified = !strcmp(ver, "verified");
			sl.shared = !strcmp(sh, "shared");
			*layers = xrealloc(*layers, (*n + 1) * sizeof(sl));
			(*layers)[(*n)++] = sl;
		}
	}
	fclose(f);
	return 0;
}

/* ATOMFS_IOC_GET_INFO, count then fill. */
static int status_from_ioctl(int fd, uint64_t *id, char **label, struct status_layer **layers,
			     size_t *n)
{
	struct atomfs_info info = { 0 };
	struct atomfs_layer_info *li;
	unsigned char *b;
	size_t i, j;

	if (ioctl(fd, ATOMFS_IOC_GET_INFO, &info) && errno != E2BIG)
		return atomfs_err(-errno, "ATOMFS_IOC_GET_INFO: %s", strerror(errno));
	li = xcalloc(info.nr_layers, sizeof(*li));
	*label = xcalloc(1, info.label_size);
	info.layers = (uintptr_t)li;
	info.label = (uintptr_t)*label;
	if (ioctl(fd, ATOMFS_IOC_GET_INFO, &info)) {
		free(li);
		return atomfs_err(-errno, "ATOMFS_IOC_GET_INFO: %s", strerror(errno));
	}
	*id = info.id;
	*n = info.nr_layers;
	*layers = xcalloc(*n, sizeof(**layers));
	for (i = 0; i < *n; i++) {
		struct status_layer *sl = &(*layers)[i];

		sl->index = li[i].index;
		sl->verified = li[i].flags & ATOMFS_INFO_VERIFIED;
		sl->shared = li[i].flags & ATOMFS_INFO_SHARED;
		sl->size = li[i].size;
		if (li[i].digest.algo == ATOMFS_DIGEST_SHA256) {
			b = (unsigned char *)li[i].digest.bytes;
			strcpy(sl->digest, "sha256:");
			for (j = 0; j < 32; j++)
				sprintf(sl->digest + 7 + 2 * j, "%02x", b[j]);
		} else {
			strcpy(sl->digest, li[i].flags & ATOMFS_INFO_DIR ? "dir" : "none");
		}
	}
	free(li);
	return 0;
}

int atomfs_status(const char *target, bool json)
{
	cleanup_free struct status_layer *layers = NULL;
	cleanup_free char *label = NULL, *rec = NULL, *data = NULL;
	const char *kind = "read-only";
	uint64_t id = 0;
	struct statfs sfs;
	size_t n = 0, i;
	json_t *root, *arr, *rj;
	int fd, err;

	fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstatfs(fd, &sfs)) {
		err = atomfs_err(-errno, "%s: %s", target, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	if (sfs.f_type == ATOMFS_SUPER_MAGIC) {
		err = status_from_ioctl(fd, &id, &label, &layers, &n);
	} else if (sfs.f_type == OVERLAYFS_SUPER_MAGIC && !read_file(rec = record_path(target), &data, NULL, 65536)) {
		rj = json_loads(data, 0, NULL);
		id = (uint64_t)json_integer_value(json_object_get(rj, "stack_id"));
		kind = json_is_true(json_object_get(rj, "persist")) ? "writable, persistent" : "writable";
		json_decref(rj);
		err = status_from_proc(id, &label, &layers, &n);
	} else {
		err = atomfs_err(-EINVAL, "%s: not an atomfs mount", target);
	}
	close(fd);
	if (err)
		return err;

	if (json) {
		root = json_pack("{s:s, s:s, s:I, s:s}", "target", target, "mode", kind,
				 "stack_id", (json_int_t)id, "label", label ? label : "");
		arr = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:i, s:s, s:b, s:b, s:I}", "index",
							     layers[i].index, "digest", layers[i].digest,
							     "verified", layers[i].verified, "shared",
							     layers[i].shared, "size", (json_int_t)layers[i].size));
		json_object_set_new(root, "layers", arr);
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(root);
		return 0;
	}
	printf("%s: atomfs (%s), stack %llu\nlabel: %s\nlayers, base first:\n", target, kind,
	       (unsigned long long)id, label ? label : "");
	for (i = 0; i < n; i++)
		printf("  %3u %s %s %s %llu bytes\n", layers[i].index, layers[i].digest,
		       layers[i].verified ? "verified" : "unverified",
		       layers[i].shared ? "shared" : "private", layers[i].size);
	return 0;
}
