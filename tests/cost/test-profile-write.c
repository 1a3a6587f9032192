/* The stdio profile writer (cost/profile-write.c) against the cJSON loader:
 * every field of a profile with awkward numbers and names reads back equal, bit
 * for bit; the shipped profiles, read and written again, are the same text (the
 * layout the cJSON writer gave them); write errors are reported. */
#include <criterion/criterion.h>
#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coinfer/cost.h"
#include "coinfer/fileio.h"

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

static char *write_text(const struct cost_profile *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert(f);
	cr_assert_eq(cost_profile_write(p, f, err, sizeof(err)), 0, "%s", err);
	fclose(f);
	return buf;
}

static char *slurp(const char *path)
{
	char *buf;
	size_t len;
	cr_assert_eq(cf_read_text(path, 64u << 20, &buf, &len, err, sizeof(err)), 0, "%s", err);
	return buf;
}

/* Every field, doubles compared bit for bit. */
static void expect_same(const struct cost_profile *a, const struct cost_profile *b)
{
	cr_expect_str_eq(a->device_class, b->device_class);
	cr_expect_str_eq(a->model, b->model);
	cr_expect_eq(a->model_checksum, b->model_checksum);
	cr_expect_str_eq(a->isa, b->isa);
	cr_expect_str_eq(a->clock, b->clock);
	cr_expect_eq(a->threads, b->threads);
	cr_expect_eq(a->source, b->source);
	cr_assert_eq(a->n_batches, b->n_batches);
	for (int i = 0; i < a->n_batches; i++)
		cr_expect_eq(a->batches[i], b->batches[i]);
	cr_assert_eq(a->n_exits, b->n_exits);
	for (int e = 0; e < a->n_exits; e++) {
		cr_assert_eq(a->exits[e].n_layers, b->exits[e].n_layers, "exit %d", e + 1);
		for (int i = 0; i < a->exits[e].n_layers; i++) {
			const struct cost_profile_layer *x = &a->exits[e].layers[i], *y = &b->exits[e].layers[i];
			cr_expect_eq(x->pos, y->pos);
			cr_expect_str_eq(x->name, y->name);
			cr_expect_eq(x->type, y->type);
			cr_expect(!memcmp(&x->in_bytes, &y->in_bytes, sizeof(double)) &&
				  !memcmp(&x->out_bytes, &y->out_bytes, sizeof(double)) &&
				  !memcmp(&x->flops, &y->flops, sizeof(double)) &&
				  !memcmp(&x->x1, &y->x1, sizeof(double)) &&
				  !memcmp(&x->x2, &y->x2, sizeof(double)),
				  "exit %d layer %d: sizes differ", e + 1, i);
			for (int k = 0; k < a->n_batches; k++)
				cr_expect(!memcmp(&x->mean_ms[k], &y->mean_ms[k], sizeof(double)) &&
					  !memcmp(&x->p95_ms[k], &y->p95_ms[k], sizeof(double)),
					  "exit %d layer %d batch %d: %.17g/%.17g read back as %.17g/%.17g",
					  e + 1, i, a->batches[k], x->mean_ms[k], x->p95_ms[k],
					  y->mean_ms[k], y->p95_ms[k]);
		}
	}
}

Test(profile_write, every_field_reads_back, .init = load_model, .fini = free_model)
{
	static const int batches[] = {1, 2, 3, 8, 16, 32, 100, 4096};
	/* numbers whose shortest exact form needs 15, 16 and 17 digits, the extremes
	 * the loader takes (times up to 1e9 ms), subnormals */
	static const double awkward[] = {0.1, 1.0 / 3, 2.0 / 3 * 1e-7, 0, DBL_MIN, 4.9e-324, 1e9,
					 123456789.12345678, 0.014775229999999624, 900719925.4740993,
					 1e-300, 0.30000000000000004};
	const int na = (int)(sizeof(awkward) / sizeof(awkward[0]));
	struct cost_profile *p = malloc(sizeof(*p)), *q = malloc(sizeof(*q));
	cr_assert_eq(cost_profile_init(p, m, "edge.x86_v2-test", batches, 8, err, sizeof(err)), 0, "%s", err);
	snprintf(p->isa, sizeof(p->isa), "neon");
	snprintf(p->clock, sizeof(p->clock), "thread-cpu");
	p->threads = 3;
	p->source = COST_SOURCE_SCALED;
	int k = 0;
	for (int e = 0; e < p->n_exits; e++)
		for (int i = 0; i < p->exits[e].n_layers; i++) {
			struct cost_profile_layer *L = &p->exits[e].layers[i];
			L->flops = awkward[k++ % na] * 1e8;
			for (int b = 0; b < p->n_batches; b++) {
				L->mean_ms[b] = awkward[k++ % na];
				L->p95_ms[b] = awkward[k++ % na] * (b + 1) / 9;
			}
		}
	char *text = write_text(p);
	cr_assert_eq(cost_profile_parse(text, strlen(text), "w.json", m, q, err, sizeof(err)), 0, "%s",
		     err);
	expect_same(p, q);
	free(text);

	/* names the JSON must escape (the model check is off: they are not the model's) */
	snprintf(p->exits[0].layers[0].name, CR_NAME_LEN, "a\"b\\c\td\n\x01\x7f\xc3\xa9");
	snprintf(p->model, sizeof(p->model), "m/\"x\"");
	text = write_text(p);
	/* the loader takes raw control characters too: the escapes are checked here */
	cr_expect(strstr(text, "\"name\":\t\"a\\\"b\\\\c\\td\\n\\u0001\x7f\xc3\xa9\",\n") != NULL,
		  "the layer name is not escaped as JSON requires");
	cr_assert_eq(cost_profile_parse(text, strlen(text), "w.json", NULL, q, err, sizeof(err)), 0,
		     "%s", err);
	expect_same(p, q);
	free(text);
	free(p);
	free(q);
}

/* The committed profiles were written by the cJSON writer this one replaces (the
 * AlexNet's) or by this one (the ResNet-9's, with add and attn layers): read and
 * written again, they are the same bytes. */
Test(profile_write, shipped_files_unchanged)
{
	static const char *const models[] = {"branchy-alexnet", "branchy-resnet9"};
	static const char *const files[] = {"edge-x86", "x86-avx2"};
	struct cost_profile *p = malloc(sizeof(*p));
	for (int k = 0; k < 2; k++) {
		char path[512];
		snprintf(path, sizeof(path), COINFER_SOURCE_ROOT "/models/%s.cfm", models[k]);
		cr_assert_eq(cr_model_load(path, &m, err, sizeof(err)), 0, "%s", err);
		for (int i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), COINFER_SOURCE_ROOT "/models/%s.profile.%s.json",
				 models[k], files[i]);
			cr_assert_eq(cost_profile_load(path, m, p, err, sizeof(err)), 0, "%s", err);
			char *want = slurp(path), *got = write_text(p);
			cr_expect_str_eq(got, want, "%s written again differs", path);
			free(want);
			free(got);
		}
		cr_model_free(m);
	}
	m = NULL;
	free(p);
}

Test(profile_write, errors, .init = load_model, .fini = free_model)
{
	static const int batches[] = {1};
	struct cost_profile *p = malloc(sizeof(*p));
	cr_assert_eq(cost_profile_init(p, m, "c", batches, 1, err, sizeof(err)), 0, "%s", err);
	FILE *f = fopen("/dev/full", "w");
	if (f) {
		cr_expect_eq(cost_profile_write(p, f, err, sizeof(err)), -EIO);
		cr_expect(strstr(err, "cannot write the profile") != NULL, "%s", err);
		fclose(f);
	}
	char dir[] = "/tmp/coinfer-test-pw-XXXXXX", path[600], tmp[610];
	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/no-such-dir/p.json", dir);
	cr_expect_eq(cost_profile_save(p, path, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "no-such-dir/p.json.tmp") != NULL, "%s", err);
	/* saved whole: PATH holds the profile, PATH.tmp is gone */
	snprintf(path, sizeof(path), "%s/p.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	struct cost_profile *q = malloc(sizeof(*q));
	cr_assert_eq(cost_profile_save(p, path, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(access(tmp, F_OK), -1);
	cr_assert_eq(cost_profile_load(path, m, q, err, sizeof(err)), 0, "%s", err);
	expect_same(p, q);
	unlink(path);
	rmdir(dir);
	free(p);
	free(q);
}
