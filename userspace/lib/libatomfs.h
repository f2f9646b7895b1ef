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

/* Last error message of this thread ("" when none). */
const char *atomfs_last_error(void);
void atomfs_clear_error(void);
/* non-zero: no warnings on stderr */
extern int atomfs_quiet;

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
int atomfs_ref_parse(const char *s, struct atomfs_ref *ref);
void atomfs_ref_free(struct atomfs_ref *ref);
/* OCI tag grammar: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
bool atomfs_tag_valid(const char *tag);

#ifdef __cplusplus
}
#endif
#endif /* LIBATOMFS_H */
