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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "huffman.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

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

int huf_build_lengths(const uint32_t *freq, unsigned nsym, int maxlen, uint8_t *lens)
{
	uint64_t *key = NULL, *a = NULL;
	size_t used = 0;
	int ret = 0;

	if (nsym > HUF_MAX_SYMS || maxlen < 1 || maxlen > HUF_MAX_LEN)
		return -EINVAL;
	memset(lens, 0, nsym);
	for (unsigned s = 0; s < nsym; s++)
		used += freq[s] != 0;
	if (used <= 1)
		return (int)used; /* nothing to code, or a zero-length code */
	if (used > (1u << maxlen))
		return -EINVAL;
	key = malloc(used * sizeof(*key));
	a = calloc(used, sizeof(*a)); /* calloc: gcc cannot see that the loops below fill it */
	if (!key || !a) {
		ret = -ENOMEM;
		goto err;
	}
	used = 0;
	for (unsigned s = 0; s < nsym; s++)
		if (freq[s])
			key[used++] = (uint64_t)freq[s] << 32 | s;
	qsort(key, used, sizeof(*key), cmp_u64);
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
			if (j <= 0) {
				ret = -EINVAL;
				goto err;
			}
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
	ret = (int)used;
err:
	free(key);
	free(a);
	return ret;
}

/* ---- bit writer ---------------------------------------------------------- */

struct bw {
	uint8_t *p, *end;
	uint64_t acc;
	unsigned n;
	size_t bits; /* total written, also when counting only (p == NULL) */
};

static inline void bw_put(struct bw *w, uint32_t v, unsigned n)
{
	w->bits += n;
	if (!w->p)
		return;
	w->acc |= (uint64_t)v << w->n;
	w->n += n;
	while (w->n >= 8) {
		if (w->p < w->end)
			*w->p++ = (uint8_t)w->acc;
		w->acc >>= 8;
		w->n -= 8;
	}
}

static void bw_flush(struct bw *w)
{
	if (w->p && w->n && w->p < w->end)
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
		bw_put(w, 0, 5);
		bw_put(w, k, 5);
		bw_put(w, r - (1u << k), k);
		s += r;
	}
}

size_t huf_table_bits(const uint8_t *lens, unsigned nsym)
{
	struct bw w = {0};
	put_table(&w, lens, nsym);
	return w.bits + 1;
}

/* Calls emit(sym, extra, kbits) for each token of the stream: levels as they are,
 * or with zrun every maximal run of level 0 as one escape plus its extra bits. */
#define FOR_EACH_TOKEN(q, n, bits, zrun, BODY)                                       \
	do {                                                                         \
		for (size_t i_ = 0; i_ < (n);) {                                     \
			uint32_t sym, extra = 0;                                     \
			unsigned kb = 0;                                             \
			if ((zrun) && (q)[i_] == 0) {                                \
				size_t r_ = 1;                                       \
				while (i_ + r_ < (n) && (q)[i_ + r_] == 0 && r_ < 0xFFFFFFFFu) \
					r_++;                                        \
				kb = ilog2_32((uint32_t)r_);                         \
				sym = (1u << (bits)) + kb;                           \
				extra = (uint32_t)r_ - (1u << kb);                   \
				i_ += r_;                                            \
			} else {                                                     \
				sym = (q)[i_++] & ((1u << (bits)) - 1);              \
			}                                                            \
			BODY;                                                        \
		}                                                                    \
	} while (0)

int huf_encode(const uint16_t *q, size_t n, int bits, int zrun, uint8_t *out, size_t cap,
	       size_t *len)
{
	uint32_t *freq = NULL, *code = NULL;
	uint8_t *lens = NULL;
	int ret = 0, used;

	*len = 0;
	if (bits < 2 || bits > 16 || (uint64_t)n > HUF_MAX_ELEMS)
		return -EINVAL;
	if (n == 0)
		return 0;
	unsigned nsym = huf_alphabet(bits, zrun);
	freq = calloc(nsym, sizeof(*freq));
	code = calloc(nsym, sizeof(*code));
	lens = calloc(nsym, 1);
	if (!freq || !code || !lens) {
		ret = -ENOMEM;
		goto err;
	}
	uint64_t extra_bits = 0;
	FOR_EACH_TOKEN(q, n, bits, zrun, {
		freq[sym]++;
		extra_bits += kb;
		(void)extra;
	});
	used = huf_build_lengths(freq, nsym, HUF_MAX_LEN, lens);
	if (used < 0) {
		ret = used;
		goto err;
	}
	uint32_t single = 0;
	uint64_t total = 1 + extra_bits;
	if (used == 1) {
		for (unsigned s = 0; s < nsym; s++)
			if (freq[s])
				single = s;
		total += 17;
	} else {
		total += huf_table_bits(lens, nsym) - 1;
		uint32_t count[HUF_MAX_LEN + 2] = {0}, next[HUF_MAX_LEN + 2] = {0};
		for (unsigned s = 0; s < nsym; s++) {
			count[lens[s]]++;
			total += (uint64_t)freq[s] * lens[s];
		}
		count[0] = 0;
		for (int l = 1; l <= HUF_MAX_LEN; l++)
			next[l] = (next[l - 1] + count[l - 1]) << 1;
		for (unsigned s = 0; s < nsym; s++)
			if (lens[s])
				code[s] = reverse_bits(next[lens[s]]++, lens[s]);
	}
	*len = (size_t)((total + 7) / 8);
	if (*len > cap) {
		ret = -ENOSPC;
		goto err;
	}
	struct bw w = {.p = out, .end = out + cap};
	if (used == 1) {
		bw_put(&w, 1, 1);
		bw_put(&w, single, 17);
		if (zrun)
			FOR_EACH_TOKEN(q, n, bits, zrun, {
				(void)sym;
				bw_put(&w, extra, kb);
			});
	} else {
		bw_put(&w, 0, 1);
		put_table(&w, lens, nsym);
		FOR_EACH_TOKEN(q, n, bits, zrun, {
			bw_put(&w, code[sym], lens[sym]);
			bw_put(&w, extra, kb);
		});
	}
	bw_flush(&w);
err:
	free(freq);
	free(code);
	free(lens);
	return ret;
}

/* ---- decoder ------------------------------------------------------------- */

size_t huf_decode_scratch(int bits, int zrun)
{
	if (bits < 2 || bits > 16)
		return 0;
	size_t nsym = huf_alphabet(bits, zrun);
	return ((size_t)1 << HUF_PRIMARY_BITS) * 4 + nsym * 4 + nsym;
}

static inline uint64_t ld64le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i]; /* compilers fold this to one load on little-endian */
	return v;
}

/* Leaves at least 56 valid bits; past the end it feeds zero bytes, counted so that
 * reading beyond the payload is detected rather than silently accepted. */
static inline void refill(struct huf_dec *d)
{
	if (d->end - d->p >= 8) {
		d->acc |= ld64le(d->p) << d->nbits;
		d->p += (63 - d->nbits) >> 3;
		d->nbits |= 56;
		return;
	}
	while (d->nbits <= 56) {
		if (d->p < d->end)
			d->acc |= (uint64_t)*d->p++ << d->nbits;
		else
			d->phantom++;
		d->nbits += 8;
	}
}

static inline uint32_t take(struct huf_dec *d, unsigned n)
{
	uint32_t v = (uint32_t)(d->acc & ((1ull << n) - 1));
	d->acc >>= n;
	d->nbits -= n;
	return v;
}

static inline int overrun(const struct huf_dec *d)
{
	return d->phantom && d->phantom * 8 > d->nbits;
}

int huf_dec_init(struct huf_dec *d, const uint8_t *in, size_t len, size_t n, int bits, int zrun,
		 void *scratch, size_t scratch_bytes, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	if (bits < 2 || bits > 16 || !scratch || scratch_bytes < huf_decode_scratch(bits, zrun))
		return -EINVAL;
	d->start = d->p = in;
	d->end = in + len;
	d->bits = (unsigned)bits;
	d->zrun = !!zrun;
	d->nsym = huf_alphabet(bits, zrun);
	d->left = n;
	d->primary = scratch;
	d->sorted = d->primary + ((size_t)1 << HUF_PRIMARY_BITS);
	uint8_t *lens = (uint8_t *)(d->sorted + d->nsym);

	refill(d);
	if (take(d, 1)) {
		d->single = 1;
		d->single_sym = take(d, 17);
		if (d->single_sym >= d->nsym)
			return fail(err, errlen, "huffman: single symbol %u >= alphabet %u",
				    d->single_sym, d->nsym);
		if (overrun(d))
			return fail(err, errlen, "huffman: table truncated");
		return 0;
	}
	for (unsigned s = 0; s < d->nsym;) {
		refill(d);
		if (overrun(d))
			return fail(err, errlen, "huffman: table truncated at symbol %u", s);
		uint32_t v = take(d, 5);
		if (v > HUF_MAX_LEN)
			return fail(err, errlen, "huffman: symbol %u length %u > %d", s, v,
				    HUF_MAX_LEN);
		if (v) {
			lens[s++] = (uint8_t)v;
			continue;
		}
		uint32_t k = take(d, 5);
		if (k > 16)
			return fail(err, errlen, "huffman: zero run exponent %u at symbol %u", k, s);
		uint32_t r = (1u << k) + take(d, k);
		if (r > d->nsym - s)
			return fail(err, errlen, "huffman: zero run %u at symbol %u passes alphabet %u",
				    r, s, d->nsym);
		memset(lens + s, 0, r);
		s += r;
	}
	if (overrun(d))
		return fail(err, errlen, "huffman: table truncated");

	/* Only complete codes are valid: an incomplete one would leave table holes,
	 * an over-subscribed one is ambiguous. Single symbols use the flag above. */
	uint64_t kraft = 0;
	uint32_t offs[HUF_MAX_LEN + 2], next[HUF_MAX_LEN + 2];
	for (unsigned s = 0; s < d->nsym; s++)
		d->count[lens[s]]++;
	d->count[0] = 0;
	for (int l = 1; l <= HUF_MAX_LEN; l++) {
		kraft += (uint64_t)d->count[l] << (HUF_MAX_LEN - l);
		if (d->count[l])
			d->maxlen = l;
	}
	if (kraft != 1ull << HUF_MAX_LEN)
		return fail(err, errlen, "huffman: %s code (Kraft sum %llu/%llu)",
			    kraft > 1ull << HUF_MAX_LEN ? "over-subscribed" : "incomplete",
			    (unsigned long long)kraft, 1ull << HUF_MAX_LEN);
	offs[1] = 0;
	next[0] = 0;
	for (int l = 1; l <= HUF_MAX_LEN; l++) {
		if (l > 1)
			offs[l] = offs[l - 1] + d->count[l - 1];
		next[l] = (next[l - 1] + (l > 1 ? d->count[l - 1] : 0)) << 1;
	}
	memset(d->primary, 0, ((size_t)1 << HUF_PRIMARY_BITS) * 4);
	for (unsigned s = 0; s < d->nsym; s++) {
		int l = lens[s];
		if (!l)
			continue;
		d->sorted[offs[l]++] = s;
		uint32_t c = next[l]++;
		if (l > HUF_PRIMARY_BITS)
			continue;
		uint32_t e = s << 5 | (uint32_t)l;
		for (uint32_t j = reverse_bits(c, l); j < (1u << HUF_PRIMARY_BITS); j += 1u << l)
			d->primary[j] = e;
	}
	return 0;
}

/* Canonical bit-serial decode (puff): codes of length l are the integers
 * [first, first + count[l]) read MSB first, i.e. in stream order here. */
static inline int slow_symbol(struct huf_dec *d, uint32_t *sym)
{
	uint32_t code = 0, first = 0, index = 0;
	uint64_t a = d->acc;
	for (int l = 1; l <= d->maxlen; l++) {
		code |= (uint32_t)(a & 1);
		a >>= 1;
		uint32_t cnt = d->count[l];
		if (code - first < cnt) {
			*sym = d->sorted[index + code - first];
			take(d, (unsigned)l);
			return 0;
		}
		index += cnt;
		first = (first + cnt) << 1;
		code <<= 1;
	}
	return -1;
}

int huf_dec_symbols(struct huf_dec *d, uint16_t *q, size_t k, char *err, size_t errlen)
{
	const uint32_t lit = 1u << d->bits;
	size_t i = 0;

	if (k > d->left)
		return -EINVAL;
	if (d->pending) {
		size_t m = d->pending < k ? (size_t)d->pending : k;
		memset(q, 0, m * sizeof(*q));
		d->pending -= m;
		i = m;
	}
	while (i < k) {
		uint32_t sym;
		refill(d);
		if (d->single) {
			sym = d->single_sym;
		} else {
			uint32_t e = d->primary[d->acc & ((1u << HUF_PRIMARY_BITS) - 1)];
			if (e) {
				sym = e >> 5;
				take(d, e & 31);
			} else if (slow_symbol(d, &sym)) {
				return fail(err, errlen, "huffman: invalid code");
			}
		}
		if (sym < lit) {
			q[i++] = (uint16_t)sym;
		} else {
			unsigned kb = sym - lit;
			uint64_t r = (1ull << kb) + take(d, kb);
			if (r > d->left - i)
				return fail(err, errlen,
					    "huffman: zero run of %llu passes the end (%llu left)",
					    (unsigned long long)r, (unsigned long long)(d->left - i));
			size_t m = r < k - i ? (size_t)r : k - i;
			memset(q + i, 0, m * sizeof(*q));
			i += m;
			d->pending = r - m;
		}
		if (overrun(d))
			return fail(err, errlen, "huffman: payload truncated (%llu elements short)",
				    (unsigned long long)(d->left - i));
	}
	d->left -= k;
	return 0;
}

int huf_dec_finish(struct huf_dec *d, char *err, size_t errlen)
{
	if (d->left || d->pending)
		return fail(err, errlen, "huffman: %llu elements not decoded",
			    (unsigned long long)(d->left + d->pending));
	uint64_t loaded = ((uint64_t)(d->p - d->start) + d->phantom) * 8;
	uint64_t used = loaded - d->nbits, have = (uint64_t)(d->end - d->start) * 8;
	if (used > have)
		return fail(err, errlen, "huffman: payload truncated");
	uint64_t rest = have - used;
	if (rest >= 8)
		return fail(err, errlen, "huffman: %llu bytes after the last symbol",
			    (unsigned long long)(rest / 8));
	if (d->acc & ((1ull << rest) - 1))
		return fail(err, errlen, "huffman: nonzero padding bits");
	return 0;
}
