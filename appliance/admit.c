/* Admission checks (design in admit.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "admit.h"
#include "coinfer/codec-frame.h"

void ap_boundary_shape(const struct cr_model *m, int e, int p, int chw[3])
{
	const struct cr_layer *L = p ? cr_model_exit_layer(m, e, p - 1) : NULL;
	chw[0] = L ? L->out_c : m->in_c;
	chw[1] = L ? L->out_h : m->in_h;
	chw[2] = L ? L->out_w : m->in_w;
}

int ap_admit_hello(const struct cr_model *m, const struct cw_hello *h, char *why, size_t n)
{
	if (strcmp(h->model, m->name)) {
		snprintf(why, n, "model '%s', this appliance serves '%s'", h->model, m->name);
		return CW_ERR_MODEL_MISMATCH;
	}
	if (h->model_checksum != m->checksum) {
		snprintf(why, n, "model %s with checksum %016llx, this appliance serves %016llx",
			 m->name, (unsigned long long)h->model_checksum,
			 (unsigned long long)m->checksum);
		return CW_ERR_MODEL_MISMATCH;
	}
	return 0;
}

/* The exit index and partition name a split the tail can run: partition
 * N_e (the whole exit on the device) is a DECISION, never an INFER. */
static int admit_split(const struct cr_model *m, const struct cf_action *a, char *why, size_t n)
{
	if (a->exit < 0 || a->exit >= m->n_exits) {
		snprintf(why, n, "exit index %d: model %s has exit indices 0..%d", a->exit, m->name,
			 m->n_exits - 1);
		return CW_ERR_BAD_REQUEST;
	}
	if (a->partition < 0 || a->partition >= m->exit_len[a->exit]) {
		snprintf(why, n, "exit index %d partition %d: INFER takes partitions 0..%d of it",
			 a->exit, a->partition, m->exit_len[a->exit] - 1);
		return CW_ERR_BAD_REQUEST;
	}
	const char *no = cr_model_cut_problem(m, a->exit, a->partition);
	if (no) {
		snprintf(why, n, "partition %d of exit index %d of model %s %s", a->partition,
			 a->exit, m->name, no);
		return CW_ERR_BAD_REQUEST;
	}
	return 0;
}

int ap_admit_infer(const struct cr_model *m, const struct cw_infer *r, char *why, size_t n)
{
	const struct cf_action *a = &r->action;
	struct cc_frame_info info;
	char err[160];
	int ret = admit_split(m, a, why, n);
	if (ret)
		return ret;
	/* the element count is judged below, with a message that names the shape */
	struct cc_limits lim = {.max_elems = SIZE_MAX, .max_frame_bytes = r->frame_len};
	if (cc_frame_peek(r->frame, r->frame_len, &lim, &info, err, sizeof(err))) {
		snprintf(why, n, "frame header: %s", err);
		return CW_ERR_BAD_FRAME;
	}
	if (info.bits != a->bits) {
		snprintf(why, n, "INFER bits %d, its frame's bits %d (codec %s)", a->bits, info.bits,
			 cc_codec_name(info.codec));
		return CW_ERR_BAD_REQUEST;
	}
	size_t want = cr_model_boundary_floats(m, a->exit, a->partition);
	if (info.elems != want) {
		int chw[3];
		ap_boundary_shape(m, a->exit, a->partition, chw);
		snprintf(why, n, "frame of %zu elements, exit index %d partition %d takes %zu "
				 "(%d x %d x %d)", info.elems, a->exit, a->partition, want, chw[0],
			 chw[1], chw[2]);
		return CW_ERR_BAD_FRAME;
	}
	return 0;
}
