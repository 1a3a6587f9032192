/* coinfer policy, as serving code uses it: load a policy file
 * (docs/policy-file.md), check that it fits the model being served, and decide
 * an action from what a device observes. The learners that make policy files
 * are in policy-learn.h; serving code includes this header only.
 *
 * Functions return 0 or -errno with a message in err; deciding allocates
 * nothing. */
#ifndef COINFER_POLICY_H
#define COINFER_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/action.h"
#include "coinfer/model.h"

struct pol_mlp;

#ifdef __cplusplus
extern "C" {
#endif

/* ---- observation ----------------------------------------------------------- */

/* Observation components (the simulator builds its own with pol_obs_make too), in this order. */
enum pol_env_obs {
	POL_OBS_BW_EWMA,     /* log2(1 + EWMA of measured bandwidth in Mbit/s) / 4 */
	POL_OBS_BW_LAST,     /* log2(1 + last measured bandwidth in Mbit/s) / 4 */
	POL_OBS_DEADLINE,    /* deadline_ms / 100 (0: none) */
	POL_OBS_ENERGY,      /* energy budget / POL_OBS_ENERGY_SCALE_J (0: none) */
	POL_OBS_HAS_BUDGET,  /* 1 when there is an energy budget, else 0 */
	POL_OBS_LOAD,        /* device load factor (1 .. load_max) */
	POL_OBS_FREQ,        /* CPU frequency / the class's nominal f */
	POL_OBS_DEV_MS,      /* the device class: whole deepest exit on the device at
				nominal f and load 1, ms / 100 */
	POL_OBS_QUEUE,       /* edge queue delay reported with the last reply, ms / 100 */
	POL_ENV_STATE_DIM
};

#define POL_OBS_ENERGY_SCALE_J 0.01
/* The layout above, as recorded in policy files: bump when it changes. */
#define POL_OBS_SPEC 1

/* What a device (or the appliance on its behalf) knows when it decides: the
 * source of an observation outside the environment. */
struct pol_obs_in {
	double bw_ewma_mbps, bw_last_mbps; /* measured uplink (0: link down) */
	double deadline_ms, energy_j;      /* 0: none */
	double load;                       /* device load factor (0 means 1) */
	double freq_ratio;                 /* CPU frequency / nominal (0 means 1) */
	double dev_class_ms;               /* the deepest exit whole on the device at
					      nominal frequency and load 1, ms */
	double queue_ms;                   /* the edge's queueing delay */
};

/* The observation (POL_ENV_STATE_DIM floats, n at least that) of in; the
 * environment builds its own with this too. Returns the dimension or -EINVAL. */
int pol_obs_make(const struct pol_obs_in *in, float *s, int n);

/* ---- deployable policy and its file --------------------------------------- */

enum pol_algo { POL_ALGO_SACD = 1, POL_ALGO_DQN = 2 };

#define POL_FILE_VERSION 2
#define POL_FILE_MAX_STATE 1024
#define POL_FILE_MAX_ACTIONS 4096
#define POL_FILE_MAX_BYTES ((size_t)80 << 20)

/* A trained network ready to act: the input is (state - mean) / std, the output
 * is logits (SAC-d actor) or Q-values (DQN); either way the action is the best
 * valid output. */
#define POL_POLICY_NAME_LEN 32

struct pol_policy {
	enum pol_algo algo;
	int state_dim, n_actions;
	uint64_t updates; /* training updates behind it (informational) */
	float *mean, *std;
	struct pol_mlp *net; /* max_batch 1 */
	float *x;            /* normalised-state scratch */
	/* What the outputs mean and what the policy was trained for (set by
	 * pol_policy_set_meta; a file always has them). actions[i] is output i; a
	 * device-only action has bits 0. */
	struct cf_action *actions;        /* n_actions entries, NULL until set */
	uint32_t obs_spec;                /* POL_OBS_SPEC of the training states */
	float dev_class_ms;               /* the device class's pol_obs_in.dev_class_ms */
	char device_class[POL_POLICY_NAME_LEN], model[POL_POLICY_NAME_LEN];
	uint8_t *mask;                    /* n_actions scratch for pol_policy_decide */
};

/* out[i] = (x[i] - mean[i]) / std[i]. */
void pol_normalize(const float *mean, const float *std, int n, const float *x, float *out);
void pol_policy_free(struct pol_policy *p);
int pol_act(struct pol_policy *p, const float *state, const uint8_t *mask, int *action);

/* mask[i] = 1 for the actions a device may take: device-only ones always,
 * offloading ones when link_up and their bits are in bits_mask (0: all). Returns
 * the number of valid actions; -EINVAL without an action table. */
int pol_policy_mask(const struct pol_policy *p, unsigned bits_mask, int link_up, uint8_t *mask);
/* One decision: the observation of in (dev_class_ms 0: the policy's own), the
 * mask of pol_policy_mask (link up when bw_last_mbps > 0), pol_act, the action.
 * index may be NULL. Allocates nothing. */
int pol_policy_decide(struct pol_policy *p, const struct pol_obs_in *in, unsigned bits_mask,
		      struct cf_action *a, int *index);
/* An independent copy with its own scratch (one per thread that decides), made
 * through pol_encode/pol_parse: exactly what a saved and loaded file gives. */
int pol_policy_dup(const struct pol_policy *p, struct pol_policy **out, char *err, size_t errlen);

/* Parses hostile bytes: every field is checked against len and the limits above
 * before use. -EINVAL/-EBADMSG with a message naming the field. */
int pol_parse(const uint8_t *buf, size_t len, struct pol_policy **out, char *err, size_t errlen);
int pol_load(const char *path, struct pol_policy **out, char *err, size_t errlen);

/* Whether p can serve model m, as whatever deploys it (the appliance, the
 * agent's --policy) must ask: an action table, the observation layout this
 * build makes (POL_OBS_SPEC, POL_ENV_STATE_DIM), trained for m (by name), and
 * every action one of m's: an exit and a partition it has, bits 0 exactly when
 * the action runs the whole exit on the device (partition N_e). -EINVAL with a
 * message saying which. The device class is the caller's business. */
int pol_policy_check_model(const struct pol_policy *p, const struct cr_model *m, char *err,
			   size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
