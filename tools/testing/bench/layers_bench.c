// SPDX-License-Identifier: GPL-2.0
/*
 * layers_bench: what taking layers as blob files (ATOMFS_LAYER_FILE, issue
 * 12) saves against the previous path, a read-only direct-I/O loop device
 * per layer passed with flags 0. Run in the VM by layers.sh, which repeats
 * and takes medians. Every figure starts cold: no layer held by the
 * module, caches dropped.
 *
 *   layers_bench mount file|loop MNT DIGESTS N
 *       the time from the first blob opened to the mount made, for the
 *       first N blobs of DIGESTS ("SHA256HEX  PATH" lines, sha256sum's
 *       format), hashing included; prints seconds: the total, then its
 *       parts: opening the blobs (or attaching the loop devices), the
 *       CREATE_STACK ioctl (hashing, the module's devices, the layers'
 *       squashfs mounts), the mount of the stack
 *   layers_bench read file|loop|raw MNT SHA256HEX BLOB FILE
 *       mounts the one-layer blob (raw: squashfs on a loop device, no
 *       atomfs), reads FILE inside it sequentially, prints MiB/s
 */
#include <dirent.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "bench.h"

struct blob {
	char hex[65];
	char path[4096];
};

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);

	sync();
	if (fd < 0 || write(fd, "3", 1) != 1)
		die("drop_caches");
	close(fd);
}

static int count_attached(void)
{
	struct dirent *e;
	DIR *d = opendir("/sys/block");
	char p[512];
	int n = 0;

	if (!d)
		die("/sys/block");
	while ((e = readdir(d))) {
		if (!strncmp(e->d_name, "atomfsb", 7)) {
			n++;
		} else if (!strncmp(e->d_name, "loop", 4)) {
			snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file",
				 e->d_name);
			n += !access(p, F_OK);
		}
	}
	closedir(d);
	return n;
}

/* Until the module's devices and the autoclear loops are gone. */
static void wait_released(void)
{
	int i;

	for (i = 0; count_attached(); i++) {
		if (i == 600)
			die("devices still attached after 60 s");
		usleep(100000);
	}
}

/* Stack @n layers and mount them read-only on @mnt; the ioctl's time. */
static double mount_stack(struct atomfs_layer *l, int n, const char *mnt)
{
	struct atomfs_create_stack cs = { 0 };
	char opt[32];
	int ctl, fd;
	double t;

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
	snprintf(opt, sizeof(opt), "stack=%d", fd);
	if (mount("none", mnt, "atomfs", MS_RDONLY, opt))
		die("mount atomfs on %s", mnt);
	close(fd);
	close(ctl);
	return t;
}

/* One layer descriptor: the blob file, or a loop device over it. */
static void layer_of(struct atomfs_layer *l, const char *mode,
		     const struct blob *b)
{
	unsigned long long size;
	struct stat st;
	int fd;

	memset(l, 0, sizeof(*l));
	if (!strcmp(mode, "file")) {
		fd = open(b->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st))
			die("open %s", b->path);
		l->fd = fd;
		l->flags = ATOMFS_LAYER_FILE;
		l->size = st.st_size;
	} else {
		l->fd = loop_attach_flags(b->path, &size, LO_FLAGS_DIRECT_IO);
		l->size = size;
	}
	parse_sha256(b->hex, &l->digest);
}

static void close_layers(struct atomfs_layer *l, int n)
{
	int i;

	for (i = 0; i < n; i++)
		close(l[i].fd);
}

static int bench_mount(const char *mode, const char *mnt, const char *list,
		       int n)
{
	struct atomfs_layer *l = calloc(n, sizeof(*l));
	struct blob *b = calloc(n, sizeof(*b));
	struct rlimit rl = { n + 64, n + 64 };
	FILE *f = fopen(list, "re");
	double t, t_open, t_stack;
	int i;

	if (!l || !b || !f)
		die("%s", list);
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("RLIMIT_NOFILE %d", n + 64);
	for (i = 0; i < n; i++)
		if (fscanf(f, "%64s %4095s", b[i].hex, b[i].path) != 2)
			die("%s: fewer than %d blobs", list, n);
	fclose(f);
	wait_released();
	drop_caches();

	t = now();
	for (i = 0; i < n; i++)
		layer_of(&l[i], mode, &b[i]);
	t_open = now() - t;
	t_stack = mount_stack(l, n, mnt);
	t = now() - t;

	close_layers(l, n);
	if (umount(mnt))
		die("umount %s", mnt);
	wait_released();
	printf("%.6f %.6f %.6f %.6f\n", t, t_open, t_stack, t - t_open - t_stack);
	return 0;
}

static int bench_read(const char *mode, const char *mnt, const char *hex,
		      const char *blob, const char *file)
{
	static char buf[1 << 20];
	struct blob b = { 0 };
	struct atomfs_layer l;
	unsigned long long size, total = 0;
	char path[4096];
	ssize_t r;
	double t;
	int fd;

	snprintf(b.hex, sizeof(b.hex), "%s", hex);
	snprintf(b.path, sizeof(b.path), "%s", blob);
	wait_released();
	if (!strcmp(mode, "raw")) {
		char dev[64];

		fd = loop_attach_flags(blob, &size, LO_FLAGS_DIRECT_IO);
		snprintf(dev, sizeof(dev), "/proc/self/fd/%d", fd);
		if (mount(dev, mnt, "squashfs", MS_RDONLY, NULL))
			die("mount squashfs %s on %s", blob, mnt);
		close(fd);
	} else {
		layer_of(&l, mode, &b);
		mount_stack(&l, 1, mnt);
		close_layers(&l, 1);
	}
	drop_caches();
	snprintf(path, sizeof(path), "%s/%s", mnt, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s", path);
	t = now();
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		total += r;
	t = now() - t;
	if (r < 0)
		die("read %s", path);
	close(fd);
	if (umount(mnt))
		die("umount %s", mnt);
	wait_released();
	printf("%.2f\n", total / 1048576.0 / t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "mount") &&
	    (!strcmp(argv[2], "file") || !strcmp(argv[2], "loop")))
		return bench_mount(argv[2], argv[3], argv[4], atoi(argv[5]));
	if (argc == 7 && !strcmp(argv[1], "read") &&
	    (!strcmp(argv[2], "file") || !strcmp(argv[2], "loop") ||
	     !strcmp(argv[2], "raw")))
		return bench_read(argv[2], argv[3], argv[4], argv[5], argv[6]);
	fprintf(stderr,
		"usage: layers_bench mount file|loop MNT DIGESTS N\n"
		"       layers_bench read file|loop|raw MNT SHA256HEX BLOB FILE\n");
	return 2;
}
