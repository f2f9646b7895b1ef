// SPDX-License-Identifier: GPL-2.0
/*
 * stress: atomfs under concurrent load, run as root inside the test VM
 * (best on the debug kernel).
 *
 *   stress [-d SECONDS] [-r READERS] [-m MOUNTERS] [-s SEED] [--mixed]
 *
 * MOUNTERS threads (default 2) create stacks over a fixed set of held
 * layers (read-only loop devices, blob files, ATOMFS_NO_FD by digest; the
 * stacks share their base layers), mount them on a few mount points and
 * unmount them again (lazily when busy); READERS threads (default 4) walk
 * whatever is mounted: lookup and lstat, readdir, open and read, mmap,
 * listxattr and getxattr, readlink; one more thread flips share_layers and
 * tries to unload the module, which must be refused while it is in use.
 *
 * A walk of a stack always sees the same tree: each walk's signature (the
 * names, types, sizes, link targets, xattrs and the first bytes of each
 * file) must equal the first one seen for that stack's recipe.
 *
 * fio (Debian's package, in the VM's initramfs) reads at the same time:
 * random 4 KiB reads, through read(2) and mmap, --readonly, of existing
 * files (/large, 6 MiB, and /sparse, 4 MiB, of base.sqfs) of a stack
 * mounted at ROOT/fio for the whole run; its layers are the ones the
 * mounters' stacks share. --fio-files NAME[:NAME...] reads other files of
 * that stack (a missing one shows that a failing fio fails the run).
 * fio does not check what it reads: two more threads do random 4 KiB
 * reads of that stack's /large (pread, and through a mapping) and check
 * every byte against make-fixtures' pattern (stress.random_reads_verified).
 *
 * --mixed: the ioctl fuzzer runs at the same time (tools/testing/fuzz/run
 * --together), so create-stack may also meet a lowered max_layers.
 *
 * Fails (TAP "not ok", exit 1) on a thread stuck in one step for 2
 * minutes (the blocked tasks are dumped into the kernel log with sysrq w
 * and d), on any error from a read-only operation on
 * a mount, an unexpected errno from create, mount or umount, a walk that
 * differs, a successful rmmod, any report in the kernel log (/dev/kmsg from
 * the start of the run), fio exiting non-zero, either of its jobs
 * reporting an error or no read, or still running 2 minutes after its
 * runtime, fio not having begun reading (a file of its mount open) 2
 * minutes after the start, a checked read of /large that fails or
 * differs, or none of either kind, and loop devices,
 * mounts or stacks left behind.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "../selftests/filesystems/atomfs/atomfs_util.h"
#include "../fuzz/klog.h"

#define ROOT "/run/atomfs-stress"
#define NR_MNT 6
#define MAX_READERS 16
#define MAX_MOUNTERS 8

static const char *const blob_names[] = {
	"base.sqfs", "top_ovl.sqfs", "top2_ovl.sqfs", "top_oci.sqfs",
	"top2_oci.sqfs", "bigA.sqfs", "bigB.sqfs",
};
#define NR_BLOBS (sizeof(blob_names) / sizeof(blob_names[0]))

struct blob {
	char path[PATH_MAX];
	long long size;
	struct atomfs_digest digest;
	int loop;	/* a read-only loop device held for the whole run */
	int file;	/* the blob file, read-only */
};
static struct blob blobs[NR_BLOBS];

/* Stacks, as lists of blob indexes, base first; they share layers. */
static const struct recipe {
	const char *name;
	unsigned int whiteout;
	int nr;
	int layer[4];
} recipes[] = {
	{ "base", ATOMFS_WHITEOUT_BOTH, 1, { 0 } },
	{ "base+ovl", ATOMFS_WHITEOUT_OVERLAY, 2, { 0, 1 } },
	{ "base+ovl+ovl2", ATOMFS_WHITEOUT_OVERLAY, 3, { 0, 1, 2 } },
	{ "base+oci+oci2", ATOMFS_WHITEOUT_OCI, 3, { 0, 3, 4 } },
	{ "bigA+bigB", ATOMFS_WHITEOUT_BOTH, 2, { 5, 6 } },
	{ "base+bigA+ovl", ATOMFS_WHITEOUT_BOTH, 3, { 0, 5, 1 } },
};
#define NR_RECIPES (sizeof(recipes) / sizeof(recipes[0]))

/* Each recipe's walk signature, set by the first complete walk. */
static struct {
	pthread_mutex_t lock;
	uint64_t sig;
	bool known;
	unsigned long walks;
} sigs[NR_RECIPES];

/* What is mounted where: the recipe, -1 for nothing. */
static struct mnt {
	pthread_mutex_t lock;
	char dir[64];
	int recipe;
} mnts[NR_MNT];

enum count {
	C_LOOKUP, C_READDIR, C_READ, C_MMAP, C_XATTR, C_READLINK, C_WALK,
	C_CREATE, C_MOUNT, C_UMOUNT, C_UMOUNT_LAZY, C_FLIP, C_RMMOD, C_NR
};
static const char *const count_names[C_NR] = {
	"lookup+lstat", "readdir", "open+read", "mmap", "getxattr",
	"readlink", "full walks", "create-stack", "mount", "umount",
	"umount lazy", "share_layers flips", "rmmod attempts",
};
static unsigned long counts[C_NR];
static unsigned long errors, mismatches, rmmod_ok;
static volatile int stop;
static bool mixed;

/* now_ms() when each thread began its current step (0: finished). */
#define STUCK_SECONDS 120
/* readers, mounters, the flipper, then the two checkers */
static volatile long long beats[MAX_READERS + MAX_MOUNTERS + 1 + 2];
static const char *volatile doing[MAX_READERS + MAX_MOUNTERS + 1 + 2];
static int checker_slot; /* beats[] of checker 0; checker 1 follows */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void bump(int c)
{
	__atomic_add_fetch(&counts[c], 1, __ATOMIC_RELAXED);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	if (__atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED) > 40)
		return;
	pthread_mutex_lock(&out_lock);
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	pthread_mutex_unlock(&out_lock);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* FNV-1a over BUF, folded into H. */
static uint64_t mix(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

/*
 * Walk the directory DFD (PATH for messages), depth first, DEPTH levels at
 * most; fold what is seen into *SIG (order-independent: each entry's hash
 * is added) and note progress in *BEAT. 0: walked, -1: an error, 1: cut
 * short because the run is over.
 */
static int walk(int dfd, const char *path, int depth, uint64_t *sig,
		volatile long long *beat)
{
	struct dirent *de;
	DIR *d;
	int err = 0;

	d = fdopendir(dfd);
	if (!d) {
		fail("fdopendir %s: %s", path, strerror(errno));
		close(dfd);
		return -1;
	}
	bump(C_READDIR);
	for (;;) {
		char sub[PATH_MAX], buf[256], names[1024];
		struct stat st;
		uint64_t h = 0xcbf29ce484222325ULL;
		ssize_t n;
		int fd;

		if (stop) {
			err = err ?: 1;
			break;
		}
		*beat = now_ms();
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				fail("readdir %s: %s", path, strerror(errno));
				err = -1;
			}
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		bump(C_LOOKUP);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			fail("lstat %s: %s", sub, strerror(errno));
			err = -1;
			break;
		}
		h = mix(h, de->d_name, strlen(de->d_name));
		h = mix(h, &st.st_mode, sizeof(st.st_mode));
		if (!S_ISDIR(st.st_mode))
			h = mix(h, &st.st_size, sizeof(st.st_size));
		h = mix(h, &st.st_uid, sizeof(st.st_uid));
		if (S_ISLNK(st.st_mode)) {
			bump(C_READLINK);
			n = readlinkat(dirfd(d), de->d_name, buf, sizeof(buf));
			if (n < 0) {
				fail("readlink %s: %s", sub, strerror(errno));
				err = -1;
				break;
			}
			h = mix(h, buf, n);
		}
		if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
			fd = openat(dirfd(d), de->d_name,
				    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0) |
					    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd < 0) {
				fail("open %s: %s", sub, strerror(errno));
				err = -1;
				break;
			}
			bump(C_XATTR);
			n = flistxattr(fd, names, sizeof(names));
			/*
			 * squashfs's answer for an image without an xattr
			 * table, passed through for a directory whose upper
			 * layer has none.
			 */
			if (n < 0 && errno == EOPNOTSUPP)
				n = 0;
			if (n < 0) {
				fail("listxattr %s: %s", sub, strerror(errno));
				err = -1;
			}
			for (ssize_t i = 0; n > 0 && i < n;
			     i += strlen(names + i) + 1) {
				ssize_t v = fgetxattr(fd, names + i, buf,
						      sizeof(buf));

				bump(C_XATTR);
				if (v < 0) {
					fail("getxattr %s %s: %s", sub,
					     names + i, strerror(errno));
					err = -1;
					break;
				}
				h = mix(h, names + i, strlen(names + i));
				h = mix(h, buf, v);
			}
			if (S_ISDIR(st.st_mode)) {
				if (depth > 0 && !err) {
					err = walk(fd, sub, depth - 1, &h, beat);
				} else {
					close(fd);
				}
			} else {
				bump(C_READ);
				n = pread(fd, buf, sizeof(buf),
					  st.st_size > 8192 ? 4096 : 0);
				if (n < 0) {
					fail("read %s: %s", sub,
					     strerror(errno));
					err = -1;
				} else {
					h = mix(h, buf, n);
				}
				if (st.st_size > 0 && st.st_size < (1 << 24)) {
					void *m = mmap(NULL, st.st_size,
						       PROT_READ, MAP_PRIVATE,
						       fd, 0);

					bump(C_MMAP);
					if (m == MAP_FAILED) {
						fail("mmap %s: %s", sub,
						     strerror(errno));
						err = -1;
					} else {
						h = mix(h, (char *)m + st.st_size - 1, 1);
						munmap(m, st.st_size);
					}
				}
				close(fd);
			}
			if (err)
				break;
		}
		*sig += h;
	}
	closedir(d);
	return err;
}

struct targ {
	uint64_t seed;
	int slot;	/* in beats[] */
};

static void *reader(void *arg)
{
	const struct targ *ta = arg;
	uint64_t s = ta->seed;

	for (; !stop; beats[ta->slot] = now_ms()) {
		doing[ta->slot] = "walk";
		struct mnt *m = &mnts[rnd(&s) % NR_MNT];
		struct statfs sfs;
		uint64_t sig = 0;
		int recipe, fd;

		/* The mount and its recipe, read together. */
		pthread_mutex_lock(&m->lock);
		recipe = m->recipe;
		fd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		pthread_mutex_unlock(&m->lock);
		if (fd < 0) {
			fail("open %s: %s", m->dir, strerror(errno));
			continue;
		}
		if (recipe < 0 || fstatfs(fd, &sfs) ||
		    sfs.f_type != ATOMFS_SUPER_MAGIC) {
			close(fd);
			usleep(1000);
			continue;
		}
		if (walk(fd, m->dir, 8, &sig, &beats[ta->slot]))
			continue;
		bump(C_WALK);
		pthread_mutex_lock(&sigs[recipe].lock);
		sigs[recipe].walks++;
		if (!sigs[recipe].known) {
			sigs[recipe].sig = sig;
			sigs[recipe].known = true;
		} else if (sigs[recipe].sig != sig) {
			mismatches++;
			fail("walk of %s (%s) differs: signature %016llx, first %016llx",
			     m->dir, recipes[recipe].name,
			     (unsigned long long)sig,
			     (unsigned long long)sigs[recipe].sig);
		}
		pthread_mutex_unlock(&sigs[recipe].lock);
	}
	beats[ta->slot] = 0;
	return NULL;
}

/* Create the stack of recipe R, each layer by a random way. */
static int make_stack(uint64_t *s, int r)
{
	const struct recipe *rc = &recipes[r];
	struct atomfs_layer l[4];
	int i, fd;

	for (i = 0; i < rc->nr; i++) {
		const struct blob *b = &blobs[rc->layer[i]];

		switch (rnd(s) % 4) {
		case 0:
			layer_init(&l[i], b->file, ATOMFS_LAYER_FILE, b->size);
			break;
		case 1: /* a held layer, by digest */
			layer_init(&l[i], ATOMFS_NO_FD, 0, b->size);
			break;
		default:
			layer_init(&l[i], b->loop, 0, b->size);
			break;
		}
		l[i].digest = b->digest;
	}
	fd = create_stack(l, rc->nr, rc->whiteout, NULL);
	bump(C_CREATE);
	/*
	 * ENOENT: by digest, and share_layers was off or the layer was
	 * released meanwhile. ETXTBSY: nobody writes the blobs; EBUSY:
	 * a loop device that another stack of share_layers=0 holds.
	 */
	if (fd == -ENOENT || fd == -EBUSY)
		return fd;
	/* --mixed: the ioctl fuzzer may have lowered max_layers. */
	if (fd == -E2BIG && mixed)
		return fd;
	if (fd < 0)
		fail("create-stack %s: %s", rc->name, strerror(-fd));
	return fd;
}

static void *mounter(void *arg)
{
	const struct targ *ta = arg;
	uint64_t s = ta->seed;

	for (; !stop; beats[ta->slot] = now_ms()) {
		doing[ta->slot] = "mount/umount";
		struct mnt *m = &mnts[rnd(&s) % NR_MNT];
		int r = rnd(&s) % NR_RECIPES, stack, err;

		pthread_mutex_lock(&m->lock);
		if (m->recipe >= 0) {
			bool lazy = rnd(&s) % 3 == 0;

			err = umount2(m->dir, lazy ? MNT_DETACH : 0);
			if (err && errno == EBUSY) {
				lazy = true;
				err = umount2(m->dir, MNT_DETACH);
			}
			if (err)
				fail("umount %s: %s", m->dir, strerror(errno));
			else
				m->recipe = -1;
			bump(lazy ? C_UMOUNT_LAZY : C_UMOUNT);
			pthread_mutex_unlock(&m->lock);
			continue;
		}
		pthread_mutex_unlock(&m->lock);
		stack = make_stack(&s, r);
		if (stack < 0)
			continue;
		pthread_mutex_lock(&m->lock);
		if (m->recipe < 0) {
			err = rnd(&s) % 4 ? mount_stack(stack, m->dir) :
					    fsmount_stack(stack, m->dir);
			bump(C_MOUNT);
			if (err)
				fail("mount %s on %s: %s", recipes[r].name,
				     m->dir, strerror(-err));
			else
				m->recipe = r;
		}
		pthread_mutex_unlock(&m->lock);
		close(stack);
	}
	beats[ta->slot] = 0;
	return NULL;
}

/* Flip share_layers; try to unload the module (refused: it is in use). */
static void *flipper(void *arg)
{
	const struct targ *ta = arg;
	uint64_t s = ta->seed;
	int n = 0;

	for (; !stop; beats[ta->slot] = now_ms()) {
		doing[ta->slot] = "share_layers flip or rmmod";
		usleep(200000 + rnd(&s) % 300000);
		set_param("share_layers", n++ % 2 ? "1" : "0");
		bump(C_FLIP);
		if (n % 5 == 0) {
			bump(C_RMMOD);
			if (!syscall(__NR_delete_module, "atomfs", O_NONBLOCK)) {
				rmmod_ok++;
				fail("rmmod atomfs succeeded while atomfs was in use");
				stop = 1;
			} else if (errno != EBUSY && errno != EAGAIN) {
				fail("rmmod atomfs: %s, not EBUSY",
				     strerror(errno));
			}
		}
	}
	set_param("share_layers", "1");
	beats[ta->slot] = 0;
	return NULL;
}

/* fio's stack: base+ovl (2 layers: a lowered max_layers may still allow
 * it), mounted at FIO_MNT before the threads start, unmounted at the end. */
#define FIO_MNT ROOT "/fio"
/* the run waits at most this long for fio to begin, then this long more */
#define FIO_WAIT_SECONDS 120
#define FIO_MIN_SECONDS 5
#define FIO_RECIPE 1
static const char *fio_files = "large:sparse";

static int fio_mount(void)
{
	const struct recipe *rc = &recipes[FIO_RECIPE];
	struct atomfs_layer l[4];
	int i, fd = -EAGAIN, err, tries;

	mkdir(FIO_MNT, 0755);
	/* --mixed: the fuzzer may lower max_layers for a moment */
	for (tries = 0; tries < 100; tries++) {
		for (i = 0; i < rc->nr; i++) {
			const struct blob *b = &blobs[rc->layer[i]];

			layer_init(&l[i], b->loop, 0, b->size);
			l[i].digest = b->digest;
		}
		fd = create_stack(l, rc->nr, rc->whiteout, NULL);
		if (fd != -E2BIG || !mixed)
			break;
		usleep(100000);
	}
	if (fd < 0) {
		printf("# create-stack %s for fio: %s\n", rc->name,
		       strerror(-fd));
		return fd;
	}
	err = mount_stack(fd, FIO_MNT);
	close(fd);
	if (err)
		printf("# mount %s on %s for fio: %s\n", rc->name, FIO_MNT,
		       strerror(-err));
	return err;
}

/* Start fio for SECONDS; its terse output goes to ROOT/fio.out. */
static pid_t fio_start(int seconds, unsigned long long seed)
{
	char files[PATH_MAX], rt[32], rs[32];
	pid_t pid;

	snprintf(files, sizeof(files), "--filename=%s", fio_files);
	snprintf(rt, sizeof(rt), "--runtime=%ds", seconds > 0 ? seconds : 1);
	snprintf(rs, sizeof(rs), "--randseed=%llu", seed);
	fflush(stdout);
	pid = fork();
	if (pid)
		return pid;
	if (!freopen(ROOT "/fio.out", "w", stdout) ||
	    !freopen(ROOT "/fio.err", "w", stderr))
		_exit(127);
	/*
	 * Its start is CPU work (relocating ~100 libraries: 16 s in the
	 * debug guest), which the walkers would starve for a minute: nice
	 * -10 until the jobs begin, whose threads go back to 0 (--nice=10).
	 */
	if (setpriority(PRIO_PROCESS, 0, -10))
		fprintf(stderr, "setpriority -10: %s\n", strerror(errno));
	execlp("fio", "fio", "--output-format=terse", "--terse-version=3",
	       "--thread", "--readonly", "--disk_util=0",
	       "--nice=10",
	       "--directory=" FIO_MNT, files, "--rw=randread", "--bs=4k",
	       "--time_based", rt, rs, "--name=psync", "--ioengine=psync",
	       "--name=mmap", "--ioengine=mmap", (char *)NULL);
	fprintf(stderr, "cannot run fio: %s\n", strerror(errno));
	_exit(127);
}

/*
 * Print what fio did (from its exit STATUS and ROOT/fio.out); 0: ok.
 * STOPPED: we sent it SIGINT, after which it exits 128.
 */
static int fio_report(int status, bool stopped, unsigned long *reads)
{
	char line[16384], *f[10], *save, *p;
	FILE *o = fopen(ROOT "/fio.out", "re");
	int n = 0, ok, msgs = 0, jobs = 0, jobs_ok = 0;

	*reads = 0;
	/* fio's messages (errors too) go to stdout with the terse lines */
	while (o && fgets(line, sizeof(line), o)) {
		long long kib, bw, iops, ms, error;

		if (strncmp(line, "3;", 2)) {
			if (msgs++ < 20)
				printf("# fio: %s", line);
			continue;
		}
		for (n = 0, p = strtok_r(line, ";", &save); p && n < 10;
		     p = strtok_r(NULL, ";", &save))
			f[n++] = p;
		if (n < 10)
			continue;
		/* terse v3: version;fio;job;group;error;KiB;KiB/s;IOPS;ms */
		jobs++;
		error = atoll(f[4]);
		kib = atoll(f[5]);
		bw = atoll(f[6]);
		iops = atoll(f[7]);
		ms = atoll(f[8]);
		*reads += kib / 4;
		jobs_ok += !error && kib > 0;
		printf("# fio job %s: %lld random 4 KiB reads of %s in %s: %lld IOPS, %.1f MiB/s over %.1f s, error %lld%s\n",
		       f[2], kib / 4, fio_files, recipes[FIO_RECIPE].name, iops,
		       bw / 1024.0, ms / 1000.0, error,
		       !error && kib > 0 ? "" : " (a job must read, without error)");
	}
	if (o)
		fclose(o);
	printf("# fio: %d job(s) reported, %d read without error; exit %d%s\n",
	       jobs, jobs_ok,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
	       stopped ? " (stopped with the threads: SIGINT)" : "");
	if (stopped && WIFSIGNALED(status) && WTERMSIG(status) == SIGINT)
		printf("# fio had not begun its jobs when the run ended (it starts slowly: see the comment in fio_start)\n");
	/* two jobs: psync and mmap */
	ok = WIFEXITED(status) &&
	     (!WEXITSTATUS(status) || (stopped && WEXITSTATUS(status) == 128)) &&
	     jobs == 2 && jobs_ok == 2;
	if (!ok) {
		o = fopen(ROOT "/fio.err", "re");
		for (n = 0; o && n < 20 && fgets(line, sizeof(line), o); n++)
			printf("# fio: %s", line);
		if (o)
			fclose(o);
	}
	return ok ? 0 : -1;
}

/*
 * Beside fio, which does not look at what it reads: random 4 KiB reads of
 * FIO_MNT/large, by pread and through a mapping, each byte checked against
 * make-fixtures' pattern (8-byte word i: le32 i, le32 i ^ 0xa5a5a5a5).
 */
#define LARGE_XOR 0xa5a5a5a5u
#define LARGE_SIZE (6 << 20)
static struct {
	unsigned long reads[2], bad, errs;
} chk;

static unsigned char large_byte(uint64_t pos)
{
	uint32_t i = pos / 8, b = pos % 8;

	return (b < 4 ? i : i ^ LARGE_XOR) >> 8 * (b % 4);
}

/* 0 if BUF (LEN bytes read at POS) holds the pattern; else reports once. */
static int large_check(const unsigned char *buf, size_t len, uint64_t pos,
		       const char *how)
{
	size_t j;

	for (j = 0; j < len; j++) {
		if (buf[j] == large_byte(pos + j))
			continue;
		if (__atomic_add_fetch(&chk.bad, 1, __ATOMIC_RELAXED) <= 5)
			printf("# %s of %s/large at %llu: byte %llu is 0x%02x, not 0x%02x\n",
			       how, FIO_MNT, (unsigned long long)pos,
			       (unsigned long long)(pos + j), buf[j],
			       large_byte(pos + j));
		return -1;
	}
	return 0;
}

static void chk_error(const char *what)
{
	if (__atomic_add_fetch(&chk.errs, 1, __ATOMIC_RELAXED) <= 5)
		printf("# %s of %s/large: %s\n", what, FIO_MNT, strerror(errno));
}

/* ARG: 0 pread, 1 mmap */
static void *checker(void *arg)
{
	int how = (int)(intptr_t)arg, fd, slot = checker_slot + how;
	uint64_t s = 0x5eed + how;
	unsigned char buf[4096], *map = MAP_FAILED;

	doing[slot] = how ? "checked mmap read" : "checked pread";
	fd = open(FIO_MNT "/large", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		chk_error("open");
		beats[slot] = 0;
		return NULL;
	}
	if (how) {
		map = mmap(NULL, LARGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			chk_error("mmap");
			close(fd);
			beats[slot] = 0;
			return NULL;
		}
	}
	for (; !stop; beats[slot] = now_ms()) {
		uint64_t pos = rnd(&s) % (LARGE_SIZE - sizeof(buf) + 1);

		if (how) {
			memcpy(buf, map + pos, sizeof(buf));
		} else {
			ssize_t n = pread(fd, buf, sizeof(buf), pos);

			if (n != (ssize_t)sizeof(buf)) {
				if (n >= 0)
					errno = EIO;
				chk_error("pread");
				break;
			}
		}
		if (large_check(buf, sizeof(buf), pos, how ? "mmap read" : "pread"))
			break;
		__atomic_add_fetch(&chk.reads[how], 1, __ATOMIC_RELAXED);
		/* at most ~400 a second: leave the CPU to the walkers and fio */
		usleep(2500);
	}
	if (how)
		munmap(map, LARGE_SIZE);
	close(fd);
	beats[slot] = 0;
	return NULL;
}

/* Has fio (PID) a file under FIO_MNT open, i.e. begun its jobs? */
static bool fio_begun(pid_t pid)
{
	char dir[64], path[PATH_MAX + 64], target[PATH_MAX];
	struct dirent *d;
	bool found = false;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	dp = opendir(dir);
	while (dp && !found && (d = readdir(dp))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		found = !strncmp(target, FIO_MNT "/", strlen(FIO_MNT "/"));
	}
	if (dp)
		closedir(dp);
	return found;
}

int main(int argc, char **argv)
{
	int seconds = 60, nr_readers = 4, nr_mounters = 2, i, err, ctl;
	int loops_before, loops_after, mounts, stacks;
	pthread_t rt[MAX_READERS], mt[MAX_MOUNTERS], ft, ct[2];
	struct targ ta[MAX_READERS + MAX_MOUNTERS + 1];
	int nthreads;
	unsigned long long seed = 1;
	long long start, end;
	struct klog klog;
	unsigned long fio_reads = 0;
	int fio_status = 0, fio_err;
	bool fio_stopped = false;
	long long fio_began = 0;
	bool fio_done = false, fio_late = false;
	bool chk_ok;
	pid_t fio;
	bool leaks;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-d") && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			nr_readers = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-m") && i + 1 < argc)
			nr_mounters = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-s") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--mixed"))
			mixed = true;
		else if (!strcmp(argv[i], "--fio-files") && i + 1 < argc)
			fio_files = argv[++i];
		else {
			fprintf(stderr, "usage: stress [-d SECONDS] [-r READERS] [-m MOUNTERS] [-s SEED] [--mixed] [--fio-files NAME[:NAME...]]\n");
			return 2;
		}
	}
	if (nr_readers < 1 || nr_readers > MAX_READERS || nr_mounters < 1 ||
	    nr_mounters > MAX_MOUNTERS)
		return 2;
	printf("TAP version 13\n1..7\n");
	printf("# stress: %d s, %d readers, %d mounters, seed %llu\n", seconds,
	       nr_readers, nr_mounters, seed);
	err = klog_open(&klog);
	if (err) {
		printf("Bail out! cannot read /dev/kmsg: %s\n", strerror(-err));
		return 1;
	}
	err = private_ns_tmpfs(ROOT);
	if (err) {
		printf("Bail out! private mount namespace, tmpfs at %s: %s\n",
		       ROOT, strerror(-err));
		return 1;
	}
	loops_before = klog_loops_under(ROOT);
	mkdir(ROOT "/blobs", 0755);
	for (i = 0; i < (int)NR_BLOBS; i++) {
		struct blob *b = &blobs[i];
		char cmd[2 * PATH_MAX];

		snprintf(b->path, sizeof(b->path), ROOT "/blobs/%s",
			 blob_names[i]);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'",
			 fixture(blob_names[i]), b->path);
		if (run(cmd) || sha256_file(b->path, &b->digest)) {
			printf("Bail out! cannot copy fixture %s (make builds them)\n",
			       fixture(blob_names[i]));
			return 1;
		}
		b->size = file_size(b->path);
		b->loop = loop_attach(b->path, true, NULL);
		b->file = open(b->path, O_RDONLY | O_CLOEXEC);
		if (b->loop < 0 || b->file < 0) {
			printf("Bail out! loop device or open of %s: %s\n",
			       b->path, strerror(b->loop < 0 ? -b->loop : errno));
			return 1;
		}
	}
	for (i = 0; i < NR_MNT; i++) {
		pthread_mutex_init(&mnts[i].lock, NULL);
		snprintf(mnts[i].dir, sizeof(mnts[i].dir), ROOT "/m%d", i);
		mkdir(mnts[i].dir, 0755);
		mnts[i].recipe = -1;
	}
	for (i = 0; i < (int)NR_RECIPES; i++)
		pthread_mutex_init(&sigs[i].lock, NULL);
	/* Held open for the whole run: rmmod must be refused. */
	ctl = ctl_open();
	err = fio_mount();
	if (err) {
		fflush(stdout);
		run("{ cat /proc/fs/atomfs/stats; ls /proc/fs/atomfs; grep . /sys/module/atomfs/parameters/*; } 2>&1 | sed 's/^/# /'");
		printf("Bail out! cannot mount %s for fio on %s: %s\n",
		       recipes[FIO_RECIPE].name, FIO_MNT, strerror(-err));
		return 1;
	}
	fio = fio_start(seconds, seed);
	if (fio < 0) {
		printf("Bail out! cannot fork for fio: %s\n", strerror(errno));
		return 1;
	}

	start = now_ms();
	nthreads = nr_readers + nr_mounters + 1;
	for (i = 0; i < nthreads; i++) {
		ta[i].seed = seed * 1000 + i;
		ta[i].slot = i;
		beats[i] = start;
	}
	/* The checkers are watched too: a hung read is a stuck thread. */
	checker_slot = nthreads;
	beats[nthreads] = beats[nthreads + 1] = start;
	for (i = 0; i < nr_readers; i++)
		pthread_create(&rt[i], NULL, reader, &ta[i]);
	for (i = 0; i < nr_mounters; i++)
		pthread_create(&mt[i], NULL, mounter, &ta[nr_readers + i]);
	pthread_create(&ft, NULL, flipper, &ta[nthreads - 1]);
	for (i = 0; i < 2; i++)
		pthread_create(&ct[i], NULL, checker, (void *)(intptr_t)i);
	for (;;) {
		bool running = false;
		long long now = now_ms();

		usleep(500000);
		klog_poll(&klog, "stress");
		for (i = 0; i < nthreads + 2; i++) {
			long long b = beats[i];

			running |= b != 0;
			if (b && now - b > STUCK_SECONDS * 1000LL) {
				printf("# thread %d stuck in %s for %lld s; blocked tasks and held locks: see the kernel log (sysrq w, d)\n",
				       i, doing[i], (now - b) / 1000);
				klog_dump_blocked();
				klog_poll(&klog, "stress");
				printf("not ok 1 stress.no_errors # SKIP a thread is stuck\n");
				printf("not ok 2 stress.walks_consistent # SKIP a thread is stuck\n");
				printf("not ok 3 stress.rmmod_refused_while_in_use # SKIP a thread is stuck\n");
				printf("%s 4 stress.kernel_log_clean\n",
				       klog.bad ? "not ok" : "ok");
				printf("not ok 5 stress.nothing_left_behind # SKIP a thread is stuck\n");
				printf("not ok 6 stress.fio_random_reads # SKIP a thread is stuck\n");
				printf("not ok 7 stress.random_reads_verified # SKIP a thread is stuck\n");
				fflush(stdout);
				_exit(1);
			}
		}
		if (!running)
			break;
		/*
		 * The window ends SECONDS after the start, but not before fio
		 * has begun reading (its start takes 16 s or more in the debug
		 * guest) and read for FIO_MIN_SECONDS; at most FIO_WAIT_SECONDS.
		 */
		if (!fio_done && waitpid(fio, &fio_status, WNOHANG) == fio)
			fio_done = true;
		if (!fio_began && !fio_done && fio_begun(fio)) {
			fio_began = now;
			printf("# fio began reading %.1f s after the start\n",
			       (now - start) / 1000.0);
		}
		if (now - start >= seconds * 1000LL &&
		    (fio_done || (fio_began &&
				  now - fio_began >= FIO_MIN_SECONDS * 1000LL)))
			stop = 1;
		if (!fio_began && !fio_done && !fio_late &&
		    now - start >= FIO_WAIT_SECONDS * 1000LL) {
			fio_late = true;
			printf("# fio had not begun reading (no file of %s open) %d s after the start: stopping the run\n",
			       FIO_MNT, FIO_WAIT_SECONDS);
			stop = 1;
		}
	}
	for (i = 0; i < nr_readers; i++)
		pthread_join(rt[i], NULL);
	for (i = 0; i < nr_mounters; i++)
		pthread_join(mt[i], NULL);
	pthread_join(ft, NULL);
	for (i = 0; i < 2; i++)
		pthread_join(ct[i], NULL);
	end = now_ms();
	/*
	 * fio's runtime is SECONDS from its start, which comes seconds after
	 * the threads' (TCG, 100 libraries to load): stop it with the threads
	 * (which ran until it had read for FIO_MIN_SECONDS), as ^C does (it
	 * prints its figures and exits 128).
	 */
	if (!fio_done && !waitpid(fio, &fio_status, WNOHANG)) {
		kill(fio, SIGINT);
		fio_stopped = true;
	} else {
		fio = 0;
	}
	for (i = 0; fio && i < STUCK_SECONDS * 10 && !waitpid(fio, &fio_status, WNOHANG); i++)
		usleep(100000);
	if (fio && i == STUCK_SECONDS * 10) {
		printf("# fio still running %d s after the run; blocked tasks and held locks: see the kernel log (sysrq w, d)\n",
		       STUCK_SECONDS);
		klog_dump_blocked();
		kill(fio, SIGKILL);
		waitpid(fio, &fio_status, 0);
	}

	umount_below(ROOT, true);
	for (i = 0; i < (int)NR_BLOBS; i++) {
		close(blobs[i].loop);
		close(blobs[i].file);
	}
	if (ctl >= 0)
		close(ctl);
	mounts = count_mounts("atomfs");
	loops_after = klog_wait_loops_under(ROOT, 30000);
	for (i = 0; i < 300 && (stacks = count_stacks()) > 0; i++)
		usleep(100000);
	klog_poll(&klog, "stress");

	printf("# %.1f s:\n", (end - start) / 1000.0);
	for (i = 0; i < C_NR; i++)
		printf("#   %-20s %9lu  %8.1f/s\n", count_names[i], counts[i],
		       counts[i] * 1000.0 / (end - start + 1));
	for (i = 0; i < (int)NR_RECIPES; i++)
		printf("#   walks of %-14s %lu\n", recipes[i].name,
		       sigs[i].walks);
	fio_err = fio_report(fio_status, fio_stopped, &fio_reads);
	if (fio_late) {
		printf("# fio had not begun reading %d s after the start (see above)\n",
		       FIO_WAIT_SECONDS);
		fio_err = -1;
	}
	printf("# checked reads of %s/large: %lu by pread, %lu through mmap; %lu mismatch(es), %lu error(s)\n",
	       FIO_MNT, chk.reads[0], chk.reads[1], chk.bad, chk.errs);
	chk_ok = !chk.bad && !chk.errs && chk.reads[0] && chk.reads[1];
	printf("# kernel log: %lu record(s) read, %lu report(s)\n",
	       klog.records, klog.bad);
	leaks = mounts || loops_after > 0 || stacks;
	printf("%s 1 stress.no_errors%s\n",
	       errors - mismatches - rmmod_ok || !counts[C_WALK] ||
			       !counts[C_MOUNT] ? "not ok" : "ok",
	       counts[C_WALK] && counts[C_MOUNT] ? "" : " # nothing was walked or mounted");
	printf("%s 2 stress.walks_consistent\n", mismatches ? "not ok" : "ok");
	printf("%s 3 stress.rmmod_refused_while_in_use # %lu attempt(s)\n",
	       rmmod_ok || !counts[C_RMMOD] ? "not ok" : "ok", counts[C_RMMOD]);
	printf("%s 4 stress.kernel_log_clean\n", klog.bad ? "not ok" : "ok");
	printf("%s 5 stress.nothing_left_behind # %d atomfs mount(s), %d loop device(s) of ours (%d before), %d stack(s) in /proc/fs/atomfs\n",
	       leaks ? "not ok" : "ok", mounts, loops_after, loops_before,
	       stacks);
	printf("%s 6 stress.fio_random_reads # %lu reads\n",
	       fio_err ? "not ok" : "ok", fio_reads);
	printf("%s 7 stress.random_reads_verified # %lu pread, %lu mmap reads checked\n",
	       chk_ok ? "ok" : "not ok", chk.reads[0], chk.reads[1]);
	return errors || klog.bad || leaks || fio_err || !chk_ok || !counts[C_WALK] ||
			       !counts[C_MOUNT] || !counts[C_RMMOD] ? 1 : 0;
}
