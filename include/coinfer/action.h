/* The action a decision-maker picks for one request: which exit answers it,
 * where the network is cut, and how the cut tensor is quantized. The policy,
 * the cost model, the simulator, the agent and the wire encoding all speak it.
 *
 * exit is the exit's index, from 0, everywhere in code: "exit N" for people
 * (command lines, printed text, JSON, the bytes of a policy file) is index
 * N - 1 (docs/protocol.md, "Numbering of exits and partitions"). partition is
 * the cut: 0 sends the input, N_e (the exit's layer count) runs the whole exit
 * on the device and sends nothing, and such a device-only action has bits 0.
 *
 * How the cut tensor is encoded (the codec, per-channel scales) is not part of
 * it. Nothing that decides picks an encoding: the policy and the cost model see
 * the codec only through the codec table's bytes per bit width, the wire says
 * it in the codec frame rather than next to the action, and the device agent
 * applies its own setting (ag_config.codec) to whichever action was chosen. As
 * fields here they would be left unset by every speaker but one. */
#ifndef COINFER_ACTION_H
#define COINFER_ACTION_H

struct cf_action {
	int exit;      /* exit index, 0..n_exits - 1 */
	int partition; /* 0..N_e */
	/* 4, 8, 12, 16 from the policy and the cost model (0 at partition N_e); on
	 * the wire and in the agent also 2..16, or 0 for an unquantized frame */
	int bits;
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
