/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * registry.h: OCI distribution-spec registries (docker://HOST[:PORT]/REPO)
 * over libcurl, and moving images with their signature referrers between
 * a registry and a layout.  Nothing here prints: messages go through
 * atomfs_err() and the hooks of struct atomfs_registry_opts.
 */
#ifndef ATOMFS_REGISTRY_H
#define ATOMFS_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "oci.h"

/* docker://HOST[:PORT]/REPO[:TAG|@DIGEST] */
struct atomfs_rref {
	char *host; /* "HOST[:PORT]" */
	char *repo; /* "a/b", lower case path components */
	char *tag; /* NULL if none given */
	char *digest; /* NULL if none given */
};

struct atomfs_registry_opts {
	bool tls_verify; /* false: skip verification, allow plain http */
	const char *cert_dir; /* *.crt CAs, *.cert + *.key client cert */
	const char *const *auth_files; /* NULL-terminated, first match wins */
	/* JSON {"sha256:..": ["HOST/REPO", ...]}: where blobs were seen */
	const char *blob_cache;
	/* hooks (all optional): a blob's bytes, warnings */
	void (*progress)(void *ctx, const char *digest, uint64_t done,
			 uint64_t total);
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
};

struct atomfs_xfer_stats {
	unsigned int sent; /* blobs uploaded */
	unsigned int present; /* blobs the destination already had */
	unsigned int mounted; /* blobs mounted from another repository */
	unsigned int fetched; /* blobs downloaded */
	unsigned int referrers; /* signatures carried */
	uint64_t bytes; /* blob bytes moved */
};

struct atomfs_registry;

/* registry.c */
/* "docker://" prefix required; 0 or -EINVAL with a message */
int atomfs_rref_parse(const char *s, struct atomfs_rref *r);
void atomfs_rref_free(struct atomfs_rref *r);
bool atomfs_is_registry_ref(const char *s);
/* connect (ping /v2/, learn the auth scheme); nothing is sent yet */
int atomfs_registry_open(const struct atomfs_rref *r,
			 const struct atomfs_registry_opts *o,
			 struct atomfs_registry **out);
void atomfs_registry_close(struct atomfs_registry *reg);

/*
 * Push layout l's image tagged tag (manifest or index, config, layers and
 * every referrer whose subject it is) to reg, as rtag (or by digest if
 * rtag is NULL).
 */
int atomfs_registry_push(struct atomfs_registry *reg, struct atomfs_layout *l,
			 const char *tag, const char *rtag,
			 struct atomfs_xfer_stats *st);
/*
 * Pull reg's image at ref (a tag or "sha256:..") into l and tag it as tag.
 * Every document and blob is checked against its digest before the tag is
 * written; blobs already in l are not fetched; blobs completed before a
 * failure stay in l (untagged).  *digest gets the manifest digest.
 */
int atomfs_registry_pull(struct atomfs_registry *reg, const char *ref,
			 struct atomfs_layout *l, const char *tag,
			 char **digest, struct atomfs_xfer_stats *st);

/* auth.c */
struct atomfs_creds {
	char *user;
	char *secret;
	char *file; /* where they came from, for messages */
};
/* the credentials for host in the first auth file that has some: 0,
 * -ENOENT if none (not an error for the caller), -EINVAL if malformed */
int atomfs_creds_find(const char *const *files, const char *host,
		      struct atomfs_creds *c);
void atomfs_creds_free(struct atomfs_creds *c);
/* WWW-Authenticate: Bearer realm="..",service="..",scope=".." -> params */
json_t *atomfs_auth_parse_challenge(const char *header, char **scheme);

#endif
