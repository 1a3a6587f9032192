/* Writes a test policy file (test-policy.h) for the serving tests and prints,
 * as one JSON line, its action table and what the saved file decides for a
 * device that has never reached the edge (link down, queue 0, load 1) with the
 * given deadline.
 * usage: make-policy OUT CLASS SEED DEADLINE_MS */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "test-policy.h"

int main(int argc, char **argv)
{
	char err[512];
	struct cr_model *m = NULL;
	struct pol_policy *p = NULL, *q = NULL;
	int ret = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: make-policy OUT CLASS SEED DEADLINE_MS\n");
		return 2;
	}
	const char *out = argv[1], *cls = argv[2];
	uint64_t seed = strtoull(argv[3], NULL, 10);
	double deadline_ms = strtod(argv[4], NULL);
	if (cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &m, err, sizeof(err)) ||
	    test_policy_make(m, "pi4-est", cls, seed, &p, err, sizeof(err)) ||
	    pol_save(p, out, err, sizeof(err)) || pol_load(out, &q, err, sizeof(err))) {
		fprintf(stderr, "make-policy: %s\n", err);
		goto out;
	}
	struct pol_obs_in down = {.deadline_ms = deadline_ms, .load = 1};
	struct cf_action a;
	if (pol_policy_decide(q, &down, 0, &a, NULL)) {
		fprintf(stderr, "make-policy: the saved policy does not decide\n");
		goto out;
	}
	/* exits numbered as the agent's JSON numbers them, from 1 */
	printf("{\"file\": \"%s\", \"class\": \"%s\", \"actions\": [", out, q->device_class);
	for (int i = 0; i < q->n_actions; i++)
		printf("%s[%d, %d, %d]", i ? ", " : "", q->actions[i].exit + 1,
		       q->actions[i].partition, q->actions[i].bits);
	printf("], \"down\": [%d, %d, %d]}\n", a.exit + 1, a.partition, a.bits);
	ret = 0;
out:
	pol_policy_free(p);
	pol_policy_free(q);
	cr_model_free(m);
	return ret;
}
