/* Timing of the policy core, printed as JSON (a measurement, not a test): the
 * actor forward for one state (what the device agent pays per decision), the
 * whole pol_act (normalise, forward, masked argmax), and one SAC-d / DQN update.
 * Each figure is the median over 15 runs of the mean over many calls.
 * usage: policy-bench [ITERS] */
#include <stdio.h>
#include <stdlib.h>

#include "coinfer/clock.h"
#include "coinfer/policy-learn.h"

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

#define RUNS 15
static volatile float sink;

/* median and min of RUNS means, in microseconds per call */
#define TIME(iters, body, med, mn)                                           \
	do {                                                                 \
		double t_[RUNS];                                             \
		for (int r_ = 0; r_ < RUNS; r_++) {                          \
			double t0_ = cf_now_s();                                  \
			for (int i_ = 0; i_ < (iters); i_++) {               \
				body;                                        \
			}                                                    \
			t_[r_] = (cf_now_s() - t0_) * 1e6 / (iters);              \
		}                                                            \
		qsort(t_, RUNS, sizeof(double), cmp);                        \
		med = t_[RUNS / 2], mn = t_[0];                              \
	} while (0)

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 20000;
	static const int shapes[][4] = {{12, 128, 128, 240}, {12, 64, 64, 240}, {16, 256, 256, 240}};
	struct pol_rng rng;
	pol_rng_seed(&rng, 1);
	printf("{\"bench\": \"policy\", \"iters\": %d, \"actor_forward\": [", iters);
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		struct pol_mlp *m;
		if (pol_mlp_create(shapes[k], 4, 1, &rng, &m))
			return 1;
		float x[16];
		for (int i = 0; i < 16; i++)
			x[i] = pol_rng_normal(&rng);
		const float *y;
		double med, mn;
		TIME(iters, pol_mlp_forward(m, x, 1, &y); sink = y[0]; x[0] += 1e-7f, med, mn);
		printf("%s{\"shape\": \"%dx%dx%dx%d\", \"params\": %zu, \"us_median\": %.3f, "
		       "\"us_min\": %.3f}",
		       k ? ", " : "", shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3],
		       m->n_params, med, mn);
		pol_mlp_free(m);
	}
	printf("]");

	/* pol_act on a fresh SAC-d actor of the typical shape, 240 actions with a mask */
	struct pol_sacd_cfg sc = pol_sacd_defaults(12, 240);
	struct pol_sacd *sa;
	struct pol_policy *p;
	char err[256];
	if (pol_sacd_create(&sc, &sa, err, sizeof(err)) || pol_sacd_export(sa, NULL, NULL, &p)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	uint8_t mask[240];
	for (int a = 0; a < 240; a++)
		mask[a] = a % 5 != 3;
	float s[12];
	for (int i = 0; i < 12; i++)
		s[i] = pol_rng_normal(&rng);
	int act;
	double med, mn;
	TIME(iters, pol_act(p, s, mask, &act); sink = (float)act; s[0] += 1e-7f, med, mn);
	printf(", \"pol_act_12x128x128x240\": {\"us_median\": %.3f, \"us_min\": %.3f}", med, mn);

	/* one update each at the default sizes (hidden 128 x 2, batch 64) */
	struct pol_batch *b;
	if (pol_batch_create(64, 12, 240, &b))
		return 1;
	b->n = 64;
	for (int i = 0; i < 64 * 12; i++)
		b->s[i] = pol_rng_normal(&rng), b->s2[i] = pol_rng_normal(&rng);
	for (int i = 0; i < 64; i++) {
		b->a[i] = (int32_t)(pol_rng_below(&rng, 48) * 5);
		b->r[i] = pol_rng_normal(&rng);
		b->done[i] = i % 10 == 0;
	}
	for (int i = 0; i < 64 * 240; i++)
		b->mask[i] = b->mask2[i] = mask[i % 240];
	int upd = iters / 200 > 10 ? iters / 200 : 10;
	TIME(upd, pol_sacd_update(sa, b, NULL), med, mn);
	printf(", \"sacd_update_b64\": {\"ms_median\": %.3f, \"ms_min\": %.3f}", med / 1e3, mn / 1e3);
	struct pol_dqn_cfg dc = pol_dqn_defaults(12, 240);
	struct pol_dqn *da;
	if (pol_dqn_create(&dc, &da, err, sizeof(err)))
		return 1;
	TIME(upd, pol_dqn_update(da, b, NULL), med, mn);
	printf(", \"dqn_update_b64\": {\"ms_median\": %.3f, \"ms_min\": %.3f}}\n", med / 1e3, mn / 1e3);
	pol_batch_free(b);
	pol_policy_free(p);
	pol_sacd_free(sa);
	pol_dqn_free(da);
	return 0;
}
