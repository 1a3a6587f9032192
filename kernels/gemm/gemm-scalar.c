/* Scalar reference GEMM: a plain loop nest over a 4x8 tile, built without ISA flags.
 * It is the baseline every SIMD level is tested against, so it favours obviousness;
 * the tile only exists so that the drivers (packing, K blocking, cross-image tiles)
 * are exercised by the reference exactly as by the SIMD levels. */
#include "gemm.h"
#include "gemm-inline.h"

#define MR 4
#define NR 8

static inline void gemm_4x8(size_t kc, const float *a, const float *b, float *const *c, size_t ldc,
			    size_t nvalid, int accumulate, int mr)
{
	float acc[MR][NR] = {{0}};
	for (size_t k = 0; k < kc; k++) {
		for (int r = 0; r < mr; r++)
			for (int j = 0; j < NR; j++)
				acc[r][j] += a[r] * b[j];
		a += MR;
		b += NR;
	}
	for (int r = 0; r < mr; r++)
		for (size_t j = 0; j < nvalid; j++) {
			float *p = c[j] + (size_t)r * ldc;
			*p = accumulate ? *p + acc[r][j] : acc[r][j];
		}
}

#define DEF(m)                                                                                     \
	CK_GEMM_DECLARE(m, 8, scalar)                                                              \
	void ck_f32_gemm_ukernel_##m##x8__scalar(size_t kc, const float *a, const float *b,        \
						 float *const *c, size_t ldc, size_t nvalid,       \
						 int accumulate)                                   \
	{                                                                                          \
		gemm_4x8(kc, a, b, c, ldc, nvalid, accumulate, m);                                 \
	}
DEF(1)
DEF(2)
DEF(3)
DEF(4)

static void im2col_pack_scalar(const struct ck_im2col_panel *p, size_t k0, size_t kc, float *dst)
{
	ck_im2col_pack_body(p, k0, kc, dst);
}

static void dw_plane_scalar(const float *in, int h, int w, const float *wt, float bias, int kh,
			    int kw, int sh, int sw, int ph, int pw, float *out, int oh, int ow)
{
	ck_dw_plane_body(in, h, w, wt, bias, kh, kw, sh, sw, ph, pw, out, oh, ow);
}

const struct ck_gemm_ops ck_gemm_ops__scalar = {
	.name = "scalar",
	.mr = MR,
	.nr = NR,
	.vl = 1,
	.kc = 256,
	.nc = 256,
	.ukernel = {ck_f32_gemm_ukernel_1x8__scalar, ck_f32_gemm_ukernel_2x8__scalar,
		    ck_f32_gemm_ukernel_3x8__scalar, ck_f32_gemm_ukernel_4x8__scalar},
	.im2col_pack = im2col_pack_scalar,
	.dw_plane = dw_plane_scalar,
};
