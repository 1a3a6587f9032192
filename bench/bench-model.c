/* Whole-model throughput: images/s of each exit at batch 1 and 32 for every kernel
 * level of this machine (single thread), and PyTorch on the same weights, same
 * thread count, in the same run (bench/torch_model.py), with the ratio. JSON out. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/clock.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"

/* Best of `reps` measurements, each at least `secs` long. */
static double images_per_s(struct cr_exec *x, const struct cr_model *m, int e, const float *in,
			   int batch, double secs, int reps)
{
	const float *out;
	for (int i = 0; i < 3; i++)
		cr_exec_run(x, e, 0, m->exit_len[e], in, batch, &out);
	double best = 0;
	for (int r = 0; r < reps; r++) {
		long n = 0;
		double t0 = cf_now_s(), dt;
		do {
			cr_exec_run(x, e, 0, m->exit_len[e], in, batch, &out);
			n++;
		} while ((dt = cf_now_s() - t0) < secs);
		double ips = (double)n * batch / dt;
		best = ips > best ? ips : best;
	}
	return best;
}

static double torch_peer(const char *model, int exit, int batch, double secs, cJSON *into)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s/bench/torch_model.py' '%s' --exit %d --batch %d --threads 1 --seconds %g",
		 cli_source_root(), model, exit, batch, secs);
	FILE *p = popen(cmd, "r");
	if (!p)
		return 0;
	char line[4096] = "";
	if (!fgets(line, sizeof(line), p))
		line[0] = 0;
	if (pclose(p) != 0)
		return 0;
	cJSON *j = cJSON_Parse(line);
	if (!j)
		return 0;
	cJSON *v = cJSON_GetObjectItem(j, "images_per_s");
	double r = cJSON_IsNumber(v) ? v->valuedouble : 0;
	cJSON_AddItemToObject(into, "torch", j);
	return r;
}

struct bm_opts {
	const char *model;
	double secs;
	int no_torch;
};

#define F(f) CLI_FIELD(struct bm_opts, f)
static const struct cli_opt opts[] = {
	CLI_OPT_MODEL(struct bm_opts, model),
	{.name = "seconds", .kind = CLI_DOUBLE, F(secs), .lo = 0, .hi = 1e6, .arg = "S",
	 .help = "each measurement at least this long, best of 3 (PyTorch: 3 S)"},
	{.name = "no-torch", .kind = CLI_FLAG, F(no_torch), .help = "skip the PyTorch peer"},
};
static const struct cli_prog prog = {
	.name = "coinfer-bench-model",
	.head = "usage: coinfer-bench-model [options]\n"
		"Images/s of every exit at batch 1 and 32 per kernel level (1 thread), and\n"
		"PyTorch (Debian python3-torch, 1 thread) on exit 3 at batch 32, as JSON.\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct bm_opts)};

/* Every exit at batch 1 and 32 for every kernel level here, rows into `rows`; the
 * best of the final exit at batch 32 into cmp. */
static void measure_levels(const struct cr_model *m, const float *in, double secs, cJSON *rows,
			   cJSON *cmp, double *best_final)
{
	const char *best_isa = "";
	*best_final = 0;
	for (int isa = 0; isa < CK_ISA_COUNT; isa++) {
		const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
		struct cr_exec *x;
		if (!k || cr_exec_create(m, k, 32, &x))
			continue;
		for (int e = 0; e < m->n_exits; e++) {
			for (int b = 1; b <= 32; b += 31) {
				double ips = images_per_s(x, m, e, in, b, secs, 3);
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "isa", k->name);
				cJSON_AddNumberToObject(o, "exit", e + 1);
				cJSON_AddNumberToObject(o, "batch", b);
				cJSON_AddNumberToObject(o, "images_per_s", ips);
				cJSON_AddNumberToObject(o, "gflops",
							ips * (double)cr_model_exit_flops(m, e, m->exit_len[e]) * 1e-9);
				cJSON_AddItemToArray(rows, o);
				if (e == m->n_exits - 1 && b == 32 && ips > *best_final) {
					*best_final = ips;
					best_isa = k->name;
				}
			}
		}
		cr_exec_destroy(x);
	}
	cJSON_AddStringToObject(cmp, "isa", best_isa);
	cJSON_AddNumberToObject(cmp, "images_per_s", *best_final);
}

int main(int argc, char **argv)
{
	struct bm_opts o = {.secs = 1.0};
	int st = cli_args(&prog, &o, argc, argv);
	if (st != CLI_GO)
		return st;
	char err[512];
	struct cr_model *m;
	if (!o.model)
		o.model = cli_default_model_path(); /* the PyTorch peer loads it too */
	if (cli_model_load(o.model, &m, err, sizeof(err))) {
		fprintf(stderr, "coinfer-bench-model: %s\n", err);
		return 1;
	}
	size_t per = cr_model_boundary_floats(m, 0, 0);
	float *in = malloc(32 * per * sizeof(float));
	for (size_t i = 0; i < 32 * per; i++)
		in[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
	cJSON *root = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(root, "runs");
	cJSON_AddStringToObject(root, "model", m->name);
	cJSON *cmp = cJSON_CreateObject();
	double best_final;
	measure_levels(m, in, o.secs, rows, cmp, &best_final);
	cJSON_AddItemToObject(root, "final_exit_b32", cmp);
	if (!o.no_torch && system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
		/* the peer is installed on demand, not by the build's packages */
		fprintf(stderr, "coinfer-bench-model: PyTorch, the peer, is not installed: run "
				"scripts/install-deps.sh --peers as root (python3-torch), or pass "
				"--no-torch\n");
		cJSON_AddStringToObject(cmp, "torch_error",
					"not installed: scripts/install-deps.sh --peers");
	} else if (!o.no_torch) {
		double t = torch_peer(o.model, m->n_exits, 32, o.secs * 3, cmp);
		if (t > 0)
			cJSON_AddNumberToObject(cmp, "ratio_ours_over_torch", best_final / t);
		else
			cJSON_AddStringToObject(cmp, "torch_error", "bench/torch_model.py failed");
	}
	char *s = cJSON_Print(root);
	puts(s);
	free(s);
	cJSON_Delete(root);
	free(in);
	cr_model_free(m);
	return 0;
}
