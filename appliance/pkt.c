/* Ethernet, ARP, IPv4 and UDP over byte buffers (pkt.h). The parser reads only
 * what the lengths checked before it allow, so any byte string is safe input;
 * the fuzz target (tests/fuzz/fuzz-pkt.c) holds it to that. */
#include <errno.h>
#include <string.h>

#include "pkt.h"

enum {
	ETH_P_IPV4 = 0x0800,
	ETH_P_ARP = 0x0806,
	ETH_P_8021Q = 0x8100,
	ETH_P_8021AD = 0x88a8,
	ETH_P_QINQ_OLD = 0x9100,
	ARP_HW_ETHER = 1,
	ARP_OP_REQUEST = 1,
	ARP_OP_REPLY = 2,
	IP_PROTO_UDP = 17,
	IP_FLAG_RESERVED = 0x8000,
	IP_FLAG_DF = 0x4000,
	IP_FRAG_MASK = 0x3fff, /* MF and the offset */
	IP_TTL = 64,
};

static const uint8_t mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/* Without a NIC's checksum offload every datagram is summed whole: on x86-64,
 * a second copy for AVX2 (picked once, at load, by an ifunc) sums about 1.5
 * times as fast as SSE2's. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CSUM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CSUM_CLONES
#endif

CSUM_CLONES uint64_t ap_pkt_csum_add(uint64_t acc, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t w;
	uint16_t h;
	/* 32-bit words in host order: their sum folds to the same 16-bit
	 * one's-complement sum (2^16 = 1 modulo 0xffff), at half the additions. */
	for (; n >= 4; n -= 4, b += 4) {
		memcpy(&w, b, 4);
		acc += w;
	}
	if (n >= 2) {
		memcpy(&h, b, 2);
		acc += h;
		b += 2;
		n -= 2;
	}
	if (n) {
		/* the odd byte is the high half of a word padded with zero, in
		 * either byte order */
		h = 0;
		memcpy(&h, b, 1);
		acc += h;
	}
	return acc;
}

uint16_t ap_pkt_csum_fold(uint64_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	uint16_t s = (uint16_t)acc;
	uint8_t b[2];
	memcpy(b, &s, 2);
	return rd16(b);
}

uint16_t ap_pkt_csum(const void *p, size_t n)
{
	return (uint16_t)~ap_pkt_csum_fold(ap_pkt_csum_add(0, p, n));
}

/* One's-complement sums of header fields computed from their values, in
 * network order (the sum is byte-order independent, RFC 1071): the headers a
 * frame was just given are not read back, which would stall on the stores
 * still in flight (a 4-byte load spanning two 2-byte stores cannot forward). */
static inline uint32_t be_sum32(uint32_t v)
{
	return (v >> 16) + (v & 0xffff);
}

static inline uint16_t be_fold(uint64_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The UDP pseudo-header's sum (RFC 768), in network order. */
static uint64_t pseudo_sum(uint32_t src, uint32_t dst, uint16_t udp_len)
{
	return (uint64_t)be_sum32(src) + be_sum32(dst) + IP_PROTO_UDP + udp_len;
}

/* Sources no reply may go to: unspecified, loopback, multicast, class E and
 * the limited broadcast. */
static int bad_src_ip(uint32_t ip)
{
	return ip == 0 || ip >> 24 == 127 || ip >> 28 >= 0xe;
}

static int parse_arp(const uint8_t *f, size_t len, const struct ap_pkt_local *me,
		     struct ap_pkt_info *out)
{
	const uint8_t *a = f + AP_PKT_ETH_BYTES;
	if (len < AP_PKT_ETH_BYTES + AP_PKT_ARP_BYTES)
		return AP_PKT_MALFORMED;
	if (memcmp(f, me->mac, 6) && memcmp(f, mac_bcast, 6))
		return AP_PKT_NOT_OURS;
	/* another hardware or protocol type is well-formed, just not for us */
	if (rd16(a) != ARP_HW_ETHER || rd16(a + 2) != ETH_P_IPV4)
		return AP_PKT_NOT_OURS;
	if (a[4] != 6 || a[5] != 4)
		return AP_PKT_MALFORMED;
	const uint8_t *sha = a + 8;
	uint32_t spa = rd32(a + 14), tpa = rd32(a + 24);
	if ((f[6] & 1) || (sha[0] & 1))
		return AP_PKT_BAD_SOURCE;
	/* a sender claiming our own address is a conflict, not a question */
	if (rd16(a + 6) != ARP_OP_REQUEST || tpa != me->ip || spa == me->ip)
		return AP_PKT_ARP_OTHER;
	/* spa 0 is an RFC 5227 probe: answered like any request */
	if (spa && bad_src_ip(spa))
		return AP_PKT_BAD_SOURCE;
	memcpy(out->peer.mac, sha, 6);
	out->peer.ip = spa;
	out->peer.port = 0;
	out->payload_off = 0;
	out->payload_len = 0;
	return AP_PKT_ARP_REQUEST;
}

static int parse_udp(const uint8_t *f, size_t ihl, size_t tot, const struct ap_pkt_local *me,
		     unsigned flags, struct ap_pkt_info *out)
{
	const uint8_t *ip = f + AP_PKT_ETH_BYTES, *u = ip + ihl;
	size_t ulen = tot - ihl;
	/* UDP's length must be the datagram's: a shorter one would leave bytes
	 * the checksum does not cover */
	if (ulen < AP_PKT_UDP_BYTES || rd16(u + 4) != ulen)
		return AP_PKT_MALFORMED;
	if (rd16(u + 2) != me->port)
		return AP_PKT_NOT_OURS;
	uint32_t src = rd32(ip + 12);
	uint16_t sport = rd16(u);
	if (bad_src_ip(src) || !sport)
		return AP_PKT_BAD_SOURCE;
	/* zero means "no checksum" (RFC 768); every sender we serve computes one,
	 * and nothing else here guards the payload */
	if (!rd16(u + 6))
		return AP_PKT_BAD_CSUM;
	if (!(flags & AP_PKT_RX_L4_CSUM_OK)) {
		uint64_t acc = ap_pkt_csum_fold(ap_pkt_csum_add(0, u, ulen));
		if (be_fold(acc + pseudo_sum(src, me->ip, (uint16_t)ulen)) != 0xffff)
			return AP_PKT_BAD_CSUM;
	}
	out->peer.ip = src;
	out->peer.port = sport;
	out->payload_off = (uint32_t)(u + AP_PKT_UDP_BYTES - f);
	out->payload_len = (uint32_t)(ulen - AP_PKT_UDP_BYTES);
	return AP_PKT_UDP;
}

static int parse_ipv4(const uint8_t *f, size_t len, const struct ap_pkt_local *me, unsigned flags,
		      struct ap_pkt_info *out)
{
	const uint8_t *ip = f + AP_PKT_ETH_BYTES;
	size_t avail = len - AP_PKT_ETH_BYTES;
	if (avail < AP_PKT_IP_BYTES || ip[0] >> 4 != 4)
		return AP_PKT_MALFORMED;
	size_t ihl = (size_t)(ip[0] & 15) * 4, tot = rd16(ip + 2);
	/* bytes past the total length are Ethernet padding, and ignored */
	if (ihl < AP_PKT_IP_BYTES || tot < ihl || tot > avail)
		return AP_PKT_MALFORMED;
	uint16_t frag = rd16(ip + 6);
	if (frag & IP_FLAG_RESERVED)
		return AP_PKT_MALFORMED;
	if (frag & IP_FRAG_MASK)
		return AP_PKT_FRAGMENT;
	if (!(flags & AP_PKT_RX_IP_CSUM_OK) && ap_pkt_csum(ip, ihl))
		return AP_PKT_BAD_CSUM;
	if (rd32(ip + 16) != me->ip || ip[9] != IP_PROTO_UDP)
		return AP_PKT_NOT_OURS;
	memcpy(out->peer.mac, f + 6, 6);
	return parse_udp(f, ihl, tot, me, flags, out);
}

int ap_pkt_parse(const uint8_t *frame, size_t len, const struct ap_pkt_local *me, unsigned flags,
		 struct ap_pkt_info *out)
{
	if (len < AP_PKT_ETH_BYTES)
		return AP_PKT_MALFORMED;
	uint16_t type = rd16(frame + 12);
	if (type == ETH_P_8021Q || type == ETH_P_8021AD || type == ETH_P_QINQ_OLD)
		return AP_PKT_VLAN;
	if (type == ETH_P_ARP)
		return parse_arp(frame, len, me, out);
	/* datagrams come to our MAC only: a broadcast one would be answered
	 * by every host that shares our address, which is a misconfiguration */
	if (type != ETH_P_IPV4 || memcmp(frame, me->mac, 6))
		return AP_PKT_NOT_OURS;
	if (frame[6] & 1)
		return AP_PKT_BAD_SOURCE;
	return parse_ipv4(frame, len, me, flags, out);
}

const char *ap_pkt_kind_name(int kind)
{
	static const char *const names[AP_PKT_NKINDS] = {
		[AP_PKT_UDP] = "udp",
		[AP_PKT_ARP_REQUEST] = "arp_request",
		[AP_PKT_ARP_OTHER] = "arp_other",
		[AP_PKT_NOT_OURS] = "not_ours",
		[AP_PKT_VLAN] = "vlan",
		[AP_PKT_FRAGMENT] = "fragment",
		[AP_PKT_MALFORMED] = "malformed",
		[AP_PKT_BAD_CSUM] = "bad_csum",
		[AP_PKT_BAD_SOURCE] = "bad_source",
	};
	return kind >= 0 && kind < AP_PKT_NKINDS ? names[kind] : "unknown";
}

static int arp_frame(uint8_t *out, size_t cap, const uint8_t dst[6], const struct ap_pkt_local *me,
		     uint16_t op, const uint8_t tha[6], uint32_t tpa)
{
	if (cap < AP_PKT_MIN_FRAME)
		return -ENOSPC;
	memset(out, 0, AP_PKT_MIN_FRAME);
	memcpy(out, dst, 6);
	memcpy(out + 6, me->mac, 6);
	wr16(out + 12, ETH_P_ARP);
	uint8_t *a = out + AP_PKT_ETH_BYTES;
	wr16(a, ARP_HW_ETHER);
	wr16(a + 2, ETH_P_IPV4);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, op);
	memcpy(a + 8, me->mac, 6);
	wr32(a + 14, me->ip);
	memcpy(a + 18, tha, 6);
	wr32(a + 24, tpa);
	return AP_PKT_MIN_FRAME;
}

int ap_pkt_arp_reply(uint8_t *out, size_t cap, const struct ap_pkt_local *me,
		     const struct ap_pkt_peer *peer)
{
	return arp_frame(out, cap, peer->mac, me, ARP_OP_REPLY, peer->mac, peer->ip);
}

int ap_pkt_garp(uint8_t *out, size_t cap, const struct ap_pkt_local *me)
{
	static const uint8_t zero[6];
	return arp_frame(out, cap, mac_bcast, me, ARP_OP_REQUEST, zero, me->ip);
}

int ap_pkt_udp_build(uint8_t *frame, size_t cap, const struct ap_pkt_local *me,
		     const struct ap_pkt_peer *peer, size_t payload_len, unsigned flags)
{
	uint64_t sum = 0;
	if (!(flags & AP_PKT_TX_CSUM_OFFLOAD) && payload_len <= AP_PKT_MAX_UDP_PAYLOAD &&
	    cap >= AP_PKT_HDR_BYTES + payload_len)
		sum = ap_pkt_csum_add(0, frame + AP_PKT_HDR_BYTES, payload_len);
	return ap_pkt_udp_build_summed(frame, cap, me, peer, payload_len, flags, sum);
}

int ap_pkt_udp_build_summed(uint8_t *frame, size_t cap, const struct ap_pkt_local *me,
			    const struct ap_pkt_peer *peer, size_t payload_len, unsigned flags,
			    uint64_t payload_sum)
{
	if (payload_len > AP_PKT_MAX_UDP_PAYLOAD)
		return -EMSGSIZE;
	size_t n = AP_PKT_HDR_BYTES + payload_len;
	size_t flen = n < AP_PKT_MIN_FRAME ? AP_PKT_MIN_FRAME : n;
	if (cap < flen)
		return -ENOSPC;
	memset(frame + n, 0, flen - n);
	memcpy(frame, peer->mac, 6);
	memcpy(frame + 6, me->mac, 6);
	wr16(frame + 12, ETH_P_IPV4);
	uint8_t *ip = frame + AP_PKT_ETH_BYTES, *u = ip + AP_PKT_IP_BYTES;
	uint16_t ulen = (uint16_t)(AP_PKT_UDP_BYTES + payload_len);
	ip[0] = 0x45;
	ip[1] = 0;
	wr16(ip + 2, (uint16_t)(AP_PKT_IP_BYTES + ulen));
	wr16(ip + 4, 0); /* RFC 6864: the ID of an atomic datagram means nothing */
	wr16(ip + 6, IP_FLAG_DF);
	ip[8] = IP_TTL;
	ip[9] = IP_PROTO_UDP;
	wr16(ip + 10, 0);
	wr32(ip + 12, me->ip);
	wr32(ip + 16, peer->ip);
	wr16(u, me->port);
	wr16(u + 2, peer->port);
	wr16(u + 4, ulen);
	uint64_t ph = pseudo_sum(me->ip, peer->ip, ulen);
	if (flags & AP_PKT_TX_CSUM_OFFLOAD) {
		wr16(u + 6, be_fold(ph));
		return (int)flen;
	}
	uint64_t ipsum = 0x4500u + AP_PKT_IP_BYTES + ulen + IP_FLAG_DF +
			 ((unsigned)IP_TTL << 8 | IP_PROTO_UDP) + be_sum32(me->ip) +
			 be_sum32(peer->ip);
	wr16(ip + 10, (uint16_t)~be_fold(ipsum));
	/* the UDP header (its checksum field 0) and the payload, which starts at
	 * an even offset, so its sum adds as is */
	uint64_t acc = ph + me->port + peer->port + ulen + ap_pkt_csum_fold(payload_sum);
	uint16_t c = (uint16_t)~be_fold(acc);
	wr16(u + 6, c ? c : 0xffff); /* RFC 768: a computed zero is sent as all ones */
	return (int)flen;
}
