// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sign.c: manifest signatures as OCI 1.1 referrers.
 *
 * Format v2 (Documentation/image-format.rst): the signed message is a JSON
 * payload that binds the manifest digest and the tag it is signed under,
 * as the simple-signing payload of containers/image binds the manifest
 * digest and the docker reference:
 *
 *   {"critical": {"identity": {"tag": "prod"},
 *                 "image": {"manifest-digest": "sha256:..."},
 *                 "type": "atomfs image signature v2"},
 *    "optional": {"creator": "atomfs 0.1.0"}}
 *
 * The signature blob (JSON: payload as the exact string signed, algorithm,
 * key fingerprint, signature) is the single layer of an artifact manifest
 * whose subject is the signed manifest; index.json lists it without a tag,
 * with its artifactType, so other tools pass over it.  Format v1 signed
 * the digest alone, so a retagged image still verified: v1 signatures are
 * refused with a message saying to re-sign.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "internal.h"

#define SIG_TYPE "atomfs image signature v2"

/* load_key() flags */
#define KEY_PRIVATE 1u
#define KEY_ROOTS_ONLY ATOMFS_VERIFY_KEY_ROOTS_ONLY

static int key_err(const char *file, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return atomfs_err(
		EINVAL,
		"cannot use key %s: %s%s%s; make one with 'openssl genpkey -algorithm ed25519 -out key.pem' and 'openssl pkey -in key.pem -pubout -out pub.pem'",
		file, what, *buf ? ": " : "", buf);
}

/* Only RSA of 2048 bits or more, ECDSA on P-256/384/521 and Ed25519. */
static int key_strong(EVP_PKEY *k, const char *file)
{
	static const char *const curves[] = { "prime256v1", "secp384r1",
					      "secp521r1" };
	char group[64] = "";
	size_t i;

	switch (EVP_PKEY_base_id(k)) {
	case EVP_PKEY_ED25519:
		return 0;
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(k) >= 2048)
			return 0;
		return atomfs_err(
			EINVAL,
			"key %s is RSA with %d bits, which is too weak: use RSA of at least 2048 bits, ECDSA P-256/384/521 or Ed25519",
			file, EVP_PKEY_get_bits(k));
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(k,
						    OSSL_PKEY_PARAM_GROUP_NAME,
						    group, sizeof(group), NULL))
			ERR_clear_error();
		for (i = 0; i < ARRAY_SIZE(curves); i++)
			if (!strcmp(group, curves[i]))
				return 0;
		return atomfs_err(
			EINVAL,
			"key %s is ECDSA on curve %s, which is not accepted: use P-256, P-384 or P-521 (or Ed25519)",
			file, *group ? group : "(unknown)");
	default:
		return atomfs_err(
			ENOTSUP,
			"key %s has an unsupported type: use Ed25519, ECDSA (P-256/384/521) or RSA (2048 bits or more)",
			file);
	}
}

/*
 * A key that decides what root mounts must be root's alone: whoever can
 * replace it can make any image pass.  Checked on the file that is read.
 */
static int key_owner(const char *file, const struct stat *st)
{
	if ((st->st_uid == 0 || st->st_uid == geteuid()) &&
	    !(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	return atomfs_err(
		EPERM,
		"key %s is %s: whoever can write it can make any image pass the signature check; make it root's alone (chown root: and chmod go-w it)",
		file,
		st->st_uid != 0 && st->st_uid != geteuid() ?
			"not owned by root" :
			"writable by group or others");
}

static int load_key(const char *file, unsigned int flags, EVP_PKEY **out)
{
	bool private_key = flags & KEY_PRIVATE;
	EVP_PKEY *k = NULL;
	struct stat st;
	BIO *b;
	int fd, err;

	/* O_NONBLOCK: a FIFO must not block the caller; only files are read */
	fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		return atomfs_err(err == ENOENT ? ENOENT : EINVAL,
				  "cannot read key %s: %s", file,
				  strerror(err));
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return atomfs_err(EINVAL, "key %s is not a regular file", file);
	}
	err = flags & KEY_ROOTS_ONLY ? key_owner(file, &st) : 0;
	b = err ? NULL : BIO_new_fd(fd, BIO_CLOSE);
	if (!b) {
		close(fd);
		ERR_clear_error();
		return err ? err : atomfs_enomem();
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
		return key_err(file, private_key ? "not a PEM private key" :
						   "not a PEM public key");
	err = key_strong(k, file);
	if (err) {
		EVP_PKEY_free(k);
		return err;
	}
	*out = k;
	return 0;
}

static const char *alg_name(EVP_PKEY *k)
{
	switch (EVP_PKEY_base_id(k)) {
	case EVP_PKEY_ED25519:
		return "ed25519";
	case EVP_PKEY_EC:
		return "ecdsa-sha256";
	default:
		return "rsa-sha256";
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
	int err = load_key(keyfile, private_key ? KEY_PRIVATE : 0, &k);

	if (err)
		return err;
	*out = fingerprint(k);
	EVP_PKEY_free(k);
	return *out ? 0 : key_err(keyfile, "cannot encode the public key");
}

bool atomfs_is_signature(const json_t *d)
{
	const char *at = atomfs_desc_str(d, "artifactType");

	return at &&
	       (!strcmp(at, MT_SIGNATURE) || !strcmp(at, MT_SIGNATURE_V1));
}

/* The exact bytes signed: keys sorted, compact, so a re-sign is identical. */
static char *sig_payload(const char *digest, const char *tag)
{
	json_t *p = json_pack("{s:{s:{s:s}, s:{s:s}, s:s}, s:{s:s}}",
			      "critical", "identity", "tag", tag, "image",
			      "manifest-digest", digest, "type", SIG_TYPE,
			      "optional", "creator", "atomfs " ATOMFS_VERSION);
	char *s = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(p);
	return s;
}

int atomfs_sign_manifest(struct atomfs_layout *l, const char *digest,
			 int64_t msize, const char *tag, const char *keyfile)
{
	cleanup_free char *msg = NULL;
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

	if (!atomfs_tag_valid(tag))
		return atomfs_err(EINVAL, "cannot sign: '%s' is no valid tag",
				  tag);
	msg = sig_payload(digest, tag);
	if (!msg)
		return atomfs_err(ENOMEM, "out of memory");
	err = load_key(keyfile, KEY_PRIVATE, &k);
	if (err)
		return err;
	fp = fingerprint(k);
	ctx = EVP_MD_CTX_new();
	if (!fp || !ctx ||
	    EVP_DigestSignInit(ctx, NULL, alg_md(k), NULL, k) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)msg,
			   strlen(msg)) != 1) {
		err = key_err(keyfile, "cannot sign with it");
		goto out;
	}
	sig = calloc(1, siglen);
	if (!sig) {
		err = atomfs_enomem();
		goto out;
	}
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg,
			   strlen(msg)) != 1) {
		err = key_err(keyfile, "signing failed");
		goto out;
	}
	b64 = calloc(1, 4 * ((siglen + 2) / 3) + 1);
	if (!b64) {
		err = atomfs_enomem();
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);

	payload = json_pack("{s:s, s:s, s:s, s:s}", "payload", msg, "algorithm",
			    alg_name(k), "key", fp, "signature", b64);
	empty = json_object();
	if (!payload || !empty) {
		err = atomfs_enomem();
		goto out;
	}
	err = atomfs_layout_put_json(l, payload, &sdig, &ssize);
	if (!err)
		err = atomfs_layout_put_json(l, empty, &edig, &esize);
	if (err)
		goto out;
	man = json_pack(
		"{s:i, s:s, s:s, s:o, s:[o], s:o, s:{s:s}}", "schemaVersion", 2,
		"mediaType", MT_OCI_MANIFEST, "artifactType", MT_SIGNATURE,
		"config", atomfs_desc_new(MT_OCI_EMPTY, edig, esize), "layers",
		atomfs_desc_new(MT_SIGNATURE, sdig, ssize), "subject",
		atomfs_desc_new(MT_OCI_MANIFEST, digest, (uint64_t)msize),
		"annotations", ANN_SIG_KEY, fp);
	if (!man || json_object_set_new(json_object_get(man, "annotations"),
					ANN_SIG_TAG, json_string(tag))) {
		err = atomfs_enomem();
		goto out;
	}
	err = atomfs_layout_put_json(l, man, &mdig, &rsize);
	if (err)
		goto out;
	/* the same key signing again gives the same referrer: list it once */
	json_array_foreach(json_object_get(l->index, "manifests"), i,
			   m) if (!strcmp(atomfs_desc_str(m, "digest"),
					  mdig)) goto out;
	d = atomfs_desc_new(MT_OCI_MANIFEST, mdig, rsize);
	if (!d ||
	    json_object_set_new(d, "artifactType", json_string(MT_SIGNATURE)) ||
	    atomfs_desc_set_annotation(d, ANN_SIG_KEY, fp) ||
	    atomfs_desc_set_annotation(d, ANN_SIG_TAG, tag)) {
		json_decref(d);
		err = atomfs_enomem();
		goto out;
	}
	err = atomfs_layout_add_entry(l, d);
out:
	json_decref(payload);
	json_decref(empty);
	json_decref(man);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return err;
}

/*
 * The signed payload must be of our type and name this manifest and tag.
 * -EKEYREJECTED with a message otherwise; *signed_tag gets the tag signed.
 */
static int check_payload(const char *msg, const char *sigdig,
			 const char *digest, const char *tag, char **signed_tag)
{
	json_error_t jerr;
	json_t *p = json_loads(msg, JSON_REJECT_DUPLICATES, &jerr), *c;
	const char *type, *d, *t;
	int err = 0;

	if (!p && json_error_code(&jerr) == json_error_out_of_memory)
		return atomfs_enomem();
	c = json_object_get(p, "critical");
	type = json_string_value(json_object_get(c, "type"));
	d = json_string_value(json_object_get(json_object_get(c, "image"),
					      "manifest-digest"));
	t = json_string_value(
		json_object_get(json_object_get(c, "identity"), "tag"));
	if (!type || strcmp(type, SIG_TYPE) || !d || !t)
		err = atomfs_err(EKEYREJECTED,
				 "signature %s has a malformed payload",
				 sigdig);
	else if (strcmp(d, digest))
		err = atomfs_err(EKEYREJECTED,
				 "signature %s is not for manifest %s", sigdig,
				 digest);
	else if (strcmp(t, tag)) {
		*signed_tag = strdup(t);
		err = *signed_tag ? -EKEYREJECTED : atomfs_enomem();
	}
	json_decref(p);
	return err;
}

static int check_one(const struct atomfs_layout *l, const json_t *ref,
		     const char *digest, const char *tag, EVP_PKEY *k,
		     const char *fp, char **signed_tag)
{
	const char *sigdig = atomfs_desc_str(ref, "digest");
	cleanup_free unsigned char *sig = NULL;
	json_t *man = NULL, *payload = NULL, *layer;
	const char *b64, *msg;
	EVP_MD_CTX *ctx = NULL;
	size_t b64len;
	int err, siglen;

	err = atomfs_layout_read_json(
		l, sigdig, json_integer_value(json_object_get(ref, "size")),
		&man);
	if (err)
		return err;
	layer = json_array_get(json_object_get(man, "layers"), 0);
	if (!layer || atomfs_desc_check(layer, l->dir) < 0 ||
	    strcmp(atomfs_desc_str(layer, "mediaType"), MT_SIGNATURE)) {
		err = atomfs_err(EKEYREJECTED,
				 "signature %s in %s is malformed", sigdig,
				 l->dir);
		goto out;
	}
	err = atomfs_layout_read_json(
		l, atomfs_desc_str(layer, "digest"),
		json_integer_value(json_object_get(layer, "size")), &payload);
	if (err)
		goto out;
	if (!atomfs_desc_str(payload, "key") ||
	    strcmp(atomfs_desc_str(payload, "key"), fp)) {
		err = -ENOKEY;
		goto out;
	}
	b64 = atomfs_desc_str(payload, "signature");
	msg = atomfs_desc_str(payload, "payload");
	if (!b64 || !msg) {
		err = atomfs_err(EKEYREJECTED,
				 "signature %s has no payload or signature",
				 sigdig);
		goto out;
	}
	b64len = strlen(b64);
	sig = calloc(1, b64len + 1);
	if (!sig) {
		err = atomfs_enomem();
		goto out;
	}
	siglen = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)b64len);
	if (siglen < 0) {
		err = atomfs_err(EKEYREJECTED,
				 "signature %s is not valid base64", sigdig);
		goto out;
	}
	/* EVP_DecodeBlock counts base64 padding as zero bytes */
	while (b64len && b64[b64len - 1] == '=') {
		b64len--;
		siglen--;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, alg_md(k), NULL, k) != 1 ||
	    EVP_DigestVerify(ctx, sig, (size_t)siglen,
			     (const unsigned char *)msg, strlen(msg)) != 1) {
		ERR_clear_error();
		err = atomfs_err(
			EKEYREJECTED,
			"the signature of manifest %s by key %s is INVALID",
			digest, fp);
		goto out;
	}
	/* only now is the payload's content worth reading */
	err = check_payload(msg, sigdig, digest, tag, signed_tag);
out:
	EVP_MD_CTX_free(ctx);
	json_decref(payload);
	json_decref(man);
	return err;
}

/* an old-format (v1) referrer whose recorded key is fp */
static bool old_by_key(const json_t *ref, const char *fp)
{
	const char *at = atomfs_desc_str(ref, "artifactType");
	const char *key = atomfs_desc_annotation(ref, ANN_SIG_KEY);

	return at && !strcmp(at, MT_SIGNATURE_V1) && key && !strcmp(key, fp);
}

int atomfs_verify_manifest(const struct atomfs_layout *l, const char *digest,
			   const char *tag, const char *pubfile)
{
	return atomfs_verify_manifest_flags(l, digest, tag, pubfile, 0);
}

int atomfs_verify_manifest_flags(const struct atomfs_layout *l,
				 const char *digest, const char *tag,
				 const char *pubfile, unsigned int flags)
{
	cleanup_free char *fp = NULL;
	cleanup_free char *other_tag = NULL;
	json_t *refs, *r;
	EVP_PKEY *k;
	bool old = false;
	size_t i;
	int err, result = -ENOKEY;

	err = load_key(pubfile, flags & KEY_ROOTS_ONLY, &k);
	if (err)
		return err;
	fp = fingerprint(k);
	refs = fp ? atomfs_image_referrers(l, digest) : NULL;
	if (!refs) {
		EVP_PKEY_free(k);
		return fp ? -ENOMEM : atomfs_enomem();
	}
	json_array_foreach(refs, i, r)
	{
		char *signed_tag = NULL;

		if (old_by_key(r, fp)) {
			old = true;
			continue;
		}
		if (strcmp(atomfs_desc_str(r, "artifactType"), MT_SIGNATURE))
			continue;
		err = check_one(l, r, digest, tag, k, fp, &signed_tag);
		if (signed_tag) {
			free(other_tag);
			other_tag = signed_tag;
		}
		if (!err) {
			result = 0;
			break;
		}
		if (err != -ENOKEY && !signed_tag)
			result = err;
	}
	json_decref(refs);
	EVP_PKEY_free(k);
	if (result == -ENOKEY && other_tag)
		return atomfs_err(
			EKEYREJECTED,
			"manifest %s in %s is signed by key %s under tag '%s', not '%s': an image copied or retagged must be signed again ('atomfs sign --key PRIVATE.pem %s:%s'), or verified with --signed-tag %s",
			digest, l->dir, pubfile, other_tag, tag, l->dir, tag,
			other_tag);
	if (result == -ENOKEY && old)
		return atomfs_err(
			EKEYREJECTED,
			"manifest %s in %s carries only an old-format (v1) signature by key %s, which does not bind the tag and is no longer accepted: re-sign it with 'atomfs sign --key PRIVATE.pem %s:%s'",
			digest, l->dir, pubfile, l->dir, tag);
	if (result == -ENOKEY)
		return atomfs_err(
			ENOKEY,
			"manifest %s in %s carries no signature by key %s (%s) for tag '%s'; sign it with 'atomfs sign --key PRIVATE.pem %s:%s'",
			digest, l->dir, pubfile, fp, tag, l->dir, tag);
	return result;
}
