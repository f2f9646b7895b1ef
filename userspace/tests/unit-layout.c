// SPDX-License-Identifier: LGPL-2.1-or-later
/* unit tests: layout clean-up after a signal, whatever the number of blobs */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "oci.h"
#include "internal.h"
#include "tap.h"

static char tmpdir[] = "/tmp/atomfs-unit-layout.XXXXXX";

/*
 * A build with hundreds of layers adds hundreds of blobs: the clean-up a
 * signal handler runs must remove every one (a fixed table of 256 entries,
 * two per layer, used to forget those past layer 128).
 */
static void test_cleanup_many(void)
{
	struct atomfs_layout *l = NULL;
	char *digests[300];
	size_t i, left = 0;
	int err;

	err = atomfs_layout_open(
		tmpdir, ATOMFS_LAYOUT_WRITE | ATOMFS_LAYOUT_CREATE, &l);
	ok(!err, "cleanup: a new layout");
	if (err)
		return;
	for (i = 0; i < ARRAY_SIZE(digests); i++) {
		json_t *j = json_pack("{s:I}", "n", (json_int_t)i);

		digests[i] = NULL;
		err = atomfs_layout_put_json(l, j, &digests[i], NULL);
		json_decref(j);
		if (err)
			break;
	}
	ok(!err, "cleanup: 300 blobs added");
	atomfs_layout_cleanup_signal_safe();
	for (i = 0; i < ARRAY_SIZE(digests); i++) {
		if (digests[i] &&
		    faccessat(l->blobfd, digests[i] + 7, F_OK, 0) == 0)
			left++;
		free(digests[i]);
	}
	ok(left == 0, "cleanup: the signal clean-up removes all 300 (%zu left)",
	   left);
	atomfs_layout_rollback(l);
	atomfs_layout_close(l);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	test_cleanup_many();
	rmdir(tmpdir);
	return tap_failed ? 1 : 0;
}
