/* coinfer cost model and optimizers: what every decision-maker and the simulator
 * share (DESIGN.md, "Cost model"; docs/cost-model.md).
 *
 *   latency = T_dev_head(e,p) + T_encode(p,b) + bytes(e,p,b)*8/B + RTT + T_queue_edge
 *             + T_edge_tail(e,p,batch) + T_decode(p,b)
 *   energy  = kappa f^2 sum_{i<p} C_i D_i  (+ the encode's cycles)      Niu et al. (2022) eq. 1
 *             + P * 8 bytes / (B log2(1 + SINR))                          eq. 2, W = B
 *
 * p = 0 sends the encoded input; p = N_e runs the whole exit on the device and has
 * no network, edge or codec terms. The model is a plain struct built once;
 * evaluation and the optimizers allocate nothing. Builds everywhere. */
#ifndef COINFER_COST_H
#define COINFER_COST_H

#include "coinfer/action.h"
#include "coinfer/cost-profile.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cost_exit {
	int n;                                        /* N_e: partitions 0..n */
	unsigned char in_block[COST_MAX_POS + 1];     /* 1: not a partition point */
	int variant, of;                              /* enum cr_variant; the plain exit */
	double fp32_accuracy;
	double dev_ms[COST_MAX_POS + 1];               /* head [0,p), one image, nominal f, load 1 */
	double dev_cycles[COST_MAX_POS + 1];           /* sum of C_i D_i over [0,p) */
	double edge_ms[COST_MAX_POS + 1][COST_MAX_BATCHES]; /* tail [p,n), whole batch */
	double elems[COST_MAX_POS + 1];                /* floats per image at p */
	double bytes[COST_MAX_POS + 1][CF_ACTION_NBITS];     /* frame bytes per image; 0 at p = n */
	double accuracy[COST_MAX_POS + 1][CF_ACTION_NBITS];  /* at p = n: fp32 accuracy, every b */
	char layer[COST_MAX_POS + 1][CR_NAME_LEN];     /* what is sent: "input" or a layer */
};

struct cost_model {
	char model[24];
	char device[COST_NAME_LEN], edge[COST_NAME_LEN];
	int n_exits;
	int n_plain;                                   /* plain exits first, then variants */
	int n_batches, batches[COST_MAX_BATCHES];      /* of the edge profile */
	struct cost_exit ex[COST_MAX_EXITS];
	/* device energy and speed (Niu et al. 2022, eqs. 1-2) */
	double f_hz, kappa, tx_power_w, sinr_db;
	double enc_ns_per_elem[CF_ACTION_NBITS], enc_us_per_frame[CF_ACTION_NBITS]; /* device, nominal f */
	double dec_ns_per_elem[CF_ACTION_NBITS], dec_us_per_frame[CF_ACTION_NBITS]; /* edge */
};

struct cost_state {
	double bandwidth_bps;   /* uplink, bit/s (0: no uplink) */
	double rtt_ms;
	double queue_ms;        /* edge queueing delay */
	double batch;           /* expected batch size at the edge (>= 1; 0 means 1) */
	double load;            /* device load factor, multiplies device time (0 means 1) */
	double freq_hz;         /* device CPU frequency (0: the class's nominal) */
	double energy_budget_j; /* <= 0: no budget */
	double deadline_ms;
};


struct cost_estimate {
	double latency_ms, energy_j, accuracy, bytes;
	/* the terms, for reports */
	double dev_ms, encode_ms, tx_ms, net_ms, edge_ms, decode_ms;
	double energy_comp_j, energy_tx_j;
};

/* Builds cm from the device's and the edge's profiles and classes and a codec
 * table. The profiles must agree on the exits and layers, the device profile is
 * read at batch 1, and the codec table must hold every (exit, p < N_e, bits). */
int cost_build(struct cost_model *cm, const struct cost_profile *dev,
		   const struct cost_device_class *dc, const struct cost_profile *edge,
		   const struct cost_device_class *ec, const struct cost_codec_table *ct, char *err,
		   size_t errlen);

/* -EINVAL for an action outside the model or bits outside {4,8,12,16} (when
 * p < N_e). A bandwidth of 0 (or below) when something is sent gives an infinite
 * transmit time, latency and energy: the frame never arrives. */
int cost_eval(const struct cost_model *cm, const struct cost_state *s,
		  const struct cf_action *a, struct cost_estimate *out);

/* Edge tail time of [p, N_e) of exit index exit for a batch of n images
 * (interpolated as cost_profile_layer_ms). */
double cost_edge_ms(const struct cost_model *cm, int exit, int p, double n);

/* Every action allowed by bits_mask, exits and partitions ascending, one action
 * (bits 0) at p = N_e. Returns how many there are; at most max are written. */
int cost_actions(const struct cost_model *cm, unsigned bits_mask, struct cf_action *a,
		     int max);

/* ---- optimizers ---------------------------------------------------------------- */

/* Edgent (Li et al. 2018) Algorithm 1: exits from the most accurate (fp32) down; for each, the
 * (p, b) of least latency among those within the energy budget; the first exit
 * whose best latency meets the deadline wins. If none does, the fastest action
 * within the budget (the fastest overall when nothing is). */
int cost_search_edgent(const struct cost_model *cm, const struct cost_state *s,
		      unsigned bits_mask, struct cf_action *a);
/* Exhaustive: the highest accuracy with latency <= deadline and energy <= budget,
 * ties to the lower latency; otherwise as Edgent's fallback. */
int cost_search_oracle(const struct cost_model *cm, const struct cost_state *s,
		      unsigned bits_mask, struct cf_action *a);
/* The deepest exit whose whole run on the device meets the deadline, else exit 1. */
int cost_search_device_only(const struct cost_model *cm, const struct cost_state *s,
			   struct cf_action *a);
/* p = 0 on the deepest exit; bits 8 when allowed (the input is 8-bit to begin
 * with), else the smallest allowed above 8, else the largest allowed. */
int cost_search_edge_only(const struct cost_model *cm, const struct cost_state *s,
			 unsigned bits_mask, struct cf_action *a);

/* Edgent (Li et al. 2018) Fig. 7's ablations. Partitioning alone: no early exit, so the deepest
 * exit always; its (p, b) of least latency within the energy budget (the fastest
 * overall when nothing is), whether or not that meets the deadline. */
int cost_search_partition_only(const struct cost_model *cm, const struct cost_state *s,
			      unsigned bits_mask, struct cf_action *a);
/* Right-sizing alone: no partitioning, the chosen exit runs whole on the device
 * (Edgent, Li et al. 2018, does not say where; on the edge it would differ from edge-only only
 * by the edge's compute, small beside the input's upload). Exits from the most
 * accurate (fp32) down, the first that meets the deadline and the energy budget;
 * else the fastest within the budget (the fastest overall when nothing is). With
 * exits ranked by accuracy and no budget it agrees with device-only whenever an
 * exit fits. */
int cost_search_right_sizing_only(const struct cost_model *cm, const struct cost_state *s,
				 struct cf_action *a);

/* Seed 003's Table 2, one method: the deepest plain exit (variant 0: split-only,
 * any of its partition points from min_partition on) or its variants of one kind
 * (pruned, codec, both: each at its split point); of their actions the allowed bits
 * give, the least latency whose accuracy is within max_loss of that exit's own fp32
 * accuracy (the link's quantization may cost max_loss; what a variant loses against
 * the plain exit is the method's own, reported beside it). When none is, the most
 * accurate (ties to the lower latency). Returns 0, -ENOENT when the model has no
 * exit of that kind, or -EINVAL. */
int cost_search_method(const struct cost_model *cm, const struct cost_state *s, int variant,
		       double max_loss, unsigned bits_mask, int min_partition,
		       struct cf_action *a);

struct cost_optimizer {
	const char *name;
	int (*decide)(struct cost_optimizer *o, const struct cost_state *s, struct cf_action *a);
	void (*destroy)(struct cost_optimizer *o);
	void *data;
};

struct cost_opt_cfg {
	const struct cost_model *cm; /* must outlive the optimizer */
	unsigned bits_mask;              /* 0 means CF_ACTION_BITS_ALL */
	struct cf_action fixed;          /* for "fixed" */
};

/* name: "edgent", "oracle", "device-only", "edge-only", "partition-only",
 * "right-sizing-only", "fixed". -ENOENT for an unknown name, -EINVAL for a bad
 * configuration (message in err). */
int cost_optimizer_create(const char *name, const struct cost_opt_cfg *cfg, struct cost_optimizer **out,
			 char *err, size_t errlen);
void cost_optimizer_free(struct cost_optimizer *o);
static inline int cost_decide(struct cost_optimizer *o, const struct cost_state *s,
			     struct cf_action *a)
{
	return o->decide(o, s, a);
}
/* "edgent,oracle,device-only,edge-only,partition-only,right-sizing-only,fixed" */
extern const char *const pol_optimizer_names;

/* ---- loader (native builds only) ------------------------------------------------ */

/* conf/devices classes under root, for model m, with the codec table at codec_path
 * (NULL: ROOT/models/<model name>.codec.json). *out is malloc'd (free()). */
int cost_load(const struct cr_model *m, const char *root, const char *device, const char *edge,
		  const char *codec_path, struct cost_model **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
