// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * layout.c: an OCI image layout directory.
 *
 * The layout may belong to someone else, so every file is reached relative
 * to the layout's directory fd and the fd of blobs/sha256, opened with
 * O_NOFOLLOW; only regular files are read.
 *
 * Crash safety: blobs are written to an unnamed O_TMPFILE (or, where the
 * filesystem has none, an O_EXCL name .tmp-PID-RANDOM), hashed, then linked
 * or renamed to their digest; blobs/sha256 is synced before index.json is
 * replaced with renameat().  So an interrupted command leaves at worst a
 * stray temporary file (gc removes it) and never a blob whose name lies.
 * Processes serialise on flock() of the layout directory: exclusive to
 * write, shared to read; a source layout's lock is dropped once its
 * documents are read (atomfs_layout_unlock), so no command holds one lock
 * while waiting for another.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "oci.h"

#define MAX_JSON (64u << 20)
/* index.json: thousands of tags fit in far less */
#define MAX_INDEX (16u << 20)

static const char oci_layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

json_t *atomfs_desc_new(const char *media_type, const char *digest,
			uint64_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest",
			 digest, "size", (json_int_t)size);
}

const char *atomfs_desc_str(const json_t *desc, const char *key)
{
	return json_string_value(json_object_get(desc, key));
}

const char *atomfs_desc_annotation(const json_t *desc, const char *key)
{
	return json_string_value(
		json_object_get(json_object_get(desc, "annotations"), key));
}

int atomfs_desc_set_annotation(json_t *desc, const char *key, const char *value)
{
	json_t *a = json_object_get(desc, "annotations");

	if (!a) {
		a = json_object();
		/* _set_new takes the reference, also when it fails */
		if (!a || json_object_set_new(desc, "annotations", a))
			return -ENOMEM;
	}
	if (json_object_set_new(a, key, json_string(value)))
		return -ENOMEM;
	return 0;
}

int atomfs_desc_check(const json_t *desc, const char *where)
{
	const char *d = atomfs_desc_str(desc, "digest");
	json_t *size = json_object_get(desc, "size");

	if (!json_is_object(desc) || !atomfs_desc_str(desc, "mediaType") ||
	    !json_is_integer(size) || json_integer_value(size) < 0)
		return atomfs_err(
			EBADMSG,
			"%s: a descriptor lacks mediaType, digest or size",
			where);
	if (!d || !atomfs_digest_valid(d)) {
		if (d && strncmp(d, "sha256:", 7))
			return atomfs_err(
				ENOTSUP,
				"%s: digest %s uses an unsupported algorithm (only sha256)",
				where, d);
		return atomfs_err(EBADMSG, "%s: malformed digest '%s'", where,
				  d ? d : "(none)");
	}
	return 0;
}

static int check_index(json_t *idx, const char *path)
{
	json_t *m = json_object_get(idx, "manifests"), *d;
	size_t i;
	int err;

	if (!json_is_object(idx) ||
	    json_integer_value(json_object_get(idx, "schemaVersion")) != 2 ||
	    !json_is_array(m))
		return atomfs_err(
			EBADMSG,
			"%s is not an OCI image index (needs schemaVersion 2 and a manifests array); restore it or re-create the layout",
			path);
	json_array_foreach(m, i, d)
	{
		err = atomfs_desc_check(d, path);
		if (err)
			return err;
	}
	return 0;
}

static int read_index(struct atomfs_layout *l)
{
	cleanup_free char *path = atomfs_join(l->dir, "index.json");
	cleanup_free char *data = NULL;
	json_error_t jerr;
	size_t len;
	int err;

	if (!path)
		return atomfs_enomem();
	err = atomfs_read_at(l->dirfd, "index.json", path, MAX_INDEX, &data,
			     &len);
	if (err == -ENOENT)
		return atomfs_err(
			ENOENT,
			"%s has no index.json: it is not an OCI image layout",
			l->dir);
	if (err)
		return err;
	l->index = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!l->index && json_error_code(&jerr) == json_error_out_of_memory)
		return atomfs_enomem();
	if (!l->index)
		return atomfs_err(
			EBADMSG,
			"%s is malformed (line %d: %s); restore it or re-create the layout",
			path, jerr.line, jerr.text);
	return check_index(l->index, path);
}

/* blobs/sha256, never through a symlink */
static int open_blobdir(struct atomfs_layout *l, bool create)
{
	int b, fd, err;

	if (create && mkdirat(l->dirfd, "blobs", 0755) < 0 && errno != EEXIST)
		return -errno;
	b = openat(l->dirfd, "blobs",
		   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (b < 0)
		return -errno;
	if (create && mkdirat(b, "sha256", 0755) < 0 && errno != EEXIST) {
		err = -errno;
		close(b);
		return err;
	}
	fd = openat(b, "sha256",
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	err = fd < 0 ? -errno : fd;
	close(b);
	return err;
}

static int blobdir_err(const struct atomfs_layout *l, int err)
{
	if (err == -ELOOP || err == -ENOTDIR)
		return atomfs_err(
			EBADMSG,
			"%s/blobs/sha256 is a symbolic link or not a directory; refusing to use the layout (it must be a plain directory)",
			l->dir);
	return atomfs_err(err, "cannot open %s/blobs/sha256: %s", l->dir,
			  strerror(-err));
}

static int create_layout(struct atomfs_layout *l)
{
	static const char empty_index[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
		"\",\"manifests\":[]}";
	int err;

	err = open_blobdir(l, true);
	if (err < 0)
		return blobdir_err(l, err);
	l->blobfd = err;
	err = 0;
	if (faccessat(l->dirfd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		err = atomfs_write_at_atomic(l->dirfd, "index.json",
					     empty_index, strlen(empty_index),
					     -1);
	if (!err)
		err = atomfs_write_at_atomic(l->dirfd, "oci-layout",
					     oci_layout_json,
					     strlen(oci_layout_json), -1);
	if (err)
		return atomfs_err(err, "cannot create an OCI layout in %s: %s",
				  l->dir, strerror(-err));
	return 0;
}

/* Wait for the lock, saying so when another command holds it. */
static int lock_layout(struct atomfs_layout *l)
{
	int how = l->writable ? LOCK_EX : LOCK_SH;

	if (flock(l->dirfd, how | LOCK_NB) == 0)
		goto locked;
	if (errno != EWOULDBLOCK)
		return atomfs_err(errno, "cannot lock image layout %s: %m",
				  l->dir);
	atomfs_warn(
		"waiting for the lock on %s (another atomfs command is using it)",
		l->dir);
	while (flock(l->dirfd, how) < 0) {
		if (errno != EINTR)
			return atomfs_err(errno,
					  "cannot lock image layout %s: %m",
					  l->dir);
	}
locked:
	l->locked = true;
	return 0;
}

int atomfs_layout_open(const char *dir, unsigned int flags,
		       struct atomfs_layout **out)
{
	json_error_t jerr;
	struct atomfs_layout *l;
	cleanup_free char *lay = NULL;
	cleanup_free char *layout_json = NULL;
	json_t *j;
	int err;

	err = flags & ATOMFS_LAYOUT_CREATE ? mkdir_p(dir, 0755) : 0;
	if (err == -ENOMEM)
		return atomfs_enomem();
	if (err)
		return atomfs_err(err, "cannot create directory %s: %s", dir,
				  strerror(-err));
	l = calloc(1, sizeof(*l));
	if (!l)
		return atomfs_enomem();
	l->dirfd = l->blobfd = -1;
	l->dir = strdup(dir);
	lay = atomfs_join(dir, "oci-layout");
	if (!l->dir || !lay) {
		err = atomfs_enomem();
		goto fail;
	}
	l->writable = flags & ATOMFS_LAYOUT_WRITE;
	l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0) {
		err = atomfs_err(errno, "cannot open image layout %s: %m", dir);
		goto fail;
	}
	err = lock_layout(l);
	if (err)
		goto fail;
	if (faccessat(l->dirfd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		if (!(flags & ATOMFS_LAYOUT_CREATE)) {
			err = atomfs_err(
				ENOENT,
				"%s is not an OCI image layout (no oci-layout file)",
				dir);
			goto fail;
		}
		err = create_layout(l);
		if (err)
			goto fail;
		l->created = true;
	}
	err = atomfs_read_at(l->dirfd, "oci-layout", lay, 4096, &layout_json,
			     NULL);
	if (err)
		goto fail;
	j = json_loads(layout_json, 0, &jerr);
	if (!j && json_error_code(&jerr) == json_error_out_of_memory) {
		err = atomfs_enomem();
		goto fail;
	}
	if (!j || !json_is_string(json_object_get(j, "imageLayoutVersion"))) {
		json_decref(j);
		err = atomfs_err(
			EBADMSG,
			"%s is malformed: expected {\"imageLayoutVersion\": \"1.0.0\"}",
			lay);
		goto fail;
	}
	json_decref(j);
	if (l->blobfd < 0) {
		err = open_blobdir(l, l->writable);
		if (err >= 0) {
			l->blobfd = err;
		} else if (err != -ENOENT || l->writable) {
			err = blobdir_err(l, err);
			goto fail;
		}
	}
	err = read_index(l);
	if (err)
		goto fail;
	*out = l;
	return 0;
fail:
	atomfs_layout_close(l);
	return err;
}

void atomfs_layout_unlock(struct atomfs_layout *l)
{
	if (l && l->locked && !l->writable) {
		flock(l->dirfd, LOCK_UN);
		l->locked = false;
	}
}

/*
 * Files to remove if the process is killed by SIGINT/SIGTERM/SIGHUP: the
 * named temporary blobs being written and the blobs this command added, as
 * (directory fd, name) pairs so that the handler needs only unlinkat().
 * The table is a list of fixed chunks that only grows: the handler walks
 * it while the program may be adding to it, so an entry is published with
 * an atomic store after it is complete, and a chunk is linked in only once
 * it is initialised.  Changes are serialised by a mutex.
 */
#define DOOM_CHUNK 128
struct doom_chunk {
	struct doom_chunk *next;
	int dirfd[DOOM_CHUNK];
	char *name[DOOM_CHUNK];
};
static struct doom_chunk doom_first;
static pthread_mutex_t doom_lock = PTHREAD_MUTEX_INITIALIZER;

static int doom(int dirfd, const char *name)
{
	struct doom_chunk *c, *last = NULL;
	char *copy = strdup(name);
	int i, err = 0;

	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&doom_lock);
	for (c = &doom_first; c; last = c, c = c->next) {
		for (i = 0; i < DOOM_CHUNK; i++) {
			if (c->name[i])
				continue;
			c->dirfd[i] = dirfd;
			__atomic_store_n(&c->name[i], copy, __ATOMIC_RELEASE);
			goto out;
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		free(copy);
		err = -ENOMEM;
		goto out;
	}
	c->dirfd[0] = dirfd;
	c->name[0] = copy;
	__atomic_store_n(&last->next, c, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&doom_lock);
	return err;
}

static void undoom(int dirfd, const char *name)
{
	struct doom_chunk *c;
	int i;

	pthread_mutex_lock(&doom_lock);
	for (c = &doom_first; c; c = c->next) {
		for (i = 0; i < DOOM_CHUNK; i++) {
			char *p = c->name[i];

			if (p && c->dirfd[i] == dirfd && !strcmp(p, name)) {
				__atomic_store_n(&c->name[i], NULL,
						 __ATOMIC_RELEASE);
				/* a handler running now may still read it */
				free(p);
			}
		}
	}
	pthread_mutex_unlock(&doom_lock);
}

void atomfs_layout_cleanup_signal_safe(void)
{
	struct doom_chunk *c;
	int i;

	for (c = &doom_first; c;
	     c = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE))
		for (i = 0; i < DOOM_CHUNK; i++) {
			char *p =
				__atomic_load_n(&c->name[i], __ATOMIC_ACQUIRE);

			if (p)
				unlinkat(c->dirfd[i], p, 0);
		}
}

/* a new blob: rollback and the signal clean-up remove it */
static int note_added(struct atomfs_layout *l, const char *name)
{
	char **v = realloc(l->added, (l->nadded + 1) * sizeof(*l->added));
	char *copy = strdup(name);

	if (v)
		l->added = v;
	if (!v || !copy || doom(l->blobfd, name)) {
		free(copy);
		unlinkat(l->blobfd, name, 0);
		return atomfs_enomem();
	}
	l->added[l->nadded++] = copy;
	return 0;
}

static void forget_added(struct atomfs_layout *l)
{
	size_t i;

	for (i = 0; i < l->nadded; i++) {
		undoom(l->blobfd, l->added[i]);
		free(l->added[i]);
	}
	free(l->added);
	l->added = NULL;
	l->nadded = 0;
}

void atomfs_layout_keep_blobs(struct atomfs_layout *l)
{
	forget_added(l);
}

static void tmp_drop(struct atomfs_layout *l, size_t i)
{
	struct atomfs_tmpblob *t = &l->tmps[i];

	if (t->name) {
		unlinkat(l->blobfd, t->name, 0);
		undoom(l->blobfd, t->name);
		free(t->name);
	}
	close(t->fd);
	free(t->path);
	l->tmps[i] = l->tmps[--l->ntmps];
}

void atomfs_layout_rollback(struct atomfs_layout *l)
{
	size_t i;

	while (l->ntmps)
		tmp_drop(l, 0);
	for (i = 0; i < l->nadded; i++)
		unlinkat(l->blobfd, l->added[i], 0);
	forget_added(l);
	if (l->created) {
		int b = openat(l->dirfd, "blobs",
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (b >= 0) {
			unlinkat(b, "sha256", AT_REMOVEDIR);
			close(b);
		}
		unlinkat(l->dirfd, "blobs", AT_REMOVEDIR);
		unlinkat(l->dirfd, "index.json", 0);
		unlinkat(l->dirfd, "oci-layout", 0);
		rmdir(l->dir);
	}
}

void atomfs_layout_close(struct atomfs_layout *l)
{
	if (!l)
		return;
	while (l->ntmps)
		tmp_drop(l, 0);
	forget_added(l);
	if (l->blobfd >= 0)
		close(l->blobfd);
	if (l->dirfd >= 0)
		close(l->dirfd); /* drops the lock */
	json_decref(l->index);
	free(l->tmps);
	free(l->dir);
	free(l);
}

bool atomfs_layout_same(struct atomfs_layout *l, const char *dir)
{
	struct stat a, b;

	return fstat(l->dirfd, &a) == 0 && stat(dir, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

char *atomfs_layout_blob_path(const struct atomfs_layout *l, const char *digest)
{
	return atomfs_asprintf("%s/blobs/sha256/%s", l->dir, digest + 7);
}

int atomfs_layout_get_tag(const struct atomfs_layout *l, const char *tag,
			  json_t **out)
{
	json_t *m = json_object_get(l->index, "manifests"), *d, *found = NULL;
	size_t i, n = 0;

	json_array_foreach(m, i, d)
	{
		const char *name = atomfs_desc_annotation(d, ANN_REF_NAME);

		if (name && !strcmp(name, tag)) {
			found = d;
			n++;
		}
	}
	if (!found)
		return -ENOENT;
	/* tools disagree on which one wins (containers/image: the first) */
	if (n > 1)
		return atomfs_err(
			EBADMSG,
			"%s/index.json lists tag '%s' %zu times, so which image it names is ambiguous; refusing it (retag it with atomfs build or remove the extra entries; 'atomfs fsck %s' lists them)",
			l->dir, tag, n, l->dir);
	*out = found;
	return 0;
}

json_t *atomfs_layout_duplicate_tags(const struct atomfs_layout *l)
{
	json_t *m = json_object_get(l->index, "manifests"), *d, *seen, *dup, *v;
	const char *k;
	size_t i;

	seen = json_object();
	json_array_foreach(m, i, d)
	{
		const char *name = atomfs_desc_annotation(d, ANN_REF_NAME);

		if (!name)
			continue;
		json_object_set_new(
			seen, name,
			json_integer(json_integer_value(
					     json_object_get(seen, name)) +
				     1));
	}
	dup = json_object();
	json_object_foreach(seen, k, v) if (json_integer_value(v) > 1)
		json_object_set(dup, k, v);
	json_decref(seen);
	return dup;
}

int atomfs_layout_set_tag(struct atomfs_layout *l, const char *tag,
			  json_t *desc)
{
	json_t *m = json_object_get(l->index, "manifests");
	size_t i, n = json_array_size(m);

	/*
	 * Takes DESC in every case. The new entry goes in first, so that a
	 * failed allocation leaves the old tag where it was.
	 */
	if (!desc || atomfs_desc_set_annotation(desc, ANN_REF_NAME, tag)) {
		json_decref(desc);
		return atomfs_enomem();
	}
	if (json_array_append_new(m, desc))
		return atomfs_enomem();
	for (i = 0; i < n;) {
		const char *name = atomfs_desc_annotation(json_array_get(m, i),
							  ANN_REF_NAME);

		if (name && !strcmp(name, tag)) {
			json_array_remove(m, i);
			n--;
		} else {
			i++;
		}
	}
	return 0;
}

int atomfs_layout_add_entry(struct atomfs_layout *l, json_t *desc)
{
	/* takes DESC, also when it fails */
	if (json_array_append_new(json_object_get(l->index, "manifests"), desc))
		return atomfs_enomem();
	return 0;
}

int atomfs_layout_write_index(struct atomfs_layout *l)
{
	cleanup_free char *path = atomfs_join(l->dir, "index.json");
	cleanup_free char *s =
		json_dumps(l->index, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int err;

	if (!s || !path)
		return atomfs_err(ENOMEM, "out of memory");
	/* the blobs it names (hard links and renames included) reach the disk first */
	err = atomfs_write_at_atomic(l->dirfd, "index.json", s, strlen(s),
				     l->blobfd);
	if (err)
		return atomfs_err(err, "cannot write %s: %s", path,
				  strerror(-err));
	forget_added(l);
	l->created = false;
	return 0;
}

int atomfs_layout_tmp_create(struct atomfs_layout *l, char **path)
{
	struct atomfs_tmpblob t = { 0 }, *tmps = NULL;

	if (!l->writable || l->blobfd < 0)
		return atomfs_err(EBADF, "%s is not open for writing", l->dir);
	t.fd = openat(l->blobfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (t.fd < 0) {
		/* no O_TMPFILE here (9p, NFS...): a fresh O_EXCL name */
		t.fd = atomfs_create_tmp_at(l->blobfd, ".tmp-", &t.name);
		if (t.fd < 0)
			return atomfs_err(
				t.fd,
				"cannot create a temporary file in %s/blobs/sha256: %s",
				l->dir, strerror(-t.fd));
		if (doom(l->blobfd, t.name))
			goto nomem;
	}
	t.path = atomfs_asprintf("/proc/self/fd/%d", t.fd);
	*path = t.path ? strdup(t.path) : NULL;
	tmps = realloc(l->tmps, (l->ntmps + 1) * sizeof(*l->tmps));
	if (!t.path || !*path || !tmps)
		goto nomem;
	l->tmps = tmps;
	l->tmps[l->ntmps++] = t;
	return 0;
nomem:
	if (tmps)
		l->tmps = tmps;
	free(*path);
	*path = NULL;
	free(t.path);
	if (t.name) {
		unlinkat(l->blobfd, t.name, 0);
		undoom(l->blobfd, t.name);
		free(t.name);
	}
	close(t.fd);
	return atomfs_enomem();
}

/* Give a temporary blob the name @hex; 1 if it was new, 0 if present. */
static int tmp_place(struct atomfs_layout *l, struct atomfs_tmpblob *t,
		     const char *hex)
{
	if (t->name) {
		bool present = faccessat(l->blobfd, hex, F_OK,
					 AT_SYMLINK_NOFOLLOW) == 0;

		if (renameat(l->blobfd, t->name, l->blobfd, hex) < 0)
			return -errno;
		undoom(l->blobfd, t->name);
		free(t->name);
		t->name = NULL;
		return !present;
	}
	if (linkat(AT_FDCWD, t->path, l->blobfd, hex, AT_SYMLINK_FOLLOW) == 0 ||
	    linkat(t->fd, "", l->blobfd, hex, AT_EMPTY_PATH) == 0)
		return 1;
	return errno == EEXIST ? 0 : -errno;
}

int atomfs_layout_commit_blob(struct atomfs_layout *l, const char *tmp,
			      char **digest, uint64_t *size)
{
	cleanup_free char *d = NULL;
	struct atomfs_tmpblob *t = NULL;
	size_t i;
	int err;

	for (i = 0; i < l->ntmps; i++)
		if (!strcmp(l->tmps[i].path, tmp))
			t = &l->tmps[i];
	if (!t)
		return atomfs_err(EINVAL, "%s is no temporary blob of %s", tmp,
				  l->dir);
	err = atomfs_digest_fd(t->fd, tmp, &d, size);
	if (err)
		goto out;
	if (fsync(t->fd) < 0) {
		err = atomfs_err(errno, "cannot sync a new blob of %s: %m",
				 l->dir);
		goto out;
	}
	err = tmp_place(l, t, d + 7);
	if (err < 0) {
		err = atomfs_err(err, "cannot store blob %s in %s: %s", d,
				 l->dir, strerror(-err));
		goto out;
	}
	err = err == 1 ? note_added(l, d + 7) : 0;
	if (!err)
		*digest = steal_pointer(&d);
out:
	tmp_drop(l, (size_t)(t - l->tmps));
	return err;
}

static int write_all_fd(int fd, const char *p, size_t len)
{
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

int atomfs_layout_put_json(struct atomfs_layout *l, const json_t *j,
			   char **digest, uint64_t *size)
{
	cleanup_free char *s =
		json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cleanup_free char *tmp = NULL;
	int err;

	if (!s)
		return atomfs_err(ENOMEM, "out of memory");
	err = atomfs_layout_tmp_create(l, &tmp);
	if (err)
		return err;
	err = write_all_fd(l->tmps[l->ntmps - 1].fd, s, strlen(s));
	if (err) {
		tmp_drop(l, l->ntmps - 1);
		return atomfs_err(err, "cannot write a blob in %s: %s", l->dir,
				  strerror(-err));
	}
	return atomfs_layout_commit_blob(l, tmp, digest, size);
}

int atomfs_layout_open_blob(const struct atomfs_layout *l, const char *digest,
			    struct stat *st)
{
	struct stat buf;
	int fd, err;

	if (!atomfs_digest_valid(digest))
		return atomfs_err(EBADMSG, "malformed digest '%s' in %s",
				  digest, l->dir);
	if (!st)
		st = &buf;
	fd = l->blobfd < 0 ?
		     -1 :
		     openat(l->blobfd, digest + 7,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && (l->blobfd < 0 || errno == ENOENT))
		return atomfs_err(
			ENOENT,
			"blob %s is missing from %s; copy the image again (skopeo copy) or rebuild it",
			digest, l->dir);
	if (fd < 0 && errno == ELOOP)
		return atomfs_err(
			EBADMSG,
			"blob %s in %s is a symbolic link; refusing to follow it",
			digest, l->dir);
	if (fd < 0)
		return atomfs_err(errno, "cannot open blob %s in %s: %m",
				  digest, l->dir);
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		err = atomfs_err(
			EBADMSG,
			"blob %s in %s is not a regular file; refusing to read it",
			digest, l->dir);
		close(fd);
		return err;
	}
	return fd;
}

int atomfs_layout_check_blob(const struct atomfs_layout *l, const char *digest,
			     int64_t size)
{
	cleanup_free char *path = NULL;
	cleanup_free char *d = NULL;
	struct stat st;
	int fd, err;

	fd = atomfs_layout_open_blob(l, digest, &st);
	if (fd < 0)
		return fd;
	path = atomfs_layout_blob_path(l, digest);
	if (!path) {
		err = atomfs_enomem();
		goto out;
	}
	if (size >= 0 && st.st_size != size) {
		err = atomfs_err(
			EILSEQ,
			"blob %s has %lld bytes but its descriptor says %lld: it is damaged; rebuild or re-copy the image",
			path, (long long)st.st_size, (long long)size);
		goto out;
	}
	err = atomfs_digest_fd(fd, path, &d, NULL);
	if (!err && strcmp(d, digest))
		err = atomfs_err(
			EILSEQ,
			"blob %s does not match its digest (content hashes to %s): it is damaged; rebuild or re-copy the image",
			path, d);
out:
	close(fd);
	return err;
}

int atomfs_layout_read_json(const struct atomfs_layout *l, const char *digest,
			    int64_t size, json_t **out)
{
	cleanup_free char *path = NULL;
	cleanup_free char *data = NULL;
	cleanup_free char *d = NULL;
	json_error_t jerr;
	size_t len;
	int err;

	if (!atomfs_digest_valid(digest))
		return atomfs_err(EBADMSG, "malformed digest '%s' in %s",
				  digest, l->dir);
	path = atomfs_layout_blob_path(l, digest);
	if (!path)
		return atomfs_enomem();
	if (l->blobfd < 0)
		err = -ENOENT;
	else
		err = atomfs_read_at(l->blobfd, digest + 7, path, MAX_JSON,
				     &data, &len);
	if (err == -ENOENT)
		return atomfs_err(
			ENOENT,
			"blob %s is missing from %s; copy the image again or rebuild it",
			digest, l->dir);
	if (err)
		return err;
	d = atomfs_digest_buf(data, len);
	if (!d)
		return atomfs_enomem();
	if (strcmp(d, digest) || (size >= 0 && (int64_t)len != size))
		return atomfs_err(
			EILSEQ,
			"blob %s does not match its descriptor (digest or size differ): it is damaged; rebuild or re-copy the image",
			path);
	*out = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out && json_error_code(&jerr) == json_error_out_of_memory)
		return atomfs_enomem();
	if (!*out)
		return atomfs_err(EBADMSG, "%s is not valid JSON (%s)", path,
				  jerr.text);
	return 0;
}

static int copy_fd(int in, int out)
{
	size_t bufsz = 1 << 20;
	cleanup_free char *buf = malloc(bufsz);
	off_t off = 0;
	int err;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(in, buf, bufsz, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : 0;
		err = write_all_fd(out, buf, (size_t)n);
		if (err)
			return err;
		off += n;
	}
}

/*
 * Link only a file whose owner owns the destination too and which nobody
 * else may write: otherwise root's layout would share an inode that a user
 * can rewrite after it was verified.  Anything else is copied.
 */
static bool may_share(const struct atomfs_layout *l, const struct stat *st)
{
	struct stat dir;

	return fstat(l->blobfd, &dir) == 0 && st->st_uid == dir.st_uid &&
	       !(st->st_mode & (S_IWGRP | S_IWOTH)) && st->st_dev == dir.st_dev;
}

int atomfs_layout_import_blob(struct atomfs_layout *l,
			      const struct atomfs_layout *src,
			      const char *digest, int64_t size)
{
	cleanup_free char *from = atomfs_layout_blob_path(src, digest);
	cleanup_free char *tmp = NULL;
	cleanup_free char *got = NULL;
	cleanup_free char *proc = NULL;
	struct stat st;
	int fd, err;

	if (!atomfs_digest_valid(digest))
		return atomfs_err(EBADMSG, "malformed digest '%s' in %s",
				  digest, src->dir);
	if (!from)
		return atomfs_enomem();
	if (faccessat(l->blobfd, digest + 7, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	/* hash the very file that is linked or copied */
	fd = atomfs_layout_open_blob(src, digest, &st);
	if (fd < 0)
		return fd;
	if (size >= 0 && st.st_size != size) {
		err = atomfs_err(
			EILSEQ,
			"blob %s has %lld bytes but its descriptor says %lld: it is damaged; rebuild or re-copy the image",
			from, (long long)st.st_size, (long long)size);
		goto out;
	}
	err = atomfs_digest_fd(fd, from, &got, NULL);
	if (!err && strcmp(got, digest))
		err = atomfs_err(
			EILSEQ,
			"blob %s does not match its digest (content hashes to %s): it is damaged; rebuild or re-copy the image",
			from, got);
	if (err)
		goto out;
	free(got);
	got = NULL;
	/* same owner, same filesystem: share the inode, no copy, no second hash */
	proc = atomfs_asprintf("/proc/self/fd/%d", fd);
	if (!proc) {
		err = atomfs_enomem();
		goto out;
	}
	if (may_share(l, &st) && linkat(AT_FDCWD, proc, l->blobfd, digest + 7,
					AT_SYMLINK_FOLLOW) == 0) {
		err = note_added(l, digest + 7);
		goto out;
	}
	err = atomfs_layout_tmp_create(l, &tmp);
	if (err)
		goto out;
	err = copy_fd(fd, l->tmps[l->ntmps - 1].fd);
	if (err) {
		tmp_drop(l, l->ntmps - 1);
		err = atomfs_err(err, "cannot copy blob %s into %s: %s", digest,
				 l->dir, strerror(-err));
		goto out;
	}
	err = atomfs_layout_commit_blob(l, tmp, &got, NULL);
	if (err)
		goto out;
	if (strcmp(got, digest)) {
		/* changed under us between check and copy */
		unlinkat(l->blobfd, got + 7, 0);
		err = atomfs_err(EILSEQ,
				 "blob %s changed while it was copied from %s",
				 digest, src->dir);
	}
out:
	close(fd);
	return err;
}
