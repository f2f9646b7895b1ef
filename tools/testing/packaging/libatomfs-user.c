// SPDX-License-Identifier: GPL-2.0
/*
 * A program of a libatomfs user, compiled against the installed header,
 * pkg-config file and shared library (tools/testing/packaging/install).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <sys/ioctl.h>
#include <linux/atomfs.h>
#include <libatomfs.h>

static void log_fn(void *data, int priority, const char *msg)
{
	(void)data;
	(void)priority;
	(void)msg;
}

int main(int argc, char **argv)
{
	struct atomfs_ref ref;
	struct atomfs_image_info *info = NULL;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: libatomfs-user [oci:]DIR:TAG\n");
		return 2;
	}
	atomfs_set_log_fn(log_fn, NULL);
	err = atomfs_ref_parse(argv[1], &ref);
	if (err) {
		fprintf(stderr, "parse %s: %s\n", argv[1], atomfs_last_error());
		return 1;
	}
	printf("dir=%s tag=%s valid=%d\n", ref.dir, ref.tag, atomfs_tag_valid(ref.tag));
	atomfs_ref_free(&ref);
	/* a layout that is not there: -ENOENT and a message */
	err = atomfs_resolve(argv[1], &info);
	printf("resolve=%s message=%s\n", err == -ENOENT ? "ENOENT" : strerror(-err),
	       *atomfs_last_error() ? "yes" : "no");
	atomfs_image_info_free(info);
	printf("uapi: ioctl %#lx, device %s\n", (unsigned long)ATOMFS_IOC_CREATE_STACK,
	       ATOMFS_CTL_DEVICE);
	return 0;
}
