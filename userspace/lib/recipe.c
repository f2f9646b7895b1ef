// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * recipe.c: parse a build recipe (atomfs.yaml) with libyaml.
 *
 * The text is substituted first ("${{NAME}}", "${{NAME:default}}", as
 * stacker does, so a substitution can stand anywhere), then loaded as one
 * YAML document: libyaml resolves anchors and aliases; merge keys ("<<")
 * are applied here.  Every error names the file and the line of the node
 * it is about.
 */
#include <ctype.h>
#include <limits.h>
#include <yaml.h>

#include "internal.h"
#include "oci.h"
#include "recipe.h"

#define MAX_RECIPE (16u << 20) /* bytes of recipe text */
#define MAX_NODES 1000000 /* JSON values made from one stanza (alias bombs) */
#define MAX_DEPTH 64

struct yctx {
	const char *file;
	yaml_document_t doc;
	const char *stanza; /* the stanza being read, for messages */
	size_t nodes; /* JSON values made so far */
};

struct ypair {
	const char *key;
	yaml_node_t *k, *v;
};

static int line_of(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static yaml_node_t *node(struct yctx *c, int idx)
{
	return yaml_document_get_node(&c->doc, idx);
}

/* "FILE:LINE: stanza "S": message" */
__attribute__((format(printf, 3, 4))) static int
perr(struct yctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->stanza)
		return atomfs_err(EINVAL, "%s:%d: stanza \"%s\": %s", c->file,
				  n ? line_of(n) : 1, c->stanza, msg);
	return atomfs_err(EINVAL, "%s:%d: %s", c->file, n ? line_of(n) : 1,
			  msg);
}

/* one line, naming the recipe: every allocation below may fail */
static int oom(const struct yctx *c)
{
	return atomfs_err(ENOMEM, "out of memory while reading the recipe %s",
			  c->file);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ?
		       (const char *)n->data.scalar.value :
		       NULL;
}

static const char *type_name(const yaml_node_t *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a string";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a map";
	default:
		return "nothing";
	}
}

/* ---- substitutions ---- */

static const char *subst_lookup(const struct atomfs_recipe_subst *s,
				const char *name, size_t len)
{
	size_t i;

	for (i = 0; s && i < s->n; i++)
		if (!strncmp(s->v[i], name, len) && s->v[i][len] == '=')
			return s->v[i] + len + 1;
	return NULL;
}

int atomfs_recipe_substitute(const char *path, const char *text, size_t len,
			     const struct atomfs_recipe_subst *subst,
			     char **out)
{
	size_t i, cap = len + 1, n = 0;
	char *buf = calloc(1, cap), *nbuf;
	int line = 1;

	if (!buf)
		goto oom;
	for (i = 0; i < len;) {
		const char *p = text + i, *end, *colon, *val;
		size_t nlen, vlen;

		if (len - i < 3 || memcmp(p, "${{", 3)) {
			if (*p == '\n')
				line++;
			if (n + 1 >= cap) {
				nbuf = realloc(buf, cap * 2);
				if (!nbuf)
					goto oom;
				buf = nbuf;
				cap *= 2;
			}
			buf[n++] = text[i++];
			continue;
		}
		end = memmem(p + 3, len - i - 3, "}}", 2);
		if (!end || memchr(p, '\n', (size_t)(end - p))) {
			free(buf);
			return atomfs_err(
				EINVAL,
				"%s:%d: substitution \"${{\" is not closed by \"}}\" on the same line",
				path, line);
		}
		colon = memchr(p + 3, ':', (size_t)(end - p - 3));
		nlen = (size_t)((colon ? colon : end) - (p + 3));
		if (!nlen || !(isalpha((unsigned char)p[3]) || p[3] == '_')) {
			free(buf);
			return atomfs_err(
				EINVAL,
				"%s:%d: bad substitution \"%.*s\": a name is letters, digits and '_', as in ${{NAME}} or ${{NAME:default}}",
				path, line, (int)(end + 2 - p), p);
		}
		for (size_t k = 0; k < nlen; k++)
			if (!isalnum((unsigned char)p[3 + k]) &&
			    p[3 + k] != '_') {
				free(buf);
				return atomfs_err(
					EINVAL,
					"%s:%d: bad substitution \"%.*s\": a name is letters, digits and '_', as in ${{NAME}} or ${{NAME:default}}",
					path, line, (int)(end + 2 - p), p);
			}
		val = subst_lookup(subst, p + 3, nlen);
		if (val) {
			vlen = strlen(val);
		} else if (colon) {
			val = colon + 1;
			vlen = (size_t)(end - val);
		} else {
			free(buf);
			return atomfs_err(
				EINVAL,
				"%s:%d: ${{%.*s}} has no value: give --substitute %.*s=VALUE, or a default as in ${{%.*s:VALUE}}",
				path, line, (int)nlen, p + 3, (int)nlen, p + 3,
				(int)nlen, p + 3);
		}
		while (n + vlen + 1 >= cap) {
			nbuf = realloc(buf, cap * 2);
			if (!nbuf)
				goto oom;
			buf = nbuf;
			cap *= 2;
		}
		memcpy(buf + n, val, vlen);
		n += vlen;
		i = (size_t)(end + 2 - text);
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
oom:
	free(buf);
	return atomfs_err(ENOMEM,
			  "out of memory while substituting in the recipe %s",
			  path);
}

/* ---- maps with merge keys ---- */

static int add_pairs(struct yctx *c, yaml_node_t *m, struct ypair **v,
		     size_t *n, bool merged, int depth)
{
	yaml_node_pair_t *p;
	struct ypair *nv;

	if (depth > MAX_DEPTH)
		return perr(c, m, "merge keys (<<) nested too deeply");
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
		const char *key = scalar(k);
		size_t i;
		bool dup = false;

		if (!key)
			return perr(c, k, "a key must be a string, not %s",
				    type_name(k));
		if (!strcmp(key, "<<"))
			continue;
		for (i = 0; i < *n; i++)
			if (!strcmp((*v)[i].key, key))
				dup = true;
		if (dup && !merged) {
			for (i = 0; i < *n; i++)
				if (!strcmp((*v)[i].key, key))
					break;
			if (!c->stanza && (*v)[i].k)
				return perr(
					c, k,
					"duplicate stanza \"%s\" (first at line %d)",
					key, line_of((*v)[i].k));
			return perr(c, k,
				    "duplicate key \"%s\" (first at line %d)",
				    key, line_of((*v)[i].k));
		}
		if (dup)
			continue; /* an explicit key wins over a merged one */
		nv = realloc(*v, (*n + 1) * sizeof(**v));
		if (!nv)
			return oom(c);
		*v = nv;
		(*v)[(*n)++] = (struct ypair){ key, k, val };
	}
	/* then the merged maps, in order: earlier ones win */
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
		int err;

		if (strcmp(scalar(k), "<<"))
			continue;
		if (val->type == YAML_MAPPING_NODE) {
			err = add_pairs(c, val, v, n, true, depth + 1);
		} else if (val->type == YAML_SEQUENCE_NODE) {
			yaml_node_item_t *it;

			err = 0;
			for (it = val->data.sequence.items.start;
			     !err && it < val->data.sequence.items.top; it++) {
				yaml_node_t *e = node(c, *it);

				if (e->type != YAML_MAPPING_NODE)
					return perr(
						c, e,
						"a merge key (<<) takes maps, not %s",
						type_name(e));
				err = add_pairs(c, e, v, n, true, depth + 1);
			}
		} else {
			return perr(
				c, val,
				"a merge key (<<) takes a map or a list of maps, not %s",
				type_name(val));
		}
		if (err)
			return err;
	}
	return 0;
}

static int map_pairs(struct yctx *c, yaml_node_t *m, struct ypair **v,
		     size_t *n)
{
	*v = NULL;
	*n = 0;
	return add_pairs(c, m, v, n, false, 0);
}

/* the node as JSON: scalars are strings, maps have merges applied */
static int to_json(struct yctx *c, yaml_node_t *n, int depth, json_t **out)
{
	if (depth > MAX_DEPTH)
		return perr(c, n, "nested too deeply");
	if (++c->nodes > MAX_NODES)
		return perr(
			c, n,
			"expands to more than %d values (aliases of aliases?)",
			MAX_NODES);
	if (n->type == YAML_SCALAR_NODE) {
		*out = json_stringn((const char *)n->data.scalar.value,
				    n->data.scalar.length);
		if (!*out) {
			/* NULL for bad UTF-8, or when jansson ran out */
			json_t *t = json_stringn_nocheck(
				(const char *)n->data.scalar.value,
				n->data.scalar.length);

			if (!t)
				return oom(c);
			json_decref(t);
			return perr(c, n, "a string that is not UTF-8");
		}
		return 0;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;
		json_t *a = json_array();

		if (!a)
			return oom(c);
		for (it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			json_t *e;
			int err = to_json(c, node(c, *it), depth + 1, &e);

			if (!err && json_array_append_new(a, e))
				err = oom(c);
			if (err) {
				json_decref(a);
				return err;
			}
		}
		*out = a;
		return 0;
	}
	if (n->type == YAML_MAPPING_NODE) {
		cleanup_free struct ypair *pv = NULL;
		size_t np, i;
		json_t *o;
		int err = map_pairs(c, n, &pv, &np);

		if (err)
			return err;
		o = json_object();
		if (!o)
			return oom(c);
		for (i = 0; i < np; i++) {
			json_t *e;

			err = to_json(c, pv[i].v, depth + 1, &e);
			if (!err && json_object_set_new(o, pv[i].key, e))
				err = oom(c);
			if (err) {
				json_decref(o);
				return err;
			}
		}
		*out = o;
		return 0;
	}
	*out = json_null();
	return 0;
}

/* ---- typed values ---- */

static int want_str(struct yctx *c, const struct ypair *p, char **out)
{
	const char *s = scalar(p->v);

	if (!s)
		return perr(c, p->v, "\"%s\" must be a string, not %s", p->key,
			    type_name(p->v));
	free(*out);
	*out = strdup(s);
	return *out ? 0 : oom(c);
}

static int want_bool(struct yctx *c, const struct ypair *p, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes",
					   "Yes",  "YES",  "on",   "On" };
	static const char *const no[] = { "false", "False", "FALSE", "no",
					  "No",	   "NO",    "off",   "Off" };
	const char *s = scalar(p->v);
	size_t i;

	for (i = 0; s && i < ARRAY_SIZE(yes); i++)
		if (!strcmp(s, yes[i])) {
			*out = true;
			return 0;
		}
	for (i = 0; s && i < ARRAY_SIZE(no); i++)
		if (!strcmp(s, no[i])) {
			*out = false;
			return 0;
		}
	return perr(c, p->v, "\"%s\" must be true or false, not %s%s%s", p->key,
		    s ? "\"" : "", s ? s : type_name(p->v), s ? "\"" : "");
}

static int strv_add(struct yctx *c, struct atomfs_recipe_strv *sv,
		    const char *s, int line)
{
	struct atomfs_recipe_str *v = realloc(sv->v, (sv->n + 1) * sizeof(*v));
	char *d;

	if (!v)
		return oom(c);
	sv->v = v;
	d = strdup(s);
	if (!d)
		return oom(c);
	sv->v[sv->n++] = (struct atomfs_recipe_str){ d, line };
	return 0;
}

/* a list of strings; one string is a list of one when one_ok */
static int want_strv(struct yctx *c, const struct ypair *p, bool one_ok,
		     struct atomfs_recipe_strv *out)
{
	yaml_node_item_t *it;
	int err;

	if (one_ok && scalar(p->v))
		return strv_add(c, out, scalar(p->v), line_of(p->v));
	if (p->v->type != YAML_SEQUENCE_NODE)
		return perr(c, p->v,
			    "\"%s\" must be a list of strings%s, not %s",
			    p->key, one_ok ? " or one string" : "",
			    type_name(p->v));
	for (it = p->v->data.sequence.items.start;
	     it < p->v->data.sequence.items.top; it++) {
		yaml_node_t *e = node(c, *it);

		if (!scalar(e))
			return perr(
				c, e,
				"\"%s\" must be a list of strings, but an entry is %s",
				p->key, type_name(e));
		err = strv_add(c, out, scalar(e), line_of(e));
		if (err)
			return err;
	}
	return 0;
}

/* a map of strings to strings, as a JSON object */
static int want_strmap(struct yctx *c, const struct ypair *p, json_t **out)
{
	cleanup_free struct ypair *pv = NULL;
	size_t np, i;
	int err;

	if (p->v->type != YAML_MAPPING_NODE)
		return perr(c, p->v, "\"%s\" must be a map of strings, not %s",
			    p->key, type_name(p->v));
	err = map_pairs(c, p->v, &pv, &np);
	if (err)
		return err;
	json_decref(*out);
	*out = json_object();
	if (!*out)
		return oom(c);
	for (i = 0; i < np; i++) {
		if (!scalar(pv[i].v))
			return perr(
				c, pv[i].v,
				"\"%s\": the value of \"%s\" must be a string, not %s",
				p->key, pv[i].key, type_name(pv[i].v));
		/* keys and values come from the parsed text: UTF-8 */
		if (json_object_set_new(*out, pv[i].key,
					json_string(scalar(pv[i].v))))
			return oom(c);
	}
	return 0;
}

/* split a command line as a shell would for words and quotes (no expansion) */
static int split_words(struct yctx *c, const yaml_node_t *n, const char *s,
		       json_t *a)
{
	size_t len = strlen(s);
	cleanup_free char *w = calloc(1, len + 1);
	size_t wn = 0;
	bool in_word = false;
	char q = 0;

	if (!w)
		return oom(c);
	for (; *s; s++) {
		if (q) {
			if (*s == q)
				q = 0;
			else if (q == '"' && *s == '\\' && s[1] &&
				 strchr("\"\\$`", s[1]))
				w[wn++] = *++s;
			else
				w[wn++] = *s;
			continue;
		}
		if (isspace((unsigned char)*s)) {
			if (in_word &&
			    json_array_append_new(a, json_stringn(w, wn)))
				return oom(c);
			in_word = false;
			wn = 0;
			continue;
		}
		in_word = true;
		if (*s == '"' || *s == '\'')
			q = *s;
		else if (*s == '\\' && s[1])
			w[wn++] = *++s;
		else
			w[wn++] = *s;
	}
	if (q)
		return perr(c, n, "unterminated quote in \"%s\"", s);
	if (in_word && json_array_append_new(a, json_stringn(w, wn)))
		return oom(c);
	return 0;
}

/* entrypoint, cmd, full_command: a list, or a string split into words */
static int want_argv(struct yctx *c, const struct ypair *p, json_t **out)
{
	struct atomfs_recipe_strv sv = { 0 };
	json_t *a = json_array();
	size_t i;
	int err;

	if (!a)
		return oom(c);
	if (scalar(p->v)) {
		err = split_words(c, p->v, scalar(p->v), a);
	} else {
		err = want_strv(c, p, false, &sv);
		for (i = 0; i < sv.n; i++) {
			if (!err &&
			    json_array_append_new(a, json_string(sv.v[i].s)))
				err = oom(c);
			free(sv.v[i].s);
		}
		free(sv.v);
	}
	if (err) {
		json_decref(a);
		return err;
	}
	json_decref(*out);
	*out = a;
	return 0;
}

/* ---- references ---- */

/* NULL when out of memory */
static char *resolve_path(const struct atomfs_recipe *r, const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	return atomfs_join(r->dir, p);
}

/* "oci:DIR:TAG", "docker://...", or a built stanza's plain name */
static int parse_ref(struct yctx *c, const struct atomfs_recipe *r,
		     const yaml_node_t *n, const char *s,
		     struct atomfs_recipe_src *src)
{
	src->text = strdup(s);
	src->line = line_of(n);
	if (!src->text)
		return oom(c);
	if (str_has_prefix(s, "docker://")) {
		src->type = ATOMFS_RECIPE_DOCKER;
		src->url = strdup(s);
		return src->url ? 0 : oom(c);
	}
	if (str_has_prefix(s, "oci:") || strchr(s, ':')) {
		struct atomfs_ref ref;
		int err = atomfs_ref_parse(s, &ref);

		if (err == -ENOMEM)
			return oom(c);
		if (err)
			return perr(
				c, n,
				"\"%s\" is not an image reference: use oci:DIR:TAG, docker://HOST/REPO:TAG or a stanza name",
				s);
		src->type = ATOMFS_RECIPE_OCI;
		src->dir = resolve_path(r, ref.dir);
		src->tag = strdup(ref.tag);
		atomfs_ref_free(&ref);
		return src->dir && src->tag ? 0 : oom(c);
	}
	src->type = ATOMFS_RECIPE_BUILT;
	src->name = strdup(s);
	return src->name ? 0 : oom(c);
}

static int parse_from(struct yctx *c, const struct atomfs_recipe *r,
		      const struct ypair *fp, struct atomfs_recipe_src *src)
{
	cleanup_free struct ypair *pv = NULL;
	cleanup_free char *type = NULL, *url = NULL, *tag = NULL;
	const struct ypair *typep = NULL, *urlp = NULL, *tagp = NULL;
	bool insecure = false;
	size_t np, i;
	int err;

	if (fp->v->type != YAML_MAPPING_NODE)
		return perr(
			c, fp->v,
			"\"from\" must be a map such as {type: built, tag: NAME}, not %s",
			type_name(fp->v));
	err = map_pairs(c, fp->v, &pv, &np);
	for (i = 0; !err && i < np; i++) {
		const struct ypair *p = &pv[i];

		if (!strcmp(p->key, "type")) {
			typep = p;
			err = want_str(c, p, &type);
		} else if (!strcmp(p->key, "url")) {
			urlp = p;
			err = want_str(c, p, &url);
		} else if (!strcmp(p->key, "tag")) {
			tagp = p;
			err = want_str(c, p, &tag);
		} else if (!strcmp(p->key, "insecure")) {
			err = want_bool(c, p, &insecure);
		} else {
			err = perr(
				c, p->k,
				"\"from\": unknown key \"%s\" (known: type, url, tag, insecure)",
				p->key);
		}
	}
	if (err)
		return err;
	src->line = line_of(fp->v);
	if (!typep)
		return perr(
			c, fp->v,
			"\"from\" has no \"type\" (scratch, oci, built, tar or docker)");
	if (!strcmp(type, "scratch")) {
		src->type = ATOMFS_RECIPE_SCRATCH;
		src->text = strdup("scratch");
		return src->text ? 0 : oom(c);
	}
	if (!strcmp(type, "built")) {
		if (!tagp)
			return perr(
				c, fp->v,
				"\"from\" of type built needs \"tag\": the stanza it starts from");
		src->type = ATOMFS_RECIPE_BUILT;
		src->name = strdup(tag);
		src->text = strdup(tag);
		src->line = line_of(tagp->v);
		return src->name && src->text ? 0 : oom(c);
	}
	if (!urlp)
		return perr(c, fp->v, "\"from\" of type %s needs \"url\"",
			    type);
	src->line = line_of(urlp->v);
	if (!strcmp(type, "tar")) {
		src->type = ATOMFS_RECIPE_TAR;
		src->text = strdup(url);
		/* fetched into the build directory when the build needs it */
		if (str_has_prefix(url, "http://") ||
		    str_has_prefix(url, "https://"))
			src->url = strdup(url);
		else
			src->path = resolve_path(
				r,
				str_has_prefix(url, "file://") ? url + 7 : url);
		return src->text && (src->url || src->path) ? 0 : oom(c);
	}
	if (!strcmp(type, "oci")) {
		cleanup_free char *full = NULL;

		if (str_has_prefix(url, "docker://"))
			return perr(
				c, urlp->v,
				"\"from\" of type oci takes a layout (DIR:TAG); use type docker for %s",
				url);
		/* stacker also allows url: DIR with tag: TAG; oci: is optional */
		const char *u = str_has_prefix(url, "oci:") ? url + 4 : url;

		full = tagp ? atomfs_asprintf("oci:%s:%s", u, tag) :
			      atomfs_asprintf("oci:%s", u);
		if (!full)
			return oom(c);
		err = parse_ref(c, r, urlp->v, full, src);
		if (!err && src->type != ATOMFS_RECIPE_OCI)
			err = perr(
				c, urlp->v,
				"\"from\" of type oci needs url: DIR:TAG, not \"%s\"",
				url);
		return err;
	}
	if (!strcmp(type, "docker")) {
		if (!str_has_prefix(url, "docker://"))
			return perr(
				c, urlp->v,
				"\"from\" of type docker needs url: docker://HOST/REPO:TAG, not \"%s\"",
				url);
		src->type = ATOMFS_RECIPE_DOCKER;
		src->url = strdup(url);
		src->text = strdup(url);
		src->insecure = insecure;
		return src->url && src->text ? 0 : oom(c);
	}
	return perr(
		c, typep->v,
		"\"from\": unknown type \"%s\" (scratch, oci, built, tar or docker)",
		type);
}

static const char *import_name(const char *src)
{
	const char *e = src + strlen(src), *b;

	while (e > src && e[-1] == '/')
		e--;
	for (b = e; b > src && b[-1] != '/'; b--)
		;
	return b;
}

static int parse_import(struct yctx *c, const struct atomfs_recipe *r,
			yaml_node_t *e, struct atomfs_recipe_stanza *s);

static int parse_imports(struct yctx *c, const struct atomfs_recipe *r,
			 const struct ypair *ip, struct atomfs_recipe_stanza *s)
{
	yaml_node_t **items;
	size_t nitems, x;
	int err = 0;

	if (scalar(ip->v)) {
		/* stacker: one import may be given as a plain string */
		nitems = 1;
		items = calloc(1, sizeof(*items));
		if (!items)
			return oom(c);
		items[0] = ip->v;
	} else if (ip->v->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;

		nitems = (size_t)(ip->v->data.sequence.items.top -
				  ip->v->data.sequence.items.start);
		items = calloc(nitems ? nitems : 1, sizeof(*items));
		if (!items)
			return oom(c);
		x = 0;
		for (it = ip->v->data.sequence.items.start;
		     it < ip->v->data.sequence.items.top; it++)
			items[x++] = node(c, *it);
	} else {
		return perr(c, ip->v,
			    "\"%s\" must be a list of paths or URLs, not %s",
			    ip->key, type_name(ip->v));
	}
	for (x = 0; !err && x < nitems; x++)
		err = parse_import(c, r, items[x], s);
	free(items);
	return err;
}

static void import_free(struct atomfs_recipe_import *imp)
{
	free(imp->src);
	free(imp->path);
	free(imp->url);
	free(imp->hash);
	free(imp->name);
}

static int parse_import(struct yctx *c, const struct atomfs_recipe *r,
			yaml_node_t *e, struct atomfs_recipe_stanza *s)
{
	struct atomfs_recipe_import imp = { 0 }, *v;
	cleanup_free char *src = NULL;
	int err = 0;

	imp.line = line_of(e);
	if (scalar(e)) {
		src = strdup(scalar(e));
		if (!src)
			return oom(c);
	} else if (e->type == YAML_MAPPING_NODE) {
		cleanup_free struct ypair *pv = NULL;
		size_t np, i;

		err = map_pairs(c, e, &pv, &np);
		for (i = 0; !err && i < np; i++) {
			if (!strcmp(pv[i].key, "path"))
				err = want_str(c, &pv[i], &src);
			else if (!strcmp(pv[i].key, "hash"))
				err = want_str(c, &pv[i], &imp.hash);
			else if (!strcmp(pv[i].key, "dest") ||
				 !strcmp(pv[i].key, "mode") ||
				 !strcmp(pv[i].key, "uid") ||
				 !strcmp(pv[i].key, "gid"))
				err = perr(
					c, pv[i].k,
					"import \"%s\" is not supported by atomfs: imports are read-only at /atomfs/imports/NAME; copy in a run step",
					pv[i].key);
			else
				err = perr(
					c, pv[i].k,
					"import: unknown key \"%s\" (known: path, hash)",
					pv[i].key);
		}
		if (!err && !src)
			err = perr(c, e, "an import needs \"path\"");
	} else {
		err = perr(
			c, e,
			"an import must be a path, a URL or a map {path, hash}, not %s",
			type_name(e));
	}
	if (!err && imp.hash) {
		/* stacker writes the bare hex; sha256: is accepted too */
		cleanup_free char *h = imp.hash;

		imp.hash = str_has_prefix(h, "sha256:") ?
				   strdup(h) :
				   atomfs_asprintf("sha256:%s", h);
		if (!imp.hash) {
			err = oom(c);
			goto fail;
		}
		for (char *q = imp.hash + 7; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		if (!atomfs_digest_valid(imp.hash))
			err = perr(
				c, e,
				"import hash \"%s\" is not sha256:<64 hex digits>",
				h);
	}
	if (err)
		goto fail;
	imp.src = strdup(src);
	if (!imp.src)
		goto nomem;
	if (str_has_prefix(src, "http://") || str_has_prefix(src, "https://")) {
		imp.url = strdup(src);
		if (!imp.url)
			goto nomem;
	} else if (strstr(src, "://") && !str_has_prefix(src, "file://")) {
		err = perr(
			c, e,
			"import \"%s\": only paths, file://, http:// and https:// are supported",
			src);
		goto fail;
	} else {
		imp.path = resolve_path(
			r, str_has_prefix(src, "file://") ? src + 7 : src);
		if (!imp.path)
			goto nomem;
	}
	imp.name = strdup(import_name(imp.url ? imp.url : imp.path));
	if (!imp.name)
		goto nomem;
	if (!imp.name[0] || !strcmp(imp.name, ".") || !strcmp(imp.name, "..")) {
		err = perr(c, e, "import \"%s\" has no file name", src);
		goto fail;
	}
	for (size_t k = 0; k < s->nimports; k++)
		if (!strcmp(s->imports[k].name, imp.name)) {
			err = perr(
				c, e,
				"two imports named \"%s\" (the other at line %d)",
				import_name(src), s->imports[k].line);
			goto fail;
		}
	v = realloc(s->imports, (s->nimports + 1) * sizeof(*s->imports));
	if (!v)
		goto nomem;
	s->imports = v;
	s->imports[s->nimports++] = imp;
	return 0;
nomem:
	err = oom(c);
fail:
	import_free(&imp);
	return err;
}

static int parse_stanza(struct yctx *c, struct atomfs_recipe *r,
			const struct ypair *sp, struct atomfs_recipe_stanza *s)
{
	cleanup_free struct ypair *pv = NULL;
	const struct ypair *import_key = NULL;
	bool have_from = false;
	size_t np, i;
	int err;

	s->name = strdup(sp->key);
	s->line = line_of(sp->k);
	if (!s->name)
		return oom(c);
	c->stanza = s->name;
	if (!atomfs_tag_valid(s->name))
		return perr(
			c, sp->k,
			"the stanza name is the output tag, so it must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
	if (sp->v->type != YAML_MAPPING_NODE)
		return perr(c, sp->v, "a stanza must be a map, not %s",
			    type_name(sp->v));
	c->nodes = 0;
	err = to_json(c, sp->v, 0, &s->canon);
	if (!err)
		err = map_pairs(c, sp->v, &pv, &np);
	for (i = 0; !err && i < np; i++) {
		const struct ypair *p = &pv[i];
		const char *k = p->key;

		if (!strcmp(k, "from")) {
			have_from = true;
			err = parse_from(c, r, p, &s->from);
		} else if (!strcmp(k, "apply")) {
			struct atomfs_recipe_strv sv = { 0 };

			err = want_strv(c, p, false, &sv);
			s->apply = calloc(sv.n ? sv.n : 1, sizeof(*s->apply));
			if (!err && !s->apply)
				err = oom(c);
			for (size_t j = 0; j < sv.n; j++) {
				yaml_node_t at = *p->v;

				at.start_mark.line = (size_t)sv.v[j].line - 1;
				if (!err)
					err = parse_ref(c, r, &at, sv.v[j].s,
							&s->apply[s->napply++]);
				free(sv.v[j].s);
			}
			free(sv.v);
		} else if (!strcmp(k, "apply_conflicts")) {
			err = want_strv(c, p, false, &s->apply_conflicts);
		} else if (!strcmp(k, "imports") || !strcmp(k, "import")) {
			if (import_key)
				err = perr(
					c, p->k,
					"both \"import\" and \"imports\" (line %d): use one",
					line_of(import_key->k));
			import_key = p;
			if (!err)
				err = parse_imports(c, r, p, s);
		} else if (!strcmp(k, "run")) {
			err = want_strv(c, p, true, &s->run);
		} else if (!strcmp(k, "environment")) {
			err = want_strmap(c, p, &s->environment);
		} else if (!strcmp(k, "build_env")) {
			err = want_strmap(c, p, &s->build_env);
		} else if (!strcmp(k, "labels")) {
			err = want_strmap(c, p, &s->labels);
		} else if (!strcmp(k, "annotations")) {
			err = want_strmap(c, p, &s->annotations);
		} else if (!strcmp(k, "entrypoint")) {
			err = want_argv(c, p, &s->entrypoint);
		} else if (!strcmp(k, "cmd")) {
			err = want_argv(c, p, &s->cmd);
		} else if (!strcmp(k, "full_command")) {
			err = want_argv(c, p, &s->full_command);
		} else if (!strcmp(k, "volumes")) {
			struct atomfs_recipe_strv sv = { 0 };

			err = want_strv(c, p, false, &sv);
			json_decref(s->volumes);
			s->volumes = json_array();
			if (!err && !s->volumes)
				err = oom(c);
			for (size_t j = 0; j < sv.n; j++) {
				if (!err &&
				    json_array_append_new(
					    s->volumes, json_string(sv.v[j].s)))
					err = oom(c);
				free(sv.v[j].s);
			}
			free(sv.v);
		} else if (!strcmp(k, "working_dir")) {
			err = want_str(c, p, &s->working_dir);
		} else if (!strcmp(k, "runtime_user")) {
			err = want_str(c, p, &s->runtime_user);
		} else if (!strcmp(k, "os")) {
			err = want_str(c, p, &s->os);
		} else if (!strcmp(k, "arch")) {
			err = want_str(c, p, &s->arch);
		} else if (!strcmp(k, "build_only")) {
			err = want_bool(c, p, &s->build_only);
		} else if (!strcmp(k, "binds") ||
			   !strcmp(k, "build_env_passthrough") ||
			   !strcmp(k, "generate_labels") ||
			   !strcmp(k, "annotations_namespace")) {
			err = perr(
				c, p->k,
				"stacker's \"%s\" is not supported by atomfs (see atomfs-recipe(5))",
				k);
		} else {
			err = perr(c, p->k, "unknown key \"%s\"", k);
		}
	}
	if (!err && !have_from)
		err = perr(
			c, sp->k,
			"no \"from\" (use from: {type: scratch} to start from nothing)");
	if (!err && s->full_command && (s->entrypoint || s->cmd))
		err = perr(
			c, sp->k,
			"\"full_command\" replaces entrypoint and cmd: give one or the others");
	if (!err && s->working_dir && s->working_dir[0] != '/')
		err = perr(c, sp->v, "working_dir \"%s\" must be absolute",
			   s->working_dir);
	return err;
}

/* ---- dependencies ---- */

static int resolve_built(struct yctx *c, struct atomfs_recipe *r,
			 struct atomfs_recipe_src *src, const char *what)
{
	long i;

	if (src->type != ATOMFS_RECIPE_BUILT)
		return 0;
	i = atomfs_recipe_find(r, src->name);
	if (i < 0)
		return atomfs_err(
			EINVAL,
			"%s:%d: stanza \"%s\": %s \"%s\" is not a stanza of this recipe (for a layout give oci:DIR:TAG)",
			c->file, src->line, c->stanza, what, src->name);
	src->stanza = (size_t)i;
	return 0;
}

/* depth-first: state 0 new, 1 on the path, 2 done */
static int visit(struct yctx *c, struct atomfs_recipe *r, size_t i,
		 unsigned char *state, size_t *path, size_t depth, size_t *n)
{
	struct atomfs_recipe_stanza *s = &r->v[i];
	size_t j, k;
	int err;

	if (state[i] == 2)
		return 0;
	path[depth] = i;
	if (state[i] == 1) {
		char msg[1024] = "";

		for (k = 0; k < depth && path[k] != i; k++)
			;
		for (; k <= depth; k++) {
			strncat(msg, r->v[path[k]].name,
				sizeof(msg) - strlen(msg) - 1);
			if (k < depth)
				strncat(msg, " -> ",
					sizeof(msg) - strlen(msg) - 1);
		}
		return atomfs_err(EINVAL,
				  "%s:%d: stanza \"%s\": dependency cycle: %s",
				  c->file, s->line, s->name, msg);
	}
	state[i] = 1;
	if (s->from.type == ATOMFS_RECIPE_BUILT) {
		err = visit(c, r, s->from.stanza, state, path, depth + 1, n);
		if (err)
			return err;
	}
	for (j = 0; j < s->napply; j++) {
		if (s->apply[j].type != ATOMFS_RECIPE_BUILT)
			continue;
		err = visit(c, r, s->apply[j].stanza, state, path, depth + 1,
			    n);
		if (err)
			return err;
	}
	state[i] = 2;
	r->order[(*n)++] = i;
	return 0;
}

static int order_stanzas(struct yctx *c, struct atomfs_recipe *r)
{
	cleanup_free unsigned char *state = calloc(r->n, 1);
	cleanup_free size_t *path = calloc(r->n + 1, sizeof(size_t));
	size_t i, j, n = 0;
	int err;

	if (!state || !path)
		return oom(c);
	for (i = 0; i < r->n; i++) {
		struct atomfs_recipe_stanza *s = &r->v[i];

		c->stanza = s->name;
		err = resolve_built(c, r, &s->from, "from");
		for (j = 0; !err && j < s->napply; j++)
			err = resolve_built(c, r, &s->apply[j], "apply");
		if (err)
			return err;
	}
	r->order = calloc(r->n, sizeof(size_t));
	if (!r->order)
		return oom(c);
	/* stanzas in file order, each after its dependencies */
	for (i = 0; i < r->n; i++) {
		err = visit(c, r, i, state, path, 0, &n);
		if (err)
			return err;
	}
	return 0;
}

long atomfs_recipe_find(const struct atomfs_recipe *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].name, name))
			return (long)i;
	return -1;
}

/* stacker's reserved top-level "config": nothing of it is supported yet */
static int parse_config(struct yctx *c, const struct ypair *p)
{
	cleanup_free struct ypair *pv = NULL;
	size_t np;
	int err;

	if (p->v->type != YAML_MAPPING_NODE)
		return perr(
			c, p->v,
			"\"config\" is reserved for recipe settings (a map), not a stanza");
	err = map_pairs(c, p->v, &pv, &np);
	if (!err && np)
		err = perr(
			c, pv[0].k,
			"config: \"%s\" is not supported by atomfs (stacker's prerequisites: build the other recipe first)",
			pv[0].key);
	return err;
}

static int parse_doc(struct yctx *c, struct atomfs_recipe *r)
{
	yaml_node_t *root = yaml_document_get_root_node(&c->doc);
	cleanup_free struct ypair *pv = NULL;
	size_t np, i;
	int err;

	if (!root)
		return atomfs_err(
			EINVAL,
			"%s:1: the recipe is empty: it needs at least one stanza",
			c->file);
	if (root->type != YAML_MAPPING_NODE)
		return perr(
			c, root,
			"a recipe is a map of stanza names to stanzas, not %s",
			type_name(root));
	err = map_pairs(c, root, &pv, &np);
	if (err)
		return err;
	r->v = calloc(np ? np : 1, sizeof(*r->v));
	if (!r->v)
		return oom(c);
	for (i = 0; i < np; i++) {
		if (!strcmp(pv[i].key, "config")) {
			err = parse_config(c, &pv[i]);
		} else {
			err = parse_stanza(c, r, &pv[i], &r->v[r->n++]);
			c->stanza = NULL;
		}
		if (err)
			return err;
	}
	if (!r->n)
		return perr(c, root, "the recipe has no stanza");
	return order_stanzas(c, r);
}

int atomfs_recipe_parse(const char *path, const char *text, size_t len,
			const struct atomfs_recipe_subst *subst,
			struct atomfs_recipe **out)
{
	struct yctx c = { .file = path };
	struct atomfs_recipe *r;
	cleanup_free char *sub = NULL, *dir = NULL;
	yaml_parser_t parser;
	const char *slash;
	int err;

	err = atomfs_recipe_substitute(path, text, len, subst, &sub);
	if (err)
		return err;
	r = calloc(1, sizeof(*r));
	if (!r)
		return oom(&c);
	r->path = strdup(path);
	slash = strrchr(path, '/');
	dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (!r->path || !dir)
		goto nomem;
	if (!dir[0]) {
		free(dir);
		dir = strdup("/");
		if (!dir)
			goto nomem;
	}
	r->dir = realpath(dir, NULL);
	if (!r->dir)
		r->dir = strdup(dir);
	if (!r->dir)
		goto nomem;
	if (!yaml_parser_initialize(&parser)) {
		atomfs_recipe_free(r);
		return atomfs_err(ENOMEM, "cannot set up the YAML parser");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)sub,
				     strlen(sub));
	if (!yaml_parser_load(&parser, &c.doc)) {
		const yaml_mark_t *m =
			parser.problem_mark.line || parser.problem_mark.column ?
				&parser.problem_mark :
				&parser.context_mark;

		if (parser.error == YAML_MEMORY_ERROR)
			err = oom(&c);
		else
			err = atomfs_err(
				EINVAL, "%s:%zu: not valid YAML: %s%s%s", path,
				m->line + 1,
				parser.problem ? parser.problem : "error",
				parser.context ? " " : "",
				parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		atomfs_recipe_free(r);
		return err;
	}
	err = parse_doc(&c, r);
	if (!err) {
		/* a second document would be silently ignored: refuse it */
		yaml_document_t next;

		if (!yaml_parser_load(&parser, &next)) {
			err = parser.error == YAML_MEMORY_ERROR ?
				      oom(&c) :
				      atomfs_err(EINVAL,
						 "%s:%zu: not valid YAML: %s",
						 path,
						 parser.problem_mark.line + 1,
						 parser.problem ?
							 parser.problem :
							 "error");
		} else {
			if (yaml_document_get_root_node(&next))
				err = atomfs_err(
					EINVAL,
					"%s:%zu: a recipe is one YAML document; this is a second one",
					path, next.start_mark.line + 1);
			yaml_document_delete(&next);
		}
	}
	yaml_document_delete(&c.doc);
	yaml_parser_delete(&parser);
	if (err) {
		atomfs_recipe_free(r);
		return err;
	}
	*out = r;
	return 0;
nomem:
	atomfs_recipe_free(r);
	return oom(&c);
}

int atomfs_recipe_load(const char *path,
		       const struct atomfs_recipe_subst *subst,
		       struct atomfs_recipe **out)
{
	cleanup_free char *text = NULL;
	size_t len;
	int err = read_file(path, &text, &len, MAX_RECIPE);

	if (err)
		return atomfs_err(err, "cannot read recipe %s: %s", path,
				  strerror(-err));
	if (memchr(text, '\0', len))
		return atomfs_err(EINVAL,
				  "%s: a recipe is text, this has NUL bytes",
				  path);
	return atomfs_recipe_parse(path, text, len, subst, out);
}

static void src_free(struct atomfs_recipe_src *s)
{
	free(s->text);
	free(s->dir);
	free(s->tag);
	free(s->name);
	free(s->path);
	free(s->url);
}

static void strv_free(struct atomfs_recipe_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i].s);
	free(sv->v);
}

void atomfs_recipe_free(struct atomfs_recipe *r)
{
	size_t i, j;

	if (!r)
		return;
	for (i = 0; i < r->n; i++) {
		struct atomfs_recipe_stanza *s = &r->v[i];

		free(s->name);
		src_free(&s->from);
		for (j = 0; j < s->napply; j++)
			src_free(&s->apply[j]);
		free(s->apply);
		strv_free(&s->apply_conflicts);
		for (j = 0; j < s->nimports; j++)
			import_free(&s->imports[j]);
		free(s->imports);
		strv_free(&s->run);
		json_decref(s->environment);
		json_decref(s->build_env);
		json_decref(s->labels);
		json_decref(s->annotations);
		json_decref(s->entrypoint);
		json_decref(s->cmd);
		json_decref(s->full_command);
		json_decref(s->volumes);
		free(s->working_dir);
		free(s->runtime_user);
		free(s->os);
		free(s->arch);
		json_decref(s->canon);
	}
	free(r->v);
	free(r->order);
	free(r->path);
	free(r->dir);
	free(r);
}
