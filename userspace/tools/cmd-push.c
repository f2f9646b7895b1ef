// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs push: a layout's image and its signatures to a registry */
#include <getopt.h>

#include "cmd.h"
#include "internal.h"
#include "xfer.h"

static const char push_usage[] =
	"usage: atomfs push [OPTIONS] [oci:]DIR:TAG docker://HOST[:PORT]/REPO[:TAG]\n"
	"Push an image with every signature that refers to it (OCI 1.1 referrers;\n"
	"through the sha256-<hex> referrers tag where the registry has no referrers\n"
	"API).  Blobs the registry has are not sent again; blobs it has in another\n"
	"repository are mounted.  Without :TAG the source tag is used.\n"
	"  --sign KEY             sign for the destination tag first (PEM private key)\n"
	"  --tls-verify=BOOL      verify the registry's TLS certificate (default true;\n"
	"                         false also allows plain http)\n"
	"  --cert-dir DIR         CAs (*.crt) and client certificate (*.cert, *.key)\n"
	"  -q, --quiet            no progress, summary or warnings\n"
	"Credentials come from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json\n"
	"or ~/.docker/config.json; see atomfs(1).\n";

int cmd_push(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sign", required_argument, NULL, XFER_SIGN },
		{ "tls-verify", optional_argument, NULL, XFER_DST_TLS },
		{ "dest-tls-verify", optional_argument, NULL, XFER_DST_TLS },
		{ "cert-dir", required_argument, NULL, XFER_DST_CERT },
		{ "dest-cert-dir", required_argument, NULL, XFER_DST_CERT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xfer_opts xo;
	int opt, r;

	if (cmd_help(argc, argv, push_usage))
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
			return cmd_usage("push", push_usage);
	}
	if (argc - optind != 2 || atomfs_is_registry_ref(argv[optind]) ||
	    !atomfs_is_registry_ref(argv[optind + 1]))
		return cmd_usage("push", push_usage);
	return xfer_copy(argv[optind], argv[optind + 1], &xo);
}
