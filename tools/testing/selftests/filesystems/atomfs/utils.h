/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the atomfs selftests. */
#ifndef ATOMFS_SELFTEST_UTILS_H
#define ATOMFS_SELFTEST_UTILS_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does FILE contain a line holding NEEDLE? */
static inline bool file_has_line(const char *file, const char *needle)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen(file, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

static inline bool path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Run a shell command; return its exit status, or -1. */
static inline int run(const char *cmd)
{
	int st = system(cmd);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

#endif
