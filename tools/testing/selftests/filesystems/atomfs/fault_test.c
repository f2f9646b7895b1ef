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
 * verify_fault_attr: the verification path runs in workers, which fail-nth
 * does not reach: the module's own fault attribute (debugfs atomfs/) in
 * probability mode fails its allocations there.
 */
#include <sys/mount.h>

#include "kselftest_harness.h"
#include "atomfs_util.h"

#define MNT "/tmp/atomfs-fault"
/*
 * The cycle on 4 KiB-block layers has more injection points than this on
 * the debug kernel (measured: see the TH_LOG line); fewer means the walk
 * stopped early.
 */
#define MIN_STEPS 500 /* measured: 715 */

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

/* One cycle; returns 0 when all of it succeeded, else the first -errno. */
static int cycle(struct layer_set *ls)
{
	struct atomfs_create_stack cs;
	char buf[64];
	int stack, fd, err;

	stack_args_init(&cs, ls->l, ls->nr, 0, "fault");
	stack = create_stack_raw(&cs);
	if (stack < 0)
		return stack;
	err = mount_stack(stack, MNT);
	close(stack);
	if (err)
		return err;
	fd = open(MNT "/dir7/deep/file", O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf)) < 0)
			err = -errno;
		close(fd);
	}
	if (umount(MNT) && !err)
		err = -errno;
	return err;
}

TEST_F_TIMEOUT(fault, fail_nth_walk, 2400)
{
	int step, fails = 0, oks = 0, err, nth, tries;
	char val[16];
	ssize_t n;

	for (step = 1; step < 100000; step++) {
		int fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);

		ASSERT_GE(fd, 0);
		snprintf(val, sizeof(val), "%d", step);
		ASSERT_EQ((ssize_t)strlen(val), write(fd, val, strlen(val)));
		err = cycle(&self->ls);
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
		if (err)
			fails++;
		else
			oks++;
	}
	TH_LOG("fail-nth walk: %d steps, %d failed cleanly, %d succeeded despite the fault",
	       step - 1, fails, oks);
	ASSERT_GE(step - 1, MIN_STEPS);
	ASSERT_GT(fails, 0);
}

TEST_F_TIMEOUT(fault, verify_fault_attr, 900)
{
	int i, err, fails = 0, oks = 0;

	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/interval", "1"));
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/times", "-1"));
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/probability", "10"));
	for (i = 0; i < 40; i++) {
		err = cycle(&self->ls);
		ASSERT_TRUE(err == 0 || err == -ENOMEM) TH_LOG("unexpected %s", strerror(-err));
		if (err)
			fails++;
		else
			oks++;
		ASSERT_EQ(0, count_mounts("atomfs"));
		ASSERT_FALSE(device_held(self->ls.fd[0]));
		ASSERT_FALSE(device_held(self->ls.fd[1]));
	}
	ASSERT_EQ(0, set("/sys/kernel/debug/atomfs/probability", "0"));
	TH_LOG("atomfs fault attribute at 10%%: %d failed cleanly, %d succeeded", fails, oks);
	ASSERT_GT(fails, 0);
	ASSERT_GT(oks, 0);
}

ATOMFS_HARNESS_MAIN
