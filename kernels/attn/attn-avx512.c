/* Column softmax, 16 columns (queries) per zmm vector; exp from vmath-avx512.h. */
#include <immintrin.h>

#include "attn/attn.h"
#include "eltwise/vmath-avx512.h"

#define VEC __m512
#define VL 16
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VMAX _mm512_max_ps
#define VSUB _mm512_sub_ps
#define VADD _mm512_add_ps
#define VMUL _mm512_mul_ps
#define VZERO _mm512_setzero_ps
#define VRECIP(x) _mm512_div_ps(_mm512_set1_ps(1.0f), x)
#define VEXP ck_vexp_avx512
#include "attn/attn-softmax-body.h"

void ck_attn_softmax_cols__avx512(float *p, size_t rows, size_t nr)
{
	ck_attn_softmax_cols_body(p, rows, nr);
}
