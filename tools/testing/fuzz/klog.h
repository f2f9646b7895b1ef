/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel-log watch shared by the ioctl fuzzer and the stress run: read
 * /dev/kmsg from the moment the run starts and flag every report that the VM
 * harness (tools/testing/vm/run) also fails on: bugs, warnings, sanitizer
 * and lockdep reports, RCU stalls, lockups, hung tasks, busy inodes.
 */
#ifndef ATOMFS_TESTING_KLOG_H
#define ATOMFS_TESTING_KLOG_H

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Keep in step with the pattern in tools/testing/vm/run. */
#define KLOG_BAD_PATTERN                                                      \
	"BUG:|WARNING:|Oops|KASAN:|UBSAN:|KFENCE:|possible circular locking|" \
	"possible recursive locking|inconsistent lock state|"                 \
	"lock held when returning|suspicious RCU usage|"                      \
	"detected stalls? on CPU|self-detected stall|detected stalls on tasks|" \
	"hard LOCKUP|VFS: Busy inodes|INFO: task .* blocked"

struct klog {
	int fd;
	regex_t re;
	unsigned long records;	/* records read since the start */
	unsigned long bad;	/* of them, reports */
};

/* Open /dev/kmsg at its end: only what the kernel logs from now on counts. */
static inline int klog_open(struct klog *k)
{
	memset(k, 0, sizeof(*k));
	if (regcomp(&k->re, KLOG_BAD_PATTERN, REG_EXTENDED | REG_NOSUB))
		return -EINVAL;
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	if (lseek(k->fd, 0, SEEK_END) < 0)
		return -errno;
	return 0;
}

/*
 * Read every record logged since the last call; print each report as a TAP
 * comment prefixed with WHO. Return the number of reports found.
 */
static inline unsigned long klog_poll(struct klog *k, const char *who)
{
	char rec[8192];
	unsigned long found = 0;
	ssize_t n;

	for (;;) {
		n = read(k->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue; /* overwritten before we read it: go on */
		if (n <= 0)
			break;
		rec[n] = 0;
		k->records++;
		/* "pri,seq,usec,flags;text\n" then " KEY=value" lines */
		char *text = strchr(rec, ';');

		text = text ? text + 1 : rec;
		text[strcspn(text, "\n")] = 0;
		if (!regexec(&k->re, text, 0, NULL, 0)) {
			found++;
			if (k->bad + found <= 40)
				printf("# %s: kernel log: %s\n", who, text);
		}
	}
	k->bad += found;
	fflush(stdout);
	return found;
}

#endif
