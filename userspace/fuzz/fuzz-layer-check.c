// SPDX-License-Identifier: GPL-2.0-or-later
/* fuzz-layer-check: atomfs_sqfs_check, the squashfs check of import/fsck */
#include "fuzz.h"
#include "squashfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[128];

	fuzz_init();
	if (!path[0])
		snprintf(path, sizeof(path), "%s/layer.sqfs", fuzz_dir());
	fuzz_write(path, data, size);
	(void)atomfs_sqfs_check(path);
	return 0;
}
