// SPDX-License-Identifier: LGPL-2.1-or-later
/* squashfs.c: a squashfs layer writer built on libsquashfs's writer objects */
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr_writer.h>

#include "internal.h"
#include "progress.h"
#include "squashfs.h"

#define ATOMFS_DEVBLK 4096

/*
 * libsquashfs's file, wrapped to keep the errno of the first failed write:
 * its SQFS_ERROR_IO says only "I/O error", and by the time the error comes
 * back (from a block processor call, say) errno is long gone. The writer
 * threads call write_at too, hence the atomic.
 */
struct atomfs_sqfs_file {
	sqfs_file_t base;
	sqfs_file_t *inner;
	atomic_int err; /* errno of the first failed write or truncate */
};

struct atomfs_sqfs {
	char *path;
	char *name; /* for messages: the blob's directory, not /proc/self/fd */
	struct atomfs_sqfs_opts opts;
	sqfs_file_t *file; /* an atomfs_sqfs_file */
	sqfs_compressor_t *cmp, *uncmp;
	sqfs_block_writer_t *blkwr;
	sqfs_frag_table_t *frag;
	sqfs_block_processor_t *proc;
	sqfs_id_table_t *ids;
	sqfs_xattr_writer_t *xwr;
	sqfs_super_t super;
	struct atomfs_node *cur; /* file being fed */
	int64_t max_mtime;
};

static const struct {
	const char *name;
	enum atomfs_comp comp;
	const char *media_type;
} comps[] = {
	{ "zstd", ATOMFS_COMP_ZSTD,
	  "application/vnd.stacker.image.layer.squashfs+zstd" },
	{ "gzip", ATOMFS_COMP_GZIP,
	  "application/vnd.stacker.image.layer.squashfs+gzip" },
	{ "xz", ATOMFS_COMP_XZ,
	  "application/vnd.stacker.image.layer.squashfs+xz" },
	{ "lz4", ATOMFS_COMP_LZ4,
	  "application/vnd.stacker.image.layer.squashfs+lz4" },
	{ "lzo", ATOMFS_COMP_LZO,
	  "application/vnd.stacker.image.layer.squashfs+lzo" },
	{ "none", ATOMFS_COMP_NONE,
	  "application/vnd.stacker.image.layer.squashfs" },
};

int atomfs_comp_from_name(const char *name, enum atomfs_comp *out)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(comps); i++) {
		if (!strcmp(comps[i].name, name)) {
			*out = comps[i].comp;
			return 0;
		}
	}
	return atomfs_err(
		EINVAL,
		"unknown compressor '%s': use zstd, gzip, xz, lz4, lzo or none",
		name);
}

const char *atomfs_comp_name(enum atomfs_comp c)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(comps); i++)
		if (comps[i].comp == c)
			return comps[i].name;
	return "?";
}

const char *atomfs_comp_media_type(enum atomfs_comp c)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(comps); i++)
		if (comps[i].comp == c)
			return comps[i].media_type;
	return NULL;
}

bool atomfs_sqfs_xattr_supported(const char *key)
{
	return str_has_prefix(key, "user.") ||
	       str_has_prefix(key, "trusted.") ||
	       str_has_prefix(key, "security.");
}

static const char *sqfs_strerror(int err)
{
	switch (err) {
	case SQFS_ERROR_ALLOC:
		return "out of memory";
	case SQFS_ERROR_IO:
		return "I/O error";
	case SQFS_ERROR_COMPRESSOR:
		return "compressor error";
	case SQFS_ERROR_INTERNAL:
		return "internal error";
	case SQFS_ERROR_CORRUPTED:
		return "corrupted data";
	case SQFS_ERROR_UNSUPPORTED:
		return "unsupported";
	case SQFS_ERROR_OVERFLOW:
		return "numeric overflow";
	case SQFS_ERROR_OUT_OF_BOUNDS:
		return "out of bounds";
	case SQFS_ERROR_ARG_INVALID:
		return "invalid argument";
	case SQFS_ERROR_SEQUENCE:
		return "call sequence error";
	default:
		return "error";
	}
}

static void file_keep_errno(sqfs_file_t *file, int ret)
{
	struct atomfs_sqfs_file *f = (struct atomfs_sqfs_file *)file;
	int none = 0;

	if (ret == SQFS_ERROR_IO && errno)
		atomic_compare_exchange_strong(&f->err, &none, errno);
}

static int file_read_at(sqfs_file_t *file, sqfs_u64 off, void *buf, size_t size)
{
	struct atomfs_sqfs_file *f = (struct atomfs_sqfs_file *)file;

	return f->inner->read_at(f->inner, off, buf, size);
}

static int file_write_at(sqfs_file_t *file, sqfs_u64 off, const void *buf,
			 size_t size)
{
	struct atomfs_sqfs_file *f = (struct atomfs_sqfs_file *)file;
	int ret;

	errno = 0;
	ret = f->inner->write_at(f->inner, off, buf, size);
	file_keep_errno(file, ret);
	return ret;
}

static sqfs_u64 file_get_size(const sqfs_file_t *file)
{
	const struct atomfs_sqfs_file *f =
		(const struct atomfs_sqfs_file *)file;

	return f->inner->get_size(f->inner);
}

static int file_truncate(sqfs_file_t *file, sqfs_u64 size)
{
	struct atomfs_sqfs_file *f = (struct atomfs_sqfs_file *)file;
	int ret;

	errno = 0;
	ret = f->inner->truncate(f->inner, size);
	file_keep_errno(file, ret);
	return ret;
}

static void file_destroy(sqfs_object_t *obj)
{
	struct atomfs_sqfs_file *f = (struct atomfs_sqfs_file *)obj;

	sqfs_destroy(f->inner);
	free(f);
}

/* a writer's file is never copied */
static sqfs_object_t *file_copy(const sqfs_object_t *obj)
{
	(void)obj;
	return NULL;
}

static sqfs_file_t *file_open(const char *path)
{
	struct atomfs_sqfs_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->inner = sqfs_open_file(path, SQFS_FILE_OPEN_OVERWRITE);
	if (!f->inner) {
		free(f);
		return NULL;
	}
	f->base.base.destroy = file_destroy;
	f->base.base.copy = file_copy;
	f->base.read_at = file_read_at;
	f->base.write_at = file_write_at;
	f->base.get_size = file_get_size;
	f->base.truncate = file_truncate;
	atomic_init(&f->err, 0);
	return &f->base;
}

/*
 * The name of @path for messages: a layout's temporary blob is opened as
 * /proc/self/fd/N, which tells a user nothing; name its directory instead.
 */
static char *display_name(const char *path)
{
	char link[PATH_MAX], *slash;
	ssize_t n;

	if (strncmp(path, "/proc/self/fd/", 14))
		return strdup(path);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return strdup(path);
	link[n] = 0;
	slash = strrchr(link, '/');
	if (!slash || slash == link)
		return strdup(path);
	*slash = 0;
	return atomfs_asprintf("(a new blob in %s)", link);
}

static int sqerr(struct atomfs_sqfs *w, int err, const char *what)
{
	int e = err == SQFS_ERROR_ALLOC ? ENOMEM :
		err == SQFS_ERROR_IO	? EIO :
					  EINVAL;
	int saved =
		w->file ? atomic_load(
				  &((struct atomfs_sqfs_file *)w->file)->err) :
			  0;

	/* the write that failed knew why: ENOSPC, EDQUOT, EROFS, ... */
	if (err == SQFS_ERROR_IO && saved)
		return atomfs_err(saved, "writing squashfs %s: %s: %s%s",
				  w->name, what, strerror(saved),
				  saved == ENOSPC || saved == EDQUOT ?
					  " (free space there and try again)" :
					  "");
	return atomfs_err(e, "writing squashfs %s: %s: %s", w->name, what,
			  sqfs_strerror(err));
}

/*
 * "none": a compressor that never compresses.  do_block returning 0
 * makes libsquashfs store every block as is; the super block carries the
 * UNCOMPRESSED flags and a gzip id, which the kernel always has.
 */
static void none_destroy(sqfs_object_t *obj)
{
	free(obj);
}

static sqfs_object_t *none_copy(const sqfs_object_t *obj)
{
	sqfs_compressor_t *c = malloc(sizeof(*c));

	if (c)
		memcpy(c, obj, sizeof(*c));
	return (sqfs_object_t *)c;
}

static void none_get_config(const sqfs_compressor_t *cmp,
			    sqfs_compressor_config_t *cfg)
{
	(void)cmp;
	memset(cfg, 0, sizeof(*cfg));
	cfg->id = SQFS_COMP_GZIP;
}

static int none_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	(void)cmp;
	(void)file;
	return 0;
}

static sqfs_s32 none_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in,
			      sqfs_u32 size, sqfs_u8 *out, sqfs_u32 outsize)
{
	(void)cmp;
	(void)in;
	(void)size;
	(void)out;
	(void)outsize;
	return 0;
}

static sqfs_compressor_t *none_compressor(void)
{
	sqfs_compressor_t *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base.destroy = none_destroy;
	c->base.copy = none_copy;
	c->get_configuration = none_get_config;
	c->write_options = none_options;
	c->read_options = none_options;
	c->do_block = none_do_block;
	return c;
}

static int make_compressors(struct atomfs_sqfs *w)
{
	sqfs_compressor_config_t cfg;
	int err;

	if (w->opts.comp == ATOMFS_COMP_NONE) {
		w->cmp = none_compressor();
		return w->cmp ? 0 : atomfs_enomem();
	}
	err = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)w->opts.comp,
					  w->opts.block_size, 0);
	if (!err)
		err = sqfs_compressor_create(&cfg, &w->cmp);
	if (err)
		return atomfs_err(
			ENOTSUP,
			"squashfs compressor %s is not available in libsquashfs: %s",
			atomfs_comp_name(w->opts.comp), sqfs_strerror(err));
	err = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)w->opts.comp,
					  w->opts.block_size,
					  SQFS_COMP_FLAG_UNCOMPRESS);
	if (!err)
		err = sqfs_compressor_create(&cfg, &w->uncmp);
	if (err)
		return sqerr(w, err, "creating decompressor");
	return 0;
}

int atomfs_sqfs_create(const char *path, const struct atomfs_sqfs_opts *opts,
		       struct atomfs_sqfs **out)
{
	struct atomfs_sqfs *w = calloc(1, sizeof(*w));
	sqfs_block_processor_desc_t desc;
	int err;

	if (!w)
		return atomfs_enomem();
	w->path = strdup(path);
	w->name = display_name(path);
	if (!w->path || !w->name) {
		free(w->path);
		free(w->name);
		free(w);
		return atomfs_enomem();
	}
	w->opts = *opts;
	if (!w->opts.block_size)
		w->opts.block_size = 128 * 1024;
	if (w->opts.block_size < 4096 || w->opts.block_size > 1024 * 1024 ||
	    (w->opts.block_size & (w->opts.block_size - 1))) {
		err = atomfs_err(
			EINVAL,
			"block size %u is invalid: use a power of two from 4096 to 1048576",
			w->opts.block_size);
		goto fail;
	}
	if (!w->opts.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		w->opts.threads = n > 0 ? (unsigned int)n : 1;
	}
	err = make_compressors(w);
	if (err)
		goto fail;
	w->file = file_open(path);
	if (!w->file) {
		err = atomfs_err(errno ? errno : EIO, "cannot create %s: %m",
				 w->name);
		goto fail;
	}
	err = sqfs_super_init(&w->super, w->opts.block_size, 0,
			      w->opts.comp == ATOMFS_COMP_NONE ?
				      SQFS_COMP_GZIP :
				      (SQFS_COMPRESSOR)w->opts.comp);
	if (err) {
		err = sqerr(w, err, "super block");
		goto fail;
	}
	if (w->opts.comp == ATOMFS_COMP_NONE)
		w->super.flags |= SQFS_FLAG_UNCOMPRESSED_INODES |
				  SQFS_FLAG_UNCOMPRESSED_DATA |
				  SQFS_FLAG_UNCOMPRESSED_FRAGMENTS |
				  SQFS_FLAG_UNCOMPRESSED_IDS |
				  SQFS_FLAG_UNCOMPRESSED_XATTRS;
	err = sqfs_super_write(&w->super, w->file);
	if (err) {
		err = sqerr(w, err, "super block");
		goto fail;
	}
	err = w->cmp->write_options(w->cmp, w->file);
	if (err < 0) {
		err = sqerr(w, err, "compressor options");
		goto fail;
	}
	if (err > 0)
		w->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;

	w->blkwr = sqfs_block_writer_create(w->file, ATOMFS_DEVBLK, 0);
	w->frag = sqfs_frag_table_create(0);
	w->ids = sqfs_id_table_create(0);
	w->xwr = sqfs_xattr_writer_create(0);
	if (!w->blkwr || !w->frag || !w->ids || !w->xwr) {
		err = atomfs_err(ENOMEM, "out of memory");
		goto fail;
	}
	memset(&desc, 0, sizeof(desc));
	desc.size = sizeof(desc);
	desc.max_block_size = w->opts.block_size;
	desc.num_workers = w->opts.threads;
	desc.max_backlog = 10 * w->opts.threads;
	desc.cmp = w->cmp;
	desc.wr = w->blkwr;
	desc.tbl = w->frag;
	/* read fragments back to compare byte for byte before deduplicating */
	desc.file = w->uncmp ? w->file : NULL;
	desc.uncmp = w->uncmp;
	err = sqfs_block_processor_create_ex(&desc, &w->proc);
	if (err) {
		err = sqerr(w, err, "starting the block processor");
		goto fail;
	}
	*out = w;
	return 0;
fail:
	atomfs_sqfs_destroy(w);
	unlink(path);
	return err;
}

void atomfs_sqfs_destroy(struct atomfs_sqfs *w)
{
	if (!w)
		return;
	/* libsquashfs leaks blocks still queued when a processor is destroyed
	 * mid-file (a failed build): close the file and drain the queue first */
	if (w->proc && w->cur)
		sqfs_block_processor_end_file(w->proc);
	if (w->proc)
		sqfs_block_processor_sync(w->proc);
	sqfs_destroy(w->proc);
	sqfs_destroy(w->xwr);
	sqfs_destroy(w->ids);
	sqfs_destroy(w->frag);
	sqfs_destroy(w->blkwr);
	sqfs_destroy(w->file);
	sqfs_destroy(w->uncmp);
	sqfs_destroy(w->cmp);
	free(w->path);
	free(w->name);
	free(w);
}

int atomfs_sqfs_file_begin(struct atomfs_sqfs *w, struct atomfs_node *n)
{
	int err = sqfs_block_processor_begin_file(w->proc, &n->inode, NULL, 0);

	if (err)
		return sqerr(w, err, "starting a file");
	w->cur = n;
	return 0;
}

int atomfs_sqfs_file_append(struct atomfs_sqfs *w, const void *data, size_t len)
{
	int err = sqfs_block_processor_append(w->proc, data, len);

	if (err)
		return sqerr(w, err, "file data");
	atomfs_progress_add(w->opts.progress, len);
	return 0;
}

int atomfs_sqfs_file_end(struct atomfs_sqfs *w)
{
	int err = sqfs_block_processor_end_file(w->proc);

	if (err)
		return sqerr(w, err, "ending a file");
	w->cur->data_done = true;
	w->cur = NULL;
	return 0;
}

static int feed_path(struct atomfs_sqfs *w, const struct atomfs_tree *t,
		     struct atomfs_node *n, char *buf, size_t bufsz)
{
	cleanup_free char *shown = NULL;
	uint64_t total = 0;
	int fd, err;

	fd = atomfs_src_open(t, n, &shown);
	if (fd < 0)
		return fd;
	err = atomfs_sqfs_file_begin(w, n);
	while (!err) {
		ssize_t got = read(fd, buf, bufsz);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = atomfs_err(errno, "cannot read %s: %m", shown);
			break;
		}
		if (got == 0)
			break;
		total += (uint64_t)got;
		if (total > n->size) {
			err = atomfs_err(
				EAGAIN,
				"%s grew while it was being read; build again from a stable tree",
				shown);
			break;
		}
		err = atomfs_sqfs_file_append(w, buf, (size_t)got);
	}
	close(fd);
	if (!err && total != n->size)
		err = atomfs_err(
			EAGAIN,
			"%s shrank while it was being read; build again from a stable tree",
			shown);
	if (!err)
		err = atomfs_sqfs_file_end(w);
	return err;
}

struct feed {
	struct atomfs_sqfs *w;
	const struct atomfs_tree *t;
	char *buf;
	size_t bufsz;
};

static int feed_node(struct atomfs_node *n, void *arg)
{
	struct feed *f = arg;
	int err;

	if (!S_ISREG(n->mode) || n->link || n->data_done)
		return 0;
	if (!n->src) {
		err = atomfs_sqfs_file_begin(f->w, n);
		return err ? err : atomfs_sqfs_file_end(f->w);
	}
	return feed_path(f->w, f->t, n, f->buf, f->bufsz);
}

int atomfs_sqfs_feed_tree(struct atomfs_sqfs *w, struct atomfs_tree *t)
{
	size_t bufsz = 1024 * 1024;
	cleanup_free char *buf = malloc(bufsz);
	struct feed f = { .w = w, .t = t, .buf = buf, .bufsz = bufsz };

	if (!buf)
		return atomfs_enomem();
	atomfs_tree_sort(t->root);
	return atomfs_tree_walk(t->root, feed_node, NULL, &f);
}

/* ---- inode numbering and serialisation ---- */

struct inode_list {
	struct atomfs_node **v;
	size_t n, cap;
};

static struct atomfs_node *owner(struct atomfs_node *n)
{
	return n->link ? n->link : n;
}

static int count_links(struct atomfs_node *d, void *arg)
{
	size_t i;

	(void)arg;
	if (!S_ISDIR(d->mode))
		return 0;
	d->nlink = 2;
	for (i = 0; i < d->nkids; i++) {
		struct atomfs_node *k = d->kids[i];

		if (S_ISDIR(k->mode))
			d->nlink++;
		else
			owner(k)->nlink++;
	}
	return 0;
}

static int clear_links(struct atomfs_node *d, void *arg)
{
	size_t i;

	(void)arg;
	if (!S_ISDIR(d->mode))
		return 0;
	d->nlink = 0;
	d->ino = 0;
	for (i = 0; i < d->nkids; i++) {
		struct atomfs_node *o = owner(d->kids[i]);

		o->nlink = 0;
		o->ino = 0;
	}
	return 0;
}

/*
 * The order gensquashfs uses: the contents of a directory's
 * subdirectories first, then the directory's own entries in name order.
 * Every inode then has a smaller number than the directories listing it,
 * so writing inodes by number means each directory finds its entries'
 * references already known.  The root comes last.  Called after the
 * walk has been through everything below d.
 */
static int number_dir(struct atomfs_node *d, void *arg)
{
	struct inode_list *l = arg;
	size_t i;

	for (i = 0; i < d->nkids; i++) {
		struct atomfs_node *o = owner(d->kids[i]);

		if (o->ino)
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? 2 * l->cap : 256;
			struct atomfs_node **v =
				realloc(l->v, cap * sizeof(*l->v));

			if (!v)
				return -ENOMEM;
			l->v = v;
			l->cap = cap;
		}
		l->v[l->n++] = o;
		o->ino = (uint32_t)l->n;
	}
	return 0;
}

static int set_xattrs(struct atomfs_sqfs *w, struct atomfs_node *n,
		      sqfs_u32 *idx)
{
	size_t i;
	int err;

	*idx = 0xFFFFFFFF;
	if (!n->nxattrs)
		return 0;
	err = sqfs_xattr_writer_begin(w->xwr, 0);
	for (i = 0; !err && i < n->nxattrs; i++)
		err = sqfs_xattr_writer_add(w->xwr, n->xattrs[i].key,
					    n->xattrs[i].value,
					    n->xattrs[i].size);
	if (!err)
		err = sqfs_xattr_writer_end(w->xwr, idx);
	if (err) {
		cleanup_free char *p = atomfs_node_path(n);

		return atomfs_err(EINVAL,
				  "writing squashfs %s: xattrs of %s: %s",
				  w->name, p ? p : "a file",
				  sqfs_strerror(err));
	}
	return 0;
}

static sqfs_inode_generic_t *special_inode(struct atomfs_node *n)
{
	size_t extra = S_ISLNK(n->mode) ? strlen(n->symlink) : 0;
	sqfs_inode_generic_t *in = calloc(1, sizeof(*in) + extra);

	if (!in)
		return NULL;
	in->payload_bytes_available = (sqfs_u32)extra;
	in->payload_bytes_used = (sqfs_u32)extra;
	switch (n->mode & S_IFMT) {
	case S_IFLNK:
		in->base.type = SQFS_INODE_SLINK;
		in->data.slink.nlink = n->nlink;
		in->data.slink.target_size = (sqfs_u32)extra;
		memcpy(in->extra, n->symlink, extra);
		break;
	case S_IFBLK:
	case S_IFCHR:
		in->base.type = S_ISBLK(n->mode) ? SQFS_INODE_BDEV :
						   SQFS_INODE_CDEV;
		in->data.dev.nlink = n->nlink;
		/* the kernel's new_encode_dev(), as mksquashfs stores it */
		in->data.dev.devno = (major(n->rdev) << 8) |
				     (minor(n->rdev) & 0xff) |
				     ((minor(n->rdev) & ~0xffu) << 12);
		break;
	case S_IFIFO:
		in->base.type = SQFS_INODE_FIFO;
		in->data.ipc.nlink = n->nlink;
		break;
	case S_IFSOCK:
		in->base.type = SQFS_INODE_SOCKET;
		in->data.ipc.nlink = n->nlink;
		break;
	default:
		free(in);
		return NULL;
	}
	return in;
}

struct serial {
	struct atomfs_sqfs *w;
	sqfs_meta_writer_t *im, *dm;
	sqfs_dir_writer_t *dirwr;
	uint32_t count;
};

static int write_inode(struct serial *s, struct atomfs_node *n)
{
	struct atomfs_sqfs *w = s->w;
	sqfs_inode_generic_t *in = NULL;
	bool own = true;
	sqfs_u32 xidx;
	sqfs_u64 block;
	sqfs_u32 off;
	int err;
	size_t i;

	err = set_xattrs(w, n, &xidx);
	if (err)
		return err;
	if (S_ISDIR(n->mode)) {
		err = sqfs_dir_writer_begin(s->dirwr, 0);
		for (i = 0; !err && i < n->nkids; i++) {
			struct atomfs_node *k = n->kids[i], *o = owner(k);

			err = sqfs_dir_writer_add_entry(s->dirwr, k->name,
							o->ino, o->ref,
							(sqfs_u16)o->mode);
		}
		if (!err)
			err = sqfs_dir_writer_end(s->dirwr);
		if (err)
			return sqerr(w, err, "directory listing");
		in = sqfs_dir_writer_create_inode(s->dirwr, n->nlink, xidx,
						  n->parent ? n->parent->ino :
							      s->count + 1);
		if (!in)
			return atomfs_err(ENOMEM, "out of memory");
		/* libsquashfs counts every entry as a link; POSIX counts subdirectories */
		if (in->base.type == SQFS_INODE_EXT_DIR)
			in->data.dir_ext.nlink = n->nlink;
		else
			in->data.dir.nlink = n->nlink;
	} else if (S_ISREG(n->mode)) {
		in = n->inode;
		own = false;
		if (!in) {
			cleanup_free char *p = atomfs_node_path(n);

			return atomfs_err(EINVAL,
					  "internal: no data written for %s",
					  p ? p : "a file");
		}
		err = sqfs_inode_set_xattr_index(in, xidx);
		if (!err && n->nlink > 1) {
			err = sqfs_inode_make_extended(in);
			in->data.file_ext.nlink = n->nlink;
		}
		if (err)
			return sqerr(w, err, "file inode");
	} else {
		in = special_inode(n);
		if (!in &&
		    (S_ISLNK(n->mode) || S_ISBLK(n->mode) || S_ISCHR(n->mode) ||
		     S_ISFIFO(n->mode) || S_ISSOCK(n->mode)))
			return atomfs_enomem();
		if (!in) {
			cleanup_free char *p = atomfs_node_path(n);

			return atomfs_err(EINVAL,
					  "%s has an unsupported file type %o",
					  p ? p : "a file", n->mode & S_IFMT);
		}
		err = sqfs_inode_set_xattr_index(in, xidx);
		if (err) {
			free(in);
			return sqerr(w, err, "inode");
		}
	}
	in->base.mode = (sqfs_u16)n->mode;
	/* the inputs clamp and warn; never let a stray value wrap */
	in->base.mod_time = (sqfs_u32)atomfs_mtime_clamp(
		w->opts.have_mtime ? w->opts.mtime : n->mtime);
	in->base.inode_number = n->ino;
	err = sqfs_id_table_id_to_index(w->ids, n->uid, &in->base.uid_idx);
	if (!err)
		err = sqfs_id_table_id_to_index(w->ids, n->gid,
						&in->base.gid_idx);
	if (!err) {
		sqfs_meta_writer_get_position(s->im, &block, &off);
		n->ref = (block << 16) | off;
		err = sqfs_meta_writer_write_inode(s->im, in);
	}
	if (own)
		free(in);
	if (err)
		return sqerr(w, err,
			     "inode table (more than 65536 distinct owners?)");
	if (!w->opts.have_mtime && n->mtime > w->max_mtime)
		w->max_mtime = n->mtime;
	return 0;
}

static int serialize(struct atomfs_sqfs *w, struct atomfs_tree *t)
{
	struct inode_list l = { 0 };
	struct serial s = { .w = w };
	size_t i;
	int err;

	atomfs_tree_walk(t->root, clear_links, NULL, NULL);
	atomfs_tree_walk(t->root, count_links, NULL, NULL);
	err = atomfs_tree_walk(t->root, NULL, number_dir, &l);
	/* the root */
	if (!err && l.n == l.cap) {
		struct atomfs_node **v =
			realloc(l.v, (l.cap + 1) * sizeof(*l.v));

		if (v)
			l.v = v;
		else
			err = -ENOMEM;
	}
	if (err) {
		free(l.v);
		return atomfs_enomem();
	}
	l.v[l.n++] = t->root;
	t->root->ino = (uint32_t)l.n;
	s.count = (uint32_t)l.n;

	s.im = sqfs_meta_writer_create(w->file, w->cmp, 0);
	s.dm = sqfs_meta_writer_create(w->file, w->cmp,
				       SQFS_META_WRITER_KEEP_IN_MEMORY);
	s.dirwr = s.dm ? sqfs_dir_writer_create(s.dm, 0) : NULL;
	if (!s.im || !s.dm || !s.dirwr) {
		err = atomfs_err(ENOMEM, "out of memory");
		goto out;
	}
	w->super.inode_table_start = w->file->get_size(w->file);
	for (i = 0; i < l.n; i++) {
		err = write_inode(&s, l.v[i]);
		if (err)
			goto out;
	}
	w->super.root_inode_ref = t->root->ref;
	w->super.inode_count = s.count;
	err = sqfs_meta_writer_flush(s.im);
	if (!err)
		err = sqfs_meta_writer_flush(s.dm);
	if (err) {
		err = sqerr(w, err, "inode table");
		goto out;
	}
	w->super.directory_table_start = w->file->get_size(w->file);
	err = sqfs_meta_write_write_to_file(s.dm);
	if (err)
		err = sqerr(w, err, "directory table");
out:
	sqfs_destroy(s.dirwr);
	sqfs_destroy(s.dm);
	sqfs_destroy(s.im);
	free(l.v);
	return err;
}

int atomfs_sqfs_finish(struct atomfs_sqfs *w, struct atomfs_tree *t)
{
	static const char zeros[ATOMFS_DEVBLK];
	sqfs_u64 size;
	int err;

	err = atomfs_sqfs_feed_tree(w, t);
	if (err)
		return err;
	/* tells the kernel to look for ACLs (see "POSIX ACLs" in image-format.rst) */
	if (t->nacl && atomfs_node_set_xattr(t->root, ATOMFS_ACL_MARK, "1", 1))
		return atomfs_enomem();
	err = sqfs_block_processor_finish(w->proc);
	if (err)
		return sqerr(w, err, "data blocks");
	err = serialize(w, t);
	if (err)
		return err;
	err = sqfs_frag_table_write(w->frag, w->file, &w->super, w->cmp);
	if (err)
		return sqerr(w, err, "fragment table");
	err = sqfs_id_table_write(w->ids, w->file, &w->super, w->cmp);
	if (err)
		return sqerr(w, err, "id table");
	err = sqfs_xattr_writer_flush(w->xwr, w->file, &w->super, w->cmp);
	if (err)
		return sqerr(w, err, "xattr table");
	/* reproducible: the creation time is --mtime or the newest entry */
	w->super.modification_time = (sqfs_u32)atomfs_mtime_clamp(
		w->opts.have_mtime ? w->opts.mtime : w->max_mtime);
	w->super.bytes_used = w->file->get_size(w->file);
	err = sqfs_super_write(&w->super, w->file);
	if (err)
		return sqerr(w, err, "super block");
	size = w->super.bytes_used;
	if (size % ATOMFS_DEVBLK) {
		err = w->file->write_at(w->file, size, zeros,
					ATOMFS_DEVBLK - size % ATOMFS_DEVBLK);
		if (err)
			return sqerr(w, err, "padding");
	}
	return 0;
}

int atomfs_sqfs_check(const char *path)
{
	sqfs_file_t *f = sqfs_open_file(path, SQFS_FILE_OPEN_READ_ONLY);
	sqfs_super_t super;
	sqfs_u64 size;
	int err;

	if (!f)
		return atomfs_err(errno ? errno : EIO, "cannot read %s: %m",
				  path);
	size = f->get_size(f);
	err = sqfs_super_read(&super, f);
	sqfs_destroy(f);
	if (err)
		return atomfs_err(
			EBADMSG,
			"%s is not a squashfs filesystem (%s); the layer is corrupt, rebuild it",
			path, sqfs_strerror(err));
	if (super.bytes_used > size || super.inode_table_start > size ||
	    super.directory_table_start > size || super.id_table_start > size)
		return atomfs_err(
			EBADMSG,
			"%s is a truncated squashfs filesystem (%llu of %llu bytes); rebuild the layer",
			path, (unsigned long long)size,
			(unsigned long long)super.bytes_used);
	if (size % 4096)
		return atomfs_err(
			EBADMSG,
			"%s is %llu bytes, not a multiple of 4096; rebuild it with atomfs or pad it (mksquashfs pads by default)",
			path, (unsigned long long)size);
	return 0;
}
