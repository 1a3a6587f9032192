/* Tail execution on the real model: a joined batch (one exit, requests split at
 * several partitions, some frames broken) gives every valid request the class
 * that running it alone gives, and its confidence to 1e-5, broken frames are refused
 * without disturbing the others, the null model computes nothing, and the
 * calibrated estimate behaves (grows with the batch, shrinks with the partition).
 * NaN, Inf and overflowing values are refused per request, naming the element. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../appliance/tail.h"
#include "coinfer/wire.h"

static struct cr_model *load(void)
{
	struct cr_model *m;
	char err[256];
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &m, err,
				   sizeof(err)),
		     0, "%s", err);
	return m;
}

static uint64_t rng = 99;
static float gauss(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	double u = ((rng >> 11) + 1.0) / 9007199254740993.0;
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	double v = (rng >> 11) / 9007199254740992.0;
	return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

struct fixture {
	struct cr_model *m;
	struct cr_exec *head, *alone;
	struct ap_sched s;
	struct ap_batch b;
	struct ap_tail *t;
	float *in;
	uint8_t *frame;
	size_t cap;
};

static uint64_t est(void *ctx, int e, int p, int n)
{
	return ap_tail_estimate(ctx, e, p, n);
}

static void setup_fixture(struct fixture *f, int null_model)
{
	char err[256];
	memset(f, 0, sizeof(*f));
	f->m = load();
	cr_assert_eq(cr_exec_create(f->m, NULL, 1, &f->head), 0);
	cr_assert_eq(cr_exec_create(f->m, NULL, 1, &f->alone), 0);
	struct ap_tail_config tc = {.model = f->m, .max_batch = 8, .null_model = null_model,
				    .limits = {1u << 20, 1u << 22}};
	cr_assert_eq(ap_tail_create(&tc, &f->t, err, sizeof(err)), 0, "%s", err);
	struct ap_sched_config sc = {.max_requests = 32, .max_batch = 8, .max_delay_ns = 1,
				     .small_frame = 4096, .big_frame = 1u << 20, .big_frames = 8,
				     .join = 1, .run_late = 1, .n_exits = f->m->n_exits,
				     .estimate = est, .estimate_ctx = f->t};
	for (int e = 0; e < f->m->n_exits; e++)
		sc.exit_len[e] = f->m->exit_len[e];
	cr_assert_eq(ap_sched_init(&f->s, &sc), 0);
	cr_assert_eq(ap_batch_init(&f->b, &f->s), 0);
	f->in = malloc(3 * 32 * 32 * sizeof(float));
	uint32_t d[3] = {32 * 32 * 32, 1, 1};
	f->cap = cc_frame_bound(CC_CODEC_RAW32, 3, d, 0);
	f->frame = malloc(f->cap);
}

static void teardown_fixture(struct fixture *f)
{
	ap_batch_free(&f->b);
	ap_sched_free(&f->s);
	ap_tail_destroy(f->t);
	cr_exec_destroy(f->head);
	cr_exec_destroy(f->alone);
	cr_model_free(f->m);
	free(f->in);
	free(f->frame);
}

/* Head [0, p) of a random image, encoded; returns the frame length. */
static size_t make_frame(struct fixture *f, int e, int p, enum cc_codec codec, int bits)
{
	for (int i = 0; i < 3 * 32 * 32; i++)
		f->in[i] = gauss();
	const float *x;
	cr_assert_eq(cr_exec_run(f->head, e, 0, p, f->in, 1, &x), 0);
	const struct cr_layer *L = p ? cr_model_exit_layer(f->m, e, p - 1) : NULL;
	uint32_t dims[3] = {(uint32_t)(L ? L->out_c : 3), (uint32_t)(L ? L->out_h : 32),
			    (uint32_t)(L ? L->out_w : 32)};
	size_t len;
	char err[256];
	cr_assert_eq(cc_frame_encode(x, 3, dims, codec, bits, 0, f->frame, f->cap, &len, err,
				     sizeof(err)),
		     0, "%s", err);
	return len;
}

static void reference(struct fixture *f, int e, int p, size_t len, uint16_t *label, float *conf)
{
	static float buf[32 * 32 * 32];
	static uint8_t scratch[1u << 20];
	char err[256];
	struct cc_limits lim = {1u << 20, 1u << 22};
	cr_assert_eq(cc_frame_decode(f->frame, len, &lim, buf, sizeof(buf) / 4, scratch,
				     sizeof(scratch), NULL, err, sizeof(err)),
		     0, "%s", err);
	const float *o;
	cr_assert_eq(cr_exec_run(f->alone, e, p, f->m->exit_len[e], buf, 1, &o), 0);
	int best = 0;
	for (int i = 1; i < f->m->n_classes; i++)
		if (o[i] > o[best])
			best = i;
	double sum = 0;
	for (int i = 0; i < f->m->n_classes; i++)
		sum += exp((double)(o[i] - o[best]));
	*label = (uint16_t)best;
	*conf = (float)(1.0 / sum);
}

static int queue(struct fixture *f, uint64_t id, int e, int p, size_t len)
{
	int i = ap_sched_alloc(&f->s, len);
	cr_assert(i >= 0);
	struct ap_req *r = ap_sched_req(&f->s, i);
	r->request_id = id;
	r->exit = (uint8_t)e;
	r->partition = (uint16_t)p;
	r->deadline_ns = 1000000000000ull;
	memcpy(r->frame, f->frame, len);
	r->frame_len = len;
	cr_assert_eq(ap_sched_push(&f->s, i), 0);
	return i;
}

Test(tail, joined_batch_equals_each_request_alone)
{
	struct fixture f;
	setup_fixture(&f, 0);
	const int e = 2;
	const int parts[8] = {9, 0, 5, 13, 5, 2, 9, 17};
	const enum cc_codec codecs[3] = {CC_CODEC_HUFFMAN_ZRUN, CC_CODEC_PACKED, CC_CODEC_RAW32};
	uint16_t want_label[8];
	float want_conf[8];
	for (int k = 0; k < 8; k++) {
		enum cc_codec c = codecs[k % 3];
		size_t len = make_frame(&f, e, parts[k], c, c == CC_CODEC_RAW32 ? 0 : 8);
		if (k == 3)
			f.frame[len / 2] ^= 0x10; /* broken: checksum fails */
		else
			reference(&f, e, parts[k], len, &want_label[k], &want_conf[k]);
		queue(&f, (uint64_t)k, e, parts[k], len);
	}
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&f.s, 1, &f.b, &wake), 1);
	cr_assert_eq(f.b.n, 8);
	struct ap_outcome out[8];
	cr_assert_eq(ap_tail_run(f.t, &f.s, &f.b, out), 0);
	for (int k = 0; k < 8; k++) {
		uint64_t id = ap_sched_req(&f.s, f.b.idx[k])->request_id;
		if (id == 3) {
			cr_assert_eq(out[k].code, CW_ERR_BAD_FRAME);
			cr_assert(strstr(out[k].msg, "checksum"), "message: %s", out[k].msg);
			continue;
		}
		cr_assert_eq(out[k].code, 0, "request %llu: %s", (unsigned long long)id, out[k].msg);
		cr_assert_eq(out[k].label, want_label[id], "request %llu", (unsigned long long)id);
		/* batched fc layers sum in another order than batch 1: ulps apart */
		cr_assert(fabsf(out[k].confidence - want_conf[id]) <= 1e-5f * want_conf[id],
			  "request %llu: %.9g vs %.9g", (unsigned long long)id, out[k].confidence,
			  want_conf[id]);
		cr_assert_eq(out[k].batch, 7);
		cr_assert_eq(out[k].exit, e);
	}
	for (int k = 0; k < f.b.n; k++)
		ap_sched_release(&f.s, f.b.idx[k]);
	teardown_fixture(&f);
}

Test(tail, frame_of_the_wrong_partition_refused)
{
	struct fixture f;
	setup_fixture(&f, 0);
	size_t len = make_frame(&f, 0, 4, CC_CODEC_PACKED, 8);
	queue(&f, 1, 0, 5, len); /* claims partition 5, carries partition 4's tensor */
	len = make_frame(&f, 0, 5, CC_CODEC_PACKED, 8);
	queue(&f, 2, 0, 5, len);
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&f.s, 1, &f.b, &wake), 1);
	struct ap_outcome out[8];
	cr_assert_eq(ap_tail_run(f.t, &f.s, &f.b, out), 0);
	int bad = 0, good = 0;
	for (int k = 0; k < f.b.n; k++) {
		if (out[k].code == CW_ERR_BAD_FRAME) {
			bad++;
			cr_assert(strstr(out[k].msg, "elements"), "message: %s", out[k].msg);
		} else {
			good += out[k].code == 0;
		}
		ap_sched_release(&f.s, f.b.idx[k]);
	}
	cr_assert_eq(bad, 1);
	cr_assert_eq(good, 1);
	teardown_fixture(&f);
}

Test(tail, null_model_validates_but_computes_nothing)
{
	struct fixture f;
	setup_fixture(&f, 1);
	size_t len = make_frame(&f, 1, 3, CC_CODEC_HUFFMAN, 8);
	queue(&f, 1, 1, 3, len);
	f.frame[10] ^= 1;
	queue(&f, 2, 1, 3, len);
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&f.s, 1, &f.b, &wake), 1);
	struct ap_outcome out[8];
	cr_assert_eq(ap_tail_run(f.t, &f.s, &f.b, out), 0);
	for (int k = 0; k < f.b.n; k++) {
		uint64_t id = ap_sched_req(&f.s, f.b.idx[k])->request_id;
		cr_assert_eq(out[k].code, id == 2 ? CW_ERR_BAD_FRAME : 0);
		cr_assert_eq(out[k].compute_us, 0);
		ap_sched_release(&f.s, f.b.idx[k]);
	}
	cr_assert_eq(ap_tail_estimate(f.t, 1, 3, 8), 0);
	teardown_fixture(&f);
}

Test(tail, calibrated_estimate)
{
	struct fixture f;
	setup_fixture(&f, 0);
	cr_assert_eq(ap_tail_calibrate(f.t, 3), 0);
	for (int e = 0; e < f.m->n_exits; e++) {
		uint64_t prev = UINT64_MAX;
		for (int p = 0; p < f.m->exit_len[e]; p++) {
			uint64_t a = ap_tail_estimate(f.t, e, p, 1);
			cr_assert_gt(a, 0);
			cr_assert_leq(a, prev, "exit %d: estimate grows from partition %d", e, p);
			prev = a;
			/* non-decreasing in n and never wrapped, whatever the timing noise:
			 * a wrapped difference is near 2^64 ns, while the bound (an hour)
			 * is one no calibration on however loaded a host comes near */
			uint64_t last = 0;
			for (int n = 1; n <= 40; n++) {
				uint64_t v = ap_tail_estimate(f.t, e, p, n);
				cr_assert_geq(v, last, "exit %d partition %d: n %d below n %d", e, p, n, n - 1);
				cr_assert_lt(v, 3600000000000ull, "exit %d partition %d n %d: %llu ns", e, p, n,
					     (unsigned long long)v);
				last = v;
			}
		}
	}
	teardown_fixture(&f);
}

/* The input (partition 0) of exit e as a raw frame, with element at set to v. */
static size_t raw_input(struct fixture *f, enum cc_codec codec, size_t at, float v)
{
	for (int i = 0; i < 3 * 32 * 32; i++)
		f->in[i] = gauss();
	f->in[at] = v;
	uint32_t dims[3] = {3, 32, 32};
	size_t len;
	char err[256];
	cr_assert_eq(cc_frame_encode(f->in, 3, dims, codec, 0, 0, f->frame, f->cap, &len, err,
				     sizeof(err)),
		     0, "%s", err);
	return len;
}

/* NaN and Inf have no meaning as activations (they made a NaN confidence that
 * no RESULT could carry): each is refused naming the element, and so is a frame
 * of finite values that overflow in the layers; the others in the batch run. */
Test(tail, non_finite_values_refused_per_request)
{
	struct fixture f;
	setup_fixture(&f, 0);
	queue(&f, 1, 0, 0, raw_input(&f, CC_CODEC_RAW32, 17, NAN));
	queue(&f, 2, 0, 0, raw_input(&f, CC_CODEC_RAW16, 0, INFINITY));
	queue(&f, 3, 0, 0, raw_input(&f, CC_CODEC_RAW32, 3071, -INFINITY));
	size_t len = raw_input(&f, CC_CODEC_RAW32, 0, 0);
	for (size_t i = 0; i < 3 * 32 * 32; i++) /* finite, but conv1 overflows */
		f.in[i] = 3e38f;
	uint32_t dims[3] = {3, 32, 32};
	cr_assert_eq(cc_frame_encode(f.in, 3, dims, CC_CODEC_RAW32, 0, 0, f.frame, f.cap, &len,
				     NULL, 0),
		     0);
	queue(&f, 4, 0, 0, len);
	queue(&f, 5, 0, 0, raw_input(&f, CC_CODEC_RAW16, 5, 1.0f));
	const char *want[6] = {"", "frame element 17 is NaN", "frame element 0 is +Inf",
			       "frame element 3071 is -Inf", "overflow", NULL};
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&f.s, 1, &f.b, &wake), 1);
	cr_assert_eq(f.b.n, 5);
	struct ap_outcome out[8];
	cr_assert_eq(ap_tail_run(f.t, &f.s, &f.b, out), 0);
	for (int k = 0; k < f.b.n; k++) {
		uint64_t id = ap_sched_req(&f.s, f.b.idx[k])->request_id;
		if (!want[id]) {
			cr_assert_eq(out[k].code, 0, "%s", out[k].msg);
			cr_assert(out[k].confidence > 0 && out[k].confidence <= 1);
		} else {
			cr_assert_eq(out[k].code, CW_ERR_BAD_FRAME, "request %llu",
				     (unsigned long long)id);
			cr_assert(strstr(out[k].msg, want[id]), "request %llu: %s",
				  (unsigned long long)id, out[k].msg);
		}
		ap_sched_release(&f.s, f.b.idx[k]);
	}
	teardown_fixture(&f);
}
