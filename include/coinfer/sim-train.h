/* coinfer simulator, training: SAC-d or double DQN (policy-learn.h) learning in the
 * trace-driven environment (sim.h), ending in a deployable policy
 * (docs/policy-train.md).
 *
 * Deterministic: the environment, the warm-up actions, the learner and the
 * held-out evaluations each draw from their own seeded generator, and nothing
 * depends on the clock, so a seed gives the same policy bit for bit (wall time is
 * only reported). Functions return 0 or -errno, with a message in err. */
#ifndef COINFER_SIM_TRAIN_H
#define COINFER_SIM_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/sim.h"
#include "coinfer/policy-learn.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sim_train_cfg {
	enum pol_algo algo;
	int env_steps;         /* environment steps (requests) in all */
	int warmup_steps;      /* uniformly random valid actions first; their states
				  also fix the normalisation (mean, std) */
	int update_every;      /* environment steps between update rounds */
	int updates_per_round;
	int replay_cap;
	float lr_final;        /* learning rates fall linearly from their configured
				  values to lr_final x them by the last step (1: constant) */
	int eval_every;        /* env steps between held-out evaluations (0: only at
				  the end) */
	int eval_steps;        /* steps of each held-out evaluation */
	uint64_t env_seed, eval_seed, warmup_seed;
	struct pol_sacd_cfg sacd; /* state_dim and n_actions are filled in */
	struct pol_dqn_cfg dqn;
};

/* The defaults of docs/policy-train.md for algo. */
struct sim_train_cfg sim_train_defaults(enum pol_algo algo);

/* One point of the learning curve: the greedy policy over eval_steps steps of a
 * fresh environment seeded eval_seed (the same states at every point). */
struct sim_train_point {
	int env_steps;
	uint64_t updates;
	double wall_s;            /* informational */
	double reward, slo_attainment, accuracy, latency_ms;
	float alpha, entropy, target_entropy; /* SAC-d, from the last update */
	float epsilon;            /* DQN */
	float loss;               /* critic / Q loss of the last update */
};

#define SIM_TRAIN_MAX_POINTS 512

struct sim_train_report {
	int n_points;
	struct sim_train_point pt[SIM_TRAIN_MAX_POINTS];
	double wall_s;            /* the whole run */
	/* the first point from which every later point's reward is within
	 * converge_tol of the last point's (its wall time is "converged in") */
	int converged_point;
	double converge_tol;
};

/* Trains on cm and traces under env_cfg (NULL: sim_env_defaults()). device_class
 * and model name the policy (pol_policy_set_meta). progress (may be NULL) is
 * called after each evaluation point. On success *out is the trained policy
 * (pol_policy_free). */
int sim_train(const struct cost_model *cm, const struct sim_trace_set *traces,
	      const struct sim_env_cfg *env_cfg, const struct sim_train_cfg *cfg,
	      const char *device_class, const char *model,
	      void (*progress)(void *ctx, const struct sim_train_point *pt), void *ctx,
	      struct pol_policy **out, struct sim_train_report *rep, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
