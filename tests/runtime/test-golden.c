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

int main(int argc, char **argv)
{
	const char *mpath = argc > 2 ? argv[1] : COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm";
	const char *gpath = argc > 2 ? argv[2] : COINFER_SOURCE_ROOT "/tests/golden/branchy-alexnet.golden";
	int want_n = argc > 3 ? atoi(argv[3]) : 32;
	char err[512];
	struct cr_model *m;
	if (cr_model_load(mpath, &m, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	size_t glen;
	void *gbuf;
	uint8_t *g = cf_read_file(gpath, 1u << 30, &gbuf, &glen, NULL, 0) ? NULL : gbuf;
	if (!g || glen < 24 || memcmp(g, "CFGOLD1", 8)) {
		fprintf(stderr, "%s: missing or not a golden file\n", gpath);
		return 1;
	}
	int n = (int)rd32(g + 8), nt = (int)rd32(g + 12);
	uint64_t sum;
	memcpy(&sum, g + 16, 8);
	TH_CHECK(sum == m->checksum, "golden file was made for model %016llx, this is %016llx",
		 (unsigned long long)sum, (unsigned long long)m->checksum);
	size_t per = cr_model_boundary_floats(m, 0, 0);
	const uint8_t *imgs = g + 24, *labels = imgs + (size_t)n * per;
	const uint8_t *p = labels + n;
	struct tensor *ts = calloc((size_t)nt, sizeof(*ts));
	for (int i = 0; i < nt; i++) {
		memcpy(ts[i].name, p, 32);
		ts[i].exit = (int)rd32(p + 32), ts[i].pos = (int)rd32(p + 36), ts[i].fpi = (int)rd32(p + 40);
		ts[i].data = malloc((size_t)n * ts[i].fpi * sizeof(float));
		memcpy(ts[i].data, p + 44, (size_t)n * ts[i].fpi * sizeof(float));
		p += 44 + (size_t)n * ts[i].fpi * sizeof(float);
		if ((size_t)(p - g) > glen || ts[i].exit >= m->n_exits || ts[i].pos > m->exit_len[ts[i].exit] ||
		    (size_t)ts[i].fpi != cr_model_boundary_floats(m, ts[i].exit, ts[i].pos)) {
			fprintf(stderr, "%s: tensor %d does not fit the model\n", gpath, i);
			return 1;
		}
	}
	if (want_n > 0 && want_n < n)
		n = want_n;
	float *input = th_alloc((size_t)n * per * sizeof(float));
	cr_model_normalize(m, imgs, input, n);

	int correct_ref[CR_MODEL_MAX_EXITS] = {0};
	for (int isa = 0; isa < CK_ISA_COUNT; isa++) {
		const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
		if (!k)
			continue;
		struct cr_exec *x;
		TH_CHECK(cr_exec_create(m, k, n, &x) == 0, "executor for %s", k->name);
		for (int e = 0; e < m->n_exits; e++) {
			/* walk the exit's taps in order, each run continuing from the last */
			const float *cur = input;
			int at = 0;
			for (;;) {
				struct tensor *t = NULL;
				for (int i = 0; i < nt; i++)
					if (ts[i].exit == e && ts[i].pos > at && (!t || ts[i].pos < t->pos))
						t = &ts[i];
				if (!t)
					break;
				const float *out;
				TH_CHECK(cr_exec_run(x, e, at, t->pos, cur, n, &out) == 0, "run");
				size_t cnt = (size_t)n * t->fpi;
				double ne = th_nerr(t->data, out, cnt);
				int is_logits = t->pos == m->exit_len[e];
				TH_CHECK(ne <= (is_logits ? LOGIT_TOL : TAP_TOL),
					 "%s: %s (exit %d pos %d) normalised error %.3g", k->name, t->name, e + 1,
					 t->pos, ne);
				if (is_logits) {
					for (int j = 0; j < n; j++) {
						const float *a = t->data + (size_t)j * t->fpi, *b = out + (size_t)j * t->fpi;
						int ia = 0, ib = 0;
						for (int c = 1; c < t->fpi; c++) {
							ia = a[c] > a[ia] ? c : ia;
							ib = b[c] > b[ib] ? c : ib;
						}
						TH_CHECK(ia == ib, "%s: exit %d image %d argmax %d vs torch %d", k->name,
							 e + 1, j, ib, ia);
						correct_ref[e] += isa == 0 && ia == labels[j];
					}
				}
				printf("%-7s exit %d %-8s pos %2d  nerr %.2e\n", k->name, e + 1, t->name, t->pos, ne);
				cur = out;
				at = t->pos;
			}
		}
		cr_exec_destroy(x);
	}
	for (int e = 0; e < m->n_exits; e++)
		printf("exit %d: %d/%d of the golden images correct\n", e + 1, correct_ref[e], n);
	for (int i = 0; i < nt; i++)
		free(ts[i].data);
	free(ts);
	free(input);
	free(g);
	cr_model_free(m);
	return th_finish("golden");
}
