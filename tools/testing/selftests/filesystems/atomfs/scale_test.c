// SPDX-License-Identifier: GPL-2.0
/*
 * Scale: 1, 2, 500, 501 and 4096 directory layers (overlayfs stops at 500),
 * 1000 file layers (ATOMFS_LAYER_FILE: a device of the module's each), and
 * readdir of a 10,000-entry directory spread over 100 file layers with
 * telldir/seekdir across reopening.
 *
 * Skipped as a whole when ATOMFS_SKIP_SCALE=1 (run_tests --debug sets it
 * for the debug kernel). The 1000-layer test needs the VM's memory raised:
 * see the report in the commit adding this file.
 */
#include "atomfs_util.h"
#include "kselftest_harness.h"

#define WORK "/tmp/atomfs-scale"
#define MNT WORK "/mnt"

/* MemAvailable in MiB */
static long mem_available_mb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb / 1024;
}

static void print_ms(const char *what, long long start)
{
	printf("# %s: %lld ms\n", what, now_ms() - start);
	fflush(stdout);
}

/* Names in DIR (without . and ..), or -1. */
static int count_names(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Negative dentries in the system (/proc/sys/fs/dentry-state, 5th), or -1. */
static long negative_dentries(void)
{
	long v[5];
	FILE *f = fopen("/proc/sys/fs/dentry-state", "re");
	int n = f ? fscanf(f, "%ld %ld %ld %ld %ld", &v[0], &v[1], &v[2],
			   &v[3], &v[4]) : 0;

	if (f)
		fclose(f);
	return n == 5 ? v[4] : -1;
}

/*
 * Look up 1000 distinct missing names in DIR (the same name again would be
 * answered by the negative dentry the first lookup left, without reaching
 * atomfs). Returns the milliseconds taken.
 */
static long long lookup_missing(struct __test_metadata *_metadata,
				const char *dir, const char *what)
{
	char p[PATH_MAX];
	long long t = now_ms();
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(p, sizeof(p), "%s/missing%d", dir, i);
		EXPECT_EQ(ENOENT, lstat_errno(p)) TH_LOG("%s", p);
	}
	print_ms(what, t);
	return now_ms() - t;
}

FIXTURE(dirs) {
	int loops;
};

FIXTURE_VARIANT(dirs) {
	int n;
};

FIXTURE_VARIANT_ADD(dirs, l1) { .n = 1 };
FIXTURE_VARIANT_ADD(dirs, l2) { .n = 2 };
FIXTURE_VARIANT_ADD(dirs, l500) { .n = 500 };
FIXTURE_VARIANT_ADD(dirs, l501) { .n = 501 };
FIXTURE_VARIANT_ADD(dirs, l4096) { .n = 4096 };

FIXTURE_SETUP(dirs)
{
	self->loops = count_loops();
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, raise_nofile(20000));
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
}

FIXTURE_TEARDOWN(dirs)
{
	EXPECT_EQ(0, count_mounts("atomfs"));
	close_range(3, ~0U, 0);
	umount_below(WORK, false);
	EXPECT_EQ(self->loops, wait_loops(self->loops, 5000));
}

/*
 * Layer i: /fI ("I\n") and /shared/sI; the top layer also whites out f0
 * (overlay style) when there is more than one layer.
 */
TEST_F_TIMEOUT(dirs, distinct_files_and_shared_dir, 600)
{
	static struct layer_set ls;
	int n = variant->n, i, fd;
	char p[PATH_MAX], c[32], line[8192];
	long long t;

	t = now_ms();
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), WORK "/%d", i);
		ASSERT_EQ(0, mkdir(p, 0755));
		snprintf(p, sizeof(p), WORK "/%d/shared", i);
		ASSERT_EQ(0, mkdir(p, 0755));
		snprintf(p, sizeof(p), WORK "/%d/f%d", i, i);
		snprintf(c, sizeof(c), "%d\n", i);
		ASSERT_EQ(0, write_file(p, c, strlen(c), 0644));
		snprintf(p, sizeof(p), WORK "/%d/shared/s%d", i, i);
		ASSERT_EQ(0, write_file(p, c, strlen(c), 0644));
	}
	if (n > 1) {
		snprintf(p, sizeof(p), WORK "/%d/f0", n - 1);
		ASSERT_EQ(0, mknod(p, S_IFCHR | 0600, 0));
	}
	ls.nr = 0;
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), WORK "/%d", i);
		ASSERT_EQ(0, add_dir_layer(&ls, p));
	}
	print_ms("layers built", t);

	t = now_ms();
	fd = create_stack(ls.l, ls.nr, 0, NULL);
	ASSERT_GE(fd, 0) TH_LOG("create-stack of %d layers: %s", n, strerror(-fd));
	print_ms("create-stack", t);
	put_layers(&ls);
	ASSERT_EQ(0, mount_stack(fd, MNT));
	close(fd);
	ASSERT_TRUE(mountinfo_line(MNT, line, sizeof(line)));
	snprintf(c, sizeof(c), "layers=%d,", n);
	EXPECT_NE(NULL, strstr(line, c)) TH_LOG("%s", line);

	t = now_ms();
	/* f1..f(n-1), shared, and f0 unless whited out */
	EXPECT_EQ(n > 1 ? n : 2, count_names(MNT));
	EXPECT_EQ(n, count_names(MNT "/shared"));
	print_ms("readdir of / and /shared", t);
	if (n > 1) {
		EXPECT_EQ(ENOENT, lstat_errno(MNT "/f0"));
	} else {
		EXPECT_TRUE(file_is(MNT "/f0", "0"));
	}
	for (i = 1; i < n; i += (n > 10 ? n / 7 : 1)) {
		snprintf(p, sizeof(p), MNT "/f%d", i);
		snprintf(c, sizeof(c), "%d", i);
		EXPECT_TRUE(file_is(p, c)) TH_LOG("%s", p);
		snprintf(p, sizeof(p), MNT "/shared/s%d", i);
		EXPECT_TRUE(file_is(p, c)) TH_LOG("%s", p);
	}
	snprintf(p, sizeof(p), MNT "/f%d", n - 1);
	snprintf(c, sizeof(c), "%d", n - 1);
	EXPECT_TRUE(file_is(p, c) || n == 1);
	/*
	 * a missing name is one hash probe, not one lookup per layer: at
	 * 4096 layers that would be 4 million lookups (file_layers_1000
	 * also counts the negative dentries they would leave)
	 */
	EXPECT_LT(lookup_missing(_metadata, MNT "/shared",
				 "1000 lookups of distinct missing names"), 10000);

	t = now_ms();
	EXPECT_EQ(0, umount(MNT));
	print_ms("umount", t);
	/* not one RCU grace period per layer (4096 of them: tens of s) */
	EXPECT_LT(now_ms() - t, 10000);
}

FIXTURE(blk) {
	int loops;
};

FIXTURE_SETUP(blk)
{
	self->loops = count_loops();
	ASSERT_EQ(0, allow_unverified());
	ASSERT_EQ(0, raise_nofile(20000));
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
}

FIXTURE_TEARDOWN(blk)
{
	EXPECT_EQ(0, count_mounts("atomfs"));
	close_range(3, ~0U, 0);
	umount_below(WORK, false);
	EXPECT_EQ(self->loops, wait_loops(self->loops, 30000));
}

/* many/NNNN.sqfs: /lNNNN and /shared/sNNNN */
TEST_F_TIMEOUT(blk, file_layers_1000, 900)
{
	static struct layer_set ls;
	static ino_t inos[1000];
	char name[64], p[PATH_MAX];
	struct stat st;
	long long t;
	int i, j, fd, dups = 0;
	long mem0 = mem_available_mb(), neg;

	t = now_ms();
	ls.nr = 0;
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "many/%04d.sqfs", i);
		ASSERT_EQ(0, add_file_layer(&ls, fixture(name)));
	}
	print_ms("1000 blob files opened", t);
	t = now_ms();
	fd = create_stack(ls.l, ls.nr, 0, NULL);
	ASSERT_GE(fd, 0) TH_LOG("create-stack: %s", strerror(-fd));
	print_ms("create-stack of 1000 file layers", t);
	printf("# MemAvailable: %ld MiB before the layers, %ld MiB now\n",
	       mem0, mem_available_mb());
	put_layers(&ls);
	ASSERT_EQ(0, mount_stack(fd, MNT));
	close(fd);
	/* One device of the module per layer, not one loop device. */
	EXPECT_EQ(1000, count_block("atomfsb"));
	EXPECT_EQ(self->loops, count_loops());
	t = now_ms();
	EXPECT_EQ(1001, count_names(MNT));
	EXPECT_EQ(1000, count_names(MNT "/shared"));
	print_ms("readdir of / and /shared", t);
	printf("# MemAvailable after readdir: %ld MiB\n", mem_available_mb());
	for (i = 0; i < 1000; i++) {
		snprintf(p, sizeof(p), MNT "/l%04d", i);
		ASSERT_EQ(0, lstat(p, &st));
		inos[i] = st.st_ino;
		EXPECT_LT(st.st_ino, 1ULL << 32);
	}
	for (i = 0; i < 1000; i++)
		for (j = i + 1; j < 1000; j++)
			dups += inos[i] == inos[j];
	EXPECT_EQ(0, dups);
	EXPECT_EQ(0, lstat(MNT "/shared/s0999", &st));
	EXPECT_EQ(0, lstat(MNT "/shared/s0000", &st));
	EXPECT_EQ(ENOENT, lstat_errno(MNT "/shared/nope"));
	/*
	 * A missing name is answered from the index: no layer is asked. A
	 * lookup in each of the 1000 squashfs layers would leave up to a
	 * million negative dentries there; atomfs's own are 1000.
	 */
	neg = negative_dentries();
	ASSERT_GE(neg, 0);
	lookup_missing(_metadata, MNT "/shared",
		       "1000 lookups of distinct missing names over 1000 layers");
	neg = negative_dentries() - neg;
	printf("# negative dentries added: %ld\n", neg);
	EXPECT_LT(neg, 1500);
	EXPECT_GE(neg, 0);
	t = now_ms();
	EXPECT_EQ(0, umount(MNT));
	print_ms("umount of 1000 layers", t);
	/* released by the unmounting task */
	EXPECT_EQ(0, count_block("atomfsb"));
}

/* big100/NN.sqfs: /big/eNNNNN (100 per layer) and /big/common in each */
TEST_F_TIMEOUT(blk, readdir_10000_over_100_layers, 600)
{
	static struct layer_set ls;
	static char names[10010][16];
	static long pos[10010];
	static unsigned char seen[10000];
	char name[64];
	struct dirent *de;
	long long t;
	int i, n = 0, dups = 0, common = 0, fd;
	DIR *d;

	ls.nr = 0;
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "big100/%02d.sqfs", i);
		ASSERT_EQ(0, add_file_layer(&ls, fixture(name)));
	}
	fd = create_stack(ls.l, ls.nr, 0, NULL);
	ASSERT_GE(fd, 0);
	put_layers(&ls);
	ASSERT_EQ(0, mount_stack(fd, MNT));
	close(fd);

	t = now_ms();
	d = opendir(MNT "/big");
	ASSERT_NE(NULL, d);
	for (;;) {
		long p = telldir(d);

		de = readdir(d);
		if (!de)
			break;
		ASSERT_LT(n, 10010);
		pos[n] = p;
		snprintf(names[n], sizeof(names[n]), "%s", de->d_name);
		n++;
		if (de->d_name[0] == 'e') {
			int k = atoi(de->d_name + 1);

			if (k < 0 || k >= 10000 || seen[k]++)
				dups++;
		} else if (!strcmp(de->d_name, "common")) {
			common++;
		}
	}
	closedir(d);
	print_ms("first readdir of 10,003 entries", t);
	EXPECT_EQ(10003, n);
	EXPECT_EQ(0, dups);
	EXPECT_EQ(1, common);
	t = now_ms();
	/* every eNNNNN exactly once */
	for (i = 0; i < 10000; i++)
		if (seen[i] != 1)
			dups++;
	EXPECT_EQ(0, dups) TH_LOG("names missing or repeated");
	{
		int again = 0;

		d = opendir(MNT "/big");
		ASSERT_NE(NULL, d);
		while ((de = readdir(d)))
			again++;
		closedir(d);
		EXPECT_EQ(n, again);
	}
	print_ms("second readdir", t);
	for (i = 0; i < 300; i++) {
		int k = (i * 7919 + 13) % n;

		d = opendir(MNT "/big");
		ASSERT_NE(NULL, d);
		seekdir(d, pos[k]);
		de = readdir(d);
		ASSERT_NE(NULL, de);
		EXPECT_STREQ(names[k], de->d_name);
		if (k + 1 < n) {
			de = readdir(d);
			ASSERT_NE(NULL, de);
			EXPECT_STREQ(names[k + 1], de->d_name);
		}
		closedir(d);
	}
	EXPECT_EQ(0, umount(MNT));
}

int main(int argc, char **argv)
{
	const char *skip = getenv("ATOMFS_SKIP_SCALE");

	if (skip && !strcmp(skip, "1")) {
		printf("TAP version 13\n1..0 # SKIP ATOMFS_SKIP_SCALE=1: "
		       "the scale tests run on the stock kernel only\n");
		return 0;
	}
	ATOMFS_SELFTEST_FILTER();
	return test_harness_run(argc, argv);
}
