// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mount.atomfs: the mount(8) helper for atomfs images.
 *
 *   mount.atomfs SPEC DIR [-sfnv] [-N NS] [-o OPTS]
 *
 * util-linux runs it as "mount.atomfs SPEC DIR [-sfnv] [-N NS] [-o OPTS]",
 * busybox as "mount.atomfs [-n] SPEC DIR [-o OPTS]": options may come
 * before, between or after SPEC and DIR. SPEC is [oci:]DIR:TAG; NS is a
 * mount namespace file or a PID (mount -N).
 *
 * Exit status, as mount(8): 0 mounted; 1 bad usage or permissions; 2 a
 * system error; 32 the mount failed (a bad image, signature or blob, the
 * kernel refused it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "internal.h"
#include "mount.h"

enum { MNT_EX_USAGE = 1, MNT_EX_SYSERR = 2, MNT_EX_FAIL = 32 };

static int usage(void)
{
	fprintf(stderr,
		"usage: mount.atomfs [oci:]DIR:TAG TARGET [-sfnv] [-N NS] [-o OPTIONS]\n"
		"options: writable, persist=DIR, pubkey=PATH, whiteouts=both|overlay|oci,\n"
		"         dev (default: nodev) and the VFS flags (nosuid, noexec, noatime, ...);\n"
		"         see mount.atomfs(8)\n");
	return MNT_EX_USAGE;
}

static void log_to_stderr(void *data, int priority, const char *msg)
{
	(void)data;
	(void)priority;
	fprintf(stderr, "mount.atomfs: warning: %s\n", msg);
}

int main(int argc, char **argv)
{
	struct atomfs_mount_opts o = { 0 };
	const char *pos[2] = { NULL, NULL };
	int i, npos = 0, err;
	const char *a;

	atomfs_set_log_fn(log_to_stderr, NULL);
	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (!strcmp(a, "-o")) {
			if (++i == argc)
				return usage();
			if (atomfs_mount_opts_parse(&o, argv[i]))
				goto bad_opts;
		} else if (!strncmp(a, "-o", 2)) {
			if (atomfs_mount_opts_parse(&o, a + 2))
				goto bad_opts;
		} else if (!strcmp(a, "-t") && i + 1 < argc) {
			i++; /* the type is ours */
		} else if (!strcmp(a, "-N") || !strcmp(a, "--namespace")) {
			if (++i == argc)
				return usage();
			free(o.ns);
			o.ns = strdup(argv[i]);
		} else if (!strncmp(a, "-N", 2)) {
			free(o.ns);
			o.ns = strdup(a + 2);
		} else if (a[0] == '-' && a[1]) {
			for (a++; *a; a++) {
				switch (*a) {
				case 's':
					o.sloppy = true;
					break;
				case 'f':
					o.fake = true;
					break;
				case 'v':
					o.verbose = true;
					break;
				case 'n':
					break; /* no mtab: there is none */
				case 'h':
					usage();
					return 0;
				default:
					fprintf(stderr,
						"mount.atomfs: unknown flag -%c\n",
						*a);
					return usage();
				}
			}
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			return usage();
		}
	}
	if (npos != 2)
		return usage();
	if (geteuid() != 0) {
		fprintf(stderr,
			"mount.atomfs: mounting needs root (CAP_SYS_ADMIN)\n");
		return MNT_EX_USAGE;
	}

#ifdef ATOMFS_TEST_HOOKS
	/* test builds only, and never for a setuid caller */
	if (!getauxval(AT_SECURE))
		o.policy = getenv("ATOMFS_POLICY");
#endif
	err = atomfs_mount(pos[0], pos[1], &o);
	atomfs_mount_opts_free(&o);
	if (err) {
		fprintf(stderr, "mount.atomfs: %s\n", atomfs_last_error());
		return err == -ENOMEM ? MNT_EX_SYSERR : MNT_EX_FAIL;
	}
	if (o.verbose)
		fprintf(stderr, "mount.atomfs: %s mounted on %s\n", pos[0],
			pos[1]);
	return 0;

bad_opts:
	fprintf(stderr, "mount.atomfs: %s\n", atomfs_last_error());
	atomfs_mount_opts_free(&o);
	return MNT_EX_USAGE;
}
