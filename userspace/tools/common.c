// SPDX-License-Identifier: GPL-2.0-or-later
/* common.c: what every atomfs subcommand shares */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "internal.h"

int atomfs_quiet;

int cmd_fail(int err)
{
	const char *msg = atomfs_last_error();

	fprintf(stderr, "atomfs: %s\n", *msg ? msg : strerror(-err));
	switch (-err) {
	case ENOENT:
		return EXIT_NOTFOUND;
	case EINVAL:
	case EBADMSG:
	case EPERM:
	case ENOTSUP:
	case ENOTDIR:
	case EPROTO:
	case E2BIG:
	case EFBIG:
	case EKEYEXPIRED:
		return EXIT_BADINPUT;
	case EILSEQ:
	case EKEYREJECTED:
	case ENOKEY:
		return EXIT_VERIFY;
	default:
		return EXIT_FAIL;
	}
}

int cmd_usage(const char *cmd, const char *usage)
{
	fprintf(stderr, "%s", usage);
	fprintf(stderr, "Run 'atomfs %s --help' for details.\n", cmd);
	return EXIT_USAGE;
}

bool cmd_help(int argc, char **argv, const char *usage)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return true;
		}
	}
	return false;
}

static bool parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end;
}

void layer_opts_init(struct layer_opts *lo)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	unsigned long long v;

	memset(lo, 0, sizeof(*lo));
	lo->sq.comp = ATOMFS_COMP_ZSTD;
	lo->sq.block_size = 128 * 1024;
	if (sde && *sde && parse_u64(sde, &v) && v <= 0xffffffffull) {
		lo->sq.have_mtime = true;
		lo->sq.mtime = (int64_t)v;
	} else if (sde && *sde) {
		/* ignored, the build would silently not be reproducible */
		lo->bad_sde = sde;
	}
}

int layer_opts_check(const struct layer_opts *lo)
{
	if (!lo->bad_sde)
		return 0;
	fprintf(stderr,
		"atomfs: SOURCE_DATE_EPOCH=%s: use seconds since the epoch (0..4294967295), or unset it, or give --mtime\n",
		lo->bad_sde);
	return -1;
}

int layer_opt(struct layer_opts *lo, int opt, const char *arg)
{
	unsigned long long v;

	switch (opt) {
	case 0x100:
		if (atomfs_comp_from_name(arg, &lo->sq.comp) < 0) {
			fprintf(stderr, "atomfs: %s\n", atomfs_last_error());
			return -1;
		}
		return 1;
	case 0x101:
		if (!parse_u64(arg, &v) || v < 4096 || v > 1048576 ||
		    (v & (v - 1))) {
			fprintf(stderr,
				"atomfs: --block-size %s: use a power of two from 4096 to 1048576\n",
				arg);
			return -1;
		}
		lo->sq.block_size = (uint32_t)v;
		return 1;
	case 0x102:
		if (!parse_u64(arg, &v) || v > 0xffffffffull) {
			fprintf(stderr,
				"atomfs: --mtime %s: use seconds since the epoch (0..4294967295)\n",
				arg);
			return -1;
		}
		lo->sq.have_mtime = true;
		lo->sq.mtime = (int64_t)v;
		lo->bad_sde = NULL; /* --mtime overrides it */
		return 1;
	case 0x103:
		if (!parse_u64(arg, &v) || v < 1 || v > 1024) {
			fprintf(stderr,
				"atomfs: --threads %s: use a number from 1 to 1024\n",
				arg);
			return -1;
		}
		lo->sq.threads = (unsigned int)v;
		return 1;
	case 0x104:
		lo->in.strict = true;
		return 1;
	}
	return 0;
}

int layouts_get(struct layouts *ls, const char *dir, struct atomfs_layout **out)
{
	size_t i;
	int err;

	if (ls->dst && atomfs_layout_same(ls->dst, dir)) {
		*out = ls->dst;
		return 0;
	}
	for (i = 0; i < ls->n; i++) {
		if (atomfs_layout_same(ls->v[i], dir)) {
			*out = ls->v[i];
			return 0;
		}
	}
	if (ls->n == sizeof(ls->v) / sizeof(ls->v[0]))
		return atomfs_err(E2BIG,
				  "too many image layouts in one command");
	err = atomfs_layout_open(dir, 0, out);
	if (err)
		return err;
	ls->v[ls->n++] = *out;
	return 0;
}

void layouts_close(struct layouts *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		atomfs_layout_close(ls->v[i]);
	ls->n = 0;
	atomfs_layout_close(ls->dst);
	ls->dst = NULL;
}

int open_ref(struct layouts *ls, const char *refstr, struct atomfs_image *img,
	     struct atomfs_layout **lout)
{
	struct atomfs_ref ref;
	struct atomfs_layout *l;
	int err;

	err = atomfs_ref_parse(refstr, &ref);
	if (err)
		return err;
	err = layouts_get(ls, ref.dir, &l);
	if (err) {
		atomfs_ref_free(&ref);
		return err;
	}
	err = atomfs_image_load(l, ref.tag, img);
	if (!err) {
		free(img->ref);
		img->ref = atomfs_ref_canonical(ref.dir, ref.tag);
		if (lout)
			*lout = l;
	}
	/* documents read: a source's lock is never held while waiting for another */
	atomfs_layout_unlock(l);
	atomfs_ref_free(&ref);
	return err;
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p) ? -1 : 0;
}

int rm_tree(const char *p)
{
	struct stat st;

	if (lstat(p, &st))
		return errno == ENOENT ? 0 : -errno;
	/* never into a mount point still in use: umount first */
	if (nftw(p, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT))
		return -errno;
	return 0;
}
