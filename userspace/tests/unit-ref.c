// SPDX-License-Identifier: LGPL-2.1-or-later
/* unit tests: reference parser [oci:]DIR:TAG and the OCI tag grammar */
#include <errno.h>
#include <stdlib.h>

#include "libatomfs.h"
#include "tap.h"

static void good(const char *in, const char *dir, const char *tag)
{
	struct atomfs_ref r;
	int err = atomfs_ref_parse(in, &r);

	if (!ok(err == 0, "ref: '%s' parses", in)) {
		tap_diag("  error: %s", atomfs_last_error());
		return;
	}
	is_str(r.dir, dir, "ref: '%s' has dir '%s'", in, dir);
	is_str(r.tag, tag, "ref: '%s' has tag '%s'", in, tag);
	atomfs_ref_free(&r);
}

static void bad(const char *in, const char *why, const char *msg_part)
{
	struct atomfs_ref r;
	int err = atomfs_ref_parse(in, &r);

	is_int(err, -EINVAL, "ref: '%s' is refused (%s)", in ? in : "(null)",
	       why);
	if (err == 0) {
		atomfs_ref_free(&r);
		return;
	}
	ok(r.dir == NULL && r.tag == NULL, "ref: '%s' leaves no partial result",
	   in ? in : "(null)");
	if (!ok(strstr(atomfs_last_error(), msg_part) != NULL,
		"ref: '%s' error message mentions '%s'", in ? in : "(null)",
		msg_part))
		tap_diag("  message: %s", atomfs_last_error());
}

int main(void)
{
	char longtag[200];

	good("images:latest", "images", "latest");
	good("oci:images:latest", "images", "latest");
	good("/var/lib/img:v1.2-rc_3", "/var/lib/img", "v1.2-rc_3");
	good("oci:/a:b:c", "/a:b", "c");
	good("dir:with:colons:tag", "dir:with:colons", "tag");
	good("oci:latest", "oci", "latest");
	good("./x:_under", "./x", "_under");

	bad("", "empty", "empty image reference");
	bad(NULL, "null", "empty image reference");
	bad("images", "no colon", "has no tag");
	bad(":latest", "empty dir", "empty directory");
	bad("oci::latest", "empty dir after prefix", "empty directory");
	bad("images:", "empty tag", "empty tag");
	bad("images:-dash", "tag starts with '-'", "not a valid OCI tag");
	bad("images:.dot", "tag starts with '.'", "not a valid OCI tag");
	bad("images:a/b", "slash in tag", "not a valid OCI tag");

	memset(longtag, 'a', 128);
	longtag[128] = '\0';
	ok(atomfs_tag_valid(longtag), "tag: 128 characters is valid");
	longtag[128] = 'a';
	longtag[129] = '\0';
	ok(!atomfs_tag_valid(longtag), "tag: 129 characters is invalid");
	ok(!atomfs_tag_valid("a b"), "tag: space is invalid");
	ok(!atomfs_tag_valid("t\xc3\xa9"), "tag: non-ASCII is invalid");
	ok(atomfs_tag_valid("A9_.-"), "tag: all allowed classes are valid");
	ok(!atomfs_tag_valid(""), "tag: empty is invalid");
	return tap_done();
}
