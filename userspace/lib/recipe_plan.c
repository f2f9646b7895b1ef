// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * recipe_plan.c: what each stanza is made of, and what to do about it.
 *
 * own input  = sha256 of the canonical JSON of { the stanza as written after
 *              substitution, the digest of "from", the digests of imports }
 * input      = sha256 of { own input, the manifest digests of "apply" }
 *
 * Both are recorded in the output manifest's annotations.  Equal input:
 * the tagged image is reused.  Equal own input but another input: only the
 * applied images changed, so their layers are swapped and the run steps are
 * not repeated (the talk's update rule).  Anything else is rebuilt.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "oci.h"
#include "recipe.h"

#define MAX_IMPORT_ENTRIES 1000000

static char *canon_digest(json_t *j)
{
	char *s = json_dumps(j,
			     JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	char *d;

	if (!s)
		return NULL;
	d = atomfs_digest_buf(s, strlen(s));
	free(s);
	return d;
}

struct walk {
	char *buf; /* one line per entry */
	size_t len, cap, n;
};

static void walk_add(struct walk *w, const char *line)
{
	size_t l = strlen(line);

	while (w->len + l + 1 > w->cap)
		w->buf = xrealloc(w->buf, w->cap = w->cap ? w->cap * 2 : 4096);
	memcpy(w->buf + w->len, line, l);
	w->len += l;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* one line per entry, sorted: "type mode size rel sha256|target" */
static int walk_dir(const char *root, const char *rel, struct walk *w)
{
	cleanup_free char *dpath = rel[0] ? path_join(root, rel) :
					    xstrdup(root);
	char **names = NULL;
	size_t n = 0, i;
	struct dirent *de;
	DIR *d = opendir(dpath);
	int err = 0;

	if (!d)
		return atomfs_err(errno,
				  "import %s: cannot read directory %s: %s",
				  root, dpath, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		cleanup_free char *r =
			rel[0] ? xasprintf("%s/%s", rel, names[i]) :
				 xstrdup(names[i]);
		cleanup_free char *p = path_join(root, r);
		cleanup_free char *line = NULL, *dig = NULL;
		struct stat st;

		if (err)
			continue;
		if (++w->n > MAX_IMPORT_ENTRIES) {
			err = atomfs_err(E2BIG,
					 "import %s: more than %d entries",
					 root, MAX_IMPORT_ENTRIES);
			continue;
		}
		if (lstat(p, &st)) {
			err = atomfs_err(errno, "import %s: %s: %s", root, p,
					 strerror(errno));
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			err = atomfs_digest_file(p, &dig, NULL);
			line = xasprintf("f %o %lld %s %s\n",
					 (unsigned)st.st_mode & 07777,
					 (long long)st.st_size, r,
					 dig ? dig : "");
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096];
			ssize_t l = readlink(p, t, sizeof(t) - 1);

			t[l > 0 ? l : 0] = '\0';
			line = xasprintf("l 777 0 %s %s\n", r, t);
		} else if (S_ISDIR(st.st_mode)) {
			line = xasprintf("d %o 0 %s\n",
					 (unsigned)st.st_mode & 07777, r);
			walk_add(w, line);
			err = walk_dir(root, r, w);
			continue;
		} else {
			line = xasprintf("o %o 0 %s\n", (unsigned)st.st_mode,
					 r);
		}
		if (!err)
			walk_add(w, line);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

int atomfs_recipe_import_digest(const struct atomfs_recipe *r,
				const struct atomfs_recipe_import *imp,
				char **out)
{
	struct walk w = { 0 };
	struct stat st;
	int err;

	(void)r;
	if (imp->url && !imp->path) {
		/* not fetched: the recorded hash stands for its content */
		*out = imp->hash ? xstrdup(imp->hash) :
				   xasprintf("url:%s", imp->url);
		return 0;
	}
	if (stat(imp->path, &st))
		return atomfs_err(errno, "import %s (%s): %s", imp->src,
				  imp->path, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		err = atomfs_digest_file(imp->path, out, NULL);
		if (err)
			return err;
		if (imp->hash && strcmp(imp->hash, *out)) {
			err = atomfs_err(
				EILSEQ,
				"import %s: its sha256 is %s, but the recipe's hash says %s: the file changed, or the hash is wrong",
				imp->src, *out, imp->hash);
			free(*out);
			*out = NULL;
		}
		return err;
	}
	if (!S_ISDIR(st.st_mode))
		return atomfs_err(
			EINVAL,
			"import %s: %s is neither a file nor a directory",
			imp->src, imp->path);
	if (imp->hash)
		return atomfs_err(
			EINVAL,
			"import %s: a hash can only be checked for a file, and %s is a directory",
			imp->src, imp->path);
	err = walk_dir(imp->path, "", &w);
	if (!err) {
		*out = atomfs_digest_buf(w.buf ? w.buf : "", w.len);
		/* a tree digest is not a blob digest: mark it as such */
		if (*out) {
			char *t = xasprintf("tree:%s", *out);

			free(*out);
			*out = t;
		}
	}
	free(w.buf);
	return err;
}

void atomfs_recipe_inputs_finish(const struct atomfs_recipe_stanza *s,
				 struct atomfs_recipe_inputs *in)
{
	json_t *imports = json_array(), *apply = json_array(), *j;
	size_t i;

	for (i = 0; i < s->nimports; i++)
		json_array_append_new(imports, json_string(in->imports[i]));
	for (i = 0; i < s->napply; i++)
		json_array_append_new(apply, json_string(in->apply[i]));
	j = json_pack("{s:O, s:s, s:o}", "stanza", s->canon, "from", in->from,
		      "imports", imports);
	free(in->own);
	in->own = canon_digest(j);
	json_decref(j);
	j = json_pack("{s:s, s:o}", "own", in->own, "apply", apply);
	free(in->input);
	in->input = canon_digest(j);
	json_decref(j);
}

void atomfs_recipe_inputs_free(struct atomfs_recipe_inputs *in, size_t napply,
			       size_t nimports)
{
	size_t i;

	free(in->from);
	for (i = 0; in->apply && i < napply; i++)
		free(in->apply[i]);
	free(in->apply);
	for (i = 0; in->imports && i < nimports; i++)
		free(in->imports[i]);
	free(in->imports);
	free(in->own);
	free(in->input);
	memset(in, 0, sizeof(*in));
}

const char *atomfs_recipe_action_name(enum atomfs_recipe_action a)
{
	switch (a) {
	case ATOMFS_RECIPE_REUSE:
		return "reuse";
	case ATOMFS_RECIPE_SWAP:
		return "swap";
	default:
		return "rebuild";
	}
}

enum atomfs_recipe_action
atomfs_recipe_decide(const struct atomfs_recipe_stanza *s,
		     const struct atomfs_recipe_inputs *in, const json_t *ann,
		     bool force, char **why)
{
	const char *old_in =
		json_string_value(json_object_get(ann, ANN_RECIPE_INPUT));
	const char *old_own =
		json_string_value(json_object_get(ann, ANN_RECIPE_OWN_INPUT));

	if (force) {
		*why = xstrdup("forced (--no-cache or --rebuild)");
		return ATOMFS_RECIPE_REBUILD;
	}
	if (!ann) {
		*why = xstrdup("not built yet");
		return ATOMFS_RECIPE_REBUILD;
	}
	if (!old_in || !old_own) {
		*why = xstrdup("the tagged image was not built from a recipe");
		return ATOMFS_RECIPE_REBUILD;
	}
	if (!strcmp(old_in, in->input)) {
		*why = xstrdup("unchanged");
		return ATOMFS_RECIPE_REUSE;
	}
	if (!strcmp(old_own, in->own) && s->napply) {
		*why = xstrdup("applied images changed");
		return ATOMFS_RECIPE_SWAP;
	}
	*why = xstrdup("its recipe, base or imports changed");
	return ATOMFS_RECIPE_REBUILD;
}
