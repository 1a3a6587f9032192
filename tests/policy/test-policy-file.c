/* The policy file (docs/policy-file.md): round trips through memory and disk,
 * and rejection of truncated, corrupted and lying files with a message naming
 * the problem. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "coinfer/policy-rl.h"

static char err[512];

/* A small trained-looking SAC-d policy: 3 inputs, hidden 6 and 5, 4 actions. */
static struct pol_policy *small_policy(void)
{
	struct pol_sacd_cfg c = pol_sacd_defaults(3, 4);
	c.hidden[0] = 6, c.hidden[1] = 5, c.batch = 2, c.seed = 9;
	struct pol_sacd *ag;
	struct pol_policy *p;
	cr_assert_eq(pol_sacd_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
	float mean[3] = {0.5f, -1.0f, 2.0f}, std[3] = {0.25f, 2.0f, 1.0f};
	cr_assert_eq(pol_sacd_export(ag, mean, std, &p), 0);
	pol_sacd_free(ag);
	return p;
}

static size_t encode(const struct pol_policy *p, uint8_t **b)
{
	size_t len;
	cr_assert_eq(pol_encode(p, b, &len, err, sizeof(err)), 0, "%s", err);
	return len;
}

static int parse(const uint8_t *b, size_t len)
{
	struct pol_policy *p = (struct pol_policy *)1;
	err[0] = 0;
	int r = pol_parse(b, len, &p, err, sizeof(err));
	if (!r) {
		pol_policy_free(p);
	} else {
		cr_expect(p == NULL, "failed parse left a policy behind");
		cr_expect(err[0], "failed parse (%d) without a message", r);
	}
	return r;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static void reseal(uint8_t *b, size_t len)
{
	uint64_t s = XXH64(b, len - 8, 0);
	for (int i = 0; i < 8; i++)
		b[len - 8 + i] = (uint8_t)(s >> 8 * i);
}

Test(policy_file, round_trip)
{
	struct pol_policy *p = small_policy(), *q;
	uint8_t *b, *b2;
	size_t len = encode(p, &b);
	/* 64 header + 4 x 4 sizes + 2 x 3 x 4 normalisation + params x 4 + 8 */
	size_t np = 3 * 6 + 6 + 6 * 5 + 5 + 5 * 4 + 4;
	cr_expect_eq(len, 64 + 16 + 24 + 4 * np + 8);
	cr_assert_eq(pol_parse(b, len, &q, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(q->algo, POL_ALGO_SACD);
	cr_expect_eq(q->state_dim, 3);
	cr_expect_eq(q->n_actions, 4);
	cr_expect_eq(q->net->n_layers, 3);
	cr_expect_eq(q->net->sizes[1], 6);
	cr_expect(!memcmp(q->net->params, p->net->params, np * sizeof(float)));
	cr_expect(!memcmp(q->mean, p->mean, 3 * sizeof(float)));
	cr_expect(!memcmp(q->std, p->std, 3 * sizeof(float)));
	cr_expect_eq(len, encode(q, &b2));
	cr_expect(!memcmp(b, b2, len), "re-encoding changes the bytes");
	/* acting: same decisions, masks respected, normalisation applied */
	struct pol_rng r;
	pol_rng_seed(&r, 1);
	uint8_t mask[4] = {1, 0, 1, 1}, none[4] = {0};
	for (int i = 0; i < 200; i++) {
		float s[3] = {pol_rng_normal(&r), pol_rng_normal(&r), pol_rng_normal(&r)}, x[3];
		int a, c, ref;
		const float *y;
		cr_assert_eq(pol_act(p, s, mask, &a), 0);
		cr_assert_eq(pol_act(q, s, mask, &c), 0);
		cr_expect_eq(a, c);
		cr_expect_neq(a, 1, "masked action chosen");
		pol_normalize(p->mean, p->std, 3, s, x);
		for (int k = 0; k < 3; k++)
			cr_expect_eq(x[k], (s[k] - p->mean[k]) / p->std[k]);
		pol_mlp_forward(p->net, x, 1, &y);
		pol_argmax_masked(y, mask, 4, &ref);
		cr_expect_eq(a, ref);
	}
	int a;
	float s[3] = {0};
	cr_expect_eq(pol_act(q, s, none, &a), -EINVAL);
	free(b), free(b2);
	pol_policy_free(p);
	pol_policy_free(q);
}

Test(policy_file, dqn_export_and_disk)
{
	struct pol_dqn_cfg c = pol_dqn_defaults(4, 7);
	c.hidden[0] = 8, c.n_hidden = 1, c.batch = 1;
	struct pol_dqn *ag;
	struct pol_policy *p, *q;
	cr_assert_eq(pol_dqn_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
	float badstd[4] = {1, 0, 1, 1};
	cr_expect_eq(pol_dqn_export(ag, NULL, badstd, &p), -EINVAL);
	cr_assert_eq(pol_dqn_export(ag, NULL, NULL, &p), 0);
	cr_expect_eq(p->algo, POL_ALGO_DQN);
	char path[] = "/tmp/coinfer-policy-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(pol_save(p, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pol_load(path, &q, err, sizeof(err)), 0, "%s", err);
	cr_expect(!memcmp(p->net->params, q->net->params, p->net->n_params * sizeof(float)));
	cr_expect_eq(q->net->n_layers, 2);
	pol_policy_free(q);
	/* a truncated file on disk: the message names the file */
	cr_assert_eq(truncate(path, 100), 0);
	cr_expect_neq(pol_load(path, &q, err, sizeof(err)), 0);
	cr_expect(strstr(err, path) != NULL, "%s", err);
	unlink(path);
	cr_expect_eq(pol_load(path, &q, err, sizeof(err)), -ENOENT);
	cr_expect_eq(pol_load("/tmp", &q, err, sizeof(err)), -EINVAL);
	cr_expect_eq(pol_save(p, "/nonexistent-dir/x.pol", err, sizeof(err)), -ENOENT);
	pol_policy_free(p);
	pol_dqn_free(ag);
}

Test(policy_file, every_truncation_fails)
{
	struct pol_policy *p = small_policy();
	uint8_t *b;
	size_t len = encode(p, &b);
	for (size_t n = 0; n < len; n++)
		cr_assert_neq(parse(b, n), 0, "truncated to %zu bytes accepted", n);
	uint8_t *longer = calloc(1, len + 1);
	memcpy(longer, b, len);
	cr_expect_neq(parse(longer, len + 1), 0, "trailing byte accepted");
	cr_assert_eq(parse(b, len), 0, "%s", err);
	free(longer), free(b);
	pol_policy_free(p);
}

Test(policy_file, every_bit_flip_fails)
{
	struct pol_policy *p = small_policy();
	uint8_t *b;
	size_t len = encode(p, &b);
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1u << bit);
			cr_assert_neq(parse(b, len), 0, "flip of bit %d at byte %zu accepted", bit, i);
			b[i] ^= (uint8_t)(1u << bit);
		}
	cr_assert_eq(parse(b, len), 0, "%s", err);
	free(b);
	pol_policy_free(p);
}

/* A field rewritten and the checksum made valid again: the field check itself
 * must refuse it, with a message containing `word`. */
static void lie(size_t off, uint32_t v, const char *word)
{
	struct pol_policy *p = small_policy();
	uint8_t *b;
	size_t len = encode(p, &b);
	wr32(b + off, v);
	reseal(b, len);
	cr_expect_neq(parse(b, len), 0, "field at %zu = %u accepted", off, v);
	cr_expect(strstr(err, word) != NULL, "field at %zu = %u: message \"%s\" lacks \"%s\"", off, v,
		  err, word);
	free(b);
	pol_policy_free(p);
}

static uint32_t fbits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

Test(policy_file, lying_fields)
{
	const size_t sizes = 64, mean = 64 + 16, std = mean + 12, w = std + 12;
	lie(0, 0x12345678, "magic");
	lie(8, 2, "version");
	lie(12, 63, "header size");
	lie(16, 1000, "file size");
	lie(20, 1, "file size");
	lie(24, 0, "algorithm");
	lie(24, 3, "algorithm");
	lie(28, 0, "state_dim");
	lie(28, 5000, "state_dim");
	lie(28, 4, "states");      /* header and network disagree */
	lie(32, 0, "n_actions");
	lie(32, 5, "actions");
	lie(36, 0, "n_layers");
	lie(36, 9, "n_layers");
	lie(36, 2, "states");      /* one layer fewer: sizes[2] = 5 is not 4 actions */
	lie(36, 8, "layer size");  /* the table runs into the mean (floats) */
	lie(40, 1, "reserved");
	lie(44, 1, "reserved");
	lie(56, 140, "parameter count");
	lie(60, 1, "parameter count");
	lie(sizes + 4, 0, "layer size");
	lie(sizes + 4, 5000, "layer size");
	lie(sizes + 4, 7, "parameter count");
	lie(sizes + 4, 4096, "parameter count");
	lie(mean + 4, fbits(INFINITY), "mean[1]");
	lie(std + 8, fbits(NAN), "std[2]");
	lie(std, fbits(0.0f), "std[0]");
	lie(std, fbits(-1.0f), "std[0]");
	lie(w + 40, fbits(NAN), "weight 10");
	lie(w, fbits(-INFINITY), "weight 0");
}

Test(policy_file, huge_claims_do_not_allocate)
{
	/* a header claiming the largest network, with the parameter count to
	 * match, in a small buffer: refused on sizes, nothing allocated */
	uint8_t b[64 + 36 + 8] = {0};
	memcpy(b, "CFPOLICY", 8);
	wr32(b + 8, 1), wr32(b + 12, 64), wr32(b + 16, sizeof(b));
	wr32(b + 24, 1), wr32(b + 28, 1024), wr32(b + 32, 4096), wr32(b + 36, 8);
	for (int l = 0; l <= 8; l++)
		wr32(b + 64 + 4 * l, l == 0 ? 1024 : 4096);
	uint64_t np = 1024ull * 4096 + 4096 + 7 * (4096ull * 4096 + 4096);
	wr32(b + 56, (uint32_t)np), wr32(b + 60, (uint32_t)(np >> 32));
	reseal(b, sizeof(b));
	cr_expect_neq(parse(b, sizeof(b)), 0);
	cr_expect(strstr(err, "limit") || strstr(err, "sections"), "%s", err);
}
