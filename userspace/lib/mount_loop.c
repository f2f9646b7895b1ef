// SPDX-License-Identifier: LGPL-2.1-or-later
/* mount_loop.c: binding a layer blob to a read-only loop device */
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "mount-int.h"

/* A read-only, autoclear loop device over the open file @blob; its fd. */
int atomfs_mount_loop_attach(int blob, const char *path)
{
	struct loop_config cfg = { 0 };
	int ctl, dev = -1, n, err;
	char name[32];

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return atomfs_err(
			-errno,
			"/dev/loop-control: %s (is the loop module available?)",
			strerror(errno));
	cfg.fd = (uint32_t)blob;
	/* Direct I/O when the backing filesystem can: no second page cache. */
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR |
			    LO_FLAGS_DIRECT_IO;
	for (;;) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			err = atomfs_err(-errno, "no free loop device: %s",
					 strerror(errno));
			break;
		}
		snprintf(name, sizeof(name), "/dev/loop%d", n);
		dev = open(name, O_RDONLY | O_CLOEXEC);
		if (dev < 0) {
			err = atomfs_err(-errno, "%s: %s", name,
					 strerror(errno));
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
			err = atomfs_err(err, "%s: cannot bind %s: %s", name,
					 path, strerror(-err));
			break;
		}
	}
	close(ctl);
	return err;
}
