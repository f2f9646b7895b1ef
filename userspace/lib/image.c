// SPDX-License-Identifier: LGPL-2.1-or-later
/* image.c: resolving tags to manifests, configs and layers */
#include <limits.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "image.h"
#include "internal.h"

enum atomfs_layer_kind atomfs_layer_kind(const char *mt)
{
	static const char *const squashfs[] = {
		"application/vnd.stacker.image.layer.squashfs",
		"application/vnd.stacker.image.layer.squashfs+gzip",
		"application/vnd.stacker.image.layer.squashfs+zstd",
		"application/vnd.stacker.image.layer.squashfs+xz",
		"application/vnd.stacker.image.layer.squashfs+lz4",
		"application/vnd.stacker.image.layer.squashfs+lzo",
		"application/vnd.stacker.image.layer.squashfs+zstd+verity",
		"application/vnd.oci.image.layer.squashfs",
	};
	static const char *const tar[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.diff.tar.zstd",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	};
	size_t i;

	if (!mt)
		return ATOMFS_LAYER_UNSUPPORTED;
	for (i = 0; i < ARRAY_SIZE(squashfs); i++)
		if (!strcmp(mt, squashfs[i]))
			return ATOMFS_LAYER_SQUASHFS;
	for (i = 0; i < ARRAY_SIZE(tar); i++)
		if (!strcmp(mt, tar[i]))
			return ATOMFS_LAYER_TAR;
	return ATOMFS_LAYER_UNSUPPORTED;
}

const char *atomfs_host_arch(void)
{
	static const struct {
		const char *uname, *oci;
	} map[] = {
		{ "x86_64", "amd64" },	  { "aarch64", "arm64" },
		{ "i686", "386" },	  { "armv7l", "arm" },
		{ "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};
	static char buf[65];
	struct utsname u;
	size_t i;

	if (uname(&u) < 0)
		return "amd64";
	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(u.machine, map[i].uname))
			return map[i].oci;
	snprintf(buf, sizeof(buf), "%s", u.machine);
	return buf;
}

char *atomfs_ref_canonical(const char *dir, const char *tag)
{
	char abs[PATH_MAX];
	cleanup_free char *copy = NULL;
	char *slash;

	if (realpath(dir, abs))
		return atomfs_asprintf("%s:%s", abs, tag);
	/* a layout that is gone (update of a removed dependency): resolve its parent */
	copy = strdup(dir);
	if (!copy)
		return NULL;
	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	slash = strrchr(copy, '/');
	if (slash) {
		*slash = '\0';
		if (realpath(*copy ? copy : "/", abs))
			return atomfs_asprintf("%s/%s:%s",
					       strcmp(abs, "/") ? abs : "",
					       slash + 1, tag);
	} else if (getcwd(abs, sizeof(abs))) {
		return atomfs_asprintf("%s/%s:%s", abs, copy, tag);
	}
	return atomfs_asprintf("%s:%s", dir, tag);
}

/* An image index (multi-platform): take this host's linux manifest. */
static json_t *pick_platform(const json_t *index)
{
	json_t *m = json_object_get(index, "manifests"), *d;
	size_t i;

	json_array_foreach(m, i, d)
	{
		json_t *p = json_object_get(d, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *arch =
			json_string_value(json_object_get(p, "architecture"));

		if (os && arch && !strcmp(os, "linux") &&
		    !strcmp(arch, atomfs_host_arch()))
			return d;
	}
	return json_array_size(m) == 1 ? json_array_get(m, 0) : NULL;
}

static char *list_tags(const struct atomfs_layout *l)
{
	json_t *m = json_object_get(l->index, "manifests"), *d;
	char *out = strdup(""), *n;
	size_t i;

	/* for a message: out of memory, it just lists fewer */
	json_array_foreach(m, i, d)
	{
		const char *t = atomfs_desc_annotation(d, ANN_REF_NAME);

		if (!t || !out)
			continue;
		if (strlen(out) > 400) {
			n = atomfs_asprintf("%s, ...", out);
			if (n) {
				free(out);
				out = n;
			}
			return out;
		}
		n = atomfs_asprintf("%s%s%s", out, *out ? ", " : "", t);
		if (!n)
			return out;
		free(out);
		out = n;
	}
	return out;
}

void atomfs_image_free(struct atomfs_image *img)
{
	free(img->ref);
	free(img->tag);
	free(img->digest);
	json_decref(img->desc);
	json_decref(img->manifest);
	json_decref(img->config);
	memset(img, 0, sizeof(*img));
}

int atomfs_image_load(const struct atomfs_layout *l, const char *tag,
		      struct atomfs_image *img)
{
	json_t *desc = NULL, *cfg;
	const char *mt;
	int err, depth = 0;

	memset(img, 0, sizeof(*img));
	img->ref = atomfs_asprintf("%s:%s", l->dir, tag);
	img->tag = strdup(tag);
	if (!img->ref || !img->tag) {
		err = atomfs_enomem();
		goto fail;
	}
	err = atomfs_layout_get_tag(l, tag, &desc);
	if (err == -EBADMSG)
		goto fail;
	if (err) {
		cleanup_free char *tags = list_tags(l);

		err = atomfs_err(
			ENOENT,
			"no image tagged '%s' in %s (%s%s); check the reference",
			tag, l->dir,
			tags && *tags ? "its tags: " : "it has no tags",
			tags ? tags : "");
		goto fail;
	}
	for (;;) {
		json_t *doc;

		err = atomfs_desc_check(desc, img->ref);
		if (err)
			goto fail;
		mt = atomfs_desc_str(desc, "mediaType");
		err = atomfs_layout_read_json(
			l, atomfs_desc_str(desc, "digest"),
			json_integer_value(json_object_get(desc, "size")),
			&doc);
		if (err)
			goto fail;
		if ((!strcmp(mt, MT_OCI_INDEX) ||
		     !strcmp(mt, MT_DOCKER_LIST)) &&
		    depth++ < 4) {
			json_t *pick = pick_platform(doc);

			if (!pick) {
				json_decref(doc);
				err = atomfs_err(
					ENOENT,
					"%s is a multi-platform index without a linux/%s image",
					img->ref, atomfs_host_arch());
				goto fail;
			}
			desc = json_deep_copy(pick);
			json_decref(doc);
			json_decref(img->desc);
			img->desc = desc;
			if (!desc) {
				err = atomfs_enomem();
				goto fail;
			}
			continue;
		}
		if (strcmp(mt, MT_OCI_MANIFEST) &&
		    strcmp(mt, MT_DOCKER_MANIFEST)) {
			json_decref(doc);
			err = atomfs_err(
				ENOTSUP,
				"%s has media type %s, not an image manifest",
				img->ref, mt);
			goto fail;
		}
		img->manifest = doc;
		break;
	}
	if (!img->desc)
		img->desc = json_deep_copy(desc);
	img->digest = strdup(atomfs_desc_str(desc, "digest"));
	if (!img->desc || !img->digest) {
		err = atomfs_enomem();
		goto fail;
	}
	img->layers = json_object_get(img->manifest, "layers");
	cfg = json_object_get(img->manifest, "config");
	if (!json_is_array(img->layers) || !json_is_object(cfg)) {
		err = atomfs_err(
			EBADMSG,
			"manifest %s of %s has no layers array or no config",
			img->digest, img->ref);
		goto fail;
	}
	{
		size_t i;
		json_t *d;

		json_array_foreach(img->layers, i, d)
		{
			err = atomfs_desc_check(d, img->ref);
			if (err)
				goto fail;
		}
	}
	err = atomfs_desc_check(cfg, img->ref);
	if (!err)
		err = atomfs_layout_read_json(
			l, atomfs_desc_str(cfg, "digest"),
			json_integer_value(json_object_get(cfg, "size")),
			&img->config);
	if (err)
		goto fail;
	return 0;
fail:
	atomfs_image_free(img);
	return err;
}

int atomfs_image_write(struct atomfs_layout *l, json_t *config, json_t *layers,
		       json_t *annotations, json_t **manifest_desc)
{
	cleanup_free char *cdig = NULL;
	cleanup_free char *mdig = NULL;
	json_t *diff_ids = json_array(), *rootfs, *cdesc, *d, *m;
	uint64_t csize, msize;
	size_t i;
	int err;

	/* jansson's allocation failures are -ENOMEM like any other */
	if (!diff_ids)
		return -ENOMEM;
	/* squashfs layers are not wrapped in a compressor: diff_id == digest */
	json_array_foreach(layers, i, d)
	{
		if (json_array_append(diff_ids, json_object_get(d, "digest"))) {
			json_decref(diff_ids);
			return json_object_get(d, "digest") ? -ENOMEM : -EINVAL;
		}
	}
	/* "o" and _set_new take the reference, also when they fail */
	rootfs =
		json_pack("{s:s, s:o}", "type", "layers", "diff_ids", diff_ids);
	if (!rootfs || json_object_set_new(config, "rootfs", rootfs))
		return -ENOMEM;
	err = atomfs_layout_put_json(l, config, &cdig, &csize);
	if (err)
		return err;
	cdesc = atomfs_desc_new(MT_OCI_CONFIG, cdig, csize);
	if (!cdesc)
		return -ENOMEM;
	m = json_pack("{s:i, s:s, s:o, s:O}", "schemaVersion", 2, "mediaType",
		      MT_OCI_MANIFEST, "config", cdesc, "layers", layers);
	if (!m)
		return -ENOMEM;
	if (annotations && json_object_size(annotations) &&
	    json_object_set(m, "annotations", annotations)) {
		json_decref(m);
		return -ENOMEM;
	}
	err = atomfs_layout_put_json(l, m, &mdig, &msize);
	json_decref(m);
	if (err)
		return err;
	*manifest_desc = atomfs_desc_new(MT_OCI_MANIFEST, mdig, msize);
	return *manifest_desc ? 0 : -ENOMEM;
}

json_t *atomfs_image_referrers(const struct atomfs_layout *l,
			       const char *digest)
{
	json_t *out = json_array(), *m = json_object_get(l->index, "manifests"),
	       *d;
	size_t i;
	int err;

	if (!out) {
		atomfs_enomem();
		return NULL;
	}
	json_array_foreach(m, i, d)
	{
		if (!atomfs_is_signature(d))
			continue;
		json_t *man = NULL;

		err = atomfs_layout_read_json(
			l, atomfs_desc_str(d, "digest"),
			json_integer_value(json_object_get(d, "size")), &man);
		if (err == -ENOMEM) { /* not "no signature": a failure */
			json_decref(out);
			return NULL;
		}
		if (err < 0) { /* a damaged referrer signs nothing */
			atomfs_clear_error();
			continue;
		}
		const char *sd = atomfs_desc_str(
			json_object_get(man, "subject"), "digest");

		if (sd && !strcmp(sd, digest))
			json_array_append(out, d);
		json_decref(man);
	}
	return out;
}
