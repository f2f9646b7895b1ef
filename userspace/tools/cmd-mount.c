// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs mount | umount | status: the mount helper's work, by subcommand. */
#include <getopt.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "cmd.h"
#include "internal.h"
#include "mount.h"

static const char mount_usage[] =
	"usage: atomfs mount [-o OPTIONS] [oci:]DIR:TAG TARGET\n"
	"Mount an image (as mount -t atomfs does). OPTIONS: writable, persist=DIR,\n"
	"pubkey=PATH, whiteouts=both|overlay|oci, dev (default nodev), and VFS\n"
	"flags such as nosuid.\n";

int cmd_mount(int argc, char **argv)
{
	struct atomfs_mount_opts o = { 0 };
	int c, err;

	if (cmd_help(argc, argv, mount_usage))
		return EXIT_OK;
	while ((c = getopt(argc, argv, "o:")) != -1) {
		if (c != 'o' || atomfs_mount_opts_parse(&o, optarg)) {
			if (c == 'o')
				fprintf(stderr, "atomfs mount: %s\n",
					atomfs_last_error());
			atomfs_mount_opts_free(&o);
			return cmd_usage("mount", mount_usage);
		}
	}
	if (argc - optind != 2) {
		atomfs_mount_opts_free(&o);
		return cmd_usage("mount", mount_usage);
	}
#ifdef ATOMFS_TEST_HOOKS
	/* test builds only, and never for a setuid caller */
	if (!getauxval(AT_SECURE))
		o.policy = getenv("ATOMFS_POLICY");
#endif
	err = atomfs_mount(argv[optind], argv[optind + 1], &o);
	atomfs_mount_opts_free(&o);
	return err ? cmd_fail(err) : EXIT_OK;
}

static const char umount_usage[] =
	"usage: atomfs umount TARGET\nUnmount an atomfs mount, writable ones included.\n";

int cmd_umount(int argc, char **argv)
{
	int err;

	if (cmd_help(argc, argv, umount_usage))
		return EXIT_OK;
	if (argc != 2)
		return cmd_usage("umount", umount_usage);
	err = atomfs_umount(argv[1]);
	return err ? cmd_fail(err) : EXIT_OK;
}

static const char status_usage[] =
	"usage: atomfs status [--json] TARGET\n"
	"Show what the kernel holds for a mount: its label and each layer's digest,\n"
	"whether the kernel verified it and whether other mounts share it.\n";

int cmd_status(int argc, char **argv)
{
	bool json = false;
	json_t *st, *l;
	size_t i;
	int err;

	if (cmd_help(argc, argv, status_usage))
		return EXIT_OK;
	if (argc == 3 && !strcmp(argv[1], "--json"))
		json = true;
	else if (argc != 2)
		return cmd_usage("status", status_usage);
	err = atomfs_status(argv[argc - 1], &st);
	if (err)
		return cmd_fail(err);
	if (json) {
		json_dumpf(st, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		printf("%s: atomfs (%s), stack %llu\nlabel: %s\nlayers, base first:\n",
		       json_string_value(json_object_get(st, "target")),
		       json_string_value(json_object_get(st, "mode")),
		       (unsigned long long)json_integer_value(
			       json_object_get(st, "stack_id")),
		       json_string_value(json_object_get(st, "label")));
		json_array_foreach(json_object_get(st, "layers"), i, l)
			printf("  %3lld %s %s %s %lld bytes\n",
			       (long long)json_integer_value(
				       json_object_get(l, "index")),
			       json_string_value(json_object_get(l, "digest")),
			       json_is_true(json_object_get(l, "verified")) ?
				       "verified" :
				       "unverified",
			       json_is_true(json_object_get(l, "shared")) ?
				       "shared" :
				       "private",
			       (long long)json_integer_value(
				       json_object_get(l, "size")));
	}
	json_decref(st);
	return EXIT_OK;
}
