/* The model loader against valid, truncated, corrupted and hostile files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "model-builder.h"

static char err[512];

static int parse(const uint8_t *b, size_t len)
{
	struct cr_model *m = NULL;
	err[0] = 0;
	int r = cr_model_parse(b, len, &m, err, sizeof(err));
	if (!r)
		cr_model_free(m);
	else
		cr_expect(m == NULL);
	return r;
}

Test(model, tiny_valid)
{
	uint8_t *b;
	size_t len = mb_tiny(&b);
	struct cr_model *m;
	cr_assert_eq(cr_model_parse(b, len, &m, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(m->n_layers, 11);
	cr_expect_eq(m->n_exits, 2);
	cr_expect_eq(m->exit_len[0], 6);
	cr_expect_eq(m->exit_len[1], 9);
	cr_expect_str_eq(m->name, "tiny");
	cr_expect_eq(cr_model_boundary_floats(m, 0, 0), 3 * 8 * 8);
	cr_expect_eq(cr_model_boundary_floats(m, 0, 4), 64);
	cr_expect_eq(cr_model_boundary_floats(m, 1, 5), 6 * 2 * 2);
	cr_expect_eq(m->layers[0].flops, 2ull * 4 * 27 * 64);
	cr_expect_eq(m->layers[6].out_h, 2);
	cr_expect_eq(cr_model_exit_flops(m, 0, 1), m->layers[0].flops);
	cr_model_free(m);
	free(b);
}

Test(model, bundled_model)
{
	struct cr_model *m;
	int r = cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &m, err, sizeof(err));
	cr_assert_eq(r, 0, "%s", err);
	cr_expect_eq(m->n_exits, 3);
	cr_expect_eq(m->n_classes, 10);
	/* exit 1 within the 25% FLOP budget of the final exit */
	uint64_t f1 = cr_model_exit_flops(m, 0, m->exit_len[0]);
	uint64_t f3 = cr_model_exit_flops(m, 2, m->exit_len[2]);
	cr_expect(f1 * 4 <= f3, "exit 1 %llu FLOPs vs exit 3 %llu", (unsigned long long)f1,
		  (unsigned long long)f3);
	cr_model_free(m);
}

Test(model, every_truncation_fails)
{
	uint8_t *b;
	size_t len = mb_tiny(&b);
	for (size_t n = 0; n < len; n++)
		cr_assert_neq(parse(b, n), 0, "truncated to %zu bytes accepted", n);
	free(b);
}

Test(model, every_bit_flip_fails)
{
	uint8_t *b;
	size_t len = mb_tiny(&b);
	for (size_t i = 0; i < len; i++) {
		b[i] ^= (uint8_t)(1u << (i % 8));
		cr_assert_neq(parse(b, len), 0, "bit flip at byte %zu accepted", i);
		b[i] ^= (uint8_t)(1u << (i % 8));
	}
	cr_assert_eq(parse(b, len), 0, "%s", err);
	free(b);
}

struct stomp {
	size_t off;     /* from the file start; layer records at 128 + 128*i */
	int width;      /* 4 or 8 */
	uint64_t value;
	const char *want; /* substring of the error */
};

#define LR(i, f) (MB_HDR + MB_LREC * (i) + (f))
static uint32_t fbits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

/* Each case applied alone to a copy of b (resealed, so only the field checks
 * can refuse it): refused with an error naming cases[i].want. */
static void expect_stomps_refused(const uint8_t *b, size_t len, const struct stomp *cases,
				  size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *c = malloc(len);
		memcpy(c, b, len);
		if (cases[i].width == 8)
			mb_put64(c, cases[i].off, cases[i].value);
		else
			mb_put32(c, cases[i].off, (uint32_t)cases[i].value);
		mb_reseal(c, len);
		cr_expect_neq(parse(c, len), 0, "case %zu (offset %zu) accepted", i, cases[i].off);
		cr_expect(strstr(err, cases[i].want) != NULL, "case %zu: error '%s' does not name '%s'", i,
			  err, cases[i].want);
		free(c);
	}
}

Test(model, hostile_fields_named)
{
	uint8_t *b;
	size_t len = mb_tiny(&b);
	const struct stomp cases[] = {
		{8, 4, 3, "version"},
		{12, 4, 64, "header size"},
		{24, 4, 0, "layer count"},
		{24, 4, 100000, "layer count"},
		{24, 4, 200, "does not fit"},
		{28, 4, 0, "exit count"},
		{28, 4, 17, "exit count"},
		{32, 4, 0, "class count"},
		{36, 4, 9, "input shape"},
		{40, 4, 1u << 20, "input shape"},
		{48, 4, 64, "layer table"},
		{52, 4, 200, "exit table"},
		{52, 4, 0x7fffffff, "exit table"},
		{56, 8, 4097, "weight section"},
		{64, 8, 1ull << 40, "weight section"},
		{88, 4, 0, "normalisation"},
		{104, 8, 0, "model name"},
		{LR(0, 0), 8, 0, "name"},
		{LR(1, 0), 8, 0x0101010101010101ull, "name"},
		{LR(1, 0), 8, 0x31766e6f63ull, "duplicate"}, /* "conv1" */
		{LR(0, 32), 4, 99, "unknown type"},
		{LR(1, 36), 4, 5, "parent"},
		{LR(0, 36), 4, 0, "parent"},
		{LR(0, 44), 4, 0, "conv"},
		{LR(0, 44), 4, 99, "kernel"},
		{LR(0, 52), 4, 0, "conv"},
		{LR(0, 60), 4, 3, "conv"},
		{LR(0, 68), 4, 2, "conv"},
		{LR(0, 40), 4, 0xFFFFFFFFu, "out of range"},
		{LR(0, 104), 8, 5, "count"},
		{LR(0, 96), 8, 1ull << 40, "outside"},
		{LR(0, 96), 8, 4, "outside"},
		{LR(0, 112), 8, 1ull << 62, "outside"},
		{LR(1, 104), 8, 3, "takes none"},
		{LR(2, 40), 4, 9, "pool"},
		{LR(2, 48), 4, 0, "pool"},
		{LR(3, 40), 4, 0, "LRN size"},
		{LR(3, 80), 4, 0x7fc00000u, "LRN"},
		{LR(3, 88), 4, 0, "LRN"},
		{LR(5, 40), 4, 0, "0 outputs"},
		{LR(5, 36), 4, 3, "flat"},
		{32, 4, 7, "classes"},
	};
	expect_stomps_refused(b, len, cases, sizeof(cases) / sizeof(cases[0]));
	free(b);
}

Test(model, non_finite_weights)
{
	uint8_t *b;
	size_t len = mb_tiny(&b);
	uint64_t woff, wo;
	memcpy(&woff, b + 56, 8);
	memcpy(&wo, b + LR(0, 96), 8);
	mb_put32(b, woff + wo + 12, fbits(INFINITY));
	mb_reseal(b, len);
	cr_expect_neq(parse(b, len), 0);
	cr_expect(strstr(err, "NaN or infinity"), "%s", err);
	free(b);
}

Test(model, exit_table_checked)
{
	uint8_t *b;
	size_t len = mb_tiny(&b);
	uint32_t et;
	memcpy(&et, b + 52, 4);
	const struct stomp cases[] = {
		{et, 4, 0, "length"},
		{et, 4, 1000, "length"},
		{et + 4, 4, 77, "does not exist"},
		{et + 8, 4, 2, "does not follow"},
		{et + 4 + 4 * 6, 4, 5, "classes"}, /* exit 2 of length 5: ends at pool2 */
	};
	expect_stomps_refused(b, len, cases, sizeof(cases) / sizeof(cases[0]));
	free(b);
}

/* Random 32-bit stomps over the header, layer table and exit table, resealed: the
 * loader must reject or accept cleanly (the sanitize setup catches any overrun). */
Test(model, random_resealed_stomps)
{
	uint8_t *b;
	size_t len = mb_tiny(&b);
	uint32_t et;
	memcpy(&et, b + 52, 4);
	uint64_t s = 88172645463325252ull;
	uint8_t *c = malloc(len);
	for (int i = 0; i < 20000; i++) {
		memcpy(c, b, len);
		for (int k = 0; k < 1 + i % 3; k++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			size_t off = (s >> 32) % (et + 64 - 4);
			uint32_t v = (uint32_t)s;
			if (i & 1)
				v &= 0xFF; /* small values reach deeper than random ones */
			mb_put32(c, off, v);
		}
		mb_reseal(c, len);
		parse(c, len);
	}
	free(c);
	free(b);
}

Test(model, load_errors_name_the_file)
{
	struct cr_model *m;
	cr_expect_eq(cr_model_load("/nonexistent/x.cfm", &m, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "/nonexistent/x.cfm"), "%s", err);
	cr_expect_eq(cr_model_load("/", &m, err, sizeof(err)), -EINVAL);
	char path[] = "/tmp/coinfer-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "CFMODEL", 7), 7);
	close(fd);
	cr_expect_eq(cr_model_load(path, &m, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, path) && strstr(err, "shorter"), "%s", err);
	unlink(path);
}

Test(model, residual_partition_points)
{
	uint8_t *b;
	size_t len = mb_residual(&b);
	struct cr_model *m;
	cr_assert_eq(cr_model_parse(b, len, &m, err, sizeof(err)), 0, "%s", err);
	static const char *want[2] = {"101111000111", "101111000110111"};
	for (int e = 0; e < 2; e++)
		for (int p = 0; p <= m->exit_len[e]; p++)
			cr_expect_eq(cr_model_cut_ok(m, e, p), want[e][p] == '1', "exit %d p %d",
				     e + 1, p);
	cr_expect(!cr_model_cut_ok(m, 0, -1) && !cr_model_cut_ok(m, 0, 12) &&
		  !cr_model_cut_ok(m, 2, 0));
	cr_expect_eq(m->layers[1].skip, -1);
	cr_expect_eq(m->layers[8].skip, 4);
	cr_expect_eq(m->layers[8].flops, 64);
	int e, p;
	cr_expect_eq(cr_model_smallest_boundary(m, &e, &p), 24);
	cr_expect(cr_model_cut_ok(m, e, p), "smallest boundary at exit %d p %d", e + 1, p);
	cr_model_free(m);
	free(b);
}

Test(model, residual_fields_named)
{
	uint8_t *b;
	size_t len = mb_residual(&b);
	const struct stomp cases[] = {
		{8, 4, 1, "version 1 file"},
		{LR(8, 40), 4, 8, "not an earlier layer"},
		{LR(8, 40), 4, 2, "adds 4x8x8 to 4x4x4"},
		{LR(13, 40), 4, 10, "adds 5x1x1"},
		{LR(8, 40), 4, 0xFFFFFFFEu, "not an earlier layer"},
	};
	expect_stomps_refused(b, len, cases, sizeof(cases) / sizeof(cases[0]));
	/* a block inside another: ra_relu becomes ra + ra within add1's block */
	mb_put32(b, LR(6, 32), CR_LAYER_ADD);
	mb_put32(b, LR(6, 40), 5);
	mb_reseal(b, len);
	cr_expect_neq(parse(b, len), 0);
	cr_expect(strstr(err, "overlapping blocks"), "%s", err);
	free(b);
}

/* Where exit e's field k (0 variant, 1 of, 2 split) lies in an mb_variant file. */
static size_t variant_field(const uint8_t *b, int e, int k)
{
	uint32_t et;
	memcpy(&et, b + 52, 4);
	static const int len[3] = {11, 14, 14};
	size_t off = et;
	for (int i = 0; i < e; i++)
		off += 16 + 4 * (size_t)len[i];
	return off + 4 + 4 * (size_t)k;
}

Test(model, variant_exits)
{
	uint8_t *b;
	size_t len = mb_variant(&b);
	struct cr_model *m;
	cr_assert_eq(cr_model_parse(b, len, &m, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(m->exit_variant[2], CR_VARIANT_CODEC);
	cr_expect_eq(m->exit_of[2], 1);
	cr_expect_eq(m->exit_split[2], 9);
	cr_expect_eq(m->exit_split[1], 0);
	cr_expect_eq(m->n_plain, 2);
	cr_expect_str_eq(cr_variant_name(m->exit_variant[2]), "codec");
	for (int p = 0; p <= m->exit_len[2]; p++)
		cr_expect(cr_model_cut_ok(m, 2, p) == (p == 9) &&
			  cr_model_boundary_ok(m, 2, p) == cr_model_boundary_ok(m, 1, p), "p %d", p);
	cr_model_free(m);
	const struct stomp cases[] = {
		{variant_field(b, 2, 0), 4, 4, "unknown variant 4"},
		{variant_field(b, 1, 0), 4, 1, "not an earlier plain exit"},
		{variant_field(b, 2, 1), 4, 2, "not an earlier plain exit"},
		{variant_field(b, 1, 2), 4, 3, "a plain exit is its own"},
		{variant_field(b, 1, 1), 4, 0, "a plain exit is its own"},
		{variant_field(b, 2, 2), 4, 0, "split point 0 not in 1..13"},
		{variant_field(b, 2, 2), 4, 14, "split point 14 not in 1..13"},
		{variant_field(b, 2, 2), 4, 7, "split point 7 lies inside a residual block"},
	};
	expect_stomps_refused(b, len, cases, sizeof(cases) / sizeof(cases[0]));
	/* plain exits come first: exit 2 a variant of exit 1, then exit 3 plain */
	const uint32_t swap[2][3] = {{2, 0, 9}, {0, 2, 0xFFFFFFFFu}};
	for (int e = 1; e < 3; e++)
		for (int k = 0; k < 3; k++)
			mb_put32(b, variant_field(b, e, k), swap[e - 1][k]);
	mb_reseal(b, len);
	cr_expect_neq(parse(b, len), 0);
	cr_expect(strstr(err, "exit 3: a plain exit after a variant"), "%s", err);
	free(b);
}

Test(model, attention_layer)
{
	uint8_t *b;
	size_t len = mb_attn(&b);
	struct cr_model *m;
	cr_assert_eq(cr_model_parse(b, len, &m, err, sizeof(err)), 0, "%s", err);
	const struct cr_layer *L = &m->layers[1];
	cr_expect_eq(L->d.attn.dqk, 3);
	cr_expect_eq(L->d.attn.scale, 0.5f);
	cr_expect_eq(L->out_c * L->out_h * L->out_w, 240);
	cr_expect_eq(L->flops, 2ull * 14 * 8 * 30 + 2ull * (3 + 8) * 30 * 30);
	cr_model_free(m);
	const struct stomp cases[] = {
		{8, 4, 1, "attention in a version 1 file"},
		{LR(1, 40), 4, 0, "impossible attention"},
		{LR(1, 80), 4, 0x7f800000u, "impossible attention"},
		{LR(1, 40), 4, 4, "weights count 112, expected 128"},
	};
	expect_stomps_refused(b, len, cases, sizeof(cases) / sizeof(cases[0]));
	free(b);
}
