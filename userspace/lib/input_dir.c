// SPDX-License-Identifier: LGPL-2.1-or-later
/* input_dir.c: a directory tree as a layer's input */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "input.h"
#include "internal.h"

/* (st_dev, st_ino) -> first node, for files with more than one link */
struct hl_map {
	struct hl_ent {
		dev_t dev;
		ino_t ino;
		struct atomfs_node *node;
	} * v;
	size_t n, cap;
};

static struct atomfs_node **hl_slot(struct hl_map *m, dev_t dev, ino_t ino)
{
	size_t i, mask;

	if (m->n * 2 >= m->cap) {
		struct hl_ent *old = m->v;
		size_t oldcap = m->cap;

		m->cap = m->cap ? m->cap * 2 : 64;
		m->v = xcalloc(m->cap, sizeof(*m->v));
		m->n = 0;
		for (i = 0; i < oldcap; i++)
			if (old[i].node)
				*hl_slot(m, old[i].dev, old[i].ino) =
					old[i].node;
		free(old);
	}
	mask = m->cap - 1;
	for (i = (size_t)(ino * 0x9E3779B97F4A7C15ull ^ dev) & mask;;
	     i = (i + 1) & mask) {
		if (!m->v[i].node) {
			m->v[i].dev = dev;
			m->v[i].ino = ino;
			m->n++;
			return &m->v[i].node;
		}
		if (m->v[i].dev == dev && m->v[i].ino == ino)
			return &m->v[i].node;
	}
}

struct walk {
	const struct atomfs_input_opts *o;
	struct atomfs_tree *t;
	struct hl_map hl;
};

static int read_xattrs(struct walk *wk, const char *path, struct atomfs_node *n)
{
	cleanup_free char *names = NULL;
	cleanup_free char *val = NULL;
	ssize_t len, vlen;
	size_t vcap = 0;
	char *k;

	len = llistxattr(path, NULL, 0);
	if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
		return 0;
	if (len < 0)
		return atomfs_err(errno, "cannot list xattrs of %s: %m", path);
	if (!len)
		return 0;
	names = xcalloc(1, (size_t)len + 1);
	len = llistxattr(path, names, (size_t)len);
	if (len < 0)
		return atomfs_err(errno, "cannot list xattrs of %s: %m", path);
	for (k = names; k < names + len; k += strlen(k) + 1) {
		if (!atomfs_sqfs_xattr_supported(k)) {
			if (wk->o->strict)
				return atomfs_err(
					ENOTSUP,
					"%s has xattr %s, which squashfs cannot store (only user., trusted. and security.); remove it or build without --strict",
					path, k);
			atomfs_warn(
				"%s: xattr %s not stored: squashfs keeps only user., trusted. and security. xattrs (POSIX ACLs are lost)",
				path, k);
			continue;
		}
		vlen = lgetxattr(path, k, NULL, 0);
		if (vlen < 0)
			return atomfs_err(errno,
					  "cannot read xattr %s of %s: %m", k,
					  path);
		if ((size_t)vlen + 1 > vcap) {
			vcap = (size_t)vlen + 1;
			val = xrealloc(val, vcap);
		}
		vlen = lgetxattr(path, k, val, vcap);
		if (vlen < 0)
			return atomfs_err(errno,
					  "cannot read xattr %s of %s: %m", k,
					  path);
		atomfs_node_set_xattr(n, k, val, (size_t)vlen);
	}
	return 0;
}

static int fill_node(struct walk *wk, const char *path, const struct stat *st,
		     struct atomfs_node *n)
{
	n->mode = st->st_mode;
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->mtime = atomfs_mtime_clamp(st->st_mtim.tv_sec);
	if (n->mtime != st->st_mtim.tv_sec) {
		if (wk->o->strict)
			return atomfs_err(
				EBADMSG,
				"%s has mtime %lld, outside what squashfs can store (1970 to 2106); touch it or build without --strict to clamp it",
				path, (long long)st->st_mtim.tv_sec);
		atomfs_warn(
			"%s has mtime %lld, outside what squashfs can store (1970 to 2106): stored as %lld",
			path, (long long)st->st_mtim.tv_sec,
			(long long)n->mtime);
	}
	if (S_ISBLK(st->st_mode) || S_ISCHR(st->st_mode))
		n->rdev = st->st_rdev;
	if (S_ISLNK(st->st_mode)) {
		cleanup_free char *buf = xcalloc(1, (size_t)st->st_size + 2);
		ssize_t l = readlink(path, buf, (size_t)st->st_size + 1);

		if (l < 0)
			return atomfs_err(errno, "cannot read symlink %s: %m",
					  path);
		buf[l] = '\0';
		n->symlink = steal_pointer(&buf);
	}
	if (S_ISREG(st->st_mode)) {
		n->size = (uint64_t)st->st_size;
		n->src = xstrdup(path);
	}
	return read_xattrs(wk, path, n);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walk *wk, const char *path, struct atomfs_node *dir)
{
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int err = 0;

	d = opendir(path);
	if (!d)
		return atomfs_err(errno, "cannot open directory %s: %m", path);
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	if (errno)
		err = atomfs_err(errno, "cannot read directory %s: %m", path);
	closedir(d);
	/* walk in name order so hard link owners are chosen the same way every time */
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; !err && i < n; i++) {
		cleanup_free char *p = path_join(path, names[i]);
		struct atomfs_node *k;
		struct stat st;

		if (lstat(p, &st) < 0) {
			err = atomfs_err(errno, "cannot stat %s: %m", p);
			break;
		}
		k = atomfs_node_new(names[i], st.st_mode);
		atomfs_tree_insert(wk->t, dir, k);
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
			struct atomfs_node **slot =
				hl_slot(&wk->hl, st.st_dev, st.st_ino);

			if (*slot) {
				k->link = *slot;
				continue;
			}
			*slot = k;
		}
		err = fill_node(wk, p, &st, k);
		if (!err && S_ISDIR(st.st_mode))
			err = walk_dir(wk, p, k);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

int atomfs_input_dir(const char *dir, const struct atomfs_input_opts *o,
		     struct atomfs_tree *t)
{
	struct walk wk = { .o = o, .t = t };
	struct stat st;
	int err;

	if (stat(dir, &st) < 0)
		return atomfs_err(errno, "cannot use %s as a layer: %m", dir);
	if (!S_ISDIR(st.st_mode))
		return atomfs_err(ENOTDIR, "%s is not a directory", dir);
	err = fill_node(&wk, dir, &st, t->root);
	if (!err)
		err = walk_dir(&wk, dir, t->root);
	free(wk.hl.v);
	return err;
}
