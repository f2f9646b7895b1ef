// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs pull: an image and its signatures from a registry into a layout */
#include <getopt.h>

#include "cmd.h"
#include "internal.h"
#include "xfer.h"

static const char pull_usage[] =
	"usage: atomfs pull [OPTIONS] docker://HOST[:PORT]/REPO[:TAG|@DIGEST] DIR[:TAG]\n"
	"Pull an image with every signature that refers to it into layout DIR\n"
	"(created if needed).  A bare DIR keeps the source tag, so signatures bound\n"
	"to it still verify; a pull by digest needs DIR:TAG.  Every document and\n"
	"blob is checked against its digest before the tag is written; blobs DIR\n"
	"has are not fetched; an interrupted pull keeps the blobs it completed.\n"
	"  --tls-verify=BOOL      verify the registry's TLS certificate (default true;\n"
	"                         false also allows plain http)\n"
	"  --cert-dir DIR         CAs (*.crt) and client certificate (*.cert, *.key)\n"
	"  -q, --quiet            no progress, summary or warnings\n"
	"Credentials come from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json\n"
	"or ~/.docker/config.json; see atomfs(1).\n";

int cmd_pull(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tls-verify", optional_argument, NULL, XFER_SRC_TLS },
		{ "src-tls-verify", optional_argument, NULL, XFER_SRC_TLS },
		{ "cert-dir", required_argument, NULL, XFER_SRC_CERT },
		{ "src-cert-dir", required_argument, NULL, XFER_SRC_CERT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xfer_opts xo;
	int opt, r;

	if (cmd_help(argc, argv, pull_usage))
		return EXIT_OK;
	xfer_opts_init(&xo);
	while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		if (opt == 'q') {
			atomfs_quiet = 1;
			continue;
		}
		r = xfer_opt(&xo, opt, optarg);
		if (r < 0)
			return EXIT_USAGE;
		if (r == 0)
			return cmd_usage("pull", pull_usage);
	}
	if (argc - optind != 2 || !atomfs_is_registry_ref(argv[optind]) ||
	    atomfs_is_registry_ref(argv[optind + 1]))
		return cmd_usage("pull", pull_usage);
	return xfer_copy(argv[optind], argv[optind + 1], &xo);
}
