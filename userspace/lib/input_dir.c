// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * input_dir.c: a directory tree as a layer's input
 *
 * The tree may change while we read it, and may belong to someone else:
 * a file swapped for a symlink between the walk and the read must not
 * bring a file from outside the tree into the layer.  So nothing is
 * opened by a joined path: each directory is opened below the tree's
 * root fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) and checked
 * (fstat) to be the directory its parent listed; entries are looked at
 * relative to that fd; file data, read later (squashfs.c), goes through
 * atomfs_src_open(), which checks the inode is still the one listed.
 * The walk is iterative and holds one directory fd at a time, however
 * deep the tree.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* NULL when the map must grow and memory runs out (the map is unchanged) */
static struct atomfs_node **hl_slot(struct hl_map *m, dev_t dev, ino_t ino)
{
	size_t i, mask;

	if (m->n * 2 >= m->cap) {
		struct hl_ent *old = m->v;
		size_t oldcap = m->cap, cap = m->cap ? m->cap * 2 : 64;
		struct hl_ent *v = calloc(cap, sizeof(*v));

		if (!v)
			return NULL;
		m->v = v;
		m->cap = cap;
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

/* a directory listed but not read yet */
struct pending {
	char *rel; /* below the root; "" for the root */
	dev_t dev;
	ino_t ino;
	struct atomfs_node *node;
};

struct walk {
	const struct atomfs_input_opts *o;
	struct atomfs_tree *t;
	struct hl_map hl;
	bool proc; /* /proc/self/fd works: xattrs of an entry of a held dir */
	struct pending *todo;
	size_t ntodo, todo_cap;
};

/*
 * rel below rootfd, never through a symlink or out of the tree.  The
 * last component is not followed either (O_NOFOLLOW makes that ELOOP).
 */
static int open_beneath(int rootfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	int fd, tries = 0;

	do /* EAGAIN: a rename raced with the lookup */
		fd = (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how,
				  sizeof(how));
	while (fd < 0 && errno == EAGAIN && ++tries < 16);
	return fd;
}

/* the message for a failed open_beneath() of shown */
static int open_err(const char *shown, const char *what)
{
	if (errno == ENOSYS)
		return atomfs_err(
			ENOSYS,
			"cannot open %s: building from a directory needs openat2() (Linux 5.6 or later)",
			shown);
	if (errno == ELOOP || errno == EXDEV)
		return atomfs_err(
			EAGAIN,
			"%s changed while the layer was built: it is now reached through a symlink; build again from a stable tree",
			shown);
	return atomfs_err(errno, "cannot open %s %s: %m", what, shown);
}

int atomfs_src_open(const struct atomfs_tree *t, const struct atomfs_node *n,
		    char **shown)
{
	struct stat st;
	int fd;

	*shown = atomfs_join(t->src_dir ? t->src_dir : "", n->src);
	if (!*shown)
		return atomfs_enomem();
	if (t->src_fd < 0)
		return atomfs_err(EINVAL, "internal: %s has no directory",
				  *shown);
	/* O_NONBLOCK: a FIFO put in the file's place must not hang us */
	fd = open_beneath(t->src_fd, n->src, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return open_err(*shown, "file");
	if (fstat(fd, &st) < 0) {
		int err = atomfs_err(errno, "cannot stat %s: %m", *shown);

		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || st.st_dev != n->src_dev ||
	    st.st_ino != n->src_ino) {
		close(fd);
		return atomfs_err(
			EAGAIN,
			"%s changed while the layer was built: it is no longer the file that was listed; build again from a stable tree",
			*shown);
	}
	return fd;
}

/* overlayfs's own xattrs in an upper directory, except the opaque mark */
static bool overlay_bookkeeping(const char *k)
{
	const char *rest = str_has_prefix(k, "trusted.overlay.") ? k + 16 :
			   str_has_prefix(k, "user.overlay.")	 ? k + 13 :
								   NULL;

	return rest && strcmp(rest, "opaque");
}

/*
 * xattrs of an entry: by fd for the root, else by the entry's name below
 * its held directory (/proc/self/fd/DFD/NAME, l*xattr: the name itself is
 * not followed), or, without /proc, by its joined path.
 */
static int read_xattrs(struct walk *wk, const char *shown, int fd,
		       const char *at, struct atomfs_node *n)
{
	cleanup_free char *names = NULL;
	cleanup_free struct atomfs_xattr *v = NULL;
	size_t count = 0, i;
	ssize_t len, vlen;
	int err = 0;
	char *k;

	len = at ? llistxattr(at, NULL, 0) : flistxattr(fd, NULL, 0);
	if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
		return 0;
	if (len < 0)
		return atomfs_err(errno, "cannot list xattrs of %s: %m", shown);
	if (!len)
		return 0;
	names = calloc(1, (size_t)len + 1);
	if (!names)
		return atomfs_enomem();
	len = at ? llistxattr(at, names, (size_t)len) :
		   flistxattr(fd, names, (size_t)len);
	if (len < 0)
		return atomfs_err(errno, "cannot list xattrs of %s: %m", shown);
	v = calloc((size_t)len, sizeof(*v));
	if (!v)
		return atomfs_enomem();
	for (k = names; !err && k < names + len; k += strlen(k) + 1) {
		int acl = atomfs_acl_xattr_type(k);

		if (wk->o->overlay_upper && overlay_bookkeeping(k))
			continue;
		if (str_has_prefix(k, ATOMFS_XATTR_RESERVED)) {
			/* the layer format's own names: made from system. ACLs */
			if (wk->o->strict) {
				err = atomfs_err(
					EPERM,
					"%s has xattr %s; the trusted.atomfs. names are reserved for the layer format; remove it or build without --strict",
					shown, k);
				break;
			}
			atomfs_warn(
				"%s: xattr %s not stored: trusted.atomfs. names are reserved for the layer format",
				shown, k);
			continue;
		}
		if (acl < 0 && !atomfs_sqfs_xattr_supported(k)) {
			if (wk->o->strict) {
				err = atomfs_err(
					ENOTSUP,
					"%s has xattr %s, which squashfs cannot store (only user., trusted. and security., and POSIX ACLs); remove it or build without --strict",
					shown, k);
				break;
			}
			atomfs_warn(
				"%s: xattr %s not stored: squashfs keeps only user., trusted. and security. xattrs (and atomfs POSIX ACLs)",
				shown, k);
			continue;
		}
		vlen = at ? lgetxattr(at, k, NULL, 0) :
			    fgetxattr(fd, k, NULL, 0);
		if (vlen >= 0) {
			v[count].value = calloc(1, (size_t)vlen + 1);
			if (!v[count].value) {
				err = atomfs_enomem();
				break;
			}
			vlen = at ? lgetxattr(at, k, v[count].value,
					      (size_t)vlen + 1) :
				    fgetxattr(fd, k, v[count].value,
					      (size_t)vlen + 1);
		}
		if (vlen < 0) {
			err = atomfs_err(errno,
					 "cannot read xattr %s of %s: %m", k,
					 shown);
			free(v[count].value);
			break;
		}
		if (acl >= 0) {
			/* the kernel's value is already the stored format */
			err = atomfs_node_set_acl_xattr(n, acl, v[count].value,
							(size_t)vlen);
			free(v[count].value);
			v[count].value = NULL;
			if (err == -ENOMEM)
				err = atomfs_enomem();
			else if (err < 0)
				err = atomfs_err(
					-err,
					"%s: %s is not a valid POSIX ACL (%zd bytes); fix it with setfacl",
					shown, k, vlen);
			else if (err > 0) {
				wk->t->nacl++;
				err = 0;
			}
			continue;
		}
		v[count].key = k;
		v[count++].size = (size_t)vlen;
	}
	if (!err && atomfs_node_add_xattrs(n, v, count))
		err = atomfs_enomem();
	for (i = 0; i < count; i++)
		free(v[i].value);
	return err;
}

/* n's metadata from st; dfd/name: where it is (dfd < 0: n is the root, at fd) */
static int fill_node(struct walk *wk, const char *shown, int fd, int dfd,
		     const char *name, const char *rel, const struct stat *st,
		     struct atomfs_node *n)
{
	cleanup_free char *at = NULL;

	n->mode = st->st_mode;
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->mtime = atomfs_mtime_clamp(st->st_mtim.tv_sec);
	if (n->mtime != st->st_mtim.tv_sec) {
		if (wk->o->strict)
			return atomfs_err(
				EBADMSG,
				"%s has mtime %lld, outside what squashfs can store (1970 to 2106); touch it or build without --strict to clamp it",
				shown, (long long)st->st_mtim.tv_sec);
		atomfs_warn(
			"%s has mtime %lld, outside what squashfs can store (1970 to 2106): stored as %lld",
			shown, (long long)st->st_mtim.tv_sec,
			(long long)n->mtime);
	}
	if (S_ISBLK(st->st_mode) || S_ISCHR(st->st_mode))
		n->rdev = st->st_rdev;
	if (S_ISLNK(st->st_mode)) {
		cleanup_free char *buf = calloc(1, (size_t)st->st_size + 2);
		ssize_t l;

		if (!buf)
			return atomfs_enomem();
		l = readlinkat(dfd, name, buf, (size_t)st->st_size + 1);
		if (l < 0)
			return atomfs_err(errno, "cannot read symlink %s: %m",
					  shown);
		if (l > st->st_size)
			return atomfs_err(
				EAGAIN,
				"%s changed while the layer was built; build again from a stable tree",
				shown);
		buf[l] = '\0';
		n->symlink = steal_pointer(&buf);
	}
	if (S_ISREG(st->st_mode)) {
		n->size = (uint64_t)st->st_size;
		n->src = strdup(rel);
		if (!n->src)
			return atomfs_enomem();
		n->src_dev = st->st_dev;
		n->src_ino = st->st_ino;
	}
	if (dfd < 0)
		return read_xattrs(wk, shown, fd, NULL, n);
	at = wk->proc ? atomfs_asprintf("/proc/self/fd/%d/%s", dfd, name) :
			strdup(shown);
	if (!at)
		return atomfs_enomem();
	return read_xattrs(wk, shown, -1, at, n);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* an error from atomfs_tree_insert() for shown (maybe a very long path) */
static int insert_err(int err, struct walk *wk, const char *shown)
{
	const int show = 200;
	const char *more = strlen(shown) > (size_t)show ? "..." : "";

	switch (err) {
	case -ELOOP:
		return atomfs_err(
			E2BIG,
			"%.*s%s lies more than %u directories deep; atomfs refuses deeper trees",
			show, shown, more, wk->t->max_depth);
	case -E2BIG:
		return atomfs_err(
			E2BIG,
			"%.*s%s: the tree has more than %zu entries; atomfs refuses larger layers: split the layer",
			show, shown, more, wk->t->max_nodes);
	case -ENAMETOOLONG:
		return atomfs_err(
			E2BIG,
			"%.*s%s: a name longer than %d bytes, which squashfs cannot store",
			show, shown, more, ATOMFS_NAME_MAX);
	}
	return atomfs_err(-err, "%.*s%s: %s", show, shown, more,
			  strerror(-err));
}

/* takes rel (freed on -ENOMEM) */
static int todo_push(struct walk *wk, char *rel, const struct stat *st,
		     struct atomfs_node *node)
{
	if (!rel)
		return atomfs_enomem();
	if (wk->ntodo == wk->todo_cap) {
		size_t cap = wk->todo_cap ? 2 * wk->todo_cap : 64;
		struct pending *v = realloc(wk->todo, cap * sizeof(*v));

		if (!v) {
			free(rel);
			return atomfs_enomem();
		}
		wk->todo = v;
		wk->todo_cap = cap;
	}
	wk->todo[wk->ntodo++] = (struct pending){
		.rel = rel, .dev = st->st_dev, .ino = st->st_ino, .node = node
	};
	return 0;
}

/* list one directory: its entries become nodes, its subdirectories pending */
static int read_dir(struct walk *wk, const struct pending *p)
{
	const char *root = wk->t->src_dir;
	cleanup_free char *shown = *p->rel ? atomfs_join(root, p->rel) :
					     strdup(root);
	char **names = NULL;
	size_t n = 0, cap = 0, i, first = wk->ntodo;
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	int dfd, fd2, err = 0;

	if (!shown)
		return atomfs_enomem();
	dfd = open_beneath(wk->t->src_fd, p->rel, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return open_err(shown, "directory");
	if (fstat(dfd, &st) < 0) {
		err = atomfs_err(errno, "cannot stat %s: %m", shown);
		goto out;
	}
	if (st.st_dev != p->dev || st.st_ino != p->ino) {
		err = atomfs_err(
			EAGAIN,
			"%s changed while the layer was built: it is no longer the directory that was listed; build again from a stable tree",
			shown);
		goto out;
	}
	fd2 = dup(dfd);
	d = fd2 < 0 ? NULL : fdopendir(fd2);
	if (!d) {
		err = atomfs_err(errno, "cannot open directory %s: %m", shown);
		if (fd2 >= 0)
			close(fd2);
		goto out;
	}
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 32;
			char **v = realloc(names, c * sizeof(*names));

			if (!v)
				break;
			names = v;
			cap = c;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			break;
		n++;
	}
	if (de)
		err = atomfs_enomem(); /* stopped early: out of memory */
	else if (errno)
		err = atomfs_err(errno, "cannot read directory %s: %m", shown);
	closedir(d);
	/* name order, so hard link owners are chosen the same way every time */
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; !err && i < n; i++) {
		cleanup_free char *rel = *p->rel ?
						 atomfs_join(p->rel, names[i]) :
						 strdup(names[i]);
		cleanup_free char *kshown = rel ? atomfs_join(root, rel) : NULL;
		struct atomfs_node *k;

		if (!kshown) {
			err = atomfs_enomem();
			break;
		}
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			err = atomfs_err(errno, "cannot stat %s: %m", kshown);
			break;
		}
		k = atomfs_node_new(names[i], st.st_mode);
		if (!k) {
			err = atomfs_enomem();
			break;
		}
		err = atomfs_tree_insert(wk->t, p->node, k);
		if (err) {
			atomfs_node_free(k);
			err = insert_err(err, wk, kshown);
			break;
		}
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
			struct atomfs_node **slot =
				hl_slot(&wk->hl, st.st_dev, st.st_ino);

			if (!slot) {
				err = atomfs_enomem();
				break;
			}
			if (*slot) {
				k->link = *slot;
				continue;
			}
			*slot = k;
		}
		err = fill_node(wk, kshown, -1, dfd, names[i], rel, &st, k);
		if (!err && S_ISDIR(st.st_mode))
			err = todo_push(wk, steal_pointer(&rel), &st, k);
	}
	/* subdirectories are read in name order, each before the next
	 * sibling's (a depth-first walk, as the recursive one was) */
	for (i = first; i < (first + wk->ntodo) / 2; i++) {
		struct pending tmp = wk->todo[i];
		size_t j = wk->ntodo - 1 - (i - first);

		wk->todo[i] = wk->todo[j];
		wk->todo[j] = tmp;
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	close(dfd);
	return err;
}

int atomfs_input_dir(const char *dir, const struct atomfs_input_opts *o,
		     struct atomfs_tree *t)
{
	struct walk wk = { .o = o, .t = t };
	struct stat st;
	int fd, err = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOTDIR)
		return atomfs_err(ENOTDIR, "%s is not a directory", dir);
	if (fd < 0)
		return atomfs_err(errno, "cannot use %s as a layer: %m", dir);
	if (fstat(fd, &st) < 0) {
		err = atomfs_err(errno, "cannot stat %s: %m", dir);
		close(fd);
		return err;
	}
	if (t->src_fd >= 0)
		close(t->src_fd);
	free(t->src_dir);
	t->src_fd = fd;
	t->src_dir = strdup(dir);
	if (!t->src_dir)
		return atomfs_enomem();
	wk.proc = access("/proc/self/fd", X_OK) == 0;
	err = fill_node(&wk, dir, fd, -1, NULL, "", &st, t->root);
	if (!err)
		err = todo_push(&wk, strdup(""), &st, t->root);
	while (wk.ntodo) {
		struct pending p = wk.todo[--wk.ntodo];

		if (!err)
			err = read_dir(&wk, &p);
		free(p.rel);
	}
	free(wk.todo);
	free(wk.hl.v);
	return err;
}
