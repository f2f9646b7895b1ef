/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * oci.h: OCI image layouts (oci-layout, index.json, blobs/sha256/) and
 * digests.  JSON documents are jansson objects; descriptors are the
 * JSON objects of the spec.
 */
#ifndef ATOMFS_OCI_H
#define ATOMFS_OCI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
#define MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
/* v2 binds manifest digest and tag; v1 (digest only) is refused: re-sign */
#define MT_SIGNATURE "application/vnd.atomfs.signature.v2+json"
#define MT_SIGNATURE_V1 "application/vnd.atomfs.signature.v1+json"
#define EMPTY_DIGEST \
	"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_CREATED "org.opencontainers.image.created"
/* provenance of a layer descriptor (see Documentation/image-format.rst) */
#define ANN_SRC_ROLE "org.atomfs.layer.role" /* base | apply | build | import */
#define ANN_SRC_REF "org.atomfs.layer.source" /* DIR:TAG it was taken from */
#define ANN_SRC_MANIFEST \
	"org.atomfs.layer.source.manifest" /* that image's manifest digest */
#define ANN_SRC_INPUT "org.atomfs.layer.input" /* --layer PATH as given */
#define ANN_LAYER_POSIX_ACL \
	"org.atomfs.layer.posix-acl" /* "1": stores POSIX ACLs (image-format.rst) */
#define ANN_SIG_KEY \
	"org.atomfs.signature.key" /* sha256 of the public key (DER) */
#define ANN_SIG_TAG \
	"org.atomfs.signature.tag" /* the tag signed (a hint: not verified) */

/* digest.c */
bool atomfs_digest_valid(const char *digest);
/* "sha256:<hex>" of a buffer or a file (and its size) */
char *atomfs_digest_buf(const void *data, size_t len);
int atomfs_digest_file(const char *path, char **digest, uint64_t *size);
int atomfs_digest_fd(int fd, const char *shown, char **digest, uint64_t *size);

/* a blob being written: a file in blobs/sha256 without a final name yet */
struct atomfs_tmpblob {
	char *path; /* /proc/self/fd/N: what the writer opens */
	int fd;
	char *name; /* its temporary name, NULL for an O_TMPFILE */
};

/*
 * Every file of a layout is reached relative to dirfd and blobfd, never
 * through a symlink: the layout may belong to someone else.
 */
struct atomfs_layout {
	char *dir;
	int dirfd; /* the layout directory, also the flock()ed object */
	int blobfd; /* blobs/sha256 (opened with O_NOFOLLOW), -1 if absent */
	json_t *index; /* index.json as read, changed in memory until written */
	bool writable;
	bool locked;
	bool created; /* this open made the layout: rollback removes it */
	char **added; /* blob names this command added: rollback removes them */
	size_t nadded;
	struct atomfs_tmpblob *tmps; /* blobs being written */
	size_t ntmps;
};

enum {
	ATOMFS_LAYOUT_WRITE = 1 << 0, /* exclusive lock, may write */
	ATOMFS_LAYOUT_CREATE =
		1 << 1, /* create an empty layout if DIR has none */
};

/* layout.c */
/*
 * Async-signal-safe: remove the temporary and newly added blobs of every
 * open layout.  A tool's handler for SIGINT/SIGTERM/SIGHUP calls it (the
 * library installs no handler).
 */
void atomfs_layout_cleanup_signal_safe(void);
int atomfs_layout_open(const char *dir, unsigned int flags,
		       struct atomfs_layout **out);
void atomfs_layout_close(struct atomfs_layout *l);
/* Drop the lock of a read-only layout once what it needs is read: never hold
 * a source's lock while waiting for another (blobs are re-checked on use). */
void atomfs_layout_unlock(struct atomfs_layout *l);
bool atomfs_layout_same(struct atomfs_layout *l, const char *dir);
char *atomfs_layout_blob_path(const struct atomfs_layout *l,
			      const char *digest);
/* index.json entries */
/* 0 and the entry (borrowed), -ENOENT, or -EBADMSG if tagged twice */
int atomfs_layout_get_tag(const struct atomfs_layout *l, const char *tag,
			  json_t **desc);
/* tags listed more than once: {"tag": count, ...} (new reference) */
json_t *atomfs_layout_duplicate_tags(const struct atomfs_layout *l);
int atomfs_layout_set_tag(struct atomfs_layout *l, const char *tag,
			  json_t *desc);
int atomfs_layout_add_entry(struct atomfs_layout *l, json_t *desc);
/* write index.json: the command's changes become visible (and are kept) */
int atomfs_layout_write_index(struct atomfs_layout *l);
/* the blobs added so far stay even if the command fails (a pull's verified blobs) */
void atomfs_layout_keep_blobs(struct atomfs_layout *l);
/* undo a failed command: remove the blobs it added (and a layout it created) */
void atomfs_layout_rollback(struct atomfs_layout *l);
/*
 * blobs: new ones are written to an unnamed (O_TMPFILE) or O_EXCL-created
 * file, hashed, then given their digest name.  @path is /proc/self/fd/N.
 */
int atomfs_layout_tmp_create(struct atomfs_layout *l, char **path);
int atomfs_layout_commit_blob(struct atomfs_layout *l, const char *tmp,
			      char **digest, uint64_t *size);
int atomfs_layout_put_json(struct atomfs_layout *l, const json_t *j,
			   char **digest, uint64_t *size);
/* open a blob for reading: regular file, no symlink; -ENOENT if absent */
int atomfs_layout_open_blob(const struct atomfs_layout *l, const char *digest,
			    struct stat *st);
/* read a JSON blob, checking its digest and (if size >= 0) size */
int atomfs_layout_read_json(const struct atomfs_layout *l, const char *digest,
			    int64_t size, json_t **out);
/* 0, -ENOENT (missing) or -EILSEQ (wrong digest or size), with a message */
int atomfs_layout_check_blob(const struct atomfs_layout *l, const char *digest,
			     int64_t size);
/* bring a blob of another layout in: hard link if possible, else copy; verified */
int atomfs_layout_import_blob(struct atomfs_layout *l,
			      const struct atomfs_layout *src,
			      const char *digest, int64_t size);

/* descriptors */
json_t *atomfs_desc_new(const char *media_type, const char *digest,
			uint64_t size);
const char *atomfs_desc_str(const json_t *desc, const char *key);
const char *atomfs_desc_annotation(const json_t *desc, const char *key);
int atomfs_desc_set_annotation(json_t *desc, const char *key,
			       const char *value);
int atomfs_desc_check(const json_t *desc, const char *where);

#endif
