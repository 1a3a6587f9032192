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
#include <getopt.h>
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

static void usage(FILE *f)
{
	fprintf(f, "usage: coinfer-codec-tables [--model PATH] [--data DIR] [--limit N] [--exit E] [--tsv FILE]\n"
		   "                            [--accuracy-from TABLE]\n"
		   "Size and accuracy of the Huffman codecs (huffman, huffman-zrun, pred-huffman;\n"
		   "per entry the smallest) at every exit, partition point and bits 4/8/12/16\n"
		   "over the CIFAR-10 test set, as JSON on stdout.\n"
		   "--accuracy-from TABLE measures the sizes only and takes each entry's accuracy\n"
		   "from TABLE (an earlier output over the same images and model): every codec\n"
		   "decodes the same quantized symbols, so a codec change leaves the accuracy as\n"
		   "it was, and the tails (most of the 30 minutes) need not run again.\n");
}

int main(int argc, char **argv)
{
	const char *model_path = NULL, *data_dir = NULL, *tsv_path = NULL, *acc_path = NULL;
	long limit = 0, only_exit = 0;
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
		{"limit", required_argument, 0, 'l'}, {"tsv", required_argument, 0, 't'},
		{"exit", required_argument, 0, 'e'},  {"help", no_argument, 0, 'h'},
		{"accuracy-from", required_argument, 0, 'a'},
		{0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'd': data_dir = optarg; break;
		case 't': tsv_path = optarg; break;
		case 'a': acc_path = optarg; break;
		case 'l':
		case 'e':
			*(c == 'l' ? &limit : &only_exit) = strtol(optarg, NULL, 10);
			if ((c == 'l' ? limit : only_exit) < 1) {
				fprintf(stderr, "coinfer-codec-tables: --%s needs a positive integer\n",
					c == 'l' ? "limit" : "exit");
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!model_path && !(model_path = cli_default_model_path())) {
		fprintf(stderr, "coinfer-codec-tables: no model found\n");
		return 1;
	}
	if (!data_dir && !(data_dir = cli_cifar10_default_dir())) {
		fprintf(stderr, "coinfer-codec-tables: CIFAR-10 not found; run scripts/fetch-cifar10.sh\n");
		return 1;
	}
	char err[512];
	struct cr_model *m;
	struct ds_dataset ds;
	struct cr_exec *x;
	if (cr_model_load(model_path, &m, err, sizeof(err)) ||
	    ds_cifar10_load(data_dir, "test_batch.bin", &ds, err, sizeof(err))) {
		fprintf(stderr, "coinfer-codec-tables: %s\n", err);
		return 1;
	}
	int n = limit && limit < ds.n ? (int)limit : ds.n;
	cJSON *known = NULL;
	if (acc_path && load_known(acc_path, m->name, n, &known))
		return 1;
	if (cr_exec_create(m, NULL, CHUNK, &x)) {
		fprintf(stderr, "coinfer-codec-tables: cannot create the executor\n");
		return 1;
	}
	size_t most = 0;
	for (int e = 0; e < m->n_exits; e++)
		for (int p = 0; p <= m->exit_len[e]; p++)
			if (cr_model_boundary_floats(m, e, p) > most)
				most = cr_model_boundary_floats(m, e, p);
	size_t per_in = cr_model_boundary_floats(m, 0, 0);
	float *input = malloc((size_t)CHUNK * per_in * sizeof(float));
	float *sent = malloc((size_t)CHUNK * most * sizeof(float));
	float *recv = malloc((size_t)CHUNK * most * sizeof(float));
	struct cc_encoder *enc = NULL;
	if (cc_encoder_create(most, 1, 16, &enc)) {
		fprintf(stderr, "coinfer-codec-tables: out of memory\n");
		return 1;
	}
	uint32_t *hist = calloc((size_t)1 << 16, sizeof(uint32_t));
	uint32_t dims_max[3] = {(uint32_t)most, 1, 1};
	size_t cap = cc_frame_bound(CC_CODEC_HUFFMAN, 3, dims_max, 0);
	uint8_t *frame = malloc(cap);
	size_t scratch_bytes = cc_frame_scratch_max();
	void *scratch = malloc(scratch_bytes);
	if (!input || !sent || !recv || !hist || !frame || !scratch) {
		fprintf(stderr, "coinfer-codec-tables: out of memory\n");
		return 1;
	}
	struct cc_limits lim = {.max_elems = most, .max_frame_bytes = cap};

	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "model", m->name);
	cJSON_AddStringToObject(root, "codecs",
				"huffman, huffman-zrun, pred-huffman (per entry: the smallest)");
	cJSON_AddNumberToObject(root, "images", n);
	cJSON *fp32 = cJSON_AddArrayToObject(root, "fp32_accuracy");
	cJSON *entries = cJSON_AddArrayToObject(root, "entries");
	FILE *tsv = tsv_path ? fopen(tsv_path, "w") : NULL;
	if (tsv_path && !tsv) {
		fprintf(stderr, "coinfer-codec-tables: %s: %s\n", tsv_path, strerror(errno));
		return 1;
	}
	if (tsv)
		fprintf(tsv, "# exit\tpartition\tlayer\ttype\tbits\tbytes\tratio_fp32\tentropy_bytes\taccuracy\taccuracy_loss\tbytes_huffman\tbytes_zrun\tbytes_pred\thuffman_code_bytes\tzrun_code_bytes\tzrun_token_entropy_bytes\tpred_code_bytes\tpred_token_entropy_bytes\n");

	if (only_exit > m->n_exits) {
		fprintf(stderr, "coinfer-codec-tables: --exit %ld: the model has %d exits\n", only_exit,
			m->n_exits);
		return 2;
	}
	for (int e = 0; e < m->n_exits; e++) {
		if (only_exit && e != only_exit - 1)
			continue;
		int len = m->exit_len[e];
		long fp_correct = 0;
		struct acc *a = calloc((size_t)len * NB, sizeof(*a));
		for (int i0 = 0; i0 < n; i0 += CHUNK) {
			int nb = n - i0 < CHUNK ? n - i0 : CHUNK;
			const float *out;
			cr_model_normalize(m, ds.images + (size_t)i0 * per_in, input, nb);
			cr_exec_run(x, e, 0, len, input, nb, &out);
			for (int j = 0; j < nb; j++)
				fp_correct += argmax(out + (size_t)j * m->n_classes, m->n_classes) == ds.labels[i0 + j];
			for (int p = 0; p < len; p++) {
				const struct cr_layer *L = p ? cr_model_exit_layer(m, e, p - 1) : NULL;
				uint32_t dims[3] = {(uint32_t)(L ? L->out_c : m->in_c),
						    (uint32_t)(L ? L->out_h : m->in_h),
						    (uint32_t)(L ? L->out_w : m->in_w)};
				size_t per = cr_model_boundary_floats(m, e, p);
				const float *mid;
				cr_exec_run(x, e, 0, p, input, nb, &mid);
				memcpy(sent, mid, (size_t)nb * per * sizeof(float));
				for (int bi = 0; bi < NB; bi++) {
					struct acc *ac = &a[(size_t)p * NB + bi];
					for (int j = 0; j < nb; j++) {
						const float *t = sent + (size_t)j * per;
						size_t flen, zlen, plen;
						struct cc_encode_stats st, zst, pst;
						/* plain Huffman last: its frame is the one decoded */
						int r = cc_encoder_encode(enc, t, 3, dims, CC_CODEC_PRED,
									  bits_set[bi], 0, frame, cap, &plen,
									  err, sizeof(err));
						cc_encoder_stats(enc, &pst);
						if (!r)
							r = cc_encoder_encode(enc, t, 3, dims, CC_CODEC_HUFFMAN_ZRUN,
									      bits_set[bi], 0, frame, cap, &zlen,
									      err, sizeof(err));
						cc_encoder_stats(enc, &zst);
						if (!r)
							r = cc_encoder_encode(enc, t, 3, dims, CC_CODEC_HUFFMAN,
									      bits_set[bi], 0, frame, cap,
									      &flen, err, sizeof(err));
						cc_encoder_stats(enc, &st);
						ac->zrun_code_bytes += (double)zst.code_bits / 8.0;
						ac->zrun_token_entropy_bytes += zst.entropy_bits / 8.0;
						ac->pred_code_bytes += (double)pst.code_bits / 8.0;
						ac->pred_token_entropy_bytes += pst.entropy_bits / 8.0;
						if (!r && !known)
							r = cc_frame_decode(frame, flen, &lim, recv + (size_t)j * per, per,
									    scratch, scratch_bytes, NULL, err, sizeof(err));
						if (r) {
							fprintf(stderr, "coinfer-codec-tables: exit %d partition %d bits %d: %s\n",
								e + 1, p, bits_set[bi], err);
							return 1;
						}
						ac->bytes += (double)flen;
						ac->bytes_zrun += (double)zlen;
						ac->bytes_pred += (double)plen;
						ac->code_bytes += (double)st.code_bits / 8.0;
						ac->entropy_bytes +=
							entropy_bytes(cc_encoder_symbols(enc), per, hist);
					}
					if (known)
						continue;
					cr_exec_run(x, e, p, len, recv, nb, &out);
					for (int j = 0; j < nb; j++)
						ac->correct += argmax(out + (size_t)j * m->n_classes, m->n_classes) ==
							       ds.labels[i0 + j];
				}
			}
		}
		double fp_acc = (double)fp_correct / n;
		cJSON *fo = cJSON_CreateObject();
		cJSON_AddNumberToObject(fo, "exit", e + 1);
		cJSON_AddNumberToObject(fo, "accuracy", fp_acc);
		cJSON_AddItemToArray(fp32, fo);
		for (int p = 0; p < len; p++) {
			const struct cr_layer *L = p ? cr_model_exit_layer(m, e, p - 1) : NULL;
			double raw = 4.0 * (double)cr_model_boundary_floats(m, e, p);
			for (int bi = 0; bi < NB; bi++) {
				const struct acc *ac = &a[(size_t)p * NB + bi];
				double acc = (double)ac->correct / n, bytes_h = ac->bytes / n;
				if (known && known_accuracy(known, e + 1, p, bits_set[bi], &acc))
					return 1;
				double bytes_z = ac->bytes_zrun / n, bytes_p = ac->bytes_pred / n;
				enum cc_codec best = bytes_z < bytes_h ? CC_CODEC_HUFFMAN_ZRUN : CC_CODEC_HUFFMAN;
				double bytes = bytes_z < bytes_h ? bytes_z : bytes_h;
				if (bytes_p < bytes)
					best = CC_CODEC_PRED, bytes = bytes_p;
				double ent = ac->entropy_bytes / n, code = ac->code_bytes / n;
				cJSON *o = cJSON_CreateObject();
				cJSON_AddNumberToObject(o, "exit", e + 1);
				cJSON_AddNumberToObject(o, "partition", p);
				cJSON_AddStringToObject(o, "layer", L ? L->name : "input");
				cJSON_AddStringToObject(o, "type", L ? cr_layer_type_name(L->type) : "input");
				cJSON_AddNumberToObject(o, "bits", bits_set[bi]);
				cJSON_AddStringToObject(o, "codec", cc_codec_name(best));
				cJSON_AddNumberToObject(o, "bytes", bytes);
				cJSON_AddNumberToObject(o, "ratio_fp32", bytes / raw);
				cJSON_AddNumberToObject(o, "fp32_bytes", raw);
				cJSON_AddNumberToObject(o, "bytes_huffman", bytes_h);
				cJSON_AddNumberToObject(o, "bytes_zrun", bytes_z);
				cJSON_AddNumberToObject(o, "bytes_pred", bytes_p);
				cJSON_AddNumberToObject(o, "entropy_bytes", ent);
				/* plain Huffman's codes alone (no header, pairs or table) against the
				 * bound of the symbols they code */
				cJSON_AddNumberToObject(o, "huffman_code_bytes", code);
				cJSON_AddNumberToObject(o, "huffman_vs_entropy", ent > 0 ? code / ent : 1.0);
				/* the zero-run codec against the entropy of the tokens it codes */
				double zc = ac->zrun_code_bytes / n, ze = ac->zrun_token_entropy_bytes / n;
				cJSON_AddNumberToObject(o, "zrun_code_bytes", zc);
				cJSON_AddNumberToObject(o, "zrun_token_entropy_bytes", ze);
				cJSON_AddNumberToObject(o, "zrun_vs_entropy", ze > 0 ? zc / ze : 1.0);
				/* pred-huffman against the entropy of its residuals */
				double pc = ac->pred_code_bytes / n, pe = ac->pred_token_entropy_bytes / n;
				cJSON_AddNumberToObject(o, "pred_code_bytes", pc);
				cJSON_AddNumberToObject(o, "pred_token_entropy_bytes", pe);
				cJSON_AddNumberToObject(o, "pred_vs_entropy", pe > 0 ? pc / pe : 1.0);
				cJSON_AddNumberToObject(o, "coded_vs_entropy",
							best == CC_CODEC_PRED ? (pe > 0 ? pc / pe : 1.0)
							: best == CC_CODEC_HUFFMAN_ZRUN ? (ze > 0 ? zc / ze : 1.0)
							: (ent > 0 ? code / ent : 1.0));
				cJSON_AddNumberToObject(o, "accuracy", acc);
				cJSON_AddNumberToObject(o, "accuracy_loss", fp_acc - acc);
				cJSON_AddItemToArray(entries, o);
				if (tsv)
					fprintf(tsv, "%d\t%d\t%s\t%s\t%d\t%.1f\t%.5f\t%.1f\t%.4f\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\n",
						e + 1, p, L ? L->name : "input",
						L ? cr_layer_type_name(L->type) : "input", bits_set[bi], bytes,
						bytes / raw, ent, acc, fp_acc - acc, bytes_h, bytes_z, bytes_p,
						code, zc, ze, pc, pe);
			}
		}
		free(a);
		if (tsv)
			fflush(tsv); /* a long run keeps what it finished */
		fprintf(stderr, "coinfer-codec-tables: exit %d done (fp32 accuracy %.4f)\n", e + 1, fp_acc);
	}
	if (tsv)
		fclose(tsv);
	char *s = cJSON_Print(root);
	puts(s);
	free(s);
	cJSON_Delete(root);
	cJSON_Delete(known);
	free(input), free(sent), free(recv), free(hist), free(frame), free(scratch);
	cc_encoder_destroy(enc);
	cr_exec_destroy(x);
	ds_dataset_free(&ds);
	cr_model_free(m);
	return 0;
}
