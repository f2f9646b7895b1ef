// SPDX-License-Identifier: LGPL-2.1-or-later
/* mount_opts.c: the -o option list of mount.atomfs and `atomfs mount` */
#include <sys/mount.h>

#include <linux/atomfs.h>

#include "internal.h"
#include "mount.h"

static const struct {
	const char *name;
	unsigned long set, clear;
} vfs_flags[] = {
	{ "ro", MS_RDONLY, 0 },
	{ "rw", 0, 0 }, /* atomfs itself is always read-only: see "writable" */
	{ "nosuid", MS_NOSUID, 0 },
	{ "suid", 0, MS_NOSUID },
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
	*dst = strdup(val);
	return *dst ? 0 : atomfs_enomem();
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
	/* images can carry device nodes: nodev unless asked (see mount_flags) */
	if (!strcmp(opt, "dev") || !strcmp(opt, "nodev")) {
		o->dev = !strcmp(opt, "dev");
		return 0;
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
			return atomfs_err(
				-EINVAL,
				"whiteouts=%s: use both, overlay or oci",
				eq + 1);
		return 0;
	}
	if (ignored_option(opt) || o->sloppy)
		return 0;
	return atomfs_err(
		-EINVAL,
		"unknown mount option '%s' (atomfs takes writable, persist=DIR, pubkey=PATH, whiteouts=both|overlay|oci, dev and the usual VFS flags; see mount.atomfs(8))",
		opt);
}

int atomfs_mount_opts_parse(struct atomfs_mount_opts *o, const char *opts)
{
	cleanup_free char *copy = strdup(opts);
	char *save = NULL, *tok;
	int err;

	if (!copy)
		return atomfs_enomem();
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		err = parse_one(o, tok);
		if (err)
			return err;
	}
	return 0;
}

unsigned long atomfs_mount_flags(const struct atomfs_mount_opts *o)
{
	return o->dev ? o->ms_flags : o->ms_flags | MS_NODEV;
}

void atomfs_mount_opts_free(struct atomfs_mount_opts *o)
{
	free(o->persist);
	free(o->pubkey);
	free(o->ns);
	o->persist = o->pubkey = o->ns = NULL;
}
