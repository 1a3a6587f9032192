/* A shell command's whole stdout and exit status, for the criterion tests of the
 * command-line tools. */
#ifndef COINFER_TEST_RUN_CMD_H
#define COINFER_TEST_RUN_CMD_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* Runs cmd; returns its stdout (malloc'd, NUL-terminated) and its exit status
 * in *status (-1 when it did not exit). */
static inline char *run_cmd(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	cr_assert(p, "cannot run %s", cmd);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	cr_assert(buf);
	size_t k;
	while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
		n += k;
		if (cap - n < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert(buf);
		}
	}
	buf[n] = 0;
	int st = pclose(p);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return buf;
}

#endif
