/* coinfer wire protocol, datagram form: the same messages as over TCP (the
 * bytes cw_encode writes), carried in UDP datagrams of a 24-byte header and a
 * slice of the message, for small requests and responses over lossy links
 * (docs/protocol.md, "Datagrams (UDP)").
 *
 * Four pieces, all pure: no sockets, threads, allocation, locks or clock reads.
 * Time is passed in (now_ns, any monotonic nanosecond clock), memory is the
 * caller's and sized up front, so a poll-mode loop (io_uring, DPDK) can call
 * them per datagram. Functions return 0 (or a count) or -errno.
 *
 *   encode/decode  one datagram; decoding treats its input as hostile and
 *                  names the offending field in err, like wire.h:
 *                  -EPROTONOSUPPORT another version, -EMSGSIZE a length or
 *                  count above the limits, -EBADMSG anything else malformed
 *   reassembly     fragments into messages, under one memory bound
 *   rto            the retransmission timeout of a peer (RFC 6298)
 *   sender         which fragments of one outstanding message to send when */
#ifndef COINFER_WIRE_DGRAM_H
#define COINFER_WIRE_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coinfer/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_DG_VERSION 1
#define CW_DG_HEADER_BYTES 24
#define CW_DG_MAX_FRAGS 1024
#define CW_DG_BITMAP_MAX (CW_DG_MAX_FRAGS / 8)
/* 1500-byte MTU - 20 IPv4 - 8 UDP - 24: the default fragment payload. */
#define CW_DG_DEFAULT_PAYLOAD 1448

enum cw_dg_kind {
	CW_DG_DATA = 1, /* a fragment of a message */
	CW_DG_ACK = 2,  /* the fragments of a message received so far */
};

/* The receiver's bounds; a header above them is -EMSGSIZE. */
struct cw_dg_limits {
	uint32_t max_msg;   /* message bytes (16-byte CW header + body) */
	uint16_t max_frags; /* 1..CW_DG_MAX_FRAGS */
};

/* max_msg = CW_HEADER_BYTES + lim->max_body (what the TCP reader accepts),
 * max_frags = CW_DG_MAX_FRAGS. */
struct cw_dg_limits cw_dg_limits_for(const struct cw_limits *lim);

/* One datagram, decoded or to encode. */
struct cw_dg {
	enum cw_dg_kind kind;
	uint64_t session; /* WELCOME's session id; 0 only before it (HELLO, PING) */
	uint32_t msg_id;  /* the sender's, per session and direction, increasing; != 0 */
	uint16_t index;   /* DATA: this fragment, < count; ACK: fragments received, 1..count */
	uint16_t count;   /* fragments of the message, 1..max_frags */
	uint32_t msg_len; /* bytes of the whole message, 1..max_msg */
	/* DATA: the fragment's bytes; ACK: the bitmap, ceil(count / 8) bytes (bit
	 * i of byte i / 8: fragment i received). Decoding points into the
	 * datagram. Encoding an ACK with payload NULL writes a full bitmap. */
	const uint8_t *payload;
	uint32_t payload_len;
};

/* ---- fragments --------------------------------------------------------------- */

/* The fragment count for msg_len bytes in payloads of at most max_payload:
 * ceil(msg_len / max_payload). -EINVAL for a 0 argument, -EMSGSIZE above
 * CW_DG_MAX_FRAGS. Every fragment but the last then holds
 * ceil(msg_len / count) <= max_payload bytes. */
int cw_dg_frags(uint32_t msg_len, uint32_t max_payload, uint16_t *count);
/* Where fragment index of a message of msg_len bytes in count fragments lies
 * in the message. -EBADMSG when no such fragment exists: index >= count, or a
 * count the length cannot fill (the last fragment would be empty). */
int cw_dg_frag(uint32_t msg_len, uint16_t count, uint16_t index, uint32_t *off, uint32_t *len);
/* ceil(count / 8): an ACK's bitmap bytes. */
static inline uint32_t cw_dg_bitmap_bytes(uint16_t count)
{
	return (uint32_t)(count + 7) / 8;
}

/* ---- encode / decode --------------------------------------------------------- */

/* Writes d (header and payload) to buf[0..cap) and sets *len. -EINVAL for a
 * datagram the decoder would refuse, -ENOSPC (with *len the size needed) when
 * cap is short. */
int cw_dg_encode(uint8_t *buf, size_t cap, const struct cw_dg *d, size_t *len, char *err,
		 size_t errlen);
/* The 24-byte header alone, for a payload sent from where it lies (iovec,
 * mbuf chain): d is checked as a whole (payload_len included; the payload's
 * bytes are not read unless d is a session-0 DATA of index 0, or an ACK). */
int cw_dg_encode_header(uint8_t *buf, size_t cap, const struct cw_dg *d, char *err,
			size_t errlen);
/* Fills d as fragment index of msg[0..msg_len) in count fragments (payload
 * points into msg). -EBADMSG as cw_dg_frag. */
int cw_dg_data(struct cw_dg *d, uint64_t session, uint32_t msg_id, const uint8_t *msg,
	       uint32_t msg_len, uint16_t count, uint16_t index);

/* Decodes one whole datagram dg[0..len) (a datagram is never partial: a short
 * one is -EBADMSG). The payload points into dg. */
int cw_dg_decode(const uint8_t *dg, size_t len, const struct cw_dg_limits *lim,
		 struct cw_dg *out, char *err, size_t errlen);

/* ---- reassembly -------------------------------------------------------------- */

/* Fragments into messages, keyed by (peer, msg_id): peer is the caller's u64
 * for who sent it and in which session (e.g. the session id, or a hash of the
 * address for session 0), so that message ids never repeat under one key
 * within timeout_ns. All memory is the caller's, given at init: a table of
 * max_msgs slots and an arena of max_bytes for the messages' bytes, never more
 * than max_bytes of it in use. See wire/dgram-reasm.c for the ownership rules. */
struct cw_dg_reasm;

struct cw_dg_reasm_config {
	size_t max_bytes;    /* the arena: the bound on message bytes held (>= 64) */
	uint32_t max_msgs;   /* messages in progress or held by the caller (1..65536) */
	uint64_t timeout_ns; /* a message incomplete this long after its first fragment
				is dropped; a completed one's id is remembered as long */
	uint64_t seed;       /* of the key hash (a random one keeps keys unguessable) */
};

struct cw_dg_reasm_stats {
	uint64_t completed;    /* messages returned (one-fragment ones included) */
	uint64_t duplicates;   /* fragments already held, or of a completed message */
	uint64_t timeouts;     /* incomplete messages dropped by cw_dg_reasm_expire */
	uint64_t refused;      /* new messages refused: no slot or no arena room */
	uint64_t inconsistent; /* fragments whose count or length differ from the message's */
	size_t bytes_in_use;   /* arena bytes of messages in progress and held */
	size_t bytes_peak;
	uint32_t partial, held, done; /* slots: in progress, held by the caller, remembered */
};

/* What one DATA fragment did. */
struct cw_dg_result {
	/* Complete: the message. A one-fragment message is the datagram's own
	 * payload (no copy, valid as long as the datagram), ref 0; a reassembled
	 * one lies in the arena, read-only, until cw_dg_reasm_release(ref).
	 * Either is remembered (without its bytes) for timeout_ns while a slot
	 * is free for it, so that a retransmission is a duplicate; a message
	 * can still come twice (a record reclaimed for room, a peer key reused):
	 * the session layer's request ids make that harmless. */
	const uint8_t *msg;
	uint32_t len;
	uint64_t ref;
	bool complete;
	/* Answer with an ACK now (the receiver's rules, docs/protocol.md):
	 * received and bitmap are its fields (bitmap NULL: all count fragments;
	 * else valid until the next call on the reassembler). */
	bool ack;
	uint16_t received;
	const uint8_t *bitmap;
};

/* The memory cfg needs, for one buffer given to init; 0 when cfg is invalid. */
size_t cw_dg_reasm_bytes(const struct cw_dg_reasm_config *cfg);
/* -EINVAL when cfg is invalid or size < cw_dg_reasm_bytes(cfg). mem must stay
 * valid (and unused by others) as long as the reassembler. */
int cw_dg_reasm_init(struct cw_dg_reasm **out, void *mem, size_t size,
		     const struct cw_dg_reasm_config *cfg);

/* Adds a decoded DATA fragment from peer; res says what happened.
 *   0          accepted: complete or not (res)
 *   -EALREADY  a duplicate: a fragment already held, or of a message
 *              completed within timeout_ns (res->ack set, bitmap for it)
 *   -ENOBUFS   a new message with no free slot or arena room: dropped
 *              (the sender retries after its RTO), counted in refused
 *   -EBADMSG   count or length differ from the message's earlier fragments
 *   -EINVAL    not a DATA */
int cw_dg_reasm_add(struct cw_dg_reasm *r, uint64_t peer, const struct cw_dg *d,
		    uint64_t now_ns, struct cw_dg_result *res);
/* Gives back a reassembled message's arena bytes. -ESTALE for a ref that is
 * not held (already released, or never returned). */
int cw_dg_reasm_release(struct cw_dg_reasm *r, uint64_t ref);
/* Drops the messages in progress whose time is up and forgets completed ones
 * older than timeout_ns; returns how many in progress were dropped. */
uint32_t cw_dg_reasm_expire(struct cw_dg_reasm *r, uint64_t now_ns);
/* The bitmap of a message in progress (for an ACK); NULL, with received =
 * count, for one complete and remembered; -ENOENT when none is known. */
int cw_dg_reasm_bitmap(const struct cw_dg_reasm *r, uint64_t peer, uint32_t msg_id,
		       const uint8_t **bitmap, uint16_t *received);
void cw_dg_reasm_stats(const struct cw_dg_reasm *r, struct cw_dg_reasm_stats *out);

/* ---- retransmission timeout -------------------------------------------------- */

#define CW_DG_RTO_FLOOR_NS 5000000ull    /* 5 ms, as eRPC (Kalia et al. 2019) */
#define CW_DG_RTO_CAP_NS 1000000000ull   /* 1 s */
#define CW_DG_RTO_INITIAL_NS 100000000ull /* 100 ms, until the first sample */
#define CW_DG_RTT_MAX_NS 60000000000ull  /* samples are clamped to 60 s */

/* One peer's RTO, RFC 6298 in integer nanoseconds. Karn's rule is the
 * caller's: never sample a message any fragment of which was sent twice
 * (cw_dg_sender_ack does that). */
struct cw_dg_rto {
	uint64_t srtt, rttvar; /* 0 until the first sample */
	uint64_t rto;          /* the timeout now: backed off, floored, capped */
	uint64_t floor, cap;
	uint32_t backoffs; /* since the last sample */
	bool sampled;
};

/* floor_ns / cap_ns / initial_ns 0: the defaults above. -EINVAL when floor >
 * cap. The RTO starts at initial (clamped to floor..cap). */
int cw_dg_rto_init(struct cw_dg_rto *r, uint64_t floor_ns, uint64_t cap_ns, uint64_t initial_ns);
/* A round-trip sample: srtt, rttvar as RFC 6298 (2.2, 2.3), rto = srtt +
 * 4 rttvar within floor..cap; the backoff is reset. */
void cw_dg_rto_sample(struct cw_dg_rto *r, uint64_t rtt_ns);
/* A timeout fired: rto x 1.5 (KCP's backoff), capped. */
void cw_dg_rto_backoff(struct cw_dg_rto *r);

/* ---- sender ------------------------------------------------------------------ */

/* The sender's view of one outstanding message: which fragments to (re)send,
 * and when (selective repeat: only those the ACKs do not cover). */
struct cw_dg_sender {
	uint8_t acked[CW_DG_BITMAP_MAX];
	uint8_t due[CW_DG_BITMAP_MAX];  /* to send now */
	uint8_t fast[CW_DG_BITMAP_MAX]; /* resent on an ACK since the last timeout */
	uint32_t msg_len;
	uint16_t count, acked_n;
	uint16_t tries, max_tries; /* rounds sent (1 at start); the last allowed */
	uint16_t next;             /* where cw_dg_sender_next looks first */
	bool resent;               /* some fragment went twice: no RTT sample (Karn) */
	bool done, failed;
	uint64_t first_ns, deadline_ns, rto_ns;
};

/* Starts a message of msg_len bytes in count fragments: all due, the timeout at
 * now + rto_ns. max_tries (>= 1) bounds the rounds: after the last one's
 * timeout cw_dg_sender_tick says -ETIMEDOUT and the caller falls back.
 * -EBADMSG when count cannot hold msg_len, -EINVAL for max_tries 0. */
int cw_dg_sender_start(struct cw_dg_sender *s, uint32_t msg_len, uint16_t count,
		       uint16_t max_tries, uint64_t now_ns, uint64_t rto_ns);
/* The next fragment to send now (it stops being due); -EAGAIN when none. */
int cw_dg_sender_next(struct cw_dg_sender *s, uint16_t *index);
/* An ACK for this message (its count and length must be the message's:
 * -EBADMSG); its bitmap replaces what the sender knew (a receiver may have
 * dropped and restarted the message), and only a full one ends it. Returns
 * the fragments now due again (those below the highest acknowledged one that
 * are missing, each once per round), 0 when done or none; *rtt_ns is a
 * sample for cw_dg_rto_sample when the ACK completes a message nothing of
 * which was resent, else 0. */
int cw_dg_sender_ack(struct cw_dg_sender *s, const struct cw_dg *ack, uint64_t now_ns,
		     uint64_t *rtt_ns);
/* The clock. Before the deadline: 0. At it: every unacknowledged fragment is
 * due again, the next deadline is now + rto_ns (the caller's backed-off RTO)
 * and the count of due fragments is returned; after max_tries rounds:
 * -ETIMEDOUT. */
int cw_dg_sender_tick(struct cw_dg_sender *s, uint64_t now_ns, uint64_t rto_ns);

#ifdef __cplusplus
}
#endif
#endif
