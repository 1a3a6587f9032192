/* coinfer-codec-tables: the codec measured on the real model. For every exit e,
 * every partition point p with something to send (0 <= p < N_e) and bits b in
 * {4, 8, 12, 16}, over CIFAR-10 test images with the codec in the loop (head
 * [0,p), Huffman-coded frame, decode, tail [p,N_e)): mean frame bytes per image,
 * ratio to fp32, the Shannon bound of the quantized symbols, top-1 accuracy and its
 * loss against fp32. Both Huffman codecs and pred-huffman are measured (they are
 * lossless over the same symbols, so accuracy is shared); "codec" and "bytes" name
 * the smallest, which is what the device sends at that point. JSON as DESIGN.md's "Interfaces"
 * (models/<model>.codec.json); --tsv also writes rows for tools/codec/plot-codec.gp. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/codec-frame.h"
#include "coinfer/codec.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"
#include "coinfer/fileio.h"

static const int bits_set[] = {4, 8, 12, 16};
#define NB (int)(sizeof(bits_set) / sizeof(bits_set[0]))
#define CHUNK 100

struct acc {
	long correct;
	double bytes, bytes_zrun, bytes_pred, entropy_bytes, code_bytes;
	double zrun_code_bytes, zrun_token_entropy_bytes;
	double pred_code_bytes, pred_token_entropy_bytes;
};

static int argmax(const float *x, int n)
{
	int b = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

/* Shannon bound in bytes of n symbols, from their histogram. hist (2^16 zeroed
 * counters) is left zeroed again; each symbol's term is taken once, when its
 * counter is cleared, so the cost follows n and not the alphabet. */
static double entropy_bytes(const uint16_t *q, size_t n, uint32_t *hist)
{
	for (size_t i = 0; i < n; i++)
		hist[q[i]]++;
	double h = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = hist[q[i]];
		if (c) {
			h -= (double)c * log2((double)c / (double)n);
			hist[q[i]] = 0;
		}
	}
	return h / 8.0;
}

/* An earlier table of this model over the same number of images. */
static int load_known(const char *path, const char *model, int n, cJSON **out)
{
	char err[256];
	void *text;
	size_t len;
	if (cf_read_file(path, 64u << 20, &text, &len, err, sizeof(err))) {
		fprintf(stderr, "coinfer-codec-tables: --accuracy-from: %s\n", err);
		return -1;
	}
	cJSON *j = cJSON_ParseWithLength(text, len);
	free(text);
	const cJSON *mo = j ? cJSON_GetObjectItem(j, "model") : NULL;
	const cJSON *im = j ? cJSON_GetObjectItem(j, "images") : NULL;
	const char *why = !j ? "not JSON"
			  : !cJSON_IsString(mo) || strcmp(mo->valuestring, model) ? "another model's table"
			  : !cJSON_IsNumber(im) || im->valuedouble != n ? "measured over another number of images"
			  : !cJSON_IsArray(cJSON_GetObjectItem(j, "entries")) ? "no entries"
			  : NULL;
	if (why) {
		fprintf(stderr, "coinfer-codec-tables: --accuracy-from %s: %s\n", path, why);
		cJSON_Delete(j);
		return -1;
	}
	*out = j;
	return 0;
}

static int known_accuracy(const cJSON *known, int e, int p, int bits, double *acc)
{
	const cJSON *o;
	cJSON_ArrayForEach(o, cJSON_GetObjectItem(known, "entries")) {
		const cJSON *ex = cJSON_GetObjectItem(o, "exit"), *pa = cJSON_GetObjectItem(o, "partition");
		const cJSON *bi = cJSON_GetObjectItem(o, "bits"), *ac = cJSON_GetObjectItem(o, "accuracy");
		if (cJSON_IsNumber(ex) && ex->valueint == e && cJSON_IsNumber(pa) && pa->valueint == p &&
		    cJSON_IsNumber(bi) && bi->valueint == bits && cJSON_IsNumber(ac)) {
			*acc = ac->valuedouble;
			return 0;
		}
	}
	fprintf(stderr, "coinfer-codec-tables: --accuracy-from: no entry for exit %d partition %d bits %d\n",
		e, p, bits);
	return -1;
}

struct ct_opts {
	const char *model, *data, *tsv, *acc_from, *merge;
	int limit, exit;
};

#define F(f) CLI_FIELD(struct ct_opts, f)
static const struct cli_opt opts[] = {
	CLI_OPT_MODEL(struct ct_opts, model),
	CLI_OPT_DATA(struct ct_opts, data),
	{.name = "limit", .kind = CLI_INT, F(limit), .lo = 1, .hi = INT_MAX,
	 .help = "the first N test images only", .dflt = "all 10000"},
	{.name = "exit", .kind = CLI_INT, F(exit), .lo = 1, .hi = INT_MAX, .arg = "E",
	 .help = "exit E only", .dflt = "every exit"},
	{.name = "tsv", .kind = CLI_STRING, F(tsv), .arg = "FILE",
	 .help = "also write the rows there (tools/codec/plot-codec.gp)", .dflt = ""},
	{.name = "accuracy-from", .kind = CLI_STRING, F(acc_from), .arg = "TABLE",
	 .help = "measure the sizes only; each entry's accuracy comes from\n"
		 "TABLE, an earlier output over the same images and model\n"
		 "(every codec decodes the same quantized symbols, so a codec\n"
		 "change leaves the accuracy as it was, and the tails, most of\n"
		 "the 30 minutes, need not run again)",
	 .dflt = ""},
	{.name = "merge", .kind = CLI_STRING, F(merge), .arg = "LIST",
	 .help = "print the one table that TABLE1,TABLE2,... make: outputs of\n"
		 "--exit runs of one model over the same images (run in\n"
		 "parallel, a core each), each exit in one of them",
	 .dflt = ""},
};
static const struct cli_prog prog = {
	.name = "coinfer-codec-tables",
	.head = "usage: coinfer-codec-tables [options]\n"
		"Size and accuracy of the Huffman codecs (huffman, huffman-zrun, pred-huffman;\n"
		"per entry the smallest) at every exit, partition point and bits 4/8/12/16\n"
		"over the CIFAR-10 test set, as JSON on stdout.\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct ct_opts)};

/* What the measurement of every exit shares: the images, the executor, the
 * encoder and the buffers sized for the model's largest boundary, the output. */
struct tables {
	const struct cr_model *m;
	const struct ds_dataset *ds;
	int n;              /* images */
	const cJSON *known; /* --accuracy-from: the accuracies, no tails run */
	struct cr_exec *x;
	struct cc_encoder *enc;
	float *input, *sent, *recv; /* CHUNK images: normalised, at the boundary, decoded */
	uint32_t *hist;
	uint8_t *frame;
	size_t cap;
	void *scratch;
	size_t scratch_bytes;
	struct cc_limits lim;
	FILE *tsv;
	cJSON *root, *fp32, *entries;
};

static void tables_free(struct tables *t)
{
	free(t->input), free(t->sent), free(t->recv), free(t->hist), free(t->frame);
	free(t->scratch);
	cc_encoder_destroy(t->enc);
	cr_exec_destroy(t->x);
	cJSON_Delete(t->root);
	if (t->tsv)
		fclose(t->tsv);
}

static int tables_init(struct tables *t, const char *tsv_path)
{
	const struct cr_model *m = t->m;
	size_t most = 0;
	if (cr_exec_create(m, NULL, CHUNK, &t->x)) {
		fprintf(stderr, "coinfer-codec-tables: cannot create the executor\n");
		return -ENOMEM;
	}
	for (int e = 0; e < m->n_exits; e++)
		for (int p = 0; p <= m->exit_len[e]; p++)
			if (cr_model_boundary_floats(m, e, p) > most)
				most = cr_model_boundary_floats(m, e, p);
	uint32_t dims_max[3] = {(uint32_t)most, 1, 1};
	t->cap = cc_frame_bound(CC_CODEC_HUFFMAN, 3, dims_max, 0);
	t->scratch_bytes = cc_frame_scratch_max();
	t->input = malloc((size_t)CHUNK * cr_model_boundary_floats(m, 0, 0) * sizeof(float));
	t->sent = malloc((size_t)CHUNK * most * sizeof(float));
	t->recv = malloc((size_t)CHUNK * most * sizeof(float));
	t->hist = calloc((size_t)1 << 16, sizeof(uint32_t));
	t->frame = malloc(t->cap);
	t->scratch = malloc(t->scratch_bytes);
	if (cc_encoder_create(most, 1, 16, &t->enc) || !t->input || !t->sent || !t->recv ||
	    !t->hist || !t->frame || !t->scratch) {
		fprintf(stderr, "coinfer-codec-tables: out of memory\n");
		return -ENOMEM;
	}
	t->lim = (struct cc_limits){.max_elems = most, .max_frame_bytes = t->cap};
	if (tsv_path && !(t->tsv = fopen(tsv_path, "w"))) {
		fprintf(stderr, "coinfer-codec-tables: %s: %s\n", tsv_path, strerror(errno));
		return -errno;
	}
	if (t->tsv)
		fprintf(t->tsv, "# exit\tpartition\tlayer\ttype\tbits\tbytes\tratio_fp32\tentropy_bytes\taccuracy\taccuracy_loss\tbytes_huffman\tbytes_zrun\tbytes_pred\thuffman_code_bytes\tzrun_code_bytes\tzrun_token_entropy_bytes\tpred_code_bytes\tpred_token_entropy_bytes\n");
	t->root = cJSON_CreateObject();
	cJSON_AddStringToObject(t->root, "model", m->name);
	cJSON_AddStringToObject(t->root, "codecs",
				"huffman, huffman-zrun, pred-huffman (per entry: the smallest)");
	cJSON_AddNumberToObject(t->root, "images", t->n);
	t->fp32 = cJSON_AddArrayToObject(t->root, "fp32_accuracy");
	t->entries = cJSON_AddArrayToObject(t->root, "entries");
	return 0;
}

/* ---- measuring ------------------------------------------------------------------------ */

/* One image's map at one bits setting: the three codecs' sizes and the entropy of
 * its symbols into ac; plain Huffman last, its frame decoded into out unless the
 * accuracies are known. */
static int code_one(struct tables *t, const float *map, const uint32_t dims[3], size_t per,
		    int bits, struct acc *ac, float *out, char *err, size_t errlen)
{
	size_t flen, zlen, plen;
	struct cc_encode_stats st, zst, pst;
	int r = cc_encoder_encode(t->enc, map, 3, dims, CC_CODEC_PRED, bits, 0, t->frame, t->cap,
				  &plen, err, errlen);
	cc_encoder_stats(t->enc, &pst);
	if (!r)
		r = cc_encoder_encode(t->enc, map, 3, dims, CC_CODEC_HUFFMAN_ZRUN, bits, 0, t->frame,
				      t->cap, &zlen, err, errlen);
	cc_encoder_stats(t->enc, &zst);
	if (!r)
		r = cc_encoder_encode(t->enc, map, 3, dims, CC_CODEC_HUFFMAN, bits, 0, t->frame, t->cap,
				      &flen, err, errlen);
	cc_encoder_stats(t->enc, &st);
	ac->zrun_code_bytes += (double)zst.code_bits / 8.0;
	ac->zrun_token_entropy_bytes += zst.entropy_bits / 8.0;
	ac->pred_code_bytes += (double)pst.code_bits / 8.0;
	ac->pred_token_entropy_bytes += pst.entropy_bits / 8.0;
	if (!r && !t->known)
		r = cc_frame_decode(t->frame, flen, &t->lim, out, per, t->scratch, t->scratch_bytes,
				    NULL, err, errlen);
	if (r)
		return r;
	ac->bytes += (double)flen;
	ac->bytes_zrun += (double)zlen;
	ac->bytes_pred += (double)plen;
	ac->code_bytes += (double)st.code_bits / 8.0;
	ac->entropy_bytes += entropy_bytes(cc_encoder_symbols(t->enc), per, t->hist);
	return 0;
}

/* Partition p of exit e for the nb images from i0 (normalised in t->input): the
 * head, every bits setting through the codecs, and the tail on what decoded. */
static int measure_point(struct tables *t, int e, int p, int i0, int nb, struct acc *a)
{
	const struct cr_model *m = t->m;
	const struct cr_layer *L = p ? cr_model_exit_layer(m, e, p - 1) : NULL;
	uint32_t dims[3] = {(uint32_t)(L ? L->out_c : m->in_c), (uint32_t)(L ? L->out_h : m->in_h),
			    (uint32_t)(L ? L->out_w : m->in_w)};
	size_t per = cr_model_boundary_floats(m, e, p);
	const float *mid, *out;
	char err[512];
	cr_exec_run(t->x, e, 0, p, t->input, nb, &mid);
	memcpy(t->sent, mid, (size_t)nb * per * sizeof(float));
	for (int bi = 0; bi < NB; bi++) {
		struct acc *ac = &a[(size_t)p * NB + bi];
		for (int j = 0; j < nb; j++)
			if (code_one(t, t->sent + (size_t)j * per, dims, per, bits_set[bi], ac,
				     t->recv + (size_t)j * per, err, sizeof(err))) {
				fprintf(stderr, "coinfer-codec-tables: exit %d partition %d bits %d: %s\n",
					e + 1, p, bits_set[bi], err);
				return -EINVAL;
			}
		if (t->known)
			continue;
		cr_exec_run(t->x, e, p, m->exit_len[e], t->recv, nb, &out);
		for (int j = 0; j < nb; j++)
			ac->correct += argmax(out + (size_t)j * m->n_classes, m->n_classes) ==
				       t->ds->labels[i0 + j];
	}
	return 0;
}

/* Every partition of exit e over the images, CHUNK at a time; the fp32 accuracy too. */
static int measure_exit(struct tables *t, int e, struct acc *a, long *fp_correct)
{
	const struct cr_model *m = t->m;
	size_t per_in = cr_model_boundary_floats(m, 0, 0);
	int len = m->exit_len[e];
	*fp_correct = 0;
	for (int i0 = 0; i0 < t->n; i0 += CHUNK) {
		int nb = t->n - i0 < CHUNK ? t->n - i0 : CHUNK;
		const float *out;
		cr_model_normalize(m, t->ds->images + (size_t)i0 * per_in, t->input, nb);
		cr_exec_run(t->x, e, 0, len, t->input, nb, &out);
		for (int j = 0; j < nb; j++)
			*fp_correct += argmax(out + (size_t)j * m->n_classes, m->n_classes) ==
				       t->ds->labels[i0 + j];
		for (int p = 0; p < len; p++)
			if (cr_model_cut_ok(m, e, p) && measure_point(t, e, p, i0, nb, a))
				return -EINVAL;
	}
	return 0;
}

/* ---- the table ------------------------------------------------------------------------ */

/* One entry's figures, per image. */
struct entry {
	int exit, partition, bits;
	const char *layer, *type;
	enum cc_codec best;
	double acc, fp_acc, raw, bytes, bytes_h, bytes_z, bytes_p, ent, code, zc, ze, pc, pe;
};

static struct entry entry_of(const struct tables *t, const struct acc *ac, int e, int p, int bi,
			     double fp_acc)
{
	const struct cr_layer *L = p ? cr_model_exit_layer(t->m, e, p - 1) : NULL;
	double n = t->n;
	struct entry y = {
		.exit = e + 1, .partition = p, .bits = bits_set[bi],
		.layer = L ? L->name : "input", .type = L ? cr_layer_type_name(L->type) : "input",
		.acc = (double)ac->correct / n, .fp_acc = fp_acc,
		.raw = 4.0 * (double)cr_model_boundary_floats(t->m, e, p),
		.bytes_h = ac->bytes / n, .bytes_z = ac->bytes_zrun / n, .bytes_p = ac->bytes_pred / n,
		.ent = ac->entropy_bytes / n, .code = ac->code_bytes / n,
		.zc = ac->zrun_code_bytes / n, .ze = ac->zrun_token_entropy_bytes / n,
		.pc = ac->pred_code_bytes / n, .pe = ac->pred_token_entropy_bytes / n,
	};
	y.best = y.bytes_z < y.bytes_h ? CC_CODEC_HUFFMAN_ZRUN : CC_CODEC_HUFFMAN;
	y.bytes = y.bytes_z < y.bytes_h ? y.bytes_z : y.bytes_h;
	if (y.bytes_p < y.bytes)
		y.best = CC_CODEC_PRED, y.bytes = y.bytes_p;
	return y;
}

static cJSON *entry_json(const struct entry *y)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "exit", y->exit);
	cJSON_AddNumberToObject(o, "partition", y->partition);
	cJSON_AddStringToObject(o, "layer", y->layer);
	cJSON_AddStringToObject(o, "type", y->type);
	cJSON_AddNumberToObject(o, "bits", y->bits);
	cJSON_AddStringToObject(o, "codec", cc_codec_name(y->best));
	cJSON_AddNumberToObject(o, "bytes", y->bytes);
	cJSON_AddNumberToObject(o, "ratio_fp32", y->bytes / y->raw);
	cJSON_AddNumberToObject(o, "fp32_bytes", y->raw);
	cJSON_AddNumberToObject(o, "bytes_huffman", y->bytes_h);
	cJSON_AddNumberToObject(o, "bytes_zrun", y->bytes_z);
	cJSON_AddNumberToObject(o, "bytes_pred", y->bytes_p);
	cJSON_AddNumberToObject(o, "entropy_bytes", y->ent);
	/* plain Huffman's codes alone (no header, pairs or table) against the bound of the
	 * symbols they code */
	cJSON_AddNumberToObject(o, "huffman_code_bytes", y->code);
	cJSON_AddNumberToObject(o, "huffman_vs_entropy", y->ent > 0 ? y->code / y->ent : 1.0);
	/* the zero-run codec against the entropy of the tokens it codes */
	cJSON_AddNumberToObject(o, "zrun_code_bytes", y->zc);
	cJSON_AddNumberToObject(o, "zrun_token_entropy_bytes", y->ze);
	cJSON_AddNumberToObject(o, "zrun_vs_entropy", y->ze > 0 ? y->zc / y->ze : 1.0);
	/* pred-huffman against the entropy of its residuals */
	cJSON_AddNumberToObject(o, "pred_code_bytes", y->pc);
	cJSON_AddNumberToObject(o, "pred_token_entropy_bytes", y->pe);
	cJSON_AddNumberToObject(o, "pred_vs_entropy", y->pe > 0 ? y->pc / y->pe : 1.0);
	cJSON_AddNumberToObject(o, "coded_vs_entropy",
				y->best == CC_CODEC_PRED ? (y->pe > 0 ? y->pc / y->pe : 1.0)
				: y->best == CC_CODEC_HUFFMAN_ZRUN ? (y->ze > 0 ? y->zc / y->ze : 1.0)
				: (y->ent > 0 ? y->code / y->ent : 1.0));
	cJSON_AddNumberToObject(o, "accuracy", y->acc);
	cJSON_AddNumberToObject(o, "accuracy_loss", y->fp_acc - y->acc);
	return o;
}

static void tsv_row(FILE *f, const struct entry *y)
{
	fprintf(f, "%d\t%d\t%s\t%s\t%d\t%.1f\t%.5f\t%.1f\t%.4f\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\n",
		y->exit, y->partition, y->layer, y->type, y->bits, y->bytes, y->bytes / y->raw,
		y->ent, y->acc, y->fp_acc - y->acc, y->bytes_h, y->bytes_z, y->bytes_p, y->code,
		y->zc, y->ze, y->pc, y->pe);
}

/* Exit e's fp32 accuracy and its entries, into the JSON and the TSV. */
static int emit_exit(struct tables *t, int e, const struct acc *a, double fp_acc)
{
	cJSON *fo = cJSON_CreateObject();
	cJSON_AddNumberToObject(fo, "exit", e + 1);
	cJSON_AddNumberToObject(fo, "accuracy", fp_acc);
	cJSON_AddItemToArray(t->fp32, fo);
	for (int p = 0; p < t->m->exit_len[e]; p++)
		for (int bi = 0; bi < NB && cr_model_cut_ok(t->m, e, p); bi++) {
			struct entry y = entry_of(t, &a[(size_t)p * NB + bi], e, p, bi, fp_acc);
			if (t->known && known_accuracy(t->known, e + 1, p, bits_set[bi], &y.acc))
				return -ENOENT;
			cJSON_AddItemToArray(t->entries, entry_json(&y));
			if (t->tsv)
				tsv_row(t->tsv, &y);
		}
	if (t->tsv)
		fflush(t->tsv); /* a long run keeps what it finished */
	return 0;
}

static int run_exits(struct tables *t, int only_exit)
{
	for (int e = 0; e < t->m->n_exits; e++) {
		long fp_correct;
		struct acc *a;
		if (only_exit && e != only_exit - 1)
			continue;
		if (!(a = calloc((size_t)t->m->exit_len[e] * NB, sizeof(*a)))) {
			fprintf(stderr, "coinfer-codec-tables: out of memory\n");
			return -ENOMEM;
		}
		int ret = measure_exit(t, e, a, &fp_correct);
		double fp_acc = (double)fp_correct / t->n;
		if (!ret)
			ret = emit_exit(t, e, a, fp_acc);
		free(a);
		if (ret)
			return ret;
		fprintf(stderr, "coinfer-codec-tables: exit %d done (fp32 accuracy %.4f)\n", e + 1,
			fp_acc);
	}
	return 0;
}

/* ---- the program ---------------------------------------------------------------------- */

static int run(const struct ct_opts *o, const struct cr_model *m, const struct ds_dataset *ds)
{
	struct tables t = {.m = m, .ds = ds};
	cJSON *known = NULL;
	int ret = 1;
	t.n = o->limit && o->limit < ds->n ? o->limit : ds->n;
	if (o->acc_from && load_known(o->acc_from, m->name, t.n, &known))
		return 1;
	t.known = known;
	if (!tables_init(&t, o->tsv) && !run_exits(&t, o->exit)) {
		char *s = cJSON_Print(t.root);
		puts(s);
		free(s);
		ret = 0;
	}
	tables_free(&t);
	cJSON_Delete(known);
	return ret;
}

/* ---- --merge ------------------------------------------------------------------------- */

#define MERGE_MAX 64

/* Why table j (after the first, t0) cannot be merged, or NULL. */
static const char *merge_refusal(const cJSON *j, const cJSON *t0)
{
	const cJSON *mo = cJSON_GetObjectItem(j, "model"), *im = cJSON_GetObjectItem(j, "images");
	if (!cJSON_IsString(mo) || !cJSON_IsNumber(im) ||
	    !cJSON_IsArray(cJSON_GetObjectItem(j, "fp32_accuracy")) ||
	    !cJSON_IsArray(cJSON_GetObjectItem(j, "entries")))
		return "not a codec table";
	if (t0 && strcmp(mo->valuestring, cJSON_GetObjectItem(t0, "model")->valuestring))
		return "another model's table";
	if (t0 && im->valuedouble != cJSON_GetObjectItem(t0, "images")->valuedouble)
		return "measured over another number of images";
	const cJSON *o;
	cJSON_ArrayForEach(o, cJSON_GetObjectItem(j, "fp32_accuracy")) {
		const cJSON *e = cJSON_GetObjectItem(o, "exit");
		if (!cJSON_IsNumber(e) || e->valueint < 1 || e->valueint > CR_MODEL_MAX_EXITS)
			return "an fp32_accuracy entry without a valid exit";
	}
	cJSON_ArrayForEach(o, cJSON_GetObjectItem(j, "entries")) {
		const cJSON *e = cJSON_GetObjectItem(o, "exit");
		if (!cJSON_IsNumber(e) || e->valueint < 1 || e->valueint > CR_MODEL_MAX_EXITS)
			return "an entry without a valid exit";
	}
	return NULL;
}

/* Moves array `key`'s items of exit e from table j to the end of array to. */
static void move_exit(cJSON *to, cJSON *j, const char *key, int e)
{
	cJSON *from = cJSON_GetObjectItem(j, key);
	for (cJSON *o = from->child, *next; o; o = next) {
		next = o->next;
		if (cJSON_GetObjectItem(o, "exit")->valueint == e)
			cJSON_AddItemToArray(to, cJSON_DetachItemViaPointer(from, o));
	}
}

/* The tables of --merge as the one a single run over all their exits prints: the
 * first's header, then exit by exit their fp32 accuracies and entries. An exit in
 * two tables is refused (a run of it twice is a mistake, not a merge). */
static int merge_tables(const char *list)
{
	cJSON *t[MERGE_MAX] = {0};
	int n = 0, ret = 1;
	char path[PATH_MAX];
	for (const char *p = list; *p && n < MERGE_MAX; n++) {
		size_t len = strcspn(p, ",");
		snprintf(path, sizeof(path), "%.*s", (int)len, p);
		p += len + (p[len] == ',');
		char err[256];
		void *text;
		size_t tl;
		if (cf_read_file(path, 64u << 20, &text, &tl, err, sizeof(err))) {
			fprintf(stderr, "coinfer-codec-tables: --merge: %s\n", err);
			goto out;
		}
		t[n] = cJSON_ParseWithLength(text, tl);
		free(text);
		const char *why = t[n] ? merge_refusal(t[n], n ? t[0] : NULL) : "not JSON";
		if (why) {
			fprintf(stderr, "coinfer-codec-tables: --merge %s: %s\n", path, why);
			n++;
			goto out;
		}
	}
	unsigned char seen[CR_MODEL_MAX_EXITS + 1] = {0};
	for (int i = 0; i < n; i++) {
		unsigned char mine[CR_MODEL_MAX_EXITS + 1] = {0};
		const cJSON *o;
		cJSON_ArrayForEach(o, cJSON_GetObjectItem(t[i], "fp32_accuracy"))
			mine[cJSON_GetObjectItem(o, "exit")->valueint] = 1;
		for (int e = 1; e <= CR_MODEL_MAX_EXITS; e++)
			if (mine[e] && seen[e]++) {
				fprintf(stderr, "coinfer-codec-tables: --merge: exit %d is in two "
						"tables\n", e);
				goto out;
			}
	}
	cJSON *fp = cJSON_CreateArray(), *en = cJSON_CreateArray();
	for (int e = 1; e <= CR_MODEL_MAX_EXITS; e++)
		for (int i = 0; i < n && seen[e]; i++) {
			move_exit(fp, t[i], "fp32_accuracy", e);
			move_exit(en, t[i], "entries", e);
		}
	cJSON_ReplaceItemInObject(t[0], "fp32_accuracy", fp);
	cJSON_ReplaceItemInObject(t[0], "entries", en);
	char *s = cJSON_Print(t[0]);
	puts(s);
	free(s);
	ret = 0;
out:
	for (int i = 0; i < n; i++)
		cJSON_Delete(t[i]);
	return ret;
}

int main(int argc, char **argv)
{
	struct ct_opts o = {0};
	struct cr_model *m;
	struct ds_dataset ds;
	char err[512];
	int st = cli_args(&prog, &o, argc, argv);
	if (st != CLI_GO)
		return st;
	if (o.merge && *o.merge)
		return merge_tables(o.merge);
	if (cli_data_dir(&o.data, err, sizeof(err)) ||
	    cli_model_load(o.model, &m, err, sizeof(err)))
		goto bad;
	if (o.exit > m->n_exits) {
		fprintf(stderr, "coinfer-codec-tables: --exit %d: the model has %d exits\n", o.exit,
			m->n_exits);
		cr_model_free(m);
		return 2;
	}
	if (ds_cifar10_load(o.data, "test_batch.bin", &ds, err, sizeof(err))) {
		cr_model_free(m);
		goto bad;
	}
	st = run(&o, m, &ds);
	ds_dataset_free(&ds);
	cr_model_free(m);
	return st;
bad:
	fprintf(stderr, "coinfer-codec-tables: %s\n", err);
	return 1;
}
