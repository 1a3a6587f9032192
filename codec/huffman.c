/* Canonical length-limited Huffman coder (format in huffman.h and
 * docs/codec-frame.md).
 *
 * Lengths: optimal lengths by Moffat and Katajainen's in-place algorithm over the
 * frequency-sorted symbols, then, when the deepest code exceeds HUF_MAX_LEN, the
 * length-limiting procedure of JPEG (ITU T.81 Annex K.3, "Adjust_BITS"): it moves
 * pairs of the deepest leaves up while keeping the Kraft sum exactly 1, and the
 * lengths are handed back to symbols in frequency order. It is not optimal like
 * package-merge, but the limit only binds on near-degenerate histograms (a
 * Fibonacci-like skew over >= 2^20 elements), where the loss is a fraction of a
 * percent.
 *
 * Table: a bit string of 5-bit tokens over the alphabet in symbol order: 1..20 is
 * the length of the next symbol, 0 starts a run of unused symbols whose count is
 * 2^k + e (k in 5 bits, then e in k bits). Quantized activations use a contiguous
 * band of levels, so this costs ~5 bits per used level plus a few bytes.
 *
 * Decoding: a 2^11-entry primary table gives symbol and length for codes up to 11
 * bits; longer codes (rare by construction: each has probability < 2^-11) take
 * the canonical bit-serial path of zlib's puff over the (length, symbol) list. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/bytes.h"
#include "coinfer/errmsg.h"
#include "huffman.h"

/* every failure here is a malformed stream */
#define fail(err, errlen, ...) cf_fail(-EBADMSG, err, errlen, __VA_ARGS__)

static unsigned ilog2_32(uint32_t v)
{
	return 31u - (unsigned)__builtin_clz(v);
}

static uint32_t reverse_bits(uint32_t c, int len)
{
	uint32_t r = 0;
	for (int i = 0; i < len; i++, c >>= 1)
		r = r << 1 | (c & 1);
	return r;
}

/* ---- lengths ------------------------------------------------------------- */

/* Moffat & Katajainen, "In-place calculation of minimum-redundancy codes" (1995):
 * a[0..n) ascending weights in, code lengths out (a[0] gets the longest). */
static void mk_lengths(uint64_t *a, size_t n)
{
	size_t root, leaf, next;
	if (n == 1) {
		a[0] = 1;
		return;
	}
	a[0] += a[1];
	root = 0;
	leaf = 2;
	for (next = 1; next < n - 1; next++) {
		if (leaf >= n || a[root] < a[leaf]) {
			a[next] = a[root];
			a[root++] = next;
		} else {
			a[next] = a[leaf++];
		}
		if (leaf >= n || (root < next && a[root] < a[leaf])) {
			a[next] += a[root];
			a[root++] = next;
		} else {
			a[next] += a[leaf++];
		}
	}
	a[n - 2] = 0;
	for (size_t i = n - 2; i-- > 0;)
		a[i] = a[a[i]] + 1;
	size_t avbl = 1, used = 0, dpth = 0;
	ptrdiff_t r = (ptrdiff_t)n - 2, nx = (ptrdiff_t)n - 1;
	while (avbl > 0) {
		while (r >= 0 && a[r] == dpth) {
			used++;
			r--;
		}
		while (avbl > used) {
			a[nx--] = dpth;
			avbl--;
		}
		avbl = 2 * used;
		dpth++;
		used = 0;
	}
}

double huf_token_entropy_bits(const struct huf_work *w)
{
	double total = 0, h = 0;
	for (unsigned s = 0; s < w->last_nsym; s++)
		total += w->freq[s];
	for (unsigned s = 0; s < w->last_nsym; s++)
		if (w->freq[s])
			h -= (double)w->freq[s] * log2((double)w->freq[s] / total);
	return h + (double)w->extra_bits;
}

int huf_work_init(struct huf_work *w, int max_bits)
{
	memset(w, 0, sizeof(*w));
	if (max_bits < 2 || max_bits > 16)
		return -EINVAL;
	unsigned n = huf_alphabet(max_bits, 1);
	w->nsym_max = n;
	w->freq = malloc(4 * (size_t)n * sizeof(*w->freq)); /* 4 interleaved histograms */
	w->code = malloc(n * sizeof(*w->code));
	w->lens = malloc(n);
	w->key = malloc(n * sizeof(*w->key));
	w->tmp = malloc(n * sizeof(*w->tmp));
	w->a = malloc(n * sizeof(*w->a));
	if (!w->freq || !w->code || !w->lens || !w->key || !w->tmp || !w->a) {
		huf_work_free(w);
		return -ENOMEM;
	}
	return 0;
}

void huf_work_free(struct huf_work *w)
{
	free(w->freq);
	free(w->code);
	free(w->lens);
	free(w->key);
	free(w->tmp);
	free(w->a);
	memset(w, 0, sizeof(*w));
}

/* Stable LSD radix sort of (freq << 32 | sym) keys by freq, a byte a pass and only
 * as many passes as the largest count has bytes: keys arrive in symbol order, so
 * ties stay in symbol order as a full-key sort would leave them, and a 512-element
 * map sorts in two short passes where qsort or a fixed 33-bit radix cost more
 * than the coding itself. */
static uint64_t *sort_by_freq(uint64_t *key, uint64_t *tmp, size_t n)
{
	uint32_t cnt[256], maxf = 0;
	for (size_t i = 0; i < n; i++)
		maxf = (uint32_t)(key[i] >> 32) > maxf ? (uint32_t)(key[i] >> 32) : maxf;
	for (int shift = 32; shift < 64 && (shift == 32 || (maxf >> (shift - 32)) != 0); shift += 8) {
		memset(cnt, 0, sizeof(cnt));
		for (size_t i = 0; i < n; i++)
			cnt[key[i] >> shift & 255]++;
		uint32_t sum = 0;
		for (unsigned b = 0; b < 256; b++) {
			uint32_t c = cnt[b];
			cnt[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[cnt[key[i] >> shift & 255]++] = key[i];
		uint64_t *t = key;
		key = tmp;
		tmp = t;
	}
	return key;
}

int huf_build_lengths(struct huf_work *w, const uint32_t *freq, unsigned nsym, int maxlen,
		      uint8_t *lens)
{
	size_t used = 0;

	if (nsym > w->nsym_max || maxlen < 1 || maxlen > HUF_MAX_LEN)
		return -EINVAL;
	memset(lens, 0, nsym);
	for (unsigned s = 0; s < nsym; s++)
		if (freq[s])
			w->key[used++] = (uint64_t)freq[s] << 32 | s;
	if (used <= 1)
		return (int)used; /* nothing to code, or a zero-length code */
	if (used > (1u << maxlen))
		return -EINVAL;
	uint64_t *key = sort_by_freq(w->key, w->tmp, used), *a = w->a;
	for (size_t i = 0; i < used; i++)
		a[i] = key[i] >> 32;
	mk_lengths(a, used);

	/* Weights below 2^32 each, summing below 2^64, bound depth well under 64. */
	uint32_t bl[64] = {0};
	int deepest = 0;
	for (size_t i = 0; i < used; i++) {
		int l = a[i] < 63 ? (int)a[i] : 63;
		bl[l]++;
		deepest = l > deepest ? l : deepest;
	}
	/* Annex K.3: a pair at depth i becomes one leaf at i-1 plus one moved under a
	 * leaf at the deepest shorter level j that has one; the Kraft sum is kept. */
	for (int i = deepest; i > maxlen; i--) {
		while (bl[i] > 0) {
			int j = i - 2;
			while (j > 0 && bl[j] == 0)
				j--;
			if (j <= 0)
				return -EINVAL;
			bl[i] -= 2;
			bl[i - 1] += 1;
			bl[j + 1] += 2;
			bl[j] -= 1;
		}
	}
	/* Most frequent symbols (end of key[]) get the shortest lengths. */
	size_t k = used;
	for (int l = 1; l <= maxlen; l++)
		for (uint32_t c = 0; c < bl[l]; c++)
			lens[(uint32_t)key[--k]] = (uint8_t)l;
	return (int)used;
}

/* ---- bit writer ---------------------------------------------------------- */

/* LSB-first writer over a buffer whose exact final size is known beforehand.
 * While 8 bytes of room remain it stores the whole accumulator and advances by
 * the complete bytes, so a put is a shift, an or and one unaligned store; the
 * bytes past the valid bits that the store touches are zeros inside the buffer. */
struct bw {
	uint8_t *p, *end;
	uint64_t acc;
	unsigned n; /* valid bits in acc, < 8 between puts */
};

static inline void st64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> 8 * i); /* folded to one store on little-endian */
}

/* n + 7 <= 57: a code (<= 20 bits) plus run bits (<= 31) fits with the leftover. */
static inline void bw_put(struct bw *w, uint64_t v, unsigned n)
{
	w->acc |= v << w->n;
	w->n += n;
	if (w->end - w->p >= 8) {
		st64le(w->p, w->acc);
		w->p += w->n >> 3;
		w->acc >>= w->n & ~7u;
		w->n &= 7;
		return;
	}
	while (w->n >= 8) {
		if (w->p < w->end)
			*w->p++ = (uint8_t)w->acc;
		w->acc >>= 8;
		w->n -= 8;
	}
}

static void bw_flush(struct bw *w)
{
	if (w->n && w->p < w->end)
		*w->p++ = (uint8_t)w->acc;
	w->acc = 0;
	w->n = 0;
}

static void put_table(struct bw *w, const uint8_t *lens, unsigned nsym)
{
	for (unsigned s = 0; s < nsym;) {
		if (lens[s]) {
			bw_put(w, lens[s], 5);
			s++;
			continue;
		}
		uint32_t r = 0;
		while (s + r < nsym && !lens[s + r])
			r++;
		unsigned k = ilog2_32(r);
		bw_put(w, (uint64_t)k << 5 | (uint64_t)(r - (1u << k)) << 10, 10 + k);
		s += r;
	}
}

size_t huf_table_bits(const uint8_t *lens, unsigned nsym)
{
	size_t bits = 1;
	for (unsigned s = 0; s < nsym;) {
		if (lens[s]) {
			bits += 5;
			s++;
			continue;
		}
		uint32_t r = 0;
		while (s + r < nsym && !lens[s + r])
			r++;
		bits += 10 + ilog2_32(r);
		s += r;
	}
	return bits;
}

/* Length of the run of level 0 starting at q[i] (at least 1), capped at 2^32-1. */
static inline size_t zero_run(const uint16_t *q, size_t i, size_t n, uint16_t mask)
{
	size_t r = 1;
	while (i + r < n && !(q[i + r] & mask) && r < 0xFFFFFFFFu)
		r++;
	return r;
}

/* Adds the tokens of q[0..n) to freq; returns their run bits. Plain levels count
 * into `ways` interleaved tables (freq + w * nsym, zeroed by the caller) so that a
 * repeated level does not wait on its own counter's last store. */
static uint64_t count_tokens(const uint16_t *q, size_t n, int zrun, unsigned lit, unsigned nsym,
			     unsigned ways, uint32_t *freq)
{
	const uint16_t mask = (uint16_t)(lit - 1);
	uint64_t extra = 0;
	if (!zrun) {
		size_t i = 0;
		if (ways == 4) {
			uint32_t *f1 = freq + nsym, *f2 = f1 + nsym, *f3 = f2 + nsym;
			for (; i + 4 <= n; i += 4) {
				freq[q[i] & mask]++;
				f1[q[i + 1] & mask]++;
				f2[q[i + 2] & mask]++;
				f3[q[i + 3] & mask]++;
			}
		}
		for (; i < n; i++)
			freq[q[i] & mask]++;
		return 0;
	}
	for (size_t i = 0; i < n;) {
		uint16_t v = q[i] & mask;
		if (v) {
			freq[(i & (ways - 1)) * nsym + v]++;
			i++;
			continue;
		}
		size_t r = zero_run(q, i, n, mask);
		unsigned kb = ilog2_32((uint32_t)r);
		freq[lit + kb]++;
		extra += kb;
		i += r;
	}
	return extra;
}

/* Bits the codes (and run bits) of q[0..n) take with these lengths. */
static uint64_t segment_bits(const uint16_t *q, size_t n, int zrun, unsigned lit,
			     const uint8_t *lens)
{
	const uint16_t mask = (uint16_t)(lit - 1);
	uint64_t bits = 0;
	if (!zrun) {
		for (size_t i = 0; i < n; i++)
			bits += lens[q[i] & mask];
		return bits;
	}
	for (size_t i = 0; i < n;) {
		uint16_t v = q[i] & mask;
		if (v) {
			bits += lens[v];
			i++;
			continue;
		}
		size_t r = zero_run(q, i, n, mask);
		unsigned kb = ilog2_32((uint32_t)r);
		bits += lens[lit + kb] + kb;
		i += r;
	}
	return bits;
}

/* Writes the codes of q[0..n); coded == 0 is the single-symbol mode, where only
 * run bits are written. */
static void put_segment(struct bw *bw, const uint16_t *q, size_t n, int zrun, unsigned lit,
			const uint32_t *code, const uint8_t *lens, int coded)
{
	const uint16_t mask = (uint16_t)(lit - 1);
	if (!zrun) {
		if (coded)
			for (size_t i = 0; i < n; i++) {
				uint16_t v = q[i] & mask;
				bw_put(bw, code[v], lens[v]);
			}
		return;
	}
	for (size_t i = 0; i < n;) {
		uint16_t v = q[i] & mask;
		if (v) {
			if (coded) /* else the one symbol is implied */
				bw_put(bw, code[v], lens[v]);
			i++;
			continue;
		}
		size_t r = zero_run(q, i, n, mask);
		unsigned kb = ilog2_32((uint32_t)r), s = lit + kb;
		uint64_t ex = (uint64_t)(r - ((size_t)1 << kb));
		if (coded)
			bw_put(bw, code[s] | ex << lens[s], lens[s] + kb);
		else
			bw_put(bw, ex, kb);
		i += r;
	}
}

/* Where the streams' segments of the n elements start, and their lengths. */
struct segs {
	unsigned ns;
	size_t a[HUF_STREAMS], n[HUF_STREAMS];
};

/* Histogram per segment, so that runs stop at segment edges as the streams do;
 * four interleaved tables where the alphabet is small against n. Returns the run
 * bits. */
static uint64_t histogram(uint32_t *freq, const uint16_t *q, size_t n, const struct segs *sg,
			  int zrun, unsigned lit, unsigned nsym)
{
	const unsigned ways = (size_t)nsym * 16 <= n ? 4 : 1;
	memset(freq, 0, (size_t)ways * nsym * sizeof(*freq));
	uint64_t extra_bits = 0;
	for (unsigned s = 0; s < sg->ns; s++)
		extra_bits += count_tokens(q + sg->a[s], sg->n[s], zrun, lit, nsym, ways, freq);
	for (unsigned w = 1; w < ways; w++)
		for (unsigned s = 0; s < nsym; s++)
			freq[s] += freq[w * nsym + s];
	return extra_bits;
}

/* The canonical codes of w->lens (bit-reversed for the LSB-first writer) and the
 * bytes of each segment's codes; returns the payload size. */
static uint64_t assign_codes(struct huf_work *w, const uint16_t *q, const struct segs *sg,
			     int zrun, unsigned lit, unsigned nsym, uint64_t *seg_bytes)
{
	uint32_t count[HUF_MAX_LEN + 2] = {0}, next[HUF_MAX_LEN + 2] = {0};
	const uint8_t *lens = w->lens;
	for (unsigned s = 0; s < nsym; s++)
		count[lens[s]]++;
	count[0] = 0;
	for (int l = 1; l <= HUF_MAX_LEN; l++)
		next[l] = (next[l - 1] + count[l - 1]) << 1;
	for (unsigned s = 0; s < nsym; s++)
		if (lens[s])
			w->code[s] = reverse_bits(next[lens[s]]++, lens[s]);
	w->table_bits = huf_table_bits(lens, nsym);
	uint64_t total = (w->table_bits + 7) / 8 + (sg->ns > 1 ? 4 * (HUF_STREAMS - 1) : 0);
	for (unsigned s = 0; s < sg->ns; s++) {
		uint64_t b = segment_bits(q + sg->a[s], sg->n[s], zrun, lit, lens);
		w->code_bits += b;
		seg_bytes[s] = (b + 7) / 8;
		total += seg_bytes[s];
	}
	return total;
}

/* The table, the stream lengths (of all streams but the last) and the streams. */
static void put_coded(struct bw *bw, const struct huf_work *w, const uint16_t *q,
		      const struct segs *sg, int zrun, unsigned lit, unsigned nsym,
		      const uint64_t *seg_bytes)
{
	bw_put(bw, 0, 1);
	put_table(bw, w->lens, nsym);
	bw_flush(bw);
	if (sg->ns > 1) {
		for (unsigned s = 0; s + 1 < HUF_STREAMS; s++)
			for (int i = 0; i < 4; i++)
				*bw->p++ = (uint8_t)(seg_bytes[s] >> 8 * i);
	}
	for (unsigned s = 0; s < sg->ns; s++) {
		put_segment(bw, q + sg->a[s], sg->n[s], zrun, lit, w->code, w->lens, 1);
		bw_flush(bw);
	}
}

int huf_encode(struct huf_work *w, const uint16_t *q, size_t n, int bits, int zrun,
	       uint8_t *out, size_t cap, size_t *len)
{
	*len = 0;
	w->table_bits = w->code_bits = w->extra_bits = 0;
	w->last_nsym = 0;
	if (bits < 2 || bits > 16 || (uint64_t)n > HUF_MAX_ELEMS)
		return -EINVAL;
	if (n == 0)
		return 0;
	const unsigned nsym = huf_alphabet(bits, zrun), lit = 1u << bits;
	if (nsym > w->nsym_max)
		return -EINVAL;
	struct segs sg = {.ns = huf_nstreams(n)};
	for (unsigned s = 0; s < sg.ns; s++)
		sg.n[s] = huf_segment(n, s, &sg.a[s]);
	uint64_t extra_bits = histogram(w->freq, q, n, &sg, zrun, lit, nsym);
	w->extra_bits = extra_bits;
	w->last_nsym = nsym;
	int used = huf_build_lengths(w, w->freq, nsym, HUF_MAX_LEN, w->lens);
	if (used < 0)
		return used;

	/* The single-symbol mode is one stream: nothing but run bits per element. */
	uint32_t single = 0;
	uint64_t seg_bytes[HUF_STREAMS] = {0}, total;
	if (used == 1) {
		for (unsigned s = 0; s < nsym; s++)
			if (w->freq[s])
				single = s;
		w->table_bits = 18;
		w->code_bits = extra_bits;
		total = (18 + extra_bits + 7) / 8;
	} else {
		total = assign_codes(w, q, &sg, zrun, lit, nsym, seg_bytes);
	}
	*len = (size_t)total;
	if (*len > cap)
		return -ENOSPC;
	struct bw bw = {.p = out, .end = out + *len};
	if (used == 1) {
		/* one bit string, but tokens still per segment, as counted */
		bw_put(&bw, 1 | (uint64_t)single << 1, 18);
		for (unsigned s = 0; s < sg.ns; s++)
			put_segment(&bw, q + sg.a[s], sg.n[s], zrun, lit, w->code, w->lens, 0);
		bw_flush(&bw);
		return 0;
	}
	put_coded(&bw, w, q, &sg, zrun, lit, nsym, seg_bytes);
	return 0;
}

/* ---- decoder ------------------------------------------------------------- */

size_t huf_decode_scratch(int bits, int zrun)
{
	if (bits < 2 || bits > 16)
		return 0;
	size_t nsym = huf_alphabet(bits, zrun);
	return ((size_t)1 << HUF_PRIMARY_BITS) * 4 + nsym * 4 + nsym;
}


/* Leaves at least 56 valid bits; past the end it feeds zero bytes, counted so that
 * reading beyond the stream is detected rather than silently accepted. */
static inline void refill(struct huf_stream *t)
{
	if (t->end - t->p >= 8) {
		t->acc |= le_rd64(t->p) << t->nbits;
		t->p += (63 - t->nbits) >> 3;
		t->nbits |= 56;
		return;
	}
	while (t->nbits <= 56) {
		if (t->p < t->end)
			t->acc |= (uint64_t)*t->p++ << t->nbits;
		else
			t->phantom++;
		t->nbits += 8;
	}
}

static inline uint32_t take(struct huf_stream *t, unsigned n)
{
	uint32_t v = (uint32_t)(t->acc & ((1ull << n) - 1));
	t->acc >>= n;
	t->nbits -= n;
	return v;
}

static inline int overrun(const struct huf_stream *t)
{
	return t->phantom && t->phantom * 8 > t->nbits;
}

/* Bits consumed from the stream so far. */
static inline uint64_t consumed(const struct huf_stream *t)
{
	return ((uint64_t)(t->p - t->start) + t->phantom) * 8 - t->nbits;
}

static void stream_init(struct huf_stream *t, const uint8_t *a, const uint8_t *b, uint64_t n)
{
	memset(t, 0, sizeof(*t));
	t->start = t->p = a;
	t->end = b;
	t->left = n;
}


/* The code lengths of the table (after its mode bit) into lens and d->count, and
 * in *at the byte where the streams begin. */
static int read_table(struct huf_dec *d, struct huf_stream *t, uint8_t *lens, size_t len,
		      uint64_t *at, char *err, size_t errlen)
{
	for (unsigned s = 0; s < d->nsym;) {
		refill(t);
		if (overrun(t))
			return fail(err, errlen, "huffman: table truncated at symbol %u", s);
		uint32_t v = take(t, 5);
		if (v > HUF_MAX_LEN)
			return fail(err, errlen, "huffman: symbol %u length %u > %d", s, v,
				    HUF_MAX_LEN);
		if (v) {
			d->count[v]++;
			lens[s++] = (uint8_t)v;
			continue;
		}
		uint32_t k = take(t, 5);
		if (k > 16)
			return fail(err, errlen, "huffman: zero run exponent %u at symbol %u", k, s);
		uint32_t r = (1u << k) + take(t, k);
		if (r > d->nsym - s)
			return fail(err, errlen, "huffman: zero run %u at symbol %u passes alphabet %u",
				    r, s, d->nsym);
		memset(lens + s, 0, r);
		s += r;
	}
	if (overrun(t))
		return fail(err, errlen, "huffman: table truncated");
	/* The table ends at a byte edge: the pad bits must be zero, then the streams. */
	uint64_t used = consumed(t), pad = (8 - used % 8) % 8;
	if (take(t, (unsigned)pad))
		return fail(err, errlen, "huffman: nonzero padding after the table");
	*at = (used + pad) / 8;
	if (*at > len)
		return fail(err, errlen, "huffman: table truncated");
	return 0;
}

/* The streams of the n elements from in[at..len): one, or HUF_STREAMS whose
 * lengths but the last's precede them. */
static int open_streams(struct huf_dec *d, const uint8_t *in, size_t len, uint64_t at, size_t n,
			char *err, size_t errlen)
{
	d->nstreams = huf_nstreams(n);
	if (d->nstreams == 1) {
		stream_init(&d->s[0], in + at, in + len, n);
		return 0;
	}
	uint64_t sz[HUF_STREAMS], sum = 0;
	if (len - at < 4 * (HUF_STREAMS - 1))
		return fail(err, errlen, "huffman: stream lengths truncated");
	for (unsigned s = 0; s + 1 < HUF_STREAMS; s++) {
		sz[s] = le_rd32(in + at + 4 * s);
		sum += sz[s];
	}
	at += 4 * (HUF_STREAMS - 1);
	if (sum > len - at)
		return fail(err, errlen,
			    "huffman: stream lengths %llu+%llu+%llu pass the payload (%llu left)",
			    (unsigned long long)sz[0], (unsigned long long)sz[1],
			    (unsigned long long)sz[2], (unsigned long long)(len - at));
	sz[HUF_STREAMS - 1] = len - at - sum;
	for (unsigned s = 0; s < HUF_STREAMS; s++) {
		size_t a;
		size_t cnt = huf_segment(n, s, &a);
		stream_init(&d->s[s], in + at, in + at + sz[s], cnt);
		at += sz[s];
	}
	return 0;
}

/* Only complete codes are valid: an incomplete one would leave table holes,
 * an over-subscribed one is ambiguous. Single symbols use the flag above. */
static int check_kraft(struct huf_dec *d, char *err, size_t errlen)
{
	uint64_t kraft = 0;
	for (int l = 1; l <= HUF_MAX_LEN; l++) {
		kraft += (uint64_t)d->count[l] << (HUF_MAX_LEN - l);
		if (d->count[l])
			d->maxlen = l;
	}
	if (kraft != 1ull << HUF_MAX_LEN)
		return fail(err, errlen, "huffman: %s code (Kraft sum %llu/%llu)",
			    kraft > 1ull << HUF_MAX_LEN ? "over-subscribed" : "incomplete",
			    (unsigned long long)kraft, 1ull << HUF_MAX_LEN);
	return 0;
}

/* The symbols by (length, symbol) and the primary table of a complete code over
 * n elements. */
static void fill_tables(struct huf_dec *d, const uint8_t *lens, size_t n)
{
	uint32_t offs[HUF_MAX_LEN + 2], next[HUF_MAX_LEN + 2];
	offs[1] = 0;
	next[0] = 0;
	for (int l = 1; l <= HUF_MAX_LEN; l++) {
		if (l > 1)
			offs[l] = offs[l - 1] + d->count[l - 1];
		next[l] = (next[l - 1] + (l > 1 ? d->count[l - 1] : 0)) << 1;
	}
	/* Entries: sym << 6 | len, with HUF_SLOW set for what the fast loops hand to
	 * dec_token (escapes; and prefixes of codes longer than the table index,
	 * which have len 0). A complete code with no code longer than the index
	 * fills every entry. */
	/* A small tensor decodes few symbols: a smaller table costs less to fill
	 * than the codes past it cost on the slow path. */
	d->pbits = n >= 4096 ? HUF_PRIMARY_BITS
		 : n >= 1024 ? HUF_PRIMARY_BITS - 1 : HUF_PRIMARY_BITS - 2;
	const uint32_t pn = 1u << d->pbits;
	if (d->maxlen > (int)d->pbits)
		for (uint32_t j = 0; j < pn; j++)
			d->primary[j] = HUF_SLOW;
	for (unsigned s = 0; s < d->nsym; s++) {
		int l = lens[s];
		if (!l)
			continue;
		d->sorted[offs[l]++] = s;
		uint32_t c = next[l]++;
		if (l > (int)d->pbits)
			continue;
		uint32_t e = s << 6 | (s >= (1u << d->bits) ? HUF_SLOW : 0) | (uint32_t)l;
		for (uint32_t j = reverse_bits(c, l); j < pn; j += 1u << l)
			d->primary[j] = e;
	}
}

int huf_dec_init(struct huf_dec *d, const uint8_t *in, size_t len, size_t n, int bits, int zrun,
		 void *scratch, size_t scratch_bytes, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	if (bits < 2 || bits > 16 || !scratch || scratch_bytes < huf_decode_scratch(bits, zrun))
		return -EINVAL;
	struct huf_stream *t = &d->s[0];
	stream_init(t, in, in + len, n);
	d->nstreams = 1;
	d->bits = (unsigned)bits;
	d->zrun = !!zrun;
	d->nsym = huf_alphabet(bits, zrun);
	d->primary = scratch;
	d->sorted = d->primary + ((size_t)1 << HUF_PRIMARY_BITS);
	uint8_t *lens = (uint8_t *)(d->sorted + d->nsym);

	refill(t);
	if (take(t, 1)) {
		d->single = 1;
		d->single_sym = take(t, 17);
		if (d->single_sym >= d->nsym)
			return fail(err, errlen, "huffman: single symbol %u >= alphabet %u",
				    d->single_sym, d->nsym);
		if (overrun(t))
			return fail(err, errlen, "huffman: table truncated");
		return 0;
	}
	uint64_t at = 0;
	int ret;
	if ((ret = read_table(d, t, lens, len, &at, err, errlen)) ||
	    (ret = open_streams(d, in, len, at, n, err, errlen)) ||
	    (ret = check_kraft(d, err, errlen)))
		return ret;
	fill_tables(d, lens, n);
	return 0;
}

/* Canonical bit-serial decode (puff): codes of length l are the integers
 * [first, first + count[l]) read MSB first, i.e. in stream order here. */
static inline int slow_symbol(const struct huf_dec *d, struct huf_stream *t, uint32_t *sym)
{
	uint32_t code = 0, first = 0, index = 0;
	uint64_t a = t->acc;
	for (int l = 1; l <= d->maxlen; l++) {
		code |= (uint32_t)(a & 1);
		a >>= 1;
		uint32_t cnt = d->count[l];
		if (code - first < cnt) {
			*sym = d->sorted[index + code - first];
			take(t, (unsigned)l);
			return 0;
		}
		index += cnt;
		first = (first + cnt) << 1;
		code <<= 1;
	}
	return -1;
}

/* Emits a run of r zeros at q[i..k): the part that fits, the rest is owed to the
 * next call. The run may not pass the segment. */
static inline int put_run(struct huf_stream *t, uint16_t *q, size_t *i, size_t k, uint64_t r,
			  char *err, size_t errlen)
{
	if (r > t->left - *i)
		return fail(err, errlen, "huffman: zero run of %llu passes the end (%llu left)",
			    (unsigned long long)r, (unsigned long long)(t->left - *i));
	size_t m = r < k - *i ? (size_t)r : k - *i;
	memset(q + *i, 0, m * sizeof(*q));
	*i += m;
	t->pending = r - m;
	return 0;
}

/* One token of stream t (refilled: >= 56 bits) into q[*i..k). Returns 1 for an
 * escape (a run), 0 for a level, or an error. */
static inline int dec_token(const struct huf_dec *d, struct huf_stream *t, uint16_t *q,
			    size_t *i, size_t k, char *err, size_t errlen)
{
	const uint32_t lit = 1u << d->bits;
	uint32_t sym;
	if (d->single) {
		sym = d->single_sym;
	} else {
		uint32_t e = d->primary[t->acc & ((1u << d->pbits) - 1)];
		if (e & 31) {
			sym = e >> 6;
			t->acc >>= e & 31;
			t->nbits -= e & 31;
		} else if (slow_symbol(d, t, &sym)) {
			return fail(err, errlen, "huffman: invalid code");
		}
	}
	if (sym < lit) {
		q[(*i)++] = (uint16_t)sym;
		return 0;
	}
	/* An escape: <= 20 code bits taken from >= 56 leave >= 36 for the <= 31 run bits. */
	unsigned kb = sym - lit;
	int ret = put_run(t, q, i, k, (1ull << kb) + take(t, kb), err, errlen);
	return ret ? ret : 1;
}

/* Careful decoding of stream t up to k symbols: refills may run past the end, so
 * every token is checked for overrun. */
static int dec_tail(const struct huf_dec *d, struct huf_stream *t, uint16_t *q, size_t i,
		    size_t k, char *err, size_t errlen)
{
	int ret;
	if (d->single && d->single_sym < (1u << d->bits)) {
		/* a constant tensor: its one symbol takes no bits */
		for (; i < k; i++)
			q[i] = (uint16_t)d->single_sym;
		return 0;
	}
	while (i < k) {
		refill(t);
		if ((ret = dec_token(d, t, q, &i, k, err, errlen)) < 0)
			return ret;
		if (overrun(t))
			return fail(err, errlen, "huffman: payload truncated (%llu elements short)",
				    (unsigned long long)(t->left - i));
	}
	return 0;
}

/* Owed zeros of a run begun in the last call. */
static size_t drain(struct huf_stream *t, uint16_t *q, size_t k)
{
	size_t m = t->pending < k ? (size_t)t->pending : k;
	memset(q, 0, m * sizeof(*q));
	t->pending -= m;
	return m;
}

/* The fast loop over four streams keeps each stream's bit state in locals
 * (registers) and runs blocks of m rounds with no bounds test on the input: a
 * token takes <= 51 bits (a 20-bit code and 31 run bits), so after a block's
 * first refill each refill advances <= 7 bytes, and m rounds read below
 * p + 15 + 7m. Every stream gives >= 1 symbol a round; a run can give more, so a
 * round that fills a stream's share ends the block. A long code goes through
 * dec_token on the spilled state (and, if it is an escape, ends the block).
 * The four serial chains (lookup, shift, lookup) overlap in the out-of-order core,
 * which one stream's chain cannot. */
#define HD_LOAD(S)                 \
	p##S = t[S].p;             \
	a##S = t[S].acc;           \
	n##S = t[S].nbits
#define HD_SPILL(S)                \
	t[S].p = p##S;             \
	t[S].acc = a##S;           \
	t[S].nbits = n##S
#define HD_REFILL(S)                             \
	a##S |= le_rd64(p##S) << n##S;            \
	p##S += (63 - n##S) >> 3;                \
	n##S |= 56
#define HD_TOKEN(S)                                                                   \
	do {                                                                          \
		uint32_t e_ = pt[a##S & pmask];                                      \
		if (__builtin_expect(!(e_ & HUF_SLOW), 1)) {                         \
			a##S >>= e_ & 31;                                            \
			n##S -= e_ & 31;                                             \
			q##S[i[S]++] = (uint16_t)(e_ >> 6);                          \
		} else if (e_ & 31) {                                                \
			/* an escape with a short code: its run, inline */           \
			unsigned kb_ = (e_ >> 6) - lit;                              \
			a##S >>= e_ & 31;                                            \
			n##S -= e_ & 31;                                             \
			uint64_t r_ = (1ull << kb_) + (a##S & ((1ull << kb_) - 1));  \
			a##S >>= kb_;                                                \
			n##S -= kb_;                                                 \
			if (r_ <= k[S] - i[S] && r_ <= t[S].left - i[S]) {           \
				memset(q##S + i[S], 0, (size_t)r_ * 2);              \
				i[S] += (size_t)r_;                                  \
			} else if ((ret = put_run(&t[S], q##S, &i[S], k[S], r_, err, errlen))) { \
				return ret;                                          \
			}                                                            \
		} else {                                                             \
			HD_SPILL(S);                                                 \
			ret = dec_token(d, &t[S], q##S, &i[S], k[S], err, errlen);   \
			if (ret < 0)                                                 \
				return ret;                                          \
			esc |= ret;                                                  \
			HD_LOAD(S);                                                  \
		}                                                                    \
	} while (0)

static int dec_fast4(struct huf_dec *d, uint16_t *q, size_t stride, const size_t *k, size_t *i,
		     char *err, size_t errlen)
{
	struct huf_stream *t = d->s;
	const uint32_t *pt = d->primary, pmask = (1u << d->pbits) - 1, lit = 1u << d->bits;
	uint16_t *q0 = q, *q1 = q + stride, *q2 = q + 2 * stride, *q3 = q + 3 * stride;
	const uint8_t *p0, *p1, *p2, *p3;
	uint64_t a0, a1, a2, a3;
	unsigned n0, n1, n2, n3;
	int ret;

	for (;;) {
		size_t m = SIZE_MAX;
		for (unsigned s = 0; s < HUF_STREAMS; s++) {
			size_t r = k[s] - i[s], b = (size_t)(t[s].end - t[s].p);
			size_t safe = b >= 22 ? (b - 15) / 7 : 0;
			m = r < m ? r : m;
			m = safe < m ? safe : m;
		}
		if (!m)
			return 0;
		HD_LOAD(0);
		HD_LOAD(1);
		HD_LOAD(2);
		HD_LOAD(3);
		int esc = 0;
		for (size_t j = 0; j < m && !esc; j++) {
			HD_REFILL(0);
			HD_REFILL(1);
			HD_REFILL(2);
			HD_REFILL(3);
			HD_TOKEN(0);
			HD_TOKEN(1);
			HD_TOKEN(2);
			HD_TOKEN(3);
			/* a run may have filled a stream's share: stop before it overflows */
			esc |= (i[0] >= k[0]) | (i[1] >= k[1]) | (i[2] >= k[2]) | (i[3] >= k[3]);
		}
		HD_SPILL(0);
		HD_SPILL(1);
		HD_SPILL(2);
		HD_SPILL(3);
	}
}

static int dec_fast1(struct huf_dec *d, uint16_t *q0, const size_t *k, size_t *i, char *err,
		     size_t errlen)
{
	struct huf_stream *t = d->s;
	const uint32_t *pt = d->primary, pmask = (1u << d->pbits) - 1, lit = 1u << d->bits;
	const uint8_t *p0;
	uint64_t a0;
	unsigned n0;
	int ret, esc = 0;

	HD_LOAD(0);
	while (i[0] < k[0] && t[0].end - p0 >= 8) {
		HD_REFILL(0);
		HD_TOKEN(0);
	}
	HD_SPILL(0);
	(void)esc;
	return 0;
}
#undef HD_LOAD
#undef HD_SPILL
#undef HD_REFILL
#undef HD_TOKEN

int huf_dec_symbols(struct huf_dec *d, uint16_t *q, size_t stride, const size_t *k, char *err,
		    size_t errlen)
{
	const unsigned ns = d->nstreams;
	size_t i[HUF_STREAMS] = {0};
	int ret;

	for (unsigned s = 0; s < ns; s++) {
		if (k[s] > d->s[s].left)
			return -EINVAL;
		i[s] = drain(&d->s[s], q + s * stride, k[s]);
	}
	if (!d->single) {
		ret = ns == HUF_STREAMS ? dec_fast4(d, q, stride, k, i, err, errlen)
					: dec_fast1(d, q, k, i, err, errlen);
		if (ret)
			return ret;
	}
	for (unsigned s = 0; s < ns; s++) {
		if ((ret = dec_tail(d, &d->s[s], q + s * stride, i[s], k[s], err, errlen)))
			return ret;
		d->s[s].left -= k[s];
	}
	return 0;
}

int huf_dec_finish(struct huf_dec *d, char *err, size_t errlen)
{
	for (unsigned s = 0; s < d->nstreams; s++) {
		struct huf_stream *t = &d->s[s];
		if (t->left || t->pending)
			return fail(err, errlen, "huffman: stream %u: %llu elements not decoded", s,
				    (unsigned long long)(t->left + t->pending));
		uint64_t used = consumed(t), have = (uint64_t)(t->end - t->start) * 8;
		if (used > have)
			return fail(err, errlen, "huffman: stream %u truncated", s);
		uint64_t rest = have - used;
		if (rest >= 8)
			return fail(err, errlen, "huffman: stream %u: %llu bytes after the last symbol",
				    s, (unsigned long long)(rest / 8));
		if (t->acc & ((1ull << rest) - 1))
			return fail(err, errlen, "huffman: stream %u: nonzero padding bits", s);
	}
	return 0;
}
