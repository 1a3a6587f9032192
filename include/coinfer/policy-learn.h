/* coinfer policy learners, part 2: discrete Soft Actor-Critic (SAC-d,
 * Christodoulou 2019) and double DQN over abstract transitions (policy-nn.h), and
 * the policy file (docs/policy-file.md) that carries a trained actor or Q network
 * to wherever decisions are made.
 *
 * The learners know nothing of the environment: states are float vectors (scale
 * them to about unit range before they get here; pol_normalize is the function a
 * saved policy applies, so use it on the training side too), actions are indices
 * with a validity mask. Functions return 0 or -errno; updates and acting allocate
 * nothing. */
#ifndef COINFER_POLICY_LEARN_H
#define COINFER_POLICY_LEARN_H

#include "coinfer/policy.h"
#include "coinfer/policy-nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define POL_MAX_HIDDEN (POL_MLP_MAX_LAYERS - 1)

/* ---- SAC-d ----------------------------------------------------------------- */

struct pol_sacd_cfg {
	int state_dim, n_actions;
	int n_hidden, hidden[POL_MAX_HIDDEN]; /* the actor and both critics */
	int batch;                            /* most rows an update is given */
	float gamma, tau;                     /* discount; Polyak rate of the target critics */
	float lr_actor, lr_critic, lr_alpha;
	float clip_norm;                      /* global-norm gradient clipping (0: off) */
	float init_alpha;                     /* initial temperature */
	int learn_alpha;                      /* 0: alpha stays init_alpha */
	/* Target entropy of a state = ratio * log(valid actions there). Public SAC-d
	 * code uses 0.98 * log|A|, near the uniform policy's entropy; that keeps
	 * alpha growing and is a known cause of divergence. */
	float target_entropy_ratio;
	uint64_t seed;
};

struct pol_sacd_stats {
	float q_loss;        /* the critic loss L below (both critics) */
	float q_mean;        /* mean Q1(s, a) after the critic step */
	float actor_loss;
	float alpha, alpha_loss;
	float entropy;       /* mean policy entropy over the batch states */
	float target_entropy;/* mean target entropy over the batch states */
};

enum pol_sacd_net { POL_SACD_ACTOR, POL_SACD_Q1, POL_SACD_Q2, POL_SACD_Q1_TARGET, POL_SACD_Q2_TARGET };

struct pol_sacd;

/* Two hidden layers of 128, batch 64, gamma 0.99, tau 0.005, learning rates 3e-4,
 * alpha learned from 1.0, target entropy ratio 0.5, no clipping, seed 1. */
struct pol_sacd_cfg pol_sacd_defaults(int state_dim, int n_actions);
int pol_sacd_create(const struct pol_sacd_cfg *cfg, struct pol_sacd **out, char *err,
		    size_t errlen);
void pol_sacd_free(struct pol_sacd *ag);
/* One update on a minibatch: critics, then actor, then temperature, then the
 * target critics. st may be NULL. */
int pol_sacd_update(struct pol_sacd *ag, const struct pol_batch *b, struct pol_sacd_stats *st);
/* Action drawn from pi(.|s) (training) / the most probable valid action
 * (evaluation). */
int pol_sacd_sample(struct pol_sacd *ag, const float *s, const uint8_t *mask, struct pol_rng *rng,
		    int *action);
int pol_sacd_greedy(struct pol_sacd *ag, const float *s, const uint8_t *mask, int *action);
/* pi(.|s) over the valid actions into p[n_actions]. */
int pol_sacd_probs(struct pol_sacd *ag, const float *s, const uint8_t *mask, float *p);

/* The pieces of pol_sacd_update, for gradient checks and diagnostics. The loss
 * functions zero the networks' gradients and leave the loss gradient there;
 * nothing is stepped.
 *   critic: L = 1/(2n) sum_i [(Q1(s,a) - y)^2 + (Q2(s,a) - y)^2],
 *           y = r + gamma (1 - done) sum_a' pi(a'|s2) [min Qtarg(s2,a') - alpha log pi(a'|s2)]
 *   actor:  L = 1/n sum_i sum_a pi(a|s) [alpha log pi(a|s) - min Q(s,a)]
 *   alpha:  L = -log(alpha) * 1/n sum_i [target_entropy(s) - H(pi(.|s))],
 *           its derivative wrt log(alpha) into *dlog_alpha. */
int pol_sacd_critic_loss(struct pol_sacd *ag, const struct pol_batch *b, float *loss);
int pol_sacd_actor_loss(struct pol_sacd *ag, const struct pol_batch *b, float *loss,
			float *alpha_loss, float *dlog_alpha);
struct pol_mlp *pol_sacd_net(struct pol_sacd *ag, enum pol_sacd_net which);
float pol_sacd_log_alpha(const struct pol_sacd *ag);
void pol_sacd_set_log_alpha(struct pol_sacd *ag, float log_alpha);
uint64_t pol_sacd_updates(const struct pol_sacd *ag);
/* Every learning rate becomes scale x its configured value (schedules). */
void pol_sacd_set_lr_scale(struct pol_sacd *ag, float scale);
/* Every learned value, serialised in a fixed order (networks, log alpha, Adam
 * moments): two agents are in the same state iff these bytes are equal. */
size_t pol_sacd_state_bytes(const struct pol_sacd *ag);
void pol_sacd_state(const struct pol_sacd *ag, uint8_t *out);

/* ---- double DQN ------------------------------------------------------------ */

struct pol_dqn_cfg {
	int state_dim, n_actions;
	int n_hidden, hidden[POL_MAX_HIDDEN];
	int batch;
	float gamma, lr, clip_norm;
	float huber_delta;
	float tau;                /* Polyak rate of the target network per update ... */
	int target_period;        /* ... or, when > 0, a hard copy every this many updates */
	float eps_start, eps_end; /* epsilon-greedy, linear over eps_decay_steps actions */
	int eps_decay_steps;
	uint64_t seed;
};

struct pol_dqn_stats {
	float loss, q_mean, epsilon;
};

struct pol_dqn;

/* Two hidden layers of 128, batch 64, gamma 0.99, lr 3e-4, Huber delta 1,
 * tau 0.005, epsilon 1 -> 0.05 over 10000 actions, no clipping, seed 1. */
struct pol_dqn_cfg pol_dqn_defaults(int state_dim, int n_actions);
int pol_dqn_create(const struct pol_dqn_cfg *cfg, struct pol_dqn **out, char *err, size_t errlen);
void pol_dqn_free(struct pol_dqn *ag);
/* L = 1/n sum_i huber(Q(s,a) - y), y = r + gamma (1 - done) Qtarg(s2, argmax_valid Q(s2, .)). */
int pol_dqn_update(struct pol_dqn *ag, const struct pol_batch *b, struct pol_dqn_stats *st);
int pol_dqn_loss(struct pol_dqn *ag, const struct pol_batch *b, float *loss);
/* Epsilon-greedy at the current schedule point (advances the schedule by one). */
int pol_dqn_sample(struct pol_dqn *ag, const float *s, const uint8_t *mask, struct pol_rng *rng,
		   int *action);
int pol_dqn_greedy(struct pol_dqn *ag, const float *s, const uint8_t *mask, int *action);
float pol_dqn_epsilon(const struct pol_dqn *ag);
struct pol_mlp *pol_dqn_net(struct pol_dqn *ag, int target);
uint64_t pol_dqn_updates(const struct pol_dqn *ag);
void pol_dqn_set_lr_scale(struct pol_dqn *ag, float scale);
size_t pol_dqn_state_bytes(const struct pol_dqn *ag);
void pol_dqn_state(const struct pol_dqn *ag, uint8_t *out);

/* ---- making policy files --------------------------------------------------- */

/* Copies the agent's actor / online Q network; mean and std may be NULL
 * (identity). */
int pol_sacd_export(struct pol_sacd *ag, const float *mean, const float *std,
		    struct pol_policy **out);
int pol_dqn_export(struct pol_dqn *ag, const float *mean, const float *std,
		   struct pol_policy **out);
/* Copies the action table (n == p->n_actions; exit indices 0..254, partitions
 * 0..255, bits 4/8/12/16, or 0 for a device-only action) and names (1..31
 * characters of [A-Za-z0-9_.-]); obs_spec becomes POL_OBS_SPEC. -EINVAL otherwise. */
int pol_policy_set_meta(struct pol_policy *p, const struct cf_action *a, int n,
			const char *device_class, const char *model, double dev_class_ms);
/* Serialises into a malloc'd buffer (caller frees). */
int pol_encode(const struct pol_policy *p, uint8_t **buf, size_t *len, char *err, size_t errlen);
/* Writes PATH.tmp then renames it over PATH, so a reader never sees half a file. */
int pol_save(const struct pol_policy *p, const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
