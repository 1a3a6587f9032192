/* AVX2+FMA GEMM: 6x16 tile = 12 ymm accumulators (6 rows x 2 vectors of 8), plus
 * 2 B vectors and 1 broadcast: 15 of the 16 ymm registers. 12 independent FMA chains
 * cover the FMA latency x 2 pipes; per k, 2 B loads + 6 broadcasts feed 12 FMAs,
 * within the load ports' budget. */
#include <immintrin.h>

#include "gemm.h"
#include "gemm-inline.h"

#define MR 6
#define NR 16

/* first n lanes all-ones: load 8 ints at lane_mask + 8 - n */
static const int32_t lane_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Named accumulators, not an array: clang keeps arrays of partial tiles in memory. */
#define CK_REP6(X) X(0) X(1) X(2) X(3) X(4) X(5)

static inline __attribute__((always_inline)) void store_row(float *const *c, size_t off, __m256 v0,
							    __m256 v1, int full, __m256i m0,
							    __m256i m1, int accumulate)
{
	float *c0 = c[0] + off, *c1 = c[1] + off;
	if (full) {
		if (accumulate) {
			v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c0));
			v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c1));
		}
		_mm256_storeu_ps(c0, v0);
		_mm256_storeu_ps(c1, v1);
	} else {
		if (accumulate) {
			v0 = _mm256_add_ps(v0, _mm256_maskload_ps(c0, m0));
			v1 = _mm256_add_ps(v1, _mm256_maskload_ps(c1, m1));
		}
		_mm256_maskstore_ps(c0, m0, v0);
		_mm256_maskstore_ps(c1, m1, v1);
	}
}

static inline __attribute__((always_inline)) void gemm_6x16(size_t kc, const float *a,
							    const float *b, float *const *c,
							    size_t ldc, size_t nvalid,
							    int accumulate, const int mr)
{
#define CK_DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
	CK_REP6(CK_DECL)
#undef CK_DECL
	size_t k = 0;
	if (mr == 1) {
		__m256 x0 = _mm256_setzero_ps(), x1 = _mm256_setzero_ps();
		__m256 y0 = _mm256_setzero_ps(), y1 = _mm256_setzero_ps();
		__m256 z0 = _mm256_setzero_ps(), z1 = _mm256_setzero_ps();
		for (; k + 4 <= kc; k += 4) {
			const __m256 a0 = _mm256_broadcast_ss(a), a1 = _mm256_broadcast_ss(a + MR);
			const __m256 a2 = _mm256_broadcast_ss(a + 2 * MR);
			const __m256 a3 = _mm256_broadcast_ss(a + 3 * MR);
			c00 = _mm256_fmadd_ps(a0, _mm256_load_ps(b), c00);
			c01 = _mm256_fmadd_ps(a0, _mm256_load_ps(b + 8), c01);
			x0 = _mm256_fmadd_ps(a1, _mm256_load_ps(b + NR), x0);
			x1 = _mm256_fmadd_ps(a1, _mm256_load_ps(b + NR + 8), x1);
			y0 = _mm256_fmadd_ps(a2, _mm256_load_ps(b + 2 * NR), y0);
			y1 = _mm256_fmadd_ps(a2, _mm256_load_ps(b + 2 * NR + 8), y1);
			z0 = _mm256_fmadd_ps(a3, _mm256_load_ps(b + 3 * NR), z0);
			z1 = _mm256_fmadd_ps(a3, _mm256_load_ps(b + 3 * NR + 8), z1);
			a += 4 * MR;
			b += 4 * NR;
		}
		c00 = _mm256_add_ps(_mm256_add_ps(c00, x0), _mm256_add_ps(y0, z0));
		c01 = _mm256_add_ps(_mm256_add_ps(c01, x1), _mm256_add_ps(y1, z1));
	}
	for (; k < kc; k++) {
		const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#define CK_FMA(r)                                                                                  \
	if (mr > r) {                                                                              \
		const __m256 ar = _mm256_broadcast_ss(a + r);                                      \
		c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);                                        \
		c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);                                        \
	}
		CK_REP6(CK_FMA)
#undef CK_FMA
		a += MR;
		b += NR;
	}
	const int full = nvalid >= NR;
	const size_t n0 = nvalid >= 8 ? 8 : nvalid, n1 = nvalid > 8 ? nvalid - 8 : 0;
	const __m256i m0 = _mm256_loadu_si256((const __m256i *)(lane_mask + 8 - n0));
	const __m256i m1 = _mm256_loadu_si256((const __m256i *)(lane_mask + 8 - n1));
#define CK_STORE(r)                                                                                \
	if (mr > r)                                                                                \
		store_row(c, ldc *(size_t)(r), c##r##0, c##r##1, full, m0, m1, accumulate);
	CK_REP6(CK_STORE)
#undef CK_STORE
}

#define DEF(m)                                                                                     \
	CK_GEMM_DECLARE(m, 16, avx2)                                                               \
	void ck_f32_gemm_ukernel_##m##x16__avx2(size_t kc, const float *a, const float *b,         \
						float *const *c, size_t ldc, size_t nvalid,        \
						int accumulate)                                    \
	{                                                                                          \
		gemm_6x16(kc, a, b, c, ldc, nvalid, accumulate, m);                                \
	}
DEF(1)
DEF(2)
DEF(3)
DEF(4)
DEF(5)
DEF(6)

static inline __m256i bits_to_mask(uint32_t bits)
{
	const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
	return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)bits), sel), sel);
}

/* im2col with stride-1 runs copied by masked loads (lanes outside [lo, hi) are not
 * read, so padding costs nothing extra). Stores are plain 8-wide where they stay
 * inside the row: lanes past a run's end land on later runs of the same row, which
 * are written afterwards (runs go in column order); AVX2 masked stores are slow on
 * AMD, so only a run ending too close to the row's end uses them. */
static void im2col_pack_avx2(const struct ck_im2col_panel *p, size_t k0, size_t kc, float *dst)
{
	if (p->sw != 1) {
		ck_im2col_pack_body(p, k0, kc, dst);
		return;
	}
	const size_t rstride = (size_t)p->taps * NR, cs = p->chan_stride;
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
			const uint32_t lm = (uint32_t)ck_im2col_mask_s1(p, r, ky, kx);
			const __m256i l0 = bits_to_mask(lm & 0xff),
				      l1 = bits_to_mask((lm >> 8) & 0xff);
			const float *s = src + r->off;
			const int two = len > 8;
			if (r->col + (two ? 16 : 8) <= NR) {
				for (size_t c = 0; c < nci; c++, d += rstride, s += cs) {
					_mm256_storeu_ps(d, _mm256_maskload_ps(s, l0));
					if (two)
						_mm256_storeu_ps(d + 8,
								 _mm256_maskload_ps(s + 8, l1));
				}
			} else {
				const uint32_t sm = (uint32_t)((1ull << len) - 1);
				const __m256i s0 = bits_to_mask(sm & 0xff),
					      s1 = bits_to_mask(sm >> 8);
				for (size_t c = 0; c < nci; c++, d += rstride, s += cs) {
					_mm256_maskstore_ps(d, s0, _mm256_maskload_ps(s, l0));
					if (two)
						_mm256_maskstore_ps(d + 8, s1,
								    _mm256_maskload_ps(s + 8, l1));
				}
			}
		}
	}
	ck_im2col_ones_row(p, k0, kc, dst);
}

static void dw_plane_avx2(const float *in, int h, int w, const float *wt, float bias, int kh,
			  int kw, int sh, int sw, int ph, int pw, float *out, int oh, int ow)
{
	ck_dw_plane_body(in, h, w, wt, bias, kh, kw, sh, sw, ph, pw, out, oh, ow);
}

const struct ck_gemm_ops ck_gemm_ops__avx2 = {
	.name = "avx2",
	.mr = MR,
	.nr = NR,
	.vl = 8,
	.kc = 256,
	.nc = 256,
	.ukernel = {ck_f32_gemm_ukernel_1x16__avx2, ck_f32_gemm_ukernel_2x16__avx2,
		    ck_f32_gemm_ukernel_3x16__avx2, ck_f32_gemm_ukernel_4x16__avx2,
		    ck_f32_gemm_ukernel_5x16__avx2, ck_f32_gemm_ukernel_6x16__avx2},
	.im2col_pack = im2col_pack_avx2,
	.dw_plane = dw_plane_avx2,
};
