/* The device key file's lines (coinfer/wire-keys.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "coinfer/wire-keys.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The next blank-separated word of line[*pos..len): its start and length. */
static size_t word(const char *line, size_t len, size_t *pos, const char **w)
{
	size_t i = *pos;
	while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	*w = line + i;
	size_t start = i;
	while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
		i++;
	*pos = i;
	return i - start;
}

static int parse_id(const char *w, size_t n, uint64_t *id)
{
	uint64_t v = 0;
	if (!n || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return -1;
		unsigned d = (unsigned)(w[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*id = v;
	return 0;
}

int cw_keys_line(const char *line, size_t len, const char *name, int lineno,
		 struct cw_key_entry *e, char *err, size_t errlen)
{
	const char *w;
	size_t pos = 0, n = word(line, len, &pos, &w);
	memset(e, 0, sizeof(*e));
	if (!n || w[0] == '#')
		return 0;
	if (parse_id(w, n, &e->device_id))
		return cf_fail(-EINVAL, err, errlen,
			       "%s:%d: device id: not a decimal number of 0..2^64-1", name,
			       lineno);
	if ((n = word(line, len, &pos, &w)) != 2 * CW_DEVICE_KEY_BYTES)
		return cf_fail(-EINVAL, err, errlen, "%s:%d: key: %zu characters, must be %d hex",
			       name, lineno, n, 2 * CW_DEVICE_KEY_BYTES);
	for (int i = 0; i < CW_DEVICE_KEY_BYTES; i++) {
		int hi = hexval(w[2 * i]), lo = hexval(w[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return cf_fail(-EINVAL, err, errlen, "%s:%d: key: not hex digits", name,
				       lineno);
		e->key[i] = (uint8_t)(hi << 4 | lo);
	}
	if ((n = word(line, len, &pos, &w))) {
		if (n != 7 || memcmp(w, "revoked", 7))
			return cf_fail(-EINVAL, err, errlen,
				       "%s:%d: state: only \"revoked\" may follow the key", name,
				       lineno);
		e->revoked = 1;
	}
	if (word(line, len, &pos, &w))
		return cf_fail(-EINVAL, err, errlen, "%s:%d: words after the state", name, lineno);
	return 1;
}

int cw_keys_format(const struct cw_key_entry *e, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	char k[2 * CW_DEVICE_KEY_BYTES + 1];
	for (int i = 0; i < CW_DEVICE_KEY_BYTES; i++) {
		k[2 * i] = hex[e->key[i] >> 4];
		k[2 * i + 1] = hex[e->key[i] & 15];
	}
	k[2 * CW_DEVICE_KEY_BYTES] = 0;
	int n = snprintf(buf, cap, "%llu %s%s\n", (unsigned long long)e->device_id, k,
			 e->revoked ? " revoked" : "");
	memset(k, 0, sizeof(k)); /* (the caller wipes buf) */
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}
