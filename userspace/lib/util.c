// SPDX-License-Identifier: LGPL-2.1-or-later
/* util.c: error messages, allocation, files written atomically */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static __thread char errbuf[2048];

const char *atomfs_last_error(void)
{
	return errbuf;
}

void atomfs_clear_error(void)
{
	errbuf[0] = '\0';
}

/* Record a message and return -err, so callers write: return atomfs_err(...) */
int atomfs_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return err > 0 ? -err : err;
}

/* Put context in front of the current message ("reading X: <old>"). */
void atomfs_err_prefix(const char *fmt, ...)
{
	char pre[512], old[sizeof(errbuf)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, errbuf, sizeof(old));
	/* truncation of an over-long message is acceptable */
	if (snprintf(errbuf, sizeof(errbuf), "%s: ", pre) < (int)sizeof(errbuf))
		strncat(errbuf, old, sizeof(errbuf) - strlen(errbuf) - 1);
}

/*
 * The x*() helpers (and path_join()) are left only for the tools that
 * have yet to learn to return -ENOMEM; no library code calls them, and a
 * recipe build (tools/cmd-recipe.c) does not either.  The library never
 * prints, so no message here.
 */
static void oom(void)
{
	abort();
}

char *xstrdup(const char *s)
{
	char *r = strdup(s);

	if (!r)
		oom();
	return r;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *r;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&r, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return r;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t sz)
{
	void *r = realloc(p, sz ? sz : 1);

	if (!r)
		oom();
	return r;
}

char *atomfs_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *r;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&r, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : r;
}

char *atomfs_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	return atomfs_asprintf("%s%s%s", a, la && a[la - 1] == '/' ? "" : "/",
			       b);
}

int atomfs_enomem(void)
{
	return atomfs_err(ENOMEM, "out of memory");
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la && a[la - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

/* Read a whole (small) file; refuses files larger than max bytes. */
int read_file(const char *path, char **data, size_t *len, size_t max)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			free(buf);
			close(fd);
			return err;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	if (len)
		*len = got;
	return 0;
}

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Write to "path.tmp-PID", fsync, rename over path, fsync the directory:
 * readers see the old or the new file, never a torn one.
 */
int write_file_atomic(const char *path, const void *data, size_t len)
{
	cleanup_free char *tmp =
		atomfs_asprintf("%s.tmp-%d", path, (int)getpid());
	cleanup_free char *dir = strdup(path);
	char *slash;
	int fd, err;

	if (!tmp || !dir)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	err = write_all(fd, data, len);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		return fsync_dir(*dir ? dir : "/");
	}
	return fsync_dir(".");
}

/*
 * Read @name, relative to @dirfd, never through a symlink, only if it is a
 * regular file of at most @max bytes (a FIFO would block, a device could
 * be endless).  @shown names the file in messages.
 */
int atomfs_read_at(int dirfd, const char *name, const char *shown, size_t max,
		   char **data, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, err;

	fd = openat(dirfd, name,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (err == -ELOOP)
			return atomfs_err(
				EBADMSG,
				"%s is a symbolic link; refusing to follow it (replace it with the file)",
				shown);
		return atomfs_err(err, "cannot open %s: %s", shown,
				  strerror(-err));
	}
	if (fstat(fd, &st) < 0) {
		err = atomfs_err(errno, "cannot stat %s: %m", shown);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = atomfs_err(
			EBADMSG,
			"%s is not a regular file (mode %o); refusing to read it",
			shown, (unsigned int)st.st_mode);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = atomfs_err(
			EFBIG,
			"%s has %lld bytes, more than the %zu this tool reads; it is damaged or hostile",
			shown, (long long)st.st_size, max);
		goto out;
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf) {
		err = atomfs_err(ENOMEM, "out of memory reading %s", shown);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = atomfs_err(n < 0 ? errno : EIO,
					 "cannot read %s: %s", shown,
					 n < 0 ? strerror(errno) :
						 "it shrank while read");
			free(buf);
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	if (len)
		*len = got;
	err = 0;
out:
	close(fd);
	return err;
}

/*
 * Create a new file "<prefix>XXXXXXXX" in @dirfd with O_EXCL|O_NOFOLLOW:
 * a name planted in advance (symlink or not) is never opened, only skipped.
 * The name is returned in @name (caller frees).
 */
int atomfs_create_tmp_at(int dirfd, const char *prefix, char **name)
{
	unsigned int rnd;
	int i, fd;

	for (i = 0; i < 100; i++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (unsigned int)getpid() * 2654435761u +
			      (unsigned int)i;
		*name = atomfs_asprintf("%s%d-%08x", prefix, (int)getpid(),
					rnd);
		if (!*name)
			return -ENOMEM;
		fd = openat(dirfd, *name,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				    O_CLOEXEC,
			    0644);
		if (fd >= 0)
			return fd;
		free(*name);
		*name = NULL;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/*
 * Replace @name in @dirfd atomically: a new temporary file (O_EXCL), data,
 * fsync, then fsync @syncfd (when >= 0: the directory whose entries the new
 * content refers to, e.g. blobs/sha256 before index.json), renameat, fsync
 * @dirfd.  Readers see the old or the new file, never a torn one, and never
 * a name that points to a blob not yet on disk.
 */
int atomfs_write_at_atomic(int dirfd, const char *name, const void *data,
			   size_t len, int syncfd)
{
	cleanup_free char *prefix = atomfs_asprintf(".%s.tmp-", name);
	cleanup_free char *tmp = NULL;
	int fd, err;

	if (!prefix)
		return -ENOMEM;
	fd = atomfs_create_tmp_at(dirfd, prefix, &tmp);
	if (fd < 0)
		return fd;
	err = write_all(fd, data, len);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && syncfd >= 0 && fsync(syncfd) < 0)
		err = -errno;
	if (!err && renameat(dirfd, tmp, dirfd, name) < 0)
		err = -errno;
	if (err) {
		unlinkat(dirfd, tmp, 0);
		return err;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	cleanup_free char *p = strdup(path);
	char *s;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static atomfs_log_fn log_fn;
static void *log_data;

void atomfs_set_log_fn(atomfs_log_fn fn, void *data)
{
	log_fn = fn;
	log_data = data;
}

void atomfs_warn(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(log_data, 4 /* LOG_WARNING */, msg);
}
