/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image.h: images in a layout: tags -> manifests -> config and layers */
#ifndef ATOMFS_IMAGE_H
#define ATOMFS_IMAGE_H

#include "oci.h"

enum atomfs_layer_kind {
	ATOMFS_LAYER_UNSUPPORTED = 0,
	ATOMFS_LAYER_SQUASHFS,
	ATOMFS_LAYER_TAR,
};

struct atomfs_image {
	char *ref; /* "DIR:TAG" as resolved */
	char *tag;
	json_t *desc; /* index.json descriptor of the manifest (own reference) */
	char *digest; /* manifest digest */
	json_t *manifest;
	json_t *config;
	json_t *layers; /* borrowed from manifest */
};

/* image.c */
enum atomfs_layer_kind atomfs_layer_kind(const char *media_type);
/* Resolve TAG in l (an image index is narrowed to this host's platform). */
int atomfs_image_load(const struct atomfs_layout *l, const char *tag,
		      struct atomfs_image *img);
void atomfs_image_free(struct atomfs_image *img);
/* Canonical "ABSDIR:TAG" for provenance annotations. */
char *atomfs_ref_canonical(const char *dir, const char *tag);
/* The host's OCI architecture name (amd64, arm64...). */
const char *atomfs_host_arch(void);
/* Manifest + config -> new blobs; returns the manifest descriptor. */
int atomfs_image_write(struct atomfs_layout *l, json_t *config, json_t *layers,
		       json_t *annotations, json_t **manifest_desc);
/* Signature referrers in l whose subject is digest (array, new reference);
 * NULL when out of memory. */
json_t *atomfs_image_referrers(const struct atomfs_layout *l,
			       const char *digest);

/* sign.c */
/* true for a signature referrer descriptor (either format) */
bool atomfs_is_signature(const json_t *desc);
/* Sign manifest digest + tag (the signed payload binds both). */
int atomfs_sign_manifest(struct atomfs_layout *l, const char *manifest_digest,
			 int64_t manifest_size, const char *tag,
			 const char *keyfile);
/*
 * 0 if a referrer in l carries a valid signature by pubfile of digest under
 * tag; -ENOKEY if none signed by that key; -EKEYREJECTED if one is invalid,
 * signed another tag, or is of the old format (which must be re-signed).
 */
int atomfs_verify_manifest(const struct atomfs_layout *l,
			   const char *manifest_digest, const char *tag,
			   const char *pubfile);
/*
 * The same; with ATOMFS_VERIFY_KEY_ROOTS_ONLY the key file must also be a
 * regular file owned by root (or the caller) and not writable by group or
 * others (-EPERM otherwise): mounts use it for policy and pubkey= keys.
 */
#define ATOMFS_VERIFY_KEY_ROOTS_ONLY 2u
int atomfs_verify_manifest_flags(const struct atomfs_layout *l,
				 const char *manifest_digest, const char *tag,
				 const char *pubfile, unsigned int flags);
struct atomfs_image_info;
/* atomfs_verify_signature() with the flags above */
int atomfs_verify_signature_flags(const struct atomfs_image_info *info,
				  const char *pubkey, unsigned int flags);
/* sha256 of the DER public key, "sha256:<hex>" */
int atomfs_key_fingerprint(const char *keyfile, bool private_key, char **out);

#endif
