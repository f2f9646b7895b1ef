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

static int import_oom(const char *what)
{
	return atomfs_err(ENOMEM, "out of memory while hashing import %s",
			  what);
}

struct walk {
	char *buf; /* one line per entry */
	size_t len, cap, n;
};

static int walk_add(struct walk *w, const char *root, const char *line)
{
	size_t l = strlen(line);

	while (w->len + l + 1 > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4096;
		char *b = realloc(w->buf, cap);

		if (!b)
			return import_oom(root);
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, line, l);
	w->len += l;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* one line per entry, sorted: "type mode size rel sha256|target" */
static int walk_dir(const char *root, const char *rel, struct walk *w)
{
	cleanup_free char *dpath = rel[0] ? atomfs_join(root, rel) :
					    strdup(root);
	char **names = NULL, **nn;
	size_t n = 0, i;
	struct dirent *de;
	DIR *d;
	int err = 0;

	if (!dpath)
		return import_oom(root);
	d = opendir(dpath);
	if (!d)
		return atomfs_err(errno,
				  "import %s: cannot read directory %s: %s",
				  root, dpath, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (nn)
			names = nn;
		if (!nn || !(names[n] = strdup(de->d_name))) {
			err = import_oom(root);
			break;
		}
		n++;
	}
	closedir(d);
	if (!err && n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; !err && i < n; i++) {
		cleanup_free char *r =
			rel[0] ? atomfs_asprintf("%s/%s", rel, names[i]) :
				 strdup(names[i]);
		cleanup_free char *p = r ? atomfs_join(root, r) : NULL;
		cleanup_free char *line = NULL, *dig = NULL;
		struct stat st;

		if (!p) {
			err = import_oom(root);
			break;
		}
		if (++w->n > MAX_IMPORT_ENTRIES) {
			err = atomfs_err(E2BIG,
					 "import %s: more than %d entries",
					 root, MAX_IMPORT_ENTRIES);
			break;
		}
		if (lstat(p, &st)) {
			err = atomfs_err(errno, "import %s: %s: %s", root, p,
					 strerror(errno));
			break;
		}
		if (S_ISREG(st.st_mode)) {
			err = atomfs_digest_file(p, &dig, NULL);
			if (err)
				break;
			line = atomfs_asprintf("f %o %lld %s %s\n",
					       (unsigned)st.st_mode & 07777,
					       (long long)st.st_size, r, dig);
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096];
			ssize_t l = readlink(p, t, sizeof(t) - 1);

			t[l > 0 ? l : 0] = '\0';
			line = atomfs_asprintf("l 777 0 %s %s\n", r, t);
		} else if (S_ISDIR(st.st_mode)) {
			line = atomfs_asprintf("d %o 0 %s\n",
					       (unsigned)st.st_mode & 07777, r);
			err = line ? walk_add(w, root, line) : import_oom(root);
			if (!err)
				err = walk_dir(root, r, w);
			continue;
		} else {
			line = atomfs_asprintf("o %o 0 %s\n",
					       (unsigned)st.st_mode, r);
		}
		err = line ? walk_add(w, root, line) : import_oom(root);
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
		*out = imp->hash ? strdup(imp->hash) :
				   atomfs_asprintf("url:%s", imp->url);
		return *out ? 0 : import_oom(imp->src);
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
		cleanup_free char *d =
			atomfs_digest_buf(w.buf ? w.buf : "", w.len);

		/* a tree digest is not a blob digest: mark it as such */
		*out = d ? atomfs_asprintf("tree:%s", d) : NULL;
		if (!*out)
			err = import_oom(imp->src);
	}
	free(w.buf);
	return err;
}

int atomfs_recipe_inputs_finish(const struct atomfs_recipe_stanza *s,
				struct atomfs_recipe_inputs *in)
{
	json_t *imports = json_array(), *apply = json_array(), *j = NULL;
	size_t i;
	int err = -ENOMEM;

	free(in->own);
	free(in->input);
	in->own = in->input = NULL;
	if (!imports || !apply)
		goto out;
	for (i = 0; i < s->nimports; i++)
		if (json_array_append_new(imports, json_string(in->imports[i])))
			goto out;
	for (i = 0; i < s->napply; i++)
		if (json_array_append_new(apply, json_string(in->apply[i])))
			goto out;
	/* "o" takes the reference even when json_pack fails */
	j = json_pack("{s:O, s:s, s:o}", "stanza", s->canon, "from", in->from,
		      "imports", imports);
	imports = NULL;
	in->own = j ? canon_digest(j) : NULL;
	json_decref(j);
	if (!in->own)
		goto out;
	j = json_pack("{s:s, s:o}", "own", in->own, "apply", apply);
	apply = NULL;
	in->input = j ? canon_digest(j) : NULL;
	json_decref(j);
	if (in->input)
		err = 0;
out:
	json_decref(imports);
	json_decref(apply);
	if (err) {
		free(in->own);
		in->own = NULL;
		return atomfs_err(
			err,
			"out of memory while computing the input digests of stanza %s",
			s->name);
	}
	return 0;
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

static int decided(enum atomfs_recipe_action *act, char **why,
		   enum atomfs_recipe_action a, const char *reason)
{
	*act = a;
	*why = strdup(reason);
	return *why ? 0 :
		      atomfs_err(ENOMEM,
				 "out of memory while planning the build");
}

int atomfs_recipe_decide(const struct atomfs_recipe_stanza *s,
			 const struct atomfs_recipe_inputs *in,
			 const json_t *ann, bool force,
			 enum atomfs_recipe_action *act, char **why)
{
	const char *old_in =
		json_string_value(json_object_get(ann, ANN_RECIPE_INPUT));
	const char *old_own =
		json_string_value(json_object_get(ann, ANN_RECIPE_OWN_INPUT));

	if (force)
		return decided(act, why, ATOMFS_RECIPE_REBUILD,
			       "forced (--no-cache or --rebuild)");
	if (!ann)
		return decided(act, why, ATOMFS_RECIPE_REBUILD,
			       "not built yet");
	if (!old_in || !old_own)
		return decided(act, why, ATOMFS_RECIPE_REBUILD,
			       "the tagged image was not built from a recipe");
	if (!strcmp(old_in, in->input))
		return decided(act, why, ATOMFS_RECIPE_REUSE, "unchanged");
	if (!strcmp(old_own, in->own) && s->napply)
		return decided(act, why, ATOMFS_RECIPE_SWAP,
			       "applied images changed");
	return decided(act, why, ATOMFS_RECIPE_REBUILD,
		       "its recipe, base or imports changed");
}
