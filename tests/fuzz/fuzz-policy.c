/* libFuzzer target: the policy-file parser on untrusted bytes. Like fuzz-model.c,
 * each input is parsed as it is, then once more with its file-size field and
 * XXH64 trailer made consistent, so that mutations reach the field checks
 * instead of stopping at the checksum. A policy that parses must act (a valid
 * action under every mask tried, whatever its weights compute, NaN included) and
 * encode back to exactly the bytes it came from. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coinfer/policy-rl.h"

static void parse_and_act(const uint8_t *data, size_t size)
{
	struct pol_policy *p;
	char err[256];
	if (pol_parse(data, size, &p, err, sizeof(err)))
		return;
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
	if (size < 72)
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
