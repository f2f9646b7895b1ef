// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs inspect: manifest, layers and where they came from, config, signatures */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>

#include "cmd.h"
#include "internal.h"
#include "runtime.h"

static const char usage[] =
	"usage: atomfs inspect [--json] REF\n"
	"       atomfs inspect --runtime-config [--rootfs DIR] REF\n"
	"Show image REF: manifest digest, layers (digest, size, media type, where each\n"
	"came from), config and signatures.\n"
	"  --json             machine-readable output\n"
	"  --runtime-config   print an OCI runtime config (a bundle's config.json for\n"
	"                     crun or runc) made from the image's config: Entrypoint\n"
	"                     and Cmd, Env, WorkingDir, User; the standard mounts,\n"
	"                     namespaces (network too) and capabilities\n"
	"  --rootfs DIR       its root.path (default: rootfs, in the bundle), where\n"
	"                     the image is mounted; user and group names are looked\n"
	"                     up in its /etc/passwd and /etc/group\n";

/* the OCI runtime config of image @img (see usage); 0 or -errno */
static int runtime_config(const struct atomfs_image *img, const char *rootfs,
			  json_t **out)
{
	const json_t *c = json_object_get(img->config, "config");
	json_t *args = json_array(), *v;
	struct runtime_spec rs = {
		.cwd = json_string_value(json_object_get(c, "WorkingDir")),
		.rootfs = rootfs ? rootfs : "rootfs",
		.network_ns = true,
	};
	size_t i;
	int err;

	err = runtime_user(json_string_value(json_object_get(c, "User")),
			   rootfs, &rs.uid, &rs.gid);
	if (err) {
		json_decref(args);
		atomfs_err_prefix("%s", img->ref);
		return err;
	}
	json_array_foreach(json_object_get(c, "Entrypoint"), i, v)
		json_array_append(args, v);
	json_array_foreach(json_object_get(c, "Cmd"), i, v)
		json_array_append(args, v);
	if (!json_array_size(args)) {
		json_decref(args);
		return atomfs_err(
			EINVAL,
			"%s has neither Entrypoint nor Cmd: nothing to run",
			img->ref);
	}
	rs.args = args;
	rs.env = runtime_env(img->config);
	*out = runtime_spec_new(&rs);
	json_decref(rs.env);
	json_decref(args);
	return *out ? 0 : atomfs_err(ENOMEM, "out of memory");
}

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
	/* what index.json says of a signature is a claim, checked only by verify */
	refs = atomfs_image_referrers(l, img->digest);
	json_array_foreach(refs, i, d) json_array_append_new(
		sigs,
		json_pack("{s:s, s:s, s:s?, s:s?, s:b}", "digest",
			  atomfs_desc_str(d, "digest"), "format",
			  strcmp(atomfs_desc_str(d, "artifactType"),
				 MT_SIGNATURE) ?
				  "v1" :
				  "v2",
			  "claimedKey", atomfs_desc_annotation(d, ANN_SIG_KEY),
			  "claimedTag", atomfs_desc_annotation(d, ANN_SIG_TAG),
			  "verified", 0));
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

/*
 * Image strings are someone else's: control characters (C0, DEL, C1) and
 * backslashes are shown escaped, so a terminal never interprets them.
 */
static void put_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "?");

	for (; *p; p++) {
		if (*p == '\n' && !p[1]) /* the line's own end */
			putchar('\n');
		else if (*p < 0x20 || *p == 0x7f || *p == '\\')
			printf("\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			printf("\\u%04x", p[1]), p++;
		else
			putchar(*p);
	}
}

__attribute__((format(printf, 1, 2))) static void print_safe(const char *fmt,
							     ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	put_safe(s);
	free(s);
}

static void print_text(json_t *o)
{
	json_t *d, *rt = json_object_get(o, "runtime"), *v;
	const char *k;
	size_t i;

	print_safe("image:        %s\n",
		   json_string_value(json_object_get(o, "ref")));
	print_safe("manifest:     %s (%lld bytes)\n",
		   json_string_value(json_object_get(o, "manifest")),
		   (long long)json_integer_value(
			   json_object_get(o, "manifestSize")));
	print_safe("config:       %s (%s/%s)\n",
		   json_string_value(json_object_get(o, "config")),
		   json_string_value(json_object_get(o, "os")) ?: "?",
		   json_string_value(json_object_get(o, "architecture")) ?:
									   "?");
	if (!json_array_size(json_object_get(o, "signatures")))
		print_safe("signatures:   none\n");
	json_array_foreach(json_object_get(o, "signatures"), i, d)
	{
		if (!strcmp(json_string_value(json_object_get(d, "format")),
			    "v1"))
			print_safe(
				"signature:    %s, old format (v1): no longer accepted, re-sign the image\n",
				json_string_value(
					json_object_get(d, "digest")));
		else
			print_safe(
				"signature:    %s, claims key %s, tag %s (not verified here: atomfs verify --pubkey KEY)\n",
				json_string_value(json_object_get(d, "digest")),
				json_string_value(json_object_get(d, "claimedKey")) ?:
					"?",
				json_string_value(json_object_get(d, "claimedTag")) ?:
					"?");
	}
	print_safe("layers (bottom first):\n");
	json_array_foreach(json_object_get(o, "layers"), i, d)
	{
		const char *role =
			json_string_value(json_object_get(d, "role"));
		const char *src =
			json_string_value(json_object_get(d, "source"));
		const char *man =
			json_string_value(json_object_get(d, "sourceManifest"));
		const char *in = json_string_value(json_object_get(d, "input"));

		print_safe("  %2zu %s %10lld %s\n", i + 1,
			   json_string_value(json_object_get(d, "digest")),
			   (long long)json_integer_value(
				   json_object_get(d, "size")),
			   json_string_value(json_object_get(d, "mediaType")));
		if (src)
			print_safe("     %s from %s@%s\n", role ?: "from", src,
				   man ?: "?");
		else if (in)
			print_safe("     %s from %s\n", role ?: "built", in);
		else if (role)
			print_safe("     %s\n", role);
	}
	json_object_foreach(rt, k, v)
	{
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		print_safe("%-13s %s\n", k, s ? s : "?");
		free(s);
	}
	json_object_foreach(json_object_get(o, "annotations"), k, v) print_safe(
		"annotation:   %s=%s\n", k, json_string_value(v) ?: "");
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "runtime-config", no_argument, NULL, 'R' },
		{ "rootfs", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct layouts ls = { 0 };
	struct atomfs_image img;
	struct atomfs_layout *l;
	const char *rootfs = NULL;
	bool json = false, spec = false;
	json_t *o;
	int opt, err;

	if (cmd_help(argc, argv, usage))
		return EXIT_OK;
	while ((opt = getopt_long(argc, argv, "jq", longopts, NULL)) != -1) {
		if (opt == 'j')
			json = true;
		else if (opt == 'R')
			spec = true;
		else if (opt == 'r')
			rootfs = optarg;
		else if (opt == 'q')
			atomfs_quiet = 1;
		else
			return cmd_usage("inspect", usage);
	}
	if (argc - optind != 1 || (rootfs && !spec) || (spec && json))
		return cmd_usage("inspect", usage);
	err = open_ref(&ls, argv[optind], &img, &l);
	if (err) {
		layouts_close(&ls);
		return cmd_fail(err);
	}
	if (spec) {
		err = runtime_config(&img, rootfs, &o);
		atomfs_image_free(&img);
		layouts_close(&ls);
		if (err)
			return cmd_fail(err);
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
		return EXIT_OK;
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
