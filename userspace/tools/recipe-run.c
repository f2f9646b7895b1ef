// SPDX-License-Identifier: GPL-2.0-or-later
/* recipe-run.c: a stanza's run: steps in an OCI runtime on an atomfs mount */
#include "cmd.h"
#include "internal.h"
#include "recipe_run.h"

int recipe_run_stanza(const struct atomfs_recipe *r,
		      const struct atomfs_recipe_stanza *s,
		      const struct recipe_run_opts *o,
		      struct atomfs_layout *dst, const json_t *layers,
		      const json_t *config, const char *builddir,
		      const struct layer_opts *lo, json_t **desc)
{
	(void)o;
	(void)dst;
	(void)layers;
	(void)config;
	(void)builddir;
	(void)lo;
	*desc = NULL;
	return atomfs_err(
		ENOTSUP,
		"%s:%d: stanza \"%s\": running steps is not implemented yet",
		r->path, s->run.v[0].line, s->name);
}
