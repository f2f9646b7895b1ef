// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs inspect: manifest, layers and where they came from, config, signatures */
#include <getopt.h>

#include "cmd.h"
#include "internal.h"

static const char usage[] =
	"usage: atomfs inspect [--json] REF\n"
	"Show image REF: manifest digest, layers (digest, size, media type, where each\n"
	"came from), config and signatures.\n"
	"  --json   machine-readable output\n";

static json_t *describe(const struct atomfs_layout *l,
			const struct atomfs_image *img)
{
	json_t *layers = json_array(), *sigs = json_array(), *refs, *d,
	       *c = img->config;
	size_t i;

	json_array_foreach(img->layers, i, d)
	{
		json_t *o = json_pack(
			"{s:s, s:I, s:s}", "digest",
			atomfs_desc_str(d, "digest"), "size",
			json_integer_value(json_object_get(d, "size")),
			"mediaType", atomfs_desc_str(d, "mediaType"));
		const char *role = atomfs_desc_annotation(d, ANN_SRC_ROLE);
		const char *src = atomfs_desc_annotation(d, ANN_SRC_REF);
		const char *man = atomfs_desc_annotation(d, ANN_SRC_MANIFEST);
		const char *in = atomfs_desc_annotation(d, ANN_SRC_INPUT);

		if (role)
			json_object_set_new(o, "role", json_string(role));
		if (src)
			json_object_set_new(o, "source", json_string(src));
		if (man)
			json_object_set_new(o, "sourceManifest",
					    json_string(man));
		if (in)
			json_object_set_new(o, "input", json_string(in));
		json_array_append_new(layers, o);
	}
	refs = atomfs_image_referrers(l, img->digest);
	json_array_foreach(refs, i, d) json_array_append_new(
		sigs,
		json_pack("{s:s, s:s?}", "digest", atomfs_desc_str(d, "digest"),
			  "key", atomfs_desc_annotation(d, ANN_SIG_KEY)));
	json_decref(refs);
	return json_pack(
		"{s:s, s:s, s:I, s:s*, s:s*, s:s*, s:O*, s:O*, s:o, s:o}",
		"ref", img->ref, "manifest", img->digest, "manifestSize",
		json_integer_value(json_object_get(img->desc, "size")),
		"config",
		atomfs_desc_str(json_object_get(img->manifest, "config"),
				"digest"),
		"os", json_string_value(json_object_get(c, "os")),
		"architecture",
		json_string_value(json_object_get(c, "architecture")),
		"runtime", json_object_get(c, "config"), "annotations",
		json_object_get(img->manifest, "annotations"), "layers", layers,
		"signatures", sigs);
}

static void print_text(json_t *o)
{
	json_t *d, *rt = json_object_get(o, "runtime"), *v;
	const char *k;
	size_t i;

	printf("image:        %s\n",
	       json_string_value(json_object_get(o, "ref")));
	printf("manifest:     %s (%lld bytes)\n",
	       json_string_value(json_object_get(o, "manifest")),
	       (long long)json_integer_value(
		       json_object_get(o, "manifestSize")));
	printf("config:       %s (%s/%s)\n",
	       json_string_value(json_object_get(o, "config")),
	       json_string_value(json_object_get(o, "os")) ?: "?",
	       json_string_value(json_object_get(o, "architecture")) ?: "?");
	if (!json_array_size(json_object_get(o, "signatures")))
		printf("signatures:   none\n");
	json_array_foreach(json_object_get(o, "signatures"), i, d)
		printf("signature:    by key %s (%s)\n",
		       json_string_value(json_object_get(d, "key")) ?: "?",
		       json_string_value(json_object_get(d, "digest")));
	printf("layers (bottom first):\n");
	json_array_foreach(json_object_get(o, "layers"), i, d)
	{
		const char *role =
			json_string_value(json_object_get(d, "role"));
		const char *src =
			json_string_value(json_object_get(d, "source"));
		const char *man =
			json_string_value(json_object_get(d, "sourceManifest"));
		const char *in = json_string_value(json_object_get(d, "input"));

		printf("  %2zu %s %10lld %s\n", i + 1,
		       json_string_value(json_object_get(d, "digest")),
		       (long long)json_integer_value(
			       json_object_get(d, "size")),
		       json_string_value(json_object_get(d, "mediaType")));
		if (src)
			printf("     %s from %s@%s\n", role ?: "from", src,
			       man ?: "?");
		else if (in)
			printf("     %s from %s\n", role ?: "built", in);
		else if (role)
			printf("     %s\n", role);
	}
	json_object_foreach(rt, k, v)
	{
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		printf("%-13s %s\n", k, s ? s : "?");
		free(s);
	}
	json_object_foreach(json_object_get(o, "annotations"), k, v)
		printf("annotation:   %s=%s\n", k, json_string_value(v) ?: "");
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct layouts ls = { 0 };
	struct atomfs_image img;
	struct atomfs_layout *l;
	bool json = false;
	json_t *o;
	int opt, err;

	if (cmd_help(argc, argv, usage))
		return EXIT_OK;
	while ((opt = getopt_long(argc, argv, "jq", longopts, NULL)) != -1) {
		if (opt == 'j')
			json = true;
		else if (opt == 'q')
			atomfs_quiet = 1;
		else
			return cmd_usage("inspect", usage);
	}
	if (argc - optind != 1)
		return cmd_usage("inspect", usage);
	err = open_ref(&ls, argv[optind], &img, &l);
	if (err) {
		layouts_close(&ls);
		return cmd_fail(err);
	}
	o = describe(l, &img);
	if (json) {
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		print_text(o);
	}
	json_decref(o);
	atomfs_image_free(&img);
	layouts_close(&ls);
	return EXIT_OK;
}
