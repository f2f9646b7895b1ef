/* SPDX-License-Identifier: GPL-2.0-or-later */
/* recipe-run.c: a stanza's run: steps in an OCI runtime on an atomfs mount */
#ifndef ATOMFS_RECIPE_RUN_H
#define ATOMFS_RECIPE_RUN_H

#include <jansson.h>
#include <stdbool.h>

#include "recipe.h"

struct layer_opts;
struct atomfs_layout;

struct recipe_run_opts {
	const char *runtime; /* crun (default) or runc */
	bool network_none; /* --network none: a new, empty network namespace */
};

/* the exit status of the step that failed (0: none did) */
extern int recipe_step_status;

/*
 * Run stanza s's steps on its image so far (layers, already in dst, with
 * config) and write what they changed as one new squashfs layer into dst:
 * *desc is its descriptor, or NULL if the steps changed nothing.
 */
int recipe_run_stanza(const struct atomfs_recipe *r,
		      const struct atomfs_recipe_stanza *s,
		      const struct recipe_run_opts *o,
		      struct atomfs_layout *dst, const json_t *layers,
		      const json_t *config, const char *builddir,
		      const struct layer_opts *lo, json_t **desc);

#endif
