// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unit tests: the layer tree against hostile shapes (issue 11, item 9).
 * Work is measured by counting child slots examined (tree->ncmp), never
 * by timing: a quadratic insert fails the budget long before it is slow.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"
#include "internal.h"
#include "tap.h"
#include "tree.h"

#define WIDE 200000
/* linear probing at most half full: about 1.5 slots per hit, 2.5 per miss */
#define SLOTS_PER_OP 4

static void test_wide_directory(void)
{
	struct atomfs_tree t;
	struct atomfs_node *n;
	char name[32];
	size_t i, found = 0;
	uint64_t before;
	int over = 0;

	atomfs_tree_init(&t);
	for (i = 0; i < WIDE; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		if (atomfs_tree_insert(&t, t.root,
				       atomfs_node_new(name, S_IFREG | 0644)))
			break;
		/* stop at the first sign of a linear scan, not after 2e10 of them */
		if (t.ncmp > SLOTS_PER_OP * (i + 1) + 64) {
			over = 1;
			break;
		}
	}
	if (!ok(i == WIDE && !over,
		"tree: %d entries inserted into one directory in at most %d slot comparisons each",
		WIDE, SLOTS_PER_OP))
		tap_diag("  stopped after %zu entries with %llu comparisons", i,
			 (unsigned long long)t.ncmp);
	tap_diag("%d inserts: %llu comparisons", WIDE,
		 (unsigned long long)t.ncmp);
	before = t.ncmp;
	for (i = 0; i < WIDE; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		n = atomfs_node_child(&t, t.root, name);
		found += n && !strcmp(n->name, name);
	}
	ok(found == WIDE && t.ncmp - before <= SLOTS_PER_OP * WIDE,
	   "tree: %d lookups find every entry in at most %d comparisons each",
	   WIDE, SLOTS_PER_OP);
	tap_diag("%d lookups: %llu comparisons", WIDE,
		 (unsigned long long)(t.ncmp - before));
	ok(!atomfs_node_child(&t, t.root, "nothing") &&
		   !atomfs_node_child(&t, t.root, "f200000"),
	   "tree: names never inserted are not found");

	/* replacing an entry keeps one entry per name, found by the table */
	before = t.nnodes;
	atomfs_tree_insert(&t, t.root, atomfs_node_new("f777", S_IFDIR | 0755));
	n = atomfs_node_child(&t, t.root, "f777");
	ok(t.nnodes == before && n && S_ISDIR(n->mode) &&
		   t.root->kids[n->idx] == n,
	   "tree: a replaced entry takes the old one's slot");

	/* sorting reorders kids: the table must follow */
	atomfs_tree_sort(t.root);
	for (i = 1; i < t.root->nkids; i++)
		if (strcmp(t.root->kids[i - 1]->name, t.root->kids[i]->name) >=
		    0)
			break;
	n = atomfs_node_child(&t, t.root, "f12345");
	ok(i == t.root->nkids && n && !strcmp(n->name, "f12345") &&
		   t.root->kids[n->idx] == n,
	   "tree: after sorting, kids are in byte order and still found");
	atomfs_tree_free(&t);
}

static void test_dir_replaces_dir(void)
{
	struct atomfs_tree t;
	struct atomfs_node *parent, *d2, *k;
	const char *leaf;
	char name[16];
	int i;

	atomfs_tree_init(&t);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "d/k%d", i);
		atomfs_tree_lookup(&t, name, true, &parent, &leaf);
		atomfs_tree_insert(&t, parent,
				   atomfs_node_new(leaf, S_IFREG | 0644));
	}
	d2 = atomfs_node_new("d", S_IFDIR | 0700);
	atomfs_tree_insert(&t, t.root, d2);
	k = atomfs_node_child(&t, d2, "k13");
	ok(d2->nkids == 20 && k && k->parent == d2 &&
		   atomfs_node_child(&t, t.root, "d") == d2,
	   "tree: a directory replacing a directory keeps its (hashed) children");
	atomfs_tree_free(&t);
}

static void test_limits(void)
{
	char name[ATOMFS_NAME_MAX + 2], *path;
	struct atomfs_tree t;
	struct atomfs_node *parent, *n;
	const char *leaf;
	size_t i;
	int err = 0;

	atomfs_tree_init(&t);
	memset(name, 'n', sizeof(name));
	name[ATOMFS_NAME_MAX] = '\0';
	n = atomfs_node_new(name, S_IFREG);
	is_int(atomfs_tree_insert(&t, t.root, n), 0,
	       "tree: a name of %d bytes is taken", ATOMFS_NAME_MAX);
	name[ATOMFS_NAME_MAX] = 'n';
	name[ATOMFS_NAME_MAX + 1] = '\0';
	n = atomfs_node_new(name, S_IFREG);
	is_int(atomfs_tree_insert(&t, t.root, n), -ENAMETOOLONG,
	       "tree: a name of %d bytes is refused", ATOMFS_NAME_MAX + 1);
	atomfs_node_free(n);
	path = xasprintf("%s/x", name);
	is_int(atomfs_tree_lookup(&t, path, true, &parent, &leaf),
	       -ENAMETOOLONG, "tree: a directory name of %d bytes is refused",
	       ATOMFS_NAME_MAX + 1);
	free(path);

	/* a path one level too deep, made of implicit parents */
	path = xcalloc(2, ATOMFS_TREE_MAX_DEPTH + 1);
	for (i = 0; i < ATOMFS_TREE_MAX_DEPTH; i++)
		memcpy(path + 2 * i, "a/", 2);
	path[2 * ATOMFS_TREE_MAX_DEPTH] = 'f';
	is_int(atomfs_tree_lookup(&t, path, true, &parent, &leaf), -ELOOP,
	       "tree: a path %d directories deep is refused",
	       ATOMFS_TREE_MAX_DEPTH + 1);
	path[2 * ATOMFS_TREE_MAX_DEPTH - 2] = 'f';
	path[2 * ATOMFS_TREE_MAX_DEPTH - 1] = '\0';
	err = atomfs_tree_lookup(&t, path, true, &parent, &leaf);
	if (!err)
		err = atomfs_tree_insert(&t, parent, atomfs_node_new(leaf, 0));
	is_int(err, 0, "tree: a path %d entries deep is taken",
	       ATOMFS_TREE_MAX_DEPTH);
	free(path);
	atomfs_tree_free(&t);

	atomfs_tree_init(&t);
	t.max_nodes = 100;
	for (i = 0; i < 200 && !err; i++) {
		snprintf(name, sizeof(name), "x%zu", i % 60);
		n = atomfs_node_new(name, S_IFREG);
		err = atomfs_tree_insert(&t, t.root, n);
		if (err)
			atomfs_node_free(n);
	}
	/* root + 60 names + 39 replacements */
	ok(err == -E2BIG && i == 100,
	   "tree: the entry limit counts replaced entries too (stopped at %zu)",
	   i);
	atomfs_tree_free(&t);
}

static int count_pre(struct atomfs_node *n, void *arg)
{
	(void)n;
	++*(size_t *)arg;
	return 0;
}

/*
 * 300,000 directories deep (limit lifted): sorting, walking and freeing
 * must not recurse, or they overflow the stack (8 MiB at ~30 bytes and
 * more per frame).
 */
static void test_deep_walks(void)
{
	struct atomfs_tree t;
	struct atomfs_node *d;
	size_t i, depth = 300000, seen = 0;

	atomfs_tree_init(&t);
	t.max_depth = (uint32_t)depth + 1;
	d = t.root;
	for (i = 0; i < depth; i++) {
		struct atomfs_node *k = atomfs_node_new("d", S_IFDIR | 0755);

		atomfs_tree_insert(&t, d, k);
		atomfs_tree_insert(&t, d, atomfs_node_new("f", S_IFREG));
		d = k;
	}
	atomfs_tree_sort(t.root);
	atomfs_tree_walk(t.root, count_pre, NULL, &seen);
	is_int(seen, 2 * depth + 1,
	       "tree: a tree %zu directories deep is sorted and walked without recursion",
	       depth);
	atomfs_tree_free(&t);
	ok(1, "tree: and freed");
}

/* the squashfs writer's walks (data feed, link counts, inode numbers) too */
static void test_deep_layer(void)
{
	char tmp[] = "/tmp/atomfs-unit-deep.XXXXXX";
	struct atomfs_sqfs_opts so = { .comp = ATOMFS_COMP_NONE, .threads = 1 };
	cleanup_free char *out = NULL;
	struct atomfs_sqfs *w = NULL;
	struct atomfs_tree t;
	struct atomfs_node *d;
	size_t i, depth = 200000;
	int err;

	if (!mkdtemp(tmp)) {
		ok(0, "tree: mkdtemp: %m");
		return;
	}
	out = path_join(tmp, "deep.sqfs");
	atomfs_tree_init(&t);
	t.max_depth = (uint32_t)depth + 1;
	d = t.root;
	for (i = 0; i < depth; i++) {
		struct atomfs_node *k = atomfs_node_new("d", S_IFDIR | 0755);

		atomfs_tree_insert(&t, d, k);
		d = k;
	}
	atomfs_tree_insert(&t, d, atomfs_node_new("f", S_IFREG | 0644));
	err = atomfs_sqfs_create(out, &so, &w);
	if (!err)
		err = atomfs_sqfs_finish(w, &t);
	is_int(err, 0,
	       "tree: a layer %zu directories deep is written without recursion",
	       depth);
	atomfs_sqfs_destroy(w);
	atomfs_tree_free(&t);
	unlink(out);
	rmdir(tmp);
}

/* the inputs turn the tree's entry limit into a clear error */
static void test_entry_limit_messages(void)
{
	char tmp[] = "/tmp/atomfs-unit-tree.XXXXXX";
	struct atomfs_input_opts io = { 0 };
	struct atomfs_sqfs_opts so = { .comp = ATOMFS_COMP_GZIP, .threads = 1 };
	cleanup_free char *dir = NULL, *tar = NULL, *out = NULL, *cmd = NULL;
	struct atomfs_sqfs *w = NULL;
	struct atomfs_tree t;
	int err;

	if (!mkdtemp(tmp)) {
		ok(0, "tree: mkdtemp: %m");
		return;
	}
	dir = path_join(tmp, "in");
	tar = path_join(tmp, "in.tar");
	out = path_join(tmp, "out.sqfs");
	cmd = xasprintf(
		"mkdir %s && cd %s && touch $(seq 1 30) && tar -cf %s -C %s .",
		dir, dir, tar, dir);
	if (system(cmd) != 0) {
		ok(0, "tree: cannot make %s", tar);
		return;
	}
	atomfs_tree_init(&t);
	t.max_nodes = 20;
	err = atomfs_input_dir(dir, &io, &t);
	ok(err == -E2BIG && strstr(atomfs_last_error(),
				   "the tree has more than 20 entries"),
	   "tree: a directory over the entry limit is refused: %s",
	   atomfs_last_error());
	atomfs_tree_free(&t);

	atomfs_tree_init(&t);
	t.max_nodes = 20;
	err = atomfs_sqfs_create(out, &so, &w);
	if (!err)
		err = atomfs_input_tar(tar, &io, &t, w);
	ok(err == -E2BIG && strstr(atomfs_last_error(), "more than 20 entries"),
	   "tree: a tar over the entry limit is refused: %s",
	   atomfs_last_error());
	atomfs_sqfs_destroy(w);
	atomfs_tree_free(&t);
	free(cmd);
	cmd = xasprintf("rm -rf %s", tmp);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", tmp);
}

static void test_xattrs(void)
{
	struct atomfs_node *n = atomfs_node_new("x", S_IFREG);
	struct atomfs_xattr v[] = {
		{ .key = (char *)(uintptr_t) "user.b",
		  .value = (void *)(uintptr_t) "1",
		  .size = 1 },
		{ .key = (char *)(uintptr_t) "user.a",
		  .value = (void *)(uintptr_t) "2",
		  .size = 1 },
		{ .key = (char *)(uintptr_t) "user.b",
		  .value = (void *)(uintptr_t) "3",
		  .size = 1 },
	};

	atomfs_node_set_xattr(n, "user.a", "0", 1);
	atomfs_node_set_xattr(n, "user.c", "4", 1);
	atomfs_node_add_xattrs(n, v, ARRAY_SIZE(v));
	ok(n->nxattrs == 3 && !strcmp(n->xattrs[0].key, "user.a") &&
		   !memcmp(n->xattrs[0].value, "2", 1) &&
		   !strcmp(n->xattrs[1].key, "user.b") &&
		   !memcmp(n->xattrs[1].value, "3", 1) &&
		   !memcmp(n->xattrs[2].value, "4", 1),
	   "tree: xattrs added at once are sorted, the last of a key wins");
	atomfs_node_free(n);
}

int main(void)
{
	test_xattrs();
	test_entry_limit_messages();
	test_wide_directory();
	test_dir_replaces_dir();
	test_limits();
	test_deep_walks();
	test_deep_layer();
	return tap_done();
}
