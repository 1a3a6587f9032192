/* Acting with a deployed policy: its action table, whether it fits the model
 * served, the device's mask and one decision from what a device knows
 * (policy.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/policy-learn.h"
#include "internal.h"

static int name_ok(const char *s)
{
	return s && cf_name_ok(s, POL_POLICY_NAME_LEN);
}

int pol_policy_set_meta(struct pol_policy *p, const struct cf_action *a, int n,
			const char *device_class, const char *model, double dev_class_ms)
{
	if (!p || !a || n != p->n_actions || !name_ok(device_class) || !name_ok(model) ||
	    !(dev_class_ms >= 0 && dev_class_ms < 1e9))
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (pol_action_problem(&a[i]))
			return -EINVAL;
	struct cf_action *t = malloc((size_t)n * sizeof(*t));
	uint8_t *m = malloc((size_t)n);
	if (!t || !m) {
		free(t);
		free(m);
		return -ENOMEM;
	}
	memcpy(t, a, (size_t)n * sizeof(*t));
	free(p->actions);
	free(p->mask);
	p->actions = t;
	p->mask = m;
	p->obs_spec = POL_OBS_SPEC;
	p->dev_class_ms = (float)dev_class_ms;
	snprintf(p->device_class, sizeof(p->device_class), "%s", device_class);
	snprintf(p->model, sizeof(p->model), "%s", model);
	return 0;
}

int pol_policy_mask(const struct pol_policy *p, unsigned bits_mask, int link_up, uint8_t *mask)
{
	if (!p->actions)
		return -EINVAL;
	if (!bits_mask)
		bits_mask = CF_ACTION_BITS_ALL;
	int valid = 0;
	for (int i = 0; i < p->n_actions; i++) {
		int b = p->actions[i].bits, ok = b == 0;
		for (int k = 0; !ok && link_up && k < CF_ACTION_NBITS; k++)
			ok = cf_action_bits[k] == b && (bits_mask >> k & 1);
		mask[i] = (uint8_t)ok;
		valid += ok;
	}
	return valid;
}

int pol_policy_decide(struct pol_policy *p, const struct pol_obs_in *in, unsigned bits_mask,
		      struct cf_action *a, int *index)
{
	float s[POL_ENV_STATE_DIM];
	struct pol_obs_in o = *in;
	int idx, rc;
	if (!p->actions || !p->mask || p->state_dim != POL_ENV_STATE_DIM)
		return -EINVAL;
	if (!(o.dev_class_ms > 0))
		o.dev_class_ms = p->dev_class_ms;
	pol_obs_make(&o, s, POL_ENV_STATE_DIM);
	if ((rc = pol_policy_mask(p, bits_mask, in->bw_last_mbps > 0, p->mask)) < 0)
		return rc;
	if ((rc = pol_act(p, s, p->mask, &idx)))
		return rc;
	*a = p->actions[idx];
	if (index)
		*index = idx;
	return 0;
}

/* What keeps action a from model m (NULL: nothing), in buf when it names numbers. */
static const char *model_action_problem(const struct cf_action *a, const struct cr_model *m,
					char *buf, size_t n)
{
	if (a->exit < 0 || a->exit >= m->n_exits) {
		snprintf(buf, n, "the model has exits 1..%d", m->n_exits);
		return buf;
	}
	int last = m->exit_len[a->exit];
	if (a->partition < 0 || a->partition > last) {
		snprintf(buf, n, "exit %d has partitions 0..%d", a->exit + 1, last);
		return buf;
	}
	const char *no = cr_model_cut_problem(m, a->exit, a->partition);
	if (no) {
		snprintf(buf, n, "partition %d %s", a->partition, no);
		return buf;
	}
	/* what the wire and the agent take bits 0 to mean: nothing sent, or a raw frame */
	if (a->partition == last && a->bits)
		return "the whole exit on the device sends nothing and has bits 0";
	if (a->partition < last && !a->bits)
		return "an action that sends a tensor has bits 4, 8, 12 or 16, not 0";
	return NULL;
}

int pol_policy_check_model(const struct pol_policy *p, const struct cr_model *m, char *err,
			   size_t errlen)
{
	if (!p->actions)
		return cf_fail(-EINVAL, err, errlen,
			       "the policy has no action table: it cannot say what its "
			       "outputs mean");
	if (p->state_dim != POL_ENV_STATE_DIM || p->obs_spec != POL_OBS_SPEC)
		return cf_fail(-EINVAL, err, errlen,
			       "the policy takes observation layout %u of %d values, this build "
			       "makes layout %d of %d",
			       p->obs_spec, p->state_dim, POL_OBS_SPEC, POL_ENV_STATE_DIM);
	if (strcmp(p->model, m->name))
		return cf_fail(-EINVAL, err, errlen, "the policy was trained for model %s, not %s",
			       p->model, m->name);
	for (int k = 0; k < p->n_actions; k++) {
		const struct cf_action *a = &p->actions[k];
		char buf[128];
		const char *why = model_action_problem(a, m, buf, sizeof(buf));
		if (why)
			return cf_fail(-EINVAL, err, errlen,
				       "action %d (exit %d, partition %d, bits %d) does not fit "
				       "model %s: %s",
				       k, a->exit + 1, a->partition, a->bits, m->name, why);
	}
	return 0;
}

int pol_policy_dup(const struct pol_policy *p, struct pol_policy **out, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int ret;

	*out = NULL;
	if ((ret = pol_encode(p, &buf, &len, err, errlen)))
		return ret;
	ret = pol_parse(buf, len, out, err, errlen);
	free(buf);
	return ret;
}
