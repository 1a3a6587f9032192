/* Convolution driver (NCHW fp32, any kernel/stride/padding/groups) for every ISA.
 *
 * Fast path: implicit im2col + packed GEMM, per group:
 *   C[cout_g][N] = A[cout_g][K+1] . B[K+1][N],  K = cin_g*kh*kw,  N = n*oh*ow.
 *   - A is the weights, prepacked once by conv_pack() into MR-row panels, k-major.
 *     The bias is one extra K column whose B row is all ones, so it is accumulated
 *     as one more K term (in the last K block): no pass over the output, no bias mode
 *     in the microkernels.
 *   - N runs across all images of the batch: the model's late layers have only 16-64
 *     pixels per image, far too few to fill 32-wide tiles, but n*oh*ow is large.
 *     The microkernels address C per column vector, so tiles that span two images
 *     still store straight into the NCHW output (see gemm/gemm.h); only when oh*ow is
 *     not a multiple of the vector length does a tile go through a bounce buffer.
 *   - B is never materialised as a whole im2col matrix: for each N chunk (nc columns)
 *     and K block (kc rows) the slice is packed into NR-wide panels in the caller's
 *     workspace, straight from the input. A panel is a few runs of consecutive output
 *     pixels; for a stride-1 "same" conv a run continues across output rows, since
 *     the input rows it reads are adjacent too, so a 32-column panel of 8x8 or 4x4
 *     images is 1-2 runs. Packers go tap by tap, run by run, down the channels, with
 *     masked vector loads that skip the padding (AVX-512/AVX2).
 *   - Blocking: kc <= 256 keeps an A micro-panel (MR x kc, 12 KiB) in L1 across the
 *     N sweep; the packed B block (kc x nc, 512 KiB on AVX-512) stays in L2 while all
 *     MR-row panels of A stream over it. Later K blocks accumulate into C.
 *   - Tiles: AVX-512 12x32 (12x16 for panels with <= 16 valid columns), AVX2 6x16,
 *     NEON 8x12, scalar 4x8 (the reference: a plain loop nest over the same driver,
 *     so tests cover the driver logic against a naive convolution).
 * Depthwise (one input channel per group and at most 2 outputs per group) would make
 * a degenerate GEMM (M <= 2, K = kh*kw), so it runs a direct per-plane kernel.
 * Nothing allocates; conv_workspace_bytes() bounds every buffer run() uses. */
#include <string.h>

#include "gemm/gemm.h"
#include "internal.h"

static int conv_is_dw(const struct ck_conv_desc *d)
{
	return d->cin == d->groups && d->cout / d->groups <= 2;
}

struct geom {
	int groups, cin_g, cout_g, taps;
	size_t k, k1;   /* K and K + 1 (bias row) */
	size_t p, hw;   /* output pixels, input pixels per plane */
	size_t mpanels; /* MR-row panels per group */
	size_t kc, nkb; /* K block depth and count */
};

static size_t div_up(size_t a, size_t b)
{
	return (a + b - 1) / b;
}

static void geom_init(const struct ck_gemm_ops *o, const struct ck_conv_desc *d, struct geom *g)
{
	g->groups = d->groups;
	g->cin_g = d->cin / d->groups;
	g->cout_g = d->cout / d->groups;
	g->taps = d->kh * d->kw;
	g->k = (size_t)g->cin_g * (size_t)g->taps;
	g->k1 = g->k + 1;
	g->p = (size_t)d->oh * (size_t)d->ow;
	g->hw = (size_t)d->h * (size_t)d->w;
	g->mpanels = div_up((size_t)g->cout_g, (size_t)o->mr);
	/* equal blocks: a 257-deep K should not become 256 + 1 */
	g->nkb = div_up(g->k1, (size_t)o->kc);
	g->kc = div_up(g->k1, g->nkb);
}

static size_t conv_packed_floats(const struct ck_gemm_ops *o, const struct ck_conv_desc *d)
{
	if (conv_is_dw(d))
		return (size_t)d->cout * (size_t)(d->kh * d->kw + 1);
	struct geom g;
	geom_init(o, d, &g);
	return (size_t)g.groups * g.mpanels * (size_t)o->mr * g.k1;
}

static void conv_pack(const struct ck_gemm_ops *o, const struct ck_conv_desc *d, const float *w,
		      const float *bias, float *packed)
{
	if (conv_is_dw(d)) {
		const size_t taps = (size_t)(d->kh * d->kw);
		memcpy(packed, w, (size_t)d->cout * taps * sizeof(float));
		for (int co = 0; co < d->cout; co++)
			packed[(size_t)d->cout * taps + (size_t)co] = bias ? bias[co] : 0.0f;
		return;
	}
	struct geom g;
	geom_init(o, d, &g);
	const size_t mr = (size_t)o->mr;
	for (int gi = 0; gi < g.groups; gi++)
		for (size_t ip = 0; ip < g.mpanels; ip++)
			for (size_t k = 0; k < g.k1; k++)
				for (size_t r = 0; r < mr; r++) {
					const size_t co = ip * mr + r;
					float v = 0.0f;
					if (co < (size_t)g.cout_g) {
						const size_t oc =
							(size_t)gi * (size_t)g.cout_g + co;
						if (k < g.k)
							v = w[oc * g.k + k];
						else if (bias)
							v = bias[oc];
					}
					*packed++ = v;
				}
}

/* Workspace layout, each part 64-byte aligned: the packed B block (kc x nc floats),
 * the column runs of every panel of a chunk ((NR + 1) per panel, and their counts),
 * per-vector output offsets (nc / VL), and one MR x NR tile for vectors that straddle
 * two images. */
struct ws_layout {
	size_t nc, npan;
	size_t b_off, runs_off, nruns_off, voff_off, tile_off, total;
};

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

static void ws_layout_init(const struct ck_gemm_ops *o, const struct geom *g, int n,
			   struct ws_layout *l)
{
	const size_t nr = (size_t)o->nr;
	const size_t ncols = div_up((size_t)n * g->p, nr) * nr;
	l->nc = ncols < (size_t)o->nc ? ncols : (size_t)o->nc;
	l->npan = l->nc / nr;
	l->b_off = 0;
	l->runs_off = align64(g->kc * l->nc * sizeof(float));
	l->nruns_off = l->runs_off + align64(l->npan * (nr + 1) * sizeof(struct ck_im2col_run));
	l->voff_off = l->nruns_off + align64(l->npan * sizeof(int));
	l->tile_off = l->voff_off + align64(l->nc / (size_t)o->vl * sizeof(ptrdiff_t));
	l->total = l->tile_off + align64((size_t)o->mr * nr * sizeof(float));
}

static size_t conv_workspace_bytes(const struct ck_gemm_ops *o, const struct ck_conv_desc *d, int n)
{
	if (conv_is_dw(d) || n < 1)
		return 0;
	struct geom g;
	struct ws_layout l;
	geom_init(o, d, &g);
	ws_layout_init(o, &g, n, &l);
	return l.total;
}

/* Split panel columns [j0, j0 + ncols) of the N = n*P axis into runs of consecutive
 * output pixels of one image (plus one run of padding columns up to NR). A run stops
 * at the end of an output row unless the next row's input directly follows in memory
 * (stride-1 "same" convolution), where it continues to the end of the image: small
 * planes (8x8, 4x4) then pack as one or two runs per 32-column panel instead of 4-8.
 * The position (img, oy, ox) of column j0 is given and advanced past the panel. */
static int build_runs(const struct ck_conv_desc *d, const struct geom *g, int nr, size_t ncols,
		      size_t pos[3], struct ck_im2col_run *runs)
{
	const size_t ow = (size_t)d->ow;
	const ptrdiff_t imgstride = (ptrdiff_t)d->cin * (ptrdiff_t)g->hw;
	const int merge = d->sw == 1 && (size_t)d->sh * (size_t)d->w == ow;
	size_t img = pos[0], pix = pos[1] * ow + pos[2];
	int nruns = 0;
	for (size_t col = 0; col < ncols;) {
		const size_t oy = pix / ow, ox = pix % ow;
		size_t len = merge ? g->p - pix : ow - ox;
		if (len > ncols - col)
			len = ncols - col;
		struct ck_im2col_run *r = &runs[nruns++];
		r->col = (int32_t)col;
		r->len = (int32_t)len;
		r->first = (int32_t)(ow - ox);
		r->iy0 = (int32_t)oy * d->sh - d->ph;
		r->ix0 = (int32_t)ox * d->sw - d->pw;
		r->off = (ptrdiff_t)img * imgstride + (ptrdiff_t)r->iy0 * d->w + r->ix0;
		col += len;
		pix += len;
		if (pix == g->p) {
			pix = 0;
			img++;
		}
	}
	if (ncols < (size_t)nr) {
		struct ck_im2col_run *r = &runs[nruns++];
		r->col = (int32_t)ncols;
		r->len = r->first = nr - (int32_t)ncols;
		r->iy0 = CK_RUN_PAD;
		r->ix0 = 0;
		r->off = 0;
	}
	pos[0] = img;
	pos[1] = pix / ow;
	pos[2] = pix % ow;
	return nruns;
}

static void conv_dw(const struct ck_gemm_ops *o, const struct ck_conv_desc *d, const float *packed,
		    const float *in, float *out, int n)
{
	const int taps = d->kh * d->kw, cout_g = d->cout / d->groups;
	const size_t hw = (size_t)d->h * (size_t)d->w, p = (size_t)d->oh * (size_t)d->ow;
	const float *bias = packed + (size_t)d->cout * (size_t)taps;
	for (int img = 0; img < n; img++)
		for (int co = 0; co < d->cout; co++) {
			const int ci = co / cout_g;
			o->dw_plane(in + ((size_t)img * (size_t)d->cin + (size_t)ci) * hw, d->h,
				    d->w, packed + (size_t)co * (size_t)taps, bias[co], d->kh,
				    d->kw, d->sh, d->sw, d->ph, d->pw,
				    out + ((size_t)img * (size_t)d->cout + (size_t)co) * p, d->oh,
				    d->ow);
		}
}

/* Output columns of a chunk go through a contiguous tile and are scattered (or
 * gathered first, for later K blocks) when some vector of the tile spans two images. */
static void tile_copy(float *tile, float *outg, size_t jb, size_t P, size_t cstride, size_t row0,
		      size_t mr, size_t nr, size_t nvalid, int to_out)
{
	for (size_t r = 0; r < mr; r++)
		for (size_t j = 0; j < nvalid; j++) {
			const size_t jj = jb + j;
			float *o = outg + jj / P * cstride + (row0 + r) * P + jj % P;
			if (to_out)
				*o = tile[r * nr + j];
			else
				tile[r * nr + j] = *o;
		}
}

/* One conv_run call: the geometry, the workspace parts, and the N chunk being
 * computed (first column, columns, panels). */
struct run {
	const struct ck_gemm_ops *o;
	struct geom g;
	struct ws_layout l;
	float *bbuf, *tile;
	struct ck_im2col_run *runs;
	int *nruns;
	ptrdiff_t *voff;
	size_t P, N, cstride; /* output pixels per plane, columns, floats per output image */
	size_t j0, ncb, npan;
};

/* Where each column vector of the chunk lands in the output, or -1 if it straddles
 * two images (only when P is not a multiple of VL); and the runs of each panel. */
static void chunk_plan(struct run *r, const struct ck_conv_desc *d, size_t pos[3])
{
	const size_t nr = (size_t)r->o->nr, vl = (size_t)r->o->vl, P = r->P, N = r->N;
	for (size_t v = 0; v < div_up(r->ncb, vl); v++) {
		const size_t j = r->j0 + v * vl;
		const size_t jl = (j + vl < N ? j + vl : N) - 1;
		const size_t img = j / P;
		r->voff[v] = jl / P == img ? (ptrdiff_t)(img * r->cstride + j % P) : -1;
	}
	for (size_t pi = 0; pi < r->npan; pi++) {
		const size_t cols = r->ncb - pi * nr < nr ? r->ncb - pi * nr : nr;
		r->nruns[pi] = build_runs(d, &r->g, r->o->nr, cols, pos, r->runs + pi * (nr + 1));
	}
}

/* Rows [row0, row0 + mr) of the group's output over panel pi of the chunk: A (a)
 * times the packed B block (kcb deep), added to what earlier K blocks left when
 * k0 > 0. Straight into the output when every vector lies in one image, else
 * through the tile. */
static void panel_gemm(const struct run *r, float *outg, const float *a, size_t row0, size_t mr,
		       size_t pi, size_t k0, size_t kcb)
{
	const size_t nr = (size_t)r->o->nr, vl = (size_t)r->o->vl, nv = nr / vl, P = r->P;
	const size_t nvalid = r->ncb - pi * nr < nr ? r->ncb - pi * nr : nr;
	const ptrdiff_t *pv = r->voff + pi * nv;
	const size_t nvv = div_up(nvalid, vl);
	const float *b = r->bbuf + pi * kcb * nr;
	const ck_f32_gemm_ukernel_fn uk = ck_gemm_pick(r->o, mr, nvalid);
	float *c[CK_GEMM_MAX_NV];
	int direct = 1;
	for (size_t v = 0; v < nvv; v++)
		direct &= pv[v] >= 0;
	if (direct) {
		for (size_t v = 0; v < nv; v++)
			c[v] = outg + pv[v < nvv ? v : 0] + row0 * P;
		uk(kcb, a, b, c, P, nvalid, k0 > 0);
		return;
	}
	const size_t jb = r->j0 + pi * nr;
	for (size_t v = 0; v < nv; v++)
		c[v] = r->tile + v * vl;
	if (k0 > 0)
		tile_copy(r->tile, outg, jb, P, r->cstride, row0, mr, nr, nvalid, 0);
	uk(kcb, a, b, c, nr, nvalid, k0 > 0);
	tile_copy(r->tile, outg, jb, P, r->cstride, row0, mr, nr, nvalid, 1);
}

/* K block kb of one group (packed weights ag, output outg) over the chunk: the B
 * panels are packed, then every MR-row panel of A runs over all of them. */
static void block_gemm(const struct run *r, struct ck_im2col_panel *panel, const float *ag,
		       float *outg, size_t kb)
{
	const struct geom *g = &r->g;
	const size_t mr_full = (size_t)r->o->mr, nr = (size_t)r->o->nr;
	const size_t k0 = kb * g->kc;
	const size_t kcb = g->k1 - k0 < g->kc ? g->k1 - k0 : g->kc;
	for (size_t pi = 0; pi < r->npan; pi++) {
		panel->runs = r->runs + pi * (nr + 1);
		panel->nruns = r->nruns[pi];
		r->o->im2col_pack(panel, k0, kcb, r->bbuf + pi * kcb * nr);
	}
	for (size_t ip = 0; ip < g->mpanels; ip++) {
		const size_t row0 = ip * mr_full;
		const size_t mr = (size_t)g->cout_g - row0 < mr_full ? (size_t)g->cout_g - row0
								      : mr_full;
		const float *a = ag + ip * mr_full * g->k1 + k0 * mr_full;
		for (size_t pi = 0; pi < r->npan; pi++)
			panel_gemm(r, outg, a, row0, mr, pi, k0, kcb);
	}
}

static void conv_run(const struct ck_gemm_ops *o, const struct ck_conv_desc *d, const float *packed,
		     const float *in, float *out, int n, void *ws)
{
	if (n < 1)
		return;
	if (conv_is_dw(d)) {
		conv_dw(o, d, packed, in, out, n);
		return;
	}
	struct run r = {.o = o};
	geom_init(o, d, &r.g);
	ws_layout_init(o, &r.g, n, &r.l);
	char *wsb = ws;
	r.bbuf = (float *)(wsb + r.l.b_off);
	r.runs = (struct ck_im2col_run *)(wsb + r.l.runs_off);
	r.nruns = (int *)(wsb + r.l.nruns_off);
	r.voff = (ptrdiff_t *)(wsb + r.l.voff_off);
	r.tile = (float *)(wsb + r.l.tile_off);
	r.P = r.g.p;
	r.N = (size_t)n * r.P;
	r.cstride = (size_t)d->cout * r.P; /* one image of output */
	struct ck_im2col_panel panel = {
		.chan_stride = r.g.hw,
		.kdata = r.g.k,
		.taps = r.g.taps,
		.kw = d->kw,
		.h = d->h,
		.w = d->w,
		.sw = d->sw,
		.sh = d->sh,
		.pw = d->pw,
		.ow = d->ow,
		.nr = o->nr,
	};
	size_t pos[3] = {0, 0, 0}; /* (img, oy, ox) of the next chunk's first column */

	for (r.j0 = 0; r.j0 < r.N; r.j0 += r.l.nc) {
		r.ncb = r.N - r.j0 < r.l.nc ? r.N - r.j0 : r.l.nc;
		r.npan = div_up(r.ncb, (size_t)o->nr);
		chunk_plan(&r, d, pos);
		for (int gi = 0; gi < r.g.groups; gi++) {
			const float *ag = packed + (size_t)gi * r.g.mpanels * (size_t)o->mr * r.g.k1;
			float *outg = out + (size_t)gi * (size_t)r.g.cout_g * r.P;
			panel.in = in + (size_t)gi * (size_t)r.g.cin_g * r.g.hw;
			for (size_t kb = 0; kb < r.g.nkb; kb++)
				block_gemm(&r, &panel, ag, outg, kb);
		}
	}
}

#define CK_CONV_ISA(isa)                                                                           \
	size_t ck_conv_packed_floats__##isa(const struct ck_conv_desc *d)                          \
	{                                                                                          \
		return conv_packed_floats(&ck_gemm_ops__##isa, d);                                 \
	}                                                                                          \
	void ck_conv_pack__##isa(const struct ck_conv_desc *d, const float *w, const float *bias,  \
				 float *packed)                                                    \
	{                                                                                          \
		conv_pack(&ck_gemm_ops__##isa, d, w, bias, packed);                                \
	}                                                                                          \
	size_t ck_conv_workspace_bytes__##isa(const struct ck_conv_desc *d, int n)                 \
	{                                                                                          \
		return conv_workspace_bytes(&ck_gemm_ops__##isa, d, n);                            \
	}                                                                                          \
	void ck_conv_run__##isa(const struct ck_conv_desc *d, const float *packed,                 \
				const float *in, float *out, int n, void *ws)                      \
	{                                                                                          \
		conv_run(&ck_gemm_ops__##isa, d, packed, in, out, n, ws);                          \
	}

CK_CONV_ISA(scalar)
#ifdef CK_HAVE_AVX2
CK_CONV_ISA(avx2)
#endif
#ifdef CK_HAVE_AVX512
CK_CONV_ISA(avx512)
#endif
#ifdef CK_HAVE_NEON
CK_CONV_ISA(neon)
#endif
