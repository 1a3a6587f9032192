/* The sample messages of docs/protocol.md ("Sample messages"), as the values the
 * prose there gives: test-wire-doc checks that the hex dumps in the document
 * are these messages, byte for byte, both ways. */
#ifndef COINFER_TESTS_PROTO_DOC_SAMPLES_H
#define COINFER_TESTS_PROTO_DOC_SAMPLES_H

#include <string.h>

#include "coinfer/codec-frame.h"
#include "coinfer/wire.h"
#include "coinfer/wire-dgram.h"

#define CWD_SAMPLES 5
#define CWD_CHECKSUM 0xf2c48b9f70f86203ull
/* The INFER's tensor: 512 x 1 x 1, the input of exit index 2's tail at
 * partition 18 (after fc6), values 0, 1, 2, 3, 0, 1, ... */
#define CWD_ELEMS 512

/* Fills out[0..CWD_SAMPLES) in the document's order; the INFER's frame is
 * encoded into frame[0..cap). 0, or cc_frame_encode's error. */
static inline int cwd_samples(struct cw_msg *out, uint8_t *frame, size_t cap)
{
	static float x[CWD_ELEMS];
	uint32_t dims[3] = {CWD_ELEMS, 1, 1};
	size_t flen;
	for (int i = 0; i < CWD_ELEMS; i++)
		x[i] = (float)(i % 4);
	int ret = cc_frame_encode(x, 3, dims, CC_CODEC_PACKED, 2, 0, frame, cap, &flen, NULL, 0);
	if (ret)
		return ret;
	memset(out, 0, CWD_SAMPLES * sizeof(*out));
	out[0].type = CW_HELLO;
	out[0].hello = (struct cw_hello){.device_id = 1, .model_checksum = CWD_CHECKSUM,
					 .max_inflight = 4};
	strcpy(out[0].hello.device_class, "rpi4");
	strcpy(out[0].hello.model, "branchy-alexnet");
	strcpy(out[0].hello.app, "cifar10");
	out[1].type = CW_WELCOME;
	out[1].welcome = (struct cw_welcome){.session_id = 1, .model_checksum = CWD_CHECKSUM,
					     .max_frame = 160u << 10, .max_padding = 256u << 10,
					     .max_inflight = 16};
	out[2].type = CW_INFER;
	out[2].infer = (struct cw_infer){.request_id = 7, .deadline_us = 50000, .device_us = 12000,
					 .flags = CW_INFER_SUGGEST,
					 .action = {.exit = 2, .bits = 2, .partition = 18},
					 .frame = frame, .frame_len = flen};
	out[3].type = CW_RESULT;
	out[3].result = (struct cw_result){.request_id = 7, .confidence = 0.875f, .label = 3,
					   .batch = 2, .queue_us = 850, .decode_us = 12,
					   .compute_us = 640, .queue_delay_us = 850, .exit = 2,
					   .flags = CW_RESULT_NEXT_VALID,
					   .next = {.exit = 2, .bits = 4, .partition = 8}};
	out[4].type = CW_ERROR;
	out[4].error = (struct cw_error){.request_id = 8, .code = CW_ERR_BAD_FRAME};
	strcpy(out[4].error.msg, "frame element 17 is NaN");
	for (int i = 0; i < CWD_SAMPLES; i++)
		out[i].request_id = i == 2 || i == 3 ? 7 : i == 4 ? 8 : 0;
	return 0;
}

/* The datagram samples ("Datagrams (UDP)", "Sample datagrams"): a PING before
 * HELLO in one DATA, the second of two fragments of the RESULT above, and the
 * ACK its receiver sends when that fragment arrives first. Payloads point
 * into msgs (the PING, then the RESULT). 0, or an encoder's error. */
#define CWD_DGRAM_SAMPLES 3
static inline int cwd_dgram_samples(struct cw_dg *out, uint8_t msgs[2][64])
{
	static uint8_t frame[1024];
	static const uint8_t bitmap = 0x02;
	struct cw_msg m[CWD_SAMPLES];
	struct cw_msg ping = {.type = CW_PING, .ping = {.nonce = 1, .timestamp = 1000000}};
	size_t ping_len, result_len;
	int ret;
	if ((ret = cwd_samples(m, frame, sizeof(frame))) ||
	    (ret = cw_encode(msgs[0], 64, &ping, &ping_len, NULL, 0)) ||
	    (ret = cw_encode(msgs[1], 64, &m[3], &result_len, NULL, 0)) ||
	    (ret = cw_dg_data(&out[0], 0, 1, msgs[0], (uint32_t)ping_len, 1, 0)) ||
	    (ret = cw_dg_data(&out[1], 1, 5, msgs[1], (uint32_t)result_len, 2, 1)))
		return ret;
	out[2] = (struct cw_dg){CW_DG_ACK, 1, 5, 1, 2, (uint32_t)result_len, &bitmap, 1};
	return 0;
}

#endif
