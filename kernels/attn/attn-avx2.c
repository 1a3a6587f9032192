/* Column softmax, 8 columns (queries) per ymm vector; exp from vmath-avx2.h. */
#include <immintrin.h>

#include "attn/attn.h"
#include "eltwise/vmath-avx2.h"

#define VEC __m256
#define VL 8
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VMAX _mm256_max_ps
#define VSUB _mm256_sub_ps
#define VADD _mm256_add_ps
#define VMUL _mm256_mul_ps
#define VZERO _mm256_setzero_ps
#define VRECIP(x) _mm256_div_ps(_mm256_set1_ps(1.0f), x)
#define VEXP ck_vexp_avx2
#include "attn/attn-softmax-body.h"

void ck_attn_softmax_cols__avx2(float *p, size_t rows, size_t nr)
{
	ck_attn_softmax_cols_body(p, rows, nr);
}
