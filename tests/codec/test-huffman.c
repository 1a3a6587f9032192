/* Huffman coder: length construction and limiting, round trips over every symbol
 * width with and without zero runs, the degenerate alphabets, coded size against
 * the entropy bound, and hostile streams (bad tables, truncation, trailing data). */
#include <errno.h>
#include <string.h>

#include "../../codec/huffman.h"
#include "harness.h"

static uint64_t rng = 88172645463325252ull;
static struct huf_work W; /* for the largest alphabet, as a cc_encoder holds it */

static uint64_t xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint8_t scratch_mem[(1u << HUF_PRIMARY_BITS) * 4 + HUF_MAX_SYMS * 5 + 64]
	__attribute__((aligned(64)));

/* Decodes in uneven chunks, a different size per stream each round, so that runs
 * straddle chunk edges and the lockstep loop meets streams at unequal points. */
static int decode(const uint8_t *in, size_t len, size_t n, int bits, int zrun, uint16_t *q,
		  char *err)
{
	static uint16_t tmp[HUF_STREAMS * 800];
	struct huf_dec d;
	int ret = huf_dec_init(&d, in, len, n, bits, zrun, scratch_mem, sizeof(scratch_mem), err, 256);
	if (ret)
		return ret;
	unsigned ns = d.nstreams;
	size_t start[HUF_STREAMS], cnt[HUF_STREAMS], done[HUF_STREAMS] = {0};
	for (unsigned s = 0; s < ns; s++)
		cnt[s] = ns == 1 ? (start[s] = 0, n) : huf_segment(n, s, &start[s]);
	for (;;) {
		size_t k[HUF_STREAMS], more = 0;
		for (unsigned s = 0; s < ns; s++) {
			size_t w = 1 + xr() % 777;
			k[s] = w < cnt[s] - done[s] ? w : cnt[s] - done[s];
			more += k[s];
		}
		if (!more)
			break;
		ret = huf_dec_symbols(&d, tmp, 800, k, err, 256);
		if (ret)
			return ret;
		for (unsigned s = 0; s < ns; s++) {
			memcpy(q + start[s] + done[s], tmp + s * 800, k[s] * sizeof(*q));
			done[s] += k[s];
		}
	}
	return huf_dec_finish(&d, err, 256);
}

static int roundtrip(const uint16_t *q, size_t n, int bits, int zrun, size_t *coded)
{
	size_t cap = 64 + (15ull * HUF_MAX_SYMS + 20ull * n) / 8, len = 0;
	uint8_t *buf = th_alloc(cap);
	uint16_t *back = th_alloc(n * 2 + 2);
	char err[256] = "";
	int ret = huf_encode(&W, q, n, bits, zrun, buf, cap, &len);
	TH_CHECK(ret == 0, "encode n=%zu bits=%d zrun=%d: %d", n, bits, zrun, ret);
	if (!ret && n) {
		/* a short buffer is reported with the size needed */
		size_t need = 0;
		TH_CHECK(huf_encode(&W, q, n, bits, zrun, buf, len - 1, &need) == -ENOSPC && need == len,
			 "ENOSPC");
		ret = huf_encode(&W, q, n, bits, zrun, buf, cap, &len);
	}
	if (!ret && n) {
		ret = decode(buf, len, n, bits, zrun, back, err);
		TH_CHECK(ret == 0, "decode n=%zu bits=%d zrun=%d: %s", n, bits, zrun, err);
		TH_CHECK(ret || !memcmp(q, back, n * 2), "mismatch n=%zu bits=%d zrun=%d", n, bits,
			 zrun);
		/* every truncation of a short stream fails */
		if (len < 64)
			for (size_t t = 0; t < len; t++)
				TH_CHECK(decode(buf, t, n, bits, zrun, back, err) < 0,
					 "truncated to %zu of %zu accepted (bits %d)", t, len, bits);
		/* a trailing byte fails */
		buf[len] = 0;
		TH_CHECK(decode(buf, len + 1, n, bits, zrun, back, err) < 0, "trailing byte accepted");
	}
	if (coded)
		*coded = len;
	free(buf);
	free(back);
	return ret;
}

/* Laplacian-like quantized activations around `mid`. */
static void skewed(uint16_t *q, size_t n, int bits, double scale, double pzero)
{
	uint32_t top = (1u << bits) - 1;
	for (size_t i = 0; i < n; i++) {
		double u = ((double)(xr() >> 11) + 0.5) / 9007199254740992.0;
		if (u < pzero) {
			q[i] = 0;
			continue;
		}
		double v = -log(((double)(xr() >> 11) + 0.5) / 9007199254740992.0) * scale;
		q[i] = (uint16_t)(v > top ? top : v);
	}
}

static double entropy_bits(const uint16_t *q, size_t n, int bits, double *pmax)
{
	uint32_t *h = calloc(1u << bits, 4);
	double e = 0;
	*pmax = 0;
	for (size_t i = 0; i < n; i++)
		h[q[i]]++;
	for (uint32_t s = 0; s < (1u << bits); s++)
		if (h[s]) {
			e -= h[s] * log2((double)h[s] / n);
			*pmax = (double)h[s] / n > *pmax ? (double)h[s] / n : *pmax;
		}
	free(h);
	return e;
}

static void test_lengths(void)
{
	static uint32_t freq[HUF_MAX_SYMS];
	static uint8_t lens[HUF_MAX_SYMS];
	/* Fibonacci weights give the deepest optimal tree: the limit must bind */
	uint32_t a = 1, b = 1;
	for (int i = 0; i < 45; i++) {
		freq[i] = a;
		uint32_t c = a + b;
		a = b;
		b = c;
	}
	for (int maxlen = 6; maxlen <= HUF_MAX_LEN; maxlen++) {
		int used = huf_build_lengths(&W, freq, 45, maxlen, lens);
		uint64_t kraft = 0;
		int deepest = 0;
		for (int i = 0; i < 45; i++) {
			kraft += 1ull << (HUF_MAX_LEN - lens[i]);
			deepest = lens[i] > deepest ? lens[i] : deepest;
		}
		TH_CHECK(used == 45 && kraft == 1ull << HUF_MAX_LEN && deepest <= maxlen,
			 "fibonacci maxlen %d: used %d kraft %llu deepest %d", maxlen, used,
			 (unsigned long long)kraft, deepest);
	}
	/* random histograms over random alphabets: complete, limited, monotone */
	for (int t = 0; t < 200; t++) {
		unsigned nsym = 2 + (unsigned)(xr() % (t < 190 ? 300 : HUF_MAX_SYMS - 2));
		for (unsigned s = 0; s < nsym; s++)
			freq[s] = xr() % 3 ? (uint32_t)(xr() % (1u << (xr() % 20))) : 0;
		freq[0] = 1;
		freq[nsym - 1] = 5;
		int used = huf_build_lengths(&W, freq, nsym, HUF_MAX_LEN, lens);
		uint64_t kraft = 0;
		int mono = 1;
		for (unsigned s = 0; s < nsym; s++) {
			if (freq[s])
				kraft += 1ull << (HUF_MAX_LEN - lens[s]);
			if ((freq[s] != 0) != (lens[s] != 0))
				mono = 0;
			if (freq[s] && freq[0] < freq[s] && lens[0] < lens[s])
				mono = 0;
		}
		TH_CHECK(used > 1 && kraft == 1ull << HUF_MAX_LEN && mono, "random %d: kraft %llu", t,
			 (unsigned long long)kraft);
	}
}

static void test_roundtrips(void)
{
	size_t sizes[] = {1, 2, 3, 7, 8, 9, 100, 4097, 20000};
	uint16_t *q = th_alloc(70000 * 2);
	for (int bits = 2; bits <= 16; bits++)
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
			for (int kind = 0; kind < 4; kind++) {
				size_t n = sizes[si];
				uint32_t top = (1u << bits) - 1;
				for (size_t i = 0; i < n; i++)
					q[i] = kind == 0   ? (uint16_t)(xr() & top)      /* uniform */
					       : kind == 1 ? 0                           /* one symbol */
					       : kind == 2 ? (uint16_t)(i % 2 ? top : 3) /* two */
							   : 0;
				if (kind == 3)
					skewed(q, n, bits, 2.0, 0.6);
				for (int zrun = 0; zrun < 2; zrun++)
					roundtrip(q, n, bits, zrun, NULL);
			}
	/* empty input: an empty stream */
	size_t len = 1;
	TH_CHECK(huf_encode(&W, q, 0, 8, 0, NULL, 0, &len) == 0 && len == 0, "empty");
	/* all 65536 levels distinct, in a shuffled order */
	for (size_t i = 0; i < 65536; i++)
		q[i] = (uint16_t)i;
	for (size_t i = 65535; i > 0; i--) {
		size_t j = xr() % (i + 1);
		uint16_t t = q[i];
		q[i] = q[j];
		q[j] = t;
	}
	size_t coded;
	roundtrip(q, 65536, 16, 0, &coded);
	TH_CHECK(coded < 65536 * 2 + 65536 * 5 / 8 + 16, "all-distinct size %zu", coded);
	roundtrip(q, 65536, 16, 1, NULL);
	/* one long zero run, then runs of every length up to 300 */
	memset(q, 0, 70000 * 2);
	roundtrip(q, 70000, 8, 1, &coded);
	/* one escape code of zero bits and 14 run bits per quarter */
	TH_CHECK(coded <= 10, "70000 zeros took %zu bytes with zero runs", coded);
	size_t n = 0;
	for (uint16_t r = 1; n + r + 1 < 70000 && r < 300; r++) {
		n += r;
		q[n++] = (uint16_t)(1 + r % 200);
	}
	roundtrip(q, n, 8, 1, NULL);
	free(q);
}

static void test_entropy(void)
{
	static const size_t sizes[] = {10000, 100000};
	static const struct {
		int bits;
		double scale, pzero;
	} dist[] = {{8, 6.0, 0.0}, {8, 3.0, 0.55}, {4, 1.5, 0.0}, {12, 40.0, 0.3}};
	uint16_t *q = th_alloc(100000 * 2);
	uint8_t *lens = th_alloc(HUF_MAX_SYMS);
	uint32_t *freq = th_alloc(HUF_MAX_SYMS * 4);
	for (size_t di = 0; di < sizeof(dist) / sizeof(dist[0]); di++)
		for (size_t si = 0; si < 2; si++) {
			size_t n = sizes[si], coded;
			int bits = dist[di].bits;
			skewed(q, n, bits, dist[di].scale, dist[di].pzero);
			double pmax, h = entropy_bits(q, n, bits, &pmax);
			memset(freq, 0, (1u << bits) * 4);
			for (size_t i = 0; i < n; i++)
				freq[q[i]]++;
			huf_build_lengths(&W, freq, 1u << bits, HUF_MAX_LEN, lens);
			size_t table = huf_table_bits(lens, 1u << bits);
			roundtrip(q, n, bits, 0, &coded);
			double data = (double)coded * 8 - (double)table;
			printf("entropy: bits %2d n %6zu p_max %.2f H %.3f b/sym: huffman %.3f b/sym, "
			       "ratio %.4f, table %zu bytes, packed %zu bytes, coded %zu bytes\n",
			       bits, n, pmax, h / n, data / n, data / h, (table + 7) / 8,
			       (n * bits + 7) / 8, coded);
			/* Huffman's redundancy is below p_max + 0.086 bits per symbol
			 * (Gallager 1978): 3% of the entropy is reachable only while the
			 * most likely level stays well under 1/2. */
			TH_CHECK(data / n - h / n < pmax + 0.086, "redundancy %.4f b/sym", (data - h) / n);
			if (pmax < 0.4)
				TH_CHECK(data / h <= 1.03, "huffman %.4f x entropy", data / h);
			size_t zcoded;
			roundtrip(q, n, bits, 1, &zcoded);
			printf("         with zero runs: %zu bytes (%+.1f%%)\n", zcoded,
			       100.0 * ((double)zcoded - (double)coded) / (double)coded);
		}
	free(q);
	free(lens);
	free(freq);
}

/* Hand-made streams: a bit writer and the table encoding of huffman.c. */
struct wr {
	uint8_t b[256];
	size_t bits;
};

static void put(struct wr *w, uint32_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++, w->bits++)
		if (v >> i & 1)
			w->b[w->bits / 8] |= (uint8_t)(1u << (w->bits % 8));
}

static int hostile(struct wr *w, size_t n, int bits, int zrun, const char *what)
{
	uint16_t q[64];
	char err[256] = "";
	int ret = decode(w->b, (w->bits + 7) / 8, n, bits, zrun, q, err);
	TH_CHECK(ret < 0, "%s accepted", what);
	if (ret < 0 && th_failures == 0 && getenv("VERBOSE"))
		printf("  %s -> %s\n", what, err);
	return ret;
}

static void test_hostile(void)
{
	struct wr w;
	/* bits 2: alphabet of 4. Over-subscribed: lengths 1,1,1,1 */
	memset(&w, 0, sizeof(w));
	put(&w, 0, 1);
	for (int i = 0; i < 4; i++)
		put(&w, 1, 5);
	put(&w, 0, 8);
	hostile(&w, 4, 2, 0, "over-subscribed code");
	/* incomplete: 1,2,3,0 */
	memset(&w, 0, sizeof(w));
	put(&w, 0, 1);
	put(&w, 1, 5), put(&w, 2, 5), put(&w, 3, 5), put(&w, 0, 5), put(&w, 0, 5), put(&w, 0, 0);
	put(&w, 0, 8);
	hostile(&w, 1, 2, 0, "incomplete code");
	/* one used symbol in table mode: incomplete too */
	memset(&w, 0, sizeof(w));
	put(&w, 0, 1);
	put(&w, 1, 5), put(&w, 0, 5), put(&w, 1, 5), put(&w, 0, 1);
	hostile(&w, 1, 2, 0, "single length-1 code");
	/* a length past the limit */
	memset(&w, 0, sizeof(w));
	put(&w, 0, 1);
	put(&w, 21, 5), put(&w, 1, 5), put(&w, 2, 5), put(&w, 2, 5);
	hostile(&w, 1, 2, 0, "length 21");
	/* a zero run past the alphabet */
	memset(&w, 0, sizeof(w));
	put(&w, 0, 1);
	put(&w, 1, 5), put(&w, 1, 5), put(&w, 0, 5), put(&w, 2, 5), put(&w, 1, 2);
	hostile(&w, 1, 2, 0, "table zero run past alphabet");
	/* run exponent too large */
	memset(&w, 0, sizeof(w));
	put(&w, 0, 1);
	put(&w, 0, 5), put(&w, 17, 5);
	hostile(&w, 1, 2, 0, "run exponent 17");
	/* single symbol >= alphabet */
	memset(&w, 0, sizeof(w));
	put(&w, 1, 1), put(&w, 4, 17);
	hostile(&w, 3, 2, 0, "single symbol 4 of 4");
	memset(&w, 0, sizeof(w));
	put(&w, 1, 1), put(&w, 4 + 32, 17);
	hostile(&w, 3, 2, 1, "single symbol 36 of 36");
	/* an escape of 2^5 zeros for a tensor of 10 elements */
	memset(&w, 0, sizeof(w));
	put(&w, 1, 1), put(&w, 4 + 5, 17), put(&w, 0, 5);
	hostile(&w, 10, 2, 1, "zero run past the end");
	/* table truncated / stream empty */
	memset(&w, 0, sizeof(w));
	put(&w, 0, 1), put(&w, 1, 5);
	hostile(&w, 1, 2, 0, "table cut");
	memset(&w, 0, sizeof(w));
	hostile(&w, 1, 2, 0, "empty stream");
	/* valid table (1,2,3,3) but the symbols run out; then nonzero padding */
	memset(&w, 0, sizeof(w));
	put(&w, 0, 1);
	put(&w, 1, 5), put(&w, 2, 5), put(&w, 3, 5), put(&w, 3, 5);
	put(&w, 0, 1), put(&w, 0, 1);
	hostile(&w, 40, 2, 0, "too few symbols");
	memset(&w, 0, sizeof(w));
	put(&w, 0, 1);
	put(&w, 1, 5), put(&w, 2, 5), put(&w, 3, 5), put(&w, 3, 5);
	put(&w, 0, 1), put(&w, 1, 1); /* 21 + 2 bits: 1 padding bit set */
	hostile(&w, 1, 2, 0, "nonzero padding");
	/* random garbage never crashes, and when accepted must be self-consistent */
	uint16_t q[64];
	char err[256];
	int accepted = 0;
	for (int t = 0; t < 20000; t++) {
		memset(&w, 0, sizeof(w));
		size_t len = 1 + xr() % 40;
		for (size_t i = 0; i < len; i++)
			w.b[i] = (uint8_t)xr();
		int bits = 2 + (int)(xr() % 15);
		accepted += decode(w.b, len, 1 + xr() % 64, bits, (int)(xr() & 1), q, err) == 0;
	}
	printf("hostile: 20000 random streams, %d decoded cleanly\n", accepted);
}

int main(void)
{
	if (huf_work_init(&W, 16))
		return 1;
	test_lengths();
	test_roundtrips();
	test_entropy();
	test_hostile();
	huf_work_free(&W);
	return th_finish("huffman");
}
