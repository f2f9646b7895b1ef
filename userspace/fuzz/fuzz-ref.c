// SPDX-License-Identifier: GPL-2.0-or-later
/* fuzz-ref: atomfs_ref_parse ("[oci:]DIR:TAG") */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct atomfs_ref ref;
	char *s = fuzz_str(data, size);

	fuzz_init();
	if (atomfs_ref_parse(s, &ref) == 0) {
		/* what the grammar promises: a non-empty directory and a tag */
		if (!ref.dir || !*ref.dir || !ref.tag ||
		    !atomfs_tag_valid(ref.tag))
			abort();
		atomfs_ref_free(&ref);
	}
	free(s);
	return 0;
}
