/* Finite-difference gradient checks of every layer and loss: dense layer, ReLU
 * network (parameters and input), masked softmax / log-softmax, the SAC-d critic,
 * actor and temperature losses and the double-DQN Huber loss. The numeric side is
 * a double-precision reference written from the definitions (gradcheck.h states
 * the tolerance); every check also proves it would catch a gradient 1% off in its
 * largest component, and one checks a mask bug is caught. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "coinfer/policy-learn.h"
#include "gradcheck.h"

static void expect_grad(const char *what, const float *analytic, const double *numeric, size_t n)
{
	size_t w = 0;
	double e = gc_err(analytic, numeric, n, &w);
	cr_expect(e <= GC_TOL, "%s: relative error %.3g at component %zu (analytic %.8g, numeric %.8g)",
		  what, e, w, analytic[w], numeric[w]);
	float *bad = malloc(sizeof(float) * n);
	memcpy(bad, analytic, sizeof(float) * n);
	size_t k = gc_argmax_abs(numeric, n);
	bad[k] *= 1.01f;
	double eb = gc_err(bad, numeric, n, NULL);
	cr_expect(eb > GC_TOL, "%s: a 1%% error in component %zu went undetected (%.3g)", what, k, eb);
	free(bad);
}

static void fill(struct pol_rng *r, float *x, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = lo + (hi - lo) * pol_rng_uniform(r);
}

/* ---- MLP ------------------------------------------------------------------- */

/* L = sum c .* y for fixed random c: dL/dy = c. */
static void check_mlp(const int *sizes, int ns, int n, uint64_t seed)
{
	struct pol_rng rng;
	struct pol_mlp *m;
	pol_rng_seed(&rng, seed);
	cr_assert_eq(pol_mlp_create(sizes, ns, n, &rng, &m), 0);
	/* biases away from zero so that ReLU units are a mix of on and off */
	for (int l = 0; l < m->n_layers; l++)
		fill(&rng, m->b[l], (size_t)m->sizes[l + 1], -0.3f, 0.3f);
	int in = sizes[0], out = sizes[ns - 1];
	float *x = malloc(sizeof(float) * n * in), *c = malloc(sizeof(float) * n * out);
	float *dx = malloc(sizeof(float) * n * in);
	fill(&rng, x, (size_t)n * in, -1, 1);
	fill(&rng, c, (size_t)n * out, -1, 1);
	const float *y;
	cr_assert_eq(pol_mlp_forward(m, x, n, &y), 0);
	pol_mlp_zero_grad(m);
	cr_assert_eq(pol_mlp_backward(m, c, dx), 0);

	double *p = to_double(m->params, m->n_params), *xd = to_double(x, (size_t)n * in);
	double *yd = malloc(sizeof(double) * n * out);
	/* the float forward agrees with the reference */
	ref_forward(m, p, xd, n, yd);
	for (int i = 0; i < n * out; i++)
		cr_expect(fabs(yd[i] - y[i]) <= 1e-5 * (1 + fabs(yd[i])), "output %d: %g vs %g", i, y[i], yd[i]);

	double *num = malloc(sizeof(double) * m->n_params);
	for (size_t k = 0; k < m->n_params; k++) {
		double v = p[k], lp = 0, lm = 0;
		p[k] = v + GC_H;
		ref_forward(m, p, xd, n, yd);
		for (int i = 0; i < n * out; i++)
			lp += c[i] * yd[i];
		p[k] = v - GC_H;
		ref_forward(m, p, xd, n, yd);
		for (int i = 0; i < n * out; i++)
			lm += c[i] * yd[i];
		p[k] = v;
		num[k] = (lp - lm) / (2 * GC_H);
	}
	char what[64];
	snprintf(what, sizeof(what), "mlp %d layers: parameters", m->n_layers);
	expect_grad(what, m->grads, num, m->n_params);

	double *numx = malloc(sizeof(double) * n * in);
	for (int k = 0; k < n * in; k++) {
		double v = xd[k], lp = 0, lm = 0;
		xd[k] = v + GC_H;
		ref_forward(m, p, xd, n, yd);
		for (int i = 0; i < n * out; i++)
			lp += c[i] * yd[i];
		xd[k] = v - GC_H;
		ref_forward(m, p, xd, n, yd);
		for (int i = 0; i < n * out; i++)
			lm += c[i] * yd[i];
		xd[k] = v;
		numx[k] = (lp - lm) / (2 * GC_H);
	}
	snprintf(what, sizeof(what), "mlp %d layers: input", m->n_layers);
	expect_grad(what, dx, numx, (size_t)n * in);

	/* backward adds: a second call doubles the gradient (up to rounding) */
	float *g1 = malloc(sizeof(float) * m->n_params);
	memcpy(g1, m->grads, sizeof(float) * m->n_params);
	pol_mlp_backward(m, c, NULL);
	for (size_t k = 0; k < m->n_params; k++)
		cr_expect(fabsf(m->grads[k] - 2 * g1[k]) <= 1e-5f * (1 + fabsf(g1[k])), "grad %zu", k);
	free(g1), free(num), free(numx), free(p), free(xd), free(yd), free(x), free(c), free(dx);
	pol_mlp_free(m);
}

Test(grad, dense_layer)
{
	/* one dense layer, linear output: no ReLU involved */
	check_mlp((int[]){7, 5}, 2, 4, 11);
	check_mlp((int[]){3, 40}, 2, 3, 12); /* wider than a 32-output tile, odd tail */
}

Test(grad, relu_mlp)
{
	check_mlp((int[]){5, 16, 16, 12}, 4, 6, 21);
	check_mlp((int[]){12, 37, 33, 1}, 4, 3, 22);
	check_mlp((int[]){2, 9, 8, 7, 6}, 5, 5, 23);
}

/* ---- masked softmax -------------------------------------------------------- */

Test(grad, masked_softmax)
{
	enum { N = 12 };
	struct pol_rng rng;
	pol_rng_seed(&rng, 3);
	uint8_t mask[N] = {1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1};
	float z[N], c[N], d[N], p[N], lp[N], dz[N];
	fill(&rng, z, N, -3, 3);
	fill(&rng, c, N, -1, 1);
	fill(&rng, d, N, -1, 1); /* nonzero on masked entries too: they must not count */
	cr_assert_eq(pol_softmax_masked(z, mask, N, p, lp), 8);
	/* L = sum c p + sum d logp, over valid entries by definition */
	float dp[N], dl[N];
	for (int i = 0; i < N; i++)
		dp[i] = c[i], dl[i] = d[i];
	pol_softmax_masked_backward(p, mask, N, dp, dl, dz);
	double zd[N], pd[N], lpd[N], num[N];
	for (int i = 0; i < N; i++)
		zd[i] = z[i];
	for (int k = 0; k < N; k++) {
		double v = zd[k], l[2];
		for (int s = 0; s < 2; s++) {
			zd[k] = v + (s ? -GC_H : GC_H);
			ref_softmax(zd, mask, N, pd, lpd);
			l[s] = 0;
			for (int i = 0; i < N; i++)
				if (mask[i])
					l[s] += c[i] * pd[i] + d[i] * lpd[i];
		}
		zd[k] = v;
		num[k] = (l[0] - l[1]) / (2 * GC_H);
	}
	expect_grad("masked softmax + log-softmax", dz, num, N);
	for (int i = 0; i < N; i++)
		if (!mask[i]) {
			cr_expect(p[i] == 0.0f && lp[i] == 0.0f && dz[i] == 0.0f, "masked entry %d", i);
			cr_expect(num[i] == 0.0);
		}
	/* each path alone */
	pol_softmax_masked_backward(p, mask, N, dp, NULL, dz);
	for (int k = 0; k < N; k++) {
		double v = zd[k], l[2];
		for (int s = 0; s < 2; s++) {
			zd[k] = v + (s ? -GC_H : GC_H);
			ref_softmax(zd, mask, N, pd, lpd);
			l[s] = 0;
			for (int i = 0; i < N; i++)
				l[s] += c[i] * pd[i];
		}
		zd[k] = v;
		num[k] = (l[0] - l[1]) / (2 * GC_H);
	}
	expect_grad("masked softmax", dz, num, N);
}

Test(softmax, stable_and_exact)
{
	float z[5] = {1e30f, -1e30f, 88.0f, 1e30f, -3.0f}, p[5], lp[5];
	uint8_t mask[5] = {1, 1, 1, 1, 0};
	cr_assert_eq(pol_softmax_masked(z, mask, 5, p, lp), 4);
	cr_expect_float_eq(p[0], 0.5f, 1e-6);
	cr_expect_float_eq(p[3], 0.5f, 1e-6);
	cr_expect(p[1] == 0.0f && p[2] == 0.0f && p[4] == 0.0f);
	cr_expect(isfinite(lp[1]) && lp[4] == 0.0f);
	uint8_t none[5] = {0};
	cr_expect_eq(pol_softmax_masked(z, none, 5, p, lp), -EINVAL);
	int a;
	cr_expect_eq(pol_argmax_masked(z, none, 5, &a), -EINVAL);
	cr_expect_eq(pol_argmax_masked(z, mask, 5, &a), 0);
	cr_expect_eq(a, 0, "ties go to the lowest index");
	uint8_t only4[5] = {0, 0, 0, 0, 1};
	cr_expect_eq(pol_softmax_masked(z, only4, 5, p, lp), 1);
	cr_expect(p[4] == 1.0f && lp[4] == 0.0f);
}

/* ---- agents: a batch with every case --------------------------------------- */

enum { SD = 5, NA = 12, NB = 8 };

static struct pol_batch *make_batch(uint64_t seed)
{
	struct pol_batch *b;
	struct pol_rng rng;
	pol_rng_seed(&rng, seed);
	cr_assert_eq(pol_batch_create(NB, SD, NA, &b), 0);
	b->n = NB;
	fill(&rng, b->s, NB * SD, -1, 1);
	fill(&rng, b->s2, NB * SD, -1, 1);
	fill(&rng, b->r, NB, -2, 2);
	for (int i = 0; i < NB; i++) {
		uint8_t *m = b->mask + i * NA, *m2 = b->mask2 + i * NA;
		for (int a = 0; a < NA; a++) {
			m[a] = pol_rng_uniform(&rng) < 0.6f;
			m2[a] = pol_rng_uniform(&rng) < 0.6f;
		}
		b->a[i] = (int32_t)pol_rng_below(&rng, NA);
		m[b->a[i]] = 1;
		m2[(i * 5) % NA] = 1;
		b->done[i] = 0;
	}
	b->done[2] = 1; /* terminal: no bootstrap, no valid next action needed */
	memset(b->mask2 + 2 * NA, 0, NA);
	b->done[5] = 1; /* terminal with valid next actions: still no bootstrap */
	memset(b->mask2 + 6 * NA, 0, NA); /* a single valid next action */
	b->mask2[6 * NA + 3] = 1;
	memset(b->mask + 7 * NA, 0, NA); /* a single valid action now */
	b->mask[7 * NA + b->a[7]] = 1;
	return b;
}

static double *net_params(struct pol_mlp *m)
{
	return to_double(m->params, m->n_params);
}

/* Reference row-min of two Q tables. */
static double dmin(double a, double b)
{
	return a < b ? a : b;
}

/* y of the SAC-d critic, from the definition. */
static void ref_sacd_y(struct pol_sacd *ag, const struct pol_batch *b, double gamma, double alpha,
		       double *y)
{
	struct pol_mlp *A = pol_sacd_net(ag, POL_SACD_ACTOR), *T1 = pol_sacd_net(ag, POL_SACD_Q1_TARGET),
		       *T2 = pol_sacd_net(ag, POL_SACD_Q2_TARGET);
	double *pa = net_params(A), *p1 = net_params(T1), *p2 = net_params(T2);
	double *s2 = to_double(b->s2, NB * SD), z[NB * NA], q1[NB * NA], q2[NB * NA], p[NA], lp[NA];
	ref_forward(A, pa, s2, NB, z);
	ref_forward(T1, p1, s2, NB, q1);
	ref_forward(T2, p2, s2, NB, q2);
	for (int i = 0; i < NB; i++) {
		double v = 0;
		if (!b->done[i]) {
			ref_softmax(z + i * NA, b->mask2 + i * NA, NA, p, lp);
			for (int a = 0; a < NA; a++)
				if (b->mask2[i * NA + a])
					v += p[a] * (dmin(q1[i * NA + a], q2[i * NA + a]) - alpha * lp[a]);
		}
		y[i] = b->r[i] + gamma * v;
	}
	free(pa), free(p1), free(p2), free(s2);
}

static double ref_critic(struct pol_mlp *Q, const double *p, const struct pol_batch *b,
			 const double *y)
{
	double *s = to_double(b->s, NB * SD), q[NB * NA], l = 0;
	ref_forward(Q, p, s, NB, q);
	for (int i = 0; i < NB; i++) {
		double d = q[i * NA + b->a[i]] - y[i];
		l += 0.5 * d * d;
	}
	free(s);
	return l / NB;
}

static struct pol_sacd *small_sacd(float alpha)
{
	struct pol_sacd_cfg c = pol_sacd_defaults(SD, NA);
	c.hidden[0] = 16, c.hidden[1] = 16, c.batch = NB, c.init_alpha = alpha, c.gamma = 0.9f;
	c.seed = 5;
	struct pol_sacd *ag;
	char err[256];
	cr_assert_eq(pol_sacd_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
	/* targets that differ from the online critics, biases that mix ReLU states */
	struct pol_rng rng;
	pol_rng_seed(&rng, 99);
	for (int k = POL_SACD_ACTOR; k <= POL_SACD_Q2_TARGET; k++) {
		struct pol_mlp *m = pol_sacd_net(ag, (enum pol_sacd_net)k);
		for (size_t i = 0; i < m->n_params; i++)
			m->params[i] += 0.1f * pol_rng_normal(&rng);
	}
	return ag;
}

Test(grad, sacd_critic)
{
	struct pol_batch *b = make_batch(41);
	struct pol_sacd *ag = small_sacd(0.7f);
	float loss;
	cr_assert_eq(pol_sacd_critic_loss(ag, b, &loss), 0);
	double y[NB], alpha = exp((double)pol_sacd_log_alpha(ag));
	ref_sacd_y(ag, b, 0.9, alpha, y);
	double ref = 0;
	for (int k = POL_SACD_Q1; k <= POL_SACD_Q2; k++) {
		struct pol_mlp *Q = pol_sacd_net(ag, (enum pol_sacd_net)k);
		double *p = net_params(Q), *num = calloc(Q->n_params, sizeof(double));
		ref += ref_critic(Q, p, b, y);
		for (size_t j = 0; j < Q->n_params; j++) {
			double v = p[j];
			p[j] = v + GC_H;
			double lp = ref_critic(Q, p, b, y);
			p[j] = v - GC_H;
			double lm = ref_critic(Q, p, b, y);
			p[j] = v;
			num[j] = (lp - lm) / (2 * GC_H);
		}
		expect_grad(k == POL_SACD_Q1 ? "sacd critic Q1" : "sacd critic Q2", Q->grads, num,
			    Q->n_params);
		free(p), free(num);
	}
	cr_expect(fabs(loss - ref) <= 1e-4 * fabs(ref), "critic loss %g, reference %g", loss, ref);
	pol_sacd_free(ag);
	pol_batch_free(b);
}

/* Actor loss from the definition; mask = 0 drops the action mask (a bug the
 * check must notice). */
static double ref_actor(struct pol_sacd *ag, const double *pa, const struct pol_batch *b,
			double alpha, int use_mask)
{
	struct pol_mlp *A = pol_sacd_net(ag, POL_SACD_ACTOR), *Q1 = pol_sacd_net(ag, POL_SACD_Q1),
		       *Q2 = pol_sacd_net(ag, POL_SACD_Q2);
	double *p1 = net_params(Q1), *p2 = net_params(Q2), *s = to_double(b->s, NB * SD);
	double z[NB * NA], q1[NB * NA], q2[NB * NA], p[NA], lp[NA], l = 0;
	ref_forward(A, pa, s, NB, z);
	ref_forward(Q1, p1, s, NB, q1);
	ref_forward(Q2, p2, s, NB, q2);
	for (int i = 0; i < NB; i++) {
		const uint8_t *m = use_mask ? b->mask + i * NA : NULL;
		ref_softmax(z + i * NA, m, NA, p, lp);
		for (int a = 0; a < NA; a++)
			if (!m || m[a])
				l += p[a] * (alpha * lp[a] - dmin(q1[i * NA + a], q2[i * NA + a]));
	}
	free(p1), free(p2), free(s);
	return l / NB;
}

Test(grad, sacd_actor)
{
	struct pol_batch *b = make_batch(42);
	struct pol_sacd *ag = small_sacd(0.4f);
	struct pol_mlp *A = pol_sacd_net(ag, POL_SACD_ACTOR);
	float loss;
	cr_assert_eq(pol_sacd_actor_loss(ag, b, &loss, NULL, NULL), 0);
	double alpha = exp((double)pol_sacd_log_alpha(ag));
	double *p = net_params(A), *num = calloc(A->n_params, sizeof(double));
	double ref = ref_actor(ag, p, b, alpha, 1);
	cr_expect(fabs(loss - ref) <= 1e-4 * (1 + fabs(ref)), "actor loss %g, reference %g", loss, ref);
	for (int use_mask = 1; use_mask >= 0; use_mask--) {
		for (size_t j = 0; j < A->n_params; j++) {
			double v = p[j];
			p[j] = v + GC_H;
			double lp = ref_actor(ag, p, b, alpha, use_mask);
			p[j] = v - GC_H;
			double lm = ref_actor(ag, p, b, alpha, use_mask);
			p[j] = v;
			num[j] = (lp - lm) / (2 * GC_H);
		}
		if (use_mask) {
			expect_grad("sacd actor", A->grads, num, A->n_params);
		} else {
			double e = gc_err(A->grads, num, A->n_params, NULL);
			cr_expect(e > GC_TOL, "the check cannot tell a masked from an unmasked actor (%.3g)", e);
		}
	}
	free(p), free(num);
	pol_sacd_free(ag);
	pol_batch_free(b);
}

static double ref_alpha_loss(struct pol_sacd *ag, const struct pol_batch *b, double log_alpha,
			     double ratio)
{
	struct pol_mlp *A = pol_sacd_net(ag, POL_SACD_ACTOR);
	double *pa = net_params(A), *s = to_double(b->s, NB * SD), z[NB * NA], p[NA], lp[NA], gap = 0;
	ref_forward(A, pa, s, NB, z);
	for (int i = 0; i < NB; i++) {
		ref_softmax(z + i * NA, b->mask + i * NA, NA, p, lp);
		double h = 0;
		int valid = 0;
		for (int a = 0; a < NA; a++)
			if (b->mask[i * NA + a]) {
				h -= p[a] * lp[a];
				valid++;
			}
		gap += ratio * log(valid) - h;
	}
	free(pa), free(s);
	return -log_alpha * gap / NB;
}

Test(grad, sacd_temperature)
{
	struct pol_batch *b = make_batch(43);
	struct pol_sacd *ag = small_sacd(0.3f);
	float loss, aloss, dla;
	cr_assert_eq(pol_sacd_actor_loss(ag, b, &loss, &aloss, &dla), 0);
	double la = pol_sacd_log_alpha(ag), ratio = 0.5; /* the default */
	double num = (ref_alpha_loss(ag, b, la + GC_H, ratio) - ref_alpha_loss(ag, b, la - GC_H, ratio)) /
		     (2 * GC_H);
	expect_grad("sacd temperature", &dla, &num, 1);
	double ref = ref_alpha_loss(ag, b, la, ratio);
	cr_expect(fabs(aloss - ref) <= 1e-4 * (1 + fabs(ref)), "alpha loss %g, reference %g", aloss, ref);
	pol_sacd_free(ag);
	pol_batch_free(b);
}

/* ---- double DQN -------------------------------------------------------------- */

static double huber(double d, double delta)
{
	return fabs(d) <= delta ? 0.5 * d * d : delta * (fabs(d) - 0.5 * delta);
}

Test(grad, dqn_huber)
{
	struct pol_batch *b = make_batch(44);
	struct pol_dqn_cfg c = pol_dqn_defaults(SD, NA);
	c.hidden[0] = 16, c.hidden[1] = 16, c.batch = NB, c.gamma = 0.9f, c.huber_delta = 0.3f;
	struct pol_dqn *ag;
	char err[256];
	cr_assert_eq(pol_dqn_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
	struct pol_mlp *Q = pol_dqn_net(ag, 0), *T = pol_dqn_net(ag, 1);
	struct pol_rng rng;
	pol_rng_seed(&rng, 7);
	for (size_t i = 0; i < T->n_params; i++)
		T->params[i] += 0.2f * pol_rng_normal(&rng);
	float loss;
	cr_assert_eq(pol_dqn_loss(ag, b, &loss), 0);
	/* y: online picks the valid argmax at s2, target evaluates it */
	double *pq = net_params(Q), *pt = net_params(T), *s2 = to_double(b->s2, NB * SD);
	double *s = to_double(b->s, NB * SD), q2[NB * NA], t2[NB * NA], q[NB * NA], y[NB];
	ref_forward(Q, pq, s2, NB, q2);
	ref_forward(T, pt, s2, NB, t2);
	int linear = 0, quadratic = 0;
	for (int i = 0; i < NB; i++) {
		int best = -1;
		for (int a = 0; a < NA; a++)
			if (b->mask2[i * NA + a] && (best < 0 || q2[i * NA + a] > q2[i * NA + best]))
				best = a;
		y[i] = b->r[i] + (b->done[i] ? 0 : 0.9 * t2[i * NA + best]);
	}
	size_t np = Q->n_params;
	double *num = calloc(np, sizeof(double)), ref = 0;
	ref_forward(Q, pq, s, NB, q);
	for (int i = 0; i < NB; i++) {
		double d = q[i * NA + b->a[i]] - y[i];
		ref += huber(d, 0.3) / NB;
		fabs(d) > 0.3 ? linear++ : quadratic++;
	}
	cr_expect(linear > 0 && quadratic > 0, "both Huber regimes exercised (%d linear, %d quadratic)",
		  linear, quadratic);
	cr_expect(fabs(loss - ref) <= 1e-4 * fabs(ref), "dqn loss %g, reference %g", loss, ref);
	for (size_t j = 0; j < np; j++) {
		double v = pq[j], l[2];
		for (int sgn = 0; sgn < 2; sgn++) {
			pq[j] = v + (sgn ? -GC_H : GC_H);
			ref_forward(Q, pq, s, NB, q);
			l[sgn] = 0;
			for (int i = 0; i < NB; i++)
				l[sgn] += huber(q[i * NA + b->a[i]] - y[i], 0.3) / NB;
		}
		pq[j] = v;
		num[j] = (l[0] - l[1]) / (2 * GC_H);
	}
	expect_grad("dqn huber", Q->grads, num, np);
	free(num), free(pq), free(pt), free(s2), free(s);
	pol_dqn_free(ag);
	pol_batch_free(b);
}
