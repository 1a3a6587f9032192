/* Self-attention over spatial positions (SAGAN) on the packed GEMM of each ISA
 * (gemm/gemm.h). With N = h*w positions and x one image [C][N]:
 *   1. projections  P[2d + C][N] = [s*Wq; Wk; Wv | s*bq; bk; bv] . [x; 1]
 *      one GEMM, the weights prepacked by attn_pack() into MR-row panels with the
 *      biases as the K column matched by a row of ones (conv's bias trick), the
 *      scale s folded into the q rows so the scores need no pass of their own.
 *      Its columns run across a group of images, as conv's do across the batch:
 *      a 4x4 map alone would fill only half of a 32-column tile (12 of a NEON
 *      8x12 pair), and this GEMM is nearly all of the work on small maps. The
 *      group is the fewest images that fill one NR-column panel: larger groups
 *      (a whole nc chunk) measured 5% slower at 4x4, their P no longer in L2
 *      when each image's operands are repacked out of it;
 *   2. scores       S^T[j][i] = sum_r k[r][j] q[r][i]      (M = keys, N = queries)
 *   3. softmax over j of every column i of S^T            (per-ISA, attn.h)
 *   4. output       out = x + V . A^T                       (M = C, N = queries, K = N)
 *      out is first a copy of x and the GEMM accumulates into it: the residual
 *      costs no pass either.
 * Steps 2-4 run per image, for a block of query panels at a time (SCORE_BLOCK_FLOATS).
 * Step 2 computes the transposed scores so that the microkernel, told to store rows
 * NR floats apart and to move on by N*NR floats per panel, writes them straight
 * into the NR-column B panels step 4 reads (a query per lane, k-major): no
 * transposition of the N x N matrix, and step 3 becomes a softmax down the columns
 * of each panel, NR lanes at a time. The other operands are small repacks of P: q
 * into B panels and k into A panels (plain row copies, d*N floats) and v into A
 * panels (a transposition, C*N floats, against 2*C*N*N flops in step 4).
 * Padding lanes (queries past N in the last panel) are zero in every B panel, so
 * step 3 sees finite numbers there; the microkernels never store them.
 * Nothing allocates; attn_workspace_bytes() bounds every buffer run() uses. */
#include <string.h>

#include "attn/attn.h"
#include "gemm/gemm.h"
#include "gemm/pack-rows.h"
#include "internal.h"

static size_t div_up(size_t a, size_t b)
{
	return (a + b - 1) / b;
}

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

/* Scores are computed for a block of query panels at a time and consumed at once
 * by the output GEMM, so the block (N x block floats) can stay in L2 between the
 * score GEMM, the softmax passes and the output GEMM rather than a whole N x N
 * matrix (4 MiB at N = 1024) going to memory and back four times, and the
 * workspace holds one block, not the matrix. (On the shared test machine the two
 * measured alike at 32x32; the workspace bound is the sure gain.) */
#define SCORE_BLOCK_FLOATS 65536 /* 256 KiB */

/* Sizes (floats) and workspace offsets (bytes, 64-byte aligned: the B panels are
 * loaded with aligned vector loads). xs (packed [x; 1] of a group) is dead once P
 * exists, so the scores reuse its place. */
struct geom {
	size_t c, d, n, m1, k1; /* channels, dqk, positions, 2d + C rows, C + 1 */
	size_t mr, nr, npn;     /* tile, B panels over the positions */
	size_t qpb;             /* query panels per score block */
	size_t grp;             /* images per projection group */
	size_t xs_off, pr_off, qb_off, ka_off, va_off, total;
};

/* nimg: images per run (1 for the packed weights, which do not depend on it). */
static void geom_init(const struct ck_gemm_ops *o, const struct ck_attn_desc *d, size_t nimg,
		      struct geom *g)
{
	g->c = (size_t)d->c;
	g->d = (size_t)d->dqk;
	g->n = (size_t)d->h * (size_t)d->w;
	g->m1 = 2 * g->d + g->c;
	g->k1 = g->c + 1;
	g->mr = (size_t)o->mr;
	g->nr = (size_t)o->nr;
	g->npn = div_up(g->n, g->nr);
	g->qpb = SCORE_BLOCK_FLOATS / (g->n * g->nr);
	g->qpb = g->qpb < 1 ? 1 : g->qpb > g->npn ? g->npn : g->qpb;
	g->grp = div_up(g->nr, g->n);
	g->grp = g->grp < nimg ? g->grp : nimg;
	const size_t gcols = g->grp * g->n;
	const size_t xs = div_up(gcols, g->nr) * g->nr * g->k1, sp = g->qpb * g->nr * g->n;
	g->xs_off = 0;
	g->pr_off = align64((xs > sp ? xs : sp) * sizeof(float));
	g->qb_off = g->pr_off + align64(g->m1 * gcols * sizeof(float));
	g->ka_off = g->qb_off + align64(g->npn * g->nr * g->d * sizeof(float));
	g->va_off = g->ka_off + align64(div_up(g->n, g->mr) * g->mr * g->d * sizeof(float));
	g->total = g->va_off + align64(div_up(g->c, g->mr) * g->mr * g->n * sizeof(float));
}

static size_t attn_packed_floats(const struct ck_gemm_ops *o, const struct ck_attn_desc *d)
{
	struct geom g;
	geom_init(o, d, 1, &g);
	return div_up(g.m1, g.mr) * g.mr * g.k1;
}

/* Row `row` of the stacked projection [s*Wq | s*bq; Wk | bk; Wv | bv], column k. */
static float stacked(const struct ck_attn_desc *d, const float *const w[3], const float *const b[3],
		     size_t row, size_t k)
{
	const size_t c = (size_t)d->c, dq = (size_t)d->dqk;
	const int part = row < dq ? 0 : row < 2 * dq ? 1 : 2;
	const size_t r = row - (size_t)(part < 2 ? part : 2) * dq;
	const float s = part == 0 ? d->scale : 1.0f;
	if (k < c)
		return s * w[part][r * c + k];
	return b[part] ? s * b[part][r] : 0.0f;
}

static void attn_pack(const struct ck_gemm_ops *o, const struct ck_attn_desc *d, const float *wq,
		      const float *bq, const float *wk, const float *bk, const float *wv,
		      const float *bv, float *packed)
{
	const float *const w[3] = {wq, wk, wv}, *const b[3] = {bq, bk, bv};
	struct geom g;
	geom_init(o, d, 1, &g);
	for (size_t ip = 0; ip < div_up(g.m1, g.mr); ip++)
		for (size_t k = 0; k < g.k1; k++)
			for (size_t r = 0; r < g.mr; r++) {
				const size_t row = ip * g.mr + r;
				*packed++ = row < g.m1 ? stacked(d, w, b, row, k) : 0.0f;
			}
}

static size_t attn_workspace_bytes(const struct ck_gemm_ops *o, const struct ck_attn_desc *d,
				   int n)
{
	if (n < 1)
		return 0;
	struct geom g;
	geom_init(o, d, (size_t)n, &g);
	return g.total;
}

/* Columns of `rows` rows of src (ld apart) into width-wide k-major panels `depth`
 * rows deep (depth >= rows: the rows past are the caller's):
 * dst[p * depth * width + r * width + j] = src[r * ld + p * width + j], zero past
 * cols. With width = NR these are B panels; with width = MR, A panels of the
 * transposed matrix (k^T). */
static void pack_cols(const float *src, size_t ld, size_t rows, size_t cols, size_t width,
		      size_t depth, float *dst)
{
	for (size_t c0 = 0; c0 < cols; c0 += width, dst += depth * width) {
		const size_t nv = cols - c0 < width ? cols - c0 : width;
		for (size_t r = 0; r < rows; r++) {
			memcpy(dst + r * width, src + r * ld + c0, nv * sizeof(float));
			memset(dst + r * width + nv, 0, (width - nv) * sizeof(float));
		}
	}
}

/* [x; 1] of images in[0, nimg) (each [C][N]) into B panels of depth C + 1: the
 * columns run over the images one after another (column img * N + i), so a panel
 * may take segments of two or more images; the last row is the bias row, ones
 * under the valid columns. */
static void pack_x(const struct geom *g, const float *in, size_t nimg, float *xs)
{
	const size_t n = g->n, nr = g->nr, total = nimg * n;
	for (size_t j0 = 0; j0 < total; j0 += nr, xs += g->k1 * nr) {
		const size_t nv = total - j0 < nr ? total - j0 : nr;
		for (size_t j = 0, len; j < nv; j += len) {
			const size_t i = (j0 + j) % n;
			const float *src = in + (j0 + j) / n * g->c * n + i;
			len = nv - j < n - i ? nv - j : n - i;
			for (size_t r = 0; r < g->c; r++)
				memcpy(xs + r * nr + j, src + r * n, len * sizeof(float));
		}
		for (size_t r = 0; r < g->c; r++)
			memset(xs + r * nr + nv, 0, (nr - nv) * sizeof(float));
		for (size_t j = 0; j < nr; j++)
			xs[g->c * nr + j] = j < nv ? 1.0f : 0.0f;
	}
}

/* The output layout of one GEMM: tile (row0, panel pi) starts at
 * base + row0 * ldc + pi * pstride. Row-major [m][ncols]: ldc = ncols, pstride = NR;
 * B panels of a later GEMM: ldc = NR, pstride = m * NR. */
struct cout {
	float *base;
	size_t ldc, pstride;
};

/* One MR x NR tile: rows [row0, row0 + mr) of A (a: their K block slice) times B
 * panel pi (b: its K block slice, kcb deep). */
static void tile(const struct ck_gemm_ops *o, const float *a, const float *b, const struct cout *c,
		 size_t row0, size_t mr, size_t pi, size_t nvalid, size_t kcb, int accumulate)
{
	const size_t nr = (size_t)o->nr, vl = (size_t)o->vl;
	float *c0 = c->base + row0 * c->ldc + pi * c->pstride;
	float *cv[CK_GEMM_MAX_NV];
	for (size_t v = 0; v < nr / vl; v++)
		cv[v] = v * vl < nvalid ? c0 + v * vl : c0;
	ck_gemm_pick(o, mr, nvalid)(kcb, a, b, cv, c->ldc, nvalid, accumulate);
}

/* C[m][ncols] (+)= A . B over packed operands of depth k (A: MR-row panels, B:
 * NR-column panels, both k-major), K blocked as conv and fc do, and N in chunks of
 * nc columns as conv does: per K block and chunk, each A micro-panel (MR x kc,
 * 12 KiB) stays in L1 while the chunk's B panels (kc x nc, <= 512 KiB) stream from
 * L2 under it. */
static void gemm(const struct ck_gemm_ops *o, size_t m, size_t ncols, size_t k, const float *a,
		 const float *b, const struct cout *c, int accumulate)
{
	const size_t mr_full = (size_t)o->mr, nr = (size_t)o->nr, nc = (size_t)o->nc;
	const size_t nkb = div_up(k, (size_t)o->kc), kc = div_up(k, nkb);
	for (size_t kb = 0; kb < nkb; kb++) {
		const size_t k0 = kb * kc, kcb = k - k0 < kc ? k - k0 : kc;
		for (size_t j0 = 0; j0 < ncols; j0 += nc) {
			const size_t j1 = ncols - j0 < nc ? ncols : j0 + nc;
			for (size_t row0 = 0; row0 < m; row0 += mr_full) {
				const size_t mr = m - row0 < mr_full ? m - row0 : mr_full;
				const float *ap = a + row0 * k + k0 * mr_full;
				for (size_t pi = j0 / nr; pi * nr < j1; pi++) {
					const size_t left = ncols - pi * nr;
					tile(o, ap, b + pi * k * nr + k0 * nr, c, row0, mr, pi,
					     left < nr ? left : nr, kcb, accumulate || kb > 0);
				}
			}
		}
	}
}

/* Step 1 for images in[0, nimg): P of image img is columns [img * N, (img + 1) * N)
 * of the row-major pr, rows nimg * N floats apart. */
static void attn_project(const struct ck_gemm_ops *o, const struct geom *g, const float *packed,
			 const float *in, size_t nimg, char *ws)
{
	float *xs = (float *)(ws + g->xs_off), *pr = (float *)(ws + g->pr_off);
	const size_t cols = nimg * g->n;
	pack_x(g, in, nimg, xs);
	gemm(o, g->m1, cols, g->k1, packed, xs, &(struct cout){pr, cols, g->nr}, 0);
}

/* One image's operands out of its P (rows ld floats apart): q into B panels (qb),
 * k into A panels (ka), v into A panels (va). */
static void attn_repack(const struct geom *g, const float *p, size_t ld, char *ws)
{
	const size_t n = g->n;
	float *va = (float *)(ws + g->va_off);
	pack_cols(p, ld, g->d, n, g->nr, g->d, (float *)(ws + g->qb_off));
	pack_cols(p + g->d * ld, ld, g->d, n, g->mr, g->d, (float *)(ws + g->ka_off));
	for (size_t c0 = 0; c0 < g->c; c0 += g->mr, va += n * g->mr) {
		const size_t mr = g->c - c0 < g->mr ? g->c - c0 : g->mr;
		ck_pack_rows(p + (2 * g->d + c0) * ld, ld, n, mr, g->mr, va);
	}
}

/* Steps 2-4 for the queries of panels [p0, p0 + np) of one image: their scores
 * (transposed, in B panels at sp), the softmax, and their output columns of y
 * (which holds x). */
static void attn_queries(const struct ck_gemm_ops *o, ck_attn_softmax_cols_fn softmax,
			 const struct geom *g, char *ws, size_t p0, size_t np, float *y)
{
	float *sp = (float *)(ws + g->xs_off);
	const float *qb = (const float *)(ws + g->qb_off) + p0 * g->d * g->nr;
	const size_t n = g->n, nr = g->nr, i0 = p0 * nr;
	const size_t cols = n - i0 < np * nr ? n - i0 : np * nr;

	gemm(o, n, cols, g->d, (const float *)(ws + g->ka_off), qb,
	     &(struct cout){sp, nr, n * nr}, 0);
	if (cols % nr) { /* padding lanes of the last panel: finite for the softmax */
		const size_t nv = cols % nr;
		float *last = sp + (np - 1) * n * nr;
		for (size_t j = 0; j < n; j++)
			memset(last + j * nr + nv, 0, (nr - nv) * sizeof(float));
	}
	for (size_t p = 0; p < np; p++)
		softmax(sp + p * n * nr, n, nr);
	gemm(o, g->c, cols, n, (const float *)(ws + g->va_off), sp,
	     &(struct cout){y + i0, n, nr}, 1);
}

static void attn_run(const struct ck_gemm_ops *o, ck_attn_softmax_cols_fn softmax,
		     const struct ck_attn_desc *d, const float *packed, const float *in, float *out,
		     int n, void *ws)
{
	if (n < 1)
		return;
	struct geom g;
	geom_init(o, d, (size_t)n, &g);
	const size_t plane = g.c * g.n;
	memcpy(out, in, (size_t)n * plane * sizeof(float));
	for (size_t g0 = 0; g0 < (size_t)n; g0 += g.grp) {
		const size_t gn = (size_t)n - g0 < g.grp ? (size_t)n - g0 : g.grp;
		attn_project(o, &g, packed, in + g0 * plane, gn, ws);
		for (size_t img = 0; img < gn; img++) {
			const float *p = (const float *)((char *)ws + g.pr_off) + img * g.n;
			attn_repack(&g, p, gn * g.n, ws);
			for (size_t p0 = 0; p0 < g.npn; p0 += g.qpb) {
				const size_t np = g.npn - p0 < g.qpb ? g.npn - p0 : g.qpb;
				attn_queries(o, softmax, &g, ws, p0, np, out + (g0 + img) * plane);
			}
		}
	}
}

#define CK_ATTN_ISA(isa)                                                                           \
	size_t ck_attn_packed_floats__##isa(const struct ck_attn_desc *d)                          \
	{                                                                                          \
		return attn_packed_floats(&ck_gemm_ops__##isa, d);                                 \
	}                                                                                          \
	void ck_attn_pack__##isa(const struct ck_attn_desc *d, const float *wq, const float *bq,   \
				 const float *wk, const float *bk, const float *wv,                \
				 const float *bv, float *packed)                                   \
	{                                                                                          \
		attn_pack(&ck_gemm_ops__##isa, d, wq, bq, wk, bk, wv, bv, packed);                 \
	}                                                                                          \
	size_t ck_attn_workspace_bytes__##isa(const struct ck_attn_desc *d, int n)                 \
	{                                                                                          \
		return attn_workspace_bytes(&ck_gemm_ops__##isa, d, n);                            \
	}                                                                                          \
	void ck_attn_run__##isa(const struct ck_attn_desc *d, const float *packed,                 \
				const float *in, float *out, int n, void *ws)                      \
	{                                                                                          \
		attn_run(&ck_gemm_ops__##isa, ck_attn_softmax_cols__##isa, d, packed, in, out, n,  \
			 ws);                                                                      \
	}

CK_ATTN_ISA(scalar)
#ifdef CK_HAVE_AVX2
CK_ATTN_ISA(avx2)
#endif
#ifdef CK_HAVE_AVX512
CK_ATTN_ISA(avx512)
#endif
#ifdef CK_HAVE_NEON
CK_ATTN_ISA(neon)
#endif
