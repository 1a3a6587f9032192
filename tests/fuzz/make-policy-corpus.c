/* Writes the seed corpus of fuzz-policy: small valid policy files of both
 * algorithms, from a single dense layer to four, with and without state
 * normalisation, 1 to 240 actions. usage: make-policy-corpus DIR */
#include <stdio.h>
#include <stdlib.h>

#include "coinfer/policy-rl.h"

int main(int argc, char **argv)
{
	static const struct {
		int algo, sd, na, nh, h[3], norm;
	} v[] = {
		{POL_ALGO_SACD, 1, 1, 0, {0}, 0},         {POL_ALGO_SACD, 3, 4, 1, {5}, 1},
		{POL_ALGO_SACD, 12, 240, 2, {16, 16}, 1}, {POL_ALGO_SACD, 2, 12, 3, {3, 4, 5}, 0},
		{POL_ALGO_DQN, 1, 2, 0, {0}, 1},          {POL_ALGO_DQN, 5, 12, 2, {8, 8}, 0},
		{POL_ALGO_DQN, 8, 60, 1, {33}, 1},        {POL_ALGO_DQN, 4, 3, 3, {2, 2, 2}, 1},
	};
	char err[256], path[4096];
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		float mean[16], std[16];
		for (int i = 0; i < 16; i++)
			mean[i] = 0.25f * (float)i - 1.0f, std[i] = 0.5f + 0.125f * (float)i;
		struct pol_policy *p;
		int ret;
		if (v[k].algo == POL_ALGO_SACD) {
			struct pol_sacd_cfg c = pol_sacd_defaults(v[k].sd, v[k].na);
			struct pol_sacd *ag;
			c.n_hidden = v[k].nh, c.batch = 1, c.seed = k + 1;
			for (int i = 0; i < v[k].nh; i++)
				c.hidden[i] = v[k].h[i];
			if ((ret = pol_sacd_create(&c, &ag, err, sizeof(err))))
				goto fail;
			ret = pol_sacd_export(ag, v[k].norm ? mean : NULL, v[k].norm ? std : NULL, &p);
			pol_sacd_free(ag);
		} else {
			struct pol_dqn_cfg c = pol_dqn_defaults(v[k].sd, v[k].na);
			struct pol_dqn *ag;
			c.n_hidden = v[k].nh, c.batch = 1, c.seed = k + 1;
			for (int i = 0; i < v[k].nh; i++)
				c.hidden[i] = v[k].h[i];
			if ((ret = pol_dqn_create(&c, &ag, err, sizeof(err))))
				goto fail;
			ret = pol_dqn_export(ag, v[k].norm ? mean : NULL, v[k].norm ? std : NULL, &p);
			pol_dqn_free(ag);
		}
		if (ret) {
			snprintf(err, sizeof(err), "export failed (%d)", ret);
			goto fail;
		}
		p->updates = 1000 * k;
		snprintf(path, sizeof(path), "%s/%s-%d-%d-l%d%s.pol", argv[1],
			 v[k].algo == POL_ALGO_SACD ? "sacd" : "dqn", v[k].sd, v[k].na, v[k].nh + 1,
			 v[k].norm ? "-norm" : "");
		ret = pol_save(p, path, err, sizeof(err));
		pol_policy_free(p);
		if (ret)
			goto fail;
	}
	printf("wrote %zu policies\n", sizeof(v) / sizeof(v[0]));
	return 0;
fail:
	fprintf(stderr, "%s\n", err);
	return 1;
}
