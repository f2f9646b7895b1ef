/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xfer.h: atomfs push, pull and copy (cmd-push.c, cmd-pull.c, cmd-copy.c) */
#ifndef ATOMFS_XFER_H
#define ATOMFS_XFER_H

#include <stdbool.h>

#include "registry.h"

/* one side of a transfer: skopeo's --src-/--dest- options */
struct xfer_side {
	bool tls_verify;
	const char *cert_dir;
};

struct xfer_opts {
	struct xfer_side src, dst;
	const char *sign_key; /* sign for the destination tag first */
};

/* clang-format off */
#define XFER_SIGN 0x200
#define XFER_TLS 0x201
#define XFER_CERT 0x202
#define XFER_SRC_TLS 0x203
#define XFER_DST_TLS 0x204
#define XFER_SRC_CERT 0x205
#define XFER_DST_CERT 0x206
/* clang-format on */

/* cmd-copy.c */
void xfer_opts_init(struct xfer_opts *xo);
/* --tls-verify[=BOOL], --cert-dir... ; 1 handled, 0 not ours, -1 bad value */
int xfer_opt(struct xfer_opts *xo, int opt, const char *arg);
/* a layout side: [oci:]DIR:TAG, or (if allow_bare) a bare DIR taking deftag */
int xfer_parse_local(const char *s, const char *deftag, bool allow_bare,
		     struct atomfs_ref *ref);
/* SRC and DST: [oci:]DIR:TAG (DST also a bare DIR) or docker://... */
int xfer_copy(const char *src, const char *dst, const struct xfer_opts *xo);

/*
 * cmd-pull.c: the image just pulled to R: tar layers imported in place,
 * unless @prev (R's entry before the pull, or NULL) is their import; an
 * exit code
 */
int xfer_import_pulled(const struct atomfs_ref *r, const json_t *prev);

int cmd_push(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_copy(int argc, char **argv);

#endif
