/* Network plumbing and optimisation: batch independence of the forward pass,
 * cloning and copying, Polyak averaging, Adam against a double-precision
 * reference (with and without clipping), argument checks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "coinfer/policy-nn.h"

Test(mlp, row_independent_of_batch)
{
	struct pol_rng r;
	struct pol_mlp *m;
	pol_rng_seed(&r, 1);
	int sizes[] = {12, 128, 128, 240};
	cr_assert_eq(pol_mlp_create(sizes, 4, 16, &r, &m), 0);
	cr_expect_eq(m->n_params, 12 * 128 + 128 + 128 * 128 + 128 + 128 * 240 + 240);
	float x[16 * 12], one[240], all[16 * 240];
	for (int i = 0; i < 16 * 12; i++)
		x[i] = pol_rng_normal(&r);
	const float *y;
	cr_assert_eq(pol_mlp_forward(m, x, 16, &y), 0);
	memcpy(all, y, sizeof(all));
	for (int row = 0; row < 16; row++) {
		cr_assert_eq(pol_mlp_forward(m, x + row * 12, 1, &y), 0);
		memcpy(one, y, sizeof(one));
		cr_expect(!memcmp(one, all + row * 240, sizeof(one)), "row %d differs alone", row);
	}
	cr_expect_eq(pol_mlp_forward(m, x, 17, &y), -EINVAL);
	cr_expect_eq(pol_mlp_forward(m, x, 0, &y), -EINVAL);
	pol_mlp_free(m);
}

Test(mlp, create_checks_and_init)
{
	struct pol_rng r;
	struct pol_mlp *m;
	pol_rng_seed(&r, 2);
	cr_expect_eq(pol_mlp_create((int[]){4}, 1, 1, &r, &m), -EINVAL);
	cr_expect_eq(pol_mlp_create((int[]){4, 0}, 2, 1, &r, &m), -EINVAL);
	cr_expect_eq(pol_mlp_create((int[]){4, 5}, 2, 0, &r, &m), -EINVAL);
	cr_expect_eq(pol_mlp_create((int[]){4, 5}, 2, 1, NULL, &m), -EINVAL);
	cr_expect_eq(pol_mlp_create((int[]){4096, 4096, 4096}, 3, 1, &r, &m), -E2BIG);
	cr_assert_eq(pol_mlp_create((int[]){100, 400, 50}, 3, 1, &r, &m), 0);
	/* He init in the hidden layer: variance 2 / fan_in; biases zero */
	double s2 = 0;
	for (int i = 0; i < 100 * 400; i++)
		s2 += (double)m->w[0][i] * m->w[0][i];
	cr_expect(fabs(s2 / (100 * 400) - 0.02) < 0.002, "hidden variance %g", s2 / 40000);
	for (int i = 0; i < 400; i++)
		cr_expect_eq(m->b[0][i], 0.0f);
	double mx = 0;
	for (int i = 0; i < 400 * 50; i++)
		mx = fabs(m->w[1][i]) > mx ? fabs(m->w[1][i]) : mx;
	cr_expect(mx <= sqrt(6.0 / 450) && mx > 0.9 * sqrt(6.0 / 450), "Glorot bound %g", mx);
	pol_mlp_free(m);
}

Test(mlp, clone_copy_polyak)
{
	struct pol_rng r;
	struct pol_mlp *a, *b, *c, *d;
	pol_rng_seed(&r, 3);
	cr_assert_eq(pol_mlp_create((int[]){3, 8, 4}, 3, 2, &r, &a), 0);
	cr_assert_eq(pol_mlp_create((int[]){3, 8, 4}, 3, 2, &r, &b), 0);
	cr_assert_eq(pol_mlp_create((int[]){3, 9, 4}, 3, 2, &r, &d), 0);
	cr_assert_eq(pol_mlp_clone(a, 5, &c), 0);
	cr_expect_eq(c->max_batch, 5);
	cr_expect(!memcmp(a->params, c->params, a->n_params * sizeof(float)));
	float *t0 = malloc(a->n_params * sizeof(float));
	memcpy(t0, c->params, a->n_params * sizeof(float));
	cr_assert_eq(pol_mlp_polyak(c, b, 0.25f), 0);
	for (size_t i = 0; i < a->n_params; i++)
		cr_expect_eq(c->params[i], t0[i] + 0.25f * (b->params[i] - t0[i]));
	cr_assert_eq(pol_mlp_polyak(c, b, 1.0f), 0);
	cr_expect(!memcmp(b->params, c->params, a->n_params * sizeof(float)), "tau 1 copies exactly");
	cr_expect_eq(pol_mlp_polyak(c, d, 0.5f), -EINVAL);
	cr_expect_eq(pol_mlp_polyak(c, b, 1.5f), -EINVAL);
	cr_expect_eq(pol_mlp_copy_params(c, d), -EINVAL);
	cr_expect_eq(pol_mlp_copy_params(c, a), 0);
	cr_expect(!memcmp(a->params, c->params, a->n_params * sizeof(float)));
	free(t0);
	pol_mlp_free(a), pol_mlp_free(b), pol_mlp_free(c), pol_mlp_free(d);
}

/* Adam from the paper, in double. */
static void ref_adam(double *p, const double *g, double *m, double *v, int n, int t, double lr,
		     double clip)
{
	double norm = 0, scale = 1;
	for (int i = 0; i < n; i++)
		norm += g[i] * g[i];
	norm = sqrt(norm);
	if (clip > 0 && norm > clip)
		scale = clip / norm;
	for (int i = 0; i < n; i++) {
		double gi = g[i] * scale;
		m[i] = 0.9 * m[i] + 0.1 * gi;
		v[i] = 0.999 * v[i] + 0.001 * gi * gi;
		double mh = m[i] / (1 - pow(0.9, t)), vh = v[i] / (1 - pow(0.999, t));
		p[i] -= lr * mh / (sqrt(vh) + 1e-8);
	}
}

static void adam_vs_reference(float clip)
{
	enum { N = 37, STEPS = 200 };
	struct pol_adam a;
	struct pol_adam_cfg cfg = pol_adam_defaults(0.01f);
	cfg.clip_norm = clip;
	cr_assert_eq(pol_adam_init(&a, N, &cfg), 0);
	float p[N], g[N];
	double pd[N], gd[N], m[N] = {0}, v[N] = {0};
	for (int i = 0; i < N; i++)
		p[i] = (float)(pd[i] = i * 0.1 - 1.55); /* none at the optimum, where Adam turns rounding noise into full steps */
	for (int t = 1; t <= STEPS; t++) {
		/* gradient of sum (i+1) (p_i - 0.3)^2: a badly scaled quadratic */
		for (int i = 0; i < N; i++) {
			g[i] = 2.0f * (i + 1) * (p[i] - 0.3f);
			gd[i] = 2.0 * (i + 1) * (pd[i] - 0.3);
		}
		float norm;
		pol_adam_step(&a, p, g, &norm);
		cr_expect(fabs(norm - pol_l2norm(g, N)) <= 1e-5 * norm);
		ref_adam(pd, gd, m, v, N, t, 0.01, clip);
	}
	for (int i = 0; i < N; i++)
		cr_expect(fabs(p[i] - pd[i]) < 1e-4, "param %d: %g vs reference %g", i, p[i], pd[i]);
	cr_expect_eq(a.t, (uint64_t)STEPS);
	pol_adam_free(&a);
}

Test(adam, matches_reference)
{
	adam_vs_reference(0.0f);
}

Test(adam, clipping_matches_reference)
{
	adam_vs_reference(1.0f);
}

Test(adam, converges_and_checks_config)
{
	struct pol_adam a;
	struct pol_adam_cfg cfg = pol_adam_defaults(0.05f);
	float p[2] = {3, -2}, g[2];
	cr_assert_eq(pol_adam_init(&a, 2, &cfg), 0);
	for (int t = 0; t < 2000; t++) {
		g[0] = 2 * (p[0] - 1), g[1] = 20 * (p[1] + 0.5f);
		pol_adam_step(&a, p, g, NULL);
	}
	cr_expect(fabs(p[0] - 1) < 1e-2 && fabs(p[1] + 0.5) < 1e-2, "%g %g", p[0], p[1]);
	pol_adam_free(&a);
	cfg.beta1 = 1.0f;
	cr_expect_eq(pol_adam_init(&a, 2, &cfg), -EINVAL);
	cfg = pol_adam_defaults(0.0f);
	cr_expect_eq(pol_adam_init(&a, 2, &cfg), -EINVAL);
}
