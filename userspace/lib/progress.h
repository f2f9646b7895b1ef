/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* progress.h: a progress bar on stderr, only when stderr is a terminal */
#ifndef ATOMFS_PROGRESS_H
#define ATOMFS_PROGRESS_H

#include <stdint.h>

struct atomfs_progress;

/* progress.c */
/* NULL (all calls become no-ops) unless stderr is a terminal and !quiet */
struct atomfs_progress *atomfs_progress_new(const char *label, uint64_t total, int quiet);
void atomfs_progress_add(struct atomfs_progress *p, uint64_t bytes);
void atomfs_progress_set_total(struct atomfs_progress *p, uint64_t total);
void atomfs_progress_done(struct atomfs_progress *p);

#endif
