/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny TAP helper for unit tests.  Each test program prints
 * "ok - desc" / "not ok - desc" lines without numbers; tests/run-tests
 * numbers them across all programs and prints the plan.
 */
#ifndef ATOMFS_TAP_H
#define ATOMFS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_failed;

__attribute__((format(printf, 2, 3))) static inline int
tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", cond ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

__attribute__((format(printf, 1, 2))) static inline void
tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
#define is_int(got, want, ...)                                     \
	do {                                                       \
		long long g_ = (got), w_ = (want);                 \
		if (!tap_ok(g_ == w_, __VA_ARGS__))                \
			tap_diag("  got %lld, want %lld", g_, w_); \
	} while (0)
#define is_str(got, want, ...)                                                \
	do {                                                                  \
		const char *g_ = (got), *w_ = (want);                         \
		if (!tap_ok(g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_,        \
			    __VA_ARGS__))                                     \
			tap_diag("  got '%s', want '%s'", g_ ? g_ : "(null)", \
				 w_ ? w_ : "(null)");                         \
	} while (0)

static inline int tap_done(void)
{
	return tap_failed ? 1 : 0;
}

#endif
