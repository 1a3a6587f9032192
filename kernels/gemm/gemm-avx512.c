/* AVX-512 GEMM: 12x32 tile = 24 zmm accumulators (12 rows x 2 vectors of 16).
 * Per k: 2 aligned B loads and 12 A broadcasts, each folded into the FMA as an
 * embedded {1to16} memory operand, feed 24 FMAs; that keeps both FMA pipes busy
 * (24 independent chains cover the 4-cycle latency x 2 pipes many times over) while
 * using 26 of the 32 zmm registers. Row counts below 12 get their own instantiation
 * so a remainder tile never computes padding rows; the 1-row case (batch-1 fc) splits
 * K over 4 accumulator sets since 2 chains alone would leave it latency-bound. */
#include <immintrin.h>

#include "gemm.h"
#include "gemm-inline.h"

#define MR 12
#define NR 32

/* Accumulators are named variables rather than an array: with arrays, clang keeps
 * the partial tiles (mr < 12) in memory. */
#define CK_REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

static inline __attribute__((always_inline)) void store_row(float *const *c, size_t off, __m512 v0,
							    __m512 v1, int nv, int full,
							    __mmask16 m0, __mmask16 m1,
							    int accumulate)
{
	float *c0 = c[0] + off, *c1 = c[1] + off;
	if (full) {
		if (accumulate) {
			v0 = _mm512_add_ps(v0, _mm512_loadu_ps(c0));
			if (nv > 1)
				v1 = _mm512_add_ps(v1, _mm512_loadu_ps(c1));
		}
		_mm512_storeu_ps(c0, v0);
		if (nv > 1)
			_mm512_storeu_ps(c1, v1);
	} else {
		if (accumulate) {
			v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c0));
			if (nv > 1)
				v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c1));
		}
		_mm512_mask_storeu_ps(c0, m0, v0);
		if (nv > 1)
			_mm512_mask_storeu_ps(c1, m1, v1);
	}
}

/* nv = 2: the 12x32 kernel; nv = 1: 12x16 over the low half of 32-wide B panels, for
 * panels with at most 16 valid columns (a batch-1 conv on a 4x4 plane, an fc with
 * cout <= 16), which would otherwise spend half their FMAs on padding. */
static inline __attribute__((always_inline)) void
gemm_12x32(size_t kc, const float *a, const float *b, float *const *c, size_t ldc, size_t nvalid,
	   int accumulate, const int mr, const int nv)
{
#define CK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
	CK_REP12(CK_DECL)
#undef CK_DECL
	size_t k = 0;
	if (mr == 1) {
		__m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
		__m512 y0 = _mm512_setzero_ps(), y1 = _mm512_setzero_ps();
		__m512 z0 = _mm512_setzero_ps(), z1 = _mm512_setzero_ps();
		for (; k + 4 <= kc; k += 4) {
			const __m512 a0 = _mm512_set1_ps(a[0]), a1 = _mm512_set1_ps(a[MR]);
			const __m512 a2 = _mm512_set1_ps(a[2 * MR]), a3 = _mm512_set1_ps(a[3 * MR]);
			c00 = _mm512_fmadd_ps(a0, _mm512_load_ps(b), c00);
			x0 = _mm512_fmadd_ps(a1, _mm512_load_ps(b + NR), x0);
			y0 = _mm512_fmadd_ps(a2, _mm512_load_ps(b + 2 * NR), y0);
			z0 = _mm512_fmadd_ps(a3, _mm512_load_ps(b + 3 * NR), z0);
			if (nv > 1) {
				c01 = _mm512_fmadd_ps(a0, _mm512_load_ps(b + 16), c01);
				x1 = _mm512_fmadd_ps(a1, _mm512_load_ps(b + NR + 16), x1);
				y1 = _mm512_fmadd_ps(a2, _mm512_load_ps(b + 2 * NR + 16), y1);
				z1 = _mm512_fmadd_ps(a3, _mm512_load_ps(b + 3 * NR + 16), z1);
			}
			a += 4 * MR;
			b += 4 * NR;
		}
		c00 = _mm512_add_ps(_mm512_add_ps(c00, x0), _mm512_add_ps(y0, z0));
		c01 = _mm512_add_ps(_mm512_add_ps(c01, x1), _mm512_add_ps(y1, z1));
	}
	for (; k < kc; k++) {
		const __m512 b0 = _mm512_load_ps(b);
		const __m512 b1 = nv > 1 ? _mm512_load_ps(b + 16) : b0;
#define CK_FMA(r)                                                                                  \
	if (mr > r) {                                                                              \
		const __m512 ar = _mm512_set1_ps(a[r]);                                            \
		c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                                        \
		if (nv > 1)                                                                        \
			c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);                                \
	}
		CK_REP12(CK_FMA)
#undef CK_FMA
		a += MR;
		b += NR;
	}
	const int full = nvalid >= (size_t)(16 * nv);
	const __mmask16 m0 = nvalid >= 16 ? 0xffff : (__mmask16)((1u << nvalid) - 1);
	const __mmask16 m1 = nvalid >= 32  ? 0xffff
			     : nvalid > 16 ? (__mmask16)((1u << (nvalid - 16)) - 1)
					   : 0;
#define CK_STORE(r)                                                                                \
	if (mr > r)                                                                                \
		store_row(c, ldc *(size_t)(r), c##r##0, c##r##1, nv, full, m0, m1, accumulate);
	CK_REP12(CK_STORE)
#undef CK_STORE
}

#define DEF(m)                                                                                     \
	CK_GEMM_DECLARE(m, 32, avx512)                                                             \
	void ck_f32_gemm_ukernel_##m##x32__avx512(size_t kc, const float *a, const float *b,       \
						  float *const *c, size_t ldc, size_t nvalid,      \
						  int accumulate)                                  \
	{                                                                                          \
		gemm_12x32(kc, a, b, c, ldc, nvalid, accumulate, m, 2);                            \
	}                                                                                          \
	CK_GEMM_DECLARE(m, 16, avx512)                                                             \
	void ck_f32_gemm_ukernel_##m##x16__avx512(size_t kc, const float *a, const float *b,       \
						  float *const *c, size_t ldc, size_t nvalid,      \
						  int accumulate)                                  \
	{                                                                                          \
		gemm_12x32(kc, a, b, c, ldc, nvalid, accumulate, m, 1);                            \
	}
DEF(1)
DEF(2)
DEF(3)
DEF(4)
DEF(5)
DEF(6)
DEF(7)
DEF(8)
DEF(9)
DEF(10)
DEF(11)
DEF(12)

/* im2col with stride-1 runs copied by masked loads: lanes outside [lo, hi) are never
 * read (the mask suppresses faults), so padding needs no separate zero pass. Runs
 * are stored with plain 16-lane stores whenever that stays inside the row (the lanes
 * past the run land on later runs of the same row, written afterwards: runs go in
 * column order) and masked only at the row's end. */
static void im2col_pack_avx512(const struct ck_im2col_panel *p, size_t k0, size_t kc, float *dst)
{
	if (p->sw != 1) {
		ck_im2col_pack_body(p, k0, kc, dst);
		return;
	}
	const size_t rstride = (size_t)p->taps * NR, cs = p->chan_stride;
	const __m512 zero = _mm512_setzero_ps();
	for (int tap = 0; tap < p->taps; tap++) {
		const int ky = tap / p->kw, kx = tap % p->kw;
		size_t ci0;
		const size_t nci = ck_im2col_tap_rows(p, k0, kc, tap, &ci0);
		if (!nci)
			continue;
		float *drow = dst + (ci0 * (size_t)p->taps + (size_t)tap - k0) * NR;
		const float *src = p->in + ci0 * cs + (ptrdiff_t)ky * p->w + kx;
		for (int i = 0; i < p->nruns; i++) {
			const struct ck_im2col_run *r = &p->runs[i];
			float *d = drow + r->col;
			const int len = r->len;
			const uint64_t lm = ck_im2col_mask_s1(p, r, ky, kx);
			const uint64_t sm = (1ull << len) - 1;
			const float *s = src + r->off;
			const __mmask16 l0 = (__mmask16)lm, l1 = (__mmask16)(lm >> 16);
			if (len > 16) {
				/* a run of 17..32 lanes starts at column 0..15 */
				const __mmask16 s1 = (__mmask16)(sm >> 16);
				for (size_t c = 0; c < nci; c++, d += rstride, s += cs) {
					_mm512_storeu_ps(d, _mm512_maskz_loadu_ps(l0, s));
					_mm512_mask_storeu_ps(d + 16, s1,
							      _mm512_maskz_loadu_ps(l1, s + 16));
				}
			} else if (!lm) {
				const __mmask16 s0 = (__mmask16)sm;
				for (size_t c = 0; c < nci; c++, d += rstride)
					_mm512_mask_storeu_ps(d, s0, zero);
			} else if (r->col + 16 <= NR) {
				for (size_t c = 0; c < nci; c++, d += rstride, s += cs)
					_mm512_storeu_ps(d, _mm512_maskz_loadu_ps(l0, s));
			} else {
				const __mmask16 s0 = (__mmask16)sm;
				for (size_t c = 0; c < nci; c++, d += rstride, s += cs)
					_mm512_mask_storeu_ps(d, s0, _mm512_maskz_loadu_ps(l0, s));
			}
		}
	}
	ck_im2col_ones_row(p, k0, kc, dst);
}

static void dw_plane_avx512(const float *in, int h, int w, const float *wt, float bias, int kh,
			    int kw, int sh, int sw, int ph, int pw, float *out, int oh, int ow)
{
	ck_dw_plane_body(in, h, w, wt, bias, kh, kw, sh, sw, ph, pw, out, oh, ow);
}

const struct ck_gemm_ops ck_gemm_ops__avx512 = {
	.name = "avx512",
	.mr = MR,
	.nr = NR,
	.vl = 16,
	.kc = 256,
	.nc = 512,
	.ukernel = {ck_f32_gemm_ukernel_1x32__avx512, ck_f32_gemm_ukernel_2x32__avx512,
		    ck_f32_gemm_ukernel_3x32__avx512, ck_f32_gemm_ukernel_4x32__avx512,
		    ck_f32_gemm_ukernel_5x32__avx512, ck_f32_gemm_ukernel_6x32__avx512,
		    ck_f32_gemm_ukernel_7x32__avx512, ck_f32_gemm_ukernel_8x32__avx512,
		    ck_f32_gemm_ukernel_9x32__avx512, ck_f32_gemm_ukernel_10x32__avx512,
		    ck_f32_gemm_ukernel_11x32__avx512, ck_f32_gemm_ukernel_12x32__avx512},
	.ukernel_half = {ck_f32_gemm_ukernel_1x16__avx512, ck_f32_gemm_ukernel_2x16__avx512,
			 ck_f32_gemm_ukernel_3x16__avx512, ck_f32_gemm_ukernel_4x16__avx512,
			 ck_f32_gemm_ukernel_5x16__avx512, ck_f32_gemm_ukernel_6x16__avx512,
			 ck_f32_gemm_ukernel_7x16__avx512, ck_f32_gemm_ukernel_8x16__avx512,
			 ck_f32_gemm_ukernel_9x16__avx512, ck_f32_gemm_ukernel_10x16__avx512,
			 ck_f32_gemm_ukernel_11x16__avx512, ck_f32_gemm_ukernel_12x16__avx512},
	.im2col_pack = im2col_pack_avx512,
	.dw_plane = dw_plane_avx512,
};
