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

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_SIGNATURE "application/vnd.atomfs.signature.v1+json"
#define EMPTY_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_CREATED "org.opencontainers.image.created"
/* provenance of a layer descriptor (see Documentation/image-format.rst) */
#define ANN_SRC_ROLE "org.atomfs.layer.role"         /* base | apply | build | import */
#define ANN_SRC_REF "org.atomfs.layer.source"        /* DIR:TAG it was taken from */
#define ANN_SRC_MANIFEST "org.atomfs.layer.source.manifest" /* that image's manifest digest */
#define ANN_SRC_INPUT "org.atomfs.layer.input"       /* --layer PATH as given */
#define ANN_SIG_KEY "org.atomfs.signature.key"       /* sha256 of the public key (DER) */

/* digest.c */
bool atomfs_digest_valid(const char *digest);
/* "sha256:<hex>" of a buffer or a file (and its size) */
char *atomfs_digest_buf(const void *data, size_t len);
int atomfs_digest_file(const char *path, char **digest, uint64_t *size);

struct atomfs_layout {
	char *dir;
	int dirfd;     /* the layout directory, also the flock()ed object */
	json_t *index; /* index.json as read, changed in memory until written */
	bool writable;
	bool created;  /* this open made the layout: rollback removes it */
	char **added;  /* blobs this command added: rollback removes them */
	size_t nadded;
};

enum {
	ATOMFS_LAYOUT_WRITE = 1 << 0,  /* exclusive lock, may write */
	ATOMFS_LAYOUT_CREATE = 1 << 1, /* create an empty layout if DIR has none */
};

/* layout.c */
int atomfs_layout_open(const char *dir, unsigned int flags, struct atomfs_layout **out);
void atomfs_layout_close(struct atomfs_layout *l);
bool atomfs_layout_same(struct atomfs_layout *l, const char *dir);
char *atomfs_layout_blob_path(const struct atomfs_layout *l, const char *digest);
/* index.json entries */
json_t *atomfs_layout_find_tag(const struct atomfs_layout *l, const char *tag); /* borrowed */
int atomfs_layout_set_tag(struct atomfs_layout *l, const char *tag, json_t *desc);
void atomfs_layout_add_entry(struct atomfs_layout *l, json_t *desc);
/* write index.json: the command's changes become visible (and are kept) */
int atomfs_layout_write_index(struct atomfs_layout *l);
/* undo a failed command: remove the blobs it added (and a layout it created) */
void atomfs_layout_rollback(struct atomfs_layout *l);
/* blobs: new ones are written to a temporary name, hashed, then renamed */
char *atomfs_layout_tmp_path(const struct atomfs_layout *l);
int atomfs_layout_commit_blob(struct atomfs_layout *l, const char *tmp, char **digest, uint64_t *size);
int atomfs_layout_put_json(struct atomfs_layout *l, const json_t *j, char **digest, uint64_t *size);
/* read a JSON blob, checking its digest and (if size >= 0) size */
int atomfs_layout_read_json(const struct atomfs_layout *l, const char *digest, int64_t size, json_t **out);
/* 0, -ENOENT (missing) or -EILSEQ (wrong digest or size), with a message */
int atomfs_layout_check_blob(const struct atomfs_layout *l, const char *digest, int64_t size);
/* bring a blob of another layout in: hard link if possible, else copy; verified */
int atomfs_layout_import_blob(struct atomfs_layout *l, const struct atomfs_layout *src, const char *digest,
			      int64_t size);

/* descriptors */
json_t *atomfs_desc_new(const char *media_type, const char *digest, uint64_t size);
const char *atomfs_desc_str(const json_t *desc, const char *key);
const char *atomfs_desc_annotation(const json_t *desc, const char *key);
void atomfs_desc_set_annotation(json_t *desc, const char *key, const char *value);
int atomfs_desc_check(const json_t *desc, const char *where);

#endif
