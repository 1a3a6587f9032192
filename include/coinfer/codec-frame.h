/* coinfer codec frame: one tensor, self-describing and checksummed, as sent on the
 * uplink (layout in docs/codec-frame.md).
 *
 * Functions return 0 or -errno. Decoding treats the frame as hostile: every field
 * is checked against the frame length and the caller's limits before use, and the
 * decoder allocates nothing; its scratch comes from the caller, sized by
 * cc_frame_scratch_bytes(). Errors carry a message naming the field when err is
 * not NULL. */
#ifndef COINFER_CODEC_FRAME_H
#define COINFER_CODEC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cc_codec {
	CC_CODEC_RAW32 = 0,        /* fp32 as is (lossless) */
	CC_CODEC_RAW16 = 1,        /* IEEE binary16, round to nearest even */
	CC_CODEC_PACKED = 2,       /* min-max quantized, dense `bits`-bit packing */
	CC_CODEC_HUFFMAN = 3,      /* quantized, canonical Huffman */
	CC_CODEC_HUFFMAN_ZRUN = 4, /* quantized, Huffman with escapes for runs of level 0 */
	CC_CODEC_PRED = 5,         /* quantized, MED-predicted per H x W plane (ndim 3 only),
				    * Huffman over the residuals mod 2^bits */
	CC_CODEC_COUNT
};

#define CC_ELEM_FP32 1
#define CC_FRAME_MAX_DIMS 4
#define CC_FRAME_VERSION 1
#define CC_FRAME_HEADER_BYTES 48
#define CC_FRAME_TRAILER_BYTES 8

struct cc_limits {
	size_t max_elems;       /* decoded elements */
	size_t max_frame_bytes; /* whole frame, header to checksum */
};

/* What a frame header says, once validated. Quantization groups run along dims[0]:
 * with per_channel there are dims[0] (min, max) pairs over planes of
 * elems / dims[0] values; without, one pair. Pass a C x H x W map as {C, H, W}. */
struct cc_frame_info {
	enum cc_codec codec;
	int elem_type, per_channel, bits, ndim;
	uint32_t dims[CC_FRAME_MAX_DIMS];
	size_t elems, pairs;
	size_t payload_bytes, frame_bytes;
};

const char *cc_codec_name(enum cc_codec c);

/* Upper bound on the encoded size of such a tensor (for sizing `out`). */
size_t cc_frame_bound(enum cc_codec codec, int ndim, const uint32_t *dims, int per_channel);

/* An encoder owns the work space for tensors up to a size (symbols, (min, max)
 * pairs, Huffman tables for up to max_bits), allocated once, so that encoding on
 * the device's hot path allocates nothing. Not thread-safe: one per thread. */
struct cc_encoder;
int cc_encoder_create(size_t max_elems, size_t max_pairs, int max_bits,
		      struct cc_encoder **out);
void cc_encoder_destroy(struct cc_encoder *e);

/* Encodes x (elems = product of dims, fp32) into out[0..cap); *len gets the frame
 * size. bits and per_channel are ignored (must be 0) for the raw codecs.
 * -ENOSPC when cap is short (*len: the size needed), -EINVAL on bad arguments,
 * -E2BIG for > 2^32-1 elements or a tensor larger than the encoder was made for. */
int cc_encoder_encode(struct cc_encoder *e, const float *x, int ndim, const uint32_t *dims,
		      enum cc_codec codec, int bits, int per_channel, uint8_t *out, size_t cap,
		      size_t *len, char *err, size_t errlen);
/* The quantized symbols of the last quantized frame encoded (tables, tests). */
const uint16_t *cc_encoder_symbols(const struct cc_encoder *e);
/* Where the bits of the last Huffman payload went (0 for other codecs): the code
 * table (with its one flag bit) and the codes with their run bits; and the bound
 * those codes are held to: the order-0 entropy of the tokens they code (levels,
 * and zero-run escapes for huffman-zrun) plus the raw run bits. Computed on
 * request, from the histogram the encoder kept. */
struct cc_encode_stats {
	uint64_t table_bits, code_bits;
	double entropy_bits;
};
void cc_encoder_stats(const struct cc_encoder *e, struct cc_encode_stats *st);

/* One-off cc_encoder_encode with an encoder made for just this tensor (allocates;
 * tools and tests). */
int cc_frame_encode(const float *x, int ndim, const uint32_t *dims, enum cc_codec codec,
		    int bits, int per_channel, uint8_t *out, size_t cap, size_t *len, char *err,
		    size_t errlen);

/* Validates the fixed header alone (codec, bits, dims against lim, pairs and
 * payload counts against len): neither the checksum nor the (min, max) pairs
 * nor the payload are read. What a frame claims to be, cheaply, for refusing a
 * request before it is queued; the decoder checks everything again. */
int cc_frame_peek(const uint8_t *frame, size_t len, const struct cc_limits *lim,
		  struct cc_frame_info *info, char *err, size_t errlen);

/* Validates the header, lengths and checksum without decoding the payload. */
int cc_frame_info(const uint8_t *frame, size_t len, const struct cc_limits *lim,
		  struct cc_frame_info *info, char *err, size_t errlen);

/* Scratch cc_frame_decode needs for this frame (0 for the raw codecs), and the
 * most any frame can need. */
size_t cc_frame_scratch_bytes(const struct cc_frame_info *info);
size_t cc_frame_scratch_max(void);

/* Decodes into out[0..out_elems). scratch must hold cc_frame_scratch_bytes(info)
 * bytes. pred-huffman also uses out[0..elems) as work space for the symbols
 * before it writes the values. info (may be NULL) receives the header. -EINVAL/-EBADMSG on malformed
 * frames, -E2BIG past the limits, -ENOSPC when out or scratch is too small. */
int cc_frame_decode(const uint8_t *frame, size_t len, const struct cc_limits *lim, float *out,
		    size_t out_elems, void *scratch, size_t scratch_bytes,
		    struct cc_frame_info *info, char *err, size_t errlen);

/* fp16 conversions of the RAW16 codec (exposed for tests). */
uint16_t cc_f32_to_f16(float f);
float cc_f16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
