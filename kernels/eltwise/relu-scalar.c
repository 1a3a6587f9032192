/* ReLU reference. Written as "x < 0 ? 0 : x" rather than fmaxf so NaN passes
 * through and -0 stays -0, as torch.relu does; the SIMD variants match it bit
 * for bit. */
#include "internal.h"

void ck_relu__scalar(const float *in, float *out, size_t count)
{
	for (size_t i = 0; i < count; i++)
		out[i] = in[i] < 0.0f ? 0.0f : in[i];
}
