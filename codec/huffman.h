/* Canonical, length-limited Huffman coding of quantized symbols (internal to the
 * codec; the frame format in docs/codec-frame.md is the public face).
 *
 * One payload is a single LSB-first bit stream: the code-length table, then the
 * codes (each written bit-reversed, as in deflate, so the decoder can index a
 * table with the low bits of its accumulator), then zero padding to a byte.
 *
 * Alphabet: the 2^bits quantization levels; with zero runs (zrun) 32 escape
 * symbols follow, ESC_k = 2^bits + k standing for a run of 2^k + e zeros where e
 * is k raw bits after the code. Lengths are limited to HUF_MAX_LEN: 65536 levels
 * plus escapes cannot all fit in 16-bit codes, and 20 leaves room for one code
 * plus 31 extra bits inside the 56 bits a refill guarantees. */
#ifndef COINFER_CODEC_HUFFMAN_H
#define COINFER_CODEC_HUFFMAN_H

#include <stddef.h>
#include <stdint.h>

#define HUF_MAX_LEN 20
#define HUF_ESCAPES 32
#define HUF_MAX_SYMS (65536 + HUF_ESCAPES)
#define HUF_PRIMARY_BITS 11
/* Elements per stream: runs and counts are 32-bit. */
#define HUF_MAX_ELEMS 0xFFFFFFFFull

static inline unsigned huf_alphabet(int bits, int zrun)
{
	return (1u << bits) + (zrun ? HUF_ESCAPES : 0);
}

/* Encodes n symbols (each < 2^bits) into out[0..cap). On success *len is the exact
 * payload size. -ENOSPC when cap is too small (*len is then the size needed),
 * -EINVAL on bad arguments, -ENOMEM. Allocates work space (encoding is trusted). */
int huf_encode(const uint16_t *q, size_t n, int bits, int zrun, uint8_t *out, size_t cap,
	       size_t *len);

/* Bits the transmitted code-length table takes for these lengths (tests measure
 * the table overhead with it). */
size_t huf_table_bits(const uint8_t *lens, unsigned nsym);

/* Decoder state. The scratch holds the primary table and the canonical symbol
 * list; size it with huf_decode_scratch(). No allocation happens in decoding. */
struct huf_dec {
	const uint8_t *start, *p, *end;
	uint64_t acc;
	unsigned nbits;
	size_t phantom;     /* zero bytes fed past the end (bounded) */
	unsigned nsym, bits, zrun;
	int single;         /* one symbol, zero-length code */
	uint32_t single_sym;
	uint64_t pending;   /* zeros still owed by the current run */
	uint64_t left;      /* elements not yet produced */
	uint32_t *primary;  /* 2^HUF_PRIMARY_BITS entries: sym << 5 | len, 0 = long code */
	uint32_t *sorted;   /* symbols ordered by (length, symbol) */
	uint32_t count[HUF_MAX_LEN + 1];
	int maxlen;
};

size_t huf_decode_scratch(int bits, int zrun);

/* Reads the table. Errors: -EBADMSG with a message. */
int huf_dec_init(struct huf_dec *d, const uint8_t *in, size_t len, size_t n, int bits, int zrun,
		 void *scratch, size_t scratch_bytes, char *err, size_t errlen);
/* Decodes exactly k more element symbols into q; a run may not spill past the n
 * elements given to huf_dec_init. */
int huf_dec_symbols(struct huf_dec *d, uint16_t *q, size_t k, char *err, size_t errlen);
/* After the last element: the stream must end here, padding bits zero. */
int huf_dec_finish(struct huf_dec *d, char *err, size_t errlen);

/* Internals exposed for tests: lengths for a histogram, limited to maxlen. */
int huf_build_lengths(const uint32_t *freq, unsigned nsym, int maxlen, uint8_t *lens);

#endif
