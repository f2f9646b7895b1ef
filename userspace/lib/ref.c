// SPDX-License-Identifier: LGPL-2.1-or-later
/* ref.c: image references "[oci:]DIR:TAG" */
#include <ctype.h>

#include "internal.h"

static bool tag_first_char(char c)
{
	return isascii((unsigned char)c) &&
	       (isalnum((unsigned char)c) || c == '_');
}

static bool tag_char(char c)
{
	return tag_first_char(c) || c == '.' || c == '-';
}

bool atomfs_tag_valid(const char *tag)
{
	size_t i;

	if (!tag || !tag_first_char(tag[0]))
		return false;
	for (i = 1; tag[i]; i++) {
		if (i >= 128 || !tag_char(tag[i]))
			return false;
	}
	return true;
}

int atomfs_ref_parse(const char *s, struct atomfs_ref *ref)
{
	const char *body = s, *colon;
	size_t dlen;

	ref->dir = ref->tag = NULL;
	if (!s || !*s)
		return atomfs_err(
			EINVAL,
			"empty image reference: expected [oci:]DIR:TAG");
	/* "oci:" is a transport prefix only if a DIR:TAG remains after it. */
	if (str_has_prefix(s, "oci:") && strchr(s + 4, ':'))
		body = s + 4;
	colon = strrchr(body, ':');
	if (!colon)
		return atomfs_err(
			EINVAL,
			"image reference '%s' has no tag: expected [oci:]DIR:TAG, e.g. ./images:latest",
			s);
	dlen = (size_t)(colon - body);
	if (dlen == 0)
		return atomfs_err(
			EINVAL,
			"image reference '%s' has an empty directory: expected [oci:]DIR:TAG",
			s);
	if (!colon[1])
		return atomfs_err(
			EINVAL,
			"image reference '%s' has an empty tag: expected [oci:]DIR:TAG",
			s);
	if (!atomfs_tag_valid(colon + 1))
		return atomfs_err(
			EINVAL,
			"image reference '%s': tag '%s' is not a valid OCI tag (letters, digits, '_', then also '.' and '-', at most 128 characters)",
			s, colon + 1);
	ref->dir = strndup(body, dlen);
	ref->tag = strdup(colon + 1);
	if (!ref->dir || !ref->tag) {
		free(ref->dir);
		free(ref->tag);
		ref->dir = ref->tag = NULL;
		return atomfs_err(ENOMEM, "out of memory");
	}
	return 0;
}

void atomfs_ref_free(struct atomfs_ref *ref)
{
	if (!ref)
		return;
	free(ref->dir);
	free(ref->tag);
	ref->dir = ref->tag = NULL;
}
