/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * progress.h: progress reports.  The library only calls the hooks of a
 * struct atomfs_progress the caller made (the atomfs tool draws a bar on a
 * terminal: tools/progress.c); NULL means no report.
 */
#ifndef ATOMFS_PROGRESS_H
#define ATOMFS_PROGRESS_H

#include <stdint.h>

struct atomfs_progress {
	void (*add)(struct atomfs_progress *p, uint64_t bytes);
	void (*set_total)(struct atomfs_progress *p, uint64_t total);
};

/* progress.c (library): call the hooks, if any */
void atomfs_progress_add(struct atomfs_progress *p, uint64_t bytes);
void atomfs_progress_set_total(struct atomfs_progress *p, uint64_t total);

/* tools/progress.c: a bar on stderr, NULL unless a terminal and !quiet */
struct atomfs_progress *atomfs_progress_new(const char *label, uint64_t total,
					    int quiet);
void atomfs_progress_done(struct atomfs_progress *p);

#endif
