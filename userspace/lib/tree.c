// SPDX-License-Identifier: LGPL-2.1-or-later
/* tree.c: the in-memory file tree a layer is built from */
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "internal.h"
#include "tree.h"

struct atomfs_node *atomfs_node_new(const char *name, mode_t mode)
{
	struct atomfs_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = strdup(name);
	if (!n->name) {
		free(n);
		return NULL;
	}
	n->mode = mode;
	return n;
}

/* the node's own memory; its children are freed by the walk */
static int node_free_one(struct atomfs_node *n, void *arg)
{
	size_t i;

	(void)arg;
	for (i = 0; i < n->nxattrs; i++) {
		free(n->xattrs[i].key);
		free(n->xattrs[i].value);
	}
	free(n->xattrs);
	free(n->kids);
	free(n->htab);
	free(n->name);
	free(n->symlink);
	free(n->src);
	free(n->inode);
	free(n);
	return 0;
}

void atomfs_node_free(struct atomfs_node *n)
{
	if (n)
		atomfs_tree_walk(n, NULL, node_free_one, NULL);
}

int atomfs_tree_walk(struct atomfs_node *root, atomfs_walk_fn pre,
		     atomfs_walk_fn post, void *arg)
{
	struct atomfs_node *n = root;
	int err;

	for (;;) {
		/* going down: n is visited for the first time */
		if (pre) {
			err = pre(n, arg);
			if (err)
				return err;
		}
		if (n->nkids) {
			n = n->kids[0];
			continue;
		}
		/* going up: n and everything below it are done */
		for (;;) {
			struct atomfs_node *p = n->parent;
			size_t next = (size_t)n->idx + 1;
			bool last = n == root;

			if (post) {
				err = post(n, arg); /* may free n */
				if (err)
					return err;
			}
			if (last)
				return 0;
			if (next < p->nkids) {
				n = p->kids[next];
				break;
			}
			n = p;
		}
	}
}

int atomfs_tree_init(struct atomfs_tree *t)
{
	unsigned char key[16];
	size_t outsize = 8;
	OSSL_PARAM params[] = {
		OSSL_PARAM_size_t(OSSL_MAC_PARAM_SIZE, &outsize),
		OSSL_PARAM_END,
	};
	EVP_MAC *mac;

	memset(t, 0, sizeof(*t));
	t->src_fd = -1;
	t->root = atomfs_node_new("", S_IFDIR | 0755);
	if (!t->root)
		return atomfs_enomem();
	t->nnodes = 1;
	t->max_nodes = ATOMFS_TREE_MAX_NODES;
	t->max_depth = ATOMFS_TREE_MAX_DEPTH;
	/*
	 * Without OpenSSL's SipHash (a broken provider set-up) names are
	 * hashed with an unkeyed function: still correct, only no longer
	 * proof against names chosen to collide.
	 */
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		return 0;
	mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	if (!mac)
		return 0;
	t->mac = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	if (t->mac && !EVP_MAC_init(t->mac, key, sizeof(key), params)) {
		EVP_MAC_CTX_free(t->mac);
		t->mac = NULL;
	}
	return 0;
}

void atomfs_tree_free(struct atomfs_tree *t)
{
	size_t i;

	for (i = 0; i < t->ngraveyard; i++)
		atomfs_node_free(t->graveyard[i]);
	free(t->graveyard);
	t->graveyard = NULL;
	t->ngraveyard = t->graveyard_cap = 0;
	atomfs_node_free(t->root);
	t->root = NULL;
	EVP_MAC_CTX_free(t->mac);
	t->mac = NULL;
	if (t->src_fd >= 0)
		close(t->src_fd);
	t->src_fd = -1;
	free(t->src_dir);
	t->src_dir = NULL;
}

static uint64_t name_hash(struct atomfs_tree *t, const char *name)
{
	size_t len = strlen(name), outl;
	unsigned char out[8];
	uint64_t h;

	if (t->mac && EVP_MAC_init(t->mac, NULL, 0, NULL) &&
	    EVP_MAC_update(t->mac, (const unsigned char *)name, len) &&
	    EVP_MAC_final(t->mac, out, &outl, sizeof(out)) &&
	    outl == sizeof(out)) {
		memcpy(&h, out, sizeof(h));
		return h;
	}
	/* FNV-1a */
	for (h = 0xcbf29ce484222325ull; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	return h;
}

/* fill dir's hash table (of dir->hcap slots) with its current kids */
static void htab_fill(struct atomfs_node *dir)
{
	size_t i, hcap = dir->hcap;

	memset(dir->htab, 0, hcap * sizeof(*dir->htab));
	for (i = 0; i < dir->nkids; i++) {
		size_t s = dir->kids[i]->hash & (hcap - 1);

		while (dir->htab[s])
			s = (s + 1) & (hcap - 1);
		dir->htab[s] = (uint32_t)i + 1;
	}
}

/* (re)build dir's hash table sized for cap kids; unchanged on -ENOMEM */
static int htab_build(struct atomfs_node *dir, size_t cap)
{
	size_t hcap = 16;
	uint32_t *h;

	while (hcap < 2 * cap)
		hcap *= 2;
	h = calloc(hcap, sizeof(*h));
	if (!h)
		return -ENOMEM;
	free(dir->htab);
	dir->htab = h;
	dir->hcap = hcap;
	htab_fill(dir);
	return 0;
}

/*
 * The slot of dir's child called name (with hash h) in dir->kids, or
 * dir->nkids if there is none.  With a hash table: the table slot too.
 */
static size_t kid_find(struct atomfs_tree *t, struct atomfs_node *dir,
		       const char *name, uint64_t h, size_t *hslot)
{
	size_t i;

	if (!dir->htab) {
		for (i = 0; i < dir->nkids; i++) {
			t->ncmp++;
			if (dir->kids[i]->hash == h &&
			    !strcmp(dir->kids[i]->name, name))
				return i;
		}
		return dir->nkids;
	}
	for (i = h & (dir->hcap - 1); dir->htab[i];
	     i = (i + 1) & (dir->hcap - 1)) {
		struct atomfs_node *k = dir->kids[dir->htab[i] - 1];

		t->ncmp++;
		if (k->hash == h && !strcmp(k->name, name))
			return dir->htab[i] - 1;
	}
	*hslot = i;
	return dir->nkids;
}

struct atomfs_node *atomfs_node_child(struct atomfs_tree *t,
				      struct atomfs_node *dir, const char *name)
{
	size_t hslot, i;

	if (!dir->nkids)
		return NULL;
	i = kid_find(t, dir, name, name_hash(t, name), &hslot);
	return i < dir->nkids ? dir->kids[i] : NULL;
}

int atomfs_tree_insert(struct atomfs_tree *t, struct atomfs_node *parent,
		       struct atomfs_node *n)
{
	struct atomfs_node *old;
	size_t i, hslot = 0;

	if (strlen(n->name) > ATOMFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (parent->depth + 1 > t->max_depth)
		return -ELOOP;
	if (t->nnodes + t->ngraveyard >= t->max_nodes)
		return -E2BIG;
	n->hash = name_hash(t, n->name);
	i = kid_find(t, parent, n->name, n->hash, &hslot);
	if (i < parent->nkids) {
		/* room in the graveyard first: nothing changes on -ENOMEM */
		if (t->ngraveyard == t->graveyard_cap) {
			size_t cap = t->graveyard_cap ? 2 * t->graveyard_cap :
							64;
			struct atomfs_node **g = realloc(
				t->graveyard, cap * sizeof(*t->graveyard));

			if (!g)
				return -ENOMEM;
			t->graveyard = g;
			t->graveyard_cap = cap;
		}
		n->depth = parent->depth + 1;
		n->parent = parent;
		old = parent->kids[i];
		/* a directory replacing a directory keeps its contents (tar semantics) */
		if (S_ISDIR(old->mode) && S_ISDIR(n->mode)) {
			n->kids = steal_pointer(&old->kids);
			n->htab = steal_pointer(&old->htab);
			n->nkids = old->nkids;
			n->kids_cap = old->kids_cap;
			n->hcap = old->hcap;
			old->nkids = old->kids_cap = old->hcap = 0;
			for (size_t k = 0; k < n->nkids; k++)
				n->kids[k]->parent = n;
		}
		/*
		 * The replaced entry is not freed until the tree is: other
		 * entries may hard-link to it (the inode outlives this name,
		 * as in a filesystem), and the block processor may still be
		 * writing its file inode through &old->inode.
		 */
		n->idx = (uint32_t)i;
		parent->kids[i] = n;
		old->parent = NULL;
		t->graveyard[t->ngraveyard++] = old;
		return 0;
	}
	if (parent->nkids == parent->kids_cap) {
		size_t cap = parent->kids_cap ? parent->kids_cap * 2 : 8;
		struct atomfs_node **k =
			realloc(parent->kids, cap * sizeof(*parent->kids));

		if (!k)
			return -ENOMEM;
		parent->kids = k;
		parent->kids_cap = cap;
	}
	n->depth = parent->depth + 1;
	n->parent = parent;
	n->idx = (uint32_t)parent->nkids;
	parent->kids[parent->nkids++] = n;
	if (parent->htab && 2 * parent->nkids <= parent->hcap) {
		parent->htab[hslot] = n->idx + 1;
	} else if ((parent->htab || parent->nkids >= ATOMFS_DIR_HASH_MIN) &&
		   htab_build(parent, parent->kids_cap)) {
		/* not inserted: the table still holds the others */
		parent->kids[--parent->nkids] = NULL;
		n->parent = NULL;
		return -ENOMEM;
	}
	t->nnodes++;
	return 0;
}

int atomfs_path_clean(const char *in, char **out)
{
	char *buf = calloc(1, strlen(in) + 1), *o = buf;
	const char *p = in;

	if (!buf)
		return -ENOMEM;
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
		int err;

		if (!slash)
			break;
		if (dir->depth + 1 > t->max_depth)
			return -ELOOP;
		if ((size_t)(slash - p) > ATOMFS_NAME_MAX)
			return -ENAMETOOLONG;
		comp = strndup(p, (size_t)(slash - p));
		if (!comp)
			return -ENOMEM;
		next = atomfs_node_child(t, dir, comp);
		if (!next) {
			if (!create_parents)
				return -ENOENT;
			next = atomfs_node_new(comp, S_IFDIR | 0755);
			if (!next)
				return -ENOMEM;
			next->mtime = dir->mtime;
			err = atomfs_tree_insert(t, dir, next);
			if (err) {
				atomfs_node_free(next);
				return err;
			}
		} else if (!S_ISDIR(next->mode)) {
			return -ENOTDIR;
		}
		dir = next;
		p = slash + 1;
	}
	/* the leaf's length is checked on insert (".wh.NAME" may exceed it) */
	if (dir->depth + 1 > t->max_depth)
		return -ELOOP;
	*parent = dir;
	*leaf = p;
	return 0;
}

struct xattr_ord {
	struct atomfs_xattr x;
	size_t ord; /* later ones replace earlier ones of the same key */
};

static int xattr_ord_cmp(const void *a, const void *b)
{
	const struct xattr_ord *x = a, *y = b;
	int c = strcmp(x->x.key, y->x.key);

	return c ? c : x->ord < y->ord ? -1 : x->ord > y->ord;
}

int atomfs_node_add_xattrs(struct atomfs_node *n, const struct atomfs_xattr *v,
			   size_t count)
{
	size_t total = n->nxattrs + count, i, out = 0;
	struct atomfs_xattr *grown;
	struct xattr_ord *all;

	if (!count)
		return 0;
	/* every allocation before n changes: on -ENOMEM n is as it was */
	grown = realloc(n->xattrs, total * sizeof(*n->xattrs));
	if (!grown)
		return -ENOMEM;
	n->xattrs = grown;
	all = calloc(total, sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (i = 0; i < n->nxattrs; i++)
		all[i] = (struct xattr_ord){ .x = n->xattrs[i], .ord = i };
	for (i = 0; i < count; i++) {
		struct atomfs_xattr *x = &all[n->nxattrs + i].x;

		x->key = strdup(v[i].key);
		x->value = malloc(v[i].size ? v[i].size : 1);
		if (!x->key || !x->value) {
			do {
				free(all[n->nxattrs + i].x.key);
				free(all[n->nxattrs + i].x.value);
			} while (i-- > 0);
			free(all);
			return -ENOMEM;
		}
		memcpy(x->value, v[i].value, v[i].size);
		x->size = v[i].size;
		all[n->nxattrs + i].ord = n->nxattrs + i;
	}
	/* one sort however many there are (a tar header can hold 30,000) */
	qsort(all, total, sizeof(*all), xattr_ord_cmp);
	for (i = 0; i < total; i++) {
		if (i + 1 < total && !strcmp(all[i].x.key, all[i + 1].x.key)) {
			free(all[i].x.key);
			free(all[i].x.value);
			continue;
		}
		n->xattrs[out++] = all[i].x;
	}
	n->nxattrs = out;
	free(all);
	return 0;
}

int atomfs_node_set_xattr(struct atomfs_node *n, const char *key,
			  const void *val, size_t size)
{
	struct atomfs_xattr x = { .key = (char *)(uintptr_t)key,
				  .value = (void *)(uintptr_t)val,
				  .size = size };

	return atomfs_node_add_xattrs(n, &x, 1);
}

static int node_cmp(const void *a, const void *b)
{
	const struct atomfs_node *x = *(struct atomfs_node *const *)a;
	const struct atomfs_node *y = *(struct atomfs_node *const *)b;

	/* squashfs requires byte-wise name order */
	return strcmp(x->name, y->name);
}

static int sort_kids(struct atomfs_node *dir, void *arg)
{
	size_t i;

	(void)arg;
	if (dir->nkids < 2)
		return 0;
	qsort(dir->kids, dir->nkids, sizeof(*dir->kids), node_cmp);
	for (i = 0; i < dir->nkids; i++)
		dir->kids[i]->idx = (uint32_t)i;
	if (dir->htab)
		htab_fill(dir); /* same size: no allocation */
	return 0;
}

void atomfs_tree_sort(struct atomfs_node *dir)
{
	atomfs_tree_walk(dir, sort_kids, NULL, NULL);
}

/* "/a/b" for messages; NULL when memory runs out */
char *atomfs_node_path(const struct atomfs_node *n)
{
	char *p, *q;

	if (!n->parent)
		return strdup("/");
	p = strdup(n->name);
	for (n = n->parent; p && n->parent; n = n->parent) {
		q = atomfs_asprintf("%s/%s", n->name, p);
		free(p);
		p = q;
	}
	if (!p)
		return NULL;
	q = atomfs_asprintf("/%s", p);
	free(p);
	return q;
}

int atomfs_acl_xattr_type(const char *name)
{
	if (!strcmp(name, "system.posix_acl_access"))
		return ATOMFS_ACL_TYPE_ACCESS;
	if (!strcmp(name, "system.posix_acl_default"))
		return ATOMFS_ACL_TYPE_DEFAULT;
	return -1;
}

static int acl_entry_cmp(const void *a, const void *b)
{
	const struct atomfs_acl_entry *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void put_le16(unsigned char *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	put_le16(p, v & 0xffff);
	put_le16(p + 2, v >> 16);
}

int atomfs_node_set_acl(struct atomfs_node *n, int type,
			struct atomfs_acl_entry *e, size_t count)
{
	unsigned int seen = 0, named = 0;
	uint16_t group_class = 0;
	cleanup_free unsigned char *val = NULL;
	size_t i, size;

	if (count > ATOMFS_ACL_MAX_ENTRIES)
		return -EINVAL;
	qsort(e, count, sizeof(*e), acl_entry_cmp);
	/* what posix_acl_valid() asks: one of each base entry, named ones unique */
	for (i = 0; i < count; i++) {
		if (e[i].perm & ~7u)
			return -EINVAL;
		switch (e[i].tag) {
		case ATOMFS_ACL_USER:
		case ATOMFS_ACL_GROUP:
			if (i && e[i - 1].tag == e[i].tag &&
			    e[i - 1].id == e[i].id)
				return -EINVAL;
			named++;
			group_class |= e[i].perm;
			break;
		case ATOMFS_ACL_USER_OBJ:
		case ATOMFS_ACL_GROUP_OBJ:
		case ATOMFS_ACL_MASK:
		case ATOMFS_ACL_OTHER:
			if (seen & e[i].tag)
				return -EINVAL;
			if (e[i].tag == ATOMFS_ACL_GROUP_OBJ)
				group_class |= e[i].perm;
			e[i].id =
				UINT32_MAX; /* ACL_UNDEFINED_ID, as the kernel writes */
			break;
		default:
			return -EINVAL;
		}
		seen |= e[i].tag;
	}
	if ((seen &
	     (ATOMFS_ACL_USER_OBJ | ATOMFS_ACL_GROUP_OBJ | ATOMFS_ACL_OTHER)) !=
	    (ATOMFS_ACL_USER_OBJ | ATOMFS_ACL_GROUP_OBJ | ATOMFS_ACL_OTHER))
		return -EINVAL;
	if (type == ATOMFS_ACL_TYPE_ACCESS) {
		/*
		 * The permission bits are the ACL's base entries, the group
		 * bits its mask, as on any Linux filesystem: the kernel
		 * consults an access ACL only when the group bits are not
		 * zero.  (libarchive sets the group bits from "group::".)
		 */
		mode_t bits = 0;

		for (i = 0; i < count; i++)
			if (e[i].tag == ATOMFS_ACL_USER_OBJ)
				bits |= (mode_t)e[i].perm << 6;
			else if (e[i].tag == ATOMFS_ACL_OTHER)
				bits |= e[i].perm;
			else if (e[i].tag == ATOMFS_ACL_MASK ||
				 (e[i].tag == ATOMFS_ACL_GROUP_OBJ && !named &&
				  !(seen & ATOMFS_ACL_MASK)))
				bits |= (mode_t)e[i].perm << 3;
		if (named && !(seen & ATOMFS_ACL_MASK))
			bits |= (mode_t)group_class << 3;
		n->mode = (n->mode & ~(mode_t)0777) | bits;
		if (!named && !(seen & ATOMFS_ACL_MASK))
			return 0;
	}
	size = 4 + 8 * (count + (named && !(seen & ATOMFS_ACL_MASK)));
	val = malloc(size);
	if (!val)
		return -ENOMEM;
	put_le32(val, 2);
	for (i = 0, size = 4; i < count; i++, size += 8) {
		/* a mask the ACL lacks goes before OTHER, the last entry */
		if (e[i].tag == ATOMFS_ACL_OTHER && named &&
		    !(seen & ATOMFS_ACL_MASK)) {
			put_le16(val + size, ATOMFS_ACL_MASK);
			put_le16(val + size + 2, group_class);
			put_le32(val + size + 4, UINT32_MAX);
			size += 8;
		}
		put_le16(val + size, e[i].tag);
		put_le16(val + size + 2, e[i].perm);
		put_le32(val + size + 4, e[i].id);
	}
	if (atomfs_node_set_xattr(n,
				  type == ATOMFS_ACL_TYPE_ACCESS ?
					  ATOMFS_ACL_ACCESS :
					  ATOMFS_ACL_DEFAULT,
				  val, size))
		return -ENOMEM;
	return 1;
}

int atomfs_node_set_acl_xattr(struct atomfs_node *n, int type, const void *val,
			      size_t size)
{
	const unsigned char *p = val;
	cleanup_free struct atomfs_acl_entry *e = NULL;
	size_t count, i;
	int err;

	if (size < 4 || (size - 4) % 8 ||
	    (p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24) != 2)
		return -EBADMSG;
	count = (size - 4) / 8;
	e = calloc(count ? count : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (i = 0, p += 4; i < count; i++, p += 8)
		e[i] = (struct atomfs_acl_entry){
			.tag = (uint16_t)(p[0] | p[1] << 8),
			.perm = (uint16_t)(p[2] | p[3] << 8),
			.id = p[4] | p[5] << 8 | p[6] << 16 |
			      (uint32_t)p[7] << 24,
		};
	err = atomfs_node_set_acl(n, type, e, count);
	return err == -EINVAL ? -EBADMSG : err;
}
