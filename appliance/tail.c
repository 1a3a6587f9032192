/* Tail execution (design in tail.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/clock.h"
#include "coinfer/wire.h"
#include "tail.h"

static const int steps[AP_BATCH_STEPS] = {1, 2, 4, 8, 16, 32};

struct ap_tail {
	struct ap_tail_config cfg;
	const struct cr_model *m;
	struct cr_exec *x;
	size_t max_floats;
	float *stage[2];
	void *scratch;
	size_t scratch_bytes;
	/* ns of layer pos of exit e at batch steps[k]: layer_ns[(e * AP_MAX_POSITIONS + pos) * STEPS + k] */
	uint64_t *layer_ns;
	/* order of a batch by partition, and row -> batch position */
	int *order, *row_of;
};

size_t ap_tail_floats(const struct ap_tail *t, int e, int p)
{
	return cr_model_boundary_floats(t->m, e, p);
}

void ap_tail_destroy(struct ap_tail *t)
{
	if (!t)
		return;
	cr_exec_destroy(t->x);
	free(t->stage[0]);
	free(t->stage[1]);
	free(t->scratch);
	free(t->layer_ns);
	free(t->order);
	free(t->row_of);
	free(t);
}

int ap_tail_create(const struct ap_tail_config *cfg, struct ap_tail **out, char *err,
		   size_t errlen)
{
	struct ap_tail *t;
	int ret = -ENOMEM;

	*out = NULL;
	if (!cfg->model || cfg->max_batch < 1 || cfg->model->n_exits > AP_MAX_EXITS) {
		snprintf(err, errlen, "tail: no model, or max_batch %d < 1", cfg->max_batch);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->m = cfg->model;
	for (int e = 0; e < t->m->n_exits; e++) {
		if (t->m->exit_len[e] > AP_MAX_POSITIONS) {
			snprintf(err, errlen, "tail: exit index %d has %d layers (max %d)", e,
				 t->m->exit_len[e], AP_MAX_POSITIONS);
			ret = -EINVAL;
			goto err;
		}
		for (int p = 0; p <= t->m->exit_len[e]; p++) {
			size_t f = cr_model_boundary_floats(t->m, e, p);
			t->max_floats = f > t->max_floats ? f : t->max_floats;
		}
	}
	size_t stage = (size_t)cfg->max_batch * t->max_floats * sizeof(float);
	t->stage[0] = malloc(stage);
	t->stage[1] = malloc(stage);
	t->scratch_bytes = cc_frame_scratch_max();
	t->scratch = malloc(t->scratch_bytes);
	t->layer_ns = calloc((size_t)t->m->n_exits * AP_MAX_POSITIONS * AP_BATCH_STEPS,
			     sizeof(*t->layer_ns));
	t->order = malloc((size_t)cfg->max_batch * sizeof(int));
	t->row_of = malloc((size_t)cfg->max_batch * sizeof(int));
	if (!t->stage[0] || !t->stage[1] || !t->scratch || !t->layer_ns || !t->order || !t->row_of) {
		snprintf(err, errlen, "tail: out of memory for batches of %d", cfg->max_batch);
		goto err;
	}
	if ((ret = cr_exec_create(t->m, NULL, cfg->max_batch, &t->x))) {
		snprintf(err, errlen, "tail: executor for batches of %d: %d", cfg->max_batch, ret);
		goto err;
	}
	/* Until calibrated: FLOPs at 100 GFLOP/s, a floor of 2 us per layer. */
	for (int e = 0; e < t->m->n_exits; e++)
		for (int pos = 0; pos < t->m->exit_len[e]; pos++)
			for (int k = 0; k < AP_BATCH_STEPS; k++) {
				const struct cr_layer *L = cr_model_exit_layer(t->m, e, pos);
				t->layer_ns[((size_t)e * AP_MAX_POSITIONS + pos) * AP_BATCH_STEPS + k] =
					2000 + L->flops * (uint64_t)steps[k] / 100;
			}
	*out = t;
	return 0;
err:
	ap_tail_destroy(t);
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int ap_tail_calibrate(struct ap_tail *t, int runs)
{
	uint64_t sample[64];
	if (runs < 1 || runs > 64)
		return -EINVAL;
	for (int k = 0; k < AP_BATCH_STEPS; k++) {
		int n = steps[k];
		if (n > t->cfg.max_batch)
			n = t->cfg.max_batch;
		for (int e = 0; e < t->m->n_exits; e++)
			for (int pos = 0; pos < t->m->exit_len[e]; pos++) {
				size_t f = cr_model_boundary_floats(t->m, e, pos);
				/* a plausible activation: what the layer sees matters little
				 * to dense kernels, but keep it finite and varied */
				for (size_t i = 0; i < (size_t)n * f; i++)
					t->stage[0][i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
				const float *o;
				cr_exec_run(t->x, e, pos, pos + 1, t->stage[0], n, &o); /* warm */
				for (int r = 0; r < runs; r++) {
					uint64_t t0 = cf_now_ns();
					cr_exec_run(t->x, e, pos, pos + 1, t->stage[0], n, &o);
					sample[r] = cf_now_ns() - t0;
				}
				qsort(sample, (size_t)runs, sizeof(sample[0]), cmp_u64);
				uint64_t med = sample[runs / 2];
				/* per step, scaled to the step's size when max_batch caps it */
				t->layer_ns[((size_t)e * AP_MAX_POSITIONS + pos) * AP_BATCH_STEPS + k] =
					med * (uint64_t)steps[k] / (uint64_t)n;
			}
	}
	/* A bigger batch never takes less time: timing noise can say otherwise, and
	 * the interpolation below relies on rows that do not decrease. */
	for (int e = 0; e < t->m->n_exits; e++)
		for (int pos = 0; pos < t->m->exit_len[e]; pos++) {
			uint64_t *row = &t->layer_ns[((size_t)e * AP_MAX_POSITIONS + pos) * AP_BATCH_STEPS];
			for (int k = 1; k < AP_BATCH_STEPS; k++)
				row[k] = row[k] > row[k - 1] ? row[k] : row[k - 1];
		}
	return 0;
}

uint64_t ap_tail_estimate(void *ctx, int e, int p, int n)
{
	const struct ap_tail *t = ctx;
	if (t->cfg.null_model)
		return 0;
	/* piecewise linear in n between calibrated sizes */
	int k = 0;
	while (k + 1 < AP_BATCH_STEPS && steps[k + 1] < n)
		k++;
	int k1 = k + 1 < AP_BATCH_STEPS ? k + 1 : k;
	uint64_t a = 0, b = 0;
	for (int pos = p; pos < t->m->exit_len[e]; pos++) {
		const uint64_t *row = &t->layer_ns[((size_t)e * AP_MAX_POSITIONS + pos) * AP_BATCH_STEPS];
		a += row[k];
		b += row[k1];
	}
	if (n <= steps[k])
		return a;
	if (k1 == k) /* past the largest calibrated size: linear in n */
		return a * (uint64_t)n / (uint64_t)steps[k];
	if (b < a) /* rows are non-decreasing after calibration; never wrap */
		b = a;
	return a + (b - a) * (uint64_t)(n - steps[k]) / (uint64_t)(steps[k1] - steps[k]);
}

static void fail_outcome(struct ap_outcome *o, int code, const char *msg)
{
	o->code = code;
	snprintf(o->msg, sizeof(o->msg), "%s", msg);
}

/* A NaN or an infinity has no meaning as an activation: the tail would turn it
 * into a NaN confidence. Refused per request, whatever codec carried it (raw32
 * and raw16 carry any value; a quantized frame's extreme range can overflow).
 * One pass over the row just written, while it is in cache. */
static int check_finite(const float *x, size_t n, char *err, size_t errlen)
{
	uint32_t all = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &x[i], 4);
		all |= (u & 0x7f800000u) == 0x7f800000u;
	}
	if (!all)
		return 0;
	size_t i = 0;
	while (isfinite(x[i]))
		i++;
	snprintf(err, errlen, "frame element %zu is %s", i,
		 isnan(x[i]) ? "NaN" : x[i] > 0 ? "+Inf" : "-Inf");
	return -EDOM;
}

/* Decodes request r's frame into row (the null model: validates it); 0, or the
 * outcome says why not. */
static int decode_frame(struct ap_tail *t, struct ap_req *r, float *row, struct ap_outcome *o)
{
	struct cc_frame_info info;
	char err[160];
	size_t want = cr_model_boundary_floats(t->m, r->exit, r->partition);
	/* cc_frame_decode validates the header and checksum itself (and fills info
	 * before refusing a frame larger than the row): one pass over the bytes */
	int ret = t->cfg.null_model
			  ? cc_frame_info(r->frame, r->frame_len, &t->cfg.limits, &info, err, sizeof(err))
			  : cc_frame_decode(r->frame, r->frame_len, &t->cfg.limits, row, want, t->scratch,
					    t->scratch_bytes, &info, err, sizeof(err));
	if ((!ret || ret == -ENOSPC) && info.elems != want) {
		snprintf(err, sizeof(err), "frame of %zu elements, exit index %u partition %u takes %zu",
			 info.elems, r->exit, r->partition, want);
		ret = -EINVAL;
	}
	if (!ret && !t->cfg.null_model)
		ret = check_finite(row, want, err, sizeof(err));
	if (ret)
		fail_outcome(o, CW_ERR_BAD_FRAME, err);
	return ret;
}

/* decode_frame, timed: *clk is the time it starts at (the clock read that
 * ended the work before it, so back-to-back decodes read the clock once each,
 * not twice) and becomes the time it ended. */
static int decode_into(struct ap_tail *t, struct ap_req *r, float *row, struct ap_outcome *o,
		       uint64_t *clk)
{
	uint64_t t0 = *clk;
	int ret = decode_frame(t, r, row, o);
	*clk = cf_now_ns();
	o->decode_us = (uint32_t)((*clk - t0) / 1000);
	return ret;
}

/* The null model's batch: its frames validated, timed as one (a clock read
 * costs as much as validating a small frame), each request given the mean. */
static int null_batch(struct ap_tail *t, struct ap_sched *s, const struct ap_batch *b,
		      struct ap_outcome *out)
{
	int n_ok = 0;
	uint64_t t0 = cf_now_ns();
	for (int k = 0; k < b->n; k++)
		n_ok += !decode_frame(t, ap_sched_req(s, b->idx[k]), NULL, &out[k]);
	uint32_t us = (uint32_t)((cf_now_ns() - t0) / 1000 / (uint64_t)(b->n ? b->n : 1));
	for (int k = 0; k < b->n; k++) {
		out[k].decode_us = us;
		out[k].batch = (uint16_t)n_ok;
	}
	return 0;
}

static void finish_row(const struct ap_tail *t, const float *logits, struct ap_outcome *o)
{
	int c = t->m->n_classes, best = 0;
	/* finite inputs can still overflow in the layers (values near FLT_MAX):
	 * there is then no confidence to report */
	for (int i = 0; i < c; i++)
		if (!isfinite(logits[i])) {
			fail_outcome(o, CW_ERR_BAD_FRAME, "the frame's values overflow in the tail: "
							  "the logits are not finite");
			return;
		}
	for (int i = 1; i < c; i++)
		if (logits[i] > logits[best])
			best = i;
	double sum = 0;
	for (int i = 0; i < c; i++)
		sum += exp((double)(logits[i] - logits[best]));
	o->label = (uint16_t)best;
	o->confidence = (float)(1.0 / sum);
}

int ap_tail_run(struct ap_tail *t, struct ap_sched *s, const struct ap_batch *b,
		struct ap_outcome *out)
{
	const int e = b->exit, len = t->m->exit_len[e];
	int n_ok = 0;

	/* Stable order by partition (insertion sort: batches are small). */
	for (int k = 0; k < b->n; k++) {
		memset(&out[k], 0, sizeof(out[k]));
		out[k].exit = (uint8_t)e;
		int j = k;
		while (j > 0 && ap_sched_req(s, b->idx[t->order[j - 1]])->partition >
					ap_sched_req(s, b->idx[k])->partition) {
			t->order[j] = t->order[j - 1];
			j--;
		}
		t->order[j] = k;
	}
	if (t->cfg.null_model)
		return null_batch(t, s, b, out);

	/* Rows so far live in stage[cur] at partition p; each later partition's
	 * requests are decoded after them and the batch grows. */
	int cur = 0, rows = 0, p = -1, k = 0;
	uint64_t compute_ns = 0, clk = cf_now_ns();
	const float *o = NULL;
	while (k < b->n) {
		int q = ap_sched_req(s, b->idx[t->order[k]])->partition;
		size_t f = cr_model_boundary_floats(t->m, e, q);
		float *dst = t->stage[cur];
		if (rows) {
			/* advance the rows so far to partition q, then join */
			uint64_t t0 = clk;
			cr_exec_run(t->x, e, p, q, t->stage[cur], rows, &o);
			clk = cf_now_ns();
			compute_ns += clk - t0;
			cur ^= 1;
			dst = t->stage[cur];
			if (o != dst) {
				memcpy(dst, o, (size_t)rows * f * sizeof(float));
				clk = cf_now_ns(); /* the copy is no request's decode */
			}
		}
		p = q;
		for (; k < b->n && ap_sched_req(s, b->idx[t->order[k]])->partition == q; k++) {
			int bk = t->order[k];
			struct ap_req *r = ap_sched_req(s, b->idx[bk]);
			if (decode_into(t, r, dst + (size_t)rows * f, &out[bk], &clk))
				continue;
			t->row_of[rows++] = bk;
		}
	}
	if (rows) {
		uint64_t t0 = clk;
		cr_exec_run(t->x, e, p, len, t->stage[cur], rows, &o);
		compute_ns += cf_now_ns() - t0;
		for (int i = 0; i < rows; i++)
			finish_row(t, o + (size_t)i * t->m->n_classes, &out[t->row_of[i]]);
	}
	n_ok = rows;
	for (int k2 = 0; k2 < b->n; k2++) {
		out[k2].batch = (uint16_t)n_ok;
		if (!out[k2].code)
			out[k2].compute_us = (uint32_t)(compute_ns / 1000);
	}
	return 0;
}
