/* INFER messages for the integration tests: a random image through the head
 * layers, the frame encoded as an agent would, and the label the C runtime
 * gives locally for the same exit and bits (what the appliance must answer). */
#ifndef COINFER_TESTS_INFER_MAKER_H
#define COINFER_TESTS_INFER_MAKER_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>

#include "coinfer/codec-frame.h"
#include "coinfer/exec.h"
#include "coinfer/model.h"
#include "coinfer/wire.h"

static uint64_t im_rng = 7;
static inline float im_gauss(void)
{
	uint64_t rng = im_rng;
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	double u = ((rng >> 11) + 1.0) / 9007199254740993.0;
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	double v = (rng >> 11) / 9007199254740992.0;
	im_rng = rng;
	return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* An INFER for exit e split at p with a random image, its head run by local;
 * *label gets what the C runtime answers locally for the same (exit, bits). */
static inline size_t im_infer(const struct cr_model *model, struct cr_exec *local, uint8_t *buf,
			      size_t cap, uint64_t id, int e, int p, int bits, uint16_t *label,
			      uint32_t flags, uint32_t deadline_us, uint32_t device_us)
{
	static float img[3 * 32 * 32], back[32 * 32 * 32];
	static uint8_t scratch[1 << 20];
	for (int i = 0; i < 3 * 32 * 32; i++)
		img[i] = im_gauss();
	const float *x;
	cr_assert_eq(cr_exec_run(local, e, 0, p, img, 1, &x), 0);
	const struct cr_layer *L = p ? cr_model_exit_layer(model, e, p - 1) : NULL;
	uint32_t dims[3] = {(uint32_t)(L ? L->out_c : 3), (uint32_t)(L ? L->out_h : 32),
			    (uint32_t)(L ? L->out_w : 32)};
	size_t flen;
	char err[256];
	uint8_t *frame = buf + CW_INFER_PREFIX_BYTES;
	cr_assert_eq(cc_frame_encode(x, 3, dims, CC_CODEC_HUFFMAN_ZRUN, bits, 0, frame,
				     cap - CW_INFER_PREFIX_BYTES, &flen, err, sizeof(err)),
		     0, "%s", err);
	struct cc_limits lim = {1u << 20, 1u << 22};
	cr_assert_eq(cc_frame_decode(frame, flen, &lim, back, sizeof(back) / 4, scratch,
				     sizeof(scratch), NULL, err, sizeof(err)),
		     0);
	const float *o;
	cr_assert_eq(cr_exec_run(local, e, p, model->exit_len[e], back, 1, &o), 0);
	int best = 0;
	for (int i = 1; i < model->n_classes; i++)
		if (o[i] > o[best])
			best = i;
	*label = (uint16_t)best;
	struct cw_infer in = {.request_id = id, .deadline_us = deadline_us, .device_us = device_us,
			      .flags = flags, .frame_len = flen,
			      .action = {.exit = (uint8_t)e, .partition = (uint16_t)p, .bits = (uint8_t)bits}};
	size_t len;
	cr_assert_eq(cw_encode_infer_header(buf, cap, &in, &len, err, sizeof(err)), 0, "%s", err);
	return len;
}

#endif
