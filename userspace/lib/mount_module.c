// SPDX-License-Identifier: LGPL-2.1-or-later
/* mount_module.c: loading atomfs.ko with libkmod, reading its limits */
#include <libkmod.h>
#include <unistd.h>

#include <linux/atomfs.h>

#include "internal.h"
#include "mount-int.h"

static void kmod_quiet(void *data, int priority, const char *file, int line,
		       const char *fn, const char *format, va_list args)
{
	(void)data;
	(void)priority;
	(void)file;
	(void)line;
	(void)fn;
	(void)format;
	(void)args;
}

int atomfs_mount_load_module(void)
{
	struct kmod_module *mod = NULL;
	struct kmod_ctx *ctx;
	int err;

	if (access(ATOMFS_CTL_DEVICE, F_OK) == 0)
		return 0;
	ctx = kmod_new(NULL, NULL);
	if (!ctx)
		return atomfs_err(-ENOMEM, "cannot start libkmod");
	/* libkmod logs to stderr by default: the library never prints */
	kmod_set_log_fn(ctx, kmod_quiet, NULL);
	err = kmod_module_new_from_name(ctx, "atomfs", &mod);
	if (!err)
		err = kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL,
						      NULL);
	if (err == -ENOENT || err == -ENOSYS)
		err = atomfs_err(
			-ENOENT,
			"the atomfs kernel module is not installed for this kernel: install the atomfs-dkms package, or run 'dkms install atomfs/" ATOMFS_VERSION
			" -k $(uname -r)' if its source is registered");
	else if (err < 0)
		err = atomfs_err(err,
				 "cannot load the atomfs kernel module: %s",
				 strerror(-err));
	kmod_module_unref(mod);
	kmod_unref(ctx);
	if (!err && access(ATOMFS_CTL_DEVICE, F_OK))
		err = atomfs_err(
			-ENODEV,
			"the atomfs module is loaded but %s is missing (is devtmpfs mounted on /dev?)",
			ATOMFS_CTL_DEVICE);
	return err;
}

unsigned int atomfs_mount_max_layers(void)
{
	FILE *f = fopen("/sys/module/atomfs/parameters/max_layers", "re");
	unsigned int n = 0;

	if (f) {
		if (fscanf(f, "%u", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}
