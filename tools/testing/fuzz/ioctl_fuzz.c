// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl_fuzz: a structure-aware random fuzzer of the atomfs ioctls, run as
 * root inside the test VM (best on the debug kernel: KASAN, lockdep).
 *
 *   ioctl_fuzz [-s SEED] [-d SECONDS | -n ITERATIONS] [-t THREADS]
 *              [--disallow ERRNO]... [--kmsg-selftest] [-v]
 *
 * THREADS threads (default 4) each draw operations from their own PRNG,
 * seeded from SEED and the thread's number: ATOMFS_IOC_CREATE_STACK (with
 * and without ATOMFS_LAYER_REHASH), ATOMFS_IOC_QUERY_LAYER,
 * ATOMFS_IOC_GET_INFO, unknown ioctls, mount of a stack fd (mount(2) and
 * fsmount), umount (lazy too), walks of the mounts, close, flips of the
 * module parameters, and the making of new descriptors of every kind: loop
 * devices read-only and writable, blob files read-only and read-write,
 * directories (O_PATH too), sockets, pipes, /dev/atomfs, stack fds, files of
 * atomfs mounts, /dev/null and numbers that are not open. Descriptors are
 * shared between the threads, so one thread closes or reuses what another
 * is passing to the kernel.
 *
 * A run fails (TAP "not ok", exit 1) on an errno that the uapi document
 * (Documentation/userspace-api/atomfs.rst) does not list for the call, on
 * an invalid request that succeeds, on a wrong output field, on any
 * report in the kernel log (read from /dev/kmsg from the start of the run),
 * on a thread stuck for 5 minutes, and on loop devices, mounts or stacks
 * left after everything was closed.
 *
 * Reproducing: the sequence of operations of each thread follows from the
 * seed; the interleaving of the threads does not. With -t 1 -n N the run
 * is one sequence, the same on every run (the kernel's state, such as loop
 * numbers, may still differ).
 *
 * --disallow ERRNO (e.g. EBADF) removes ERRNO from every allowed table, and
 * --kmsg-selftest writes a fake WARNING line to /dev/kmsg: both must make
 * the run fail (they show that the two checks work).
 */
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/statfs.h>

#include "../selftests/filesystems/atomfs/atomfs_util.h"
#include "klog.h"

#define ROOT "/run/atomfs-fuzz"
#define MAX_THREADS 16
#define MNT_PER_THREAD 2
#define POOL_MAX 48
#define BUF_LAYERS 72	/* the most layers a request carries in memory */
#define STUCK_SECONDS 120

/* --- the PRNG: splitmix64, one state per thread --- */
struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int below(struct rng *r, unsigned int n)
{
	return n ? rnd(r) % n : 0;
}

/* true with probability PCT percent */
static bool pct(struct rng *r, unsigned int p)
{
	return below(r, 100) < p;
}

/* --- blobs: squashfs layers copied into the guest's tmpfs --- */
struct blob {
	char path[PATH_MAX];
	long long size;
	struct atomfs_digest digest;
};

static const char *const blob_names[] = {
	"top_ovl.sqfs", "top_oci.sqfs", "top2_ovl.sqfs", "top2_oci.sqfs",
	"diff_mid.sqfs", "bigA.sqfs", "bigB.sqfs", "many/0000.sqfs",
	"many/0001.sqfs", "many/0002.sqfs", "many/0003.sqfs", "base.sqfs",
	"nosquash.img",
};
#define NR_BLOBS (sizeof(blob_names) / sizeof(blob_names[0]))
static struct blob blobs[NR_BLOBS];

/* --- descriptors shared by the threads --- */
enum kind {
	K_LOOP_RO, K_LOOP_RW, K_FILE_RO, K_FILE_RW, K_DIR, K_DIR_PATH,
	K_SOCK, K_PIPE, K_CTL, K_STACK, K_MNTFILE, K_DEVNULL, K_NR
};
static const char *const kind_names[K_NR] = {
	"loop-ro", "loop-rw", "file-ro", "file-rw", "dir", "dir-opath",
	"socket", "pipe", "ctl", "stack", "mount-file", "devnull",
};

struct slot {
	int fd;
	int kind;
	int blob;	/* index in blobs[], or -1 */
};

static struct {
	pthread_mutex_t lock;
	struct slot s[POOL_MAX];
	int n;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* --- operations, their counters and allowed errnos --- */
enum op {
	OP_CREATE, OP_REHASH, OP_QUERY, OP_INFO, OP_INFO_FOREIGN, OP_BADIOCTL,
	OP_MOUNT, OP_UMOUNT, OP_WALK, OP_CLOSE, OP_NEWFD, OP_PARAM, OP_NR
};
static const char *const op_names[OP_NR] = {
	"create-stack", "create-rehash", "query-layer", "get-info",
	"get-info-foreign", "unknown-ioctl", "mount", "umount", "walk",
	"close", "new-fd", "param-flip",
};
/* Relative weights of the operations. */
static const unsigned int op_weight[OP_NR] = {
	30, 8, 10, 8, 3, 3, 10, 6, 5, 6, 10, 2,
};

/*
 * The errnos each call may return (allowed[OP][ERRNO]): from
 * Documentation/userspace-api/atomfs.rst for the ioctls, from the man pages
 * for the system calls around them.
 */
#define MAX_ERRNO 140
struct counters {
	unsigned long calls, ok;
	unsigned long err[MAX_ERRNO];
};
static struct counters stats[OP_NR];

static bool allowed[OP_NR][MAX_ERRNO];
static bool disallowed[MAX_ERRNO];

/* allow(OP, ERRNO..., 0) */
static void allow(int op, ...)
{
	va_list ap;
	int e;

	va_start(ap, op);
	while ((e = va_arg(ap, int)))
		allowed[op][e] = true;
	va_end(ap);
}

static void init_allowed(void)
{
	int op;

	for (op = OP_CREATE; op <= OP_REHASH; op++)
		allow(op, EINVAL, E2BIG, EBADF, ENOTBLK, ENOTDIR, EACCES,
		      ETXTBSY, EMSGSIZE, EBADMSG, ENOENT, EINTR, EBUSY, EFAULT,
		      EPERM, ENOMEM, 0);
	allow(OP_QUERY, EINVAL, EFAULT, 0);
	/* ENOTTY: the file is on the tmpfs below, not on atomfs */
	allow(OP_INFO, EINVAL, E2BIG, EPERM, EFAULT, ENOTTY, 0);
	/* GET_INFO's number on other files: theirs to answer */
	allow(OP_INFO_FOREIGN, ENOTTY, EINVAL, EBADF, EFAULT, E2BIG, 0);
	allow(OP_BADIOCTL, ENOTTY, 0);
	/* mount(2): not a stack fd (EINVAL), unverified stack (EPERM) */
	allow(OP_MOUNT, EINVAL, EPERM, EBADF, ENOMEM, 0);
	allow(OP_UMOUNT, EINVAL, EBUSY, 0);
	/* opening a blob for writing while the module holds it */
	allow(OP_NEWFD, ETXTBSY, EBUSY, ENOMEM, 0);
	/* kstrtouint: EINVAL, ERANGE */
	allow(OP_PARAM, EINVAL, ERANGE, 0);
}

static bool verbose;
static volatile int stop;
static unsigned long unexpected;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

struct thread {
	pthread_t tid;
	int id;
	struct rng r;
	unsigned long iterations;
	volatile long long beat;	/* now_ms() at the start of the op */
	volatile int op;
	char mnt[MNT_PER_THREAD][64];
	/* a page-end buffer: reads past what we own fault (EFAULT) */
	char *guard_buf;	/* BUF_LAYERS * 120 bytes before a PROT_NONE page */
	size_t guard_len;
};
static struct thread threads[MAX_THREADS];
static int nr_threads = 4;

static void report(struct thread *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void report(struct thread *t, const char *fmt, ...)
{
	va_list ap;
	unsigned long n = __atomic_add_fetch(&unexpected, 1, __ATOMIC_RELAXED);

	if (n > 50)
		return;
	pthread_mutex_lock(&out_lock);
	printf("# thread %d, iteration %lu: ", t->id, t->iterations);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/*
 * Count the result of one call of OP (RET < 0: failed with ERR) and check
 * ERR against the table. MUST_FAIL: the request was invalid, success is a
 * defect. Returns true when the call succeeded.
 */
static bool account(struct thread *t, int op, long ret, int err,
		    bool must_fail, const char *what)
{
	struct counters *c = &stats[op];

	__atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
	if (ret >= 0) {
		__atomic_add_fetch(&c->ok, 1, __ATOMIC_RELAXED);
		if (must_fail)
			report(t, "%s: an invalid request succeeded (%s)",
			       op_names[op], what);
		return true;
	}
	if (err <= 0 || err >= MAX_ERRNO) {
		report(t, "%s: errno %d out of range (%s)", op_names[op], err,
		       what);
		return false;
	}
	__atomic_add_fetch(&c->err[err], 1, __ATOMIC_RELAXED);
	if (!allowed[op][err] || disallowed[err])
		report(t, "%s: unexpected %s (%s)", op_names[op],
		       strerrorname_np(err) ?: "?", what);
	return false;
}

/* --- the pool --- */
static bool pool_pick(struct rng *r, struct slot *out, int kind)
{
	bool found = false;
	int i, start;

	pthread_mutex_lock(&pool.lock);
	if (pool.n) {
		start = below(r, pool.n);
		for (i = 0; i < pool.n; i++) {
			struct slot *s = &pool.s[(start + i) % pool.n];

			if (kind < 0 || s->kind == kind) {
				*out = *s;
				found = true;
				break;
			}
		}
	}
	pthread_mutex_unlock(&pool.lock);
	return found;
}

/* Take a random slot out of the pool (to close it); false if empty. */
static bool pool_take(struct rng *r, struct slot *out)
{
	bool found = false;

	pthread_mutex_lock(&pool.lock);
	if (pool.n) {
		int i = below(r, pool.n);

		*out = pool.s[i];
		pool.s[i] = pool.s[--pool.n];
		found = true;
	}
	pthread_mutex_unlock(&pool.lock);
	return found;
}

static void pool_add(struct rng *r, int fd, int kind, int blob)
{
	struct slot old = { .fd = -1 };

	pthread_mutex_lock(&pool.lock);
	if (pool.n == POOL_MAX) {
		int i = below(r, pool.n);

		old = pool.s[i];
		pool.s[i] = (struct slot){ fd, kind, blob };
	} else {
		pool.s[pool.n++] = (struct slot){ fd, kind, blob };
	}
	pthread_mutex_unlock(&pool.lock);
	if (old.fd >= 0)
		close(old.fd);
}

/* A number that is not open: the pool never grows this far. */
static uint32_t closed_fd(struct rng *r)
{
	static const uint32_t odd[] = { 900, 1023, 0x7fffffff, 0xfffffffe,
					0x80000000, 65536 };

	if (pct(r, 50))
		return 900 + below(r, 100);
	return odd[below(r, sizeof(odd) / sizeof(odd[0]))];
}

/* A pointer that faults (or is NULL). */
static uint64_t bad_ptr(struct rng *r)
{
	static const uint64_t p[] = { 0, 1, 0xffffffffffffffffULL,
				      0xffff888000000000ULL, 0x1000,
				      0x00007ffffffff000ULL };

	return p[below(r, sizeof(p) / sizeof(p[0]))];
}

/* --- building requests --- */
static bool digest_valid(const struct atomfs_digest *d)
{
	const uint8_t *b = (const uint8_t *)d->bytes;
	unsigned int i, from;

	if (d->algo == ATOMFS_DIGEST_NONE)
		from = 0;
	else if (d->algo == ATOMFS_DIGEST_SHA256 && d->size == 32)
		from = 32;
	else
		return false;
	if (d->algo == ATOMFS_DIGEST_NONE && d->size)
		return false;
	for (i = from; i < sizeof(d->bytes); i++)
		if (b[i])
			return false;
	return true;
}

/*
 * Fill D for blob B (-1: none known): mostly right, else one of the ways
 * of being wrong. *BAD is set when the digest cannot match any held layer.
 */
static void fuzz_digest(struct rng *r, struct atomfs_digest *d, int b,
			bool *bad)
{
	uint8_t *bytes = (uint8_t *)d->bytes;

	memset(d, 0, sizeof(*d));
	if (b >= 0)
		*d = blobs[b].digest;
	else
		*d = blobs[below(r, NR_BLOBS)].digest;
	if (pct(r, 80))
		return;
	switch (below(r, 6)) {
	case 0: /* none */
		memset(d, 0, sizeof(*d));
		break;
	case 1: /* one byte of the hash flipped: matches nothing */
		bytes[below(r, 32)] ^= 1 + below(r, 255);
		*bad = true;
		break;
	case 2:
		d->algo = pct(r, 50) ? ATOMFS_DIGEST_SHA512 : (uint32_t)rnd(r);
		break;
	case 3:
		d->size = pct(r, 50) ? 64 : (uint32_t)rnd(r);
		break;
	case 4: /* a byte beyond the digest */
		bytes[32 + below(r, 32)] = 1 + below(r, 255);
		break;
	default: /* random digest */
		for (unsigned int i = 0; i < 32; i++)
			bytes[i] = rnd(r);
		*bad = true;
		break;
	}
}

static uint64_t fuzz_size(struct rng *r, long long right)
{
	static const uint64_t odd[] = { 0, 1, 511, 512, 4095, 4096,
					0x7fffffffffffffffULL,
					0xffffffffffffffffULL, 1ULL << 32 };

	if (pct(r, 80))
		return right;
	if (pct(r, 50) && right > 0)
		return right + (pct(r, 50) ? 512 : -512) * (1 + below(r, 8));
	return odd[below(r, sizeof(odd) / sizeof(odd[0]))];
}

/*
 * One layer descriptor: CLEAN, a right one for a descriptor of a layer kind
 * (or ATOMFS_NO_FD for a known digest); else anything. *INVALID: the
 * descriptor breaks a rule of the ABI that no state of the kernel makes
 * right.
 */
static void fuzz_layer(struct thread *t, struct atomfs_layer *l, bool rehash,
		       bool clean, bool *invalid)
{
	struct rng *r = &t->r;
	struct slot s = { .fd = -1, .kind = -1, .blob = -1 };
	bool bad = false;

	memset(l, 0, sizeof(*l));
	if (clean) {
		/* a descriptor the kernel can take, if the fd stays open */
		static const int kinds[] = { K_LOOP_RO, K_LOOP_RO, K_FILE_RO,
					     K_FILE_RO, K_DIR_PATH };

		if (!pct(r, 20) &&
		    pool_pick(r, &s, kinds[below(r, 5)])) {
			l->fd = s.fd;
		} else {
			l->fd = ATOMFS_NO_FD;
			s.blob = below(r, NR_BLOBS - 1); /* not nosquash */
		}
		if (s.kind == K_FILE_RO)
			l->flags = ATOMFS_LAYER_FILE;
		if (s.kind == K_DIR_PATH) {
			l->flags = ATOMFS_LAYER_DIR;
			return;
		}
		if (rehash)
			l->flags |= ATOMFS_LAYER_REHASH;
		l->size = blobs[s.blob].size;
		l->digest = blobs[s.blob].digest;
		return;
	}
	if (rehash && pct(r, 70)) {
		l->fd = ATOMFS_NO_FD;
		s.blob = below(r, NR_BLOBS);
	} else if (pct(r, 85) && pool_pick(r, &s, -1)) {
		l->fd = s.fd;
	} else if (pct(r, 50)) {
		l->fd = ATOMFS_NO_FD;
		s.blob = below(r, NR_BLOBS);
	} else {
		l->fd = closed_fd(r);
	}
	switch (s.kind) {
	case K_FILE_RO:
	case K_FILE_RW:
		l->flags = ATOMFS_LAYER_FILE;
		break;
	case K_DIR:
	case K_DIR_PATH:
	case K_MNTFILE:
		l->flags = ATOMFS_LAYER_DIR;
		break;
	default:
		break;
	}
	if (rehash)
		l->flags |= ATOMFS_LAYER_REHASH;
	if (pct(r, 10))
		l->flags = 1U << below(r, 5) | (pct(r, 30) ? ATOMFS_LAYER_REHASH : 0);
	if (pct(r, 3))
		l->flags = rnd(r);
	if (l->flags & ATOMFS_LAYER_DIR && !pct(r, 10)) {
		l->size = 0;
	} else {
		l->size = fuzz_size(r, s.blob >= 0 ? blobs[s.blob].size : 4096);
		fuzz_digest(r, &l->digest, s.blob, &bad);
	}
	if (pct(r, 4))
		l->reserved[below(r, 4)] = rnd(r) | 1;

	if ((l->flags & ~ATOMFS_LAYER_ALL) || !digest_valid(&l->digest) ||
	    l->reserved[0] || l->reserved[1] || l->reserved[2] ||
	    l->reserved[3] || bad)
		*invalid = true;
	if ((l->flags & ATOMFS_LAYER_FILE) &&
	    ((l->flags & ATOMFS_LAYER_DIR) || l->fd == ATOMFS_NO_FD))
		*invalid = true;
	if ((l->flags & ATOMFS_LAYER_DIR) &&
	    (l->size || l->digest.algo || (l->flags & ATOMFS_LAYER_REHASH)))
		*invalid = true;
	if (l->digest.algo == ATOMFS_DIGEST_NONE &&
	    ((l->flags & ATOMFS_LAYER_REHASH) || l->fd == ATOMFS_NO_FD))
		*invalid = true;
}

static void op_create(struct thread *t, bool rehash)
{
	static const uint32_t huge[] = { 4096, 4097, 65535, 65536, 1U << 31,
					 0xffffffffU, 100000 };
	struct rng *r = &t->r;
	struct atomfs_layer layers[BUF_LAYERS];
	struct atomfs_create_stack cs;
	char label[ATOMFS_LABEL_MAX + 8];
	bool invalid = false, inbuf = true, clean;
	uint32_t nr, i, built;
	char what[160];
	int fd, ctl, err;

	clean = pct(r, 50);
	switch (clean ? 9 : below(r, 10)) {
	case 0:
		nr = 0;
		invalid = true;
		break;
	case 1:
		nr = 5 + below(r, BUF_LAYERS - 5);
		break;
	case 2:
		nr = huge[below(r, sizeof(huge) / sizeof(huge[0]))];
		inbuf = false;
		if (nr > 65535)
			invalid = true;
		break;
	default:
		nr = 1 + below(r, 4);
		break;
	}
	built = nr < BUF_LAYERS ? nr : BUF_LAYERS;
	for (i = 0; i < built; i++)
		fuzz_layer(t, &layers[i], rehash, clean,
			   inbuf ? &invalid : &(bool){0});
	memset(&cs, 0, sizeof(cs));
	cs.nr_layers = nr;
	cs.failed_layer = 0xdeadbeef;
	cs.layers = (uintptr_t)layers;
	if (!inbuf && pct(r, 50)) {
		/* the array ends at an unmapped page: EFAULT past it */
		char *at = t->guard_buf + t->guard_len -
			   built * sizeof(layers[0]);

		memcpy(at, layers, built * sizeof(layers[0]));
		cs.layers = (uintptr_t)at;
	}
	if (!clean && pct(r, 3)) {
		cs.layers = bad_ptr(r);
		if (nr)
			invalid = true;
	}
	cs.whiteout = clean || pct(r, 95) ? below(r, 4) : (uint32_t)rnd(r);
	if (cs.whiteout > 3)
		invalid = true;
	if (!clean && pct(r, 3)) {
		cs.flags = rnd(r) | 1;
		invalid = true;
	}
	if (!clean && pct(r, 3)) {
		cs.reserved[below(r, 4)] = rnd(r) | 1;
		invalid = true;
	}
	switch (clean ? (int[]){ 0, 2, 4, 4 }[below(r, 4)] : (int)below(r, 10)) {
	case 0:
		cs.label = 0;
		break;
	case 1: /* no NUL within ATOMFS_LABEL_MAX */
		memset(label, 'x', sizeof(label));
		cs.label = (uintptr_t)label;
		invalid = true;
		break;
	case 2: /* the longest label */
		memset(label, 'y', ATOMFS_LABEL_MAX - 1);
		label[ATOMFS_LABEL_MAX - 1] = 0;
		cs.label = (uintptr_t)label;
		break;
	case 3:
		cs.label = bad_ptr(r);
		if (cs.label)
			invalid = true;
		break;
	default:
		snprintf(label, sizeof(label), "fuzz-%d-%lu", t->id,
			 t->iterations);
		cs.label = (uintptr_t)label;
		break;
	}

	snprintf(what, sizeof(what),
		 "nr %u, layer0 fd %u flags %#x size %llu algo %u, whiteout %#x",
		 nr, built ? layers[0].fd : 0, built ? layers[0].flags : 0,
		 built ? (unsigned long long)layers[0].size : 0ULL,
		 built ? layers[0].digest.algo : 0, cs.whiteout);
	ctl = ctl_open();
	if (ctl < 0) {
		report(t, "cannot open %s: %s", ATOMFS_CTL_DEVICE,
		       strerror(-ctl));
		return;
	}
	fd = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, &cs);
	err = errno;
	close(ctl);
	if (!account(t, rehash ? OP_REHASH : OP_CREATE, fd, err, invalid,
		     what)) {
		if (cs.failed_layer != ATOMFS_NO_LAYER &&
		    (cs.failed_layer >= nr) && err != EFAULT)
			report(t, "create-stack: failed_layer %#x with %u layers (%s, %s)",
			       cs.failed_layer, nr, strerrorname_np(err), what);
		return;
	}
	if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
		report(t, "create-stack: stack fd %d is not O_CLOEXEC", fd);
	if (verbose)
		printf("# thread %d: stack fd %d (%s)\n", t->id, fd, what);
	pool_add(r, fd, K_STACK, -1);
}

static void op_query(struct thread *t)
{
	struct rng *r = &t->r;
	struct atomfs_query_layer q;
	int b = below(r, NR_BLOBS), ctl, ret, err;
	bool invalid = false, bad = false;
	char what[96];

	memset(&q, 0, sizeof(q));
	fuzz_digest(r, &q.digest, b, &bad);
	if (q.digest.algo != ATOMFS_DIGEST_SHA256 || !digest_valid(&q.digest))
		invalid = true;
	if (pct(r, 5)) {
		q.reserved32 = rnd(r) | 1;
		invalid = true;
	}
	if (pct(r, 5)) {
		q.reserved[below(r, 4)] = rnd(r) | 1;
		invalid = true;
	}
	q.flags = pct(r, 10) ? rnd(r) : 0; /* outputs: ignored on input */
	q.size = pct(r, 10) ? rnd(r) : 0;
	snprintf(what, sizeof(what), "blob %d algo %u size %u%s", b,
		 q.digest.algo, q.digest.size, bad ? " wrong" : "");
	ctl = ctl_open();
	if (ctl < 0)
		return;
	if (pct(r, 3)) {
		ret = ioctl(ctl, ATOMFS_IOC_QUERY_LAYER, (void *)bad_ptr(r));
		err = errno;
		close(ctl);
		account(t, OP_QUERY, ret, err, true, "bad pointer");
		return;
	}
	ret = ioctl(ctl, ATOMFS_IOC_QUERY_LAYER, &q);
	err = errno;
	close(ctl);
	if (!account(t, OP_QUERY, ret, err, invalid, what))
		return;
	if (q.flags & ~ATOMFS_QUERY_ALL)
		report(t, "query-layer: unknown flags %#x out", q.flags);
	if ((q.flags & ATOMFS_QUERY_HELD) && !bad &&
	    q.size != (uint64_t)blobs[b].size)
		report(t, "query-layer: %s held with size %llu, not %lld",
		       blob_names[b], (unsigned long long)q.size,
		       blobs[b].size);
	if ((q.flags & ATOMFS_QUERY_HELD) && bad)
		report(t, "query-layer: a wrong digest is held (%s)", what);
}

static void op_info(struct thread *t)
{
	struct rng *r = &t->r;
	const char *dir = threads[below(r, nr_threads)].mnt[below(r, MNT_PER_THREAD)];
	struct atomfs_layer_info *li;
	size_t li_max = t->guard_len / sizeof(*li);
	struct atomfs_info info;
	bool invalid = false, on_atomfs;
	char label[ATOMFS_LABEL_MAX + 1];
	struct statfs sfs;
	char what[96];
	int fd, ret, err;
	uint32_t cap, i;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		report(t, "cannot open %s: %s", dir, strerror(errno));
		return;
	}
	on_atomfs = !fstatfs(fd, &sfs) && sfs.f_type == ATOMFS_SUPER_MAGIC;
	/* the layer array ends where the guard page starts */
	li = (void *)(t->guard_buf + t->guard_len - li_max * sizeof(*li));
	memset(&info, 0, sizeof(info));
	switch (below(r, 5)) {
	case 0:
		cap = 0;
		break;
	case 1: /* more than the buffer holds */
		cap = pct(r, 50) ? 0xffffffffU : li_max + below(r, 100);
		break;
	default:
		cap = 1 + below(r, 8);
		break;
	}
	info.nr_layers = cap;
	info.layers = (uintptr_t)li;
	info.label = (uintptr_t)label;
	info.label_size = pct(r, 20) ? below(r, 8) : sizeof(label);
	if (pct(r, 5))
		info.layers = bad_ptr(r);
	if (pct(r, 5))
		info.label = bad_ptr(r);
	if (pct(r, 4)) {
		info.flags = rnd(r) | 1;
		invalid = true;
	}
	if (pct(r, 4)) {
		info.reserved[below(r, 3)] = rnd(r) | 1;
		invalid = true;
	}
	/* outputs: ignored on input */
	info.whiteout = pct(r, 10) ? rnd(r) : 0;
	info.id = pct(r, 10) ? rnd(r) : 0;
	snprintf(what, sizeof(what), "%s on %s, capacity %u, label %u",
		 on_atomfs ? "atomfs" : "tmpfs", dir, cap, info.label_size);
	if (pct(r, 3)) {
		ret = ioctl(fd, ATOMFS_IOC_GET_INFO, (void *)bad_ptr(r));
		err = errno;
		account(t, OP_INFO, ret, err, true, "bad pointer");
		goto out;
	}
	ret = ioctl(fd, ATOMFS_IOC_GET_INFO, &info);
	err = errno;
	if (!account(t, OP_INFO, ret, err, invalid || !on_atomfs, what)) {
		if (!on_atomfs && err != ENOTTY)
			report(t, "get-info: %s, not ENOTTY, from tmpfs",
			       strerrorname_np(err));
		else if (on_atomfs && invalid && err != EINVAL)
			report(t, "get-info: %s, not EINVAL, for nonzero flags or reserved fields (%s)",
			       strerrorname_np(err), what);
		else if (err == E2BIG && (!info.nr_layers || !info.label_size))
			report(t, "get-info: E2BIG with %u layers, label size %u written back",
			       info.nr_layers, info.label_size);
		goto out;
	}
	if (!info.nr_layers || info.nr_layers > cap || !info.label_size ||
	    info.label_size > sizeof(label) || !info.id ||
	    info.whiteout > ATOMFS_WHITEOUT_BOTH) {
		report(t, "get-info: odd output: %u layers, label size %u, id %llu, whiteout %u (%s)",
		       info.nr_layers, info.label_size,
		       (unsigned long long)info.id, info.whiteout, what);
		goto out;
	}
	if (label[info.label_size - 1] || strlen(label) != info.label_size - 1)
		report(t, "get-info: label not NUL-terminated at its size %u",
		       info.label_size);
	for (i = 0; i < info.nr_layers; i++) {
		if (li[i].index != i || (li[i].flags & ~ATOMFS_INFO_ALL) ||
		    li[i].reserved[0] || li[i].reserved[1]) {
			report(t, "get-info: layer %u: index %u flags %#x", i,
			       li[i].index, li[i].flags);
			break;
		}
	}
out:
	close(fd);
}

/* GET_INFO's number on descriptors that are not atomfs files. */
static void op_info_foreign(struct thread *t)
{
	struct atomfs_info info;
	struct slot s;
	int ret;

	memset(&info, 0, sizeof(info));
	if (!pool_pick(&t->r, &s, -1))
		return;
	if (s.kind == K_MNTFILE)
		return; /* op_info's */
	ret = ioctl(s.fd, ATOMFS_IOC_GET_INFO, &info);
	account(t, OP_INFO_FOREIGN, ret, errno, false, kind_names[s.kind]);
}

/* Other ioctl numbers on /dev/atomfs: ENOTTY, always. */
static void op_badioctl(struct thread *t)
{
	struct rng *r = &t->r;
	unsigned long cmd;
	char arg[512] = { 0 };
	char what[64];
	int ctl, ret, err;

	switch (below(r, 5)) {
	case 0:
		cmd = _IOC(_IOC_READ | _IOC_WRITE, ATOMFS_IOC_MAGIC,
			   4 + below(r, 252), below(r, 256));
		break;
	case 1: /* CREATE_STACK's number with another size or direction */
		cmd = _IOC(below(r, 4), ATOMFS_IOC_MAGIC, 1, 1 + below(r, 200));
		if (cmd == ATOMFS_IOC_CREATE_STACK)
			cmd ^= 1UL << _IOC_SIZESHIFT;
		break;
	case 2:
		cmd = ATOMFS_IOC_GET_INFO;
		break;
	case 3:
		cmd = _IOC(below(r, 4), ATOMFS_IOC_MAGIC, 2, 1 + below(r, 200));
		if (cmd == ATOMFS_IOC_QUERY_LAYER)
			cmd ^= 1UL << _IOC_SIZESHIFT;
		break;
	default:
		cmd = (uint32_t)rnd(r);
		if (cmd == ATOMFS_IOC_CREATE_STACK ||
		    cmd == ATOMFS_IOC_QUERY_LAYER)
			cmd = 0;
		break;
	}
	ctl = ctl_open();
	if (ctl < 0)
		return;
	snprintf(what, sizeof(what), "cmd %#lx", cmd);
	ret = ioctl(ctl, cmd, arg);
	err = errno;
	close(ctl);
	account(t, OP_BADIOCTL, ret, err, true, what);
}

static void op_mount(struct thread *t)
{
	struct rng *r = &t->r;
	const char *dir = threads[below(r, nr_threads)].mnt[below(r, MNT_PER_THREAD)];
	struct slot s;
	int fd, ret, err;
	char what[96];

	if (pct(r, 90) && pool_pick(r, &s, pct(r, 80) ? K_STACK : -1))
		fd = s.fd;
	else
		fd = pct(r, 50) ? (int)closed_fd(r) & 0x7fffffff : 0;
	snprintf(what, sizeof(what), "stack=%d on %s", fd, dir);
	if (pct(r, 25))
		ret = fsmount_stack(fd, dir);
	else
		ret = mount_stack(fd, dir);
	err = -ret;
	account(t, OP_MOUNT, ret, err, false, what);
}

static void op_umount(struct thread *t)
{
	struct rng *r = &t->r;
	const char *dir = threads[below(r, nr_threads)].mnt[below(r, MNT_PER_THREAD)];
	int flags = pct(r, 50) ? MNT_DETACH : 0;
	int ret = umount2(dir, flags);

	account(t, OP_UMOUNT, ret, errno, false, dir);
}

/* Read a mount: readdir, stat every name, read the regular files. */
static void op_walk(struct thread *t)
{
	struct rng *r = &t->r;
	const char *dir = threads[below(r, nr_threads)].mnt[below(r, MNT_PER_THREAD)];
	char buf[4096], what[PATH_MAX + 64];
	struct dirent *de;
	struct stat st;
	int dfd, fd, failed = 0, err = 0;
	DIR *d;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		account(t, OP_WALK, -1, errno, false, dir);
		return;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			err = errno;
			snprintf(what, sizeof(what), "stat %s/%s", dir,
				 de->d_name);
			failed = 1;
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || read(fd, buf, sizeof(buf)) < 0) {
			err = errno;
			snprintf(what, sizeof(what), "read %s/%s", dir,
				 de->d_name);
			failed = 1;
		}
		if (fd >= 0)
			close(fd);
		if (failed)
			break;
		errno = 0;
	}
	if (!failed && errno) {
		err = errno;
		snprintf(what, sizeof(what), "readdir %s", dir);
		failed = 1;
	}
	closedir(d);
	account(t, OP_WALK, failed ? -1 : 0, err, false, failed ? what : dir);
}

static void op_close(struct thread *t)
{
	struct slot s;

	if (pool_take(&t->r, &s))
		account(t, OP_CLOSE, close(s.fd), errno, false,
			kind_names[s.kind]);
}

static void op_newfd(struct thread *t)
{
	struct rng *r = &t->r;
	int kind = below(r, K_NR), b = below(r, NR_BLOBS), fd = -1, sv[2];
	const char *dir;
	char what[64];

	snprintf(what, sizeof(what), "%s", kind_names[kind]);
	switch (kind) {
	case K_LOOP_RO:
	case K_LOOP_RW:
		fd = loop_attach(blobs[b].path, kind == K_LOOP_RO, NULL);
		if (fd < 0) {
			account(t, OP_NEWFD, -1, -fd, false, blobs[b].path);
			return;
		}
		break;
	case K_FILE_RO:
	case K_FILE_RW:
		fd = open(blobs[b].path,
			  (kind == K_FILE_RO ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		break;
	case K_DIR:
		fd = open(ROOT "/dirlayer", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	case K_DIR_PATH:
		fd = open(ROOT "/dirlayer", O_PATH | O_DIRECTORY | O_CLOEXEC);
		break;
	case K_SOCK:
		if (!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
			close(sv[1]);
			fd = sv[0];
		}
		break;
	case K_PIPE:
		if (!pipe2(sv, O_CLOEXEC)) {
			close(sv[1]);
			fd = sv[0];
		}
		break;
	case K_CTL:
		fd = open(ATOMFS_CTL_DEVICE, O_RDWR | O_CLOEXEC);
		break;
	case K_STACK: /* made by op_create */
		return;
	case K_MNTFILE:
		dir = threads[below(r, nr_threads)].mnt[below(r, MNT_PER_THREAD)];
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	case K_DEVNULL:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	}
	if (!account(t, OP_NEWFD, fd, errno, false, what))
		return;
	pool_add(r, fd, kind,
		 kind <= K_FILE_RW ? b : -1);
}

static const char *const param_names[] = {
	"max_layers", "share_layers", "dir_index_max", "require_verified",
};
static const char *const param_defaults[] = { "4096", "1", "1000000", "1" };

static void op_param(struct thread *t)
{
	static const char *const values[][10] = {
		{ "4096", "64", "4096", "65535", "2", "0", "65536", "-1", "x",
		  "99999999999" },
		{ "0", "1", "Y", "N", "1", "0", "2", "maybe", "", "-1" },
		{ "1", "2", "0", "1000000", "16", "4294967295", "3", "-5",
		  "4294967296", "z" },
		{ "1", "0", "1", "1", "0", "y", "n", "7", "", "true" },
	};
	struct rng *r = &t->r;
	int p = below(r, 4), ret, fd;
	const char *v = values[p][below(r, 10)];
	char path[128], what[96];

	snprintf(path, sizeof(path), "/sys/module/atomfs/parameters/%s",
		 param_names[p]);
	snprintf(what, sizeof(what), "%s=\"%s\"", param_names[p], v);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		report(t, "cannot open %s: %s", path, strerror(errno));
		return;
	}
	ret = write(fd, v, strlen(v));
	account(t, OP_PARAM, ret, errno, false, what);
	close(fd);
	if (verbose)
		printf("# thread %d: %s: %s\n", t->id, what,
		       ret < 0 ? strerror(errno) : "set");
}

static int pick_op(struct rng *r)
{
	unsigned int total = 0, x, i;

	for (i = 0; i < OP_NR; i++)
		total += op_weight[i];
	x = below(r, total);
	for (i = 0; i < OP_NR; i++) {
		if (x < op_weight[i])
			return i;
		x -= op_weight[i];
	}
	return OP_CREATE;
}

static unsigned long max_iterations;

static void *thread_main(void *arg)
{
	struct thread *t = arg;

	while (!stop && (!max_iterations || t->iterations < max_iterations)) {
		int op = pick_op(&t->r);

		t->op = op;
		t->beat = now_ms();
		switch (op) {
		case OP_CREATE: op_create(t, false); break;
		case OP_REHASH: op_create(t, true); break;
		case OP_QUERY: op_query(t); break;
		case OP_INFO: op_info(t); break;
		case OP_INFO_FOREIGN: op_info_foreign(t); break;
		case OP_BADIOCTL: op_badioctl(t); break;
		case OP_MOUNT: op_mount(t); break;
		case OP_UMOUNT: op_umount(t); break;
		case OP_WALK: op_walk(t); break;
		case OP_CLOSE: op_close(t); break;
		case OP_NEWFD: op_newfd(t); break;
		case OP_PARAM: op_param(t); break;
		}
		t->iterations++;
	}
	t->beat = 0;
	return NULL;
}

static int setup(void)
{
	char p[PATH_MAX];
	unsigned int i;
	int err, j;

	err = private_ns_tmpfs(ROOT);
	if (err) {
		printf("# cannot make a private mount namespace with a tmpfs at %s: %s\n",
		       ROOT, strerror(-err));
		return err;
	}
	mkdir(ROOT "/blobs", 0755);
	mkdir(ROOT "/dirlayer", 0755);
	mkdir(ROOT "/dirlayer/sub", 0755);
	write_file(ROOT "/dirlayer/file", "dir layer\n", 10, 0644);
	write_file(ROOT "/dirlayer/sub/inner", "inner\n", 6, 0644);
	for (i = 0; i < NR_BLOBS; i++) {
		struct blob *b = &blobs[i];

		snprintf(b->path, sizeof(b->path), ROOT "/blobs/%u-%s", i,
			 strrchr(blob_names[i], '/') ?
				 strrchr(blob_names[i], '/') + 1 : blob_names[i]);
		err = copy_file(fixture(blob_names[i]), b->path);
		if (!err)
			err = sha256_file(b->path, &b->digest);
		if (err) {
			printf("# cannot copy fixture %s (build them with make): %s\n",
			       fixture(blob_names[i]), strerror(-err));
			return err;
		}
		b->size = file_size(b->path);
	}
	for (j = 0; j < nr_threads; j++) {
		struct thread *t = &threads[j];

		for (i = 0; i < MNT_PER_THREAD; i++) {
			snprintf(t->mnt[i], sizeof(t->mnt[i]), ROOT "/m%d.%u",
				 j, i);
			mkdir(t->mnt[i], 0755);
		}
		t->guard_len = BUF_LAYERS * sizeof(struct atomfs_layer);
		t->guard_len = (t->guard_len + 4095) & ~4095UL;
		t->guard_buf = mmap(NULL, t->guard_len + 4096,
				    PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (t->guard_buf == MAP_FAILED)
			return -errno;
		mprotect(t->guard_buf + t->guard_len, 4096, PROT_NONE);
	}
	snprintf(p, sizeof(p), "%s", ROOT);
	return 0;
}

static void restore_params(void)
{
	unsigned int i;

	for (i = 0; i < 4; i++)
		set_param(param_names[i], param_defaults[i]);
}

/* Names in /proc/fs/atomfs besides "stats": stacks still alive. */
static void usage(void)
{
	fprintf(stderr, "usage: ioctl_fuzz [-s SEED] [-d SECONDS | -n ITERATIONS] [-t THREADS] [--disallow ERRNO]... [--kmsg-selftest] [-v]\n");
	exit(2);
}

static int errno_by_name(const char *name)
{
	int e;

	for (e = 1; e < MAX_ERRNO; e++)
		if (strerrorname_np(e) && !strcmp(strerrorname_np(e), name))
			return e;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long seed = 0;
	unsigned long total = 0, leaks = 0, stuck = 0;
	long long start, end, deadline;
	bool seeded = false, kmsg_selftest = false;
	int seconds = 60, loops_before, loops_after, stacks, mounts, i, err;
	struct klog klog;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-s") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
			seeded = true;
		} else if (!strcmp(argv[i], "-d") && i + 1 < argc) {
			seconds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			max_iterations = strtoul(argv[++i], NULL, 0);
			seconds = 0;
		} else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
			nr_threads = atoi(argv[++i]);
			if (nr_threads < 1 || nr_threads > MAX_THREADS)
				usage();
		} else if (!strcmp(argv[i], "--disallow") && i + 1 < argc) {
			int e = errno_by_name(argv[++i]);

			if (!e)
				usage();
			disallowed[e] = true;
		} else if (!strcmp(argv[i], "--kmsg-selftest")) {
			kmsg_selftest = true;
		} else if (!strcmp(argv[i], "-v")) {
			verbose = true;
		} else {
			usage();
		}
	}
	if (!seeded) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned long long)ts.tv_sec * 1000003ULL ^ ts.tv_nsec ^
		       (unsigned long long)getpid() << 32;
	}
	init_allowed();
	printf("TAP version 13\n");
	printf("1..4\n");
	printf("# ioctl_fuzz: seed %llu, %d thread(s), %s %d%s\n", seed,
	       nr_threads, seconds ? "seconds" : "iterations per thread",
	       seconds ? seconds : (int)max_iterations,
	       nr_threads > 1 ? " (the interleaving of threads is not reproducible)" : "");
	printf("# replay: ioctl_fuzz -s %llu -t %d %s %lu\n", seed, nr_threads,
	       seconds ? "-d" : "-n",
	       seconds ? (unsigned long)seconds : max_iterations);

	err = klog_open(&klog);
	if (err) {
		printf("Bail out! cannot read /dev/kmsg: %s\n", strerror(-err));
		return 1;
	}
	if (setup()) {
		printf("Bail out! set-up failed\n");
		return 1;
	}
	raise_nofile(1024);
	signal(SIGPIPE, SIG_IGN);
	loops_before = klog_loops_under(ROOT);
	if (kmsg_selftest) {
		const char *fake = "atomfs-fuzz: WARNING: CPU: 0 PID: 0 at fake.c:1 injected by --kmsg-selftest\n";
		int k = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);

		if (k < 0 || write(k, fake, strlen(fake)) < 0)
			printf("# cannot write /dev/kmsg: %s\n", strerror(errno));
		if (k >= 0)
			close(k);
	}

	start = now_ms();
	for (i = 0; i < nr_threads; i++) {
		threads[i].id = i;
		threads[i].r.s = seed ^ (0x51ed2701ULL * (i + 1));
		threads[i].beat = start;
		pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]);
	}
	deadline = seconds ? start + seconds * 1000LL : 0;
	for (;;) {
		bool running = false;
		long long now = now_ms();

		usleep(200000);
		klog_poll(&klog, "ioctl_fuzz");
		for (i = 0; i < nr_threads; i++) {
			long long b = threads[i].beat;

			if (b)
				running = true;
			if (b && now - b > STUCK_SECONDS * 1000LL && !stuck) {
				printf("# thread %d stuck in %s for %lld s; blocked tasks and held locks: see the kernel log (sysrq w, d)\n",
				       i, op_names[threads[i].op],
				       (now - b) / 1000);
				klog_dump_blocked();
				stuck++;
			}
		}
		if (!running || stuck)
			break;
		if (deadline && now >= deadline)
			stop = 1;
	}
	stop = 1;
	end = now_ms();
	if (stuck) {
		/* A thread sleeping in the kernel cannot be joined: report. */
		klog_poll(&klog, "ioctl_fuzz");
		printf("not ok 1 ioctl_fuzz.no_unexpected_errno # SKIP a thread is stuck\n");
		printf("%s 2 ioctl_fuzz.kernel_log_clean\n",
		       klog.bad ? "not ok" : "ok");
		printf("not ok 3 ioctl_fuzz.no_thread_stuck\n");
		printf("not ok 4 ioctl_fuzz.nothing_left_behind # SKIP a thread is stuck\n");
		fflush(stdout);
		_exit(1);
	}
	for (i = 0; i < nr_threads; i++) {
		pthread_join(threads[i].tid, NULL);
		total += threads[i].iterations;
	}

	/* Close everything, unmount everything: nothing may stay behind. */
	while (pool.n)
		close(pool.s[--pool.n].fd);
	umount_below(ROOT, true);
	restore_params();
	mounts = count_mounts("atomfs");
	loops_after = klog_wait_loops_under(ROOT, 30000);
	for (i = 0; i < 300 && (stacks = count_stacks()) > 0; i++)
		usleep(100000);
	klog_poll(&klog, "ioctl_fuzz");

	printf("# %lu iterations in %.1f s (%.1f per second), seed %llu\n",
	       total, (end - start) / 1000.0,
	       total * 1000.0 / (end - start + 1), seed);
	printf("# %-17s %8s %8s %8s  errnos\n", "call", "calls", "per s", "ok");
	for (i = 0; i < OP_NR; i++) {
		char line[1024];
		size_t len = 0;
		int e;

		line[0] = 0;
		for (e = 1; e < MAX_ERRNO; e++)
			if (stats[i].err[e])
				len += snprintf(line + len, sizeof(line) - len,
						" %s:%lu", strerrorname_np(e),
						stats[i].err[e]);
		printf("# %-17s %8lu %8.1f %8lu %s\n", op_names[i],
		       stats[i].calls,
		       stats[i].calls * 1000.0 / (end - start + 1),
		       stats[i].ok, line);
	}
	printf("# kernel log: %lu record(s) read, %lu report(s)\n",
	       klog.records, klog.bad);

	printf("%s 1 ioctl_fuzz.no_unexpected_errno", unexpected ? "not ok" : "ok");
	if (unexpected)
		printf(" # %lu unexpected result(s)", unexpected);
	printf("\n%s 2 ioctl_fuzz.kernel_log_clean\n",
	       klog.bad ? "not ok" : "ok");
	printf("ok 3 ioctl_fuzz.no_thread_stuck\n");
	if (mounts || loops_after > 0 || stacks)
		leaks = 1;
	printf("%s 4 ioctl_fuzz.nothing_left_behind # %d atomfs mount(s), %d loop device(s) of ours (%d before), %d stack(s) in /proc/fs/atomfs\n",
	       leaks ? "not ok" : "ok", mounts, loops_after, loops_before,
	       stacks);
	return unexpected || klog.bad || leaks ? 1 : 0;
}
