/* coinfer policy learning core, part 1: the numerical pieces the learners in
 * policy-learn.h are built from. A seeded RNG, small fully connected networks with
 * hand-written backward passes, masked softmax, Adam, Polyak averaging and a
 * replay buffer of abstract transitions.
 *
 * Functions return 0 or -errno. Everything is single-threaded and sums in a fixed
 * order, so one seed gives bit-identical results run after run on one build; the
 * forward, backward and update paths allocate nothing (workspaces are sized when
 * an object is created).
 *
 * Action masks are arrays of n_actions bytes, nonzero = valid. A NULL mask means
 * every action is valid. */
#ifndef COINFER_POLICY_NN_H
#define COINFER_POLICY_NN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- RNG: xoshiro256** seeded through splitmix64 -------------------------- */

struct pol_rng {
	uint64_t s[4];
	float spare; /* second Box-Muller variate */
	int has_spare;
};

void pol_rng_seed(struct pol_rng *r, uint64_t seed);
uint64_t pol_rng_next(struct pol_rng *r);
/* Uniform integer in [0, n), unbiased; n >= 1. */
uint32_t pol_rng_below(struct pol_rng *r, uint32_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float pol_rng_uniform(struct pol_rng *r);
/* Standard normal (Box-Muller, computed in double). */
float pol_rng_normal(struct pol_rng *r);
/* Index drawn with probability p[i] / sum(p) over the n entries; entries <= 0
 * (masked actions) are never drawn. -EINVAL when no entry is positive. */
int pol_rng_categorical(struct pol_rng *r, const float *p, int n, int *out);

/* ---- MLP: dense layers, ReLU between them, linear output ------------------ */

#define POL_MLP_MAX_LAYERS 8 /* dense layers */
#define POL_MLP_MAX_WIDTH 4096
#define POL_MLP_MAX_BATCH 65536
#define POL_MLP_MAX_PARAMS (1u << 24)

/* Parameters live in one contiguous array (so Adam, Polyak averaging, clipping,
 * copying and saving treat a network as one vector): for each layer l, its
 * weights W[i * out + o] (input-major: the forward pass then adds whole weight
 * rows scaled by one input, which vectorises without reassociating sums), then
 * its biases b[o]. grads has the same layout. Fields are read-only except the
 * contents of params and grads. */
struct pol_mlp {
	int n_layers;                        /* dense layers, 1..POL_MLP_MAX_LAYERS */
	int sizes[POL_MLP_MAX_LAYERS + 1];   /* sizes[0] inputs ... sizes[n_layers] outputs */
	int max_batch, batch;                /* capacity; rows of the last forward */
	size_t n_params;
	float *params, *grads;
	float *w[POL_MLP_MAX_LAYERS], *b[POL_MLP_MAX_LAYERS];   /* into params */
	float *gw[POL_MLP_MAX_LAYERS], *gb[POL_MLP_MAX_LAYERS]; /* into grads */
	float *act[POL_MLP_MAX_LAYERS + 1];  /* act[0] input copy, act[l] layer l output */
	float *delta[2];                     /* backward scratch, max_batch x widest */
};

/* sizes[0..n_sizes): inputs, hidden widths, outputs (n_sizes >= 2). Hidden layers
 * get He-normal weights, the output layer Glorot-uniform ones, biases are zero;
 * all drawn from rng. */
int pol_mlp_create(const int *sizes, int n_sizes, int max_batch, struct pol_rng *rng,
		   struct pol_mlp **out);
void pol_mlp_free(struct pol_mlp *m);
/* Same shape and parameters, own workspaces of max_batch rows. */
int pol_mlp_clone(const struct pol_mlp *m, int max_batch, struct pol_mlp **out);
/* Copies parameters between networks of the same shape (-EINVAL otherwise). */
int pol_mlp_copy_params(struct pol_mlp *dst, const struct pol_mlp *src);
/* Rows of n x sizes[0] in, *y points at n x sizes[n_layers] outputs owned by m,
 * valid until the next forward. Keeps what backward needs. Row r's output does
 * not depend on n or on the other rows. */
int pol_mlp_forward(struct pol_mlp *m, const float *x, int n, const float **y);
/* dy: n x outputs, the loss gradient at the outputs of the last forward. ADDS the
 * parameter gradients to grads (zero them first with pol_mlp_zero_grad); dx
 * (n x inputs, may be NULL) receives the input gradient. */
int pol_mlp_backward(struct pol_mlp *m, const float *dy, float *dx);
void pol_mlp_zero_grad(struct pol_mlp *m);
/* target += tau * (src - target), parameter-wise (tau = 1: copy). */
int pol_mlp_polyak(struct pol_mlp *target, const struct pol_mlp *src, float tau);

/* ---- masked softmax -------------------------------------------------------- */

/* p = softmax(z) and logp = log-softmax(z) over the valid entries only; masked
 * entries get p = 0 and logp = 0 (not -inf, so p * logp and any sum over actions
 * see an exact zero). Stable for any finite z. Either output may be NULL.
 * Returns the number of valid entries (>= 1) or -EINVAL when none is. */
int pol_softmax_masked(const float *z, const uint8_t *mask, int n, float *p, float *logp);
/* Backward of the above: given the softmax output p and the loss gradients dp
 * (wrt p) and dlogp (wrt logp), either may be NULL, sets dz (not adds). Masked
 * entries get dz = 0. */
void pol_softmax_masked_backward(const float *p, const uint8_t *mask, int n, const float *dp,
				 const float *dlogp, float *dz);
/* Index of the largest z among valid entries (lowest index on ties), -EINVAL if
 * none is valid. */
int pol_argmax_masked(const float *z, const uint8_t *mask, int n, int *out);
/* Number of valid entries. */
int pol_mask_count(const uint8_t *mask, int n);

/* ---- optimisation ---------------------------------------------------------- */

struct pol_adam_cfg {
	float lr, beta1, beta2, eps;
	float clip_norm; /* > 0: scale the gradient to this global L2 norm when longer */
};

struct pol_adam {
	struct pol_adam_cfg cfg;
	size_t n;
	uint64_t t;
	double b1t, b2t; /* beta1^t, beta2^t */
	float *m, *v;
};

/* lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8, no clipping. */
struct pol_adam_cfg pol_adam_defaults(float lr);
int pol_adam_init(struct pol_adam *a, size_t n, const struct pol_adam_cfg *cfg);
void pol_adam_free(struct pol_adam *a);
/* One step on params[0..n) with grads (left unchanged). *norm (may be NULL) gets
 * the gradient's L2 norm before clipping. */
void pol_adam_step(struct pol_adam *a, float *params, const float *grads, float *norm);
/* L2 norm of x[0..n), summed in double in a fixed order. */
double pol_l2norm(const float *x, size_t n);

/* ---- replay buffer --------------------------------------------------------- */

/* One step of experience. mask: actions valid in s (the actor's softmax at s is
 * taken over these); mask2: actions valid in s2 (targets at s2). NULL = all. */
struct pol_transition {
	const float *s, *s2;
	const uint8_t *mask, *mask2;
	int a;
	float r;
	int done; /* s2 is terminal: the target does not bootstrap from it */
};

/* A minibatch: n rows of each field, rows contiguous. */
struct pol_batch {
	int n, cap, state_dim, n_actions;
	float *s, *s2, *r;
	int32_t *a;
	uint8_t *mask, *mask2, *done;
};

struct pol_replay {
	int cap, count, head, state_dim, n_actions;
	uint64_t pushed;
	float *s, *s2, *r;
	int32_t *a;
	uint8_t *mask, *mask2, *done;
};

#define POL_REPLAY_MAX (1 << 24)

int pol_replay_create(int capacity, int state_dim, int n_actions, struct pol_replay **out);
void pol_replay_free(struct pol_replay *b);
/* Appends, overwriting the oldest transition once full. -EINVAL when a is out of
 * range or masked in s, a value is not finite, or s2 has no valid action and is
 * not terminal. */
int pol_replay_push(struct pol_replay *b, const struct pol_transition *t);
int pol_batch_create(int cap, int state_dim, int n_actions, struct pol_batch **out);
void pol_batch_free(struct pol_batch *b);
/* n rows drawn uniformly with replacement. -EINVAL when the buffer is empty or n
 * exceeds the batch capacity or the shapes differ. */
int pol_replay_sample(const struct pol_replay *b, struct pol_rng *rng, int n,
		      struct pol_batch *out);

#ifdef __cplusplus
}
#endif
#endif
