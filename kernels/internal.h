/* Symbols each kernel family provides per ISA; dispatch.c gathers them into tables.
 * Naming follows op__isa. A family whose SIMD variant is not worth its own code for
 * some op may point that ISA's entry at a shared implementation, but every ISA
 * listed here must exist so the table is complete. */
#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H

#include "coinfer/kernels.h"

#define CK_ALIGN 64

#define CK_DECLARE_ISA(isa)                                                                 \
	size_t ck_conv_packed_floats__##isa(const struct ck_conv_desc *d);                  \
	void ck_conv_pack__##isa(const struct ck_conv_desc *d, const float *w,              \
				 const float *bias, float *packed);                         \
	size_t ck_conv_workspace_bytes__##isa(const struct ck_conv_desc *d, int n);         \
	void ck_conv_run__##isa(const struct ck_conv_desc *d, const float *packed,          \
				const float *in, float *out, int n, void *ws);              \
	size_t ck_fc_packed_floats__##isa(const struct ck_fc_desc *d);                      \
	void ck_fc_pack__##isa(const struct ck_fc_desc *d, const float *w, const float *bias, \
			       float *packed);                                              \
	size_t ck_fc_workspace_bytes__##isa(const struct ck_fc_desc *d, int n);             \
	void ck_fc_run__##isa(const struct ck_fc_desc *d, const float *packed,              \
			      const float *in, float *out, int n, void *ws);                \
	size_t ck_attn_packed_floats__##isa(const struct ck_attn_desc *d);                  \
	void ck_attn_pack__##isa(const struct ck_attn_desc *d, const float *wq,             \
				 const float *bq, const float *wk, const float *bk,         \
				 const float *wv, const float *bv, float *packed);          \
	size_t ck_attn_workspace_bytes__##isa(const struct ck_attn_desc *d, int n);         \
	void ck_attn_run__##isa(const struct ck_attn_desc *d, const float *packed,          \
				const float *in, float *out, int n, void *ws);              \
	void ck_relu__##isa(const float *in, float *out, size_t count);                     \
	void ck_add__##isa(const float *a, const float *b, float *out, size_t count);       \
	void ck_maxpool__##isa(const struct ck_pool_desc *d, const float *in, float *out,    \
			       int n);                                                      \
	void ck_avgpool__##isa(const struct ck_pool_desc *d, const float *in, float *out,   \
			       int n);                                                      \
	void ck_lrn__##isa(const struct ck_lrn_desc *d, const float *in, float *out, int n); \
	void ck_softmax__##isa(const float *in, float *out, int n, int classes);            \
	void ck_softmax_entropy__##isa(const float *in, float *out, int n, int classes);

CK_DECLARE_ISA(scalar)
CK_DECLARE_ISA(avx2)
CK_DECLARE_ISA(avx512)
CK_DECLARE_ISA(neon)

#endif
