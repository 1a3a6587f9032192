/* Writes the seed corpus of fuzz-wire: every sample message of
 * tests/wire/samples.h that fits the fuzzer's limits, a few streams of several
 * messages, and broken ones (truncated, other version, bad magic/type/flags,
 * oversized and lying lengths, bad strings and values, a bad body mid-stream).
 * usage: make-wire-corpus DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus-file.h"
#include "coinfer/wire.h"
#include "../wire/samples.h"

static const char *dir;
static int files;

static int put(const char *name, const uint8_t *b, size_t len)
{
	return corpus_put(dir, name, b, len, &files);
}

/* A copy of msg with byte k set to v, written as name. */
static int put_with(const char *name, const uint8_t *msg, size_t len, size_t k, uint8_t v)
{
	uint8_t b[8192];
	memcpy(b, msg, len);
	b[k] = v;
	return put(name, b, len);
}

int main(int argc, char **argv)
{
	static struct cw_msg s[64];
	static uint8_t enc[64][8192], stream[65536];
	size_t len[64], n, total = 0;
	char name[256], err[256];
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	n = cwt_samples(s, 64);
	for (size_t i = 0; i < n; i++) {
		len[i] = 0;
		if (s[i].type == CW_PING && s[i].ping.padding_len > 8192)
			continue; /* above the fuzzer's limits */
		if (cw_encode(enc[i], sizeof(enc[i]), &s[i], &len[i], err, sizeof(err))) {
			fprintf(stderr, "encode %zu: %s\n", i, err);
			return 1;
		}
		snprintf(name, sizeof(name), "%02zu-%s", i, cw_type_name(s[i].type));
		if (put(name, enc[i], len[i]))
			return 1;
	}
	/* streams: all small samples in order, and two short mixes */
	for (size_t i = 0; i < n; i++)
		if (len[i] && len[i] < 1024 && total + len[i] <= sizeof(stream)) {
			memcpy(stream + total, enc[i], len[i]);
			total += len[i];
		}
	if (put("stream-all", stream, total) || put("stream-cut", stream, total - 5))
		return 1;
	total = 0;
	static const int mix[] = {0, 3, 5, 9, 15, 19, 12};
	for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
		memcpy(stream + total, enc[mix[i]], len[mix[i]]);
		total += len[mix[i]];
	}
	if (put("stream-session", stream, total))
		return 1;
	/* the same with INFER's bits broken: a bad body mid-stream, then more */
	size_t infer_at = len[0] + len[3];
	stream[infer_at + CW_HEADER_BYTES + 21] = 1;
	if (put("stream-bad-body", stream, total))
		return 1;
	/* ... and with a bad header mid-stream: the rest is lost */
	stream[infer_at + 4] = 2;
	if (put("stream-bad-version", stream, total))
		return 1;

	/* broken single messages (indices as in samples.h: 0 HELLO, 3 WELCOME,
	 * 5 INFER, 9 RESULT, 12 ERROR, 15 PING, 19 PONG, 21 DECIDE, 23 DECISION) */
	if (put("cut-hello-header", enc[0], 11) || put("cut-hello-body", enc[0], len[0] - 1) ||
	    put("cut-infer", enc[5], len[5] - 100) ||
	    put_with("version-0", enc[19], len[19], 4, 0) ||
	    put_with("version-2", enc[0], len[0], 4, 2) ||
	    put_with("magic", enc[19], len[19], 0, 'X') ||
	    put_with("type-0", enc[19], len[19], 5, 0) ||
	    put_with("type-10", enc[19], len[19], 5, 10) ||
	    put_with("flags", enc[19], len[19], 7, 0x80) ||
	    put_with("reserved", enc[19], len[19], 15, 1) ||
	    put_with("len-huge", enc[5], len[5], 11, 0xff) ||
	    put_with("len-short", enc[19], len[19], 8, 23) ||
	    put_with("hello-nul", enc[0], len[0], CW_HEADER_BYTES + 22, 0) ||
	    put_with("hello-count", enc[0], len[0], CW_HEADER_BYTES + 18, 5) ||
	    put_with("hello-inflight", enc[1], len[1], CW_HEADER_BYTES + 16, 0) ||
	    put_with("infer-flags", enc[5], len[5], CW_HEADER_BYTES + 16, 2) ||
	    put_with("result-confidence", enc[9], len[9], CW_HEADER_BYTES + 11, 0x7f) ||
	    put_with("result-stale-next", enc[9], len[9], CW_HEADER_BYTES + 33, 0) ||
	    put_with("error-count", enc[12], len[12], CW_HEADER_BYTES + 10, 3) ||
	    put_with("error-code", enc[12], len[12], CW_HEADER_BYTES + 8, 99) ||
	    put_with("decide-load", enc[21], len[21], CW_HEADER_BYTES + 27, 9) ||
	    put_with("decision-bits", enc[23], len[23], CW_HEADER_BYTES + 13, 1))
		return 1;
	printf("wrote %d files\n", files);
	return 0;
}
