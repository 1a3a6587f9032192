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
#include <getopt.h>
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
 * partition 0, the image itself, what the policies send most). */
static const struct {
	int exit; /* 1-based */
	const char *layer;
} points[] = {
	{3, "input"}, {3, "conv1"}, {3, "relu1"}, {3, "pool1"}, {3, "lrn1"},  {3, "relu2"},
	{3, "lrn2"},  {3, "relu4"}, {3, "pool5"}, {3, "relu6"}, {1, "b1_relu"},
};

static const int bits_set[] = {4, 8, 12, 16};
static const enum cc_codec quant_codecs[] = {CC_CODEC_PACKED, CC_CODEC_HUFFMAN,
					     CC_CODEC_HUFFMAN_ZRUN, CC_CODEC_PRED};
#define NQ (int)(sizeof(quant_codecs) / sizeof(quant_codecs[0]))

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

static void usage(FILE *f)
{
	fprintf(f,
		"usage: coinfer-bench-codec [--model PATH] [--data DIR] [--images N] [--seconds S]\n"
		"                           [--quick]\n"
		"Codec size and encode/decode MB/s (fp32 MB, one core) on the bundled model's\n"
		"feature maps of N CIFAR-10 test images (default 256) at several partition\n"
		"points: raw16, packed/huffman/huffman-zrun/pred-huffman at 4/8/12/16 bits\n"
		"(per-tensor), and\n"
		"zstd levels 1 and 3 on the raw fp32 bytes and on the 8-bit symbols, as JSON.\n"
		"Each timing runs at least S seconds (default 0.2); --quick: 32 images, 0.05 s.\n");
}

int main(int argc, char **argv)
{
	const char *model = NULL, *data = NULL;
	double secs = 0.2;
	int n_img = 256, quick = 0, images_set = 0, secs_set = 0;
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'},  {"data", required_argument, 0, 'd'},
		{"images", required_argument, 0, 'n'}, {"seconds", required_argument, 0, 's'},
		{"quick", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': model = optarg; break;
		case 'd': data = optarg; break;
		case 'n': n_img = atoi(optarg); images_set = 1; break;
		case 's': secs = atof(optarg); secs_set = 1; break;
		case 'q': quick = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (quick) {
		if (!images_set)
			n_img = 32;
		if (!secs_set)
			secs = 0.05;
	}
	if (n_img < 1 || !(secs > 0)) {
		fprintf(stderr, "coinfer-bench-codec: --images must be >= 1 and --seconds > 0\n");
		return 2;
	}
	if (!model && !(model = cli_default_model_path())) {
		fprintf(stderr, "coinfer-bench-codec: no model found (give --model or set "
				"COINFER_MODEL)\n");
		return 1;
	}
	if (!data && !(data = cli_cifar10_default_dir())) {
		fprintf(stderr, "coinfer-bench-codec: no CIFAR-10 directory found (give --data DIR "
				"holding test_batch.bin, or set COINFER_CIFAR10)\n");
		return 1;
	}
	char err[512];
	struct cr_model *m;
	if (cr_model_load(model, &m, err, sizeof(err))) {
		fprintf(stderr, "coinfer-bench-codec: %s\n", err);
		return 1;
	}
	struct ds_dataset ds;
	if (ds_cifar10_load(data, "test_batch.bin", &ds, err, sizeof(err))) {
		fprintf(stderr, "coinfer-bench-codec: %s\n", err);
		cr_model_free(m);
		return 1;
	}
	if (ds.c != m->in_c || ds.h != m->in_h || ds.w != m->in_w) {
		fprintf(stderr, "coinfer-bench-codec: dataset images are %dx%dx%d, model wants %dx%dx%d\n",
			ds.c, ds.h, ds.w, m->in_c, m->in_h, m->in_w);
		return 1;
	}
	if (n_img > ds.n)
		n_img = ds.n;

	/* Resolve the points; size buffers for the largest. */
	enum { NP = sizeof(points) / sizeof(points[0]) };
	int pe[NP], pp[NP];
	size_t max_elems = 0;
	for (int i = 0; i < NP; i++) {
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
	if (!max_elems) {
		fprintf(stderr, "coinfer-bench-codec: no partition point found in the model\n");
		return 1;
	}

	const int batch = 32;
	struct cr_exec *x;
	if (cr_exec_create(m, NULL, batch, &x)) {
		fprintf(stderr, "coinfer-bench-codec: cannot create the executor\n");
		return 1;
	}
	size_t in_per = cr_model_boundary_floats(m, 0, 0);
	float *input = xmalloc((size_t)n_img * in_per * sizeof(float));
	cr_model_normalize(m, ds.images, input, n_img);

	/* Largest frame / zstd bound over everything at the largest point. */
	uint32_t bd[3] = {(uint32_t)max_elems, 1, 1};
	size_t slot = ZSTD_compressBound(max_elems * 4);
	for (int c = 0; c < CC_CODEC_COUNT; c++) {
		size_t b = cc_frame_bound((enum cc_codec)c, 3, bd, 0);
		slot = b > slot ? b : slot;
	}
	slot = (slot + 63) & ~(size_t)63;
	struct ctx cx = {
		.n = n_img,
		.secs = secs,
		.frames = xmalloc((size_t)n_img * slot),
		.slot = slot,
		.len = xmalloc((size_t)n_img * sizeof(size_t)),
		.out = xmalloc(max_elems * sizeof(float)),
		.scratch_bytes = cc_frame_scratch_max(),
		.lim = {.max_elems = max_elems, .max_frame_bytes = slot},
	};
	cx.scratch = xmalloc(cx.scratch_bytes);
	if (cc_encoder_create(max_elems, 1, CC_BITS_MAX, &cx.enc)) {
		fprintf(stderr, "coinfer-bench-codec: out of memory\n");
		return 1;
	}
	float *maps = xmalloc((size_t)n_img * max_elems * sizeof(float));
	uint16_t *q16 = xmalloc(max_elems * sizeof(uint16_t));
	uint8_t *q8 = xmalloc((size_t)n_img * max_elems);
	uint8_t *zdec = xmalloc(max_elems * sizeof(float));
	ZSTD_CCtx *zc = ZSTD_createCCtx();
	ZSTD_DCtx *zd = ZSTD_createDCtx();
	const struct cc_kernels *k = cc_kernels();

	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "isa", k->name);
	cJSON_AddStringToObject(root, "exec_isa", cr_exec_kernels(x)->name);
	cJSON_AddStringToObject(root, "model", m->name);
	cJSON_AddNumberToObject(root, "images", n_img);
	cJSON_AddNumberToObject(root, "seconds", secs);
	cJSON_AddStringToObject(root, "zstd_version", ZSTD_versionString());
	cJSON_AddStringToObject(root, "quantization", "per-tensor");
	cJSON_AddStringToObject(root, "speed_basis",
				"MB (1e6 bytes) of fp32 per second, one thread; zstd q8 excludes "
				"quantization");
	cJSON *jpoints = cJSON_AddArrayToObject(root, "points");
	double p8_min = 1e300, p8_sum = 0, h8_min = 1e300, h8_sum = 0;
	int n_done = 0, rc = 0;
	cJSON *sum_points = cJSON_CreateArray();

	for (int i = 0; i < NP && !rc; i++) {
		if (pp[i] < 0)
			continue;
		int e = pe[i], p = pp[i];
		const struct cr_layer *L = p ? cr_model_exit_layer(m, e, p - 1) : NULL;
		const char *name = L ? L->name : "input";
		size_t elems = cr_model_boundary_floats(m, e, p);
		for (int b0 = 0; b0 < n_img; b0 += batch) {
			int nb = n_img - b0 < batch ? n_img - b0 : batch;
			const float *o;
			if (cr_exec_run(x, e, 0, p, input + (size_t)b0 * in_per, nb, &o)) {
				fprintf(stderr, "coinfer-bench-codec: executor failed\n");
				rc = 1;
				break;
			}
			memcpy(maps + (size_t)b0 * elems, o, (size_t)nb * elems * sizeof(float));
		}
		if (rc)
			break;
		cx.elems = elems;
		cx.maps = maps;
		cx.dims[0] = (uint32_t)(L ? L->out_c : m->in_c);
		cx.dims[1] = (uint32_t)(L ? L->out_h : m->in_h);
		cx.dims[2] = (uint32_t)(L ? L->out_w : m->in_w);
		if ((size_t)cx.dims[0] * cx.dims[1] * cx.dims[2] != elems) {
			cx.dims[0] = (uint32_t)elems; /* flattened: treat as {elems, 1, 1} */
			cx.dims[1] = cx.dims[2] = 1;
		}
		cJSON *jp = cJSON_CreateObject();
		cJSON_AddItemToArray(jpoints, jp);
		cJSON_AddNumberToObject(jp, "exit", e + 1);
		cJSON_AddNumberToObject(jp, "partition", p);
		cJSON_AddStringToObject(jp, "layer", name);
		cJSON_AddStringToObject(jp, "type", L ? cr_layer_type_name(L->type) : "input");
		cJSON *jd = cJSON_AddArrayToObject(jp, "dims");
		for (int d = 0; d < 3; d++)
			cJSON_AddItemToArray(jd, cJSON_CreateNumber(cx.dims[d]));
		cJSON_AddNumberToObject(jp, "elems", (double)elems);
		size_t zeros = 0;
		for (size_t j = 0; j < (size_t)n_img * elems; j++)
			zeros += maps[j] == 0.0f;
		cJSON_AddNumberToObject(jp, "zero_fraction", (double)zeros / ((double)n_img * elems));
		cJSON *jc = cJSON_AddArrayToObject(jp, "codecs");
		struct result r, r_p8 = {0}, r_h8 = {0}, r_z8 = {0}, r_d8 = {0};
		if ((rc = bench_codec(&cx, CC_CODEC_RAW16, 0, &r)))
			break;
		cJSON *o = result_json(&r, elems);
		cJSON_AddStringToObject(o, "codec", cc_codec_name(CC_CODEC_RAW16));
		cJSON_AddNumberToObject(o, "bits", 16);
		cJSON_AddItemToArray(jc, o);
		for (int ci = 0; ci < NQ && !rc; ci++)
			for (int bi = 0; bi < 4; bi++) {
				enum cc_codec codec = quant_codecs[ci];
				int bits = bits_set[bi];
				if ((rc = bench_codec(&cx, codec, bits, &r)))
					break;
				o = result_json(&r, elems);
				cJSON_AddStringToObject(o, "codec", cc_codec_name(codec));
				cJSON_AddNumberToObject(o, "bits", bits);
				cJSON_AddItemToArray(jc, o);
				if (bits == 8 && codec == CC_CODEC_PACKED)
					r_p8 = r;
				if (bits == 8 && codec == CC_CODEC_HUFFMAN)
					r_h8 = r;
				if (bits == 8 && codec == CC_CODEC_HUFFMAN_ZRUN)
					r_z8 = r;
				if (bits == 8 && codec == CC_CODEC_PRED)
					r_d8 = r;
			}
		if (rc)
			break;

		/* 8-bit symbols as bytes, quantized exactly as the codec does. */
		for (int j = 0; j < n_img; j++) {
			const float *xm = maps + (size_t)j * elems;
			float mn, mx;
			k->minmax(xm, 1, elems, 0, &mn, &mx);
			k->quantize(xm, 1, elems, 0, &mn, &mx, 8, q16);
			for (size_t t = 0; t < elems; t++)
				q8[(size_t)j * elems + t] = (uint8_t)q16[t];
		}
		cJSON *jz = cJSON_AddArrayToObject(jp, "zstd");
		cJSON *jv = cJSON_AddArrayToObject(jp, "vs_zstd");
		for (int in = 0; in < 2 && !rc; in++)
			for (int level = 1; level <= 3; level += 2) {
				const uint8_t *src = in ? q8 : (const uint8_t *)maps;
				size_t in_bytes = in ? elems : elems * 4;
				if ((rc = bench_zstd(&cx, zc, zd, src, in_bytes, level, zdec, &r)))
					break;
				o = result_json(&r, elems);
				cJSON_AddStringToObject(o, "input", in ? "q8" : "fp32");
				cJSON_AddNumberToObject(o, "level", level);
				cJSON_AddItemToArray(jz, o);
				const struct result *ours[NQ] = {&r_p8, &r_h8, &r_z8, &r_d8};
				for (int t = 0; t < NQ; t++) {
					cJSON *v = cJSON_CreateObject();
					cJSON_AddStringToObject(v, "ours", cc_codec_name(quant_codecs[t]));
					cJSON_AddNumberToObject(v, "bits", 8);
					cJSON_AddStringToObject(v, "zstd_input", in ? "q8" : "fp32");
					cJSON_AddNumberToObject(v, "zstd_level", level);
					cJSON_AddNumberToObject(v, "size_ratio", ours[t]->bytes / r.bytes);
					cJSON_AddNumberToObject(v, "encode_speed_ratio",
								ours[t]->enc_mbs / r.enc_mbs);
					cJSON_AddNumberToObject(v, "decode_speed_ratio",
								ours[t]->dec_mbs / r.dec_mbs);
					cJSON_AddItemToArray(jv, v);
				}
			}
		if (rc)
			break;

		double p8 = r_p8.dec_mbs * 1e-3, h8 = r_h8.dec_mbs * 1e-3;
		p8_min = p8 < p8_min ? p8 : p8_min;
		h8_min = h8 < h8_min ? h8 : h8_min;
		p8_sum += p8;
		h8_sum += h8;
		n_done++;
		cJSON *sp = cJSON_CreateObject();
		cJSON_AddStringToObject(sp, "layer", name);
		cJSON_AddNumberToObject(sp, "elems", (double)elems);
		cJSON_AddNumberToObject(sp, "packed8_decode_gb_s", p8);
		cJSON_AddNumberToObject(sp, "huffman8_decode_gb_s", h8);
		cJSON_AddNumberToObject(sp, "packed8_encode_gb_s", r_p8.enc_mbs * 1e-3);
		cJSON_AddNumberToObject(sp, "huffman8_encode_gb_s", r_h8.enc_mbs * 1e-3);
		cJSON_AddNumberToObject(sp, "huffman8_ratio_fp32", r_h8.bytes / (4.0 * elems));
		cJSON_AddNumberToObject(sp, "pred8_decode_gb_s", r_d8.dec_mbs * 1e-3);
		cJSON_AddNumberToObject(sp, "pred8_ratio_fp32", r_d8.bytes / (4.0 * elems));
		cJSON_AddItemToArray(sum_points, sp);
	}
	if (!rc) {
		cJSON *s = cJSON_AddObjectToObject(root, "summary");
		cJSON_AddNumberToObject(s, "packed8_decode_gb_s_min", p8_min);
		cJSON_AddNumberToObject(s, "packed8_decode_gb_s_mean", p8_sum / n_done);
		cJSON_AddNumberToObject(s, "huffman8_decode_gb_s_min", h8_min);
		cJSON_AddNumberToObject(s, "huffman8_decode_gb_s_mean", h8_sum / n_done);
		cJSON_AddBoolToObject(s, "packed8_decode_ge_1_gb_s", p8_min >= 1.0);
		cJSON_AddItemToObject(s, "per_point", sum_points);
		char *str = cJSON_Print(root);
		puts(str);
		free(str);
	} else {
		cJSON_Delete(sum_points);
	}
	cJSON_Delete(root);
	ZSTD_freeCCtx(zc);
	ZSTD_freeDCtx(zd);
	free(zdec);
	free(q8);
	free(q16);
	free(maps);
	free(cx.scratch);
	cc_encoder_destroy(cx.enc);
	free(cx.out);
	free(cx.len);
	free(cx.frames);
	free(input);
	cr_exec_destroy(x);
	ds_dataset_free(&ds);
	cr_model_free(m);
	return rc ? 1 : 0;
}
