// SPDX-License-Identifier: LGPL-2.1-or-later
/* tree.c: the in-memory file tree a layer is built from */
#include <sys/stat.h>

#include "internal.h"
#include "tree.h"

struct atomfs_node *atomfs_node_new(const char *name, mode_t mode)
{
	struct atomfs_node *n = xcalloc(1, sizeof(*n));

	n->name = xstrdup(name);
	n->mode = mode;
	return n;
}

void atomfs_node_free(struct atomfs_node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->nkids; i++)
		atomfs_node_free(n->kids[i]);
	for (i = 0; i < n->nxattrs; i++) {
		free(n->xattrs[i].key);
		free(n->xattrs[i].value);
	}
	free(n->xattrs);
	free(n->kids);
	free(n->name);
	free(n->symlink);
	free(n->src);
	free(n->inode);
	free(n);
}

int atomfs_tree_init(struct atomfs_tree *t)
{
	memset(t, 0, sizeof(*t));
	t->root = atomfs_node_new("", S_IFDIR | 0755);
	t->nnodes = 1;
	return 0;
}

void atomfs_tree_free(struct atomfs_tree *t)
{
	size_t i;

	for (i = 0; i < t->ngraveyard; i++)
		atomfs_node_free(t->graveyard[i]);
	free(t->graveyard);
	t->graveyard = NULL;
	t->ngraveyard = 0;
	atomfs_node_free(t->root);
	t->root = NULL;
}

struct atomfs_node *atomfs_node_child(struct atomfs_node *dir, const char *name)
{
	size_t i;

	/* linear: the tree is sorted only once complete */
	for (i = 0; i < dir->nkids; i++)
		if (!strcmp(dir->kids[i]->name, name))
			return dir->kids[i];
	return NULL;
}

int atomfs_tree_insert(struct atomfs_tree *t, struct atomfs_node *parent,
		       struct atomfs_node *n)
{
	size_t i;

	n->parent = parent;
	for (i = 0; i < parent->nkids; i++) {
		struct atomfs_node *old = parent->kids[i];

		if (strcmp(old->name, n->name))
			continue;
		/* a directory replacing a directory keeps its contents (tar semantics) */
		if (S_ISDIR(old->mode) && S_ISDIR(n->mode)) {
			n->kids = old->kids;
			n->nkids = old->nkids;
			n->kids_cap = old->kids_cap;
			old->kids = NULL;
			old->nkids = 0;
			for (size_t k = 0; k < n->nkids; k++)
				n->kids[k]->parent = n;
		}
		/*
		 * The replaced entry is not freed until the tree is: other
		 * entries may hard-link to it (the inode outlives this name,
		 * as in a filesystem), and the block processor may still be
		 * writing its file inode through &old->inode.
		 */
		parent->kids[i] = n;
		old->parent = NULL;
		t->graveyard =
			xrealloc(t->graveyard,
				 (t->ngraveyard + 1) * sizeof(*t->graveyard));
		t->graveyard[t->ngraveyard++] = old;
		return 0;
	}
	if (parent->nkids == parent->kids_cap) {
		parent->kids_cap = parent->kids_cap ? parent->kids_cap * 2 : 8;
		parent->kids = xrealloc(
			parent->kids, parent->kids_cap * sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = n;
	t->nnodes++;
	return 0;
}

int atomfs_path_clean(const char *in, char **out)
{
	char *buf = xcalloc(1, strlen(in) + 1), *o = buf;
	const char *p = in;

	if (*p == '/') {
		free(buf);
		return -EPERM;
	}
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);

		if (len == 2 && !strncmp(p, "..", 2)) {
			free(buf);
			return -EPERM;
		}
		if (len && !(len == 1 && *p == '.')) {
			if (o != buf)
				*o++ = '/';
			memcpy(o, p, len);
			o += len;
		}
		p = *e ? e + 1 : e;
	}
	*o = '\0';
	*out = buf;
	return 0;
}

/*
 * Walk a clean relative path to its parent directory.  Missing parents
 * are created as 0755 directories when asked (tar archives may omit them).
 */
int atomfs_tree_lookup(struct atomfs_tree *t, const char *path,
		       bool create_parents, struct atomfs_node **parent,
		       const char **leaf)
{
	struct atomfs_node *dir = t->root;
	const char *p = path;

	for (;;) {
		const char *slash = strchr(p, '/');
		cleanup_free char *comp = NULL;
		struct atomfs_node *next;

		if (!slash)
			break;
		comp = strndup(p, (size_t)(slash - p));
		if (!comp)
			return -ENOMEM;
		next = atomfs_node_child(dir, comp);
		if (!next) {
			if (!create_parents)
				return -ENOENT;
			next = atomfs_node_new(comp, S_IFDIR | 0755);
			next->mtime = dir->mtime;
			atomfs_tree_insert(t, dir, next);
		} else if (!S_ISDIR(next->mode)) {
			return -ENOTDIR;
		}
		dir = next;
		p = slash + 1;
	}
	*parent = dir;
	*leaf = p;
	return 0;
}

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct atomfs_xattr *)a)->key,
		      ((const struct atomfs_xattr *)b)->key);
}

int atomfs_node_set_xattr(struct atomfs_node *n, const char *key,
			  const void *val, size_t size)
{
	struct atomfs_xattr *x;
	size_t i;

	for (i = 0; i < n->nxattrs; i++) {
		if (!strcmp(n->xattrs[i].key, key)) {
			free(n->xattrs[i].value);
			goto set;
		}
	}
	n->xattrs = xrealloc(n->xattrs, (n->nxattrs + 1) * sizeof(*n->xattrs));
	i = n->nxattrs++;
	n->xattrs[i].key = xstrdup(key);
set:
	x = &n->xattrs[i];
	x->value = xcalloc(1, size);
	memcpy(x->value, val, size);
	x->size = size;
	qsort(n->xattrs, n->nxattrs, sizeof(*n->xattrs), xattr_cmp);
	return 0;
}

static int node_cmp(const void *a, const void *b)
{
	const struct atomfs_node *x = *(struct atomfs_node *const *)a;
	const struct atomfs_node *y = *(struct atomfs_node *const *)b;

	/* squashfs requires byte-wise name order */
	return strcmp(x->name, y->name);
}

void atomfs_tree_sort(struct atomfs_node *dir)
{
	size_t i;

	if (dir->nkids > 1)
		qsort(dir->kids, dir->nkids, sizeof(*dir->kids), node_cmp);
	for (i = 0; i < dir->nkids; i++)
		if (S_ISDIR(dir->kids[i]->mode))
			atomfs_tree_sort(dir->kids[i]);
}

char *atomfs_node_path(const struct atomfs_node *n)
{
	char *p, *q;

	if (!n->parent)
		return xstrdup("/");
	p = xstrdup(n->name);
	for (n = n->parent; n->parent; n = n->parent) {
		q = xasprintf("%s/%s", n->name, p);
		free(p);
		p = q;
	}
	q = xasprintf("/%s", p);
	free(p);
	return q;
}
