// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs import: an OCI image with tar layers -> squashfs layers, one for one */
#include <getopt.h>
#include <unistd.h>

#include "cmd.h"
#include "internal.h"
#include "progress.h"

static const char usage[] =
	"usage: atomfs import [OPTIONS] SRCREF REF\n"
	"Convert image SRCREF (tar layers: OCI or Docker, plain, gzip or zstd) into\n"
	"image REF with one squashfs layer per tar layer; OCI whiteouts (.wh.NAME,\n"
	".wh..wh..opq) become overlay whiteouts (char 0/0, trusted.overlay.opaque=y)\n"
	"and, as in umoci and containerd, delete only what lower layers hold.\n"
	"Refused: ids over 4294967294, names over 255 bytes, paths over 2048\n"
	"levels, over 4194304 entries or 64 GiB of sparse holes in a layer;\n"
	"mtimes outside 1970-2106 are clamped with a warning (--strict: refused).\n"
	"The config (env, entrypoint, cmd, user, workdir, labels) carries over.\n"
	"  --sign KEY          sign the new manifest\n" LAYER_USAGE
	"  -q, --quiet         no progress or warnings\n";

static int convert_layer(struct atomfs_layout *dst, struct atomfs_layout *src,
			 const json_t *d, const struct layer_opts *lo,
			 json_t **out)
{
	cleanup_free char *blob =
		atomfs_layout_blob_path(src, atomfs_desc_str(d, "digest"));
	cleanup_free char *tmp = NULL;
	cleanup_free char *dig = NULL;
	struct atomfs_input_opts in = lo->in;
	struct atomfs_sqfs_opts so = lo->sq;
	struct atomfs_layer_info info;
	uint64_t size;
	int err;

	/* the tar blob must be what the manifest says before we trust its content */
	err = atomfs_layout_check_blob(
		src, atomfs_desc_str(d, "digest"),
		json_integer_value(json_object_get(d, "size")));
	if (!err)
		err = atomfs_layout_tmp_create(dst, &tmp);
	if (err)
		return err;
	in.whiteouts = true;
	so.progress = atomfs_progress_new(atomfs_desc_str(d, "digest") + 7, 0,
					  atomfs_quiet);
	err = atomfs_build_layer_info(blob, &in, &so, tmp, &info);
	atomfs_progress_done(so.progress);
	if (!err)
		err = atomfs_layout_commit_blob(dst, tmp, &dig, &size);
	if (err)
		return err;
	*out = atomfs_desc_new(atomfs_comp_media_type(lo->sq.comp), dig, size);
	if (info.posix_acl)
		atomfs_desc_set_annotation(*out, ANN_LAYER_POSIX_ACL, "1");
	return 0;
}

/*
 * Import image SRC ([oci:]DIR:TAG) into DST (the same or another layout),
 * tar layers converted and squashfs ones copied; an exit code. On failure
 * the destination layout is left as it was.
 */
int import_image(const char *srcref, const char *dstref,
		 const struct layer_opts *lo, const char *sign)
{
	struct layouts ls = { 0 };
	struct atomfs_ref ref = { 0 };
	struct atomfs_image img = { 0 };
	struct atomfs_layout *src;
	json_t *layers, *config = NULL, *d;
	size_t i;
	int err, rc;

	layers = json_array();
	if (!layers)
		return cmd_fail(atomfs_err(ENOMEM, "out of memory"));
	err = atomfs_ref_parse(dstref, &ref);
	if (err)
		goto fail;
	if (sign) {
		cleanup_free char *fp = NULL;

		err = atomfs_key_fingerprint(sign, true, &fp);
		if (err)
			goto fail;
	}
	/* check the source before creating anything */
	{
		struct atomfs_ref sref;

		err = atomfs_ref_parse(srcref, &sref);
		if (err)
			goto fail;
		err = layouts_get(&ls, sref.dir, &src);
		atomfs_ref_free(&sref);
		if (err)
			goto fail;
	}
	/* the source's shared lock is dropped if it is also the destination */
	if (atomfs_layout_same(src, ref.dir)) {
		layouts_close(&ls);
		err = atomfs_layout_open(ref.dir, ATOMFS_LAYOUT_WRITE, &ls.dst);
	} else {
		err = atomfs_layout_open(
			ref.dir, ATOMFS_LAYOUT_WRITE | ATOMFS_LAYOUT_CREATE,
			&ls.dst);
	}
	if (err)
		goto fail;
	err = open_ref(&ls, srcref, &img, &src);
	if (err)
		goto fail;
	json_array_foreach(img.layers, i, d)
	{
		const char *mt = atomfs_desc_str(d, "mediaType");
		json_t *nd = NULL;

		switch (atomfs_layer_kind(mt)) {
		case ATOMFS_LAYER_SQUASHFS:
			err = atomfs_layout_import_blob(
				ls.dst, src, atomfs_desc_str(d, "digest"),
				json_integer_value(json_object_get(d, "size")));
			if (!err)
				err = check_layer_blob(
					ls.dst, atomfs_desc_str(d, "digest"),
					img.ref);
			nd = err ? NULL : json_deep_copy(d);
			break;
		case ATOMFS_LAYER_TAR:
			err = convert_layer(ls.dst, src, d, lo, &nd);
			break;
		default:
			err = atomfs_err(
				ENOTSUP,
				"layer %zu (%s) of %s has unsupported media type %s",
				i + 1, atomfs_desc_str(d, "digest"), img.ref,
				mt);
		}
		if (err)
			goto fail;
		atomfs_desc_set_annotation(nd, ANN_SRC_ROLE, "import");
		atomfs_desc_set_annotation(nd, ANN_SRC_REF, img.ref);
		atomfs_desc_set_annotation(nd, ANN_SRC_MANIFEST, img.digest);
		json_array_append_new(layers, nd);
	}
	config = json_deep_copy(img.config);
	err = finish_image(ls.dst, ref.tag, config, layers,
			   json_object_get(img.manifest, "annotations"), sign,
			   "imported");
	if (err)
		goto fail;
	rc = EXIT_OK;
	goto out;
fail:
	rc = cmd_fail(err);
	if (ls.dst)
		atomfs_layout_rollback(ls.dst);
out:
	atomfs_image_free(&img);
	json_decref(config);
	json_decref(layers);
	layouts_close(&ls);
	atomfs_ref_free(&ref);
	return rc;
}

int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		LAYER_LONGOPTS,
		{ "sign", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sign = NULL;
	struct layer_opts lo;
	int opt;

	if (cmd_help(argc, argv, usage))
		return EXIT_OK;
	layer_opts_init(&lo);
	while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		int r = layer_opt(&lo, opt, optarg);

		if (r < 0)
			return EXIT_USAGE;
		if (r)
			continue;
		if (opt == 's')
			sign = optarg;
		else if (opt == 'q')
			atomfs_quiet = 1;
		else
			return cmd_usage("import", usage);
	}
	if (argc - optind != 2)
		return cmd_usage("import", usage);
	if (layer_opts_check(&lo) < 0)
		return EXIT_USAGE;
	return import_image(argv[optind], argv[optind + 1], &lo, sign);
}
