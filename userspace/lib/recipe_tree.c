// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * recipe_tree.c: which paths applied images change, read from the layers'
 * directory trees with libsquashfs (nothing is mounted).
 *
 * A layer changes every non-directory it holds (files, links, devices) and
 * every whiteout (a 0/0 character device or an OCI ".wh.NAME"), and an
 * opaque directory (overlay.opaque=y or ".wh..wh..opq") replaces all below
 * it.  Plain directories only carry their children and are not counted: a
 * directory's own mode or owner changed by two images is not reported.
 */
#include <fnmatch.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_reader.h>

#include "internal.h"
#include "recipe.h"

/* kinds, in the order a later set can override an earlier one */
#define CH_FILE 'f' /* a non-directory */
#define CH_WHITEOUT 'w' /* deleted */
#define CH_OPAQUE 'o' /* a directory replacing what was below */

struct reader {
	const char *path;
	sqfs_file_t *file;
	sqfs_super_t super;
	sqfs_compressor_t *cmp;
	sqfs_id_table_t *ids;
	sqfs_dir_reader_t *dr;
	sqfs_xattr_reader_t *xr; /* NULL without an xattr table */
};

struct list {
	char **v; /* "K/path", K a CH_ kind */
	size_t n, cap;
};

static int tree_oom(const char *layer)
{
	return atomfs_err(ENOMEM,
			  "out of memory while reading the tree of layer %s",
			  layer);
}

static int list_add(const struct reader *r, struct list *l, char kind,
		    const char *path)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, cap * sizeof(*l->v));

		if (!v)
			return tree_oom(r->path);
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = atomfs_asprintf("%c%s", kind, path);
	if (!l->v[l->n])
		return tree_oom(r->path);
	l->n++;
	return 0;
}

static void reader_close(struct reader *r)
{
	if (r->xr)
		sqfs_destroy(r->xr);
	if (r->dr)
		sqfs_destroy(r->dr);
	if (r->ids)
		sqfs_destroy(r->ids);
	if (r->cmp)
		sqfs_destroy(r->cmp);
	if (r->file)
		sqfs_destroy(r->file);
}

static int sq_err(const struct reader *r, const char *what, int e)
{
	return atomfs_err(
		EBADMSG,
		"layer %s: cannot read its %s (libsquashfs error %d): is it a squashfs layer?",
		r->path, what, e);
}

static int reader_open(struct reader *r, const char *path)
{
	sqfs_compressor_config_t cfg;
	int e;

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->file = sqfs_open_file(path, SQFS_FILE_OPEN_READ_ONLY);
	if (!r->file)
		return atomfs_err(errno ? errno : EIO,
				  "cannot open layer %s: %s", path,
				  strerror(errno ? errno : EIO));
	e = sqfs_super_read(&r->super, r->file);
	if (e)
		return sq_err(r, "super block", e);
	e = sqfs_compressor_config_init(&cfg, r->super.compression_id,
					r->super.block_size,
					SQFS_COMP_FLAG_UNCOMPRESS);
	if (!e)
		e = sqfs_compressor_create(&cfg, &r->cmp);
	if (e)
		return sq_err(r, "compressor", e);
	r->ids = sqfs_id_table_create(0);
	if (!r->ids)
		return tree_oom(path);
	e = sqfs_id_table_read(r->ids, r->file, &r->super, r->cmp);
	if (e)
		return sq_err(r, "id table", e);
	r->dr = sqfs_dir_reader_create(&r->super, r->cmp, r->file, 0);
	if (!r->dr)
		return tree_oom(path);
	if (!(r->super.flags & SQFS_FLAG_NO_XATTRS) &&
	    r->super.xattr_id_table_start != 0xFFFFFFFFFFFFFFFFULL) {
		r->xr = sqfs_xattr_reader_create(0);
		if (!r->xr)
			return tree_oom(path);
		e = sqfs_xattr_reader_load(r->xr, &r->super, r->file, r->cmp);
		if (e)
			return sq_err(r, "xattr table", e);
	}
	return 0;
}

/* overlay.opaque=y in the trusted. or user. namespace */
static int is_opaque(const struct reader *r, const sqfs_inode_generic_t *inode,
		     bool *out)
{
	sqfs_xattr_id_t desc;
	sqfs_u32 idx, i;
	int e;

	*out = false;
	if (!r->xr || sqfs_inode_get_xattr_index(inode, &idx) ||
	    idx == 0xFFFFFFFF)
		return 0;
	e = sqfs_xattr_reader_get_desc(r->xr, idx, &desc);
	if (!e)
		e = sqfs_xattr_reader_seek_kv(r->xr, &desc);
	for (i = 0; !e && i < desc.count; i++) {
		sqfs_xattr_entry_t *key = NULL;
		sqfs_xattr_value_t *val = NULL;
		unsigned int t;
		size_t kl;

		e = sqfs_xattr_reader_read_key(r->xr, &key);
		if (!e)
			e = sqfs_xattr_reader_read_value(r->xr, key, &val);
		if (!e) {
			t = key->type & SQFS_XATTR_PREFIX_MASK;
			kl = key->size;
			/* the key may come with or without its prefix */
			if ((t == SQFS_XATTR_TRUSTED || t == SQFS_XATTR_USER) &&
			    kl >= 14 &&
			    !memcmp(key->key + kl - 14, "overlay.opaque", 14) &&
			    val->size == 1 && val->value[0] == 'y')
				*out = true;
		}
		sqfs_free(key);
		sqfs_free(val);
	}
	return e ? sq_err(r, "xattrs", e) : 0;
}

static int walk(const struct reader *r, const sqfs_tree_node_t *n,
		const char *path, struct list *out)
{
	const sqfs_tree_node_t *c;
	int err = 0;

	for (c = n->children; !err && c; c = c->next) {
		const char *name = (const char *)c->name;
		cleanup_free char *p = atomfs_asprintf("%s/%s", path, name);
		const sqfs_inode_generic_t *in = c->inode;
		bool opaque;

		if (!p)
			return tree_oom(r->path);
		switch (in->base.type) {
		case SQFS_INODE_DIR:
		case SQFS_INODE_EXT_DIR:
			err = is_opaque(r, in, &opaque);
			if (!err && opaque)
				err = list_add(r, out, CH_OPAQUE, p);
			if (!err)
				err = walk(r, c, p, out);
			break;
		case SQFS_INODE_CDEV:
		case SQFS_INODE_EXT_CDEV:
			if (in->data.dev.devno == 0) {
				err = list_add(r, out, CH_WHITEOUT, p);
				break;
			}
			err = list_add(r, out, CH_FILE, p);
			break;
		default:
			if (!strcmp(name, ".wh..wh..opq")) {
				err = list_add(r, out, CH_OPAQUE,
					       path[0] ? path : "/");
			} else if (!strncmp(name, ".wh.", 4)) {
				cleanup_free char *t = atomfs_asprintf(
					"%s/%s", path, name + 4);

				err = t ? list_add(r, out, CH_WHITEOUT, t) :
					  tree_oom(r->path);
			} else {
				err = list_add(r, out, CH_FILE, p);
			}
		}
	}
	return err;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int atomfs_recipe_layer_changes(const char *const *paths, size_t n,
				struct atomfs_recipe_changes *out)
{
	struct list l = { 0 };
	size_t i, j, k;
	int err = 0;

	for (i = 0; !err && i < n; i++) {
		struct reader r;
		sqfs_tree_node_t *root = NULL;
		int e;

		err = reader_open(&r, paths[i]);
		if (!err) {
			e = sqfs_dir_reader_get_full_hierarchy(r.dr, r.ids,
							       NULL, 0, &root);
			if (e)
				err = sq_err(&r, "directory tree", e);
		}
		if (!err)
			err = walk(&r, root, "", &l);
		if (root)
			sqfs_dir_tree_destroy(root);
		reader_close(&r);
	}
	if (err) {
		for (i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		return err;
	}
	/* one entry per path: strip the kind, sort, drop duplicates */
	for (i = 0; i < l.n; i++)
		memmove(l.v[i], l.v[i] + 1, strlen(l.v[i]));
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	for (i = j = 0; i < l.n; i++) {
		if (j && !strcmp(l.v[j - 1], l.v[i])) {
			free(l.v[i]);
			continue;
		}
		l.v[j++] = l.v[i];
	}
	(void)k;
	out->path = l.v;
	out->n = j;
	return 0;
}

void atomfs_recipe_changes_free(struct atomfs_recipe_changes *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->path[i]);
	free(c->path);
	c->path = NULL;
	c->n = 0;
}

static bool has(const struct atomfs_recipe_changes *c, const char *p)
{
	return c->n && bsearch(&p, c->path, c->n, sizeof(char *), cmp_str);
}

/* does c change p itself or a directory above it? t: room for a copy of p */
static bool covers(const struct atomfs_recipe_changes *c, const char *p,
		   char *t)
{
	char *s;

	strcpy(t, p);
	if (has(c, t))
		return true;
	while ((s = strrchr(t, '/')) && s != t) {
		*s = '\0';
		if (has(c, t))
			return true;
	}
	return false;
}

static bool allowed(const struct atomfs_recipe_strv *allow, const char *p)
{
	size_t i;

	for (i = 0; allow && i < allow->n; i++) {
		const char *g = allow->v[i].s;

		/* globs are written with or without the leading slash */
		if (!fnmatch(g, p, FNM_PATHNAME) ||
		    (g[0] != '/' && !fnmatch(g, p + 1, FNM_PATHNAME)))
			return true;
	}
	return false;
}

int atomfs_recipe_conflicts(const struct atomfs_recipe_changes *sets,
			    const char *const *names, size_t n,
			    const struct atomfs_recipe_strv *allow, char ***out,
			    size_t *nout)
{
	char **v = NULL, **grown;
	size_t nv = 0, a, b, i;

	for (a = 0; a < n; a++) {
		for (i = 0; i < sets[a].n; i++) {
			const char *p = sets[a].path[i];
			cleanup_free char *t = NULL;
			char who[1024];
			bool hit = false;

			if (allowed(allow, p))
				continue;
			t = strdup(p);
			if (!t)
				goto nomem;
			snprintf(who, sizeof(who), "%s", names[a]);
			for (b = 0; b < n; b++) {
				if (b == a || !covers(&sets[b], p, t))
					continue;
				/* each path once: report it from its first owner */
				if (b < a && has(&sets[b], p))
					goto next;
				hit = true;
				strncat(who, ", ",
					sizeof(who) - strlen(who) - 1);
				strncat(who, names[b],
					sizeof(who) - strlen(who) - 1);
			}
			if (hit) {
				grown = realloc(v, (nv + 1) * sizeof(*v));
				if (!grown)
					goto nomem;
				v = grown;
				v[nv] = atomfs_asprintf("%s (%s)", p, who);
				if (!v[nv])
					goto nomem;
				nv++;
			}
next:;
		}
	}
	if (nv)
		qsort(v, nv, sizeof(*v), cmp_str);
	*out = v;
	*nout = nv;
	return 0;
nomem:
	for (i = 0; i < nv; i++)
		free(v[i]);
	free(v);
	return atomfs_err(ENOMEM,
			  "out of memory while comparing the applied images");
}
