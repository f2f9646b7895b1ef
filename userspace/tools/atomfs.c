// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs: build, import, compose, update, sign and inspect atomfs images */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "internal.h"
#include "oci.h"
#include "xfer.h"

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} cmds[] = {
	{ "build", cmd_build,
	  "make an image from a base, applied images and new layers" },
	{ "import", cmd_import,
	  "convert a tar-layer image into squashfs layers" },
	{ "update", cmd_update,
	  "swap an applied dependency for its new version" },
	{ "inspect", cmd_inspect,
	  "show an image's manifest, layers, config, signatures" },
	{ "sign", cmd_sign, "sign an image's manifest" },
	{ "verify", cmd_verify, "check an image's blobs and signature" },
	{ "gc", cmd_gc, "remove blobs no tag reaches" },
	{ "fsck", cmd_fsck, "re-hash every blob and report damaged ones" },
	{ "layer", cmd_layer,
	  "write one squashfs layer file from a directory or tar" },
	{ "push", cmd_push, "push an image and its signatures to a registry" },
	{ "pull", cmd_pull,
	  "pull an image and its signatures from a registry" },
	{ "copy", cmd_copy, "copy an image between layouts and registries" },
	{ "mount", cmd_mount, "mount an image (as mount -t atomfs does)" },
	{ "umount", cmd_umount, "unmount an image, writable mounts included" },
	{ "status", cmd_status, "show what the kernel holds for a mount" },
	{ NULL, NULL, NULL },
};

/* Killed part way: remove the blobs this command added, then die of it. */
static void on_fatal_signal(int sig)
{
	atomfs_layout_cleanup_signal_safe();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cleanup_on_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* the library's warnings, unless -q */
static void log_to_stderr(void *data, int priority, const char *msg)
{
	(void)data;
	(void)priority;
	if (!atomfs_quiet)
		fprintf(stderr, "atomfs: warning: %s\n", msg);
}

static void usage(FILE *f)
{
	const struct cmd *c;

	fprintf(f,
		"usage: atomfs [--version] [--help] COMMAND [ARGS]\n\ncommands:\n");
	for (c = cmds; c->name; c++)
		fprintf(f, "  %-8s %s\n", c->name, c->summary);
	fprintf(f,
		"\nRun 'atomfs COMMAND --help' for a command's options; see atomfs(1).\n");
}

int main(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("atomfs %s\n", ATOMFS_VERSION);
		return 0;
	}
	cleanup_on_signals();
	atomfs_set_log_fn(log_to_stderr, NULL);
	for (c = cmds; c->name; c++)
		if (!strcmp(c->name, argv[1]))
			return c->fn(argc - 1, argv + 1);
	fprintf(stderr,
		"atomfs: unknown command '%s'; run 'atomfs --help' for the list\n",
		argv[1]);
	return EXIT_USAGE;
}
