/* SPDX-License-Identifier: GPL-2.0-or-later */
/* download.h: http(s) downloads of a recipe's imports (download.c) */
#ifndef ATOMFS_DOWNLOAD_H
#define ATOMFS_DOWNLOAD_H

/* the largest file a recipe may fetch */
#define DOWNLOAD_MAX_BYTES (64ULL << 30)

/* fetch URL into DEST, replaced only once complete; 0 or -errno */
int download_file(const char *url, const char *dest);

#endif
