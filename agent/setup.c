/* A policy and a device class for a fleet's agents (design in coinfer/agent-setup.h):
 * what coinfer-agent and coinfer-fleet both set up before ag_fleet_create. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coinfer/agent-setup.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/policy.h"
#if AG_HAVE_COST
#include "coinfer/cost-profile.h"
#endif

/* ---- a trained policy --------------------------------------------------------------- */

static int policy_decide(void *ctx, const struct ag_state *s, struct cf_action *a)
{
	struct ag_policy_ctx *c = ctx;
	double ewma = s->bandwidth_bps, last = s->bw_last_bps > 0 ? s->bw_last_bps : ewma;
	if (s->thread < 0 || s->thread >= c->n)
		return -EINVAL;
	if (!s->connected)
		last = 0; /* link down: the policy's mask leaves the on-device actions */
	else if (!(ewma > 0))
		ewma = last = c->bw_prior_bps;
	struct pol_obs_in in = {.bw_ewma_mbps = ewma / 1e6, .bw_last_mbps = last / 1e6,
				.deadline_ms = s->deadline_ms, .load = 1, .queue_ms = s->queue_ms};
	return pol_policy_decide(c->p[s->thread], &in, 0, a, NULL);
}

int ag_policy_load(const char *path, const struct cr_model *m, double bw_prior_bps,
		   struct ag_policy_ctx *c, char *err, size_t errlen)
{
	struct pol_policy *p;
	int ret = pol_load(path, &p, err, errlen);
	if (!ret && (ret = pol_policy_check_model(p, m, err, errlen)))
		pol_policy_free(p);
	memset(c, 0, sizeof(*c));
	c->policy = ret ? NULL : p;
	c->bw_prior_bps = bw_prior_bps;
	return ret;
}

void ag_policy_attach(struct ag_policy_ctx *c, struct ag_config *cfg)
{
	cfg->decide = policy_decide;
	cfg->decide_ctx = c;
	cfg->decide_name = "policy";
}

int ag_policy_threads(struct ag_policy_ctx *c, int threads, char *err, size_t errlen)
{
	if (!(c->p = calloc((size_t)threads, sizeof(*c->p))))
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	c->n = threads;
	for (int t = 0; t < threads; t++) {
		int ret = pol_policy_dup(c->policy, &c->p[t], err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

void ag_policy_free(struct ag_policy_ctx *c)
{
	for (int t = 0; c->p && t < c->n; t++)
		pol_policy_free(c->p[t]);
	free(c->p);
	pol_policy_free(c->policy);
	memset(c, 0, sizeof(*c));
}

/* ---- a device class ------------------------------------------------------------------ */

#if AG_HAVE_COST
/* The class's codec speed (docs/cost-model.md): us_per_frame + ns_per_elem x
 * elements, at the class's nearest bit width; raw codecs have no model. */
static double class_encode_ms(void *ctx, enum cc_codec codec, int bits, size_t elems)
{
	const struct cost_device_class *dc = ctx;
	if (codec == CC_CODEC_RAW32 || codec == CC_CODEC_RAW16)
		return 0;
	int b = bits <= 4 ? 0 : bits <= 8 ? 1 : bits <= 12 ? 2 : 3;
	return (dc->codec.enc_us_per_frame[b] + dc->codec.enc_ns_per_elem[b] * 1e-3 * (double)elems) /
	       1000.0;
}

#define PROFILE_MAX_BYTES (64u << 20) /* what cost/json.c reads of a profile */

/* A file holding a profile (JSON) or a class (YAML) into prof (and dc,
 * is_class): a class is tried when the file is no profile. */
static int load_file(const char *root, const char *arg, const struct cr_model *m,
		     struct cost_profile *prof, struct cost_device_class *dc, int *is_class,
		     char *err, size_t errlen)
{
	char *text, perr[200], cerr[200];
	size_t len;
	int r = cf_read_text(arg, PROFILE_MAX_BYTES, &text, &len, err, errlen);
	if (r)
		return r;
	r = cost_profile_parse(text, len, arg, m, prof, perr, sizeof(perr));
	*is_class = r != 0;
	if (r) { /* not a profile: a class? */
		int rc = cost_class_parse(text, len, arg, dc, cerr, sizeof(cerr));
		if (!rc)
			r = cost_class_profile(root, dc, m, prof, err, errlen);
		else
			r = cf_fail(r, err, errlen, "%s is neither a profile (%s) nor a device "
					      "class (%s)", arg, perr, cerr);
	}
	free(text);
	return r;
}

/* The profile's per-layer times, batch 1: a device serves one request at a time. */
static int profile_times(struct ag_class_setup *c, const struct cr_model *m, char *err,
			 size_t errlen)
{
	if (!(c->times = calloc(1, sizeof(*c->times))))
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	if (ag_times_init(c->times, m))
		return cf_fail(-EINVAL, err, errlen, "the model exceeds the agent's limits");
	for (int e = 0; e < m->n_exits; e++)
		for (int p = 0; p < m->exit_len[e]; p++)
			c->times->ms[e][p] =
				cost_profile_layer_ms(c->prof, &c->prof->exits[e].layers[p], 1);
	return 0;
}

int ag_class_load(const char *root, const char *arg, const struct cr_model *m,
		  struct ag_class_setup *c, char *err, size_t errlen)
{
	struct stat st;
	int r, is_class = 1;
	memset(c, 0, sizeof(*c));
	c->prof = malloc(sizeof(*c->prof));
	c->dclass = malloc(sizeof(*c->dclass));
	if (!c->prof || !c->dclass) {
		r = cf_fail(-ENOMEM, err, errlen, "out of memory");
		goto out;
	}
	if (!stat(arg, &st) && S_ISREG(st.st_mode)) {
		r = load_file(root, arg, m, c->prof, c->dclass, &is_class, err, errlen);
	} else {
		r = cost_class_load(root, arg, c->dclass, err, errlen);
		if (!r)
			r = cost_class_profile(root, c->dclass, m, c->prof, err, errlen);
	}
	if (!r) {
		snprintf(c->name, sizeof(c->name), "%s", c->prof->device_class);
		r = profile_times(c, m, err, errlen);
	}
out:
	if (!r && !is_class) {
		free(c->dclass);
		c->dclass = NULL;
	}
	if (r)
		ag_class_free(c);
	return r;
}

void ag_class_attach(struct ag_class_setup *c, struct ag_config *cfg)
{
	cfg->profile = c->times;
	cfg->device_class = c->name;
	if (c->dclass) {
		cfg->encode_model = class_encode_ms;
		cfg->encode_ctx = c->dclass;
	}
}
#else
int ag_class_load(const char *root, const char *arg, const struct cr_model *m,
		  struct ag_class_setup *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	return cf_fail(-ENOTSUP, err, errlen, "device classes need the cost model's JSON "
					     "loaders, which this build lacks");
}

void ag_class_attach(struct ag_class_setup *c, struct ag_config *cfg)
{
}
#endif

void ag_class_free(struct ag_class_setup *c)
{
	free(c->prof);
	free(c->dclass);
	free(c->times);
	memset(c, 0, sizeof(*c));
}
