/* Residual add reference: out = a + b elementwise. One IEEE single add per
 * element, rounded to nearest the same way by every ISA's vector add, so the SIMD
 * variants match it bit for bit. With a NaN in one operand every ISA returns that
 * NaN quieted; which payload wins when both are NaN is the ISA's (and the
 * compiler may commute the operands), so the tests do not pin it. */
#include "internal.h"

void ck_add__scalar(const float *a, const float *b, float *out, size_t count)
{
	for (size_t i = 0; i < count; i++)
		out[i] = a[i] + b[i];
}
