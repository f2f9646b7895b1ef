// SPDX-License-Identifier: LGPL-2.1-or-later
/* progress.c: progress reports go to the caller's hooks; nothing is printed */
#include "internal.h"
#include "progress.h"

void atomfs_progress_add(struct atomfs_progress *p, uint64_t bytes)
{
	if (p && p->add)
		p->add(p, bytes);
}

void atomfs_progress_set_total(struct atomfs_progress *p, uint64_t total)
{
	if (p && p->set_total)
		p->set_total(p, total);
}
