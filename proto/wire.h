/* Internal to proto/: shared by wire.c and reader.c. */
#ifndef COINFER_PROTO_WIRE_H
#define COINFER_PROTO_WIRE_H

#include <stddef.h>

/* Writes the message to err (when given) and returns ret. */
int cw_failv(int ret, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
