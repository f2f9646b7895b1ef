/* SPDX-License-Identifier: GPL-2.0-or-later */
/* the atomfs tool: one cmd-*.c per subcommand, exit codes in atomfs(1) */
#ifndef ATOMFS_CMD_H
#define ATOMFS_CMD_H

enum atomfs_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_ = 1, /* I/O or internal error */
	EXIT_USAGE = 2,    /* bad command line */
	EXIT_NOTFOUND = 3, /* layout, tag, blob, file or key not found */
	EXIT_BADINPUT = 4, /* malformed/corrupt/unsafe/unsupported input */
	EXIT_VERIFY = 5,   /* digest mismatch, missing or bad signature */
	EXIT_BUSY = 6,     /* layout locked by another process (with --no-wait) */
};

#endif
