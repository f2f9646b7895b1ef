// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs pull: an image and its signatures from a registry into a layout */
#include <getopt.h>
#include <unistd.h>

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
	"mount, and the source's signatures stay with the source's manifest;\n"
	"pulling it again while the tag names that import converts nothing.\n"
	"  --no-import            keep tar layers as pulled (not mountable until\n"
	"                         `atomfs import`)\n"
	"  --tls-verify=BOOL      verify the registry's TLS certificate (default true;\n"
	"                         false also allows plain http)\n"
	"  --cert-dir DIR         CAs (*.crt) and client certificate (*.cert, *.key)\n"
	"  -q, --quiet            no progress, summary or warnings\n"
	"Credentials come from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json\n"
	"or ~/.docker/config.json; see atomfs(1).\n";

/* how many layers of image TAG in layout L are tar layers; -errno */
static int tar_layers(struct atomfs_layout *l, const char *tag)
{
	struct atomfs_image img = { 0 };
	const json_t *d;
	size_t i;
	int err, n = 0;

	err = atomfs_image_load(l, tag, &img);
	if (err)
		return err;
	json_array_foreach(img.layers, i, d)
	{
		if (atomfs_layer_kind(atomfs_desc_str(d, "mediaType")) ==
		    ATOMFS_LAYER_TAR)
			n++;
	}
	atomfs_image_free(&img);
	return n;
}

/* the index entry of TAG in layout DIR before the pull (a copy), or NULL */
static json_t *tag_before(const struct atomfs_ref *r)
{
	cleanup_free char *index = atomfs_join(r->dir, "index.json");
	struct atomfs_layout *l = NULL;
	json_t *d = NULL;

	if (access(index, F_OK))
		return NULL; /* a new layout */
	if (atomfs_layout_open(r->dir, 0, &l))
		return NULL; /* the pull says why */
	if (!atomfs_layout_get_tag(l, r->tag, &d))
		d = json_deep_copy(d);
	else
		d = NULL;
	atomfs_layout_close(l);
	return d;
}

/*
 * The index entry of a pull's import records the tar manifest it was made
 * from. Only this tool writes it, in the layout's own index.json: nothing a
 * registry serves (manifests, configs, layer annotations) can claim it.
 */
#define ANN_PULL_IMPORT "org.atomfs.pull.imported-from"

/*
 * Was @prev (TAG's entry before the pull) this tool's import of the
 * manifest that TAG names now? Then tag it again instead of converting the
 * same tar layers a second time.
 */
static bool imported_from(const struct atomfs_layout *l, const json_t *prev,
			  const char *tag)
{
	const char *now, *from, *pd;
	json_t *cur, *m = NULL;
	bool have;

	if (!prev || atomfs_layout_get_tag(l, tag, &cur))
		return false;
	pd = atomfs_desc_str(prev, "digest");
	from = atomfs_desc_annotation(prev, ANN_PULL_IMPORT);
	now = atomfs_desc_str(cur, "digest");
	if (!pd || !from || !now || strcmp(from, now))
		return false;
	/* and the import is still there, intact */
	have = !atomfs_layout_read_json(
		l, pd, json_integer_value(json_object_get(prev, "size")), &m);
	json_decref(m);
	atomfs_clear_error();
	return have;
}

/* record in TAG's entry of layout DIR that it is the import of @from */
static int mark_import(const struct atomfs_ref *r, const char *from)
{
	struct atomfs_layout *l = NULL;
	json_t *d;
	int err;

	err = atomfs_layout_open(r->dir, ATOMFS_LAYOUT_WRITE, &l);
	if (!err)
		err = atomfs_layout_get_tag(l, r->tag, &d);
	if (!err) {
		atomfs_desc_set_annotation(d, ANN_PULL_IMPORT, from);
		err = atomfs_layout_write_index(l);
	}
	atomfs_layout_close(l);
	return err;
}

/*
 * The image just pulled to R: if it has tar layers, import them in place,
 * unless TAG named their import before the pull (@prev): tag that again.
 */
int xfer_import_pulled(const struct atomfs_ref *r, const json_t *prev)
{
	cleanup_free char *ref = atomfs_asprintf("%s:%s", r->dir, r->tag);
	cleanup_free char *pulled = NULL;
	struct atomfs_layout *l = NULL;
	struct layer_opts lo;
	json_t *cur;
	int n, err, rc;

	if (!ref)
		return cmd_fail(atomfs_err(
			ENOMEM, "out of memory while importing %s:%s", r->dir,
			r->tag));
	err = atomfs_layout_open(r->dir, ATOMFS_LAYOUT_WRITE, &l);
	if (err)
		return cmd_fail(err);
	n = tar_layers(l, r->tag);
	if (n <= 0) {
		atomfs_layout_close(l);
		return n < 0 ? cmd_fail(n) : EXIT_OK;
	}
	if (imported_from(l, prev, r->tag)) {
		err = atomfs_layout_set_tag(l, r->tag, json_deep_copy(prev));
		if (!err)
			err = atomfs_layout_write_index(l);
		atomfs_layout_close(l);
		if (err)
			return cmd_fail(err);
		if (!atomfs_quiet)
			fprintf(stderr,
				"%s: its tar layers were imported before: %s\n",
				ref, atomfs_desc_str(prev, "digest"));
		return EXIT_OK;
	}
	err = atomfs_layout_get_tag(l, r->tag, &cur);
	if (!err && !(pulled = strdup(atomfs_desc_str(cur, "digest"))))
		err = atomfs_err(ENOMEM, "out of memory while importing %s",
				 ref);
	atomfs_layout_close(l);
	if (err)
		return cmd_fail(err);
	if (!atomfs_quiet)
		fprintf(stderr, "%s has %d tar layer%s: importing\n", ref, n,
			n == 1 ? "" : "s");
	layer_opts_init(&lo);
	rc = import_image(ref, ref, &lo, NULL);
	if (rc)
		return rc;
	err = mark_import(r, pulled);
	return err ? cmd_fail(err) : EXIT_OK;
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
	struct atomfs_rref rr = { 0 };
	struct atomfs_ref lr = { 0 };
	json_t *prev = NULL;
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
	if (!import)
		return xfer_copy(argv[optind], argv[optind + 1], &xo);
	/* where the pull goes, as xfer_copy() decides it */
	r = atomfs_rref_parse(argv[optind], &rr);
	if (!r)
		r = xfer_parse_local(argv[optind + 1],
				     rr.tag ? rr.tag :
					      (rr.digest ? NULL : "latest"),
				     true, &lr);
	if (r) {
		rc = cmd_fail(r);
		goto out;
	}
	prev = tag_before(&lr);
	rc = xfer_copy(argv[optind], argv[optind + 1], &xo);
	if (!rc)
		rc = xfer_import_pulled(&lr, prev);
out:
	json_decref(prev);
	atomfs_rref_free(&rr);
	atomfs_ref_free(&lr);
	return rc;
}
