// SPDX-License-Identifier: GPL-2.0-or-later
/* progress.c: the atomfs tool's progress bar, only on a terminal */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "progress.h"

struct bar {
	struct atomfs_progress hooks; /* first: the library sees only this */
	char *label;
	uint64_t total, done;
	struct timespec last;
};

static void bar_add(struct atomfs_progress *hooks, uint64_t bytes);

static void bar_set_total(struct atomfs_progress *hooks, uint64_t total)
{
	((struct bar *)hooks)->total = total;
}

struct atomfs_progress *atomfs_progress_new(const char *label, uint64_t total,
					    int quiet)
{
	struct bar *p;

	if (quiet || !isatty(STDERR_FILENO))
		return NULL;
	/* without memory, no bar (NULL is "no progress" to the library) */
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->label = strdup(label);
	if (!p->label) {
		free(p);
		return NULL;
	}
	p->hooks.add = bar_add;
	p->hooks.set_total = bar_set_total;
	p->total = total;
	return &p->hooks;
}

static void draw(struct bar *p)
{
	char bar[31];
	unsigned int pct = p->total ? (unsigned int)(p->done * 100 / p->total) :
				      0;
	size_t i, fill = pct > 100 ? 30 : pct * 30 / 100;

	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[30] = '\0';
	if (p->total)
		fprintf(stderr, "\r%s [%s] %3u%% %llu MiB", p->label, bar,
			pct > 100 ? 100 : pct,
			(unsigned long long)(p->done >> 20));
	else
		fprintf(stderr, "\r%s %llu MiB", p->label,
			(unsigned long long)(p->done >> 20));
}

static void bar_add(struct atomfs_progress *hooks, uint64_t bytes)
{
	struct bar *p = (struct bar *)hooks;
	struct timespec now;

	p->done += bytes;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - p->last.tv_sec) * 1000000000L +
		    (now.tv_nsec - p->last.tv_nsec) <
	    100000000L)
		return;
	p->last = now;
	draw(p);
}

void atomfs_progress_done(struct atomfs_progress *hooks)
{
	struct bar *p = (struct bar *)hooks;

	if (!p)
		return;
	p->done = p->total > p->done ? p->total : p->done;
	draw(p);
	fputc('\n', stderr);
	free(p->label);
	free(p);
}
