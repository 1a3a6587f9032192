/* Datagrams: fragment geometry, round trips, every truncation and every bit
 * flip of the samples, lying counts and lengths, the encoders' refusals.
 * Decoders get a heap copy of exactly the bytes under test (ASan sees a read
 * past them). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/wire-dgram.h"
#include "dgram-samples.h"

static struct cw_dg samples[8];
static uint8_t sample_msg[4096];
static int nsamples;
static struct cw_dg_limits lim;
static char err[512];

static void setup(void)
{
	nsamples = cdt_samples(samples, sample_msg);
	lim = (struct cw_dg_limits){1u << 20, CW_DG_MAX_FRAGS};
}

TestSuite(dgram, .init = setup);

static uint8_t *enc(const struct cw_dg *d, size_t *len)
{
	size_t need;
	cr_assert_eq(cw_dg_encode(NULL, 0, d, &need, err, sizeof(err)), -ENOSPC, "%s", err);
	uint8_t *b = malloc(need);
	cr_assert(b);
	cr_assert_eq(cw_dg_encode(b, need, d, len, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(*len, need);
	return b;
}

/* Decodes a heap copy of b[0..n); a decoded payload is pointed back into b. */
static int dec(const uint8_t *b, size_t n, struct cw_dg *out)
{
	uint8_t *c = malloc(n ? n : 1);
	memcpy(c, b, n);
	err[0] = 0;
	int r = cw_dg_decode(c, n, &lim, out, err, sizeof(err));
	if (out->payload)
		out->payload = b + (out->payload - c);
	free(c);
	return r;
}

static int is_decode_error(int r)
{
	return r == -EBADMSG || r == -EMSGSIZE || r == -EPROTONOSUPPORT;
}

/* ---- fragments ------------------------------------------------------------- */

Test(dgram, fragments_tile_the_message)
{
	static const uint32_t lens[] = {1, 2, 7, 1447, 1448, 1449, 2896, 2897, 3000, 65536,
					1048616, 1482752};
	static const uint32_t pays[] = {1, 3, 512, 1200, CW_DG_DEFAULT_PAYLOAD, 9000};
	for (size_t a = 0; a < sizeof(lens) / sizeof(lens[0]); a++)
		for (size_t b = 0; b < sizeof(pays) / sizeof(pays[0]); b++) {
			uint16_t n;
			int r = cw_dg_frags(lens[a], pays[b], &n);
			if ((uint64_t)lens[a] > (uint64_t)pays[b] * CW_DG_MAX_FRAGS) {
				cr_assert_eq(r, -EMSGSIZE, "%u at %u", lens[a], pays[b]);
				continue;
			}
			cr_assert_eq(r, 0);
			cr_assert_eq(n, (lens[a] + pays[b] - 1) / pays[b]);
			uint32_t at = 0, off, len;
			for (uint16_t i = 0; i < n; i++) {
				cr_assert_eq(cw_dg_frag(lens[a], n, i, &off, &len), 0);
				cr_assert(off == at && len > 0 && len <= pays[b], "%u/%u frag %u",
					  lens[a], pays[b], i);
				at += len;
			}
			cr_assert_eq(at, lens[a]);
			cr_assert_eq(cw_dg_frag(lens[a], n, n, &off, &len), -EBADMSG);
		}
	/* 3000 bytes at 1448: three of 1000, not 1448 + 1448 + 104 */
	uint32_t off, len;
	cr_assert_eq(cw_dg_frag(3000, 3, 2, &off, &len), 0);
	cr_assert(off == 2000 && len == 1000);
	uint16_t n;
	cr_assert_eq(cw_dg_frags(0, 1448, &n), -EINVAL);
	cr_assert_eq(cw_dg_frags(10, 0, &n), -EINVAL);
}

Test(dgram, counts_a_length_cannot_fill)
{
	uint32_t off, len;
	/* 10 bytes in 6: S = 2, five fragments hold them all, the last is empty */
	cr_assert_eq(cw_dg_frag(10, 6, 0, &off, &len), -EBADMSG);
	cr_assert_eq(cw_dg_frag(10, 5, 4, &off, &len), 0);
	cr_assert_eq(cw_dg_frag(10, 11, 0, &off, &len), -EBADMSG);
	cr_assert_eq(cw_dg_frag(0, 1, 0, &off, &len), -EBADMSG);
	cr_assert_eq(cw_dg_frag(10, 0, 0, &off, &len), -EBADMSG);
	/* every count the geometry accepts is one some payload size gives */
	for (uint32_t l = 1; l <= 200; l++)
		for (uint32_t c = 1; c <= l; c++) {
			int ok = !cw_dg_frag(l, (uint16_t)c, 0, &off, &len);
			uint16_t n;
			cr_assert_eq(cw_dg_frags(l, (l + c - 1) / c, &n), 0);
			cr_assert_eq(ok, n == c, "L %u N %u", l, c);
		}
}

/* ---- round trips ----------------------------------------------------------- */

Test(dgram, round_trip_every_sample)
{
	for (int i = 0; i < nsamples; i++) {
		size_t len;
		struct cw_dg d, want = samples[i];
		uint8_t *b = enc(&samples[i], &len);
		cr_assert_eq(dec(b, len, &d), 0, "sample %d: %s", i, err);
		if (!want.payload) { /* a full ACK: the encoder wrote the bitmap */
			cr_assert_eq(d.payload_len, cw_dg_bitmap_bytes(want.count));
			want.payload = d.payload;
			want.payload_len = d.payload_len;
		}
		cr_assert(cdt_dg_eq(&d, &want), "sample %d differs", i);
		uint8_t h[CW_DG_HEADER_BYTES];
		cr_assert_eq(cw_dg_encode_header(h, sizeof(h), &d, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(memcmp(h, b, sizeof(h)), 0, "sample %d: header alone differs", i);
		free(b);
	}
}

Test(dgram, wire_bytes_are_the_documented_layout)
{
	size_t len;
	uint8_t *b = enc(&samples[2], &len); /* fragment 1 of 3 of 3000 bytes */
	static const uint8_t want[24] = {'C', 'D', 1, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
					 0x22, 0x11, 9, 0, 0, 0, 1, 0, 3, 0, 0xb8, 0x0b, 0, 0};
	cr_assert_eq(len, 24 + 1000);
	cr_assert_eq(memcmp(b, want, 24), 0);
	cr_assert_eq(memcmp(b + 24, sample_msg + 64 + 1000, 1000), 0);
	free(b);
	b = enc(&samples[6], &len); /* a full ACK of 3: one byte 0x07 */
	cr_assert(len == 25 && b[3] == CW_DG_ACK && b[16] == 3 && b[24] == 0x07);
	free(b);
}

/* ---- hostile bytes ---------------------------------------------------------- */

Test(dgram, every_truncation_and_extension_is_refused)
{
	for (int i = 0; i < nsamples; i++) {
		size_t len;
		struct cw_dg d;
		uint8_t *b = enc(&samples[i], &len);
		for (size_t n = 0; n < len; n++)
			cr_assert_eq(dec(b, n, &d), -EBADMSG, "sample %d cut to %zu", i, n);
		uint8_t *x = calloc(1, len + 1);
		memcpy(x, b, len);
		cr_assert_eq(dec(x, len + 1, &d), -EBADMSG, "sample %d with a byte more", i);
		free(x);
		free(b);
	}
}

Test(dgram, every_bit_flip)
{
	for (int i = 0; i < nsamples; i++) {
		size_t len, len2;
		uint8_t *b = enc(&samples[i], &len);
		uint8_t *re = malloc(len);
		for (size_t k = 0; k < len * 8; k++) {
			struct cw_dg d;
			b[k / 8] ^= (uint8_t)(1u << k % 8);
			int r = dec(b, len, &d);
			if (r) {
				cr_assert(is_decode_error(r), "sample %d bit %zu: %d", i, k, r);
			} else { /* a valid datagram, then one encoding of it */
				cr_assert_eq(cw_dg_encode(re, len, &d, &len2, err, sizeof(err)), 0,
					     "sample %d bit %zu: decoded, not encoded: %s", i, k,
					     err);
				cr_assert(len2 == len && !memcmp(re, b, len),
					  "sample %d bit %zu", i, k);
			}
			b[k / 8] ^= (uint8_t)(1u << k % 8);
		}
		free(re);
		free(b);
	}
}

/* Rewrites u16 / u32 fields of an encoded datagram. */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void expect(const uint8_t *b, size_t len, int want, const char *field, const char *what)
{
	struct cw_dg d;
	int r = dec(b, len, &d);
	cr_assert_eq(r, want, "%s: %d (%s)", what, r, err);
	cr_assert(strstr(err, field), "%s: '%s' does not name %s", what, err, field);
}

Test(dgram, lying_counts_and_lengths)
{
	size_t len;
	uint8_t *b = enc(&samples[2], &len), *c = malloc(len); /* 1 of 3, 3000 bytes */
#define TRY(stmt, want, field)                                 \
	do {                                                   \
		memcpy(c, b, len);                             \
		stmt;                                          \
		expect(c, len, want, field, #stmt);            \
	} while (0)
	TRY(put16(c + 18, 2), -EBADMSG, "payload");      /* 2 fragments: 1500 each */
	TRY(put16(c + 18, 4), -EBADMSG, "payload");      /* 4: 750 */
	TRY(put32(c + 20, 3001), -EBADMSG, "payload");   /* S = 1001 */
	TRY(put32(c + 20, 2997), -EBADMSG, "payload");   /* S = 999 */
	TRY(put32(c + 20, 2999), 0, "");                 /* S = 1000 still: only the last
							    fragment, or reassembly, shows it */
	TRY(put16(c + 16, 3), -EBADMSG, "index");        /* past the count */
	TRY(put16(c + 18, 0), -EBADMSG, "count");
	TRY(put32(c + 20, 0), -EBADMSG, "msg_len");
	TRY(put32(c + 20, 2), -EBADMSG, "count");        /* 3 fragments cannot hold 2 bytes */
	TRY(put32(c + 20, (1u << 20) + 1), -EMSGSIZE, "msg_len");
	TRY(put16(c + 18, CW_DG_MAX_FRAGS + 1), -EMSGSIZE, "count");
	TRY(put32(c + 12, 0), -EBADMSG, "msg_id");
	TRY(c[3] = 3, -EBADMSG, "kind");
	TRY(c[3] = 0, -EBADMSG, "kind");
	TRY(c[0] = 'X', -EBADMSG, "magic");
	TRY(c[2] = 2, -EPROTONOSUPPORT, "version");
	TRY(memset(c + 4, 0, 8), 0, ""); /* session 0 on fragment 1: only whole messages show */
	free(b);
	free(c);
	/* session 0 on a first fragment: the handshake, its refusals and probes only */
	b = enc(&samples[0], &len);
	c = malloc(len);
	TRY(c[24 + 5] = CW_INFER, -EBADMSG, "session");
	TRY(c[24 + 5] = CW_RESULT, -EBADMSG, "session");
	TRY(c[24 + 5] = CW_DECIDE, -EBADMSG, "session");
	TRY(c[24 + 5] = CW_DECISION, -EBADMSG, "session");
	TRY(c[24 + 5] = CW_HELLO, 0, "");
	TRY(c[24 + 5] = CW_WELCOME, 0, "");
	TRY(c[24 + 5] = CW_ERROR, 0, "");
	TRY(c[24 + 5] = CW_PING, 0, "");
	TRY(c[24 + 5] = CW_PONG, 0, "");
	free(b);
	free(c);
	/* ACKs: received against the bitmap, bits past the count, bitmap size */
	b = enc(&samples[5], &len); /* 2 of 3 received, 0x05 */
	c = malloc(len);
	TRY(put16(c + 16, 1), -EBADMSG, "received");
	TRY(put16(c + 16, 0), -EBADMSG, "received");
	TRY(put16(c + 16, 4), -EBADMSG, "received");
	TRY(c[24] = 0x0d, -EBADMSG, "past");
	TRY(put16(c + 18, 9), -EBADMSG, "bitmap"); /* 9 fragments: 2 bytes */
	TRY(put16(c + 18, 2), -EBADMSG, "past");   /* bit 2 is past 2 fragments */
#undef TRY
	free(b);
	free(c);
	lim.max_frags = 2;
	b = enc(&samples[2], &len);
	expect(b, len, -EMSGSIZE, "count", "count 3 above a limit of 2");
	free(b);
}

/* ---- encoders ---------------------------------------------------------------- */

Test(dgram, encoders_refuse_what_the_decoder_would)
{
	uint8_t buf[4096];
	size_t len;
	struct cw_dg d = samples[2];
#define REFUSE(stmt, field)                                                            \
	do {                                                                           \
		d = samples[2];                                                        \
		stmt;                                                                  \
		cr_assert_eq(cw_dg_encode(buf, sizeof(buf), &d, &len, err, sizeof(err)), \
			     -EINVAL, #stmt);                                          \
		cr_assert(strstr(err, field), "%s: %s", #stmt, err);                   \
		cr_assert_eq(cw_dg_encode_header(buf, sizeof(buf), &d, err, sizeof(err)), \
			     -EINVAL, #stmt);                                          \
	} while (0)
	REFUSE(d.payload_len--, "payload");
	REFUSE(d.count = 4, "payload");
	REFUSE(d.msg_id = 0, "msg_id");
	REFUSE(d.kind = (enum cw_dg_kind)3, "kind");
	REFUSE(d.count = CW_DG_MAX_FRAGS + 1, "count");
	REFUSE(d.msg_len = 2, "count");
	REFUSE(d.index = 3, "index");
	static uint8_t first[1000];
	memcpy(first, sample_msg + 64, sizeof(first));
	first[5] = CW_INFER;
	REFUSE((d.session = 0, d.index = 0, d.payload = first), "session");
#undef REFUSE
	d = samples[5];
	d.index = 1;
	cr_assert_eq(cw_dg_encode(buf, sizeof(buf), &d, &len, err, sizeof(err)), -EINVAL);
	d = samples[6]; /* a full ACK saying it holds fewer */
	d.index = 2;
	cr_assert_eq(cw_dg_encode(buf, sizeof(buf), &d, &len, err, sizeof(err)), -EINVAL);
	d = samples[2];
	d.payload = NULL;
	cr_assert_eq(cw_dg_encode(buf, sizeof(buf), &d, &len, err, sizeof(err)), -EINVAL);
	cr_assert_eq(cw_dg_encode_header(buf, sizeof(buf), &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cw_dg_encode(buf, 1023, &samples[2], &len, err, sizeof(err)), -ENOSPC);
	cr_assert_eq(len, 1024);
	cr_assert_eq(cw_dg_encode_header(buf, 23, &samples[2], err, sizeof(err)), -ENOSPC);
}

Test(dgram, limits_follow_the_tcp_limits)
{
	struct cw_limits tcp = cw_limits_default();
	struct cw_dg_limits l = cw_dg_limits_for(&tcp);
	cr_assert_eq(l.max_msg, CW_HEADER_BYTES + tcp.max_body);
	cr_assert_eq(l.max_frags, CW_DG_MAX_FRAGS);
	/* the largest INFER fits the fragments at the default payload */
	uint16_t n;
	cr_assert_eq(cw_dg_frags(l.max_msg, CW_DG_DEFAULT_PAYLOAD, &n), 0);
}
