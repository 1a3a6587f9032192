/* The codec frame (docs/codec-frame.md): encode one fp32 tensor with a codec id,
 * decode it back into caller buffers under caller limits.
 *
 * Decoding parses hostile bytes: lengths are checked in 64-bit against the frame
 * size before any offset is formed, the checksum is verified before the payload is
 * interpreted, and the payload is decoded in fixed chunks of symbols through the
 * caller's scratch, so memory use does not grow with what the frame claims
 * (pred-huffman also works inside the caller's output, sized by the validated
 * element count: decode_pred). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coinfer/codec-frame.h"
#include "coinfer/codec.h"
#include "coinfer/errmsg.h"
#include "huffman.h"
#include "pred.h"
#include "coinfer/bytes.h"

#define CHUNK 4096 /* symbols per decode step; a multiple of 8 keeps packing byte-aligned */
#define PAIR_BYTES 8
static const uint8_t magic[4] = {'C', 'C', 'F', 'R'};

const char *cc_codec_name(enum cc_codec c)
{
	switch (c) {
	case CC_CODEC_RAW32: return "raw32";
	case CC_CODEC_RAW16: return "raw16";
	case CC_CODEC_PACKED: return "packed";
	case CC_CODEC_HUFFMAN: return "huffman";
	case CC_CODEC_HUFFMAN_ZRUN: return "huffman-zrun";
	case CC_CODEC_PRED: return "pred-huffman";
	case CC_CODEC_COUNT: break;
	}
	return "unknown";
}

static int quantized(enum cc_codec c)
{
	return c == CC_CODEC_PACKED || c == CC_CODEC_HUFFMAN || c == CC_CODEC_HUFFMAN_ZRUN ||
	       c == CC_CODEC_PRED;
}

/* pred-huffman predicts within H x W planes, so it needs to know them: a tensor
 * is {C, H, W} (H or W may be 1) and nothing else, which also keeps the planes
 * the per-channel quantization groups. */
#define PRED_NDIM 3

/* ---- fp16 ---------------------------------------------------------------- */

uint16_t cc_f32_to_f16(float f)
{
	uint32_t x, r, rem, half;
	memcpy(&x, &f, sizeof(x));
	uint16_t sign = (uint16_t)(x >> 16 & 0x8000);
	uint32_t ax = x & 0x7fffffff;

	if (ax > 0x7f800000) /* NaN: stays quiet, keeps the top payload bits */
		return sign | 0x7e00 | (uint16_t)(ax >> 13 & 0x3ff);
	if (ax >= 0x477ff000) /* >= 65520 rounds to infinity */
		return sign | 0x7c00;
	if (ax >= 0x38800000) { /* normal half */
		r = (ax - 0x38000000) >> 13;
		rem = ax & 0x1fff;
		if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
			r++; /* a carry into the exponent is the right answer */
		return sign | (uint16_t)r;
	}
	uint32_t e = ax >> 23;
	if (e < 102) /* below 2^-25: rounds to zero */
		return sign;
	uint32_t mant = (ax & 0x7fffff) | 0x800000, shift = 126 - e;
	r = mant >> shift;
	rem = mant & ((1u << shift) - 1);
	half = 1u << (shift - 1);
	if (rem > half || (rem == half && (r & 1)))
		r++;
	return sign | (uint16_t)r;
}

float cc_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = h >> 10 & 0x1f, m = h & 0x3ff, x;
	if (e == 0x1f) {
		x = sign | 0x7f800000 | m << 13;
	} else if (e) {
		x = sign | (e + 112) << 23 | m << 13;
	} else if (!m) {
		x = sign;
	} else {
		e = 113;
		while (!(m & 0x400)) {
			m <<= 1;
			e--;
		}
		x = sign | e << 23 | (m & 0x3ff) << 13;
	}
	float f;
	memcpy(&f, &x, sizeof(f));
	return f;
}

/* ---- sizes --------------------------------------------------------------- */

/* Elements of a shape, or -1 when invalid or past 2^32-1. */
static int64_t shape_elems(int ndim, const uint32_t *dims)
{
	if (ndim < 1 || ndim > CC_FRAME_MAX_DIMS || !dims)
		return -1;
	uint64_t n = 1;
	for (int i = 0; i < ndim; i++) {
		n *= dims[i]; /* each factor < 2^32 and n <= 2^32 before: no overflow */
		if (n > HUF_MAX_ELEMS)
			return -1;
	}
	return (int64_t)n;
}

static size_t pairs_for(enum cc_codec c, uint64_t n, int per_channel, const uint32_t *dims)
{
	if (!quantized(c) || n == 0)
		return 0;
	return per_channel ? dims[0] : 1;
}

size_t cc_frame_bound(enum cc_codec codec, int ndim, const uint32_t *dims, int per_channel)
{
	int64_t n = shape_elems(ndim, dims);
	if (n < 0 || (unsigned)codec >= CC_CODEC_COUNT)
		return 0;
	uint64_t p, un = (uint64_t)n;
	switch (codec) {
	case CC_CODEC_RAW32: p = 4 * un; break;
	case CC_CODEC_RAW16:
	case CC_CODEC_PACKED: p = 2 * un; break;
	default: /* table: <= 15 bits per symbol; codes + run bits: <= 20 per element */
		p = (1 + 15ull * HUF_MAX_SYMS + 20 * un + 7) / 8;
		break;
	}
	return (size_t)(CC_FRAME_HEADER_BYTES + PAIR_BYTES * pairs_for(codec, un, per_channel, dims) +
			p + CC_FRAME_TRAILER_BYTES);
}

size_t cc_frame_scratch_bytes(const struct cc_frame_info *info)
{
	switch (info->codec) {
	case CC_CODEC_PACKED: return CHUNK * sizeof(uint16_t);
	case CC_CODEC_HUFFMAN:
	case CC_CODEC_HUFFMAN_ZRUN:
	case CC_CODEC_PRED:
		return CHUNK * sizeof(uint16_t) +
		       huf_decode_scratch(info->bits, info->codec == CC_CODEC_HUFFMAN_ZRUN);
	default: return 0;
	}
}

size_t cc_frame_scratch_max(void)
{
	return CHUNK * sizeof(uint16_t) + huf_decode_scratch(16, 1);
}

/* ---- encode -------------------------------------------------------------- */

struct cc_encoder {
	size_t max_elems, max_pairs;
	int max_bits;
	uint16_t *q;
	uint16_t *r; /* pred-huffman residuals: q stays the symbols (cc_encoder_symbols) */
	float *mn, *mx;
	struct huf_work huf;
};

void cc_encoder_destroy(struct cc_encoder *e)
{
	if (!e)
		return;
	free(e->q);
	free(e->r);
	free(e->mn);
	free(e->mx);
	huf_work_free(&e->huf);
	free(e);
}

int cc_encoder_create(size_t max_elems, size_t max_pairs, int max_bits, struct cc_encoder **out)
{
	struct cc_encoder *e;
	int ret = -ENOMEM;

	*out = NULL;
	if (max_elems > HUF_MAX_ELEMS || max_bits < CC_BITS_MIN || max_bits > CC_BITS_MAX)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->max_elems = max_elems;
	e->max_pairs = max_pairs ? max_pairs : 1;
	e->max_bits = max_bits;
	e->q = malloc((max_elems ? max_elems : 1) * sizeof(*e->q));
	e->r = malloc((max_elems ? max_elems : 1) * sizeof(*e->r));
	e->mn = malloc(e->max_pairs * sizeof(*e->mn));
	e->mx = malloc(e->max_pairs * sizeof(*e->mx));
	if (!e->q || !e->r || !e->mn || !e->mx)
		goto err;
	if ((ret = huf_work_init(&e->huf, max_bits)))
		goto err;
	*out = e;
	return 0;
err:
	cc_encoder_destroy(e);
	return ret;
}

/* One encode call's request, checked: the codec, shape and quantization it asks
 * for, and the element and (min, max) pair counts they give. */
struct enc_req {
	enum cc_codec codec;
	int ndim, bits, per_channel;
	const uint32_t *dims;
	size_t n, pairs;
};

static int check_request(const struct cc_encoder *e, const float *x, struct enc_req *r,
			 char *err, size_t errlen)
{
	if ((unsigned)r->codec >= CC_CODEC_COUNT)
		return cf_fail(-EINVAL, err, errlen, "codec id %d unknown", (int)r->codec);
	int64_t sn = shape_elems(r->ndim, r->dims);
	if (sn < 0)
		return cf_fail(r->ndim < 1 || r->ndim > CC_FRAME_MAX_DIMS ? -EINVAL : -E2BIG, err,
			       errlen, "shape: ndim %d or element count invalid (max 2^32-1)",
			       r->ndim);
	r->n = (size_t)sn;
	if (r->codec == CC_CODEC_PRED && r->ndim != PRED_NDIM)
		return cf_fail(-EINVAL, err, errlen,
			       "codec %s needs a {C, H, W} tensor (ndim 3), not ndim %d",
			       cc_codec_name(r->codec), r->ndim);
	if (!quantized(r->codec)) {
		r->bits = 0;
		r->per_channel = 0;
	} else if (r->bits < CC_BITS_MIN || r->bits > CC_BITS_MAX) {
		return cf_fail(-EINVAL, err, errlen, "bits %d outside %d..%d", r->bits, CC_BITS_MIN,
			       CC_BITS_MAX);
	}
	r->per_channel = !!r->per_channel;
	if (r->n && !x)
		return cf_fail(-EINVAL, err, errlen, "no data");
	r->pairs = pairs_for(r->codec, r->n, r->per_channel, r->dims);
	if (quantized(r->codec) &&
	    (r->n > e->max_elems || r->pairs > e->max_pairs || r->bits > e->max_bits))
		return cf_fail(-E2BIG, err, errlen,
			       "%zu elements, %zu pairs, %d bits: encoder made for %zu, %zu, %d",
			       r->n, r->pairs, r->bits, e->max_elems, e->max_pairs, e->max_bits);
	return 0;
}

/* raw32 or raw16: little-endian values. */
static void put_raw(const float *x, size_t n, enum cc_codec codec, uint8_t *pl)
{
	for (size_t i = 0; i < n; i++) {
		if (codec == CC_CODEC_RAW32) {
			le_wrf(pl + 4 * i, x[i]);
		} else {
			uint16_t h = cc_f32_to_f16(x[i]);
			pl[2 * i] = (uint8_t)h;
			pl[2 * i + 1] = (uint8_t)(h >> 8);
		}
	}
}

/* A quantized codec of n > 0 elements: the (min, max) pairs after the header, the
 * payload at out + hdr in room bytes and its size in *payload (also when it
 * does not fit: -ENOSPC), or huf_encode's error. */
static int put_quantized(struct cc_encoder *e, const float *x, const struct enc_req *r,
			 uint8_t *out, size_t hdr, size_t room, size_t *payload)
{
	const struct cc_kernels *k = cc_kernels();
	const int bits = r->bits;
	size_t channels = r->per_channel ? r->dims[0] : 1, plane = r->n / channels;
	uint8_t *pl = out + hdr;
	k->minmax(x, channels, plane, r->per_channel, e->mn, e->mx);
	k->quantize(x, channels, plane, r->per_channel, e->mn, e->mx, bits, e->q);
	for (size_t g = 0; g < r->pairs; g++) {
		le_wrf(out + CC_FRAME_HEADER_BYTES + PAIR_BYTES * g, e->mn[g]);
		le_wrf(out + CC_FRAME_HEADER_BYTES + PAIR_BYTES * g + 4, e->mx[g]);
	}
	if (r->codec == CC_CODEC_PACKED) {
		*payload = cc_packed_bytes(r->n, bits);
		if (*payload > room)
			return -ENOSPC;
		k->pack(e->q, r->n, bits, pl);
		return 0;
	}
	const uint16_t *sym = e->q;
	if (r->codec == CC_CODEC_PRED) {
		cc_pred_residuals(e->q, e->r, r->dims[0], r->dims[1], r->dims[2], bits);
		sym = e->r;
	}
	return huf_encode(&e->huf, sym, r->n, bits, r->codec == CC_CODEC_HUFFMAN_ZRUN, pl, room,
			  payload);
}

/* The fixed header before the pairs, and the checksum after the payload. */
static void put_frame(uint8_t *out, const struct enc_req *r, size_t hdr, size_t payload)
{
	memcpy(out, magic, 4);
	out[4] = CC_FRAME_VERSION;
	out[5] = (uint8_t)r->codec;
	out[6] = CC_ELEM_FP32;
	out[7] = (uint8_t)r->per_channel;
	out[8] = (uint8_t)r->ndim;
	out[9] = (uint8_t)r->bits;
	out[10] = out[11] = 0;
	for (int i = 0; i < CC_FRAME_MAX_DIMS; i++)
		le_wr32(out + 12 + 4 * i, i < r->ndim ? r->dims[i] : 0);
	le_wr32(out + 28, (uint32_t)r->pairs);
	le_wr64(out + 32, (uint64_t)r->n * 4);
	le_wr64(out + 40, payload);
	le_wr64(out + hdr + payload, XXH64(out, hdr + payload, 0));
}

int cc_encoder_encode(struct cc_encoder *e, const float *x, int ndim, const uint32_t *dims,
		      enum cc_codec codec, int bits, int per_channel, uint8_t *out, size_t cap,
		      size_t *len, char *err, size_t errlen)
{
	struct enc_req r = {.codec = codec, .ndim = ndim, .bits = bits,
			    .per_channel = per_channel, .dims = dims};
	int ret = 0;

	*len = 0;
	e->huf.table_bits = e->huf.code_bits = 0;
	e->huf.last_nsym = 0;
	if ((ret = check_request(e, x, &r, err, errlen)))
		return ret;
	size_t hdr = CC_FRAME_HEADER_BYTES + PAIR_BYTES * r.pairs;
	if (cap < hdr + CC_FRAME_TRAILER_BYTES) {
		*len = hdr + CC_FRAME_TRAILER_BYTES;
		return cf_fail(-ENOSPC, err, errlen, "output of %zu bytes too small", cap);
	}
	size_t room = cap - hdr - CC_FRAME_TRAILER_BYTES, payload = 0;
	if (codec == CC_CODEC_RAW32 || codec == CC_CODEC_RAW16) {
		payload = r.n * (codec == CC_CODEC_RAW32 ? 4 : 2);
		if (payload > room)
			ret = -ENOSPC;
		else
			put_raw(x, r.n, codec, out + hdr);
	} else if (r.n) {
		ret = put_quantized(e, x, &r, out, hdr, room, &payload);
	}
	if (ret == -ENOSPC) {
		*len = hdr + payload + CC_FRAME_TRAILER_BYTES;
		return cf_fail(-ENOSPC, err, errlen, "output of %zu bytes too small (%zu needed)",
			       cap, *len);
	}
	if (ret)
		return cf_fail(ret, err, errlen, "huffman encoding failed (%d)", ret);
	put_frame(out, &r, hdr, payload);
	*len = hdr + payload + CC_FRAME_TRAILER_BYTES;
	return 0;
}

const uint16_t *cc_encoder_symbols(const struct cc_encoder *e)
{
	return e->q;
}

void cc_encoder_stats(const struct cc_encoder *e, struct cc_encode_stats *st)
{
	st->table_bits = e->huf.table_bits;
	st->code_bits = e->huf.code_bits;
	st->entropy_bits = e->huf.last_nsym ? huf_token_entropy_bits(&e->huf) : 0.0;
}

int cc_frame_encode(const float *x, int ndim, const uint32_t *dims, enum cc_codec codec,
		    int bits, int per_channel, uint8_t *out, size_t cap, size_t *len, char *err,
		    size_t errlen)
{
	struct cc_encoder *e = NULL;
	int64_t n = shape_elems(ndim, dims);
	int ret;

	*len = 0;
	if (n < 0 || (unsigned)codec >= CC_CODEC_COUNT)
		return cc_encoder_encode(&(struct cc_encoder){0}, x, ndim, dims, codec, bits,
					 per_channel, out, cap, len, err, errlen);
	size_t pairs = quantized(codec) ? pairs_for(codec, (uint64_t)n, !!per_channel, dims) : 0;
	int b = quantized(codec) && bits >= CC_BITS_MIN && bits <= CC_BITS_MAX ? bits : CC_BITS_MIN;
	ret = cc_encoder_create(quantized(codec) ? (size_t)n : 0, pairs, b, &e);
	if (ret)
		return cf_fail(ret, err, errlen, "out of memory for %lld symbols", (long long)n);
	ret = cc_encoder_encode(e, x, ndim, dims, codec, bits, per_channel, out, cap, len, err,
				errlen);
	cc_encoder_destroy(e);
	return ret;
}

/* ---- decode -------------------------------------------------------------- */

/* The fixed header's fields, in their order in the frame (cc_frame_info goes on
 * from here). */
int cc_frame_peek(const uint8_t *f, size_t len, const struct cc_limits *lim,
		  struct cc_frame_info *info, char *err, size_t errlen)
{
	memset(info, 0, sizeof(*info));
	if (!f || !lim)
		return cf_fail(-EINVAL, err, errlen, "no frame or limits");
	if (len > lim->max_frame_bytes)
		return cf_fail(-E2BIG, err, errlen, "frame of %zu bytes exceeds the limit %zu", len,
			     lim->max_frame_bytes);
	if (len < CC_FRAME_HEADER_BYTES + CC_FRAME_TRAILER_BYTES)
		return cf_fail(-EINVAL, err, errlen, "frame of %zu bytes shorter than a header", len);
	if (memcmp(f, magic, 4))
		return cf_fail(-EINVAL, err, errlen, "magic: not a coinfer codec frame");
	if (f[4] != CC_FRAME_VERSION)
		return cf_fail(-EINVAL, err, errlen, "version %u unsupported", f[4]);
	if (f[5] >= CC_CODEC_COUNT)
		return cf_fail(-EINVAL, err, errlen, "codec id %u unknown", f[5]);
	if (f[6] != CC_ELEM_FP32)
		return cf_fail(-EINVAL, err, errlen, "element type %u unsupported", f[6]);
	if (f[7] & ~1u)
		return cf_fail(-EINVAL, err, errlen, "flags 0x%02x: unknown bits", f[7]);
	if (f[8] < 1 || f[8] > CC_FRAME_MAX_DIMS)
		return cf_fail(-EINVAL, err, errlen, "ndim %u outside 1..%d", f[8], CC_FRAME_MAX_DIMS);
	if (f[5] == CC_CODEC_PRED && f[8] != PRED_NDIM)
		return cf_fail(-EINVAL, err, errlen, "ndim %u: codec %s needs ndim %d", f[8],
			       cc_codec_name(CC_CODEC_PRED), PRED_NDIM);
	if (f[10] || f[11])
		return cf_fail(-EINVAL, err, errlen, "reserved bytes not zero");
	info->codec = (enum cc_codec)f[5];
	info->elem_type = f[6];
	info->per_channel = f[7] & 1;
	info->ndim = f[8];
	info->bits = f[9];
	for (int i = 0; i < CC_FRAME_MAX_DIMS; i++) {
		info->dims[i] = le_rd32(f + 12 + 4 * i);
		if (i >= info->ndim && info->dims[i])
			return cf_fail(-EINVAL, err, errlen, "dims[%d] = %u past ndim %d", i,
				     info->dims[i], info->ndim);
	}
	int64_t n = shape_elems(info->ndim, info->dims);
	if (n < 0)
		return cf_fail(-E2BIG, err, errlen, "dims: element count overflows 2^32-1");
	if ((uint64_t)n > lim->max_elems)
		return cf_fail(-E2BIG, err, errlen, "dims: %lld elements exceed the limit %zu",
			     (long long)n, lim->max_elems);
	info->elems = (size_t)n;
	if (quantized(info->codec)) {
		if (info->bits < CC_BITS_MIN || info->bits > CC_BITS_MAX)
			return cf_fail(-EINVAL, err, errlen, "bits %d outside %d..%d", info->bits,
				     CC_BITS_MIN, CC_BITS_MAX);
	} else if (info->bits || info->per_channel) {
		return cf_fail(-EINVAL, err, errlen, "bits %d / per-channel flag set on codec %s",
			     info->bits, cc_codec_name(info->codec));
	}
	uint32_t pairs = le_rd32(f + 28);
	size_t want = pairs_for(info->codec, info->elems, info->per_channel, info->dims);
	if (pairs != want)
		return cf_fail(-EINVAL, err, errlen, "pairs %u, expected %zu", pairs, want);
	info->pairs = want;
	if (le_rd64(f + 32) != (uint64_t)info->elems * 4)
		return cf_fail(-EINVAL, err, errlen, "raw size %llu, expected %zu",
			     (unsigned long long)le_rd64(f + 32), info->elems * 4);
	/* All in 64-bit: pairs < 2^32 and len fits, so nothing below can wrap. */
	uint64_t fixed = CC_FRAME_HEADER_BYTES + (uint64_t)PAIR_BYTES * pairs + CC_FRAME_TRAILER_BYTES;
	uint64_t payload = le_rd64(f + 40);
	if (fixed > len || payload != len - fixed)
		return cf_fail(-EINVAL, err, errlen,
			     "payload size %llu does not match the frame (%zu bytes, %llu fixed)",
			     (unsigned long long)payload, len, (unsigned long long)fixed);
	info->payload_bytes = (size_t)payload;
	info->frame_bytes = len;
	return 0;
}

int cc_frame_info(const uint8_t *f, size_t len, const struct cc_limits *lim,
		  struct cc_frame_info *info, char *err, size_t errlen)
{
	int ret = cc_frame_peek(f, len, lim, info, err, errlen);
	if (ret)
		return ret;
	uint64_t payload = info->payload_bytes;
	uint64_t sum = XXH64(f, len - CC_FRAME_TRAILER_BYTES, 0);
	if (sum != le_rd64(f + len - CC_FRAME_TRAILER_BYTES))
		return cf_fail(-EBADMSG, err, errlen, "checksum mismatch");

	uint64_t n4 = (uint64_t)info->elems;
	uint64_t expect;
	switch (info->codec) {
	case CC_CODEC_RAW32: expect = 4 * n4; break;
	case CC_CODEC_RAW16: expect = 2 * n4; break;
	case CC_CODEC_PACKED: expect = (n4 * (uint64_t)info->bits + 7) / 8; break;
	default: expect = payload; /* variable; n == 0 means empty, checked below */
		if ((n4 == 0) != (payload == 0))
			return cf_fail(-EINVAL, err, errlen, "payload size %llu for %zu elements",
				     (unsigned long long)payload, info->elems);
		break;
	}
	if (payload != expect)
		return cf_fail(-EINVAL, err, errlen, "payload size %llu, codec %s needs %llu",
			     (unsigned long long)payload, cc_codec_name(info->codec),
			     (unsigned long long)expect);
	for (size_t g = 0; g < info->pairs; g++) {
		float lo = le_rdf(f + CC_FRAME_HEADER_BYTES + PAIR_BYTES * g);
		float hi = le_rdf(f + CC_FRAME_HEADER_BYTES + PAIR_BYTES * g + 4);
		if (!isfinite(lo) || !isfinite(hi) || !(lo <= hi))
			return cf_fail(-EINVAL, err, errlen, "pair %zu: min %g max %g invalid", g,
				     (double)lo, (double)hi);
	}
	return 0;
}

/* Dequantizes q[0..m), the elements [at, at + m) of the tensor, per (min, max)
 * group: elementwise, so splitting at chunk and segment edges gives the same bits
 * as one whole-tensor call. */
static void dequant_range(const uint8_t *f, const struct cc_frame_info *info, const uint16_t *q,
			  size_t at, size_t m, float *out)
{
	const struct cc_kernels *k = cc_kernels();
	const size_t plane = info->per_channel ? info->elems / info->dims[0] : info->elems;
	for (size_t j = 0; j < m;) {
		size_t g = (at + j) / plane, gend = (g + 1) * plane;
		size_t c = gend - (at + j) < m - j ? gend - (at + j) : m - j;
		float lo = le_rdf(f + CC_FRAME_HEADER_BYTES + PAIR_BYTES * g);
		float hi = le_rdf(f + CC_FRAME_HEADER_BYTES + PAIR_BYTES * g + 4);
		k->dequantize(q + j, 1, c, 0, &lo, &hi, info->bits, out + at + j);
		j += c;
	}
}

/* pred-huffman: prediction runs along rows and planes, but the four Huffman
 * streams deliver quarters of the tensor side by side, so the symbols cannot be
 * unpredicted chunk by chunk in the bounded scratch. They are decoded whole into
 * the upper half of the caller's output instead (n floats hold 2n symbols at
 * byte 2n), unpredicted there in place, then dequantized chunk by chunk through
 * the scratch: writing out[0..at + m) stops at byte 4(at + m) <= 2n + 2(at + m),
 * where the symbols not yet copied begin, so no unread symbol is overwritten.
 * The scratch stays what plain Huffman needs and nothing grows with the frame. */
static int decode_pred(const uint8_t *f, const struct cc_frame_info *info, const uint8_t *pl,
		       float *out, void *scratch, size_t scratch_bytes, char *err, size_t errlen)
{
	const size_t n = info->elems;
	uint16_t *q = scratch, *sym = (uint16_t *)(void *)out + n;
	struct huf_dec hd;
	int ret = huf_dec_init(&hd, pl, info->payload_bytes, n, info->bits, 0,
			       (uint8_t *)scratch + CHUNK * 2, scratch_bytes - CHUNK * 2, err, errlen);
	if (ret)
		return ret;
	size_t start, cnt[HUF_STREAMS] = {0};
	for (unsigned s = 0; s < hd.nstreams; s++)
		cnt[s] = hd.nstreams == 1 ? n : huf_segment(n, s, &start);
	/* segment s starts at s * cnt[0] (huf_segment), so cnt[0] is the stride */
	if ((ret = huf_dec_symbols(&hd, sym, cnt[0], cnt, err, errlen)) ||
	    (ret = huf_dec_finish(&hd, err, errlen)))
		return ret;
	cc_pred_undo(sym, info->dims[0], info->dims[1], info->dims[2], info->bits);
	for (size_t at = 0; at < n;) {
		size_t m = n - at < CHUNK ? n - at : CHUNK;
		memcpy(q, sym + at, m * sizeof(*q));
		dequant_range(f, info, q, at, m, out);
		at += m;
	}
	return 0;
}

/* huffman and huffman-zrun: the segments decode side by side, CHUNK / streams
 * symbols each per round, dequantized through the scratch. */
static int decode_huffman(const uint8_t *f, const struct cc_frame_info *info, const uint8_t *pl,
			  float *out, void *scratch, size_t scratch_bytes, char *err,
			  size_t errlen)
{
	const size_t n = info->elems;
	uint16_t *q = scratch;
	struct huf_dec hd;
	int ret = huf_dec_init(&hd, pl, info->payload_bytes, n, info->bits,
			       info->codec == CC_CODEC_HUFFMAN_ZRUN, (uint8_t *)scratch + CHUNK * 2,
			       scratch_bytes - CHUNK * 2, err, errlen);
	if (ret)
		return ret;
	const unsigned ns = hd.nstreams;
	const size_t per = CHUNK / ns;
	size_t start[HUF_STREAMS], cnt[HUF_STREAMS], done[HUF_STREAMS] = {0}, k[HUF_STREAMS];
	for (unsigned s = 0; s < ns; s++)
		cnt[s] = ns == 1 ? (start[s] = 0, n) : huf_segment(n, s, &start[s]);
	for (;;) {
		size_t more = 0;
		for (unsigned s = 0; s < ns; s++) {
			k[s] = cnt[s] - done[s] < per ? cnt[s] - done[s] : per;
			more += k[s];
		}
		if (!more)
			break;
		if ((ret = huf_dec_symbols(&hd, q, per, k, err, errlen)))
			return ret;
		for (unsigned s = 0; s < ns; s++) {
			dequant_range(f, info, q + s * per, start[s] + done[s], k[s], out);
			done[s] += k[s];
		}
	}
	return huf_dec_finish(&hd, err, errlen);
}

/* packed: unpacked and dequantized a chunk at a time through the scratch. */
static int decode_packed(const uint8_t *f, const struct cc_frame_info *info, const uint8_t *pl,
			 float *out, uint16_t *q, char *err, size_t errlen)
{
	const size_t n = info->elems;
	const int bits = info->bits;
	if (bits * n % 8) {
		/* canonical padding: a frame has one encoding */
		if (pl[info->payload_bytes - 1] >> (bits * n % 8))
			return cf_fail(-EBADMSG, err, errlen, "packed payload: nonzero padding bits");
	}
	const struct cc_kernels *k = cc_kernels();
	for (size_t done = 0; done < n;) {
		size_t m = n - done < CHUNK ? n - done : CHUNK;
		k->unpack(pl + done / 8 * (size_t)bits, m, bits, q);
		dequant_range(f, info, q, done, m, out);
		done += m;
	}
	return 0;
}

int cc_frame_decode(const uint8_t *f, size_t len, const struct cc_limits *lim, float *out,
		    size_t out_elems, void *scratch, size_t scratch_bytes,
		    struct cc_frame_info *infop, char *err, size_t errlen)
{
	struct cc_frame_info local, *info = infop ? infop : &local;
	int ret = cc_frame_info(f, len, lim, info, err, errlen);
	if (ret)
		return ret;
	size_t n = info->elems;
	const uint8_t *pl = f + CC_FRAME_HEADER_BYTES + PAIR_BYTES * info->pairs;
	if (out_elems < n)
		return cf_fail(-ENOSPC, err, errlen, "output of %zu elements, frame has %zu",
			     out_elems, n);
	if (n && !out)
		return cf_fail(-EINVAL, err, errlen, "no output buffer");
	if (info->codec == CC_CODEC_RAW32) {
		for (size_t i = 0; i < n; i++)
			out[i] = le_rdf(pl + 4 * i);
		return 0;
	}
	if (info->codec == CC_CODEC_RAW16) {
		for (size_t i = 0; i < n; i++)
			out[i] = cc_f16_to_f32((uint16_t)(pl[2 * i] | pl[2 * i + 1] << 8));
		return 0;
	}
	if (n == 0)
		return 0;
	if (scratch_bytes < cc_frame_scratch_bytes(info) || !scratch ||
	    ((uintptr_t)scratch & 3))
		return cf_fail(-ENOSPC, err, errlen, "scratch of %zu bytes, %zu (4-aligned) needed",
			     scratch_bytes, cc_frame_scratch_bytes(info));

	if (info->codec == CC_CODEC_PRED)
		return decode_pred(f, info, pl, out, scratch, scratch_bytes, err, errlen);
	if (info->codec != CC_CODEC_PACKED)
		return decode_huffman(f, info, pl, out, scratch, scratch_bytes, err, errlen);
	return decode_packed(f, info, pl, out, scratch, err, errlen);
}
