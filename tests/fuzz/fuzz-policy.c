/* libFuzzer target: the policy-file parser on untrusted bytes. Like fuzz-model.c,
 * each input is parsed as it is, then once more with its file-size field and
 * XXH64 trailer made consistent, so that mutations reach the field checks
 * instead of stopping at the checksum. A policy that parses must act (a valid
 * action under every mask tried, whatever its weights compute, NaN included),
 * decide by itself from its action table (pol_policy_decide: an entry of the
 * table that the device's mask allows, or a refusal exactly when nothing is
 * allowed or the policy was not trained on the environment's states) and encode
 * back to exactly the bytes it came from. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coinfer/policy-learn.h"

#define HDR_BYTES 128

/* What a device might report: quiet, link down, busy, and values far outside
 * anything trained on. */
static const struct pol_obs_in obs[] = {
	{0},
	{.bw_ewma_mbps = 20, .bw_last_mbps = 0, .load = 2, .dev_class_ms = 80},
	{.bw_ewma_mbps = 5, .bw_last_mbps = 12, .deadline_ms = 100, .energy_j = 0.02,
	 .load = 1.5, .freq_ratio = 0.6, .queue_ms = 30},
	{.bw_ewma_mbps = 1e300, .bw_last_mbps = 1e-300, .deadline_ms = 1e40, .energy_j = -1,
	 .load = 1e30, .freq_ratio = INFINITY, .dev_class_ms = -5, .queue_ms = NAN},
};
static const unsigned bits_masks[] = {0, 1, 0x6, 0x8};

static void decide(struct pol_policy *p)
{
	uint8_t *m = malloc((size_t)p->n_actions);
	if (!m)
		return;
	for (size_t k = 0; k < sizeof(obs) / sizeof(obs[0]); k++)
		for (size_t j = 0; j < sizeof(bits_masks) / sizeof(bits_masks[0]); j++) {
			struct cf_action a;
			int idx = -1, up = obs[k].bw_last_mbps > 0;
			int valid = pol_policy_mask(p, bits_masks[j], up, m);
			int r = pol_policy_decide(p, &obs[k], bits_masks[j], &a, &idx);
			if (valid < 0 || valid > p->n_actions)
				abort();
			if (p->state_dim != POL_ENV_STATE_DIM || !valid) {
				if (r != -EINVAL)
					abort(); /* no decision possible: refused */
				continue;
			}
			if (r || idx < 0 || idx >= p->n_actions || !m[idx])
				abort(); /* a decision the mask does not allow */
			if (memcmp(&a, &p->actions[idx], sizeof(a)) || (!up && a.bits))
				abort(); /* not the table's entry, or offloading with the link down */
		}
	free(m);
}

static void parse_and_act(const uint8_t *data, size_t size)
{
	struct pol_policy *p;
	char err[256];
	if (pol_parse(data, size, &p, err, sizeof(err)))
		return;
	if (!p->actions || !p->mask || p->obs_spec != POL_OBS_SPEC)
		abort(); /* an accepted file carries what acting needs */
	int na = p->n_actions, sd = p->state_dim, a;
	float *s = calloc((size_t)sd, sizeof(float));
	uint8_t *m = malloc((size_t)na);
	if (!s || !m)
		goto out;
	for (int k = 0; k < 4; k++) {
		for (int i = 0; i < sd; i++) /* zeros, ones, large, alternating signs */
			s[i] = k == 0 ? 0.0f : k == 1 ? 1.0f : k == 2 ? 1e30f : (i & 1 ? -3.0f : 3.0f);
		for (int i = 0; i < na; i++)
			m[i] = k == 0 ? 1 : k == 1 ? i == na - 1 : k == 2 ? (i & 1) || na == 1 : i % 3 == 0;
		if (pol_act(p, s, m, &a) || a < 0 || a >= na || !m[a])
			abort(); /* a valid policy with a non-empty mask must choose a valid action */
		if (pol_act(p, s, NULL, &a) || a < 0 || a >= na)
			abort();
	}
	memset(m, 0, (size_t)na);
	if (pol_act(p, s, m, &a) != -EINVAL)
		abort(); /* nothing valid: refused */
	decide(p);
	uint8_t *b;
	size_t len;
	if (pol_encode(p, &b, &len, err, sizeof(err)) || len != size || memcmp(b, data, size))
		abort(); /* parse and encode are inverses on accepted files */
	free(b);
out:
	free(s);
	free(m);
	pol_policy_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_and_act(data, size);
	if (size < HDR_BYTES + 8)
		return 0;
	uint8_t *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	uint64_t len = size, sum;
	for (int i = 0; i < 8; i++)
		copy[16 + i] = (uint8_t)(len >> 8 * i);
	sum = XXH64(copy, size - 8, 0);
	for (int i = 0; i < 8; i++)
		copy[size - 8 + i] = (uint8_t)(sum >> 8 * i);
	parse_and_act(copy, size);
	free(copy);
	return 0;
}
