/* Edgent (Li et al. 2018) regressions: least squares recovers known coefficients exactly and
 * reports R^2 as computed by hand; collinear and underdetermined fits are refused;
 * the per-layer-type fit of a profile recovers the models that made it; Table II
 * predictions for known layers equal the hand-computed values (with the clamp at
 * zero and batch scaling). */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cost-profile.h"

static char err[512];

static void near(double got, double want, double rel, const char *what)
{
	double tol = rel * (fabs(want) > 1 ? fabs(want) : 1);
	cr_expect(fabs(got - want) <= tol, "%s: got %.17g, want %.17g", what, got, want);
}

Test(lsq, recovers_two_variables_exactly)
{
	/* bytes-sized x1 (1e3..1e6), a filter-sized x2 and an intercept, as a conv
	 * model sees them: the scales the fit must survive */
	enum { N = 40 };
	double x[N * 2], y[N], c[3], r2 = 0;
	for (int i = 0; i < N; i++) {
		x[2 * i] = 1000.0 * (1 + i * i * 17 % 997);
		x[2 * i + 1] = 9.0 * (16 << (i % 5)) + i;
		y[i] = 6.13e-3 * x[2 * i] + 2.67e-2 * x[2 * i + 1] - 9.909;
	}
	cr_assert_eq(cost_lsq(x, y, N, 2, c, &r2), 0);
	near(c[0], 6.13e-3, 1e-9, "c1");
	near(c[1], 2.67e-2, 1e-9, "c2");
	near(c[2], -9.909, 1e-9, "c0");
	cr_expect(fabs(r2 - 1) < 1e-12, "R^2 of an exact fit is 1, got %.17g", r2);
}

Test(lsq, r2_by_hand)
{
	double x[4] = {1, 2, 3, 4}, y[4] = {2, 1, 4, 3}, c[2], r2;
	/* mean x 2.5, mean y 2.5, Sxy = (-1.5)(-0.5) + (-0.5)(-1.5) + (0.5)(1.5) + (1.5)(0.5)
	 * = 3, Sxx = 5: slope 0.6, intercept 2.5 - 1.5 = 1; residuals 0.4, -1.2, 1.2, -0.4:
	 * RSS 3.2, TSS 5, R^2 = 0.36 */
	cr_assert_eq(cost_lsq(x, y, 4, 1, c, &r2), 0);
	near(c[0], 0.6, 1e-12, "slope");
	near(c[1], 1.0, 1e-12, "intercept");
	near(r2, 0.36, 1e-12, "R^2");
}

Test(lsq, refuses_what_cannot_be_fitted)
{
	double c[3], r2;
	/* pooling layers that all halve height and width: out = in / 4 exactly */
	double x[8] = {1024, 256, 4096, 1024, 65536, 16384, 512, 128}, y[4] = {1, 2, 3, 4};
	cr_expect_eq(cost_lsq(x, y, 4, 2, c, &r2), -EDOM, "x2 = x1 / 4 is collinear");
	double one[2] = {5, 5};
	cr_expect_eq(cost_lsq(one, y, 2, 1, c, &r2), -EDOM, "a constant column duplicates the intercept");
	cr_expect_eq(cost_lsq(x, y, 2, 2, c, &r2), -EINVAL, "2 points, 3 parameters");
	double bad[2] = {1, NAN};
	cr_expect_eq(cost_lsq(bad, y, 2, 1, c, &r2), -EINVAL, "NaN");
}

/* A profile whose layers of each kind have distinct, non-collinear sizes, timed
 * by known linear models at every batch (variables scaled by the batch as
 * cost_regress_fit does). */
static void synthetic_profile(struct cost_profile *p, const struct cost_regression *truth)
{
	static const enum cr_layer_type types[] = {CR_LAYER_CONV, CR_LAYER_RELU, CR_LAYER_MAXPOOL,
						   CR_LAYER_LRN, CR_LAYER_FC, CR_LAYER_FLATTEN,
						   CR_LAYER_AVGPOOL};
	memset(p, 0, sizeof(*p));
	snprintf(p->device_class, sizeof(p->device_class), "synthetic");
	p->n_batches = 3;
	p->batches[0] = 1, p->batches[1] = 4, p->batches[2] = 16;
	p->n_exits = 2;
	int k = 0;
	for (int e = 0; e < 2; e++) {
		p->exits[e].n_layers = 28;
		for (int pos = 0; pos < 28; pos++, k++) {
			struct cost_profile_layer *L = &p->exits[e].layers[pos];
			/* exit 2 repeats exit 1's first 14 layers (a shared trunk) */
			int id = e == 1 && pos < 14 ? pos : k;
			L->pos = pos;
			snprintf(L->name, sizeof(L->name), "l%d", id);
			L->type = types[id % 7];
			L->in_bytes = 4096.0 * (1 + (id * 7) % 13);
			L->out_bytes = L->in_bytes / (1 + id % 3) + 64.0 * id;
			L->x1 = L->in_bytes;
			L->x2 = L->type == CR_LAYER_CONV ? 9.0 * 32 * (1 + id % 4) + id
			      : (L->type == CR_LAYER_FC || L->type == CR_LAYER_MAXPOOL ||
				 L->type == CR_LAYER_AVGPOOL) ? L->out_bytes : 0;
			for (int b = 0; b < p->n_batches; b++)
				L->mean_ms[b] = L->p95_ms[b] = cost_regress_predict(truth, L, p->batches[b]);
		}
	}
}

Test(fit, recovers_every_layer_kind)
{
	/* positive everywhere so the clamp at zero never bites */
	struct cost_regression truth = {.name = "truth"};
	const double co[COST_REG_KINDS][3] = {
		[COST_REG_CONV] = {6e-5, 1.2e-4, 0.19},  [COST_REG_RELU] = {5.6e-6, 0, 0.057},
		[COST_REG_POOL] = {1.6e-5, 4e-6, 0.21},  [COST_REG_LRN] = {6.6e-5, 0, 0.078},
		[COST_REG_DROPOUT] = {5.2e-6, 0, 0.005}, [COST_REG_FC] = {1.1e-4, 2e-5, 0.16},
	};
	for (int k = 0; k < COST_REG_KINDS; k++)
		truth.line[k] = (struct cost_reg_line){.c1 = co[k][0], .c2 = co[k][1], .c0 = co[k][2],
						      .present = 1};
	struct cost_profile *p = malloc(sizeof(*p));
	synthetic_profile(p, &truth);
	char note[512];
	for (int bi = 0; bi < p->n_batches; bi++) {
		struct cost_regression fit;
		cr_assert_eq(cost_regress_fit(p, bi, &fit, note, sizeof(note), err, sizeof(err)), 0, "%s", err);
		for (int k = 0; k < COST_REG_KINDS; k++) {
			const struct cost_reg_line *l = &fit.line[k];
			cr_assert(l->present, "kind %s not fitted (%s)", cost_reg_kind_name(k), note);
			cr_expect_eq(l->nvar, cost_reg_kind_vars(k), "%s vars", cost_reg_kind_name(k));
			near(l->c1, co[k][0], 1e-9, cost_reg_kind_name(k));
			near(l->c2, co[k][1], 1e-9, cost_reg_kind_name(k));
			near(l->c0, co[k][2], 1e-9, cost_reg_kind_name(k));
			cr_expect(fabs(l->r2 - 1) < 1e-9, "%s R^2 %.17g", cost_reg_kind_name(k), l->r2);
			/* the shared trunk counts once: 42 distinct layers over 7 types, 6 each;
			 * max and average pooling share a kind */
			cr_expect_eq(l->n, k == COST_REG_POOL ? 12 : 6, "%s points", cost_reg_kind_name(k));
		}
	}
	free(p);
}

Test(fit, collinear_pooling_falls_back_to_one_variable)
{
	struct cost_profile *p = calloc(1, sizeof(*p));
	snprintf(p->device_class, sizeof(p->device_class), "pools");
	p->n_batches = 1, p->batches[0] = 1, p->n_exits = 1;
	p->exits[0].n_layers = 5;
	for (int i = 0; i < 5; i++) {
		struct cost_profile_layer *L = &p->exits[0].layers[i];
		snprintf(L->name, sizeof(L->name), "pool%d", i);
		L->type = CR_LAYER_MAXPOOL;
		L->x1 = L->in_bytes = 4096.0 * (1 << i);
		L->x2 = L->out_bytes = L->in_bytes / 4; /* every pool halves h and w */
		L->mean_ms[0] = 2e-5 * L->x1 + 0.3;
	}
	struct cost_regression fit;
	char note[256];
	cr_assert_eq(cost_regress_fit(p, 0, &fit, note, sizeof(note), err, sizeof(err)), 0);
	const struct cost_reg_line *l = &fit.line[COST_REG_POOL];
	cr_assert(l->present);
	cr_expect_eq(l->nvar, 1);
	near(l->c1, 2e-5, 1e-9, "c1");
	near(l->c0, 0.3, 1e-9, "c0");
	cr_expect(strstr(note, "pool: x2 collinear") != NULL, "note: %s", note);
	free(p);
}

static struct cost_profile_layer layer(enum cr_layer_type t, double in, double out, double x2)
{
	struct cost_profile_layer L = {.type = t, .in_bytes = in, .out_bytes = out, .x1 = in, .x2 = x2};
	return L;
}

Test(table2, known_layers_by_hand)
{
	const struct cost_regression *pi = cost_regression_builtin("rpi3-edgent");
	const struct cost_regression *pc = cost_regression_builtin("pc-edgent");
	cr_assert(pi && pc);
	cr_expect_null(cost_regression_builtin("pi5"));
	/* our conv1: 3x32x32 fp32 in (12288 bytes), 3x3 stride 1, 32 filters: x2 = 288 */
	struct cost_profile_layer conv1 = layer(CR_LAYER_CONV, 12288, 131072, 288);
	near(cost_regress_predict(pi, &conv1, 1), 6.13e-3 * 12288 + 2.67e-2 * 288 - 9.909, 1e-12, "pi conv1");
	near(cost_regress_predict(pi, &conv1, 1), 73.10604, 1e-9, "pi conv1 value");
	near(cost_regress_predict(pc, &conv1, 1), 0.9656784, 1e-9, "pc conv1 value");
	/* batch 4: the input data grows, the filter term does not */
	near(cost_regress_predict(pc, &conv1, 4), 6.03e-5 * 4 * 12288 + 1.24e-4 * 288 + 0.189, 1e-12, "pc conv1 b4");
	/* our pool1: 131072 -> 32768 bytes, and an avgpool uses the same model */
	struct cost_profile_layer pool1 = layer(CR_LAYER_MAXPOOL, 131072, 32768, 32768);
	near(cost_regress_predict(pi, &pool1, 1), 1.33e-4 * 131072 + 3.31e-5 * 32768 + 1.657, 1e-12, "pi pool1");
	struct cost_profile_layer avg = layer(CR_LAYER_AVGPOOL, 131072, 32768, 32768);
	near(cost_regress_predict(pc, &avg, 2), 1.63e-5 * 262144 + 4.07e-6 * 65536 + 0.211, 1e-12, "pc avgpool b2");
	struct cost_profile_layer relu = layer(CR_LAYER_RELU, 65536, 65536, 0);
	near(cost_regress_predict(pi, &relu, 1), 1.5e-5 * 65536 + 0.488, 1e-12, "pi relu");
	struct cost_profile_layer lrn = layer(CR_LAYER_LRN, 32768, 32768, 0);
	near(cost_regress_predict(pc, &lrn, 1), 6.59e-5 * 32768 + 0.078, 1e-12, "pc lrn");
	struct cost_profile_layer flat = layer(CR_LAYER_FLATTEN, 4096, 4096, 0);
	near(cost_regress_predict(pi, &flat, 1), 2.34e-6 * 4096 + 0.0525, 1e-12, "pi flatten as dropout");
	struct cost_profile_layer fc6 = layer(CR_LAYER_FC, 4096, 2048, 2048);
	near(cost_regress_predict(pi, &fc6, 1), 9.18e-4 * 4096 + 3.99e-3 * 2048 + 1.169, 1e-12, "pi fc6");
	/* clamped at zero: the Pi's conv intercept is -9.909 ms, the PC's fc output
	 * coefficient negative */
	struct cost_profile_layer tiny = layer(CR_LAYER_CONV, 1000, 1000, 9);
	cr_expect_eq(cost_regress_predict(pi, &tiny, 1), 0.0);
	struct cost_profile_layer wide = layer(CR_LAYER_FC, 40, 10000, 10000);
	cr_expect_eq(cost_regress_predict(pc, &wide, 1), 0.0);
	/* the literal columns are the same numbers under their printed names */
	cr_expect_eq(cost_regression_builtin("table2-server-column"), pi);
	cr_expect_eq(cost_regression_builtin("table2-mobile-column"), pc);
}
