/* Model file loader. Every field is checked against the file size and the limits
 * in model.h before it is used; sizes are computed in 64-bit with explicit
 * overflow bounds, so no hostile value can make us read outside the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coinfer/model.h"
#include "coinfer/bytes.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"

#define HDR_BYTES 128
#define LAYER_BYTES 128
#define TRAILER_BYTES 8
#define NO_PARENT 0xFFFFFFFFu

/* every failure here is a malformed file or a bad argument */
#define fail(err, errlen, ...) cf_fail(-EINVAL, err, errlen, __VA_ARGS__)

const char *cr_variant_name(enum cr_variant v)
{
	static const char *const names[CR_VARIANT_COUNT] = {"plain", "pruned", "codec",
							    "pruned+codec"};
	return (int)v >= 0 && v < CR_VARIANT_COUNT ? names[v] : "unknown";
}

const char *cr_layer_type_name(enum cr_layer_type t)
{
	switch (t) {
	case CR_LAYER_CONV: return "conv";
	case CR_LAYER_FC: return "fc";
	case CR_LAYER_RELU: return "relu";
	case CR_LAYER_MAXPOOL: return "maxpool";
	case CR_LAYER_AVGPOOL: return "avgpool";
	case CR_LAYER_LRN: return "lrn";
	case CR_LAYER_FLATTEN: return "flatten";
	case CR_LAYER_ADD: return "add";
	case CR_LAYER_ATTN: return "attn";
	}
	return "unknown";
}

/* A fixed-size name field must be NUL-terminated, non-empty and printable. */
static int name_ok(const uint8_t *p, size_t cap)
{
	size_t i;
	for (i = 0; i < cap && p[i]; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return i > 0 && i < cap;
}

static int finite_all(const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(x[i] - x[i] == 0.0f))
			return 0;
	return 1;
}

static int conv_shape(struct cr_layer *L, const uint32_t *v, int idx, char *err, size_t el)
{
	struct ck_conv_desc *d = &L->d.conv;
	*d = (struct ck_conv_desc){.cin = L->in_c, .cout = (int)v[0], .h = L->in_h,
				   .w = L->in_w, .kh = (int)v[1], .kw = (int)v[2],
				   .sh = (int)v[3], .sw = (int)v[4], .ph = (int)v[5],
				   .pw = (int)v[6], .groups = (int)v[7]};
	if (v[1] > CR_MODEL_MAX_KERNEL || v[2] > CR_MODEL_MAX_KERNEL)
		return fail(err, el, "layer %d (%s): kernel %ux%u exceeds %d", idx, L->name,
			    v[1], v[2], CR_MODEL_MAX_KERNEL);
	if (ck_conv_desc_init(d))
		return fail(err, el,
			    "layer %d (%s): impossible conv (cin %d cout %u k %ux%u s %ux%u p %ux%u g %u on %dx%d)",
			    idx, L->name, L->in_c, v[0], v[1], v[2], v[3], v[4], v[5], v[6],
			    v[7], L->in_h, L->in_w);
	L->out_c = d->cout, L->out_h = d->oh, L->out_w = d->ow;
	L->w_count = (size_t)d->cout * (d->cin / d->groups) * d->kh * d->kw;
	L->b_count = (size_t)d->cout;
	L->flops = 2ull * L->w_count * d->oh * d->ow;
	return 0;
}

static int fc_shape(struct cr_layer *L, const uint32_t *v, int idx, char *err, size_t el)
{
	uint64_t in_elems = (uint64_t)L->in_c * L->in_h * L->in_w;
	if (in_elems != (uint64_t)L->in_c || L->in_h != 1 || L->in_w != 1)
		return fail(err, el, "layer %d (%s): fc input must be flat, got %dx%dx%d", idx,
			    L->name, L->in_c, L->in_h, L->in_w);
	if (v[0] < 1)
		return fail(err, el, "layer %d (%s): fc with 0 outputs", idx, L->name);
	L->d.fc = (struct ck_fc_desc){.cin = L->in_c, .cout = (int)v[0]};
	L->out_c = (int)v[0], L->out_h = 1, L->out_w = 1;
	L->w_count = (size_t)L->in_c * v[0];
	L->b_count = v[0];
	L->flops = 2ull * L->w_count;
	return 0;
}

static int pool_shape(struct cr_layer *L, const uint32_t *v, int idx, char *err, size_t el)
{
	struct ck_pool_desc *d = &L->d.pool;
	*d = (struct ck_pool_desc){.c = L->in_c, .h = L->in_h, .w = L->in_w,
				   .kh = (int)v[0], .kw = (int)v[1], .sh = (int)v[2],
				   .sw = (int)v[3], .ph = (int)v[4], .pw = (int)v[5]};
	if (v[0] > CR_MODEL_MAX_KERNEL || v[1] > CR_MODEL_MAX_KERNEL || ck_pool_desc_init(d))
		return fail(err, el, "layer %d (%s): impossible pool (k %ux%u s %ux%u p %ux%u on %dx%d)",
			    idx, L->name, v[0], v[1], v[2], v[3], v[4], v[5], L->in_h, L->in_w);
	L->out_c = L->in_c, L->out_h = d->oh, L->out_w = d->ow;
	L->flops = (uint64_t)L->out_c * d->oh * d->ow * d->kh * d->kw;
	return 0;
}

static int lrn_shape(struct cr_layer *L, const uint8_t *rec, const uint32_t *v, int idx,
		     char *err, size_t el)
{
	float alpha = le_rdf(rec + 80), beta = le_rdf(rec + 84), k = le_rdf(rec + 88);
	if (v[0] < 1 || v[0] > 64)
		return fail(err, el, "layer %d (%s): LRN size %u not in 1..64", idx, L->name, v[0]);
	if (!finite_all(&alpha, 1) || !finite_all(&beta, 1) || !finite_all(&k, 1) ||
	    alpha < 0 || k <= 0)
		return fail(err, el, "layer %d (%s): LRN needs finite alpha >= 0 and k > 0", idx,
			    L->name);
	L->d.lrn = (struct ck_lrn_desc){.c = L->in_c, .h = L->in_h, .w = L->in_w,
					.size = (int)v[0], .alpha = alpha, .beta = beta, .k = k};
	L->out_c = L->in_c, L->out_h = L->in_h, L->out_w = L->in_w;
	L->flops = (uint64_t)L->in_c * L->in_h * L->in_w * (v[0] + 4);
	return 0;
}

/* Self-attention (kernels.h, attn_run): dqk and the score scale; weights are
 * Wq, Wk, Wv stacked, (2 dqk + C) x C, and their biases likewise. */
static int attn_shape(struct cr_layer *L, const uint8_t *rec, const uint32_t *v, int idx,
		      char *err, size_t el)
{
	struct ck_attn_desc *d = &L->d.attn;
	*d = (struct ck_attn_desc){.c = L->in_c, .h = L->in_h, .w = L->in_w, .dqk = (int)v[0],
				   .scale = le_rdf(rec + 80)};
	if (ck_attn_desc_check(d))
		return fail(err, el, "layer %d (%s): impossible attention (C %d, %dx%d positions, "
			    "dqk %u, scale %g)", idx, L->name, L->in_c, L->in_h, L->in_w, v[0],
			    (double)d->scale);
	uint64_t c = (uint64_t)L->in_c, n = (uint64_t)L->in_h * L->in_w, rows = 2 * v[0] + c;
	L->out_c = L->in_c, L->out_h = L->in_h, L->out_w = L->in_w;
	L->w_count = (size_t)(rows * c);
	L->b_count = (size_t)rows;
	L->flops = 2 * rows * c * n + 2 * (v[0] + c) * n * n;
	return 0;
}

/* Shape inference and parameter checks for one layer whose input shape is set. */
static int layer_shape(struct cr_layer *L, const uint8_t *rec, int idx, char *err, size_t el)
{
	const uint8_t *p = rec + 40;
	uint32_t v[10];
	int ret = 0;
	for (int i = 0; i < 10; i++)
		v[i] = le_rd32(p + 4 * i);
	uint64_t in_elems = (uint64_t)L->in_c * L->in_h * L->in_w;
	/* an add's parameter 0 is a layer index (or the input's), checked by read_skip */
	for (int i = L->type == CR_LAYER_ADD; i < 8; i++)
		if (v[i] > CR_MODEL_MAX_CHANNELS)
			return fail(err, el, "layer %d (%s): parameter %d = %u out of range", idx,
				    L->name, i, v[i]);

	switch (L->type) {
	case CR_LAYER_CONV:
		ret = conv_shape(L, v, idx, err, el);
		break;
	case CR_LAYER_FC:
		ret = fc_shape(L, v, idx, err, el);
		break;
	case CR_LAYER_MAXPOOL:
	case CR_LAYER_AVGPOOL:
		ret = pool_shape(L, v, idx, err, el);
		break;
	case CR_LAYER_LRN:
		ret = lrn_shape(L, rec, v, idx, err, el);
		break;
	case CR_LAYER_RELU:
		L->out_c = L->in_c, L->out_h = L->in_h, L->out_w = L->in_w;
		L->flops = in_elems;
		break;
	case CR_LAYER_FLATTEN:
		L->out_c = (int)in_elems, L->out_h = 1, L->out_w = 1;
		break;
	case CR_LAYER_ATTN:
		ret = attn_shape(L, rec, v, idx, err, el);
		break;
	case CR_LAYER_ADD: /* the skip operand is checked by read_layer, which knows it */
		L->out_c = L->in_c, L->out_h = L->in_h, L->out_w = L->in_w;
		L->flops = in_elems;
		break;
	default:
		return fail(err, el, "layer %d (%s): unknown type %u", idx, L->name, (unsigned)L->type);
	}
	if (ret)
		return ret;
	uint64_t out_elems = (uint64_t)L->out_c * L->out_h * L->out_w;
	if (out_elems > CR_MODEL_MAX_TENSOR || L->out_c > CR_MODEL_MAX_CHANNELS * 64)
		return fail(err, el, "layer %d (%s): output of %llu floats per image exceeds %u", idx,
			    L->name, (unsigned long long)out_elems, CR_MODEL_MAX_TENSOR);
	return 0;
}

/* A weight array: within the weight section, 4-byte aligned, exact count, finite. */
static int weights_at(const uint8_t *blob, uint64_t woff, uint64_t wbytes, const uint8_t *rec,
		      int which, size_t want, const float **out, const struct cr_layer *L, int idx,
		      char *err, size_t el)
{
	uint64_t off = le_rd64(rec + 96 + 16 * which), cnt = le_rd64(rec + 104 + 16 * which);
	const char *what = which ? "bias" : "weights";
	*out = NULL;
	if (want == 0) {
		if (cnt)
			return fail(err, el, "layer %d (%s): has %s but takes none", idx, L->name, what);
		return 0;
	}
	if (cnt != want)
		return fail(err, el, "layer %d (%s): %s count %llu, expected %zu", idx, L->name, what,
			    (unsigned long long)cnt, want);
	if (off % 64 || off > wbytes || cnt > (wbytes - off) / 4)
		return fail(err, el, "layer %d (%s): %s at offset %llu (+%llu floats) outside the %llu-byte weight section or misaligned",
			    idx, L->name, what, (unsigned long long)off, (unsigned long long)cnt,
			    (unsigned long long)wbytes);
	*out = (const float *)(blob + woff + off);
	if (!finite_all(*out, want))
		return fail(err, el, "layer %d (%s): %s hold NaN or infinity", idx, L->name, what);
	return 0;
}

/* The header fields the tables are found by. */
struct hdr {
	uint32_t version;
	uint32_t nl, ne, ncls, ic, ih, iw, lt_off, et_off;
	uint64_t woff, wbytes, sum;
};

/* Size, magic, version and checksum: is this a whole coinfer model file. */
static int check_file(const uint8_t *h, size_t len, uint64_t *sum, char *err, size_t el)
{
	if (len < HDR_BYTES + TRAILER_BYTES)
		return fail(err, el, "file of %zu bytes is shorter than the %d-byte header and trailer",
			    len, HDR_BYTES + TRAILER_BYTES);
	if (len > CR_MODEL_MAX_BYTES)
		return fail(err, el, "file of %zu bytes exceeds the %u-byte limit", len,
			    CR_MODEL_MAX_BYTES);
	if (memcmp(h, CR_MODEL_MAGIC, 8))
		return fail(err, el, "bad magic: not a coinfer model file");
	uint32_t version = le_rd32(h + 8);
	if (version < 1 || version > CR_MODEL_VERSION)
		return fail(err, el, "format version %u is not supported (this build reads 1..%d)",
			    version, CR_MODEL_VERSION);
	if (le_rd32(h + 12) != HDR_BYTES)
		return fail(err, el, "header size %u, expected %d", le_rd32(h + 12), HDR_BYTES);
	uint64_t file_bytes = le_rd64(h + 16);
	if (file_bytes != len)
		return fail(err, el, "header says %llu bytes but the file has %zu (truncated or padded)",
			    (unsigned long long)file_bytes, len);
	*sum = XXH64(h, len - TRAILER_BYTES, 0);
	if (*sum != le_rd64(h + len - TRAILER_BYTES))
		return fail(err, el, "checksum mismatch: file is corrupt (xxh64 %016llx, trailer says %016llx)",
			    (unsigned long long)*sum, (unsigned long long)le_rd64(h + len - TRAILER_BYTES));
	return 0;
}

/* The counts, the input shape and where the tables and weights lie, all in range. */
static int read_header(const uint8_t *h, size_t len, struct hdr *hd, char *err, size_t el)
{
	hd->version = le_rd32(h + 8);
	hd->nl = le_rd32(h + 24), hd->ne = le_rd32(h + 28), hd->ncls = le_rd32(h + 32);
	hd->ic = le_rd32(h + 36), hd->ih = le_rd32(h + 40), hd->iw = le_rd32(h + 44);
	hd->lt_off = le_rd32(h + 48), hd->et_off = le_rd32(h + 52);
	hd->woff = le_rd64(h + 56), hd->wbytes = le_rd64(h + 64);
	const uint32_t nl = hd->nl, lt_off = hd->lt_off, et_off = hd->et_off;
	const uint64_t woff = hd->woff, wbytes = hd->wbytes;
	if (nl < 1 || nl > CR_MODEL_MAX_LAYERS)
		return fail(err, el, "layer count %u not in 1..%d", nl, CR_MODEL_MAX_LAYERS);
	if (hd->ne < 1 || hd->ne > CR_MODEL_MAX_EXITS)
		return fail(err, el, "exit count %u not in 1..%d", hd->ne, CR_MODEL_MAX_EXITS);
	if (hd->ncls < 1 || hd->ncls > CR_MODEL_MAX_CHANNELS)
		return fail(err, el, "class count %u not in 1..%d", hd->ncls, CR_MODEL_MAX_CHANNELS);
	if (hd->ic < 1 || hd->ic > 4 || hd->ih < 1 || hd->ih > CR_MODEL_MAX_DIM || hd->iw < 1 ||
	    hd->iw > CR_MODEL_MAX_DIM)
		return fail(err, el, "input shape %ux%ux%u out of range (channels 1..4, sides 1..%d)",
			    hd->ic, hd->ih, hd->iw, CR_MODEL_MAX_DIM);
	uint64_t body = len - TRAILER_BYTES;
	if (lt_off != HDR_BYTES || (uint64_t)nl * LAYER_BYTES > body - lt_off)
		return fail(err, el, "layer table (offset %u, %u layers) does not fit the file", lt_off, nl);
	if (et_off < lt_off + (uint64_t)nl * LAYER_BYTES || et_off > body || et_off % 4)
		return fail(err, el, "exit table offset %u overlaps the layer table or lies outside the file",
			    et_off);
	if (woff % 64 || woff < et_off || woff > body || wbytes > body - woff)
		return fail(err, el, "weight section (offset %llu, %llu bytes) misaligned or outside the file",
			    (unsigned long long)woff, (unsigned long long)wbytes);
	if (!name_ok(h + 104, 24))
		return fail(err, el, "model name is not a terminated printable string");
	return 0;
}

/* The input normalisation of the channels in use: finite, std > 0. */
static int read_norm(struct cr_model *m, const uint8_t *h, char *err, size_t el)
{
	for (uint32_t c = 0; c < 4; c++) {
		m->mean[c] = le_rdf(h + 72 + 4 * c);
		m->std[c] = le_rdf(h + 88 + 4 * c);
		if (c < (uint32_t)m->in_c && (!finite_all(&m->mean[c], 1) ||
					      !finite_all(&m->std[c], 1) || !(m->std[c] > 0)))
			return fail(err, el,
				    "input normalisation of channel %u is not finite with std > 0", c);
	}
	return 0;
}

/* An add's other operand (integer parameter 0): an earlier layer, or the input,
 * whose output has the add's input shape. Only version 2 files hold adds. */
static int read_skip(struct cr_model *m, const struct hdr *hd, const uint8_t *rec, uint32_t i,
		     char *err, size_t el)
{
	struct cr_layer *L = &m->layers[i];
	uint32_t s = le_rd32(rec + 40);
	int c = (int)hd->ic, h = (int)hd->ih, w = (int)hd->iw;
	if (hd->version < 2)
		return fail(err, el, "layer %u (%s): an add in a version %u file (adds came in 2)",
			    i, L->name, hd->version);
	if (s != NO_PARENT && s >= i)
		return fail(err, el, "layer %u (%s): skip %u is not an earlier layer", i, L->name, s);
	L->skip = s == NO_PARENT ? -1 : (int)s;
	if (L->skip >= 0) {
		const struct cr_layer *S = &m->layers[L->skip];
		c = S->out_c, h = S->out_h, w = S->out_w;
	}
	if (c != L->in_c || h != L->in_h || w != L->in_w)
		return fail(err, el, "layer %u (%s): adds %dx%dx%d to %dx%dx%d", i, L->name, c, h, w,
			    L->in_c, L->in_h, L->in_w);
	return 0;
}

/* Layer i from its record: a unique name, an earlier parent (or the input) whose
 * output is its input, its shape and its weights. */
static int read_layer(struct cr_model *m, const struct hdr *hd, uint32_t i, char *err, size_t el)
{
	const uint8_t *blob = m->blob, *rec = blob + hd->lt_off + (size_t)i * LAYER_BYTES;
	struct cr_layer *L = &m->layers[i];
	int ret;
	if (!name_ok(rec, CR_NAME_LEN))
		return fail(err, el, "layer %u: name is not a terminated printable string", i);
	memcpy(L->name, rec, CR_NAME_LEN);
	for (uint32_t j = 0; j < i; j++)
		if (!strcmp(m->layers[j].name, L->name))
			return fail(err, el, "layer %u: duplicate name '%s'", i, L->name);
	L->type = (enum cr_layer_type)le_rd32(rec + 32);
	uint32_t parent = le_rd32(rec + 36);
	if (parent != NO_PARENT && parent >= i)
		return fail(err, el, "layer %u (%s): parent %u is not an earlier layer", i, L->name,
			    parent);
	L->parent = parent == NO_PARENT ? -1 : (int)parent;
	if (L->parent < 0) {
		L->in_c = (int)hd->ic, L->in_h = (int)hd->ih, L->in_w = (int)hd->iw;
	} else {
		const struct cr_layer *P = &m->layers[L->parent];
		L->in_c = P->out_c, L->in_h = P->out_h, L->in_w = P->out_w;
	}
	L->skip = CR_NO_SKIP;
	if (L->type == CR_LAYER_ADD && (ret = read_skip(m, hd, rec, i, err, el)))
		return ret;
	if (L->type == CR_LAYER_ATTN && hd->version < 2)
		return fail(err, el, "layer %u (%s): attention in a version %u file (it came in 2)",
			    i, L->name, hd->version);
	if ((ret = layer_shape(L, rec, (int)i, err, el)) ||
	    (ret = weights_at(blob, hd->woff, hd->wbytes, rec, 0, L->w_count, &L->w, L, (int)i, err,
			      el)) ||
	    (ret = weights_at(blob, hd->woff, hd->wbytes, rec, 1, L->b_count, &L->b, L, (int)i, err,
			      el)))
		return ret;
	return 0;
}

/* Where each add of exit e finds its skip operand on the chain. The executor
 * keeps one skip tensor aside at a time, so a residual block may not start
 * inside another (k1 < k2 < j1 for adds at j1, j2 with skips at k1 != k2). */
static int exit_skip_positions(struct cr_model *m, int e, char *err, size_t el)
{
	const int n = m->exit_len[e];
	int *sk = m->exit_skip[e];
	for (int j = 0; j < n; j++) {
		const struct cr_layer *L = &m->layers[m->exit_layers[e][j]];
		sk[j] = CR_NO_SKIP;
		if (L->type != CR_LAYER_ADD)
			continue;
		sk[j] = -1;
		if (L->skip >= 0) {
			int k = j - 1;
			while (k >= 0 && m->exit_layers[e][k] != L->skip)
				k--;
			if (k < 0)
				return fail(err, el, "exit %d position %d: add %s reads %s, which is "
					    "not on the exit's path before it", e + 1, j, L->name,
					    m->layers[L->skip].name);
			sk[j] = k;
		}
		/* skip tensors live over (k, j]: two distinct ones overlap when the
		 * later start comes before the earlier end */
		for (int i = 0; i < j; i++)
			if (sk[i] != CR_NO_SKIP && sk[i] != sk[j] &&
			    (sk[i] > sk[j] ? sk[i] : sk[j]) < i)
				return fail(err, el, "exit %d: the residual block ending at %s starts "
					    "inside the one ending at %s (overlapping blocks are "
					    "not supported)", e + 1, L->name,
					    m->layers[m->exit_layers[e][i]].name);
	}
	return 0;
}

/* The skip positions of exit e, then its partition points: p is one unless an
 * add at or after p reads a tensor from before p - 1. */
static int exit_skips(struct cr_model *m, int e, char *err, size_t el)
{
	const int n = m->exit_len[e];
	int ret;
	m->exit_skip[e] = calloc((size_t)n, sizeof(int));
	m->exit_cut[e] = calloc((size_t)n + 1, 1);
	if (!m->exit_skip[e] || !m->exit_cut[e])
		return -ENOMEM;
	if ((ret = exit_skip_positions(m, e, err, el)))
		return ret;
	for (int p = 0; p <= n; p++) {
		m->exit_cut[e][p] = 1;
		for (int j = p; j < n; j++)
			if (m->exit_skip[e][j] != CR_NO_SKIP && m->exit_skip[e][j] < p - 1)
				m->exit_cut[e][p] = 0;
	}
	return 0;
}

/* Version 2's variant fields of exit e (variant, of, split), before its layers:
 * a plain exit is its own and has no split point; a variant varies an earlier
 * plain exit and has one split point strictly inside its chain of n layers. */
static int read_variant(struct cr_model *m, const struct hdr *hd, uint32_t e, uint32_t n,
			uint64_t *pos, char *err, size_t el)
{
	if (*pos + 12 > hd->woff)
		return fail(err, el, "exit %u: table runs into the weight section", e + 1);
	uint32_t v = le_rd32(m->blob + *pos), of = le_rd32(m->blob + *pos + 4);
	uint32_t split = le_rd32(m->blob + *pos + 8);
	*pos += 12;
	if (v >= CR_VARIANT_COUNT)
		return fail(err, el, "exit %u: unknown variant %u", e + 1, v);
	if (v == CR_VARIANT_PLAIN && (of != e || split != NO_PARENT))
		return fail(err, el, "exit %u: a plain exit is its own (of %u) with no split point",
			    e + 1, of);
	if (v == CR_VARIANT_PLAIN && e > 0 && m->exit_variant[e - 1] != CR_VARIANT_PLAIN)
		return fail(err, el, "exit %u: a plain exit after a variant (plain exits come first)",
			    e + 1);
	if (v != CR_VARIANT_PLAIN && (of >= e || m->exit_variant[of] != CR_VARIANT_PLAIN))
		return fail(err, el, "exit %u: variant of exit index %u, which is not an earlier "
			    "plain exit", e + 1, of);
	if (v != CR_VARIANT_PLAIN && (split < 1 || split >= n))
		return fail(err, el, "exit %u: split point %u not in 1..%u", e + 1, split, n - 1);
	m->exit_variant[e] = (enum cr_variant)v;
	m->exit_of[e] = (int)of;
	m->exit_split[e] = v == CR_VARIANT_PLAIN ? 0 : (int)split;
	return 0;
}

/* Exit e at *pos of the exit table (moved past it): a chain from the input
 * through parents, ending in n_classes logits. */
static int read_exit(struct cr_model *m, const struct hdr *hd, uint32_t e, uint64_t *pos,
		     char *err, size_t el)
{
	const uint8_t *blob = m->blob;
	int ret;
	if (*pos + 4 > hd->woff)
		return fail(err, el, "exit %u: table runs into the weight section", e + 1);
	uint32_t n = le_rd32(blob + *pos);
	*pos += 4;
	if (hd->version >= 2 && (ret = read_variant(m, hd, e, n, pos, err, el)))
		return ret;
	if (n < 1 || n > hd->nl || *pos + 4ull * n > hd->woff)
		return fail(err, el, "exit %u: length %u invalid or beyond the exit table", e + 1, n);
	m->exit_layers[e] = calloc(n, sizeof(int));
	if (!m->exit_layers[e])
		return -ENOMEM;
	m->exit_len[e] = (int)n;
	for (uint32_t j = 0; j < n; j++) {
		uint32_t li = le_rd32(blob + *pos + 4 * j);
		if (li >= hd->nl)
			return fail(err, el, "exit %u position %u: layer %u does not exist", e + 1, j, li);
		int want_parent = j ? m->exit_layers[e][j - 1] : -1;
		if (m->layers[li].parent != want_parent)
			return fail(err, el, "exit %u position %u: layer %s does not follow %s", e + 1,
				    j, m->layers[li].name,
				    want_parent < 0 ? "the input" : m->layers[want_parent].name);
		m->exit_layers[e][j] = (int)li;
	}
	*pos += 4ull * n;
	if ((ret = exit_skips(m, e, err, el)))
		return ret;
	if (m->exit_split[e] > 0 && !m->exit_cut[e][m->exit_split[e]])
		return fail(err, el, "exit %u: split point %d lies inside a residual block", e + 1,
			    m->exit_split[e]);
	const struct cr_layer *last = &m->layers[m->exit_layers[e][n - 1]];
	if ((uint64_t)last->out_c * last->out_h * last->out_w != hd->ncls)
		return fail(err, el, "exit %u ends in layer %s with %d outputs, not %u classes", e + 1,
			    last->name, last->out_c * last->out_h * last->out_w, hd->ncls);
	return 0;
}

int cr_model_parse(const void *buf, size_t len, struct cr_model **out, char *err, size_t el)
{
	struct cr_model *m = NULL;
	uint8_t *blob = NULL;
	const uint8_t *h = buf;
	struct hdr hd = {0};
	int ret;
	*out = NULL;

	if ((ret = check_file(h, len, &hd.sum, err, el)) || (ret = read_header(h, len, &hd, err, el)))
		return ret;
	m = calloc(1, sizeof(*m));
	if (!m || posix_memalign((void **)&blob, 64, len)) {
		ret = -ENOMEM;
		fail(err, el, "out of memory loading %zu bytes", len);
		goto err;
	}
	memcpy(blob, buf, len);
	m->blob = blob;
	m->file_bytes = len;
	m->checksum = hd.sum;
	memcpy(m->name, h + 104, 24);
	m->n_layers = (int)hd.nl, m->n_exits = (int)hd.ne, m->n_classes = (int)hd.ncls;
	m->in_c = (int)hd.ic, m->in_h = (int)hd.ih, m->in_w = (int)hd.iw;
	if ((ret = read_norm(m, h, err, el)))
		goto err;
	m->layers = calloc(hd.nl, sizeof(*m->layers));
	if (!m->layers) {
		ret = -ENOMEM;
		goto err;
	}
	for (uint32_t i = 0; i < hd.nl; i++)
		if ((ret = read_layer(m, &hd, i, err, el)))
			goto err;
	uint64_t pos = hd.et_off;
	for (uint32_t e = 0; e < hd.ne; e++)
		m->exit_of[e] = (int)e;
	for (uint32_t e = 0; e < hd.ne; e++)
		if ((ret = read_exit(m, &hd, e, &pos, err, el)))
			goto err;
	while (m->n_plain < m->n_exits && m->exit_variant[m->n_plain] == CR_VARIANT_PLAIN)
		m->n_plain++;
	*out = m;
	return 0;
err:
	cr_model_free(m);
	if (!m)
		free(blob);
	return ret;
}

int cr_model_load(const char *path, struct cr_model **out, char *err, size_t el)
{
	void *buf;
	size_t n;
	*out = NULL;
	int ret = cf_read_file(path, CR_MODEL_MAX_BYTES, &buf, &n, err, el);
	if (ret)
		return ret;
	char inner[200] = "";
	ret = cr_model_parse(buf, n, out, inner, sizeof(inner));
	if (ret)
		snprintf(err, el, "%s: %s", path, inner);
	free(buf);
	return ret;
}

void cr_model_free(struct cr_model *m)
{
	if (!m)
		return;
	for (int e = 0; e < CR_MODEL_MAX_EXITS; e++) {
		free(m->exit_layers[e]);
		free(m->exit_skip[e]);
		free(m->exit_cut[e]);
	}
	free(m->layers);
	free(m->blob);
	free(m);
}

size_t cr_model_boundary_floats(const struct cr_model *m, int e, int p)
{
	if (p == 0)
		return (size_t)m->in_c * m->in_h * m->in_w;
	const struct cr_layer *L = cr_model_exit_layer(m, e, p - 1);
	return (size_t)L->out_c * L->out_h * L->out_w;
}

size_t cr_model_smallest_boundary(const struct cr_model *m, int *e, int *p)
{
	int be = 0, bp = 1;
	for (int x = 0; x < m->n_exits; x++)
		for (int k = 1; k < m->exit_len[x]; k++)
			if (cr_model_cut_ok(m, x, k) &&
			    (!cr_model_cut_ok(m, be, bp) ||
			     cr_model_boundary_floats(m, x, k) < cr_model_boundary_floats(m, be, bp)))
				be = x, bp = k;
	*e = be;
	*p = bp;
	return cr_model_boundary_floats(m, be, bp);
}

uint64_t cr_model_exit_flops(const struct cr_model *m, int e, int p)
{
	uint64_t f = 0;
	for (int i = 0; i < p; i++)
		f += cr_model_exit_layer(m, e, i)->flops;
	return f;
}

void cr_model_normalize(const struct cr_model *m, const uint8_t *img, float *out, int n)
{
	size_t plane = (size_t)m->in_h * m->in_w;
	for (int i = 0; i < n; i++)
		for (int c = 0; c < m->in_c; c++) {
			const uint8_t *src = img + ((size_t)i * m->in_c + c) * plane;
			float *dst = out + ((size_t)i * m->in_c + c) * plane;
			float mean = m->mean[c], std = m->std[c];
			for (size_t j = 0; j < plane; j++)
				dst[j] = ((float)src[j] / 255.0f - mean) / std;
		}
}
