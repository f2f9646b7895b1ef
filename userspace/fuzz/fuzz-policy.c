// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-policy: the signature policy file (/etc/atomfs/policy.json) as
 * mount_policy.c reads it.  load_policy() is static, so the file is
 * compiled into this target (the archive's copy is then never linked).
 */
#include "fuzz.h"
#include "../lib/mount_policy.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[128];
	struct policy p = { 0 };

	fuzz_init();
	if (!path[0])
		snprintf(path, sizeof(path), "%s/policy.json", fuzz_dir());
	fuzz_write(path, data, size);
	if (load_policy(path, &p) == 0)
		json_decref(p.keys);
	return 0;
}
