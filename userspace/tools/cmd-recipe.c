// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * atomfs build -f atomfs.yaml: build every stanza of a recipe, reusing
 * what is unchanged and swapping the layers of changed applied images
 * instead of running a stanza's steps again.  See atomfs-recipe(5).
 */
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "download.h"
#include "internal.h"
#include "recipe.h"
#include "recipe_run.h"
#include "xfer.h"

static const char usage[] =
	"usage: atomfs build -f RECIPE [OPTIONS]\n"
	"Build every stanza of RECIPE (atomfs.yaml; see atomfs-recipe(5)) into one tag each.\n"
	"  -f, --file RECIPE       the recipe\n"
	"  -o, --output REF-DIR    output layout, [oci:]DIR (default: oci beside the recipe)\n"
	"  --substitute NAME=VAL   value of ${{NAME}} in the recipe (repeatable)\n"
	"  --dry-run               print the plan (reuse, swap, rebuild, and why); build nothing\n"
	"  --no-cache              rebuild every stanza\n"
	"  --rebuild NAME          run stanza NAME's steps again even if only applied images\n"
	"                          changed (repeatable)\n"
	"  --build-dir DIR         upper, work and cache directories (default: .atomfs beside\n"
	"                          the recipe)\n"
	"  --clean                 remove the build directory and exit\n"
	"  --runtime PROG          OCI runtime for run steps: crun (default) or runc\n"
	"  --network host|none     the network of run steps (default: host)\n"
	"  --sign KEY              sign each tagged manifest with a PEM private key\n" LAYER_USAGE
	"  -q, --quiet             no progress or warnings\n";

struct stanza_state {
	struct atomfs_recipe_inputs in;
	enum atomfs_recipe_action act;
	char *why;
	struct atomfs_layout *l; /* where its image is tagged */
	bool pending; /* dry run: it will change, its digest is not known */
	char *digest; /* manifest digest, once known */
};

struct recipe_build {
	struct atomfs_recipe *r;
	struct stanza_state *st;
	struct layouts ls; /* ls.dst: the output layout */
	struct atomfs_layout *cache; /* build_only stanzas, under the build dir */
	char *outdir;
	char *builddir;
	struct layer_opts lo;
	const char *sign;
	bool dry_run, no_cache;
	const char **rebuild;
	size_t nrebuild;
	struct recipe_run_opts run;
};

/* one line; every allocation of a build may fail, and none aborts */
static int build_oom(const struct recipe_build *b)
{
	return atomfs_err(ENOMEM, "out of memory while building the recipe %s",
			  b->r->path);
}

static int clean_builddir(const char *dir)
{
	int err = rm_tree(dir);

	if (err)
		return atomfs_err(err, "cannot remove build directory %s: %s",
				  dir, strerror(-err));
	return 0;
}

static bool wants_rebuild(const struct recipe_build *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->nrebuild; i++)
		if (!strcmp(b->rebuild[i], name))
			return true;
	return false;
}

static struct atomfs_layout *layout_of(struct recipe_build *b,
				       const struct atomfs_recipe_stanza *s)
{
	return s->build_only ? b->cache : b->ls.dst;
}

/*
 * docker:// from or apply: pulled (with 'atomfs pull', signatures and all)
 * into a layout of its own under BUILDDIR/pull, once per build; from then
 * on it is an oci source.
 */
static int pull_src(struct recipe_build *b, const struct atomfs_recipe_src *c)
{
	struct atomfs_recipe_src *src =
		(struct atomfs_recipe_src *)(uintptr_t)c;
	cleanup_free char *h = atomfs_digest_buf(src->url, strlen(src->url));
	cleanup_free char *dir = NULL, *dst = NULL;
	struct xfer_opts xo;
	int err, rc;

	if (src->dir)
		return 0;
	if (h)
		dir = atomfs_asprintf("%s/pull/%.16s", b->builddir, h + 7);
	if (!dir)
		return build_oom(b);
	err = mkdir_p(dir, 0755);
	if (err)
		return atomfs_err(err, "cannot create %s: %s", dir,
				  strerror(-err));
	xfer_opts_init(&xo);
	xo.src.tls_verify = !src->insecure;
	dst = atomfs_asprintf("%s:img", dir);
	if (!dst)
		return build_oom(b);
	rc = xfer_copy(src->url, dst, &xo);
	if (!rc) {
		char tag[] = "img";
		struct atomfs_ref r = { .dir = dir, .tag = tag };

		/* a docker image's tar layers become squashfs, as pull does */
		rc = xfer_import_pulled(&r, NULL);
	}
	if (rc)
		return atomfs_err(EIO, "%s:%d: cannot pull %s (see above)",
				  b->r->path, src->line, src->url);
	src->tag = strdup("img");
	if (!src->tag)
		return build_oom(b);
	src->dir = steal_pointer(&dir);
	return 0;
}

/* the image a from/apply names; -ENOENT (dry run) when not built yet */
static int load_src(struct recipe_build *b, const struct atomfs_recipe_src *src,
		    struct atomfs_image *img, struct atomfs_layout **l)
{
	if (src->type == ATOMFS_RECIPE_BUILT) {
		struct atomfs_recipe_stanza *d = &b->r->v[src->stanza];

		*l = b->st[src->stanza].l;
		if (!*l)
			return atomfs_err(ENOENT, "stanza %s is not built",
					  d->name);
		return atomfs_image_load(*l, d->name, img);
	}
	if (src->type == ATOMFS_RECIPE_DOCKER) {
		int err = pull_src(b, src);

		if (err)
			return err;
	}
	{
		cleanup_free char *ref =
			atomfs_asprintf("%s:%s", src->dir, src->tag);
		int err;

		if (!ref)
			return build_oom(b);
		err = open_ref(&b->ls, ref, img, l);
		if (err)
			atomfs_err_prefix("%s:%d", b->r->path, src->line);
		return err;
	}
}

/*
 * A "from: tar" given by http(s) URL, fetched into BUILDDIR/from/<url
 * hash>/from.tar, once per build (only its content says whether it changed).
 */
static int fetch_tar(struct recipe_build *b, const struct atomfs_recipe_src *c)
{
	struct atomfs_recipe_src *src =
		(struct atomfs_recipe_src *)(uintptr_t)c;
	cleanup_free char *h = NULL, *dir = NULL, *dest = NULL;
	int err;

	if (src->path)
		return 0;
	h = atomfs_digest_buf(src->url, strlen(src->url));
	if (h)
		dir = atomfs_asprintf("%s/from/%.16s", b->builddir, h + 7);
	if (dir) /* the URL's name is not trusted */
		dest = atomfs_join(dir, "from.tar");
	if (!dest)
		return build_oom(b);
	err = mkdir_p(dir, 0755);
	if (err)
		return atomfs_err(err, "cannot create %s: %s", dir,
				  strerror(-err));
	if (!atomfs_quiet)
		fprintf(stderr, "fetching %s\n", src->url);
	err = download_file(src->url, dest);
	if (err) {
		atomfs_err_prefix("%s:%d: from tar", b->r->path, src->line);
		return err;
	}
	src->path = steal_pointer(&dest);
	return 0;
}

/* digest of what a from/apply names; NULL digest: pending (dry run) */
static int src_digest(struct recipe_build *b,
		      const struct atomfs_recipe_src *src, char **out,
		      bool *pending)
{
	struct atomfs_image img = { 0 };
	struct atomfs_layout *l;
	int err;

	*out = NULL;
	switch (src->type) {
	case ATOMFS_RECIPE_SCRATCH:
		*out = strdup("scratch");
		return *out ? 0 : build_oom(b);
	case ATOMFS_RECIPE_TAR:
		err = fetch_tar(b, src);
		if (!err)
			err = atomfs_digest_file(src->path, out, NULL);
		if (err)
			atomfs_err_prefix("%s:%d: from tar %s", b->r->path,
					  src->line, src->text);
		return err;
	case ATOMFS_RECIPE_BUILT:
		if (b->st[src->stanza].pending) {
			*pending = true;
			return 0;
		}
		*out = strdup(b->st[src->stanza].digest);
		return *out ? 0 : build_oom(b);
	default:
		err = load_src(b, src, &img, &l);
		if (!err && !(*out = strdup(img.digest)))
			err = build_oom(b);
		atomfs_image_free(&img);
		return err;
	}
}

/* the annotations of the image tagged now, or NULL */
/*
 * The annotations of the image tagged for S (borrowed from IMG), in *ANN,
 * or NULL if S was not built yet (or its image cannot be read: it is built
 * again). 0, or -ENOMEM, or -EBADMSG for a tag listed twice, which every
 * command refuses: neither is "not built yet".
 */
static int tagged_annotations(struct recipe_build *b,
			      const struct atomfs_recipe_stanza *s,
			      struct atomfs_image *img, const json_t **ann)
{
	struct atomfs_layout *l = layout_of(b, s);
	json_t *d;
	int err;

	*ann = NULL;
	if (!l)
		return 0;
	err = atomfs_layout_get_tag(l, s->name, &d);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	err = atomfs_image_load(l, s->name, img);
	if (err == -ENOMEM)
		return err;
	if (err) {
		atomfs_clear_error();
		return 0;
	}
	*ann = json_object_get(img->manifest, "annotations");
	return 0;
}

/* the applied images that are not in the tagged image any more; NULL: no memory */
static char *changed_applies(struct recipe_build *b,
			     const struct atomfs_recipe_stanza *s,
			     const struct stanza_state *ss,
			     const struct atomfs_image *old)
{
	char buf[1024] = "";
	size_t i;

	for (i = 0; i < s->napply; i++) {
		const char *dig = ss->in.apply[i];
		bool seen = false;
		const json_t *d;
		size_t k;

		json_array_foreach(old->layers, k, d)
		{
			const char *m =
				atomfs_desc_annotation(d, ANN_SRC_MANIFEST);

			if (dig && m && !strcmp(m, dig))
				seen = true;
		}
		if (seen)
			continue;
		if (buf[0])
			strncat(buf, ", ", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, s->apply[i].text, sizeof(buf) - strlen(buf) - 1);
	}
	(void)b;
	return strdup(buf[0] ? buf : "applied images");
}

/* layers of img not among base's */
static int layer_paths_beyond(const struct recipe_build *b,
			      const struct atomfs_layout *l,
			      const json_t *layers, const json_t *base,
			      char ***paths, size_t *n)
{
	const json_t *d;
	size_t i;

	json_array_foreach(layers, i, d)
	{
		const char *dig = atomfs_desc_str(d, "digest");
		char **v;

		if (base && layers_have(base, dig))
			continue;
		v = realloc(*paths, (*n + 1) * sizeof(char *));
		if (!v)
			return build_oom(b);
		*paths = v;
		(*paths)[*n] = atomfs_layout_blob_path(l, dig);
		if (!(*paths)[*n])
			return build_oom(b);
		(*n)++;
	}
	return 0;
}

static void free_paths(char **paths, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/*
 * Paths two applied images both change (relative to the base): an error
 * unless apply_conflicts allows them.  own: the stanza's own layers, whose
 * changes over an applied image's are warnings (a swap keeps the stanza's).
 */
static int check_conflicts(struct recipe_build *b,
			   const struct atomfs_recipe_stanza *s,
			   const json_t *base_layers, struct atomfs_image *apps,
			   struct atomfs_layout **appl, const json_t *own,
			   struct atomfs_layout *ownl)
{
	struct atomfs_recipe_changes *sets =
		calloc(s->napply + 1, sizeof(*sets));
	const char **names = calloc(s->napply + 1, sizeof(char *));
	char **v = NULL;
	size_t nv = 0, i;
	int err = 0;

	if (!sets || !names) {
		free(sets);
		free(names);
		return build_oom(b);
	}
	for (i = 0; !err && i < s->napply; i++) {
		char **paths = NULL;
		size_t n = 0;

		names[i] = s->apply[i].text;
		err = layer_paths_beyond(b, appl[i], apps[i].layers,
					 base_layers, &paths, &n);
		if (!err)
			err = atomfs_recipe_layer_changes(
				(const char *const *)paths, n, &sets[i]);
		free_paths(paths, n);
	}
	if (!err && s->napply > 1) {
		err = atomfs_recipe_conflicts(sets, names, s->napply,
					      &s->apply_conflicts, &v, &nv);
		if (!err && nv) {
			for (i = 0; i < nv; i++)
				fprintf(stderr,
					"atomfs: %s: applied images both change %s\n",
					s->name, v[i]);
			err = atomfs_err(
				EEXIST,
				"%s:%d: stanza \"%s\": %zu path%s changed by more than one applied image (listed above): the later image wins, and swapping either can drop the other's change; allow them with apply_conflicts: [GLOB...] if that is intended",
				b->r->path, s->line, s->name, nv,
				nv == 1 ? " is" : "s are");
		}
		for (i = 0; i < nv; i++)
			free(v[i]);
		free(v);
		v = NULL;
		nv = 0;
	}
	if (!err && own && json_array_size(own) && s->napply && !atomfs_quiet) {
		char **paths = NULL;
		size_t n = 0;

		names[s->napply] = "the stanza's own layer";
		err = layer_paths_beyond(b, ownl, own, NULL, &paths, &n);
		if (!err)
			err = atomfs_recipe_layer_changes(
				(const char *const *)paths, n,
				&sets[s->napply]);
		free_paths(paths, n);
		if (!err)
			err = atomfs_recipe_conflicts(
				sets, names, s->napply + 1, NULL, &v, &nv);
		for (i = 0; !err && i < nv; i++)
			if (strstr(v[i], "the stanza's own layer"))
				fprintf(stderr,
					"atomfs: %s: warning: its own steps change %s, which an applied image also changes: a swap keeps the stanza's version\n",
					s->name, v[i]);
		for (i = 0; i < nv; i++)
			free(v[i]);
		free(v);
	}
	for (i = 0; i <= s->napply; i++)
		atomfs_recipe_changes_free(&sets[i]);
	free(sets);
	free(names);
	return err;
}

/* 0, or -ENOMEM (no message: the caller names the stanza) */
static int env_set(json_t *cfg, const char *k, const char *v)
{
	json_t *env = json_object_get(cfg, "Env"), *e;
	size_t kl = strlen(k), i;
	cleanup_free char *kv = atomfs_asprintf("%s=%s", k, v);

	if (!kv)
		return -ENOMEM;
	if (!json_is_array(env)) {
		env = json_array();
		if (json_object_set_new(cfg, "Env", env))
			return -ENOMEM;
	}
	json_array_foreach(env, i, e)
	{
		const char *s = json_string_value(e);

		if (s && !strncmp(s, k, kl) && s[kl] == '=')
			return json_array_set_new(env, i, json_string(kv)) ?
				       -ENOMEM :
				       0;
	}
	return json_array_append_new(env, json_string(kv)) ? -ENOMEM : 0;
}

/*
 * The stanza's settings into the OCI config, as stacker and docker do.
 * 0, or -ENOMEM: an image without its User or Entrypoint would run, but
 * not as its recipe says.
 */
static int apply_settings(const struct atomfs_recipe_stanza *s, json_t *config)
{
	json_t *cfg = json_object_get(config, "config"), *v;
	const char *k;
	int bad = 0; /* jansson's -1: out of memory */

	if (!json_is_object(cfg)) {
		cfg = json_object();
		/* _set_new takes the reference, also when it fails */
		if (!cfg || json_object_set_new(config, "config", cfg))
			return -ENOMEM;
	}
	json_object_foreach(
		s->environment, k,
		v) if (env_set(cfg, k, json_string_value(v))) return -ENOMEM;
	if (s->labels) {
		json_t *l = json_object_get(cfg, "Labels");

		if (!json_is_object(l)) {
			l = json_object();
			if (!l || json_object_set_new(cfg, "Labels", l))
				return -ENOMEM;
		}
		bad |= json_object_update(l, s->labels);
	}
	if (s->full_command) {
		bad |= json_object_set(cfg, "Entrypoint", s->full_command);
		json_object_del(cfg, "Cmd");
	}
	if (s->entrypoint)
		bad |= json_object_set(cfg, "Entrypoint", s->entrypoint);
	if (s->cmd)
		bad |= json_object_set(cfg, "Cmd", s->cmd);
	if (s->working_dir)
		bad |= json_object_set_new(cfg, "WorkingDir",
					   json_string(s->working_dir));
	if (s->runtime_user)
		bad |= json_object_set_new(cfg, "User",
					   json_string(s->runtime_user));
	if (s->volumes) {
		json_t *vol = json_object_get(cfg, "Volumes"), *e;
		size_t i;

		if (!json_is_object(vol)) {
			vol = json_object();
			if (!vol || json_object_set_new(cfg, "Volumes", vol))
				return -ENOMEM;
		}
		json_array_foreach(s->volumes, i, e) bad |= json_object_set_new(
			vol, json_string_value(e), json_object());
	}
	if (s->os)
		bad |= json_object_set_new(config, "os", json_string(s->os));
	if (s->arch)
		bad |= json_object_set_new(config, "architecture",
					   json_string(s->arch));
	return bad ? -ENOMEM : 0;
}

/* tag the image in l; the index is written once, at the end of the build */
static int tag_image(struct recipe_build *b,
		     const struct atomfs_recipe_stanza *s,
		     struct atomfs_layout *l, json_t *config, json_t *layers,
		     char **digest)
{
	const struct stanza_state *ss = &b->st[s - b->r->v];
	json_t *ann = json_object(), *mdesc = NULL;
	const char *sign = s->build_only ? NULL : b->sign;
	int err;

	if (s->annotations)
		json_object_update(ann, s->annotations);
	json_object_set_new(ann, ANN_RECIPE_INPUT, json_string(ss->in.input));
	json_object_set_new(ann, ANN_RECIPE_OWN_INPUT, json_string(ss->in.own));
	json_object_set_new(ann, ANN_RECIPE_STANZA, json_string(s->name));
	if (!json_array_size(layers))
		err = atomfs_err(
			EINVAL,
			"%s:%d: stanza \"%s\" makes an image without layers: give it a from, an apply or run steps",
			b->r->path, s->line, s->name);
	else
		err = atomfs_image_write(l, config, layers, ann, &mdesc);
	if (!err && sign)
		err = atomfs_sign_manifest(
			l, atomfs_desc_str(mdesc, "digest"),
			json_integer_value(json_object_get(mdesc, "size")),
			s->name, sign);
	if (!err && !(*digest = strdup(atomfs_desc_str(mdesc, "digest"))))
		err = build_oom(b);
	if (!err) {
		err = atomfs_layout_set_tag(l, s->name, mdesc);
		mdesc = NULL;
	}
	json_decref(mdesc);
	json_decref(ann);
	return err;
}

/*
 * Make stanza s's image.  old: the tagged image when swapping (its base
 * layers, config and own layers are kept; the applied ones are taken anew,
 * as 'atomfs update --replace' does); NULL to build from scratch.
 */
static int make_stanza(struct recipe_build *b, struct atomfs_recipe_stanza *s,
		       const struct atomfs_image *old)
{
	struct stanza_state *ss = &b->st[s - b->r->v];
	struct atomfs_layout *dst = layout_of(b, s), *fl = NULL;
	struct atomfs_image base = { 0 };
	struct atomfs_image *apps = calloc(s->napply + 1, sizeof(*apps));
	struct atomfs_layout **appl = calloc(s->napply + 1, sizeof(*appl));
	json_t *layers = json_array(), *own = json_array(), *config = NULL;
	json_t *base_layers = json_array();
	size_t i;
	json_t *d;
	int err = 0, jbad = 0; /* jansson's -1: out of memory */

	if (!apps || !appl || !layers || !own || !base_layers) {
		err = build_oom(b);
	} else if (old) {
		json_array_foreach(old->layers, i, d)
		{
			const char *role =
				atomfs_desc_annotation(d, ANN_SRC_ROLE);

			if (role && !strcmp(role, "base"))
				jbad |= json_array_append(base_layers, d);
			else if (role && !strcmp(role, "build"))
				jbad |= json_array_append(own, d);
		}
		jbad |= json_array_extend(layers, base_layers);
		config = json_deep_copy(old->config);
		if (jbad || !config)
			err = build_oom(b);
	} else if (s->from.type == ATOMFS_RECIPE_TAR) {
		json_t *desc;

		err = new_layer(dst, s->from.path, &b->lo, &desc);
		if (!err) {
			jbad |= atomfs_desc_set_annotation(desc, ANN_SRC_ROLE,
							   "base");
			jbad |= json_array_append(base_layers, desc);
			jbad |= json_array_append_new(layers, desc);
			config = new_config(&b->lo);
			if (jbad || !config)
				err = build_oom(b);
		}
	} else if (s->from.type == ATOMFS_RECIPE_SCRATCH) {
		config = new_config(&b->lo);
		if (!config)
			err = build_oom(b);
	} else {
		err = load_src(b, &s->from, &base, &fl);
		if (!err)
			err = take_layers(dst, fl, &base, "base", false, layers,
					  NULL, NULL);
		if (!err) {
			jbad |= json_array_extend(base_layers, layers);
			config = json_deep_copy(base.config);
			if (jbad || !config)
				err = build_oom(b);
		}
	}
	for (i = 0; !err && i < s->napply; i++) {
		err = load_src(b, &s->apply[i], &apps[i], &appl[i]);
		if (!err)
			err = take_layers(dst, appl[i], &apps[i], "apply", true,
					  layers, NULL, NULL);
	}
	if (!err && !old && s->run.n) {
		json_t *desc = NULL;

		err = recipe_run_stanza(b->r, s, &b->run, dst, layers, config,
					b->builddir, &b->lo, &desc);
		if (!err && desc) {
			/* own takes desc, also when the append fails */
			if (atomfs_desc_set_annotation(desc, ANN_SRC_ROLE,
						       "build")) {
				json_decref(desc);
				err = build_oom(b);
			} else if (json_array_append_new(own, desc)) {
				err = build_oom(b);
			}
		}
	}
	if (!err)
		err = check_conflicts(b, s, base_layers, apps, appl, own, dst);
	if (!err) {
		if (json_array_extend(layers, own) ||
		    (!old && apply_settings(s, config)))
			err = build_oom(b);
	}
	if (!err) {
		json_object_del(config, "history");
		set_created(config, &b->lo);
		free(ss->digest);
		ss->digest = NULL;
		err = tag_image(b, s, dst, config, layers, &ss->digest);
	}
	for (i = 0; apps && i < s->napply; i++)
		atomfs_image_free(&apps[i]);
	free(apps);
	free(appl);
	atomfs_image_free(&base);
	json_decref(config);
	json_decref(layers);
	json_decref(own);
	json_decref(base_layers);
	return err;
}

/*
 * An http(s) import of stanza @s, fetched into BUILDDIR/imports/<url hash>/
 * NAME: then it is a file like any other (its digest checked against the
 * recipe's hash, mounted in the run). A file fetched earlier that has the
 * recipe's hash is not fetched again; without a hash, it is fetched every
 * build, since only its content says whether it changed.
 */
static int fetch_import(struct recipe_build *b,
			const struct atomfs_recipe_stanza *s,
			struct atomfs_recipe_import *imp)
{
	cleanup_free char *h = NULL, *dir = NULL, *dest = NULL, *have = NULL;
	int err;

	if (imp->path)
		return 0; /* fetched for an earlier stanza's plan */
	h = atomfs_digest_buf(imp->url, strlen(imp->url));
	if (h)
		dir = atomfs_asprintf("%s/imports/%.16s", b->builddir, h + 7);
	if (dir)
		dest = atomfs_join(dir, imp->name);
	if (!dest)
		return build_oom(b);
	if (imp->hash && !access(dest, F_OK) &&
	    !atomfs_digest_file(dest, &have, NULL) &&
	    !strcmp(have, imp->hash)) {
		imp->path = steal_pointer(&dest);
		return 0;
	}
	err = mkdir_p(dir, 0755);
	if (err)
		return atomfs_err(err, "cannot create %s: %s", dir,
				  strerror(-err));
	if (!atomfs_quiet)
		fprintf(stderr, "%s: fetching %s\n", s->name, imp->url);
	err = download_file(imp->url, dest);
	if (err) {
		atomfs_err_prefix("%s:%d: stanza \"%s\"", b->r->path, imp->line,
				  s->name);
		return err;
	}
	imp->path = steal_pointer(&dest);
	return 0;
}

/* inputs, decision and (unless a dry run) the work for one stanza */
static int do_stanza(struct recipe_build *b, size_t idx)
{
	struct atomfs_recipe_stanza *s = &b->r->v[idx];
	struct stanza_state *ss = &b->st[idx];
	struct atomfs_image old = { 0 };
	const json_t *ann;
	bool from_pending = false, apply_pending = false;
	cleanup_free char *changed = NULL;
	size_t i;
	int err;

	ss->l = layout_of(b, s);
	ss->in.apply = calloc(s->napply + 1, sizeof(char *));
	ss->in.imports = calloc(s->nimports + 1, sizeof(char *));
	if (!ss->in.apply || !ss->in.imports)
		return build_oom(b);
	err = src_digest(b, &s->from, &ss->in.from, &from_pending);
	for (i = 0; !err && i < s->napply; i++)
		err = src_digest(b, &s->apply[i], &ss->in.apply[i],
				 &apply_pending);
	for (i = 0; !err && i < s->nimports; i++)
		if (s->imports[i].url)
			err = fetch_import(b, s, &s->imports[i]);
	for (i = 0; !err && i < s->nimports; i++) {
		err = atomfs_recipe_import_digest(b->r, &s->imports[i],
						  &ss->in.imports[i]);
		if (err)
			atomfs_err_prefix("%s:%d: stanza \"%s\"", b->r->path,
					  s->imports[i].line, s->name);
	}
	if (err)
		return err;
	err = tagged_annotations(b, s, &old, &ann);
	if (err)
		return err;
	if (from_pending) {
		ss->act = ATOMFS_RECIPE_REBUILD;
		ss->why = atomfs_asprintf("its base %s will be rebuilt",
					  s->from.text);
		if (!ss->why)
			err = build_oom(b);
	} else {
		if (!ss->in.from && !(ss->in.from = strdup("pending")))
			err = build_oom(b);
		for (i = 0; !err && i < s->napply; i++)
			if (!ss->in.apply[i] &&
			    !(ss->in.apply[i] = strdup("pending")))
				err = build_oom(b);
		if (!err)
			err = atomfs_recipe_inputs_finish(s, &ss->in);
		if (!err)
			err = atomfs_recipe_decide(
				s, &ss->in, ann,
				b->no_cache || wants_rebuild(b, s->name),
				&ss->act, &ss->why);
		if (apply_pending && ss->act == ATOMFS_RECIPE_REUSE)
			ss->act = ATOMFS_RECIPE_SWAP;
	}
	if (!err && ss->act == ATOMFS_RECIPE_SWAP &&
	    !(changed = changed_applies(b, s, ss, &old)))
		err = build_oom(b);
	if (!err && ss->act == ATOMFS_RECIPE_REUSE &&
	    !(ss->digest = strdup(old.digest)))
		err = build_oom(b);
	if (err) {
		atomfs_image_free(&old);
		return err;
	}
	if (b->dry_run) {
		ss->pending = ss->act != ATOMFS_RECIPE_REUSE;
		if (ss->act == ATOMFS_RECIPE_SWAP)
			printf("%s: swap: %s changed: layers swapped, run steps not repeated (--rebuild %s runs them)\n",
			       s->name, changed, s->name);
		else
			printf("%s: %s: %s\n", s->name,
			       atomfs_recipe_action_name(ss->act), ss->why);
		atomfs_image_free(&old);
		return 0;
	}
	switch (ss->act) {
	case ATOMFS_RECIPE_REUSE:
		if (!atomfs_quiet)
			fprintf(stderr, "%s: unchanged, reused\n", s->name);
		break;
	case ATOMFS_RECIPE_SWAP:
		err = make_stanza(b, s, &old);
		if (!err && !atomfs_quiet)
			fprintf(stderr,
				"%s: %s changed: layers swapped, run steps not repeated (--rebuild %s runs them)\n",
				s->name, changed, s->name);
		break;
	default:
		if (!atomfs_quiet)
			fprintf(stderr, "%s: building (%s)\n", s->name,
				ss->why);
		err = make_stanza(b, s, NULL);
	}
	atomfs_image_free(&old);
	return err;
}

static int open_layouts(struct recipe_build *b, bool need_cache)
{
	unsigned int fl =
		b->dry_run ? 0 : ATOMFS_LAYOUT_WRITE | ATOMFS_LAYOUT_CREATE;
	struct stat st;
	int err;

	if (b->dry_run && stat(b->outdir, &st))
		b->ls.dst = NULL; /* nothing built yet */
	else if ((err = atomfs_layout_open(b->outdir, fl, &b->ls.dst)))
		return err;
	if (!need_cache)
		return 0;
	{
		cleanup_free char *cdir = atomfs_join(b->builddir, "oci");

		if (!cdir)
			return build_oom(b);
		if (b->dry_run && stat(cdir, &st))
			return 0;
		if (!b->dry_run) {
			err = mkdir_p(b->builddir, 0755);
			if (err)
				return atomfs_err(
					err,
					"cannot create build directory %s: %s",
					b->builddir, strerror(-err));
		}
		return atomfs_layout_open(cdir, fl, &b->cache);
	}
}

int cmd_build_recipe(int argc, char **argv)
{
	static const struct option longopts[] = {
		LAYER_LONGOPTS,
		{ "file", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "substitute", required_argument, NULL, 'S' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ "rebuild", required_argument, NULL, 'R' },
		{ "build-dir", required_argument, NULL, 'B' },
		{ "clean", no_argument, NULL, 'C' },
		{ "runtime", required_argument, NULL, 'r' },
		{ "network", required_argument, NULL, 'w' },
		{ "sign", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct recipe_build b = { 0 };
	struct atomfs_recipe_subst subst = { 0 };
	const char *file = NULL, *out = NULL, *builddir = NULL;
	bool clean = false, need_cache = false;
	size_t i;
	int opt, err, rc;

	if (cmd_help(argc, argv, usage))
		return EXIT_OK;
	subst.v = calloc((size_t)argc, sizeof(char *));
	b.rebuild = calloc((size_t)argc, sizeof(char *));
	if (!subst.v || !b.rebuild) {
		rc = cmd_fail(atomfs_err(
			ENOMEM,
			"out of memory while reading the command line"));
		goto out;
	}
	b.run.runtime = "crun";
	layer_opts_init(&b.lo);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:o:q", longopts, NULL)) != -1) {
		int r = layer_opt(&b.lo, opt, optarg);

		if (r < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		if (r)
			continue;
		switch (opt) {
		case 'f':
			file = optarg;
			break;
		case 'o':
			out = str_has_prefix(optarg, "oci:") ? optarg + 4 :
							       optarg;
			break;
		case 'S':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr,
					"atomfs: --substitute %s: expected NAME=VALUE\n",
					optarg);
				rc = EXIT_USAGE;
				goto out;
			}
			subst.v[subst.n++] = optarg;
			break;
		case 'n':
			b.dry_run = true;
			break;
		case 'N':
			b.no_cache = true;
			break;
		case 'R':
			b.rebuild[b.nrebuild++] = optarg;
			break;
		case 'B':
			builddir = optarg;
			break;
		case 'C':
			clean = true;
			break;
		case 'r':
			b.run.runtime = optarg;
			break;
		case 'w':
			if (strcmp(optarg, "host") && strcmp(optarg, "none")) {
				fprintf(stderr,
					"atomfs: --network %s: use host or none\n",
					optarg);
				rc = EXIT_USAGE;
				goto out;
			}
			b.run.network_none = !strcmp(optarg, "none");
			break;
		case 's':
			b.sign = optarg;
			break;
		case 'q':
			atomfs_quiet = 1;
			break;
		default:
			rc = cmd_usage("build", usage);
			goto out;
		}
	}
	if (!file || optind != argc) {
		rc = cmd_usage("build", usage);
		goto out;
	}
	err = atomfs_recipe_load(file, &subst, &b.r);
	if (err)
		goto fail;
	b.outdir = out ? strdup(out) : atomfs_join(b.r->dir, "oci");
	b.builddir = builddir ? strdup(builddir) :
				atomfs_join(b.r->dir, ".atomfs");
	if (!b.outdir || !b.builddir) {
		err = build_oom(&b);
		goto fail;
	}
	if (clean) {
		err = clean_builddir(b.builddir);
		if (err)
			goto fail;
		if (!atomfs_quiet)
			fprintf(stderr, "atomfs: removed %s\n", b.builddir);
		rc = EXIT_OK;
		goto out;
	}
	for (i = 0; i < b.nrebuild; i++)
		if (atomfs_recipe_find(b.r, b.rebuild[i]) < 0) {
			err = atomfs_err(ENOENT,
					 "--rebuild %s: %s has no such stanza",
					 b.rebuild[i], file);
			goto fail;
		}
	if (b.sign && !b.dry_run) {
		cleanup_free char *fp = NULL;

		err = atomfs_key_fingerprint(b.sign, true, &fp);
		if (err)
			goto fail;
	}
	for (i = 0; i < b.r->n; i++)
		need_cache |= b.r->v[i].build_only;
	err = open_layouts(&b, need_cache);
	if (err)
		goto fail;
	b.st = calloc(b.r->n, sizeof(*b.st));
	if (!b.st) {
		err = build_oom(&b);
		goto fail;
	}
	for (i = 0; i < b.r->n; i++) {
		err = do_stanza(&b, b.r->order[i]);
		if (err)
			goto fail;
	}
	if (!b.dry_run) {
		err = atomfs_layout_write_index(b.ls.dst);
		if (!err && b.cache)
			err = atomfs_layout_write_index(b.cache);
		if (err)
			goto fail;
	}
	rc = EXIT_OK;
	goto out;
fail:
	rc = cmd_fail(err);
	/* a failed step: the build exits with its status */
	if (recipe_step_status)
		rc = recipe_step_status;
	if (b.ls.dst && !b.dry_run)
		atomfs_layout_rollback(b.ls.dst);
	if (b.cache && !b.dry_run)
		atomfs_layout_rollback(b.cache);
out:
	if (b.st)
		for (i = 0; i < b.r->n; i++) {
			atomfs_recipe_inputs_free(&b.st[i].in, b.r->v[i].napply,
						  b.r->v[i].nimports);
			free(b.st[i].why);
			free(b.st[i].digest);
		}
	free(b.st);
	if (b.cache)
		atomfs_layout_close(b.cache);
	layouts_close(&b.ls);
	atomfs_recipe_free(b.r);
	free(b.outdir);
	free(b.builddir);
	free(subst.v);
	free(b.rebuild);
	return rc;
}
