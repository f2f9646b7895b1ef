// SPDX-License-Identifier: GPL-2.0-or-later
/* fuzz-mount-opts: atomfs_mount_opts_parse (the -o list of mount.atomfs) */
#include "fuzz.h"
#include "mount.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct atomfs_mount_opts o = { 0 };
	char *s = fuzz_str(data, size);

	fuzz_init();
	/* parsed twice into one struct: later options replace earlier ones */
	if (atomfs_mount_opts_parse(&o, s) == 0)
		(void)atomfs_mount_opts_parse(&o, s);
	(void)atomfs_mount_flags(&o);
	atomfs_mount_opts_free(&o);
	free(s);
	return 0;
}
