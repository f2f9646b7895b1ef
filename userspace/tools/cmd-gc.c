// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs gc / atomfs fsck */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "internal.h"

static const char gc_usage[] =
	"usage: atomfs gc [-q] DIR\n"
	"Remove blobs of the layout DIR that no index.json entry reaches, keeping the\n"
	"signatures (referrers) of every manifest kept; drop signatures of manifests\n"
	"that are gone; remove temporary files left by interrupted commands.\n";

static const char fsck_usage[] =
	"usage: atomfs fsck [-q] DIR\n"
	"Re-hash every blob of the layout DIR and report damaged or missing ones.\n";

/* "[-q] DIR": leaves DIR at argv[optind] */
static int dir_arg(int argc, char **argv, const char *cmd, const char *usage)
{
	static const struct option longopts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		if (opt != 'q') {
			cmd_usage(cmd, usage);
			return -1;
		}
		atomfs_quiet = 1;
	}
	if (argc - optind != 1) {
		cmd_usage(cmd, usage);
		return -1;
	}
	return 0;
}

static int mark_desc(const struct atomfs_layout *l, const json_t *desc,
		     json_t *keep, int depth, bool manifest);

/*
 * Reachable digests, as a JSON object used as a set.  @desc is an entry of
 * index.json or of an image index: a manifest.  What one of a media type
 * gc cannot read references is unknown, so gc stops rather than delete it.
 */
static int mark(const struct atomfs_layout *l, const json_t *desc, json_t *keep,
		int depth)
{
	return mark_desc(l, desc, keep, depth, true);
}

static int mark_desc(const struct atomfs_layout *l, const json_t *desc,
		     json_t *keep, int depth, bool manifest)
{
	const char *dig = atomfs_desc_str(desc, "digest");
	const char *mt = atomfs_desc_str(desc, "mediaType");
	json_t *doc = NULL, *d;
	size_t i;
	int err;

	if (!dig || json_object_get(keep, dig))
		return 0;
	json_object_set_new(keep, dig, json_true());
	if (!manifest)
		return 0;
	if (!mt ||
	    (strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST) &&
	     strcmp(mt, MT_OCI_INDEX) && strcmp(mt, MT_DOCKER_LIST)))
		return atomfs_err(
			EMEDIUMTYPE,
			"%s: manifest %s has media type %s, whose references atomfs cannot follow, so it cannot tell which blobs it needs (gc removes nothing while index.json lists it)",
			l->dir, dig, mt ? mt : "(none)");
	if (depth > 8)
		return atomfs_err(
			ELOOP,
			"%s: manifest %s is nested in more than 8 image indexes",
			l->dir, dig);
	err = atomfs_layout_read_json(
		l, dig, json_integer_value(json_object_get(desc, "size")),
		&doc);
	if (err)
		return err;
	err = mark_desc(l, json_object_get(doc, "config"), keep, depth + 1,
			false);
	json_array_foreach(json_object_get(doc, "layers"), i, d) if (!err)
		err = mark_desc(l, d, keep, depth + 1, false);
	json_array_foreach(json_object_get(doc, "manifests"), i, d) if (!err)
		err = mark_desc(l, d, keep, depth + 1, true);
	json_decref(doc);
	return err;
}

static bool is_signature(const json_t *d)
{
	return atomfs_is_signature(d);
}

static const char *subject_of(const struct atomfs_layout *l, const json_t *d,
			      json_t **doc)
{
	*doc = NULL;
	if (atomfs_layout_read_json(
		    l, atomfs_desc_str(d, "digest"),
		    json_integer_value(json_object_get(d, "size")), doc) < 0) {
		atomfs_clear_error();
		return NULL;
	}
	return atomfs_desc_str(json_object_get(*doc, "subject"), "digest");
}

/* a directory stream on blobs/sha256 of l (its own fd), NULL + errno */
static DIR *open_blobs(const struct atomfs_layout *l)
{
	int fd = l->blobfd < 0 ? -1 :
				 openat(l->blobfd, ".",
					O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d) {
		atomfs_err(errno, "cannot read %s/blobs/sha256: %m", l->dir);
		if (fd >= 0)
			close(fd);
	}
	return d;
}

/* temporary index.json and oci-layout files of interrupted commands */
static void remove_stale_index_tmps(const struct atomfs_layout *l)
{
	int fd = openat(l->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	struct stat st;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		const char *n = de->d_name;

		if (!str_has_prefix(n, ".index.json.tmp-") &&
		    !str_has_prefix(n, "index.json.tmp-") &&
		    !str_has_prefix(n, ".oci-layout.tmp-"))
			continue;
		if (fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			unlinkat(fd, n, 0);
	}
	closedir(d);
}

int cmd_gc(int argc, char **argv)
{
	struct atomfs_layout *l = NULL;
	json_t *keep, *m, *d;
	unsigned long long freed = 0, nfreed = 0, dropped = 0;
	struct dirent *de;
	DIR *dir = NULL;
	size_t i;
	int err;

	if (cmd_help(argc, argv, gc_usage))
		return EXIT_OK;
	if (dir_arg(argc, argv, "gc", gc_usage) < 0)
		return EXIT_USAGE;
	argv[1] = argv[optind];
	keep = json_object();
	err = atomfs_layout_open(argv[1], ATOMFS_LAYOUT_WRITE, &l);
	if (err)
		goto out;
	m = json_object_get(l->index, "manifests");
	/* roots: every index entry but signatures; a bad one stops gc before it deletes anything */
	json_array_foreach(m, i, d)
	{
		if (is_signature(d))
			continue;
		err = mark(l, d, keep, 0);
		if (err) {
			atomfs_err_prefix("gc of %s stopped, nothing removed",
					  l->dir);
			goto out;
		}
	}
	/* signatures live as long as what they sign */
	for (i = 0; i < json_array_size(m);) {
		json_t *doc;
		const char *subj;

		d = json_array_get(m, i);
		if (!is_signature(d)) {
			i++;
			continue;
		}
		subj = subject_of(l, d, &doc);
		if (subj && json_object_get(keep, subj)) {
			err = mark(l, d, keep, 0);
			json_decref(doc);
			if (err)
				goto out;
			i++;
		} else {
			json_decref(doc);
			json_array_remove(m, i);
			dropped++;
		}
	}
	if (dropped) {
		err = atomfs_layout_write_index(l);
		if (err)
			goto out;
	}
	/*
	 * Relative to the blobs/sha256 fd (opened without following a symlink):
	 * only regular files in that very directory are ever removed.
	 */
	dir = open_blobs(l);
	if (!dir) {
		err = -errno;
		goto out;
	}
	while ((de = readdir(dir))) {
		cleanup_free char *dig = xasprintf("sha256:%s", de->d_name);
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (json_object_get(keep, dig))
			continue;
		/* unlinkat() never follows: a symlink goes, not its target */
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
			if (!atomfs_quiet)
				fprintf(stderr,
					"atomfs: gc %s: left %s/blobs/sha256/%s alone: not a file\n",
					l->dir, l->dir, de->d_name);
			continue;
		}
		if (unlinkat(dirfd(dir), de->d_name, 0) == 0) {
			freed += (unsigned long long)st.st_size;
			nfreed++;
		} else if (errno != ENOENT && !err) {
			/* the first failure is the message; the rest alike */
			err = atomfs_err(
				errno,
				"gc %s: cannot remove %s/blobs/sha256/%s: %m",
				l->dir, l->dir, de->d_name);
		}
	}
	closedir(dir);
	remove_stale_index_tmps(l);
	if (!atomfs_quiet && !err)
		fprintf(stderr,
			"atomfs: gc %s: removed %llu blobs (%llu bytes), %llu orphaned signatures\n",
			l->dir, nfreed, freed, dropped);
out:
	json_decref(keep);
	atomfs_layout_close(l);
	return err ? cmd_fail(err) : EXIT_OK;
}

int cmd_fsck(int argc, char **argv)
{
	struct atomfs_layout *l = NULL;
	cleanup_free char *blobdir = NULL;
	json_t *keep, *d, *dups;
	unsigned long long bad = 0, missing = 0, checked = 0;
	const char *dig;
	struct dirent *de;
	DIR *dir;
	size_t i;
	int err;

	if (cmd_help(argc, argv, fsck_usage))
		return EXIT_OK;
	if (dir_arg(argc, argv, "fsck", fsck_usage) < 0)
		return EXIT_USAGE;
	argv[1] = argv[optind];
	keep = json_object();
	err = atomfs_layout_open(argv[1], 0, &l);
	if (err)
		goto out;
	blobdir = path_join(l->dir, "blobs/sha256");
	dir = open_blobs(l);
	if (!dir) {
		err = -errno;
		goto out;
	}
	while ((de = readdir(dir))) {
		cleanup_free char *name = xasprintf("sha256:%s", de->d_name);
		cleanup_free char *p = path_join(blobdir, de->d_name);
		cleanup_free char *got = NULL;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		if (!atomfs_digest_valid(name)) {
			printf("stray file: %s (not a sha256 blob name)\n", p);
			continue;
		}
		checked++;
		fd = atomfs_layout_open_blob(l, name, NULL);
		if (fd < 0 || atomfs_digest_fd(fd, p, &got, NULL) < 0) {
			printf("DAMAGED: %s: %s\n", p, atomfs_last_error());
			bad++;
		} else if (strcmp(got, name)) {
			printf("DAMAGED: %s hashes to %s\n", p, got);
			bad++;
		}
		if (fd >= 0)
			close(fd);
	}
	closedir(dir);
	/* a tag listed twice names no one image */
	dups = atomfs_layout_duplicate_tags(l);
	json_object_foreach(dups, dig, d)
	{
		printf("DUPLICATE TAG: '%s' is listed %lld times in %s/index.json\n",
		       dig, (long long)json_integer_value(d), l->dir);
		bad++;
	}
	json_decref(dups);
	/* everything index.json reaches must be there */
	json_array_foreach(json_object_get(l->index, "manifests"), i, d)
	{
		if (mark(l, d, keep, 0) < 0) {
			printf("BROKEN: %s: %s\n", atomfs_desc_str(d, "digest"),
			       atomfs_last_error());
			bad++;
		}
	}
	json_object_foreach(keep, dig, d)
	{
		if (!atomfs_digest_valid(dig) || l->blobfd < 0 ||
		    faccessat(l->blobfd, dig + 7, F_OK, AT_SYMLINK_NOFOLLOW) <
			    0) {
			printf("MISSING: %s (referenced but absent)\n", dig);
			missing++;
		}
	}
	if (!atomfs_quiet || bad || missing)
		printf("%s: %llu blobs checked, %llu damaged, %llu missing\n",
		       l->dir, checked, bad, missing);
	if (bad || missing)
		err = atomfs_err(
			EILSEQ,
			"%s has damaged or missing blobs or duplicate tags; re-copy or rebuild the images using them, retag duplicates",
			l->dir);
out:
	json_decref(keep);
	atomfs_layout_close(l);
	return err ? cmd_fail(err) : EXIT_OK;
}
