/* Packed fp32 GEMM shared by the conv and fc drivers: C[mr][n] (+)= A[mr][kc] . B[kc][n].
 *
 * Both operands are pre-arranged so that a microkernel streams them linearly:
 *   A panel (MR rows):   a[k * MR + r]   (k-major, MR floats per k; rows >= mr ignored)
 *   B panel (NR columns): b[k * NR + j]  (k-major, NR floats per k; padded columns zero)
 * Because both are k-major, a K block [k0, k0 + kc) of a panel is the contiguous slice
 * starting at k0 * MR (resp. k0 * NR): K blocking needs no repacking.
 *
 * The C tile is addressed per column vector (VL columns): vector v of row r lives at
 * c[v] + r * ldc. Convolution runs the GEMM's N dimension across all images of the
 * batch, so one tile may cover pixels of two images whose output planes are far apart;
 * a pointer per vector lets the microkernel store such tiles directly whenever no
 * single vector straddles an image boundary (always the case when oh*ow is a multiple
 * of VL). Only columns j < nvalid are loaded or stored.
 *
 * Bias is not a microkernel concern: the drivers append one row of ones to the
 * activation operand and the bias as the matching row/column of the weight operand,
 * so it is accumulated like any other K term. */
#ifndef CK_GEMM_H
#define CK_GEMM_H

#include <stddef.h>
#include <stdint.h>

#define CK_GEMM_MAX_MR 12 /* largest MR of any ISA (AVX-512 12x32) */
#define CK_GEMM_MAX_NV 8  /* largest NR / VL (scalar 4x8 with VL 1) */

/* accumulate = 0: C = A.B; accumulate = 1: C += A.B (later K blocks). */
typedef void (*ck_f32_gemm_ukernel_fn)(size_t kc, const float *a, const float *b, float *const *c,
				       size_t ldc, size_t nvalid, int accumulate);

/* One run of B-panel columns [col, col + len): consecutive output pixels of one image,
 * starting at output (oy, ox) whose tap-(0,0) input pixel is (iy0, ix0). The first
 * `first` lanes finish that output row; if the run is longer it continues over the
 * next rows (ow lanes each, input rows sh apart, starting at ix = -pw). Runs only span
 * rows when each input row segment follows the previous one in memory (sw == 1 and
 * sh * w == ow, i.e. stride-1 "same" convolution), so for tap (ky, kx) lane l always
 * reads in + ci * chan_stride + off + ky * w + kx + l * sw, unless it falls in the
 * zero padding. Padding columns past N form a run with iy0 = CK_RUN_PAD. */
struct ck_im2col_run {
	ptrdiff_t off;
	int32_t col, len, first, iy0, ix0;
};
#define CK_RUN_PAD (-(1 << 30))

/* Everything an ISA's im2col packer needs for one NR-column panel. Rows k < kdata are
 * im2col rows k = ci * taps + tap (tap = ky * kw + kx); row kdata is all ones (the
 * bias row). Every row is written in full (NR floats), padding columns as 0. */
struct ck_im2col_panel {
	const float *in;
	size_t chan_stride;
	size_t kdata;
	int taps, kw, h, w, sw, sh, pw, ow, nr, nruns;
	const struct ck_im2col_run *runs;
};

struct ck_gemm_ops {
	const char *name;
	int mr, nr, vl;
	int kc, nc; /* cache blocking: K block depth, N chunk width (multiple of nr) */
	ck_f32_gemm_ukernel_fn ukernel[CK_GEMM_MAX_MR]; /* [mr - 1], for mr = 1..MR rows */
	/* Optional (NULL entries): the same on the low NR/2 columns of an NR-wide panel,
	 * for panels with at most NR/2 valid columns. */
	ck_f32_gemm_ukernel_fn ukernel_half[CK_GEMM_MAX_MR];
	void (*im2col_pack)(const struct ck_im2col_panel *p, size_t k0, size_t kc, float *dst);
	/* Depthwise (one input channel per group) direct convolution of one output plane:
	 * out = bias + sum_taps w[tap] * in shifted; used when the GEMM would be degenerate. */
	void (*dw_plane)(const float *in, int h, int w, const float *wt, float bias, int kh, int kw,
			 int sh, int sw, int ph, int pw, float *out, int oh, int ow);
};

/* The microkernel for an mr-row tile with nvalid valid columns. */
static inline ck_f32_gemm_ukernel_fn ck_gemm_pick(const struct ck_gemm_ops *o, size_t mr,
						  size_t nvalid)
{
	if (2 * nvalid <= (size_t)o->nr && o->ukernel_half[mr - 1])
		return o->ukernel_half[mr - 1];
	return o->ukernel[mr - 1];
}

extern const struct ck_gemm_ops ck_gemm_ops__scalar;
#ifdef CK_HAVE_AVX2
extern const struct ck_gemm_ops ck_gemm_ops__avx2;
#endif
#ifdef CK_HAVE_AVX512
extern const struct ck_gemm_ops ck_gemm_ops__avx512;
#endif
#ifdef CK_HAVE_NEON
extern const struct ck_gemm_ops ck_gemm_ops__neon;
#endif

/* Microkernels, XNNPACK-style names: ck_f32_gemm_ukernel_<MR>x<NR>__<isa>. */
#define CK_GEMM_DECLARE(mr, nr, isa)                                                               \
	void ck_f32_gemm_ukernel_##mr##x##nr##__##isa(size_t kc, const float *a, const float *b,   \
						      float *const *c, size_t ldc, size_t nvalid,  \
						      int accumulate);

#endif
