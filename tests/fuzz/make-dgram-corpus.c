/* Writes the seed corpus of fuzz-dgram: every sample datagram of
 * tests/wire/dgram-samples.h alone, and record streams (fuzz-dgram.c's format)
 * that reassemble messages in order, reversed with duplicates, interleaved
 * across peers, past the memory bound, across a timeout, with an inconsistent
 * fragment and with releases. usage: make-dgram-corpus DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus-file.h"
#include "coinfer/wire-dgram.h"
#include "../wire/dgram-samples.h"

static const char *dir;
static int files;
static uint8_t out[1 << 17];
static size_t n_out;

static int put(const char *name, const uint8_t *b, size_t len)
{
	return corpus_put(dir, name, b, len, &files);
}

/* Appends a record: fragment index of msg (len bytes, count) from peer. */
static void rec(uint8_t ctl, uint32_t id, const uint8_t *msg, uint32_t len, uint16_t count,
		uint16_t index)
{
	struct cw_dg d;
	size_t n;
	if (cw_dg_data(&d, 1, id, msg, len, count, index) ||
	    cw_dg_encode(out + n_out + 3, sizeof(out) - n_out - 3, &d, &n, NULL, 0))
		abort();
	out[n_out] = ctl;
	out[n_out + 1] = (uint8_t)n;
	out[n_out + 2] = (uint8_t)(n >> 8);
	n_out += 3 + n;
}

static int stream(const char *name)
{
	int ret = put(name, out, n_out);
	n_out = 0;
	return ret;
}

int main(int argc, char **argv)
{
	static struct cw_dg s[8];
	static uint8_t msg[4096], big[12000], enc[1 << 17];
	char name[64];
	size_t len;
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	int n = cdt_samples(s, msg);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "dg-%02d", i);
		if (cw_dg_encode(enc, sizeof(enc), &s[i], &len, NULL, 0) || put(name, enc, len))
			return 1;
	}
	cdt_fill(msg, sizeof(msg), 1);
	cdt_fill(big, sizeof(big), 2);
	for (uint16_t i = 0; i < 3; i++)
		rec(0x04, 1, msg, 3000, 3, i);
	if (stream("in-order"))
		return 1;
	for (int i = 4; i >= 0; i--) {
		rec(0x00, 2, msg, 4000, 5, (uint16_t)i);
		rec(0x01, 2, msg, 4000, 5, (uint16_t)(i % 5)); /* another peer, same id */
	}
	rec(0x00, 2, msg, 4000, 5, 2);
	if (stream("reverse-dups-two-peers"))
		return 1;
	for (uint16_t i = 0; i < 8; i += 2)
		rec(0x00, 3, big, 12000, 8, i);
	rec(0x00, 4, big, 9000, 6, 0); /* above what the bound has left */
	rec(0x20, 5, msg, 100, 1, 0);
	if (stream("bound"))
		return 1;
	rec(0x00, 6, msg, 2000, 2, 0);
	rec(0x9c, 7, msg, 2000, 2, 0); /* 7 ms later, expire: not yet */
	rec(0x9c | 0x60, 6, msg, 2000, 2, 1);
	rec(0xfc, 6, msg, 2000, 2, 1); /* after 20 ms: the first try is gone */
	rec(0xfc, 6, msg, 2000, 2, 0);
	if (stream("timeout"))
		return 1;
	rec(0x00, 8, msg, 3000, 3, 0);
	rec(0x00, 8, msg, 2999, 3, 1); /* inconsistent */
	rec(0x00, 8, msg, 3000, 3, 1);
	rec(0x00, 8, msg, 3000, 3, 2);
	rec(0x20, 8, msg, 3000, 3, 2); /* released, then a duplicate */
	rec(0x02, 9, msg, 40, 1, 0);
	rec(0x02, 9, msg, 40, 1, 0);
	if (stream("inconsistent-release-dup"))
		return 1;
	printf("wrote %d files\n", files);
	return 0;
}
