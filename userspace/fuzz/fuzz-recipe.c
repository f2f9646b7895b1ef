// SPDX-License-Identifier: GPL-2.0-or-later
/* fuzz-recipe: atomfs_recipe_parse (atomfs.yaml, libyaml underneath) */
#include "fuzz.h"
#include "recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *vals[] = { "A=1", "B=two", "EMPTY=" };
	struct atomfs_recipe_subst subst = { vals, 3 };
	struct atomfs_recipe *r = NULL;

	fuzz_init();
	if (atomfs_recipe_parse("/fuzz/atomfs.yaml", (const char *)data, size,
				&subst, &r) == 0) {
		(void)atomfs_recipe_find(r, "base");
		atomfs_recipe_free(r);
	}
	return 0;
}
