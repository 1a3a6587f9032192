/* The per-ISA part of the self-attention kernel (the driver is attn.c): softmax down
 * the columns of a block of scores. The driver keeps the transposed scores in the
 * GEMM's B panels, a query per lane, so the softmax of one query runs down a
 * column: rows x nr floats, row-major, nr a multiple of the ISA's vector length.
 * Each column c becomes exp(x - max) / sum over its rows: the max is subtracted
 * first so no logit overflows exp. */
#ifndef CK_ATTN_H
#define CK_ATTN_H

#include <stddef.h>

typedef void (*ck_attn_softmax_cols_fn)(float *p, size_t rows, size_t nr);

void ck_attn_softmax_cols__scalar(float *p, size_t rows, size_t nr);
void ck_attn_softmax_cols__avx2(float *p, size_t rows, size_t nr);
void ck_attn_softmax_cols__avx512(float *p, size_t rows, size_t nr);
void ck_attn_softmax_cols__neon(float *p, size_t rows, size_t nr);

#endif
