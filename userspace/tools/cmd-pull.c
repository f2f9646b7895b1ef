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
	"An image with tar layers (docker, umoci, buildah) is imported in the same\n"
	"step, as `atomfs import` does: DIR:TAG then names squashfs layers that\n"
	"mount, and the source's signatures stay with the source's manifest.\n"
	"  --no-import            keep tar layers as pulled (not mountable until\n"
	"                         `atomfs import`)\n"
	"  --tls-verify=BOOL      verify the registry's TLS certificate (default true;\n"
	"                         false also allows plain http)\n"
	"  --cert-dir DIR         CAs (*.crt) and client certificate (*.cert, *.key)\n"
	"  -q, --quiet            no progress, summary or warnings\n"
	"Credentials come from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json\n"
	"or ~/.docker/config.json; see atomfs(1).\n";

/* how many layers of image REF are tar layers; -errno */
static int has_tar_layers(const char *ref)
{
	struct atomfs_layout *l = NULL;
	struct atomfs_image img = { 0 };
	struct atomfs_ref r = { 0 };
	const json_t *d;
	size_t i;
	int err, n = 0;

	err = atomfs_ref_parse(ref, &r);
	if (!err)
		err = atomfs_layout_open(r.dir, 0, &l);
	if (!err)
		err = atomfs_image_load(l, r.tag, &img);
	if (!err) {
		json_array_foreach(img.layers, i, d)
		{
			if (atomfs_layer_kind(atomfs_desc_str(
				    d, "mediaType")) == ATOMFS_LAYER_TAR)
				n++;
		}
	}
	atomfs_image_free(&img);
	atomfs_layout_close(l);
	atomfs_ref_free(&r);
	return err ? err : n;
}

/* the pulled tar image REF becomes REF with squashfs layers */
static int import_pulled(const char *ref)
{
	struct layer_opts lo;

	layer_opts_init(&lo);
	return import_image(ref, ref, &lo, NULL);
}

int cmd_pull(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tls-verify", optional_argument, NULL, XFER_SRC_TLS },
		{ "src-tls-verify", optional_argument, NULL, XFER_SRC_TLS },
		{ "cert-dir", required_argument, NULL, XFER_SRC_CERT },
		{ "src-cert-dir", required_argument, NULL, XFER_SRC_CERT },
		{ "no-import", no_argument, NULL, 'N' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_free char *local = NULL;
	bool import = true;
	struct xfer_opts xo;
	int opt, r, rc;

	if (cmd_help(argc, argv, pull_usage))
		return EXIT_OK;
	xfer_opts_init(&xo);
	while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		if (opt == 'q') {
			atomfs_quiet = 1;
			continue;
		}
		if (opt == 'N') {
			import = false;
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
	rc = xfer_copy(argv[optind], argv[optind + 1], &xo, &local);
	if (rc || !import)
		return rc;
	r = has_tar_layers(local);
	if (r < 0)
		return cmd_fail(r);
	if (!r)
		return EXIT_OK;
	if (!atomfs_quiet)
		fprintf(stderr, "%s has %d tar layer%s: importing\n", local, r,
			r == 1 ? "" : "s");
	return import_pulled(local);
}
