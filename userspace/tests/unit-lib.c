// SPDX-License-Identifier: LGPL-2.1-or-later
/* unit tests: paths, digests, tree, layout, squashfs writer, resolve and signatures */
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "input.h"
#include "internal.h"
#include "tap.h"

static char tmpdir[] = "/tmp/atomfs-unit.XXXXXX";

static void test_path_clean(void)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "a/b", "a/b" },   { "./a//b/", "a/b" },
		{ "./", "" },	    { ".", "" },
		{ "a/./b", "a/b" }, { "..a/b..", "..a/b.." },
	};
	static const char *const bad[] = { "/etc/passwd", "../x", "a/../../b",
					   "a/..", ".." };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		char *o = NULL;
		int err = atomfs_path_clean(good[i].in, &o);

		is_str(err ? "(error)" : o, good[i].out,
		       "path_clean: '%s' -> '%s'", good[i].in, good[i].out);
		free(o);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char *o = NULL;

		is_int(atomfs_path_clean(bad[i], &o), -EPERM,
		       "path_clean: '%s' is refused", bad[i]);
		free(o);
	}
}

static void test_digest(void)
{
	char *d = atomfs_digest_buf("", 0);
	char *f = NULL;
	char *p = path_join(tmpdir, "digest-me");
	uint64_t size = 0;

	is_str(d,
	       "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "digest: sha256 of the empty string");
	ok(atomfs_digest_valid(d), "digest: a real digest is valid");
	ok(!atomfs_digest_valid("sha256:E3B0"),
	   "digest: short/uppercase digest is invalid");
	ok(!atomfs_digest_valid(
		   "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
	   "digest: other algorithms are not sha256 digests");
	write_file_atomic(p, "{}", 2);
	ok(atomfs_digest_file(p, &f, &size) == 0 && size == 2,
	   "digest: file digest reads the whole file");
	is_str(f, EMPTY_DIGEST,
	       "digest: file digest of '{}' is the OCI empty descriptor digest");
	free(d);
	free(f);
	free(p);
}

static void test_tree(void)
{
	struct atomfs_tree t;
	struct atomfs_node *parent, *n, *hl;
	const char *leaf;

	atomfs_tree_init(&t);
	ok(atomfs_tree_lookup(&t, "a/b/c", true, &parent, &leaf) == 0 &&
		   !strcmp(leaf, "c"),
	   "tree: lookup creates missing parents");
	n = atomfs_node_new("c", S_IFREG | 0644);
	atomfs_tree_insert(&t, parent, n);
	hl = atomfs_node_new("d", S_IFREG | 0644);
	hl->link = n;
	atomfs_tree_insert(&t, parent, hl);
	/* replacing the link target keeps its inode alive for the link */
	atomfs_tree_insert(&t, parent, atomfs_node_new("c", S_IFLNK | 0777));
	ok(hl->link == n && S_ISREG(hl->link->mode) &&
		   S_ISLNK(atomfs_node_child(&t, parent, "c")->mode),
	   "tree: replacing a hard link target keeps the link's inode");
	is_int(atomfs_tree_lookup(&t, "a/b/c/x", true, &parent, &leaf),
	       -ENOTDIR, "tree: a path through a non-directory is refused");
	atomfs_node_set_xattr(t.root, "user.b", "2", 1);
	atomfs_node_set_xattr(t.root, "user.a", "1", 1);
	atomfs_node_set_xattr(t.root, "user.b", "3", 1);
	ok(t.root->nxattrs == 2 && !strcmp(t.root->xattrs[0].key, "user.a") &&
		   !memcmp(t.root->xattrs[1].value, "3", 1),
	   "tree: xattrs are sorted and replaced by key");
	atomfs_tree_free(&t);
}

static char *make_layer(struct atomfs_layout *l, const char *content,
			uint64_t *size)
{
	cleanup_free char *src = path_join(tmpdir, "src");
	cleanup_free char *file = path_join(src, "file");
	cleanup_free char *tmp = NULL;
	struct atomfs_input_opts io = { 0 };
	struct atomfs_sqfs_opts so = { .comp = ATOMFS_COMP_ZSTD,
				       .block_size = 131072,
				       .threads = 2,
				       .have_mtime = true,
				       .mtime = 1 };
	char *dig = NULL;

	mkdir(src, 0755);
	write_file_atomic(file, content, strlen(content));
	if (atomfs_layout_tmp_create(l, &tmp) < 0 ||
	    atomfs_build_layer(src, &io, &so, tmp) < 0 ||
	    atomfs_layout_commit_blob(l, tmp, &dig, size) < 0)
		tap_diag("make_layer: %s", atomfs_last_error());
	return dig;
}

static void test_layout_and_resolve(void)
{
	cleanup_free char *dir = path_join(tmpdir, "layout");
	cleanup_free char *ref = xasprintf("oci:%s:v1", dir);
	cleanup_free char *key = path_join(tmpdir, "key.pem");
	cleanup_free char *pub = path_join(tmpdir, "pub.pem");
	cleanup_free char *otherpub = path_join(tmpdir, "other.pem");
	struct atomfs_layout *l = NULL;
	struct atomfs_image_info *info = NULL;
	json_t *layers, *config, *mdesc = NULL;
	char *d1, *d2;
	uint64_t s1, s2;
	int err;

	ok(atomfs_layout_open(dir, 0, &l) == -ENOENT,
	   "layout: opening a missing layout fails with ENOENT");
	err = atomfs_layout_open(
		dir, ATOMFS_LAYOUT_WRITE | ATOMFS_LAYOUT_CREATE, &l);
	if (!ok(err == 0, "layout: create a new layout"))
		return;
	d1 = make_layer(l, "one", &s1);
	d2 = make_layer(l, "two", &s2);
	ok(d1 && d2 && s1 % 4096 == 0 && s2 % 4096 == 0,
	   "squashfs: layers are padded to 4096 bytes");
	layers = json_pack(
		"[o, o]",
		atomfs_desc_new(atomfs_comp_media_type(ATOMFS_COMP_ZSTD), d1,
				s1),
		atomfs_desc_new(atomfs_comp_media_type(ATOMFS_COMP_ZSTD), d2,
				s2));
	config =
		json_pack("{s:s, s:s}", "architecture", "amd64", "os", "linux");
	ok(atomfs_image_write(l, config, layers, NULL, &mdesc) == 0,
	   "layout: write config and manifest");
	atomfs_layout_set_tag(l, "v1", mdesc);
	ok(atomfs_layout_write_index(l) == 0, "layout: write index.json");
	atomfs_layout_close(l);
	json_decref(layers);
	json_decref(config);

	err = atomfs_resolve(ref, &info);
	if (ok(err == 0, "resolve: oci:DIR:TAG resolves")) {
		is_int(info->nlayers, 2, "resolve: two layers");
		is_str(info->layers[0].digest, d1,
		       "resolve: bottom layer first");
		ok(info->layers[1].size == s2 &&
			   str_has_suffix(info->layers[1].path, d2 + 7),
		   "resolve: layer size and blob path");
		ok(atomfs_digest_valid(info->manifest_digest),
		   "resolve: manifest digest");
		is_int(atomfs_layer_check(&info->layers[0]), 0,
		       "layer_check: a layer atomfs wrote is sane");
		{
			struct atomfs_image_layer junk = { 0 };
			cleanup_free char *jp = path_join(tmpdir, "junk");
			char zeros[8192] = { 0 };

			write_file_atomic(jp, zeros, sizeof(zeros));
			junk.path = jp;
			is_int(atomfs_layer_check(&junk), -EBADMSG,
			       "layer_check: zeros are not a squashfs");
		}
	} else {
		tap_diag("%s", atomfs_last_error());
	}
	{
		struct atomfs_image_info *none = NULL;
		cleanup_free char *bad = xasprintf("%s:nope", dir);

		is_int(atomfs_resolve(bad, &none), -ENOENT,
		       "resolve: unknown tag is ENOENT");
		ok(strstr(atomfs_last_error(), "nope") != NULL,
		   "resolve: the message names the tag");
	}

	/* signatures: Ed25519 key made here */
	{
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		EVP_PKEY *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		FILE *f;

		f = fopen(key, "w");
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
		fclose(f);
		f = fopen(pub, "w");
		PEM_write_PUBKEY(f, k);
		fclose(f);
		f = fopen(otherpub, "w");
		PEM_write_PUBKEY(f, k2);
		fclose(f);
		EVP_PKEY_free(k);
		EVP_PKEY_free(k2);
	}
	if (info) {
		is_int(atomfs_verify_signature(info, pub), -ENOKEY,
		       "sign: unsigned manifest gives ENOKEY");
		atomfs_layout_open(dir, ATOMFS_LAYOUT_WRITE, &l);
		ok(atomfs_sign_manifest(l, info->manifest_digest, 100,
					info->tag, key) == 0 &&
			   atomfs_layout_write_index(l) == 0,
		   "sign: sign the manifest");
		atomfs_layout_close(l);
		is_int(atomfs_verify_signature(info, pub), 0,
		       "sign: verify with the right key");
		is_int(atomfs_verify_signature(info, otherpub), -ENOKEY,
		       "sign: another key finds no signature");
	}
	/* rollback removes what a failed command added */
	{
		char *d3;
		cleanup_free char *p = NULL;

		atomfs_layout_open(dir, ATOMFS_LAYOUT_WRITE, &l);
		d3 = make_layer(l, "three", &s1);
		p = atomfs_layout_blob_path(l, d3);
		ok(access(p, F_OK) == 0,
		   "layout: new blob is stored under its digest");
		atomfs_layout_rollback(l);
		ok(access(p, F_OK) < 0,
		   "layout: rollback removes the new blob");
		ok(info && access(info->layers[0].path, F_OK) == 0,
		   "layout: rollback keeps older blobs");
		atomfs_layout_close(l);
		free(d3);
	}
	atomfs_image_info_free(info);
	free(d1);
	free(d2);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_path_clean();
	test_digest();
	test_tree();
	test_layout_and_resolve();
	{
		cleanup_free char *cmd = xasprintf("rm -rf %s", tmpdir);

		if (system(cmd) != 0)
			tap_diag("could not remove %s", tmpdir);
	}
	return tap_done();
}
