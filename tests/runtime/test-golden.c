/* C runtime against PyTorch: the golden fixture (written by tools/train/export.py
 * from the committed model) holds 32 test images and, per exit, its logits and a
 * few intermediate tensors from PyTorch. Every kernel level of this machine must
 * give the same argmax everywhere and logits within 1e-3 x max |logit|; the
 * intermediate tensors within a normalised error of 1e-4 (fp32 with a different
 * summation order lands near 1e-6). Plain C: it also runs under qemu-aarch64.
 *
 * usage: test-golden [MODEL GOLDEN [IMAGES]] */
#include <string.h>

#include "coinfer/exec.h"
#include "coinfer/fileio.h"
#include "harness.h"

#define LOGIT_TOL 1e-3
#define TAP_TOL 1e-4

struct tensor {
	char name[33];
	int exit, pos, fpi;
	float *data;
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* The fixture: n images with labels and nt tensors, all pointing into buf. */
struct golden {
	int n, nt;
	const uint8_t *imgs, *labels;
	struct tensor *ts;
	void *buf;
};

/* Reads gpath and checks it was made for m and that every tensor fits it; 0 or 1. */
static int golden_load(const char *gpath, const struct cr_model *m, struct golden *gd)
{
	size_t glen;
	uint8_t *g = cf_read_file(gpath, 1u << 30, &gd->buf, &glen, NULL, 0) ? NULL : gd->buf;
	if (!g || glen < 24 || memcmp(g, "CFGOLD1", 8)) {
		fprintf(stderr, "%s: missing or not a golden file\n", gpath);
		return 1;
	}
	gd->n = (int)rd32(g + 8), gd->nt = (int)rd32(g + 12);
	uint64_t sum;
	memcpy(&sum, g + 16, 8);
	TH_CHECK(sum == m->checksum, "golden file was made for model %016llx, this is %016llx",
		 (unsigned long long)sum, (unsigned long long)m->checksum);
	size_t per = cr_model_boundary_floats(m, 0, 0);
	gd->imgs = g + 24, gd->labels = gd->imgs + (size_t)gd->n * per;
	const uint8_t *p = gd->labels + gd->n;
	gd->ts = th_alloc((size_t)gd->nt * sizeof(*gd->ts));
	for (int i = 0; i < gd->nt; i++) {
		struct tensor *t = &gd->ts[i];
		memcpy(t->name, p, 32);
		t->name[32] = 0;
		t->exit = (int)rd32(p + 32), t->pos = (int)rd32(p + 36), t->fpi = (int)rd32(p + 40);
		size_t bytes = (size_t)gd->n * t->fpi * sizeof(float);
		if ((size_t)(p + 44 - g) + bytes > glen || t->exit >= m->n_exits ||
		    t->pos > m->exit_len[t->exit] ||
		    (size_t)t->fpi != cr_model_boundary_floats(m, t->exit, t->pos)) {
			fprintf(stderr, "%s: tensor %d does not fit the model\n", gpath, i);
			return 1;
		}
		t->data = th_alloc(bytes);
		memcpy(t->data, p + 44, bytes);
		p += 44 + bytes;
	}
	return 0;
}

static int argmax(const float *v, int n)
{
	int best = 0;
	for (int c = 1; c < n; c++)
		best = v[c] > v[best] ? c : best;
	return best;
}

/* Logits: the same argmax as PyTorch for every image; counts the correct ones
 * (for the scalar level only, so each image counts once). */
static void check_argmax(const struct golden *gd, const struct tensor *t, const float *out,
			 const char *isa, int n, int *correct)
{
	for (int j = 0; j < n; j++) {
		int ia = argmax(t->data + (size_t)j * t->fpi, t->fpi);
		int ib = argmax(out + (size_t)j * t->fpi, t->fpi);
		TH_CHECK(ia == ib, "%s: exit %d image %d argmax %d vs torch %d", isa, t->exit + 1, j,
			 ib, ia);
		if (correct)
			*correct += ia == gd->labels[j];
	}
}

/* Walks exit e's taps in order, each run continuing from the last. */
static void walk_exit(const struct golden *gd, const struct cr_model *m, struct cr_exec *x,
		      const struct ck_kernels *k, int e, const float *input, int n, int *correct)
{
	const float *cur = input;
	int at = 0;
	for (;;) {
		const struct tensor *t = NULL;
		for (int i = 0; i < gd->nt; i++)
			if (gd->ts[i].exit == e && gd->ts[i].pos > at && (!t || gd->ts[i].pos < t->pos))
				t = &gd->ts[i];
		if (!t)
			break;
		const float *out;
		TH_CHECK(cr_exec_run(x, e, at, t->pos, cur, n, &out) == 0, "run");
		double ne = th_nerr(t->data, out, (size_t)n * t->fpi);
		int is_logits = t->pos == m->exit_len[e];
		TH_CHECK(ne <= (is_logits ? LOGIT_TOL : TAP_TOL),
			 "%s: %s (exit %d pos %d) normalised error %.3g", k->name, t->name, e + 1,
			 t->pos, ne);
		if (is_logits)
			check_argmax(gd, t, out, k->name, n, k->isa == CK_ISA_SCALAR ? correct : NULL);
		printf("%-7s exit %d %-8s pos %2d  nerr %.2e\n", k->name, e + 1, t->name, t->pos, ne);
		cur = out;
		at = t->pos;
	}
}

int main(int argc, char **argv)
{
	const char *mpath = argc > 2 ? argv[1] : COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm";
	const char *gpath =
		argc > 2 ? argv[2] : COINFER_SOURCE_ROOT "/tests/golden/branchy-alexnet.golden";
	int want_n = argc > 3 ? atoi(argv[3]) : 32;
	char err[512];
	struct cr_model *m;
	struct golden gd = {0};
	if (cr_model_load(mpath, &m, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (golden_load(gpath, m, &gd))
		return 1;
	int n = want_n > 0 && want_n < gd.n ? want_n : gd.n;
	float *input = th_alloc((size_t)n * cr_model_boundary_floats(m, 0, 0) * sizeof(float));
	cr_model_normalize(m, gd.imgs, input, n);

	int correct[CR_MODEL_MAX_EXITS] = {0};
	for (int isa = 0; isa < CK_ISA_COUNT; isa++) {
		const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
		struct cr_exec *x;
		if (!k)
			continue;
		TH_CHECK(cr_exec_create(m, k, n, &x) == 0, "executor for %s", k->name);
		for (int e = 0; e < m->n_exits; e++)
			walk_exit(&gd, m, x, k, e, input, n, &correct[e]);
		cr_exec_destroy(x);
	}
	for (int e = 0; e < m->n_exits; e++)
		printf("exit %d: %d/%d of the golden images correct\n", e + 1, correct[e], n);
	for (int i = 0; i < gd.nt; i++)
		free(gd.ts[i].data);
	free(gd.ts);
	free(input);
	free(gd.buf);
	cr_model_free(m);
	return th_finish("golden");
}
