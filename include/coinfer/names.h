/* Names read from files and command lines (device classes, models, SLO
 * applications): [A-Za-z0-9_.-], 1..max_len-1 characters, so that they can be
 * printed in messages and used in file names as they are. */
#ifndef COINFER_NAMES_H
#define COINFER_NAMES_H

#include <stddef.h>

static inline int cf_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static inline int cf_name_ok(const char *s, size_t max_len)
{
	size_t n = 0;
	while (s[n] && n < max_len)
		if (!cf_name_char(s[n++]))
			return 0;
	return n >= 1 && n < max_len;
}

#endif
