/* ReLU: the reference against hand values (NaN and -0 pass, as torch.relu), then
 * every SIMD level against it bit for bit, out of place and in place, over counts
 * around each vector width and unaligned starts, with guards on both sides. */
#include <math.h>
#include <string.h>

#include "coinfer/kernels.h"
#include "eltwise.h"
#include "harness.h"

#define GUARD 16
#define CANARY 12345.0f

static void hand(void)
{
	const float in[9] = {-2.0f, -0.0f, 0.0f, 1.5f, NAN, -INFINITY, INFINITY, -1e-40f, 3e-39f};
	float out[9];
	ck_kernels_for(CK_ISA_SCALAR)->relu(in, out, 9);
	TH_CHECK(out[0] == 0.0f && !signbit(out[0]), "relu(-2) = %g", out[0]);
	TH_CHECK(out[1] == 0.0f && signbit(out[1]), "relu(-0) should stay -0");
	TH_CHECK(out[2] == 0.0f && !signbit(out[2]), "relu(0) = %g", out[2]);
	TH_CHECK(out[3] == 1.5f, "relu(1.5) = %g", out[3]);
	TH_CHECK(isnan(out[4]), "relu(NaN) = %g", out[4]);
	TH_CHECK(out[5] == 0.0f, "relu(-inf) = %g", out[5]);
	TH_CHECK(out[6] == INFINITY, "relu(inf) = %g", out[6]);
	TH_CHECK(out[7] == 0.0f, "relu(-1e-40) = %g", out[7]);
	TH_CHECK(out[8] == 3e-39f, "relu(3e-39) = %g", out[8]);
}

static int guards_ok(const float *buf, size_t count)
{
	for (size_t i = 0; i < GUARD; i++)
		if (buf[i] != CANARY || buf[GUARD + count + i] != CANARY)
			return 0;
	return 1;
}

static void compare(const struct ck_kernels *k, size_t count, size_t misalign, uint64_t seed)
{
	const struct ck_kernels *ref = ck_kernels_for(CK_ISA_SCALAR);
	const size_t len = count + 2 * GUARD + misalign;
	float *in = th_alloc(len * sizeof(float)), *want = th_alloc(len * sizeof(float));
	float *got = th_alloc(len * sizeof(float));
	th_fill(in, len, seed);
	/* special values at spread positions, the tail included */
	if (count > 0) {
		in[GUARD + misalign + count - 1] = NAN;
		in[GUARD + misalign + count / 2] = -0.0f;
		in[GUARD + misalign + count / 3] = -INFINITY;
	}
	for (size_t i = 0; i < len; i++)
		want[i] = got[i] = CANARY;
	const float *src = in + GUARD + misalign;
	ref->relu(src, want + GUARD + misalign, count);
	k->relu(src, got + GUARD + misalign, count);
	TH_CHECK(!memcmp(want + GUARD + misalign, got + GUARD + misalign, count * sizeof(float)),
		 "%s relu count %zu misalign %zu differs from scalar", k->name, count, misalign);
	TH_CHECK(guards_ok(got + misalign, count), "%s relu count %zu wrote outside", k->name,
		 count);
	/* in place */
	memcpy(got, in, len * sizeof(float));
	k->relu(got + GUARD + misalign, got + GUARD + misalign, count);
	TH_CHECK(!memcmp(want + GUARD + misalign, got + GUARD + misalign, count * sizeof(float)),
		 "%s relu in place count %zu differs from scalar", k->name, count);
	TH_CHECK(!memcmp(got, in, (GUARD + misalign) * sizeof(float)) &&
			 !memcmp(got + GUARD + misalign + count, in + GUARD + misalign + count,
				 GUARD * sizeof(float)),
		 "%s relu in place count %zu wrote outside", k->name, count);
	free(in);
	free(want);
	free(got);
}

int main(void)
{
	hand();
	th_eltwise_sweep(compare);
	return th_finish("kernel-relu");
}
