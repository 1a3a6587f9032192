/* The wire protocol as a plain program, for the aarch64 suite as well: the
 * documented bytes of two messages, a round trip of every sample, and a stream
 * of all samples through the reader in 1-, 7- and 1000-byte pieces. The
 * criterion suite (test-wire.c) has the damaged-input tests. */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "wire/samples.h"

#define MAXS 64

static void golden(void)
{
	struct cw_msg m = {.type = CW_HELLO};
	m.hello = (struct cw_hello){.device_id = 0x0102030405060708ull,
				    .model_checksum = 0x1112131415161718ull, .max_inflight = 0x0203};
	strcpy(m.hello.device_class, "pi");
	strcpy(m.hello.app, "a");
	static const uint8_t want[] = {
		'C', 'F', 'W', 'P', 1, 1, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0,
		8, 7, 6, 5, 4, 3, 2, 1, 0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
		3, 2, 2, 0, 1, 'p', 'i', 'a'};
	uint8_t b[256];
	size_t len;
	char err[256];
	int r = cw_encode(b, sizeof(b), &m, &len, err, sizeof(err));
	TH_CHECK(r == 0 && len == sizeof(want) && !memcmp(b, want, len), "hello bytes (%d %s)", r,
		 err);

	m = (struct cw_msg){.type = CW_INFER};
	static const uint8_t frame[56] = {0xaa};
	m.infer = (struct cw_infer){.request_id = 9, .deadline_us = 0x01020304, .device_us = 5,
				    .flags = CW_INFER_SUGGEST,
				    .action = {.exit = 2, .partition = 0x0102, .bits = 8},
				    .frame = frame, .frame_len = sizeof(frame)};
	static const uint8_t want2[] = {
		'C', 'F', 'W', 'P', 1, 3, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0,
		9, 0, 0, 0, 0, 0, 0, 0, 4, 3, 2, 1, 5, 0, 0, 0,
		1, 0, 0, 0, 2, 8, 2, 1, 0xaa};
	r = cw_encode(b, sizeof(b), &m, &len, err, sizeof(err));
	TH_CHECK(r == 0 && len == CW_INFER_PREFIX_BYTES + 56 && !memcmp(b, want2, sizeof(want2)),
		 "infer bytes (%d %s)", r, err);
}

int main(void)
{
	static struct cw_msg s[MAXS];
	static uint8_t stream[1 << 20];
	size_t n = cwt_samples(s, MAXS), total = 0, len;
	struct cw_limits lim = cw_limits_default();
	char err[256], why[256];
	TH_CHECK(n <= MAXS, "%zu samples", n);
	golden();
	for (size_t i = 0; i < n; i++) {
		struct cw_msg d;
		int r = cw_encode(stream + total, sizeof(stream) - total, &s[i], &len, err, sizeof(err));
		TH_CHECK(r == 0, "encode %zu: %s", i, err);
		if (r)
			continue;
		r = cw_decode(stream + total, len, &lim, &d, err, sizeof(err));
		TH_CHECK(r == 0, "decode %zu: %s", i, err);
		TH_CHECK(!r && cwt_msg_eq(&s[i], &d, why, sizeof(why)), "sample %zu: %s", i, why);
		total += len;
	}

	static const size_t chunks[] = {1, 7, 1000};
	size_t cap = cw_reader_bytes(&lim);
	uint8_t *buf = malloc(cap);
	for (size_t c = 0; c < 3; c++) {
		struct cw_reader r;
		size_t pos = 0, got = 0;
		TH_CHECK(cw_reader_init(&r, buf, cap, &lim) == 0, "init");
		while (pos < total) {
			size_t avail, k = chunks[c] < total - pos ? chunks[c] : total - pos;
			uint8_t *p = cw_reader_space(&r, &avail);
			if (!p || avail < k)
				break;
			memcpy(p, stream + pos, k);
			cw_reader_commit(&r, k);
			pos += k;
			struct cw_msg d;
			int ret;
			while ((ret = cw_reader_next(&r, &d, err, sizeof(err))) == 0) {
				TH_CHECK(got < n && cwt_msg_eq(&s[got], &d, why, sizeof(why)),
					 "chunk %zu message %zu: %s", chunks[c], got, why);
				got++;
			}
			TH_CHECK(ret == -EAGAIN, "chunk %zu: %d %s", chunks[c], ret, err);
		}
		TH_CHECK(got == n, "chunk %zu: %zu of %zu messages", chunks[c], got, n);
	}
	free(buf);
	return th_finish("proto-wire");
}
