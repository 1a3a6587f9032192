/* coinfer simulator: bandwidth traces, SLO files and the trace-driven
 * environment the learners train on and every decision-maker is evaluated in
 * (docs/policy-env.md; DESIGN.md, "Emulating devices and networks").
 *
 * One step is one request of one device: the environment evaluates the chosen
 * (exit, partition, bits) with the cost model (cost.h) under the TRUE
 * state (bandwidth from a trace at the step's time, device load and CPU
 * frequency, edge queueing from the other devices) and returns latency, energy,
 * accuracy and a reward. The policy sees an observation vector (sim_env_state)
 * built from what a device would know: an EWMA of the bandwidth it measured, the
 * last sample, its SLO, its load and frequency, the last reported edge queue.
 *
 * Everything is deterministic given the seed (one struct pol_rng, draws in a
 * fixed order) and plain C: builds everywhere, the aarch64 cross build included.
 * Functions return 0 (or a count) or -errno; error text goes to err. */
#ifndef COINFER_SIM_H
#define COINFER_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/cost.h"
#include "coinfer/policy.h"
#include "coinfer/policy-nn.h"
#include "coinfer/slo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- bandwidth traces ------------------------------------------------------ */

#define SIM_TRACE_MAX_SAMPLES (1 << 20) /* lines per file */
#define SIM_TRACE_MAX_LINE 256          /* characters per line */
#define SIM_TRACE_MAX_FILES 65536       /* files per directory tree */

/* One file of two whitespace-separated columns: time in seconds (strictly
 * increasing, finite), throughput in Mbit/s (finite, >= 0). Blank lines and lines
 * starting with '#' are skipped. Times are kept relative to the first sample.
 * Sample i holds from t[i] to t[i+1]; the last one for the mean interval, so the
 * trace lasts duration_s = t[n-1] + (t[n-1] / (n-1)) (1 s for a single sample)
 * and then starts over. */
struct sim_trace {
	char name[256];      /* the path it was loaded from (truncated) */
	int n;
	double *t;           /* seconds since the first sample: t[0] = 0 */
	double *mbps;
	double duration_s;
	double mean_mbps;    /* time-weighted over one period */
	double min_mbps, max_mbps;
};

struct sim_trace_set {
	int n;
	struct sim_trace *tr;
};

/* Errors name the file and line: "PATH:LINE: ...". -ENOENT/-EIO for an unreadable
 * file, -EINVAL for a malformed one, -E2BIG for too many lines, -ENOMEM. */
int sim_trace_load(const char *path, struct sim_trace *t, char *err, size_t errlen);
void sim_trace_free(struct sim_trace *t);
/* duration_s and the statistics of t's n >= 1 samples (t->t[0] = 0, increasing):
 * what the loader computes, for traces built in memory. */
void sim_trace_finish(struct sim_trace *t);
/* Every regular file under dir (recursively), sorted by path (byte order), except
 * hidden names and LICENSE*, README*, SOURCE*, *.md. Any bad file fails the whole
 * load. -ENOENT when there is no trace file. */
int sim_trace_dir_load(const char *dir, struct sim_trace_set *set, char *err, size_t errlen);
void sim_trace_set_free(struct sim_trace_set *set);
/* Rate in Mbit/s at time_s seconds after the trace's start: step-wise (the last
 * sample at or before it), wrapping around at duration_s (negative times wrap
 * too). */
double sim_trace_bw(const struct sim_trace *t, double time_s);

/* ---- SLO files ------------------------------------------------------------- */

/* The applications' SLOs: struct cfg_slo of coinfer/slo.h (YAML files, read by
 * cfg_slo_load); the environment uses deadline_ms and energy_j. */
#define SIM_SLO_MAX CFG_SLO_MAX

/* ---- environment ----------------------------------------------------------- */

/* in from a cost-model state (the bandwidth as both the EWMA and the last
 * sample), for decisions at a given state: sweeps and figures. */
void sim_obs_from_state(const struct cost_model *cm, const struct cost_state *st,
			struct pol_obs_in *in);

enum sim_reward_mode {
	SIM_REWARD_LAMBDA = 0, /* Niu et al. (2022) eqs. 12-13 style, see sim_env_cfg */
	SIM_REWARD_SLO = 1,    /* accuracy when the SLO is met, else -slo_penalty */
};

struct sim_env_cfg {
	unsigned bits_mask;        /* allowed bit widths (cf_action_bits); 0: all */
	double interval_ms;        /* request interval: time between steps */
	int episode_steps;         /* steps per episode (then done = 1, next trace) */
	int random_traces;         /* 0: traces in order; 1: drawn uniformly by the seed */
	double min_bw_mbps;        /* the true bandwidth is floored to this */
	double bw_ewma_alpha;      /* estimate <- alpha * sample + (1 - alpha) * estimate */
	double rtt_ms;
	/* device dynamics */
	double load_max;           /* load in [1, load_max] */
	double load_sigma;         /* random-walk step: load += load_sigma * N(0,1) */
	int n_freq;                /* DVFS levels, freq_levels[i] x nominal f */
	double freq_levels[8];
	double freq_stay;          /* probability of keeping the level per step */
	/* edge queueing: other devices */
	int others_min, others_max;/* number of other devices, drifts within these */
	double others_move;        /* probability per step of moving by +-1 */
	double others_interval_ms; /* each other device's request interval */
	double edge_service_ms;    /* edge time of one request; 0: the deepest exit
				      whole on the edge at batch 1 */
	double rho_max;            /* utilisation cap (< 1) */
	double queue_cap_ms;       /* queue delay cap */
	/* SLO: a list (one app drawn per episode, uniformly by the seed) or, when
	 * n_slo == 0, deadline_ms / energy_j below */
	const struct cfg_slo *slo;
	int n_slo;
	double deadline_ms, energy_j;
	/* reward */
	enum sim_reward_mode reward;
	/* lambda(B) = lmin + (lmax - lmin) clamp(ln(1 + B/beta) / ln(1 + Bmax/beta), 0, 1):
	 * the accuracy weight; 1 - lambda weighs latency */
	double lambda_beta_mbps, lambda_bmax_mbps, lambda_min, lambda_max;
	double lat_cap;            /* lat_norm = min(latency / deadline, lat_cap) */
	double lat_ref_ms;         /* the latency scale when there is no deadline */
	double energy_penalty;     /* subtracted when the energy budget is exceeded */
	double slo_penalty;        /* SLO mode: reward of a missed SLO is -slo_penalty */
	double slo_latency_weight; /* SLO mode: a met SLO earns accuracy - this x
				      latency / deadline (0: accuracy alone) */
	double slo_late_weight;    /* SLO mode: a missed deadline also costs this x
				      min(latency / deadline - 1, lat_cap): without
				      it a miss by 1 ms and by 2 s are equal */
	int mask_offload_when_down;/* mask p < N_e while the last measured bandwidth is 0 */
};

/* The constants of docs/policy-env.md. */
struct sim_env_cfg sim_env_defaults(void);

struct pol_env;

struct sim_env_outcome {
	struct cf_action action;
	struct cost_estimate cost;       /* latency_ms, energy_j, accuracy, bytes, terms */
	double bandwidth_bps;       /* the true bandwidth used */
	double queue_ms;
	double lambda;              /* lambda(B) (LAMBDA mode) */
	int deadline_met, energy_met;
	float reward;
	int done;                   /* last step of an episode: the state is now the
				       next episode's first */
};

/* What the environment knows and the policy does not. */
struct sim_env_info {
	int episode, step;          /* step within the episode */
	int trace;                  /* index into the trace set */
	double trace_time_s;        /* time into the trace at this step */
	double bw_mbps;             /* trace rate there (before the floor) */
	double bw_est_mbps, bw_last_mbps;
	double load, freq_hz;
	int others;
	double rho, queue_ms, last_queue_ms;
	int app;                    /* index into cfg.slo, -1 without */
	double deadline_ms, energy_j;
};

/* cm and traces must outlive the environment (traces->n >= 1). -EINVAL for a
 * bad configuration (message in err). The first episode starts at once. */
int sim_env_create(const struct cost_model *cm, const struct sim_trace_set *traces,
		   const struct sim_env_cfg *cfg, uint64_t seed, struct pol_env **out, char *err,
		   size_t errlen);
void sim_env_free(struct pol_env *env);
/* Restarts from the first episode with a new seed. */
void sim_env_reset(struct pol_env *env, uint64_t seed);

/* Actions are the cost model's cost_actions(cm, CF_ACTION_BITS_ALL) list (exits and
 * partitions ascending, bits ascending, one device-only action per exit), fixed
 * for a model whatever bits_mask says; the mask does the restricting. */
int sim_env_n_actions(const struct pol_env *env);
int sim_env_action(const struct pol_env *env, int index, struct cf_action *a);
/* The whole list with the policy-file convention: bits 0 for a device-only
 * action; n_actions entries. */
void sim_env_action_table(const struct pol_env *env, struct cf_action *a);
/* -ENOENT when a is not in the list (bits ignored at p = N_e). */
int sim_env_action_index(const struct pol_env *env, const struct cf_action *a);

/* Observation (POL_ENV_STATE_DIM floats; n must be at least that). Returns the
 * dimension. */
int sim_env_state(const struct pol_env *env, float *s, int n);
/* n_actions bytes: 1 = valid. Device-only actions are always valid; others need
 * their bits in bits_mask (and, with mask_offload_when_down, a nonzero last
 * bandwidth sample). Returns the number of valid actions. */
int sim_env_mask(const struct pol_env *env, uint8_t *mask);
/* The state the next step is evaluated under (for the oracle and reports). */
void sim_env_true_state(const struct pol_env *env, struct cost_state *s);
void sim_env_info(const struct pol_env *env, struct sim_env_info *info);
/* Evaluates action (an index, valid in the mask) and advances one interval.
 * -EINVAL for an invalid action (nothing advances). */
int sim_env_step(struct pol_env *env, int action, struct sim_env_outcome *out);

/* The reward of cost c at bandwidth bandwidth_bps under the current episode's SLO;
 * fills lambda, deadline_met, energy_met and reward of out (the rest untouched). */
float sim_env_reward(const struct pol_env *env, double bandwidth_bps, const struct cost_estimate *c,
		     struct sim_env_outcome *out);
/* Edge queueing delay with k other devices (M/D/1: S rho / (2 (1 - rho)), rho =
 * min(k S / others_interval, rho_max), capped at queue_cap_ms); *rho may be NULL. */
double sim_env_queue_ms(const struct pol_env *env, int k, double *rho);

#ifdef __cplusplus
}
#endif
#endif
