// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-oci: a hostile OCI layout, as `atomfs verify --pubkey` reads it:
 * index.json, manifests (or image indexes), configs, signature referrers.
 *
 * Input: parts separated by the line "@@@@".  Part 0 is index.json, part
 * N (1..9) becomes a blob.  In a part, "@DN@" is replaced by the digest
 * ("sha256:...") of part N and "@SN@" by its size, for N greater than the
 * part's own number, so the fuzzer mutates content while the digests that
 * bind it stay right (the seeds come from real layouts, see seed-oci).
 * Signatures are checked with userspace/fuzz/keys/test.pub (a test-only
 * key; the seeds are signed with keys/test.pem), or $ATOMFS_FUZZ_KEY.
 */
#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "image.h"

#define MAXPARTS 10
#define SEP "\n@@@@\n"

struct part {
	char *s;
	size_t len;
	char *digest;
};

static char key[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *k = getenv("ATOMFS_FUZZ_KEY");

	(void)argc;
	(void)argv;
	snprintf(key, sizeof(key), "%s", k ? k : FUZZ_KEY);
	return 0;
}

/* append to a growing buffer */
static void put(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*b = realloc(*b, *cap);
		if (!*b)
			abort();
	}
	memcpy(*b + *len, s, n);
	*len += n;
	(*b)[*len] = 0;
}

static void substitute(struct part *p, int self, const struct part *all, int n)
{
	char *b = NULL;
	size_t len = 0, cap = 0, i = 0;

	put(&b, &len, &cap, "", 0);
	while (i < p->len) {
		if (p->len - i >= 4 && p->s[i] == '@' &&
		    (p->s[i + 1] == 'D' || p->s[i + 1] == 'S') &&
		    p->s[i + 2] >= '0' && p->s[i + 2] <= '9' &&
		    p->s[i + 3] == '@' && p->s[i + 2] - '0' > self &&
		    p->s[i + 2] - '0' < n) {
			const struct part *r = &all[p->s[i + 2] - '0'];
			char num[32];

			if (p->s[i + 1] == 'D')
				put(&b, &len, &cap, r->digest,
				    strlen(r->digest));
			else
				put(&b, &len, &cap, num,
				    (size_t)snprintf(num, sizeof(num), "%zu",
						     r->len));
			i += 4;
			continue;
		}
		put(&b, &len, &cap, p->s + i, 1);
		i++;
	}
	free(p->s);
	p->s = b;
	p->len = len;
}

static void check_image(struct atomfs_layout *l, const char *tag)
{
	struct atomfs_image img;
	size_t i;
	json_t *refs;

	if (fuzz_rc("image_load", atomfs_image_load(l, tag, &img)) == 0) {
		for (i = 0; i < json_array_size(img.layers); i++) {
			json_t *d = json_array_get(img.layers, i);

			(void)atomfs_layer_kind(
				atomfs_desc_str(d, "mediaType"));
			(void)atomfs_layout_check_blob(
				l, atomfs_desc_str(d, "digest"),
				json_integer_value(json_object_get(d, "size")));
		}
		refs = atomfs_image_referrers(l, img.digest);
		for (i = 0; i < json_array_size(refs); i++)
			(void)atomfs_is_signature(json_array_get(refs, i));
		json_decref(refs);
		(void)fuzz_rc("verify",
			      atomfs_verify_manifest(l, img.digest, tag, key));
	}
	atomfs_image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[128], blobs[160];
	struct part parts[MAXPARTS] = { 0 };
	const char *s = (const char *)data, *end = s + size;
	struct atomfs_layout *l;
	char path[256];
	int n = 0, i;

	fuzz_init();
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/layout", fuzz_dir());
		snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
		if (mkdir(dir, 0700) || mkdir(blobs, 0700))
			abort();
		snprintf(path, sizeof(path), "%s/sha256", blobs);
		if (mkdir(path, 0700))
			abort();
		snprintf(path, sizeof(path), "%s/oci-layout", dir);
		fuzz_write(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	}
	while (n < MAXPARTS) {
		const char *sep = memmem(s, (size_t)(end - s), SEP, 6);
		size_t len = sep ? (size_t)(sep - s) : (size_t)(end - s);

		parts[n].s = malloc(len + 1);
		if (!parts[n].s)
			abort();
		memcpy(parts[n].s, s, len);
		parts[n].s[len] = 0;
		parts[n++].len = len;
		if (!sep)
			break;
		s = sep + 6;
	}
	for (i = n - 1; i >= 0; i--) {
		substitute(&parts[i], i, parts, n);
		parts[i].digest = atomfs_digest_buf(parts[i].s, parts[i].len);
		if (!parts[i].digest)
			abort();
		if (i == 0)
			snprintf(path, sizeof(path), "%s/index.json", dir);
		else
			snprintf(path, sizeof(path), "%s/sha256/%s", blobs,
				 parts[i].digest + 7);
		fuzz_write(path, parts[i].s, parts[i].len);
	}

	if (fuzz_rc("layout_open", atomfs_layout_open(dir, 0, &l)) == 0) {
		json_t *m = json_object_get(l->index, "manifests");
		size_t k;

		for (k = 0; k < json_array_size(m) && k < 8; k++) {
			const char *tag = atomfs_desc_annotation(
				json_array_get(m, k),
				"org.opencontainers.image.ref.name");

			if (tag)
				check_image(l, tag);
		}
		atomfs_layout_close(l);
	}

	for (i = 1; i < n; i++) {
		snprintf(path, sizeof(path), "%s/sha256/%s", blobs,
			 parts[i].digest + 7);
		unlink(path);
	}
	for (i = 0; i < n; i++) {
		free(parts[i].s);
		free(parts[i].digest);
	}
	return 0;
}
