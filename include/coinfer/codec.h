/* coinfer codec: compresses the intermediate tensor at a partition point for the
 * uplink. Min-max quantization to b bits (Niu et al. (2022), eq. 4), per tensor or per
 * channel; dense bit packing; canonical length-limited Huffman with table-driven
 * decoding; and a self-describing, checksummed frame (docs/codec-frame.md).
 *
 * Functions return 0 or -errno (never set errno); decoding treats its input as
 * hostile and never reads or writes out of bounds nor allocates past the limits
 * the caller gives. Quantize, dequantize, pack and unpack have a scalar reference
 * and SIMD variants that are bit-exact against it, chosen once at start-up. */
#ifndef COINFER_CODEC_H
#define COINFER_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cc_isa { CC_ISA_SCALAR = 0, CC_ISA_AVX2 = 1, CC_ISA_AVX512 = 2, CC_ISA_NEON = 3, CC_ISA_COUNT };

#define CC_BITS_MIN 2
#define CC_BITS_MAX 16

/* A tensor of `channels` planes of `plane` floats each (one image's C x H x W
 * feature map: channels = C, plane = H*W). Per-tensor quantization uses one
 * (min, max) pair; per-channel one pair per plane. */
struct cc_kernels {
	enum cc_isa isa;
	const char *name;
	/* mn/mx get one value per channel (or one in total when !per_channel). */
	void (*minmax)(const float *x, size_t channels, size_t plane, int per_channel, float *mn,
		       float *mx);
	/* q = clamp(floor((x - mn) * s + 0.5), 0, 2^bits - 1), s = (2^bits - 1) / (mx - mn)
	 * computed in float once per pair (s = 0 when mx == mn); symbols as uint16.
	 * Round half up; exact definition in docs/codec-frame.md, "Quantization". */
	void (*quantize)(const float *x, size_t channels, size_t plane, int per_channel,
			 const float *mn, const float *mx, int bits, uint16_t *q);
	/* x = mn + q * ((mx - mn) / (2^bits - 1)), as one fused multiply-add. */
	void (*dequantize)(const uint16_t *q, size_t channels, size_t plane, int per_channel,
			   const float *mn, const float *mx, int bits, float *x);
	/* Dense little-endian bit packing of n symbols of `bits` bits: symbol i occupies
	 * bits [i*bits, (i+1)*bits) of the stream, LSB first; the last byte is zero-padded.
	 * pack writes cc_packed_bytes(n, bits) bytes. unpack reads exactly that many. */
	void (*pack)(const uint16_t *q, size_t n, int bits, uint8_t *out);
	void (*unpack)(const uint8_t *in, size_t n, int bits, uint16_t *q);
};

static inline size_t cc_packed_bytes(size_t n, int bits)
{
	return (n * (size_t)bits + 7) / 8;
}

/* Best level for this CPU and build; COINFER_ISA=scalar|avx2|avx512|neon forces one. */
const struct cc_kernels *cc_kernels(void);
/* One level, or NULL where this build or CPU lacks it (tests). */
const struct cc_kernels *cc_kernels_for(enum cc_isa isa);

#ifdef __cplusplus
}
#endif
#endif
