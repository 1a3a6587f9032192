/* Column softmax, 4 columns (queries) per q register; exp from vmath-neon.h. */
#include <arm_neon.h>

#include "attn/attn.h"
#include "eltwise/vmath-neon.h"

#define VEC float32x4_t
#define VL 4
#define VLOAD vld1q_f32
#define VSTORE vst1q_f32
#define VMAX vmaxq_f32
#define VSUB vsubq_f32
#define VADD vaddq_f32
#define VMUL vmulq_f32
#define VZERO() vdupq_n_f32(0.0f)
#define VRECIP(x) vdivq_f32(vdupq_n_f32(1.0f), x)
#define VEXP ck_vexp_neon
#include "attn/attn-softmax-body.h"

void ck_attn_softmax_cols__neon(float *p, size_t rows, size_t nr)
{
	ck_attn_softmax_cols_body(p, rows, nr);
}
