// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mount_policy.c: which signatures a mount needs, and whose index.json it
 * may trust.
 *
 *   /etc/atomfs/policy.json:
 *   {"require_signature": true, "trusted_keys": ["/etc/atomfs/keys/a.pem"]}
 *
 * The policy fails closed: a policy file that cannot be read, is not
 * root's alone, is not valid JSON, has a key of the wrong type or a key
 * this version does not know refuses every mount, naming the file and
 * the key.  -o pubkey=K adds a requirement (a valid signature by K); it
 * never replaces the policy's trusted keys.  The library reads no
 * environment: the caller names another file in o->policy (the tools do
 * so only in test builds, see ATOMFS_TEST_HOOKS in userspace/Makefile).
 */
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "internal.h"
#include "mount-int.h"

#define MAX_POLICY (1u << 20)

struct policy {
	bool require; /* require_signature */
	json_t *keys; /* trusted_keys: array of non-empty strings, or NULL */
};

static int bad_policy(const char *file, const char *why)
{
	return atomfs_err(
		-EINVAL,
		"the signature policy %s %s; every mount is refused until it is fixed (see mount.atomfs(8))",
		file, why);
}

static int read_policy(const char *file, char **data, size_t *len)
{
	struct stat st;
	int fd, err;

	fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		err = -errno;
		return atomfs_err(
			err,
			"cannot read the signature policy %s: %s; every mount is refused until it is fixed",
			file, strerror(-err));
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return bad_policy(file, "is not a regular file");
	}
	/* a policy others can change protects nothing */
	if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		close(fd);
		return bad_policy(
			file,
			"is not owned by root or is writable by group or others (chown root: and chmod go-w it)");
	}
	if ((uint64_t)st.st_size > MAX_POLICY) {
		close(fd);
		return bad_policy(file, "is larger than 1 MiB");
	}
	*data = calloc(1, (size_t)st.st_size + 1);
	*len = 0;
	while (*data && *len < (size_t)st.st_size) {
		ssize_t n = read(fd, *data + *len, (size_t)st.st_size - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	close(fd);
	if (!*data)
		return atomfs_err(-ENOMEM, "out of memory");
	if (*len != (size_t)st.st_size)
		return bad_policy(file, "cannot be read whole");
	return 0;
}

/* fail closed even when the message cannot be built */
#define WHY(s) ((s) ? (s) : "is invalid (and memory ran out describing it)")

static int load_policy(const char *file, struct policy *p)
{
	cleanup_free char *data = NULL;
	cleanup_free char *why = NULL;
	bool bad = false;
	json_error_t jerr;
	json_t *j, *v;
	const char *k;
	size_t len = 0, i;
	int err;

	p->require = false;
	p->keys = NULL;
	err = read_policy(file, &data, &len);
	if (err == -ENOENT)
		return 0; /* no policy: no requirement */
	if (err)
		return err;
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j && json_error_code(&jerr) == json_error_out_of_memory)
		return atomfs_enomem();
	if (!j) {
		why = atomfs_asprintf("is not valid JSON (line %d: %s)",
				      jerr.line, jerr.text);
		return bad_policy(file, WHY(why));
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return bad_policy(file, "is not a JSON object");
	}
	json_object_foreach(j, k, v)
	{
		if (!strcmp(k, "require_signature")) {
			if (!json_is_boolean(v)) {
				bad = true;
				why = atomfs_asprintf(
					"has \"require_signature\" that is not true or false (a %s)",
					json_is_string(v) ? "string" :
							    "non-boolean");
				break;
			}
			p->require = json_is_true(v);
		} else if (!strcmp(k, "trusted_keys")) {
			json_t *e;

			if (!json_is_array(v)) {
				bad = true;
				why = strdup(
					"has \"trusted_keys\" that is not an array of key file names");
				break;
			}
			json_array_foreach(v, i, e)
			{
				if (!json_is_string(e) ||
				    !*json_string_value(e)) {
					bad = true;
					why = atomfs_asprintf(
						"has \"trusted_keys\" entry %zu that is not a key file name",
						i);
					break;
				}
				/* relative: found in whatever directory mount runs in */
				if (*json_string_value(e) != '/') {
					bad = true;
					why = atomfs_asprintf(
						"has \"trusted_keys\" entry %zu (%s) that is not an absolute path",
						i, json_string_value(e));
					break;
				}
			}
			if (bad)
				break;
			p->keys = json_incref(v);
		} else {
			bad = true;
			why = atomfs_asprintf(
				"has the unknown key \"%s\" (known: require_signature, trusted_keys)",
				k);
			break;
		}
	}
	json_decref(j);
	if (!bad && p->require && !json_array_size(p->keys)) {
		bad = true;
		why = strdup(
			"requires a signature (\"require_signature\": true) but names no \"trusted_keys\"");
	}
	if (bad) {
		json_decref(p->keys);
		p->keys = NULL;
		return bad_policy(file, WHY(why));
	}
	return 0;
}

/*
 * index.json says which manifest a tag names: whoever can rewrite it picks
 * the image root mounts (any manifest whose blobs the layout holds), so it
 * must be root's alone, like the layout directory and the blobs (checked
 * with the layers, see mount_stack.c).  Checked here, before the
 * signature: what resolve read must not have come from someone else.  A
 * root-owned index.json in a directory only root can write cannot have
 * been someone else's when it was read.
 */
static int check_index_owner(const struct atomfs_image_info *info)
{
	const char *what = NULL;
	struct stat st;
	int dir, fd, err = 0;
	char uid[32];

	dir = open(info->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return atomfs_err(-errno, "%s: %s", info->dir, strerror(errno));
	fd = openat(dir, "index.json",
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = atomfs_err(-errno, "%s/index.json: %s", info->dir,
				 strerror(errno));
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(uid, sizeof(uid), "owned by uid %u",
			 (unsigned int)st.st_uid);
		what = uid;
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		what = "writable by group or others";
	}
	if (what)
		err = atomfs_err(
			-EPERM,
			"%s/index.json is %s: whoever can write it chooses which image a tag mounts; make it root's alone (chown root: and chmod go-w) or copy the image into a root-owned layout",
			info->dir, what);
out:
	if (fd >= 0)
		close(fd);
	close(dir);
	return err;
}

int atomfs_mount_check_signature(const struct atomfs_image_info *info,
				 const char *ref,
				 const struct atomfs_mount_opts *o)
{
	const char *file = o->policy ? o->policy : ATOMFS_POLICY_FILE;
	struct policy p;
	json_t *k;
	size_t i;
	int err;

	err = check_index_owner(info);
	if (err)
		return err;
	err = load_policy(file, &p);
	if (err)
		return err;
	if (p.require) {
		err = -ENOKEY;
		json_array_foreach(p.keys, i, k)
		{
			err = atomfs_verify_signature_flags(
				info, json_string_value(k),
				ATOMFS_VERIFY_KEY_ROOTS_ONLY);
			if (!err)
				break;
		}
		if (err)
			atomfs_err_prefix(
				"%s: the policy %s requires a signature by one of its trusted keys",
				ref, file);
	}
	json_decref(p.keys);
	if (err)
		return err;
	/* in addition to the policy, never instead of it */
	if (o->pubkey) {
		err = atomfs_verify_signature_flags(
			info, o->pubkey, ATOMFS_VERIFY_KEY_ROOTS_ONLY);
		if (err)
			atomfs_err_prefix("%s: signature check with %s failed",
					  ref, o->pubkey);
	}
	return err;
}
