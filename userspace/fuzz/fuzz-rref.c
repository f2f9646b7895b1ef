// SPDX-License-Identifier: GPL-2.0-or-later
/* fuzz-rref: atomfs_rref_parse ("docker://HOST/REPO[:TAG][@DIGEST]") */
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct atomfs_rref r;
	char *s = fuzz_str(data, size);

	fuzz_init();
	if (atomfs_rref_parse(s, &r) == 0) {
		if (!r.host || !*r.host || !r.repo || !*r.repo)
			abort();
		atomfs_rref_free(&r);
	}
	free(s);
	return 0;
}
