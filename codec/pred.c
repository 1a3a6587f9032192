/* MED prediction for the pred-huffman codec (pred.h, docs/codec-frame.md).
 *
 * Quantized images and smooth feature maps have a flat order-0 histogram over
 * levels but a peaked one over prediction residuals: on CIFAR-10 pixels at 8
 * bits, 7.9 bits of level entropy against 5.6 bits of MED residual entropy. The
 * Huffman coder is the frame's own; this file only maps symbols to residuals and
 * back. */
#include "pred.h"

/* Branch-free in practice: the two min/max and the two selects become cmov (or
 * vector min/max in the encoder's loop). a + b - c only runs when c lies strictly
 * between min(a, b) and max(a, b), so it stays inside the level range. */
static inline unsigned med(unsigned a, unsigned b, unsigned c)
{
	unsigned mn = a < b ? a : b, mx = a < b ? b : a;
	unsigned mid = a + b - c;
	mid = c <= mn ? mx : mid;
	return c >= mx ? mn : mid;
}

void cc_pred_residuals(const uint16_t *restrict q, uint16_t *restrict r, size_t planes,
		       size_t h, size_t w, int bits)
{
	const unsigned m = (1u << bits) - 1;
	const size_t plane = h * w;
	if (!plane)
		return;
	for (size_t p = 0; p < planes; p++, q += plane, r += plane) {
		r[0] = (uint16_t)(q[0] & m);
		for (size_t x = 1; x < w; x++)
			r[x] = (uint16_t)((unsigned)(q[x] - q[x - 1]) & m);
		/* The rest of the plane as one flat run with no loop-carried dependency,
		 * which the compiler vectorizes even when rows are a few pixels wide;
		 * its first-column results (a "left" from the row above) are then
		 * replaced by the border rule. */
		for (size_t i = w + 1; i < plane; i++)
			r[i] = (uint16_t)((q[i] - med(q[i - 1], q[i - w], q[i - w - 1])) & m);
		for (size_t i = w; i < plane; i += w)
			r[i] = (uint16_t)((unsigned)(q[i] - q[i - w]) & m);
	}
}

/* Rows y of k planes (k a constant after inlining) unpredicted side by side.
 * Each row is one serial chain (a -> med -> add -> a, about six cycles of
 * compares and cmovs a pixel); k independent chains let the out-of-order core
 * overlap them, which one chain cannot. */
static inline __attribute__((always_inline)) void undo_rows(uint16_t *q, size_t plane, int k,
							     size_t y, size_t w, unsigned m)
{
	uint16_t *row[4];
	unsigned a[4], c[4];
	for (int j = 0; j < k; j++) {
		row[j] = q + (size_t)j * plane + y * w;
		/* first column: from above; the plane's first pixel: predicted as 0 */
		c[j] = y ? row[j][-(ptrdiff_t)w] : 0;
		a[j] = (row[j][0] + c[j]) & m;
		row[j][0] = (uint16_t)a[j];
	}
	if (!y) {
		/* first row: from the left */
		for (size_t x = 1; x < w; x++)
			for (int j = 0; j < k; j++)
				row[j][x] = (uint16_t)(a[j] = (row[j][x] + a[j]) & m);
		return;
	}
	for (size_t x = 1; x < w; x++)
		for (int j = 0; j < k; j++) {
			unsigned b = row[j][(ptrdiff_t)x - (ptrdiff_t)w];
			a[j] = (row[j][x] + med(a[j], b, c[j])) & m;
			row[j][x] = (uint16_t)a[j];
			c[j] = b;
		}
}

void cc_pred_undo(uint16_t *q, size_t planes, size_t h, size_t w, int bits)
{
	const unsigned m = (1u << bits) - 1;
	const size_t plane = h * w;
	if (!plane)
		return;
	for (size_t p = 0; p < planes;) {
		size_t left = planes - p;
		int k = left >= 4 ? 4 : (int)left;
		uint16_t *base = q + p * plane;
		for (size_t y = 0; y < h; y++) {
			switch (k) {
			case 4: undo_rows(base, plane, 4, y, w, m); break;
			case 3: undo_rows(base, plane, 3, y, w, m); break;
			case 2: undo_rows(base, plane, 2, y, w, m); break;
			default: undo_rows(base, plane, 1, y, w, m); break;
			}
		}
		p += (size_t)k;
	}
}
