/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the atomfs selftests that build stacks: the control device,
 * ATOMFS_IOC_CREATE_STACK, read-only autoclear loop devices, mounting a stack
 * fd, counting loop devices and mounts, a private mount namespace per test.
 * Functions return a non-negative value on success and -errno on failure.
 */
#ifndef ATOMFS_SELFTEST_ATOMFS_UTIL_H
#define ATOMFS_SELFTEST_ATOMFS_UTIL_H

#include <dirent.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <linux/atomfs.h>
#include <linux/loop.h>
#include <linux/mount.h>

#include "utils.h"

static inline int write_file(const char *path, const char *data, size_t len,
			     mode_t mode);

#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif

/* Where make-fixtures put the images: $ATOMFS_FIXTURES, $ATOMFS_TOP/build/
 * fixtures, or ../fixtures next to the test binary (build/selftests). */
static inline const char *fixtures_dir(void)
{
	/* per thread, as fixture()'s buffers: racing tests call them */
	static __thread char dir[PATH_MAX + 16];
	const char *e;
	char exe[PATH_MAX];
	ssize_t n;

	if (dir[0])
		return dir;
	e = getenv("ATOMFS_FIXTURES");
	if (e) {
		snprintf(dir, sizeof(dir), "%s", e);
		return dir;
	}
	e = getenv("ATOMFS_TOP");
	if (e) {
		snprintf(dir, sizeof(dir), "%s/build/fixtures", e);
		return dir;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		n = 0;
	exe[n] = 0;
	if (strrchr(exe, '/'))
		*strrchr(exe, '/') = 0;
	snprintf(dir, sizeof(dir), "%.*s/../fixtures", PATH_MAX - 1, exe);
	return dir;
}

/* The path of fixture NAME (e.g. "base.sqfs", "many/0001.sqfs"). */
static inline const char *fixture(const char *name)
{
	/*
	 * Eight per thread: threads of one test (blob_test's racers) each
	 * get theirs. Shared, two threads' next++ could hand out one buffer
	 * and tear its path (a spurious ENOENT, seen on 6.12).
	 */
	static __thread char bufs[8][PATH_MAX];
	static __thread int next;
	char *b = bufs[next++ % 8];

	snprintf(b, PATH_MAX, "%s/%s", fixtures_dir(), name);
	return b;
}

static inline long long file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	return st.st_size;
}

/*
 * Attach FILE to a free loop device; with READ_ONLY the backing fd is
 * O_RDONLY and the device read-only. Always autoclear. Returns an fd of the
 * loop device (O_RDONLY, or O_RDWR when writable); *nr gets its number.
 */
static inline int loop_attach(const char *file, bool read_only, int *nr)
{
	struct loop_config cfg;
	char dev[64];
	int ctl, bfd, lfd, n, tries, err;

	bfd = open(file, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (bfd < 0)
		return -errno;
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		err = -errno;
		close(bfd);
		return err;
	}
	for (tries = 0; tries < 100; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			err = -errno;
			goto out;
		}
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		lfd = open(dev, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (lfd < 0) {
			err = -errno;
			if (err == -ENOENT) { /* devtmpfs not there yet */
				usleep(1000);
				continue;
			}
			goto out;
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = bfd;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR |
				    (read_only ? LO_FLAGS_READ_ONLY : 0);
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			if (nr)
				*nr = n;
			err = lfd;
			goto out;
		}
		err = -errno;
		close(lfd);
		if (err != -EBUSY)
			goto out;
	}
out:
	close(ctl);
	close(bfd);
	return err;
}

/* Stacks listed in /proc/fs/atomfs (its "stats" file aside), or -errno. */
static inline int count_stacks(void)
{
	DIR *d = opendir("/proc/fs/atomfs");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, "stats"))
			n++;
	closedir(d);
	return n;
}

/* Number of loop devices with a backing file. */
static inline int count_loops(void)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	char p[PATH_MAX];
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file",
			 de->d_name);
		if (access(p, F_OK) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline int count_block(const char *prefix);

/*
 * Number of layer devices: attached loop devices plus the module's own
 * devices of file layers (atomfsb<N>).
 */
static inline int count_layer_devs(void)
{
	int loops = count_loops(), blobs = count_block("atomfsb");

	return loops < 0 ? loops : blobs < 0 ? blobs : loops + blobs;
}

/* Wait up to TIMEOUT_MS for the number of layer devices to be at most MAX;
 * return the last count. */
static inline int wait_layer_devs(int max, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	int n;

	for (;;) {
		n = count_layer_devs();
		if (n <= max || now_ms() > end)
			return n;
		usleep(10000);
	}
}

/* Wait up to TIMEOUT_MS for the number of attached loop devices to be at
 * most MAX; return the last count. Release can be asynchronous. */
static inline int wait_loops(int max, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	int n;

	for (;;) {
		n = count_loops();
		if (n <= max || now_ms() > end)
			return n;
		usleep(10000);
	}
}

/* Number of lines of /proc/self/mountinfo whose filesystem type is FSTYPE
 * (NULL: all lines). */
static inline int count_mounts(const char *fstype)
{
	char line[8192], needle[64];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int n = 0;

	if (!f)
		return -errno;
	snprintf(needle, sizeof(needle), " - %s ", fstype ? fstype : "");
	while (fgets(line, sizeof(line), f))
		if (!fstype || strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

/* Copy the (last) mountinfo line of the mount at DIR into BUF; false if
 * none. */
static inline bool mountinfo_line(const char *dir, char *buf, size_t size)
{
	char line[8192], mp[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    !strcmp(mp, dir)) {
			snprintf(buf, size, "%s", line);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* Write VALUE to /sys/module/atomfs/parameters/NAME. */
static inline int set_param(const char *name, const char *value)
{
	char p[256];

	snprintf(p, sizeof(p), "/sys/module/atomfs/parameters/%s", name);
	return write_file(p, value, strlen(value), 0644);
}

/*
 * The tests of the union (issue 4) use layers without digests: turn the
 * require_verified policy off (modprobe atomfs restores the default).
 */
static inline int allow_unverified(void)
{
	return set_param("require_verified", "0");
}

static inline int ctl_open(void)
{
	int fd = open(ATOMFS_CTL_DEVICE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static inline void layer_init(struct atomfs_layer *l, int fd, unsigned int flags,
			      unsigned long long size)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->flags = flags;
	l->size = size;
}

static inline void stack_args_init(struct atomfs_create_stack *cs,
				   struct atomfs_layer *layers,
				   unsigned int nr, unsigned int whiteout,
				   const char *label)
{
	memset(cs, 0, sizeof(*cs));
	cs->whiteout = whiteout;
	cs->nr_layers = nr;
	cs->failed_layer = 0xdeadbeef; /* the kernel must write it */
	cs->layers = (uintptr_t)layers;
	cs->label = (uintptr_t)label;
}

/* Issue ATOMFS_IOC_CREATE_STACK with CS; return the stack fd or -errno. */
static inline int create_stack_raw(struct atomfs_create_stack *cs)
{
	int ctl = ctl_open(), fd, err;

	if (ctl < 0)
		return ctl;
	fd = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, cs);
	err = errno;
	close(ctl);
	return fd < 0 ? -err : fd;
}

static inline int create_stack(struct atomfs_layer *layers, unsigned int nr,
			       unsigned int whiteout, unsigned int *failed)
{
	struct atomfs_create_stack cs;
	int fd;

	stack_args_init(&cs, layers, nr, whiteout, "selftest");
	fd = create_stack_raw(&cs);
	if (failed)
		*failed = cs.failed_layer;
	return fd;
}

/* mount("none", DIR, "atomfs", FLAGS, "stack=FD") */
static inline int mount_stack_flags(int stack, const char *dir,
				    unsigned long flags)
{
	char opts[64];

	snprintf(opts, sizeof(opts), "stack=%d", stack);
	return mount("none", dir, "atomfs", flags, opts) ? -errno : 0;
}

static inline int mount_stack(int stack, const char *dir)
{
	return mount_stack_flags(stack, dir, MS_RDONLY);
}

static inline int sys_fsopen(const char *fs, unsigned int flags)
{
	return syscall(__NR_fsopen, fs, flags);
}

static inline int sys_fsconfig(int fd, unsigned int cmd, const char *key,
			       const void *val, int aux)
{
	return syscall(__NR_fsconfig, fd, cmd, key, val, aux);
}

static inline int sys_fsmount(int fd, unsigned int flags, unsigned int attr)
{
	return syscall(__NR_fsmount, fd, flags, attr);
}

static inline int sys_move_mount(int from_dfd, const char *from, int to_dfd,
				 const char *to, unsigned int flags)
{
	return syscall(__NR_move_mount, from_dfd, from, to_dfd, to, flags);
}

/* The new mount API: fsopen, FSCONFIG_SET_FD "stack", create, fsmount,
 * move_mount to DIR. */
static inline int fsmount_stack(int stack, const char *dir)
{
	int fs, mnt, err = 0;

	fs = sys_fsopen("atomfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (sys_fsconfig(fs, FSCONFIG_SET_FD, "stack", NULL, stack) ||
	    sys_fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) ||
	    sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)) {
		err = -errno;
		goto out;
	}
	mnt = sys_fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
	if (mnt < 0) {
		err = -errno;
		goto out;
	}
	if (sys_move_mount(mnt, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH))
		err = -errno;
	close(mnt);
out:
	close(fs);
	return err;
}

/*
 * Give the calling test a private mount namespace and a tmpfs at DIR
 * (created if needed).
 */
static inline int private_ns_tmpfs(const char *dir)
{
	if (unshare(CLONE_NEWNS))
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	mkdir(dir, 0755);
	if (mount("tmpfs", dir, "tmpfs", 0, "mode=0755"))
		return -errno;
	return 0;
}

static inline int raise_nofile(rlim_t n)
{
	struct rlimit rl = { n, n };

	return setrlimit(RLIMIT_NOFILE, &rl) ? -errno : 0;
}

static inline int write_file(const char *path, const char *data, size_t len,
			     mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Read PATH (at most SIZE-1 bytes) into BUF, NUL-terminated; bytes or -errno. */
static inline ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - total);
		if (n < 0) {
			total = -errno;
			break;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	if (total >= 0)
		buf[total] = 0;
	return total;
}

/* Does PATH hold exactly CONTENT followed by a newline? */
static inline bool file_is(const char *path, const char *content)
{
	char buf[4096], want[4096];

	snprintf(want, sizeof(want), "%s\n", content);
	return read_file(path, buf, sizeof(buf)) >= 0 && !strcmp(buf, want);
}

static inline int lstat_errno(const char *path)
{
	struct stat st;

	return lstat(path, &st) ? errno : 0;
}

/*
 * A set of layers being assembled for a stack: loop fds for block layers,
 * O_PATH fds for directory layers, kept open until put_layers().
 */
#define MAX_TEST_LAYERS 4200
struct layer_set {
	unsigned int nr;
	struct atomfs_layer l[MAX_TEST_LAYERS];
	int fd[MAX_TEST_LAYERS];
};

static inline void put_layers(struct layer_set *ls)
{
	unsigned int i;

	for (i = 0; i < ls->nr; i++)
		if (ls->fd[i] >= 0)
			close(ls->fd[i]);
	ls->nr = 0;
}

/*
 * Append a block-device layer (descriptor flags 0): a read-only autoclear
 * loop device over FILE. The tests' default is add_file_layer(); this path
 * is kept for blobs that only exist as devices (verify_test, the loop
 * attacks of hardening_test, scale_test).
 */
static inline int add_loop_layer(struct layer_set *ls, const char *file)
{
	long long size = file_size(file);
	int fd;

	if (size < 0)
		return size;
	fd = loop_attach(file, true, NULL);
	if (fd < 0)
		return fd;
	ls->fd[ls->nr] = fd;
	layer_init(&ls->l[ls->nr], fd, 0, size);
	ls->nr++;
	return 0;
}

/* Append a directory layer (O_PATH fd of DIR). */
static inline int add_dir_layer(struct layer_set *ls, const char *dir)
{
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	ls->fd[ls->nr] = fd;
	layer_init(&ls->l[ls->nr], fd, ATOMFS_LAYER_DIR, 0);
	ls->nr++;
	return 0;
}

/*
 * Append a file layer: FILE itself, opened read-only, with ATOMFS_LAYER_FILE
 * (the module makes its own device; no loop device).
 */
static inline int add_file_layer(struct layer_set *ls, const char *file)
{
	long long size = file_size(file);
	int fd;

	if (size < 0)
		return size;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ls->fd[ls->nr] = fd;
	layer_init(&ls->l[ls->nr], fd, ATOMFS_LAYER_FILE, size);
	ls->nr++;
	return 0;
}

/* Copy FROM to TO (created or truncated, mode 0644) and fsync it. */
static inline int copy_file(const char *from, const char *to)
{
	char buf[1 << 16];
	int in, out, err = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		err = -errno;
		close(in);
		return err;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			err = -EIO;
			break;
		}
	if (n < 0)
		err = -errno;
	if (!err && fsync(out))
		err = -errno;
	close(in);
	close(out);
	return err;
}

/* Parse 64 hex digits into a sha256 digest. */
static inline int digest_parse(const char *hex, struct atomfs_digest *d)
{
	unsigned char *b = (unsigned char *)d->bytes;
	int i;

	if (strlen(hex) != 64)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->algo = ATOMFS_DIGEST_SHA256;
	d->size = 32;
	for (i = 0; i < 32; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &b[i]) != 1)
			return -EINVAL;
	return 0;
}

/* The digest NAME has in the fixture SUMS (a sha256sum listing). */
static inline int digest_from(const char *sums, const char *name,
			      struct atomfs_digest *d)
{
	char line[PATH_MAX + 80], hex[65], n[PATH_MAX];
	FILE *f = fopen(fixture(sums), "re");
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%64s %4095s", hex, n) == 2 && !strcmp(n, name))
			found = 1;
	fclose(f);
	if (!found)
		return -ENOENT;
	return digest_parse(hex, d);
}

/* The digest NAME has in the fixtures' verify/SHA256SUMS. */
static inline int digest_of(const char *name, struct atomfs_digest *d)
{
	return digest_from("verify/SHA256SUMS", name, d);
}

/* sha256sum of FILE into D. */
static inline int sha256_file(const char *file, struct atomfs_digest *d)
{
	char cmd[PATH_MAX + 32], hex[65];
	FILE *p;
	int n;

	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", file);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	n = fscanf(p, "%64s", hex);
	pclose(p);
	if (n != 1)
		return -EIO;
	return digest_parse(hex, d);
}

/* Number of /sys/block entries whose name starts with PREFIX. */
static inline int count_block(const char *prefix)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			n++;
	closedir(d);
	return n;
}

/* Mount the squashfs image FILE read-only at DIR (created) on its own loop
 * device, in the caller's mount namespace. */
static inline int mount_squashfs(const char *file, const char *dir)
{
	char dev[64];
	int nr = -1, fd, err = 0;

	mkdir(dir, 0755);
	fd = loop_attach(file, true, &nr);
	if (fd < 0)
		return fd;
	snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
	if (mount(dev, dir, "squashfs", MS_RDONLY, NULL))
		err = -errno;
	close(fd); /* the mount holds the device; autoclear on umount */
	return err;
}

/* Unmount everything mounted at or below DIR (deepest first) except DIR's
 * own mount when KEEP_TOP; return how many were unmounted. */
static inline int umount_below(const char *dir, bool keep_top)
{
	char line[8192], mp[PATH_MAX], found[256][PATH_MAX];
	size_t len = strlen(dir);
	int n = 0, i, total = 0;

	for (;;) {
		FILE *f = fopen("/proc/self/mountinfo", "re");

		n = 0;
		if (!f)
			return -errno;
		while (fgets(line, sizeof(line), f) && n < 256) {
			if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
				continue;
			if (strncmp(mp, dir, len) ||
			    (mp[len] != '/' && mp[len] != 0))
				continue;
			if (keep_top && mp[len] == 0)
				continue;
			snprintf(found[n++], PATH_MAX, "%s", mp);
		}
		fclose(f);
		if (!n)
			return total;
		/* mountinfo lists parents before children: undo in reverse */
		for (i = n - 1; i >= 0; i--)
			if (!umount2(found[i], MNT_DETACH))
				total++;
		if (total > 10000)
			return total;
	}
}

/* Run PROG with ARGV in a child (execv), with stdout into BUF; return the
 * exit status or -1. If ROOT, chroot there first. */
static inline int run_capture(const char *root, const char *prog,
			      char *const argv[], char *const envp[], char *buf,
			      size_t size)
{
	int p[2], st;
	pid_t pid;
	ssize_t n, total = 0;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		if (root && (chroot(root) || chdir("/")))
			_exit(126);
		execve(prog, argv, envp);
		_exit(127);
	}
	close(p[1]);
	while ((size_t)total < size - 1 &&
	       (n = read(p[0], buf + total, size - 1 - total)) > 0)
		total += n;
	buf[total] = 0;
	close(p[0]);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Is NAME one of the space-separated words of LIST? */
static inline bool atomfs_word_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while ((p = strstr(p, name))) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
		p += n;
	}
	return false;
}

/*
 * ATOMFS_SKIP_LINE_INDEPENDENT=1: make check runs these tests on a kernel
 * line other than 6.1, where the tests of the module's own logic (no
 * compat.h call on their path that a test run there does not reach) skip;
 * the list and why: "Supported kernels" in atomfs.rst.
 */
static inline bool atomfs_skip_line_independent(void)
{
	const char *e = getenv("ATOMFS_SKIP_LINE_INDEPENDENT");

	return e && !strcmp(e, "1");
}

#define ATOMFS_LINE_SKIP_MSG "ATOMFS_SKIP_LINE_INDEPENDENT=1: runs on 6.1"

/*
 * Instead of TEST_HARNESS_MAIN, after kselftest_harness.h: with
 * ATOMFS_SELFTEST_ONLY="NAME..." only the tests so named run (6.1's
 * harness has no filter), to try one case in the VM.
 */
#define ATOMFS_SELFTEST_FILTER()                                             \
	do {                                                                 \
		const char *only = getenv("ATOMFS_SELFTEST_ONLY");           \
		struct __fixture_metadata *f;                                \
		struct __test_metadata **t;                                  \
									     \
		for (f = __fixture_list; only && f; f = f->next)             \
			for (t = &f->tests; *t;)                             \
				if (atomfs_word_in(only, (*t)->name))        \
					t = &(*t)->next;                     \
				else                                         \
					*t = (*t)->next;                     \
	} while (0)

#define ATOMFS_HARNESS_MAIN                                                  \
	int main(int argc, char **argv)                                      \
	{                                                                    \
		ATOMFS_SELFTEST_FILTER();                                    \
		return test_harness_run(argc, argv);                         \
	}

#endif
