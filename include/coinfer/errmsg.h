/* The one way every module reports an error: the message into a caller's
 * buffer (err may be NULL or errlen 0: no message), and the code returned, so a
 * failure is one statement: return cf_fail(-EINVAL, err, errlen, "...", ...). */
#ifndef COINFER_ERRMSG_H
#define COINFER_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int cf_fail(int ret, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int cf_fail(int ret, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

#endif
