/* Datagram test helpers, shared by the dgram tests, the fuzz target and its
 * corpus generator: a seeded RNG, message bytes from a seed, sample datagrams
 * and a field-by-field comparison. */
#ifndef COINFER_TESTS_WIRE_DGRAM_SAMPLES_H
#define COINFER_TESTS_WIRE_DGRAM_SAMPLES_H

#include <string.h>

#include "coinfer/wire-dgram.h"

/* xorshift32: the same sequence everywhere (s != 0). */
static inline uint32_t cdt_rng(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* n bytes that depend on seed and position, so misplaced bytes show. */
static inline void cdt_fill(uint8_t *b, size_t n, uint32_t seed)
{
	uint32_t s = seed | 1;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(cdt_rng(&s) >> 11);
}

static inline int cdt_dg_eq(const struct cw_dg *a, const struct cw_dg *b)
{
	return a->kind == b->kind && a->session == b->session && a->msg_id == b->msg_id &&
	       a->index == b->index && a->count == b->count && a->msg_len == b->msg_len &&
	       a->payload_len == b->payload_len &&
	       (!a->payload_len || !memcmp(a->payload, b->payload, a->payload_len));
}

/* A PING (type byte 6 at offset 5): what session 0 may carry besides HELLO. */
static inline void cdt_ping_bytes(uint8_t *b, uint32_t n)
{
	cdt_fill(b, n, n);
	if (n > 5)
		b[5] = CW_PING;
}

/* Sample datagrams, their payloads in msg[0..4096): a one-fragment PING in
 * session 0, fragments of a 3000-byte message in 3 (first, middle, last), a
 * fragment of 1024, partial and full ACKs. Returns the count (<= 8). */
static inline int cdt_samples(struct cw_dg *out, uint8_t *msg)
{
	static const uint8_t bm3[1] = {0x05}, bm1024[128] = {[0] = 0x01, [127] = 0x80};
	static uint8_t big[1 << 16];
	int n = 0;
	cdt_ping_bytes(msg, 40);
	cw_dg_data(&out[n++], 0, 1, msg, 40, 1, 0);
	cdt_fill(msg + 64, 3000, 7);
	for (uint16_t i = 0; i < 3; i++)
		cw_dg_data(&out[n++], 0x1122334455667788ull, 9, msg + 64, 3000, 3, i);
	cdt_fill(big, sizeof(big), 3);
	cw_dg_data(&out[n++], 2, 0xfffffffeu, big, 1024 * 60 - 3, 1024, 1023);
	out[n++] = (struct cw_dg){CW_DG_ACK, 0x1122334455667788ull, 9, 2, 3, 3000, bm3, 1};
	out[n++] = (struct cw_dg){CW_DG_ACK, 7, 1, 3, 3, 3000, NULL, 0};
	out[n++] = (struct cw_dg){CW_DG_ACK, 2, 0xfffffffeu, 2, 1024, 1024 * 60 - 3, bm1024, 128};
	return n;
}

#endif
