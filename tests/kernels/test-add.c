/* Residual add: the reference against hand values (signed zeros, infinities,
 * NaN, rounding), then every SIMD level against it bit for bit, out of place and
 * in place on either operand, over counts around each vector width and its 4x
 * unrolled tile (0..130 covers 4, 8, 16, 32, 64 and each +-1), odd large counts and
 * unaligned starts that differ between the operands, with guards on both sides. */
#include <math.h>
#include <string.h>

#include "coinfer/kernels.h"
#include "eltwise.h"
#include "harness.h"

#define GUARD 16
#define CANARY 12345.0f

static void hand(void)
{
	const float a[8] = {1.0f, -0.0f, -0.0f, INFINITY, NAN, 1.0f, 0x1p-140f, 16777216.0f};
	const float b[8] = {2.5f, -0.0f, 0.0f, -INFINITY, 1.0f, -1.0f, 0x1p-140f, 1.0f};
	float out[8];
	ck_kernels_for(CK_ISA_SCALAR)->add(a, b, out, 8);
	TH_CHECK(out[0] == 3.5f, "1 + 2.5 = %g", out[0]);
	TH_CHECK(out[1] == 0.0f && signbit(out[1]), "-0 + -0 should be -0");
	TH_CHECK(out[2] == 0.0f && !signbit(out[2]), "-0 + 0 should be +0");
	TH_CHECK(isnan(out[3]), "inf + -inf = %g", out[3]);
	TH_CHECK(isnan(out[4]), "NaN + 1 = %g", out[4]);
	TH_CHECK(out[5] == 0.0f && !signbit(out[5]), "1 + -1 should be +0");
	TH_CHECK(out[6] == 0x1p-139f, "subnormal sum = %a", out[6]);
	/* 2^24 + 1 is not a float: ties to even keeps 2^24 */
	TH_CHECK(out[7] == 16777216.0f, "2^24 + 1 = %.1f", out[7]);
}

static float *guarded(size_t len)
{
	float *p = th_alloc(len * sizeof(float));
	for (size_t i = 0; i < len; i++)
		p[i] = CANARY;
	return p;
}

/* The shape of one comparison: count floats at these offsets past the guard. */
struct run {
	const struct ck_kernels *k;
	size_t count, ma, mb, mo, len;
};

static int same(const float *want, const float *got, const float *orig, const struct run *r)
{
	if (memcmp(want, got + GUARD + r->mo, r->count * sizeof(float)))
		return 0;
	/* everything outside [mo, mo + count) past the guard is as it was */
	return !memcmp(got, orig, (GUARD + r->mo) * sizeof(float)) &&
	       !memcmp(got + GUARD + r->mo + r->count, orig + GUARD + r->mo + r->count,
		       (r->len - GUARD - r->mo - r->count) * sizeof(float));
}

/* out == a (on_b 0) or out == b (on_b 1): the operand overwritten is a copy. */
static void in_place(const struct run *r, const float *a, const float *b, const float *want,
		     int on_b)
{
	const float *orig = on_b ? b : a;
	float *buf = th_alloc(r->len * sizeof(float));
	memcpy(buf, orig, r->len * sizeof(float));
	struct run at = *r;
	at.mo = on_b ? r->mb : r->ma;
	float *o = buf + GUARD + at.mo;
	r->k->add(on_b ? a + GUARD + r->ma : o, on_b ? o : b + GUARD + r->mb, o, r->count);
	TH_CHECK(same(want, buf, orig, &at), "%s add out == %c count %zu differs or overran",
		 r->k->name, on_b ? 'b' : 'a', r->count);
	free(buf);
}

static void specials(float *a, float *b, const struct run *r)
{
	if (!r->count)
		return;
	const size_t last = r->count - 1, half = r->count / 2, third = r->count / 3;
	a[GUARD + r->ma + last] = NAN; /* the tail */
	b[GUARD + r->mb + half] = -0.0f;
	a[GUARD + r->ma + half] = -0.0f;
	a[GUARD + r->ma + third] = INFINITY;
	b[GUARD + r->mb + third] = third == half ? INFINITY : -INFINITY;
}

static void compare(const struct ck_kernels *k, size_t count, size_t misalign, uint64_t seed)
{
	struct run r = {k, count, misalign, (misalign + 1) % 4, (misalign + 2) % 4, 0};
	r.len = count + 2 * GUARD + 4;
	float *a = th_alloc(r.len * sizeof(float)), *b = th_alloc(r.len * sizeof(float));
	float *want = th_alloc((count ? count : 1) * sizeof(float)), *got = guarded(r.len);
	th_fill(a, r.len, seed);
	th_fill(b, r.len, seed ^ 0x5bd1e995);
	specials(a, b, &r);
	const float *pa = a + GUARD + r.ma, *pb = b + GUARD + r.mb;
	ck_kernels_for(CK_ISA_SCALAR)->add(pa, pb, want, count);
	k->add(pa, pb, got + GUARD + r.mo, count);
	float *orig = guarded(r.len);
	TH_CHECK(same(want, got, orig, &r), "%s add count %zu misalign %zu differs or overran",
		 k->name, count, misalign);
	in_place(&r, a, b, want, 0);
	in_place(&r, a, b, want, 1);
	free(orig);
	free(a);
	free(b);
	free(want);
	free(got);
}

int main(void)
{
	hand();
	th_eltwise_sweep(compare);
	return th_finish("kernel-add");
}
