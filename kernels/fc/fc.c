/* Fully connected: out[n][cout] = in[n][cin] . W^T + b, on the packed GEMM.
 *
 * Orientation: M = batch rows (broadcast operand, packed per run into the workspace),
 * N = cout (vector operand = the weights, prepacked once into NR-column panels with
 * the bias as the extra K row matched by a column of ones in A). Output rows are then
 * contiguous along cout, as the [n][cout] layout wants, and a batch of one is a plain
 * streaming GEMV: every weight is loaded once and the 1-row microkernels split K over
 * several accumulators so FMA latency does not cap them below load bandwidth.
 * Loop order: K block, then weight panel, then row tiles, so a weight panel slice is
 * fetched from memory once and reused from L1 by all row tiles of the batch. */
#include "gemm/gemm.h"
#include "gemm/pack-rows.h"
#include "internal.h"

static size_t div_up(size_t a, size_t b)
{
	return (a + b - 1) / b;
}

static size_t fc_packed_floats(const struct ck_gemm_ops *o, const struct ck_fc_desc *d)
{
	return div_up((size_t)d->cout, (size_t)o->nr) * (size_t)o->nr * ((size_t)d->cin + 1);
}

static void fc_pack(const struct ck_gemm_ops *o, const struct ck_fc_desc *d, const float *w,
		    const float *bias, float *packed)
{
	const size_t nr = (size_t)o->nr, cin = (size_t)d->cin, cout = (size_t)d->cout;
	const size_t npan = div_up(cout, nr);
	for (size_t p = 0; p < npan; p++)
		for (size_t k = 0; k <= cin; k++)
			for (size_t j = 0; j < nr; j++) {
				const size_t co = p * nr + j;
				float v = 0.0f;
				if (co < cout)
					v = k < cin ? w[co * cin + k] : (bias ? bias[co] : 0.0f);
				*packed++ = v;
			}
}

static size_t fc_workspace_bytes(const struct ck_gemm_ops *o, const struct ck_fc_desc *d, int n)
{
	if (n < 1)
		return 0;
	return div_up((size_t)n, (size_t)o->mr) * (size_t)o->mr * ((size_t)d->cin + 1) *
	       sizeof(float);
}

static void fc_run(const struct ck_gemm_ops *o, const struct ck_fc_desc *d, const float *packed,
		   const float *in, float *out, int n, void *ws)
{
	if (n < 1)
		return;
	const size_t mr_full = (size_t)o->mr, nr = (size_t)o->nr, vl = (size_t)o->vl;
	const size_t cin = (size_t)d->cin, cout = (size_t)d->cout, k1 = cin + 1;
	const size_t rows = (size_t)n, mpanels = div_up(rows, mr_full), npan = div_up(cout, nr);
	float *a = ws;

	/* A panels: a[(ip * k1 + k) * MR + r], the last k being the ones of the bias row */
	for (size_t ip = 0; ip < mpanels; ip++) {
		float *ap = a + ip * k1 * mr_full;
		const size_t mr = rows - ip * mr_full < mr_full ? rows - ip * mr_full : mr_full;
		ck_pack_rows(in + ip * mr_full * cin, cin, cin, mr, mr_full, ap);
		for (size_t r = 0; r < mr_full; r++)
			ap[cin * mr_full + r] = 1.0f;
	}

	const size_t nkb = div_up(k1, (size_t)o->kc), kc = div_up(k1, nkb);
	for (size_t kb = 0; kb < nkb; kb++) {
		const size_t k0 = kb * kc, kcb = k1 - k0 < kc ? k1 - k0 : kc;
		for (size_t p = 0; p < npan; p++) {
			const float *b = packed + p * k1 * nr + k0 * nr;
			const size_t nvalid = cout - p * nr < nr ? cout - p * nr : nr;
			for (size_t ip = 0; ip < mpanels; ip++) {
				const size_t row0 = ip * mr_full;
				const size_t mr = rows - row0 < mr_full ? rows - row0 : mr_full;
				float *c[CK_GEMM_MAX_NV];
				float *c0 = out + row0 * cout + p * nr;
				for (size_t v = 0; v < nr / vl; v++)
					c[v] = v * vl < nvalid ? c0 + v * vl : c0;
				ck_gemm_pick(o, mr, nvalid)(kcb,
							    a + ip * k1 * mr_full + k0 * mr_full, b,
							    c, cout, nvalid, kb > 0);
			}
		}
	}
}

#define CK_FC_ISA(isa)                                                                             \
	size_t ck_fc_packed_floats__##isa(const struct ck_fc_desc *d)                              \
	{                                                                                          \
		return fc_packed_floats(&ck_gemm_ops__##isa, d);                                   \
	}                                                                                          \
	void ck_fc_pack__##isa(const struct ck_fc_desc *d, const float *w, const float *bias,      \
			       float *packed)                                                      \
	{                                                                                          \
		fc_pack(&ck_gemm_ops__##isa, d, w, bias, packed);                                  \
	}                                                                                          \
	size_t ck_fc_workspace_bytes__##isa(const struct ck_fc_desc *d, int n)                     \
	{                                                                                          \
		return fc_workspace_bytes(&ck_gemm_ops__##isa, d, n);                              \
	}                                                                                          \
	void ck_fc_run__##isa(const struct ck_fc_desc *d, const float *packed, const float *in,    \
			      float *out, int n, void *ws)                                         \
	{                                                                                          \
		fc_run(&ck_gemm_ops__##isa, d, packed, in, out, n, ws);                            \
	}

CK_FC_ISA(scalar)
#ifdef CK_HAVE_AVX2
CK_FC_ISA(avx2)
#endif
#ifdef CK_HAVE_AVX512
CK_FC_ISA(avx512)
#endif
#ifdef CK_HAVE_NEON
CK_FC_ISA(neon)
#endif
