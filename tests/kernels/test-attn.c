/* Self-attention kernels: every ISA this build and CPU have (the scalar reference
 * included) against a naive attention computed in double straight from the
 * definition in coinfer/kernels.h, over positions N around every ISA's tile (MR 4, 6,
 * 8, 12; NR 8, 12, 16, 32) and the K block (256), odd and even C and dqk, batch 1 and 3,
 * and batches that split into several projection groups.
 *
 * Tolerance (normalised error, th_nerr = max |diff| / max |ref|): 2e-5. The weights
 * are scaled so q and k have unit variance and the scores a spread of about
 * sqrt(dqk): peaked attention, so a position or channel mixed up gives an O(1)
 * error. Float error then comes from the projections (dot products of length C + 1,
 * ~u * sqrt(C) relative), from the scores (an absolute error e in a logit is a
 * relative error e in its weight) and from exp (~1.5 ulp on SIMD); measured worst
 * figures are printed at the end.
 * The huge-logit cases build the scores exactly (q = 1, k = the first input channel)
 * with logits of +-200 and more, where exp without the max subtracted would
 * overflow (or underflow every weight to 0): the kernels must give the naive
 * answer, e.g. exactly one weight of 1 for a lone huge logit.
 * Outputs are pre-filled with NaN (a missed element fails), the workspace with NaN
 * bit patterns (reading what was never written shows), and canaries after the
 * output, the packed weights and the workspace catch writes past the sizes reported.
 * Under qemu (NEON level present) the largest shapes are skipped to stay fast. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "coinfer/kernels.h"
#include "harness.h"
#include "canary.h"

#define TOL 2e-5
#define CANARY 64 /* floats */

struct weights {
	float *wq, *bq, *wk, *bk, *wv, *bv;
};

static double worst[CK_ISA_COUNT];

/* Projection row r of W x + b at position i, in double. */
static double proj(const float *w, const float *b, const float *x, int c, int n, int r, int i)
{
	double acc = b ? b[r] : 0.0;
	for (int ch = 0; ch < c; ch++)
		acc += (double)w[(size_t)r * c + ch] * x[(size_t)ch * n + i];
	return acc;
}

/* One image of the attention in double: out = x + v . softmax(scale * q^T k)^T. */
static void naive_image(const struct ck_attn_desc *d, const struct weights *wt, const float *x,
			float *out)
{
	const int c = d->c, dq = d->dqk, n = d->h * d->w;
	double *q = th_alloc(sizeof(double) * (size_t)dq * n);
	double *k = th_alloc(sizeof(double) * (size_t)dq * n);
	double *v = th_alloc(sizeof(double) * (size_t)c * n), *a = th_alloc(sizeof(double) * n);
	for (int r = 0; r < dq; r++)
		for (int i = 0; i < n; i++) {
			q[(size_t)r * n + i] = proj(wt->wq, wt->bq, x, c, n, r, i);
			k[(size_t)r * n + i] = proj(wt->wk, wt->bk, x, c, n, r, i);
		}
	for (int r = 0; r < c; r++)
		for (int i = 0; i < n; i++)
			v[(size_t)r * n + i] = proj(wt->wv, wt->bv, x, c, n, r, i);
	for (int i = 0; i < n; i++) {
		double m = -INFINITY, s = 0.0;
		for (int j = 0; j < n; j++) {
			double sc = 0.0;
			for (int r = 0; r < dq; r++)
				sc += q[(size_t)r * n + i] * k[(size_t)r * n + j];
			a[j] = d->scale * sc;
			m = a[j] > m ? a[j] : m;
		}
		for (int j = 0; j < n; j++)
			s += a[j] = exp(a[j] - m);
		for (int ch = 0; ch < c; ch++) {
			double acc = 0.0;
			for (int j = 0; j < n; j++)
				acc += v[(size_t)ch * n + j] * a[j];
			out[(size_t)ch * n + i] = (float)(x[(size_t)ch * n + i] + acc / s);
		}
	}
	free(q);
	free(k);
	free(v);
	free(a);
}

/* Pack and run one ISA into out (count floats + canary), checking all bounds. */
static void run(const struct ck_kernels *t, const char *name, const struct ck_attn_desc *d,
		const struct weights *wt, const float *in, float *out, size_t count, int n)
{
	const size_t pf = t->attn_packed_floats(d);
	float *packed = th_alloc((pf + CANARY) * sizeof(float));
	set_canary(packed + pf, CANARY * sizeof(float));
	t->attn_pack(d, wt->wq, wt->bq, wt->wk, wt->bk, wt->wv, wt->bv, packed);
	TH_CHECK(canary_ok(packed + pf, CANARY * sizeof(float)), "%s/%s: pack overran %zu floats",
		 t->name, name, pf);

	const size_t wsb = t->attn_workspace_bytes(d, n);
	unsigned char *ws = th_alloc(wsb + 256);
	poison_run(ws, wsb, out, count, CANARY);
	t->attn_run(d, packed, in, out, n, ws);
	TH_CHECK(canary_ok(ws + wsb, 256), "%s/%s: workspace overran %zu bytes", t->name, name,
		 wsb);
	TH_CHECK(canary_ok(out + count, CANARY * sizeof(float)), "%s/%s: output overran", t->name,
		 name);
	free(packed);
	free(ws);
}

/* Every ISA against the naive attention of in (n images). */
static void check_all(const char *name, const struct ck_attn_desc *d, const struct weights *wt,
			const float *in, int n)
{
	TH_CHECK(ck_attn_desc_check(d) == 0, "%s: desc rejected", name);
	const size_t plane = (size_t)d->c * (size_t)(d->h * d->w), count = plane * (size_t)n;
	float *ref = th_alloc(count * sizeof(float));
	float *got = th_alloc((count + CANARY) * sizeof(float));
	float *keep = th_alloc(count * sizeof(float));
	memcpy(keep, in, count * sizeof(float));
	for (int img = 0; img < n; img++)
		naive_image(d, wt, in + img * plane, ref + img * plane);
	for (int i = 0; i < CK_ISA_COUNT; i++) {
		const struct ck_kernels *t = ck_kernels_for((enum ck_isa)i);
		if (!t)
			continue;
		run(t, name, d, wt, in, got, count, n);
		const double e = th_nerr(ref, got, count);
		if (!(e <= worst[i]))
			worst[i] = e;
		TH_CHECK(e <= TOL, "%s/%s vs naive: nerr %g", t->name, name, e);
		TH_CHECK(!memcmp(keep, in, count * sizeof(float)), "%s/%s: input changed", t->name,
			 name);
	}
	free(ref);
	free(got);
	free(keep);
}

static float *alloc_fill(size_t count, float amp, uint64_t seed)
{
	float *p = th_alloc(count * sizeof(float));
	th_fill(p, count, seed);
	for (size_t i = 0; i < count; i++)
		p[i] *= amp;
	return p;
}

static void free_weights(struct weights *wt)
{
	free(wt->wq);
	free(wt->bq);
	free(wt->wk);
	free(wt->bk);
	free(wt->wv);
	free(wt->bv);
}

/* Random weights, scaled so q and k have about unit variance (see the top). */
static void random_weights(const struct ck_attn_desc *d, struct weights *wt, uint64_t seed)
{
	const size_t c = (size_t)d->c, dq = (size_t)d->dqk;
	const float a = 3.0f / sqrtf((float)d->c);
	wt->wq = alloc_fill(dq * c, a, seed + 1);
	wt->wk = alloc_fill(dq * c, a, seed + 2);
	wt->wv = alloc_fill(c * c, a, seed + 3);
	wt->bq = alloc_fill(dq, 0.5f, seed + 4);
	wt->bk = alloc_fill(dq, 0.5f, seed + 5);
	wt->bv = alloc_fill(c, 0.5f, seed + 6);
}

static void check_shape(const char *name, int c, int dqk, int h, int w, int n, float scale,
			int nobias)
{
	struct ck_attn_desc d = {.c = c, .h = h, .w = w, .dqk = dqk, .scale = scale};
	struct weights wt;
	random_weights(&d, &wt, (uint64_t)c * 131 + (uint64_t)dqk * 17 + (uint64_t)(h * w));
	struct weights use = wt;
	if (nobias)
		use.bq = use.bk = use.bv = NULL;
	float *in = alloc_fill((size_t)n * c * h * w, 1.0f, 7 + (uint64_t)n);
	check_all(name, &d, &use, in, n);
	free(in);
	free_weights(&wt);
}

/* Scores made exact: dqk = 1, q = 1 everywhere (bias only), k = channel 0 of x.
 * Channel 0 holds base + the logits lg[] at the positions given, small values
 * elsewhere: with base = 0 and a logit of 200, exp(200) overflows float; with
 * base = -300 every exp(logit) underflows to 0. */
static void check_huge(const char *name, int h, int w, float base, const int *pos,
		       const float *lg, int npos)
{
	const int c = 5, n = 2, np = h * w;
	struct ck_attn_desc d = {.c = c, .h = h, .w = w, .dqk = 1, .scale = 1.0f};
	struct weights wt;
	random_weights(&d, &wt, 99);
	memset(wt.wq, 0, (size_t)c * sizeof(float));
	memset(wt.wk, 0, (size_t)c * sizeof(float));
	wt.wk[0] = 1.0f;
	wt.bq[0] = 1.0f;
	wt.bk[0] = 0.0f;
	float *in = alloc_fill((size_t)n * c * np, 1.0f, 5);
	for (int img = 0; img < n; img++) {
		float *ch0 = in + (size_t)img * c * np;
		for (int j = 0; j < np; j++)
			ch0[j] += base;
		for (int p = 0; p < npos; p++)
			ch0[pos[p] % np] = base + lg[p] + (float)img;
	}
	check_all(name, &d, &wt, in, n);
	free(in);
	free_weights(&wt);
}

static void huge_logits(void)
{
	static const int one[] = {0}, last[] = {63}, two[] = {5, 40};
	static const float big[] = {200.0f}, pair[] = {200.0f, 199.5f};
	check_huge("huge-first", 8, 8, 0.0f, one, big, 1);
	check_huge("huge-last", 8, 8, 0.0f, last, big, 1);
	check_huge("huge-pair-3x5", 3, 5, 0.0f, two, pair, 2);
	check_huge("huge-pair-7x7", 7, 7, 0.0f, two, pair, 2);
	check_huge("all-negative", 4, 4, -300.0f, one, big, 0);
	check_huge("negative-pair", 5, 7, -1000.0f, two, pair, 2);
}

static void validation(void)
{
	const struct ck_attn_desc ok = {.c = 16, .h = 4, .w = 4, .dqk = 2, .scale = 1.0f};
	TH_CHECK(ck_attn_desc_check(&ok) == 0, "valid desc rejected");
	struct ck_attn_desc bad = ok;
	bad.dqk = 0;
	TH_CHECK(ck_attn_desc_check(&bad) == -EINVAL, "dqk 0 accepted");
	bad = ok;
	bad.h = 0;
	TH_CHECK(ck_attn_desc_check(&bad) == -EINVAL, "h 0 accepted");
	bad = ok;
	bad.h = 65, bad.w = 64;
	TH_CHECK(ck_attn_desc_check(&bad) == -EINVAL, "N > CK_ATTN_N_MAX accepted");
	bad = ok;
	bad.scale = NAN;
	TH_CHECK(ck_attn_desc_check(&bad) == -EINVAL, "NaN scale accepted");
}

struct shape {
	const char *name;
	int c, dqk, h, w, n;
	float scale;
	int nobias, big; /* big: skipped under qemu */
};

static const struct shape named[] = {
	/* projection groups (the fewest images that fill NR columns) with a partial
	 * last group, and panels that span several images */
	{"7x7-b13", 9, 2, 7, 7, 13, 1.0f, 0, 0},
	{"1x1-b40", 6, 3, 1, 1, 40, 1.0f, 0, 0},
	{"1x3-b7", 10, 3, 1, 3, 7, 1.0f, 0, 0},
	{"4x4-b35", 12, 2, 4, 4, 35, 1.0f, 0, 0},
	/* the scaled dot product convention, and no biases */
	{"scale-1/sqrt(d)", 32, 4, 5, 6, 2, 0.5f, 0, 0},
	{"scale-0", 12, 3, 4, 5, 1, 0.0f, 0, 0},
	{"nobias", 20, 5, 6, 5, 3, 1.0f, 1, 0},
	/* K blocks: C + 1 and N around 256 */
	{"K255-c254", 254, 8, 2, 3, 1, 1.0f, 0, 0},
	{"K257-c256", 256, 8, 2, 3, 1, 1.0f, 0, 0},
	{"N255", 8, 2, 15, 17, 1, 1.0f, 0, 0},
	{"N257", 8, 2, 1, 257, 1, 1.0f, 0, 0},
	/* the codec's sizes: SAGAN's C/8 */
	{"c64-d8-8x8-b3", 64, 8, 8, 8, 3, 1.0f, 0, 0},
	{"c128-d16-16x16", 128, 16, 16, 16, 1, 1.0f, 0, 1},
	{"c64-d8-32x32", 64, 8, 32, 32, 1, 1.0f, 0, 1},
	{"c512-d64-4x4-b3", 512, 64, 4, 4, 3, 1.0f, 0, 1},
};

int main(void)
{
	const int emulated = ck_kernels_for(CK_ISA_NEON) != NULL;
	char name[96];

	/* the brief's planes, odd and even C and dqk, batch 1 and 3 */
	static const int planes[][2] = {{1, 1}, {3, 5}, {4, 4}, {7, 7}, {8, 8}, {16, 16}};
	static const int cd[][2] = {{16, 2}, {17, 3}, {24, 3}, {5, 1}};
	for (size_t p = 0; p < sizeof planes / sizeof planes[0]; p++)
		for (size_t i = 0; i < sizeof cd / sizeof cd[0]; i++)
			for (int n = 1; n <= 3; n += 2) {
				snprintf(name, sizeof name, "%dx%d-c%d-d%d-b%d", planes[p][0],
					 planes[p][1], cd[i][0], cd[i][1], n);
				check_shape(name, cd[i][0], cd[i][1], planes[p][0], planes[p][1], n,
					    1.0f, 0);
			}
	/* N = tile - 1, tile, tile + 1 for every MR and NR, as one row of positions;
	 * C the same way (C is the M of the output GEMM) */
	static const int ns[] = {3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 25, 31, 32, 33, 65};
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		snprintf(name, sizeof name, "row%d", ns[i]);
		check_shape(name, 9, 2, 1, ns[i], 2, 1.0f, 0);
		snprintf(name, sizeof name, "c%d", ns[i]);
		check_shape(name, ns[i], ns[i] % 4 + 1, 3, 3, 1, 1.0f, 0);
	}
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		const struct shape *t = &named[i];
		if (!t->big || !emulated)
			check_shape(t->name, t->c, t->dqk, t->h, t->w, t->n, t->scale, t->nobias);
	}
	huge_logits();
	validation();

	printf("worst nerr vs naive:");
	for (int i = 0; i < CK_ISA_COUNT; i++)
		if (ck_kernels_for((enum ck_isa)i))
			printf(" %s %.3g", ck_isa_name((enum ck_isa)i), worst[i]);
	printf("\n");
	return th_finish("test-attn");
}
