/* Helpers shared by the policy sources. */
#ifndef COINFER_POLICY_INTERNAL_H
#define COINFER_POLICY_INTERNAL_H

#include <stddef.h>

#include "coinfer/action.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"

static inline int pol_finite(float x)
{
	return x - x == 0.0f;
}

/* Dot product in a fixed order: eight interleaved partial sums (so the compiler
 * may keep them in one vector register without reassociating anything), combined
 * pairwise, then the tail. Scalar and vectorised builds give the same bits. */
static inline float pol_dot(const float *a, const float *b, int n)
{
	float s[8] = {0};
	int i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			s[k] += a[i + k] * b[i + k];
	float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
	for (; i < n; i++)
		t += a[i] * b[i];
	return t;
}

struct pol_batch;
struct pol_mlp;

/* A network of this shape with zero parameters (pol_mlp_create without the
 * initialisation, for loaders that overwrite every parameter). */
int pol_mlp_alloc(const int *sizes, int n_sizes, int max_batch, struct pol_mlp **out);

/* Checks an agent's network shape and minibatch size and writes the layer sizes
 * (inputs, hidden..., outputs) into sizes; returns their count or -EINVAL with a
 * message. Shared by SAC-d and DQN. */
int pol_net_sizes(int state_dim, int n_actions, int n_hidden, const int *hidden, int batch,
		  int *sizes, char *err, size_t errlen);
/* A batch an update can trust: its shape, actions valid where taken, and at least
 * one valid action in every next state it bootstraps from. */
int pol_batch_check(const struct pol_batch *b, int state_dim, int n_actions, int max_rows);

/* What keeps a from a policy file's action table (its byte ranges, the bit
 * widths), or NULL. */
const char *pol_action_problem(const struct cf_action *a);

#endif
