// SPDX-License-Identifier: GPL-2.0
/*
 * Verification of layer digests and sharing of verified layers (issue 5):
 * correct digests mount; a flipped bit anywhere in one layer of 50 fails
 * with EBADMSG and the right failed_layer; bad digest arguments, writable,
 * unaligned and busy devices are refused; a second stack of the same layers
 * hashes nothing and shares the private mounts (and their page cache); fd
 * ATOMFS_NO_FD reuses a held layer; ATOMFS_IOC_QUERY_LAYER; parallel
 * hashing; twenty concurrent setups of one image; SIGKILL during a long
 * verification; a forced re-hash of a changed blob; no Buffers growth;
 * require_verified and share_layers.
 *
 * Every test runs in its own mount namespace on a private tmpfs; the
 * teardown requires no atomfs mount, no stack in /proc/fs/atomfs and the
 * number of attached loop devices back where it was.
 *
 * Digests come from the fixtures (verify/SHA256SUMS, made on the host by
 * make-fixtures), including those of "padded" blobs: a fixture copied to
 * the tmpfs and extended with zeros. Such a copy is sparse, so a 128 MiB
 * blob costs the guest no memory, and squashfs mounts a device bigger than
 * its image.
 *
 * The big-blob tests (parallel_100_layers, sigkill_aborts_verification,
 * buffers_do_not_grow) are skipped with ATOMFS_SKIP_SCALE=1 (the debug
 * kernel run). Memory: the default 1 GiB VM is enough; the control read of
 * buffers_do_not_grow puts 64 MiB into Buffers for a moment.
 */
#include <pthread.h>
#include <sys/mman.h>

#include <linux/fs.h>

#include "atomfs_util.h"
#include "kselftest_harness.h"

#define WORK "/tmp/atomfs-verify"
#define MNT WORK "/mnt"
#define MNT2 WORK "/mnt2"
#define DIRL WORK "/dirlayer"

#define MIB (1024LL * 1024)
#define PAD_SIZE (1 * MIB)	/* pad1M/NNNN in SHA256SUMS */
#define BIG_SIZE (128 * MIB)	/* pad128M/base in SHA256SUMS */

/* ---- helpers ---- */

static bool skip_scale(void)
{
	const char *e = getenv("ATOMFS_SKIP_SCALE");

	return e && !strcmp(e, "1");
}

/*
 * On a kernel line other than 6.1 (atomfs_skip_line_independent()) the
 * tests of the module's own wait on a layer in flight (a completion) skip,
 * as does twenty_concurrent_setups on loop layers (its 19 waiters hash
 * the held 16 MiB loop layer again each); 6.1 and the debug kernel run them.
 * On every line hardening_test's held_loop_layer_rehashed_on_reuse hashes
 * a held loop layer again on its reuse, and blob_test's
 * concurrent_stacks_mounts_and_umounts reuses held file layers at once.
 * The compat.h calls on their paths are reached on every line: the blob
 * device's disk and the pin scan by file_twenty_concurrent_setups,
 * file_bdev by every test of a loop layer; file_shared_wait_is_killable
 * runs on every line too, the one test there of a fatal signal inside
 * ATOMFS_IOC_CREATE_STACK.
 */
struct stats {
	long long hashed, verified, reused, aborted, max_workers, waits;
	char driver[64];
};

static int read_stats(struct stats *s)
{
	char buf[1024], *p;

	memset(s, 0, sizeof(*s));
	if (read_file("/proc/fs/atomfs/stats", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "bytes_hashed ");
	if (!p || sscanf(p, "bytes_hashed %lld", &s->hashed) != 1)
		return -1;
	p = strstr(buf, "layers_verified ");
	if (!p || sscanf(p, "layers_verified %lld", &s->verified) != 1)
		return -1;
	p = strstr(buf, "layers_reused ");
	if (!p || sscanf(p, "layers_reused %lld", &s->reused) != 1)
		return -1;
	p = strstr(buf, "verifications_aborted ");
	if (!p || sscanf(p, "verifications_aborted %lld", &s->aborted) != 1)
		return -1;
	p = strstr(buf, "max_workers ");
	if (!p || sscanf(p, "max_workers %lld", &s->max_workers) != 1)
		return -1;
	p = strstr(buf, "shared_layer_waits ");
	if (!p || sscanf(p, "shared_layer_waits %lld", &s->waits) != 1)
		return -1;
	p = strstr(buf, "sha256_driver ");
	if (p)
		sscanf(p, "sha256_driver %63s", s->driver);
	return 0;
}

static void digest_hex(const struct atomfs_digest *d, char hex[65])
{
	const unsigned char *b = (const unsigned char *)d->bytes;
	int i;

	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", b[i]);
}

/*
 * The file_* tests run the core cases with the blobs given as files
 * (ATOMFS_LAYER_FILE) instead of loop devices: the blobs are on the
 * guest's tmpfs (the fixtures' copy, WORK), where the write denial pins
 * them, so a held file layer is reused without a hash.
 */
static bool file_layers;

/* Append a layer over FILE: a loop device, or the file itself. */
static int add_layer_of(struct layer_set *ls, const char *file)
{
	return file_layers ? add_file_layer(ls, file) :
			     add_loop_layer(ls, file);
}

/* Append a layer over FIXTURE NAME carrying its digest. */
static int add_verified(struct layer_set *ls, const char *name)
{
	int err = add_layer_of(ls, fixture(name));

	if (!err)
		err = digest_of(name, &ls->l[ls->nr - 1].digest);
	return err;
}

/* Append a layer over FILE with the digest that NAME has. */
static int add_file_digest(struct layer_set *ls, const char *file,
			   const char *name)
{
	int err = add_layer_of(ls, file);

	if (!err)
		err = digest_of(name, &ls->l[ls->nr - 1].digest);
	return err;
}

/* Copy SRC to DST and extend it with zeros (sparse) to SIZE. */
static int make_padded(const char *src, const char *dst, long long size)
{
	int err = copy_file(src, dst);

	if (!err && truncate(dst, size))
		err = -errno;
	return err;
}

#define DELAY_POINT "/sys/kernel/debug/atomfs/delay_point"
#define DELAY_MS "/sys/kernel/debug/atomfs/delay_ms"
#define DELAY_HASH_CHUNK "4" /* ATOMFS_DELAY_HASH_CHUNK */
/*
 * A layer whose verification stays in flight long enough for other
 * set-ups to arrive and wait on it: on the debug kernel the module's delay
 * knob pauses 400 ms after each 1 MiB hashed (4 MiB: 1.6 s); elsewhere a
 * 64 MiB layer (over a second under TCG, still ~100 ms with SHA-NI).
 * base.sqfs padded with zeros into FILE; its digest in D (from
 * SHA256SUMS: MIB is 4, 16 or 64). Undo with slow_layer_end().
 */
static int slow_layer(const char *file, struct atomfs_digest *d, int mib)
{
	bool knob = access(DELAY_MS, W_OK) == 0;
	char name[32];
	int err = 0;

	if (knob)
		err = write_file(DELAY_POINT, DELAY_HASH_CHUNK, 1, 0) ?:
		      write_file(DELAY_MS, "400", 3, 0);
	if (err)
		return err;
	if (knob)
		mib = 4;
	snprintf(name, sizeof(name), "pad%dM/base", mib);
	err = make_padded(fixture("base.sqfs"), file, (long long)mib * MIB);
	return err ?: digest_of(name, d);
}

static void slow_layer_end(void)
{
	if (access(DELAY_MS, W_OK) == 0) {
		write_file(DELAY_MS, "0", 1, 0);
		write_file(DELAY_POINT, "0", 1, 0);
	}
}

/* Wait up to 20 s until stats field FIELD (via read_stats) passes BASE. */
#define WAIT_STAT(field, base)                                          \
	({                                                              \
		struct stats __s;                                       \
		long long __t = now_ms();                               \
		int __ok = 0;                                           \
		while (!__ok && now_ms() - __t < 20000) {               \
			if (read_stats(&__s))                           \
				break;                                  \
			__ok = __s.field > (base);                      \
			if (!__ok)                                      \
				usleep(2000);                           \
		}                                                       \
		__ok;                                                   \
	})

/* Flip the lowest bit of the byte at OFF of FILE, in place. */
static int flip_bit(const char *file, off_t off)
{
	int fd = open(file, O_RDWR | O_CLOEXEC), err = 0;
	unsigned char c;

	if (fd < 0)
		return -errno;
	if (pread(fd, &c, 1, off) != 1)
		err = -EIO;
	c ^= 1;
	if (!err && pwrite(fd, &c, 1, off) != 1)
		err = -EIO;
	close(fd);
	return err;
}

/* ATOMFS_IOC_QUERY_LAYER with Q as given; 0 or -errno. */
static int query_raw(struct atomfs_query_layer *q)
{
	int ctl = ctl_open(), ret, err;

	if (ctl < 0)
		return ctl;
	ret = ioctl(ctl, ATOMFS_IOC_QUERY_LAYER, q);
	err = errno;
	close(ctl);
	return ret < 0 ? -err : ret;
}

/* Is D held? *SIZE gets the size the kernel reports. -1 on error. */
static int is_held(const struct atomfs_digest *d, unsigned long long *size)
{
	struct atomfs_query_layer q;

	memset(&q, 0, sizeof(q));
	q.digest = *d;
	q.flags = 0xffffffff; /* an output: the kernel must write it */
	q.size = 0xdeadbeef;
	if (query_raw(&q))
		return -1;
	if (size)
		*size = q.size;
	return !!(q.flags & ATOMFS_QUERY_HELD);
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
 * Does the module hold the blob behind FD? A loop device: mounted
 * (device_held()); a blob file: its write access is denied, so opening it
 * for writing fails with ETXTBSY (nothing else has it open for writing).
 */
static bool blob_held(int fd)
{
	char path[64];
	struct stat st;
	int wfd;

	if (fstat(fd, &st))
		return false;
	if (S_ISBLK(st.st_mode))
		return device_held(fd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	if (wfd >= 0)
		close(wfd);
	return wfd < 0 && errno == ETXTBSY;
}

/* Number of stacks in /proc/fs/atomfs; up to MAX ids into IDS. */
static int list_stacks(unsigned long long *ids, int max)
{
	DIR *d = opendir("/proc/fs/atomfs");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (ids && n < max)
			ids[n] = strtoull(de->d_name, NULL, 10);
		n++;
	}
	closedir(d);
	return n;
}

static int wait_no_stacks(int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	int n;

	for (;;) {
		n = list_stacks(NULL, 0);
		if (n <= 0 || now_ms() > end)
			return n;
		usleep(10000);
	}
}

/* How many lines of /proc/fs/atomfs/ID/layers are layer lines containing
 * WORD (" shared ", " private ", " verified ", ...). -1 on error. */
static int layers_with(unsigned long long id, const char *word)
{
	char path[64], buf[65536], *line, *save;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/fs/atomfs/%llu/layers", id);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char padded[512];

		if (line[0] < '0' || line[0] > '9')
			continue;
		snprintf(padded, sizeof(padded), "%s ", line);
		if (strstr(padded, word))
			n++;
	}
	return n;
}

/* ATOMFS_IOC_GET_INFO on the mount at DIR, for up to MAX layers. */
static int get_info(const char *dir, struct atomfs_info *info,
		    struct atomfs_layer_info *li, unsigned int max)
{
	static char label[ATOMFS_LABEL_MAX];
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret, err;

	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	info->nr_layers = max;
	info->layers = (uintptr_t)li;
	info->label_size = sizeof(label);
	info->label = (uintptr_t)label;
	ret = ioctl(fd, ATOMFS_IOC_GET_INFO, info);
	err = errno;
	close(fd);
	return ret < 0 ? -err : 0;
}

/* The stack id in the mountinfo line of DIR, or 0. */
static unsigned long long mount_id(const char *dir, char *line, size_t size)
{
	const char *p;

	if (!mountinfo_line(dir, line, size))
		return 0;
	p = strstr(line, ",id=");
	return p ? strtoull(p + 4, NULL, 10) : 0;
}

/* Does the kernel log (/dev/kmsg) have a record containing A and B? */
static bool kmsg_has(const char *a, const char *b)
{
	char rec[8192];
	bool found = false;
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue; /* overwritten records */
		if (n <= 0)
			break;
		rec[n] = 0;
		if (strstr(rec, a) && strstr(rec, b)) {
			found = true;
			break;
		}
	}
	close(fd);
	return found;
}

static long long meminfo_kb(const char *key)
{
	char line[256], k[64];
	long long v, ret = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63[^:]: %lld", k, &v) == 2 && !strcmp(k, key)) {
			ret = v;
			break;
		}
	if (f)
		fclose(f);
	return ret;
}

static int drop_caches(void)
{
	sync();
	return write_file("/proc/sys/vm/drop_caches", "3", 1, 0644);
}

/*
 * Reload the module (its counters start at 0), keeping the values of its
 * parameters: the VM harness or run_tests may have set some.
 */
#define PARAMS "/sys/module/atomfs/parameters"
static int reload_module(void)
{
	char names[32][NAME_MAX + 1], vals[32][256], p[PATH_MAX];
	DIR *d = opendir(PARAMS);
	struct dirent *de;
	int n = 0, i, err = 0;
	ssize_t len;

	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < 32) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), PARAMS "/%s", de->d_name);
		len = read_file(p, vals[n], sizeof(vals[n]));
		if (len <= 0)
			continue;
		snprintf(names[n], sizeof(names[n]), "%s", de->d_name);
		n++;
	}
	closedir(d);
	if (system("rmmod atomfs && modprobe atomfs"))
		return -EIO;
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), PARAMS "/%s", names[i]);
		len = strlen(vals[i]);
		if (write_file(p, vals[i], len, 0644) && !err)
			err = -EIO;
	}
	return err;
}

/* Check a 6 MiB "large" file of base.sqfs: word i = (le32 i, le32 i ^
 * 0xa5a5a5a5). Returns the first bad word or -1 when all is right. */
static long long check_large(const char *path)
{
	static uint32_t buf[2 * 16384];
	long long i = 0, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	long long k;

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (k = 0; k < n / 8; k++, i++)
			if (buf[2 * k] != (uint32_t)i ||
			    buf[2 * k + 1] != ((uint32_t)i ^ 0xa5a5a5a5)) {
				close(fd);
				return i;
			}
		total += n;
	}
	close(fd);
	return total == 6 * MIB ? -1 : i;
}

/* ---- the fixture ---- */

FIXTURE(verify) {
	int loops; /* attached loop devices before the test */
	struct layer_set *ls, *ls2;
};

FIXTURE_SETUP(verify)
{
	self->loops = count_loops();
	ASSERT_GE(self->loops, 0);
	self->ls = calloc(1, sizeof(*self->ls));
	self->ls2 = calloc(1, sizeof(*self->ls2));
	ASSERT_NE(NULL, self->ls);
	ASSERT_NE(NULL, self->ls2);
	ASSERT_EQ(0, raise_nofile(4096));
	/* The defaults: other test programs turn require_verified off. */
	ASSERT_EQ(0, set_param("require_verified", "1"));
	ASSERT_EQ(0, set_param("share_layers", "1"));
	ASSERT_EQ(0, access(fixture("verify/SHA256SUMS"), R_OK))
		TH_LOG("no %s: run make-fixtures", fixture("verify/SHA256SUMS"));
	ASSERT_EQ(0, private_ns_tmpfs(WORK));
	ASSERT_EQ(0, mkdir(MNT, 0755));
	ASSERT_EQ(0, mkdir(MNT2, 0755));
	/* Nothing may be held from before: the tests count hashing. */
	ASSERT_EQ(0, wait_no_stacks(5000));
}

FIXTURE_TEARDOWN(verify)
{
	/* Tests unmount what they mount. */
	EXPECT_EQ(0, count_mounts("atomfs"));
	close_range(3, ~0U, 0);
	umount_below(WORK, false);
	EXPECT_EQ(0, wait_no_stacks(5000));
	EXPECT_EQ(self->loops, wait_loops(self->loops, 5000));
	set_param("require_verified", "1");
	set_param("share_layers", "1");
}

/* Expect create-stack with CS to fail with ERR and failed_layer FAILED. */
#define EXPECT_CREATE_FAILS(cs, err, failed)                           \
	do {                                                           \
		int __fd = create_stack_raw(cs);                       \
		EXPECT_EQ(-(err), __fd);                               \
		if (__fd >= 0)                                         \
			close(__fd);                                   \
		EXPECT_EQ((unsigned int)(failed), (cs)->failed_layer); \
	} while (0)

/* ---- tests ---- */

TEST_F(verify, correct_digests_mount)
{
	struct atomfs_layer_info li[4];
	struct atomfs_create_stack cs;
	struct atomfs_info info;
	struct stats s0, s1;
	unsigned long long id, held_size;
	long long sizes = 0;
	char line[8192];
	unsigned int i;
	int stack;

	ASSERT_EQ(0, add_verified(self->ls, "base.sqfs"));
	ASSERT_EQ(0, add_verified(self->ls, "top_ovl.sqfs"));
	for (i = 0; i < 2; i++)
		sizes += self->ls->l[i].size;
	ASSERT_EQ(0, read_stats(&s0));
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-correct");
	stack = create_stack_raw(&cs);
	ASSERT_GE(stack, 0) TH_LOG("create-stack: %s", strerror(-stack));
	ASSERT_EQ(0, read_stats(&s1));
	EXPECT_EQ(sizes, s1.hashed - s0.hashed);
	EXPECT_EQ(2, s1.verified - s0.verified);
	EXPECT_EQ(0, s1.reused - s0.reused);
	TH_LOG("sha256 driver: %s", s1.driver);
	EXPECT_STRNE("none yet", s1.driver);

	ASSERT_EQ(0, mount_stack(stack, MNT));
	EXPECT_TRUE(file_is(MNT "/file_a", "base a"));
	EXPECT_TRUE(file_is(MNT "/dir1/y", "top y"));
	id = mount_id(MNT, line, sizeof(line));
	EXPECT_NE(0, id) TH_LOG("mountinfo: %s", line);
	EXPECT_NE(NULL, strstr(line, ",verified")) TH_LOG("mountinfo: %s", line);
	EXPECT_EQ(NULL, strstr(line, "unverified")) TH_LOG("mountinfo: %s", line);

	ASSERT_EQ(0, get_info(MNT, &info, li, 4));
	EXPECT_EQ(2, info.nr_layers);
	EXPECT_EQ(id, info.id);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(i, li[i].index);
		EXPECT_EQ(ATOMFS_INFO_VERIFIED, li[i].flags);
		EXPECT_EQ(self->ls->l[i].size, li[i].size);
		EXPECT_EQ(0, memcmp(&self->ls->l[i].digest, &li[i].digest,
				    sizeof(li[i].digest)));
		EXPECT_EQ(1, is_held(&self->ls->l[i].digest, &held_size));
		EXPECT_EQ(self->ls->l[i].size, held_size);
	}
	EXPECT_EQ(2, layers_with(id, " verified "));
	EXPECT_EQ(2, layers_with(id, " private "));

	EXPECT_EQ(0, umount(MNT));
	close(stack);
	/* The layers go with their last stack. */
	EXPECT_EQ(0, is_held(&self->ls->l[0].digest, NULL));
	EXPECT_EQ(0, is_held(&self->ls->l[1].digest, NULL));
	EXPECT_FALSE(device_held(self->ls->fd[0]));
	EXPECT_FALSE(device_held(self->ls->fd[1]));
	put_layers(self->ls);
}

/*
 * 50 layers: base.sqfs at index 3 (2.3 MiB: three of the kernel's 1 MiB
 * reads, the last one partial), many/NNNN.sqfs (4 KiB) elsewhere. In one of
 * them a bit
 * flipped (a copy on the tmpfs, the digest of the original): at its first
 * byte, in its middle, at its last byte, and on either side of a read
 * boundary. EBADMSG, failed_layer that index, a log line with both digests,
 * and nothing mounted or held.
 */
#define LAST_OFF (-1)
#define MID_OFF (-2)
#define BIG_LAYER 3
static void layer_name(unsigned int i, char *name, size_t size)
{
	if (i == BIG_LAYER)
		snprintf(name, size, "base.sqfs");
	else
		snprintf(name, size, "many/%04u.sqfs", i);
}

/* Slow: before it fails, the kernel mounts (and unmounts) the layers below
 * the bad one. */
TEST_F_TIMEOUT(verify, bit_flip_in_one_of_50_layers, 180)
{
	static const struct {
		const char *where;
		unsigned int layer;
		long long off;
	} cases[] = {
		{ "first", 7, 0 },
		{ "middle", 25, MID_OFF },
		{ "last", 49, LAST_OFF },
		{ "first-big", BIG_LAYER, 0 },
		{ "first-read-end", BIG_LAYER, MIB - 1 },
		{ "second-read-start", BIG_LAYER, MIB },
		{ "last-big", BIG_LAYER, LAST_OFF },
	};
	struct atomfs_create_stack cs;
	struct stats s0, s1;
	char name[64], copy[PATH_MAX], label[64], hex[65];
	unsigned int c, i, k;
	long long size, off;
	int fd, orig;

	for (i = 0; i < 50; i++) {
		layer_name(i, name, sizeof(name));
		ASSERT_EQ(0, add_verified(self->ls, name)) TH_LOG("%s", name);
	}
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		k = cases[c].layer;
		layer_name(k, name, sizeof(name));
		snprintf(copy, sizeof(copy), WORK "/flip-%s.sqfs", cases[c].where);
		ASSERT_EQ(0, copy_file(fixture(name), copy));
		size = file_size(copy);
		ASSERT_GT(size, 0);
		off = cases[c].off == LAST_OFF ? size - 1 :
		      cases[c].off == MID_OFF ? size / 2 : cases[c].off;
		ASSERT_EQ(0, flip_bit(copy, off));
		fd = loop_attach(copy, true, NULL);
		ASSERT_GE(fd, 0);
		orig = self->ls->l[k].fd;
		self->ls->l[k].fd = fd;

		snprintf(label, sizeof(label), "verify-flip-%s-%d", cases[c].where, getpid());
		ASSERT_EQ(0, read_stats(&s0));
		stack_args_init(&cs, self->ls->l, 50, 0, label);
		EXPECT_CREATE_FAILS(&cs, EBADMSG, k);
		ASSERT_EQ(0, read_stats(&s1));
		EXPECT_EQ(0, s1.reused - s0.reused);
		TH_LOG("%s (byte %lld of %lld) of layer %u: %lld bytes hashed, %lld layers verified before the failure",
		       cases[c].where, off, size, k, s1.hashed - s0.hashed,
		       s1.verified - s0.verified);

		/* Rate-limited (10 per 5 s): the first case's line is there. */
		if (c == 0) {
			digest_hex(&self->ls->l[k].digest, hex);
			EXPECT_TRUE(kmsg_has(label, hex))
				TH_LOG("no log line with \"%s\" and sha256:%s", label, hex);
		}

		/* Nothing left: no mount, no device held, no layer held. */
		EXPECT_EQ(0, count_mounts("atomfs"));
		EXPECT_EQ(0, list_stacks(NULL, 0));
		for (i = 0; i < 50; i++) {
			EXPECT_FALSE(device_held(self->ls->l[i].fd)) TH_LOG("layer %u", i);
			EXPECT_EQ(0, is_held(&self->ls->l[i].digest, NULL)) TH_LOG("layer %u", i);
		}
		self->ls->l[k].fd = orig;
		close(fd);
		EXPECT_EQ(self->loops + 50, wait_loops(self->loops + 50, 5000));
	}

	/* The untouched blobs mount. */
	stack_args_init(&cs, self->ls->l, 50, 0, "verify-50");
	fd = create_stack_raw(&cs);
	ASSERT_GE(fd, 0) TH_LOG("create-stack: %s", strerror(-fd));
	ASSERT_EQ(0, mount_stack(fd, MNT));
	close(fd);
	EXPECT_EQ(0, access(MNT "/l0049", F_OK));
	EXPECT_EQ(0, access(MNT "/shared/s0007", F_OK));
	EXPECT_EQ(-1, check_large(MNT "/large"));
	EXPECT_EQ(0, umount(MNT));
	put_layers(self->ls);
}

/* Bad digests are refused before anything is hashed. */
TEST_F(verify, bad_digest_args_einval)
{
	struct atomfs_create_stack cs;
	struct atomfs_digest good;
	struct atomfs_layer *bad;
	struct stats s0, s1;
	unsigned char *b;
	int c, fd;

	ASSERT_EQ(0, add_verified(self->ls, "top_ovl.sqfs"));
	ASSERT_EQ(0, add_verified(self->ls, "base.sqfs"));
	bad = &self->ls->l[1];
	good = bad->digest;
	b = (unsigned char *)bad->digest.bytes;
	ASSERT_EQ(0, read_stats(&s0));
	for (c = 0; c < 12; c++) {
		bad->digest = good;
		switch (c) {
		case 0: bad->digest.algo = 3; break;
		case 1: bad->digest.algo = 0xffffffff; break;
		case 2: bad->digest.size = 31; break;
		case 3: bad->digest.size = 33; break;
		case 4: bad->digest.size = 64; break;
		case 5: bad->digest.size = 0; break;
		case 6: b[32] = 1; break; /* right after the 32 digest bytes */
		case 7: b[63] = 0x80; break;
		case 8: /* SHA512 is reserved */
			bad->digest.algo = ATOMFS_DIGEST_SHA512;
			bad->digest.size = 64;
			memset(b + 32, 0x5a, 32);
			break;
		case 9:
			bad->digest.algo = ATOMFS_DIGEST_SHA512;
			break;
		case 10: /* no digest, but a size */
			memset(&bad->digest, 0, sizeof(bad->digest));
			bad->digest.size = 32;
			break;
		case 11: /* no digest, but bytes */
			memset(&bad->digest, 0, sizeof(bad->digest));
			b[5] = 1;
			break;
		}
		stack_args_init(&cs, self->ls->l, 2, 0, "verify-einval");
		fd = create_stack_raw(&cs);
		EXPECT_EQ(-EINVAL, fd) TH_LOG("case %d", c);
		if (fd >= 0)
			close(fd);
		EXPECT_EQ(1, cs.failed_layer) TH_LOG("case %d", c);
	}
	ASSERT_EQ(0, read_stats(&s1));
	EXPECT_EQ(0, s1.hashed - s0.hashed);
	EXPECT_EQ(0, s1.verified - s0.verified);
	EXPECT_EQ(0, is_held(&self->ls->l[0].digest, NULL));
	EXPECT_FALSE(device_held(self->ls->fd[0]));
	EXPECT_FALSE(device_held(self->ls->fd[1]));
	put_layers(self->ls);
}

/*
 * A writable device: EACCES. A size not a multiple of 4096 (a copy of
 * base.sqfs truncated by 512 bytes; the descriptor says the device's size):
 * EMSGSIZE, and a size that is not the device's: EMSGSIZE. A device mounted
 * elsewhere: EBUSY. Each at index 1, after a good layer that must not stay
 * held.
 */
TEST_F(verify, device_refusals)
{
	struct atomfs_create_stack cs;
	struct atomfs_layer *l;
	struct stats s0, s1;
	long long size;
	char dev[64];
	int fd, nr;

	ASSERT_EQ(0, add_verified(self->ls, "top_ovl.sqfs"));
	ASSERT_EQ(0, add_verified(self->ls, "base.sqfs"));
	l = &self->ls->l[1];
	size = l->size;
	ASSERT_EQ(0, size % 4096);

	/* writable */
	ASSERT_EQ(0, copy_file(fixture("base.sqfs"), WORK "/rw.sqfs"));
	fd = loop_attach(WORK "/rw.sqfs", false, NULL);
	ASSERT_GE(fd, 0);
	l->fd = fd;
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-rw");
	EXPECT_CREATE_FAILS(&cs, EACCES, 1);
	close(fd);

	/* unaligned: the device is size - 512 bytes, and so is the layer */
	ASSERT_EQ(0, copy_file(fixture("base.sqfs"), WORK "/short.sqfs"));
	ASSERT_EQ(0, truncate(WORK "/short.sqfs", size - 512));
	fd = loop_attach(WORK "/short.sqfs", true, NULL);
	ASSERT_GE(fd, 0);
	l->fd = fd;
	l->size = size - 512;
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-unaligned");
	EXPECT_CREATE_FAILS(&cs, EMSGSIZE, 1);
	close(fd);

	/* the size of the descriptor is not the device's */
	l->fd = self->ls->fd[1];
	l->size = size + 4096;
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-size");
	EXPECT_CREATE_FAILS(&cs, EMSGSIZE, 1);
	l->size = size - 4096;
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-size");
	EXPECT_CREATE_FAILS(&cs, EMSGSIZE, 1);
	l->size = size;

	/* mounted elsewhere (squashfs on the same loop device) */
	fd = loop_attach(fixture("base.sqfs"), true, &nr);
	ASSERT_GE(fd, 0);
	snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
	ASSERT_EQ(0, mkdir(WORK "/elsewhere", 0755));
	ASSERT_EQ(0, mount(dev, WORK "/elsewhere", "squashfs", MS_RDONLY, NULL));
	l->fd = fd;
	ASSERT_EQ(0, read_stats(&s0));
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-busy");
	EXPECT_CREATE_FAILS(&cs, EBUSY, 1);
	ASSERT_EQ(0, read_stats(&s1));
	TH_LOG("busy device: %lld bytes hashed before the refusal", s1.hashed - s0.hashed);
	EXPECT_TRUE(file_is(WORK "/elsewhere/file_a", "base a"));
	EXPECT_EQ(0, umount(WORK "/elsewhere"));
	close(fd);
	l->fd = self->ls->fd[1];

	EXPECT_EQ(0, count_mounts("atomfs"));
	EXPECT_EQ(0, list_stacks(NULL, 0));
	EXPECT_EQ(0, is_held(&self->ls->l[0].digest, NULL));
	EXPECT_EQ(0, is_held(&self->ls->l[1].digest, NULL));
	EXPECT_FALSE(device_held(self->ls->fd[0]));
	EXPECT_FALSE(device_held(self->ls->fd[1]));

	/* The good device still works afterwards. */
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-ok");
	fd = create_stack_raw(&cs);
	EXPECT_GE(fd, 0) TH_LOG("create-stack: %s", strerror(-fd));
	if (fd >= 0)
		close(fd);
	put_layers(self->ls);
}

/*
 * A second stack of the same layers, on its own loop devices: every layer
 * reused, its devices never mounted (the held loop layers are hashed again:
 * see "Shared layers" in atomfs.rst); one page cache (a
 * page read through one mount is resident through the other); unmounting
 * the first leaves the second intact.
 */
TEST_F_TIMEOUT(verify, second_stack_shares_layers, 300)
{
	const long page = sysconf(_SC_PAGESIZE);
	const off_t off = 5 * MIB + 3 * page; /* in "large" (6 MiB) */
	struct atomfs_layer_info li[4];
	struct atomfs_create_stack cs;
	struct atomfs_info info;
	struct stats s0, s1;
	unsigned long long id1, id2;
	char line[8192];
	unsigned char vec;
	volatile uint32_t *w;
	void *m1, *m2;
	int a, b, f1, f2, i;

	ASSERT_EQ(0, add_verified(self->ls, "base.sqfs"));
	ASSERT_EQ(0, add_verified(self->ls, "top_ovl.sqfs"));
	ASSERT_EQ(0, add_verified(self->ls2, "base.sqfs"));
	ASSERT_EQ(0, add_verified(self->ls2, "top_ovl.sqfs"));

	stack_args_init(&cs, self->ls->l, 2, 0, "verify-first");
	a = create_stack_raw(&cs);
	ASSERT_GE(a, 0) TH_LOG("create-stack: %s", strerror(-a));
	ASSERT_EQ(0, mount_stack(a, MNT));

	ASSERT_EQ(0, read_stats(&s0));
	stack_args_init(&cs, self->ls2->l, 2, 0, "verify-second");
	b = create_stack_raw(&cs);
	ASSERT_GE(b, 0) TH_LOG("create-stack: %s", strerror(-b));
	ASSERT_EQ(0, read_stats(&s1));
	EXPECT_EQ(self->ls->l[0].size + self->ls->l[1].size,
		  s1.hashed - s0.hashed);
	EXPECT_EQ(0, s1.verified - s0.verified);
	EXPECT_EQ(2, s1.reused - s0.reused);
	ASSERT_EQ(0, mount_stack(b, MNT2));

	/* One private mount per layer: on the first stack's devices. */
	for (i = 0; i < 2; i++) {
		EXPECT_TRUE(device_held(self->ls->fd[i]));
		EXPECT_FALSE(device_held(self->ls2->fd[i]));
	}
	id1 = mount_id(MNT, line, sizeof(line));
	id2 = mount_id(MNT2, line, sizeof(line));
	ASSERT_NE(0, id1);
	ASSERT_NE(0, id2);
	EXPECT_NE(id1, id2);
	EXPECT_EQ(2, layers_with(id1, " shared "));
	EXPECT_EQ(2, layers_with(id2, " shared "));
	ASSERT_EQ(0, get_info(MNT2, &info, li, 4));
	for (i = 0; i < 2; i++)
		EXPECT_EQ(ATOMFS_INFO_VERIFIED | ATOMFS_INFO_SHARED, li[i].flags);

	/* One page cache. */
	f1 = open(MNT "/large", O_RDONLY | O_CLOEXEC);
	f2 = open(MNT2 "/large", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(f1, 0);
	ASSERT_GE(f2, 0);
	m1 = mmap(NULL, 6 * MIB, PROT_READ, MAP_SHARED, f1, 0);
	m2 = mmap(NULL, 6 * MIB, PROT_READ, MAP_SHARED, f2, 0);
	ASSERT_NE(MAP_FAILED, m1);
	ASSERT_NE(MAP_FAILED, m2);
	ASSERT_EQ(0, mincore((char *)m2 + off, page, &vec));
	EXPECT_EQ(0, vec & 1) TH_LOG("the page is resident before anyone read it");
	w = (volatile uint32_t *)((char *)m1 + off);
	EXPECT_EQ((uint32_t)(off / 8), w[0]);
	ASSERT_EQ(0, mincore((char *)m2 + off, page, &vec));
	EXPECT_EQ(1, vec & 1) TH_LOG("a page read through the first mount is not resident for the second");
	munmap(m1, 6 * MIB);
	munmap(m2, 6 * MIB);
	close(f1);
	close(f2);

	/* Unmount the first: the second stays whole. */
	EXPECT_EQ(0, umount(MNT));
	close(a);
	put_layers(self->ls);
	EXPECT_EQ(-1, check_large(MNT2 "/large"));
	EXPECT_TRUE(file_is(MNT2 "/file_a", "base a"));
	EXPECT_TRUE(file_is(MNT2 "/dir1/z", "top z"));
	EXPECT_EQ(1, is_held(&self->ls2->l[0].digest, NULL));
	EXPECT_EQ(2, layers_with(id2, " private ")); /* alone now */
	EXPECT_EQ(0, umount(MNT2));
	close(b);
	EXPECT_EQ(0, is_held(&self->ls2->l[0].digest, NULL));
	put_layers(self->ls2);
}

/*
 * fd ATOMFS_NO_FD with a held digest reuses the layer (no loop device; the
 * held loop layer is hashed again); with a digest nobody holds: ENOENT.
 * ATOMFS_IOC_QUERY_LAYER.
 */
TEST_F(verify, no_fd_reuse_and_query)
{
	struct atomfs_layer l[2], *held;
	struct atomfs_layer_info li[2];
	struct atomfs_create_stack cs;
	struct atomfs_query_layer q;
	struct atomfs_digest other;
	struct atomfs_info info;
	struct stats s0, s1;
	unsigned long long size;
	int a, b, loops;

	ASSERT_EQ(0, add_verified(self->ls, "base.sqfs"));
	held = &self->ls->l[0];
	ASSERT_EQ(0, digest_of("top_ovl.sqfs", &other));

	/* Nothing held yet. */
	EXPECT_EQ(0, is_held(&held->digest, &size));
	EXPECT_EQ(0, size);
	layer_init(&l[0], ATOMFS_NO_FD, 0, held->size);
	l[0].digest = held->digest;
	stack_args_init(&cs, l, 1, 0, "verify-nofd");
	EXPECT_CREATE_FAILS(&cs, ENOENT, 0);

	stack_args_init(&cs, self->ls->l, 1, 0, "verify-holder");
	a = create_stack_raw(&cs);
	ASSERT_GE(a, 0) TH_LOG("create-stack: %s", strerror(-a));
	EXPECT_EQ(1, is_held(&held->digest, &size));
	EXPECT_EQ(held->size, size);
	EXPECT_EQ(0, is_held(&other, &size));
	EXPECT_EQ(0, size);

	/* Reuse without a device. */
	loops = count_loops();
	ASSERT_EQ(0, read_stats(&s0));
	stack_args_init(&cs, l, 1, 0, "verify-nofd");
	b = create_stack_raw(&cs);
	ASSERT_GE(b, 0) TH_LOG("create-stack: %s", strerror(-b));
	ASSERT_EQ(0, read_stats(&s1));
	EXPECT_EQ(held->size, s1.hashed - s0.hashed);
	EXPECT_EQ(1, s1.reused - s0.reused);
	EXPECT_EQ(loops, count_loops());
	ASSERT_EQ(0, mount_stack(b, MNT));
	EXPECT_TRUE(file_is(MNT "/file_a", "base a"));
	ASSERT_EQ(0, get_info(MNT, &info, li, 2));
	EXPECT_EQ(1, info.nr_layers);
	EXPECT_EQ(ATOMFS_INFO_VERIFIED | ATOMFS_INFO_SHARED, li[0].flags);
	EXPECT_EQ(held->size, li[0].size);
	EXPECT_EQ(0, umount(MNT));
	close(b);

	/* A digest nobody holds, at index 1. */
	layer_init(&l[1], ATOMFS_NO_FD, 0, 4096);
	l[1].digest = other;
	stack_args_init(&cs, l, 2, 0, "verify-nofd");
	EXPECT_CREATE_FAILS(&cs, ENOENT, 1);
	/* ATOMFS_NO_FD needs a digest. */
	memset(&l[1].digest, 0, sizeof(l[1].digest));
	stack_args_init(&cs, l, 2, 0, "verify-nofd");
	EXPECT_CREATE_FAILS(&cs, EBADF, 1);
	EXPECT_EQ(loops, count_loops());

	/* Bad queries. */
	memset(&q, 0, sizeof(q));
	q.digest = held->digest;
	EXPECT_EQ(0, query_raw(&q));
	EXPECT_EQ(ATOMFS_QUERY_HELD, q.flags);
	q.reserved32 = 1;
	EXPECT_EQ(-EINVAL, query_raw(&q));
	q.reserved32 = 0;
	q.reserved[3] = 1;
	EXPECT_EQ(-EINVAL, query_raw(&q));
	q.reserved[3] = 0;
	q.digest.algo = ATOMFS_DIGEST_NONE;
	EXPECT_EQ(-EINVAL, query_raw(&q));
	q.digest.algo = ATOMFS_DIGEST_SHA512;
	q.digest.size = 64;
	EXPECT_EQ(-EINVAL, query_raw(&q));
	q.digest.algo = 7;
	q.digest.size = 32;
	EXPECT_EQ(-EINVAL, query_raw(&q));
	q.digest = held->digest;
	q.digest.size = 31;
	EXPECT_EQ(-EINVAL, query_raw(&q));
	q.digest.size = 0;
	EXPECT_EQ(-EINVAL, query_raw(&q));

	close(a);
	EXPECT_EQ(0, is_held(&held->digest, NULL));
	put_layers(self->ls);
}

/*
 * struct atomfs_digest: "unused bytes must be zero" (atomfs.h). Create-stack
 * refuses nonzero bytes after a sha256 digest; so should the query.
 */
TEST_F(verify, query_trailing_digest_bytes_einval)
{
	struct atomfs_query_layer q;
	int a;

	ASSERT_EQ(0, add_verified(self->ls, "base.sqfs"));
	a = create_stack(self->ls->l, 1, 0, NULL);
	ASSERT_GE(a, 0);
	memset(&q, 0, sizeof(q));
	q.digest = self->ls->l[0].digest;
	((unsigned char *)q.digest.bytes)[40] = 1;
	EXPECT_EQ(-EINVAL, query_raw(&q))
		TH_LOG("QUERY_LAYER took a digest with nonzero unused bytes (flags %#x)", q.flags);
	close(a);
	put_layers(self->ls);
}

/*
 * 100 layers of 1 MiB (many/0000..0099 padded) are hashed by more than one
 * worker at once (the VM has 2 CPUs). max_workers only grows: the module is
 * reloaded first.
 */
TEST_F_TIMEOUT(verify, parallel_100_layers, 300)
{
	struct atomfs_create_stack cs;
	struct stats s0, s1;
	char src[32], file[PATH_MAX], name[32];
	long long t;
	int i, stack;

	if (skip_scale())
		SKIP(return, "ATOMFS_SKIP_SCALE=1");
	ASSERT_EQ(0, reload_module());
	ASSERT_EQ(0, read_stats(&s0));
	ASSERT_EQ(0, s0.max_workers);
	for (i = 0; i < 100; i++) {
		snprintf(src, sizeof(src), "many/%04d.sqfs", i);
		snprintf(name, sizeof(name), "pad1M/%04d", i);
		snprintf(file, sizeof(file), WORK "/pad%04d", i);
		ASSERT_EQ(0, make_padded(fixture(src), file, PAD_SIZE));
		ASSERT_EQ(0, add_file_digest(self->ls, file, name)) TH_LOG("%s", name);
	}
	t = now_ms();
	stack_args_init(&cs, self->ls->l, 100, 0, "verify-parallel");
	stack = create_stack_raw(&cs);
	t = now_ms() - t;
	ASSERT_GE(stack, 0) TH_LOG("create-stack: %s, layer %u", strerror(-stack), cs.failed_layer);
	ASSERT_EQ(0, read_stats(&s1));
	TH_LOG("100 x 1 MiB verified in %lld ms (%lld MiB/s), max_workers %lld, driver %s",
	       t, t ? 100 * 1000 / t : 0, s1.max_workers, s1.driver);
	EXPECT_EQ(100 * PAD_SIZE, s1.hashed - s0.hashed);
	EXPECT_EQ(100, s1.verified - s0.verified);
	EXPECT_GT(s1.max_workers, 1);
	EXPECT_LE(s1.max_workers, sysconf(_SC_NPROCESSORS_ONLN));
	ASSERT_EQ(0, mount_stack(stack, MNT));
	close(stack);
	EXPECT_EQ(0, access(MNT "/l0099", F_OK));
	EXPECT_EQ(0, umount(MNT));
	put_layers(self->ls);
}

/* ---- twenty concurrent setups of one image ---- */

#define NR_SETUPS 20
#define SETUP_LAYERS 4

struct setup_arg {
	struct atomfs_layer l[SETUP_LAYERS];
	int loop[SETUP_LAYERS];
	pthread_barrier_t *barrier;
	int ret;
	unsigned int failed;
};

static void *setup_thread(void *p)
{
	struct setup_arg *a = p;

	pthread_barrier_wait(a->barrier);
	a->ret = create_stack(a->l, SETUP_LAYERS, 0, &a->failed);
	return NULL;
}

static void twenty_setups(struct __test_metadata *_metadata,
			  FIXTURE_DATA(verify) *self)
{
	static struct setup_arg args[NR_SETUPS];
	unsigned long long ids[NR_SETUPS];
	pthread_t th[NR_SETUPS];
	pthread_barrier_t barrier;
	struct atomfs_digest slow;
	struct stats s0, s1;
	long long sizes = 0;
	char name[32];
	int t, j, na, held;

	/*
	 * Layer 0 is slow to verify: whoever claims it first is still hashing
	 * it when the others arrive, so they must wait on it (the counter).
	 */
	/*
	 * 16 MiB: the threads leave one barrier together, so they arrive
	 * well within one hash of it; every waiter hashes the held layer's
	 * loop device again (held loop layers are re-hashed on reuse): 20
	 * hashes of it with the owner's.
	 */
	ASSERT_EQ(0, slow_layer(WORK "/slow", &slow, 16));
	for (t = 0; t < NR_SETUPS; t++) {
		self->ls->nr = 0;
		for (j = 0; j < SETUP_LAYERS; j++) {
			if (j == 0) {
				ASSERT_EQ(0, add_layer_of(self->ls, WORK "/slow"));
				self->ls->l[0].digest = slow;
			} else {
				snprintf(name, sizeof(name), "many/%04d.sqfs", 50 + j);
				ASSERT_EQ(0, add_verified(self->ls, name));
			}
			args[t].l[j] = self->ls->l[j];
			args[t].loop[j] = self->ls->fd[j];
			if (t == 0)
				sizes += self->ls->l[j].size;
		}
		args[t].barrier = &barrier;
	}
	self->ls->nr = 0; /* the loop fds are in args[] */
	ASSERT_EQ(0, list_stacks(NULL, 0));
	ASSERT_EQ(0, read_stats(&s0));
	ASSERT_EQ(0, pthread_barrier_init(&barrier, NULL, NR_SETUPS));
	for (t = 0; t < NR_SETUPS; t++)
		ASSERT_EQ(0, pthread_create(&th[t], NULL, setup_thread, &args[t]));
	for (t = 0; t < NR_SETUPS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&barrier);
	slow_layer_end();
	ASSERT_EQ(0, read_stats(&s1));
	TH_LOG("%lld waits on a layer in flight", s1.waits - s0.waits);
	EXPECT_GT(s1.waits - s0.waits, 0);

	for (t = 0; t < NR_SETUPS; t++) {
		int ret = args[t].ret;
		unsigned int failed = args[t].failed;

		EXPECT_GE(ret, 0) TH_LOG("setup %d: %s (layer %u)", t,
					 strerror(-ret), failed);
	}
	EXPECT_EQ(SETUP_LAYERS, s1.verified - s0.verified);
	/*
	 * Each waiter hashes the held loop layers again; held file layers on
	 * tmpfs are pinned by the write denial: hashed once.
	 */
	EXPECT_EQ((file_layers ? 1 : NR_SETUPS) * sizes, s1.hashed - s0.hashed);
	EXPECT_EQ((NR_SETUPS - 1) * SETUP_LAYERS, s1.reused - s0.reused);

	/* One private mount per layer: exactly one of the 20 devices. */
	for (j = 0; j < SETUP_LAYERS && !file_layers; j++) {
		held = 0;
		for (t = 0; t < NR_SETUPS; t++)
			held += device_held(args[t].loop[j]);
		EXPECT_EQ(1, held) TH_LOG("layer %d mounted on %d devices", j, held);
	}
	/* The 20 callers gave the same files: one device of the module each. */
	if (file_layers) {
		EXPECT_EQ(SETUP_LAYERS, count_block("atomfsb"));
		for (j = 0; j < SETUP_LAYERS; j++)
			EXPECT_TRUE(blob_held(args[0].loop[j])) TH_LOG("layer %d", j);
	}
	/* There were no stacks before: all are these. */
	na = list_stacks(ids, NR_SETUPS);
	EXPECT_EQ(NR_SETUPS, na);
	for (t = 0; t < na && t < NR_SETUPS; t++)
		EXPECT_EQ(SETUP_LAYERS, layers_with(ids[t], " shared "))
			TH_LOG("stack %llu", ids[t]);

	for (t = 0; t < NR_SETUPS; t++) {
		if (args[t].ret >= 0)
			close(args[t].ret);
		for (j = 0; j < SETUP_LAYERS; j++)
			close(args[t].loop[j]);
	}
	EXPECT_EQ(0, is_held(&args[0].l[0].digest, NULL));
	EXPECT_EQ(0, count_block("atomfsb"));
}

TEST_F_TIMEOUT(verify, twenty_concurrent_setups, 600)
{
	/* 19 waiters hash the 16 MiB loop layer again: the file variant runs */
	if (atomfs_skip_line_independent())
		SKIP(return, ATOMFS_LINE_SKIP_MSG);
	twenty_setups(_metadata, self);
}

TEST_F_TIMEOUT(verify, file_twenty_concurrent_setups, 600)
{
	file_layers = true;
	twenty_setups(_metadata, self);
}

/* create_stack() of one layer in a thread. */
struct one_setup {
	struct atomfs_layer l;
	int ret;
};

static void *one_setup_thread(void *p)
{
	struct one_setup *a = p;

	a->ret = create_stack(&a->l, 1, 0, NULL);
	return NULL;
}

/*
 * The owner of a layer in flight fails (its device does not match the
 * digest): a set-up waiting on it tries again with its own device, which
 * does, and succeeds.
 */
static void waiter_retries(struct __test_metadata *_metadata,
			   FIXTURE_DATA(verify) *self)
{
	struct one_setup owner, waiter;
	struct atomfs_digest d;
	pthread_t th[2];
	struct stats s0, s1;
	int bad, good;

	if (atomfs_skip_line_independent())
		SKIP(return, ATOMFS_LINE_SKIP_MSG);

	ASSERT_EQ(0, slow_layer(WORK "/slow", &d, 64));
	ASSERT_EQ(0, copy_file(WORK "/slow", WORK "/slow-bad"));
	ASSERT_EQ(0, flip_bit(WORK "/slow-bad", 2 * MIB));
	ASSERT_EQ(0, add_layer_of(self->ls, WORK "/slow-bad"));
	ASSERT_EQ(0, add_layer_of(self->ls, WORK "/slow"));
	bad = self->ls->fd[0];
	good = self->ls->fd[1];
	memset(&owner, 0, sizeof(owner));
	memset(&waiter, 0, sizeof(waiter));
	owner.l = self->ls->l[0];
	owner.l.digest = d;
	waiter.l = self->ls->l[1];
	waiter.l.digest = d;
	ASSERT_EQ(0, read_stats(&s0));

	/* The owner claims the digest with the bad device and hashes it ... */
	ASSERT_EQ(0, pthread_create(&th[0], NULL, one_setup_thread, &owner));
	EXPECT_TRUE(WAIT_STAT(hashed, s0.hashed)) TH_LOG("hashing did not start");
	/* ... while the waiter arrives with a good one. */
	ASSERT_EQ(0, pthread_create(&th[1], NULL, one_setup_thread, &waiter));
	EXPECT_TRUE(WAIT_STAT(waits, s0.waits)) TH_LOG("nobody waited");
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	slow_layer_end();
	ASSERT_EQ(0, read_stats(&s1));

	EXPECT_EQ(-EBADMSG, owner.ret) TH_LOG("the owner: %s", strerror(-owner.ret));
	EXPECT_GE(waiter.ret, 0) TH_LOG("the waiter failed: %s", strerror(-waiter.ret));
	EXPECT_EQ(1, s1.waits - s0.waits);
	EXPECT_EQ(1, s1.verified - s0.verified);
	EXPECT_EQ(0, s1.reused - s0.reused);
	/* Both devices were hashed in full, and only the good one is used. */
	EXPECT_EQ(2 * self->ls->l[0].size, s1.hashed - s0.hashed);
	EXPECT_FALSE(blob_held(bad));
	EXPECT_TRUE(blob_held(good));
	EXPECT_EQ(1, is_held(&owner.l.digest, NULL));
	if (waiter.ret >= 0)
		close(waiter.ret);
	put_layers(self->ls);
}

TEST_F_TIMEOUT(verify, waiter_retries_after_owner_fails, 180)
{
	waiter_retries(_metadata, self);
}

TEST_F_TIMEOUT(verify, file_waiter_retries_after_owner_fails, 180)
{
	file_layers = true;
	waiter_retries(_metadata, self);
	EXPECT_EQ(0, count_block("atomfsb"));
}

/*
 * A set-up waiting on a layer that another is verifying can be killed:
 * it dies at once, while the owner goes on and succeeds.
 */
static void shared_wait_killable(struct __test_metadata *_metadata,
				 FIXTURE_DATA(verify) *self)
{
	struct one_setup owner;
	struct atomfs_digest d;
	struct stats s0, s1, s;
	pthread_t th;
	int status;
	pid_t pid;

	if (atomfs_skip_line_independent() && !file_layers)
		SKIP(return, ATOMFS_LINE_SKIP_MSG);

	ASSERT_EQ(0, slow_layer(WORK "/slow", &d, 64));
	ASSERT_EQ(0, add_layer_of(self->ls, WORK "/slow"));
	ASSERT_EQ(0, add_layer_of(self->ls, WORK "/slow"));
	memset(&owner, 0, sizeof(owner));
	owner.l = self->ls->l[0];
	owner.l.digest = d;
	self->ls->l[1].digest = d;
	ASSERT_EQ(0, read_stats(&s0));

	ASSERT_EQ(0, pthread_create(&th, NULL, one_setup_thread, &owner));
	EXPECT_TRUE(WAIT_STAT(hashed, s0.hashed)) TH_LOG("hashing did not start");
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd = create_stack(&self->ls->l[1], 1, 0, NULL);

		_exit(fd >= 0 ? 0 : -fd);
	}
	EXPECT_TRUE(WAIT_STAT(waits, s0.waits)) TH_LOG("the child never waited");
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	/* Killed while the owner was still hashing: not woken by it. */
	ASSERT_EQ(0, read_stats(&s));
	EXPECT_EQ(s0.verified, s.verified) TH_LOG("the owner finished first");
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("status %#x", status);
	pthread_join(th, NULL);
	slow_layer_end();
	ASSERT_EQ(0, read_stats(&s1));
	EXPECT_GE(owner.ret, 0) TH_LOG("the owner failed: %s", strerror(-owner.ret));
	EXPECT_EQ(1, s1.waits - s0.waits);
	EXPECT_EQ(1, s1.verified - s0.verified);
	EXPECT_EQ(0, s1.aborted - s0.aborted);
	if (owner.ret >= 0)
		close(owner.ret);
	put_layers(self->ls);
}

TEST_F_TIMEOUT(verify, shared_wait_is_killable, 180)
{
	shared_wait_killable(_metadata, self);
}

TEST_F_TIMEOUT(verify, file_shared_wait_is_killable, 180)
{
	file_layers = true;
	shared_wait_killable(_metadata, self);
	EXPECT_EQ(0, count_block("atomfsb"));
}

/*
 * A changed blob given as a file is refused: in a stack of ten file
 * layers, a copy of one with a bit flipped fails with EBADMSG at that
 * layer; nothing is left (no device of the module, no layer held, every
 * blob writable again), and the untouched blobs then mount.
 */
TEST_F_TIMEOUT(verify, file_bit_flip_refused, 180)
{
	struct atomfs_create_stack cs;
	char name[64], copy[PATH_MAX];
	unsigned int i, k = 6;
	int fd, orig;

	file_layers = true;
	for (i = 0; i < 10; i++) {
		layer_name(i, name, sizeof(name));
		ASSERT_EQ(0, add_verified(self->ls, name)) TH_LOG("%s", name);
	}
	layer_name(k, name, sizeof(name));
	snprintf(copy, sizeof(copy), WORK "/flip.sqfs");
	ASSERT_EQ(0, copy_file(fixture(name), copy));
	ASSERT_EQ(0, flip_bit(copy, file_size(copy) / 2));
	fd = open(copy, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	orig = self->ls->l[k].fd;
	self->ls->l[k].fd = fd;
	stack_args_init(&cs, self->ls->l, 10, 0, "verify-file-flip");
	EXPECT_CREATE_FAILS(&cs, EBADMSG, k);
	EXPECT_EQ(0, count_block("atomfsb"));
	EXPECT_EQ(0, count_mounts("atomfs"));
	EXPECT_EQ(0, list_stacks(NULL, 0));
	EXPECT_FALSE(blob_held(fd));
	for (i = 0; i < 10; i++) {
		EXPECT_FALSE(blob_held(self->ls->l[i].fd)) TH_LOG("layer %u", i);
		EXPECT_EQ(0, is_held(&self->ls->l[i].digest, NULL)) TH_LOG("layer %u", i);
	}
	self->ls->l[k].fd = orig;
	close(fd);

	stack_args_init(&cs, self->ls->l, 10, 0, "verify-file-10");
	fd = create_stack_raw(&cs);
	ASSERT_GE(fd, 0) TH_LOG("create-stack: %s", strerror(-fd));
	EXPECT_EQ(10, count_block("atomfsb"));
	ASSERT_EQ(0, mount_stack(fd, MNT));
	close(fd);
	EXPECT_EQ(0, access(MNT "/l0009", F_OK));
	EXPECT_EQ(0, umount(MNT));
	put_layers(self->ls);
	EXPECT_EQ(0, count_block("atomfsb"));
}

/*
 * SIGKILL part way through hashing a 128 MiB blob: the ioctl aborts (the
 * counter), the killed task is reaped promptly, and nothing is left: no
 * layer held, no device mounted, the loop device goes with its fds.
 */
TEST_F_TIMEOUT(verify, sigkill_aborts_verification, 120)
{
	struct stats s0, s1, s;
	long long t, killed;
	int status, lfd;
	pid_t pid;

	if (skip_scale())
		SKIP(return, "ATOMFS_SKIP_SCALE=1");
	ASSERT_EQ(0, make_padded(fixture("base.sqfs"), WORK "/big", BIG_SIZE));
	ASSERT_EQ(0, add_file_digest(self->ls, WORK "/big", "pad128M/base"));
	lfd = self->ls->fd[0];
	ASSERT_EQ(0, read_stats(&s0));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd = create_stack(self->ls->l, 1, 0, NULL);

		_exit(fd >= 0 ? 0 : -fd);
	}
	/* Kill it 0.3 s after hashing started. */
	t = now_ms();
	do {
		usleep(5000);
		ASSERT_EQ(0, read_stats(&s));
	} while (s.hashed == s0.hashed && now_ms() - t < 10000);
	EXPECT_NE(s0.hashed, s.hashed) TH_LOG("hashing did not start in 10 s");
	usleep(300000);
	killed = now_ms();
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	killed = now_ms() - killed;
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("the child was not killed: status %#x (exit %d: %s)", status,
		       WEXITSTATUS(status), strerror(WEXITSTATUS(status)));
	ASSERT_EQ(0, read_stats(&s1));
	TH_LOG("killed after %lld of %lld MiB hashed, reaped in %lld ms",
	       (s1.hashed - s0.hashed) / MIB, BIG_SIZE / MIB, killed);
	EXPECT_EQ(1, s1.aborted - s0.aborted);
	EXPECT_LT(s1.hashed - s0.hashed, BIG_SIZE);
	EXPECT_EQ(0, s1.verified - s0.verified);
	EXPECT_LT(killed, 5000);

	EXPECT_EQ(0, is_held(&self->ls->l[0].digest, NULL));
	EXPECT_FALSE(device_held(lfd));
	EXPECT_EQ(0, count_mounts("atomfs"));
	EXPECT_EQ(0, list_stacks(NULL, 0));
	put_layers(self->ls);
	EXPECT_EQ(self->loops, wait_loops(self->loops, 5000));
}

/*
 * ATOMFS_LAYER_REHASH with fd ATOMFS_NO_FD: a held layer still matching
 * passes (and is hashed); once its backing file was changed in place, it
 * fails with EBADMSG and is never handed out again: the query says not
 * held, and a new setup of the digest hashes a device of its own.
 */
TEST_F_TIMEOUT(verify, rehash_detects_changed_blob, 300)
{
	struct atomfs_create_stack cs;
	struct atomfs_layer l;
	struct stats s0, s1;
	unsigned long long id;
	char line[8192];
	long long size;
	int a, b, c;

	ASSERT_EQ(0, copy_file(fixture("base.sqfs"), WORK "/base.sqfs"));
	ASSERT_EQ(0, add_file_digest(self->ls, WORK "/base.sqfs", "base.sqfs"));
	size = self->ls->l[0].size;
	stack_args_init(&cs, self->ls->l, 1, 0, "verify-rehash");
	a = create_stack_raw(&cs);
	ASSERT_GE(a, 0) TH_LOG("create-stack: %s", strerror(-a));
	ASSERT_EQ(0, mount_stack(a, MNT));
	close(a);
	id = mount_id(MNT, line, sizeof(line));
	ASSERT_NE(0, id);

	layer_init(&l, ATOMFS_NO_FD, ATOMFS_LAYER_REHASH, size);
	l.digest = self->ls->l[0].digest;

	/* Still the same bytes: the re-hash passes. */
	ASSERT_EQ(0, read_stats(&s0));
	stack_args_init(&cs, &l, 1, 0, "verify-rehash");
	b = create_stack_raw(&cs);
	ASSERT_GE(b, 0) TH_LOG("create-stack: %s", strerror(-b));
	ASSERT_EQ(0, read_stats(&s1));
	EXPECT_EQ(size, s1.hashed - s0.hashed);
	EXPECT_EQ(1, s1.verified - s0.verified);
	close(b);

	/* Change the blob under the mount. */
	ASSERT_EQ(0, flip_bit(WORK "/base.sqfs", size / 2 + 17));
	ASSERT_EQ(0, drop_caches());
	ASSERT_EQ(0, read_stats(&s0));
	stack_args_init(&cs, &l, 1, 0, "verify-rehash");
	EXPECT_CREATE_FAILS(&cs, EBADMSG, 0);
	ASSERT_EQ(0, read_stats(&s1));
	EXPECT_EQ(size, s1.hashed - s0.hashed);
	EXPECT_EQ(0, s1.verified - s0.verified);
	EXPECT_EQ(0, is_held(&l.digest, NULL));
	EXPECT_EQ(1, layers_with(id, " unverified "));

	/* Not handed out: neither by digest alone ... */
	l.flags = 0;
	stack_args_init(&cs, &l, 1, 0, "verify-rehash");
	EXPECT_CREATE_FAILS(&cs, ENOENT, 0);

	/* ... nor to a setup with a device: that one hashes its own. */
	ASSERT_EQ(0, add_verified(self->ls, "base.sqfs"));
	ASSERT_EQ(0, read_stats(&s0));
	stack_args_init(&cs, &self->ls->l[1], 1, 0, "verify-rehash");
	c = create_stack_raw(&cs);
	ASSERT_GE(c, 0) TH_LOG("create-stack: %s", strerror(-c));
	ASSERT_EQ(0, read_stats(&s1));
	EXPECT_EQ(size, s1.hashed - s0.hashed);
	EXPECT_EQ(1, s1.verified - s0.verified);
	EXPECT_EQ(0, s1.reused - s0.reused);
	EXPECT_TRUE(device_held(self->ls->fd[1]));
	EXPECT_EQ(1, is_held(&l.digest, NULL));
	ASSERT_EQ(0, mount_stack(c, MNT2));
	close(c);
	EXPECT_EQ(-1, check_large(MNT2 "/large"));
	EXPECT_EQ(0, umount(MNT2));
	EXPECT_EQ(0, umount(MNT));
	put_layers(self->ls);
}

/*
 * Hashing 128 MiB leaves no second copy in the page cache: Buffers does not
 * grow by the blob's size. The control: a buffered read of 64 MiB of the
 * same device does show in Buffers.
 */
TEST_F_TIMEOUT(verify, buffers_do_not_grow, 120)
{
	const size_t chunk = 1 << 20;
	struct stats s0, s1;
	long long b0, b1, b2, t;
	char *buf;
	int stack, i;

	if (skip_scale())
		SKIP(return, "ATOMFS_SKIP_SCALE=1");
	ASSERT_EQ(0, make_padded(fixture("base.sqfs"), WORK "/big", BIG_SIZE));
	ASSERT_EQ(0, add_file_digest(self->ls, WORK "/big", "pad128M/base"));
	ASSERT_EQ(0, drop_caches());
	b0 = meminfo_kb("Buffers");
	ASSERT_GE(b0, 0);
	ASSERT_EQ(0, read_stats(&s0));
	t = now_ms();
	stack = create_stack(self->ls->l, 1, 0, NULL);
	t = now_ms() - t;
	ASSERT_GE(stack, 0) TH_LOG("create-stack: %s", strerror(-stack));
	ASSERT_EQ(0, read_stats(&s1));
	b1 = meminfo_kb("Buffers");
	TH_LOG("%lld MiB verified in %lld ms (%lld MiB/s, %s); Buffers %lld -> %lld kB",
	       BIG_SIZE / MIB, t, t ? BIG_SIZE / MIB * 1000 / t : 0, s1.driver, b0, b1);
	EXPECT_EQ(BIG_SIZE, s1.hashed - s0.hashed);
	EXPECT_LT(b1 - b0, BIG_SIZE / 1024 / 8);

	/* Control: the bytes read buffered through the device do count. */
	buf = malloc(chunk);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < 64; i++)
		ASSERT_EQ((ssize_t)chunk, pread(self->ls->fd[0], buf, chunk,
						 (off_t)i * chunk));
	free(buf);
	b2 = meminfo_kb("Buffers");
	TH_LOG("after a 64 MiB buffered read: Buffers %lld kB", b2);
	EXPECT_GT(b2 - b1, 48 * 1024);
	posix_fadvise(self->ls->fd[0], 0, 0, POSIX_FADV_DONTNEED);

	ASSERT_EQ(0, mount_stack(stack, MNT));
	close(stack);
	EXPECT_EQ(-1, check_large(MNT "/large"));
	EXPECT_EQ(0, umount(MNT));
	put_layers(self->ls);
}

/* require_verified=1 refuses a layer without a digest; =0 allows it. */
TEST_F(verify, require_verified_policy)
{
	struct atomfs_layer_info li[2];
	struct atomfs_create_stack cs;
	struct atomfs_info info;
	char line[8192];
	int stack;

	ASSERT_EQ(0, mkdir(DIRL, 0755));
	ASSERT_EQ(0, write_file(DIRL "/hello", "hello\n", 6, 0644));
	ASSERT_EQ(0, add_verified(self->ls, "base.sqfs"));
	ASSERT_EQ(0, add_dir_layer(self->ls, DIRL));

	ASSERT_EQ(0, set_param("require_verified", "1"));
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-policy");
	EXPECT_CREATE_FAILS(&cs, EPERM, 1);
	/* A block device without a digest too. */
	ASSERT_EQ(0, add_loop_layer(self->ls, fixture("top_ovl.sqfs")));
	self->ls->l[1] = self->ls->l[2];
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-policy");
	EXPECT_CREATE_FAILS(&cs, EPERM, 1);
	EXPECT_EQ(0, is_held(&self->ls->l[0].digest, NULL));
	layer_init(&self->ls->l[1], self->ls->fd[1], ATOMFS_LAYER_DIR, 0);

	ASSERT_EQ(0, set_param("require_verified", "0"));
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-policy");
	stack = create_stack_raw(&cs);
	ASSERT_GE(stack, 0) TH_LOG("create-stack: %s", strerror(-stack));
	ASSERT_EQ(0, mount_stack(stack, MNT));
	/* The policy holds at mount too. */
	ASSERT_EQ(0, set_param("require_verified", "1"));
	EXPECT_EQ(-EPERM, mount_stack(stack, MNT2));
	close(stack);
	EXPECT_TRUE(file_is(MNT "/hello", "hello"));
	EXPECT_TRUE(file_is(MNT "/file_a", "base a"));
	ASSERT_TRUE(mountinfo_line(MNT, line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, ",unverified")) TH_LOG("mountinfo: %s", line);
	ASSERT_EQ(0, get_info(MNT, &info, li, 2));
	EXPECT_EQ(ATOMFS_INFO_VERIFIED, li[0].flags);
	EXPECT_EQ(ATOMFS_INFO_DIR, li[1].flags);
	EXPECT_EQ(0, umount(MNT));
	put_layers(self->ls);
}

/* share_layers=0: a second stack of the same layers hashes again. */
TEST_F_TIMEOUT(verify, share_layers_off_hashes_again, 300)
{
	struct atomfs_create_stack cs;
	struct stats s0, s1;
	long long sizes;
	int a, b, i;

	ASSERT_EQ(0, add_verified(self->ls, "base.sqfs"));
	ASSERT_EQ(0, add_verified(self->ls, "top_ovl.sqfs"));
	ASSERT_EQ(0, add_verified(self->ls2, "base.sqfs"));
	ASSERT_EQ(0, add_verified(self->ls2, "top_ovl.sqfs"));
	sizes = self->ls->l[0].size + self->ls->l[1].size;

	ASSERT_EQ(0, set_param("share_layers", "0"));
	ASSERT_EQ(0, read_stats(&s0));
	stack_args_init(&cs, self->ls->l, 2, 0, "verify-noshare");
	a = create_stack_raw(&cs);
	stack_args_init(&cs, self->ls2->l, 2, 0, "verify-noshare");
	b = create_stack_raw(&cs);
	ASSERT_EQ(0, read_stats(&s1));
	ASSERT_EQ(0, set_param("share_layers", "1"));
	ASSERT_GE(a, 0) TH_LOG("create-stack: %s", strerror(-a));
	ASSERT_GE(b, 0) TH_LOG("create-stack: %s", strerror(-b));
	EXPECT_EQ(2 * sizes, s1.hashed - s0.hashed);
	EXPECT_EQ(4, s1.verified - s0.verified);
	EXPECT_EQ(0, s1.reused - s0.reused);
	for (i = 0; i < 2; i++) {
		EXPECT_TRUE(device_held(self->ls->fd[i]));
		EXPECT_TRUE(device_held(self->ls2->fd[i]));
	}
	ASSERT_EQ(0, mount_stack(a, MNT));
	ASSERT_EQ(0, mount_stack(b, MNT2));
	close(a);
	close(b);
	EXPECT_TRUE(file_is(MNT "/file_a", "base a"));
	EXPECT_TRUE(file_is(MNT2 "/file_a", "base a"));
	EXPECT_EQ(0, umount(MNT));
	EXPECT_EQ(0, umount(MNT2));
	put_layers(self->ls);
	put_layers(self->ls2);
}

ATOMFS_HARNESS_MAIN
