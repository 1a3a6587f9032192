/* The column softmax of attn.h, written once over a few vector operations that each
 * ISA's file defines before including this (its own types, width VL and exp):
 * VEC, VL, VLOAD, VSTORE, VMAX, VSUB, VADD, VMUL, VZERO, VRECIP, VEXP.
 * Per group of VL columns: a max pass, an exp pass that also sums, a scaling pass
 * (one reciprocal, then products, as the row softmax). Rows go two at a time into
 * separate accumulators so neither dependency chain waits on the other. A NaN may
 * be dropped by the max; it still turns its column's sum, and so the column, NaN. */
static inline void ck_attn_softmax_cols_body(float *p, size_t rows, size_t nr)
{
	for (size_t c = 0; c < nr; c += VL) {
		float *col = p + c;
		VEC m0 = VLOAD(col), m1 = m0;
		size_t r = 1;
		for (; r + 2 <= rows; r += 2) {
			m0 = VMAX(m0, VLOAD(col + r * nr));
			m1 = VMAX(m1, VLOAD(col + (r + 1) * nr));
		}
		if (r < rows)
			m0 = VMAX(m0, VLOAD(col + r * nr));
		const VEC m = VMAX(m0, m1);
		VEC s0 = VZERO(), s1 = VZERO();
		for (r = 0; r + 2 <= rows; r += 2) {
			float *a = col + r * nr, *b = a + nr;
			const VEC e0 = VEXP(VSUB(VLOAD(a), m)), e1 = VEXP(VSUB(VLOAD(b), m));
			VSTORE(a, e0);
			VSTORE(b, e1);
			s0 = VADD(s0, e0);
			s1 = VADD(s1, e1);
		}
		if (r < rows) {
			const VEC e = VEXP(VSUB(VLOAD(col + r * nr), m));
			VSTORE(col + r * nr, e);
			s0 = VADD(s0, e);
		}
		const VEC inv = VRECIP(VADD(s0, s1));
		for (r = 0; r < rows; r++)
			VSTORE(col + r * nr, VMUL(VLOAD(col + r * nr), inv));
	}
}
