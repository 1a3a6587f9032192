/* MED (LOCO-I / JPEG-LS median edge detector) prediction of quantized symbols,
 * plane by plane, for the pred-huffman frame codec (docs/codec-frame.md). Internal
 * to the codec.
 *
 * A tensor is `planes` planes of h x w symbols, row-major. Residuals are taken
 * modulo 2^bits, so they stay in the alphabet the Huffman coder already has and
 * the inverse needs no range check: any residual string decodes to valid levels.
 * Border rule: the first pixel of a plane is predicted as 0, the rest of the
 * first row from the left, the rest of the first column from above; everything
 * else by MED over a = left, b = above, c = above-left. */
#ifndef COINFER_CODEC_PRED_H
#define COINFER_CODEC_PRED_H

#include <stddef.h>
#include <stdint.h>

/* r[i] = (q[i] - pred(i)) mod 2^bits. q and r must not overlap. */
void cc_pred_residuals(const uint16_t *restrict q, uint16_t *restrict r, size_t planes,
		       size_t h, size_t w, int bits);

/* The inverse, in place: residuals in, symbols out (each < 2^bits). */
void cc_pred_undo(uint16_t *q, size_t planes, size_t h, size_t w, int bits);

#endif
