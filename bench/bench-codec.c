/* Codec throughput and size on real feature maps: the bundled model runs CIFAR-10
 * test images to a set of partition points; at each, every image's C x H x W map
 * (dims {C, H, W}, per-tensor quantization; "input" is the normalized image) is
 * framed with raw16, and with packed, huffman, huffman-zrun and pred-huffman at 4,
 * 8, 12 and 16 bits, and compressed by zstd levels
 * 1 and 3 as raw fp32 bytes and as 8-bit quantized symbols, in the same run.
 * Speeds are MB (1e6 bytes) of fp32 per second on one core: encode counts the
 * fp32 input (4 * elems bytes), decode the fp32 output; zstd speeds use the same
 * fp32-equivalent basis (for q8 the quantization itself is not timed). JSON out. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "coinfer/cli.h"
#include "coinfer/clock.h"
#include "coinfer/codec-frame.h"
#include "coinfer/codec.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "coinfer-bench-codec: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

/* Partition points: (exit, layer name); the tensor after that layer ("input":
 * partition 0, the image itself, what the policies send most). The default is the
 * AlexNet's; --points names others (a variant's split point, say). */
#define MAX_POINTS 32
struct point_name {
	int exit; /* 1-based */
	char layer[CR_NAME_LEN];
};
static const char default_points[] =
	"3:input,3:conv1,3:relu1,3:pool1,3:lrn1,3:relu2,3:lrn2,3:relu4,3:pool5,3:relu6,1:b1_relu";

static const int bits_set[] = {4, 8, 12, 16};
static const enum cc_codec quant_codecs[] = {CC_CODEC_PACKED, CC_CODEC_HUFFMAN,
					     CC_CODEC_HUFFMAN_ZRUN, CC_CODEC_PRED};
#define NQ (int)(sizeof(quant_codecs) / sizeof(quant_codecs[0]))
#define BATCH 32 /* the executor's, for the heads */

struct ctx {
	int n;             /* images */
	size_t elems;      /* per image */
	const float *maps; /* n * elems */
	uint32_t dims[3];
	double secs;
	uint8_t *frames;   /* n * slot */
	size_t slot, *len;
	float *out;        /* elems */
	void *scratch;
	size_t scratch_bytes;
	struct cc_limits lim;
	struct cc_encoder *enc; /* made once, as the device agent holds one */
};

struct result {
	double bytes, enc_mbs, dec_mbs;
};

/* Encodes every image once (sizes, frames kept for decoding), then times encode
 * and decode over the images in turn until each has run for ctx->secs. */
static int bench_codec(struct ctx *c, enum cc_codec codec, int bits, struct result *r)
{
	char err[256];
	double total = 0;
	for (int i = 0; i < c->n; i++) {
		int rc = cc_encoder_encode(c->enc, c->maps + (size_t)i * c->elems, 3, c->dims, codec,
					   bits, 0, c->frames + (size_t)i * c->slot, c->slot, &c->len[i], err,
					 sizeof(err));
		if (rc) {
			fprintf(stderr, "coinfer-bench-codec: encode %s/%d: %s\n",
				cc_codec_name(codec), bits, err);
			return rc;
		}
		total += (double)c->len[i];
	}
	r->bytes = total / c->n;
	/* Check once that every frame decodes. */
	for (int i = 0; i < c->n; i++) {
		int rc = cc_frame_decode(c->frames + (size_t)i * c->slot, c->len[i], &c->lim, c->out,
					 c->elems, c->scratch, c->scratch_bytes, NULL, err,
					 sizeof(err));
		if (rc) {
			fprintf(stderr, "coinfer-bench-codec: decode %s/%d: %s\n",
				cc_codec_name(codec), bits, err);
			return rc;
		}
	}
	long k = 0;
	size_t len;
	double t0 = cf_now_s(), dt;
	do {
		int i = (int)(k % c->n);
		cc_encoder_encode(c->enc, c->maps + (size_t)i * c->elems, 3, c->dims, codec, bits, 0,
				  c->frames + (size_t)i * c->slot, c->slot, &len, NULL, 0);
		k++;
	} while ((dt = cf_now_s() - t0) < c->secs || k < c->n);
	r->enc_mbs = (double)k * 4.0 * (double)c->elems / dt * 1e-6;
	k = 0;
	t0 = cf_now_s();
	do {
		int i = (int)(k % c->n);
		cc_frame_decode(c->frames + (size_t)i * c->slot, c->len[i], &c->lim, c->out, c->elems,
				c->scratch, c->scratch_bytes, NULL, NULL, 0);
		k++;
	} while ((dt = cf_now_s() - t0) < c->secs || k < c->n);
	r->dec_mbs = (double)k * 4.0 * (double)c->elems / dt * 1e-6;
	return 0;
}

/* zstd on n inputs of `in_bytes` each (src), fp32-equivalent speed basis. */
static int bench_zstd(struct ctx *c, ZSTD_CCtx *cc, ZSTD_DCtx *dc, const uint8_t *src,
		      size_t in_bytes, int level, uint8_t *dec, struct result *r)
{
	size_t cap = ZSTD_compressBound(in_bytes);
	double total = 0;
	for (int i = 0; i < c->n; i++) {
		size_t z = ZSTD_compressCCtx(cc, c->frames + (size_t)i * c->slot, cap,
					     src + (size_t)i * in_bytes, in_bytes, level);
		if (ZSTD_isError(z)) {
			fprintf(stderr, "coinfer-bench-codec: zstd: %s\n", ZSTD_getErrorName(z));
			return -EIO;
		}
		c->len[i] = z;
		total += (double)z;
		size_t d = ZSTD_decompressDCtx(dc, dec, in_bytes, c->frames + (size_t)i * c->slot, z);
		if (ZSTD_isError(d) || d != in_bytes ||
		    memcmp(dec, src + (size_t)i * in_bytes, in_bytes)) {
			fprintf(stderr, "coinfer-bench-codec: zstd round trip failed\n");
			return -EIO;
		}
	}
	r->bytes = total / c->n;
	long k = 0;
	double t0 = cf_now_s(), dt;
	do {
		int i = (int)(k % c->n);
		ZSTD_compressCCtx(cc, c->frames + (size_t)i * c->slot, cap, src + (size_t)i * in_bytes,
				  in_bytes, level);
		k++;
	} while ((dt = cf_now_s() - t0) < c->secs || k < c->n);
	r->enc_mbs = (double)k * 4.0 * (double)c->elems / dt * 1e-6;
	k = 0;
	t0 = cf_now_s();
	do {
		int i = (int)(k % c->n);
		ZSTD_decompressDCtx(dc, dec, in_bytes, c->frames + (size_t)i * c->slot, c->len[i]);
		k++;
	} while ((dt = cf_now_s() - t0) < c->secs || k < c->n);
	r->dec_mbs = (double)k * 4.0 * (double)c->elems / dt * 1e-6;
	return 0;
}

static cJSON *result_json(const struct result *r, size_t elems)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "bytes_per_image", r->bytes);
	cJSON_AddNumberToObject(o, "ratio_fp32", r->bytes / (4.0 * (double)elems));
	cJSON_AddNumberToObject(o, "encode_mb_s", r->enc_mbs);
	cJSON_AddNumberToObject(o, "decode_mb_s", r->dec_mbs);
	return o;
}

/* ---- the command line ------------------------------------------------------------------ */

struct bc_opts {
	const char *model, *data, *points;
	int n_img, quick;
	double secs;
};

/* --quick goes first wherever it stands: --images and --seconds given as well win */
static int quick_arg(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		     size_t errlen)
{
	struct bc_opts *b = opts;
	b->quick = 1, b->n_img = 32, b->secs = 0.05;
	return 0;
}

#define F(f) CLI_FIELD(struct bc_opts, f)
static const struct cli_opt opts[] = {
	CLI_OPT_MODEL(struct bc_opts, model),
	CLI_OPT_DATA(struct bc_opts, data),
	{.name = "images", .kind = CLI_INT, F(n_img), .lo = 1, .hi = INT_MAX,
	 .help = "feature maps of the first N test images"},
	{.name = "seconds", .kind = CLI_DOUBLE, F(secs), .lo = 1e-6, .hi = 1e6, .arg = "S",
	 .help = "each timing runs at least S seconds"},
	{.name = "quick", .kind = CLI_FLAG, F(quick), .parse = quick_arg, .early = 1,
	 .help = "32 images, 0.05 s (unless --images, --seconds say otherwise)"},
	{.name = "points", .kind = CLI_STRING, F(points), .arg = "LIST",
	 .help = "partition points E:LAYER,... (exit from 1; the tensor after\n"
		 "LAYER, or input), e.g. 5:pool2_enc_pw",
	 .dflt = "the AlexNet's eleven"},
};
static const struct cli_prog prog = {
	.name = "coinfer-bench-codec",
	.head = "usage: coinfer-bench-codec [options]\n"
		"Codec size and encode/decode MB/s (fp32 MB, one core) on the bundled model's\n"
		"feature maps of N CIFAR-10 test images at several partition points: raw16,\n"
		"packed/huffman/huffman-zrun/pred-huffman at 4/8/12/16 bits (per-tensor), and\n"
		"zstd levels 1 and 3 on the raw fp32 bytes and on the 8-bit symbols, as JSON.\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct bc_opts)};

/* ---- the points ----------------------------------------------------------------------- */

/* What every point shares: the model and its executor, the normalised images,
 * the codec context, the buffers sized for the largest point, zstd. */
struct bench {
	const struct cr_model *m;
	struct cr_exec *x;
	float *input;
	size_t in_per;
	struct ctx cx;
	float *maps;
	uint16_t *q16;
	uint8_t *q8, *zdec;
	ZSTD_CCtx *zc;
	ZSTD_DCtx *zd;
	const struct cc_kernels *k;
};

/* Per-point figures over the points done, for the summary. */
struct totals {
	double p8_min, p8_sum, h8_min, h8_sum;
	int n_done;
	cJSON *per_point;
};

/* LIST ("E:LAYER,...") into pts: their number, or -1 saying what is wrong. */
static int parse_points(const char *list, struct point_name *pts)
{
	int n = 0;
	for (const char *p = list; *p; n++) {
		size_t len = strcspn(p, ",");
		char *end;
		long e = strtol(p, &end, 10);
		size_t name_len = len - (size_t)(end + 1 - p);
		if (n == MAX_POINTS || end == p || *end != ':' || end + 1 > p + len || e < 1 ||
		    e > CR_MODEL_MAX_EXITS || !name_len || name_len >= CR_NAME_LEN) {
			fprintf(stderr, "coinfer-bench-codec: --points: '%.*s' is not EXIT:LAYER "
					"(at most %d points)\n", (int)len, p, MAX_POINTS);
			return -1;
		}
		pts[n].exit = (int)e;
		snprintf(pts[n].layer, sizeof(pts[n].layer), "%.*s", (int)name_len, end + 1);
		p += len + (p[len] == ',');
	}
	return n;
}

/* The points' exits (0-based) and partitions (-1: not in this model), and the
 * largest point's floats; 0 when there is none. */
static size_t resolve_points(const struct cr_model *m, const struct point_name *points, int *pe,
			     int *pp, int np)
{
	size_t max_elems = 0;
	for (int i = 0; i < np; i++) {
		int e = points[i].exit - 1;
		pe[i] = e;
		pp[i] = -1;
		if (e >= m->n_exits)
			continue;
		if (!strcmp(points[i].layer, "input"))
			pp[i] = 0;
		for (int p = 0; p < m->exit_len[e]; p++)
			if (!strcmp(cr_model_exit_layer(m, e, p)->name, points[i].layer))
				pp[i] = p + 1;
		if (pp[i] < 0) {
			fprintf(stderr, "coinfer-bench-codec: warning: exit %d has no layer %s; skipped\n",
				points[i].exit, points[i].layer);
			continue;
		}
		size_t f = cr_model_boundary_floats(m, e, pp[i]);
		max_elems = f > max_elems ? f : max_elems;
	}
	return max_elems;
}

/* The head of exit e up to partition p over every image, into b->maps; its dims
 * ({elems, 1, 1} where the layer's shape is not the boundary's). */
static int head_maps(struct bench *b, int e, int p, size_t elems, const struct cr_layer *L)
{
	const struct cr_model *m = b->m;
	struct ctx *cx = &b->cx;
	for (int b0 = 0; b0 < cx->n; b0 += BATCH) {
		int nb = cx->n - b0 < BATCH ? cx->n - b0 : BATCH;
		const float *o;
		if (cr_exec_run(b->x, e, 0, p, b->input + (size_t)b0 * b->in_per, nb, &o)) {
			fprintf(stderr, "coinfer-bench-codec: executor failed\n");
			return -EIO;
		}
		memcpy(b->maps + (size_t)b0 * elems, o, (size_t)nb * elems * sizeof(float));
	}
	cx->elems = elems;
	cx->maps = b->maps;
	cx->dims[0] = (uint32_t)(L ? L->out_c : m->in_c);
	cx->dims[1] = (uint32_t)(L ? L->out_h : m->in_h);
	cx->dims[2] = (uint32_t)(L ? L->out_w : m->in_w);
	if ((size_t)cx->dims[0] * cx->dims[1] * cx->dims[2] != elems) {
		cx->dims[0] = (uint32_t)elems; /* flattened: treat as {elems, 1, 1} */
		cx->dims[1] = cx->dims[2] = 1;
	}
	return 0;
}

static cJSON *point_json(const struct bench *b, int e, int p, const struct cr_layer *L)
{
	size_t elems = b->cx.elems, zeros = 0;
	cJSON *jp = cJSON_CreateObject();
	cJSON_AddNumberToObject(jp, "exit", e + 1);
	cJSON_AddNumberToObject(jp, "partition", p);
	cJSON_AddStringToObject(jp, "layer", L ? L->name : "input");
	cJSON_AddStringToObject(jp, "type", L ? cr_layer_type_name(L->type) : "input");
	cJSON *jd = cJSON_AddArrayToObject(jp, "dims");
	for (int d = 0; d < 3; d++)
		cJSON_AddItemToArray(jd, cJSON_CreateNumber(b->cx.dims[d]));
	cJSON_AddNumberToObject(jp, "elems", (double)elems);
	for (size_t j = 0; j < (size_t)b->cx.n * elems; j++)
		zeros += b->maps[j] == 0.0f;
	cJSON_AddNumberToObject(jp, "zero_fraction", (double)zeros / ((double)b->cx.n * elems));
	return jp;
}

/* raw16, then every quantizing codec at every bits: into jc; the 8-bit results
 * per codec (quant_codecs' order) into ours8. */
static int bench_codecs(struct bench *b, cJSON *jc, struct result ours8[NQ])
{
	struct result r;
	int rc;
	if ((rc = bench_codec(&b->cx, CC_CODEC_RAW16, 0, &r)))
		return rc;
	cJSON *o = result_json(&r, b->cx.elems);
	cJSON_AddStringToObject(o, "codec", cc_codec_name(CC_CODEC_RAW16));
	cJSON_AddNumberToObject(o, "bits", 16);
	cJSON_AddItemToArray(jc, o);
	for (int ci = 0; ci < NQ; ci++)
		for (int bi = 0; bi < 4; bi++) {
			enum cc_codec codec = quant_codecs[ci];
			int bits = bits_set[bi];
			if ((rc = bench_codec(&b->cx, codec, bits, &r)))
				return rc;
			o = result_json(&r, b->cx.elems);
			cJSON_AddStringToObject(o, "codec", cc_codec_name(codec));
			cJSON_AddNumberToObject(o, "bits", bits);
			cJSON_AddItemToArray(jc, o);
			if (bits == 8)
				ours8[ci] = r;
		}
	return 0;
}

/* 8-bit symbols as bytes, quantized exactly as the codec does. */
static void quantize_q8(struct bench *b)
{
	size_t elems = b->cx.elems;
	for (int j = 0; j < b->cx.n; j++) {
		const float *xm = b->maps + (size_t)j * elems;
		float mn, mx;
		b->k->minmax(xm, 1, elems, 0, &mn, &mx);
		b->k->quantize(xm, 1, elems, 0, &mn, &mx, 8, b->q16);
		for (size_t t = 0; t < elems; t++)
			b->q8[(size_t)j * elems + t] = (uint8_t)b->q16[t];
	}
}

/* Ours at 8 bits against one zstd run. */
static void vs_zstd(cJSON *jv, const struct result ours8[NQ], const struct result *z, int q8,
		    int level)
{
	for (int t = 0; t < NQ; t++) {
		cJSON *v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "ours", cc_codec_name(quant_codecs[t]));
		cJSON_AddNumberToObject(v, "bits", 8);
		cJSON_AddStringToObject(v, "zstd_input", q8 ? "q8" : "fp32");
		cJSON_AddNumberToObject(v, "zstd_level", level);
		cJSON_AddNumberToObject(v, "size_ratio", ours8[t].bytes / z->bytes);
		cJSON_AddNumberToObject(v, "encode_speed_ratio", ours8[t].enc_mbs / z->enc_mbs);
		cJSON_AddNumberToObject(v, "decode_speed_ratio", ours8[t].dec_mbs / z->dec_mbs);
		cJSON_AddItemToArray(jv, v);
	}
}

/* zstd levels 1 and 3 on the fp32 bytes, then on the 8-bit symbols. */
static int bench_zstds(struct bench *b, cJSON *jp, const struct result ours8[NQ])
{
	size_t elems = b->cx.elems;
	cJSON *jz = cJSON_AddArrayToObject(jp, "zstd");
	cJSON *jv = cJSON_AddArrayToObject(jp, "vs_zstd");
	struct result r;
	int rc;
	quantize_q8(b);
	for (int in = 0; in < 2; in++)
		for (int level = 1; level <= 3; level += 2) {
			const uint8_t *src = in ? b->q8 : (const uint8_t *)b->maps;
			size_t in_bytes = in ? elems : elems * 4;
			if ((rc = bench_zstd(&b->cx, b->zc, b->zd, src, in_bytes, level, b->zdec, &r)))
				return rc;
			cJSON *o = result_json(&r, elems);
			cJSON_AddStringToObject(o, "input", in ? "q8" : "fp32");
			cJSON_AddNumberToObject(o, "level", level);
			cJSON_AddItemToArray(jz, o);
			vs_zstd(jv, ours8, &r, in, level);
		}
	return 0;
}

static void add_to_totals(struct totals *t, const char *name, size_t elems,
			  const struct result ours8[NQ])
{
	const struct result *p8 = &ours8[0], *h8 = &ours8[1], *d8 = &ours8[3];
	double p = p8->dec_mbs * 1e-3, h = h8->dec_mbs * 1e-3;
	t->p8_min = p < t->p8_min ? p : t->p8_min;
	t->h8_min = h < t->h8_min ? h : t->h8_min;
	t->p8_sum += p;
	t->h8_sum += h;
	t->n_done++;
	cJSON *sp = cJSON_CreateObject();
	cJSON_AddStringToObject(sp, "layer", name);
	cJSON_AddNumberToObject(sp, "elems", (double)elems);
	cJSON_AddNumberToObject(sp, "packed8_decode_gb_s", p);
	cJSON_AddNumberToObject(sp, "huffman8_decode_gb_s", h);
	cJSON_AddNumberToObject(sp, "packed8_encode_gb_s", p8->enc_mbs * 1e-3);
	cJSON_AddNumberToObject(sp, "huffman8_encode_gb_s", h8->enc_mbs * 1e-3);
	cJSON_AddNumberToObject(sp, "huffman8_ratio_fp32", h8->bytes / (4.0 * elems));
	cJSON_AddNumberToObject(sp, "pred8_decode_gb_s", d8->dec_mbs * 1e-3);
	cJSON_AddNumberToObject(sp, "pred8_ratio_fp32", d8->bytes / (4.0 * elems));
	cJSON_AddItemToArray(t->per_point, sp);
}

/* One partition point: its maps, every codec, zstd, into jpoints and the totals. */
static int bench_point(struct bench *b, int e, int p, cJSON *jpoints, struct totals *t)
{
	const struct cr_layer *L = p ? cr_model_exit_layer(b->m, e, p - 1) : NULL;
	struct result ours8[NQ] = {{0}};
	int rc;
	if ((rc = head_maps(b, e, p, cr_model_boundary_floats(b->m, e, p), L)))
		return rc;
	cJSON *jp = point_json(b, e, p, L);
	cJSON_AddItemToArray(jpoints, jp);
	if ((rc = bench_codecs(b, cJSON_AddArrayToObject(jp, "codecs"), ours8)) ||
	    (rc = bench_zstds(b, jp, ours8)))
		return rc;
	add_to_totals(t, L ? L->name : "input", b->cx.elems, ours8);
	return 0;
}

/* ---- the program ---------------------------------------------------------------------- */

/* Buffers for n images at points of at most max_elems floats. */
static int bench_init(struct bench *b, const struct cr_model *m, const struct ds_dataset *ds,
		      int n, double secs, size_t max_elems)
{
	b->m = m;
	if (cr_exec_create(m, NULL, BATCH, &b->x)) {
		fprintf(stderr, "coinfer-bench-codec: cannot create the executor\n");
		return -ENOMEM;
	}
	b->in_per = cr_model_boundary_floats(m, 0, 0);
	b->input = xmalloc((size_t)n * b->in_per * sizeof(float));
	cr_model_normalize(m, ds->images, b->input, n);
	/* Largest frame / zstd bound over everything at the largest point. */
	uint32_t bd[3] = {(uint32_t)max_elems, 1, 1};
	size_t slot = ZSTD_compressBound(max_elems * 4);
	for (int c = 0; c < CC_CODEC_COUNT; c++) {
		size_t bound = cc_frame_bound((enum cc_codec)c, 3, bd, 0);
		slot = bound > slot ? bound : slot;
	}
	slot = (slot + 63) & ~(size_t)63;
	b->cx = (struct ctx){
		.n = n, .secs = secs, .frames = xmalloc((size_t)n * slot), .slot = slot,
		.len = xmalloc((size_t)n * sizeof(size_t)), .out = xmalloc(max_elems * sizeof(float)),
		.scratch_bytes = cc_frame_scratch_max(),
		.lim = {.max_elems = max_elems, .max_frame_bytes = slot},
	};
	b->cx.scratch = xmalloc(b->cx.scratch_bytes);
	if (cc_encoder_create(max_elems, 1, CC_BITS_MAX, &b->cx.enc)) {
		fprintf(stderr, "coinfer-bench-codec: out of memory\n");
		return -ENOMEM;
	}
	b->maps = xmalloc((size_t)n * max_elems * sizeof(float));
	b->q16 = xmalloc(max_elems * sizeof(uint16_t));
	b->q8 = xmalloc((size_t)n * max_elems);
	b->zdec = xmalloc(max_elems * sizeof(float));
	b->zc = ZSTD_createCCtx();
	b->zd = ZSTD_createDCtx();
	b->k = cc_kernels();
	return 0;
}

static void bench_free(struct bench *b)
{
	ZSTD_freeCCtx(b->zc);
	ZSTD_freeDCtx(b->zd);
	free(b->zdec), free(b->q8), free(b->q16), free(b->maps);
	free(b->cx.scratch);
	cc_encoder_destroy(b->cx.enc);
	free(b->cx.out), free(b->cx.len), free(b->cx.frames);
	free(b->input);
	cr_exec_destroy(b->x);
}

static cJSON *report_head(const struct bench *b)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "isa", b->k->name);
	cJSON_AddStringToObject(root, "exec_isa", cr_exec_kernels(b->x)->name);
	cJSON_AddStringToObject(root, "model", b->m->name);
	cJSON_AddNumberToObject(root, "images", b->cx.n);
	cJSON_AddNumberToObject(root, "seconds", b->cx.secs);
	cJSON_AddStringToObject(root, "zstd_version", ZSTD_versionString());
	cJSON_AddStringToObject(root, "quantization", "per-tensor");
	cJSON_AddStringToObject(root, "speed_basis",
				"MB (1e6 bytes) of fp32 per second, one thread; zstd q8 excludes "
				"quantization");
	return root;
}

static void print_report(cJSON *root, struct totals *t)
{
	cJSON *s = cJSON_AddObjectToObject(root, "summary");
	cJSON_AddNumberToObject(s, "packed8_decode_gb_s_min", t->p8_min);
	cJSON_AddNumberToObject(s, "packed8_decode_gb_s_mean", t->p8_sum / t->n_done);
	cJSON_AddNumberToObject(s, "huffman8_decode_gb_s_min", t->h8_min);
	cJSON_AddNumberToObject(s, "huffman8_decode_gb_s_mean", t->h8_sum / t->n_done);
	cJSON_AddBoolToObject(s, "packed8_decode_ge_1_gb_s", t->p8_min >= 1.0);
	cJSON_AddItemToObject(s, "per_point", t->per_point);
	t->per_point = NULL;
	char *str = cJSON_Print(root);
	puts(str);
	free(str);
}

/* Every point of the model over the first n images of ds: the exit status. */
static int run(const struct cr_model *m, const struct ds_dataset *ds, int n, double secs,
	       const char *list)
{
	struct point_name points[MAX_POINTS];
	int pe[MAX_POINTS], pp[MAX_POINTS], rc = 0, NP = parse_points(list, points);
	if (NP < 0)
		return 2;
	struct bench b = {0};
	struct totals t = {.p8_min = 1e300, .h8_min = 1e300, .per_point = cJSON_CreateArray()};
	size_t max_elems = resolve_points(m, points, pe, pp, NP);
	if (!max_elems) {
		cJSON_Delete(t.per_point);
		fprintf(stderr, "coinfer-bench-codec: no partition point found in the model\n");
		return 1;
	}
	if (bench_init(&b, m, ds, n, secs, max_elems))
		return 1;
	cJSON *root = report_head(&b);
	cJSON *jpoints = cJSON_AddArrayToObject(root, "points");
	for (int i = 0; i < NP && !rc; i++)
		if (pp[i] >= 0)
			rc = bench_point(&b, pe[i], pp[i], jpoints, &t);
	if (!rc)
		print_report(root, &t);
	cJSON_Delete(t.per_point);
	cJSON_Delete(root);
	bench_free(&b);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct bc_opts o = {.n_img = 256, .secs = 0.2};
	char err[512];
	struct cr_model *m;
	struct ds_dataset ds;
	int st = cli_args(&prog, &o, argc, argv);
	if (st != CLI_GO)
		return st;
	if (cli_data_dir(&o.data, err, sizeof(err)) ||
	    cli_model_load(o.model, &m, err, sizeof(err)))
		goto bad;
	if (ds_cifar10_load(o.data, "test_batch.bin", &ds, err, sizeof(err))) {
		cr_model_free(m);
		goto bad;
	}
	if (ds.c != m->in_c || ds.h != m->in_h || ds.w != m->in_w) {
		fprintf(stderr, "coinfer-bench-codec: dataset images are %dx%dx%d, model wants %dx%dx%d\n",
			ds.c, ds.h, ds.w, m->in_c, m->in_h, m->in_w);
		st = 1;
	} else {
		st = run(m, &ds, o.n_img < ds.n ? o.n_img : ds.n, o.secs,
			 o.points && *o.points ? o.points : default_points);
	}
	ds_dataset_free(&ds);
	cr_model_free(m);
	return st;
bad:
	fprintf(stderr, "coinfer-bench-codec: %s\n", err);
	return 1;
}
