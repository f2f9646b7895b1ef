// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * layout.c: an OCI image layout directory.
 *
 * Crash safety: blobs are written under blobs/sha256/.tmp-*, hashed and
 * renamed to their digest; index.json is replaced with rename().  So an
 * interrupted command leaves at worst a stray temporary file (gc removes
 * it) and never a blob whose name lies.  Processes serialise on flock()
 * of the layout directory: exclusive to write, shared to read.
 */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "oci.h"

#define MAX_JSON (64u << 20)

static const char oci_layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

json_t *atomfs_desc_new(const char *media_type, const char *digest, uint64_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
			 (json_int_t)size);
}

const char *atomfs_desc_str(const json_t *desc, const char *key)
{
	return json_string_value(json_object_get(desc, key));
}

const char *atomfs_desc_annotation(const json_t *desc, const char *key)
{
	return json_string_value(json_object_get(json_object_get(desc, "annotations"), key));
}

void atomfs_desc_set_annotation(json_t *desc, const char *key, const char *value)
{
	json_t *a = json_object_get(desc, "annotations");

	if (!a) {
		a = json_object();
		json_object_set_new(desc, "annotations", a);
	}
	json_object_set_new(a, key, json_string(value));
}

int atomfs_desc_check(const json_t *desc, const char *where)
{
	const char *d = atomfs_desc_str(desc, "digest");
	json_t *size = json_object_get(desc, "size");

	if (!json_is_object(desc) || !atomfs_desc_str(desc, "mediaType") || !json_is_integer(size) ||
	    json_integer_value(size) < 0)
		return atomfs_err(EBADMSG, "%s: a descriptor lacks mediaType, digest or size", where);
	if (!d || !atomfs_digest_valid(d)) {
		if (d && strncmp(d, "sha256:", 7))
			return atomfs_err(ENOTSUP, "%s: digest %s uses an unsupported algorithm (only sha256)",
					  where, d);
		return atomfs_err(EBADMSG, "%s: malformed digest '%s'", where, d ? d : "(none)");
	}
	return 0;
}

static int check_index(json_t *idx, const char *path)
{
	json_t *m = json_object_get(idx, "manifests"), *d;
	size_t i;
	int err;

	if (!json_is_object(idx) || json_integer_value(json_object_get(idx, "schemaVersion")) != 2 ||
	    !json_is_array(m))
		return atomfs_err(EBADMSG,
				  "%s is not an OCI image index (needs schemaVersion 2 and a manifests array); restore it or re-create the layout",
				  path);
	json_array_foreach(m, i, d) {
		err = atomfs_desc_check(d, path);
		if (err)
			return err;
	}
	return 0;
}

static int read_index(struct atomfs_layout *l)
{
	cleanup_free char *path = path_join(l->dir, "index.json");
	json_error_t jerr;

	l->index = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!l->index) {
		if (access(path, F_OK) < 0)
			return atomfs_err(ENOENT, "%s has no index.json: it is not an OCI image layout", l->dir);
		return atomfs_err(EBADMSG, "%s is malformed (line %d: %s); restore it or re-create the layout",
				  path, jerr.line, jerr.text);
	}
	return check_index(l->index, path);
}

static int create_layout(struct atomfs_layout *l)
{
	cleanup_free char *lay = path_join(l->dir, "oci-layout");
	cleanup_free char *idx = path_join(l->dir, "index.json");
	cleanup_free char *blobs = path_join(l->dir, "blobs/sha256");
	static const char empty_index[] = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
					  "\",\"manifests\":[]}";
	int err;

	err = mkdir_p(blobs, 0755);
	if (!err && access(idx, F_OK) < 0)
		err = write_file_atomic(idx, empty_index, strlen(empty_index));
	if (!err)
		err = write_file_atomic(lay, oci_layout_json, strlen(oci_layout_json));
	if (err)
		return atomfs_err(err, "cannot create an OCI layout in %s: %s", l->dir, strerror(-err));
	return 0;
}

int atomfs_layout_open(const char *dir, unsigned int flags, struct atomfs_layout **out)
{
	struct atomfs_layout *l;
	cleanup_free char *lay = NULL;
	cleanup_free char *layout_json = NULL;
	json_t *j;
	int err;

	if ((flags & ATOMFS_LAYOUT_CREATE) && mkdir_p(dir, 0755) < 0)
		return atomfs_err(errno, "cannot create directory %s: %m", dir);
	l = xcalloc(1, sizeof(*l));
	l->dir = xstrdup(dir);
	l->writable = flags & ATOMFS_LAYOUT_WRITE;
	l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0) {
		err = atomfs_err(errno, "cannot open image layout %s: %m", dir);
		goto fail;
	}
	while (flock(l->dirfd, l->writable ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR) {
			err = atomfs_err(errno, "cannot lock image layout %s: %m", dir);
			goto fail;
		}
	}
	lay = path_join(dir, "oci-layout");
	if (access(lay, F_OK) < 0) {
		if (!(flags & ATOMFS_LAYOUT_CREATE)) {
			err = atomfs_err(ENOENT, "%s is not an OCI image layout (no oci-layout file)", dir);
			goto fail;
		}
		err = create_layout(l);
		if (err)
			goto fail;
		l->created = true;
	}
	err = read_file(lay, &layout_json, NULL, 4096);
	j = err ? NULL : json_loads(layout_json, 0, NULL);
	if (!j || !json_is_string(json_object_get(j, "imageLayoutVersion"))) {
		json_decref(j);
		err = atomfs_err(EBADMSG, "%s is malformed: expected {\"imageLayoutVersion\": \"1.0.0\"}", lay);
		goto fail;
	}
	json_decref(j);
	err = read_index(l);
	if (err)
		goto fail;
	*out = l;
	return 0;
fail:
	atomfs_layout_close(l);
	return err;
}

static void note_added(struct atomfs_layout *l, const char *path)
{
	l->added = xrealloc(l->added, (l->nadded + 1) * sizeof(*l->added));
	l->added[l->nadded++] = xstrdup(path);
}

static void forget_added(struct atomfs_layout *l)
{
	size_t i;

	for (i = 0; i < l->nadded; i++)
		free(l->added[i]);
	free(l->added);
	l->added = NULL;
	l->nadded = 0;
}

void atomfs_layout_rollback(struct atomfs_layout *l)
{
	size_t i;

	for (i = 0; i < l->nadded; i++)
		unlink(l->added[i]);
	forget_added(l);
	if (l->created) {
		cleanup_free char *a = path_join(l->dir, "index.json");
		cleanup_free char *b = path_join(l->dir, "oci-layout");
		cleanup_free char *c = path_join(l->dir, "blobs/sha256");
		cleanup_free char *d = path_join(l->dir, "blobs");

		unlink(a);
		unlink(b);
		rmdir(c);
		rmdir(d);
		rmdir(l->dir);
	}
}

void atomfs_layout_close(struct atomfs_layout *l)
{
	if (!l)
		return;
	forget_added(l);
	if (l->dirfd >= 0)
		close(l->dirfd); /* drops the lock */
	json_decref(l->index);
	free(l->dir);
	free(l);
}

bool atomfs_layout_same(struct atomfs_layout *l, const char *dir)
{
	struct stat a, b;

	return fstat(l->dirfd, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

char *atomfs_layout_blob_path(const struct atomfs_layout *l, const char *digest)
{
	return xasprintf("%s/blobs/sha256/%s", l->dir, digest + 7);
}

json_t *atomfs_layout_find_tag(const struct atomfs_layout *l, const char *tag)
{
	json_t *m = json_object_get(l->index, "manifests"), *d, *found = NULL;
	size_t i;

	/* the last entry wins, as in containers/image */
	json_array_foreach(m, i, d) {
		const char *name = atomfs_desc_annotation(d, ANN_REF_NAME);

		if (name && !strcmp(name, tag))
			found = d;
	}
	return found;
}

int atomfs_layout_set_tag(struct atomfs_layout *l, const char *tag, json_t *desc)
{
	json_t *m = json_object_get(l->index, "manifests");
	size_t i;

	for (i = 0; i < json_array_size(m);) {
		const char *name = atomfs_desc_annotation(json_array_get(m, i), ANN_REF_NAME);

		if (name && !strcmp(name, tag))
			json_array_remove(m, i);
		else
			i++;
	}
	atomfs_desc_set_annotation(desc, ANN_REF_NAME, tag);
	json_array_append_new(m, desc);
	return 0;
}

void atomfs_layout_add_entry(struct atomfs_layout *l, json_t *desc)
{
	json_array_append_new(json_object_get(l->index, "manifests"), desc);
}

int atomfs_layout_write_index(struct atomfs_layout *l)
{
	cleanup_free char *path = path_join(l->dir, "index.json");
	cleanup_free char *s = json_dumps(l->index, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int err;

	if (!s)
		return atomfs_err(ENOMEM, "out of memory");
	err = write_file_atomic(path, s, strlen(s));
	if (err)
		return atomfs_err(err, "cannot write %s: %s", path, strerror(-err));
	forget_added(l);
	l->created = false;
	return 0;
}

char *atomfs_layout_tmp_path(const struct atomfs_layout *l)
{
	static unsigned int seq;

	return xasprintf("%s/blobs/sha256/.tmp-%d-%u", l->dir, (int)getpid(),
			 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

int atomfs_layout_commit_blob(struct atomfs_layout *l, const char *tmp, char **digest, uint64_t *size)
{
	cleanup_free char *d = NULL;
	cleanup_free char *dst = NULL;
	cleanup_free char *blobdir = path_join(l->dir, "blobs/sha256");
	int err;

	err = atomfs_digest_file(tmp, &d, size);
	if (err)
		goto fail;
	err = fsync_path(tmp);
	if (err) {
		err = atomfs_err(err, "cannot sync %s: %s", tmp, strerror(-err));
		goto fail;
	}
	dst = atomfs_layout_blob_path(l, d);
	if (access(dst, F_OK) < 0)
		note_added(l, dst);
	if (rename(tmp, dst) < 0) {
		err = atomfs_err(errno, "cannot store blob %s: %m", dst);
		goto fail;
	}
	fsync_dir(blobdir);
	*digest = steal_pointer(&d);
	return 0;
fail:
	unlink(tmp);
	return err;
}

int atomfs_layout_put_json(struct atomfs_layout *l, const json_t *j, char **digest, uint64_t *size)
{
	cleanup_free char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cleanup_free char *d = NULL;
	cleanup_free char *dst = NULL;
	int err;

	if (!s)
		return atomfs_err(ENOMEM, "out of memory");
	d = atomfs_digest_buf(s, strlen(s));
	dst = atomfs_layout_blob_path(l, d);
	if (access(dst, F_OK) < 0) {
		err = write_file_atomic(dst, s, strlen(s));
		if (err)
			return atomfs_err(err, "cannot write blob %s: %s", dst, strerror(-err));
		note_added(l, dst);
	}
	*digest = steal_pointer(&d);
	if (size)
		*size = strlen(s);
	return 0;
}

int atomfs_layout_check_blob(const struct atomfs_layout *l, const char *digest, int64_t size)
{
	cleanup_free char *path = NULL;
	cleanup_free char *d = NULL;
	struct stat st;
	uint64_t got;
	int err;

	if (!atomfs_digest_valid(digest))
		return atomfs_err(EBADMSG, "malformed digest '%s' in %s", digest, l->dir);
	path = atomfs_layout_blob_path(l, digest);
	if (stat(path, &st) < 0)
		return atomfs_err(ENOENT, "blob %s is missing from %s; copy the image again (skopeo copy) or rebuild it",
				  digest, l->dir);
	if (size >= 0 && st.st_size != size)
		return atomfs_err(EILSEQ, "blob %s has %lld bytes but its descriptor says %lld: it is damaged; rebuild or re-copy the image",
				  path, (long long)st.st_size, (long long)size);
	err = atomfs_digest_file(path, &d, &got);
	if (err)
		return err;
	if (strcmp(d, digest))
		return atomfs_err(EILSEQ, "blob %s does not match its digest (content hashes to %s): it is damaged; rebuild or re-copy the image",
				  path, d);
	return 0;
}

int atomfs_layout_read_json(const struct atomfs_layout *l, const char *digest, int64_t size, json_t **out)
{
	cleanup_free char *path = NULL;
	cleanup_free char *data = NULL;
	cleanup_free char *d = NULL;
	json_error_t jerr;
	size_t len;
	int err;

	if (!atomfs_digest_valid(digest))
		return atomfs_err(EBADMSG, "malformed digest '%s' in %s", digest, l->dir);
	path = atomfs_layout_blob_path(l, digest);
	err = read_file(path, &data, &len, MAX_JSON);
	if (err == -ENOENT)
		return atomfs_err(ENOENT, "blob %s is missing from %s; copy the image again or rebuild it", digest,
				  l->dir);
	if (err)
		return atomfs_err(err, "cannot read %s: %s", path, strerror(-err));
	d = atomfs_digest_buf(data, len);
	if (strcmp(d, digest) || (size >= 0 && (int64_t)len != size))
		return atomfs_err(EILSEQ, "blob %s does not match its descriptor (digest or size differ): it is damaged; rebuild or re-copy the image",
				  path);
	*out = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		return atomfs_err(EBADMSG, "%s is not valid JSON (%s)", path, jerr.text);
	return 0;
}

static int copy_file(const char *src, const char *dst)
{
	size_t bufsz = 1 << 20;
	cleanup_free char *buf = xcalloc(1, bufsz);
	int in, out, err = 0;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		err = -errno;
		close(in);
		return err;
	}
	for (;;) {
		ssize_t n = read(in, buf, bufsz), w;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : 0;
			break;
		}
		for (ssize_t off = 0; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				err = -errno;
				goto out;
			}
		}
	}
out:
	close(in);
	if (close(out) < 0 && !err)
		err = -errno;
	return err;
}

int atomfs_layout_import_blob(struct atomfs_layout *l, const struct atomfs_layout *src, const char *digest,
			      int64_t size)
{
	cleanup_free char *from = atomfs_layout_blob_path(src, digest);
	cleanup_free char *to = atomfs_layout_blob_path(l, digest);
	cleanup_free char *tmp = NULL;
	cleanup_free char *got = NULL;
	int err;

	err = atomfs_layout_check_blob(src, digest, size);
	if (err)
		return err;
	if (access(to, F_OK) == 0)
		return 0;
	tmp = atomfs_layout_tmp_path(l);
	/* same filesystem: share the inode, no copy */
	if (link(from, tmp) < 0) {
		err = copy_file(from, tmp);
		if (err) {
			unlink(tmp);
			return atomfs_err(err, "cannot copy blob %s into %s: %s", digest, l->dir, strerror(-err));
		}
	}
	err = atomfs_layout_commit_blob(l, tmp, &got, NULL);
	if (err)
		return err;
	if (strcmp(got, digest)) {
		/* changed under us between check and copy */
		cleanup_free char *bad = atomfs_layout_blob_path(l, got);

		unlink(bad);
		return atomfs_err(EILSEQ, "blob %s changed while it was copied from %s", digest, src->dir);
	}
	return 0;
}
