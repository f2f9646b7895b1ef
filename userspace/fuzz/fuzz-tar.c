// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-tar: a tar archive (any compression libarchive reads) built into a
 * squashfs layer with OCI whiteouts converted, as import does; the layer
 * is then checked as fsck checks it.
 */
#include "fuzz.h"
#include "input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char in[128], out[128];
	struct atomfs_input_opts io = { .whiteouts = true };
	struct atomfs_sqfs_opts so = { .comp = ATOMFS_COMP_NONE,
				       .block_size = 4096,
				       .threads = 1,
				       .have_mtime = true };

	fuzz_init();
	if (!in[0]) {
		snprintf(in, sizeof(in), "%s/in.tar", fuzz_dir());
		snprintf(out, sizeof(out), "%s/layer.sqfs", fuzz_dir());
	}
	fuzz_write(in, data, size);
	if (atomfs_build_layer(in, &io, &so, out) == 0 &&
	    atomfs_sqfs_check(out) != 0)
		abort(); /* the writer made a layer its own check refuses */
	unlink(out);
	return 0;
}
