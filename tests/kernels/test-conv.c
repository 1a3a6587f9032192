/* Convolution kernels: the scalar reference against a naive direct convolution
 * accumulated in double, then every SIMD level this build and CPU have against the
 * scalar reference, over shapes chosen to hit tile edges of every ISA's GEMM.
 *
 * Tolerances (normalised error, th_nerr = max |diff| / max |ref|):
 *   scalar vs double-accumulated naive: 1e-5. A float dot product of length K has
 *     rounding error of about u * sqrt(K) * (typical partial-sum size) for random
 *     signs (u = 6e-8); with K <= 2305 here that is ~3e-6 of max |ref| at worst
 *     (measured: <= 5e-7). Index bugs give O(1) errors.
 *   SIMD vs scalar: 1e-5. Both sum every output in the same K order and K blocks (the
 *     kc split does not depend on the ISA); they differ only in FMA's single rounding
 *     per term versus mul+add, worth ~u * sqrt(K) as above (measured: <= 2e-7).
 * Outputs are pre-filled with NaN (a missed element fails), and canaries after the
 * output, packed weights and workspace catch writes past the sizes the kernels report.
 * Under qemu (NEON level present) the model shapes run at batch 2 to stay fast. */
#include <errno.h>
#include <string.h>

#include "coinfer/kernels.h"
#include "harness.h"
#include "canary.h"

#define TOL_REF 1e-5
#define TOL_SIMD 1e-5
#define CANARY 64 /* floats */

struct shape {
	const char *name;
	int n, cin, cout, h, w, kh, kw, sh, sw, ph, pw, groups;
	int nobias;
};

static double worst_ref, worst_simd;

/* One output of the convolution, straight from the definition, summed in double. */
static double naive_at(const struct ck_conv_desc *d, const float *w, const float *b,
		       const float *in, int img, int co, int oy, int ox)
{
	const int cin_g = d->cin / d->groups, g = co / (d->cout / d->groups);
	double acc = b ? b[co] : 0.0;
	for (int c = 0; c < cin_g; c++) {
		const float *plane =
			in + ((size_t)img * d->cin + (size_t)(g * cin_g + c)) * d->h * d->w;
		const float *wk = w + ((size_t)co * cin_g + c) * d->kh * d->kw;
		for (int ky = 0; ky < d->kh; ky++)
			for (int kx = 0; kx < d->kw; kx++) {
				const int iy = oy * d->sh - d->ph + ky,
					  ix = ox * d->sw - d->pw + kx;
				if (iy >= 0 && iy < d->h && ix >= 0 && ix < d->w)
					acc += (double)wk[ky * d->kw + kx] * plane[iy * d->w + ix];
			}
	}
	return acc;
}

static void naive(const struct ck_conv_desc *d, const float *w, const float *b, const float *in,
		  float *out, int n)
{
	for (int img = 0; img < n; img++)
		for (int co = 0; co < d->cout; co++)
			for (int oy = 0; oy < d->oh; oy++)
				for (int ox = 0; ox < d->ow; ox++)
					*out++ = (float)naive_at(d, w, b, in, img, co, oy, ox);
}

/* Pack and run one ISA into out (count floats + canary), checking all bounds. */
static void run(const struct ck_kernels *t, const struct shape *s, const struct ck_conv_desc *d,
		const float *w, const float *b, const float *in, float *out, size_t count)
{
	const size_t pf = t->conv_packed_floats(d);
	float *packed = th_alloc((pf + CANARY) * sizeof(float));
	set_canary(packed + pf, CANARY * sizeof(float));
	t->conv_pack(d, w, b, packed);
	TH_CHECK(canary_ok(packed + pf, CANARY * sizeof(float)), "%s/%s: pack overran %zu floats",
		 t->name, s->name, pf);

	const size_t wsb = t->conv_workspace_bytes(d, s->n);
	unsigned char *ws = th_alloc(wsb + 256);
	poison_run(ws, wsb, out, count, CANARY);
	t->conv_run(d, packed, in, out, s->n, ws);
	TH_CHECK(canary_ok(ws + wsb, 256), "%s/%s: workspace overran %zu bytes", t->name, s->name,
		 wsb);
	TH_CHECK(canary_ok(out + count, CANARY * sizeof(float)), "%s/%s: output overran", t->name,
		 s->name);
	free(packed);
	free(ws);
}

static void check(const struct shape *s, int with_naive)
{
	struct ck_conv_desc d = {
		.cin = s->cin,
		.cout = s->cout,
		.h = s->h,
		.w = s->w,
		.kh = s->kh,
		.kw = s->kw,
		.sh = s->sh,
		.sw = s->sw,
		.ph = s->ph,
		.pw = s->pw,
		.groups = s->groups,
	};
	if (ck_conv_desc_init(&d)) {
		TH_CHECK(0, "%s: desc rejected", s->name);
		return;
	}
	const size_t nw = (size_t)s->cout * (size_t)(s->cin / s->groups) * (size_t)(s->kh * s->kw);
	const size_t nin = (size_t)s->n * (size_t)s->cin * (size_t)(s->h * s->w);
	const size_t nout = (size_t)s->n * (size_t)s->cout * (size_t)(d.oh * d.ow);
	float *w = th_alloc(nw * sizeof(float)), *b = th_alloc((size_t)s->cout * sizeof(float));
	float *in = th_alloc(nin * sizeof(float));
	float *ref = th_alloc((nout + CANARY) * sizeof(float));
	float *got = th_alloc((nout + CANARY) * sizeof(float));
	th_fill(w, nw, 1 + (uint64_t)s->cin * 31 + (uint64_t)s->cout);
	th_fill(b, (size_t)s->cout, 2 + (uint64_t)s->kh);
	th_fill(in, nin, 3 + (uint64_t)s->n * 7 + (uint64_t)s->h);
	const float *bias = s->nobias ? NULL : b;

	run(ck_kernels_for(CK_ISA_SCALAR), s, &d, w, bias, in, ref, nout);
	if (with_naive) {
		float *nv = th_alloc(nout * sizeof(float));
		naive(&d, w, bias, in, nv, s->n);
		const double e = th_nerr(nv, ref, nout);
		if (e > worst_ref)
			worst_ref = e;
		TH_CHECK(e <= TOL_REF, "scalar/%s vs naive: nerr %g", s->name, e);
		free(nv);
	}
	for (int i = 1; i < CK_ISA_COUNT; i++) {
		const struct ck_kernels *t = ck_kernels_for((enum ck_isa)i);
		if (!t)
			continue;
		run(t, s, &d, w, bias, in, got, nout);
		const double e = th_nerr(ref, got, nout);
		if (e > worst_simd)
			worst_simd = e;
		TH_CHECK(e <= TOL_SIMD, "%s/%s vs scalar: nerr %g", t->name, s->name, e);
	}
	free(w);
	free(b);
	free(in);
	free(ref);
	free(got);
}

/* name, n, cin, cout, h, w, kh, kw, sh, sw, ph, pw, groups[, nobias] */
static const struct shape general[] = {
	{"3x3", 1, 3, 5, 7, 7, 3, 3, 1, 1, 1, 1, 1, 0},
	{"3x3-s2", 2, 4, 6, 9, 8, 3, 3, 2, 2, 1, 1, 1, 0},
	{"3x3-p0", 3, 5, 9, 6, 7, 3, 3, 1, 1, 0, 0, 1, 0},
	{"5x5-p2", 1, 5, 7, 6, 11, 5, 5, 1, 1, 2, 2, 1, 0},
	{"5x5-s2-p1", 2, 3, 8, 13, 12, 5, 5, 2, 2, 1, 1, 1, 0},
	{"5x5-s3-p2", 1, 3, 8, 17, 17, 5, 5, 3, 3, 2, 2, 1, 0},
	{"1x3", 3, 8, 8, 5, 5, 1, 3, 1, 1, 0, 1, 1, 0},
	{"3x1-s21", 2, 6, 4, 7, 5, 3, 1, 2, 1, 1, 0, 1, 0},
	{"1x1", 2, 16, 24, 9, 9, 1, 1, 1, 1, 0, 0, 1, 0},
	{"1x1-s2", 2, 16, 24, 9, 9, 1, 1, 2, 2, 0, 0, 1, 0},
	{"2x2-s32", 5, 7, 9, 5, 3, 2, 2, 3, 2, 1, 1, 1, 0},
	{"pad-only-edges", 3, 3, 7, 1, 1, 3, 3, 1, 1, 2, 2, 1, 0},
	{"groups2", 1, 8, 12, 6, 6, 3, 3, 1, 1, 0, 0, 2, 0},
	{"groups2-s2", 3, 6, 10, 7, 9, 3, 3, 2, 2, 1, 1, 2, 0},
	{"groups4-cin1", 1, 4, 16, 6, 6, 3, 3, 1, 1, 1, 1, 4, 0},
	{"depthwise", 2, 8, 8, 7, 9, 3, 3, 1, 1, 1, 1, 8, 0},
	{"depthwise-x2-s2", 2, 8, 16, 7, 7, 3, 3, 2, 2, 1, 1, 8, 0},
	{"depthwise-5x5-s2", 1, 6, 6, 11, 10, 5, 5, 2, 2, 2, 2, 6, 0},
	{"depthwise-nobias", 3, 5, 5, 4, 6, 3, 3, 1, 1, 1, 1, 5, 1},
	{"nobias", 2, 5, 11, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1},
	{"batch32-P9", 32, 6, 10, 3, 3, 3, 3, 1, 1, 1, 1, 1, 0},
	{"batch3-P25", 3, 7, 13, 5, 5, 3, 3, 1, 1, 1, 1, 1, 0},
	{"batch1-big-stride", 1, 2, 3, 20, 20, 3, 3, 4, 4, 1, 1, 1, 0},
};

static const struct shape model[] = {
	{"conv1", 32, 3, 32, 32, 32, 3, 3, 1, 1, 1, 1, 1, 0},
	{"conv2", 32, 32, 64, 16, 16, 3, 3, 1, 1, 1, 1, 1, 0},
	{"conv3", 32, 64, 192, 8, 8, 3, 3, 1, 1, 1, 1, 1, 0},
	{"conv4", 32, 192, 256, 8, 8, 3, 3, 1, 1, 1, 1, 1, 0},
	{"conv5", 32, 256, 256, 4, 4, 3, 3, 1, 1, 1, 1, 1, 0},
	{"b1_conv", 32, 64, 128, 8, 8, 3, 3, 1, 1, 1, 1, 1, 0},
	{"b2_conv", 32, 192, 128, 4, 4, 3, 3, 1, 1, 1, 1, 1, 0},
};

int main(void)
{
	/* qemu-user is ~50x slower: keep the big model shapes small there */
	const int emulated = ck_kernels_for(CK_ISA_NEON) != NULL;
	char name[96];

	for (size_t i = 0; i < sizeof general / sizeof general[0]; i++)
		check(&general[i], 1);

	/* cout around every ISA's MR (4, 6, 8, 12) and twice it: 1x1 and 3x3 */
	static const int couts[] = {1, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 23, 24, 25};
	for (size_t i = 0; i < sizeof couts / sizeof couts[0]; i++) {
		snprintf(name, sizeof name, "cout%d", couts[i]);
		struct shape s = {name, 2, 5, couts[i], 4, 4, 1, 1, 1, 1, 0, 0, 1, 0};
		check(&s, 1);
		struct shape s3 = {name, 1, 3, couts[i], 5, 6, 3, 3, 1, 1, 1, 1, 1, 0};
		check(&s3, 1);
	}
	/* N = n*oh*ow around every NR (8, 12, 16, 32) and 2x: one row of pixels, and
	 * one pixel per image (every column of a tile a different image) */
	static const int ns[] = {1, 7, 8, 9, 11, 12, 13, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65};
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		snprintf(name, sizeof name, "row%d", ns[i]);
		struct shape r = {name, 1, 3, 7, 1, ns[i], 1, 3, 1, 1, 0, 1, 1, 0};
		check(&r, 1);
		snprintf(name, sizeof name, "pix1-batch%d", ns[i]);
		struct shape p = {name, ns[i], 4, 6, 1, 1, 3, 3, 1, 1, 1, 1, 1, 0};
		check(&p, 1);
	}
	/* N chunks (nc = 240 / 256 / 512) and their edges */
	static const int wide[][3] = {{1, 15, 16}, {1, 16, 16}, {1, 1, 257}, {1, 16, 15},
				      {2, 16, 16}, {1, 17, 31}, {3, 7, 49}};
	for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
		snprintf(name, sizeof name, "N%d", wide[i][0] * wide[i][1] * wide[i][2]);
		struct shape s = {name, wide[i][0], 3, 13, wide[i][1], wide[i][2], 3,
				  3,    1,          1, 1,  1,          1,          0};
		check(&s, 1);
	}
	/* K + 1 (bias row) around the K block of 256, split between and inside taps */
	static const int kcin[] = {254, 255, 256, 511, 512};
	for (size_t i = 0; i < sizeof kcin / sizeof kcin[0]; i++) {
		snprintf(name, sizeof name, "K%d-1x1", kcin[i]);
		struct shape s = {name, 1, kcin[i], 13, 4, 5, 1, 1, 1, 1, 0, 0, 1, 0};
		check(&s, 1);
	}
	static const int kcin3[] = {28, 29, 57, 64};
	for (size_t i = 0; i < sizeof kcin3 / sizeof kcin3[0]; i++) {
		snprintf(name, sizeof name, "K%d-3x3", kcin3[i] * 9);
		struct shape s = {name, 2, kcin3[i], 14, 5, 4, 3, 3, 1, 1, 1, 1, 1, 0};
		check(&s, 1);
	}

	/* the model's layers: at batch 1 and 3 against the naive loop as well, and at
	 * batch 32 (2 under emulation) against the scalar reference */
	for (size_t i = 0; i < sizeof model / sizeof model[0]; i++) {
		struct shape s = model[i];
		s.n = emulated ? 1 : 3;
		check(&s, 1);
		s.n = 1;
		if (!emulated)
			check(&s, 0);
		s.n = emulated ? 2 : 32;
		check(&s, 0);
	}

	/* validation of impossible shapes */
	struct ck_conv_desc bad = {.cin = 3,
				   .cout = 4,
				   .h = 4,
				   .w = 4,
				   .kh = 3,
				   .kw = 3,
				   .sh = 1,
				   .sw = 1,
				   .ph = 3,
				   .pw = 0,
				   .groups = 1};
	TH_CHECK(ck_conv_desc_init(&bad) == -EINVAL, "pad >= kernel accepted");

	printf("worst nerr: scalar vs naive %.3g, simd vs scalar %.3g\n", worst_ref, worst_simd);
	return th_finish("test-conv");
}
