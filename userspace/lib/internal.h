/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libatomfs internals: prototypes grouped by file, so this header is
 * also a map of the library.  Everything returns 0 or -errno and leaves
 * a message with atomfs_err() on failure.
 */
#ifndef ATOMFS_INTERNAL_H
#define ATOMFS_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "libatomfs.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* cleanup helpers, composefs style */
static inline void freep(void *p)
{
	free(*(void **)p);
}
#define cleanup_free __attribute__((cleanup(freep)))

static inline void *steal_pointer(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}

/*
 * Internal helpers carry the atomfs_ prefix in the objects too, so that a
 * program linking libatomfs.a statically never meets a clashing read_file.
 */
#define xstrdup atomfs_xstrdup
#define xasprintf atomfs_xasprintf
#define xcalloc atomfs_xcalloc
#define xrealloc atomfs_xrealloc
#define read_file atomfs_read_file
#define write_file_atomic atomfs_write_file_atomic
#define fsync_dir atomfs_fsync_dir
#define mkdir_p atomfs_mkdir_p
#define path_join atomfs_path_join
#define str_has_prefix atomfs_str_has_prefix
#define str_has_suffix atomfs_str_has_suffix

/* util.c */
/*
 * Allocation that may fail: NULL, and the caller returns -ENOMEM (the
 * x*() helpers below abort instead; only some tools still use them).
 */
char *atomfs_asprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
char *atomfs_join(const char *a, const char *b);
int atomfs_enomem(void); /* atomfs_err(ENOMEM, "out of memory") */
__attribute__((format(printf, 2, 3))) int atomfs_err(int err, const char *fmt,
						     ...);
void atomfs_err_prefix(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t sz);
int read_file(const char *path, char **data, size_t *len, size_t max);
int write_file_atomic(const char *path, const void *data, size_t len);
int fsync_dir(const char *dir);
int atomfs_read_at(int dirfd, const char *name, const char *shown, size_t max,
		   char **data, size_t *len);
int atomfs_create_tmp_at(int dirfd, const char *prefix, char **name);
int atomfs_write_at_atomic(int dirfd, const char *name, const void *data,
			   size_t len, int syncfd);
int mkdir_p(const char *path, mode_t mode);
char *path_join(const char *a, const char *b);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
void atomfs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* ATOMFS_INTERNAL_H */
