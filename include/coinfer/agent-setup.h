/* What the programs that build agent fleets share (coinfer-agent, coinfer-fleet):
 * a trained policy as the agents' decide callback, and a device class's profile
 * as their emulated per-layer times and codec speed. One place, so the two
 * programs emulate a device class and act on a policy the same way.
 *
 * The device-class half needs the cost model's JSON loaders (native builds:
 * AG_HAVE_COST); without them ag_class_load returns -ENOTSUP. */
#ifndef COINFER_AGENT_SETUP_H
#define COINFER_AGENT_SETUP_H

#include <stddef.h>

#include "coinfer/agent.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pol_policy;
struct cost_profile;
struct cost_device_class;

/* A policy file acting for a fleet's agents: one copy per fleet thread, since
 * deciding uses the policy's scratch. */
struct ag_policy_ctx {
	struct pol_policy *policy; /* as loaded */
	struct pol_policy **p;     /* ag_policy_threads' copies */
	int n;
	double bw_prior_bps;       /* the bandwidth before the first estimate */
};

/* Loads path and checks it against m. 0, or -errno with the reason in err
 * (without the path: the caller names it). */
int ag_policy_load(const char *path, const struct cr_model *m, double bw_prior_bps,
		   struct ag_policy_ctx *c, char *err, size_t errlen);
/* cfg decides each request with it (decide, decide_ctx, decide_name "policy"). */
void ag_policy_attach(struct ag_policy_ctx *c, struct ag_config *cfg);
/* After ag_fleet_create, before ag_fleet_run: a copy per thread of the fleet
 * (ag_fleet_threads). */
int ag_policy_threads(struct ag_policy_ctx *c, int threads, char *err, size_t errlen);
void ag_policy_free(struct ag_policy_ctx *c);

/* A device class (a name of ROOT/conf/devices, or a file holding a profile
 * (JSON) or a class (YAML)) as the emulated device: its profile's per-layer times and, for a
 * class, its codec speed. */
struct ag_class_setup {
	struct cost_profile *prof;
	struct cost_device_class *dclass; /* NULL for a bare profile */
	struct ag_times *times;
	char name[64];                    /* the profile's device class */
};

int ag_class_load(const char *root, const char *arg, const struct cr_model *m,
		  struct ag_class_setup *c, char *err, size_t errlen);
/* cfg's profile, device_class and encode model point into c (which outlives cfg's use). */
void ag_class_attach(struct ag_class_setup *c, struct ag_config *cfg);
void ag_class_free(struct ag_class_setup *c);

#ifdef __cplusplus
}
#endif
#endif
