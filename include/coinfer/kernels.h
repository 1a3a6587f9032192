/* coinfer kernels: batched fp32 layer kernels (NCHW) with a scalar reference and
 * SIMD variants, chosen once at start-up into a dispatch table.
 *
 * Every kernel takes a batch of n images. Tensors are dense NCHW float32.
 * Functions that can fail return 0 or -errno; kernels on validated shapes cannot
 * fail and return void. Nothing here allocates: callers size buffers with the
 * *_size() queries and own the memory. */
#ifndef COINFER_KERNELS_H
#define COINFER_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ck_isa {
	CK_ISA_SCALAR = 0,
	CK_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
	CK_ISA_AVX512 = 2, /* AVX-512 F/BW/DQ/VL */
	CK_ISA_NEON = 3,   /* aarch64 Advanced SIMD */
	CK_ISA_COUNT
};

struct ck_conv_desc {
	int cin, cout;     /* channels; both divisible by groups */
	int h, w;          /* input spatial size */
	int kh, kw;        /* kernel */
	int sh, sw;        /* stride >= 1 */
	int ph, pw;        /* zero padding on each side */
	int groups;        /* 1 = dense, cin = depthwise */
	int oh, ow;        /* output size: filled by ck_conv_desc_init */
};

struct ck_pool_desc {
	int c, h, w;
	int kh, kw, sh, sw, ph, pw;
	int oh, ow;        /* filled by ck_pool_desc_init */
};

struct ck_lrn_desc {
	int c, h, w;
	int size;          /* window over channels: [c - size/2, c + (size-1)/2] */
	float alpha, beta, k;
};

struct ck_fc_desc {
	int cin, cout;
};

/* Self-attention over the h*w positions of each image (SAGAN; see attn_run below). */
struct ck_attn_desc {
	int c;             /* channels of input and output */
	int h, w;          /* N = h*w positions, at most CK_ATTN_N_MAX */
	int dqk;           /* rows of the query and key projections (C/8 in SAGAN) */
	float scale;       /* multiplies the scores before the softmax: 1 (SAGAN) or
			    * 1/sqrt(dqk) (scaled dot product), finite */
};

/* The scores are an N x N matrix per image: bound N so it stays a sane workspace. */
#define CK_ATTN_N_MAX 4096

/* Validate and fill oh/ow. Return 0 or -EINVAL on impossible shapes. */
int ck_conv_desc_init(struct ck_conv_desc *d);
int ck_pool_desc_init(struct ck_pool_desc *d);
/* 0, or -EINVAL when a size is < 1 or too large or scale is not finite. */
int ck_attn_desc_check(const struct ck_attn_desc *d);

struct ck_kernels {
	enum ck_isa isa;
	const char *name;

	/* Convolution. Weights are [cout][cin/groups][kh][kw], bias [cout] (may be
	 * NULL). pack() rearranges them once into this ISA's layout (floats, 64-byte
	 * aligned buffer of conv_packed_floats() floats). run() needs a workspace of
	 * conv_workspace_bytes(d, n) bytes, 64-byte aligned. */
	size_t (*conv_packed_floats)(const struct ck_conv_desc *d);
	void (*conv_pack)(const struct ck_conv_desc *d, const float *w, const float *bias,
			  float *packed);
	size_t (*conv_workspace_bytes)(const struct ck_conv_desc *d, int n);
	void (*conv_run)(const struct ck_conv_desc *d, const float *packed, const float *in,
			 float *out, int n, void *ws);

	/* Fully connected: out[n][cout] = in[n][cin] . W^T + b, W is [cout][cin]. */
	size_t (*fc_packed_floats)(const struct ck_fc_desc *d);
	void (*fc_pack)(const struct ck_fc_desc *d, const float *w, const float *bias,
			float *packed);
	size_t (*fc_workspace_bytes)(const struct ck_fc_desc *d, int n);
	void (*fc_run)(const struct ck_fc_desc *d, const float *packed, const float *in,
		       float *out, int n, void *ws);

	/* Self-attention, per image x = in[img] as [C][N] (N = h*w, d = dqk):
	 *   q = Wq x + bq, k = Wk x + bk (d x N), v = Wv x + bv (C x N),
	 *   A[i][.] = softmax over j of scale * sum_r q[r][i] k[r][j],
	 *   out[c][i] = x[c][i] + sum_j v[c][j] A[i][j].
	 * SAGAN's gamma is folded into Wv, bv by the exporter. Weights are row-major
	 * [d][C], [d][C], [C][C]; biases [d], [d], [C] (each may be NULL: zero). pack()
	 * arranges them once (attn_packed_floats() floats, 64-byte aligned); run() needs
	 * attn_workspace_bytes(d, n) bytes, 64-byte aligned; out must not overlap in. */
	size_t (*attn_packed_floats)(const struct ck_attn_desc *d);
	void (*attn_pack)(const struct ck_attn_desc *d, const float *wq, const float *bq,
			  const float *wk, const float *bk, const float *wv, const float *bv,
			  float *packed);
	size_t (*attn_workspace_bytes)(const struct ck_attn_desc *d, int n);
	void (*attn_run)(const struct ck_attn_desc *d, const float *packed, const float *in,
			 float *out, int n, void *ws);

	/* Elementwise over count floats; in == out allowed. */
	void (*relu)(const float *in, float *out, size_t count);
	/* Residual add: out = a + b over count floats; out may be a or b (not a
	 * partial overlap). Bit-exact across ISAs: one rounded add per element. */
	void (*add)(const float *a, const float *b, float *out, size_t count);
	/* Pooling: max pads with -inf; avg divides by kh*kw (padding counted). */
	void (*maxpool)(const struct ck_pool_desc *d, const float *in, float *out, int n);
	void (*avgpool)(const struct ck_pool_desc *d, const float *in, float *out, int n);
	void (*lrn)(const struct ck_lrn_desc *d, const float *in, float *out, int n);
	/* Row-wise over n rows of `classes` logits. */
	void (*softmax)(const float *in, float *out, int n, int classes);
	/* Shannon entropy (nats) of softmax(in) per row: BranchyNet's exit confidence. */
	void (*softmax_entropy)(const float *in, float *out, int n, int classes);
};

/* The table chosen at first use: the best ISA this CPU runs and this build has,
 * unless COINFER_ISA=scalar|avx2|avx512|neon forces one (a forced level the CPU
 * or build lacks is refused: the override reports it on stderr and keeps the best). */
const struct ck_kernels *ck_kernels(void);
/* The table of one level, or NULL where this build or CPU lacks it (tests). */
const struct ck_kernels *ck_kernels_for(enum ck_isa isa);
const char *ck_isa_name(enum ck_isa isa);
/* Parse "scalar"/"avx2"/"avx512"/"neon"; -EINVAL otherwise. */
int ck_isa_parse(const char *s, enum ck_isa *out);

/* Flatten is a no-op on NCHW data; it exists in the model only as a partition point. */

#ifdef __cplusplus
}
#endif
#endif
