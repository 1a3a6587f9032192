/* coinfer-eval: runs every exit of a model with the C runtime over CIFAR-10 test
 * images and prints per-exit accuracy, FLOPs and latency (batch 1 and 32) and the
 * per-layer table as JSON (DESIGN.md, "Interfaces"). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/clock.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"

struct eval_opts {
	const char *model, *data, *isa;
	int limit, b1_images;
};

#define F(f) CLI_FIELD(struct eval_opts, f)
static const struct cli_opt opts[] = {
	CLI_OPT_MODEL(struct eval_opts, model),
	CLI_OPT_DATA(struct eval_opts, data),
	{.name = "limit", .kind = CLI_INT, F(limit), .lo = 1, .hi = INT_MAX,
	 .help = "evaluate the first N test images only", .dflt = "all 10000"},
	{.name = "b1-images", .kind = CLI_INT, F(b1_images), .lo = 1, .hi = INT_MAX,
	 .help = "images timed at batch 1 per exit"},
	{.name = "isa", .kind = CLI_STRING, F(isa),
	 .help = "force a kernel level: scalar, avx2, avx512, neon", .dflt = "the best here"},
};
static const struct cli_prog prog = {
	.name = "coinfer-eval",
	.head = "usage: coinfer-eval [options]\n"
		"Evaluate every exit of a coinfer model on the CIFAR-10 test set with the C runtime\n"
		"and print JSON: per exit accuracy, flops, latency_ms_b1, latency_ms_b32; per layer\n"
		"name, type, out_bytes, flops.\n\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct eval_opts)};

static int argmax(const float *x, int n)
{
	int b = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

#define B 32 /* the batch of the accuracy run and of latency_ms_b32 */

/* One exit over the n images: accuracy and time per image at batch B, then time
 * per image at batch 1 over the first b1 of them. */
static cJSON *exit_json(struct cr_exec *x, const struct cr_model *m, int e, const float *input,
			const uint8_t *labels, int n, int b1)
{
	size_t per = cr_model_boundary_floats(m, 0, 0);
	int len = m->exit_len[e], correct = 0;
	const float *out;
	double t0 = cf_now_s();
	for (int i = 0; i < n; i += B) {
		int nb = n - i < B ? n - i : B;
		cr_exec_run(x, e, 0, len, input + (size_t)i * per, nb, &out);
		for (int j = 0; j < nb; j++)
			correct += argmax(out + (size_t)j * m->n_classes, m->n_classes) == labels[i + j];
	}
	double t32 = (cf_now_s() - t0) / n;
	int n1 = b1 < n ? b1 : n;
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
	return o;
}

static cJSON *layers_json(const struct cr_model *m)
{
	cJSON *layers = cJSON_CreateArray();
	for (int i = 0; i < m->n_layers; i++) {
		const struct cr_layer *L = &m->layers[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", L->name);
		cJSON_AddStringToObject(o, "type", cr_layer_type_name(L->type));
		cJSON_AddNumberToObject(o, "out_bytes", 4.0 * L->out_c * L->out_h * L->out_w);
		cJSON_AddNumberToObject(o, "flops", (double)L->flops);
		cJSON_AddItemToArray(layers, o);
	}
	return layers;
}

/* Every exit of m over the first n images of ds, printed as JSON. */
static void report(const struct cr_model *m, const struct ck_kernels *k, struct cr_exec *x,
		   const float *input, const struct ds_dataset *ds, int n, int b1)
{
	char sum[17];
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "model", m->name);
	snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)m->checksum);
	cJSON_AddStringToObject(root, "checksum", sum);
	cJSON_AddStringToObject(root, "isa", k->name);
	cJSON_AddNumberToObject(root, "images", n);
	cJSON *exits = cJSON_AddArrayToObject(root, "exits");
	for (int e = 0; e < m->n_exits; e++)
		cJSON_AddItemToArray(exits, exit_json(x, m, e, input, ds->labels, n, b1));
	cJSON_AddItemToObject(root, "layers", layers_json(m));
	char *s = cJSON_Print(root);
	puts(s);
	free(s);
	cJSON_Delete(root);
}

/* The data of the model's input shape, its first n images normalised into *input. */
static int load_inputs(const struct eval_opts *o, const struct cr_model *m, struct ds_dataset *ds,
		       float **input, int *n)
{
	char err[512];
	if (ds_cifar10_load(o->data, "test_batch.bin", ds, err, sizeof(err))) {
		fprintf(stderr, "coinfer-eval: %s\n", err);
		return -EINVAL;
	}
	if (ds->c != m->in_c || ds->h != m->in_h || ds->w != m->in_w) {
		fprintf(stderr, "coinfer-eval: model input %dx%dx%d does not match the data\n", m->in_c,
			m->in_h, m->in_w);
		return -EINVAL;
	}
	*n = o->limit && o->limit < ds->n ? o->limit : ds->n;
	*input = malloc((size_t)*n * cr_model_boundary_floats(m, 0, 0) * sizeof(float));
	if (!*input) {
		fprintf(stderr, "coinfer-eval: out of memory\n");
		return -ENOMEM;
	}
	cr_model_normalize(m, ds->images, *input, *n);
	return 0;
}

static int run(const struct eval_opts *o, const struct ck_kernels *k)
{
	char err[512];
	struct cr_model *m = NULL;
	struct cr_exec *x = NULL;
	struct ds_dataset ds = {0};
	float *input = NULL;
	int ret = 1, r, n;
	if (cli_model_load(o->model, &m, err, sizeof(err))) {
		fprintf(stderr, "coinfer-eval: %s\n", err);
		return 1;
	}
	if (load_inputs(o, m, &ds, &input, &n))
		goto out;
	if ((r = cr_exec_create(m, k, B, &x))) {
		fprintf(stderr, "coinfer-eval: cannot create executor: %s\n", strerror(-r));
		goto out;
	}
	report(m, k, x, input, &ds, n, o->b1_images);
	ret = 0;
out:
	free(input);
	cr_exec_destroy(x);
	ds_dataset_free(&ds);
	cr_model_free(m);
	return ret;
}

int main(int argc, char **argv)
{
	struct eval_opts o = {.b1_images = 500};
	const struct ck_kernels *k = ck_kernels();
	int st = cli_args(&prog, &o, argc, argv);
	if (st != CLI_GO)
		return st;
	if (o.isa) {
		enum ck_isa want;
		if (ck_isa_parse(o.isa, &want) || !(k = ck_kernels_for(want))) {
			fprintf(stderr, "coinfer-eval: ISA '%s' is not available on this machine/build\n",
				o.isa);
			return 2;
		}
	}
	char err[512];
	if (cli_data_dir(&o.data, err, sizeof(err))) {
		fprintf(stderr, "coinfer-eval: %s\n", err);
		return 1;
	}
	return run(&o, k);
}
