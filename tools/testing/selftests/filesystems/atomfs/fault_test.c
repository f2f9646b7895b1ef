// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection on the debug kernel (run_tests --debug runs it; the stock
 * kernel has no fault injection).
 *
 * fail_nth_walk: per-task fail-nth walks through one create-stack + mount +
 * read + umount cycle of a verified two-layer stack: fail the 1st, 2nd, ...
 * allocation (failslab and fail_page_alloc, sleeping allocations and order-0
 * pages included) until the cycle runs untouched. Each step must fail
 * cleanly or succeed, and leave no mount and no device held.
 *
 * The walk's length is checked against the cycle's injection points,
 * counted first (fail-nth set high and read back); the bytes read must be
 * the file's whenever the cycle succeeds, and a failed step may only fail
 * with an errno a failed allocation can cause.
 *
 * verify_fault_attr: the verification path runs in workers, which fail-nth
 * does not reach: the module's own fault attribute (debugfs atomfs/) in
 * probability mode fails its allocations there. The attribute is consulted
 * in the calling task too (before any hashing), so only a failed cycle in
 * which bytes were hashed shows a fault that landed in a worker.
 */
#include <sys/mount.h>

#include "kselftest_harness.h"
#include "atomfs_util.h"

#define MNT "/tmp/atomfs-fault"
#define FILE_READ "/dir7/deep/file"
/* A cycle read bytes other than the file's. */
#define EWRONGDATA 1000

static int sha256_of(const char *file, struct atomfs_digest *d)
{
	unsigned char *b = (unsigned char *)d->bytes;
	char cmd[PATH_MAX + 32], hex[65];
	FILE *p;
	int i;

	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", file);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (fscanf(p, "%64s", hex) != 1) {
		pclose(p);
		return -1;
	}
	pclose(p);
	memset(d, 0, sizeof(*d));
	d->algo = ATOMFS_DIGEST_SHA256;
	d->size = 32;
	for (i = 0; i < 32; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &b[i]) != 1)
			return -1;
	return 0;
}

/* bytes_hashed from /proc/fs/atomfs/stats, or -1. */
static long long bytes_hashed(void)
{
	char buf[1024], *p;
	long long v;

	if (read_file("/proc/fs/atomfs/stats", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "bytes_hashed ");
	return p && sscanf(p, "bytes_hashed %lld", &v) == 1 ? v : -1;
}

static int set(const char *path, const char *val)
{
	return write_file(path, val, strlen(val), 0);
}

/* Is a layer device held by a superblock (mounted) still? */
static bool device_held(int loopfd)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", loopfd);
	fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	return fd < 0 && errno == EBUSY;
}

FIXTURE(fault) {
	struct layer_set ls;
	char want[64];		/* FILE_READ as the upper layer has it */
	ssize_t want_len;
};

FIXTURE_SETUP(fault)
{
	const char *files[] = { "fault/lower.sqfs", "fault/upper.sqfs" };
	unsigned int i;

	if (access("/proc/self/fail-nth", F_OK) ||
	    access("/sys/kernel/debug/failslab", F_OK))
		SKIP(return, "this kernel has no fault injection: run on the debug kernel");
	ASSERT_EQ(0, private_ns_tmpfs(MNT));
	memset(&self->ls, 0, sizeof(self->ls));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, add_blk_layer(&self->ls, fixture(files[i])));
		ASSERT_EQ(0, sha256_of(fixture(files[i]), &self->ls.l[i].digest));
	}
	/* What a cycle must read: the file in the upper layer itself. */
	ASSERT_EQ(0, mount_squashfs(fixture(files[1]), MNT));
	self->want_len = read_file(MNT FILE_READ, self->want, sizeof(self->want));
	ASSERT_GT(self->want_len, 0);
	ASSERT_EQ(0, umount(MNT));
	ASSERT_EQ(0, set("/sys/kernel/debug/failslab/ignore-gfp-wait", "N"));
	ASSERT_EQ(0, set("/sys/kernel/debug/failslab/verbose", "0"));
	ASSERT_EQ(0, set("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N"));
	ASSERT_EQ(0, set("/sys/kernel/debug/fail_page_alloc/min-order", "0"));
	ASSERT_EQ(0, set("/sys/kernel/debug/fail_page_alloc/verbose", "0"));
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/verbose", "0"));
}

FIXTURE_TEARDOWN(fault)
{
	set("/sys/kernel/debug/atomfs/probability", "0");
	put_layers(&self->ls);
}

/*
 * One cycle; returns 0 when all of it succeeded and read the file's bytes
 * (WANT), -EWRONGDATA when it read others, else the first -errno.
 */
static int cycle(struct layer_set *ls, const char *want, ssize_t want_len)
{
	struct atomfs_create_stack cs;
	char buf[64];
	int stack, fd, err;
	ssize_t n;

	stack_args_init(&cs, ls->l, ls->nr, 0, "fault");
	stack = create_stack_raw(&cs);
	if (stack < 0)
		return stack;
	err = mount_stack(stack, MNT);
	close(stack);
	if (err)
		return err;
	fd = open(MNT FILE_READ, O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0)
			err = -errno;
		else if (n != want_len || memcmp(buf, want, n)) {
			fprintf(stderr, "# read %zd bytes (want %zd): %.*s\n",
				n, want_len, (int)(n > 0 ? n : 0), buf);
			err = -EWRONGDATA;
		}
		close(fd);
	}
	if (umount(MNT) && !err)
		err = -errno;
	return err;
}

/*
 * The errnos a failed allocation may cause in a cycle: ENOMEM; EFAULT (a
 * copy to or from user space is an injection point); EINTR (the set-up's
 * waits and loops give up with it); EIO (squashfs reports a block it could
 * not read, for want of a page or a bio, as EIO). The log line counts each.
 */
static bool fault_errno(int err)
{
	return err == -ENOMEM || err == -EFAULT || err == -EINTR || err == -EIO;
}

/* The injection points of one cycle: fail-nth set high, read back. */
static int cycle_points(struct __test_metadata *_metadata,
			FIXTURE_DATA(fault) *self)
{
	int fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	const int high = 1000000;
	char val[16];
	ssize_t n;
	int err;

	if (fd < 0)
		return -1;
	snprintf(val, sizeof(val), "%d", high);
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		return -1;
	err = cycle(&self->ls, self->want, self->want_len);
	n = pread(fd, val, sizeof(val) - 1, 0);
	if (write(fd, "0", 1) != 1 || n <= 0 || err) {
		close(fd);
		return -1;
	}
	close(fd);
	val[n] = 0;
	/* the pread itself was one more point */
	return high - atoi(val) - 1;
}

TEST_F_TIMEOUT(fault, fail_nth_walk, 2400)
{
	int step, fails = 0, oks = 0, err, nth, tries, points, i;
	int errs[5] = { 0 }; /* ENOMEM EFAULT EINTR EIO other */
	char val[16];
	ssize_t n;

	/* A cycle to warm the caches, then count a cycle's points. */
	ASSERT_EQ(0, cycle(&self->ls, self->want, self->want_len));
	points = cycle_points(_metadata, self);
	ASSERT_GT(points, 0);

	for (step = 1; step < 100000; step++) {
		int fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);

		ASSERT_GE(fd, 0);
		snprintf(val, sizeof(val), "%d", step);
		ASSERT_EQ((ssize_t)strlen(val), write(fd, val, strlen(val)));
		err = cycle(&self->ls, self->want, self->want_len);
		/*
		 * Copies to and from user space are injection points too: when
		 * the cycle ran out just before the n-th point, this read is
		 * it, and fails with EFAULT (the cycle was untouched). The
		 * disarming write may likewise be hit once: try again.
		 */
		n = pread(fd, val, sizeof(val) - 1, 0);
		if (n < 0 && errno == EFAULT)
			n = snprintf(val, sizeof(val), "1");
		for (tries = 0; tries < 3 && write(fd, "0", 1) != 1; tries++)
			;
		close(fd);
		ASSERT_GT(n, 0);
		val[n] = 0;
		nth = atoi(val);

		/* Whatever failed, nothing may be left behind. */
		if (count_mounts("atomfs") > 0)
			umount2(MNT, MNT_DETACH);
		ASSERT_EQ(0, count_mounts("atomfs")) TH_LOG("step %d left a mount", step);
		ASSERT_FALSE(device_held(self->ls.fd[0])) TH_LOG("step %d left layer 0 mounted", step);
		ASSERT_FALSE(device_held(self->ls.fd[1])) TH_LOG("step %d left layer 1 mounted", step);

		if (nth) {
			/* The cycle ran out before the n-th call: untouched. */
			ASSERT_EQ(0, err) TH_LOG("untouched cycle failed: %s", strerror(-err));
			break;
		}
		/* Succeeded despite the fault: cycle() compared the bytes. */
		ASSERT_TRUE(err == 0 || fault_errno(err))
			TH_LOG("step %d: %s", step, err == -EWRONGDATA ?
			       "read other bytes than the file's" : strerror(-err));
		if (err) {
			fails++;
			i = err == -ENOMEM ? 0 : err == -EFAULT ? 1 :
			    err == -EINTR ? 2 : err == -EIO ? 3 : 4;
			errs[i]++;
		} else {
			oks++;
		}
	}
	TH_LOG("fail-nth walk: %d steps (a cycle has %d injection points), %d failed cleanly (ENOMEM %d, EFAULT %d, EINTR %d, EIO %d), %d succeeded despite the fault",
	       step - 1, points, fails, errs[0], errs[1], errs[2], errs[3], oks);
	/*
	 * The walk ends at the first step past the cycle's points; a few
	 * points may come and go (caches), far fewer steps mean it stopped
	 * early.
	 */
	ASSERT_GE(step - 1, points * 9 / 10);
	ASSERT_GT(fails, 0);
}

TEST_F_TIMEOUT(fault, verify_fault_attr, 900)
{
	int i, err, fails = 0, oks = 0, in_worker = 0;
	long long h0, h1;

	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/interval", "1"));
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/times", "-1"));
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/probability", "10"));
	for (i = 0; i < 40; i++) {
		h0 = bytes_hashed();
		err = cycle(&self->ls, self->want, self->want_len);
		h1 = bytes_hashed();
		ASSERT_TRUE(err == 0 || err == -ENOMEM) TH_LOG("unexpected %s",
			err == -EWRONGDATA ? "bytes read" : strerror(-err));
		ASSERT_GE(h0, 0);
		if (err)
			fails++;
		else
			oks++;
		/* Failed after hashing had begun: in a worker. */
		if (err && h1 > h0)
			in_worker++;
		ASSERT_EQ(0, count_mounts("atomfs"));
		ASSERT_FALSE(device_held(self->ls.fd[0]));
		ASSERT_FALSE(device_held(self->ls.fd[1]));
	}
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/probability", "0"));
	TH_LOG("atomfs fault attribute at 10%%: %d failed cleanly (%d in a verification worker), %d succeeded",
	       fails, in_worker, oks);
	ASSERT_GT(fails, 0);
	ASSERT_GT(in_worker, 0);
	ASSERT_GT(oks, 0);
}

ATOMFS_HARNESS_MAIN
