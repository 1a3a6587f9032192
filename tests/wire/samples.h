/* Sample wire messages and a field-by-field comparison, shared by the proto
 * tests, the fuzz target and the corpus generator. */
#ifndef COINFER_TESTS_PROTO_SAMPLES_H
#define COINFER_TESTS_PROTO_SAMPLES_H

#include <stdio.h>
#include <string.h>

#include "coinfer/wire.h"

/* Bytes standing in for a codec frame: proto only bounds its length. */
static uint8_t cwt_frame_bytes[4096];

static inline void cwt_fill_frame(void)
{
	uint32_t s = 12345;
	for (size_t i = 0; i < sizeof(cwt_frame_bytes); i++) {
		s = s * 1103515245u + 12345u;
		cwt_frame_bytes[i] = (uint8_t)(s >> 16);
	}
}

static inline void cwt_fill_str(char *dst, size_t n, char first)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)(0x20 + (first - 0x20 + i) % 95); /* every printable byte */
	dst[n] = 0;
}

/* Up to max messages of every type: ordinary values, boundaries (empty and
 * longest strings, zero and large padding, extreme integers). Padding and
 * frames stay within cw_limits_default(). Returns the count. */
static inline size_t cwt_samples(struct cw_msg *out, size_t max)
{
	size_t n = 0;
	struct cw_msg m;
	cwt_fill_frame();
#define CWT_PUT()                                                                      \
	do {                                                                           \
		if (n < max)                                                           \
			out[n] = m;                                                    \
		n++;                                                                   \
	} while (0)

	memset(&m, 0, sizeof(m));
	m.type = CW_HELLO;
	m.hello = (struct cw_hello){.device_id = 42, .model_checksum = 0x0123456789abcdefull,
				    .max_inflight = 4};
	strcpy(m.hello.device_class, "rpi4");
	strcpy(m.hello.model, "branchy-alexnet");
	strcpy(m.hello.app, "cifar10-classify");
	CWT_PUT();
	m.hello = (struct cw_hello){.device_id = 0, .model_checksum = 0, .max_inflight = 1};
	CWT_PUT(); /* all strings empty */
	m.hello = (struct cw_hello){.device_id = UINT64_MAX, .model_checksum = UINT64_MAX,
				    .max_inflight = UINT16_MAX};
	cwt_fill_str(m.hello.device_class, CW_CLASS_MAX, ' ');
	cwt_fill_str(m.hello.model, CW_MODEL_MAX, 'A');
	cwt_fill_str(m.hello.app, CW_APP_MAX, '~');
	CWT_PUT();

	memset(&m, 0, sizeof(m));
	m.type = CW_WELCOME;
	m.welcome = (struct cw_welcome){7, 0x0123456789abcdefull, CW_DEFAULT_MAX_FRAME,
					CW_DEFAULT_MAX_PADDING, 8};
	CWT_PUT();
	m.welcome = (struct cw_welcome){UINT64_MAX, UINT64_MAX, UINT32_MAX, UINT32_MAX, UINT16_MAX};
	CWT_PUT();

	memset(&m, 0, sizeof(m));
	m.type = CW_INFER;
	m.infer = (struct cw_infer){.request_id = 1, .deadline_us = 100000, .device_us = 3500,
				    .flags = CW_INFER_SUGGEST,
				    .action = {.exit = 1, .partition = 5, .bits = 8},
				    .frame = cwt_frame_bytes, .frame_len = 300};
	CWT_PUT();
	m.infer = (struct cw_infer){.request_id = UINT64_MAX, .deadline_us = UINT32_MAX,
				    .device_us = UINT32_MAX, .flags = 0,
				    .action = {.exit = UINT8_MAX, .partition = UINT16_MAX,
					       .bits = 16},
				    .frame = cwt_frame_bytes, .frame_len = sizeof(cwt_frame_bytes)};
	CWT_PUT();
	m.infer = (struct cw_infer){.request_id = 0, .action = {0}, .frame = cwt_frame_bytes,
				    .frame_len = 56}; /* the shortest codec frame */
	CWT_PUT();
	m.infer.action.bits = 2;
	m.infer.frame_len = 57;
	CWT_PUT();

	memset(&m, 0, sizeof(m));
	m.type = CW_RESULT;
	m.result = (struct cw_result){.request_id = 1, .confidence = 0.875f, .label = 3,
				      .batch = 12, .queue_us = 150, .decode_us = 40,
				      .compute_us = 900, .queue_delay_us = 200, .exit = 2,
				      .flags = CW_RESULT_NEXT_VALID,
				      .next = {.exit = 1, .partition = 9, .bits = 4}};
	CWT_PUT();
	m.result = (struct cw_result){.request_id = 2, .confidence = 0.0f, .label = 0, .batch = 1};
	CWT_PUT(); /* no suggestion */
	m.result = (struct cw_result){.request_id = UINT64_MAX, .confidence = 1.0f,
				      .label = UINT16_MAX, .batch = UINT16_MAX,
				      .queue_us = UINT32_MAX, .decode_us = UINT32_MAX,
				      .compute_us = UINT32_MAX, .queue_delay_us = UINT32_MAX,
				      .exit = UINT8_MAX, .flags = CW_RESULT_NEXT_VALID,
				      .next = {.exit = UINT8_MAX, .partition = UINT16_MAX}};
	CWT_PUT();

	memset(&m, 0, sizeof(m));
	m.type = CW_ERROR;
	m.error = (struct cw_error){.request_id = 9, .code = CW_ERR_BUSY};
	strcpy(m.error.msg, "queue full (64 requests)");
	CWT_PUT();
	m.error = (struct cw_error){.request_id = 0, .code = CW_ERR_VERSION};
	CWT_PUT(); /* empty message */
	m.error = (struct cw_error){.request_id = UINT64_MAX, .code = CW_ERR_END - 1};
	cwt_fill_str(m.error.msg, CW_ERRMSG_MAX, '!');
	CWT_PUT();

	memset(&m, 0, sizeof(m));
	m.type = CW_PING;
	m.ping = (struct cw_ping){1, 1000, 0};
	CWT_PUT();
	m.ping = (struct cw_ping){UINT64_MAX, UINT64_MAX, 1};
	CWT_PUT();
	m.ping = (struct cw_ping){3, 123456789, 65536};
	CWT_PUT();
	m.ping = (struct cw_ping){4, 5, CW_DEFAULT_MAX_PADDING};
	CWT_PUT(); /* the default limit exactly */

	memset(&m, 0, sizeof(m));
	m.type = CW_PONG;
	m.pong = (struct cw_pong){1, 1000, 0, 17};
	CWT_PUT();
	m.pong = (struct cw_pong){UINT64_MAX, UINT64_MAX, UINT32_MAX, UINT32_MAX};
	CWT_PUT();

	memset(&m, 0, sizeof(m));
	m.type = CW_DECIDE;
	m.decide = (struct cw_decide){5, 8000000, 200000, 0, 1, 350};
	CWT_PUT();
	m.decide = (struct cw_decide){UINT64_MAX, UINT64_MAX, UINT32_MAX, UINT32_MAX, UINT16_MAX,
				      1000};
	CWT_PUT();

	memset(&m, 0, sizeof(m));
	m.type = CW_DECISION;
	m.decision = (struct cw_decision){5, 1200, {.exit = 2, .partition = 14, .bits = 12}};
	CWT_PUT();
	m.decision = (struct cw_decision){0};
	CWT_PUT();

	/* device identity: a HELLO with a client nonce (the longest HELLO),
	 * CHALLENGE and AUTH */
	memset(&m, 0, sizeof(m));
	m.type = CW_HELLO;
	m.hello = (struct cw_hello){.device_id = 7, .model_checksum = 9, .max_inflight = 2,
				    .has_nonce = 1};
	cwt_fill_str(m.hello.device_class, CW_CLASS_MAX, ' ');
	cwt_fill_str(m.hello.model, CW_MODEL_MAX, 'A');
	cwt_fill_str(m.hello.app, CW_APP_MAX, '~');
	for (int i = 0; i < CW_CLIENT_NONCE_BYTES; i++)
		m.hello.nonce[i] = (uint8_t)(0xa0 + i);
	CWT_PUT();
	memset(&m, 0, sizeof(m));
	m.type = CW_CHALLENGE;
	for (int i = 0; i < CW_SERVER_NONCE_BYTES; i++)
		m.challenge.nonce[i] = (uint8_t)(i * 7 + 1);
	CWT_PUT();
	memset(m.challenge.nonce, 0xff, sizeof(m.challenge.nonce));
	CWT_PUT();
	memset(&m, 0, sizeof(m));
	m.type = CW_AUTH;
	memset(m.auth.mac, 0xff, sizeof(m.auth.mac));
	CWT_PUT();
	memset(m.auth.mac, 0, sizeof(m.auth.mac));
	CWT_PUT();
#undef CWT_PUT
	return n;
}

static inline int cwt_action_eq(const struct cf_action *a, const struct cf_action *b)
{
	return a->exit == b->exit && a->bits == b->bits && a->partition == b->partition;
}

/* 1 when a and b carry the same values (frames compared by content); else 0
 * with the first difference in why. */
static inline int cwt_msg_eq(const struct cw_msg *a, const struct cw_msg *b, char *why, size_t n)
{
#define CWT_F(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			snprintf(why, n, "%s: %s differs", cw_type_name(a->type), #cond); \
			return 0;                                                      \
		}                                                                      \
	} while (0)
	CWT_F(a->type == b->type);
	switch (a->type) {
	case CW_HELLO:
		CWT_F(a->hello.device_id == b->hello.device_id);
		CWT_F(a->hello.model_checksum == b->hello.model_checksum);
		CWT_F(a->hello.max_inflight == b->hello.max_inflight);
		CWT_F(!strcmp(a->hello.device_class, b->hello.device_class));
		CWT_F(!strcmp(a->hello.model, b->hello.model));
		CWT_F(!strcmp(a->hello.app, b->hello.app));
		CWT_F(a->hello.has_nonce == b->hello.has_nonce);
		CWT_F(!memcmp(a->hello.nonce, b->hello.nonce, sizeof(a->hello.nonce)));
		break;
	case CW_CHALLENGE:
		CWT_F(!memcmp(a->challenge.nonce, b->challenge.nonce, CW_SERVER_NONCE_BYTES));
		break;
	case CW_AUTH:
		CWT_F(!memcmp(a->auth.mac, b->auth.mac, CW_AUTH_MAC_BYTES));
		break;
	case CW_WELCOME:
		CWT_F(a->welcome.session_id == b->welcome.session_id);
		CWT_F(a->welcome.model_checksum == b->welcome.model_checksum);
		CWT_F(a->welcome.max_frame == b->welcome.max_frame);
		CWT_F(a->welcome.max_padding == b->welcome.max_padding);
		CWT_F(a->welcome.max_inflight == b->welcome.max_inflight);
		break;
	case CW_INFER:
		CWT_F(a->infer.request_id == b->infer.request_id);
		CWT_F(a->infer.deadline_us == b->infer.deadline_us);
		CWT_F(a->infer.device_us == b->infer.device_us);
		CWT_F(a->infer.flags == b->infer.flags);
		CWT_F(cwt_action_eq(&a->infer.action, &b->infer.action));
		CWT_F(a->infer.frame_len == b->infer.frame_len);
		CWT_F(!memcmp(a->infer.frame, b->infer.frame, a->infer.frame_len));
		break;
	case CW_RESULT:
		CWT_F(a->result.request_id == b->result.request_id);
		CWT_F(!memcmp(&a->result.confidence, &b->result.confidence, sizeof(float)));
		CWT_F(a->result.label == b->result.label);
		CWT_F(a->result.batch == b->result.batch);
		CWT_F(a->result.queue_us == b->result.queue_us);
		CWT_F(a->result.decode_us == b->result.decode_us);
		CWT_F(a->result.compute_us == b->result.compute_us);
		CWT_F(a->result.queue_delay_us == b->result.queue_delay_us);
		CWT_F(a->result.exit == b->result.exit);
		CWT_F(a->result.flags == b->result.flags);
		CWT_F(cwt_action_eq(&a->result.next, &b->result.next));
		break;
	case CW_ERROR:
		CWT_F(a->error.request_id == b->error.request_id);
		CWT_F(a->error.code == b->error.code);
		CWT_F(!strcmp(a->error.msg, b->error.msg));
		break;
	case CW_PING:
		CWT_F(a->ping.nonce == b->ping.nonce);
		CWT_F(a->ping.timestamp == b->ping.timestamp);
		CWT_F(a->ping.padding_len == b->ping.padding_len);
		break;
	case CW_PONG:
		CWT_F(a->pong.nonce == b->pong.nonce);
		CWT_F(a->pong.timestamp == b->pong.timestamp);
		CWT_F(a->pong.padding_len == b->pong.padding_len);
		CWT_F(a->pong.hold_us == b->pong.hold_us);
		break;
	case CW_DECIDE:
		CWT_F(a->decide.request_id == b->decide.request_id);
		CWT_F(a->decide.bandwidth_bps == b->decide.bandwidth_bps);
		CWT_F(a->decide.deadline_us == b->decide.deadline_us);
		CWT_F(a->decide.energy_uj == b->decide.energy_uj);
		CWT_F(a->decide.class_id == b->decide.class_id);
		CWT_F(a->decide.load_permille == b->decide.load_permille);
		break;
	case CW_DECISION:
		CWT_F(a->decision.request_id == b->decision.request_id);
		CWT_F(a->decision.queue_delay_us == b->decision.queue_delay_us);
		CWT_F(cwt_action_eq(&a->decision.action, &b->decision.action));
		break;
	case CW_TYPE_END:
		break;
	}
#undef CWT_F
	return 1;
}

#endif
