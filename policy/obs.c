/* The observation vector a policy decides from (policy.h, "observation"): the
 * same function for the simulator's training states and for the appliance's and
 * agent's live decisions, so the two cannot drift apart. */
#include <errno.h>
#include <math.h>

#include "coinfer/policy.h"

static float bw_obs(double mbps)
{
	return (float)(log2(1 + (mbps > 0 ? mbps : 0)) / 4);
}

int pol_obs_make(const struct pol_obs_in *in, float *s, int n)
{
	if (n < POL_ENV_STATE_DIM)
		return -EINVAL;
	s[POL_OBS_BW_EWMA] = bw_obs(in->bw_ewma_mbps);
	s[POL_OBS_BW_LAST] = bw_obs(in->bw_last_mbps);
	s[POL_OBS_DEADLINE] = (float)(in->deadline_ms / 100);
	s[POL_OBS_ENERGY] = (float)(in->energy_j / POL_OBS_ENERGY_SCALE_J);
	s[POL_OBS_HAS_BUDGET] = in->energy_j > 0 ? 1.0f : 0.0f;
	s[POL_OBS_LOAD] = (float)(in->load > 0 ? in->load : 1);
	s[POL_OBS_FREQ] = (float)(in->freq_ratio > 0 ? in->freq_ratio : 1);
	s[POL_OBS_DEV_MS] = (float)(in->dev_class_ms / 100);
	s[POL_OBS_QUEUE] = (float)(in->queue_ms / 100);
	return POL_ENV_STATE_DIM;
}
