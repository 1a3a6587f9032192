/* coinfer wire protocol: the messages between device agents and the edge
 * appliance over a TCP byte stream (layout and rules in docs/protocol.md).
 *
 * Pure encode/decode over byte buffers: no sockets, threads or allocation.
 * Functions return 0 or -errno (never set errno). Decoding treats its input as
 * hostile: every length is checked against the caller's struct cw_limits before
 * it is used, and errors carry a message naming the offending field when err is
 * not NULL. Decode errors:
 *   -EAGAIN           more bytes are needed (an incomplete header or message)
 *   -EPROTONOSUPPORT  the peer speaks another protocol version (answer
 *                     CW_ERR_VERSION and close)
 *   -EMSGSIZE         a length above the limits (known from the header alone)
 *   -EBADMSG          anything else malformed: magic, type, flags, field values
 * Encoders return -EINVAL for field values the decoder would refuse and -ENOSPC
 * (with *len set to the size needed) when the buffer is short. */
#ifndef COINFER_WIRE_H
#define COINFER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/action.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_VERSION 1
#define CW_HEADER_BYTES 16
#define CW_DEFAULT_PORT 7878 /* the appliance listens, the agent connects, unless told */

/* String bounds in bytes (printable ASCII, 0x20..0x7e, no terminator on the wire). */
#define CW_CLASS_MAX 32
#define CW_MODEL_MAX 64
#define CW_APP_MAX 64
#define CW_ERRMSG_MAX 200

/* Header + fixed part of INFER: the codec frame starts at this offset. */
#define CW_INFER_PREFIX_BYTES (CW_HEADER_BYTES + 24)
/* Bodies of PING and INFER without their padding / frame. */
#define CW_PING_FIXED_BYTES 16
#define CW_INFER_FIXED_BYTES 24
/* The largest body of every type whose size does not depend on the limits
 * (HELLO and ERROR with their longest strings): max_body must be at least this. */
#define CW_SMALL_BODY_MAX 211

/* The handshake with device keys (docs/protocol.md, "Device identity"). */
#define CW_CLIENT_NONCE_BYTES 24 /* HELLO's, when it has one */
#define CW_SERVER_NONCE_BYTES 32 /* CHALLENGE's */
#define CW_AUTH_MAC_BYTES 32     /* AUTH's: HMAC-SHA-256 */
#define CW_DEVICE_KEY_BYTES 32
#define CW_AUTH_LABEL "coinfer-hello-v1"
/* The transcript's largest size: label, version, server nonce, HELLO's body. */
#define CW_AUTH_TRANSCRIPT_MAX 256

#define CW_DEFAULT_MAX_FRAME (1u << 20)
#define CW_DEFAULT_MAX_PADDING (256u << 10)

enum cw_type {
	CW_HELLO = 1,    /* device -> edge: who I am, which model */
	CW_WELCOME = 2,  /* edge -> device: session and the limits enforced */
	CW_INFER = 3,    /* device -> edge: one request with its codec frame */
	CW_RESULT = 4,   /* edge -> device: the answer, timings, a suggested next action */
	CW_ERROR = 5,    /* either way: a refusal, tied to a request or not */
	CW_PING = 6,     /* either way: RTT and uplink probe */
	CW_PONG = 7,     /* reply to PING */
	CW_DECIDE = 8,   /* device -> edge: the policy state, asking for an action */
	CW_DECISION = 9, /* edge -> device: the action */
	CW_CHALLENGE = 10, /* edge -> device: the server nonce a keyed HELLO must answer */
	CW_AUTH = 11,      /* device -> edge: the MAC over the handshake's transcript */
	CW_TYPE_END
};

enum cw_error_code {
	CW_ERR_BUSY = 1,           /* queue full or in-flight limit reached: retry or run locally */
	CW_ERR_DEADLINE = 2,       /* the budget cannot be met (or expired in the queue) */
	CW_ERR_BAD_FRAME = 3,      /* the codec frame failed validation or decoding */
	CW_ERR_BAD_REQUEST = 4,    /* a malformed message or values this model cannot serve */
	CW_ERR_VERSION = 5,        /* unsupported protocol version: the sender closes */
	CW_ERR_MODEL_MISMATCH = 6, /* HELLO's model name or checksum is not the server's */
	CW_ERR_SHUTDOWN = 7,       /* the server is stopping */
	CW_ERR_INTERNAL = 8,       /* the server failed; not the device's fault */
	CW_ERR_TOO_LARGE = 9,      /* a length above the limits of WELCOME */
	CW_ERR_NO_SESSION = 10,    /* a message other than PING before HELLO, or a second HELLO */
	CW_ERR_UNSUPPORTED = 11,   /* a valid message the receiver does not serve */
	CW_ERR_UNKNOWN_DEVICE = 12, /* no key for HELLO's device id: the sender closes */
	CW_ERR_REVOKED = 13,       /* the device's key is revoked: the sender closes */
	CW_ERR_AUTH_FAILED = 14,   /* no client nonce, a wrong MAC or a stale challenge: closes */
	CW_ERR_RATE_LIMITED = 15,  /* too many HELLOs from this address or device id: closes */
	CW_ERR_END
};

/* INFER flags */
#define CW_INFER_SUGGEST 0x1u /* fill RESULT's next action */
/* RESULT flags */
#define CW_RESULT_NEXT_VALID 0x1u /* next holds a suggestion; otherwise it is all 0 */

struct cw_limits {
	uint32_t max_body;    /* any body (the reader's buffer is header + this) */
	uint32_t max_frame;   /* the codec frame of INFER */
	uint32_t max_padding; /* the padding of PING */
};

/* Limits with max_body just large enough for those frame and padding sizes. */
struct cw_limits cw_limits_make(uint32_t max_frame, uint32_t max_padding);
/* cw_limits_make(CW_DEFAULT_MAX_FRAME, CW_DEFAULT_MAX_PADDING) */
struct cw_limits cw_limits_default(void);

struct cw_header {
	uint8_t version;
	enum cw_type type;
	uint16_t flags;
	uint32_t body_len;
	size_t msg_len; /* CW_HEADER_BYTES + body_len */
};

/* Actions (INFER's, RESULT's next, DECISION's) are struct cf_action: the exit
 * index travels as a u8, the bits as a u8, the partition as a u16, so encoding
 * refuses an exit outside 0..255 or a partition outside 0..65535. bits is 0
 * (unquantized: raw32/raw16 frame) or CC_BITS_MIN..CC_BITS_MAX. Whether the
 * exit and partition exist is the model's business, not checked here. */

struct cw_hello {
	uint64_t device_id;
	uint64_t model_checksum; /* cr_model.checksum: the model file's XXH64 trailer */
	uint16_t max_inflight;   /* >= 1 */
	char device_class[CW_CLASS_MAX + 1];
	char model[CW_MODEL_MAX + 1];
	char app[CW_APP_MAX + 1];
	/* A device with a key sends a client nonce (after the strings on the
	 * wire); without one the HELLO is version 1's original layout. */
	uint8_t has_nonce;
	uint8_t nonce[CW_CLIENT_NONCE_BYTES];
};

struct cw_challenge {
	uint8_t nonce[CW_SERVER_NONCE_BYTES];
};

struct cw_auth {
	uint8_t mac[CW_AUTH_MAC_BYTES];
};

struct cw_welcome {
	uint64_t session_id;
	uint64_t model_checksum;
	uint32_t max_frame;    /* INFER frames above this are refused */
	uint32_t max_padding;  /* PING padding above this is refused */
	uint16_t max_inflight; /* >= 1; requests beyond it get CW_ERR_BUSY */
};

struct cw_infer {
	uint64_t request_id;
	uint32_t deadline_us; /* budget left when sent (no shared clock) */
	uint32_t device_us;   /* time the device already spent (head + encode); 0: not reported */
	uint32_t flags;       /* CW_INFER_* */
	struct cf_action action;
	const uint8_t *frame; /* decode: points into the message buffer */
	size_t frame_len;
};

struct cw_result {
	uint64_t request_id;
	float confidence; /* 0..1 */
	uint16_t label;
	uint16_t batch; /* >= 1 */
	uint32_t queue_us, decode_us, compute_us;
	uint32_t queue_delay_us; /* the edge's current estimate */
	uint8_t exit;            /* the exit taken */
	uint8_t flags;           /* CW_RESULT_* */
	struct cf_action next;
};

struct cw_error {
	uint64_t request_id; /* 0 when not tied to a request */
	uint16_t code;       /* enum cw_error_code */
	char msg[CW_ERRMSG_MAX + 1];
};

struct cw_ping {
	uint64_t nonce;
	uint64_t timestamp;   /* sender's clock, opaque to the receiver, echoed */
	uint32_t padding_len; /* encode: zeros; decode: content ignored */
};

struct cw_pong {
	uint64_t nonce, timestamp; /* echoed */
	uint32_t padding_len;      /* padding bytes the PING carried */
	uint32_t hold_us;          /* receiver's time from PING complete to PONG sent */
};

struct cw_decide {
	uint64_t request_id;
	uint64_t bandwidth_bps; /* the device's uplink estimate, bit/s */
	uint32_t deadline_us;
	uint32_t energy_uj; /* energy budget for the request; 0: unconstrained */
	uint16_t class_id;  /* device class index in the appliance's table */
	uint16_t load_permille; /* device CPU in use, 0..1000 */
};

struct cw_decision {
	uint64_t request_id; /* DECIDE's, echoed */
	uint32_t queue_delay_us;
	struct cf_action action;
};

struct cw_msg {
	enum cw_type type;
	/* Set by decoding, also when the body fails validation (so an INFER that
	 * is refused can be answered): the body's leading u64 for the types tied to
	 * a request (INFER, RESULT, ERROR, DECIDE, DECISION), else 0. Encoders
	 * ignore it. */
	uint64_t request_id;
	union {
		struct cw_hello hello;
		struct cw_welcome welcome;
		struct cw_infer infer;
		struct cw_result result;
		struct cw_error error;
		struct cw_ping ping;
		struct cw_pong pong;
		struct cw_decide decide;
		struct cw_decision decision;
		struct cw_challenge challenge;
		struct cw_auth auth;
	};
};

const char *cw_type_name(enum cw_type t);
const char *cw_error_name(enum cw_error_code c);
/* The ERROR code that answers a decode error (-EPROTONOSUPPORT: VERSION,
 * -EMSGSIZE: TOO_LARGE, else BAD_REQUEST). */
enum cw_error_code cw_error_for(int ret);

/* ---- encoding ------------------------------------------------------------ */

/* Each writes header and body to buf[0..cap) and sets *len to the message size. */
int cw_encode_hello(uint8_t *buf, size_t cap, const struct cw_hello *m, size_t *len, char *err,
		    size_t errlen);
int cw_encode_welcome(uint8_t *buf, size_t cap, const struct cw_welcome *m, size_t *len,
		      char *err, size_t errlen);
/* Copies m->frame (memmove: it may already sit at buf + CW_INFER_PREFIX_BYTES). */
int cw_encode_infer(uint8_t *buf, size_t cap, const struct cw_infer *m, size_t *len, char *err,
		    size_t errlen);
/* Writes only the first CW_INFER_PREFIX_BYTES, for a frame of m->frame_len bytes
 * the caller puts (e.g. cc_frame_encode's output) at buf + CW_INFER_PREFIX_BYTES;
 * m->frame is ignored and *len is the whole message's size. */
int cw_encode_infer_header(uint8_t *buf, size_t cap, const struct cw_infer *m, size_t *len,
			   char *err, size_t errlen);
int cw_encode_result(uint8_t *buf, size_t cap, const struct cw_result *m, size_t *len,
		     char *err, size_t errlen);
int cw_encode_error(uint8_t *buf, size_t cap, const struct cw_error *m, size_t *len, char *err,
		    size_t errlen);
int cw_encode_ping(uint8_t *buf, size_t cap, const struct cw_ping *m, size_t *len, char *err,
		   size_t errlen);
int cw_encode_pong(uint8_t *buf, size_t cap, const struct cw_pong *m, size_t *len, char *err,
		   size_t errlen);
int cw_encode_decide(uint8_t *buf, size_t cap, const struct cw_decide *m, size_t *len,
		     char *err, size_t errlen);
int cw_encode_decision(uint8_t *buf, size_t cap, const struct cw_decision *m, size_t *len,
		       char *err, size_t errlen);
int cw_encode_challenge(uint8_t *buf, size_t cap, const struct cw_challenge *m, size_t *len,
			char *err, size_t errlen);
int cw_encode_auth(uint8_t *buf, size_t cap, const struct cw_auth *m, size_t *len, char *err,
		   size_t errlen);
/* Dispatches on m->type. */
int cw_encode(uint8_t *buf, size_t cap, const struct cw_msg *m, size_t *len, char *err,
	      size_t errlen);

/* The bytes AUTH's MAC covers: CW_AUTH_LABEL, the version byte, the server
 * nonce, then HELLO's whole body as encoded (device id, model checksum,
 * max_inflight, class, model, application, client nonce), into
 * buf[0..CW_AUTH_TRANSCRIPT_MAX). -EINVAL for a HELLO without a client nonce or
 * one the encoder refuses. Both sides build it from the decoded HELLO, so a
 * HELLO field changed on the way fails the MAC. */
int cw_auth_transcript(uint8_t *buf, size_t cap, const struct cw_hello *h,
		       const uint8_t snonce[CW_SERVER_NONCE_BYTES], size_t *len);

/* ---- decoding ------------------------------------------------------------ */

/* Validates the header at buf[0..len): 0 when a whole valid header is there
 * (the body may not be), -EAGAIN when the bytes present are a valid prefix of
 * one. Bytes are checked as they arrive: a wrong magic fails at its first byte,
 * a version at byte 4, an oversized body_len once its 4 bytes are in. */
int cw_parse_header(const uint8_t *buf, size_t len, const struct cw_limits *lim,
		    struct cw_header *h, char *err, size_t errlen);

/* Decodes one whole message, msg[0..len) with len exactly its size (-EAGAIN when
 * shorter, -EBADMSG when longer). INFER's frame points into msg. */
int cw_decode(const uint8_t *msg, size_t len, const struct cw_limits *lim, struct cw_msg *out,
	      char *err, size_t errlen);

/* ---- stream reassembly ----------------------------------------------------- */

/* Reassembles messages from a byte stream in a caller buffer of at least
 * cw_reader_bytes(lim) bytes; allocates nothing. Two ways to feed it:
 *
 * - recv into the reader (poll/epoll, plain sockets): cw_reader_space() gives
 *   where to recv and how much fits, cw_reader_commit() the bytes received, then
 *   call cw_reader_next() until -EAGAIN. Messages it returns point into the
 *   reader buffer and stay valid until the next cw_reader_space(), _take() or
 *   _reset() (so every message of one recv can be held at once).
 * - bytes already received elsewhere (io_uring provided buffers): call
 *   cw_reader_take() on each buffer until -EAGAIN. A message lying whole in the
 *   buffer is decoded in place (it points into that buffer, valid while the
 *   caller keeps it); only a message split across buffers is copied, piecewise,
 *   into the reader, and stays valid until the next call.
 *
 * Errors in the framing (header: magic, version, type, flags, length) leave the
 * stream unusable: every later call returns the same error and
 * cw_reader_failed() reports it; close the connection (after an ERROR reply).
 * An error in a body only skips that message: the reader goes on with the next,
 * and out->type / out->request_id say which message it was. */
struct cw_reader {
	uint8_t *buf;
	size_t cap;
	size_t start, end; /* unconsumed bytes: buf[start..end) */
	struct cw_limits lim;
	int failed;
};

size_t cw_reader_bytes(const struct cw_limits *lim);
/* -EINVAL when cap < cw_reader_bytes(lim) or lim->max_body < CW_SMALL_BODY_MAX. */
int cw_reader_init(struct cw_reader *r, uint8_t *buf, size_t cap, const struct cw_limits *lim);
void cw_reader_reset(struct cw_reader *r);
/* Where the next bytes go; *avail > 0 unless a whole message is waiting for
 * cw_reader_next(). Moves unconsumed bytes to the start of the buffer. */
uint8_t *cw_reader_space(struct cw_reader *r, size_t *avail);
/* -EINVAL when n exceeds the space given. */
int cw_reader_commit(struct cw_reader *r, size_t n);
/* 0 with the next message, -EAGAIN when none is complete, or an error; out is
 * zeroed first (on a body error it keeps the message's type and request_id). */
int cw_reader_next(struct cw_reader *r, struct cw_msg *out, char *err, size_t errlen);
/* Consumes from *data / *len (both advanced) up to the end of the next message. */
int cw_reader_take(struct cw_reader *r, const uint8_t **data, size_t *len, struct cw_msg *out,
		   char *err, size_t errlen);
/* Bytes held that are not yet part of a returned message (nonzero at EOF: the
 * peer closed mid-message). */
size_t cw_reader_buffered(const struct cw_reader *r);
/* 0, or the framing error that ended the stream. */
int cw_reader_failed(const struct cw_reader *r);

#ifdef __cplusplus
}
#endif
#endif
