/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Compare two directory trees entry by entry: names, types, modes, owners,
 * sizes, link targets, rdev, xattrs (overlay bookkeeping aside) and file
 * contents. Differences are printed as "# diff: ..." lines and counted.
 */
#ifndef ATOMFS_SELFTEST_TREE_CMP_H
#define ATOMFS_SELFTEST_TREE_CMP_H

#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "atomfs_util.h"

#define CMP_MTIME (1U << 0)	/* compare mtimes of non-directories */
#define CMP_NLINK (1U << 1)	/* compare nlink of non-directories */
#define CMP_BLOCKS (1U << 2)	/* compare st_blocks of regular files */

static inline bool overlay_xattr(const char *name)
{
	return !strncmp(name, "trusted.overlay.", 16) ||
	       !strncmp(name, "user.overlay.", 13);
}

/* Sorted, NUL-separated list of the xattr names of PATH, overlay
 * bookkeeping left out; returns its length or -errno. */
static inline int xattr_names(const char *path, char *out, size_t size)
{
	char raw[8192], *names[256], *p;
	ssize_t n = llistxattr(path, raw, sizeof(raw));
	int i, j, nr = 0, len = 0;

	if (n < 0)
		return -errno;
	for (p = raw; p < raw + n && nr < 256; p += strlen(p) + 1)
		if (!overlay_xattr(p))
			names[nr++] = p;
	for (i = 1; i < nr; i++)
		for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			p = names[j];
			names[j] = names[j - 1];
			names[j - 1] = p;
		}
	for (i = 0; i < nr; i++) {
		int l = strlen(names[i]) + 1;

		if ((size_t)(len + l) > size)
			return -E2BIG;
		memcpy(out + len, names[i], l);
		len += l;
	}
	return len;
}

/* Do regular files A and B have the same bytes? */
static inline bool same_content(const char *a, const char *b)
{
	static char ba[1 << 16], bb[1 << 16];
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	bool same = fa >= 0 && fb >= 0;
	ssize_t na, nb;

	while (same) {
		na = read(fa, ba, sizeof(ba));
		nb = read(fb, bb, sizeof(bb));
		if (na != nb || na < 0 || memcmp(ba, bb, na))
			same = false;
		if (na <= 0)
			break;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

static inline int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in DIR (without . and ..); *NR gets the count. */
static inline char **dir_names(const char *dir, int *nr)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	int n = 0, cap = 0;

	*nr = -1;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, cap * sizeof(*v));
		}
		v[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), name_cmp);
	*nr = n;
	return v;
}

static inline void free_names(char **v, int n)
{
	while (n-- > 0)
		free(v[n]);
	free(v);
}

/* Compare the entries at paths A and B (lstat); recurse into directories. */
static inline int tree_cmp(const char *a, const char *b, unsigned int flags)
{
	struct stat sa, sb;
	int diffs = 0;

	if (lstat(a, &sa) || lstat(b, &sb)) {
		printf("# diff: %s or %s: %s\n", a, b, strerror(errno));
		return 1;
	}
#define D(cond, fmt, ...) do { if (cond) { diffs++; \
	printf("# diff: %s vs %s: " fmt "\n", a, b, ##__VA_ARGS__); } } while (0)
	D(sa.st_mode != sb.st_mode, "mode 0%o 0%o", sa.st_mode, sb.st_mode);
	D(sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid, "owner %u:%u %u:%u",
	  sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid);
	if (!S_ISDIR(sa.st_mode)) {
		D(sa.st_size != sb.st_size, "size %lld %lld",
		  (long long)sa.st_size, (long long)sb.st_size);
		if (flags & CMP_MTIME)
			D(sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
			  sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec, "mtime");
		if (flags & CMP_NLINK)
			D(sa.st_nlink != sb.st_nlink, "nlink %lu %lu",
			  (unsigned long)sa.st_nlink, (unsigned long)sb.st_nlink);
	}
	if ((flags & CMP_BLOCKS) && S_ISREG(sa.st_mode))
		D(sa.st_blocks != sb.st_blocks, "blocks %lld %lld",
		  (long long)sa.st_blocks, (long long)sb.st_blocks);
	if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode))
		D(sa.st_rdev != sb.st_rdev, "rdev %u:%u %u:%u",
		  major(sa.st_rdev), minor(sa.st_rdev), major(sb.st_rdev),
		  minor(sb.st_rdev));
	{
		char xa[8192], xb[8192], va[4096], vb[4096], *p;
		int la = xattr_names(a, xa, sizeof(xa));
		int lb = xattr_names(b, xb, sizeof(xb));

		D(la != lb || (la > 0 && memcmp(xa, xb, la)), "xattr names");
		for (p = xa; la == lb && la > 0 && p < xa + la; p += strlen(p) + 1) {
			ssize_t na = lgetxattr(a, p, va, sizeof(va));
			ssize_t nb = lgetxattr(b, p, vb, sizeof(vb));

			D(na != nb || (na > 0 && memcmp(va, vb, na)),
			  "xattr %s", p);
		}
	}
	if (diffs)
		return diffs;
	if (S_ISLNK(sa.st_mode)) {
		char ta[PATH_MAX], tb[PATH_MAX];
		ssize_t na = readlink(a, ta, sizeof(ta) - 1);
		ssize_t nb = readlink(b, tb, sizeof(tb) - 1);

		D(na < 0 || na != nb || memcmp(ta, tb, na), "link target");
	} else if (S_ISREG(sa.st_mode)) {
		D(!same_content(a, b), "content");
	} else if (S_ISDIR(sa.st_mode)) {
		int na, nb, i, j;
		char **va = dir_names(a, &na), **vb = dir_names(b, &nb);
		char pa[PATH_MAX], pb[PATH_MAX];

		for (i = 0, j = 0; i < na || j < nb;) {
			int c = i >= na ? 1 : j >= nb ? -1 : strcmp(va[i], vb[j]);

			if (c < 0) {
				D(1, "only in the first: %s", va[i]);
				i++;
			} else if (c > 0) {
				D(1, "only in the second: %s", vb[j]);
				j++;
			} else {
				snprintf(pa, sizeof(pa), "%s/%s", a, va[i]);
				snprintf(pb, sizeof(pb), "%s/%s", b, vb[j]);
				diffs += tree_cmp(pa, pb, flags);
				i++;
				j++;
			}
		}
		free_names(va, na);
		free_names(vb, nb);
	}
#undef D
	return diffs;
}

#endif
