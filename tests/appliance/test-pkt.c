/* appliance/pkt.c: the Internet checksum against known answers (RFC 1071's
 * example, a textbook IPv4 header, a frame captured from Linux), builders and
 * parser round trips at every payload length class, every truncation and every
 * bit flip of sample frames, and each hostile header field on its own. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "pkt-sums.h"
#include "pkt.h"

/* A UDP datagram "coinfer udp" (11 bytes: odd) from 10.77.0.2:40000 to
 * 10.77.0.1:7879, sent by Linux 6.x over a veth with transmit checksum offload
 * off and captured with an AF_PACKET socket on the peer: IPv4 checksum 0x23a3,
 * UDP checksum 0xa55b, computed by the kernel. */
static const uint8_t captured[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x08, 0x00,
	0x45, 0x00, 0x00, 0x27, 0x02, 0x87, 0x40, 0x00, 0x40, 0x11, 0x23, 0xa3,
	0x0a, 0x4d, 0x00, 0x02, 0x0a, 0x4d, 0x00, 0x01,
	0x9c, 0x40, 0x1e, 0xc7, 0x00, 0x13, 0xa5, 0x5b,
	'c', 'o', 'i', 'n', 'f', 'e', 'r', ' ', 'u', 'd', 'p',
};
#define CAP_IP 14
#define CAP_UDP 34

static const struct ap_pkt_local server = {
	.mac = {0x02, 0, 0, 0, 0, 0x0b}, .ip = 0x0a4d0001, .port = 7879};
static const struct ap_pkt_local client = {
	.mac = {0x02, 0, 0, 0, 0, 0x0a}, .ip = 0x0a4d0002, .port = 40000};

static struct ap_pkt_peer peer_of(const struct ap_pkt_local *l)
{
	struct ap_pkt_peer p;
	memcpy(p.mac, l->mac, 6);
	p.ip = l->ip;
	p.port = l->port;
	return p;
}

Test(csum, rfc1071_example)
{
	/* RFC 1071 section 3: the sum of these bytes is ddf2 (either byte order) */
	const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	cr_assert_eq(ap_pkt_csum_fold(ap_pkt_csum_add(0, b, 8)), 0xddf2);
	cr_assert_eq(ap_pkt_csum(b, 8), 0x220d);
	/* in even chunks, in any split */
	for (size_t k = 0; k <= 8; k += 2)
		cr_assert_eq(ap_pkt_csum_fold(ap_pkt_csum_add(ap_pkt_csum_add(0, b, k), b + k, 8 - k)),
			     0xddf2);
	/* odd lengths: the last byte is a word's high half */
	cr_assert_eq(ap_pkt_csum_fold(ap_pkt_csum_add(0, b, 3)), 0xf201);
	cr_assert_eq(ap_pkt_csum_fold(ap_pkt_csum_add(0, b, 7)), pktt_sum(0, b, 7));
	cr_assert_eq(ap_pkt_csum_fold(ap_pkt_csum_add(0, (const uint8_t[]){0xab}, 1)), 0xab00);
	cr_assert_eq(ap_pkt_csum(b, 0), 0xffff);
}

Test(csum, ipv4_header_known_answer)
{
	/* the usual textbook header (192.168.0.1 -> 192.168.0.199, UDP): b861 */
	uint8_t h[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		       0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	cr_assert_eq(ap_pkt_csum(h, sizeof(h)), 0xb861);
	pktt_wr16(h + 10, 0xb861);
	cr_assert_eq(ap_pkt_csum(h, sizeof(h)), 0);
}

Test(csum, random_lengths_against_reference)
{
	uint8_t b[1601];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(b); i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(x >> 16);
	}
	for (size_t n = 0; n <= sizeof(b); n += (n < 80 ? 1 : 37))
		for (size_t off = 0; off < 4 && off <= n; off++)
			cr_assert_eq(ap_pkt_csum_fold(ap_pkt_csum_add(0, b + off, n - off)),
				     pktt_sum(0, b + off, n - off), "n %zu off %zu", n, off);
}

Test(captured, sums_and_parse)
{
	uint8_t f[sizeof(captured)];
	memcpy(f, captured, sizeof(f));
	cr_assert_eq(ap_pkt_csum(f + CAP_IP, 20), 0);
	pktt_wr16(f + CAP_IP + 10, 0);
	cr_assert_eq(ap_pkt_csum(f + CAP_IP, 20), 0x23a3);
	struct ap_pkt_info in;
	cr_assert_eq(ap_pkt_parse(captured, sizeof(captured), &server, 0, &in), AP_PKT_UDP);
	cr_assert_eq(in.peer.ip, client.ip);
	cr_assert_eq(in.peer.port, client.port);
	cr_assert_arr_eq(in.peer.mac, client.mac, 6);
	cr_assert_eq(in.payload_off, 42);
	cr_assert_eq(in.payload_len, 11);
	cr_assert_arr_eq(captured + in.payload_off, "coinfer udp", 11);
	/* the NIC's word taken as is */
	cr_assert_eq(ap_pkt_parse(captured, sizeof(captured), &server,
				  AP_PKT_RX_IP_CSUM_OK | AP_PKT_RX_L4_CSUM_OK, &in),
		     AP_PKT_UDP);
}

Test(captured, built_the_same)
{
	/* the client's datagram built here: the same bytes but the IPv4 ID (ours
	 * is 0) and so the header checksum, plus the padding to 60 */
	uint8_t f[128];
	memset(f, 0xee, sizeof(f));
	memcpy(f + AP_PKT_HDR_BYTES, "coinfer udp", 11);
	struct ap_pkt_peer to = peer_of(&server);
	cr_assert_eq(ap_pkt_udp_build(f, sizeof(f), &client, &to, 11, 0), 60);
	cr_assert_arr_eq(f, captured, 18);
	cr_assert_arr_eq(f + 20, captured + 20, 4);
	cr_assert_arr_eq(f + 26, captured + 26, sizeof(captured) - 26);
	cr_assert_eq(pktt_rd16(f + CAP_UDP + 6), 0xa55b);
	cr_assert_eq(pktt_rd16(f + 18), 0);
	cr_assert_eq(pktt_rd16(f + 24), pktt_sum(0x23a3, (const uint8_t[]){0x02, 0x87}, 2));
	for (size_t i = sizeof(captured); i < 60; i++)
		cr_assert_eq(f[i], 0);
}

static void round_trip(size_t len, unsigned flags)
{
	static uint8_t f[2048], payload[2048];
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + len);
	memcpy(f + AP_PKT_HDR_BYTES, payload, len);
	struct ap_pkt_peer to = peer_of(&client);
	int n = ap_pkt_udp_build(f, sizeof(f), &server, &to, len, flags);
	cr_assert_eq(n, (int)(len + 42 < 60 ? 60 : len + 42));
	unsigned rx = flags ? AP_PKT_RX_IP_CSUM_OK | AP_PKT_RX_L4_CSUM_OK : 0;
	struct ap_pkt_info in;
	cr_assert_eq(ap_pkt_parse(f, (size_t)n, &client, rx, &in), AP_PKT_UDP, "len %zu", len);
	cr_assert_eq(in.payload_len, len);
	cr_assert_arr_eq(f + in.payload_off, payload, len);
	cr_assert_eq(in.peer.ip, server.ip);
	cr_assert_eq(in.peer.port, server.port);
	cr_assert_arr_eq(in.peer.mac, server.mac, 6);
	if (!flags)
		return;
	/* left for offload: not valid as it is; the NIC's fill-in gives the
	 * software frame's sums */
	cr_assert_eq(ap_pkt_parse(f, (size_t)n, &client, 0, &in), AP_PKT_BAD_CSUM);
	uint8_t *ip = f + 14, *u = ip + 20;
	cr_assert_eq(pktt_rd16(ip + 10), 0);
	pktt_wr16(ip + 10, (uint16_t)~pktt_sum(0, ip, 20));
	uint16_t c = (uint16_t)~pktt_sum(0, u, len + 8);
	pktt_wr16(u + 6, c ? c : 0xffff);
	cr_assert_eq(ap_pkt_parse(f, (size_t)n, &client, 0, &in), AP_PKT_UDP, "len %zu", len);
}

Test(udp, round_trips)
{
	const size_t lens[] = {0, 1, 2, 17, 18, 19, 255, 1000, 1471, 1472, 1473, 1999};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		round_trip(lens[i], 0);
		round_trip(lens[i], AP_PKT_TX_CSUM_OFFLOAD);
	}
}

Test(udp, builder_bounds)
{
	uint8_t f[64];
	struct ap_pkt_peer to = peer_of(&client);
	cr_assert_eq(ap_pkt_udp_build(f, 59, &server, &to, 0, 0), -ENOSPC);
	cr_assert_eq(ap_pkt_udp_build(f, 60, &server, &to, 18, 0), 60);
	cr_assert_eq(ap_pkt_udp_build(f, 60, &server, &to, 19, 0), -ENOSPC);
	cr_assert_eq(ap_pkt_udp_build(f, 64, &server, &to, AP_PKT_MAX_UDP_PAYLOAD + 1, 0),
		     -EMSGSIZE);
	cr_assert_eq(ap_pkt_arp_reply(f, 59, &server, &to), -ENOSPC);
	cr_assert_eq(ap_pkt_garp(f, 59, &server), -ENOSPC);
}

/* An ARP request from client for ip, as Linux sends it (broadcast, tha 0). */
static void arp_request(uint8_t f[60], uint32_t spa, uint32_t tpa)
{
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, client.mac, 6);
	const uint8_t a[] = {0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1};
	memcpy(f + 12, a, sizeof(a));
	memcpy(f + 22, client.mac, 6);
	for (int i = 0; i < 4; i++) {
		f[28 + i] = (uint8_t)(spa >> (24 - 8 * i));
		f[38 + i] = (uint8_t)(tpa >> (24 - 8 * i));
	}
}

Test(arp, request_and_reply)
{
	uint8_t f[60], r[64];
	struct ap_pkt_info in;
	arp_request(f, client.ip, server.ip);
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_ARP_REQUEST);
	cr_assert_eq(ap_pkt_parse(f, 42, &server, 0, &in), AP_PKT_ARP_REQUEST);
	cr_assert_eq(in.peer.ip, client.ip);
	cr_assert_arr_eq(in.peer.mac, client.mac, 6);
	cr_assert_eq(ap_pkt_arp_reply(r, sizeof(r), &server, &in.peer), 60);
	const uint8_t want[42] = {
		0x02, 0, 0, 0, 0, 0x0a, 0x02, 0, 0, 0, 0, 0x0b, 0x08, 0x06,
		0, 1, 0x08, 0x00, 6, 4, 0, 2,
		0x02, 0, 0, 0, 0, 0x0b, 0x0a, 0x4d, 0, 1,
		0x02, 0, 0, 0, 0, 0x0a, 0x0a, 0x4d, 0, 2};
	cr_assert_arr_eq(r, want, 42);
	for (int i = 42; i < 60; i++)
		cr_assert_eq(r[i], 0);
	/* the client sees a reply: nothing asked of it */
	cr_assert_eq(ap_pkt_parse(r, 60, &client, 0, &in), AP_PKT_ARP_OTHER);
	/* unicast to us is answered too; to another MAC it is not ours */
	memcpy(f, server.mac, 6);
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_ARP_REQUEST);
	f[5] ^= 1;
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_NOT_OURS);
}

Test(arp, other_requests)
{
	uint8_t f[60];
	struct ap_pkt_info in;
	arp_request(f, client.ip, server.ip + 1);
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_ARP_OTHER);
	arp_request(f, server.ip, server.ip); /* someone else claims our address */
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_ARP_OTHER);
	arp_request(f, 0, server.ip); /* an RFC 5227 probe */
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_ARP_REQUEST);
	cr_assert_eq(in.peer.ip, 0);
	arp_request(f, 0xe0000001, server.ip);
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_BAD_SOURCE);
	arp_request(f, client.ip, server.ip);
	f[22] |= 1; /* a multicast sender hardware address */
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_BAD_SOURCE);
	arp_request(f, client.ip, server.ip);
	f[18] = 8; /* hardware length */
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_MALFORMED);
	arp_request(f, client.ip, server.ip);
	f[15] = 6; /* IEEE 802 hardware type */
	cr_assert_eq(ap_pkt_parse(f, 60, &server, 0, &in), AP_PKT_NOT_OURS);
}

Test(arp, gratuitous)
{
	uint8_t g[60];
	struct ap_pkt_info in;
	cr_assert_eq(ap_pkt_garp(g, sizeof(g), &server), 60);
	const uint8_t want[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0b, 0x08, 0x06,
		0, 1, 0x08, 0x00, 6, 4, 0, 1,
		0x02, 0, 0, 0, 0, 0x0b, 0x0a, 0x4d, 0, 1,
		0, 0, 0, 0, 0, 0, 0x0a, 0x4d, 0, 1};
	cr_assert_arr_eq(g, want, 42);
	cr_assert_eq(ap_pkt_parse(g, 60, &client, 0, &in), AP_PKT_ARP_OTHER);
	cr_assert_eq(ap_pkt_parse(g, 60, &server, 0, &in), AP_PKT_ARP_OTHER);
}

/* Every prefix of a frame: refused, or (at and past the end of what it
 * carries) parsed exactly as the whole. */
static void truncations(const uint8_t *f, size_t len, size_t carried, int kind)
{
	struct ap_pkt_info whole, in;
	cr_assert_eq(ap_pkt_parse(f, len, &server, 0, &whole), kind);
	for (size_t n = 0; n < len; n++) {
		int k = ap_pkt_parse(f, n, &server, 0, &in);
		if (n < carried) {
			cr_assert(k != AP_PKT_UDP && k != AP_PKT_ARP_REQUEST, "prefix %zu: %s", n,
				  ap_pkt_kind_name(k));
			continue;
		}
		cr_assert_eq(k, kind, "prefix %zu", n);
		cr_assert_arr_eq(in.peer.mac, whole.peer.mac, 6);
		cr_assert_eq(in.peer.ip, whole.peer.ip);
		cr_assert_eq(in.peer.port, whole.peer.port);
		cr_assert_eq(in.payload_off, whole.payload_off);
		cr_assert_eq(in.payload_len, whole.payload_len);
	}
}

Test(hostile, every_truncation)
{
	truncations(captured, sizeof(captured), sizeof(captured), AP_PKT_UDP);
	uint8_t f[200];
	memset(f + 42, 0x5a, 150);
	struct ap_pkt_peer to = peer_of(&server);
	cr_assert_eq(ap_pkt_udp_build(f, sizeof(f), &client, &to, 150, 0), 192);
	truncations(f, 192, 192, AP_PKT_UDP);
	cr_assert_eq(ap_pkt_udp_build(f, sizeof(f), &client, &to, 3, 0), 60);
	truncations(f, 60, 45, AP_PKT_UDP);
	arp_request(f, client.ip, server.ip);
	truncations(f, 60, 42, AP_PKT_ARP_REQUEST);
}

/* Every single-bit flip: refused, or parsed into what the flipped frame says
 * (its source MAC, ARP's sender fields), with the original payload. */
static void bit_flips(const uint8_t *orig, size_t len, size_t carried, int kind)
{
	uint8_t f[256];
	struct ap_pkt_info whole, in;
	cr_assert(len <= sizeof(f));
	cr_assert_eq(ap_pkt_parse(orig, len, &server, 0, &whole), kind);
	int accepted = 0;
	for (size_t bit = 0; bit < len * 8; bit++) {
		memcpy(f, orig, len);
		f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		size_t at = bit / 8;
		int k = ap_pkt_parse(f, len, &server, 0, &in);
		if (k != AP_PKT_UDP && k != AP_PKT_ARP_REQUEST)
			continue;
		accepted++;
		cr_assert_eq(k, kind, "bit %zu", bit);
		if (k == AP_PKT_UDP) {
			/* only the source MAC and the padding are not covered */
			cr_assert((at >= 6 && at < 12) || at >= carried, "bit %zu accepted", bit);
			cr_assert_arr_eq(in.peer.mac, f + 6, 6);
			cr_assert_eq(in.peer.ip, whole.peer.ip);
			cr_assert_eq(in.peer.port, whole.peer.port);
			cr_assert_eq(in.payload_len, whole.payload_len);
			cr_assert_arr_eq(f + in.payload_off, orig + whole.payload_off, in.payload_len);
		} else {
			cr_assert_arr_eq(in.peer.mac, f + 22, 6);
			cr_assert_eq(in.peer.ip, (uint32_t)f[28] << 24 | f[29] << 16 | f[30] << 8 | f[31]);
		}
	}
	cr_assert(accepted > 0);
}

Test(hostile, every_bit_flip)
{
	bit_flips(captured, sizeof(captured), sizeof(captured), AP_PKT_UDP);
	uint8_t f[200];
	memset(f + 42, 0xa5, 99);
	struct ap_pkt_peer to = peer_of(&server);
	cr_assert_eq(ap_pkt_udp_build(f, sizeof(f), &client, &to, 99, 0), 141);
	bit_flips(f, 141, 141, AP_PKT_UDP);
	cr_assert_eq(ap_pkt_udp_build(f, sizeof(f), &client, &to, 1, 0), 60);
	bit_flips(f, 60, 43, AP_PKT_UDP);
	arp_request(f, client.ip, server.ip);
	bit_flips(f, 60, 42, AP_PKT_ARP_REQUEST);
}

/* The captured frame with one edit (and its sums fixed unless raw). */
static int edited(void (*edit)(uint8_t *f), int raw)
{
	uint8_t f[sizeof(captured) + 8];
	struct ap_pkt_info in;
	memcpy(f, captured, sizeof(captured));
	memset(f + sizeof(captured), 0, 8);
	edit(f);
	if (!raw)
		pktt_fix_sums(f, sizeof(f));
	return ap_pkt_parse(f, sizeof(captured), &server, 0, &in);
}

static void e_none(uint8_t *f) { (void)f; }
static void e_ihl4(uint8_t *f) { f[14] = 0x44; }
static void e_ihl15(uint8_t *f) { f[14] = 0x4f; }
static void e_version6(uint8_t *f) { f[14] = 0x65; }
static void e_tot_short(uint8_t *f) { pktt_wr16(f + 16, 19); }
static void e_tot_long(uint8_t *f) { pktt_wr16(f + 16, 0x28); }
static void e_mf(uint8_t *f) { f[20] |= 0x20; }
static void e_offset(uint8_t *f) { f[21] = 1; }
static void e_evil(uint8_t *f) { f[20] |= 0x80; }
static void e_tcp(uint8_t *f) { f[23] = 6; }
static void e_other_ip(uint8_t *f) { f[33] = 9; }
static void e_other_port(uint8_t *f) { pktt_wr16(f + 36, 7880); }
static void e_src_port0(uint8_t *f) { pktt_wr16(f + 34, 0); }
static void e_src_mcast(uint8_t *f) { f[26] = 224; }
static void e_src_bcast(uint8_t *f) { memset(f + 26, 0xff, 4); }
static void e_src_lo(uint8_t *f) { f[26] = 127; }
static void e_mac_mcast(uint8_t *f) { f[6] |= 1; }
static void e_dst_bcast(uint8_t *f) { memset(f, 0xff, 6); }
static void e_dst_other(uint8_t *f) { f[5] = 0x0c; }
static void e_ulen_short(uint8_t *f) { pktt_wr16(f + 38, 18); }
static void e_ulen_long(uint8_t *f) { pktt_wr16(f + 38, 20); }
static void e_ulen_7(uint8_t *f) { pktt_wr16(f + 38, 7); }
static void e_ipv6(uint8_t *f) { pktt_wr16(f + 12, 0x86dd); }
static void e_8023(uint8_t *f) { pktt_wr16(f + 12, 0x0040); }
static void e_udp_csum0(uint8_t *f) { pktt_wr16(f + 40, 0); }
static void e_udp_csum(uint8_t *f) { f[41] ^= 0x10; }
static void e_ip_csum(uint8_t *f) { f[25] ^= 0x01; }

Test(hostile, each_field)
{
	cr_assert_eq(edited(e_none, 0), AP_PKT_UDP);
	cr_assert_eq(edited(e_ihl4, 1), AP_PKT_MALFORMED);
	cr_assert_eq(edited(e_ihl15, 1), AP_PKT_MALFORMED);
	cr_assert_eq(edited(e_version6, 1), AP_PKT_MALFORMED);
	cr_assert_eq(edited(e_tot_short, 1), AP_PKT_MALFORMED);
	cr_assert_eq(edited(e_tot_long, 1), AP_PKT_MALFORMED);
	cr_assert_eq(edited(e_mf, 0), AP_PKT_FRAGMENT);
	cr_assert_eq(edited(e_offset, 0), AP_PKT_FRAGMENT);
	cr_assert_eq(edited(e_evil, 0), AP_PKT_MALFORMED);
	cr_assert_eq(edited(e_tcp, 0), AP_PKT_NOT_OURS);
	cr_assert_eq(edited(e_other_ip, 0), AP_PKT_NOT_OURS);
	cr_assert_eq(edited(e_other_port, 0), AP_PKT_NOT_OURS);
	cr_assert_eq(edited(e_src_port0, 0), AP_PKT_BAD_SOURCE);
	cr_assert_eq(edited(e_src_mcast, 0), AP_PKT_BAD_SOURCE);
	cr_assert_eq(edited(e_src_bcast, 0), AP_PKT_BAD_SOURCE);
	cr_assert_eq(edited(e_src_lo, 0), AP_PKT_BAD_SOURCE);
	cr_assert_eq(edited(e_mac_mcast, 0), AP_PKT_BAD_SOURCE);
	cr_assert_eq(edited(e_dst_bcast, 0), AP_PKT_NOT_OURS);
	cr_assert_eq(edited(e_dst_other, 0), AP_PKT_NOT_OURS);
	cr_assert_eq(edited(e_ulen_short, 0), AP_PKT_MALFORMED);
	cr_assert_eq(edited(e_ulen_long, 1), AP_PKT_MALFORMED);
	cr_assert_eq(edited(e_ulen_7, 1), AP_PKT_MALFORMED);
	cr_assert_eq(edited(e_ipv6, 1), AP_PKT_NOT_OURS);
	cr_assert_eq(edited(e_8023, 1), AP_PKT_NOT_OURS);
	cr_assert_eq(edited(e_udp_csum0, 1), AP_PKT_BAD_CSUM);
	cr_assert_eq(edited(e_udp_csum, 1), AP_PKT_BAD_CSUM);
	cr_assert_eq(edited(e_ip_csum, 1), AP_PKT_BAD_CSUM);
}

Test(hostile, ip_options_skipped)
{
	/* IHL 6: four bytes of options (NOPs) between the header and UDP */
	uint8_t f[sizeof(captured) + 4];
	struct ap_pkt_info in;
	memcpy(f, captured, 34);
	memset(f + 34, 1, 4);
	memcpy(f + 38, captured + 34, sizeof(captured) - 34);
	f[14] = 0x46;
	pktt_wr16(f + 16, 0x27 + 4);
	pktt_fix_sums(f, sizeof(f));
	cr_assert_eq(ap_pkt_parse(f, sizeof(f), &server, 0, &in), AP_PKT_UDP);
	cr_assert_eq(in.payload_off, 46);
	cr_assert_eq(in.payload_len, 11);
	cr_assert_arr_eq(f + 46, "coinfer udp", 11);
}

Test(hostile, vlan_refused)
{
	/* the captured frame with an 802.1Q tag (VLAN 5), then 802.1ad */
	uint8_t f[sizeof(captured) + 4];
	struct ap_pkt_info in;
	memcpy(f, captured, 12);
	const uint8_t tag[] = {0x81, 0x00, 0x00, 0x05};
	memcpy(f + 12, tag, 4);
	memcpy(f + 16, captured + 12, sizeof(captured) - 12);
	cr_assert_eq(ap_pkt_parse(f, sizeof(f), &server, 0, &in), AP_PKT_VLAN);
	f[12] = 0x88;
	f[13] = 0xa8;
	cr_assert_eq(ap_pkt_parse(f, sizeof(f), &server, 0, &in), AP_PKT_VLAN);
	cr_assert_eq(ap_pkt_parse(f, 14, &server, 0, &in), AP_PKT_VLAN);
	cr_assert_eq(ap_pkt_parse(f, 13, &server, 0, &in), AP_PKT_MALFORMED);
}

Test(names, every_kind)
{
	for (int k = 0; k < AP_PKT_NKINDS; k++)
		cr_assert_str_neq(ap_pkt_kind_name(k), "unknown");
	cr_assert_str_eq(ap_pkt_kind_name(AP_PKT_NKINDS), "unknown");
	cr_assert_str_eq(ap_pkt_kind_name(-1), "unknown");
}
