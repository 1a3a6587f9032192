/* Writes the seed corpus of fuzz-policy: small valid policy files of both
 * algorithms, from a single dense layer to four, with and without state
 * normalisation, 1 to 240 actions, each with an action table and names; the
 * ones with the environment's state_dim reach pol_policy_decide, one of them
 * without a device-only action (nothing valid with the link down).
 * usage: make-policy-corpus DIR */
#include <stdio.h>
#include <stdlib.h>

#include "coinfer/policy-learn.h"

/* Action i of a table: exits in turn, five per exit: partitions 0..3 at 4, 8,
 * 12 and 16 bits, then the device-only one (all offloading when offload_only). */
static struct cf_action table_entry(int i, int offload_only)
{
	static const int bits[5] = {4, 8, 12, 16, 0};
	int k = offload_only ? i % 4 : i % 5;
	return (struct cf_action){i / 5, k, bits[k]};
}

int main(int argc, char **argv)
{
	enum { ENV = POL_ENV_STATE_DIM };
	static const struct {
		int algo, sd, na, nh, h[3], norm, offload_only;
		const char *cls, *model;
		double class_ms;
	} v[] = {
		{POL_ALGO_SACD, 1, 1, 0, {0}, 0, 0, "c", "m", 0},
		{POL_ALGO_SACD, 3, 4, 1, {5}, 1, 0, "pi4-a72", "resnet18.ee", 123.5},
		{POL_ALGO_SACD, 12, 240, 2, {16, 16}, 1, 0, "pi5", "vgg16", 1000},
		{POL_ALGO_SACD, 2, 12, 3, {3, 4, 5}, 0, 0, "x86_64.laptop", "m-1", 8.25},
		{POL_ALGO_SACD, ENV, 20, 2, {16, 16}, 1, 0, "pi4", "resnet18", 250},
		{POL_ALGO_SACD, ENV, 8, 1, {8}, 0, 1, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "offload", 0},
		{POL_ALGO_DQN, 1, 2, 0, {0}, 1, 0, "d", "n", 1e-3},
		{POL_ALGO_DQN, 5, 12, 2, {8, 8}, 0, 0, "jetson-nano", "mobilenet_v2", 40},
		{POL_ALGO_DQN, 8, 60, 1, {33}, 1, 0, "A.B-C_D", "0", 5e8},
		{POL_ALGO_DQN, 4, 3, 3, {2, 2, 2}, 1, 0, "c", "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm", 1},
		{POL_ALGO_DQN, ENV, 12, 2, {12, 12}, 0, 0, "pi3", "resnet18", 600},
	};
	char err[256], path[4096];
	struct cf_action t[240];
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
		for (int i = 0; i < v[k].na; i++)
			t[i] = table_entry(i, v[k].offload_only);
		ret = pol_policy_set_meta(p, t, v[k].na, v[k].cls, v[k].model, v[k].class_ms);
		if (ret) {
			pol_policy_free(p);
			snprintf(err, sizeof(err), "policy %zu: set_meta failed (%d)", k, ret);
			goto fail;
		}
		p->updates = 1000 * k;
		snprintf(path, sizeof(path), "%s/%s-%d-%d-l%d%s%s.pol", argv[1],
			 v[k].algo == POL_ALGO_SACD ? "sacd" : "dqn", v[k].sd, v[k].na, v[k].nh + 1,
			 v[k].norm ? "-norm" : "", v[k].offload_only ? "-offload" : "");
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
