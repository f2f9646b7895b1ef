// SPDX-License-Identifier: GPL-2.0
/* timeit COMMAND [ARG]...: run COMMAND (output to /dev/null), print seconds. */
#include <sys/wait.h>

#include "bench.h"

int main(int argc, char **argv)
{
	double t = now();
	int st;
	pid_t pid = fork();

	if (argc < 2)
		return 2;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("%s failed", argv[1]);
	printf("%.6f\n", now() - t);
	return 0;
}
