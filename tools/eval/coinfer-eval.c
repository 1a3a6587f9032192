/* coinfer-eval: runs every exit of a model with the C runtime over CIFAR-10 test
 * images and prints per-exit accuracy, FLOPs and latency (batch 1 and 32) and the
 * per-layer table as JSON (DESIGN.md, "Interfaces"). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/clock.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: coinfer-eval [options]\n"
		"Evaluate every exit of a coinfer model on the CIFAR-10 test set with the C runtime\n"
		"and print JSON: per exit accuracy, flops, latency_ms_b1, latency_ms_b32; per layer\n"
		"name, type, out_bytes, flops.\n\n"
		"  --model PATH     model file (default: the bundled models/branchy-alexnet.cfm)\n"
		"  --data DIR       CIFAR-10 binary directory (default: ../shared/data/cifar10 or data/cifar10)\n"
		"  --limit N        evaluate the first N test images only (default: all 10000)\n"
		"  --b1-images N    images timed at batch 1 per exit (default: 500)\n"
		"  --isa NAME       force a kernel level: scalar, avx2, avx512, neon\n"
		"  --help           this text\n");
}

static int argmax(const float *x, int n)
{
	int b = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

int main(int argc, char **argv)
{
	const char *model_path = NULL, *data_dir = NULL, *isa = NULL;
	long limit = 0, b1_images = 500;
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
		{"limit", required_argument, 0, 'l'}, {"b1-images", required_argument, 0, 'b'},
		{"isa", required_argument, 0, 'i'},   {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'i': isa = optarg; break;
		case 'l':
		case 'b': {
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 1) {
				fprintf(stderr, "coinfer-eval: --%s needs a positive integer, got '%s'\n",
					c == 'l' ? "limit" : "b1-images", optarg);
				return 2;
			}
			*(c == 'l' ? &limit : &b1_images) = v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "coinfer-eval: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	const struct ck_kernels *k = ck_kernels();
	if (isa) {
		enum ck_isa want;
		if (ck_isa_parse(isa, &want) || !(k = ck_kernels_for(want))) {
			fprintf(stderr, "coinfer-eval: ISA '%s' is not available on this machine/build\n", isa);
			return 2;
		}
	}
	if (!model_path && !(model_path = cli_default_model_path())) {
		fprintf(stderr, "coinfer-eval: no model given and models/branchy-alexnet.cfm not found\n");
		return 1;
	}
	if (!data_dir && !(data_dir = cli_cifar10_default_dir())) {
		fprintf(stderr, "coinfer-eval: CIFAR-10 not found; run scripts/fetch-cifar10.sh or pass --data\n");
		return 1;
	}

	char err[512];
	struct cr_model *m = NULL;
	struct cr_exec *x = NULL;
	struct ds_dataset ds = {0};
	float *input = NULL;
	int ret = 1, r;
	if ((r = cr_model_load(model_path, &m, err, sizeof(err)))) {
		fprintf(stderr, "coinfer-eval: %s\n", err);
		return 1;
	}
	if ((r = ds_cifar10_load(data_dir, "test_batch.bin", &ds, err, sizeof(err)))) {
		fprintf(stderr, "coinfer-eval: %s\n", err);
		goto out;
	}
	if (ds.c != m->in_c || ds.h != m->in_h || ds.w != m->in_w) {
		fprintf(stderr, "coinfer-eval: model input %dx%dx%d does not match the data\n", m->in_c,
			m->in_h, m->in_w);
		goto out;
	}
	int n = limit && limit < ds.n ? (int)limit : ds.n;
	const int B = 32;
	if ((r = cr_exec_create(m, k, B, &x))) {
		fprintf(stderr, "coinfer-eval: cannot create executor: %s\n", strerror(-r));
		goto out;
	}
	size_t per = cr_model_boundary_floats(m, 0, 0);
	input = malloc((size_t)n * per * sizeof(float));
	if (!input) {
		fprintf(stderr, "coinfer-eval: out of memory\n");
		goto out;
	}
	cr_model_normalize(m, ds.images, input, n);

	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "model", m->name);
	char sum[17];
	snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)m->checksum);
	cJSON_AddStringToObject(root, "checksum", sum);
	cJSON_AddStringToObject(root, "isa", k->name);
	cJSON_AddNumberToObject(root, "images", n);
	cJSON *exits = cJSON_AddArrayToObject(root, "exits");
	for (int e = 0; e < m->n_exits; e++) {
		int len = m->exit_len[e], correct = 0;
		const float *out;
		double t0 = cf_now_s();
		for (int i = 0; i < n; i += B) {
			int nb = n - i < B ? n - i : B;
			cr_exec_run(x, e, 0, len, input + (size_t)i * per, nb, &out);
			for (int j = 0; j < nb; j++)
				correct += argmax(out + (size_t)j * m->n_classes, m->n_classes) == ds.labels[i + j];
		}
		double t32 = (cf_now_s() - t0) / n;
		int n1 = b1_images < n ? (int)b1_images : n;
		t0 = cf_now_s();
		for (int i = 0; i < n1; i++)
			cr_exec_run(x, e, 0, len, input + (size_t)i * per, 1, &out);
		double t1 = (cf_now_s() - t0) / n1;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "exit", e + 1);
		cJSON_AddNumberToObject(o, "accuracy", (double)correct / n);
		cJSON_AddNumberToObject(o, "flops", (double)cr_model_exit_flops(m, e, len));
		cJSON_AddNumberToObject(o, "layers", len);
		cJSON_AddNumberToObject(o, "latency_ms_b1", t1 * 1e3);
		cJSON_AddNumberToObject(o, "latency_ms_b32", t32 * 1e3);
		cJSON_AddItemToArray(exits, o);
	}
	cJSON *layers = cJSON_AddArrayToObject(root, "layers");
	for (int i = 0; i < m->n_layers; i++) {
		const struct cr_layer *L = &m->layers[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", L->name);
		cJSON_AddStringToObject(o, "type", cr_layer_type_name(L->type));
		cJSON_AddNumberToObject(o, "out_bytes", 4.0 * L->out_c * L->out_h * L->out_w);
		cJSON_AddNumberToObject(o, "flops", (double)L->flops);
		cJSON_AddItemToArray(layers, o);
	}
	char *s = cJSON_Print(root);
	puts(s);
	free(s);
	cJSON_Delete(root);
	ret = 0;
out:
	free(input);
	cr_exec_destroy(x);
	ds_dataset_free(&ds);
	cr_model_free(m);
	return ret;
}
