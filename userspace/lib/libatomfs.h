/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libatomfs: the public face of the atomfs image library.
 *
 * This is what the atomfs tool and the mount helper (mount.atomfs) use.
 * Functions return 0 or a negative errno; on failure a human readable
 * message (what, which file, why, what to do) is kept per thread and
 * returned by atomfs_last_error().
 */
#ifndef LIBATOMFS_H
#define LIBATOMFS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What libatomfs.so exports (the rest is hidden; see libatomfs.map). */
#define ATOMFS_EXPORT __attribute__((visibility("default")))

/* Last error message of this thread ("" when none). */
ATOMFS_EXPORT const char *atomfs_last_error(void);
ATOMFS_EXPORT void atomfs_clear_error(void);
/*
 * The library never prints: warnings (and anything else worth telling)
 * go to this function, by default nowhere.  @priority is a syslog level
 * (LOG_WARNING for warnings); @msg has no trailing newline.
 */
typedef void (*atomfs_log_fn)(void *data, int priority, const char *msg);
ATOMFS_EXPORT void atomfs_set_log_fn(atomfs_log_fn fn, void *data);

/* ---- references: [oci:]DIR:TAG ---- */

struct atomfs_ref {
	char *dir; /* OCI image layout directory, never empty */
	char *tag; /* org.opencontainers.image.ref.name, OCI tag grammar */
};

/*
 * Parse "[oci:]DIR:TAG", split at the last colon.  The "oci:" prefix is
 * dropped only when what follows still holds a colon, so "oci:latest"
 * means directory "oci", tag "latest".  Returns 0 or -EINVAL.
 */
ATOMFS_EXPORT int atomfs_ref_parse(const char *s, struct atomfs_ref *ref);
ATOMFS_EXPORT void atomfs_ref_free(struct atomfs_ref *ref);
/* OCI tag grammar: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
ATOMFS_EXPORT bool atomfs_tag_valid(const char *tag);

/* ---- resolving an image for mounting (mount.atomfs) ---- */

struct atomfs_image_layer {
	char *digest; /* "sha256:<hex>" of the whole blob */
	uint64_t size; /* bytes, from the descriptor */
	char *media_type; /* a squashfs layer media type */
	char *path; /* DIR/blobs/sha256/<hex> */
};

struct atomfs_image_info {
	char *dir; /* the layout directory as given */
	char *tag;
	char *manifest_digest; /* "sha256:<hex>" */
	size_t nlayers;
	/* bottom (base) first, as in the manifest */
	struct atomfs_image_layer *layers;
};

/*
 * Resolve "[oci:]DIR:TAG" to its manifest and layers.  Every layer must
 * be squashfs (-ENOTSUP otherwise).  The manifest and config are checked
 * against their digests; layer blobs are not read (the kernel verifies
 * them), only their presence (-ENOENT).  Takes DIR's lock only while
 * reading.  Free with atomfs_image_info_free().
 */
ATOMFS_EXPORT int atomfs_resolve(const char *ref,
				 struct atomfs_image_info **out);
ATOMFS_EXPORT void atomfs_image_info_free(struct atomfs_image_info *info);

/*
 * Check a layer blob is a sane squashfs: super block readable, tables
 * inside the file, size a multiple of 4096.  0 or -EBADMSG (with a
 * message); the digest is not computed.
 */
ATOMFS_EXPORT int atomfs_layer_check(const struct atomfs_image_layer *layer);

/*
 * 0 if info's manifest carries a valid signature by the PEM public key
 * pubkey; -ENOKEY if none by that key, -EKEYREJECTED if invalid, other
 * -errno if the key or a signature cannot be read.
 */
ATOMFS_EXPORT int atomfs_verify_signature(const struct atomfs_image_info *info,
					  const char *pubkey);

#ifdef __cplusplus
}
#endif
#endif /* LIBATOMFS_H */
