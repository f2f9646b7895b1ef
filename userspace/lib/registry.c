// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * registry.c: a small OCI distribution-spec client on libcurl.
 *
 * The API is plain HTTP (distribution-spec 1.1): GET /v2/ to learn the
 * auth scheme, HEAD/GET blobs, POST + PUT to upload one (monolithic PUT),
 * POST ?mount=&from= to mount one from another repository, GET/PUT
 * manifests by tag or digest, GET /v2/REPO/referrers/DIGEST where the
 * registry has it, and the referrers tag scheme (an image index tagged
 * sha256-<hex>) where it does not.  Basic auth and the bearer-token flow
 * of the docker token spec are answered on a 401.
 *
 * Every document and blob is hashed as it arrives and compared with the
 * digest asked for before it is given its name in the layout.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "registry.h"

#define MAX_DOC (4u << 20) /* manifests, indexes, signatures, errors */
#define ACCEPT_MANIFESTS                                                     \
	"Accept: " MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST \
	", " MT_DOCKER_LIST
#ifndef ANN_SIG_TAG
#define ANN_SIG_TAG "org.atomfs.signature.tag"
#endif
#define MT_SIGNATURE_V1_ "application/vnd.atomfs.signature.v1+json"
#define MT_SIGNATURE_V2_ "application/vnd.atomfs.signature.v2+json"

struct atomfs_registry {
	CURL *curl;
	char *host; /* HOST[:PORT] */
	char *repo;
	char *base; /* https://HOST or http://HOST */
	struct atomfs_registry_opts o;
	struct atomfs_creds creds;
	bool have_creds;
	char *authz; /* "Authorization: ..." once the scheme is known */
	bool basic; /* the registry asked for basic auth */
	char *ca; /* the CAs of cert_dir, concatenated */
	size_t ca_len;
	char *client_cert, *client_key;
	json_t *cache; /* blob locations (see blob_cache) */
	bool cache_dirty;
};

/* one response: headers, and a body kept in memory or streamed to fd */
struct resp {
	CURL *curl;
	long status;
	char *ctype, *digest, *location, *www, *subject;
	char *body;
	size_t len;
	int fd; /* >= 0: a 2xx body goes here */
	EVP_MD_CTX *md; /* hashes what goes to fd */
	uint64_t got, total;
	const char *what; /* digest, for progress */
	const struct atomfs_registry_opts *o;
	int werr; /* a write to fd failed: -errno */
};

/* what a request sends */
struct req {
	const char *method;
	const char *url;
	struct curl_slist *hdr;
	const void *body; /* in memory... */
	size_t body_len;
	int fd; /* ...or a file of body_len bytes (fd >= 0) */
};

static void resp_reset(struct resp *r)
{
	free(r->ctype);
	free(r->digest);
	free(r->location);
	free(r->www);
	free(r->subject);
	free(r->body);
	r->ctype = r->digest = r->location = r->www = r->subject = NULL;
	r->body = NULL;
	r->len = 0;
	r->status = 0;
}

static void warn(const struct atomfs_registry_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warn(const struct atomfs_registry_opts *o, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	if (!o->warn)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg)
		o->warn(o->ctx, msg);
}

/* ---- references ---- */

bool atomfs_is_registry_ref(const char *s)
{
	return str_has_prefix(s, "docker://");
}

static bool repo_valid(const char *r)
{
	/* path components [a-z0-9]+([._-][a-z0-9]+)*, joined by '/' */
	const char *p = r;
	bool sep = true;

	if (!*r || strlen(r) > 255)
		return false;
	for (; *p; p++) {
		if (islower((unsigned char)*p) || isdigit((unsigned char)*p)) {
			sep = false;
		} else if (*p == '/' || *p == '.' || *p == '_' || *p == '-') {
			if (sep)
				return false;
			sep = true;
		} else {
			return false;
		}
	}
	return !sep;
}

void atomfs_rref_free(struct atomfs_rref *r)
{
	free(r->host);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

int atomfs_rref_parse(const char *s, struct atomfs_rref *r)
{
	const char *p, *slash, *at, *colon;

	memset(r, 0, sizeof(*r));
	if (!atomfs_is_registry_ref(s))
		return atomfs_err(EINVAL, "'%s' is no docker:// reference", s);
	p = s + 9;
	slash = strchr(p, '/');
	if (!slash || slash == p)
		return atomfs_err(
			EINVAL,
			"'%s' names no registry: write docker://HOST[:PORT]/REPO[:TAG|@DIGEST]",
			s);
	r->host = strndup(p, (size_t)(slash - p));
	p = slash + 1;
	at = strchr(p, '@');
	colon = at ? NULL : strrchr(p, ':');
	if (at) {
		r->digest = strdup(at + 1);
		r->repo = strndup(p, (size_t)(at - p));
	} else if (colon) {
		/* the tag colon comes after the last slash (the port's is before) */
		r->tag = strdup(colon + 1);
		r->repo = strndup(p, (size_t)(colon - p));
	} else {
		r->repo = strdup(p);
	}
	if (!r->host || !r->repo || (at && !r->digest) || (colon && !r->tag)) {
		atomfs_rref_free(r);
		return atomfs_enomem();
	}
	if ((at && !atomfs_digest_valid(r->digest)) ||
	    (colon && !atomfs_tag_valid(r->tag)) || !repo_valid(r->repo))
		goto bad;
	for (p = r->host; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p))
			goto bad;
	return 0;
bad:
	atomfs_rref_free(r);
	return atomfs_err(
		EINVAL,
		"'%s' is no valid registry reference: write docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX], REPO in lower case",
		s);
}

/* ---- HTTP ---- */

/* name's value if line is that header (r->werr = -ENOMEM: no memory) */
static char *hdr_value_r(struct resp *r, const char *line, size_t n,
			 const char *name)
{
	size_t k = strlen(name);
	const char *v, *e;
	char *val;

	if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
		return NULL;
	v = line + k + 1;
	e = line + n;
	while (v < e && isspace((unsigned char)*v))
		v++;
	while (e > v && isspace((unsigned char)e[-1]))
		e--;
	val = strndup(v, (size_t)(e - v));
	if (!val)
		r->werr = -ENOMEM;
	return val;
}
#define hdr_value(line, n, name) hdr_value_r(r, line, n, name)

static size_t on_header(char *buf, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = sz * n;
	char *v;

	if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
		/* a new response (after a redirect or 100 Continue) */
		int fd = r->fd;

		resp_reset(r);
		r->fd = fd;
		return len;
	}
#define TAKE(field, name)                                 \
	if ((v = hdr_value(buf, len, name)) || r->werr) { \
		free(r->field);                           \
		r->field = v;                             \
		return v ? len : 0;                       \
	}
	TAKE(ctype, "Content-Type");
	TAKE(digest, "Docker-Content-Digest");
	TAKE(location, "Location");
	TAKE(www, "WWW-Authenticate");
	TAKE(subject, "OCI-Subject");
#undef TAKE
	return len;
}

static size_t on_body(char *buf, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = sz * n, off = 0;
	long status = 0;
	char *body;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (r->fd >= 0 && status >= 200 && status < 300) {
		while (off < len) {
			ssize_t w = write(r->fd, buf + off, len - off);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				r->werr = -errno;
				return 0;
			}
			off += (size_t)w;
		}
		EVP_DigestUpdate(r->md, buf, len);
		r->got += len;
		if (r->o->progress)
			r->o->progress(r->o->ctx, r->what, r->got, r->total);
		return len;
	}
	if (r->len + len > MAX_DOC)
		return 0; /* CURLE_WRITE_ERROR: too big for a document */
	body = realloc(r->body, r->len + len + 1);
	if (!body) {
		r->werr = -ENOMEM;
		return 0;
	}
	r->body = body;
	memcpy(r->body + r->len, buf, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *arg)
{
	int fd = *(int *)arg;
	ssize_t got;

	do
		got = read(fd, buf, sz * n);
	while (got < 0 && errno == EINTR);
	return got < 0 ? CURL_READFUNC_ABORT : (size_t)got;
}

/* the registry's error: "MANIFEST_UNKNOWN: manifest unknown" or the status */
#define RESP_ERROR_MAX 512
static const char *resp_error(const struct resp *r, char *s)
{
	json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (code)
		snprintf(s, RESP_ERROR_MAX, "%s (%s, HTTP %ld)",
			 msg ? msg : code, code, r->status);
	else
		snprintf(s, RESP_ERROR_MAX, "HTTP status %ld", r->status);
	json_decref(j);
	return s;
}

static void setup_tls(struct atomfs_registry *reg, CURL *c)
{
	if (!reg->o.tls_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (reg->ca) {
		struct curl_blob b = { .data = reg->ca,
				       .len = reg->ca_len,
				       .flags = CURL_BLOB_NOCOPY };

		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
	}
	if (reg->client_cert && reg->client_key) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, reg->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, reg->client_key);
	}
}

static int perform(struct atomfs_registry *reg, const struct req *q,
		   struct resp *r)
{
	CURL *c = reg->curl;
	struct curl_slist *h = NULL, *i;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	int fd = q->fd;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer fails after a minute without a byte */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	/* Authorization must not follow a redirect to a blob store elsewhere */
	curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "atomfs/" ATOMFS_VERSION);
	setup_tls(reg, c);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	for (i = q->hdr; i; i = i->next)
		h = curl_slist_append(h, i->data);
	if (reg->authz)
		h = curl_slist_append(h, reg->authz);
	h = curl_slist_append(h, "Expect:");
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (q->fd >= 0) {
		lseek(q->fd, 0, SEEK_SET);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &fd);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)q->body_len);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	} else if (q->body || !strcmp(q->method, "POST") ||
		   !strcmp(q->method, "PUT")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)q->body_len);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	} else if (strcmp(q->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	r->curl = c;
	r->o = &reg->o;
	rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->werr == -ENOMEM)
		return atomfs_enomem();
	if (r->werr)
		return atomfs_err(r->werr, "cannot write what %s sends: %s",
				  reg->host, strerror(-r->werr));
	if (rc != CURLE_OK)
		return atomfs_err(
			rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT :
							 ECONNREFUSED,
			"cannot reach registry %s (%s %s): %s; check that it runs and the address%s",
			reg->host, q->method, q->url,
			*errbuf ? errbuf : curl_easy_strerror(rc),
			reg->o.tls_verify ?
				", the CA (--cert-dir) or use --tls-verify=false for a plain-http registry" :
				"");
	return 0;
}

/* base64 "user:secret", for a Basic Authorization header */
static char *basic_header(const struct atomfs_creds *cr)
{
	cleanup_free char *plain =
		atomfs_asprintf("%s:%s", cr->user, cr->secret);
	size_t n = plain ? strlen(plain) : 0;
	cleanup_free char *b64 = plain ? calloc(1, 4 * ((n + 2) / 3) + 1) :
					 NULL;
	char *h;

	if (!b64) {
		if (plain)
			explicit_bzero(plain, n);
		return NULL;
	}
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)plain, (int)n);
	h = atomfs_asprintf("Authorization: Basic %s", b64);
	explicit_bzero(plain, n);
	explicit_bzero(b64, strlen(b64));
	return h;
}

static int no_creds(struct atomfs_registry *reg)
{
	return atomfs_err(
		EACCES,
		"registry %s asks for a login and no credentials for it were found ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json): log in with 'skopeo login %s'",
		reg->host, reg->host);
}

static int refused(struct atomfs_registry *reg)
{
	return atomfs_err(
		EACCES,
		"registry %s refused the credentials for it from %s: log in again with 'skopeo login %s'",
		reg->host, reg->creds.file, reg->host);
}

/* url a b, freeing url; NULL (url freed) when memory runs out */
static char *append_free(char *url, const char *a, const char *b)
{
	char *r = url ? atomfs_asprintf("%s%s%s", url, a, b) : NULL;

	free(url);
	return r;
}

/* The docker token flow: GET realm?service=&scope= (basic auth if known). */
static int get_token(struct atomfs_registry *reg, json_t *params)
{
	const char *realm = json_string_value(json_object_get(params, "realm"));
	const char *service =
		json_string_value(json_object_get(params, "service"));
	const char *scope = json_string_value(json_object_get(params, "scope"));
	CURL *c = curl_easy_init();
	struct resp r = { .fd = -1, .o = &reg->o };
	char *url = NULL, *e;
	const char *tok;
	json_t *j = NULL;
	CURLcode rc;
	int err = 0;

	if (!c)
		return atomfs_err(ENOMEM, "out of memory");
	if (!realm || !(str_has_prefix(realm, "https://") ||
			str_has_prefix(realm, "http://"))) {
		err = atomfs_err(
			EPROTO,
			"registry %s asks for a token without a usable realm: it is misconfigured",
			reg->host);
		goto out;
	}
	url = atomfs_asprintf("%s%s", realm, strchr(realm, '?') ? "&" : "?");
	if (url && service) {
		e = curl_easy_escape(c, service, 0);
		url = e ? append_free(url, "service=", e) : NULL;
		curl_free(e);
	}
	/* one scope parameter per space-separated scope */
	for (const char *s = scope; url && s && *s;) {
		size_t n = strcspn(s, " ");
		cleanup_free char *one = strndup(s, n);

		e = one ? curl_easy_escape(c, one, 0) : NULL;
		url = e ? append_free(url, "&scope=", e) : NULL;
		curl_free(e);
		s += n;
		while (*s == ' ')
			s++;
	}
	if (!url) {
		err = atomfs_enomem();
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "atomfs/" ATOMFS_VERSION);
	setup_tls(reg, c);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	r.curl = c;
	if (reg->have_creds) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, reg->creds.user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, reg->creds.secret);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	if (rc != CURLE_OK) {
		err = atomfs_err(
			ECONNREFUSED,
			"cannot reach the token server %s of registry %s: %s",
			realm, reg->host, curl_easy_strerror(rc));
		goto out;
	}
	if (r.status == 401 || r.status == 403) {
		err = reg->have_creds ? refused(reg) : no_creds(reg);
		goto out;
	}
	j = r.body ? json_loads(r.body, 0, NULL) : NULL;
	tok = json_string_value(json_object_get(j, "token"));
	if (!tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (r.status != 200 || !tok || !*tok) {
		err = atomfs_err(
			EPROTO,
			"the token server %s of registry %s gave no token (HTTP %ld)",
			realm, reg->host, r.status);
		goto out;
	}
	free(reg->authz);
	reg->authz = atomfs_asprintf("Authorization: Bearer %s", tok);
	if (!reg->authz)
		err = atomfs_enomem();
out:
	json_decref(j);
	free(url);
	resp_reset(&r);
	curl_easy_cleanup(c);
	return err;
}

/* answer a 401: basic credentials, or a token for the challenge's scope */
static int authenticate(struct atomfs_registry *reg, const struct resp *r,
			bool again)
{
	cleanup_free char *scheme = NULL;
	json_t *params;
	int err;

	if (!r->www)
		return atomfs_err(
			EACCES,
			"registry %s refused access (HTTP 401) without saying how to log in",
			reg->host);
	params = atomfs_auth_parse_challenge(r->www, &scheme);
	if (!scheme) {
		json_decref(params);
		return atomfs_enomem();
	}
	if (scheme && !strcasecmp(scheme, "basic")) {
		if (!reg->have_creds)
			err = no_creds(reg);
		else if (again || reg->basic)
			err = refused(reg);
		else {
			reg->basic = true;
			free(reg->authz);
			reg->authz = basic_header(&reg->creds);
			err = reg->authz ? 0 : atomfs_enomem();
		}
	} else if (scheme && !strcasecmp(scheme, "bearer")) {
		err = again ? (reg->have_creds ? refused(reg) : no_creds(reg)) :
			      get_token(reg, params);
	} else {
		err = atomfs_err(
			ENOTSUP,
			"registry %s asks for an authentication scheme atomfs does not know (%s)",
			reg->host, scheme ? scheme : "");
	}
	json_decref(params);
	return err;
}

/* perform, answering one 401 with credentials */
static int request(struct atomfs_registry *reg, const struct req *q,
		   struct resp *r)
{
	int err, tries;

	if (!q->url)
		return atomfs_enomem(); /* url_for() or its like ran out */
	for (tries = 0;; tries++) {
		resp_reset(r);
		if (r->fd >= 0) {
			if (ftruncate(r->fd, 0) < 0 ||
			    lseek(r->fd, 0, SEEK_SET) < 0)
				return atomfs_err(errno,
						  "cannot write blob: %m");
			EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
			r->got = 0;
		}
		err = perform(reg, q, r);
		if (err || r->status != 401 || tries == 2)
			break;
		err = authenticate(reg, r, tries > 0);
		if (err)
			break;
	}
	if (!err && r->status == 401)
		err = reg->have_creds ? refused(reg) : no_creds(reg);
	return err;
}

static char *url_for(const struct atomfs_registry *reg, const char *kind,
		     const char *what)
{
	/* NULL when out of memory: request() says so */
	return atomfs_asprintf("%s/v2/%s/%s/%s", reg->base, reg->repo, kind,
			       what);
}

/* ---- opening ---- */

static int load_cert_dir(struct atomfs_registry *reg, const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return atomfs_err(
			errno, "cannot read certificate directory %s: %m", dir);
	char *ca;

	while ((de = readdir(d))) {
		cleanup_free char *p = atomfs_join(dir, de->d_name);
		cleanup_free char *data = NULL;
		size_t len;
		int err;

		if (!p) {
			closedir(d);
			return atomfs_enomem();
		}
		if (str_has_suffix(de->d_name, ".crt")) {
			err = read_file(p, &data, &len, 1 << 20);
			if (err) {
				closedir(d);
				return atomfs_err(err, "cannot read CA %s: %s",
						  p, strerror(-err));
			}
			ca = realloc(reg->ca, reg->ca_len + len + 2);
			if (!ca) {
				closedir(d);
				return atomfs_enomem();
			}
			reg->ca = ca;
			memcpy(reg->ca + reg->ca_len, data, len);
			reg->ca_len += len;
			reg->ca[reg->ca_len++] = '\n';
		} else if (str_has_suffix(de->d_name, ".cert")) {
			free(reg->client_cert);
			reg->client_cert = steal_pointer(&p);
		} else if (str_has_suffix(de->d_name, ".key")) {
			free(reg->client_key);
			reg->client_key = steal_pointer(&p);
		}
	}
	closedir(d);
	return 0;
}

void atomfs_registry_close(struct atomfs_registry *reg)
{
	if (!reg)
		return;
	if (reg->cache_dirty && reg->o.blob_cache) {
		char *s = json_dumps(reg->cache, JSON_COMPACT | JSON_SORT_KEYS);
		cleanup_free char *dir = strdup(reg->o.blob_cache);
		char *slash = dir ? strrchr(dir, '/') : NULL;

		if (slash) {
			*slash = '\0';
			mkdir_p(dir, 0700);
		}
		/* only a hint for later pushes: a failure to write it is harmless */
		if (s)
			(void)write_file_atomic(reg->o.blob_cache, s,
						strlen(s));
		free(s);
	}
	json_decref(reg->cache);
	curl_easy_cleanup(reg->curl);
	atomfs_creds_free(&reg->creds);
	if (reg->authz)
		explicit_bzero(reg->authz, strlen(reg->authz));
	free(reg->authz);
	free(reg->host);
	free(reg->repo);
	free(reg->base);
	free(reg->ca);
	free(reg->client_cert);
	free(reg->client_key);
	free(reg);
}

int atomfs_registry_open(const struct atomfs_rref *rr,
			 const struct atomfs_registry_opts *o,
			 struct atomfs_registry **out)
{
	struct atomfs_registry *reg;
	struct resp r = { .fd = -1 };
	struct req q = { .method = "GET", .fd = -1 };
	cleanup_free char *url = NULL;
	int err;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return atomfs_enomem();
	reg->o = *o;
	reg->host = strdup(rr->host);
	reg->repo = strdup(rr->repo);
	if (!reg->host || !reg->repo) {
		err = atomfs_enomem();
		goto fail;
	}
	reg->curl = curl_easy_init();
	if (!reg->curl) {
		err = atomfs_err(ENOMEM, "out of memory");
		goto fail;
	}
	if (o->cert_dir) {
		err = load_cert_dir(reg, o->cert_dir);
		if (err)
			goto fail;
	}
	err = atomfs_creds_find(o->auth_files, reg->host, &reg->creds);
	if (err && err != -ENOENT)
		goto fail;
	reg->have_creds = !err;
	if (o->blob_cache) {
		reg->cache = json_load_file(o->blob_cache, 0, NULL);
		if (!json_is_object(reg->cache)) {
			json_decref(reg->cache);
			reg->cache = NULL;
		}
	}
	if (!reg->cache)
		reg->cache = json_object();
	if (!reg->cache) {
		err = atomfs_enomem();
		goto fail;
	}

	/* ping: https first; without verification, plain http as a fallback */
	reg->base = atomfs_asprintf("https://%s", reg->host);
	url = reg->base ? atomfs_asprintf("%s/v2/", reg->base) : NULL;
	q.url = url;
	err = request(reg, &q, &r);
	if (err == -ECONNREFUSED && !o->tls_verify) {
		free(reg->base);
		free(url);
		reg->base = atomfs_asprintf("http://%s", reg->host);
		url = reg->base ? atomfs_asprintf("%s/v2/", reg->base) : NULL;
		q.url = url;
		err = request(reg, &q, &r);
	}
	if (err)
		goto fail;
	if (r.status != 200) {
		char whybuf[RESP_ERROR_MAX];
		const char *why = resp_error(&r, whybuf);

		err = atomfs_err(
			EPROTO,
			"%s does not answer as an OCI registry (GET /v2/: %s)",
			reg->host, why);
		goto fail;
	}
	resp_reset(&r);
	*out = reg;
	return 0;
fail:
	resp_reset(&r);
	atomfs_registry_close(reg);
	return err;
}

/* ---- blob locations (for cross-repository mounts) ---- */

static void cache_note(struct atomfs_registry *reg, const char *digest)
{
	cleanup_free char *where =
		atomfs_asprintf("%s/%s", reg->host, reg->repo);
	json_t *a = json_object_get(reg->cache, digest), *v;
	size_t i;

	/* only a hint for later pushes: without memory, none */
	if (!reg->o.blob_cache || !where)
		return;
	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(reg->cache, digest, a);
	}
	json_array_foreach(a, i,
			   v) if (!strcmp(json_string_value(v), where)) return;
	json_array_append_new(a, json_string(where));
	/* keep the newest few */
	while (json_array_size(a) > 8)
		json_array_remove(a, 0);
	reg->cache_dirty = true;
}

/* another repository of this registry that held digest, or NULL */
static const char *cache_other_repo(const struct atomfs_registry *reg,
				    const char *digest)
{
	json_t *a = json_object_get(reg->cache, digest), *v;
	size_t n = strlen(reg->host), i;

	json_array_foreach(a, i, v)
	{
		const char *w = json_string_value(v);

		if (w && !strncmp(w, reg->host, n) && w[n] == '/' &&
		    strcmp(w + n + 1, reg->repo))
			return w + n + 1;
	}
	return NULL;
}

/* ---- blobs and manifests ---- */

/* 1 if the registry has the blob, 0 if not */
static int blob_exists(struct atomfs_registry *reg, const char *digest)
{
	cleanup_free char *url = url_for(reg, "blobs", digest);
	struct req q = { .method = "HEAD", .url = url, .fd = -1 };
	struct resp r = { .fd = -1 };
	int err = request(reg, &q, &r);

	if (!err && r.status != 200 && r.status != 404)
		err = atomfs_err(EPROTO, "registry %s: HEAD %s: HTTP %ld",
				 reg->host, url, r.status);
	if (!err)
		err = r.status == 200;
	resp_reset(&r);
	return err;
}

static char *abs_location(const struct atomfs_registry *reg, const char *loc)
{
	if (str_has_prefix(loc, "http://") || str_has_prefix(loc, "https://"))
		return strdup(loc);
	return atomfs_asprintf("%s%s%s", reg->base, *loc == '/' ? "" : "/",
			       loc);
}

enum { UP_SENT, UP_PRESENT, UP_MOUNTED };

/* upload path's blob (digest, size) unless the registry has it; UP_* */
static int blob_push(struct atomfs_registry *reg, const char *path,
		     const char *digest, uint64_t size)
{
	cleanup_free char *url = NULL;
	cleanup_free char *put = NULL;
	const char *from;
	struct curl_slist *h = NULL;
	struct resp r = { .fd = -1 };
	struct req q = { .method = "POST", .fd = -1 };
	int err, fd;

	err = blob_exists(reg, digest);
	if (err < 0)
		return err;
	if (err == 1) {
		cache_note(reg, digest);
		return UP_PRESENT;
	}
	from = cache_other_repo(reg, digest);
	if (from)
		url = atomfs_asprintf(
			"%s/v2/%s/blobs/uploads/?mount=%s&from=%s", reg->base,
			reg->repo, digest, from);
	else
		url = atomfs_asprintf("%s/v2/%s/blobs/uploads/", reg->base,
				      reg->repo);
	q.url = url;
	err = request(reg, &q, &r);
	if (err)
		goto out;
	if (r.status == 201 && from) {
		cache_note(reg, digest);
		err = UP_MOUNTED;
		goto out;
	}
	if (r.status != 202 || !r.location) {
		char whybuf[RESP_ERROR_MAX];
		const char *why = resp_error(&r, whybuf);

		err = atomfs_err(
			EPROTO,
			"registry %s refused to start an upload to %s: %s",
			reg->host, reg->repo, why);
		goto out;
	}
	{
		cleanup_free char *loc = abs_location(reg, r.location);

		put = loc ? atomfs_asprintf("%s%sdigest=%s", loc,
					    strchr(loc, '?') ? "&" : "?",
					    digest) :
			    NULL;
	}
	if (!put) {
		err = atomfs_enomem();
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = atomfs_err(errno, "cannot read blob %s: %m", path);
		goto out;
	}
	h = curl_slist_append(h, "Content-Type: application/octet-stream");
	q = (struct req){ .method = "PUT",
			  .url = put,
			  .hdr = h,
			  .fd = fd,
			  .body_len = size };
	err = request(reg, &q, &r);
	close(fd);
	curl_slist_free_all(h);
	if (err)
		goto out;
	if (r.status != 201) {
		char whybuf[RESP_ERROR_MAX];
		const char *why = resp_error(&r, whybuf);

		err = atomfs_err(EPROTO,
				 "registry %s refused blob %s for %s: %s",
				 reg->host, digest, reg->repo, why);
		goto out;
	}
	cache_note(reg, digest);
	err = UP_SENT;
out:
	resp_reset(&r);
	return err;
}

/* PUT a manifest (exact bytes) under ref (a tag or its digest) */
static int manifest_put(struct atomfs_registry *reg, const char *ref,
			const char *mt, const char *body, size_t len,
			bool *has_subject_api)
{
	cleanup_free char *url = url_for(reg, "manifests", ref);
	cleanup_free char *ct = atomfs_asprintf("Content-Type: %s", mt);
	cleanup_free char *want = atomfs_digest_buf(body, len);
	struct curl_slist *h = ct ? curl_slist_append(NULL, ct) : NULL;
	struct req q = { .method = "PUT",
			 .url = url,
			 .hdr = h,
			 .body = body,
			 .body_len = len,
			 .fd = -1 };
	struct resp r = { .fd = -1 };
	int err = ct && want ? request(reg, &q, &r) : atomfs_enomem();

	curl_slist_free_all(h);
	if (err)
		goto out;
	if (r.status != 201) {
		char whybuf[RESP_ERROR_MAX];
		const char *why = resp_error(&r, whybuf);

		err = atomfs_err(
			EPROTO, "registry %s refused manifest %s for %s:%s: %s",
			reg->host, want, reg->repo, ref, why);
		goto out;
	}
	if (r.digest && strcmp(r.digest, want)) {
		err = atomfs_err(
			EILSEQ,
			"registry %s stored manifest %s as %s: it changed the document",
			reg->host, want, r.digest);
		goto out;
	}
	if (has_subject_api)
		*has_subject_api = r.subject != NULL;
out:
	resp_reset(&r);
	return err;
}

/*
 * GET a manifest by tag or digest: the body (checked against ref when ref
 * is a digest, and against the registry's Docker-Content-Digest), its
 * media type and digest.  -ENOENT if unknown.
 */
static int manifest_get(struct atomfs_registry *reg, const char *ref,
			char **body, size_t *len, char **mt, char **digest)
{
	cleanup_free char *url = url_for(reg, "manifests", ref);
	struct curl_slist *h = curl_slist_append(NULL, ACCEPT_MANIFESTS);
	struct req q = { .method = "GET", .url = url, .hdr = h, .fd = -1 };
	struct resp r = { .fd = -1 };
	cleanup_free char *got = NULL;
	json_t *j = NULL;
	const char *jmt;
	int err = request(reg, &q, &r);

	curl_slist_free_all(h);
	if (err)
		goto out;
	if (r.status == 404) {
		char whybuf[RESP_ERROR_MAX];
		const char *why = resp_error(&r, whybuf);

		err = atomfs_err(ENOENT,
				 "registry %s has no manifest %s in %s: %s",
				 reg->host, ref, reg->repo, why);
		goto out;
	}
	if (r.status != 200 || !r.body) {
		char whybuf[RESP_ERROR_MAX];
		const char *why = resp_error(&r, whybuf);

		err = atomfs_err(
			EPROTO, "registry %s: cannot get manifest %s of %s: %s",
			reg->host, ref, reg->repo, why);
		goto out;
	}
	got = atomfs_digest_buf(r.body, r.len);
	if (!got) {
		err = atomfs_enomem();
		goto out;
	}
	if ((str_has_prefix(ref, "sha256:") && strcmp(ref, got)) ||
	    (r.digest && str_has_prefix(r.digest, "sha256:") &&
	     strcmp(r.digest, got))) {
		err = atomfs_err(
			EILSEQ,
			"manifest %s of %s from registry %s has digest %s: it was changed on the way or on the registry; nothing was stored",
			ref, reg->repo, reg->host, got);
		goto out;
	}
	j = json_loadb(r.body, r.len, JSON_REJECT_DUPLICATES, NULL);
	jmt = json_string_value(json_object_get(j, "mediaType"));
	if (!json_is_object(j)) {
		err = atomfs_err(
			EBADMSG,
			"manifest %s of %s from registry %s is not JSON", ref,
			reg->repo, reg->host);
		goto out;
	}
	*mt = strdup(jmt			       ? jmt :
		     (r.ctype && strchr(r.ctype, '/')) ? r.ctype :
		     json_object_get(j, "manifests")   ? MT_OCI_INDEX :
							 MT_OCI_MANIFEST);
	if (!*mt) {
		err = atomfs_enomem();
		goto out;
	}
	/* "type/subtype; charset=..." */
	(*mt)[strcspn(*mt, "; ")] = '\0';
	*body = steal_pointer(&r.body);
	*len = r.len;
	*digest = steal_pointer(&got);
out:
	json_decref(j);
	resp_reset(&r);
	return err;
}

/* GET a blob into a file (fd), hashing it; -EILSEQ on a wrong digest */
static int blob_get(struct atomfs_registry *reg, const char *digest,
		    uint64_t size, int fd)
{
	cleanup_free char *url = url_for(reg, "blobs", digest);
	struct req q = { .method = "GET", .url = url, .fd = -1 };
	struct resp r = { .fd = fd, .what = digest, .total = size };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	cleanup_free char *got = NULL;
	int err;

	r.md = EVP_MD_CTX_new();
	if (!r.md)
		return atomfs_err(ENOMEM, "out of memory");
	err = request(reg, &q, &r);
	if (err)
		goto out;
	if (r.status != 200) {
		char whybuf[RESP_ERROR_MAX];
		const char *why = resp_error(&r, whybuf);

		err = atomfs_err(r.status == 404 ? ENOENT : EPROTO,
				 "registry %s: cannot get blob %s of %s: %s",
				 reg->host, digest, reg->repo, why);
		goto out;
	}
	EVP_DigestFinal_ex(r.md, md, &mdlen);
	got = calloc(1, 7 + 2 * mdlen + 1);
	if (!got) {
		err = atomfs_enomem();
		goto out;
	}
	strcpy(got, "sha256:");
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(got + 7 + 2 * i, "%02x", md[i]);
	if (strcmp(got, digest) || r.got != size)
		err = atomfs_err(
			EILSEQ,
			"blob %s of %s from registry %s arrived as %s (%llu bytes, want %llu): it is damaged on the registry or on the way; it was not stored",
			digest, reg->repo, reg->host, got,
			(unsigned long long)r.got, (unsigned long long)size);
out:
	EVP_MD_CTX_free(r.md);
	resp_reset(&r);
	return err;
}

/* GET a small blob (a signature) into memory, checked */
static int blob_get_mem(struct atomfs_registry *reg, const char *digest,
			char **body, size_t *len)
{
	cleanup_free char *url = url_for(reg, "blobs", digest);
	struct req q = { .method = "GET", .url = url, .fd = -1 };
	struct resp r = { .fd = -1 };
	cleanup_free char *got = NULL;
	int err = request(reg, &q, &r);

	if (!err && (r.status != 200 || !r.body))
		err = atomfs_err(EPROTO,
				 "registry %s: cannot get blob %s: HTTP %ld",
				 reg->host, digest, r.status);
	if (!err) {
		got = atomfs_digest_buf(r.body, r.len);
		if (!got)
			err = atomfs_enomem();
		else if (strcmp(got, digest))
			err = atomfs_err(
				EILSEQ,
				"blob %s from registry %s arrived as %s",
				digest, reg->host, got);
	}
	if (!err) {
		*len = r.len;
		*body = steal_pointer(&r.body);
	}
	resp_reset(&r);
	return err;
}

/* ---- referrers ---- */

static char *referrers_tag(const char *digest)
{
	return atomfs_asprintf("sha256-%s", digest + 7);
}

/*
 * The referrers of digest: the API's index if the registry has one, else
 * the index tagged sha256-<hex> (OCI 1.1 fallback); an empty index if none.
 */
static int referrers_get(struct atomfs_registry *reg, const char *digest,
			 json_t **out)
{
	cleanup_free char *url = url_for(reg, "referrers", digest);
	cleanup_free char *tag = referrers_tag(digest);
	cleanup_free char *body = NULL;
	cleanup_free char *mt = NULL;
	cleanup_free char *d = NULL;
	struct curl_slist *h = curl_slist_append(NULL, "Accept: " MT_OCI_INDEX);
	struct req q = { .method = "GET", .url = url, .hdr = h, .fd = -1 };
	struct resp r = { .fd = -1 };
	size_t len;
	int err = tag ? request(reg, &q, &r) : atomfs_enomem();

	curl_slist_free_all(h);
	if (err)
		goto out;
	if (r.status == 200 && r.body) {
		/* the API: distribution-spec 1.1 (no server here to test it) */
		*out = json_loadb(r.body, r.len, 0, NULL);
		if (json_is_array(json_object_get(*out, "manifests")))
			goto out;
		json_decref(*out);
	}
	err = manifest_get(reg, tag, &body, &len, &mt, &d);
	if (err == -ENOENT) {
		atomfs_clear_error();
		*out = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2,
				 "mediaType", MT_OCI_INDEX, "manifests");
		err = 0;
		goto out;
	}
	if (err)
		goto out;
	*out = json_loadb(body, len, 0, NULL);
	if (!json_is_array(json_object_get(*out, "manifests"))) {
		json_decref(*out);
		err = atomfs_err(
			EBADMSG,
			"the referrers index %s:%s on %s is not an image index",
			reg->repo, tag, reg->host);
	}
out:
	resp_reset(&r);
	return err;
}

/* ---- push ---- */

static const char *dstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int read_blob(const struct atomfs_layout *l, const char *digest,
		     char **body, size_t *len)
{
	cleanup_free char *path = NULL;
	cleanup_free char *got = NULL;
	int err;

	if (!atomfs_digest_valid(digest))
		return atomfs_err(EBADMSG, "'%s' is no valid digest in %s",
				  digest, l->dir);
	path = atomfs_layout_blob_path(l, digest);
	err = read_file(path, body, len, MAX_DOC);
	if (err)
		return atomfs_err(err, "cannot read %s: %s", path,
				  strerror(-err));
	got = atomfs_digest_buf(*body, *len);
	if (!got) {
		free(steal_pointer(body));
		return atomfs_enomem();
	}
	if (strcmp(got, digest)) {
		free(steal_pointer(body));
		return atomfs_err(
			EILSEQ,
			"blob %s is damaged (its digest is %s): run 'atomfs fsck %s'",
			path, got, l->dir);
	}
	return 0;
}

static int push_blob_desc(struct atomfs_registry *reg,
			  const struct atomfs_layout *l, const json_t *desc,
			  struct atomfs_xfer_stats *st)
{
	const char *digest = dstr(desc, "digest");
	json_int_t size = json_integer_value(json_object_get(desc, "size"));
	cleanup_free char *path = NULL;
	int err;

	if (!digest || !atomfs_digest_valid(digest) || size < 0)
		return atomfs_err(EBADMSG, "a descriptor in %s is malformed",
				  l->dir);
	err = atomfs_layout_check_blob(l, digest, size);
	if (err)
		return err;
	path = atomfs_layout_blob_path(l, digest);
	err = blob_push(reg, path, digest, (uint64_t)size);
	if (err < 0)
		return err;
	if (err == UP_PRESENT) {
		st->present++;
	} else if (err == UP_MOUNTED) {
		st->mounted++;
	} else {
		st->sent++;
		st->bytes += (uint64_t)size;
	}
	return 0;
}

/* push a manifest or index (and what it refers to), by digest or as tag */
static int push_doc(struct atomfs_registry *reg, const struct atomfs_layout *l,
		    const char *digest, const char *tag,
		    struct atomfs_xfer_stats *st, bool *subject_api,
		    json_t **doc_out)
{
	cleanup_free char *body = NULL;
	size_t len, i;
	json_t *doc, *d;
	const char *mt;
	int err;

	err = read_blob(l, digest, &body, &len);
	if (err)
		return err;
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return atomfs_err(EBADMSG, "manifest %s in %s is not JSON",
				  digest, l->dir);
	}
	mt = dstr(doc, "mediaType");
	if (!mt)
		mt = json_object_get(doc, "manifests") ? MT_OCI_INDEX :
							 MT_OCI_MANIFEST;
	json_array_foreach(json_object_get(doc, "manifests"), i, d)
	{
		err = push_doc(reg, l, dstr(d, "digest"), NULL, st, NULL, NULL);
		if (err)
			goto out;
	}
	if (json_object_get(doc, "config")) {
		err = push_blob_desc(reg, l, json_object_get(doc, "config"),
				     st);
		if (err)
			goto out;
	}
	json_array_foreach(json_object_get(doc, "layers"), i, d)
	{
		err = push_blob_desc(reg, l, d, st);
		if (err)
			goto out;
	}
	err = manifest_put(reg, tag ? tag : digest, mt, body, len, subject_api);
out:
	if (!err && doc_out)
		*doc_out = json_incref(doc);
	json_decref(doc);
	return err;
}

/* index.json entries of l that are referrers (artifacts) of digest */
static json_t *local_referrers(const struct atomfs_layout *l,
			       const char *digest)
{
	json_t *out = json_array(), *d;
	size_t i;

	json_array_foreach(json_object_get(l->index, "manifests"), i, d)
	{
		json_t *man = NULL;
		const char *sd;

		if (!dstr(d, "artifactType") || !dstr(d, "digest"))
			continue;
		if (atomfs_layout_read_json(
			    l, dstr(d, "digest"),
			    json_integer_value(json_object_get(d, "size")),
			    &man) < 0) {
			atomfs_clear_error();
			continue;
		}
		sd = dstr(json_object_get(man, "subject"), "digest");
		if (sd && !strcmp(sd, digest))
			json_array_append(out, d);
		json_decref(man);
	}
	return out;
}

int atomfs_registry_push(struct atomfs_registry *reg, struct atomfs_layout *l,
			 const char *tag, const char *rtag,
			 struct atomfs_xfer_stats *st)
{
	json_t *desc = NULL, *refs, *d, *idx = NULL;
	const char *digest;
	bool api = false, changed = false;
	size_t i, j;
	int err;

	err = atomfs_layout_get_tag(l, tag, &desc);
	if (err)
		return err;
	digest = dstr(desc, "digest");
	if (!digest)
		return atomfs_err(EBADMSG, "tag '%s' of %s has no digest", tag,
				  l->dir);
	err = push_doc(reg, l, digest, rtag, st, NULL, NULL);
	if (err)
		return err;

	/* the signatures: their manifests, then the referrers tag if needed */
	refs = local_referrers(l, digest);
	json_array_foreach(refs, i, d)
	{
		const char *signed_tag = atomfs_desc_annotation(d, ANN_SIG_TAG);
		json_t *man = NULL;
		bool a = false;

		if (rtag && signed_tag && strcmp(signed_tag, rtag))
			warn(&reg->o,
			     "the signature %s names tag '%s', not '%s': it was pushed as it is and verifies only as '%s'; sign for '%s' with 'atomfs push --sign KEY'",
			     dstr(d, "digest"), signed_tag, rtag, signed_tag,
			     rtag);
		err = push_doc(reg, l, dstr(d, "digest"), NULL, st, &a, &man);
		if (err)
			goto out;
		api = api || a;
		st->referrers++;
		if (!a) {
			json_t *e, *ann = json_object_get(man, "annotations");
			bool have = false;

			if (!idx) {
				err = referrers_get(reg, digest, &idx);
				if (err) {
					json_decref(man);
					goto out;
				}
			}
			json_array_foreach(json_object_get(idx, "manifests"), j,
					   e) if (dstr(e, "digest") &&
						  !strcmp(dstr(e, "digest"),
							  dstr(d, "digest")))
				have = true;
			if (!have) {
				e = atomfs_desc_new(
					dstr(man, "mediaType") ?
						dstr(man, "mediaType") :
						MT_OCI_MANIFEST,
					dstr(d, "digest"),
					(uint64_t)json_integer_value(
						json_object_get(d, "size")));
				json_object_set(
					e, "artifactType",
					json_object_get(d, "artifactType"));
				if (json_is_object(ann))
					json_object_set(e, "annotations", ann);
				json_array_append_new(
					json_object_get(idx, "manifests"), e);
				changed = true;
			}
		}
		json_decref(man);
	}
	if (changed) {
		cleanup_free char *rt = referrers_tag(digest);
		cleanup_free char *s =
			json_dumps(idx, JSON_COMPACT | JSON_PRESERVE_ORDER);

		err = rt && s ? manifest_put(reg, rt, MT_OCI_INDEX, s,
					     strlen(s), NULL) :
				atomfs_enomem();
	}
out:
	json_decref(idx);
	json_decref(refs);
	return err;
}

/* ---- pull ---- */

/* fill a temporary blob of the layout (a /proc/self/fd/N path) */
static int write_tmp(const char *tmp, const char *body, size_t len)
{
	int fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC), err = 0;

	if (fd < 0)
		return atomfs_err(errno, "cannot write a new blob: %m");
	while (len && !err) {
		ssize_t n = write(fd, body, len);

		if (n < 0 && errno != EINTR)
			err = atomfs_err(errno, "cannot write a new blob: %m");
		if (n > 0) {
			body += n;
			len -= (size_t)n;
		}
	}
	if (close(fd) < 0 && !err)
		err = atomfs_err(errno, "cannot write a new blob: %m");
	return err;
}

/* store bytes already checked to be digest (documents) */
static int store_doc(struct atomfs_layout *l, const char *digest,
		     const char *body, size_t len)
{
	cleanup_free char *path = atomfs_layout_blob_path(l, digest);
	cleanup_free char *tmp = NULL;
	cleanup_free char *got = NULL;
	uint64_t size;
	int err;

	if (atomfs_layout_check_blob(l, digest, (int64_t)len) == 0)
		return 0;
	atomfs_clear_error();
	err = atomfs_layout_tmp_create(l, &tmp);
	if (err)
		return err;
	err = write_tmp(tmp, body, len);
	if (err)
		return err;
	err = atomfs_layout_commit_blob(l, tmp, &got, &size);
	if (err)
		return err;
	if (strcmp(got, digest))
		return atomfs_err(EILSEQ, "blob %s changed while stored as %s",
				  digest, path);
	atomfs_layout_keep_blobs(l);
	return 0;
}

static int pull_blob(struct atomfs_registry *reg, struct atomfs_layout *l,
		     const json_t *desc, struct atomfs_xfer_stats *st)
{
	const char *digest = dstr(desc, "digest");
	json_int_t size = json_integer_value(json_object_get(desc, "size"));
	cleanup_free char *tmp = NULL;
	cleanup_free char *got = NULL;
	uint64_t gsize;
	int err, fd;

	if (!digest || !atomfs_digest_valid(digest) || size < 0)
		return atomfs_err(EBADMSG,
				  "a descriptor from registry %s is malformed",
				  reg->host);
	/* blobs in the layout were checked when they came in */
	if (atomfs_layout_check_blob(l, digest, -1) == 0) {
		st->present++;
		return 0;
	}
	atomfs_clear_error();
	err = atomfs_layout_tmp_create(l, &tmp);
	if (err)
		return err;
	fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return atomfs_err(errno, "cannot write a new blob of %s: %m",
				  l->dir);
	err = blob_get(reg, digest, (uint64_t)size, fd);
	if (close(fd) < 0 && !err)
		err = atomfs_err(errno, "cannot write %s: %m", tmp);
	if (err)
		return err; /* the layout drops its temporary blob */
	err = atomfs_layout_commit_blob(l, tmp, &got, &gsize);
	if (err)
		return err;
	if (strcmp(got, digest))
		return atomfs_err(EILSEQ, "blob %s changed while stored",
				  digest);
	/* a completed blob stays (untagged) even if the pull fails later */
	atomfs_layout_keep_blobs(l);
	cache_note(reg, digest);
	st->fetched++;
	st->bytes += (uint64_t)size;
	return 0;
}

/* pull a manifest or index and everything below it; doc bytes are stored last */
static int pull_doc(struct atomfs_registry *reg, struct atomfs_layout *l,
		    const char *ref, char **digest_out, char **mt_out,
		    size_t *size_out, struct atomfs_xfer_stats *st)
{
	cleanup_free char *body = NULL;
	cleanup_free char *mt = NULL;
	cleanup_free char *digest = NULL;
	json_t *doc, *d;
	size_t len, i;
	int err;

	err = manifest_get(reg, ref, &body, &len, &mt, &digest);
	if (err)
		return err;
	doc = json_loadb(body, len, 0, NULL);
	json_array_foreach(json_object_get(doc, "manifests"), i, d)
	{
		const char *cd = dstr(d, "digest");

		if (!cd || !atomfs_digest_valid(cd)) {
			err = atomfs_err(
				EBADMSG,
				"index %s from registry %s has a malformed entry",
				digest, reg->host);
			goto out;
		}
		err = pull_doc(reg, l, cd, NULL, NULL, NULL, st);
		if (err)
			goto out;
	}
	if (json_object_get(doc, "config")) {
		err = pull_blob(reg, l, json_object_get(doc, "config"), st);
		if (err)
			goto out;
	}
	json_array_foreach(json_object_get(doc, "layers"), i, d)
	{
		err = pull_blob(reg, l, d, st);
		if (err)
			goto out;
	}
	err = store_doc(l, digest, body, len);
	if (err)
		goto out;
	if (digest_out)
		*digest_out = steal_pointer(&digest);
	if (mt_out)
		*mt_out = steal_pointer(&mt);
	if (size_out)
		*size_out = len;
out:
	json_decref(doc);
	return err;
}

/*
 * Fetch one referrer and check it is an atomfs signature of digest before
 * anything of it is stored.  -EBADMSG (with a message) if it is not one.
 */
static int pull_signature(struct atomfs_registry *reg, struct atomfs_layout *l,
			  const json_t *rd, const char *digest, json_t **entry)
{
	const char *rdig = dstr(rd, "digest");
	cleanup_free char *mbody = NULL;
	cleanup_free char *mt = NULL;
	cleanup_free char *got = NULL;
	cleanup_free char *pbody = NULL;
	cleanup_free char *ebody = NULL;
	json_t *man = NULL, *layer, *payload = NULL, *cfg, *e;
	const char *at, *lmt;
	size_t mlen, plen, elen;
	int err;

	if (!rdig || !atomfs_digest_valid(rdig))
		return atomfs_err(EBADMSG, "a referrer entry is malformed");
	err = manifest_get(reg, rdig, &mbody, &mlen, &mt, &got);
	if (err)
		return err;
	man = json_loadb(mbody, mlen, JSON_REJECT_DUPLICATES, NULL);
	at = dstr(man, "artifactType");
	layer = json_array_get(json_object_get(man, "layers"), 0);
	lmt = dstr(layer, "mediaType");
	cfg = json_object_get(man, "config");
	if (!at ||
	    (strcmp(at, MT_SIGNATURE_V1_) && strcmp(at, MT_SIGNATURE_V2_)) ||
	    !lmt || strcmp(lmt, at) ||
	    json_array_size(json_object_get(man, "layers")) != 1 ||
	    !dstr(json_object_get(man, "subject"), "digest") ||
	    strcmp(dstr(json_object_get(man, "subject"), "digest"), digest) ||
	    !dstr(layer, "digest") ||
	    !atomfs_digest_valid(dstr(layer, "digest")) ||
	    !dstr(cfg, "digest") || !atomfs_digest_valid(dstr(cfg, "digest"))) {
		err = atomfs_err(EBADMSG,
				 "it is not an atomfs signature artifact of %s",
				 digest);
		goto out;
	}
	err = blob_get_mem(reg, dstr(layer, "digest"), &pbody, &plen);
	if (!err)
		err = blob_get_mem(reg, dstr(cfg, "digest"), &ebody, &elen);
	if (err)
		goto out;
	payload = json_loadb(pbody, plen, JSON_REJECT_DUPLICATES, NULL);
	if (!dstr(payload, "signature") || !dstr(payload, "key")) {
		err = atomfs_err(EBADMSG,
				 "its payload has no signature or key");
		goto out;
	}
	if (dstr(payload, "payload")) {
		/* v2: the signed message names the manifest (and the tag) */
		json_t *p = json_loads(dstr(payload, "payload"), 0, NULL);
		const char *md =
			dstr(json_object_get(json_object_get(p, "critical"),
					     "image"),
			     "manifest-digest");

		if (!md || strcmp(md, digest))
			err = atomfs_err(
				EBADMSG,
				"its signed payload is not about manifest %s",
				digest);
		json_decref(p);
	} else if (!dstr(payload, "manifest") ||
		   strcmp(dstr(payload, "manifest"), digest)) {
		err = atomfs_err(EBADMSG, "it does not sign manifest %s",
				 digest);
	}
	if (err)
		goto out;
	err = store_doc(l, dstr(layer, "digest"), pbody, plen);
	if (!err)
		err = store_doc(l, dstr(cfg, "digest"), ebody, elen);
	if (!err)
		err = store_doc(l, rdig, mbody, mlen);
	if (err)
		goto out;
	e = atomfs_desc_new(MT_OCI_MANIFEST, rdig, mlen);
	json_object_set_new(e, "artifactType", json_string(at));
	if (json_is_object(json_object_get(man, "annotations")))
		json_object_set(e, "annotations",
				json_object_get(man, "annotations"));
	*entry = e;
out:
	json_decref(payload);
	json_decref(man);
	return err;
}

static bool index_has(const struct atomfs_layout *l, const char *digest,
		      bool untagged)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(l->index, "manifests"), i, d)
	{
		if (dstr(d, "digest") && !strcmp(dstr(d, "digest"), digest) &&
		    (!untagged || !atomfs_desc_annotation(d, ANN_REF_NAME)))
			return true;
	}
	return false;
}

int atomfs_registry_pull(struct atomfs_registry *reg, const char *ref,
			 struct atomfs_layout *l, const char *tag,
			 char **digest_out, struct atomfs_xfer_stats *st)
{
	cleanup_free char *digest = NULL;
	cleanup_free char *mt = NULL;
	json_t *refs = NULL, *rd, *desc, *entries = json_array();
	size_t size, i;
	int err;

	if (!atomfs_tag_valid(tag)) {
		err = atomfs_err(EINVAL, "'%s' is no valid tag", tag);
		goto out;
	}
	err = pull_doc(reg, l, ref, &digest, &mt, &size, st);
	if (err)
		goto out;
	err = referrers_get(reg, digest, &refs);
	if (err)
		goto out;
	json_array_foreach(json_object_get(refs, "manifests"), i, rd)
	{
		const char *at = dstr(rd, "artifactType");
		json_t *e = NULL;

		/* other artifacts (SBOMs...) are not ours to carry */
		if (at && strcmp(at, MT_SIGNATURE_V1_) &&
		    strcmp(at, MT_SIGNATURE_V2_))
			continue;
		err = pull_signature(reg, l, rd, digest, &e);
		if (err == -EBADMSG || err == -EILSEQ || err == -ENOENT) {
			warn(&reg->o, "ignored referrer %s of %s on %s/%s: %s",
			     dstr(rd, "digest") ? dstr(rd, "digest") : "?",
			     digest, reg->host, reg->repo, atomfs_last_error());
			atomfs_clear_error();
			err = 0;
			continue;
		}
		if (err)
			goto out;
		st->referrers++;
		if (!index_has(l, dstr(e, "digest"), true))
			json_array_append(entries, e);
		json_decref(e);
	}
	/* everything is here and checked: now the tag */
	json_array_foreach(entries, i, rd)
		atomfs_layout_add_entry(l, json_incref(rd));
	desc = atomfs_desc_new(mt, digest, size);
	err = atomfs_layout_set_tag(l, tag, desc);
	if (!err)
		err = atomfs_layout_write_index(l);
	if (!err && digest_out)
		*digest_out = steal_pointer(&digest);
out:
	json_decref(entries);
	json_decref(refs);
	return err;
}
