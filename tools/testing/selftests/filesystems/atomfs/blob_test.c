// SPDX-License-Identifier: GPL-2.0
/*
 * Layers given as blob files (ATOMFS_LAYER_FILE, issue 12): the module's
 * own read-only device, write access denied while a stack holds the blob,
 * no loop device, and the mount done in PID 1's root whatever the caller's.
 *
 * The blobs live on a guest-local filesystem, never on the 9p share (9p
 * writes would bypass the guest's write denial): the ext4 scratch disk at
 * /mnt/scratch when the VM has one (tools/testing/vm/run --disk, as the
 * stock stage runs: the device reads the file with direct I/O there), else
 * a tmpfs of the test's own (the debug kernel has no ext4: 6.1's tmpfs has
 * no direct I/O, so the device reads it through the page cache). Which one
 * is printed; a VM given the disk (/etc/vm-disk) that has nothing mounted
 * at /mnt/scratch fails.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/io_uring.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include "atomfs_util.h"
#include "kselftest_harness.h"

#define SCRATCH "/mnt/scratch"
#define WORK "/tmp/atomfs-blob"
#define MNT WORK "/mnt"
#define MNT2 WORK "/mnt2"
#define VM_DISK "/etc/vm-disk"
/* The debug kernel's fault and delay knobs (kernel/fault.c). */
#define KNOB "/sys/kernel/debug/atomfs/"

/* The blob and a hard link to it, where blob_store() put them. */
static char BLOB[PATH_MAX], LINK[PATH_MAX];
/* A copy of it on the 9p share (share_blob()), and its racers. */
static char SHARED[PATH_MAX];
static int race_shared;

/* Open PATH with FLAGS; 0 or -errno (the fd is closed at once). */
static int try_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Name of the one atomfsb device, or -ENOENT. */
static int find_blob_dev(char *name, size_t size)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "atomfsb", 7)) {
			snprintf(name, size, "/dev/%s", de->d_name);
			n++;
		}
	closedir(d);
	return n == 1 ? 0 : -ENOENT;
}

/* A stack over the blob file PATH (the fixture NAME), opened with OFLAGS, verified. */
static int blob_stack_of(const char *path, int oflags, const char *name)
{
	struct atomfs_layer l;
	int fd, stack, err;
	struct stat st;

	fd = open(path, oflags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	layer_init(&l, fd, ATOMFS_LAYER_FILE, st.st_size);
	err = digest_of(name, &l.digest);
	if (err) {
		close(fd);
		return err;
	}
	stack = create_stack(&l, 1, 0, NULL);
	close(fd);
	return stack;
}

static int blob_stack(const char *path, int oflags)
{
	return blob_stack_of(path, oflags, "base.sqfs");
}

/* Is at least one name listed in DIR? */
static bool dir_has_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			any = true;
	closedir(d);
	return any;
}

/*
 * The directory for the blobs: the ext4 scratch disk if mounted, else the
 * test's own tmpfs (WORK, mounted by then); the reason, or NULL, in *why.
 */
static const char *blob_store(const char **why)
{
	struct statfs sf;

	*why = NULL;
	if (!access(SCRATCH "/lost+found", F_OK)) {
		if (statfs(SCRATCH, &sf) || sf.f_type != EXT4_SUPER_MAGIC)
			*why = "/mnt/scratch is not the ext4 scratch disk";
		return SCRATCH "/blob_test";
	}
	if (!access(VM_DISK, F_OK))
		*why = "the VM has a scratch disk (/etc/vm-disk) but nothing is mounted at /mnt/scratch: see the kernel log";
	else if (statfs(WORK, &sf) || sf.f_type != TMPFS_MAGIC)
		*why = WORK " is not the test's tmpfs";
	return WORK "/store";
}

/* Field KEY of /proc/fs/atomfs/stats, or -1. */
static long long stat_of(const char *key)
{
	char line[256], k[64];
	long long v, found = -1;
	FILE *f = fopen("/proc/fs/atomfs/stats", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lld", k, &v) == 2 && !strcmp(k, key))
			found = v;
	fclose(f);
	return found;
}

/*
 * Copy the blob to SHARED, in build/ of the repository, which the VM
 * shares over 9p (tools/testing/vm/init; run_tests copies the fixtures to
 * the guest's tmpfs), and link it as SHARED_LINK. With cache=none, 9p
 * gives each name looked up its own inode, so the write denial on the
 * inode of SHARED does not cover the other name: writing through it is
 * what a 9p server or another client could do. NULL, or why not.
 */
static char SHARED_LINK[PATH_MAX];
static const char *share_fixture(const char *name)
{
	char line[8192], src[256], mp[PATH_MAX], fstype[64], dir[PATH_MAX];
	const char *top = getenv("ATOMFS_TOP"), *kernel;
	size_t len = 0;
	FILE *f;

	if (!top)
		return "ATOMFS_TOP is not set (run it with run_tests in tools/testing/vm/run)";
	/* 9p2000.L's statfs reports the server's f_type: ask mountinfo. */
	snprintf(dir, sizeof(dir), "%s/build", top);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return "no /proc/self/mountinfo";
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS] - FSTYPE SOURCE" */
	while (fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - ");

		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && dash &&
		    sscanf(dash, " - %63s %255s", fstype, src) == 2 &&
		    !strcmp(fstype, "9p") &&
		    !strncmp(dir, mp, strlen(mp)) && dir[strlen(mp)] == '/')
			len = strlen(mp);
	}
	fclose(f);
	if (!len)
		return "build/ is not on a 9p share (run it in tools/testing/vm/run)";
	/*
	 * One name per guest kernel: make check runs the debug guest beside
	 * the stock ones, and each would unlink or rewrite the other's copy.
	 */
	kernel = getenv("ATOMFS_VM_KERNEL");
	if (!kernel || !*kernel || strchr(kernel, '/'))
		kernel = "vm";
	snprintf(SHARED, sizeof(SHARED), "%s/blob_test_9p.%s.sqfs", dir, kernel);
	snprintf(SHARED_LINK, sizeof(SHARED_LINK), "%s/blob_test_9p.%s.link", dir, kernel);
	unlink(SHARED_LINK);
	if (copy_file(fixture(name), SHARED) || link(SHARED, SHARED_LINK))
		return "cannot copy the fixture onto the 9p share";
	return NULL;
}

static const char *share_blob(void)
{
	return share_fixture("base.sqfs");
}

FIXTURE(blob) {
	int loops;
};

FIXTURE_SETUP(blob)
{
	const char *dir, *why;

	ASSERT_EQ(0, access(fixture("verify/SHA256SUMS"), R_OK))
		TH_LOG("no %s: run make-fixtures", fixture("verify/SHA256SUMS"));
	ASSERT_EQ(0, set_param("require_verified", "1"));
	ASSERT_EQ(0, set_param("share_layers", "1"));
	self->loops = count_loops();
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
	ASSERT_EQ(0, mkdir(MNT2, 0755));
	dir = blob_store(&why);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);
	ksft_print_msg("blobs in %s (%s)\n", dir,
		       strncmp(dir, SCRATCH, strlen(SCRATCH)) ?
		       "tmpfs: buffered reads" : "ext4: direct I/O");
	snprintf(BLOB, sizeof(BLOB), "%s/base.sqfs", dir);
	snprintf(LINK, sizeof(LINK), "%s/base.link", dir);
	mkdir(dir, 0755);
	unlink(LINK);
	ASSERT_EQ(0, copy_file(fixture("base.sqfs"), BLOB));
	ASSERT_EQ(0, link(BLOB, LINK));
}

FIXTURE_TEARDOWN(blob)
{
	/* A test that stopped half-way may have left a delay set. */
	if (!access(KNOB "delay_point", W_OK)) {
		write_file(KNOB "delay_ms", "0", 1, 0600);
		write_file(KNOB "delay_point", "0", 1, 0600);
	}
	umount_below(WORK, false);
	if (SHARED[0]) {
		unlink(SHARED);
		unlink(SHARED_LINK);
	}
	EXPECT_EQ(0, count_block("atomfsb"));
	EXPECT_EQ(self->loops, count_loops());
}

/* A file layer mounts with no loop device, on a device of the module. */
TEST_F(blob, mounts_without_loop)
{
	char dev[64];
	int stack, loops = count_block("loop");

	stack = blob_stack(BLOB, O_RDONLY);
	ASSERT_LE(0, stack);
	ASSERT_EQ(0, find_blob_dev(dev, sizeof(dev)));
	ASSERT_EQ(0, mount_stack(stack, MNT));
	EXPECT_TRUE(dir_has_entries(MNT));
	EXPECT_EQ(loops, count_block("loop"));
	EXPECT_EQ(self->loops, count_loops());
	ASSERT_EQ(0, umount(MNT));
	/* The device lives as long as the stack. */
	EXPECT_EQ(1, count_block("atomfsb"));
	close(stack);
	EXPECT_EQ(0, count_block("atomfsb"));
}

/* While held, nothing opens the blob for writing, by any name. */
TEST_F(blob, writers_refused_while_held)
{
	int stack, fd, status, pipefd[2], cfd;
	char path[64];
	pid_t pid;

	stack = blob_stack(BLOB, O_RDONLY);
	ASSERT_LE(0, stack);
	EXPECT_EQ(-ETXTBSY, try_open(BLOB, O_WRONLY));
	EXPECT_EQ(-ETXTBSY, try_open(BLOB, O_RDWR));
	EXPECT_EQ(-ETXTBSY, try_open(LINK, O_WRONLY));
	EXPECT_EQ(-ETXTBSY, truncate(BLOB, 0) ? -errno : 0);
	EXPECT_EQ(-ETXTBSY, truncate(LINK, 4096) ? -errno : 0);

	/* Through /proc/PID/fd of another process holding it read-only. */
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		fd = open(BLOB, O_RDONLY);
		if (fd < 0)
			_exit(1);
		if (write(pipefd[1], &fd, sizeof(fd)) != sizeof(fd))
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(sizeof(cfd), read(pipefd[0], &cfd, sizeof(cfd)));
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, cfd);
	EXPECT_EQ(0, try_open(path, O_RDONLY));
	EXPECT_EQ(-ETXTBSY, try_open(path, O_WRONLY));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(pipefd[0]);
	close(pipefd[1]);

	/* Whoever holds a read-only fd cannot write through it either. */
	fd = open(BLOB, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_NE(0, fallocate(fd, 0, 0, 8192));
	EXPECT_EQ(-1, copy_file_range(fd, NULL, fd, NULL, 4096, 0));
	close(fd);

	close(stack);
	EXPECT_EQ(0, try_open(BLOB, O_WRONLY));
	EXPECT_EQ(0, truncate(LINK, file_size(fixture("base.sqfs"))));
}

/* A blob open for writing when the stack is made is refused. */
TEST_F(blob, open_for_writing_refused)
{
	int wfd, stack;

	/* The caller's own fd opened read-write. */
	EXPECT_EQ(-ETXTBSY, blob_stack(BLOB, O_RDWR));
	/* Someone else has it open for writing. */
	wfd = open(LINK, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, wfd);
	EXPECT_EQ(-ETXTBSY, blob_stack(BLOB, O_RDONLY));
	close(wfd);
	stack = blob_stack(BLOB, O_RDONLY);
	ASSERT_LE(0, stack);
	close(stack);
	EXPECT_EQ(0, count_block("atomfsb"));
}

/* One layer held by two stacks: writers wait for both to go. */
TEST_F(blob, shared_layer_denied_until_both_gone)
{
	int s1, s2;

	s1 = blob_stack(BLOB, O_RDONLY);
	ASSERT_LE(0, s1);
	s2 = blob_stack(LINK, O_RDONLY);
	ASSERT_LE(0, s2);
	/* Shared: one device. */
	EXPECT_EQ(1, count_block("atomfsb"));
	ASSERT_EQ(0, mount_stack(s1, MNT));
	ASSERT_EQ(0, mount_stack(s2, MNT2));
	close(s1);
	close(s2);
	ASSERT_EQ(0, umount(MNT));
	EXPECT_EQ(-ETXTBSY, try_open(BLOB, O_WRONLY));
	ASSERT_EQ(0, umount(MNT2));
	EXPECT_EQ(0, try_open(BLOB, O_WRONLY));
}

/* The module's device reads, refuses writes, even for root. */
TEST_F(blob, device_refuses_writes)
{
	char dev[64], magic[4];
	int stack, fd, ro = 0;

	stack = blob_stack(BLOB, O_RDONLY);
	ASSERT_LE(0, stack);
	ASSERT_EQ(0, find_blob_dev(dev, sizeof(dev)));
	EXPECT_EQ(-EROFS, try_open(dev, O_WRONLY));
	EXPECT_EQ(-EROFS, try_open(dev, O_RDWR));
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioctl(fd, BLKROGET, &ro));
	EXPECT_EQ(1, ro);
	/* Even made "writable", it opens for writing to nobody. */
	ro = 0;
	EXPECT_EQ(0, ioctl(fd, BLKROSET, &ro));
	EXPECT_EQ(-EROFS, try_open(dev, O_WRONLY));
	EXPECT_EQ(4, pread(fd, magic, 4, 0));
	EXPECT_EQ(0, memcmp(magic, "hsqs", 4));
	close(fd);
	close(stack);
}

/*
 * The layer's mount looks its device up in PID 1's root: a caller in a
 * chroot and its own mount namespace with no device nodes at all still
 * gets its stack.
 */
TEST_F(blob, caller_chrooted_without_dev)
{
	struct atomfs_create_stack cs;
	struct atomfs_layer l;
	int status, fd, ctl;
	pid_t pid;

	fd = open(BLOB, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	layer_init(&l, fd, ATOMFS_LAYER_FILE, file_size(BLOB));
	ASSERT_EQ(0, digest_of("base.sqfs", &l.digest));
	stack_args_init(&cs, &l, 1, 0, "chrooted");
	ctl = ctl_open();
	ASSERT_LE(0, ctl);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int stack;

		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tmpfs", "/dev", "tmpfs", 0, NULL) ||
		    mkdir(WORK "/root", 0755) || chroot(WORK "/root") ||
		    chdir("/"))
			_exit(2);
		stack = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, &cs);
		_exit(stack >= 0 ? 0 : 10 + (errno & 0x7f));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(ctl);
	close(fd);
}

/*
 * What the design accepts: with no devtmpfs on PID 1's /dev the node is
 * not found, and the stack is refused with ENOENT (and a warning), never
 * mounted from another node.
 */
TEST_F(blob, init_without_devtmpfs_enoent)
{
	struct atomfs_create_stack cs;
	struct atomfs_layer l;
	int status, fd, ctl;
	pid_t pid;

	fd = open(BLOB, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	layer_init(&l, fd, ATOMFS_LAYER_FILE, file_size(BLOB));
	ASSERT_EQ(0, digest_of("base.sqfs", &l.digest));
	stack_args_init(&cs, &l, 1, 0, "no-devtmpfs");
	ctl = ctl_open();
	ASSERT_LE(0, ctl);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int mnt_ns = open("/proc/1/ns/mnt", O_RDONLY), stack, err;

		/* An empty tmpfs over /dev in PID 1's own namespace. */
		if (mnt_ns < 0 || setns(mnt_ns, CLONE_NEWNS) ||
		    mount("tmpfs", "/dev", "tmpfs", 0, NULL))
			_exit(2);
		stack = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, &cs);
		err = stack < 0 ? errno : 0;
		if (umount("/dev"))
			_exit(3);
		_exit(err == ENOENT ? 0 : 10 + (err & 0x7f));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(ctl);
	close(fd);
}

/*
 * A reader of /dev/atomfsbN (udev's probe, say) that keeps the node open
 * past the layer's end does not delay the file's return: it is writable
 * as soon as the last stack is gone, and the reader gets no more data.
 */
TEST_F(blob, node_reader_does_not_delay_release)
{
	int stack, status, pipefd[2], go[2];
	char dev[64], c = 0;
	pid_t pid;

	stack = blob_stack(BLOB, O_RDONLY);
	ASSERT_LE(0, stack);
	ASSERT_EQ(0, mount_stack(stack, MNT));
	ASSERT_EQ(0, find_blob_dev(dev, sizeof(dev)));
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char magic[4];
		int fd = open(dev, O_RDONLY);
		ssize_t n;

		/* Only the node: not the stack fd inherited by fork(). */
		close(stack);
		if (fd < 0 || pread(fd, magic, 4, 0) != 4 ||
		    memcmp(magic, "hsqs", 4))
			_exit(2);
		if (write(pipefd[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(3);
		/* The layer is gone: no bytes of the file through here. */
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		n = pread(fd, magic, 4, 0);
		_exit(n > 0 ? 4 : 0);
	}
	ASSERT_EQ(1, read(pipefd[0], &c, 1));
	EXPECT_EQ(-ETXTBSY, try_open(BLOB, O_WRONLY));
	ASSERT_EQ(0, umount(MNT));
	close(stack);
	EXPECT_EQ(0, try_open(BLOB, O_WRONLY))
		TH_LOG("the blob is still write-denied while %s is open elsewhere",
		       dev);
	EXPECT_EQ(0, truncate(LINK, file_size(fixture("base.sqfs"))));
	ASSERT_EQ(1, write(go[1], &c, 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(pipefd[0]);
	close(pipefd[1]);
	close(go[0]);
	close(go[1]);
}

/* Read every regular file below DIR; the number read, or -errno. */
/*
 * What base.sqfs holds (make-fixtures): 16 regular files (hard2 is read
 * again), 112 bytes of text, "sparse" (4 MiB) and "large" (6 MiB).
 */
#define MIB (1024 * 1024)
#define BASE_FILES 16
#define BASE_BYTES (112LL + 4 * MIB + 6 * MIB)

/*
 * Reads every regular file under DIR to its end, adding the bytes read to
 * *BYTES: the number of files, or -errno (a failed read included).
 */
static int read_tree(const char *dir, long long *bytes)
{
	char path[PATH_MAX], buf[65536];
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0, r, fd;
	ssize_t got;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR) {
			r = read_tree(path, bytes);
			if (r < 0) {
				closedir(d);
				return r;
			}
			n += r;
		} else if (de->d_type == DT_REG) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				r = -errno;
				closedir(d);
				return r;
			}
			while ((got = read(fd, buf, sizeof(buf))) > 0)
				*bytes += got;
			r = -errno;
			close(fd);
			if (got < 0) {
				closedir(d);
				return r;
			}
			n++;
		}
	}
	closedir(d);
	return n;
}

/* Pages of FILE in the page cache (mincore), or -errno. */
static long cached_pages(const char *file)
{
	long page = sysconf(_SC_PAGESIZE), size = file_size(file), i, n = 0;
	unsigned char *vec;
	void *map;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -errno;
	vec = calloc((size + page - 1) / page, 1);
	if (!vec || mincore(map, size, vec)) {
		free(vec);
		munmap(map, size);
		return -ENOMEM;
	}
	for (i = 0; i < (size + page - 1) / page; i++)
		n += vec[i] & 1;
	free(vec);
	munmap(map, size);
	return n;
}

/*
 * On ext4 (direct I/O allowed, 512-byte logical blocks under it) the
 * device reads the blob with direct I/O: hashing it, mounting it and
 * reading every file through the stack leave none of the blob's pages in
 * the page cache (the data is cached once, by the layer's mount).
 */
TEST_F(blob, direct_io_leaves_blob_uncached)
{
	long before, after;
	long long bytes = 0;
	int stack, n;

	if (strncmp(BLOB, SCRATCH, strlen(SCRATCH)))
		SKIP(return, "blobs on tmpfs: 6.1's tmpfs has no direct I/O (the ext4 scratch disk of vm/run --disk has)");
	sync();
	ASSERT_EQ(0, write_file("/proc/sys/vm/drop_caches", "3", 1, 0));
	before = cached_pages(BLOB);
	ASSERT_EQ(0, before);
	stack = blob_stack(BLOB, O_RDONLY);
	ASSERT_LE(0, stack);
	ASSERT_EQ(0, mount_stack(stack, MNT));
	n = read_tree(MNT, &bytes);
	EXPECT_EQ(BASE_FILES, n) TH_LOG("read_tree: %s", strerror(n < 0 ? -n : 0));
	EXPECT_EQ(BASE_BYTES, bytes);
	after = cached_pages(BLOB);
	EXPECT_EQ(0, after) TH_LOG("%ld of the blob's pages cached after reading %d files through the stack",
				   after, n);
	ASSERT_EQ(0, umount(MNT));
	close(stack);
}

/*
 * rmmod is refused while a device is held, also when only a reader of the
 * removed device node is left, and succeeds once all are gone (the module
 * is loaded again for the tests that follow).
 */
TEST_F(blob, rmmod_refused_while_held)
{
	char dev[64];
	int stack, fd;

	stack = blob_stack(BLOB, O_RDONLY);
	ASSERT_LE(0, stack);
	ASSERT_EQ(0, find_blob_dev(dev, sizeof(dev)));
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, syscall(SYS_delete_module, "atomfs", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	close(stack);
	/* The stack is gone, its device is not: a reader has it open. */
	EXPECT_EQ(-1, syscall(SYS_delete_module, "atomfs", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	close(fd);
	ASSERT_EQ(0, syscall(SYS_delete_module, "atomfs", O_NONBLOCK))
		TH_LOG("rmmod atomfs with nothing held: %s", strerror(errno));
	EXPECT_NE(0, access("/sys/module/atomfs", F_OK));
	ASSERT_EQ(0, system("modprobe atomfs"));
}

/*
 * Threads make stacks from the same blob (by both names) at once, mount,
 * read, unmount and drop them: one device per held layer whatever the
 * interleaving, every create and mount succeeds, and when all are gone no
 * device is left and the write denial is fully given back.
 */
#define RACERS 4
#define ROUNDS 10

struct racer {
	pthread_barrier_t *barrier;
	int id;
	int err;	/* the first failure, -errno */
	const char *what;	/* and what failed */
};

static void *race_one(void *arg)
{
	struct racer *r = arg;
	char mnt[64];
	int i, stack;

	snprintf(mnt, sizeof(mnt), WORK "/race%d", r->id);
	if (mkdir(mnt, 0755)) {
		r->err = -errno;
		r->what = "mkdir";
	}
	pthread_barrier_wait(r->barrier);
	for (i = 0; i < ROUNDS && !r->err; i++) {
		stack = blob_stack(race_shared && r->id >= 2 ? SHARED :
				   r->id & 1 ? LINK : BLOB, O_RDONLY);
		if (stack < 0) {
			r->err = stack;
			r->what = "create stack";
			break;
		}
		r->err = mount_stack(stack, mnt);
		if (r->err) {
			r->what = "mount";
		} else {
			if (!dir_has_entries(mnt)) {
				r->err = -ENODATA;
				r->what = "readdir";
			}
			if (umount(mnt) && !r->err) {
				r->err = -errno;
				r->what = "umount";
			}
		}
		close(stack);
	}
	return NULL;
}

/* Start RACERS threads of race_one() at once and check each one's result. */
static void run_racers(struct __test_metadata *_metadata)
{
	struct racer r[RACERS];
	pthread_barrier_t barrier;
	pthread_t th[RACERS];
	int i;

	ASSERT_EQ(0, pthread_barrier_init(&barrier, NULL, RACERS));
	for (i = 0; i < RACERS; i++) {
		r[i] = (struct racer){ .barrier = &barrier, .id = i };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, race_one, &r[i]));
	}
	for (i = 0; i < RACERS; i++) {
		ASSERT_EQ(0, pthread_join(th[i], NULL));
		EXPECT_EQ(0, r[i].err)
			TH_LOG("racer %d: %s: %s", i, r[i].what, strerror(-r[i].err));
	}
	pthread_barrier_destroy(&barrier);
}

/* About 10 s on the stock kernel, a minute or more on the debug kernel. */
TEST_F_TIMEOUT(blob, concurrent_stacks_mounts_and_umounts, 600)
{
	long long start = now_ms();
	int i;

	run_racers(_metadata);
	TH_LOG("%d racers x %d rounds in %lld ms", RACERS, ROUNDS,
	       now_ms() - start);
	EXPECT_EQ(0, count_block("atomfsb"));
	EXPECT_EQ(0, try_open(BLOB, O_WRONLY));
	/* And held again after all that: the count of denials is exact. */
	i = blob_stack(LINK, O_RDONLY);
	ASSERT_LE(0, i);
	EXPECT_EQ(-ETXTBSY, try_open(BLOB, O_WRONLY));
	close(i);
	EXPECT_EQ(0, try_open(BLOB, O_WRONLY));
}

/*
 * The same, with half of the racers giving the copy on the 9p share: the
 * held layer is then sometimes on 9p (hashed again on each reuse, in
 * parallel with the others' set-ups and releases), sometimes on the local
 * blob (reused as it is).
 */
TEST_F_TIMEOUT(blob, concurrent_reuse_local_and_9p, 600)
{
	const char *why;

	/*
	 * The race is the held table's (the module's own logic); a held
	 * layer read over 9p (netfs on 6.12) runs on every line in
	 * held_layer_on_9p_hashed_again, and these racers' set-ups and
	 * releases of file layers in concurrent_stacks_mounts_and_umounts.
	 */
	if (atomfs_skip_line_independent())
		SKIP(return, ATOMFS_LINE_SKIP_MSG);
	why = share_blob();
	if (why)
		SKIP(return, "%s", why);
	race_shared = 1;
	run_racers(_metadata);
	race_shared = 0;
	EXPECT_EQ(0, count_block("atomfsb"));
	EXPECT_EQ(0, try_open(BLOB, O_WRONLY));
	EXPECT_EQ(0, try_open(SHARED, O_WRONLY));
}

/*
 * A held layer whose blob is on the local store (ext4 or tmpfs): the write
 * denial pins it, so a second stack of its digest reuses it without a
 * hash.
 */
TEST_F(blob, held_local_layer_reused_without_hash)
{
	long long hashed, reused;
	int a, b;

	a = blob_stack(BLOB, O_RDONLY);
	ASSERT_LE(0, a);
	hashed = stat_of("bytes_hashed");
	reused = stat_of("layers_reused");
	ASSERT_LE(0, hashed);
	b = blob_stack(LINK, O_RDONLY);
	ASSERT_LE(0, b);
	EXPECT_EQ(hashed, stat_of("bytes_hashed"))
		TH_LOG("a held layer on the local store was hashed again");
	EXPECT_EQ(reused + 1, stat_of("layers_reused"));
	close(b);
	close(a);
}

/*
 * A held layer whose blob is on 9p: this kernel's write denial does not
 * bind the server (nor another name of the file, here), so every reuse hashes
 * it again, and bytes changed behind the denial are caught: the next
 * stack fails with EBADMSG, the layer is marked bad (the first stack's
 * mount shows unverified) and never handed out again.
 */
TEST_F_TIMEOUT(blob, held_layer_on_9p_hashed_again, 300)
{
	long long hashed, reused, size = file_size(fixture("base.sqfs"));
	char line[8192], c;
	const char *why;
	int a, b, fd;

	why = share_blob();
	if (why)
		SKIP(return, "%s", why);
	a = blob_stack(SHARED, O_RDONLY);
	ASSERT_LE(0, a) TH_LOG("create-stack: %s", strerror(-a));
	ASSERT_EQ(0, mount_stack(a, MNT));
	EXPECT_EQ(-ETXTBSY, try_open(SHARED, O_WRONLY));

	hashed = stat_of("bytes_hashed");
	reused = stat_of("layers_reused");
	b = blob_stack(SHARED, O_RDONLY);
	ASSERT_LE(0, b) TH_LOG("create-stack: %s", strerror(-b));
	EXPECT_EQ(size, stat_of("bytes_hashed") - hashed)
		TH_LOG("a held layer on 9p was reused without a hash");
	EXPECT_EQ(reused + 1, stat_of("layers_reused"));
	EXPECT_EQ(1, count_block("atomfsb"));
	close(b);

	/* The other name's inode is not denied: change the padding. */
	fd = open(SHARED_LINK, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", SHARED_LINK, strerror(errno));
	ASSERT_EQ(1, pread(fd, &c, 1, size - 1));
	c ^= 0x5a;
	ASSERT_EQ(1, pwrite(fd, &c, 1, size - 1));
	close(fd);
	b = blob_stack(SHARED, O_RDONLY);
	EXPECT_EQ(-EBADMSG, b)
		TH_LOG("create-stack: %s", b < 0 ? strerror(-b) : "succeeded");
	if (b >= 0)
		close(b);
	ASSERT_TRUE(mountinfo_line(MNT, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",unverified")) TH_LOG("%s", line);
	EXPECT_EQ(0, umount(MNT));
	close(a);
	EXPECT_EQ(0, count_block("atomfsb"));
}

/* An io_uring with raw system calls (no liburing here): one SQE at a time. */
struct uring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail,
		*cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	void *sq, *cq;
	size_t sq_size, cq_size, sqes_size;
};

static int uring_init(struct uring *u)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	memset(u, 0, sizeof(*u));
	u->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (u->fd < 0)
		return -errno;
	u->sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	u->cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	u->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
	u->sq = mmap(NULL, u->sq_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     u->fd, IORING_OFF_SQ_RING);
	u->cq = mmap(NULL, u->cq_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     u->fd, IORING_OFF_CQ_RING);
	u->sqes = mmap(NULL, u->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       u->fd, IORING_OFF_SQES);
	if (u->sq == MAP_FAILED || u->cq == MAP_FAILED ||
	    u->sqes == MAP_FAILED)
		return -ENOMEM;
	u->sq_tail = (unsigned int *)((char *)u->sq + p.sq_off.tail);
	u->sq_mask = (unsigned int *)((char *)u->sq + p.sq_off.ring_mask);
	u->sq_array = (unsigned int *)((char *)u->sq + p.sq_off.array);
	u->cq_head = (unsigned int *)((char *)u->cq + p.cq_off.head);
	u->cq_tail = (unsigned int *)((char *)u->cq + p.cq_off.tail);
	u->cq_mask = (unsigned int *)((char *)u->cq + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)((char *)u->cq + p.cq_off.cqes);
	return 0;
}

static void uring_end(struct uring *u)
{
	if (u->sqes && u->sqes != MAP_FAILED)
		munmap(u->sqes, u->sqes_size);
	if (u->cq && u->cq != MAP_FAILED)
		munmap(u->cq, u->cq_size);
	if (u->sq && u->sq != MAP_FAILED)
		munmap(u->sq, u->sq_size);
	if (u->fd >= 0)
		close(u->fd);
}

/* IORING_OP_READ_FIXED of LEN bytes of FD at 0 into BUF (buffer 0). */
static int uring_read_fixed(struct uring *u, int fd, void *buf,
			    unsigned int len)
{
	unsigned int tail = *u->sq_tail, idx = tail & *u->sq_mask, head;
	struct io_uring_sqe *sqe = &u->sqes[idx];

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_READ_FIXED;
	sqe->fd = fd;
	sqe->addr = (uintptr_t)buf;
	sqe->len = len;
	sqe->buf_index = 0;
	u->sq_array[idx] = idx;
	__atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, u->fd, 1, 1, IORING_ENTER_GETEVENTS,
		    NULL, 0) < 0)
		return -errno;
	head = *u->cq_head;
	if (head == __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE))
		return -EIO;
	__atomic_store_n(u->cq_head, head + 1, __ATOMIC_RELEASE);
	return u->cqes[head & *u->cq_mask].res;
}

/*
 * Readers are not pins: 1100 read-only shared mappings of page 0 of a tmpfs
 * blob give that order-0 folio more than GUP_PIN_COUNTING_BIAS (1024)
 * references, which folio_maybe_dma_pinned() alone takes for a pin. The
 * stack must still be created, while the mappings are there.
 */
TEST_F(blob, readers_mappings_do_not_refuse)
{
	const char *blob = WORK "/ro.sqfs";
	static char *maps[1100];
	int fd, stack, i;

	ASSERT_EQ(0, copy_file(fixture("base.sqfs"), blob));
	fd = open(blob, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	for (i = 0; i < 1100; i++) {
		maps[i] = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, maps[i]);
		(void)*(volatile char *)maps[i];
	}
	close(fd);
	stack = blob_stack(blob, O_RDONLY);
	EXPECT_LE(0, stack)
		TH_LOG("create-stack with 1100 read-only mappings of page 0: %s",
		       strerror(-stack));
	if (stack >= 0)
		close(stack);
	for (i = 0; i < 1100; i++)
		munmap(maps[i], 4096);
	unlink(blob);
}

/*
 * Fail closed: 1100 pipe buffers holding page 0 of a blob (splice from
 * it) keep more than GUP_PIN_COUNTING_BIAS plain references on it, none of
 * them a mapping, which the kernel cannot tell from pins of an order-0
 * folio (AF_XDP, RDMA and vfio pin any file's pages on 6.1, not only
 * shmem's). The stack is refused (ETXTBSY) while the pipe holds them, and
 * created once it is closed. atomfs.rst: keep blob stores unreadable to
 * users who must not delay stack creation.
 */
TEST_F(blob, pipe_references_refuse_until_released)
{
	int fd, stack, i, p[2];
	loff_t off;

	fd = open(BLOB, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_LE(1100 * 4096, fcntl(p[1], F_SETPIPE_SZ, 2048 * 4096))
		TH_LOG("F_SETPIPE_SZ: %s", strerror(errno));
	for (i = 0; i < 1100; i++) {
		off = 0;
		ASSERT_EQ(4096, splice(fd, &off, p[1], NULL, 4096, 0))
			TH_LOG("splice %d: %s", i, strerror(errno));
	}
	close(fd);
	stack = blob_stack(BLOB, O_RDONLY);
	EXPECT_EQ(-ETXTBSY, stack)
		TH_LOG("create-stack with page 0 in 1100 pipe buffers: %s",
		       stack < 0 ? strerror(-stack) : "created");
	if (stack >= 0)
		close(stack);
	close(p[0]);
	close(p[1]);
	stack = blob_stack(BLOB, O_RDONLY);
	EXPECT_LE(0, stack)
		TH_LOG("create-stack after the pipe was closed: %s",
		       strerror(-stack));
	if (stack >= 0)
		close(stack);
}

/*
 * Pins taken before the write denial: the last page of a tmpfs blob, mapped
 * shared and writable, is registered as an io_uring fixed buffer (pinned),
 * then unmapped and its file closed, so nothing has the blob open for
 * writing any more. A stack of it must be refused (ETXTBSY): otherwise a
 * READ_FIXED into that buffer after the hash changes what the layer's
 * device serves. Once the buffer is unregistered the blob is taken.
 * io_uring only registers shmem mappings of files, so the blob is on the
 * test's tmpfs whatever the store; the debug kernel has no io_uring.
 */
TEST_F(blob, io_uring_pinned_blob_refused)
{
	long long size = file_size(fixture("base.sqfs"));
	const char *blob = WORK "/pinned.sqfs", *src = WORK "/bytes";
	char page[4096], dev[64];
	struct iovec iov;
	struct uring u;
	int fd, sfd, stack, ret;
	char *map;

	ret = uring_init(&u);
	if (ret == -ENOSYS) {
		uring_end(&u);
		SKIP(return, "this kernel has no io_uring (the debug kernel's config)");
	}
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup: %s", strerror(-ret));
	ASSERT_EQ(0, copy_file(fixture("base.sqfs"), blob));
	memset(page, 0x5a, sizeof(page));
	ASSERT_EQ(0, write_file(src, page, sizeof(page), 0600));

	fd = open(blob, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	iov.iov_base = map + size - sizeof(page);
	iov.iov_len = sizeof(page);
	ASSERT_EQ(0, syscall(__NR_io_uring_register, u.fd,
			     IORING_REGISTER_BUFFERS, &iov, 1))
		TH_LOG("IORING_REGISTER_BUFFERS: %s", strerror(errno));
	munmap(map, size);
	close(fd);

	stack = blob_stack(blob, O_RDONLY);
	EXPECT_EQ(-ETXTBSY, stack)
		TH_LOG("create-stack over a pinned blob: %s",
		       stack < 0 ? strerror(-stack) : "succeeded");
	if (stack >= 0) {
		/* What the pin can do now: the device serves other bytes. */
		sfd = open(src, O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, sfd);
		EXPECT_EQ((int)sizeof(page),
			  uring_read_fixed(&u, sfd, iov.iov_base, sizeof(page)));
		close(sfd);
		ASSERT_EQ(0, find_blob_dev(dev, sizeof(dev)));
		fd = open(dev, O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, fd);
		memset(page, 0, sizeof(page));
		EXPECT_EQ((ssize_t)sizeof(page),
			  pread(fd, page, sizeof(page), size - sizeof(page)));
		close(fd);
		TH_LOG("after the hash, the verified layer's device serves 0x%02x at its last page (0x5a: what READ_FIXED wrote)",
		       (unsigned char)page[0]);
		close(stack);
	}
	ASSERT_EQ(0, syscall(__NR_io_uring_register, u.fd,
			     IORING_UNREGISTER_BUFFERS, NULL, 0));
	uring_end(&u);
	/* The refusal gave the denial back; unpinned, the blob is taken. */
	EXPECT_EQ(0, try_open(blob, O_WRONLY));
	if (stack >= 0)
		ASSERT_EQ(0, copy_file(fixture("base.sqfs"), blob));
	stack = blob_stack(blob, O_RDONLY);
	EXPECT_LE(0, stack) TH_LOG("create-stack: %s", strerror(-stack));
	if (stack >= 0)
		close(stack);
	unlink(blob);
	unlink(src);
}

#define DELAY_BEFORE_MOUNT "2" /* ATOMFS_DELAY_BEFORE_MOUNT */

/* A stack of the 9p copy SHARED over a second layer FILE with digest D. */
struct two_layer_stack {
	const char *file;
	struct atomfs_digest d;
	int ret;		/* the stack fd or -errno */
	unsigned int failed;	/* the layer a failure names */
	volatile int done;
};

static void *create_two_layer_stack(void *arg)
{
	struct two_layer_stack *t = arg;
	struct atomfs_layer l[2];
	int fd0, fd1;

	fd0 = open(SHARED, O_RDONLY | O_CLOEXEC);
	fd1 = open(t->file, O_RDONLY | O_CLOEXEC);
	if (fd0 < 0 || fd1 < 0) {
		t->ret = -errno;
	} else {
		layer_init(&l[0], fd0, ATOMFS_LAYER_FILE, file_size(SHARED));
		layer_init(&l[1], fd1, ATOMFS_LAYER_FILE, file_size(t->file));
		t->ret = digest_of("top_ovl.sqfs", &l[0].digest);
		l[1].digest = t->d;
		if (!t->ret)
			t->ret = create_stack(l, 2, 0, &t->failed);
	}
	if (fd0 >= 0)
		close(fd0);
	if (fd1 >= 0)
		close(fd1);
	__atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * Two stacks hash the same held 9p layer (top_ovl.sqfs, 4 KiB: quick to
 * hash again over 9p) at once, and the blob changes in between: B's hash
 * reads the old bytes and matches, then A's reads the new ones and marks
 * the layer bad while B is still setting up its other layer. B must not
 * succeed with a layer that is no longer verified (EBADMSG, "Concurrent
 * re-hashes" in atomfs.rst). The debug kernel's delay knob holds B 10 s
 * before its second layer's mount; elsewhere that layer is base.sqfs
 * padded to 64 MiB, still being hashed when A is done (2 CPUs, so 2 hash
 * workers). B's 9p layer is hashed when its one chunk, the only one not a
 * whole MiB, has been counted.
 */
TEST_F_TIMEOUT(blob, concurrent_rehash_mismatch_fails_both, 300)
{
	long long size = file_size(fixture("top_ovl.sqfs")), hashed;
	bool knob = access(KNOB "delay_point", W_OK) == 0;
	struct two_layer_stack b = { 0 };
	char other[PATH_MAX + 16], c;
	long long want, start;
	const char *why;
	pthread_t th;
	int a, a2, fd;

	/*
	 * The held table's re-hash race: the module's own logic. A held
	 * layer hashed again over 9p and on a loop disk runs on every line
	 * (held_layer_on_9p_hashed_again, held_layer_on_loop_disk_hashed_again).
	 */
	if (atomfs_skip_line_independent())
		SKIP(return, ATOMFS_LINE_SKIP_MSG);
	why = share_fixture("top_ovl.sqfs");
	if (why)
		SKIP(return, "%s", why);
	snprintf(other, sizeof(other), "%s.other", BLOB);
	if (knob) {
		ASSERT_EQ(0, copy_file(fixture("base.sqfs"), other));
		ASSERT_EQ(0, digest_of("base.sqfs", &b.d));
	} else {
		ASSERT_EQ(0, copy_file(fixture("base.sqfs"), other));
		ASSERT_EQ(0, truncate(other, 64LL * MIB));
		ASSERT_EQ(0, digest_of("pad64M/base", &b.d));
	}
	b.file = other;
	ASSERT_NE(0, size % MIB);
	a = blob_stack_of(SHARED, O_RDONLY, "top_ovl.sqfs");
	ASSERT_LE(0, a) TH_LOG("create-stack: %s", strerror(-a));

	if (knob) {
		ASSERT_EQ(0, write_file(KNOB "delay_ms", "10000", 5, 0600));
		ASSERT_EQ(0, write_file(KNOB "delay_point", DELAY_BEFORE_MOUNT,
					1, 0600));
	}
	hashed = stat_of("bytes_hashed");
	want = knob ? size + file_size(other) : size;
	ASSERT_EQ(0, pthread_create(&th, NULL, create_two_layer_stack, &b));
	/* Wait for B's hash of the 9p layer (and on the knob, of both). */
	start = now_ms();
	while (now_ms() - start < 60000) {
		long long d = stat_of("bytes_hashed") - hashed;

		if (knob ? d >= want : d % MIB == size % MIB)
			break;
		usleep(1000);
	}
	ASSERT_GT(60000, now_ms() - start)
		TH_LOG("B's hash of the 9p layer did not end within 60 s");
	/* Change the 9p blob through its other name; A's hash sees it. */
	fd = open(SHARED_LINK, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", SHARED_LINK, strerror(errno));
	ASSERT_EQ(1, pread(fd, &c, 1, size - 1));
	c ^= 0x5a;
	ASSERT_EQ(1, pwrite(fd, &c, 1, size - 1));
	close(fd);
	a2 = blob_stack_of(SHARED, O_RDONLY, "top_ovl.sqfs");
	EXPECT_EQ(-EBADMSG, a2)
		TH_LOG("A: create-stack: %s", a2 < 0 ? strerror(-a2) : "succeeded");
	if (a2 >= 0)
		close(a2);
	EXPECT_FALSE(__atomic_load_n(&b.done, __ATOMIC_SEQ_CST))
		TH_LOG("B was done before A: the race was not reproduced (a slow hash of its second layer is needed)");
	ASSERT_EQ(0, pthread_join(th, NULL));
	if (knob) {
		write_file(KNOB "delay_ms", "0", 1, 0600);
		write_file(KNOB "delay_point", "0", 1, 0600);
	}
	EXPECT_EQ(-EBADMSG, b.ret)
		TH_LOG("B: create-stack with a layer marked bad meanwhile: %s",
		       b.ret < 0 ? strerror(-b.ret) : "succeeded");
	/* refused for the 9p layer A marked bad, not its own second one */
	EXPECT_EQ(0, b.failed) TH_LOG("B's refusal names layer %u", b.failed);
	if (b.ret >= 0) {
		/* A stack with a layer marked bad: require_verified refuses it. */
		TH_LOG("B's mount: %s", mount_stack(b.ret, MNT2) ?
		       strerror(errno) : "mounted");
		umount(MNT2);
		close(b.ret);
	}
	close(a);
	unlink(other);
	EXPECT_EQ(0, count_block("atomfsb"));
}

/*
 * Mount the fixture ext4 image read-only at WORK/NAME (@dir, PATH_MAX
 * bytes) from a loop device with logical blocks of @block bytes (0: the
 * default). 0, or -ENODEV on a kernel without ext4, the loop device then
 * released. The mount holds the loop device; it is cleared at the umount.
 */
static int mount_ext4_fixture(struct __test_metadata *_metadata,
			      FIXTURE_DATA(blob) *self, const char *name,
			      unsigned int block, char *dir)
{
	int loop, nr = -1, ret;
	char dev[64];

	loop = loop_attach(fixture("ext4-with-base.img"), true, &nr);
	ASSERT_LE(0, loop) TH_LOG("loop: %s", strerror(-loop));
	if (block)
		ASSERT_EQ(0, ioctl(loop, LOOP_SET_BLOCK_SIZE, block))
			TH_LOG("LOOP_SET_BLOCK_SIZE: %s", strerror(errno));
	snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
	snprintf(dir, PATH_MAX, WORK "/%s", name);
	ASSERT_EQ(0, mkdir(dir, 0755));
	ret = mount(dev, dir, "ext4", MS_RDONLY, NULL);
	if (ret && errno == ENODEV) {
		close(loop);
		ASSERT_EQ(self->loops, wait_layer_devs(self->loops, 5000));
		return -ENODEV;
	}
	ASSERT_EQ(0, ret) TH_LOG("mount %s: %s", dev, strerror(errno));
	close(loop);
	return 0;
}

/*
 * A blob on ext4 mounted from a loop device: the disk's blocks come from a
 * file that this kernel's write denial does not cover, so a held layer
 * there is hashed again on reuse, as on 9p.
 */
TEST_F(blob, held_layer_on_loop_disk_hashed_again)
{
	long long hashed, size = file_size(fixture("base.sqfs"));
	char dir[PATH_MAX], blob[PATH_MAX + 16];
	int a, b;

	if (mount_ext4_fixture(_metadata, self, "ext4", 0, dir) == -ENODEV)
		SKIP(return, "this kernel has no ext4 (the debug kernel's config)");
	snprintf(blob, sizeof(blob), "%s/base.sqfs", dir);
	a = blob_stack(blob, O_RDONLY);
	ASSERT_LE(0, a) TH_LOG("create-stack: %s", strerror(-a));
	hashed = stat_of("bytes_hashed");
	b = blob_stack(blob, O_RDONLY);
	ASSERT_LE(0, b) TH_LOG("create-stack: %s", strerror(-b));
	EXPECT_EQ(size, stat_of("bytes_hashed") - hashed)
		TH_LOG("a held layer on a loop-backed disk was reused without a hash");
	close(b);
	close(a);
	/* the layer is released once its stacks are gone */
	EXPECT_EQ(0, count_block("atomfsb"));
	EXPECT_EQ(0, umount(dir));
	EXPECT_EQ(self->loops, wait_layer_devs(self->loops, 5000));
}

/*
 * A blob on a disk with 4 KiB logical blocks (ext4 with 4 KiB blocks on a
 * loop device set to 4096-byte blocks): the layer's device takes the
 * disk's logical block size, as loop does, so it reads the blob with
 * direct I/O, and reading every file through the stack leaves none of the
 * blob's pages cached. With 512-byte blocks it would read buffered.
 */
TEST_F(blob, four_k_sector_disk_gets_direct_io)
{
	char dev[64], dir[PATH_MAX], blob[PATH_MAX + 16], attr[128];
	int stack, n;
	long long bytes = 0;
	long after;

	if (mount_ext4_fixture(_metadata, self, "ext4k", 4096, dir) == -ENODEV)
		SKIP(return, "this kernel has no ext4 (the debug kernel's config)");
	snprintf(blob, sizeof(blob), "%s/base.sqfs", dir);
	stack = blob_stack(blob, O_RDONLY);
	ASSERT_LE(0, stack) TH_LOG("create-stack: %s", strerror(-stack));
	ASSERT_EQ(0, find_blob_dev(dev, sizeof(dev)));
	snprintf(attr, sizeof(attr), "/sys/block/%s/queue/logical_block_size",
		 dev + 5);
	EXPECT_TRUE(file_is(attr, "4096"));
	ASSERT_EQ(0, mount_stack(stack, MNT));
	n = read_tree(MNT, &bytes);
	EXPECT_EQ(BASE_FILES, n) TH_LOG("read_tree: %s", strerror(n < 0 ? -n : 0));
	EXPECT_EQ(BASE_BYTES, bytes);
	after = cached_pages(blob);
	EXPECT_EQ(0, after) TH_LOG("%ld of the blob's pages cached after reading %d files through the stack: no direct I/O",
				   after, n);
	EXPECT_EQ(0, umount(MNT));
	close(stack);
	EXPECT_EQ(0, count_block("atomfsb"));
	EXPECT_EQ(0, umount(dir));
	EXPECT_EQ(self->loops, wait_layer_devs(self->loops, 5000));
}

ATOMFS_HARNESS_MAIN
