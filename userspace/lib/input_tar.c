// SPDX-License-Identifier: LGPL-2.1-or-later
/* input_tar.c: a tar archive (.tar, .tar.gz, .tar.zst, .tar.xz...) as a layer's input */
#include <limits.h>
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "input.h"
#include "internal.h"

#define OPAQUE_XATTR "trusted.overlay.opaque"
/*
 * Holes of sparse members are written as zeros (libsquashfs finds the
 * zero blocks and stores them sparse): time linear in the declared size,
 * which a few bytes of tar header can make huge.  This caps it at
 * roughly half a minute per layer.
 */
#define TAR_MAX_HOLE_BYTES (64ull << 30)
/* how much of a hostile member name goes into a message */
#define SHOW 200

/* what one archive has cost so far */
struct tar_state {
	const char *path;
	const struct atomfs_input_opts *o;
	struct atomfs_tree *t;
	struct atomfs_sqfs *w;
	uint64_t holes; /* bytes of holes written as zeros */
	size_t clamped; /* members whose mtime squashfs cannot store */
};

static int tar_err(struct archive *a, const char *path, const char *what)
{
	const char *msg = archive_error_string(a);

	return atomfs_err(
		EBADMSG,
		"%s is not a readable tar archive (%s: %s); check the file is complete and not corrupt",
		path, what, msg ? msg : "unknown error");
}

static int holes_err(struct tar_state *st, const char *member,
		     struct atomfs_node *n)
{
	return atomfs_err(
		E2BIG,
		"%s: member '%.*s%s' is a sparse file of %llu bytes; with it the layer holds more than %llu bytes of holes, which atomfs refuses (writing them costs time): remove the file or make it smaller",
		st->path, SHOW, member, strlen(member) > SHOW ? "..." : "",
		(unsigned long long)n->size,
		(unsigned long long)TAR_MAX_HOLE_BYTES);
}

/* zeros for a hole from pos to end, counted against the layer's limit */
static int feed_hole(struct tar_state *st, const char *member,
		     struct atomfs_node *n, uint64_t *pos, uint64_t end)
{
	static const char zeros[65536];
	int err = 0;

	if (end <= *pos)
		return 0;
	if (end - *pos > TAR_MAX_HOLE_BYTES - st->holes)
		return holes_err(st, member, n);
	st->holes += end - *pos;
	while (*pos < end && !err) {
		size_t z = end - *pos > sizeof(zeros) ? sizeof(zeros) :
							(size_t)(end - *pos);

		err = atomfs_sqfs_file_append(st->w, zeros, z);
		*pos += z;
	}
	return err;
}

static int feed_data(struct archive *a, struct tar_state *st,
		     const char *member, struct atomfs_node *n)
{
	const char *path = st->path;
	struct atomfs_sqfs *w = st->w;
	uint64_t pos = 0;
	int err, r;

	err = atomfs_sqfs_file_begin(w, n);
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;

		if (err)
			return err;
		r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return tar_err(a, path, member);
		if (off < 0 || (uint64_t)off < pos || (uint64_t)off > n->size ||
		    len > n->size - (uint64_t)off) {
			err = atomfs_err(
				EBADMSG,
				"%s: member %s has data outside its declared size; the archive is corrupt",
				path, member);
			break;
		}
		/* sparse members: the gaps are zeros (squashfs stores them as sparse blocks) */
		err = feed_hole(st, member, n, &pos, (uint64_t)off);
		if (!err && len)
			err = atomfs_sqfs_file_append(w, buf, len);
		pos += len;
	}
	if (!err)
		err = feed_hole(st, member, n, &pos, n->size);
	if (err)
		return err;
	if (pos != n->size)
		return atomfs_err(
			EBADMSG,
			"%s: member %s holds %llu bytes but its header says %llu; the archive is corrupt",
			path, member, (unsigned long long)pos,
			(unsigned long long)n->size);
	return atomfs_sqfs_file_end(w);
}

static int add_xattrs(struct tar_state *st, struct archive_entry *e,
		      const char *member, struct atomfs_node *n)
{
	const struct atomfs_input_opts *o = st->o;
	const char *path = st->path;
	cleanup_free struct atomfs_xattr *v = NULL;
	size_t count = 0, cap = 0, names = 0;
	const char *name;
	const void *val;
	size_t size;
	int acl, err;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
		acl = atomfs_acl_xattr_type(name);
		if (acl >= 0) {
			/* SCHILY.xattr.system.posix_acl_*: the value is the format */
			err = atomfs_node_set_acl_xattr(n, acl, val, size);
			if (err == -ENOMEM)
				return atomfs_enomem();
			if (err < 0)
				return atomfs_err(
					EBADMSG,
					"%s: member '%s' has xattr %s that is not a valid POSIX ACL",
					path, member, name);
			st->t->nacl += (size_t)err;
			continue;
		}
		if (str_has_prefix(name, ATOMFS_XATTR_RESERVED)) {
			if (o->strict)
				return atomfs_err(
					EPERM,
					"%s: member %s has xattr %s; the trusted.atomfs. names are reserved for the layer format; build without --strict to drop it",
					path, member, name);
			atomfs_warn(
				"%s: %s: xattr %s not stored: trusted.atomfs. names are reserved for the layer format",
				path, member, name);
			continue;
		}
		if (!atomfs_sqfs_xattr_supported(name)) {
			if (o->strict)
				return atomfs_err(
					ENOTSUP,
					"%s: member %s has xattr %s, which squashfs cannot store; build without --strict to drop it",
					path, member, name);
			atomfs_warn(
				"%s: %s: xattr %s not stored: squashfs keeps only user., trusted. and security. xattrs",
				path, member, name);
			continue;
		}
		/* what Linux can list and read back (and a bound on our work) */
		names += strlen(name) + 1;
		if (names > ATOMFS_XATTR_LIST_MAX)
			return atomfs_err(
				E2BIG,
				"%s: member '%s' has more xattrs than Linux can list (names over %d bytes)",
				path, member, ATOMFS_XATTR_LIST_MAX);
		if (size > ATOMFS_XATTR_SIZE_MAX)
			return atomfs_err(
				E2BIG,
				"%s: member '%s' has xattr %s of %zu bytes; Linux xattr values hold at most %d",
				path, member, name, size,
				ATOMFS_XATTR_SIZE_MAX);
		if (count == cap) {
			size_t c = cap ? 2 * cap : 8;
			struct atomfs_xattr *nv = realloc(v, c * sizeof(*v));

			if (!nv)
				return atomfs_enomem();
			v = nv;
			cap = c;
		}
		v[count++] = (struct atomfs_xattr){
			.key = (char *)(uintptr_t)name,
			.value = (void *)(uintptr_t)val,
			.size = size,
		};
	}
	return atomfs_node_add_xattrs(n, v, count) ? atomfs_enomem() : 0;
}

/* an error from atomfs_tree_lookup() or atomfs_tree_insert(), explained */
static int tree_err(int err, struct tar_state *st, const char *member)
{
	const char *more = strlen(member) > SHOW ? "..." : "";

	switch (err) {
	case -ENOMEM:
		return atomfs_enomem();
	case -ENOTDIR:
		return atomfs_err(
			EBADMSG,
			"%s: member %s lies below something that is not a directory; the archive is malformed",
			st->path, member);
	case -ENAMETOOLONG:
		return atomfs_err(
			E2BIG,
			"%s: member '%.*s%s' has a name longer than %d bytes, which squashfs cannot store; shorten it",
			st->path, SHOW, member, more, ATOMFS_NAME_MAX);
	case -ELOOP:
		return atomfs_err(
			E2BIG,
			"%s: member '%.*s%s' lies more than %u directories deep; atomfs refuses deeper trees",
			st->path, SHOW, member, more, st->t->max_depth);
	case -E2BIG:
		return atomfs_err(
			E2BIG,
			"%s: more than %zu entries (at member '%.*s%s'); atomfs refuses larger layers: split the layer",
			st->path, st->t->max_nodes, SHOW, member, more);
	}
	return atomfs_err(-err, "%s: member %.*s%s: %s", st->path, SHOW, member,
			  more, strerror(-err));
}

/* insert n, or free it and explain */
static int insert(struct tar_state *st, const char *member,
		  struct atomfs_node *parent, struct atomfs_node *n)
{
	int err = atomfs_tree_insert(st->t, parent, n);

	if (err) {
		atomfs_node_free(n);
		return tree_err(err, st, member);
	}
	return 0;
}

/*
 * Owner and mtime, checked: squashfs stores 32-bit ids and an unsigned
 * 32-bit mtime, and a silently truncated uid 2^32 would make a setuid
 * file owned by root.  Ids out of range are refused; mtimes are clamped
 * to 1970..2106 with a warning (refused with --strict).
 */
static int set_meta(struct tar_state *st, struct archive_entry *e,
		    const char *member, struct atomfs_node *n)
{
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	int64_t mtime = archive_entry_mtime(e);

	if (uid < 0 || uid > ATOMFS_ID_MAX || gid < 0 || gid > ATOMFS_ID_MAX)
		return atomfs_err(
			EBADMSG,
			"%s: member '%s' has owner %lld:%lld, outside the ids Linux can store (0 to %lld); refusing it rather than truncating it (uid 4294967296 would become root): fix the archive",
			st->path, member, (long long)uid, (long long)gid,
			ATOMFS_ID_MAX);
	n->uid = (uint32_t)uid;
	n->gid = (uint32_t)gid;
	n->mtime = atomfs_mtime_clamp(mtime);
	if (n->mtime == mtime)
		return 0;
	if (st->o->strict)
		return atomfs_err(
			EBADMSG,
			"%s: member '%s' has mtime %lld, outside what squashfs can store (0 to %lld, 1970 to 2106); build without --strict to clamp it",
			st->path, member, (long long)mtime, ATOMFS_MTIME_MAX);
	if (!st->clamped++)
		atomfs_warn(
			"%s: member '%s' has mtime %lld, outside what squashfs can store (1970 to 2106): stored as %lld",
			st->path, member, (long long)mtime,
			(long long)n->mtime);
	return 0;
}

/* libarchive's tags and permissions as the xattr format's */
static int acl_entry_from_archive(int tag, int permset, int qual,
				  struct atomfs_acl_entry *out)
{
	static const struct {
		int archive;
		uint16_t tag;
	} tags[] = {
		{ ARCHIVE_ENTRY_ACL_USER_OBJ, ATOMFS_ACL_USER_OBJ },
		{ ARCHIVE_ENTRY_ACL_USER, ATOMFS_ACL_USER },
		{ ARCHIVE_ENTRY_ACL_GROUP_OBJ, ATOMFS_ACL_GROUP_OBJ },
		{ ARCHIVE_ENTRY_ACL_GROUP, ATOMFS_ACL_GROUP },
		{ ARCHIVE_ENTRY_ACL_MASK, ATOMFS_ACL_MASK },
		{ ARCHIVE_ENTRY_ACL_OTHER, ATOMFS_ACL_OTHER },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tags); i++)
		if (tags[i].archive == tag)
			break;
	if (i == ARRAY_SIZE(tags))
		return -EINVAL;
	/* libarchive's "no id", and INT_MAX: larger ids are capped there */
	if ((tags[i].tag == ATOMFS_ACL_USER ||
	     tags[i].tag == ATOMFS_ACL_GROUP) &&
	    (qual < 0 || qual == INT_MAX))
		return -EINVAL;
	*out = (struct atomfs_acl_entry){
		.tag = tags[i].tag,
		.perm = (uint16_t)(((permset & ARCHIVE_ENTRY_ACL_READ) ? 4 :
									 0) |
				   ((permset & ARCHIVE_ENTRY_ACL_WRITE) ? 2 :
									  0) |
				   ((permset & ARCHIVE_ENTRY_ACL_EXECUTE) ? 1 :
									    0)),
		.id = (uint32_t)qual,
	};
	return 0;
}

/*
 * One type of POSIX.1e ACL (pax SCHILY.acl.*, which libarchive reads apart
 * from the xattrs) stored on n in the layer format.  libarchive gives the
 * entries parsed; for an access ACL it makes the three base entries from
 * the mode.
 */
static int add_acl(struct tar_state *st, struct archive_entry *e,
		   const char *member, struct atomfs_node *n, int type)
{
	int want = type == ATOMFS_ACL_TYPE_ACCESS ?
			   ARCHIVE_ENTRY_ACL_TYPE_ACCESS :
			   ARCHIVE_ENTRY_ACL_TYPE_DEFAULT;
	cleanup_free struct atomfs_acl_entry *v = NULL;
	int count, i = 0, etype, permset, tag, qual, err;
	const char *name;

	count = archive_entry_acl_reset(e, want);
	if (count <= 0 || count > ATOMFS_ACL_MAX_ENTRIES)
		return count > 0 ?
			       atomfs_err(
				       E2BIG,
				       "%s: member '%s' has an ACL of %d entries; Linux holds at most %d",
				       st->path, member, count,
				       ATOMFS_ACL_MAX_ENTRIES) :
			       0;
	v = calloc((size_t)count, sizeof(*v));
	if (!v)
		return atomfs_enomem();
	while (i < count &&
	       archive_entry_acl_next(e, want, &etype, &permset, &tag, &qual,
				      &name) == ARCHIVE_OK) {
		if ((tag == ARCHIVE_ENTRY_ACL_USER ||
		     tag == ARCHIVE_ENTRY_ACL_GROUP) &&
		    qual < 0 && name)
			return atomfs_err(
				EBADMSG,
				"%s: member '%s' has an ACL entry for %s '%s' without a numeric id (GNU tar writes names only); a layer stores ids, and this host's names are not the image's: make the tar with bsdtar (which writes both), or numeric ids",
				st->path, member,
				tag == ARCHIVE_ENTRY_ACL_USER ? "user" :
								"group",
				name);
		if ((tag == ARCHIVE_ENTRY_ACL_USER ||
		     tag == ARCHIVE_ENTRY_ACL_GROUP) &&
		    qual == INT_MAX)
			return atomfs_err(
				EBADMSG,
				"%s: member '%s' has an ACL entry with an id of 2^31-1 or more, which libarchive cannot give exactly; ids up to 2^31-2 are supported here",
				st->path, member);
		if (acl_entry_from_archive(tag, permset, qual, &v[i]))
			return atomfs_err(
				EBADMSG,
				"%s: member '%s' has an ACL entry atomfs cannot read (tag %d, id %d)",
				st->path, member, tag, qual);
		i++;
	}
	err = atomfs_node_set_acl(n, type, v, (size_t)i);
	if (err == -ENOMEM)
		return atomfs_enomem();
	if (err < 0)
		return atomfs_err(
			EBADMSG,
			"%s: member '%s' has a %s ACL that is not valid on Linux (a base entry missing or repeated, or a name twice)",
			st->path, member,
			type == ATOMFS_ACL_TYPE_ACCESS ? "access" : "default");
	st->t->nacl += (size_t)err;
	return 0;
}

/* POSIX.1e ACLs are kept (see "POSIX ACLs" in image-format.rst); NFSv4 ones cannot be */
static int add_acls(struct tar_state *st, struct archive_entry *e,
		    const char *member, struct atomfs_node *n)
{
	int err;

	if (archive_entry_acl_count(e, ARCHIVE_ENTRY_ACL_TYPE_NFS4) > 0) {
		if (st->o->strict)
			return atomfs_err(
				ENOTSUP,
				"%s: member '%s' has NFSv4 ACLs, which Linux filesystems and atomfs layers cannot hold; build without --strict to drop them",
				st->path, member);
		atomfs_warn(
			"%s: %s: NFSv4 ACLs not stored: atomfs layers keep POSIX ACLs only",
			st->path, member);
	}
	err = add_acl(st, e, member, n, ATOMFS_ACL_TYPE_ACCESS);
	if (!err && S_ISDIR(n->mode))
		err = add_acl(st, e, member, n, ATOMFS_ACL_TYPE_DEFAULT);
	return err;
}

static bool is_opaque(const struct atomfs_node *n)
{
	size_t i;

	for (i = 0; i < n->nxattrs; i++)
		if (!strcmp(n->xattrs[i].key, OPAQUE_XATTR))
			return n->xattrs[i].size == 1 &&
			       *(const char *)n->xattrs[i].value == 'y';
	return false;
}

/*
 * n is this layer's own content (not a whiteout, not an implicit parent),
 * and so is every directory above it.  Each node is marked once: the
 * climb stops at the first one already marked.
 */
static void mark_content(struct atomfs_node *n)
{
	for (; n && !n->content; n = n->parent)
		n->content = true;
}

/* the overlay-style opaque mark on directory n */
static int set_opaque(struct atomfs_node *n)
{
	return atomfs_node_set_xattr(n, OPAQUE_XATTR, "y", 1) ?
		       atomfs_enomem() :
		       0;
}

static bool is_whiteout(const char *clean)
{
	const char *slash = strrchr(clean, '/');

	return str_has_prefix(slash ? slash + 1 : clean, ".wh.");
}

/*
 * An OCI whiteout (.wh.NAME, .wh..wh..opq) in overlay style.  Whiteouts
 * delete only what lower layers hold: what this layer itself put there
 * stays, as in umoci, containerd and the image spec.
 */
static int whiteout(struct tar_state *st, struct archive_entry *e,
		    const char *member, struct atomfs_node *parent,
		    const char *leaf)
{
	struct atomfs_node *n, *old;
	int err;

	if (!strcmp(leaf, ".wh..wh..opq")) {
		/* opaque directory: overlay style xattr on the parent */
		return set_opaque(parent);
	}
	if (!leaf[4] || !strcmp(leaf + 4, ".") || !strcmp(leaf + 4, ".."))
		return atomfs_err(EBADMSG,
				  "%s: whiteout member '%s' names nothing",
				  st->path, member);
	old = atomfs_node_child(st->t, parent, leaf + 4);
	if (old && old->content) {
		/*
		 * NAME came earlier in this layer: it stays.  A directory
		 * becomes opaque (the lower one is gone, this layer's
		 * entries are kept); anything else hides the lower NAME
		 * already.  (A directory this layer made only to hold
		 * whiteouts is no content: it goes, with the lower one.)
		 */
		if (S_ISDIR(old->mode))
			return set_opaque(old);
		return 0;
	}
	/* whiteout: a 0/0 character device under the real name */
	n = atomfs_node_new(leaf + 4, S_IFCHR);
	if (!n)
		return atomfs_enomem();
	n->rdev = makedev(0, 0);
	err = set_meta(st, e, member, n);
	if (err) {
		atomfs_node_free(n);
		return err;
	}
	return insert(st, member, parent, n);
}

static int one_entry(struct archive *a, struct archive_entry *e,
		     struct tar_state *st)
{
	const char *path = st->path;
	const struct atomfs_input_opts *o = st->o;
	struct atomfs_tree *t = st->t;
	const char *member = archive_entry_pathname(e);
	cleanup_free char *clean = NULL;
	struct atomfs_node *parent, *n;
	const char *leaf, *hl;
	mode_t mode = archive_entry_mode(e);
	int err;

	if (!member)
		return atomfs_err(
			EBADMSG,
			"%s: a member has no name; the archive is malformed",
			path);
	err = atomfs_path_clean(member, &clean);
	if (err == -ENOMEM)
		return atomfs_enomem();
	if (err)
		return atomfs_err(
			EPERM,
			"%s: member '%s' is an absolute path or contains '..'; refusing an archive that writes outside its root",
			path, member);
	if (!*clean) {
		/* "./": the root directory's own metadata */
		if (!S_ISDIR(mode))
			return atomfs_err(
				EBADMSG,
				"%s: the root member '%s' is not a directory",
				path, member);
		t->root->mode = mode;
		err = set_meta(st, e, member, t->root);
		if (!err)
			err = add_acls(st, e, member, t->root);
		return err ? err : add_xattrs(st, e, member, t->root);
	}
	err = atomfs_tree_lookup(t, clean, true, &parent, &leaf);
	if (err == -ENOTDIR && o->whiteouts && is_whiteout(clean))
		/*
		 * A whiteout below something this layer made a file
		 * (umoci lists the old children of a directory it replaced
		 * by a file): there is nothing left there to delete.
		 */
		return 0;
	if (err)
		return tree_err(err, st, member);

	if (o->whiteouts && str_has_prefix(leaf, ".wh."))
		return whiteout(st, e, member, parent, leaf);

	hl = archive_entry_hardlink(e);
	if (hl) {
		cleanup_free char *target = NULL;
		struct atomfs_node *tp, *tn;
		const char *tleaf;

		err = atomfs_path_clean(hl, &target);
		if (err == -ENOMEM)
			return atomfs_enomem();
		if (err || !*target)
			return atomfs_err(
				EPERM,
				"%s: hard link '%s' points to '%s', outside the archive's root; refusing it",
				path, member, hl);
		err = atomfs_tree_lookup(t, target, false, &tp, &tleaf);
		if (err == -ENOMEM)
			return atomfs_enomem();
		tn = err ? NULL : atomfs_node_child(t, tp, tleaf);
		if (!tn || S_ISDIR(tn->mode))
			return atomfs_err(
				EBADMSG,
				"%s: hard link '%s' points to '%s', which is not an earlier file in the archive",
				path, member, hl);
		n = atomfs_node_new(leaf, tn->mode);
		if (!n)
			return atomfs_enomem();
		n->link = tn->link ? tn->link : tn;
		if (n->link == atomfs_node_child(t, parent, leaf)) {
			/* a link to itself: keep the existing entry */
			atomfs_node_free(n);
			return 0;
		}
		err = insert(st, member, parent, n);
		if (!err)
			mark_content(n);
		return err;
	}

	n = atomfs_node_new(leaf, mode);
	if (!n)
		return atomfs_enomem();
	err = set_meta(st, e, member, n);
	if (!err)
		err = add_acls(st, e, member, n);
	if (err) {
		atomfs_node_free(n);
		return err;
	}
	switch (mode & S_IFMT) {
	case S_IFREG:
		if (archive_entry_size(e) < 0) {
			atomfs_node_free(n);
			return atomfs_err(EBADMSG,
					  "%s: member '%s' has a negative size",
					  path, member);
		}
		n->size = (uint64_t)archive_entry_size(e);
		break;
	case S_IFLNK:
		n->symlink = strdup(archive_entry_symlink(e) ?
					    archive_entry_symlink(e) :
					    "");
		if (!n->symlink) {
			atomfs_node_free(n);
			return atomfs_enomem();
		}
		/* the kernel's squashfs calls longer targets corrupt */
		if (strlen(n->symlink) > ATOMFS_SYMLINK_MAX) {
			atomfs_node_free(n);
			return atomfs_err(
				E2BIG,
				"%s: symlink '%s' has a target longer than %d bytes, which Linux and squashfs cannot hold",
				path, member, ATOMFS_SYMLINK_MAX);
		}
		break;
	case S_IFCHR:
	case S_IFBLK:
		n->rdev = archive_entry_rdev(e);
		break;
	case S_IFDIR:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		atomfs_node_free(n);
		return atomfs_err(EBADMSG,
				  "%s: member '%s' has an unknown file type %o",
				  path, member, mode & S_IFMT);
	}
	err = add_xattrs(st, e, member, n);
	if (err) {
		atomfs_node_free(n);
		return err;
	}
	if (o->whiteouts && S_ISDIR(mode)) {
		struct atomfs_node *old = atomfs_node_child(t, parent, leaf);

		/*
		 * A directory replacing this layer's whiteout or file of the
		 * same name (".wh.NAME" then "NAME/"): applying the layer
		 * removes the lower NAME first, so the directory is opaque.
		 * One replacing this layer's opaque directory stays opaque
		 * ("NAME/.wh..wh..opq" then "NAME/").
		 */
		if (old && (!S_ISDIR(old->mode) || is_opaque(old)))
			err = set_opaque(n);
		if (err) {
			atomfs_node_free(n);
			return err;
		}
	}
	err = insert(st, member, parent, n);
	if (!err)
		mark_content(n);
	if (!err && S_ISREG(mode))
		err = feed_data(a, st, member, n);
	return err;
}

/*
 * A compressed archive is decompressed in a thread of its own (a second
 * libarchive reader in "raw" format) and handed over through a pipe, so
 * decompression runs beside tar parsing and the compression workers
 * instead of in series with them, as 'gzip -dc | tar2sqfs' would.
 */
struct unpacker {
	const char *path;
	int fd; /* write end of the pipe */
	pthread_t thread;
	char msg[512]; /* error, if any */
	bool oom; /* the error: out of memory */
};

static void *unpack_thread(void *arg)
{
	struct unpacker *u = arg;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	sigset_t set;

	if (!a || !buf) {
		snprintf(u->msg, sizeof(u->msg), "out of memory");
		u->oom = true;
		goto out;
	}
	/* a reader that stops early closes the pipe: get EPIPE, not a signal */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, u->path, 1 << 16) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		goto fail;
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, bufsz);
		char *p = buf;

		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		while (n > 0) {
			ssize_t w = write(u->fd, p, (size_t)n);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				goto out; /* the reader gave up: its error counts */
			p += w;
			n -= w;
		}
	}
	goto out;
fail:
	snprintf(u->msg, sizeof(u->msg), "%s",
		 archive_error_string(a) ? archive_error_string(a) :
					   "cannot decompress");
out:
	close(u->fd);
	u->fd = -1;
	archive_read_free(a);
	free(buf);
	return NULL;
}

/* gzip, zstd, xz, bzip2, lz4, lzip magic numbers */
static bool looks_compressed(const char *path)
{
	unsigned char m[6] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, m, sizeof(m));
	close(fd);
	if (n < 4)
		return false;
	return (m[0] == 0x1f && m[1] == 0x8b) ||
	       !memcmp(m, "\x28\xb5\x2f\xfd", 4) ||
	       !memcmp(m,
		       "\xfd"
		       "7zXZ",
		       5) ||
	       !memcmp(m, "BZh", 3) || !memcmp(m, "\x04\x22\x4d\x18", 4) ||
	       !memcmp(m, "LZIP", 4);
}

int atomfs_input_tar(const char *path, const struct atomfs_input_opts *o,
		     struct atomfs_tree *t, struct atomfs_sqfs *w)
{
	struct archive *a = archive_read_new();
	struct unpacker u = { .path = path, .fd = -1 };
	struct tar_state st = { .path = path, .o = o, .t = t, .w = w };
	struct archive_entry *e;
	bool threaded = false;
	int r, err = 0, opened, pfd[2];

	if (!a)
		return atomfs_enomem();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (looks_compressed(path) && pipe2(pfd, O_CLOEXEC) == 0) {
		fcntl(pfd[0], F_SETPIPE_SZ, 1 << 20);
		u.fd = pfd[1];
		if (pthread_create(&u.thread, NULL, unpack_thread, &u) == 0) {
			threaded = true;
			opened = archive_read_open_fd(a, pfd[0], 1 << 16);
		} else {
			close(pfd[0]);
			close(pfd[1]);
			opened = archive_read_open_filename(a, path, 1 << 16);
		}
	} else {
		opened = archive_read_open_filename(a, path, 1 << 16);
	}
	if (opened != ARCHIVE_OK) {
		err = errno == ENOENT ?
			      atomfs_err(ENOENT, "cannot read %s: no such file",
					 path) :
			      tar_err(a, path, "opening");
		goto out;
	}
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			err = tar_err(a, path, "reading a header");
			break;
		}
		err = one_entry(a, e, &st);
		if (err)
			break;
	}
	if (!err && st.clamped > 1)
		atomfs_warn("%s: %zu more members' mtimes clamped likewise",
			    path, st.clamped - 1);
out:
	archive_read_free(a);
	if (threaded) {
		/* stop the thread if we stopped first; a decompression error
		 * explains a truncated stream better than the tar reader can */
		close(pfd[0]);
		pthread_join(u.thread, NULL);
		if (u.oom) {
			err = atomfs_enomem();
		} else if (u.msg[0]) {
			err = atomfs_err(
				EBADMSG,
				"%s is not a readable tar archive (decompressing: %s); check the file is complete and not corrupt",
				path, u.msg);
		}
	}
	return err;
}
