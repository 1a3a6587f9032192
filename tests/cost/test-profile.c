/* Profiles and codec tables as files: round trips, and refusal of truncated
 * JSON, wrong types, missing fields and profiles of
 * another model, with messages naming the file and the field. Then the profiler
 * on the real model: every layer gets a positive time; and the whole loader on the
 * shipped device classes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coinfer/cli.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"
#include "coinfer/cost.h"
#include "coinfer/layer-timer.h"

#include "text-edit.h"

#define MODEL COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm"

static char err[512];
static struct cr_model *m;

static void load_model(void)
{
	cr_assert_eq(cr_model_load(MODEL, &m, err, sizeof(err)), 0, "%s", err);
}

static void free_model(void)
{
	cr_model_free(m);
}

static const int batches[] = {1, 4};

/* The model's profile with made-up times, as JSON text (malloc'd). */
static char *profile_text(struct cost_profile *p)
{
	cr_assert_eq(cost_profile_init(p, m, "test-class", batches, 2, err, sizeof(err)), 0, "%s", err);
	for (int e = 0; e < p->n_exits; e++)
		for (int i = 0; i < p->exits[e].n_layers; i++)
			for (int b = 0; b < 2; b++) {
				p->exits[e].layers[i].mean_ms[b] = 0.001 * (i + 1) * (b + 1) + e;
				p->exits[e].layers[i].p95_ms[b] = 0.002 * (i + 1) * (b + 1) + e;
			}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_eq(cost_profile_write(p, f, err, sizeof(err)), 0, "%s", err);
	fclose(f);
	return buf;
}

static void expect_refused(const char *text, const char *what, const char *needle)
{
	struct cost_profile *q = malloc(sizeof(*q));
	int r = cost_profile_parse(text, strlen(text), "p.json", m, q, err, sizeof(err));
	cr_expect_eq(r, -EINVAL, "%s: accepted (%d)", what, r);
	cr_expect(strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", what, err, needle);
	cr_expect(strncmp(err, "p.json", 6) == 0, "%s: message '%s' does not name the file", what, err);
	free(q);
}

Test(profile_file, round_trip_and_refusals, .init = load_model, .fini = free_model)
{
	struct cost_profile *p = malloc(sizeof(*p)), *q = malloc(sizeof(*q));
	char *text = profile_text(p);
	cr_assert_eq(cost_profile_parse(text, strlen(text), "p.json", m, q, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(q->device_class, "test-class");
	cr_expect_eq(q->model_checksum, m->checksum);
	cr_expect_eq(q->n_batches, 2);
	cr_expect_eq(q->batches[1], 4);
	for (int e = 0; e < p->n_exits; e++)
		for (int i = 0; i < p->exits[e].n_layers; i++) {
			const struct cost_profile_layer *a = &p->exits[e].layers[i], *b = &q->exits[e].layers[i];
			cr_expect_str_eq(a->name, b->name);
			cr_expect_eq(a->type, b->type);
			cr_expect(a->x1 == b->x1 && a->x2 == b->x2 && a->flops == b->flops);
			cr_expect(a->mean_ms[1] == b->mean_ms[1] && a->p95_ms[0] == b->p95_ms[0],
				  "times must survive the round trip exactly");
		}
	/* conv1's Table I variables: 3x32x32 fp32 input, 3x3 stride 1, 32 filters */
	cr_expect_eq(p->exits[0].layers[0].x1, 12288);
	cr_expect_eq(p->exits[0].layers[0].x2, 288);

	size_t n = strlen(text);
	for (size_t cut = 0; cut < n - 2; cut += n / 37 + 1) {
		char *t = strndup(text, cut);
		int r = cost_profile_parse(t, cut, "p.json", m, q, err, sizeof(err));
		cr_expect_eq(r, -EINVAL, "truncated at %zu accepted", cut);
		cr_expect(strstr(err, "not valid JSON") != NULL, "cut %zu: %s", cut, err);
		free(t);
	}
	char *t;
	t = edit(text, "\"threads\":\t1", "\"threads\":\t\"1\"");
	expect_refused(t, "threads as a string", "field threads is not a number");
	free(t);
	t = edit(text, "\"source\":\t\"measured\"", "\"source\":\t\"guessed\"");
	expect_refused(t, "unknown source", "field source is not measured");
	free(t);
	t = edit(text, "\"mean_ms\":\t[", "\"mean_ms\":\t[\"x\", ");
	expect_refused(t, "string in mean_ms", "exits[0].layers[0].mean_ms");
	free(t);
	t = edit(text, "\"p95_ms\"", "\"p96_ms\"");
	expect_refused(t, "missing p95_ms", "field exits[0].layers[0].p95_ms missing");
	free(t);
	t = edit(text, "\"type\":\t\"conv\"", "\"type\":\t\"deconv\"");
	expect_refused(t, "unknown layer type", "exits[0].layers[0].type is not a layer type");
	free(t);
	t = edit(text, "\"exit\":\t2", "\"exit\":\t7");
	expect_refused(t, "exits out of order", "exits[1].exit must number");
	free(t);
	t = edit(text, "\"batches\":\t[1, 4]", "\"batches\":\t[4, 1]");
	expect_refused(t, "batches descending", "batches must be ascending");
	free(t);
	t = edit(text, "\"batches\":\t[1, 4]", "\"batches\":\t[1, 4, 8]");
	expect_refused(t, "batch count mismatch", "mean_ms has 2 entries, expected 3");
	free(t);
	t = edit(text, "\"in_bytes\":\t12288", "\"in_bytes\":\t-1");
	expect_refused(t, "negative size", "exits[0].layers[0].in_bytes = -1 is outside");
	free(t);
	t = edit(text, "{", "[");
	expect_refused(t, "array at the top", "not valid JSON");
	free(t);
	t = malloc(n + 8);
	sprintf(t, "%s {}", text);
	expect_refused(t, "trailing garbage", "not valid JSON");
	free(t);

	/* a profile of another model: its checksum differs */
	char sum[20];
	snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)m->checksum);
	t = edit(text, sum, "0123456789abcdef");
	expect_refused(t, "another model's checksum", "profile of another model");
	struct cost_profile *r = malloc(sizeof(*r));
	cr_expect_eq(cost_profile_parse(t, strlen(t), "p.json", NULL, r, err, sizeof(err)), 0,
		     "without a model to check against it parses: %s", err);
	free(r);
	free(t);
	/* the same checksum with a renamed layer: refused too */
	t = edit(text, "\"name\":\t\"relu1\"", "\"name\":\t\"relu9\"");
	expect_refused(t, "renamed layer", "exit 1 layer 1 is relu9");
	free(t);

	/* files: save atomically, load, and a missing file's errno */
	char path[] = "/tmp/coinfer-test-profile-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(cost_profile_save(p, path, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cost_profile_load(path, m, q, err, sizeof(err)), 0, "%s", err);
	unlink(path);
	cr_expect_eq(cost_profile_load(path, m, q, err, sizeof(err)), -ENOENT);
	free(text);
	free(p);
	free(q);
}

/* A codec table for the real model: every exit, partition with data, bits. */
static char *codec_text(const struct cr_model *mm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fprintf(f, "{\"model\": \"%s\", \"images\": 10, \"fp32_accuracy\": [", mm->name);
	for (int e = 0; e < mm->n_exits; e++)
		fprintf(f, "%s{\"exit\": %d, \"accuracy\": %.2f}", e ? ", " : "", e + 1, 0.8 + 0.05 * e);
	fprintf(f, "], \"entries\": [");
	int first = 1;
	for (int e = 0; e < mm->n_exits; e++)
		for (int p = 0; p < mm->exit_len[e]; p++)
			for (int b = 4; b <= 16; b += 4) {
				double raw = 4.0 * cr_model_boundary_floats(mm, e, p);
				fprintf(f, "%s{\"exit\": %d, \"partition\": %d, \"layer\": \"%s\", \"bits\": %d, "
					"\"bytes\": %.1f, \"accuracy\": %.3f}",
					first ? "" : ",\n", e + 1, p, p ? cr_model_exit_layer(mm, e, p - 1)->name : "input",
					b, raw * b / 32 * 0.5, 0.8 + 0.05 * e - (b == 4 ? 0.02 : 0));
				first = 0;
			}
	fprintf(f, "]}\n");
	fclose(f);
	return buf;
}

Test(codec_table, parse_and_refusals, .init = load_model, .fini = free_model)
{
	struct cost_codec_table *t = malloc(sizeof(*t));
	char *text = codec_text(m), *x;
	cr_assert_eq(cost_codec_table_parse(text, strlen(text), "t.json", m, t, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(t->n_exits, 3);
	cr_expect_eq(t->n_part[2], m->exit_len[2]);
	x = edit(text, "\"layer\": \"input\"", "\"layer\": \"conv1\"");
	cr_expect_eq(cost_codec_table_parse(x, strlen(x), "t.json", m, t, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "entries[0]: exit 1 partition 0 is layer conv1, the model's is input") != NULL, "%s", err);
	free(x);
	x = edit(text, "\"bits\": 4", "\"bits\": 5");
	cr_expect_eq(cost_codec_table_parse(x, strlen(x), "t.json", m, t, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "entries[0].bits is not 4, 8, 12 or 16") != NULL, "%s", err);
	free(x);
	x = edit(text, "\"model\": \"branchy-alexnet\"", "\"model\": \"resnet\"");
	cr_expect_eq(cost_codec_table_parse(x, strlen(x), "t.json", m, t, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "field model is resnet") != NULL, "%s", err);
	free(x);
	x = edit(text, "\"bits\": 8", "\"bits\": 4");
	cr_expect_eq(cost_codec_table_parse(x, strlen(x), "t.json", m, t, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "repeats exit 1 partition 0 bits 4") != NULL, "%s", err);
	free(x);
	x = strndup(text, strlen(text) / 2);
	cr_expect_eq(cost_codec_table_parse(x, strlen(x), "t.json", m, t, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "truncated") != NULL, "%s", err);
	free(x);
	free(text);
	free(t);
}

Test(loader, shipped_classes, .init = load_model, .fini = free_model)
{
	char *text = codec_text(m), path[] = "/tmp/coinfer-test-codec-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	const char *pairs[][2] = {{"rpi3-edgent", "pc-edgent"}, {"rpi3-edgent", "edge-x86"}, {"pi4-est", "edge-x86"}};
	for (int i = 0; i < 3; i++) {
		struct cost_model *cm;
		int r = cost_load(m, COINFER_SOURCE_ROOT, pairs[i][0], pairs[i][1], path, &cm, err, sizeof(err));
		cr_assert_eq(r, 0, "%s + %s: %s", pairs[i][0], pairs[i][1], err);
		cr_expect_eq(cm->n_exits, 3);
		for (int e = 0; e < 3; e++) {
			cr_expect_eq(cm->ex[e].n, m->exit_len[e]);
			for (int p = 1; p <= cm->ex[e].n; p++)
				cr_expect(cm->ex[e].dev_ms[p] >= cm->ex[e].dev_ms[p - 1]);
			cr_expect(cm->ex[e].dev_ms[cm->ex[e].n] > 0 && cm->ex[e].edge_ms[0][0] > 0);
		}
		free(cm);
	}
	/* the Pi 3 (Table II) is slower than the PC, and pi4-est slower than our edge */
	struct cost_device_class c;
	struct cost_profile *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	cr_assert_eq(cost_class_load(COINFER_SOURCE_ROOT, "pi4-est", &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cost_class_profile(COINFER_SOURCE_ROOT, &c, m, a, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(a->source, COST_SOURCE_SCALED);
	cr_expect_str_eq(a->device_class, "pi4-est");
	cr_assert_eq(cost_class_load(COINFER_SOURCE_ROOT, "x86-avx2", &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cost_class_profile(COINFER_SOURCE_ROOT, &c, m, b, err, sizeof(err)), 0, "%s", err);
	cr_expect(a->exits[2].layers[10].mean_ms[0] > 9 * b->exits[2].layers[10].mean_ms[0]);
	free(a);
	free(b);
	unlink(path);
	free(text);
}

Test(profiler, real_model_every_layer_positive, .init = load_model, .fini = free_model, .timeout = 120)
{
	enum { B = 2 };
	struct cr_exec *x;
	struct cr_timer *pr;
	struct ds_dataset ds = {0};
	size_t per = cr_model_boundary_floats(m, 0, 0);
	float *in = malloc(B * per * sizeof(float));
	const char *dir = cli_cifar10_default_dir();
	if (dir && !ds_cifar10_load(dir, "test_batch.bin", &ds, err, sizeof(err)) && ds.n >= B) {
		cr_model_normalize(m, ds.images, in, B);
	} else {
		/* no CIFAR-10 here: a deterministic input in the normalised range */
		for (size_t i = 0; i < B * per; i++)
			in[i] = (float)((i * 2654435761u) % 1000) / 250.0f - 2.0f;
	}
	cr_assert_eq(cr_exec_create(m, NULL, B, &x), 0);
	cr_assert_eq(cr_timer_create(m, x, B, CR_TIMER_MIN_RUNS, &pr), 0);
	struct cr_layer_time t[CR_MODEL_MAX_LAYERS];
	cr_expect_eq(cr_timer_run(pr, 0, in, B, 0, CR_TIMER_MIN_RUNS - 1, t), -EINVAL, "too few runs");
	cr_expect_eq(cr_timer_run(pr, 0, in, B + 1, 0, CR_TIMER_MIN_RUNS, t), -EINVAL, "batch too big");
	cr_expect_eq(cr_timer_run(pr, 3, in, B, 0, CR_TIMER_MIN_RUNS, t), -EINVAL, "no exit 4");
	for (int e = 0; e < m->n_exits; e++) {
		cr_assert_eq(cr_timer_run(pr, e, in, B, 2, CR_TIMER_MIN_RUNS, t), 0);
		for (int pos = 0; pos < m->exit_len[e]; pos++) {
			cr_expect(t[pos].mean_ms > 0 && t[pos].p95_ms > 0, "exit %d layer %d (%s): mean %g p95 %g",
				  e + 1, pos, cr_model_exit_layer(m, e, pos)->name, t[pos].mean_ms, t[pos].p95_ms);
			cr_expect(t[pos].mean_ms_image * B == t[pos].mean_ms);
		}
	}
	cr_timer_destroy(pr);
	cr_exec_destroy(x);
	ds_dataset_free(&ds);
	free(in);
}
