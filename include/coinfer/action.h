/* The action a decision-maker picks for one request: which exit answers it,
 * where the network is cut, and how the cut tensor is quantized. The policy,
 * the cost model, the simulator, the agent and the wire encoding all speak it. */
#ifndef COINFER_ACTION_H
#define COINFER_ACTION_H

struct pol_action {
	int exit;      /* 1..n_exits */
	int partition; /* 0..N_e */
	int bits;      /* 4, 8, 12, 16; ignored (reported as 0) when partition == N_e */
};

/* The quantization bits an action may use, in index order; a bits mask has bit
 * i set for cf_action_bits[i]. */
#define CF_ACTION_NBITS 4
static const int cf_action_bits[CF_ACTION_NBITS] = {4, 8, 12, 16};
#define CF_ACTION_BITS_ALL 0xFu

/* Index of b in cf_action_bits, or -1. */
static inline int cf_action_bits_index(int b)
{
	for (int i = 0; i < CF_ACTION_NBITS; i++)
		if (cf_action_bits[i] == b)
			return i;
	return -1;
}

#endif
