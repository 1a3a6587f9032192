/* A policy to serve in tests: SAC-d's actor with random weights over the cost
 * model's action table, named like a trained one. Its input normalisation is
 * centred on a middling state with a narrow scale, so that every component's
 * departure from it steers the choice: a state mangled on its way to the
 * policy (units, the load factor, the deadline) shows as another action. */
#ifndef COINFER_TEST_POLICY_H
#define COINFER_TEST_POLICY_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "coinfer/model.h"
#include "coinfer/cost.h"
#include "coinfer/policy-learn.h"

/* For model m, the cost model of device class cost_class (conf/devices) and
 * edge-x86; the policy says it was trained for device class name. */
static int test_policy_make(const struct cr_model *m, const char *cost_class, const char *name,
			    uint64_t seed, struct pol_policy **out, char *err, size_t errlen)
{
	struct cost_model *cm = NULL;
	struct pol_sacd *ag = NULL;
	struct cf_action *acts = NULL;
	float mean[POL_ENV_STATE_DIM], std[POL_ENV_STATE_DIM];
	int n, ret;

	*out = NULL;
	if ((ret = cost_load(m, COINFER_SOURCE_ROOT, cost_class, "edge-x86", NULL, &cm, err,
				 errlen)))
		goto err;
	n = cost_actions(cm, CF_ACTION_BITS_ALL, NULL, 0);
	acts = malloc((size_t)n * sizeof(*acts));
	if (!acts) {
		ret = -ENOMEM;
		goto err;
	}
	cost_actions(cm, CF_ACTION_BITS_ALL, acts, n);
	struct pol_sacd_cfg c = pol_sacd_defaults(POL_ENV_STATE_DIM, n);
	c.seed = seed;
	if ((ret = pol_sacd_create(&c, &ag, err, errlen)))
		goto err;
	const struct cost_exit *deep = &cm->ex[cm->n_exits - 1];
	struct pol_obs_in mid = {.bw_ewma_mbps = 2, .bw_last_mbps = 2, .deadline_ms = 120,
				 .energy_j = 0.002, .load = 1.6, .freq_ratio = 1,
				 .dev_class_ms = deep->dev_ms[deep->n], .queue_ms = 2};
	pol_obs_make(&mid, mean, POL_ENV_STATE_DIM);
	mean[POL_OBS_HAS_BUDGET] = 0.5f;
	for (int i = 0; i < POL_ENV_STATE_DIM; i++)
		std[i] = 0.05f;
	if ((ret = pol_sacd_export(ag, mean, std, out)))
		goto err;
	if ((ret = pol_policy_set_meta(*out, acts, n, name, m->name, deep->dev_ms[deep->n]))) {
		snprintf(err, errlen, "pol_policy_set_meta: %d", ret);
		goto err;
	}
	pol_sacd_free(ag);
	free(acts);
	free(cm);
	return 0;
err:
	pol_policy_free(*out);
	*out = NULL;
	pol_sacd_free(ag);
	free(acts);
	free(cm);
	return ret;
}

#endif
