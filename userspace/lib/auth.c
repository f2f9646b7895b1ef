// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * auth.c: registry credentials from the files users already keep
 * (containers-auth.json(5) and docker's config.json share the format:
 * {"auths": {"HOST[:PORT]": {"auth": base64("user:secret")}}}) and
 * parsing of WWW-Authenticate challenges.  The caller chooses the files
 * ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.docker/config.json): the library reads no environment.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "internal.h"
#include "registry.h"

void atomfs_creds_free(struct atomfs_creds *c)
{
	if (c->secret)
		explicit_bzero(c->secret, strlen(c->secret));
	free(c->user);
	free(c->secret);
	free(c->file);
	memset(c, 0, sizeof(*c));
}

/* an auths key names host: "HOST", "https://HOST", "HOST/v2/"... */
static bool key_matches(const char *key, const char *host)
{
	size_t n;

	if (str_has_prefix(key, "https://"))
		key += 8;
	else if (str_has_prefix(key, "http://"))
		key += 7;
	n = strlen(host);
	return !strncmp(key, host, n) && (key[n] == '\0' || key[n] == '/');
}

static int decode_auth(const char *b64, const char *file, const char *host,
		       struct atomfs_creds *c)
{
	size_t len = strlen(b64);
	cleanup_free unsigned char *raw = calloc(1, len + 1);
	int n;
	char *colon;

	if (!raw)
		return atomfs_enomem();
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return atomfs_err(
			EINVAL,
			"the credentials for %s in %s are not valid base64: log in again",
			host, file);
	while (len && b64[len - 1] == '=') {
		len--;
		n--;
	}
	raw[n] = '\0';
	colon = strchr((char *)raw, ':');
	if (!colon || strlen((char *)raw) != (size_t)n) {
		explicit_bzero(raw, (size_t)n);
		return atomfs_err(
			EINVAL,
			"the credentials for %s in %s are not \"user:password\": log in again",
			host, file);
	}
	*colon = '\0';
	c->user = strdup((char *)raw);
	c->secret = strdup(colon + 1);
	c->file = strdup(file);
	explicit_bzero(raw, (size_t)n);
	if (!c->user || !c->secret || !c->file) {
		atomfs_creds_free(c);
		return atomfs_enomem();
	}
	return 0;
}

int atomfs_creds_find(const char *const *files, const char *host,
		      struct atomfs_creds *c)
{
	const char *const *f;

	memset(c, 0, sizeof(*c));
	for (f = files; f && *f; f++) {
		json_error_t je;
		json_t *j, *auths, *v;
		const char *key, *b64;
		int err = -ENOENT;

		j = json_load_file(*f, JSON_REJECT_DUPLICATES, &je);
		if (!j) {
			if (access(*f, F_OK) < 0)
				continue;
			return atomfs_err(
				EINVAL,
				"cannot read credentials from %s: %s (line %d): fix or remove the file",
				*f, je.text, je.line);
		}
		auths = json_object_get(j, "auths");
		json_object_foreach(auths, key, v)
		{
			if (!key_matches(key, host))
				continue;
			b64 = json_string_value(json_object_get(v, "auth"));
			if (b64 && *b64) {
				err = decode_auth(b64, *f, host, c);
				break;
			}
		}
		json_decref(j);
		if (err != -ENOENT)
			return err;
	}
	return -ENOENT;
}

/*
 * RFC 7235 challenge: SCHEME k="v", k=v, ...  Only the first challenge is
 * read (registries send one).  Returns the parameters as an object.
 */
json_t *atomfs_auth_parse_challenge(const char *h, char **scheme)
{
	json_t *params = json_object();
	const char *p = h, *s;

	while (isspace((unsigned char)*p))
		p++;
	s = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	*scheme = strndup(s, (size_t)(p - s));
	while (*p) {
		cleanup_free char *key = NULL;
		char *val;
		size_t n = 0;

		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		s = p;
		while (*p && *p != '=' && !isspace((unsigned char)*p))
			p++;
		if (*p != '=')
			break;
		key = strndup(s, (size_t)(p - s));
		p++;
		val = calloc(1, strlen(p) + 1);
		if (!val)
			break; /* out of memory: the challenge ends here */
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				val[n++] = *p;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',' && !isspace((unsigned char)*p))
				val[n++] = *p++;
		}
		for (char *k = key; k && *k; k++)
			*k = (char)tolower((unsigned char)*k);
		if (key)
			json_object_set_new(params, key, json_string(val));
		free(val);
	}
	return params;
}
