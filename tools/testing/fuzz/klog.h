/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the ioctl fuzzer and the stress run both check. The kernel log: read
 * /dev/kmsg from the moment the run starts and flag every report that the VM
 * harness (tools/testing/vm/run) also fails on: bugs, warnings, sanitizer
 * and lockdep reports, RCU stalls, lockups, hung tasks, busy inodes. And
 * loop devices left behind: those whose backing file is a program's own.
 */
#ifndef ATOMFS_TESTING_KLOG_H
#define ATOMFS_TESTING_KLOG_H

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
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
	"hard LOCKUP|VFS: Busy inodes|INFO: task .* blocked|"                 \
	"kernel BUG at|invalid opcode|general protection fault|"              \
	"list_(add|del) corruption|BUG [^ ]+ \\("

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

/*
 * A thread of ours is stuck in the kernel: have the kernel log the blocked
 * tasks' stacks (sysrq w) and the locks held (sysrq d, with lockdep), for
 * whoever reads the kernel log afterwards.
 */
static inline void klog_dump_blocked(void)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, "w", 1) < 0 || write(fd, "d", 1) < 0)
		printf("# cannot write /proc/sysrq-trigger: %s\n",
		       strerror(errno));
	close(fd);
}

/*
 * Loop devices whose backing file's path starts with PREFIX (a program's
 * own tmpfs: the other program of a mixed run has its own).
 */
static inline int klog_loops_under(const char *prefix)
{
	char p[PATH_MAX], file[PATH_MAX];
	struct dirent *de;
	int n = 0, fd;
	ssize_t len;
	DIR *d = opendir("/sys/block");

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file",
			 de->d_name);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, file, sizeof(file) - 1);
		close(fd);
		if (len > 0 && !strncmp(file, prefix, strlen(prefix)))
			n++;
	}
	closedir(d);
	return n;
}

/* Wait up to TIMEOUT_MS for klog_loops_under(PREFIX) to be 0; return it. */
static inline int klog_wait_loops_under(const char *prefix, int timeout_ms)
{
	int n, waited;

	for (waited = 0;; waited += 10) {
		n = klog_loops_under(prefix);
		if (n <= 0 || waited >= timeout_ms)
			return n;
		usleep(10000);
	}
}

#endif
