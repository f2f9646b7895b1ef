// SPDX-License-Identifier: GPL-2.0
/*
 * atomfs: merged directories. The first lookup or readdir of a directory
 * reads it in every layer that holds it, top-down, and builds an index:
 * every visible name with the layer that provides it, whiteouts and opaque
 * cut-offs already resolved. The index is kept with the inode, so that
 * later lookups cost one hash probe and readdir offsets are stable ranks in
 * a sorted list. Locking: see "Locking" in atomfs.rst.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hash.h>
#include <linux/namei.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/stringhash.h>

#include "atomfs.h"

#define ATOMFS_DIR_MIN_BITS 4

/* A name of the layer being read that needs a look before it counts. */
struct atomfs_pending {
	struct list_head list;
	u64 ino;
	unsigned char type;
	bool whiteout;			/* .wh.NAME: name is NAME */
	unsigned int len;
	char name[];
};

struct atomfs_dir_builder {
	struct dir_context ctx;
	struct super_block *sb;
	struct atomfs_dir *dir;
	unsigned int cap;		/* most names to index */
	unsigned int layer;		/* the layer being read */
	unsigned int slot;		/* its place in dir->layers[] */
	bool opaque;			/* it holds .wh..wh..opq */
	struct list_head pending;	/* names to look at after reading */
	int err;
};

static u32 atomfs_name_hash(const char *name, unsigned int len)
{
	return full_name_hash(NULL, name, len);
}

static struct hlist_head *atomfs_bucket(const struct atomfs_dir *dir,
					const char *name, unsigned int len)
{
	return &dir->buckets[hash_32(atomfs_name_hash(name, len),
				     dir->hash_bits)];
}

static struct atomfs_dirent *atomfs_find(const struct atomfs_dir *dir,
					 const char *name, unsigned int len)
{
	struct atomfs_dirent *de;

	hlist_for_each_entry(de, atomfs_bucket(dir, name, len), node) {
		if (de->len == len && !memcmp(de->name, name, len))
			return de;
	}
	return NULL;
}

const struct atomfs_dirent *atomfs_dir_find(const struct atomfs_dir *dir,
					    const struct qstr *name)
{
	return atomfs_find(dir, name->name, name->len);
}

/*
 * The dentry of @layer's directory taking part in @dir, or NULL. layers[]
 * is top-down, so its layer numbers decrease: a binary search.
 */
struct dentry *atomfs_dir_layer_dentry(const struct atomfs_dir *dir,
				       unsigned int layer)
{
	unsigned int lo = 0, hi = dir->nr_layers, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (dir->layers[mid].layer == layer)
			return dir->layers[mid].dentry;
		if (dir->layers[mid].layer > layer)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Keep about one name per bucket: double the table when it fills. */
static int atomfs_dir_grow(struct atomfs_dir *dir)
{
	unsigned int bits = dir->hash_bits + 1, i;
	struct hlist_head *buckets, *old = dir->buckets;
	struct hlist_node *tmp;
	struct atomfs_dirent *de;

	buckets = kvcalloc(1U << bits, sizeof(*buckets), GFP_KERNEL_ACCOUNT);
	if (!buckets)
		return -ENOMEM;
	dir->buckets = buckets;
	dir->hash_bits = bits;
	for (i = 0; i < (1U << (bits - 1)); i++) {
		hlist_for_each_entry_safe(de, tmp, &old[i], node) {
			hlist_del(&de->node);
			hlist_add_head(&de->node,
				       atomfs_bucket(dir, de->name, de->len));
		}
	}
	kvfree(old);
	return 0;
}

static struct atomfs_dirent *atomfs_dirent_new(struct atomfs_dir_builder *b,
					       const char *name,
					       unsigned int len, u64 real_ino,
					       unsigned char type)
{
	struct atomfs_dir *dir = b->dir;
	struct atomfs_dirent *de;

	if (dir->nr_all >= b->cap) {
		b->err = -EFBIG;
		return NULL;
	}
	if (dir->nr_all >= (1U << dir->hash_bits)) {
		b->err = atomfs_dir_grow(dir);
		if (b->err)
			return NULL;
	}
	de = kmalloc(struct_size(de, name, len + 1), GFP_KERNEL_ACCOUNT);
	if (!de) {
		b->err = -ENOMEM;
		return NULL;
	}
	de->ino = atomfs_ino(b->sb, b->layer, real_ino);
	de->layer = b->layer;
	de->slot = b->slot;
	de->type = type;
	de->closed = type != DT_DIR;
	de->nr_lower = 0;
	de->lower = NULL;
	de->len = len;
	memcpy(de->name, name, len);
	de->name[len] = '\0';
	hlist_add_head(&de->node, atomfs_bucket(dir, name, len));
	dir->nr_all++;
	if (type != DT_WHT)
		dir->nr++;
	return de;
}

/* A directory of an upper layer meets @de's name in the layer being read. */
static void atomfs_dirent_add_lower(struct atomfs_dir_builder *b,
				    struct atomfs_dirent *de)
{
	unsigned int *lower;

	/* Grow by powers of two: a name may be a directory in every layer. */
	if (is_power_of_2(de->nr_lower) || !de->nr_lower) {
		lower = krealloc_array(de->lower, max(2U * de->nr_lower, 1U),
				       sizeof(*lower), GFP_KERNEL_ACCOUNT);
		if (!lower) {
			b->err = -ENOMEM;
			return;
		}
		de->lower = lower;
	}
	de->lower[de->nr_lower++] = b->layer;
}

/* A real (not whiteout) name of the layer being read. */
static void atomfs_dir_add(struct atomfs_dir_builder *b, const char *name,
			   unsigned int len, u64 ino, unsigned char type)
{
	struct atomfs_dirent *de = atomfs_find(b->dir, name, len);

	if (!de)
		atomfs_dirent_new(b, name, len, ino, type);
	else if (de->closed)
		return;
	else if (type == DT_DIR)
		atomfs_dirent_add_lower(b, de);
	else
		de->closed = true; /* a non-directory below a directory */
}

/* A whiteout for @name in the layer being read: hide it below. */
static void atomfs_dir_whiteout(struct atomfs_dir_builder *b,
				const char *name, unsigned int len)
{
	struct atomfs_dirent *de = atomfs_find(b->dir, name, len);

	/*
	 * A whiteout hides the name in the layers below only, never a name in
	 * its own layer (OCI image spec); either way nothing below merges.
	 */
	if (de)
		de->closed = true;
	else
		atomfs_dirent_new(b, name, len, 0, DT_WHT);
}

static int atomfs_queue(struct atomfs_dir_builder *b, const char *name,
			unsigned int len, u64 ino, unsigned char type,
			bool whiteout)
{
	struct atomfs_pending *p;

	p = kmalloc(struct_size(p, name, len + 1), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->ino = ino;
	p->type = type;
	p->whiteout = whiteout;
	p->len = len;
	memcpy(p->name, name, len);
	p->name[len] = '\0';
	list_add_tail(&p->list, &b->pending);
	return 0;
}

static bool atomfs_dir_actor(struct dir_context *ctx, const char *name,
			     int len, loff_t offset, u64 ino,
			     unsigned int type)
{
	struct atomfs_dir_builder *b =
		container_of(ctx, struct atomfs_dir_builder, ctx);
	unsigned int style = atomfs_stack(b->sb)->whiteout;

	if (name[0] == '.' &&
	    (len == 1 || (len == 2 && name[1] == '.')))
		return true;

	if (len >= ATOMFS_WH_META_PREFIX_LEN &&
	    !memcmp(name, ATOMFS_WH_META_PREFIX, ATOMFS_WH_META_PREFIX_LEN)) {
		/* .wh..wh.* names are bookkeeping, never visible. */
		if ((style & ATOMFS_WHITEOUT_OCI) &&
		    len == strlen(ATOMFS_WH_OPAQUE) &&
		    !memcmp(name, ATOMFS_WH_OPAQUE, len))
			b->opaque = true;
		return true;
	}
	if ((style & ATOMFS_WHITEOUT_OCI) && len > ATOMFS_WH_PREFIX_LEN &&
	    !memcmp(name, ATOMFS_WH_PREFIX, ATOMFS_WH_PREFIX_LEN)) {
		/* Applied once the whole layer is read. */
		b->err = atomfs_queue(b, name + ATOMFS_WH_PREFIX_LEN,
				      len - ATOMFS_WH_PREFIX_LEN, 0, DT_WHT,
				      true);
		return !b->err;
	}
	/*
	 * A character device may be an overlay whiteout, and DT_UNKNOWN needs
	 * a look at the inode; neither can be looked up while the layer's
	 * directory is being read (iterate_dir() holds its lock).
	 */
	if ((type == DT_CHR && (style & ATOMFS_WHITEOUT_OVERLAY)) ||
	    type == DT_UNKNOWN) {
		b->err = atomfs_queue(b, name, len, ino, type, false);
		return !b->err;
	}
	atomfs_dir_add(b, name, len, ino, type);
	return !b->err;
}

/* Settle the pending names of the layer just read from @realdir. */
static void atomfs_dir_settle(struct atomfs_dir_builder *b,
			      struct dentry *realdir)
{
	struct atomfs_pending *p, *tmp;
	struct dentry *real;

	/* Real names first: a whiteout never hides its own layer's names. */
	list_for_each_entry(p, &b->pending, list) {
		if (p->whiteout || b->err)
			continue;
		real = lookup_one_len_unlocked(p->name, realdir, p->len);
		if (IS_ERR(real)) {
			b->err = PTR_ERR(real);
			break;
		}
		if (d_is_positive(real)) {
			if (atomfs_is_whiteout(b->sb, real))
				p->whiteout = true;
			else
				atomfs_dir_add(b, p->name, p->len, p->ino,
					       S_DT(d_inode(real)->i_mode));
		}
		dput(real);
	}
	list_for_each_entry_safe(p, tmp, &b->pending, list) {
		if (p->whiteout && !b->err)
			atomfs_dir_whiteout(b, p->name, p->len);
		list_del(&p->list);
		kfree(p);
	}
}

/*
 * squashfs's readdir stops without an error when it cannot allocate its
 * entry buffer or read a directory block (fs/squashfs/dir.c returns 0 from
 * both paths). A listing cut short would leave names of this layer out of
 * the index, and the same names of a lower layer, or names this layer
 * whites out, would show through. A complete squashfs listing ends with
 * f_pos at the directory's size (its on-disk length plus the 3 of "." and
 * ".."); anything short of that is an incomplete read. Directory layers
 * (tmpfs, ext4...) report their own errors and use other f_pos schemes.
 */
static bool atomfs_listing_cut_short(struct super_block *sb,
				     unsigned int layer, struct file *file)
{
	if (atomfs_stack(sb)->layers[layer]->flags & ATOMFS_INFO_DIR)
		return false;
	return file->f_pos < i_size_read(file_inode(file));
}

static int atomfs_dir_read_layer(struct atomfs_dir_builder *b,
				 unsigned int layer, struct dentry *realdir)
{
	struct path path = { .mnt = atomfs_layer_mnt(b->sb, layer),
			     .dentry = realdir };
	struct file *file;
	int err;

	file = dentry_open(&path, O_RDONLY | O_DIRECTORY | O_LARGEFILE,
			   current_cred());
	if (IS_ERR(file))
		return PTR_ERR(file);
	b->layer = layer;
	b->slot = b->dir->nr_layers - 1;
	b->opaque = false;
	b->ctx.pos = 0;
	err = iterate_dir(file, &b->ctx);
	if (!err && !b->err && atomfs_listing_cut_short(b->sb, layer, file))
		err = -EIO;
	fput(file);
	if (!err)
		err = b->err;
	atomfs_dir_settle(b, realdir);
	return err ?: b->err;
}

/*
 * The directory of @dentry's name in @layer, found in the parent's index.
 * The parent's index exists: @dentry was looked up through it.
 */
static struct dentry *atomfs_dir_lower(struct dentry *dentry,
				       unsigned int layer)
{
	struct atomfs_inode *parent = ATOMFS_I(d_inode(dentry->d_parent));
	/* Pairs with the release in atomfs_dir_get(): a complete index. */
	struct atomfs_dir *pdir = smp_load_acquire(&parent->dir);
	struct dentry *realparent, *real;

	if (IS_ROOT(dentry))
		return dget(atomfs_layer_mnt(dentry->d_sb, layer)->mnt_root);
	if (WARN_ON_ONCE(!pdir))
		return ERR_PTR(-EIO);
	realparent = atomfs_dir_layer_dentry(pdir, layer);
	if (!realparent) {
		/*
		 * A crafted layer's hard-linked directory: its inode (and
		 * lower layers) were found under another parent, and
		 * d_splice_alias() moved its dentry here.
		 */
		pr_warn_ratelimited("layer %u: %pd2 is not below its parent: a hard-linked directory?\n",
				    layer, dentry);
		return ERR_PTR(-EIO);
	}
	real = lookup_one_len_unlocked(dentry->d_name.name, realparent,
				       dentry->d_name.len);
	if (!IS_ERR(real) && !d_is_dir(real)) {
		/* Only a directory layer changed under us gets here. */
		dput(real);
		real = ERR_PTR(-ESTALE);
	}
	return real;
}

static int atomfs_cmp_dirent(const void *a, const void *b)
{
	const struct atomfs_dirent *x = *(const struct atomfs_dirent **)a;
	const struct atomfs_dirent *y = *(const struct atomfs_dirent **)b;

	return strcmp(x->name, y->name);
}

static int atomfs_dir_sort(struct atomfs_dir *dir)
{
	struct atomfs_dirent *de;
	unsigned int i, n = 0;

	dir->sorted = kvmalloc_array(max(dir->nr, 1U), sizeof(*dir->sorted),
				     GFP_KERNEL_ACCOUNT);
	if (!dir->sorted)
		return -ENOMEM;
	for (i = 0; i < (1U << dir->hash_bits); i++) {
		hlist_for_each_entry(de, &dir->buckets[i], node) {
			if (de->type != DT_WHT)
				dir->sorted[n++] = de;
		}
	}
	sort(dir->sorted, n, sizeof(*dir->sorted), atomfs_cmp_dirent, NULL);
	return 0;
}

void atomfs_dir_free(struct atomfs_dir *dir)
{
	struct atomfs_dirent *de;
	struct hlist_node *tmp;
	unsigned int i;

	if (!dir)
		return;
	for (i = 0; dir->buckets && i < (1U << dir->hash_bits); i++) {
		hlist_for_each_entry_safe(de, tmp, &dir->buckets[i], node) {
			kfree(de->lower);
			kfree(de);
		}
	}
	for (i = 0; i < dir->nr_layers; i++)
		dput(dir->layers[i].dentry);
	kvfree(dir->buckets);
	kvfree(dir->sorted);
	kvfree(dir);
}

static struct atomfs_dir *atomfs_dir_build(struct dentry *dentry,
					   unsigned int cap)
{
	struct super_block *sb = dentry->d_sb;
	struct atomfs_inode *ai = ATOMFS_I(d_inode(dentry));
	struct atomfs_dir_builder b = {
		.ctx.actor = atomfs_dir_actor,
		.sb = sb,
		.cap = cap,
		.pending = LIST_HEAD_INIT(b.pending),
	};
	struct atomfs_dir *dir;
	struct dentry *real;
	unsigned int i;
	int opaque, err = -ENOMEM;

	dir = kvzalloc(struct_size(dir, layers, ai->nr_lower + 1),
		       GFP_KERNEL_ACCOUNT);
	if (!dir)
		return ERR_PTR(-ENOMEM);
	dir->hash_bits = ATOMFS_DIR_MIN_BITS;
	dir->buckets = kvcalloc(1U << dir->hash_bits, sizeof(*dir->buckets),
				GFP_KERNEL_ACCOUNT);
	if (!dir->buckets)
		goto out;
	b.dir = dir;

	dir->layers[0].layer = ai->layer;
	dir->layers[0].dentry = dget(ai->real);
	dir->nr_layers = 1;
	err = atomfs_dir_read_layer(&b, ai->layer, ai->real);
	if (err)
		goto out;
	/* The top layer's marks too: never trust an inode made elsewhere. */
	opaque = b.opaque;
	if (!opaque) {
		err = atomfs_is_opaque_dir(sb, ai->real);
		if (err < 0)
			goto out;
		opaque = err;
	}

	for (i = 0; i < ai->nr_lower && !opaque; i++) {
		real = atomfs_dir_lower(dentry, ai->lower[i]);
		err = PTR_ERR(real);
		if (IS_ERR(real))
			goto out;
		dir->layers[dir->nr_layers].layer = ai->lower[i];
		dir->layers[dir->nr_layers].dentry = real;
		dir->nr_layers++;
		err = atomfs_dir_read_layer(&b, ai->lower[i], real);
		if (err)
			goto out;
		opaque = b.opaque;
		if (!opaque) {
			err = atomfs_is_opaque_dir(sb, real);
			if (err < 0)
				goto out;
			opaque = err;
		}
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			goto out;
		}
		cond_resched();
	}

	err = atomfs_dir_sort(dir);
	if (err)
		goto out;
	return dir;

out:
	atomfs_dir_free(dir);
	return ERR_PTR(err);
}

/*
 * A directory with more than dir_index_max names keeps no index: only its
 * layers (opaque marks found by lookup instead of by reading, the top
 * layer's checked here again). Lookups then go through the layers in turn
 * (atomfs_lookup_slow()), and readdir uses a list shared by the open files.
 */
static struct atomfs_dir *atomfs_dir_build_layers(struct dentry *dentry)
{
	struct atomfs_inode *ai = ATOMFS_I(d_inode(dentry));
	struct atomfs_dir *dir;
	struct dentry *real;
	unsigned int i;
	int opaque;

	dir = kvzalloc(struct_size(dir, layers, ai->nr_lower + 1),
		       GFP_KERNEL_ACCOUNT);
	if (!dir)
		return ERR_PTR(-ENOMEM);
	dir->overflow = true;
	dir->layers[0].layer = ai->layer;
	dir->layers[0].dentry = dget(ai->real);
	dir->nr_layers = 1;
	opaque = atomfs_dir_is_opaque(dentry->d_sb, ai->real);
	for (i = 0; i < ai->nr_lower && opaque == 0; i++) {
		real = atomfs_dir_lower(dentry, ai->lower[i]);
		if (IS_ERR(real)) {
			opaque = PTR_ERR(real);
			break;
		}
		dir->layers[dir->nr_layers].layer = ai->lower[i];
		dir->layers[dir->nr_layers].dentry = real;
		dir->nr_layers++;
		opaque = atomfs_dir_is_opaque(dentry->d_sb, real);
	}
	if (opaque < 0) {
		atomfs_dir_free(dir);
		return ERR_PTR(opaque);
	}
	return dir;
}

/*
 * Errors worth trying again later rather than keeping. squashfs reports a
 * block it could not read for want of memory (a page, a bio, its buffer)
 * as EIO, and a listing cut short for that reason is EIO here as well.
 */
static bool atomfs_transient(int err)
{
	return err == -ENOMEM || err == -EINTR || err == -EAGAIN ||
	       err == -EIO;
}

/*
 * The index of the directory @dentry, built on first need. A build error
 * is kept (dir_err) unless it is transient: a directory that cannot be
 * merged is not read again, layer after layer, by every lookup.
 */
struct atomfs_dir *atomfs_dir_get(struct dentry *dentry)
{
	struct atomfs_inode *ai = ATOMFS_I(d_inode(dentry));
	struct atomfs_dir *dir;
	const struct cred *old;

	/* Pairs with the release below: an index seen is a complete one. */
	dir = smp_load_acquire(&ai->dir);
	if (dir)
		return dir;

	if (mutex_lock_killable(&ai->dir_lock))
		return ERR_PTR(-EINTR);
	dir = ai->dir;
	if (!dir && ai->dir_err) {
		dir = ERR_PTR(ai->dir_err);
	} else if (!dir) {
		atomfs_delay(ATOMFS_DELAY_DIR_BUILD);
		old = atomfs_override_creds(dentry->d_sb);
		dir = atomfs_dir_build(dentry, atomfs_dir_index_max);
		if (PTR_ERR(dir) == -EFBIG) {
			atomic64_inc(&atomfs_stats.dir_overflows);
			dir = atomfs_dir_build_layers(dentry);
		}
		revert_creds(old);
		if (!IS_ERR(dir)) {
			/* Publish only the finished index to lockless readers. */
			smp_store_release(&ai->dir, dir);
		} else if (!atomfs_transient(PTR_ERR(dir))) {
			ai->dir_err = PTR_ERR(dir);
		}
	}
	mutex_unlock(&ai->dir_lock);
	return dir;
}

/*
 * The readdir list of a directory over dir_index_max: built by the first
 * getdents of an open file and shared by all the files open on the
 * directory, so its memory does not grow with the number of opens.
 */
static struct atomfs_dir *atomfs_dir_list_get(struct file *file)
{
	struct atomfs_inode *ai = ATOMFS_I(file_inode(file));
	struct atomfs_dir *list;
	const struct cred *old;

	if (mutex_lock_killable(&ai->dir_lock))
		return ERR_PTR(-EINTR);
	list = ai->list;
	if (!list) {
		old = atomfs_override_creds(file_inode(file)->i_sb);
		list = atomfs_dir_build(file->f_path.dentry, UINT_MAX);
		revert_creds(old);
		if (IS_ERR(list))
			goto out;
		ai->list = list;
	}
	list->users++;
out:
	mutex_unlock(&ai->dir_lock);
	return list;
}

static void atomfs_dir_list_put(struct inode *inode, struct atomfs_dir *list)
{
	struct atomfs_inode *ai = ATOMFS_I(inode);

	mutex_lock(&ai->dir_lock);
	if (--list->users || WARN_ON_ONCE(ai->list != list))
		list = NULL;
	else
		ai->list = NULL;
	mutex_unlock(&ai->dir_lock);
	atomfs_dir_free(list);
}

static int atomfs_iterate(struct file *file, struct dir_context *ctx)
{
	struct atomfs_dir *dir = atomfs_dir_get(file->f_path.dentry);
	const struct atomfs_dirent *de;

	if (IS_ERR(dir))
		return PTR_ERR(dir);
	if (dir->overflow) {
		/* The shared list; the caller holds f_pos_lock. */
		dir = file->private_data;
		if (!dir) {
			dir = atomfs_dir_list_get(file);
			if (IS_ERR(dir))
				return PTR_ERR(dir);
			file->private_data = dir;
		}
	}
	if (!dir_emit_dots(file, ctx))
		return 0;
	/* Offsets are ranks in the sorted list, after "." and "..". */
	while (ctx->pos >= 2 && ctx->pos - 2 < dir->nr) {
		de = dir->sorted[ctx->pos - 2];
		if (!dir_emit(ctx, de->name, de->len, de->ino, de->type))
			break;
		ctx->pos++;
	}
	return 0;
}

static int atomfs_dir_release(struct inode *inode, struct file *file)
{
	if (file->private_data)
		atomfs_dir_list_put(inode, file->private_data);
	return 0;
}

const struct file_operations atomfs_dir_fops = {
	.release = atomfs_dir_release,
	.read = generic_read_dir,
	.iterate_shared = atomfs_iterate,
	.llseek = generic_file_llseek,
	.unlocked_ioctl = atomfs_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};
