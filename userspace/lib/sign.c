// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sign.c: manifest signatures as OCI 1.1 referrers.
 *
 * The signed message is "atomfs-signature-v1\n" followed by the manifest
 * digest string.  The signature blob (JSON: manifest, algorithm, key,
 * signature) is the single layer of an artifact manifest whose subject
 * is the signed manifest; index.json lists it without a tag, with its
 * artifactType, so other tools pass over it.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "image.h"
#include "internal.h"

#define SIG_PREFIX "atomfs-signature-v1\n"

static int key_err(const char *file, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return atomfs_err(EINVAL, "cannot use key %s: %s%s%s; make one with 'openssl genpkey -algorithm ed25519 -out key.pem' and 'openssl pkey -in key.pem -pubout -out pub.pem'",
			  file, what, *buf ? ": " : "", buf);
}

static int load_key(const char *file, bool private_key, EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;
	BIO *b;

	b = BIO_new_file(file, "r");
	if (!b) {
		ERR_clear_error();
		return atomfs_err(errno == ENOENT ? ENOENT : EINVAL, "cannot read key %s: %s", file,
				  strerror(errno ? errno : EINVAL));
	}
	if (private_key) {
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	} else {
		k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
		if (!k) {
			/* a private key file also gives the public key */
			ERR_clear_error();
			(void)BIO_reset(b);
			k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		}
	}
	BIO_free(b);
	if (!k)
		return key_err(file, private_key ? "not a PEM private key" : "not a PEM public key");
	switch (EVP_PKEY_base_id(k)) {
	case EVP_PKEY_ED25519:
	case EVP_PKEY_EC:
	case EVP_PKEY_RSA:
		break;
	default:
		EVP_PKEY_free(k);
		return atomfs_err(ENOTSUP, "key %s has an unsupported type: use Ed25519, ECDSA or RSA", file);
	}
	*out = k;
	return 0;
}

static const char *alg_name(EVP_PKEY *k)
{
	switch (EVP_PKEY_base_id(k)) {
	case EVP_PKEY_ED25519: return "ed25519";
	case EVP_PKEY_EC: return "ecdsa-sha256";
	default: return "rsa-sha256";
	}
}

static const EVP_MD *alg_md(EVP_PKEY *k)
{
	return EVP_PKEY_base_id(k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
}

static char *fingerprint(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(k, &der);
	char *fp;

	if (len <= 0)
		return NULL;
	fp = atomfs_digest_buf(der, (size_t)len);
	OPENSSL_free(der);
	return fp;
}

int atomfs_key_fingerprint(const char *keyfile, bool private_key, char **out)
{
	EVP_PKEY *k;
	int err = load_key(keyfile, private_key, &k);

	if (err)
		return err;
	*out = fingerprint(k);
	EVP_PKEY_free(k);
	return *out ? 0 : key_err(keyfile, "cannot encode the public key");
}

int atomfs_sign_manifest(struct atomfs_layout *l, const char *digest, int64_t msize, const char *keyfile)
{
	cleanup_free char *msg = xasprintf(SIG_PREFIX "%s", digest);
	cleanup_free unsigned char *sig = NULL;
	cleanup_free char *b64 = NULL;
	cleanup_free char *fp = NULL;
	cleanup_free char *sdig = NULL;
	cleanup_free char *edig = NULL;
	cleanup_free char *mdig = NULL;
	json_t *payload = NULL, *man = NULL, *empty = NULL, *d, *m;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	uint64_t ssize, esize, rsize;
	size_t siglen = 0, i;
	int err;

	err = load_key(keyfile, true, &k);
	if (err)
		return err;
	fp = fingerprint(k);
	ctx = EVP_MD_CTX_new();
	if (!fp || !ctx || EVP_DigestSignInit(ctx, NULL, alg_md(k), NULL, k) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)msg, strlen(msg)) != 1) {
		err = key_err(keyfile, "cannot sign with it");
		goto out;
	}
	sig = xcalloc(1, siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg, strlen(msg)) != 1) {
		err = key_err(keyfile, "signing failed");
		goto out;
	}
	b64 = xcalloc(1, 4 * ((siglen + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);

	payload = json_pack("{s:s, s:s, s:s, s:s}", "manifest", digest, "algorithm", alg_name(k), "key", fp,
			    "signature", b64);
	empty = json_object();
	err = atomfs_layout_put_json(l, payload, &sdig, &ssize);
	if (!err)
		err = atomfs_layout_put_json(l, empty, &edig, &esize);
	if (err)
		goto out;
	man = json_pack("{s:i, s:s, s:s, s:o, s:[o], s:o, s:{s:s}}", "schemaVersion", 2, "mediaType",
			MT_OCI_MANIFEST, "artifactType", MT_SIGNATURE, "config",
			atomfs_desc_new(MT_OCI_EMPTY, edig, esize), "layers",
			atomfs_desc_new(MT_SIGNATURE, sdig, ssize), "subject",
			atomfs_desc_new(MT_OCI_MANIFEST, digest, (uint64_t)msize), "annotations", ANN_SIG_KEY, fp);
	err = atomfs_layout_put_json(l, man, &mdig, &rsize);
	if (err)
		goto out;
	/* the same key signing again gives the same referrer: list it once */
	json_array_foreach(json_object_get(l->index, "manifests"), i, m)
		if (!strcmp(atomfs_desc_str(m, "digest"), mdig))
			goto out;
	d = atomfs_desc_new(MT_OCI_MANIFEST, mdig, rsize);
	json_object_set_new(d, "artifactType", json_string(MT_SIGNATURE));
	atomfs_desc_set_annotation(d, ANN_SIG_KEY, fp);
	atomfs_layout_add_entry(l, d);
out:
	json_decref(payload);
	json_decref(empty);
	json_decref(man);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return err;
}

static int check_one(const struct atomfs_layout *l, const json_t *ref, const char *digest, EVP_PKEY *k,
		     const char *fp)
{
	cleanup_free char *msg = xasprintf(SIG_PREFIX "%s", digest);
	cleanup_free unsigned char *sig = NULL;
	json_t *man = NULL, *payload = NULL, *layer;
	const char *b64;
	EVP_MD_CTX *ctx = NULL;
	size_t b64len;
	int err, siglen;

	err = atomfs_layout_read_json(l, atomfs_desc_str(ref, "digest"),
				      json_integer_value(json_object_get(ref, "size")), &man);
	if (err)
		return err;
	layer = json_array_get(json_object_get(man, "layers"), 0);
	if (!layer || atomfs_desc_check(layer, l->dir) < 0) {
		err = atomfs_err(EBADMSG, "signature %s in %s is malformed", atomfs_desc_str(ref, "digest"), l->dir);
		goto out;
	}
	err = atomfs_layout_read_json(l, atomfs_desc_str(layer, "digest"),
				      json_integer_value(json_object_get(layer, "size")), &payload);
	if (err)
		goto out;
	if (!atomfs_desc_str(payload, "key") || strcmp(atomfs_desc_str(payload, "key"), fp)) {
		err = -ENOKEY;
		goto out;
	}
	b64 = atomfs_desc_str(payload, "signature");
	if (!b64 || !atomfs_desc_str(payload, "manifest") ||
	    strcmp(atomfs_desc_str(payload, "manifest"), digest)) {
		err = atomfs_err(EKEYREJECTED, "signature %s is not for manifest %s", atomfs_desc_str(ref, "digest"),
				 digest);
		goto out;
	}
	b64len = strlen(b64);
	sig = xcalloc(1, b64len);
	siglen = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)b64len);
	if (siglen < 0) {
		err = atomfs_err(EKEYREJECTED, "signature %s is not valid base64", atomfs_desc_str(ref, "digest"));
		goto out;
	}
	/* EVP_DecodeBlock counts base64 padding as zero bytes */
	while (b64len && b64[b64len - 1] == '=') {
		b64len--;
		siglen--;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, alg_md(k), NULL, k) != 1 ||
	    EVP_DigestVerify(ctx, sig, (size_t)siglen, (const unsigned char *)msg, strlen(msg)) != 1) {
		ERR_clear_error();
		err = atomfs_err(EKEYREJECTED, "the signature of manifest %s by key %s is INVALID", digest, fp);
		goto out;
	}
	err = 0;
out:
	EVP_MD_CTX_free(ctx);
	json_decref(payload);
	json_decref(man);
	return err;
}

int atomfs_verify_manifest(const struct atomfs_layout *l, const char *digest, const char *pubfile)
{
	cleanup_free char *fp = NULL;
	json_t *refs, *r;
	EVP_PKEY *k;
	size_t i;
	int err, result = -ENOKEY;

	err = load_key(pubfile, false, &k);
	if (err)
		return err;
	fp = fingerprint(k);
	refs = atomfs_image_referrers(l, digest);
	json_array_foreach(refs, i, r) {
		err = check_one(l, r, digest, k, fp);
		if (!err) {
			result = 0;
			break;
		}
		if (err != -ENOKEY)
			result = err;
	}
	json_decref(refs);
	EVP_PKEY_free(k);
	if (result == -ENOKEY)
		return atomfs_err(ENOKEY, "manifest %s in %s carries no signature by key %s (%s); sign it with 'atomfs sign --key PRIVATE.pem'",
				  digest, l->dir, pubfile, fp);
	return result;
}
