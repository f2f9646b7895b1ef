// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * atomfs copy: move an image and its signatures between [oci:]DIR:TAG
 * layouts and docker:// registries (push and pull are its two halves).
 */
#include <getopt.h>
#include <unistd.h>

#include "cmd.h"
#include "internal.h"
#include "progress.h"
#include "xfer.h"

static const char copy_usage[] =
	"usage: atomfs copy [OPTIONS] SRC DST\n"
	"Copy an image with every signature that refers to it.  SRC and DST are\n"
	"[oci:]DIR:TAG layouts or docker://HOST[:PORT]/REPO[:TAG|@DIGEST] registry\n"
	"references; DST may be a bare DIR (the source tag is kept) or a registry\n"
	"repository without a tag (the source tag is used).\n"
	"  --src-tls-verify=BOOL   verify the source registry's TLS (default true;\n"
	"                          false also allows plain http)\n"
	"  --dest-tls-verify=BOOL  the same for the destination\n"
	"  --src-cert-dir DIR      CAs (*.crt) and client certificate (*.cert, *.key)\n"
	"  --dest-cert-dir DIR     the same for the destination\n"
	"  --sign KEY              sign for the destination tag first (SRC a layout)\n"
	"  -q, --quiet             no progress, summary or warnings\n"
	"Credentials come from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json\n"
	"or ~/.docker/config.json.\n";

void xfer_opts_init(struct xfer_opts *xo)
{
	memset(xo, 0, sizeof(*xo));
	xo->src.tls_verify = true;
	xo->dst.tls_verify = true;
}

static int parse_bool(const char *opt, const char *arg, bool *out)
{
	if (!arg || !strcmp(arg, "true") || !strcmp(arg, "1"))
		*out = true;
	else if (!strcmp(arg, "false") || !strcmp(arg, "0"))
		*out = false;
	else {
		fprintf(stderr, "atomfs: --%s=%s: use true or false\n", opt,
			arg);
		return -1;
	}
	return 1;
}

int xfer_opt(struct xfer_opts *xo, int opt, const char *arg)
{
	bool v;

	switch (opt) {
	case XFER_SIGN:
		xo->sign_key = arg;
		return 1;
	case XFER_TLS:
		if (parse_bool("tls-verify", arg, &v) < 0)
			return -1;
		xo->src.tls_verify = xo->dst.tls_verify = v;
		return 1;
	case XFER_SRC_TLS:
		return parse_bool("src-tls-verify", arg, &xo->src.tls_verify);
	case XFER_DST_TLS:
		return parse_bool("dest-tls-verify", arg, &xo->dst.tls_verify);
	case XFER_CERT:
		xo->src.cert_dir = xo->dst.cert_dir = arg;
		return 1;
	case XFER_SRC_CERT:
		xo->src.cert_dir = arg;
		return 1;
	case XFER_DST_CERT:
		xo->dst.cert_dir = arg;
		return 1;
	}
	return 0;
}

/* ---- hooks: a bar per blob on a terminal, warnings on stderr ---- */

struct hooks {
	struct atomfs_progress *bar;
	char digest[80];
	uint64_t shown;
};

static void on_progress(void *ctx, const char *digest, uint64_t done,
			uint64_t total)
{
	struct hooks *h = ctx;

	if (strcmp(h->digest, digest)) {
		atomfs_progress_done(h->bar);
		snprintf(h->digest, sizeof(h->digest), "%s", digest);
		/* sha256:0123456789ab, as docker shows a layer */
		h->digest[19] = '\0';
		h->bar = atomfs_progress_new(h->digest, total, atomfs_quiet);
		snprintf(h->digest, sizeof(h->digest), "%s", digest);
		h->shown = 0;
	}
	atomfs_progress_add(h->bar, done - h->shown);
	h->shown = done;
}

static void on_warn(void *ctx, const char *msg)
{
	struct hooks *h = ctx;

	atomfs_progress_done(h->bar);
	h->bar = NULL;
	h->digest[0] = '\0';
	if (!atomfs_quiet)
		fprintf(stderr, "atomfs: warning: %s\n", msg);
}

/* the places containers/image and docker keep credentials, in that order */
struct env_paths {
	char *files[4];
	char *cache;
};

static void env_paths_free(struct env_paths *p);

/* 0, or -ENOMEM with a message (and nothing left to free) */
static int env_paths_init(struct env_paths *p)
{
	const char *v = getenv("REGISTRY_AUTH_FILE");
	const char *home = getenv("HOME");
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	if (v && *v && !(p->files[n++] = strdup(v)))
		goto nomem;
	v = getenv("XDG_RUNTIME_DIR");
	if (v && *v &&
	    !(p->files[n++] = atomfs_asprintf("%s/containers/auth.json", v)))
		goto nomem;
	if (home && *home &&
	    !(p->files[n++] = atomfs_asprintf("%s/.docker/config.json", home)))
		goto nomem;
	v = getenv("XDG_CACHE_HOME");
	if (v && *v)
		p->cache = atomfs_asprintf("%s/atomfs/blob-locations.json", v);
	else if (home && *home)
		p->cache = atomfs_asprintf(
			"%s/.cache/atomfs/blob-locations.json", home);
	else
		return 0;
	if (p->cache)
		return 0;
nomem:
	env_paths_free(p);
	memset(p, 0, sizeof(*p));
	return atomfs_err(
		ENOMEM, "out of memory while looking for registry credentials");
}

static void env_paths_free(struct env_paths *p)
{
	for (size_t i = 0; i < ARRAY_SIZE(p->files); i++)
		free(p->files[i]);
	free(p->cache);
}

static int open_registry(const struct atomfs_rref *r,
			 const struct xfer_side *side, struct env_paths *env,
			 struct hooks *h, struct atomfs_registry **reg)
{
	struct atomfs_registry_opts o = {
		.tls_verify = side->tls_verify,
		.cert_dir = side->cert_dir,
		.auth_files = (const char *const *)env->files,
		.blob_cache = env->cache,
		.progress = on_progress,
		.warn = on_warn,
		.ctx = h,
	};

	return atomfs_registry_open(r, &o, reg);
}

static void summary(const char *verb, const char *src, const char *dst,
		    const struct atomfs_xfer_stats *st)
{
	if (atomfs_quiet)
		return;
	if (!strcmp(verb, "pulled"))
		printf("pulled %s to %s: %u blobs fetched (%llu bytes), %u already here, %u signatures\n",
		       src, dst, st->fetched, (unsigned long long)st->bytes,
		       st->present, st->referrers);
	else
		printf("%s %s to %s: %u blobs sent (%llu bytes), %u already there, %u mounted from another repository, %u signatures\n",
		       verb, src, dst, st->sent, (unsigned long long)st->bytes,
		       st->present, st->mounted, st->referrers);
}

/* a layout side: [oci:]DIR:TAG, or a bare DIR taking deftag */
int xfer_parse_local(const char *s, const char *deftag, bool allow_bare,
		     struct atomfs_ref *ref)
{
	const char *p = str_has_prefix(s, "oci:") ? s + 4 : s;

	if (allow_bare && !strchr(p, ':')) {
		if (!deftag)
			return atomfs_err(
				EINVAL,
				"'%s' names no tag and the source is given by digest: write %s:TAG",
				s, s);
		ref->dir = strdup(p);
		ref->tag = strdup(deftag);
		if (!ref->dir || !ref->tag) {
			atomfs_ref_free(ref);
			return atomfs_err(
				ENOMEM, "out of memory while reading '%s'", s);
		}
		return 0;
	}
	return atomfs_ref_parse(s, ref);
}

int xfer_copy(const char *src, const char *dst, const struct xfer_opts *xo)
{
	struct atomfs_rref rs = { 0 }, rd = { 0 };
	struct atomfs_ref ls = { 0 }, ld = { 0 };
	struct atomfs_registry *sreg = NULL, *dreg = NULL;
	struct atomfs_layout *sl = NULL, *dl = NULL;
	struct atomfs_xfer_stats st = { 0 };
	struct env_paths env;
	struct hooks h = { 0 };
	char tmpdir[] = "/tmp/atomfs-copy.XXXXXX";
	bool sdock = atomfs_is_registry_ref(src);
	bool ddock = atomfs_is_registry_ref(dst);
	const char *stag, *dtag;
	cleanup_free char *digest = NULL;
	bool have_tmp = false;
	int err;

	err = env_paths_init(&env);
	if (err)
		return cmd_fail(err);
	if (sdock) {
		err = atomfs_rref_parse(src, &rs);
		if (err)
			goto out;
		if (!rs.tag && !rs.digest && !(rs.tag = strdup("latest"))) {
			err = atomfs_err(ENOMEM,
					 "out of memory while reading '%s'",
					 src);
			goto out;
		}
		stag = rs.tag;
	} else {
		err = atomfs_ref_parse(src, &ls);
		if (err)
			goto out;
		stag = ls.tag;
	}
	if (ddock) {
		err = atomfs_rref_parse(dst, &rd);
		if (err)
			goto out;
		if (!rd.tag && !rd.digest) {
			if (!stag) {
				err = atomfs_err(
					EINVAL,
					"'%s' names no tag and the source is given by digest: add :TAG",
					dst);
				goto out;
			}
			rd.tag = strdup(stag);
			if (!rd.tag) {
				err = atomfs_err(
					ENOMEM,
					"out of memory while reading '%s'",
					dst);
				goto out;
			}
		}
		if (rd.digest) {
			err = atomfs_err(
				EINVAL,
				"cannot push to a digest (%s): name a tag, or none to keep '%s'",
				dst, stag ? stag : "the source tag");
			goto out;
		}
		dtag = rd.tag;
	} else {
		err = xfer_parse_local(dst, stag, true, &ld);
		if (err)
			goto out;
		dtag = ld.tag;
	}
	if (xo->sign_key && sdock) {
		err = atomfs_err(
			EINVAL,
			"--sign needs a local source ([oci:]DIR:TAG): pull first, then push --sign");
		goto out;
	}
	if (!sdock && !ddock) {
		err = atomfs_err(
			ENOTSUP,
			"copy between two layouts is not supported here: use 'atomfs build --from %s %s' to copy the image",
			src, dst);
		goto out;
	}

	/* the source: a registry is pulled into DST's layout or a temporary one */
	if (sdock) {
		const char *dir = ld.dir, *tag = dtag;

		if (ddock) {
			if (!mkdtemp(tmpdir)) {
				err = atomfs_err(errno, "cannot create %s: %m",
						 tmpdir);
				goto out;
			}
			have_tmp = true;
			dir = tmpdir;
			tag = stag ? stag : "pulled";
		}
		err = open_registry(&rs, &xo->src, &env, &h, &sreg);
		if (err)
			goto out;
		err = atomfs_layout_open(
			dir, ATOMFS_LAYOUT_WRITE | ATOMFS_LAYOUT_CREATE, &sl);
		/* a new layout exists from the start, so kept blobs have a home */
		if (!err && sl->created)
			err = atomfs_layout_write_index(sl);
		if (err)
			goto out;
		err = atomfs_registry_pull(sreg, rs.digest ? rs.digest : rs.tag,
					   sl, tag, &digest, &st);
		if (err)
			goto out;
		stag = tag;
		if (!ddock) {
			summary("pulled", src, dst, &st);
			goto out;
		}
	} else {
		err = atomfs_layout_open(
			ls.dir, xo->sign_key ? ATOMFS_LAYOUT_WRITE : 0, &sl);
		if (err)
			goto out;
	}
	if (xo->sign_key) {
		struct atomfs_image img = { 0 };

		err = atomfs_image_load(sl, stag, &img);
		if (!err)
			err = atomfs_sign_manifest(
				sl, img.digest,
				json_integer_value(
					json_object_get(img.desc, "size")),
				dtag, xo->sign_key);
		if (!err)
			err = atomfs_layout_write_index(sl);
		if (err)
			atomfs_layout_rollback(sl);
		atomfs_image_free(&img);
		if (err)
			goto out;
	}
	err = open_registry(&rd, &xo->dst, &env, &h, &dreg);
	if (!err)
		err = atomfs_registry_push(dreg, sl, stag, dtag, &st);
	if (!err)
		summary(sdock ? "copied" : "pushed", src, dst, &st);
out:
	atomfs_progress_done(h.bar);
	if (err)
		err = cmd_fail(err);
	atomfs_registry_close(sreg);
	atomfs_registry_close(dreg);
	atomfs_layout_close(sl);
	atomfs_layout_close(dl);
	if (have_tmp)
		rm_tree(tmpdir);
	atomfs_rref_free(&rs);
	atomfs_rref_free(&rd);
	atomfs_ref_free(&ls);
	atomfs_ref_free(&ld);
	env_paths_free(&env);
	return err;
}

int cmd_copy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "src-tls-verify", optional_argument, NULL, XFER_SRC_TLS },
		{ "dest-tls-verify", optional_argument, NULL, XFER_DST_TLS },
		{ "src-cert-dir", required_argument, NULL, XFER_SRC_CERT },
		{ "dest-cert-dir", required_argument, NULL, XFER_DST_CERT },
		{ "sign", required_argument, NULL, XFER_SIGN },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xfer_opts xo;
	int opt, r;

	if (cmd_help(argc, argv, copy_usage))
		return EXIT_OK;
	xfer_opts_init(&xo);
	while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		if (opt == 'q') {
			atomfs_quiet = 1;
			continue;
		}
		r = xfer_opt(&xo, opt, optarg);
		if (r < 0)
			return EXIT_USAGE;
		if (r == 0)
			return cmd_usage("copy", copy_usage);
	}
	if (argc - optind != 2)
		return cmd_usage("copy", copy_usage);
	return xfer_copy(argv[optind], argv[optind + 1], &xo);
}
