/* libFuzzer target: appliance/pkt.c on frames from the wire.
 *
 * 1. The input as a frame: whatever ap_pkt_parse says, it reads only the
 *    input; a datagram's payload lies within it; trusting the NIC's checksums
 *    changes nothing but what the checksums decide; a datagram echoed with
 *    ap_pkt_udp_build (both checksum modes) parses back to the same payload
 *    from the other end, and an ARP request's reply is a well-formed ARP.
 * 2. The input with its addresses made ours and both checksums fixed, so
 *    mutations reach the length and field checks behind them.
 *
 * Seeds: tests/fuzz/corpus/pkt (sample frames of tests/appliance/test-pkt.c:
 * the captured datagram, ARP, IP options, VLAN, a fragment, odd lengths). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../appliance/pkt-sums.h"
#include "pkt.h"

#define MAX_FRAME 65600

static const struct ap_pkt_local me = {
	.mac = {0x02, 0, 0, 0, 0, 0x0b}, .ip = 0x0a4d0001, .port = 7879};

static uint8_t frame[MAX_FRAME + AP_PKT_HDR_BYTES + AP_PKT_MIN_FRAME];

static void echo(const uint8_t *data, const struct ap_pkt_info *in, unsigned flags)
{
	struct ap_pkt_local peer = {.ip = in->peer.ip, .port = in->peer.port};
	struct ap_pkt_peer to = {.ip = me.ip, .port = me.port};
	struct ap_pkt_info back;
	memcpy(peer.mac, in->peer.mac, 6);
	memcpy(to.mac, me.mac, 6);
	memcpy(frame + AP_PKT_HDR_BYTES, data + in->payload_off, in->payload_len);
	int n = ap_pkt_udp_build(frame, sizeof(frame), &peer, &to, in->payload_len, flags);
	unsigned rx = flags ? AP_PKT_RX_IP_CSUM_OK | AP_PKT_RX_L4_CSUM_OK : 0;
	if (n < 0 || ap_pkt_parse(frame, (size_t)n, &me, rx, &back) != AP_PKT_UDP)
		abort();
	if (back.payload_len != in->payload_len || back.peer.ip != in->peer.ip ||
	    back.peer.port != in->peer.port ||
	    memcmp(frame + back.payload_off, data + in->payload_off, in->payload_len))
		abort();
}

static void one(const uint8_t *data, size_t size)
{
	struct ap_pkt_info in, trusted;
	int k = ap_pkt_parse(data, size, &me, 0, &in);
	if (k < 0 || k >= AP_PKT_NKINDS)
		abort();
	int kt = ap_pkt_parse(data, size, &me, AP_PKT_RX_IP_CSUM_OK | AP_PKT_RX_L4_CSUM_OK, &trusted);
	if (k != AP_PKT_BAD_CSUM && kt != k)
		abort();
	if (k == AP_PKT_UDP) {
		if ((size_t)in.payload_off + in.payload_len > size ||
		    in.payload_off < AP_PKT_HDR_BYTES || trusted.payload_off != in.payload_off ||
		    trusted.payload_len != in.payload_len)
			abort();
		echo(data, &in, 0);
		echo(data, &in, AP_PKT_TX_CSUM_OFFLOAD);
	} else if (k == AP_PKT_ARP_REQUEST) {
		struct ap_pkt_local peer = {.ip = in.peer.ip};
		struct ap_pkt_info r;
		memcpy(peer.mac, in.peer.mac, 6);
		int n = ap_pkt_arp_reply(frame, sizeof(frame), &me, &in.peer);
		if (n != AP_PKT_MIN_FRAME ||
		    ap_pkt_parse(frame, (size_t)n, &peer, 0, &r) != AP_PKT_ARP_OTHER)
			abort();
	}
}

/* Ours: MAC, ethertype, destination address, protocol and port; then the
 * checksums over what the lengths say, where they fit. */
static void make_ours(uint8_t *f, size_t size)
{
	memcpy(f, me.mac, 6);
	pktt_wr16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	for (int i = 0; i < 4; i++)
		ip[16 + i] = (uint8_t)(me.ip >> (24 - 8 * i));
	ip[9] = 17;
	if (ihl >= 20 && 14 + ihl + 8 <= size)
		pktt_wr16(ip + ihl + 2, me.port);
	pktt_fix_sums(f, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_FRAME)
		return 0;
	one(data, size);
	if (size < 14 + 20)
		return 0;
	uint8_t *f = malloc(size);
	if (!f)
		return 0;
	memcpy(f, data, size);
	make_ours(f, size);
	one(f, size);
	free(f);
	return 0;
}
