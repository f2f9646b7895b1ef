// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs build: compose an image from a base, applied images and new layers */
#include <getopt.h>
#include <time.h>

#include "cmd.h"
#include "image.h"
#include "internal.h"
#include "progress.h"

static const char usage[] =
	"usage: atomfs build [OPTIONS] REF\n"
	"       atomfs build -f RECIPE [OPTIONS]   (see 'atomfs build -f x --help')\n"
	"Make image REF ([oci:]DIR:TAG; DIR's layout is created if needed) from:\n"
	"  --from REF|scratch  the layers of a base image, verbatim (default: scratch)\n"
	"  --apply REF         then that image's layers not already present, verbatim\n"
	"                      (repeatable; recorded so 'atomfs update' can swap them)\n"
	"  --layer PATH        then one new squashfs layer from a directory or a tar\n"
	"                      archive (.tar, .tar.gz, .tar.zst, .tar.xz) (repeatable)\n"
	"  --sign KEY          sign the new manifest with a PEM private key\n"
	"  --annotation K=V    manifest annotation (repeatable)\n" LAYER_USAGE
	"  -q, --quiet         no progress or warnings\n";

/* provenance annotations are rewritten for the image being built */
static json_t *layer_copy(const json_t *d, const char *role,
			  const struct atomfs_image *src)
{
	json_t *c = json_deep_copy(d), *a = json_object_get(c, "annotations");

	if (a) {
		json_object_del(a, ANN_SRC_ROLE);
		json_object_del(a, ANN_SRC_REF);
		json_object_del(a, ANN_SRC_MANIFEST);
		json_object_del(a, ANN_SRC_INPUT);
	}
	atomfs_desc_set_annotation(c, ANN_SRC_ROLE, role);
	if (src) {
		atomfs_desc_set_annotation(c, ANN_SRC_REF, src->ref);
		atomfs_desc_set_annotation(c, ANN_SRC_MANIFEST, src->digest);
	}
	return c;
}

int check_layer_blob(const struct atomfs_layout *l, const char *digest,
		     const char *ref)
{
	cleanup_free char *p = atomfs_layout_blob_path(l, digest);
	int err;

	if (!p)
		return atomfs_err(ENOMEM,
				  "out of memory while checking layer %s of %s",
				  digest, ref);
	err = atomfs_sqfs_check(p);
	if (err)
		atomfs_err_prefix("layer %s of %s", digest, ref);
	return err;
}

bool layers_have(const json_t *layers, const char *digest)
{
	const json_t *d;
	size_t i;

	json_array_foreach(layers, i,
			   d) if (!strcmp(atomfs_desc_str(d, "digest"),
					  digest)) return true;
	return false;
}

/* Copy img's layers into dst (skipping those present when skip_present). */
int take_layers(struct atomfs_layout *dst, struct atomfs_layout *src,
		const struct atomfs_image *img, const char *role,
		bool skip_present, json_t *layers, json_t *history,
		size_t *added)
{
	const json_t *d;
	size_t i;
	int err;

	json_array_foreach(img->layers, i, d)
	{
		const char *dig = atomfs_desc_str(d, "digest");

		if (atomfs_layer_kind(atomfs_desc_str(d, "mediaType")) !=
		    ATOMFS_LAYER_SQUASHFS)
			return atomfs_err(
				ENOTSUP,
				"layer %s of %s has media type %s, not squashfs; convert the image first with 'atomfs import'",
				dig, img->ref, atomfs_desc_str(d, "mediaType"));
		if (skip_present && layers_have(layers, dig))
			continue;
		err = atomfs_layout_import_blob(
			dst, src, dig,
			json_integer_value(json_object_get(d, "size")));
		if (!err)
			err = check_layer_blob(dst, dig, img->ref);
		if (err)
			return err;
		json_array_append_new(layers, layer_copy(d, role, img));
		if (history)
			json_array_append_new(
				history,
				json_pack(
					"{s:s}", "created_by",
					xasprintf_tmp("atomfs build --apply %s",
						      img->ref)));
		if (added)
			(*added)++;
	}
	return 0;
}

char *xasprintf_tmp(const char *fmt, ...)
{
	static __thread char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

int new_layer(struct atomfs_layout *dst, const char *input,
	      const struct layer_opts *lo, json_t **desc)
{
	cleanup_free char *tmp = NULL;
	cleanup_free char *dig = NULL;
	struct atomfs_sqfs_opts so = lo->sq;
	struct atomfs_layer_info info;
	uint64_t size;
	int err;

	err = atomfs_layout_tmp_create(dst, &tmp);
	if (err)
		return err;
	so.progress = atomfs_progress_new(input, 0, atomfs_quiet);
	err = atomfs_build_layer_info(input, &lo->in, &so, tmp, &info);
	atomfs_progress_done(so.progress);
	if (!err)
		err = atomfs_layout_commit_blob(dst, tmp, &dig, &size);
	if (err)
		return err;
	*desc = atomfs_desc_new(atomfs_comp_media_type(lo->sq.comp), dig, size);
	atomfs_desc_set_annotation(*desc, ANN_SRC_ROLE, "build");
	atomfs_desc_set_annotation(*desc, ANN_SRC_INPUT, input);
	if (info.posix_acl)
		atomfs_desc_set_annotation(*desc, ANN_LAYER_POSIX_ACL, "1");
	return 0;
}

json_t *new_config(const struct layer_opts *lo)
{
	json_t *c = json_pack("{s:s, s:s, s:{}}", "architecture",
			      atomfs_host_arch(), "os", "linux", "config");

	set_created(c, lo);
	return c;
}

void set_created(json_t *config, const struct layer_opts *lo)
{
	char buf[64];
	time_t t;

	/* only with --mtime/SOURCE_DATE_EPOCH: otherwise omitted, so rebuilds compare equal */
	if (!lo->sq.have_mtime) {
		json_object_del(config, "created");
		return;
	}
	t = (time_t)lo->sq.mtime;
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	json_object_set_new(config, "created", json_string(buf));
}

/* history is optional: keep it only while it still matches the layers */
json_t *usable_history(const json_t *config, size_t nlayers)
{
	json_t *h = json_object_get(config, "history"), *e;
	size_t i, n = 0;

	if (!json_is_array(h))
		return NULL;
	json_array_foreach(
		h, i, e) if (!json_is_true(json_object_get(e, "empty_layer")))
		n++;
	return n == nlayers ? h : NULL;
}

int finish_image(struct atomfs_layout *dst, const char *tag, json_t *config,
		 json_t *layers, json_t *annotations, const char *signkey,
		 const char *verb)
{
	json_t *mdesc = NULL;
	int err;

	if (!json_array_size(layers))
		return atomfs_err(
			EINVAL,
			"an image needs at least one layer: give --layer, --from or --apply");
	err = atomfs_image_write(dst, config, layers, annotations, &mdesc);
	if (!err && signkey)
		err = atomfs_sign_manifest(
			dst, atomfs_desc_str(mdesc, "digest"),
			json_integer_value(json_object_get(mdesc, "size")), tag,
			signkey);
	if (err) {
		json_decref(mdesc);
		return err;
	}
	if (!atomfs_quiet)
		fprintf(stderr, "atomfs: %s %s:%s as %s (%zu layers%s)\n", verb,
			dst->dir, tag, atomfs_desc_str(mdesc, "digest"),
			json_array_size(layers), signkey ? ", signed" : "");
	err = atomfs_layout_set_tag(dst, tag, mdesc);
	return err ? err : atomfs_layout_write_index(dst);
}

int cmd_build(int argc, char **argv)
{
	static const struct option longopts[] = {
		LAYER_LONGOPTS,
		{ "from", required_argument, NULL, 'f' },
		{ "apply", required_argument, NULL, 'a' },
		{ "layer", required_argument, NULL, 'l' },
		{ "sign", required_argument, NULL, 's' },
		{ "annotation", required_argument, NULL, 'A' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *sign = NULL;
	cleanup_free const char **applies =
		xcalloc((size_t)argc, sizeof(char *));
	cleanup_free const char **inputs =
		xcalloc((size_t)argc, sizeof(char *));
	cleanup_free struct atomfs_image *deps =
		xcalloc((size_t)argc, sizeof(*deps));
	cleanup_free struct atomfs_layout **depl =
		xcalloc((size_t)argc, sizeof(*depl));
	struct atomfs_image base = { 0 };
	struct atomfs_layout *basel = NULL;
	bool have_base = false;
	size_t napply = 0, ninput = 0, ndeps = 0, i;
	struct layouts ls = { 0 };
	struct atomfs_ref ref = { 0 };
	struct layer_opts lo;
	json_t *annotations, *layers, *config = NULL, *history = NULL;
	int opt, err, rc;

	/* a recipe: atomfs build -f FILE (cmd-recipe.c) */
	for (i = 1; i < (size_t)argc && strcmp(argv[i], "--"); i++)
		if (!strncmp(argv[i], "-f", 2) ||
		    !strncmp(argv[i], "--file", 6))
			return cmd_build_recipe(argc, argv);
	if (cmd_help(argc, argv, usage))
		return EXIT_OK;
	annotations = json_object();
	layers = json_array();
	layer_opts_init(&lo);
	while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		int r = layer_opt(&lo, opt, optarg);
		char *eq;

		if (r < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		if (r)
			continue;
		switch (opt) {
		case 'f':
			from = optarg;
			break;
		case 'a':
			applies[napply++] = optarg;
			break;
		case 'l':
			inputs[ninput++] = optarg;
			break;
		case 's':
			sign = optarg;
			break;
		case 'A':
			eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				fprintf(stderr,
					"atomfs: --annotation %s: expected KEY=VALUE\n",
					optarg);
				rc = EXIT_USAGE;
				goto out;
			}
			*eq = '\0';
			json_object_set_new(annotations, optarg,
					    json_string(eq + 1));
			break;
		case 'q':
			atomfs_quiet = 1;
			break;
		default:
			rc = cmd_usage("build", usage);
			goto out;
		}
	}
	if (argc - optind != 1) {
		rc = cmd_usage("build", usage);
		goto out;
	}
	if (layer_opts_check(&lo) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	err = atomfs_ref_parse(argv[optind], &ref);
	if (err)
		goto fail;
	/* a key that cannot be used fails before any work */
	if (sign) {
		cleanup_free char *fp = NULL;

		err = atomfs_key_fingerprint(sign, true, &fp);
		if (err)
			goto fail;
	}
	/*
	 * Read every source before locking the destination: two builds whose
	 * sources and destinations cross must not wait for each other's lock
	 * while holding their own (blobs are re-checked when taken).
	 */
	if (from && strcmp(from, "scratch")) {
		err = open_ref(&ls, from, &base, &basel);
		if (err)
			goto fail;
		have_base = true;
	}
	for (i = 0; i < napply; i++) {
		err = open_ref(&ls, applies[i], &deps[i], &depl[i]);
		if (err)
			goto fail;
		ndeps++;
	}
	err = atomfs_layout_open(
		ref.dir, ATOMFS_LAYOUT_WRITE | ATOMFS_LAYOUT_CREATE, &ls.dst);
	if (err)
		goto fail;

	if (have_base) {
		err = take_layers(ls.dst, basel, &base, "base", false, layers,
				  NULL, NULL);
		config = json_deep_copy(base.config);
		history = usable_history(config, json_array_size(layers));
		if (history)
			json_incref(history);
		if (err)
			goto fail;
		set_created(config, &lo);
	} else {
		config = new_config(&lo);
		history = json_array();
	}
	for (i = 0; i < napply; i++) {
		err = take_layers(ls.dst, depl[i], &deps[i], "apply", true,
				  layers, history, NULL);
		if (err)
			goto fail;
	}
	for (i = 0; i < ninput; i++) {
		json_t *d;

		err = new_layer(ls.dst, inputs[i], &lo, &d);
		if (err)
			goto fail;
		json_array_append_new(layers, d);
		if (history)
			json_array_append_new(
				history,
				json_pack(
					"{s:s}", "created_by",
					xasprintf_tmp("atomfs build --layer %s",
						      inputs[i])));
	}
	if (history)
		json_object_set(config, "history", history);
	else
		json_object_del(config, "history");
	err = finish_image(ls.dst, ref.tag, config, layers, annotations, sign,
			   "built");
	if (err)
		goto fail;
	rc = EXIT_OK;
	goto out;
fail:
	rc = cmd_fail(err);
	if (ls.dst)
		atomfs_layout_rollback(ls.dst);
out:
	if (have_base)
		atomfs_image_free(&base);
	for (i = 0; i < ndeps; i++)
		atomfs_image_free(&deps[i]);
	json_decref(history);
	json_decref(config);
	json_decref(layers);
	json_decref(annotations);
	layouts_close(&ls);
	atomfs_ref_free(&ref);
	return rc;
}
