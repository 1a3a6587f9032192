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
#define HUF_SLOW 32 /* primary entry flag: not a plain level */
/* Elements per stream: runs and counts are 32-bit. */
#define HUF_MAX_ELEMS 0xFFFFFFFFull

static inline unsigned huf_alphabet(int bits, int zrun)
{
	return (1u << bits) + (zrun ? HUF_ESCAPES : 0);
}

/* Encoder work space, allocated once (cc_encoder) so that encoding a frame on the
 * device's hot path allocates nothing. Sized for one alphabet bound. */
struct huf_work {
	unsigned nsym_max;
	uint32_t *freq, *code;
	uint8_t *lens;
	uint64_t *key, *tmp, *a;
	uint64_t table_bits, code_bits; /* of the last stream: table (with its flag), codes + run bits */
	uint64_t extra_bits;            /* run bits of the last stream */
	unsigned last_nsym;             /* freq[0..last_nsym) is the last stream's token histogram */
};

/* Order-0 entropy in bits of the tokens the last stream coded, plus its raw run
 * bits: the bound its codes are measured against. */
double huf_token_entropy_bits(const struct huf_work *w);

int huf_work_init(struct huf_work *w, int max_bits);
void huf_work_free(struct huf_work *w);

/* Encodes n symbols (each < 2^bits) into out[0..cap). On success *len is the
 * payload size. -ENOSPC when cap is too small (*len is then the size needed),
 * -EINVAL on bad arguments (or an alphabet larger than w was made for). */
int huf_encode(struct huf_work *w, const uint16_t *q, size_t n, int bits, int zrun,
	       uint8_t *out, size_t cap, size_t *len);

/* Bits the transmitted code-length table takes for these lengths (tests measure
 * the table overhead with it). */
size_t huf_table_bits(const uint8_t *lens, unsigned nsym);

/* Streams: from HUF_SPLIT_MIN elements on, the codes of the four quarters of the
 * tensor go in four byte-aligned streams (after the table, three u32 stream
 * lengths; the fourth runs to the end), so that the decoder follows four
 * independent dependency chains at once, as zstd's Huff0 does. Segment s holds
 * elements [s * seg, min(n, (s + 1) * seg)), seg = ceil(n / 4); zero runs stop at
 * segment edges. */
#define HUF_STREAMS 4
#define HUF_SPLIT_MIN 2048

static inline unsigned huf_nstreams(size_t n)
{
	return n >= HUF_SPLIT_MIN ? HUF_STREAMS : 1;
}

/* Elements of segment s (start in *start). */
static inline size_t huf_segment(size_t n, unsigned s, size_t *start)
{
	unsigned ns = huf_nstreams(n);
	size_t seg = (n + ns - 1) / ns, a = seg * s < n ? seg * s : n;
	*start = a;
	return n - a < seg ? n - a : seg;
}

struct huf_stream {
	const uint8_t *start, *p, *end;
	uint64_t acc;
	unsigned nbits;
	size_t phantom;   /* zero bytes fed past the end (bounded) */
	uint64_t pending; /* zeros still owed by the current run */
	uint64_t left;    /* elements of this segment not yet produced */
};

/* Decoder state. The scratch holds the primary table and the canonical symbol
 * list; size it with huf_decode_scratch(). No allocation happens in decoding. */
struct huf_dec {
	struct huf_stream s[HUF_STREAMS];
	unsigned nstreams;
	unsigned nsym, bits, zrun;
	int single;         /* one symbol, zero-length code */
	uint32_t single_sym;
	uint32_t *primary;  /* 2^HUF_PRIMARY_BITS entries: sym << 6 | HUF_SLOW? | len */
	uint32_t *sorted;   /* symbols ordered by (length, symbol) */
	uint32_t count[HUF_MAX_LEN + 1];
	int maxlen;
	unsigned pbits;     /* primary table index bits in use, <= HUF_PRIMARY_BITS */
};

size_t huf_decode_scratch(int bits, int zrun);

/* Reads the table and the stream lengths of a payload of n elements. Errors:
 * -EBADMSG with a message. */
int huf_dec_init(struct huf_dec *d, const uint8_t *in, size_t len, size_t n, int bits, int zrun,
		 void *scratch, size_t scratch_bytes, char *err, size_t errlen);
/* Decodes k[s] more symbols of each segment s < nstreams into q + s * stride (the
 * segments in lockstep); a run may not spill past its segment. */
int huf_dec_symbols(struct huf_dec *d, uint16_t *q, size_t stride, const size_t *k, char *err,
		    size_t errlen);
/* After the last element: every stream must end here, padding bits zero. */
int huf_dec_finish(struct huf_dec *d, char *err, size_t errlen);

/* Internals exposed for tests: lengths for a histogram, limited to maxlen; the
 * work space must hold nsym symbols. Returns the number of used symbols. */
int huf_build_lengths(struct huf_work *w, const uint32_t *freq, unsigned nsym, int maxlen,
		      uint8_t *lens);

#endif
