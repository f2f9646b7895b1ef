// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel hardening (issue 10), each finding of the review as a test that
 * failed before its fix:
 *  1. the inode hash test never meets a half-built inode (hard links stat-ed
 *     in parallel; on the debug kernel a delay knob holds the new inode);
 *  2. opaqueness is decided under the mounter's credentials, whoever looks
 *     first (an unprivileged user, root in a user namespace), with and
 *     without directory indexes;
 *  3. LOOP_CHANGE_FD between the hash and the mount is caught (diskseq),
 *     and a held loop layer is hashed again before each reuse;
 *  4. listxattr shows trusted.* names only to CAP_SYS_ADMIN;
 *  5. each ioctl on /dev/atomfs checks CAP_SYS_ADMIN itself; and the
 *     broad sweep of issue 15 (nobody, root in a user namespace, root
 *     without the capability, each with fds passed down: every ioctl,
 *     mount, fsopen, /dev/atomfs's mode, what /proc/fs/atomfs shows);
 *  6. the decoy-device window: shown, and refused with ESTALE;
 *  7. crafted inode numbers above a layer's count keep apart;
 *  8. max_layers bounded, require_verified at mount, mountinfo unverified
 *     once a held layer is marked bad;
 *  9. NO_FD size, killable dir_lock, kept build errors, one shared overflow
 *     readdir list, nosuid/nodev of directory layers, idmapped directory
 *     layers refused (the ext4 scratch disk), redirect/metacopy.
 * Tests that need the delay knob (/sys/kernel/debug/atomfs/delay_*) run
 * on the debug kernel only and say so when skipped.
 */
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "tree_cmp.h"
#include "kselftest_harness.h"

#define WORK "/tmp/atomfs-hardening"
#define MNT WORK "/mnt"
#define MNT2 WORK "/mnt2"
#define KNOB "/sys/kernel/debug/atomfs/"
#define NOBODY 65534

enum { DELAY_INODE_NEW = 1, DELAY_BEFORE_MOUNT = 2, DELAY_DIR_BUILD = 3 };

/* Exec'd through atomfs by nosuid_nodev_dir_layer: print the euid. */
__attribute__((constructor)) static void print_euid(void)
{
	if (getenv("ATOMFS_PRINT_EUID")) {
		printf("%u\n", geteuid());
		exit(0);
	}
}

static bool have_knob(void)
{
	return access(KNOB "delay_point", W_OK) == 0;
}

static int set_delay(unsigned int point, unsigned int ms)
{
	char v[16];
	int err;

	snprintf(v, sizeof(v), "%u", ms);
	err = write_file(KNOB "delay_ms", v, strlen(v), 0600);
	snprintf(v, sizeof(v), "%u", point);
	return err ?: write_file(KNOB "delay_point", v, strlen(v), 0600);
}

/* Append hard/NAME as a verified block layer; *nr gets its loop number. */
static int add_hard_verified(struct layer_set *ls, const char *name, int *nr)
{
	char path[64];
	long long size;
	int fd, err;

	snprintf(path, sizeof(path), "hard/%s", name);
	size = file_size(fixture(path));
	if (size < 0)
		return size;
	fd = loop_attach(fixture(path), true, nr);
	if (fd < 0)
		return fd;
	ls->fd[ls->nr] = fd;
	layer_init(&ls->l[ls->nr], fd, 0, size);
	err = digest_from("hard/SHA256SUMS", name, &ls->l[ls->nr].digest);
	ls->nr++;
	return err;
}

/* Create a stack of LS (base first) and mount it at DIR. */
static int stack_mount(struct layer_set *ls, unsigned int style,
		       const char *dir)
{
	int fd, err;

	fd = create_stack(ls->l, ls->nr, style, NULL);
	if (fd < 0)
		return fd;
	err = mount_stack(fd, dir);
	close(fd);
	return err;
}

/* Stack fixture images NAMES (no digests) at DIR. */
static int stack_plain(const char *dir, unsigned int style, int nr,
		       const char *const *names)
{
	static struct layer_set ls;
	int i, err = 0;

	ls.nr = 0;
	for (i = 0; i < nr && !err; i++)
		err = add_file_layer(&ls, fixture(names[i]));
	if (!err)
		err = stack_mount(&ls, style, dir);
	put_layers(&ls);
	return err;
}

#define STACK_PLAIN(dir, ...)                                              \
	({                                                                 \
		const char *const __n[] = { __VA_ARGS__ };                 \
		stack_plain(dir, 0, sizeof(__n) / sizeof(__n[0]), __n);    \
	})

static const char *listing(const char *dir)
{
	static char buf[16384];
	size_t len = 0;
	char **v;
	int n, i;

	buf[0] = 0;
	v = dir_names(dir, &n);
	if (n < 0)
		return "(error)";
	for (i = 0; i < n; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s%s",
				i ? " " : "", v[i]);
	free_names(v, n);
	return buf;
}

enum who { AS_NOBODY, AS_USERNS_ROOT };

/* Become someone without CAP_SYS_ADMIN in the initial namespace. */
static int become(enum who who)
{
	if (who == AS_USERNS_ROOT)
		return unshare(CLONE_NEWUSER) ? -errno : 0;
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return -errno;
	return 0;
}

/* Run FN(ARG) in a child as WHO; its return value (0..255) or -1. */
static int as_other(enum who who, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(become(who) ? 200 : fn(arg));
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int stat_paths(void *arg)
{
	const char *const *p;
	struct stat st;

	for (p = arg; *p; p++)
		stat(*p, &st); /* the result does not matter: the look does */
	return 0;
}

static int read_stat_field(const char *file, const char *key, long long *v)
{
	char buf[8192], *p;

	if (read_file(file, buf, sizeof(buf)) < 0)
		return -EIO;
	p = strstr(buf, key);
	if (!p || sscanf(p + strlen(key), " %lld", v) != 1)
		return -ENOENT;
	return 0;
}

FIXTURE(h) {
	int loops;
};

FIXTURE_SETUP(h)
{
	self->loops = count_layer_devs();
	ASSERT_GE(self->loops, 0);
	ASSERT_EQ(0, set_param("require_verified", "1"));
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
	ASSERT_EQ(0, mkdir(MNT2, 0755));
}

FIXTURE_TEARDOWN(h)
{
	if (have_knob())
		set_delay(0, 0);
	umount_below(WORK, true);
	EXPECT_EQ(0, count_mounts("atomfs"));
	close_range(3, ~0U, 0);
	umount_below(WORK, false);
	set_param("require_verified", "1");
	set_param("dir_index_max", "1000000");
	set_param("max_layers", "4096");
	EXPECT_EQ(self->loops, wait_layer_devs(self->loops, 5000));
}

/* --- 1. the inode hash ------------------------------------------------ */

struct stat_arg {
	pthread_barrier_t *barrier;
	char path[PATH_MAX];
	struct stat st;
	int err;
};

static void *stat_thread(void *p)
{
	struct stat_arg *a = p;

	pthread_barrier_wait(a->barrier);
	a->err = stat(a->path, &a->st) ? errno : 0;
	return NULL;
}

/*
 * Eight hard links of one file stat-ed at once, while the first lookup's
 * new inode is held for 500 ms between iget5_locked() and its set-up: the
 * other seven find it in the hash bucket. Before the fix the test callback
 * dereferenced its NULL ->real under inode_hash_lock (an oops).
 */
TEST_F_TIMEOUT(h, hard_links_race_inode_setup, 120)
{
	struct stat_arg a[8];
	pthread_barrier_t barrier;
	pthread_t th[8];
	int i;

	if (!have_knob())
		SKIP(return, "needs the delay knob of the debug kernel (" KNOB "delay_point)");
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, STACK_PLAIN(MNT, "hard/links.sqfs"));
	ASSERT_EQ(0, access(MNT "/l", X_OK)); /* /l itself looked up first */
	ASSERT_EQ(0, set_delay(DELAY_INODE_NEW, 500));
	ASSERT_EQ(0, pthread_barrier_init(&barrier, NULL, 8));
	for (i = 0; i < 8; i++) {
		a[i].barrier = &barrier;
		snprintf(a[i].path, sizeof(a[i].path), MNT "/l/h%02d", i);
		ASSERT_EQ(0, pthread_create(&th[i], NULL, stat_thread, &a[i]));
	}
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	ASSERT_EQ(0, set_delay(0, 0));
	pthread_barrier_destroy(&barrier);
	for (i = 0; i < 8; i++) {
		EXPECT_EQ(0, a[i].err) TH_LOG("%s: %s", a[i].path, strerror(a[i].err));
		EXPECT_EQ(a[0].st.st_ino, a[i].st.st_ino);
		EXPECT_EQ(64, a[i].st.st_nlink);
	}
}

struct walk_arg {
	pthread_barrier_t *barrier;
	int offset, errors;
	unsigned long long sum;
};

static void *walk_thread(void *p)
{
	struct walk_arg *a = p;
	char path[PATH_MAX];
	struct stat st;
	int d, f, k;

	pthread_barrier_wait(a->barrier);
	for (k = 0; k < 20 * 50; k++) {
		d = (k / 50 + a->offset) % 20;
		f = (k + a->offset * 7) % 50;
		snprintf(path, sizeof(path), MNT "/tree/d%02d/f%02d", d, f);
		if (stat(path, &st))
			a->errors++;
		else
			a->sum += st.st_ino;
	}
	return NULL;
}

/* Four threads stat a tree of 1000 files in different orders at once. */
TEST_F_TIMEOUT(h, parallel_tree_walk, 120)
{
	struct walk_arg a[4];
	pthread_barrier_t barrier;
	pthread_t th[4];
	int i;

	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, STACK_PLAIN(MNT, "hard/links.sqfs"));
	ASSERT_EQ(0, pthread_barrier_init(&barrier, NULL, 4));
	for (i = 0; i < 4; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].barrier = &barrier;
		a[i].offset = i * 5;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, walk_thread, &a[i]));
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(0, a[i].errors);
		EXPECT_EQ(a[0].sum, a[i].sum); /* the same numbers for all */
	}
}

/* --- 2. opaqueness under the mounter's credentials --------------------- */

FIXTURE(opq) {
	int loops;
};

FIXTURE_VARIANT(opq) {
	enum who who;
	bool no_index;
};

FIXTURE_VARIANT_ADD(opq, nobody) { .who = AS_NOBODY };
FIXTURE_VARIANT_ADD(opq, userns_root) { .who = AS_USERNS_ROOT };
FIXTURE_VARIANT_ADD(opq, nobody_no_index) { .who = AS_NOBODY, .no_index = true };
FIXTURE_VARIANT_ADD(opq, userns_root_no_index) {
	.who = AS_USERNS_ROOT, .no_index = true
};

FIXTURE_SETUP(opq)
{
	self->loops = count_layer_devs();
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
}

FIXTURE_TEARDOWN(opq)
{
	umount_below(WORK, true);
	EXPECT_EQ(0, count_mounts("atomfs"));
	close_range(3, ~0U, 0);
	umount_below(WORK, false);
	set_param("dir_index_max", "1000000");
	set_param("require_verified", "1");
	EXPECT_EQ(self->loops, wait_layer_devs(self->loops, 5000));
}

/*
 * Someone without CAP_SYS_ADMIN stats the opaque directories first: under
 * their credentials trusted.overlay.opaque reads as ENODATA, and in a mode
 * 0700 directory user.overlay.opaque and .wh..wh..opq give EACCES. The
 * inode that lookup makes is cached for everyone: root must still see
 * only the top layer's names. The no_index variants lower dir_index_max
 * after that look, so the directories (indexed or not before) are listed
 * through the layer-by-layer path, which must not trust the inode either.
 */
TEST_F_TIMEOUT(opq, unprivileged_look_first, 120)
{
	static const char *const paths[] = {
		MNT "/secret", MNT "/pub", MNT "/uopq", MNT "/ocisecret", NULL,
	};

	ASSERT_EQ(0, STACK_PLAIN(MNT, "hard/opq_lower.sqfs", "hard/opq_ovl.sqfs",
				 "hard/opq_oci.sqfs"));
	ASSERT_EQ(0, as_other(variant->who, stat_paths, (void *)paths));
	if (variant->no_index)
		ASSERT_EQ(0, set_param("dir_index_max", "1"));
	EXPECT_STREQ("kept kept2", listing(MNT "/secret"));
	EXPECT_STREQ("kept kept2", listing(MNT "/pub"));
	EXPECT_STREQ("kept kept2", listing(MNT "/uopq"));
	EXPECT_STREQ("kept kept2", listing(MNT "/ocisecret"));
	EXPECT_EQ(ENOENT, lstat_errno(MNT "/secret/gone"));
	EXPECT_EQ(ENOENT, lstat_errno(MNT "/pub/gone"));
	EXPECT_EQ(ENOENT, lstat_errno(MNT "/uopq/gone"));
	EXPECT_EQ(ENOENT, lstat_errno(MNT "/ocisecret/gone"));
}

/* --- 3. diskseq and the rehash of held loop layers -------------------- */

static int task_wchan_is(pid_t tid, const char *want)
{
	char p[64], buf[128];

	snprintf(p, sizeof(p), "/proc/self/task/%d/wchan", tid);
	return read_file(p, buf, sizeof(buf)) > 0 && !strcmp(buf, want);
}

struct create_arg {
	struct atomfs_layer *l;
	unsigned int nr;
	pid_t tid;
	int ret;
	unsigned int failed;
};

static void *create_thread(void *p)
{
	struct create_arg *a = p;

	__atomic_store_n(&a->tid, gettid(), __ATOMIC_SEQ_CST);
	a->ret = create_stack(a->l, a->nr, 0, &a->failed);
	return NULL;
}

/*
 * The layer is hashed, then held for 2 s before its mount (delay knob);
 * meanwhile LOOP_CHANGE_FD, which needs no capability, swaps the loop
 * device's file for another of the same size. Before the fix the swapped
 * file was mounted and published as verified; now its diskseq moved:
 * ESTALE.
 */
TEST_F_TIMEOUT(h, loop_change_fd_between_hash_and_mount, 120)
{
	static struct layer_set ls;
	struct create_arg a = { 0 };
	long long t0;
	pthread_t th;
	int b, nr;

	if (!have_knob())
		SKIP(return, "needs the delay knob of the debug kernel (" KNOB "delay_point)");
	ls.nr = 0;
	ASSERT_EQ(0, add_hard_verified(&ls, "swap_a.img", &nr));
	b = open(fixture("hard/swap_b.img"), O_RDONLY | O_CLOEXEC);
	ASSERT_GE(b, 0);
	ASSERT_EQ(0, set_delay(DELAY_BEFORE_MOUNT, 2000));
	a.l = ls.l;
	a.nr = 1;
	ASSERT_EQ(0, pthread_create(&th, NULL, create_thread, &a));
	t0 = now_ms();
	while (!(__atomic_load_n(&a.tid, __ATOMIC_SEQ_CST) &&
		 task_wchan_is(a.tid, "msleep")) && now_ms() - t0 < 30000)
		usleep(2000);
	EXPECT_EQ(0, ioctl(ls.fd[0], LOOP_CHANGE_FD, b)) TH_LOG("LOOP_CHANGE_FD: %s", strerror(errno));
	pthread_join(th, NULL);
	set_delay(0, 0);
	close(b);
	EXPECT_EQ(-ESTALE, a.ret) TH_LOG("create-stack: %s", strerror(-a.ret));
	EXPECT_EQ(0, a.failed);
	if (a.ret >= 0) {
		if (!mount_stack(a.ret, MNT)) {
			TH_LOG("mounted /which: %s", file_is(MNT "/which", "b") ?
			       "b, the swapped file, as verified" : "a");
			umount(MNT);
		}
		close(a.ret);
	}
	put_layers(&ls);
}

static int read_hashed(long long *v)
{
	return read_stat_field("/proc/fs/atomfs/stats", "bytes_hashed", v);
}

/*
 * A verified layer on a loop device is mounted; a second stack of the same
 * digest hashes the held device again (bytes_hashed grows). After the loop
 * device's file is swapped (LOOP_CHANGE_FD), the next stack asking for the
 * digest fails with EBADMSG and the layer is marked bad: the first mount's
 * mountinfo says unverified, and its stack fd no longer mounts while
 * require_verified is on. Before the fix the swapped layer was reused
 * silently, and mountinfo kept saying verified.
 */
TEST_F_TIMEOUT(h, held_loop_layer_rehashed_on_reuse, 120)
{
	static struct layer_set ls;
	struct atomfs_layer l;
	char line[8192];
	long long h0, h1;
	unsigned int failed;
	int a, c, b, nr;

	ls.nr = 0;
	ASSERT_EQ(0, add_hard_verified(&ls, "swap_a.img", &nr));
	a = create_stack(ls.l, 1, 0, NULL);
	ASSERT_GE(a, 0) TH_LOG("create-stack: %s", strerror(-a));
	ASSERT_EQ(0, mount_stack(a, MNT));
	ASSERT_TRUE(mountinfo_line(MNT, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",verified")) TH_LOG("%s", line);

	layer_init(&l, ATOMFS_NO_FD, 0, 0);
	l.digest = ls.l[0].digest;
	ASSERT_EQ(0, read_hashed(&h0));
	c = create_stack(&l, 1, 0, &failed);
	ASSERT_EQ(0, read_hashed(&h1));
	EXPECT_GE(c, 0) TH_LOG("create-stack: %s", strerror(-c));
	EXPECT_EQ(ls.l[0].size, h1 - h0) TH_LOG("the held loop layer was not hashed again");
	if (c >= 0)
		close(c);

	b = open(fixture("hard/swap_b.img"), O_RDONLY | O_CLOEXEC);
	ASSERT_GE(b, 0);
	ASSERT_EQ(0, ioctl(ls.fd[0], LOOP_CHANGE_FD, b));
	close(b);
	c = create_stack(&l, 1, 0, &failed);
	EXPECT_EQ(-EBADMSG, c) TH_LOG("create-stack: %s", c < 0 ? strerror(-c) : "succeeded");
	if (c >= 0)
		close(c);
	ASSERT_TRUE(mountinfo_line(MNT, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",unverified")) TH_LOG("%s", line);
	EXPECT_EQ(-EPERM, mount_stack(a, MNT2));
	close(a);
	EXPECT_EQ(0, umount(MNT));
	put_layers(&ls);
}

/* --- 4. listxattr ----------------------------------------------------- */

static bool list_has(const char *list, ssize_t n, const char *name)
{
	ssize_t i;

	for (i = 0; i < n; i += strlen(list + i) + 1)
		if (!strcmp(list + i, name))
			return true;
	return false;
}

static int list_xfile(void *arg)
{
	char list[4096];
	ssize_t n = listxattr(MNT "/xfile", list, sizeof(list));

	if (n < 0)
		return 2;
	if (!list_has(list, n, "user.foo"))
		return 3;
	return list_has(list, n, "trusted.t") ? 1 : 0;
}

/* trusted.* names are listed to CAP_SYS_ADMIN only (as ovl_can_list()). */
TEST_F(h, listxattr_hides_trusted_names)
{
	char list[4096];
	ssize_t n;

	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, STACK_PLAIN(MNT, "base.sqfs"));
	n = listxattr(MNT "/xfile", list, sizeof(list));
	ASSERT_GT(n, 0);
	EXPECT_TRUE(list_has(list, n, "trusted.t"));
	EXPECT_EQ(0, as_other(AS_NOBODY, list_xfile, NULL));
	EXPECT_EQ(0, as_other(AS_USERNS_ROOT, list_xfile, NULL));
}

/* --- 5. CAP_SYS_ADMIN at each ioctl ----------------------------------- */

struct ioctl_arg {
	int ctl;
	struct atomfs_layer *l;
};

static int drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	data[0].effective &= ~(1U << CAP_SYS_ADMIN);
	data[0].permitted &= ~(1U << CAP_SYS_ADMIN);
	data[0].inheritable &= ~(1U << CAP_SYS_ADMIN);
	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

/* 0 when both ioctls fail with EPERM; which one did not, otherwise. */
static int ioctls_refused(void *p)
{
	struct ioctl_arg *a = p;
	struct atomfs_create_stack cs;
	struct atomfs_query_layer q;
	int fd;

	memset(&q, 0, sizeof(q));
	q.digest = a->l->digest;
	if (ioctl(a->ctl, ATOMFS_IOC_QUERY_LAYER, &q) != -1 || errno != EPERM)
		return 1;
	stack_args_init(&cs, a->l, 1, 0, "hardening");
	fd = ioctl(a->ctl, ATOMFS_IOC_CREATE_STACK, &cs);
	if (fd != -1 || errno != EPERM)
		return 2;
	/* Unknown commands are still ENOTTY. */
	if (ioctl(a->ctl, _IO(ATOMFS_IOC_MAGIC, 99)) != -1 || errno != ENOTTY)
		return 3;
	return 0;
}

static int ioctls_refused_without_cap(void *p)
{
	return drop_sys_admin() ? 100 : ioctls_refused(p);
}

/*
 * /dev/atomfs opened by root, then used by the same process after capset()
 * dropped CAP_SYS_ADMIN, and by a child that became nobody: EPERM from each
 * ioctl. Before the fix both created a stack and answered queries.
 */
TEST_F(h, ioctls_check_cap_sys_admin)
{
	static struct layer_set ls;
	struct ioctl_arg a;
	pid_t pid;
	int st;

	ls.nr = 0;
	ASSERT_EQ(0, add_hard_verified(&ls, "swap_a.img", NULL));
	a.ctl = ctl_open();
	ASSERT_GE(a.ctl, 0);
	a.l = ls.l;
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(ioctls_refused_without_cap(&a));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st)) TH_LOG("capset without CAP_SYS_ADMIN: check %d", WEXITSTATUS(st));
	EXPECT_EQ(0, as_other(AS_NOBODY, ioctls_refused, &a));
	close(a.ctl);
	put_layers(&ls);
}

/*
 * The security sweep (issue 15, point 6): three callers without
 * CAP_SYS_ADMIN in the initial namespace - nobody, root in a new user
 * namespace (also with its own mount namespace), and root after capset()
 * dropped CAP_SYS_ADMIN - each holding what root passed down: a
 * /dev/atomfs fd, a stack fd and a directory fd on a mounted atomfs.
 * Each gets EPERM from every atomfs ioctl (CREATE_STACK, QUERY_LAYER on
 * /dev/atomfs; GET_INFO on the mount) and from every way to mount a stack
 * (mount(2), and fsopen/fsconfig, which root in a user namespace with its
 * own mount namespace may open but not create). /dev/atomfs (0600 root)
 * refuses to open: EACCES for other uids, EPERM for uid 0 without the
 * capability (atomfs_ctl_open). Nobody also as root of a user namespace
 * of its own (uid_map "0 65534 1"). What /proc/fs/atomfs shows them: the
 * counters in "stats" (no path, label or digest) and one directory per
 * stack, named by the stack id that mountinfo shows as id=N; each stack's
 * "layers" (label, digests, sizes) is 0400 root: refused to other uids
 * (uid 0 without the capability reads it as its owner).
 */
struct sweep_arg {
	int ctl, stack, mnt;
	struct atomfs_layer *l;
	char layers[PATH_MAX];	/* /proc/fs/atomfs/<id>/layers */
	bool capset;		/* drop CAP_SYS_ADMIN from the bounding caps */
	bool own_userns;	/* make a user namespace of its own, be its root */
	bool own_mntns;		/* unshare(CLONE_NEWNS) first */
	bool uid0;		/* still uid 0 on the outside */
};

static int map_self_as_root(void)
{
	char map[32];

	snprintf(map, sizeof(map), "0 %u 1", getuid());
	/* setresuid() made us non-dumpable: /proc/self/ would stay root's */
	if (prctl(PR_SET_DUMPABLE, 1) || unshare(CLONE_NEWUSER) ||
	    write_file("/proc/self/setgroups", "deny", 4, 0644) ||
	    write_file("/proc/self/uid_map", map, strlen(map), 0644))
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", getgid());
	return write_file("/proc/self/gid_map", map, strlen(map), 0644) ? -1 : 0;
}

#define SWEEP_LABEL "sweep-label-7f3a"

static int sweep(void *p)
{
	struct sweep_arg *a = p;
	struct atomfs_info info;
	char opts[64], buf[8192];
	int fd, fs, rc;

	if (a->capset && drop_sys_admin())
		return 100;
	if (a->own_userns && (map_self_as_root() || geteuid() != 0))
		return 101;
	if (a->own_mntns && unshare(CLONE_NEWNS))
		return 102;
	rc = ioctls_refused(&(struct ioctl_arg){ .ctl = a->ctl, .l = a->l });
	if (rc)
		return 10 + rc;
	memset(&info, 0, sizeof(info));
	if (ioctl(a->mnt, ATOMFS_IOC_GET_INFO, &info) != -1 || errno != EPERM)
		return 20;
	snprintf(opts, sizeof(opts), "stack=%d", a->stack);
	if (!mount("none", MNT2, "atomfs", MS_RDONLY, opts) || errno != EPERM)
		return 21;
	fs = sys_fsopen("atomfs", FSOPEN_CLOEXEC);
	if (fs >= 0) {
		/* root of a user namespace with its own mount namespace gets here */
		if (sys_fsconfig(fs, FSCONFIG_SET_FD, "stack", NULL, a->stack) &&
		    errno != EPERM)
			return 22;
		if (!sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) ||
		    errno != EPERM)
			return 23;
		close(fs);
	} else if (errno != EPERM) {
		return 24;
	}
	/* uid 0 passes the 0600 mode and meets the open's capability check */
	fd = open(ATOMFS_CTL_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != (a->uid0 ? EPERM : EACCES))
		return 30;
	/* counters only: no path, digest or label */
	if (read_file("/proc/fs/atomfs/stats", buf, sizeof(buf)) <= 0 ||
	    !strstr(buf, "layers_verified") || strchr(buf, '/') ||
	    strstr(buf, "sha256:") || strstr(buf, SWEEP_LABEL))
		return 40;
	/* 0400 root: uid 0 reads it as its owner, as any such file */
	if (!a->uid0 &&
	    (open(a->layers, O_RDONLY | O_CLOEXEC) != -1 || errno != EACCES))
		return 41;
	return 0;
}

TEST_F(h, unprivileged_sweep)
{
	static struct layer_set ls;
	static const struct {
		const char *who;
		enum who as;
		bool capset, userns, mntns, uid0;
	} callers[] = {
		{ "nobody", AS_NOBODY, false, false, false, false },
		{ "nobody as root of its user namespace", AS_NOBODY, false, true, false, false },
		{ "nobody as root of its user and mount namespaces", AS_NOBODY, false, true, true, false },
		{ "root in a user namespace", AS_USERNS_ROOT, false, false, false, true },
		{ "root in a user and mount namespace", AS_USERNS_ROOT, false, false, true, true },
		{ "root without CAP_SYS_ADMIN", AS_NOBODY, true, false, false, true },
	};
	struct sweep_arg a;
	struct atomfs_info info;
	char label[ATOMFS_LABEL_MAX], buf[4096];
	struct stat st;
	unsigned int i;
	int fd, rc;
	pid_t pid;

	/* /dev/atomfs: a character device, 0600 root:root */
	ASSERT_EQ(0, stat(ATOMFS_CTL_DEVICE, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, st.st_gid);

	memset(&a, 0, sizeof(a));
	ls.nr = 0;
	ASSERT_EQ(0, add_hard_verified(&ls, "swap_a.img", NULL));
	{
		struct atomfs_create_stack cs;

		stack_args_init(&cs, ls.l, 1, 0, SWEEP_LABEL);
		fd = create_stack_raw(&cs);
	}
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, mount_stack(fd, MNT));
	close(fd);
	a.stack = create_stack(ls.l, 1, 0, NULL);	/* passed down, unmounted */
	ASSERT_GE(a.stack, 0);
	a.ctl = ctl_open();
	ASSERT_GE(a.ctl, 0);
	a.mnt = open(MNT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(a.mnt, 0);
	a.l = ls.l;
	/* root sees the mount's id and label; the others must not */
	memset(&info, 0, sizeof(info));
	info.nr_layers = 0;
	ASSERT_EQ(-1, ioctl(a.mnt, ATOMFS_IOC_GET_INFO, &info));
	ASSERT_EQ(E2BIG, errno);
	snprintf(a.layers, sizeof(a.layers), "/proc/fs/atomfs/%llu/layers",
		 (unsigned long long)info.id);
	ASSERT_GT(read_file(a.layers, buf, sizeof(buf)), 0);
	EXPECT_NE(NULL, strstr(buf, "sha256:"));
	/* what a stack's directory holds is root's alone */
	{
		char dir[64];
		struct dirent *de;
		DIR *d;
		int files = 0;

		snprintf(dir, sizeof(dir), "/proc/fs/atomfs/%llu",
			 (unsigned long long)info.id);
		d = opendir(dir);
		ASSERT_NE(NULL, d);
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			ASSERT_EQ(0, fstatat(dirfd(d), de->d_name, &st, 0));
			EXPECT_EQ(0400, st.st_mode & 07777) TH_LOG("%s/%s", dir, de->d_name);
			files++;
		}
		closedir(d);
		EXPECT_GT(files, 0);
	}
	snprintf(label, sizeof(label), "id=%llu", (unsigned long long)info.id);
	EXPECT_TRUE(mountinfo_line(MNT, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, label)) TH_LOG("mountinfo: %s", buf);

	for (i = 0; i < ARRAY_SIZE(callers); i++) {
		a.capset = callers[i].capset;
		a.own_userns = callers[i].userns;
		a.own_mntns = callers[i].mntns;
		a.uid0 = callers[i].uid0;
		if (a.capset) {
			pid = fork();
			ASSERT_GE(pid, 0);
			if (pid == 0)
				_exit(sweep(&a));
			ASSERT_EQ(pid, waitpid(pid, &rc, 0));
			rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
		} else {
			rc = as_other(callers[i].as, sweep, &a);
		}
		EXPECT_EQ(0, rc) TH_LOG("%s: check %d", callers[i].who, rc);
	}
	EXPECT_EQ(1, count_mounts("atomfs"));	/* none of them mounted */
	close(a.mnt);
	close(a.stack);
	close(a.ctl);
	EXPECT_EQ(0, umount(MNT));
	put_layers(&ls);
}

/* --- 6. the decoy device window --------------------------------------- */

static long long disk_reads(int nr)
{
	char p[64], buf[512];
	long long reads;

	snprintf(p, sizeof(p), "/sys/block/loop%d/stat", nr);
	if (read_file(p, buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "%lld", &reads) != 1)
		return -1;
	return reads;
}

struct decoy_arg {
	int ctl;
	struct atomfs_layer *l;
};

static int create_in_chroot(void *p)
{
	struct decoy_arg *a = p;
	struct atomfs_create_stack cs;
	int fd;

	if (chroot(WORK "/root") || chdir("/"))
		return 100;
	stack_args_init(&cs, a->l, 1, 0, "decoy");
	fd = ioctl(a->ctl, ATOMFS_IOC_CREATE_STACK, &cs);
	return fd >= 0 ? 0 : errno;
}

/*
 * The caller's fd names loop A; in its chroot, the path of A (/dev/loopN)
 * is a node of loop B. squashfs opens and parses B (its read count goes
 * up: the window atomfs.rst describes), then atomfs sees the mount is not
 * on A's device and refuses it: ESTALE, nothing mounted, nothing held.
 */
TEST_F(h, decoy_device_window)
{
	static struct layer_set ls;
	struct decoy_arg a;
	char node[PATH_MAX];
	long long r0, r1;
	int real_nr, decoy_nr, decoy, ret;

	ls.nr = 0;
	ASSERT_EQ(0, add_hard_verified(&ls, "swap_a.img", &real_nr));
	decoy = loop_attach(fixture("hard/swap_b.img"), true, &decoy_nr);
	ASSERT_GE(decoy, 0);
	ASSERT_EQ(0, mkdir(WORK "/root", 0755));
	ASSERT_EQ(0, mkdir(WORK "/root/dev", 0755));
	snprintf(node, sizeof(node), WORK "/root/dev/loop%d", real_nr);
	ASSERT_EQ(0, mknod(node, S_IFBLK | 0600, makedev(7, decoy_nr)));
	a.ctl = ctl_open();
	ASSERT_GE(a.ctl, 0);
	a.l = ls.l;
	r0 = disk_reads(decoy_nr);
	ASSERT_GE(r0, 0);
	{
		pid_t pid = fork();
		int st;

		ASSERT_GE(pid, 0);
		if (pid == 0)
			_exit(create_in_chroot(&a));
		ASSERT_EQ(pid, waitpid(pid, &st, 0));
		ASSERT_TRUE(WIFEXITED(st));
		ret = WEXITSTATUS(st);
	}
	r1 = disk_reads(decoy_nr);
	EXPECT_EQ(ESTALE, ret) TH_LOG("create-stack in the chroot: %s", strerror(ret));
	EXPECT_GT(r1, r0) TH_LOG("the decoy was not read: is the window closed? update atomfs.rst");
	TH_LOG("decoy loop%d: %lld reads by squashfs before the refusal", decoy_nr, r1 - r0);
	EXPECT_EQ(0, count_mounts("atomfs"));
	close(decoy);
	close(a.ctl);
	put_layers(&ls);
}

/* --- 7. crafted inode numbers ----------------------------------------- */

/*
 * oddino.sqfs numbers its files 1..6 but claims one inode; plain.sqfs above
 * it starts right after: without the private range, o2 and p1 share a
 * number. Every name must have its own st_ino, equal to readdir's d_ino.
 */
TEST_F(h, odd_inode_numbers_keep_apart)
{
	unsigned long long ino[64], d_ino[64];
	struct dirent *de;
	char path[PATH_MAX];
	struct stat st;
	int n = 0, i, j;
	DIR *d;

	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, STACK_PLAIN(MNT, "hard/oddino.sqfs", "hard/plain.sqfs"));
	d = opendir(MNT);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)) && n < 64) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), MNT "/%s", de->d_name);
		ASSERT_EQ(0, lstat(path, &st));
		ino[n] = st.st_ino;
		d_ino[n] = de->d_ino;
		EXPECT_EQ(d_ino[n], ino[n]) TH_LOG("%s: d_ino %llu, st_ino %llu", de->d_name, d_ino[n], ino[n]);
		n++;
	}
	closedir(d);
	EXPECT_EQ(12, n);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			EXPECT_NE(ino[i], ino[j]) TH_LOG("two names share inode number %llu", ino[i]);
	EXPECT_TRUE(file_is(MNT "/o2", "odd 2"));
	EXPECT_TRUE(file_is(MNT "/p1", "plain 1"));
}

/* --- 8. module parameters --------------------------------------------- */

/* Write VALUE to parameter NAME: 0 or the write's -errno. */
static int write_param(const char *name, const char *value)
{
	char p[256];
	int fd, err = 0;

	snprintf(p, sizeof(p), "/sys/module/atomfs/parameters/%s", name);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		err = -errno;
	close(fd);
	return err;
}

/* max_layers: 1..65535 (the inode-number scheme's 16 bits). */
TEST_F(h, max_layers_bounded)
{
	char v[32];

	EXPECT_EQ(-EINVAL, write_param("max_layers", "65536"));
	EXPECT_EQ(-EINVAL, write_param("max_layers", "4294967295"));
	EXPECT_EQ(-EINVAL, write_param("max_layers", "0"));
	EXPECT_EQ(0, write_param("max_layers", "65535"));
	ASSERT_GT(read_file("/sys/module/atomfs/parameters/max_layers", v, sizeof(v)), 0);
	EXPECT_STREQ("65535\n", v);
}

/*
 * A stack made while require_verified was off does not mount once it is
 * on: the policy holds at mount too.
 */
TEST_F(h, require_verified_checked_at_mount)
{
	static struct layer_set ls;
	int fd;

	ASSERT_EQ(0, allow_unverified());
	ls.nr = 0;
	ASSERT_EQ(0, add_loop_layer(&ls, fixture("hard/plain.sqfs")));
	fd = create_stack(ls.l, 1, 0, NULL);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, set_param("require_verified", "1"));
	EXPECT_EQ(-EPERM, mount_stack(fd, MNT));
	EXPECT_EQ(-EPERM, fsmount_stack(fd, MNT));
	ASSERT_EQ(0, allow_unverified());
	EXPECT_EQ(0, mount_stack(fd, MNT));
	EXPECT_EQ(0, umount(MNT));
	close(fd);
	put_layers(&ls);
}

/* --- 9. smaller ------------------------------------------------------- */

/* ATOMFS_NO_FD: size 0 or the held layer's; anything else is EMSGSIZE. */
TEST_F(h, no_fd_size_checked)
{
	static struct layer_set ls;
	struct atomfs_layer l;
	unsigned int failed;
	int a, c;

	ls.nr = 0;
	ASSERT_EQ(0, add_hard_verified(&ls, "swap_a.img", NULL));
	a = create_stack(ls.l, 1, 0, NULL);
	ASSERT_GE(a, 0);
	layer_init(&l, ATOMFS_NO_FD, 0, ls.l[0].size + 4096);
	l.digest = ls.l[0].digest;
	c = create_stack(&l, 1, 0, &failed);
	EXPECT_EQ(-EMSGSIZE, c);
	EXPECT_EQ(0, failed);
	if (c >= 0)
		close(c);
	l.size = 0;
	c = create_stack(&l, 1, 0, NULL);
	EXPECT_GE(c, 0);
	if (c >= 0)
		close(c);
	l.size = ls.l[0].size;
	c = create_stack(&l, 1, 0, NULL);
	EXPECT_GE(c, 0);
	if (c >= 0)
		close(c);
	close(a);
	put_layers(&ls);
}

/* List directory ARG: 0, or the errno of opendir or readdir. */
static int list_dir(void *arg)
{
	DIR *d = opendir(arg);
	int err;

	if (!d)
		return errno;
	do
		errno = 0;
	while (readdir(d));
	err = errno;
	closedir(d);
	return err;
}

/*
 * One task builds a directory's index, held 3 s by the delay knob under
 * dir_lock; another lists the same directory, waits for the lock and is
 * killed: it must die at once, not when the build ends.
 */
TEST_F_TIMEOUT(h, dir_lock_killable, 120)
{
	long long t0, dead;
	pid_t builder, waiter;
	int st;

	if (!have_knob())
		SKIP(return, "needs the delay knob of the debug kernel (" KNOB "delay_point)");
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, STACK_PLAIN(MNT, "hard/links.sqfs"));
	ASSERT_EQ(0, access(MNT "/tree/d00", X_OK));
	ASSERT_EQ(0, set_delay(DELAY_DIR_BUILD, 3000));
	builder = fork();
	ASSERT_GE(builder, 0);
	if (builder == 0)
		_exit(list_dir(MNT "/tree/d00"));
	usleep(300000);
	waiter = fork();
	ASSERT_GE(waiter, 0);
	if (waiter == 0)
		_exit(list_dir(MNT "/tree/d00"));
	usleep(300000);
	t0 = now_ms();
	kill(waiter, SIGKILL);
	ASSERT_EQ(waiter, waitpid(waiter, &st, 0));
	dead = now_ms() - t0;
	EXPECT_TRUE(WIFSIGNALED(st));
	EXPECT_LT(dead, 1500) TH_LOG("the killed waiter took %lld ms to die", dead);
	ASSERT_EQ(builder, waitpid(builder, &st, 0));
	set_delay(0, 0);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/*
 * A directory whose merge fails (a directory layer's lower directory
 * turned into a file: ESTALE) keeps the error: listing it again reads no
 * layer (no IN_ACCESS on the upper directory). Before the fix every
 * attempt read the layers again.
 */
TEST_F(h, dir_build_error_kept)
{
	static struct layer_set ls;
	char buf[4096];
	int in, wd, i, errs = 0;
	ssize_t n;

	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, mkdir(WORK "/L", 0755));
	ASSERT_EQ(0, mkdir(WORK "/L/d", 0755));
	ASSERT_EQ(0, mkdir(WORK "/U", 0755));
	ASSERT_EQ(0, mkdir(WORK "/U/d", 0755));
	ASSERT_EQ(0, write_file(WORK "/U/d/f", "f\n", 2, 0644));
	ls.nr = 0;
	ASSERT_EQ(0, add_dir_layer(&ls, WORK "/L"));
	ASSERT_EQ(0, add_dir_layer(&ls, WORK "/U"));
	ASSERT_EQ(0, stack_mount(&ls, 0, MNT));
	put_layers(&ls);
	EXPECT_STREQ("d", listing(MNT));
	ASSERT_EQ(0, rmdir(WORK "/L/d"));
	ASSERT_EQ(0, write_file(WORK "/L/d", "x\n", 2, 0644));
	EXPECT_EQ(ESTALE, list_dir(MNT "/d"));

	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ASSERT_GE(in, 0);
	wd = inotify_add_watch(in, WORK "/U/d", IN_ACCESS);
	ASSERT_GE(wd, 0);
	for (i = 0; i < 3; i++)
		errs += list_dir(MNT "/d") == ESTALE;
	EXPECT_EQ(3, errs);
	n = read(in, buf, sizeof(buf));
	EXPECT_EQ(-1, n) TH_LOG("the failed directory was read again (%zd bytes of events)", n);
	close(in);
	EXPECT_EQ(0, umount(MNT));
}

static long long slab_kb(void)
{
	long long v;

	return read_stat_field("/proc/meminfo", "Slab:", &v) ? -1 : v;
}

/*
 * Above dir_index_max, readdir's list is built once per directory and
 * shared by its open files. 40 opens of a 3000-name directory: before the
 * fix each built its own list (about 10 MiB of slab); now about one.
 */
TEST_F_TIMEOUT(h, overflow_readdir_list_shared, 180)
{
	int fd[40], i;
	long long s0, s1;
	char buf[256];

	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, set_param("dir_index_max", "1"));
	ASSERT_EQ(0, STACK_PLAIN(MNT, "bigA.sqfs", "bigB.sqfs"));
	ASSERT_EQ(0, list_dir(MNT "/big")); /* its layers, once */
	s0 = slab_kb();
	for (i = 0; i < 40; i++) {
		fd[i] = open(MNT "/big", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ASSERT_GE(fd[i], 0);
		ASSERT_GT(syscall(SYS_getdents64, fd[i], buf, sizeof(buf)), 0);
	}
	s1 = slab_kb();
	TH_LOG("40 open files of a 3000-name directory: %lld KiB of slab", s1 - s0);
	EXPECT_LT(s1 - s0, 4096);
	for (i = 0; i < 40; i++)
		close(fd[i]);
	{
		int nr;
		char **v = dir_names(MNT "/big", &nr);

		EXPECT_EQ(3000, nr);
		if (nr > 0)
			free_names(v, nr);
	}
}

static int exec_euid(void *path)
{
	char out[64], *argv[] = { path, NULL };
	char *envp[] = { "ATOMFS_PRINT_EUID=1", NULL };

	if (run_capture(NULL, path, argv, envp, out, sizeof(out)))
		return 255;
	return atoi(out) == 0 ? 1 : 0; /* 1: ran as root */
}

/*
 * A directory layer from a nosuid,nodev mount: atomfs must not lift either
 * (a setuid-root program runs as its caller, a device node does not open).
 */
TEST_F_TIMEOUT(h, nosuid_nodev_dir_layer, 120)
{
	static struct layer_set ls;
	char exe[PATH_MAX], buf[1 << 16];
	struct stat st;
	ssize_t n;
	int in, out;

	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, mkdir(WORK "/layer", 0755));
	ASSERT_EQ(0, mount("tmpfs", WORK "/layer", "tmpfs", MS_NOSUID | MS_NODEV,
			   "mode=0755"));
	ASSERT_EQ(0, mknod(WORK "/layer/null", S_IFCHR | 0666, makedev(1, 3)));
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_GT(n, 0);
	exe[n] = 0;
	in = open(exe, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(in, 0);
	out = open(WORK "/layer/suid", O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	ASSERT_GE(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ASSERT_EQ(n, write(out, buf, n));
	close(in);
	close(out);
	ASSERT_EQ(0, chmod(WORK "/layer/suid", 04755));
	ls.nr = 0;
	ASSERT_EQ(0, add_dir_layer(&ls, WORK "/layer"));
	ASSERT_EQ(0, stack_mount(&ls, 0, MNT));
	put_layers(&ls);

	in = open(MNT "/null", O_RDONLY | O_CLOEXEC);
	EXPECT_EQ(-1, in) TH_LOG("a device node of a nodev layer opened through atomfs");
	if (in >= 0)
		close(in);
	else
		EXPECT_EQ(EACCES, errno);
	ASSERT_EQ(0, stat(MNT "/suid", &st));
	EXPECT_EQ(0, st.st_mode & S_ISUID);
	EXPECT_EQ(0, as_other(AS_NOBODY, exec_euid, MNT "/suid")) TH_LOG("a setuid program of a nosuid layer ran as root");
	EXPECT_EQ(0, umount(MNT));
}

/* overlayfs redirects and metacopy would be shown wrong: refused. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif

/*
 * A user namespace that maps uid and gid 0 to 1000: an fd of it, or
 * -errno. The child that made it is gone when this returns.
 */
static int userns_fd(void)
{
	char path[64], c = 0;
	int p[2], q[2], fd, status;
	pid_t pid;

	if (pipe(p) || pipe(q))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (unshare(CLONE_NEWUSER) || write(p[1], &c, 1) != 1)
			_exit(1);
		_exit(read(q[0], &c, 1) == 1 ? 0 : 1);
	}
	fd = read(p[0], &c, 1) == 1 ? 0 : -EIO;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	if (!fd)
		fd = write_file(path, "0 1000 1", 8, 0);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	if (!fd)
		fd = write_file(path, "0 1000 1", 8, 0);
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	if (!fd) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
	}
	if (write(q[1], &c, 1) != 1 && fd >= 0) {
		close(fd);
		fd = -EIO;
	}
	waitpid(pid, &status, 0);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	return fd;
}

/*
 * An idmapped mount as a directory layer is refused (EINVAL): atomfs shows
 * the layer's own ids, so the mapping would be silently lost. The same
 * directory without the mapping is accepted. Needs a filesystem that
 * allows idmapped mounts: the ext4 scratch disk (vm/run --disk), or tmpfs
 * from 6.3.
 */
TEST_F(h, idmapped_dir_layer_refused)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP };
	const char *base = access("/mnt/scratch/lost+found", F_OK) ?
			   WORK : "/mnt/scratch";
	static struct layer_set ls;
	char dir[PATH_MAX];
	int tree, ns, fd;

	ASSERT_EQ(0, allow_unverified());
	snprintf(dir, sizeof(dir), "%s/idmap-layer", base);
	mkdir(dir, 0755);
	ns = userns_fd();
	ASSERT_LE(0, ns) TH_LOG("user namespace: %s", strerror(-ns));
	tree = syscall(__NR_open_tree, AT_FDCWD, dir,
		       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	ASSERT_LE(0, tree) TH_LOG("open_tree %s: %s", dir, strerror(errno));
	attr.userns_fd = ns;
	if (syscall(__NR_mount_setattr, tree, "", AT_EMPTY_PATH, &attr,
		    sizeof(attr))) {
		close(tree);
		close(ns);
		SKIP(return, "%s cannot be idmapped here (%s): run with the ext4 scratch disk (vm/run --disk)",
		     base, strerror(errno));
	}
	close(ns);
	ASSERT_EQ(0, mkdir(WORK "/idmapped", 0755));
	ASSERT_EQ(0, sys_move_mount(tree, "", AT_FDCWD, WORK "/idmapped",
				    MOVE_MOUNT_F_EMPTY_PATH));
	close(tree);

	ls.nr = 0;
	ASSERT_EQ(0, add_dir_layer(&ls, WORK "/idmapped"));
	fd = create_stack(ls.l, ls.nr, 0, NULL);
	EXPECT_EQ(-EINVAL, fd) TH_LOG("an idmapped directory layer was taken");
	if (fd >= 0)
		close(fd);
	put_layers(&ls);

	/* The same directory, not idmapped: taken. */
	ASSERT_EQ(0, add_dir_layer(&ls, dir));
	fd = create_stack(ls.l, ls.nr, 0, NULL);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
	put_layers(&ls);
	EXPECT_EQ(0, umount(WORK "/idmapped"));
}

TEST_F(h, redirect_and_metacopy_refused)
{
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, STACK_PLAIN(MNT, "hard/redirect.sqfs"));
	EXPECT_EQ(EPERM, lstat_errno(MNT "/rdir"));
	EXPECT_EQ(EPERM, lstat_errno(MNT "/mfile"));
	EXPECT_EQ(0, lstat_errno(MNT "/ok"));
	EXPECT_TRUE(file_is(MNT "/ok", "ok"));
}

/* The kernel's taint flags: TAINT_WARN is bit 9. */
static long long tainted(void)
{
	char buf[32];

	if (read_file("/proc/sys/kernel/tainted", buf, sizeof(buf)) < 0)
		return -1;
	return atoll(buf);
}

/*
 * A crafted layer's directory with two names in two directories (squashfs
 * does not refuse it): looking the second name up moves the dentry of the
 * first there (d_splice_alias()), so the inode's lower layers, found under
 * its first parent, are looked for under a parent that lacks them. That
 * WARNed in atomfs_dir_lower(); now it is an I/O error, as for any layer
 * that contradicts itself.
 */
TEST_F(h, hard_linked_directory)
{
	long long before = tainted();
	struct stat st;
	DIR *d;

	ASSERT_LE(0, before);
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, STACK_PLAIN(MNT, "hard/hldir_low.sqfs",
				 "hard/hldir_top.sqfs"));
	ASSERT_EQ(0, stat(MNT "/x/hldirA", &st));
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	d = opendir(MNT "/y/hldirB");
	if (d) {
		errno = 0;
		while (readdir(d))
			;
		EXPECT_EQ(EIO, errno);
		closedir(d);
	} else {
		EXPECT_EQ(EIO, errno);
	}
	EXPECT_EQ(0, (tainted() ^ before) & (1 << 9)) TH_LOG("the kernel warned");
	EXPECT_EQ(0, umount(MNT));
}

ATOMFS_HARNESS_MAIN
