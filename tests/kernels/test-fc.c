/* Fully-connected kernels: the scalar reference against a double-accumulated naive
 * loop, then every SIMD level available against the scalar reference, over batch
 * sizes around every MR (4, 6, 8, 12), cout around every NR (8, 12, 16, 32), cin around
 * the K block (256), and the model's fc layers at batch 1, 8 and 32.
 *
 * Tolerances (normalised error, see harness.h), both 1e-5: the reference's float sum
 * of K = cin + 1 terms (<= 2049 here) has random-sign rounding error of order
 * u * sqrt(K) ~ 3e-6 of max |ref| at worst (measured <= 4e-7); the SIMD levels
 * sum in the same K order and blocks and differ only by FMA rounding (measured
 * <= 2e-7). Index or packing bugs give O(1) errors. */
#include <string.h>

#include "coinfer/kernels.h"
#include "harness.h"
#include "canary.h"

#define TOL_REF 1e-5
#define TOL_SIMD 1e-5
#define CANARY 64

static double worst_ref, worst_simd;

static void run(const struct ck_kernels *t, const struct ck_fc_desc *d, int n, const float *w,
		const float *b, const float *in, float *out)
{
	const size_t pf = t->fc_packed_floats(d), count = (size_t)n * (size_t)d->cout;
	float *packed = th_alloc((pf + CANARY) * sizeof(float));
	set_canary(packed + pf, CANARY * sizeof(float));
	t->fc_pack(d, w, b, packed);
	TH_CHECK(canary_ok(packed + pf, CANARY * sizeof(float)), "%s: fc pack %dx%d overran",
		 t->name, d->cin, d->cout);
	const size_t wsb = t->fc_workspace_bytes(d, n);
	unsigned char *ws = th_alloc(wsb + 256);
	poison_run(ws, wsb, out, count, CANARY);
	t->fc_run(d, packed, in, out, n, ws);
	TH_CHECK(canary_ok(ws + wsb, 256), "%s: fc %dx%d n=%d workspace overran", t->name, d->cin,
		 d->cout, n);
	TH_CHECK(canary_ok(out + count, CANARY * sizeof(float)), "%s: fc %dx%d n=%d output overran",
		 t->name, d->cin, d->cout, n);
	free(packed);
	free(ws);
}

static void check(const char *name, int n, int cin, int cout, int nobias)
{
	struct ck_fc_desc d = {.cin = cin, .cout = cout};
	const size_t nw = (size_t)cin * (size_t)cout, nin = (size_t)n * (size_t)cin;
	const size_t nout = (size_t)n * (size_t)cout;
	float *w = th_alloc(nw * sizeof(float)), *b = th_alloc((size_t)cout * sizeof(float));
	float *in = th_alloc(nin * sizeof(float)), *nv = th_alloc(nout * sizeof(float));
	float *ref = th_alloc((nout + CANARY) * sizeof(float));
	float *got = th_alloc((nout + CANARY) * sizeof(float));
	th_fill(w, nw, 11 + (uint64_t)cin);
	th_fill(b, (size_t)cout, 12 + (uint64_t)cout);
	th_fill(in, nin, 13 + (uint64_t)n);
	const float *bias = nobias ? NULL : b;

	for (int i = 0; i < n; i++)
		for (int o = 0; o < cout; o++) {
			double acc = bias ? bias[o] : 0.0;
			for (int k = 0; k < cin; k++)
				acc += (double)in[(size_t)i * cin + k] * w[(size_t)o * cin + k];
			nv[(size_t)i * cout + o] = (float)acc;
		}
	run(ck_kernels_for(CK_ISA_SCALAR), &d, n, w, bias, in, ref);
	double e = th_nerr(nv, ref, nout);
	if (e > worst_ref)
		worst_ref = e;
	TH_CHECK(e <= TOL_REF, "scalar/%s n=%d %dx%d vs naive: nerr %g", name, n, cin, cout, e);
	for (int i = 1; i < CK_ISA_COUNT; i++) {
		const struct ck_kernels *t = ck_kernels_for((enum ck_isa)i);
		if (!t)
			continue;
		run(t, &d, n, w, bias, in, got);
		e = th_nerr(ref, got, nout);
		if (e > worst_simd)
			worst_simd = e;
		TH_CHECK(e <= TOL_SIMD, "%s/%s n=%d %dx%d vs scalar: nerr %g", t->name, name, n,
			 cin, cout, e);
	}
	free(w);
	free(b);
	free(in);
	free(nv);
	free(ref);
	free(got);
}

int main(void)
{
	static const int batches[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 23, 24, 25, 32};
	for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
		check("batch", batches[i], 37, 33, 0);
	static const int couts[] = {1, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 24, 31, 32, 33, 64, 65};
	for (size_t i = 0; i < sizeof couts / sizeof couts[0]; i++) {
		check("cout", 3, 19, couts[i], 0);
		check("cout-b1", 1, 19, couts[i], 0);
	}
	static const int cins[] = {1, 2, 3, 4, 5, 254, 255, 256, 257, 511, 512, 767};
	for (size_t i = 0; i < sizeof cins / sizeof cins[0]; i++) {
		check("cin", 2, cins[i], 17, 0);
		check("cin-b1", 1, cins[i], 40, 0);
	}
	check("nobias", 5, 29, 21, 1);
	check("nobias-b1", 1, 300, 45, 1);

	static const struct {
		const char *name;
		int cin, cout;
	} model[] = {
		{"fc6", 1024, 512}, {"fc7", 512, 10}, {"b1_fc", 2048, 10}, {"b2_fc", 2048, 10}};
	static const int mb[] = {1, 8, 32};
	for (size_t i = 0; i < sizeof model / sizeof model[0]; i++)
		for (size_t j = 0; j < sizeof mb / sizeof mb[0]; j++)
			check(model[i].name, mb[j], model[i].cin, model[i].cout, 0);

	printf("worst nerr: scalar vs naive %.3g, simd vs scalar %.3g\n", worst_ref, worst_simd);
	return th_finish("test-fc");
}
