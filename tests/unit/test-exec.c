/* The executor: any split [0,p) + [p,N) equals the whole run bit for bit (the
 * device/edge contract), batches equal single images, bad arguments are refused
 * and a run allocates nothing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>

#include "coinfer/exec.h"
#include "coinfer/layer-timer.h"
#include "model-builder.h"

static char err[512];

static float *inputs(const struct cr_model *m, int n)
{
	size_t per = cr_model_boundary_floats(m, 0, 0);
	float *x = malloc((size_t)n * per * sizeof(float));
	uint32_t s = 7;
	for (size_t i = 0; i < (size_t)n * per; i++) {
		s = s * 1664525u + 1013904223u;
		x[i] = (float)(s >> 8) / 16777216.0f * 4.0f - 2.0f;
	}
	return x;
}

static void check_splits(const struct cr_model *m, int n)
{
	float *in = inputs(m, n);
	for (int isa = 0; isa < CK_ISA_COUNT; isa++) {
		const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
		if (!k)
			continue;
		struct cr_exec *x;
		cr_assert_eq(cr_exec_create(m, k, n, &x), 0);
		for (int e = 0; e < m->n_exits; e++) {
			int len = m->exit_len[e];
			size_t nout = (size_t)n * m->n_classes;
			const float *out;
			cr_assert_eq(cr_exec_run(x, e, 0, len, in, n, &out), 0);
			float *full = malloc(nout * sizeof(float));
			memcpy(full, out, nout * sizeof(float));
			for (int p = 0; p <= len; p++) {
				const float *mid;
				if (!cr_model_boundary_ok(m, e, p)) {
					/* inside a residual block: the skip would have to travel too */
					cr_expect_eq(cr_exec_run(x, e, 0, p, in, n, &mid), -EINVAL);
					cr_expect_eq(cr_exec_run(x, e, p, len, in, n, &mid), -EINVAL);
					continue;
				}
				cr_assert_eq(cr_exec_run(x, e, 0, p, in, n, &mid), 0);
				/* the head's output travels: copy it out like a device would */
				size_t nmid = (size_t)n * cr_model_boundary_floats(m, e, p);
				float *sent = malloc(nmid * sizeof(float));
				memcpy(sent, mid, nmid * sizeof(float));
				cr_assert_eq(cr_exec_run(x, e, p, len, sent, n, &out), 0);
				cr_expect(memcmp(out, full, nout * sizeof(float)) == 0,
					  "%s exit %d split at %d differs from the whole run", k->name, e + 1, p);
				/* and continuing straight from the executor's own buffer */
				cr_assert_eq(cr_exec_run(x, e, 0, p, in, n, &mid), 0);
				cr_assert_eq(cr_exec_run(x, e, p, len, mid, n, &out), 0);
				cr_expect(memcmp(out, full, nout * sizeof(float)) == 0,
					  "%s exit %d in-buffer split at %d differs", k->name, e + 1, p);
				free(sent);
			}
			free(full);
		}
		cr_exec_destroy(x);
	}
	free(in);
}

Test(exec, tiny_splits_bit_exact)
{
	uint8_t *b;
	size_t len = mb_tiny(&b);
	struct cr_model *m;
	cr_assert_eq(cr_model_parse(b, len, &m, err, sizeof(err)), 0, "%s", err);
	check_splits(m, 5);
	cr_model_free(m);
	free(b);
}

/* Residual blocks: the skip operand is kept aside while the block runs, also
 * when the run starts from the executor's own buffer holding it. */
Test(exec, residual_splits_bit_exact)
{
	uint8_t *b;
	size_t len = mb_residual(&b);
	struct cr_model *m;
	cr_assert_eq(cr_model_parse(b, len, &m, err, sizeof(err)), 0, "%s", err);
	check_splits(m, 3);
	cr_model_free(m);
	free(b);
}

/* the timeout guards against a hang: sanitized on a loaded host this takes
 * over 100 s */
Test(exec, bundled_splits_bit_exact, .timeout = 600)
{
	struct cr_model *m;
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &m, err,
				   sizeof(err)), 0, "%s", err);
	check_splits(m, 3);
	cr_model_free(m);
}

/* The ResNet-9: every partition point of every exit, one image (its exits cost
 * about three times the AlexNet's). */
Test(exec, bundled_resnet_splits_bit_exact, .timeout = 600)
{
	struct cr_model *m;
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-resnet9.cfm", &m, err,
				   sizeof(err)), 0, "%s", err);
	check_splits(m, 1);
	cr_model_free(m);
}

Test(exec, batch_matches_single_images)
{
	struct cr_model *m;
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &m, err,
				   sizeof(err)), 0, "%s", err);
	const int n = 9;
	float *in = inputs(m, n);
	size_t per = cr_model_boundary_floats(m, 0, 0);
	struct cr_exec *x;
	cr_assert_eq(cr_exec_create(m, NULL, n, &x), 0);
	for (int e = 0; e < m->n_exits; e++) {
		const float *out;
		float batch[9 * 10];
		cr_assert_eq(cr_exec_run(x, e, 0, m->exit_len[e], in, n, &out), 0);
		memcpy(batch, out, sizeof(batch));
		for (int i = 0; i < n; i++) {
			cr_assert_eq(cr_exec_run(x, e, 0, m->exit_len[e], in + i * per, 1, &out), 0);
			for (int c = 0; c < 10; c++)
				cr_expect(fabsf(out[c] - batch[i * 10 + c]) <= 1e-5f * (1 + fabsf(out[c])),
					  "exit %d image %d class %d: %g alone vs %g in batch", e + 1, i, c,
					  out[c], batch[i * 10 + c]);
		}
	}
	cr_exec_destroy(x);
	free(in);
	cr_model_free(m);
}

/* Layer by layer with cr_exec_layer, the skip kept aside by the caller (as the
 * layer timer does, inside residual blocks too): bit-exact with the whole run. */
Test(exec, single_layers_chain_to_the_whole_run)
{
	uint8_t *b;
	size_t len = mb_residual(&b);
	struct cr_model *m;
	struct cr_exec *x;
	cr_assert_eq(cr_model_parse(b, len, &m, err, sizeof(err)), 0, "%s", err);
	const int n = 2, e = 1, last = m->exit_len[e];
	float *in = inputs(m, n), *cur = malloc(n * 4 * 8 * 8 * sizeof(float));
	float *skip = malloc(n * 4 * 8 * 8 * sizeof(float)), *whole = malloc(n * 5 * sizeof(float));
	const float *o;
	cr_assert_eq(cr_exec_create(m, NULL, n, &x), 0);
	cr_assert_eq(cr_exec_run(x, e, 0, last, in, n, &o), 0);
	memcpy(whole, o, n * 5 * sizeof(float));
	memcpy(cur, in, n * cr_model_boundary_floats(m, e, 0) * sizeof(float));
	for (int pos = 0; pos < last; pos++) {
		size_t bytes = n * cr_model_boundary_floats(m, e, pos) * sizeof(float);
		if (cr_model_feeds_skip(m, e, pos - 1, last))
			memcpy(skip, cur, bytes);
		int is_add = m->exit_skip[e][pos] != CR_NO_SKIP;
		cr_expect_eq(cr_exec_layer(x, e, pos, cur, is_add ? NULL : skip, n, &o), -EINVAL,
			     "pos %d: a skip operand where there is none, or none for an add", pos);
		cr_assert_eq(cr_exec_layer(x, e, pos, cur, is_add ? skip : NULL, n, &o), 0);
		memcpy(cur, o, n * cr_model_boundary_floats(m, e, pos + 1) * sizeof(float));
	}
	cr_expect(memcmp(cur, whole, n * 5 * sizeof(float)) == 0);
	struct cr_timer *t;
	struct cr_layer_time lt[CR_MODEL_MAX_EXIT_LAYERS];
	cr_assert_eq(cr_timer_create(m, x, n, CR_TIMER_MIN_RUNS, &t), 0);
	cr_expect_eq(cr_timer_run(t, e, in, n, 1, CR_TIMER_MIN_RUNS, lt), 0);
	cr_timer_destroy(t);
	cr_exec_destroy(x);
	free(in);
	free(cur);
	free(skip);
	free(whole);
	cr_model_free(m);
	free(b);
}

/* out = x + V softmax(scale Q^T K)^T for one image, in double, from the
 * stacked weights as the file holds them. */
static void naive_attn(const struct cr_layer *L, const float *x, double *out)
{
	const int c = L->in_c, n = L->in_h * L->in_w, d = L->d.attn.dqk;
	double *proj = calloc((size_t)(2 * d + c) * n, sizeof(double)), s[64];
	for (int r = 0; r < 2 * d + c; r++)
		for (int i = 0; i < n; i++) {
			double acc = L->b[r];
			for (int k = 0; k < c; k++)
				acc += (double)L->w[r * c + k] * x[k * n + i];
			proj[r * n + i] = acc;
		}
	for (int i = 0; i < n; i++) {
		double mx = -1e300, sum = 0;
		for (int j = 0; j < n; j++) {
			s[j] = 0;
			for (int r = 0; r < d; r++)
				s[j] += proj[r * n + i] * proj[(d + r) * n + j];
			s[j] *= L->d.attn.scale;
			mx = s[j] > mx ? s[j] : mx;
		}
		for (int j = 0; j < n; j++)
			sum += (s[j] = exp(s[j] - mx));
		for (int ch = 0; ch < c; ch++) {
			double acc = 0;
			for (int j = 0; j < n; j++)
				acc += proj[(2 * d + ch) * n + j] * s[j] / sum;
			out[ch * n + i] = x[ch * n + i] + acc;
		}
	}
	free(proj);
}

/* The attention layer reads its stacked weights as model.h says: against a
 * naive attention on the executor's own conv output, at every level. */
Test(exec, attention_layer)
{
	uint8_t *b;
	size_t len = mb_attn(&b);
	struct cr_model *m;
	cr_assert_eq(cr_model_parse(b, len, &m, err, sizeof(err)), 0, "%s", err);
	const int n = 3;
	float *in = inputs(m, n);
	const struct cr_layer *L = &m->layers[1];
	size_t per = (size_t)L->in_c * L->in_h * L->in_w;
	cr_assert_eq(per, 240);
	float *conv = malloc(n * per * sizeof(float));
	double *want = malloc(per * sizeof(double));
	for (int isa = 0; isa < CK_ISA_COUNT; isa++) {
		const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
		struct cr_exec *x;
		const float *out;
		if (!k)
			continue;
		cr_assert_eq(cr_exec_create(m, k, n, &x), 0);
		cr_assert_eq(cr_exec_run(x, 0, 0, 1, in, n, &out), 0);
		memcpy(conv, out, n * per * sizeof(float));
		cr_assert_eq(cr_exec_run(x, 0, 1, 2, conv, n, &out), 0);
		for (int i = 0; i < n; i++) {
			naive_attn(L, conv + i * per, want);
			double worst = 0, big = 0;
			for (size_t j = 0; j < per; j++) {
				worst = fmax(worst, fabs(out[i * per + j] - want[j]));
				big = fmax(big, fabs(want[j]));
			}
			cr_expect(worst <= 1e-5 * big, "%s image %d: error %g of %g", k->name, i,
				  worst, big);
		}
		cr_exec_destroy(x);
	}
	check_splits(m, n);
	free(conv);
	free(want);
	free(in);
	cr_model_free(m);
	free(b);
}

Test(exec, refuses_bad_arguments)
{
	uint8_t *b;
	size_t len = mb_tiny(&b);
	struct cr_model *m;
	struct cr_exec *x;
	cr_assert_eq(cr_model_parse(b, len, &m, err, sizeof(err)), 0);
	cr_expect_eq(cr_exec_create(m, NULL, 0, &x), -EINVAL);
	cr_assert_eq(cr_exec_create(m, NULL, 4, &x), 0);
	float in[4 * 192] = {0};
	const float *out;
	cr_expect_eq(cr_exec_run(x, -1, 0, 1, in, 1, &out), -EINVAL);
	cr_expect_eq(cr_exec_run(x, 2, 0, 1, in, 1, &out), -EINVAL);
	cr_expect_eq(cr_exec_run(x, 0, 3, 2, in, 1, &out), -EINVAL);
	cr_expect_eq(cr_exec_run(x, 0, 0, 7, in, 1, &out), -EINVAL);
	cr_expect_eq(cr_exec_run(x, 0, 0, 6, in, 5, &out), -EINVAL);
	cr_expect_eq(cr_exec_run(x, 0, 0, 6, in, 0, &out), -EINVAL);
	cr_expect_eq(cr_exec_run(x, 0, 0, 6, NULL, 1, &out), -EINVAL);
	cr_expect_eq(cr_exec_run(x, 0, 2, 2, in, 1, &out), 0);
	cr_expect_eq(out, in);
	cr_exec_destroy(x);
	cr_model_free(m);
	free(b);
}

Test(exec, runs_allocate_nothing)
{
	struct cr_model *m;
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &m, err,
				   sizeof(err)), 0, "%s", err);
	struct cr_exec *x;
	float *in = inputs(m, 8);
	cr_assert_eq(cr_exec_create(m, NULL, 8, &x), 0);
	const float *out;
	cr_exec_run(x, 2, 0, m->exit_len[2], in, 8, &out);
	struct mallinfo2 before = mallinfo2();
	for (int i = 0; i < 20; i++)
		for (int e = 0; e < m->n_exits; e++)
			cr_exec_run(x, e, 0, m->exit_len[e], in, 1 + i % 8, &out);
	struct mallinfo2 after = mallinfo2();
	cr_expect_eq(after.uordblks, before.uordblks, "runs changed the heap: %zu -> %zu bytes",
		     before.uordblks, after.uordblks);
	cr_exec_destroy(x);
	free(in);
	cr_model_free(m);
}
