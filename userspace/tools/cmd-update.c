// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs update --replace OLDREF=NEWREF: swap an applied dependency's layers */
#include <getopt.h>

#include "cmd.h"
#include "internal.h"

static const char usage[] =
	"usage: atomfs update --replace OLDREF=NEWREF [--sign KEY] REF\n"
	"Rewrite image REF so that the layers it took from OLDREF (with 'build --apply')\n"
	"become the layers of NEWREF, in the same position; the base below and REF's\n"
	"own layers above stay as they are.  REF is retagged.  If REF does not include\n"
	"OLDREF, update fails and nothing changes; if it already includes NEWREF and\n"
	"nothing of OLDREF (the update ran before), nothing changes and it succeeds.\n"
	"Without --sign the new manifest is unsigned.\n"
	"  -q, --quiet   no messages\n";

/* Does layer d come from old (by reference or by manifest digest)? */
static bool from_old(const json_t *d, const char *oldref, const char *olddig)
{
	const char *role = atomfs_desc_annotation(d, ANN_SRC_ROLE);
	const char *src = atomfs_desc_annotation(d, ANN_SRC_REF);
	const char *man = atomfs_desc_annotation(d, ANN_SRC_MANIFEST);

	if (!role || strcmp(role, "apply"))
		return false;
	return (src && !strcmp(src, oldref)) ||
	       (olddig && man && !strcmp(man, olddig));
}

/* Was any of @layers applied from @ref (or the manifest @dig)? */
static bool layers_from(const json_t *layers, const char *ref, const char *dig)
{
	const json_t *d;
	size_t i;

	json_array_foreach(layers, i, d) if (from_old(d, ref, dig)) return true;
	return false;
}

int cmd_update(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replace", required_argument, NULL, 'r' },
		{ "sign", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_free char *replace = NULL;
	cleanup_free char *oldcanon = NULL;
	cleanup_free char *olddig = NULL;
	const char *sign = NULL;
	char *newstr;
	struct layouts ls = { 0 };
	struct atomfs_ref ref = { 0 }, oldref = { 0 };
	struct atomfs_image img = { 0 }, newimg = { 0 };
	struct atomfs_layout *nsrc;
	json_t *kept, *tail, *config = NULL, *refs = NULL, *d;
	size_t i, pos = (size_t)-1, nold = 0, nnew = 0;
	int opt, err, rc;

	if (cmd_help(argc, argv, usage))
		return EXIT_OK;
	kept = json_array();
	tail = json_array();
	while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		if (opt == 'r') {
			free(replace);
			replace = xstrdup(optarg);
		} else if (opt == 's') {
			sign = optarg;
		} else if (opt == 'q') {
			atomfs_quiet = 1;
		} else {
			rc = cmd_usage("update", usage);
			goto out;
		}
	}
	if (argc - optind != 1 || !replace ||
	    !(newstr = strchr(replace, '='))) {
		rc = cmd_usage("update", usage);
		goto out;
	}
	*newstr++ = '\0';
	err = atomfs_ref_parse(argv[optind], &ref);
	if (!err)
		err = atomfs_ref_parse(replace, &oldref);
	if (err)
		goto fail;
	if (sign) {
		cleanup_free char *fp = NULL;

		err = atomfs_key_fingerprint(sign, true, &fp);
		if (err)
			goto fail;
	}
	oldcanon = atomfs_ref_canonical(oldref.dir, oldref.tag);
	/*
	 * Sources first, each lock dropped once read, then the destination:
	 * no lock is held while waiting for another.
	 * OLDREF may be gone already: then its recorded reference is enough.
	 */
	{
		struct atomfs_image old;
		struct atomfs_layout *osrc;

		if (open_ref(&ls, replace, &old, &osrc) == 0) {
			olddig = xstrdup(old.digest);
			atomfs_image_free(&old);
		}
		atomfs_clear_error();
	}
	err = open_ref(&ls, newstr, &newimg, &nsrc);
	if (err)
		goto fail;
	err = atomfs_layout_open(ref.dir, ATOMFS_LAYOUT_WRITE, &ls.dst);
	if (!err)
		err = atomfs_image_load(ls.dst, ref.tag, &img);
	if (err)
		goto fail;
	json_array_foreach(img.layers, i, d)
	{
		if (from_old(d, oldcanon, olddig)) {
			if (pos == (size_t)-1)
				pos = i;
			nold++;
		} else if (pos == (size_t)-1) {
			json_array_append(kept, d);
		} else {
			json_array_append(tail, d);
		}
	}
	if (!nold && layers_from(img.layers, newimg.ref, newimg.digest)) {
		/*
		 * Run again after it completed (interrupted once the tag had
		 * moved, say): the image already has NEWREF's layers and
		 * nothing of OLDREF's. Nothing to do, and no error.
		 */
		if (!atomfs_quiet)
			fprintf(stderr,
				"atomfs: %s already includes %s and nothing from %s: nothing to do\n",
				argv[optind], newimg.ref, oldcanon);
		atomfs_layout_rollback(ls.dst);
		rc = EXIT_OK;
		goto out;
	}
	if (!nold) {
		err = atomfs_err(
			ENOENT,
			"image %s does not include %s (no layer was applied from it); 'atomfs inspect %s' shows where its layers came from",
			argv[optind], replace, argv[optind]);
		goto fail;
	}
	/* NEWREF's layers not already present, where OLDREF's were */
	{
		json_t *all = json_array();

		json_array_extend(all, kept);
		json_array_extend(all, tail);
		json_array_foreach(newimg.layers, i, d)
		{
			if (layers_have(all, atomfs_desc_str(d, "digest")))
				continue;
			json_t *one = json_array();
			struct atomfs_image single = newimg;

			json_array_append(one, d);
			single.layers = one;
			err = take_layers(ls.dst, nsrc, &single, "apply", false,
					  kept, NULL, &nnew);
			json_decref(one);
			if (err)
				break;
		}
		json_decref(all);
		if (err)
			goto fail;
	}
	json_array_extend(kept, tail);
	config = json_deep_copy(img.config);
	/* the layer list changed: the old history no longer describes it */
	json_object_del(config, "history");
	refs = atomfs_image_referrers(ls.dst, img.digest);
	err = finish_image(ls.dst, ref.tag, config, kept,
			   json_object_get(img.manifest, "annotations"), sign,
			   "updated");
	if (err)
		goto fail;
	if (!atomfs_quiet) {
		fprintf(stderr,
			"atomfs: replaced %zu layers from %s with %zu from %s\n",
			nold, oldcanon, nnew, newimg.ref);
		if (!sign && json_array_size(refs))
			fprintf(stderr,
				"atomfs: note: the old manifest's signature does not cover the new one; sign it with 'atomfs sign --key KEY %s'\n",
				argv[optind]);
	}
	rc = EXIT_OK;
	goto out;
fail:
	rc = cmd_fail(err);
	if (ls.dst)
		atomfs_layout_rollback(ls.dst);
out:
	json_decref(refs);
	json_decref(config);
	json_decref(kept);
	json_decref(tail);
	atomfs_image_free(&img);
	atomfs_image_free(&newimg);
	layouts_close(&ls);
	atomfs_ref_free(&ref);
	atomfs_ref_free(&oldref);
	return rc;
}
