// SPDX-License-Identifier: GPL-2.0
/*
 * mut_fuzz: the layer mutation fuzzer (issue 15, point 2). Run inside the
 * test VM, best on the debug kernel (tools/testing/fuzz/run --mutate N).
 *
 * Each iteration takes a valid layer of the hostile corpus (make-hostile;
 * 7 times in 8 one of the 14 seeds with uncompressed metadata, so that
 * flips change inodes and directory entries and not only zlib streams),
 * flips 1-4 bytes in its metadata - the superblock's fields (not the
 * magic; rarely, else most runs stop at the mount), mostly the inode table
 * and the directory table (located from the superblock's offsets, past the
 * metadata blocks' headers), else anything from the inode table to the
 * end of the image: fragment, export, id and xattr tables, never the data
 * blocks - recomputes the blob's sha256 so that the kernel's check
 * passes, and hands it to the kernel as a file layer with that digest,
 * alone or above a valid layer. When the stack mounts, it walks it (readdir,
 * lstat, read, readlink, listxattr, getxattr; bounded: a corrupted
 * directory may loop) and unmounts. Errors are expected (EIO, EUCLEAN,
 * EINVAL, ENOMEM for an absurd size...). What fails the run: a kernel
 * report (bug, warning, KASAN, lockdep, stall, hung task) whose call trace
 * has an atomfs frame, a mount, stack or layer device left behind, or an
 * iteration that never returns (the VM's timeout). A report whose frames
 * are squashfs's and none atomfs's is squashfs's bug, not atomfs's: it is
 * recorded with its reproducer and not counted as a failure (the VM
 * harness still flags the kernel log; write it up).
 *
 * Every iteration's mutation follows from (seed, iteration) alone: before
 * each one the fuzzer prints "# iter N: LAYER off=val ..." and `mut_fuzz -s
 * SEED -i N` replays exactly that one; -o FILE writes the mutated blob.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>

#include "atomfs_util.h"
#include "klog.h"

#define WORK "/tmp/mut_fuzz"
#define MNT WORK "/mnt"
#define MAX_ENTRIES 3000
/* st.entries at which this iteration's walk stops (MAX_ENTRIES each) */
static unsigned long walk_limit;
#define MAX_DEPTH 24
#define MAX_READ (256 << 10)
/* runs this long must walk at least one mutated layer (mut_fuzz.mutated_layers_walked) */
#define MIN_ITERS_WALKED 5

/*
 * The seeds: NR_RAW with uncompressed metadata first (a flip there changes
 * an inode or a directory entry, the kernel reads it), then zlib-compressed
 * tables (a flip there mostly breaks the stream: squashfs refuses the
 * block). A raw seed is taken 7 times in 8.
 */
static const char *const seeds[] = {
	"types_raw", "hard_raw", "long_raw", "longtop_raw", "wh_lower_raw",
	"wh_upper_raw", "op_lower_raw", "op_upper_raw", "wo_lower_raw",
	"wo_upper_raw", "flip1_raw", "flip2_ovl_raw", "flip2_oci_raw",
	"bigtop_raw",
	"types", "hard", "long", "longtop", "wh_upper", "op_upper", "wo_upper",
	"flip1", "deeptop",
};
#define NR_SEEDS (sizeof(seeds) / sizeof(seeds[0]))
#define NR_RAW 14

struct blob {
	unsigned char *data;
	size_t size;
};
static struct blob seed_blob[NR_SEEDS];
static struct blob lower;	/* a valid layer under the mutated one: wh_lower */

struct rng {
	uint64_t s;
};

static uint64_t next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n)
{
	return n ? next(r) % n : 0;
}

static int read_blob(const char *path, struct blob *b)
{
	long long size = file_size(path);
	int fd;

	if (size < 96)
		return size < 0 ? size : -EINVAL;
	b->data = malloc(size);
	if (!b->data)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (read(fd, b->data, size) != size) {
		close(fd);
		return -EIO;
	}
	close(fd);
	b->size = size;
	return 0;
}

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The counters the run prints at the end. */
static struct {
	unsigned long iters, created, mounted, walked, full, clean, entries;
	unsigned long walk_errors;	/* walk_err[] total */
	bool cut;	/* this iteration's walk stopped short */
	unsigned long create_err[135], mount_err[135], walk_err[135];
	unsigned long squashfs_reports, atomfs_reports;
} st;

/* Pick a seed: a raw one 7 times in 8. */
static unsigned int pick_seed(struct rng *r)
{
	return below(r, 8) ? below(r, NR_RAW) :
			     NR_RAW + below(r, NR_SEEDS - NR_RAW);
}

/*
 * Where the inode table and the directory table of blob B lie: [*I, *D)
 * and [*D, *E). The directory table ends where the next thing begins: the
 * first metadata block of the fragment, export or id table (their index
 * tables list them) or the xattr data, whichever comes first. 0 if the
 * superblock does not hold together (then flips go anywhere).
 */
static int tables(const struct blob *b, uint64_t *i, uint64_t *d, uint64_t *e)
{
	const unsigned char *p = b->data;
	uint64_t end = le64(p + 40), x, cand[1 + 2 * 4];
	int n = 0, k;

	*i = le64(p + 64);
	*d = le64(p + 72);
	if (end > b->size || *i >= *d || *d >= end)
		return -EINVAL;
	/* xattr id table, id table, fragment table, export table: each an
	 * index of u64 metadata block positions, or ~0 for none */
	cand[n++] = end;
	for (k = 48; k <= 88; k += 8) {
		x = le64(p + k);
		if (k == 64 || k == 72 || x == ~0ULL || x + 8 > end)
			continue;
		cand[n++] = x;
		/* the first block the index points to (xattr: kv data) */
		cand[n++] = le64(p + x);
	}
	*e = end;
	for (k = 0; k < n; k++)
		if (cand[k] > *d && cand[k] < *e)
			*e = cand[k];
	return 0;
}

/*
 * Mutate a copy of seed K into OUT following R; describe it into DESC.
 * 1-4 flips; each lands in the superblock (past the magic: 4..95) one time
 * in 32, else in the inode table (7 in 16) or the directory table (7 in
 * 16) - past each 2-byte metadata block header of a raw seed, which
 * squashfs checks before anything else -, else anywhere in
 * [inode_table_start, bytes_used): fragment, export, id and xattr tables.
 */
static void mutate(struct rng *r, int k, struct blob *out, char *desc, size_t dlen)
{
	const struct blob *in = &seed_blob[k];
	uint64_t meta = le64(in->data + 64), end = le64(in->data + 40);
	uint64_t it = 0, dt = 0, de = 0;
	int n = 1 + below(r, 4), i, len;
	bool aimed = !tables(in, &it, &dt, &de);

	out->size = in->size;
	memcpy(out->data, in->data, in->size);
	if (end > in->size || meta >= end)
		meta = 96, end = in->size;
	len = snprintf(desc, dlen, "%s", seeds[k]);
	for (i = 0; i < n; i++) {
		uint64_t where = below(r, 32), off, t0 = 0;
		unsigned char v;

		if (where == 0) {
			off = 4 + below(r, 92);
		} else if (aimed && where < 15) {
			t0 = it;
			off = it + below(r, dt - it);
		} else if (aimed && where < 29) {
			t0 = dt;
			off = dt + below(r, de - dt);
		} else {
			off = meta + below(r, end - meta);
		}
		/* raw: blocks of 8,192 bytes, each after its header */
		if (t0 && k < NR_RAW && (off - t0) % 8194 < 2)
			off += 2 - (off - t0) % 8194;
		if (off >= in->size)
			off = in->size - 1;

		switch (below(r, 5)) {
		case 0: v = out->data[off] ^ (1 << below(r, 8)); break;
		case 1: v = 0; break;
		case 2: v = 0xff; break;
		case 3: v = out->data[off] + (below(r, 2) ? 1 : -1); break;
		default: v = next(r); break;
		}
		out->data[off] = v;
		len += snprintf(desc + len, dlen - len, " %llu=%02x",
				(unsigned long long)off, v);
	}
}

static int write_blob(const char *path, const struct blob *b)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, b->data, b->size) != (ssize_t)b->size)
		err = -EIO;
	close(fd);
	return err;
}

static void count(unsigned long *tab, int err)
{
	tab[err > 0 && err < 134 ? err : 134]++;
	/* listxattr's answer for a layer without an xattr table */
	if (tab == st.walk_err && err != EOPNOTSUPP)
		st.walk_errors++;
}

/*
 * Walk the directory DFD; every error counted, never fatal. st.cut is set
 * when a directory is not read to its end: getdents fails, a directory
 * does not open, or a bound is reached.
 */
static void walk(int dfd, int depth)
{
	static char data[1 << 16];
	char names[8192], val[256], *buf = malloc(16384);
	long got, off;
	int nents = 0;

	if (!buf)
		return;
	for (;;) {
		got = syscall(SYS_getdents64, dfd, buf, 16384);
		if (got < 0) {
			count(st.walk_err, errno);
			st.cut = true;
		}
		if (got <= 0)
			break;
		for (off = 0; off < got && st.entries < walk_limit; nents++) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			struct stat s;
			ssize_t n, total = 0;
			char *p;
			int fd;

			off += de->d_reclen;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			st.entries++;
			if (fstatat(dfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW)) {
				count(st.walk_err, errno);
				continue;
			}
			if (S_ISLNK(s.st_mode) &&
			    readlinkat(dfd, de->d_name, names, sizeof(names)) < 0)
				count(st.walk_err, errno);
			if (S_ISREG(s.st_mode) || S_ISDIR(s.st_mode)) {
				fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW |
					    O_CLOEXEC | O_NONBLOCK);
				if (fd < 0) {
					count(st.walk_err, errno);
					st.cut |= S_ISDIR(s.st_mode);
					continue;
				}
				n = flistxattr(fd, names, sizeof(names));
				if (n < 0)
					count(st.walk_err, errno);
				for (p = names; n > 0 && p < names + n; p += strlen(p) + 1)
					if (fgetxattr(fd, p, val, sizeof(val)) < 0 &&
					    errno != ERANGE)
						count(st.walk_err, errno);
				if (S_ISREG(s.st_mode)) {
					while (total < MAX_READ &&
					       (n = read(fd, data, sizeof(data))) > 0)
						total += n;
					if (n < 0)
						count(st.walk_err, errno);
				} else if (depth < MAX_DEPTH) {
					walk(fd, depth + 1);
				} else {
					st.cut = true;
				}
				close(fd);
			}
		}
		if (st.entries >= walk_limit) {
			st.cut = true;
			break;
		}
	}
	free(buf);
}

/*
 * Read the kernel log since the last call: 0 if clean, 1 if there was a
 * report with no atomfs frame but a squashfs one (squashfs's), 2 otherwise.
 */
static int check_klog(struct klog *k, char *text, size_t size)
{
	char rec[8192];
	size_t len = 0;
	bool bad = false;
	int quiet = 0, waits = 0;
	ssize_t n;

	text[0] = 0;
	for (;;) {
		n = read(k->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0) {
			/*
			 * A report's trace can come after its first line (from
			 * a worker, an RCU callback): classify it only once the
			 * log has been quiet for 0.2 s, at most 3 s.
			 */
			if (!bad || quiet >= 2 || waits++ >= 30)
				break;
			quiet++;
			usleep(100000);
			continue;
		}
		quiet = 0;
		rec[n] = 0;
		char *t = strchr(rec, ';');

		t = t ? t + 1 : rec;
		t[strcspn(t, "\n")] = 0;
		if (!regexec(&k->re, t, 0, NULL, 0))
			bad = true;
		/* a report's lines (the trace follows the first) */
		if (bad && len + strlen(t) + 2 < size)
			len += snprintf(text + len, size - len, "%s\n", t);
	}
	if (!bad)
		return 0;
	if (strstr(text, "atomfs"))
		return 2;
	return strstr(text, "squashfs") ? 1 : 2;
}

static void print_errs(const char *what, const unsigned long *tab)
{
	int e;

	printf("# %s errors:", what);
	for (e = 1; e < 135; e++)
		if (tab[e])
			printf(" %s %lu", e == 134 ? "other" : strerrorname_np(e), tab[e]);
	printf("\n");
}

static void usage(void)
{
	fprintf(stderr,
		"usage: mut_fuzz [-s SEED] [-n ITERATIONS] [-d SECONDS] [-i ITER [-o FILE]] [-c CORPUS]\n"
		"  -s  the seed (default: from the clock; printed)\n"
		"  -n  iterations (default 100), -d: stop after SECONDS instead\n"
		"  -i  replay iteration ITER of SEED only; -o: write its blob to FILE\n"
		"  -c  the corpus (default $ATOMFS_FIXTURES/hostile or $ATOMFS_TOP/build/fixtures/hostile)\n"
		"  -k atomfs|squashfs: after iteration 0, write a fake report with such a\n"
		"     frame to /dev/kmsg (shows that the check fails, or records)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long long seed = 0, only = ~0ULL;
	long iterations = 100, seconds = 0;
	const char *corpus = NULL, *outfile = NULL, *fake = NULL;
	char path[PATH_MAX], desc[512], *report;
	int devs, stacks, mounts, fails = 0, opt, c, plan = 4;
	struct klog klog;
	struct blob mut;
	long long start;
	bool has_seed = false;
	unsigned int k;
	long i;

	while ((opt = getopt(argc, argv, "s:n:d:i:o:c:k:h")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); has_seed = true; break;
		case 'n': iterations = atol(optarg); break;
		case 'd': seconds = atol(optarg); break;
		case 'i': only = strtoull(optarg, NULL, 0); break;
		case 'o': outfile = optarg; break;
		case 'c': corpus = optarg; break;
		case 'k': fake = optarg; break;
		default: usage();
		}
	}
	if (!has_seed)
		seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);
	if (!corpus) {
		snprintf(path, sizeof(path), "%s/hostile", fixtures_dir());
		corpus = strdup(path);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%d\n", plan);
	printf("# mut_fuzz: seed %llu, corpus %s; replay one iteration: mut_fuzz -s %llu -i N\n",
	       seed, corpus, seed);
	for (k = 0; k < NR_SEEDS; k++) {
		snprintf(path, sizeof(path), "%s/%s.sqfs", corpus, seeds[k]);
		if (read_blob(path, &seed_blob[k])) {
			printf("# cannot read %s: build the corpus with 'make selftests'\n", path);
			printf("Bail out! no corpus\n");
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/wh_lower.sqfs", corpus);
	if (read_blob(path, &lower)) {
		printf("Bail out! cannot read %s\n", path);
		return 1;
	}
	mut.data = malloc(1 << 20);
	report = malloc(1 << 16);
	if (!mut.data || !report)
		return 1;
	for (k = 0; k < NR_SEEDS; k++)
		if (seed_blob[k].size > 1 << 20) {
			printf("Bail out! %s is over 1 MiB\n", seeds[k]);
			return 1;
		}

	if (only != ~0ULL) {
		struct rng r = { seed ^ (only * 0xd1342543de82ef95ULL) };

		k = pick_seed(&r);
		mutate(&r, k, &mut, desc, sizeof(desc));
		printf("# iter %llu: %s\n", only, desc);
		if (outfile && write_blob(outfile, &mut))
			return 1;
		iterations = 1;
	}
	if (allow_unverified() || private_ns_tmpfs(WORK) || mkdir(MNT, 0755)) {
		printf("Bail out! set-up: %s\n", strerror(errno));
		return 1;
	}
	if (klog_open(&klog)) {
		printf("Bail out! /dev/kmsg: %s\n", strerror(errno));
		return 1;
	}
	devs = count_layer_devs();
	stacks = count_stacks();
	mounts = count_mounts("atomfs");
	start = now_ms();
	for (i = 0; i < iterations || seconds; i++) {
		unsigned long long it = only != ~0ULL ? only : (unsigned long long)i;
		struct rng r = { seed ^ (it * 0xd1342543de82ef95ULL) };
		struct atomfs_layer l[2];
		int fds[2] = { -1, -1 }, nr = 0, stack, err, dfd;
		const char *blob = WORK "/blob", *low = WORK "/lower";

		if (seconds && now_ms() - start > seconds * 1000LL)
			break;
		st.iters++;
		k = pick_seed(&r);
		mutate(&r, k, &mut, desc, sizeof(desc));
		bool two = below(&r, 3) == 0;
		unsigned int style = below(&r, 4);

		printf("# iter %llu: %s%s\n", it, desc, two ? " (above wh_lower)" : "");
		if (write_blob(blob, &mut) || (two && write_blob(low, &lower))) {
			printf("Bail out! cannot write %s\n", blob);
			return 1;
		}
		if (two) {
			fds[nr] = open(low, O_RDONLY | O_CLOEXEC);
			layer_init(&l[nr], fds[nr], ATOMFS_LAYER_FILE, lower.size);
			sha256_file(low, &l[nr].digest);
			nr++;
		}
		fds[nr] = open(blob, O_RDONLY | O_CLOEXEC);
		layer_init(&l[nr], fds[nr], ATOMFS_LAYER_FILE, mut.size);
		if (sha256_file(blob, &l[nr].digest)) {
			printf("Bail out! sha256sum %s failed\n", blob);
			return 1;
		}
		nr++;
		stack = create_stack(l, nr, style, NULL);
		for (c = 0; c < nr; c++)
			close(fds[c]);
		if (stack < 0) {
			count(st.create_err, -stack);
		} else {
			st.created++;
			err = mount_stack(stack, MNT);
			close(stack);
			if (err) {
				count(st.mount_err, -err);
			} else {
				st.mounted++;
				dfd = open(MNT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (dfd < 0) {
					count(st.walk_err, errno);
				} else {
					unsigned long before = st.entries;
					unsigned long errs = st.walk_errors;

					walk_limit = before + MAX_ENTRIES;
					st.cut = false;
					walk(dfd, 0);
					close(dfd);
					if (st.entries > before)
						st.walked++;
					st.full += !st.cut;
					st.clean += !st.cut && errs == st.walk_errors;
					printf("# iter %llu: walked %lu entries, %s, %lu error(s)\n",
					       it, st.entries - before,
					       st.cut ? "cut short" : "to the end",
					       st.walk_errors - errs);
				}
				if (umount2(MNT, 0)) {
					printf("# iter %llu: umount: %s\n", it, strerror(errno));
					fails++;
					umount2(MNT, MNT_DETACH);
				}
			}
		}
		unlink(blob);
		if (fake && i == 0) {
			/* three records, as a real report's lines are */
			char line[3][96];
			int kfd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC), r;

			snprintf(line[0], sizeof(line[0]), "<4>WARNING: CPU: 0 PID: %d at fake (mut_fuzz -k)\n",
				 getpid());
			snprintf(line[1], sizeof(line[1]), "<4>Call Trace:\n");
			snprintf(line[2], sizeof(line[2]), "<4> %s_fake_frame+0x1/0x2\n",
				 !strcmp(fake, "atomfs") ? "atomfs" : "squashfs");
			for (r = 0; r < 3; r++)
				if (kfd < 0 || write(kfd, line[r], strlen(line[r])) < 0)
					printf("# cannot write /dev/kmsg\n");
			if (kfd >= 0)
				close(kfd);
		}
		switch (check_klog(&klog, report, 1 << 16)) {
		case 1:
			st.squashfs_reports++;
			printf("# iter %llu: a squashfs report (no atomfs frame), recorded:\n"
			       "#   reproducer: mut_fuzz -s %llu -i %llu -o layer.sqfs\n",
			       it, seed, it);
			for (char *p = strtok(report, "\n"); p; p = strtok(NULL, "\n"))
				printf("#   %s\n", p);
			break;
		case 2:
			st.atomfs_reports++;
			fails++;
			printf("# iter %llu: a kernel report with an atomfs frame (or none of squashfs):\n"
			       "#   reproducer: mut_fuzz -s %llu -i %llu -o layer.sqfs\n",
			       it, seed, it);
			for (char *p = strtok(report, "\n"); p; p = strtok(NULL, "\n"))
				printf("#   %s\n", p);
			break;
		}
	}

	printf("# %lu iterations in %lld s: %lu stacks created, %lu mounted, "
	       "%lu walked, %lu entries seen\n", st.iters,
	       (now_ms() - start) / 1000, st.created, st.mounted, st.walked,
	       st.entries);
	printf("# full walks (every directory read to its end): %lu of %lu iterations (%.2f per iteration), %lu of them without an error\n",
	       st.full, st.iters, st.iters ? (double)st.full / st.iters : 0.0,
	       st.clean);
	print_errs("create-stack", st.create_err);
	print_errs("mount", st.mount_err);
	print_errs("walk", st.walk_err);
	printf("%sok 1 mut_fuzz.no_atomfs_kernel_report\n", st.atomfs_reports ? "not " : "");
	/* recorded, not judged: squashfs's own reports are not atomfs bugs */
	printf("# squashfs reports recorded: %lu\n", st.squashfs_reports);
	/* a run that never walks a mutated layer fuzzes nothing of atomfs */
	if (st.iters < MIN_ITERS_WALKED) {
		printf("ok 2 mut_fuzz.mutated_layers_walked # SKIP %lu iteration(s), fewer than %d\n",
		       st.iters, MIN_ITERS_WALKED);
	} else {
		c = st.walked > 0;
		printf("%sok 2 mut_fuzz.mutated_layers_walked # %lu of %lu iterations walked\n",
		       c ? "" : "not ", st.walked, st.iters);
		fails += !c;
	}
	umount_below(WORK, true);
	c = count_mounts("atomfs") == mounts && count_stacks() == stacks;
	printf("%sok 3 mut_fuzz.no_mount_or_stack_left\n", c ? "" : "not ");
	fails += !c;
	c = wait_layer_devs(devs, 10000) == devs;
	printf("%sok 4 mut_fuzz.no_layer_device_left\n", c ? "" : "not ");
	fails += !c;
	printf("# replay: mut_fuzz -s %llu -n %lu\n", seed, st.iters);
	return fails || st.atomfs_reports ? 1 : 0;
}
