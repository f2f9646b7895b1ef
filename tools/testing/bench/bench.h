/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the atomfs benchmarks (run inside the test VM). */
#ifndef ATOMFS_BENCH_H
#define ATOMFS_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/loop.h>

#include <linux/atomfs.h>

#define die(...)                                      \
	do {                                          \
		fprintf(stderr, "bench: " __VA_ARGS__); \
		fprintf(stderr, ": %s\n", strerror(errno)); \
		exit(1);                              \
	} while (0)

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A read-only, autoclear loop device over @file (plus @flags, such as
 * LO_FLAGS_DIRECT_IO); returns its fd.
 */
static inline int loop_attach_flags(const char *file, unsigned long long *size,
				    unsigned int flags)
{
	struct loop_config cfg = { 0 };
	int ctl, bf, lf, n;
	struct stat st;
	char dev[64];

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	bf = open(file, O_RDONLY | O_CLOEXEC);
	if (ctl < 0 || bf < 0 || fstat(bf, &st))
		die("open %s", file);
	*size = st.st_size;
	cfg.fd = bf;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | flags;
	for (;;) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			die("LOOP_CTL_GET_FREE");
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		lf = open(dev, O_RDONLY | O_CLOEXEC);
		if (lf < 0)
			die("open %s", dev);
		if (!ioctl(lf, LOOP_CONFIGURE, &cfg))
			break;
		if (errno != EBUSY)
			die("LOOP_CONFIGURE %s", dev);
		close(lf);
	}
	close(bf);
	close(ctl);
	return lf;
}

static inline int loop_attach(const char *file, unsigned long long *size)
{
	return loop_attach_flags(file, size, 0);
}

/* Hex sha256 (as printed by sha256sum) into a digest. */
static inline void parse_sha256(const char *hex, struct atomfs_digest *d)
{
	unsigned char *b = (unsigned char *)d->bytes;
	int i;

	memset(d, 0, sizeof(*d));
	d->algo = ATOMFS_DIGEST_SHA256;
	d->size = 32;
	for (i = 0; i < 32; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &b[i]) != 1)
			die("bad digest %s", hex);
}

#endif
