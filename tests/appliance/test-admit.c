/* Admission of HELLO and INFER against the bundled model: the model's name and
 * checksum, any class and application; every (exit index, partition) the tail
 * runs accepted with a frame of its shape, and each refusal with its code and a
 * message naming both sides (the exit index as on the wire, the bits of the
 * INFER and of its frame, the element counts and shape). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../appliance/admit.h"
#include "coinfer/codec-frame.h"

static struct cr_model *m;
static uint8_t frame[1 << 18];
static float zeros[32 * 32 * 32];

static void load(void)
{
	char err[256];
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &m, err,
				   sizeof(err)),
		     0, "%s", err);
}

static void unload(void)
{
	cr_model_free(m);
}

TestSuite(admit, .init = load, .fini = unload);

static struct cw_hello good_hello(void)
{
	struct cw_hello h = {.device_id = 1, .model_checksum = m->checksum, .max_inflight = 4};
	strcpy(h.device_class, "no-such-class");
	strcpy(h.model, m->name);
	strcpy(h.app, "any application at all");
	return h;
}

Test(admit, hello_needs_the_models_name_and_checksum)
{
	char why[CW_ERRMSG_MAX + 1];
	struct cw_hello h = good_hello();
	cr_assert_eq(ap_admit_hello(m, &h, why, sizeof(why)), 0);
	h.app[0] = h.device_class[0] = 0; /* empty: still accepted */
	cr_assert_eq(ap_admit_hello(m, &h, why, sizeof(why)), 0);
	strcpy(h.model, "alexnet");
	cr_assert_eq(ap_admit_hello(m, &h, why, sizeof(why)), CW_ERR_MODEL_MISMATCH);
	cr_assert(strstr(why, "'alexnet'") && strstr(why, m->name), "%s", why);
	h = good_hello();
	h.model_checksum ^= 1;
	cr_assert_eq(ap_admit_hello(m, &h, why, sizeof(why)), CW_ERR_MODEL_MISMATCH);
	char want[17];
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)m->checksum);
	cr_assert(strstr(why, want), "%s", why);
}

/* An INFER for (e, p) whose frame holds n zeros shaped {n}. */
static struct cw_infer infer(int e, int p, enum cc_codec codec, int bits, size_t n)
{
	size_t len;
	char err[256];
	uint32_t dims[1] = {(uint32_t)n};
	cr_assert_eq(cc_frame_encode(zeros, 1, dims, codec, bits, 0, frame, sizeof(frame), &len, err,
				     sizeof(err)),
		     0, "%s", err);
	return (struct cw_infer){.request_id = 9, .deadline_us = 1000,
				 .action = {.exit = (uint8_t)e, .bits = (uint8_t)bits,
					    .partition = (uint16_t)p},
				 .frame = frame, .frame_len = len};
}

Test(admit, every_split_of_the_model_accepted_with_its_shape)
{
	char why[CW_ERRMSG_MAX + 1];
	for (int e = 0; e < m->n_exits; e++)
		for (int p = 0; p < m->exit_len[e]; p++) {
			int chw[3];
			ap_boundary_shape(m, e, p, chw);
			size_t n = cr_model_boundary_floats(m, e, p);
			cr_assert_eq((size_t)chw[0] * chw[1] * chw[2], n);
			struct cw_infer r = infer(e, p, CC_CODEC_RAW16, 0, n);
			cr_assert_eq(ap_admit_infer(m, &r, why, sizeof(why)), 0,
				     "exit index %d partition %d: %s", e, p, why);
			r = infer(e, p, CC_CODEC_PACKED, 4, n);
			cr_assert_eq(ap_admit_infer(m, &r, why, sizeof(why)), 0, "%s", why);
		}
	int chw[3];
	ap_boundary_shape(m, 2, 0, chw);
	cr_assert(chw[0] == 3 && chw[1] == 32 && chw[2] == 32);
}

Test(admit, splits_the_model_has_not_refused_naming_the_exit_index)
{
	char why[CW_ERRMSG_MAX + 1];
	struct cw_infer r = infer(0, 0, CC_CODEC_RAW32, 0, 3072);
	r.action.exit = (uint8_t)m->n_exits;
	cr_assert_eq(ap_admit_infer(m, &r, why, sizeof(why)), CW_ERR_BAD_REQUEST);
	cr_assert(strstr(why, "exit index 3") && strstr(why, "0..2"), "%s", why);
	r.action.exit = 1;
	r.action.partition = (uint16_t)m->exit_len[1];
	cr_assert_eq(ap_admit_infer(m, &r, why, sizeof(why)), CW_ERR_BAD_REQUEST);
	char want[64];
	snprintf(want, sizeof(want), "exit index 1 partition %d", m->exit_len[1]);
	cr_assert(strstr(why, want), "%s", why);
}

Test(admit, frames_that_disagree_with_the_infer_refused)
{
	char why[CW_ERRMSG_MAX + 1];
	struct cw_infer r = infer(0, 0, CC_CODEC_HUFFMAN, 8, 3072);
	r.action.bits = 4;
	cr_assert_eq(ap_admit_infer(m, &r, why, sizeof(why)), CW_ERR_BAD_REQUEST);
	cr_assert(strstr(why, "INFER bits 4") && strstr(why, "frame's bits 8"), "%s", why);
	r = infer(0, 0, CC_CODEC_RAW32, 0, 3072);
	r.action.bits = 8; /* bits 0 is what says "raw" */
	cr_assert_eq(ap_admit_infer(m, &r, why, sizeof(why)), CW_ERR_BAD_REQUEST);
	cr_assert(strstr(why, "frame's bits 0"), "%s", why);
	r = infer(0, 0, CC_CODEC_RAW32, 0, 3000);
	cr_assert_eq(ap_admit_infer(m, &r, why, sizeof(why)), CW_ERR_BAD_FRAME);
	cr_assert(strstr(why, "3000 elements") && strstr(why, "3072 (3 x 32 x 32)"), "%s", why);
	r = infer(0, 0, CC_CODEC_RAW32, 0, 3072);
	frame[0] = 'X';
	cr_assert_eq(ap_admit_infer(m, &r, why, sizeof(why)), CW_ERR_BAD_FRAME);
	cr_assert(strstr(why, "magic"), "%s", why);
}

/* The ResNet-9: every partition point admitted; a cut inside a residual block
 * (its skip operand would have to travel too) refused by name. */
Test(admit, residual_cuts_refused, .init = NULL, .fini = NULL)
{
	char why[CW_ERRMSG_MAX + 1], err[256];
	struct cr_model *r9;
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-resnet9.cfm", &r9, err,
				   sizeof(err)), 0, "%s", err);
	int refused = 0;
	for (int p = 0; p < r9->exit_len[2]; p++) {
		size_t n = cr_model_boundary_floats(r9, 2, p);
		if (n > sizeof(zeros) / sizeof(zeros[0]))
			continue;
		struct cw_infer r = infer(2, p, CC_CODEC_PACKED, 4, n);
		int rc = ap_admit_infer(r9, &r, why, sizeof(why));
		if (cr_model_cut_ok(r9, 2, p)) {
			cr_expect_eq(rc, 0, "partition %d: %s", p, why);
			continue;
		}
		refused++;
		cr_expect_eq(rc, CW_ERR_BAD_REQUEST, "partition %d admitted", p);
		cr_expect(strstr(why, "inside a residual block"), "%s", why);
	}
	cr_expect_eq(refused, 12, "exit 3 has 4 + 4 + 4 cuts inside its blocks");
	cr_model_free(r9);
}

/* The ResNet-9's variant exits (pruned, codec, pruned+codec): each admitted at its
 * split point only; another boundary is refused naming the variant and its split. */
Test(admit, variant_exits_at_their_split_only, .init = NULL, .fini = NULL)
{
	char why[CW_ERRMSG_MAX + 1], err[256];
	struct cr_model *r9;
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-resnet9.cfm", &r9, err,
				   sizeof(err)), 0, "%s", err);
	int variants = 0;
	for (int e = r9->n_plain; e < r9->n_exits; e++, variants++) {
		int split = r9->exit_split[e], admitted = 0;
		cr_assert(split > 0, "exit %d", e + 1);
		for (int p = 0; p < r9->exit_len[e]; p++) {
			size_t n = cr_model_boundary_floats(r9, e, p);
			if (n > sizeof(zeros) / sizeof(zeros[0]) || !cr_model_boundary_ok(r9, e, p))
				continue;
			struct cw_infer r = infer(e, p, CC_CODEC_PACKED, 4, n);
			int rc = ap_admit_infer(r9, &r, why, sizeof(why));
			if (p == split) {
				cr_expect_eq(rc, 0, "exit %d at its split %d: %s", e + 1, p, why);
				admitted++;
				continue;
			}
			cr_expect_eq(rc, CW_ERR_BAD_REQUEST, "exit %d partition %d admitted", e + 1, p);
			cr_expect(strstr(why, "not this variant exit's split point"), "%s", why);
		}
		cr_expect_eq(admitted, 1, "exit %d", e + 1);
	}
	cr_expect_eq(variants, 3, "pruned, codec and pruned+codec");
	cr_model_free(r9);
}
