// SPDX-License-Identifier: LGPL-2.1-or-later
/* digest.c: sha256 content digests with OpenSSL EVP */
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "internal.h"
#include "oci.h"

bool atomfs_digest_valid(const char *d)
{
	size_t i;

	if (!d || strncmp(d, "sha256:", 7) || strlen(d) != 7 + 64)
		return false;
	for (i = 7; d[i]; i++)
		if (!((d[i] >= '0' && d[i] <= '9') ||
		      (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	return true;
}

static char *hex_digest(const unsigned char *md, unsigned int len)
{
	char *s = calloc(1, 7 + 2 * len + 1);
	unsigned int i;

	if (!s)
		return NULL;
	memcpy(s, "sha256:", 7);
	for (i = 0; i < len; i++)
		sprintf(s + 7 + 2 * i, "%02x", md[i]);
	return s;
}

char *atomfs_digest_buf(const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	/* NULL when out of memory (OpenSSL's or ours) */
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
		return NULL;
	return hex_digest(md, mdlen);
}

/* Hash what @fd holds from offset 0 to its end (pread: the offset is left). */
int atomfs_digest_fd(int fd, const char *shown, char **digest, uint64_t *size)
{
	size_t bufsz = 1 << 20;
	cleanup_free unsigned char *buf = malloc(bufsz);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	uint64_t total = 0;
	int err = 0;

	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return atomfs_err(ENOMEM, "out of memory hashing %s", shown);
	}
	for (;;) {
		ssize_t n = pread(fd, buf, bufsz, (off_t)total);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = atomfs_err(errno, "cannot read %s: %m", shown);
			break;
		}
		if (!n)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (!err) {
		EVP_DigestFinal_ex(ctx, md, &mdlen);
		*digest = hex_digest(md, mdlen);
		if (!*digest)
			err = atomfs_enomem();
		else if (size)
			*size = total;
	}
	EVP_MD_CTX_free(ctx);
	return err;
}

int atomfs_digest_file(const char *path, char **digest, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return atomfs_err(errno, "cannot read %s: %m", path);
	err = atomfs_digest_fd(fd, path, digest, size);
	close(fd);
	return err;
}
