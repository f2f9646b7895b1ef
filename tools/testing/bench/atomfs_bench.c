// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs_bench: the timed part of `make bench`, run in the VM by guest.sh.
 * Every figure is appended as one JSON record
 *   {"benchmark": B, "system": S, "n": N, "rep": R, "value": V, "unit": U}
 * to the file named by -o (one record a line; report.py makes the array),
 * and printed as a progress line on stdout.
 *
 * Systems (how N squashfs layer blobs become one read-only tree on MNT):
 *   atomfs       the blob files given to ATOMFS_IOC_CREATE_STACK
 *                (ATOMFS_LAYER_FILE), verification included, then mount
 *   atomfs-loop  one read-only direct-I/O loop device per blob instead
 *   overlay      per blob a loop device and a squashfs mount, then
 *                overlayfs over them (one lower needs an empty second one)
 *   fuse         per blob a squashfuse daemon, then fuse-overlayfs
 *   flat         one squashfs image holding the merged tree, on a loop
 *                device (LIST's first blob; N is only the label)
 *
 * Usage: atomfs_bench -o OUT -r REP -w WORKDIR [-n NAMES] CMD ARGS
 *   mount SYSTEM LIST N          cold mount; atomfs also warm (layers held),
 *                                overlay also overlay-warm (set-up excluded)
 *   lookup SYSTEM LIST N         NAMES (2,000) existing, NAMES missing names,
 *                                a deep path, on freshly mounted layers
 *   readdir SYSTEM LIST N        first listing, reopen+list, rewind of /r
 *   read SYSTEM LIST FILE        sequential and mmap read, cold and warm
 *   small SYSTEM LIST DIR        open+read+close of every file in DIR
 *   mem SYSTEM LIST N TAG        kernel memory per held layer
 *   verify LIST N                kernel hash of N blobs in one stack
 *                                against openssl dgst -sha256; warm path
 * LIST: "SHA256HEX PATH" lines (sha256sum's format), base layer first.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "bench.h"

#define LISTINGS 10

/* Names looked up per run, existing and missing each (-n; QUICK: 500). */
static int names = 2000;

static const char *out_path;
static int rep = 1;
static const char *work = "/tmp/atomfs-bench";

struct blob {
	char hex[65];
	char path[4096];
	long long size;
};

static void record(const char *bench, const char *sys, int n, double v,
		   const char *unit)
{
	FILE *f = fopen(out_path, "ae");

	if (!f)
		die("open %s", out_path);
	fprintf(f, "{\"benchmark\": \"%s\", \"system\": \"%s\", \"n\": %d, "
		   "\"rep\": %d, \"value\": %.9g, \"unit\": \"%s\"}\n",
		bench, sys, n, rep, v, unit);
	if (fclose(f))
		die("write %s", out_path);
	printf("  %-22s %-12s n=%-5d rep=%d %12.6g %s\n", bench, sys, n, rep,
	       v, unit);
	fflush(stdout);
}

/* "cannot": the system cannot do it at all; value null, the reason kept. */
static void record_cannot(const char *bench, const char *sys, int n,
			  const char *why)
{
	FILE *f = fopen(out_path, "ae");

	if (!f)
		die("open %s", out_path);
	fprintf(f, "{\"benchmark\": \"%s\", \"system\": \"%s\", \"n\": %d, "
		   "\"rep\": %d, \"value\": null, \"unit\": \"cannot\", "
		   "\"why\": \"%s\"}\n", bench, sys, n, rep, why);
	fclose(f);
	printf("  %-22s %-12s n=%-5d rep=%d       cannot (%s)\n", bench, sys, n,
	       rep, why);
	fflush(stdout);
}

static struct blob *read_list(const char *list, int n)
{
	struct blob *b = calloc(n, sizeof(*b));
	FILE *f = fopen(list, "re");
	struct stat st;
	int i;

	if (!b || !f)
		die("open %s", list);
	for (i = 0; i < n; i++) {
		if (fscanf(f, "%64s %4095s", b[i].hex, b[i].path) != 2)
			die("%s: fewer than %d blobs", list, n);
		if (stat(b[i].path, &st))
			die("stat %s", b[i].path);
		b[i].size = st.st_size;
	}
	fclose(f);
	return b;
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die("write %s to %s", s, path);
	close(fd);
}

static void drop_caches(void)
{
	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
}

static int count_attached(void)
{
	struct dirent *e;
	DIR *d = opendir("/sys/block");
	char p[512];
	int n = 0;

	if (!d)
		die("/sys/block");
	while ((e = readdir(d))) {
		if (!strncmp(e->d_name, "atomfsb", 7)) {
			n++;
		} else if (!strncmp(e->d_name, "loop", 4)) {
			snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file",
				 e->d_name);
			n += !access(p, F_OK);
		}
	}
	closedir(d);
	return n;
}

/* Until the module's devices and the autoclear loops are gone. */
static void wait_released(void)
{
	int i;

	for (i = 0; count_attached(); i++) {
		if (i == 600)
			die("devices still attached after 60 s");
		usleep(100000);
	}
}

static void mkdirs(const char *p)
{
	char buf[4096], *s;

	snprintf(buf, sizeof(buf), "%s", p);
	for (s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		mkdir(buf, 0755);
		*s = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		die("mkdir %s", buf);
}

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

/* Start argv (stdout to /dev/null); its pid. */
static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "bench: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Run argv (stdout to /dev/null); its exit status, 124 after @secs s. */
static int run_prog_timeout(char *const argv[], unsigned int secs)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int st;
	pid_t pid = spawn(argv);

	timed_out = 0;
	sigaction(SIGALRM, &sa, NULL);
	alarm(secs);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			die("waitpid %s", argv[0]);
		if (timed_out) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			alarm(0);
			return 124;
		}
	}
	alarm(0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int run_prog(char *const argv[])
{
	return run_prog_timeout(argv, 600);
}

/*
 * fuse-overlayfs 1.10 over squashfuse lowers does not always finish its
 * mount (seen with the lookup set's base layer): a set it failed on once
 * is marked and not tried again in this boot.
 */
static const char *list_path = "";

static void fuse_marker(char *buf, size_t len)
{
	const char *b = strrchr(list_path, '/');

	snprintf(buf, len, "%s/fuse-cannot-%s", work, b ? b + 1 : list_path);
}

/* A mounted set of layers. */
struct stack {
	const char *sys;
	int n;
	char mnt[256];
	double t_setup;	/* per-layer set-up (loops, squashfs, daemons) */
	double t_top;	/* the stacking mount (CREATE_STACK + mount, overlay) */
	int err;	/* errno of a failed stacking mount */
	int lowers;	/* overlay, fuse: the layer mounts made */
	int bare;	/* overlay over bare directories (n > 500) */
};

/* overlayfs's OVL_MAX_STACK */
#define OVL_MAX_LOWERS 500

static void atomfs_layer_of(struct atomfs_layer *l, const struct blob *b,
			    int loop)
{
	unsigned long long size;
	int fd;

	memset(l, 0, sizeof(*l));
	if (!loop) {
		fd = open(b->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("open %s", b->path);
		l->fd = fd;
		l->flags = ATOMFS_LAYER_FILE;
		l->size = b->size;
	} else {
		l->fd = loop_attach_flags(b->path, &size, LO_FLAGS_DIRECT_IO);
		l->size = size;
	}
	parse_sha256(b->hex, &l->digest);
}

/* CREATE_STACK of @n layers; the stack fd. */
static int create_stack(struct atomfs_layer *l, int n)
{
	struct atomfs_create_stack cs = { 0 };
	int ctl, fd;

	ctl = open(ATOMFS_CTL_DEVICE, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		die("open " ATOMFS_CTL_DEVICE);
	cs.nr_layers = n;
	cs.layers = (unsigned long)l;
	fd = ioctl(ctl, ATOMFS_IOC_CREATE_STACK, &cs);
	if (fd < 0)
		die("create stack of %d layers (layer %u)", n, cs.failed_layer);
	close(ctl);
	return fd;
}

static void loop_squashfs(const char *blob, const char *dir)
{
	unsigned long long size;
	char dev[64];
	int fd;

	fd = loop_attach_flags(blob, &size, LO_FLAGS_DIRECT_IO);
	snprintf(dev, sizeof(dev), "/proc/self/fd/%d", fd);
	if (mount(dev, dir, "squashfs", MS_RDONLY, NULL))
		die("mount squashfs %s on %s", blob, dir);
	close(fd);
}

/* lowerdir=N-1:...:0 in relative names (overlayfs cuts options at a page). */
static char *lower_option(int n, const char *prefix, int empty)
{
	size_t len = 64 + 8 * (size_t)n;
	char *opt = malloc(len);
	int i, off;

	off = snprintf(opt, len, "%s", prefix);
	for (i = n - 1; i >= 0; i--)
		off += snprintf(opt + off, len - off, "%d%s", i, i ? ":" : "");
	if (empty)
		snprintf(opt + off, len - off, ":e");
	return opt;
}

/*
 * Mount @n layers of @b on @s->mnt as @sys; times the parts. Returns 0, or
 * -1 with s->err when the stacking mount itself is refused.
 */
static int stack_up(struct stack *s, const char *sys, struct blob *b, int n,
		    const char *mnt)
{
	char dir[512];
	double t;
	int i;

	memset(s, 0, sizeof(*s));
	s->sys = sys;
	s->n = n;
	snprintf(s->mnt, sizeof(s->mnt), "%s", mnt);
	mkdirs(mnt);
	if (!strcmp(sys, "atomfs") || !strcmp(sys, "atomfs-loop")) {
		struct atomfs_layer *l = calloc(n, sizeof(*l));
		char opt[32];
		int fd;

		t = now();
		for (i = 0; i < n; i++)
			atomfs_layer_of(&l[i], &b[i], !strcmp(sys, "atomfs-loop"));
		s->t_setup = now() - t;
		t = now();
		fd = create_stack(l, n);
		snprintf(opt, sizeof(opt), "stack=%d", fd);
		if (mount("none", mnt, "atomfs", MS_RDONLY, opt))
			die("mount atomfs on %s", mnt);
		s->t_top = now() - t;
		close(fd);
		for (i = 0; i < n; i++)
			close(l[i].fd);
		free(l);
		return 0;
	}
	if (!strcmp(sys, "flat") || !strcmp(sys, "squashfs")) {
		t = now();
		loop_squashfs(b[0].path, mnt);
		s->t_top = now() - t;
		return 0;
	}
	if (!strcmp(sys, "overlay") || !strcmp(sys, "fuse")) {
		int ovl = !strcmp(sys, "overlay");
		/*
		 * Over 500 lowers overlayfs refuses while splitting lowerdir=,
		 * before it looks at any: tried over bare directories, without
		 * minutes of loop and squashfs set-up to undo.
		 */
		int bare = ovl && n > OVL_MAX_LOWERS;
		char *opt;

		if (!ovl) {
			fuse_marker(dir, sizeof(dir));
			if (!access(dir, F_OK)) {
				s->err = ETIMEDOUT;
				return -1;
			}
		}
		snprintf(dir, sizeof(dir), "%s/%s-lower/e", work, sys);
		mkdirs(dir);
		t = now();
		for (i = 0; i < n; i++) {
			snprintf(dir, sizeof(dir), "%s/%s-lower/%d", work, sys, i);
			mkdir(dir, 0755);
			if (bare) {
				continue;
			} else if (ovl) {
				loop_squashfs(b[i].path, dir);
			} else {
				char *argv[] = { "squashfuse", b[i].path, dir, NULL };

				if (run_prog(argv))
					die("squashfuse %s %s failed", b[i].path, dir);
			}
		}
		s->t_setup = now() - t;
		s->lowers = bare ? 0 : n;
		s->bare = bare;
		snprintf(dir, sizeof(dir), "%s/%s-lower", work, sys);
		if (chdir(dir))
			die("chdir %s", dir);
		opt = lower_option(n, "lowerdir=", n == 1);
		t = now();
		if (ovl) {
			if (mount("overlay", mnt, "overlay", MS_RDONLY, opt))
				s->err = errno;
		} else {
			char *argv[] = { "fuse-overlayfs", "-o", opt, (char *)mnt, NULL };
			int rc = run_prog_timeout(argv, 30);

			s->err = rc == 124 ? ETIMEDOUT : rc ? EINVAL : 0;
			if (rc == 124) {
				fuse_marker(dir, sizeof(dir));
				close(open(dir, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
			}
		}
		s->t_top = now() - t;
		free(opt);
		if (chdir("/"))
			die("chdir /");
		return s->err ? -1 : 0;
	}
	fprintf(stderr, "bench: unknown system %s\n", sys);
	exit(2);
}

static void stack_down(struct stack *s)
{
	char dir[512];
	int i;

	if (!s->err && umount(s->mnt))
		die("umount %s", s->mnt);
	if (!strcmp(s->sys, "overlay") || !strcmp(s->sys, "fuse")) {
		for (i = 0; i < s->lowers; i++) {
			snprintf(dir, sizeof(dir), "%s/%s-lower/%d", work, s->sys, i);
			/*
			 * detached for fuse: fuse-overlayfs exits after its
			 * unmount returns, and may still hold them
			 */
			if (umount2(dir, s->err || !strcmp(s->sys, "fuse") ?
				    MNT_DETACH : 0))
				die("umount %s", dir);
		}
	}
	wait_released();
}

/*
 * The stacking mount was refused or did not finish: "cannot" for each of
 * @benches (space-separated).
 */
static int cannot(struct stack *s, const char *benches)
{
	char why[128], list[256], *save, *b;

	if (!strcmp(s->sys, "fuse") && s->err == ETIMEDOUT)
		snprintf(why, sizeof(why),
			 "fuse-overlayfs did not finish mounting within 30 s");
	else
		snprintf(why, sizeof(why), "%s: %s%s", !strcmp(s->sys, "fuse") ?
			 "fuse-overlayfs did not mount" : "mount refused",
			 strerror(s->err), s->bare ?
			 " (more than 500 lowers; tried over bare directories)" : "");
	snprintf(list, sizeof(list), "%s", benches);
	for (b = strtok_r(list, " ", &save); b; b = strtok_r(NULL, " ", &save))
		record_cannot(b, s->sys, s->n, why);
	stack_down(s);
	return 0;
}

static void cold(void)
{
	wait_released();
	drop_caches();
}

static void raise_nofile(int n)
{
	struct rlimit rl = { n + 256, n + 256 };

	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("RLIMIT_NOFILE %d", n + 256);
}

static long long meminfo(const char *key);

/* Kernel memory the benchmarks can attribute, in KiB. */
static long long kmem(void)
{
	return meminfo("Slab") + meminfo("VmallocUsed") + meminfo("Percpu");
}

static int bench_mount(const char *sys, struct blob *b, int n)
{
	char mnt[512], mnt2[512];
	struct stack s, s2;
	long long k0;

	snprintf(mnt, sizeof(mnt), "%s/mnt", work);
	snprintf(mnt2, sizeof(mnt2), "%s/mnt2", work);
	cold();
	k0 = kmem();
	if (stack_up(&s, sys, b, n, mnt))
		return cannot(&s, "mount mount-kmem");
	record("mount", sys, n, s.t_setup + s.t_top, "s");
	record("mount-kmem", sys, n, (double)(kmem() - k0) / n, "KiB/layer");
	if (!strcmp(sys, "overlay")) {
		/* The same layers, already set up: the overlay mount alone. */
		if (umount(mnt))
			die("umount %s", mnt);
		{
			char *opt = lower_option(n, "lowerdir=", n == 1);
			char dir[512];
			double t;

			snprintf(dir, sizeof(dir), "%s/overlay-lower", work);
			if (chdir(dir))
				die("chdir %s", dir);
			t = now();
			if (mount("overlay", mnt, "overlay", MS_RDONLY, opt))
				die("mount overlay again");
			t = now() - t;
			if (chdir("/"))
				die("chdir /");
			free(opt);
			record("mount", "overlay-warm", n, t, "s");
			record("mount-warm-parts", "overlay-warm", n, t, "s");
		}
	}
	if (!strcmp(sys, "atomfs")) {
		/* Warm: every layer already held by the first mount. */
		stack_up(&s2, sys, b, n, mnt2);
		record("mount", "atomfs-warm", n, s2.t_setup + s2.t_top, "s");
		/* Where the warm time goes: the opens, then the kernel. */
		record("mount-warm-parts", "atomfs-open", n, s2.t_setup, "s");
		record("mount-warm-parts", "atomfs-stack", n, s2.t_top, "s");
		if (umount(mnt2))
			die("umount %s", mnt2);
	}
	stack_down(&s);
	return 0;
}

static long long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	size_t k = strlen(key);
	long long v = -1;

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':')
			v = atoll(line + k + 1);
	fclose(f);
	if (v < 0)
		die("no %s in /proc/meminfo", key);
	return v;
}

static long long dentries(void)
{
	FILE *f = fopen("/proc/sys/fs/dentry-state", "re");
	long long v;

	if (!f || fscanf(f, "%lld", &v) != 1)
		die("/proc/sys/fs/dentry-state");
	fclose(f);
	return v;
}

static int bench_lookup(const char *sys, struct blob *b, int n)
{
	struct stack s;
	struct stat st;
	char mnt[512], p[1024];
	long long slab, dent;
	double t;
	int i;

	snprintf(mnt, sizeof(mnt), "%s/mnt", work);
	cold();
	if (stack_up(&s, sys, b, n, mnt))
		return cannot(&s, "lookup-hit lookup-miss lookup-deep");
	if (stat(mnt, &st))
		die("stat %s", mnt);

	t = now();
	for (i = 0; i < names; i++) {
		snprintf(p, sizeof(p), "%s/h%04d", mnt, i);
		if (stat(p, &st))
			die("stat %s", p);
	}
	record("lookup-hit", sys, n, (now() - t) / names * 1e6, "us");

	slab = meminfo("Slab");
	dent = dentries();
	t = now();
	for (i = 0; i < names; i++) {
		snprintf(p, sizeof(p), "%s/m%04d", mnt, i);
		if (!stat(p, &st) || errno != ENOENT)
			die("stat %s: expected ENOENT", p);
	}
	t = now() - t;
	record("lookup-miss", sys, n, t / names * 1e6, "us");
	record("lookup-miss-slab", sys, n, (double)(meminfo("Slab") - slab), "KiB");
	record("lookup-miss-dentries", sys, n, (double)(dentries() - dent), "dentries");

	snprintf(p, sizeof(p), "%s/a/b/c/d/e", mnt);
	t = now();
	if (stat(p, &st))
		die("stat %s", p);
	record("lookup-deep", sys, n, (now() - t) * 1e6, "us");
	stack_down(&s);
	return 0;
}

static int list_dir(DIR *d)
{
	int k = 0;

	errno = 0;
	while (readdir(d))
		k++;
	if (errno)
		die("readdir");
	return k;
}

static int bench_readdir(const char *sys, struct blob *b, int n)
{
	struct stack s;
	char mnt[512], p[1024];
	double t;
	DIR *d;
	int i, k;

	snprintf(mnt, sizeof(mnt), "%s/mnt", work);
	cold();
	if (stack_up(&s, sys, b, n, mnt))
		return cannot(&s, "readdir-first readdir-reopen readdir-rewind");
	snprintf(p, sizeof(p), "%s/r", mnt);

	t = now();
	d = opendir(p);
	if (!d)
		die("opendir %s", p);
	k = list_dir(d);
	closedir(d);
	record("readdir-first", sys, n, (now() - t) * 1e3, "ms");
	if (k != 10002) {
		errno = 0;
		die("%s on %s: %d entries, not 10,000 and . ..", p, sys, k);
	}

	t = now();
	for (i = 0; i < LISTINGS; i++) {
		d = opendir(p);
		if (!d)
			die("opendir %s", p);
		list_dir(d);
		closedir(d);
	}
	record("readdir-reopen", sys, n, (now() - t) / LISTINGS * 1e3, "ms");

	d = opendir(p);
	if (!d)
		die("opendir %s", p);
	list_dir(d);
	t = now();
	for (i = 0; i < LISTINGS; i++) {
		rewinddir(d);
		list_dir(d);
	}
	record("readdir-rewind", sys, n, (now() - t) / LISTINGS * 1e3, "ms");
	closedir(d);
	stack_down(&s);
	return 0;
}

static double read_seq(const char *path)
{
	static char buf[1 << 20];
	long long total = 0;
	ssize_t r;
	double t;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("open %s", path);
	t = now();
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		total += r;
	t = now() - t;
	if (r < 0)
		die("read %s", path);
	close(fd);
	return total / 1048576.0 / t;
}

static double read_mmap(const char *path)
{
	volatile unsigned char sum = 0;
	unsigned char *m;
	struct stat st;
	double t;
	off_t i;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st))
		die("open %s", path);
	t = now();
	m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		die("mmap %s", path);
	for (i = 0; i < st.st_size; i += 4096)
		sum += m[i];
	t = now() - t;
	munmap(m, st.st_size);
	close(fd);
	(void)sum;
	return st.st_size / 1048576.0 / t;
}

static int bench_read(const char *sys, struct blob *b, const char *file)
{
	struct stack s;
	char mnt[512], p[1024];
	int mm;

	snprintf(mnt, sizeof(mnt), "%s/mnt", work);
	snprintf(p, sizeof(p), "%s/%s", mnt, file);
	for (mm = 0; mm < 2; mm++) {
		cold();
		if (stack_up(&s, sys, b, 1, mnt))
			return cannot(&s, "read-seq-cold read-seq-warm read-mmap-cold read-mmap-warm");
		drop_caches();
		record(mm ? "read-mmap-cold" : "read-seq-cold", sys, 1,
		       mm ? read_mmap(p) : read_seq(p), "MiB/s");
		record(mm ? "read-mmap-warm" : "read-seq-warm", sys, 1,
		       mm ? read_mmap(p) : read_seq(p), "MiB/s");
		stack_down(&s);
	}
	return 0;
}

static int read_tree(const char *dir)
{
	static char buf[65536];
	struct dirent *e;
	DIR *d = opendir(dir);
	char p[1024];
	int k = 0, fd;

	if (!d)
		die("opendir %s", dir);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("open %s", p);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
		k++;
	}
	closedir(d);
	return k;
}

static int bench_small(const char *sys, struct blob *b, const char *sub)
{
	struct stack s;
	char mnt[512], p[1024];
	double t;
	int k;

	snprintf(mnt, sizeof(mnt), "%s/mnt", work);
	snprintf(p, sizeof(p), "%s/%s", mnt, sub);
	cold();
	if (stack_up(&s, sys, b, 1, mnt))
		return cannot(&s, "small-files-cold small-files-warm");
	drop_caches();
	t = now();
	k = read_tree(p);
	t = now() - t;
	if (k != 10000) {
		errno = 0;
		die("%s on %s: %d files, not 10,000", p, sys, k);
	}
	record("small-files-cold", sys, 1, t / k * 1e6, "us");
	t = now();
	read_tree(p);
	record("small-files-warm", sys, 1, (now() - t) / k * 1e6, "us");
	stack_down(&s);
	return 0;
}

/* Sum of the pages of /proc/vmallocinfo areas made by squashfs's decompressors, KiB. */
static long long decomp_kib(void)
{
	FILE *f = fopen("/proc/vmallocinfo", "re");
	char line[512], *p;
	long long kib = 0;

	if (!f)
		die("/proc/vmallocinfo");
	while (fgets(line, sizeof(line), f)) {
		/*
		 * zlib_init, lz4_init, zstd_init [squashfs]; xz's dictionary
		 * comes from xz_dec_lzma2_create (lib/xz, built in)
		 */
		if (!strstr(line, "[squashfs]") && !strstr(line, "xz_dec"))
			continue;
		p = strstr(line, " pages=");
		if (p)
			kib += atoll(p + 7) * (sysconf(_SC_PAGESIZE) / 1024);
	}
	fclose(f);
	return kib;
}

/* /proc/slabinfo: bytes held by each cache (num_objs * objsize). */
struct slab_use {
	char name[64];
	long long bytes;
};

static int slabinfo(struct slab_use *u, int max)
{
	FILE *f = fopen("/proc/slabinfo", "re");
	char line[1024];
	long long active, num, size;
	int k = 0;

	if (!f)
		die("/proc/slabinfo");
	while (fgets(line, sizeof(line), f) && k < max) {
		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%63s %lld %lld %lld", u[k].name, &active,
			   &num, &size) != 4)
			continue;
		u[k++].bytes = num * size;
	}
	fclose(f);
	return k;
}

#define SLABS 1024

/*
 * The caches that grew most, per layer, appended to mem-slabs.txt beside
 * OUT as "TAG SYSTEM CACHE KiB/layer" (the report names the largest).
 */
static void slab_growth(struct slab_use *b, int nb, const char *tag,
			const char *sys, int n)
{
	static struct slab_use a[SLABS];
	char path[4096], *d;
	int na = slabinfo(a, SLABS), i, j, top;
	FILE *f;

	snprintf(path, sizeof(path), "%s", out_path);
	d = strrchr(path, '/');
	snprintf(d ? d + 1 : path, sizeof(path) - (d ? d + 1 - path : 0),
		 "mem-slabs.txt");
	f = fopen(path, "ae");
	if (!f)
		die("open %s", path);
	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++)
			if (!strcmp(a[i].name, b[j].name)) {
				a[i].bytes -= b[j].bytes;
				break;
			}
	printf("  %-22s %-12s slab caches grown most, KiB/layer:", tag, sys);
	for (top = 0; top < 5; top++) {
		int m = -1;

		for (i = 0; i < na; i++)
			if (a[i].bytes > 0 && (m < 0 || a[i].bytes > a[m].bytes))
				m = i;
		if (m < 0)
			break;
		printf(" %s %.1f", a[m].name, a[m].bytes / 1024.0 / n);
		fprintf(f, "%s %s %s %.1f\n", tag, sys, a[m].name,
			a[m].bytes / 1024.0 / n);
		a[m].bytes = 0;
	}
	printf("\n");
	fclose(f);
}

static int bench_mem(const char *sys, struct blob *b, int n, const char *tag)
{
	static struct slab_use before_slabs[SLABS];
	long long slab, vm, pcpu, dc;
	char mnt[512], name[64];
	struct stack s;
	int nb;

	snprintf(mnt, sizeof(mnt), "%s/mnt", work);
	/* Once untimed: loop devices and caches created on first use stay. */
	cold();
	if (stack_up(&s, sys, b, n, mnt))
		die("mount %s of %d layers", sys, n);
	stack_down(&s);
	cold();
	slab = meminfo("Slab");
	vm = meminfo("VmallocUsed");
	pcpu = meminfo("Percpu");
	dc = decomp_kib();
	nb = slabinfo(before_slabs, SLABS);
	if (stack_up(&s, sys, b, n, mnt))
		die("mount %s of %d layers", sys, n);
	drop_caches();
	slab = meminfo("Slab") - slab;
	vm = meminfo("VmallocUsed") - vm;
	pcpu = meminfo("Percpu") - pcpu;
	dc = decomp_kib() - dc;
	snprintf(name, sizeof(name), "mem-%s", tag);
	record(name, sys, n, (double)(slab + vm + pcpu) / n, "KiB/layer");
	snprintf(name, sizeof(name), "mem-%s-slab", tag);
	record(name, sys, n, (double)slab / n, "KiB/layer");
	snprintf(name, sizeof(name), "mem-%s-vmalloc", tag);
	record(name, sys, n, (double)vm / n, "KiB/layer");
	snprintf(name, sizeof(name), "mem-%s-percpu", tag);
	record(name, sys, n, (double)pcpu / n, "KiB/layer");
	snprintf(name, sizeof(name), "mem-%s-decomp", tag);
	record(name, sys, n, (double)dc / n, "KiB/layer");
	slab_growth(before_slabs, nb, tag, sys, n);
	stack_down(&s);
	return 0;
}

static void cat_file(const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("open %s", path);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

/*
 * sha256 of @n blobs: the kernel's check in one CREATE_STACK (the blobs
 * hashed in parallel by its workers) against openssl dgst -sha256 in one
 * process (the files one after the other) and, for n > 1, one openssl
 * process per blob, all at once (openssl-par); then the warm path: the
 * same blobs again while that stack holds them (no hash).
 */
static int bench_verify(struct blob *b, int n)
{
	struct atomfs_layer *l = calloc(n, sizeof(*l));
	char **argv = calloc(n + 4, sizeof(*argv));
	const char *bench = n == 1 ? "verify" : "verify-parallel";
	pid_t *pids = calloc(n, sizeof(*pids));
	long long total = 0;
	double t;
	int i, fd, fd2, st;

	/* Both read the blobs from the page cache. */
	for (i = 0; i < n; i++) {
		cat_file(b[i].path);
		total += b[i].size;
	}
	argv[0] = "openssl";
	argv[1] = "dgst";
	argv[2] = "-sha256";
	for (i = 0; i < n; i++)
		argv[3 + i] = b[i].path;
	t = now();
	if (run_prog(argv))
		die("openssl dgst failed");
	record(bench, "openssl", n, total / 1048576.0 / (now() - t), "MiB/s");
	if (n > 1) {
		t = now();
		for (i = 0; i < n; i++) {
			char *one[] = { "openssl", "dgst", "-sha256", b[i].path, NULL };

			pids[i] = spawn(one);
		}
		for (i = 0; i < n; i++)
			if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) ||
			    WEXITSTATUS(st))
				die("openssl dgst %s failed", b[i].path);
		record(bench, "openssl-par", n, total / 1048576.0 / (now() - t),
		       "MiB/s");
	}

	/* Nothing is held (wait_released): this stack hashes every blob. */
	wait_released();
	write_file("/sys/module/atomfs/parameters/share_layers", "1");
	for (i = 0; i < n; i++)
		atomfs_layer_of(&l[i], &b[i], 0);
	t = now();
	fd = create_stack(l, n);
	record(bench, "atomfs", n, total / 1048576.0 / (now() - t), "MiB/s");
	for (i = 0; i < n; i++)
		close(l[i].fd);

	/* Warm: the layers held by the first stack are not hashed again. */
	t = now();
	for (i = 0; i < n; i++)
		atomfs_layer_of(&l[i], &b[i], 0);
	fd2 = create_stack(l, n);
	record(n == 1 ? "verify-warm" : "verify-parallel-warm", "atomfs", n,
	       (now() - t) * 1e3, "ms");
	close(fd2);
	close(fd);
	for (i = 0; i < n; i++)
		close(l[i].fd);
	wait_released();
	free(pids);
	free(l);
	free(argv);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: atomfs_bench -o OUT [-r REP] [-w WORKDIR] [-n NAMES] CMD ARGS\n"
		"  mount|lookup|readdir SYSTEM LIST N\n"
		"  read SYSTEM LIST FILE | small SYSTEM LIST DIR\n"
		"  mem SYSTEM LIST N TAG | verify LIST N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *cmd;
	struct blob *b;
	int c, n;

	while ((c = getopt(argc, argv, "n:o:r:w:")) != -1) {
		switch (c) {
		case 'n':
			names = atoi(optarg);
			if (names < 1 || names > 2000)
				usage();
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'r':
			rep = atoi(optarg);
			break;
		case 'w':
			work = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (!out_path || argc < 3)
		usage();
	signal(SIGPIPE, SIG_IGN);
	mkdirs(work);
	cmd = argv[0];
	if (!strcmp(cmd, "verify")) {
		n = atoi(argv[2]);
		return bench_verify(read_list(argv[1], n), n);
	}
	if (argc < 4)
		usage();
	list_path = argv[2];
	if (!strcmp(cmd, "read"))
		return bench_read(argv[1], read_list(argv[2], 1), argv[3]);
	if (!strcmp(cmd, "small"))
		return bench_small(argv[1], read_list(argv[2], 1), argv[3]);
	n = atoi(argv[3]);
	if (n < 1)
		usage();
	raise_nofile(n);
	list_path = argv[2];
	b = read_list(argv[2], !strcmp(argv[1], "flat") ? 1 : n);
	if (!strcmp(cmd, "mount"))
		return bench_mount(argv[1], b, n);
	if (!strcmp(cmd, "lookup"))
		return bench_lookup(argv[1], b, n);
	if (!strcmp(cmd, "readdir"))
		return bench_readdir(argv[1], b, n);
	if (!strcmp(cmd, "mem") && argc == 5)
		return bench_mem(argv[1], b, n, argv[4]);
	usage();
	return 2;
}
