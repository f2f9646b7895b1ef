// SPDX-License-Identifier: LGPL-2.1-or-later
/* resolve.c: the public entry points the mount helper uses */
#include <unistd.h>

#include "image.h"
#include "squashfs.h"
#include "internal.h"

void atomfs_image_info_free(struct atomfs_image_info *info)
{
	size_t i;

	if (!info)
		return;
	for (i = 0; i < info->nlayers; i++) {
		free(info->layers[i].digest);
		free(info->layers[i].media_type);
		free(info->layers[i].path);
	}
	free(info->layers);
	free(info->dir);
	free(info->tag);
	free(info->manifest_digest);
	free(info);
}

int atomfs_resolve(const char *refstr, struct atomfs_image_info **out)
{
	struct atomfs_image_info *info = NULL;
	struct atomfs_layout *l = NULL;
	struct atomfs_image img = { 0 };
	struct atomfs_ref ref;
	const json_t *d;
	size_t i;
	int err;

	err = atomfs_ref_parse(refstr, &ref);
	if (err)
		return err;
	err = atomfs_layout_open(ref.dir, 0, &l);
	if (!err)
		err = atomfs_image_load(l, ref.tag, &img);
	if (err)
		goto out;
	err = -ENOMEM;
	info = calloc(1, sizeof(*info));
	if (!info)
		goto nomem;
	info->dir = strdup(ref.dir);
	info->tag = strdup(ref.tag);
	info->manifest_digest = strdup(img.digest);
	info->layers =
		calloc(json_array_size(img.layers) + 1, sizeof(*info->layers));
	if (!info->dir || !info->tag || !info->manifest_digest || !info->layers)
		goto nomem;
	json_array_foreach(img.layers, i, d)
	{
		struct atomfs_image_layer *li = &info->layers[i];
		const char *mt = atomfs_desc_str(d, "mediaType");

		if (atomfs_layer_kind(mt) != ATOMFS_LAYER_SQUASHFS) {
			err = atomfs_err(
				ENOTSUP,
				"%s: layer %zu (%s) has media type %s, which cannot be mounted; convert the image with 'atomfs import'",
				refstr, i + 1, atomfs_desc_str(d, "digest"),
				mt);
			goto out;
		}
		li->digest = strdup(atomfs_desc_str(d, "digest"));
		li->size = (uint64_t)json_integer_value(
			json_object_get(d, "size"));
		li->media_type = strdup(mt);
		li->path = li->digest ? atomfs_layout_blob_path(l, li->digest) :
					NULL;
		info->nlayers++;
		if (!li->digest || !li->media_type || !li->path)
			goto nomem;
		if (access(li->path, F_OK) < 0) {
			err = atomfs_err(
				ENOENT,
				"%s: layer %zu blob %s is missing; copy the image again or rebuild it",
				refstr, i + 1, li->path);
			goto out;
		}
	}
	*out = steal_pointer(&info);
	err = 0;
	goto out;
nomem:
	err = atomfs_enomem();
out:
	atomfs_image_info_free(info);
	atomfs_image_free(&img);
	atomfs_layout_close(l);
	atomfs_ref_free(&ref);
	return err;
}

int atomfs_verify_signature_flags(const struct atomfs_image_info *info,
				  const char *pubkey, unsigned int flags)
{
	struct atomfs_layout *l;
	int err;

	err = atomfs_layout_open(info->dir, 0, &l);
	if (err)
		return err;
	err = atomfs_verify_manifest_flags(l, info->manifest_digest, info->tag,
					   pubkey, flags);
	atomfs_layout_close(l);
	return err;
}

int atomfs_verify_signature(const struct atomfs_image_info *info,
			    const char *pubkey)
{
	return atomfs_verify_signature_flags(info, pubkey, 0);
}

int atomfs_layer_check(const struct atomfs_image_layer *layer)
{
	return atomfs_sqfs_check(layer->path);
}
