/* A helper of the cost tests (text-edit.h); a file of its own, so GCC does not
 * inline it where it mistakes the edited text for a freed buffer. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "text-edit.h"

char *edit(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	cr_assert(at, "'%s' not in the text", from);
	size_t n = strlen(text) - strlen(from) + strlen(to);
	char *out = malloc(n + 1);
	size_t pre = (size_t)(at - text);
	memcpy(out, text, pre);
	strcpy(out + pre, to);
	strcat(out, at + strlen(from));
	return out;
}
