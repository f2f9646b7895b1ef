// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs sign / atomfs verify */
#include <getopt.h>

#include "cmd.h"
#include "internal.h"

static const char sign_usage[] =
	"usage: atomfs sign --key KEY REF\n"
	"Sign image REF's manifest together with REF's tag with the PEM private key\n"
	"KEY (Ed25519, ECDSA P-256/384/521 or RSA of 2048 bits or more); the\n"
	"signature is stored as an OCI 1.1 referrer in REF's layout.  It holds only\n"
	"under that tag: an image copied or retagged must be signed again.\n";

static const char verify_usage[] =
	"usage: atomfs verify [--pubkey PUB [--signed-tag TAG]] REF\n"
	"Check that every blob of image REF matches its digest and size and, with\n"
	"--pubkey, that REF's manifest carries a valid signature by PUB (PEM) for\n"
	"REF's tag, or for TAG with --signed-tag (an image copied under another tag).\n"
	"Exit status 0 only if all holds.\n";

int cmd_sign(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL;
	struct atomfs_ref ref;
	struct atomfs_layout *l = NULL;
	struct atomfs_image img = { 0 };
	int opt, err;

	if (cmd_help(argc, argv, sign_usage))
		return EXIT_OK;
	while ((opt = getopt_long(argc, argv, "k:q", longopts, NULL)) != -1) {
		if (opt == 'k')
			key = optarg;
		else if (opt == 'q')
			atomfs_quiet = 1;
		else
			return cmd_usage("sign", sign_usage);
	}
	if (argc - optind != 1 || !key)
		return cmd_usage("sign", sign_usage);
	err = atomfs_ref_parse(argv[optind], &ref);
	if (err)
		return cmd_fail(err);
	err = atomfs_layout_open(ref.dir, ATOMFS_LAYOUT_WRITE, &l);
	if (!err)
		err = atomfs_image_load(l, ref.tag, &img);
	if (!err)
		err = atomfs_sign_manifest(
			l, img.digest,
			json_integer_value(json_object_get(img.desc, "size")),
			ref.tag, key);
	if (!err)
		err = atomfs_layout_write_index(l);
	if (err && l)
		atomfs_layout_rollback(l);
	if (!err && !atomfs_quiet)
		fprintf(stderr, "atomfs: signed %s (%s)\n", argv[optind],
			img.digest);
	atomfs_image_free(&img);
	atomfs_layout_close(l);
	atomfs_ref_free(&ref);
	return err ? cmd_fail(err) : EXIT_OK;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pubkey", required_argument, NULL, 'p' },
		{ "signed-tag", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pub = NULL, *signed_tag = NULL;
	struct layouts ls = { 0 };
	struct atomfs_image img;
	struct atomfs_layout *l;
	const json_t *d;
	size_t i;
	int opt, err;

	if (cmd_help(argc, argv, verify_usage))
		return EXIT_OK;
	while ((opt = getopt_long(argc, argv, "p:q", longopts, NULL)) != -1) {
		if (opt == 'p')
			pub = optarg;
		else if (opt == 't')
			signed_tag = optarg;
		else if (opt == 'q')
			atomfs_quiet = 1;
		else
			return cmd_usage("verify", verify_usage);
	}
	if (argc - optind != 1 || (signed_tag && !pub))
		return cmd_usage("verify", verify_usage);
	/* manifest and config digests are checked while loading */
	err = open_ref(&ls, argv[optind], &img, &l);
	if (err)
		goto out_noimg;
	json_array_foreach(img.layers, i, d)
	{
		err = atomfs_layout_check_blob(
			l, atomfs_desc_str(d, "digest"),
			json_integer_value(json_object_get(d, "size")));
		if (!err &&
		    atomfs_layer_kind(atomfs_desc_str(d, "mediaType")) ==
			    ATOMFS_LAYER_SQUASHFS)
			err = check_layer_blob(l, atomfs_desc_str(d, "digest"),
					       img.ref);
		if (err)
			goto out;
	}
	if (pub) {
		err = atomfs_verify_manifest(
			l, img.digest, signed_tag ? signed_tag : img.tag, pub);
		if (err)
			goto out;
	}
	if (!atomfs_quiet)
		printf("%s: %zu blobs match their digests%s\n", img.ref,
		       json_array_size(img.layers) + 2,
		       pub ? "; signature valid" : "");
out:
	atomfs_image_free(&img);
out_noimg:
	layouts_close(&ls);
	return err ? cmd_fail(err) : EXIT_OK;
}
