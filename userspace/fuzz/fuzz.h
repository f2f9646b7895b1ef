/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz.h: helpers shared by the libFuzzer targets */
#ifndef ATOMFS_FUZZ_H
#define ATOMFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libatomfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* the library's messages are the expected outcome of bad input: shown
 * only with ATOMFS_FUZZ_VERBOSE=1 (to look at what one input does) */
static void fuzz_log(void *d, int prio, const char *msg)
{
	(void)d;
	fprintf(stderr, "atomfs[%d]: %s\n", prio, msg);
}

/* with ATOMFS_FUZZ_VERBOSE=1: what a call returned, and the message */
static inline int fuzz_rc(const char *what, int err)
{
	static int verbose = -1;

	if (verbose < 0)
		verbose = getenv("ATOMFS_FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "%s: %d %s\n", what, err,
			err ? atomfs_last_error() : "");
	return err;
}

static inline void fuzz_init(void)
{
	static int done;

	if (!done && getenv("ATOMFS_FUZZ_VERBOSE"))
		atomfs_set_log_fn(fuzz_log, NULL);
	done = 1;
}

/* data as a NUL-terminated string (NULs inside end it early) */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

/* a private scratch directory per process, made once */
static inline const char *fuzz_dir(void)
{
	static char dir[64];

	if (!dir[0]) {
		const char *t = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/atomfs-fuzz.XXXXXX",
			 t && strlen(t) < 32 ? t : "/tmp");
		if (!mkdtemp(dir))
			abort();
	}
	return dir;
}

/* write data to path (created 0600); aborts on failure (not a finding) */
static inline void fuzz_write(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");

	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
		abort();
}

#endif
