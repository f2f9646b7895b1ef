// SPDX-License-Identifier: GPL-2.0
/*
 * verify_bench SHA256HEX FILE [SHA256HEX FILE]...: time the kernel's
 * verification of the given blobs in one ATOMFS_IOC_CREATE_STACK (they are
 * hashed in parallel) and print MiB/s. Sharing must be off so that every
 * run hashes (share_layers=0).
 */
#include "bench.h"

int main(int argc, char **argv)
{
	int n = (argc - 1) / 2, i, ctl, fd;
	struct atomfs_create_stack cs = { 0 };
	struct atomfs_layer *l;
	unsigned long long size, total = 0;
	double t;

	if (n < 1 || argc != 2 * n + 1) {
		fprintf(stderr, "usage: verify_bench SHA256 FILE...\n");
		return 2;
	}
	l = calloc(n, sizeof(*l));
	for (i = 0; i < n; i++) {
		l[i].fd = loop_attach(argv[2 + 2 * i], &size);
		l[i].size = size;
		parse_sha256(argv[1 + 2 * i], &l[i].digest);
		total += size;
	}
	ctl = open(ATOMFS_CTL_DEVICE, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		die("open " ATOMFS_CTL_DEVICE);
	cs.nr_layers = n;
	cs.layers = (unsigned long)l;
	t = now();
	fd = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, &cs);
	t = now() - t;
	if (fd < 0)
		die("create stack (layer %u)", cs.failed_layer);
	printf("%d blob(s), %.1f MiB in %.3f s: %.1f MiB/s\n", n,
	       total / 1048576.0, t, total / 1048576.0 / t);
	close(fd);
	for (i = 0; i < n; i++)
		close(l[i].fd);
	return 0;
}
