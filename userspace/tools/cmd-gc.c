// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs gc / atomfs fsck */
#include <dirent.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "internal.h"

static const char gc_usage[] =
	"usage: atomfs gc DIR\n"
	"Remove blobs of the layout DIR that no index.json entry reaches, keeping the\n"
	"signatures (referrers) of every manifest kept; drop signatures of manifests\n"
	"that are gone; remove temporary files left by interrupted commands.\n";

static const char fsck_usage[] =
	"usage: atomfs fsck DIR\n"
	"Re-hash every blob of the layout DIR and report damaged or missing ones.\n";

/* reachable digests, as a JSON object used as a set */
static int mark(const struct atomfs_layout *l, const json_t *desc, json_t *keep, int depth)
{
	const char *dig = atomfs_desc_str(desc, "digest");
	const char *mt = atomfs_desc_str(desc, "mediaType");
	json_t *doc = NULL, *d;
	size_t i;
	int err;

	if (!dig || json_object_get(keep, dig))
		return 0;
	json_object_set_new(keep, dig, json_true());
	if (!mt || depth > 8)
		return 0;
	if (strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST) && strcmp(mt, MT_OCI_INDEX) &&
	    strcmp(mt, MT_DOCKER_LIST))
		return 0;
	err = atomfs_layout_read_json(l, dig, json_integer_value(json_object_get(desc, "size")), &doc);
	if (err)
		return err;
	err = mark(l, json_object_get(doc, "config"), keep, depth + 1);
	json_array_foreach(json_object_get(doc, "layers"), i, d)
		if (!err)
			err = mark(l, d, keep, depth + 1);
	json_array_foreach(json_object_get(doc, "manifests"), i, d)
		if (!err)
			err = mark(l, d, keep, depth + 1);
	json_decref(doc);
	return err;
}

static bool is_signature(const json_t *d)
{
	const char *at = atomfs_desc_str(d, "artifactType");

	return at && !strcmp(at, MT_SIGNATURE);
}

static const char *subject_of(const struct atomfs_layout *l, const json_t *d, json_t **doc)
{
	*doc = NULL;
	if (atomfs_layout_read_json(l, atomfs_desc_str(d, "digest"), json_integer_value(json_object_get(d, "size")),
				    doc) < 0) {
		atomfs_clear_error();
		return NULL;
	}
	return atomfs_desc_str(json_object_get(*doc, "subject"), "digest");
}

int cmd_gc(int argc, char **argv)
{
	struct atomfs_layout *l = NULL;
	cleanup_free char *blobdir = NULL;
	json_t *keep, *m, *d;
	unsigned long long freed = 0, nfreed = 0, dropped = 0;
	struct dirent *de;
	DIR *dir = NULL;
	size_t i;
	int err;

	if (cmd_help(argc, argv, gc_usage))
		return EXIT_OK;
	if (argc == 3 && (!strcmp(argv[1], "-q") || !strcmp(argv[1], "--quiet"))) {
		atomfs_quiet = 1;
		argv++;
		argc--;
	}
	if (argc != 2)
		return cmd_usage("gc", gc_usage);
	keep = json_object();
	err = atomfs_layout_open(argv[1], ATOMFS_LAYOUT_WRITE, &l);
	if (err)
		goto out;
	m = json_object_get(l->index, "manifests");
	/* roots: every index entry but signatures; a bad one stops gc before it deletes anything */
	json_array_foreach(m, i, d) {
		if (is_signature(d))
			continue;
		err = mark(l, d, keep, 0);
		if (err) {
			atomfs_err_prefix("gc of %s stopped, nothing removed", l->dir);
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
	blobdir = path_join(l->dir, "blobs/sha256");
	dir = opendir(blobdir);
	if (!dir) {
		err = atomfs_err(errno, "cannot read %s: %m", blobdir);
		goto out;
	}
	while ((de = readdir(dir))) {
		cleanup_free char *dig = xasprintf("sha256:%s", de->d_name);
		cleanup_free char *p = NULL;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (json_object_get(keep, dig))
			continue;
		p = path_join(blobdir, de->d_name);
		if (lstat(p, &st) == 0 && unlink(p) == 0) {
			freed += (unsigned long long)st.st_size;
			nfreed++;
		}
	}
	closedir(dir);
	if (!atomfs_quiet)
		fprintf(stderr, "atomfs: gc %s: removed %llu blobs (%llu bytes), %llu orphaned signatures\n", l->dir,
			nfreed, freed, dropped);
out:
	json_decref(keep);
	atomfs_layout_close(l);
	return err ? cmd_fail(err) : EXIT_OK;
}

int cmd_fsck(int argc, char **argv)
{
	struct atomfs_layout *l = NULL;
	cleanup_free char *blobdir = NULL;
	json_t *keep, *d;
	unsigned long long bad = 0, missing = 0, checked = 0;
	const char *dig;
	struct dirent *de;
	DIR *dir;
	size_t i;
	int err;

	if (cmd_help(argc, argv, fsck_usage))
		return EXIT_OK;
	if (argc != 2)
		return cmd_usage("fsck", fsck_usage);
	keep = json_object();
	err = atomfs_layout_open(argv[1], 0, &l);
	if (err)
		goto out;
	blobdir = path_join(l->dir, "blobs/sha256");
	dir = opendir(blobdir);
	if (!dir) {
		err = atomfs_err(errno, "cannot read %s: %m", blobdir);
		goto out;
	}
	while ((de = readdir(dir))) {
		cleanup_free char *name = xasprintf("sha256:%s", de->d_name);
		cleanup_free char *p = path_join(blobdir, de->d_name);
		cleanup_free char *got = NULL;

		if (de->d_name[0] == '.')
			continue;
		if (!atomfs_digest_valid(name)) {
			printf("stray file: %s (not a sha256 blob name)\n", p);
			continue;
		}
		checked++;
		if (atomfs_digest_file(p, &got, NULL) < 0 || strcmp(got, name)) {
			printf("DAMAGED: %s hashes to %s\n", p, got ? got : "(unreadable)");
			bad++;
		}
	}
	closedir(dir);
	/* everything index.json reaches must be there */
	json_array_foreach(json_object_get(l->index, "manifests"), i, d) {
		if (mark(l, d, keep, 0) < 0) {
			printf("BROKEN: %s: %s\n", atomfs_desc_str(d, "digest"), atomfs_last_error());
			bad++;
		}
	}
	json_object_foreach(keep, dig, d) {
		cleanup_free char *p = atomfs_layout_blob_path(l, dig);

		if (access(p, F_OK) < 0) {
			printf("MISSING: %s (referenced but absent)\n", dig);
			missing++;
		}
	}
	printf("%s: %llu blobs checked, %llu damaged, %llu missing\n", l->dir, checked, bad, missing);
	if (bad || missing)
		err = atomfs_err(EILSEQ, "%s has damaged or missing blobs; re-copy or rebuild the images using them", l->dir);
out:
	json_decref(keep);
	atomfs_layout_close(l);
	return err ? cmd_fail(err) : EXIT_OK;
}
