/* Ethernet, ARP, IPv4 and UDP over byte buffers: what the DPDK port layer
 * (dpdk.h) needs to hand UDP payloads up and send them, and nothing of DPDK, so
 * that it is tested and fuzzed as plain C.
 *
 * Receive: ap_pkt_parse classifies one frame from the wire (hostile bytes) as a
 * UDP datagram to our address and port, an ARP request for our address, or one
 * of the reasons to drop it. Every length and header field is checked before it
 * is used. IPv4 options are skipped (IHL > 5); fragments, VLAN tags and zero
 * UDP checksums are refused; checksums are verified here unless the caller says
 * the NIC did.
 *
 * Send: an ARP reply, a gratuitous ARP, and the Ethernet+IPv4+UDP headers in
 * front of a payload already in place, with the checksums computed here or left
 * for the NIC (AP_PKT_TX_CSUM_OFFLOAD).
 *
 * Addresses and ports are host-order numbers in the API; the frames hold them in
 * network order. */
#ifndef COINFER_APPLIANCE_PKT_H
#define COINFER_APPLIANCE_PKT_H

#include <stddef.h>
#include <stdint.h>

#define AP_PKT_ETH_BYTES 14
#define AP_PKT_ARP_BYTES 28
#define AP_PKT_IP_BYTES 20            /* the header we send: no options */
#define AP_PKT_UDP_BYTES 8
#define AP_PKT_HDR_BYTES (AP_PKT_ETH_BYTES + AP_PKT_IP_BYTES + AP_PKT_UDP_BYTES)
#define AP_PKT_MIN_FRAME 60           /* Ethernet's minimum without the FCS */
#define AP_PKT_MAX_UDP_PAYLOAD (65535 - AP_PKT_IP_BYTES - AP_PKT_UDP_BYTES)

/* What a frame is. Everything from AP_PKT_NOT_OURS on is dropped. */
enum ap_pkt_kind {
	AP_PKT_UDP = 0,       /* IPv4+UDP to our address and port */
	AP_PKT_ARP_REQUEST,   /* who-has our address: answer with ap_pkt_arp_reply */
	AP_PKT_ARP_OTHER,     /* a well-formed ARP that asks nothing of us */
	AP_PKT_NOT_OURS,      /* another MAC, ethertype, address, protocol or port */
	AP_PKT_VLAN,          /* 802.1Q/802.1ad tagged: we configure no VLAN */
	AP_PKT_FRAGMENT,      /* MF set or a fragment offset: no reassembly here */
	AP_PKT_MALFORMED,     /* a length or header field that does not hold */
	AP_PKT_BAD_CSUM,      /* IPv4 header or UDP checksum wrong, or UDP's zero */
	AP_PKT_BAD_SOURCE,    /* a source no reply can go to (multicast MAC, port 0, ...) */
	AP_PKT_NKINDS
};

/* The receive side's knobs. */
enum {
	AP_PKT_RX_IP_CSUM_OK = 1u << 0, /* the NIC verified the IPv4 header checksum */
	AP_PKT_RX_L4_CSUM_OK = 1u << 1, /* the NIC verified the UDP checksum */
};

/* The send side's: with AP_PKT_TX_CSUM_OFFLOAD the IPv4 checksum is left 0 and
 * the UDP checksum holds the pseudo-header sum, which is what NICs that insert
 * both expect (and what rte_ipv4_phdr_cksum gives). */
enum {
	AP_PKT_TX_CSUM_OFFLOAD = 1u << 0,
};

/* This end: our MAC, IPv4 address and UDP port. */
struct ap_pkt_local {
	uint8_t mac[6];
	uint32_t ip;
	uint16_t port;
};

/* The other end of a datagram or ARP request: where a reply goes. */
struct ap_pkt_peer {
	uint8_t mac[6];
	uint32_t ip;
	uint16_t port; /* 0 for ARP */
};

struct ap_pkt_info {
	struct ap_pkt_peer peer;
	uint32_t payload_off;  /* UDP: the payload's offset in the frame */
	uint32_t payload_len;
};

/* Classifies frame[0, len): an enum ap_pkt_kind. For AP_PKT_UDP and
 * AP_PKT_ARP_REQUEST, *out is filled (a UDP payload lies within the frame);
 * otherwise *out is left undefined. flags: AP_PKT_RX_*. */
int ap_pkt_parse(const uint8_t *frame, size_t len, const struct ap_pkt_local *me, unsigned flags,
		 struct ap_pkt_info *out);
const char *ap_pkt_kind_name(int kind);

/* The ARP reply to peer's request into out (cap >= AP_PKT_MIN_FRAME): its
 * length, padded to the Ethernet minimum; -ENOSPC. */
int ap_pkt_arp_reply(uint8_t *out, size_t cap, const struct ap_pkt_local *me,
		     const struct ap_pkt_peer *peer);
/* A gratuitous ARP (an RFC 5227 announcement: a broadcast request for our own
 * address), so that neighbours learn our MAC at start; same returns. */
int ap_pkt_garp(uint8_t *out, size_t cap, const struct ap_pkt_local *me);

/* frame holds payload_len bytes at AP_PKT_HDR_BYTES; writes the headers in front
 * of them for a datagram from me to peer, pads the frame to the Ethernet
 * minimum, and returns its length; -ENOSPC (cap), -EMSGSIZE (payload_len >
 * AP_PKT_MAX_UDP_PAYLOAD). flags: AP_PKT_TX_*. */
int ap_pkt_udp_build(uint8_t *frame, size_t cap, const struct ap_pkt_local *me,
		     const struct ap_pkt_peer *peer, size_t payload_len, unsigned flags);
/* The same, given the payload's ap_pkt_csum_add sum (from 0): a sender that
 * sums the payload where it is warm, before copying it into the frame, spares
 * the read of bytes just written (ignored with AP_PKT_TX_CSUM_OFFLOAD). */
int ap_pkt_udp_build_summed(uint8_t *frame, size_t cap, const struct ap_pkt_local *me,
			    const struct ap_pkt_peer *peer, size_t payload_len, unsigned flags,
			    uint64_t payload_sum);

/* The Internet checksum (RFC 1071). Partial sums are kept in the host's byte
 * order (RFC 1071's byte-order independence), so add chunks of even length and
 * end with any; ap_pkt_csum_fold gives the 16-bit sum as the number the frame
 * holds in network order. */
uint64_t ap_pkt_csum_add(uint64_t acc, const void *p, size_t n);
uint16_t ap_pkt_csum_fold(uint64_t acc);
/* ~fold(add(0, p, n)): the checksum to store; 0 over a range holding its own. */
uint16_t ap_pkt_csum(const void *p, size_t n);

#endif
