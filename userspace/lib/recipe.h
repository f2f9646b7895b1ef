/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * recipe.h: build recipes (atomfs.yaml, compatible with stacker.yaml where
 * the two overlap; see Documentation/man/atomfs-recipe.5).
 *
 * recipe.c parses a recipe with libyaml into stanzas (substitutions,
 * anchors, merge keys, file:line errors) and orders them by dependency;
 * recipe_plan.c computes each stanza's input digests and decides whether
 * the image already tagged can be reused, updated by swapping its applied
 * layers, or must be rebuilt; recipe_tree.c reads layer trees to find paths
 * that two applied images both change.  Everything returns 0 or -errno and
 * leaves a message with atomfs_err(); nothing here prints or aborts (an
 * allocation that fails is -ENOMEM, "out of memory while ...").
 */
#ifndef ATOMFS_RECIPE_H
#define ATOMFS_RECIPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* manifest annotations recording what an image was built from */
#define ANN_RECIPE_INPUT "org.atomfs.recipe.input"
#define ANN_RECIPE_OWN_INPUT "org.atomfs.recipe.own-input"
#define ANN_RECIPE_STANZA "org.atomfs.recipe.stanza"

struct atomfs_recipe_str {
	char *s;
	int line; /* 1-based line in the recipe */
};

struct atomfs_recipe_strv {
	struct atomfs_recipe_str *v;
	size_t n;
};

enum atomfs_recipe_src_type {
	ATOMFS_RECIPE_SCRATCH,
	ATOMFS_RECIPE_OCI, /* dir, tag */
	ATOMFS_RECIPE_BUILT, /* name, stanza */
	ATOMFS_RECIPE_TAR, /* path */
	ATOMFS_RECIPE_DOCKER, /* url, insecure */
};

/* where a stanza starts from, or one image it applies */
struct atomfs_recipe_src {
	enum atomfs_recipe_src_type type;
	char *text; /* as written, for messages */
	char *dir; /* oci: layout directory (relative ones resolved) */
	char *tag; /* oci: tag */
	char *name; /* built: stanza name */
	size_t stanza; /* built: index into recipe->v */
	char *path; /* tar: archive path (relative ones resolved) */
	char *url; /* docker: docker://HOST/REPO:TAG; tar: http(s) URL */
	bool insecure; /* docker: plain http */
	int line;
};

struct atomfs_recipe_import {
	char *src; /* as written */
	char *path; /* a local file or directory, resolved; NULL for http(s) */
	char *url; /* http(s)://, else NULL */
	char *hash; /* "sha256:<hex>" or NULL */
	char *name; /* the name under /atomfs/imports/ */
	int line;
};

struct atomfs_recipe_stanza {
	char *name; /* the output tag */
	int line;
	struct atomfs_recipe_src from;
	struct atomfs_recipe_src *apply;
	size_t napply;
	struct atomfs_recipe_strv apply_conflicts; /* fnmatch globs */
	struct atomfs_recipe_import *imports;
	size_t nimports;
	struct atomfs_recipe_strv run; /* scripts, each run by /bin/sh -e */
	json_t *environment; /* object of strings, or NULL */
	json_t *build_env; /* object of strings, or NULL */
	json_t *labels;
	json_t *annotations;
	json_t *entrypoint; /* array of strings, or NULL */
	json_t *cmd;
	json_t *full_command;
	json_t *volumes; /* array of strings */
	char *working_dir;
	char *runtime_user;
	char *os;
	char *arch;
	bool build_only;
	json_t *canon; /* the stanza as written (after substitution), as JSON */
};

struct atomfs_recipe {
	char *path; /* as given */
	char *dir; /* the directory relative paths are resolved against */
	struct atomfs_recipe_stanza *v;
	size_t n;
	size_t *order; /* build order: every stanza after what it uses */
};

/* NAME=VALUE substitutions, as given with --substitute */
struct atomfs_recipe_subst {
	const char **v;
	size_t n;
};

/* recipe.c */
/*
 * Read and parse the recipe at path.  Errors name the file and line:
 * "atomfs.yaml:12: stanza "A": unknown key "aply"" (-EINVAL), or the
 * file cannot be read (-errno).  Free with atomfs_recipe_free().
 */
int atomfs_recipe_load(const char *path,
		       const struct atomfs_recipe_subst *subst,
		       struct atomfs_recipe **out);
/* the same from text already in memory (path only names it in messages) */
int atomfs_recipe_parse(const char *path, const char *text, size_t len,
			const struct atomfs_recipe_subst *subst,
			struct atomfs_recipe **out);
void atomfs_recipe_free(struct atomfs_recipe *r);
/* index of the stanza called name, or -1 */
long atomfs_recipe_find(const struct atomfs_recipe *r, const char *name);
/* "${{NAME}}" and "${{NAME:default}}" replaced; line numbers are kept */
int atomfs_recipe_substitute(const char *path, const char *text, size_t len,
			     const struct atomfs_recipe_subst *subst,
			     char **out);

/* recipe_plan.c */
enum atomfs_recipe_action {
	ATOMFS_RECIPE_REUSE, /* the tagged image is what the recipe asks for */
	ATOMFS_RECIPE_SWAP, /* only applied images changed: swap their layers */
	ATOMFS_RECIPE_REBUILD, /* run the stanza again */
};

/* the digests of what went into one stanza */
struct atomfs_recipe_inputs {
	char *from; /* manifest digest, tar digest or "scratch" */
	char **apply; /* manifest digests, one per apply */
	char **imports; /* one per import */
	char *own; /* sha256 of canon, from and imports */
	char *input; /* sha256 of own and the apply digests */
};

void atomfs_recipe_inputs_free(struct atomfs_recipe_inputs *in, size_t napply,
			       size_t nimports);
/* digest of an import: a file's content, a directory's sorted tree, or the given hash */
int atomfs_recipe_import_digest(const struct atomfs_recipe *r,
				const struct atomfs_recipe_import *imp,
				char **out);
/* own and input digests from the parts (from, apply, imports filled in) */
int atomfs_recipe_inputs_finish(const struct atomfs_recipe_stanza *s,
				struct atomfs_recipe_inputs *in);
/*
 * What to do with stanza s (*act), given the manifest annotations of the
 * image tagged now (NULL when none).  force: --no-cache or --rebuild NAME.
 * *why is a short reason for the plan ("not built yet", "ssl changed").
 * 0, or -ENOMEM.
 */
int atomfs_recipe_decide(const struct atomfs_recipe_stanza *s,
			 const struct atomfs_recipe_inputs *in,
			 const json_t *tagged_annotations, bool force,
			 enum atomfs_recipe_action *act, char **why);
const char *atomfs_recipe_action_name(enum atomfs_recipe_action a);

/* recipe_tree.c */
/* the paths one image's layers change, beyond the layers of its base */
struct atomfs_recipe_changes {
	char **path; /* "/etc/ld.so.cache", sorted */
	size_t n;
};
/*
 * Paths changed by the squashfs layer files in paths[0..n): every
 * non-directory (files, links, devices, whiteouts) and every opaque
 * directory, as absolute paths.
 */
int atomfs_recipe_layer_changes(const char *const *paths, size_t n,
				struct atomfs_recipe_changes *out);
void atomfs_recipe_changes_free(struct atomfs_recipe_changes *c);
/*
 * Paths changed by two or more of the sets (or a path one set changes
 * below a path another set replaces or deletes), not matched by any glob
 * in allow.  Returned as "PATH (NAME1, NAME2)" strings in *out.
 */
int atomfs_recipe_conflicts(const struct atomfs_recipe_changes *sets,
			    const char *const *names, size_t n,
			    const struct atomfs_recipe_strv *allow, char ***out,
			    size_t *nout);

#endif /* ATOMFS_RECIPE_H */
