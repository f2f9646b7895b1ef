// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection on the debug kernel (run_tests --debug runs it; the stock
 * kernel has no fault injection).
 *
 * fail_nth_walk: per-task fail-nth walks through one create-stack + mount +
 * read + umount cycle of a verified two-layer stack on loop devices: fail
 * the 1st, 2nd, ...
 * allocation (failslab and fail_page_alloc, sleeping allocations and order-0
 * pages included) until the cycle runs untouched. Each step must fail
 * cleanly or succeed, and leave no mount and no device held.
 *
 * fail_nth_walk_file: the same cycle with the upper layer given as a blob
 * file (ATOMFS_LAYER_FILE, on the test's tmpfs), through the module's own
 * device. Making and removing a disk has several times the injection
 * points of the rest of the cycle, each step slow under KASAN, so this
 * walk fails every STRIDE-th point (at most FILE_STEPS steps, the stride
 * logged), starting at a point that changes from run to run; each step
 * must also leave no device and the blob writable again.
 *
 * The walk's length is checked against the cycle's injection points,
 * counted first (fail-nth set high and read back); the bytes read must be
 * the file's whenever the cycle succeeds, and a failed step may only fail
 * with an errno a failed allocation can cause.
 *
 * verify_fault_attr: the verification path runs in workers, which fail-nth
 * does not reach: the module's own fault attribute (debugfs atomfs/) in
 * probability mode fails its allocations there. The attribute is consulted
 * in the calling task too, so the module counts the faults it injected in a
 * worker (debugfs atomfs/worker_faults): a failed cycle during which that
 * count grew shows a fault that landed in a worker. (bytes_hashed growing
 * does not: the caller's own fault on a second layer comes after the first
 * layer's job was queued, and the exit path waits for that job.)
 */
#include <sys/mount.h>

#include "kselftest_harness.h"
#include "atomfs_util.h"

#define WORK "/tmp/atomfs-fault"
#define MNT WORK "/mnt"
#define UPPER WORK "/upper.sqfs"
#define FILE_READ "/dir7/deep/file"
/* A cycle read bytes other than the file's. */
#define EWRONGDATA 1000

/* Faults the module injected in its workers so far, or -1. */
static long long worker_faults(void)
{
	char buf[64];
	long long v;

	if (read_file("/sys/kernel/debug/atomfs/worker_faults", buf,
		      sizeof(buf)) < 0)
		return -1;
	return sscanf(buf, "%lld", &v) == 1 ? v : -1;
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

/*
 * Is the blob FILE given back: no device of the module left, and FILE
 * writable again?
 */
static bool blob_released(const char *file)
{
	int fd;

	if (count_block("atomfsb") != 0)
		return false;
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

FIXTURE(fault) {
	struct layer_set ls;	/* both layers on loop devices */
	struct layer_set fls;	/* the upper one a blob file */
	char want[64];		/* FILE_READ as the upper layer has it */
	ssize_t want_len;
};

FIXTURE_SETUP(fault)
{
	const char *files[] = { "fault/lower.sqfs", "fault/upper.sqfs" };

	if (access("/proc/self/fail-nth", F_OK) ||
	    access("/sys/kernel/debug/failslab", F_OK))
		SKIP(return, "this kernel has no fault injection: run on the debug kernel");
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
	/* The blob on a guest-local filesystem: the test's tmpfs. */
	ASSERT_EQ(0, copy_file(fixture(files[1]), UPPER));
	memset(&self->ls, 0, sizeof(self->ls));
	memset(&self->fls, 0, sizeof(self->fls));
	ASSERT_EQ(0, add_loop_layer(&self->ls, fixture(files[0])));
	ASSERT_EQ(0, add_loop_layer(&self->ls, fixture(files[1])));
	ASSERT_EQ(0, add_loop_layer(&self->fls, fixture(files[0])));
	ASSERT_EQ(0, add_file_layer(&self->fls, UPPER));
	ASSERT_EQ(ATOMFS_LAYER_FILE, self->fls.l[1].flags);
	ASSERT_EQ(0, sha256_file(fixture(files[0]), &self->ls.l[0].digest));
	ASSERT_EQ(0, sha256_file(fixture(files[1]), &self->ls.l[1].digest));
	self->fls.l[0].digest = self->ls.l[0].digest;
	ASSERT_EQ(0, sha256_file(UPPER, &self->fls.l[1].digest));
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
	put_layers(&self->fls);
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
static int cycle_points(FIXTURE_DATA(fault) *self, struct layer_set *ls)
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
	err = cycle(ls, self->want, self->want_len);
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

/*
 * Walk LS's cycle failing point FIRST, FIRST + STRIDE, ... (STRIDE 0: as
 * many as the cycle has, at most MAX_STEPS steps, each point once).
 */
static void walk(struct __test_metadata *_metadata, FIXTURE_DATA(fault) *self,
		 struct layer_set *ls, int max_steps)
{
	int step, fails = 0, oks = 0, err, nth, tries, points, i;
	int first = 1, stride = 1, point;
	int errs[5] = { 0 }; /* ENOMEM EFAULT EINTR EIO other */
	char val[16];
	ssize_t n;

	/* A cycle to warm the caches, then count a cycle's points. */
	ASSERT_EQ(0, cycle(ls, self->want, self->want_len));
	points = cycle_points(self, ls);
	ASSERT_GT(points, 0);
	if (points > max_steps) {
		const char *replay = getenv("ATOMFS_FAULT_FIRST");

		stride = (points + max_steps - 1) / max_steps;
		first = 1 + (int)(time(NULL) % stride);
		/* the first point of a failed run, from its log */
		if (replay && atoi(replay) > 0)
			first = atoi(replay);
	}
	TH_LOG("walking points %d, %d, ... every %d of %d (replay with ATOMFS_FAULT_FIRST=%d)",
	       first, first + stride, stride, points, first);

	for (step = 1; step < 100000; step++) {
		int fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);

		ASSERT_GE(fd, 0);
		point = first + (step - 1) * stride;
		snprintf(val, sizeof(val), "%d", point);
		ASSERT_EQ((ssize_t)strlen(val), write(fd, val, strlen(val)));
		err = cycle(ls, self->want, self->want_len);
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
		ASSERT_FALSE(device_held(ls->fd[0])) TH_LOG("step %d left layer 0 mounted", step);
		if (ls->l[1].flags & ATOMFS_LAYER_FILE) {
			ASSERT_TRUE(blob_released(UPPER)) TH_LOG("step %d left layer 1's device or write denial", step);
		} else {
			ASSERT_FALSE(device_held(ls->fd[1])) TH_LOG("step %d left layer 1 mounted", step);
		}

		if (nth) {
			/* The cycle ran out before the n-th call: untouched. */
			ASSERT_EQ(0, err) TH_LOG("untouched cycle failed: %s", strerror(-err));
			break;
		}
		/* Succeeded despite the fault: cycle() compared the bytes. */
		ASSERT_TRUE(err == 0 || fault_errno(err))
			TH_LOG("step %d (point %d): %s", step, point, err == -EWRONGDATA ?
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
	TH_LOG("fail-nth walk: %d steps (a cycle has %d injection points; points %d, %d, ... every %d), %d failed cleanly (ENOMEM %d, EFAULT %d, EINTR %d, EIO %d), %d succeeded despite the fault",
	       step - 1, points, first, first + stride, stride, fails, errs[0], errs[1], errs[2], errs[3], oks);
	/*
	 * The walk ends at the first step past the cycle's points; a few
	 * points may come and go (caches), far fewer steps mean it stopped
	 * early.
	 */
	ASSERT_GE(step - 1, points / stride * 9 / 10);
	ASSERT_GT(fails, 0);
}

TEST_F_TIMEOUT(fault, fail_nth_walk, 2400)
{
	walk(_metadata, self, &self->ls, 100000);
}

/*
 * make check walks 60 of the file cycle's points (a different 60 each
 * second: the log names the first, ATOMFS_FAULT_FIRST replays it);
 * ATOMFS_FAULT_FILE_STEPS=100000 walks every one of them.
 */
#define FILE_STEPS 60
TEST_F_TIMEOUT(fault, fail_nth_walk_file, 1800)
{
	const char *steps = getenv("ATOMFS_FAULT_FILE_STEPS");

	int max = steps ? atoi(steps) : FILE_STEPS;

	ASSERT_GT(max, 0) TH_LOG("ATOMFS_FAULT_FILE_STEPS=%s is no number of steps", steps);
	walk(_metadata, self, &self->fls, max);
}

TEST_F_TIMEOUT(fault, verify_fault_attr, 900)
{
	int i, err, fails = 0, oks = 0, in_worker = 0;
	long long w0, w1;

	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/interval", "1"));
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/times", "-1"));
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/probability", "10"));
	for (i = 0; i < 40; i++) {
		w0 = worker_faults();
		err = cycle(&self->ls, self->want, self->want_len);
		w1 = worker_faults();
		ASSERT_TRUE(err == 0 || err == -ENOMEM) TH_LOG("unexpected %s",
			err == -EWRONGDATA ? "bytes read" : strerror(-err));
		ASSERT_GE(w0, 0);
		if (err)
			fails++;
		else
			oks++;
		/* Failed, and a fault landed in a worker meanwhile. */
		if (err && w1 > w0)
			in_worker++;
		ASSERT_EQ(0, count_mounts("atomfs"));
		ASSERT_FALSE(device_held(self->ls.fd[0]));
		ASSERT_TRUE(blob_released(UPPER));
	}
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/probability", "0"));
	TH_LOG("atomfs fault attribute at 10%%: %d failed cleanly (%d in a verification worker), %d succeeded",
	       fails, in_worker, oks);
	ASSERT_GT(fails, 0);
	ASSERT_GT(in_worker, 0);
	ASSERT_GT(oks, 0);
}

ATOMFS_HARNESS_MAIN
