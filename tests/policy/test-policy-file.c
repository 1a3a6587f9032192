/* The policy file (docs/policy-file.md): round trips through memory and disk,
 * and rejection of truncated, corrupted and lying files with a message naming
 * the problem; then acting with a deployed policy (policy/act.c): its mask and
 * one-call decision, the same before and after a trip through the file, and the
 * check that it fits the model served. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "coinfer/policy-learn.h"

static char err[512];

/* Offsets in the file of small_policy (3 inputs, hidden 6 and 5, 4 actions). */
enum {
	HDR = 128,
	SIZES = HDR,
	MEAN = SIZES + 16,
	STD = MEAN + 12,
	ACTS = STD + 12,
	W = ACTS + 16,
	N_PARAMS = 3 * 6 + 6 + 6 * 5 + 5 + 5 * 4 + 4,
};

static const struct cf_action small_actions[4] = {
	{0, 2, 0}, {0, 0, 8}, {1, 1, 4}, {1, 3, 16}};

/* A small trained-looking SAC-d policy: 3 inputs, hidden 6 and 5, 4 actions;
 * meta: whether to give it its action table and names. */
static struct pol_policy *small_policy_meta(int meta)
{
	struct pol_sacd_cfg c = pol_sacd_defaults(3, 4);
	c.hidden[0] = 6, c.hidden[1] = 5, c.batch = 2, c.seed = 9;
	struct pol_sacd *ag;
	struct pol_policy *p;
	cr_assert_eq(pol_sacd_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
	float mean[3] = {0.5f, -1.0f, 2.0f}, std[3] = {0.25f, 2.0f, 1.0f};
	cr_assert_eq(pol_sacd_export(ag, mean, std, &p), 0);
	pol_sacd_free(ag);
	cr_assert_null(p->actions, "export gave an action table");
	if (meta)
		cr_assert_eq(pol_policy_set_meta(p, small_actions, 4, "pi4-a72", "resnet18.ee", 123.5),
			     0);
	return p;
}

static struct pol_policy *small_policy(void)
{
	return small_policy_meta(1);
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

static uint32_t fbits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

Test(policy_file, round_trip)
{
	struct pol_policy *p = small_policy(), *q;
	uint8_t *b, *b2;
	size_t len = encode(p, &b);
	/* 128 header + 4 x 4 sizes + 2 x 3 x 4 normalisation + 4 x 4 actions
	 * + params x 4 + 8 */
	cr_expect_eq(len, 128 + 16 + 24 + 16 + 4 * N_PARAMS + 8);
	cr_expect_eq(len, W + 4 * N_PARAMS + 8);
	cr_assert_eq(pol_parse(b, len, &q, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(q->algo, POL_ALGO_SACD);
	cr_expect_eq(q->state_dim, 3);
	cr_expect_eq(q->n_actions, 4);
	cr_expect_eq(q->net->n_layers, 3);
	cr_expect_eq(q->net->sizes[1], 6);
	cr_expect(!memcmp(q->net->params, p->net->params, N_PARAMS * sizeof(float)));
	cr_expect(!memcmp(q->mean, p->mean, 3 * sizeof(float)));
	cr_expect(!memcmp(q->std, p->std, 3 * sizeof(float)));
	/* the metadata: everything pol_policy_decide needs */
	cr_assert_not_null(q->actions);
	cr_expect_not_null(q->mask, "no mask scratch: pol_policy_decide cannot run");
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(q->actions[i].exit, small_actions[i].exit);
		cr_expect_eq(q->actions[i].partition, small_actions[i].partition);
		cr_expect_eq(q->actions[i].bits, small_actions[i].bits);
	}
	cr_expect_eq(q->obs_spec, POL_OBS_SPEC);
	cr_expect_eq(q->dev_class_ms, 123.5f);
	cr_expect_str_eq(q->device_class, "pi4-a72");
	cr_expect_str_eq(q->model, "resnet18.ee");
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

/* Header fields where the format puts them. */
Test(policy_file, header_layout)
{
	struct pol_policy *p = small_policy();
	uint8_t *b;
	size_t len = encode(p, &b);
	cr_expect(!memcmp(b, "CFPOLICY", 8));
	cr_expect_eq(b[8], POL_FILE_VERSION);
	cr_expect_eq(b[12], 128);
	cr_expect_eq(b[16] | b[17] << 8, (int)len);
	cr_expect_eq(b[40], POL_OBS_SPEC);
	uint32_t ms = (uint32_t)b[44] | (uint32_t)b[45] << 8 | (uint32_t)b[46] << 16 |
		      (uint32_t)b[47] << 24;
	cr_expect_eq(ms, fbits(123.5f));
	cr_expect_str_eq((char *)b + 64, "pi4-a72");
	cr_expect_str_eq((char *)b + 96, "resnet18.ee");
	for (int i = 64 + 7; i < 96; i++)
		cr_expect_eq(b[i], 0, "device_class padding byte %d", i);
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(b[ACTS + 4 * i], small_actions[i].exit + 1, "the file counts from 1");
		cr_expect_eq(b[ACTS + 4 * i + 1], small_actions[i].partition);
		cr_expect_eq(b[ACTS + 4 * i + 2], small_actions[i].bits);
		cr_expect_eq(b[ACTS + 4 * i + 3], 0);
	}
	free(b);
	/* a name replaced by a shorter one: nothing of the old one reaches the file */
	cr_assert_eq(pol_policy_set_meta(p, small_actions, 4, "a-much-longer-class-name", "m", 0),
		     0);
	cr_assert_eq(pol_policy_set_meta(p, small_actions, 4, "pi4", "m", 0), 0);
	encode(p, &b);
	cr_expect_str_eq((char *)b + 64, "pi4");
	for (int i = 64 + 3; i < 96; i++)
		cr_expect_eq(b[i], 0, "stale name byte %d", i);
	cr_expect_eq(parse(b, len), 0, "%s", err);
	free(b);
	pol_policy_free(p);
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
	cr_expect_null(p->actions);
	char path[] = "/tmp/coinfer-policy-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	/* without an action table there is nothing to save, and the old file stays */
	cr_expect_eq(pol_save(p, path, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "action table") != NULL, "%s", err);
	cr_expect_eq(access(path, F_OK), 0);
	struct cf_action a[7];
	for (int i = 0; i < 7; i++)
		a[i] = (struct cf_action){i / 4, i % 4, i % 4 == 3 ? 0 : 4 * (i % 4 + 1)};
	cr_assert_eq(pol_policy_set_meta(p, a, 7, "jetson-nano", "mobilenet_v2", 40), 0);
	cr_assert_eq(pol_save(p, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pol_load(path, &q, err, sizeof(err)), 0, "%s", err);
	cr_expect(!memcmp(p->net->params, q->net->params, p->net->n_params * sizeof(float)));
	cr_expect_eq(q->net->n_layers, 2);
	cr_expect_eq(q->algo, POL_ALGO_DQN);
	cr_expect(!memcmp(q->actions, a, sizeof(a)));
	cr_expect_str_eq(q->model, "mobilenet_v2");
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

/* pol_encode writes only what pol_parse accepts: metadata set by hand past
 * pol_policy_set_meta is checked too, with the field named. */
static void encode_refuses(struct pol_policy *p, const char *word)
{
	uint8_t *b = (uint8_t *)1;
	size_t len;
	err[0] = 0;
	cr_expect_eq(pol_encode(p, &b, &len, err, sizeof(err)), -EINVAL, "encoded (%s)", word);
	cr_expect_null(b);
	cr_expect(strstr(err, word) != NULL, "message \"%s\" lacks \"%s\"", err, word);
}

Test(policy_file, encode_refuses_bad_meta)
{
	struct pol_policy *p = small_policy_meta(0);
	encode_refuses(p, "action table");
	cr_assert_eq(pol_policy_set_meta(p, small_actions, 4, "pi4", "m", 1), 0);
	p->obs_spec = POL_OBS_SPEC + 1;
	encode_refuses(p, "obs_spec");
	p->obs_spec = POL_OBS_SPEC;
	p->dev_class_ms = NAN;
	encode_refuses(p, "dev_class_ms");
	p->dev_class_ms = -1;
	encode_refuses(p, "dev_class_ms");
	p->dev_class_ms = 1e9f;
	encode_refuses(p, "dev_class_ms");
	p->dev_class_ms = 0;
	memset(p->model, 'a', sizeof(p->model));
	encode_refuses(p, "model");
	p->model[0] = 0;
	encode_refuses(p, "model");
	strcpy(p->model, "m");
	strcpy(p->device_class, "pi 4");
	encode_refuses(p, "device_class");
	strcpy(p->device_class, "pi4");
	p->actions[2].exit = 255;
	encode_refuses(p, "action 2");
	p->actions[2].exit = -1;
	encode_refuses(p, "exit");
	p->actions[2].exit = 0;
	p->actions[3].partition = -1;
	encode_refuses(p, "partition");
	p->actions[3].partition = 256;
	encode_refuses(p, "partition");
	p->actions[3].partition = 0;
	p->actions[0].bits = 5;
	encode_refuses(p, "bits");
	p->actions[0].bits = 0;
	uint8_t *b;
	cr_expect_eq(parse(b, encode(p, &b)), 0, "%s", err);
	free(b);
	pol_policy_free(p);
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

/* n bytes rewritten at off and the checksum made valid again: the field check
 * itself must refuse it, with a message containing `word`. */
static void lie_bytes(size_t off, const void *v, size_t n, const char *word)
{
	struct pol_policy *p = small_policy();
	uint8_t *b;
	size_t len = encode(p, &b);
	memcpy(b + off, v, n);
	reseal(b, len);
	cr_expect_neq(parse(b, len), 0, "%zu bytes at %zu accepted (%s)", n, off, word);
	cr_expect(strstr(err, word) != NULL, "%zu bytes at %zu: message \"%s\" lacks \"%s\"", n,
		  off, err, word);
	free(b);
	pol_policy_free(p);
}

static void lie(size_t off, uint32_t v, const char *word)
{
	uint8_t w[4];
	wr32(w, v);
	lie_bytes(off, w, 4, word);
}

static void lie8(size_t off, uint8_t v, const char *word)
{
	lie_bytes(off, &v, 1, word);
}

Test(policy_file, lying_fields)
{
	lie(0, 0x12345678, "magic");
	lie(8, 1, "version 1");
	lie(8, 3, "version");
	lie(12, 64, "header size");
	lie(12, 127, "header size");
	lie(16, 1000, "file size");
	lie(20, 1, "file size");
	lie(24, 0, "algorithm");
	lie(24, 3, "algorithm");
	lie(28, 0, "state_dim");
	lie(28, 5000, "state_dim");
	lie(28, 4, "states");      /* header and network disagree */
	lie(32, 0, "n_actions");
	lie(32, 5000, "n_actions");
	lie(32, 5, "actions");
	lie(36, 0, "n_layers");
	lie(36, 9, "n_layers");
	lie(36, 2, "states");      /* one layer fewer: sizes[2] = 5 is not 4 actions */
	lie(36, 8, "layer size");  /* the table runs into the mean (floats) */
	lie(56, 140, "parameter count");
	lie(60, 1, "parameter count");
	lie(SIZES + 4, 0, "layer size");
	lie(SIZES + 4, 5000, "layer size");
	lie(SIZES + 4, 7, "parameter count");
	lie(SIZES + 4, 4096, "parameter count");
	lie(MEAN + 4, fbits(INFINITY), "mean[1]");
	lie(STD + 8, fbits(NAN), "std[2]");
	lie(STD, fbits(0.0f), "std[0]");
	lie(STD, fbits(-1.0f), "std[0]");
	lie(W + 40, fbits(NAN), "weight 10");
	lie(W, fbits(-INFINITY), "weight 0");
}

Test(policy_file, lying_meta)
{
	lie(40, 0, "obs_spec");
	lie(40, POL_OBS_SPEC + 1, "obs_spec");
	lie(44, fbits(NAN), "dev_class_ms");
	lie(44, fbits(INFINITY), "dev_class_ms");
	lie(44, fbits(-INFINITY), "dev_class_ms");
	lie(44, fbits(-1.0f), "dev_class_ms");
	lie(44, fbits(-1e-30f), "dev_class_ms");
	lie(44, fbits(1e9f), "dev_class_ms");
	char full[32];
	memset(full, 'a', sizeof(full));
	lie_bytes(64, full, 32, "device_class has no terminating NUL");
	lie_bytes(96, full, 32, "model has no terminating NUL");
	lie8(64, 0, "device_class is empty");
	lie8(96, 0, "model is empty");
	lie8(65, '/', "device_class has a character");
	lie8(96, ' ', "model has a character");
	lie8(64, 0x80, "device_class has a character");
	lie8(64 + 31, 'x', "device_class has nonzero byte");
	lie8(64 + 8, 1, "device_class has nonzero byte");
	lie8(96 + 31, 'x', "model has nonzero byte");
	/* the action table: 4 entries of exit, partition, bits, reserved */
	lie8(ACTS, 0, "action 0");
	lie8(ACTS + 4, 0, "exit");
	lie8(ACTS + 4 * 2 + 2, 5, "bits");
	lie8(ACTS + 4 * 3 + 2, 32, "action 3");
	lie8(ACTS + 4 * 3 + 2, 255, "bits");
	lie8(ACTS + 3, 1, "reserved");
	lie8(ACTS + 4 * 3 + 3, 0x80, "action 3: reserved");
}

/* Field values at the ends of their ranges are accepted and come back as
 * written. */
Test(policy_file, meta_extremes)
{
	struct pol_policy *p = small_policy_meta(0), *q;
	struct cf_action a[4] = {{254, 255, 16}, {0, 0, 0}, {254, 0, 12}, {0, 255, 4}};
	char longest[32];
	memset(longest, 'Z', 31), longest[31] = 0;
	cr_assert_eq(pol_policy_set_meta(p, a, 4, longest, "x", 0), 0);
	uint8_t *b, *b2;
	size_t len = encode(p, &b);
	cr_assert_eq(pol_parse(b, len, &q, err, sizeof(err)), 0, "%s", err);
	cr_expect(!memcmp(q->actions, a, sizeof(a)));
	cr_expect_str_eq(q->device_class, longest);
	cr_expect_eq(q->dev_class_ms, 0.0f);
	cr_expect_eq(encode(q, &b2), len);
	cr_expect(!memcmp(b, b2, len));
	free(b), free(b2);
	pol_policy_free(q);
	cr_assert_eq(pol_policy_set_meta(p, a, 4, "c", "m", 999999936.0), 0);
	len = encode(p, &b);
	cr_expect_eq(parse(b, len), 0, "%s", err);
	free(b);
	pol_policy_free(p);
}

/* A version 1 file, as the previous format wrote it (64-byte header, no action
 * table): refused by its version, short as it is. */
Test(policy_file, version_1_refused)
{
	uint8_t b[64 + 8 + 8 + 8 + 8] = {0};
	memcpy(b, "CFPOLICY", 8);
	wr32(b + 8, 1), wr32(b + 12, 64), wr32(b + 16, sizeof(b));
	wr32(b + 24, 1), wr32(b + 28, 1), wr32(b + 32, 1), wr32(b + 36, 1);
	wr32(b + 56, 2);
	wr32(b + 64, 1), wr32(b + 68, 1);
	wr32(b + 76, fbits(1.0f));
	reseal(b, sizeof(b));
	cr_expect_eq(parse(b, sizeof(b)), -EINVAL);
	cr_expect(strstr(err, "version 1") && strstr(err, "action table"), "%s", err);
	/* and the shortest inputs get a message too */
	cr_expect_neq(parse(b, 11), 0);
	cr_expect(strstr(err, "shorter"), "%s", err);
	cr_expect_neq(parse(b, 12), 0);
	cr_expect(strstr(err, "version 1"), "%s", err);
}

Test(policy_file, huge_claims_do_not_allocate)
{
	/* a header claiming the largest network, with the parameter count to
	 * match, in a small buffer: refused on sizes, nothing allocated */
	uint8_t b[128 + 36 + 8] = {0};
	memcpy(b, "CFPOLICY", 8);
	wr32(b + 8, 2), wr32(b + 12, 128), wr32(b + 16, sizeof(b));
	wr32(b + 24, 1), wr32(b + 28, 1024), wr32(b + 32, 4096), wr32(b + 36, 8);
	wr32(b + 40, POL_OBS_SPEC);
	b[64] = 'c', b[96] = 'm';
	for (int l = 0; l <= 8; l++)
		wr32(b + 128 + 4 * l, l == 0 ? 1024 : 4096);
	uint64_t np = 1024ull * 4096 + 4096 + 7 * (4096ull * 4096 + 4096);
	wr32(b + 56, (uint32_t)np), wr32(b + 60, (uint32_t)(np >> 32));
	reseal(b, sizeof(b));
	cr_expect_neq(parse(b, sizeof(b)), 0);
	cr_expect(strstr(err, "limit") || strstr(err, "sections"), "%s", err);
}

/* ---- acting with a deployed policy (policy/act.c) --------------------------- */

/* Two exits of a model with 3 positions: device-only (bits 0) and offloading
 * actions at several bit widths. */
static const struct cf_action env_actions[] = {
	{0, 3, 0}, {0, 0, 4}, {0, 0, 8}, {0, 1, 12}, {0, 2, 16},
	{1, 3, 0}, {1, 0, 8}, {1, 1, 4}, {1, 2, 16}, {1, 2, 12},
};
#define ENV_N ((int)(sizeof(env_actions) / sizeof(env_actions[0])))

static struct pol_policy *env_policy(int algo, uint64_t seed)
{
	struct pol_policy *p;
	if (algo == POL_ALGO_SACD) {
		struct pol_sacd_cfg c = pol_sacd_defaults(POL_ENV_STATE_DIM, ENV_N);
		c.hidden[0] = c.hidden[1] = 16, c.batch = 1, c.seed = seed;
		struct pol_sacd *ag;
		cr_assert_eq(pol_sacd_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(pol_sacd_export(ag, NULL, NULL, &p), 0);
		pol_sacd_free(ag);
	} else {
		struct pol_dqn_cfg c = pol_dqn_defaults(POL_ENV_STATE_DIM, ENV_N);
		c.hidden[0] = c.hidden[1] = 16, c.batch = 1, c.seed = seed;
		struct pol_dqn *ag;
		cr_assert_eq(pol_dqn_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(pol_dqn_export(ag, NULL, NULL, &p), 0);
		pol_dqn_free(ag);
	}
	cr_assert_eq(pol_policy_set_meta(p, env_actions, ENV_N, "pi4", "resnet18", 250), 0);
	return p;
}

static void random_obs(struct pol_rng *r, struct pol_obs_in *in)
{
	memset(in, 0, sizeof(*in));
	in->bw_ewma_mbps = 50 * pol_rng_uniform(r);
	in->bw_last_mbps = pol_rng_uniform(r) < 0.25 ? 0 : 50 * pol_rng_uniform(r);
	in->deadline_ms = pol_rng_uniform(r) < 0.5 ? 0 : 400 * pol_rng_uniform(r);
	in->energy_j = pol_rng_uniform(r) < 0.5 ? 0 : 0.05 * pol_rng_uniform(r);
	in->load = 1 + 2 * pol_rng_uniform(r);
	in->freq_ratio = 0.5 + pol_rng_uniform(r);
	in->dev_class_ms = pol_rng_uniform(r) < 0.5 ? 0 : 400 * pol_rng_uniform(r);
	in->queue_ms = 100 * pol_rng_uniform(r);
}

Test(policy_act, set_meta_checks)
{
	struct pol_policy *p = env_policy(POL_ALGO_SACD, 1);
	struct cf_action a[ENV_N];
	memcpy(a, env_actions, sizeof(a));
	cr_expect_eq(pol_policy_set_meta(p, NULL, ENV_N, "c", "m", 1), -EINVAL);
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N - 1, "c", "m", 1), -EINVAL);
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "", "m", 1), -EINVAL);
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "c", NULL, 1), -EINVAL);
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "c/d", "m", 1), -EINVAL);
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "c", "abcdefghijabcdefghijabcdefghij12", 1),
		     -EINVAL);
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "c", "m", -1), -EINVAL);
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "c", "m", NAN), -EINVAL);
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "c", "m", INFINITY), -EINVAL);
	a[3].exit = -1;
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "c", "m", 1), -EINVAL);
	a[3].exit = 0, a[3].bits = 5;
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "c", "m", 1), -EINVAL);
	a[3].bits = 12, a[3].partition = 256;
	cr_expect_eq(pol_policy_set_meta(p, a, ENV_N, "c", "m", 1), -EINVAL);
	/* refusals leave the earlier meta in place */
	cr_expect_str_eq(p->device_class, "pi4");
	cr_expect_eq(p->dev_class_ms, 250.0f);
	cr_expect(!memcmp(p->actions, env_actions, sizeof(env_actions)));
	pol_policy_free(p);
	/* no table yet: no mask, no decision */
	p = small_policy_meta(0);
	uint8_t m[4];
	struct pol_obs_in in = {.bw_last_mbps = 10};
	struct cf_action act;
	cr_expect_eq(pol_policy_mask(p, 0, 1, m), -EINVAL);
	cr_expect_eq(pol_policy_decide(p, &in, 0, &act, NULL), -EINVAL);
	/* a table, but trained on states other than the environment's */
	cr_assert_eq(pol_policy_set_meta(p, small_actions, 4, "c", "m", 1), 0);
	cr_expect_eq(pol_policy_mask(p, 0, 1, m), 4);
	cr_expect_eq(pol_policy_decide(p, &in, 0, &act, NULL), -EINVAL);
	pol_policy_free(p);
}

Test(policy_act, mask)
{
	struct pol_policy *p = env_policy(POL_ALGO_DQN, 2);
	uint8_t m[ENV_N];
	/* link down: only the device-only actions, whatever bits_mask says */
	for (unsigned bm = 0; bm <= CF_ACTION_BITS_ALL; bm++) {
		cr_expect_eq(pol_policy_mask(p, bm, 0, m), 2);
		for (int i = 0; i < ENV_N; i++)
			cr_expect_eq(m[i], env_actions[i].bits == 0, "link down, action %d", i);
	}
	/* link up: 0 means every width */
	cr_expect_eq(pol_policy_mask(p, 0, 1, m), ENV_N);
	cr_expect_eq(pol_policy_mask(p, CF_ACTION_BITS_ALL, 1, m), ENV_N);
	/* each single width: it and the device-only actions */
	for (int k = 0; k < CF_ACTION_NBITS; k++) {
		int want = 0;
		for (int i = 0; i < ENV_N; i++)
			want += env_actions[i].bits == 0 || env_actions[i].bits == cf_action_bits[k];
		cr_expect_eq(pol_policy_mask(p, 1u << k, 1, m), want, "bits %d", cf_action_bits[k]);
		for (int i = 0; i < ENV_N; i++)
			cr_expect_eq(m[i], env_actions[i].bits == 0 || env_actions[i].bits == cf_action_bits[k],
				     "bits %d, action %d", cf_action_bits[k], i);
	}
	pol_policy_free(p);
}

/* decide, checked against its definition: the observation, the mask, pol_act. */
static void check_decide(struct pol_policy *p, const struct pol_obs_in *in, unsigned bm,
			 int *index)
{
	struct cf_action a;
	struct pol_obs_in o = *in;
	float s[POL_ENV_STATE_DIM];
	uint8_t m[ENV_N];
	int idx = -1, ref;
	cr_assert_eq(pol_policy_decide(p, in, bm, &a, &idx), 0);
	cr_assert(idx >= 0 && idx < p->n_actions, "index %d", idx);
	cr_expect(!memcmp(&a, &p->actions[idx], sizeof(a)), "action is not the table's entry");
	cr_assert_geq(pol_policy_mask(p, bm, in->bw_last_mbps > 0, m), 1);
	cr_expect(m[idx], "decision %d not valid in the mask", idx);
	if (!(in->bw_last_mbps > 0))
		cr_expect_eq(a.bits, 0, "offloads with the link down");
	if (!(o.dev_class_ms > 0))
		o.dev_class_ms = p->dev_class_ms;
	cr_assert_eq(pol_obs_make(&o, s, POL_ENV_STATE_DIM), POL_ENV_STATE_DIM);
	cr_assert_eq(pol_act(p, s, m, &ref), 0);
	cr_expect_eq(idx, ref);
	*index = idx;
}

Test(policy_act, decide)
{
	struct pol_rng r;
	pol_rng_seed(&r, 5);
	for (int algo = POL_ALGO_SACD; algo <= POL_ALGO_DQN; algo++) {
		struct pol_policy *p = env_policy(algo, 3), *q;
		uint8_t *b;
		size_t len = encode(p, &b);
		cr_assert_eq(pol_parse(b, len, &q, err, sizeof(err)), 0, "%s", err);
		int seen[ENV_N] = {0};
		for (int i = 0; i < 400; i++) {
			struct pol_obs_in in;
			unsigned bm = (unsigned)i % (CF_ACTION_BITS_ALL + 1);
			int ip, iq;
			struct cf_action ap, aq;
			random_obs(&r, &in);
			check_decide(p, &in, bm, &ip);
			check_decide(q, &in, bm, &iq);
			cr_expect_eq(ip, iq, "loaded policy decides otherwise (obs %d)", i);
			seen[ip] = 1;
			/* index is optional; the action alone is the same */
			cr_assert_eq(pol_policy_decide(q, &in, bm, &aq, NULL), 0);
			cr_assert_eq(pol_policy_decide(p, &in, bm, &ap, NULL), 0);
			cr_expect(!memcmp(&ap, &aq, sizeof(ap)));
			/* dev_class_ms 0 is the policy's own */
			struct pol_obs_in own = in;
			own.dev_class_ms = 0;
			in.dev_class_ms = p->dev_class_ms;
			check_decide(q, &own, bm, &ip);
			check_decide(q, &in, bm, &iq);
			cr_expect_eq(ip, iq);
		}
		int distinct = 0;
		for (int i = 0; i < ENV_N; i++)
			distinct += seen[i];
		cr_expect_geq(distinct, 2, "the decisions never vary: the test shows little");
		free(b);
		pol_policy_free(p);
		pol_policy_free(q);
	}
}

Test(policy_act, decide_without_valid_action)
{
	/* no device-only action: with the link down nothing is valid */
	struct cf_action a[ENV_N];
	memcpy(a, env_actions, sizeof(a));
	a[0].bits = 4, a[5].bits = 8;
	struct pol_policy *p = env_policy(POL_ALGO_SACD, 4);
	cr_assert_eq(pol_policy_set_meta(p, a, ENV_N, "c", "m", 10), 0);
	uint8_t m[ENV_N];
	cr_expect_eq(pol_policy_mask(p, 0, 0, m), 0);
	struct pol_obs_in in = {.bw_ewma_mbps = 5};
	struct cf_action act;
	int idx = -7;
	cr_expect_eq(pol_policy_decide(p, &in, 0, &act, &idx), -EINVAL);
	cr_expect_eq(idx, -7, "index written on failure");
	in.bw_last_mbps = 5;
	cr_expect_eq(pol_policy_decide(p, &in, 0, &act, &idx), 0);
	cr_expect_neq(act.bits, 0);
	pol_policy_free(p);
}

/* ---- does the policy fit the model served (pol_policy_check_model) ----------- */

/* The model of env_actions: two exits of 3 positions, named as env_policy's meta. */
static uint8_t env_cuts[2][4];

static struct cr_model env_model(void)
{
	memset(env_cuts, 1, sizeof(env_cuts));
	return (struct cr_model){.name = "resnet18", .n_exits = 2, .exit_len = {3, 3},
				 .exit_cut = {env_cuts[0], env_cuts[1]}};
}

/* p is refused for m with a message holding want. */
static void expect_unfit(const struct pol_policy *p, const struct cr_model *m, const char *want)
{
	err[0] = 0;
	cr_expect_eq(pol_policy_check_model(p, m, err, sizeof(err)), -EINVAL, "accepted ('%s')",
		     want);
	cr_expect(strstr(err, want), "'%s' lacks '%s'", err, want);
}

Test(policy_check, every_refusal_names_its_reason)
{
	struct pol_policy *p = env_policy(POL_ALGO_SACD, 1);
	struct cr_model m = env_model();
	cr_expect_eq(pol_policy_check_model(p, &m, err, sizeof(err)), 0, "%s", err);
	/* trained for another model */
	snprintf(m.name, sizeof(m.name), "vgg16");
	expect_unfit(p, &m, "the policy was trained for model resnet18, not vgg16");
	m = env_model();
	/* actions outside the model: exit, partition */
	m.n_exits = 1;
	expect_unfit(p, &m, "action 5 (exit 2, partition 3, bits 0) does not fit model resnet18: "
			    "the model has exits 1..1");
	m = env_model();
	m.exit_len[1] = 2;
	expect_unfit(p, &m, "action 5 (exit 2, partition 3, bits 0) does not fit model resnet18: "
			    "exit 2 has partitions 0..2");
	m = env_model();
	p->actions[4].exit = -1;
	expect_unfit(p, &m, "action 4 (exit 0, partition 2, bits 16) does not fit model resnet18: "
			    "the model has exits 1..2");
	p->actions[4].exit = 0;
	/* a cut inside a residual block is no partition point */
	env_cuts[1][1] = 0;
	expect_unfit(p, &m, "action 7 (exit 2, partition 1, bits 4) does not fit model resnet18: "
			    "partition 1 lies inside a residual block");
	env_cuts[1][1] = 1;
	/* bits 0 exactly for the whole exit on the device */
	p->actions[0].bits = 8;
	expect_unfit(p, &m, "action 0 (exit 1, partition 3, bits 8) does not fit model resnet18: "
			    "the whole exit on the device sends nothing and has bits 0");
	p->actions[0].bits = 0;
	p->actions[1].bits = 0;
	expect_unfit(p, &m, "action 1 (exit 1, partition 0, bits 0) does not fit model resnet18: "
			    "an action that sends a tensor has bits 4, 8, 12 or 16, not 0");
	p->actions[1].bits = 4;
	cr_expect_eq(pol_policy_check_model(p, &m, err, sizeof(err)), 0, "%s", err);
	/* observations of another layout */
	char want[128];
	p->obs_spec = POL_OBS_SPEC + 1;
	snprintf(want, sizeof(want), "the policy takes observation layout %d of %d values, this "
		 "build makes layout %d of %d", POL_OBS_SPEC + 1, POL_ENV_STATE_DIM, POL_OBS_SPEC,
		 POL_ENV_STATE_DIM);
	expect_unfit(p, &m, want);
	pol_policy_free(p);
	p = small_policy_meta(1);
	snprintf(want, sizeof(want), "observation layout %d of 3 values", POL_OBS_SPEC);
	expect_unfit(p, &m, want);
	pol_policy_free(p);
	/* nothing to say what the outputs mean */
	p = small_policy_meta(0);
	expect_unfit(p, &m, "the policy has no action table: it cannot say what its outputs mean");
	pol_policy_free(p);
}
