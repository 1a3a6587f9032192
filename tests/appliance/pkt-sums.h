/* The Internet checksum by the book (16-bit big-endian words, one at a time),
 * independent of appliance/pkt.c's, and a frame's IPv4 and UDP checksums
 * recomputed with it after a test or the fuzzer edited the frame. Shared by
 * tests/appliance/test-pkt.c and tests/fuzz/fuzz-pkt.c. */
#ifndef COINFER_TESTS_PKT_SUMS_H
#define COINFER_TESTS_PKT_SUMS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t pktt_sum(uint32_t acc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 2)
		acc += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static inline uint16_t pktt_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void pktt_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Both checksums of the Ethernet+IPv4+UDP frame f[0, size) as its IHL and UDP
 * length say, each where it fits in size. */
static inline void pktt_fix_sums(uint8_t *f, size_t size)
{
	uint8_t *ip = f + 14;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	if (ihl < 20 || 14 + ihl > size)
		return;
	pktt_wr16(ip + 10, 0);
	pktt_wr16(ip + 10, (uint16_t)~pktt_sum(0, ip, ihl));
	uint8_t *u = ip + ihl;
	size_t ulen = 14 + ihl + 8 <= size ? pktt_rd16(u + 4) : 0;
	if (ulen < 8 || 14 + ihl + ulen > size)
		return;
	uint8_t ph[12];
	memcpy(ph, ip + 12, 8);
	ph[8] = 0;
	ph[9] = 17;
	pktt_wr16(ph + 10, (uint16_t)ulen);
	pktt_wr16(u + 6, 0);
	uint16_t c = (uint16_t)~pktt_sum(pktt_sum(0, ph, 12), u, ulen);
	pktt_wr16(u + 6, c ? c : 0xffff);
}

#endif
