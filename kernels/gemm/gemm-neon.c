/* NEON (AArch64 Advanced SIMD) GEMM: 8x12 tile = 24 q-register accumulators
 * (8 rows x 3 vectors of 4). Per k, A is loaded as two q registers and used with
 * by-element FMAs (fmla v.4s, v.4s, v.s[lane]), so no broadcasts are needed:
 * 24 + 2 (A) + 3 (B) = 29 of the 32 v registers. */
#include <arm_neon.h>

#include "gemm.h"
#include "gemm-inline.h"

#define MR 8
#define NR 12

static inline void store_vec(float *p, float32x4_t v, size_t n, int accumulate)
{
	if (n >= 4) {
		if (accumulate)
			v = vaddq_f32(v, vld1q_f32(p));
		vst1q_f32(p, v);
		return;
	}
	float t[4];
	vst1q_f32(t, v);
	for (size_t i = 0; i < n; i++)
		p[i] = accumulate ? p[i] + t[i] : t[i];
}

static inline void store_row(float *const *c, size_t off, float32x4_t v0, float32x4_t v1,
			     float32x4_t v2, size_t nvalid, int accumulate)
{
	store_vec(c[0] + off, v0, nvalid, accumulate);
	if (nvalid > 4)
		store_vec(c[1] + off, v1, nvalid - 4, accumulate);
	if (nvalid > 8)
		store_vec(c[2] + off, v2, nvalid - 8, accumulate);
}

static inline __attribute__((always_inline)) void gemm_8x12(size_t kc, const float *a,
							    const float *b, float *const *c,
							    size_t ldc, size_t nvalid,
							    int accumulate, const int mr)
{
	const float32x4_t z = vdupq_n_f32(0.0f);
	float32x4_t c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z;
	float32x4_t c20 = z, c21 = z, c22 = z, c30 = z, c31 = z, c32 = z;
	float32x4_t c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z;
	float32x4_t c60 = z, c61 = z, c62 = z, c70 = z, c71 = z, c72 = z;
	size_t k = 0;
	if (mr == 1) {
		/* one row has only 3 chains: split K in two to hide FMA latency */
		float32x4_t d0 = z, d1 = z, d2 = z;
		for (; k + 2 <= kc; k += 2) {
			const float32x4_t a0 = vld1q_dup_f32(a), a1 = vld1q_dup_f32(a + MR);
			c00 = vfmaq_f32(c00, vld1q_f32(b), a0);
			c01 = vfmaq_f32(c01, vld1q_f32(b + 4), a0);
			c02 = vfmaq_f32(c02, vld1q_f32(b + 8), a0);
			d0 = vfmaq_f32(d0, vld1q_f32(b + NR), a1);
			d1 = vfmaq_f32(d1, vld1q_f32(b + NR + 4), a1);
			d2 = vfmaq_f32(d2, vld1q_f32(b + NR + 8), a1);
			a += 2 * MR;
			b += 2 * NR;
		}
		c00 = vaddq_f32(c00, d0);
		c01 = vaddq_f32(c01, d1);
		c02 = vaddq_f32(c02, d2);
	}
	for (; k < kc; k++) {
		const float32x4_t a0 = vld1q_f32(a);
		const float32x4_t a1 = mr > 4 ? vld1q_f32(a + 4) : z;
		const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
#define CK_ROW(r, av, l)                                                                           \
	if (mr > r) {                                                                              \
		c##r##0 = vfmaq_laneq_f32(c##r##0, b0, av, l);                                     \
		c##r##1 = vfmaq_laneq_f32(c##r##1, b1, av, l);                                     \
		c##r##2 = vfmaq_laneq_f32(c##r##2, b2, av, l);                                     \
	}
		CK_ROW(0, a0, 0)
		CK_ROW(1, a0, 1)
		CK_ROW(2, a0, 2)
		CK_ROW(3, a0, 3)
		CK_ROW(4, a1, 0)
		CK_ROW(5, a1, 1)
		CK_ROW(6, a1, 2)
		CK_ROW(7, a1, 3)
#undef CK_ROW
		a += MR;
		b += NR;
	}
	store_row(c, 0, c00, c01, c02, nvalid, accumulate);
	if (mr > 1)
		store_row(c, ldc, c10, c11, c12, nvalid, accumulate);
	if (mr > 2)
		store_row(c, 2 * ldc, c20, c21, c22, nvalid, accumulate);
	if (mr > 3)
		store_row(c, 3 * ldc, c30, c31, c32, nvalid, accumulate);
	if (mr > 4)
		store_row(c, 4 * ldc, c40, c41, c42, nvalid, accumulate);
	if (mr > 5)
		store_row(c, 5 * ldc, c50, c51, c52, nvalid, accumulate);
	if (mr > 6)
		store_row(c, 6 * ldc, c60, c61, c62, nvalid, accumulate);
	if (mr > 7)
		store_row(c, 7 * ldc, c70, c71, c72, nvalid, accumulate);
}

#define DEF(m)                                                                                     \
	CK_GEMM_DECLARE(m, 12, neon)                                                               \
	void ck_f32_gemm_ukernel_##m##x12__neon(size_t kc, const float *a, const float *b,         \
						float *const *c, size_t ldc, size_t nvalid,        \
						int accumulate)                                    \
	{                                                                                          \
		gemm_8x12(kc, a, b, c, ldc, nvalid, accumulate, m);                                \
	}
DEF(1)
DEF(2)
DEF(3)
DEF(4)
DEF(5)
DEF(6)
DEF(7)
DEF(8)

static void im2col_pack_neon(const struct ck_im2col_panel *p, size_t k0, size_t kc, float *dst)
{
	ck_im2col_pack_body(p, k0, kc, dst);
}

static void dw_plane_neon(const float *in, int h, int w, const float *wt, float bias, int kh,
			  int kw, int sh, int sw, int ph, int pw, float *out, int oh, int ow)
{
	ck_dw_plane_body(in, h, w, wt, bias, kh, kw, sh, sw, ph, pw, out, oh, ow);
}

const struct ck_gemm_ops ck_gemm_ops__neon = {
	.name = "neon",
	.mr = MR,
	.nr = NR,
	.vl = 4,
	.kc = 256,
	.nc = 240,
	.ukernel = {ck_f32_gemm_ukernel_1x12__neon, ck_f32_gemm_ukernel_2x12__neon,
		    ck_f32_gemm_ukernel_3x12__neon, ck_f32_gemm_ukernel_4x12__neon,
		    ck_f32_gemm_ukernel_5x12__neon, ck_f32_gemm_ukernel_6x12__neon,
		    ck_f32_gemm_ukernel_7x12__neon, ck_f32_gemm_ukernel_8x12__neon},
	.im2col_pack = im2col_pack_neon,
	.dw_plane = dw_plane_neon,
};
