// SPDX-License-Identifier: GPL-2.0
/*
 * lookup_bench: lookup and readdir cost of atomfs against overlayfs over the
 * same directory layers, at 2 and 500 layers, measured in one run. Each
 * layer (on tmpfs) holds its own files and a directory "shared" that all
 * layers merge. Prints microseconds per operation and the ratios.
 */
#include <dirent.h>
#include <sys/mount.h>

#include "bench.h"

#define BASE "/tmp/lookup_bench"
#define MISSES 20000
#define HITS 2000
#define REOPENS 200

static void mkfile(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

	if (fd < 0)
		die("create %s", path);
	close(fd);
}

static void make_layers(int n)
{
	char p[256];
	int i, j;

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), BASE "/%d", i);
		if (mkdir(p, 0755) && errno != EEXIST)
			die("mkdir %s", p);
		snprintf(p, sizeof(p), BASE "/%d/shared", i);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), BASE "/%d/shared/s%d", i, i);
		mkfile(p);
	}
	/* The base layer holds the files that the hits look up. */
	for (j = 0; j < HITS; j++) {
		snprintf(p, sizeof(p), BASE "/0/f%d", j);
		mkfile(p);
	}
}

static void mount_atomfs(int n, const char *target)
{
	struct atomfs_create_stack cs = { 0 };
	struct atomfs_layer *l = calloc(n, sizeof(*l));
	char p[256], opt[64];
	int i, ctl, fd;

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), BASE "/%d", i);
		l[i].fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
		l[i].flags = ATOMFS_LAYER_DIR;
	}
	ctl = open(ATOMFS_CTL_DEVICE, O_RDWR | O_CLOEXEC);
	cs.nr_layers = n;
	cs.layers = (unsigned long)l;
	fd = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, &cs);
	if (fd < 0)
		die("create stack");
	snprintf(opt, sizeof(opt), "stack=%d", fd);
	if (mount("none", target, "atomfs", MS_RDONLY, opt))
		die("mount atomfs");
	close(fd);
	close(ctl);
	for (i = 0; i < n; i++)
		close(l[i].fd);
	free(l);
}

static void mount_overlay(int n, const char *target)
{
	size_t len = 64 + 8 * (size_t)n;
	char *opt = malloc(len);
	int i, off;

	/* Short relative paths: overlayfs cuts options at one page. */
	if (chdir(BASE))
		die("chdir");
	off = snprintf(opt, len, "lowerdir=");
	for (i = n - 1; i >= 0; i--)
		off += snprintf(opt + off, len - off, "%d%s", i, i ? ":" : "");
	if (mount("overlay", target, "overlay", MS_RDONLY, opt))
		die("mount overlay with %d layers", n);
	free(opt);
	if (chdir("/"))
		die("chdir");
}

struct result {
	double miss, hit, reopen;
};

static struct result measure(const char *mnt)
{
	struct result r;
	struct stat st;
	char p[256];
	double t;
	int i;

	/* Warm the root once, as any use of a mount does. */
	stat(mnt, &st);
	snprintf(p, sizeof(p), "%s/f0", mnt);
	stat(p, &st);

	t = now();
	for (i = 0; i < MISSES; i++) {
		snprintf(p, sizeof(p), "%s/missing-%d", mnt, i);
		if (!stat(p, &st))
			die("%s exists", p);
	}
	r.miss = (now() - t) / MISSES * 1e6;

	t = now();
	for (i = 1; i < HITS; i++) {
		snprintf(p, sizeof(p), "%s/f%d", mnt, i);
		if (stat(p, &st))
			die("stat %s", p);
	}
	r.hit = (now() - t) / (HITS - 1) * 1e6;

	snprintf(p, sizeof(p), "%s/shared", mnt);
	t = now();
	for (i = 0; i < REOPENS; i++) {
		DIR *d = opendir(p);

		if (!d)
			die("opendir %s", p);
		while (readdir(d))
			;
		closedir(d);
	}
	r.reopen = (now() - t) / REOPENS * 1e6;
	return r;
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "2", 1) < 0)
			perror("drop_caches");
		close(fd);
	}
}

int main(void)
{
	static const int sizes[] = { 2, 500 };
	struct result a[2], o[2];
	int i, fd;

	fd = open("/sys/module/atomfs/parameters/require_verified", O_WRONLY);
	if (fd < 0 || write(fd, "0", 1) != 1)
		die("turn off require_verified");
	close(fd);
	mkdir(BASE, 0755);
	if (mount("tmpfs", BASE, "tmpfs", 0, NULL))
		die("mount tmpfs");
	make_layers(500);
	mkdir(BASE "-a", 0755);
	mkdir(BASE "-o", 0755);

	for (i = 0; i < 2; i++) {
		mount_atomfs(sizes[i], BASE "-a");
		drop_caches();
		a[i] = measure(BASE "-a");
		umount(BASE "-a");
		mount_overlay(sizes[i], BASE "-o");
		drop_caches();
		o[i] = measure(BASE "-o");
		umount(BASE "-o");
	}

	printf("microseconds per operation (directory layers on tmpfs):\n");
	printf("%-34s %10s %10s %10s %10s\n", "", "atomfs 2", "atomfs 500",
	       "ovl 2", "ovl 500");
	printf("%-34s %10.2f %10.2f %10.2f %10.2f\n", "stat of a missing name",
	       a[0].miss, a[1].miss, o[0].miss, o[1].miss);
	printf("%-34s %10.2f %10.2f %10.2f %10.2f\n", "stat of a base-layer file",
	       a[0].hit, a[1].hit, o[0].hit, o[1].hit);
	printf("%-34s %10.2f %10.2f %10.2f %10.2f\n", "reopen + readdir merged dir",
	       a[0].reopen, a[1].reopen, o[0].reopen, o[1].reopen);
	printf("ratios 500 layers / 2 layers: atomfs miss %.2fx hit %.2fx readdir %.2fx; "
	       "overlayfs miss %.2fx hit %.2fx readdir %.2fx\n",
	       a[1].miss / a[0].miss, a[1].hit / a[0].hit, a[1].reopen / a[0].reopen,
	       o[1].miss / o[0].miss, o[1].hit / o[0].hit, o[1].reopen / o[0].reopen);
	printf("ratios overlayfs / atomfs at 500 layers: miss %.1fx hit %.1fx readdir %.1fx\n",
	       o[1].miss / a[1].miss, o[1].hit / a[1].hit, o[1].reopen / a[1].reopen);
	umount(BASE);
	return 0;
}
