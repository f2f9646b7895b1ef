// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unit test: the exported API never aborts when memory runs out.  Every
 * allocation libatomfs makes (malloc, calloc, realloc, strdup, strndup,
 * vasprintf: linked with --wrap, see the Makefile) is made to fail in
 * turn, the Nth one in run N, until a run sees no failure; each call must
 * then give its normal result or -ENOMEM, and ASan must see no leak.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libatomfs.h"
#include "mount.h"
#include "tap.h"

static long alloc_count, fail_at = -1;
static int injected;

static int should_fail(void)
{
	if (++alloc_count == fail_at) {
		injected = 1;
		return 1;
	}
	return 0;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
int __real___vasprintf_chk(char **out, int flag, const char *fmt, va_list ap);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t sz);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);
int __wrap___vasprintf_chk(char **out, int flag, const char *fmt, va_list ap);

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t sz)
{
	return should_fail() ? NULL : __real_calloc(n, sz);
}
void *__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s)
{
	return should_fail() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n)
{
	return should_fail() ? NULL : __real_strndup(s, n);
}
int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	return should_fail() ? -1 : __real_vasprintf(out, fmt, ap);
}
int __wrap___vasprintf_chk(char **out, int flag, const char *fmt, va_list ap)
{
	return should_fail() ? -1 : __real___vasprintf_chk(out, flag, fmt, ap);
}

static char dir[] = "/tmp/atomfs-unit-alloc.XXXXXX";

/* one pass through the exported API; results in r[] */
static void run(int *r)
{
	struct atomfs_mount_opts o = { 0 };
	struct atomfs_image_info *info = NULL;
	struct atomfs_ref ref;
	char path[512];
	json_t *st = NULL;

	snprintf(path, sizeof(path), "oci:%s/L:t", dir);
	r[0] = atomfs_ref_parse(path, &ref);
	if (!r[0])
		atomfs_ref_free(&ref);
	r[1] = atomfs_resolve(path, &info);
	snprintf(path, sizeof(path), "%s/pub.pem", dir);
	r[2] = info ? atomfs_verify_signature(info, path) : 0;
	atomfs_image_info_free(info);
	r[3] = atomfs_mount_opts_parse(&o, "nosuid,writable,pubkey=/x,dev");
	atomfs_mount_opts_free(&o);
	/* the policy is read, the signature checked, then the module is
	 * looked for: -f keeps it from mounting anything */
	o.fake = true;
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	o.policy = path;
	{
		char ref2[512], target[512];

		snprintf(ref2, sizeof(ref2), "%s/L:t", dir);
		snprintf(target, sizeof(target), "%s/mnt", dir);
		r[4] = atomfs_mount(ref2, target, &o);
		r[5] = atomfs_status(target, &st);
	}
	json_decref(st);
}

/* fail each allocation in turn; strict: only -ENOMEM or the normal result */
static void fail_all(const int *base, const char *whose, int strict, long step)
{
	int got[6], i, bad = 0;
	long n, runs = 0;

	for (n = 1; n < 100000; n += step) {
		alloc_count = 0;
		fail_at = n;
		injected = 0;
		run(got);
		fail_at = -1;
		runs++;
		if (!injected)
			break;
		for (i = 0; i < 6; i++) {
			if (got[i] == base[i] || got[i] == -ENOMEM ||
			    (!strict && got[i] < 0 && *atomfs_last_error()))
				continue;
			if (bad++ < 10)
				tap_diag(
					"allocation %ld failed: call %d gave %d, not %d or -ENOMEM",
					n, i, got[i], base[i]);
		}
	}
	ok(runs > 20 && !injected,
	   "alloc: %ld of %s allocations were made to fail in turn", runs - 1,
	   whose);
	ok(!bad, "alloc: ... each time the calls gave %s (%d did not)",
	   strict ? "-ENOMEM or the normal result" :
		    "an error with a message or the normal result",
	   bad);
}

int main(void)
{
	char cmd[1024];
	int base[6];

	if (!mkdtemp(dir))
		return 1;
	snprintf(
		cmd, sizeof(cmd),
		"cd %s && mkdir in mnt && echo x >in/f && "
		"openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null && "
		"openssl pkey -in key.pem -pubout -out pub.pem && "
		"atomfs build -q --layer in --sign key.pem L:t && "
		"echo '{\"require_signature\": true, \"trusted_keys\": [\"%s/pub.pem\"]}' >policy.json",
		dir, dir);
	if (!ok(system(cmd) == 0, "alloc: a signed image to work on"))
		return 1;
	run(base);
	ok(base[0] == 0 && base[1] == 0 && base[2] == 0 && base[3] == 0,
	   "alloc: without failures the calls succeed (mount: %d, status: %d)",
	   base[4], base[5]);
	fail_all(base, "libatomfs's", 1, 1);
	/*
	 * jansson's too: it reports running out of memory as a parse error
	 * (often without json_error_out_of_memory), so the library cannot
	 * always say -ENOMEM then; it must still fail cleanly, never abort,
	 * crash or leak.
	 */
	json_set_alloc_funcs(__wrap_malloc, free);
	fail_all(base, "libatomfs's and jansson's (every third)", 0, 3);
	json_set_alloc_funcs(malloc, free);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return tap_failed ? 1 : 0;
}
