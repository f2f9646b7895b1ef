/* SPDX-License-Identifier: GPL-2.0-or-later */
/* the atomfs tool: one cmd-*.c per subcommand, exit codes in atomfs(1) */
#ifndef ATOMFS_CMD_H
#define ATOMFS_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "image.h"
#include "input.h"
#include "squashfs.h"

enum atomfs_exit {
	EXIT_OK = 0,
	EXIT_FAIL = 1, /* I/O or internal error */
	EXIT_USAGE = 2, /* bad command line */
	EXIT_NOTFOUND = 3, /* layout, tag, blob, file or key not found */
	EXIT_BADINPUT = 4, /* malformed/corrupt/unsafe/unsupported input */
	EXIT_VERIFY = 5, /* digest mismatch, missing or bad signature */
};

/* common.c: non-zero: no warnings, no progress (-q) */
extern int atomfs_quiet;

/* cmd-mount.c */
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* common.c */
/* print atomfs_last_error(), map -errno to an exit code */
int cmd_fail(int err);
int cmd_usage(const char *cmd, const char *usage);
bool cmd_help(int argc, char **argv, const char *usage);
/* shared layer options: --compression --block-size --mtime --threads --strict */
struct layer_opts {
	struct atomfs_sqfs_opts sq;
	struct atomfs_input_opts in;
	const char *bad_sde; /* a SOURCE_DATE_EPOCH that is no valid --mtime */
};
void layer_opts_init(struct layer_opts *lo);
/* after the options: -1 (with a message) if SOURCE_DATE_EPOCH is unusable */
int layer_opts_check(const struct layer_opts *lo);
/* returns 1 if handled, 0 if not a layer option, -1 on a bad value */
int layer_opt(struct layer_opts *lo, int opt, const char *arg);
/* clang-format off */
#define LAYER_LONGOPTS \
	{ "compression", required_argument, NULL, 0x100 }, \
	{ "block-size", required_argument, NULL, 0x101 }, \
	{ "mtime", required_argument, NULL, 0x102 }, \
	{ "threads", required_argument, NULL, 0x103 }, \
	{ "strict", no_argument, NULL, 0x104 }
/* clang-format on */
#define LAYER_USAGE                                                                                \
	"  --compression ALG   zstd (default), gzip, xz, lz4, lzo or none\n"                       \
	"  --block-size N      squashfs block size, power of two 4096..1048576 (default 131072)\n" \
	"  --mtime EPOCH       set every timestamp (default: $SOURCE_DATE_EPOCH if set)\n"         \
	"  --threads N         compression threads (default: one per CPU)\n"                       \
	"  --strict            fail on what a layer cannot store (NFSv4 ACLs, other\n"             \
	"                      xattr namespaces, odd timestamps) instead of warning\n"

/* layouts used by one command: the destination (written) and sources (read) */
struct layouts {
	struct atomfs_layout *dst;
	struct atomfs_layout *v[64];
	size_t n;
};
int layouts_get(struct layouts *ls, const char *dir,
		struct atomfs_layout **out);
void layouts_close(struct layouts *ls);
/* resolve a REF string via ls; img->ref becomes the canonical ABSDIR:TAG */
int open_ref(struct layouts *ls, const char *ref, struct atomfs_image *img,
	     struct atomfs_layout **l);

/* cmd-build.c: shared by build, import and update */
bool layers_have(const json_t *layers, const char *digest);
/* the blob is a sane squashfs (message names the layer and ref) */
int check_layer_blob(const struct atomfs_layout *l, const char *digest,
		     const char *ref);
int take_layers(struct atomfs_layout *dst, struct atomfs_layout *src,
		const struct atomfs_image *img, const char *role,
		bool skip_present, json_t *layers, json_t *history,
		size_t *added);
char *xasprintf_tmp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int new_layer(struct atomfs_layout *dst, const char *input,
	      const struct layer_opts *lo, json_t **desc);
json_t *new_config(const struct layer_opts *lo);
void set_created(json_t *config, const struct layer_opts *lo);
json_t *usable_history(const json_t *config, size_t nlayers);
int finish_image(struct atomfs_layout *dst, const char *tag, json_t *config,
		 json_t *layers, json_t *annotations, const char *signkey,
		 const char *verb);

int cmd_layer(int argc, char **argv);
int cmd_build(int argc, char **argv);
/* cmd-recipe.c: atomfs build -f RECIPE */
int cmd_build_recipe(int argc, char **argv);
/* remove tree P (absent is fine), not crossing into mounts; 0 or -errno */
int rm_tree(const char *p);
int cmd_import(int argc, char **argv);
/* cmd-import.c: SRC into DST, tar layers converted; an exit code */
int import_image(const char *srcref, const char *dstref,
		 const struct layer_opts *lo, const char *sign);
int cmd_inspect(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_fsck(int argc, char **argv);

#endif
