/* Codec frame: round trips of every codec over bits 2..16 and awkward shapes,
 * bit-exact against the whole-tensor quantize/dequantize reference; fp16
 * conversion; limits; and malformed frames (every truncation, a bit flip in every
 * byte, and re-checksummed frames with lying fields). pred-huffman: its residual
 * map against a naive MED, round trips on its {C, H, W} shapes and data kinds,
 * smaller frames than plain Huffman on a smooth image, and its ndim rule. */
#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <xxhash.h>

#include "coinfer/codec-frame.h"
#include "coinfer/codec.h"
#include "../../codec/pred.h"
#include "harness.h"

static const struct cc_limits big = {1u << 24, 1u << 28};
static void *scratch;

static void resum(uint8_t *f, size_t len)
{
	uint64_t s = XXH64(f, len - 8, 0);
	for (int i = 0; i < 8; i++)
		f[len - 8 + i] = (uint8_t)(s >> 8 * i);
}

static size_t elems_of(int ndim, const uint32_t *d)
{
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= d[i];
	return n;
}

/* Reference: what a decoder must return, from the kernels on the whole tensor. */
static void reference(const float *x, int ndim, const uint32_t *dims, enum cc_codec c, int bits,
		      int pc, float *ref)
{
	size_t n = elems_of(ndim, dims);
	if (c == CC_CODEC_RAW32) {
		memcpy(ref, x, n * 4);
		return;
	}
	if (c == CC_CODEC_RAW16) {
		for (size_t i = 0; i < n; i++)
			ref[i] = cc_f16_to_f32(cc_f32_to_f16(x[i]));
		return;
	}
	if (!n)
		return;
	const struct cc_kernels *k = cc_kernels();
	size_t ch = pc ? dims[0] : 1, plane = n / ch;
	float *mn = th_alloc(ch * 4), *mx = th_alloc(ch * 4);
	uint16_t *q = th_alloc(n * 2);
	k->minmax(x, ch, plane, pc, mn, mx);
	k->quantize(x, ch, plane, pc, mn, mx, bits, q);
	k->dequantize(q, ch, plane, pc, mn, mx, bits, ref);
	free(mn);
	free(mx);
	free(q);
}

static int decode(const uint8_t *f, size_t len, float *out, size_t cap, char *err)
{
	return cc_frame_decode(f, len, &big, out, cap, scratch, cc_frame_scratch_max(), NULL, err,
			       256);
}

static void malformed(const uint8_t *f0, size_t len, size_t n)
{
	uint8_t *f = th_alloc(len + 16);
	float *out = th_alloc(n * 4 + 4);
	char err[256];
	for (size_t t = 0; t < len; t++)
		TH_CHECK(decode(f0, t, out, n, err) < 0, "truncation to %zu of %zu accepted", t, len);
	for (size_t i = 0; i < len; i++) {
		memcpy(f, f0, len);
		f[i] ^= (uint8_t)(1u << (i % 8));
		TH_CHECK(decode(f, len, out, n, err) < 0, "flip at byte %zu of %zu accepted", i, len);
	}
	/* extended with a byte, size fields patched and re-checksummed: the payload
	 * decoder itself must notice the extra byte */
	memcpy(f, f0, len - 8);
	f[len - 8] = 0;
	uint64_t pl = 0;
	for (int i = 0; i < 8; i++)
		pl |= (uint64_t)f[40 + i] << 8 * i;
	pl++;
	for (int i = 0; i < 8; i++)
		f[40 + i] = (uint8_t)(pl >> 8 * i);
	resum(f, len + 1);
	TH_CHECK(decode(f, len + 1, out, n, err) < 0, "payload + 1 byte accepted");
	free(f);
	free(out);
}

/* Encodes, decodes bit-exact against the reference, no write past n elements;
 * malformed() on frames shorter than `malformed_below` bytes. Returns the size. */
static size_t roundtrip(const float *x, int nd, const uint32_t *d, enum cc_codec c, int bits,
			int pc, float *ref, float *out, size_t si, size_t malformed_below)
{
	size_t n = elems_of(nd, d);
	size_t cap = cc_frame_bound(c, nd, d, pc), len = 0;
	uint8_t *f = th_alloc(cap);
	char err[256] = "";
	int ret = cc_frame_encode(x, nd, d, c, bits, pc, f, cap, &len, err, sizeof(err));
	TH_CHECK(ret == 0, "encode %s bits %d pc %d shape %zu: %s", cc_codec_name(c), bits, pc, si,
		 err);
	if (ret) {
		free(f);
		return 0;
	}
	reference(x, nd, d, c, bits, pc, ref);
	memset(out, 0xAB, n * 4 + 4);
	struct cc_frame_info info;
	ret = cc_frame_decode(f, len, &big, out, n, scratch, cc_frame_scratch_max(), &info, err,
			      sizeof(err));
	TH_CHECK(ret == 0, "decode %s bits %d pc %d shape %zu: %s", cc_codec_name(c), bits, pc, si,
		 err);
	TH_CHECK(ret || !memcmp(out, ref, n * 4), "%s bits %d pc %d shape %zu: not bit-exact",
		 cc_codec_name(c), bits, pc, si);
	TH_CHECK(ret || (info.elems == n && info.frame_bytes == len && info.codec == c), "info");
	/* no write past the caller's n elements */
	uint32_t canary;
	memcpy(&canary, out + n, 4);
	TH_CHECK(canary == 0xABABABABu, "wrote past the output");
	if (len < malformed_below)
		malformed(f, len, n);
	free(f);
	return len;
}

static void test_roundtrips(void)
{
	static const struct {
		int ndim;
		uint32_t d[4];
	} shapes[] = {{1, {1}}, {1, {0}}, {3, {3, 0, 5}}, {1, {7}}, {3, {3, 5, 7}},
		      {4, {2, 3, 4, 5}}, {3, {16, 13, 11}}, {2, {1, 9000}}, {3, {5, 1, 1}}};
	for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
		int nd = shapes[si].ndim;
		const uint32_t *d = shapes[si].d;
		size_t n = elems_of(nd, d);
		float *x = th_alloc(n * 4 + 4), *ref = th_alloc(n * 4 + 4), *out = th_alloc(n * 4 + 4);
		th_fill(x, n, si + 1);
		for (size_t i = 0; i < n; i++)
			if (si % 2 && x[i] < 0.2f)
				x[i] = 0.0f; /* post-ReLU: over half zeros */
		if (n > 3)
			x[2] = -3e-41f; /* a subnormal */
		if (si == 6)
			x[5] = 1e30f; /* one wide value: most levels collapse to 0 */
		for (int c = 0; c < CC_CODEC_COUNT; c++)
			for (int bits = 2; bits <= 16; bits++)
				for (int pc = 0; pc < 2; pc++) {
					if (c <= CC_CODEC_RAW16 && (bits > 2 || pc))
						continue;
					if (c == CC_CODEC_PRED && nd != 3)
						continue; /* refused: test_pred_ndim */
					roundtrip(x, nd, d, (enum cc_codec)c, bits, pc, ref, out, si,
						  bits == 5 && si == 4 ? SIZE_MAX : 160);
				}
		free(x);
		free(ref);
		free(out);
	}
}

static void test_fp16(void)
{
	for (uint32_t h = 0; h < 65536; h++) {
		float f = cc_f16_to_f32((uint16_t)h);
		uint16_t back = cc_f32_to_f16(f);
		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
			TH_CHECK(f != f && (back & 0x7c00) == 0x7c00 && (back & 0x3ff),
				 "NaN %04x", h);
		else
			TH_CHECK(back == h, "half %04x -> %g -> %04x", h, (double)f, back);
	}
#if defined(__FLT16_MAX__)
	uint64_t s = 12345;
	int bad = 0;
	for (int i = 0; i < 4000000; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		uint32_t u = (uint32_t)s;
		if (i & 1) /* focus on the half range, rounding boundaries included */
			u = (u & 0x80000000u) | ((0x33000000u + (u & 0x0fffffffu)) & 0x7fffffffu);
		float f;
		memcpy(&f, &u, 4);
		if (f != f)
			continue;
		_Float16 g = (_Float16)f;
		uint16_t want;
		memcpy(&want, &g, 2);
		if (cc_f32_to_f16(f) != want && bad++ < 5)
			fprintf(stderr, "f32 %08x: got %04x want %04x\n", u, cc_f32_to_f16(f), want);
	}
	TH_CHECK(bad == 0, "%d fp16 conversions differ from _Float16", bad);
#else
	printf("fp16: no _Float16 here; checked the 65536 round trips only\n");
#endif
}

/* A valid small frame to lie about: 3x4 per-channel Huffman at 6 bits (3x2x2 for
 * pred-huffman, which takes {C, H, W} only: dims[1] at the same offset). */
static size_t base_frame(uint8_t *f, size_t cap, enum cc_codec c)
{
	float x[12];
	uint32_t d[3] = {3, 4, 0};
	int nd = 2;
	size_t len;
	if (c == CC_CODEC_PRED)
		d[1] = d[2] = 2, nd = 3;
	th_fill(x, 12, 7);
	int ret = cc_frame_encode(x, nd, d, c, c <= CC_CODEC_RAW16 ? 0 : 6,
				  c <= CC_CODEC_RAW16 ? 0 : 1, f, cap, &len, NULL, 0);
	if (ret) {
		fprintf(stderr, "base frame: %d\n", ret);
		exit(1);
	}
	return len;
}

static void expect_err(uint8_t *f, size_t len, int want, const char *what)
{
	float out[64];
	char err[256] = "";
	resum(f, len);
	int ret = cc_frame_decode(f, len, &big, out, 64, scratch, cc_frame_scratch_max(), NULL, err,
				  sizeof(err));
	TH_CHECK(ret < 0 && (!want || ret == want), "%s: got %d (%s)", what, ret, err);
	TH_CHECK(ret == 0 || err[0], "%s: no message", what);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* f = f0 (len bytes) with stmt applied must be refused with want (0: any error). */
#define MUT(what, want, stmt)                                                  \
	do {                                                                   \
		memcpy(f, f0, len);                                            \
		stmt;                                                          \
		expect_err(f, len, want, what);                                \
	} while (0)

/* Lies in the fixed header and the (min, max) pairs of a frame of a quantized
 * codec (q) or a raw one. */
static void hostile_header(const uint8_t *f0, uint8_t *f, size_t len, int q)
{
	MUT("magic", -EINVAL, f[0] = 'X');
	MUT("version", -EINVAL, f[4] = 2);
	MUT("codec past the last", -EINVAL, f[5] = CC_CODEC_COUNT);
	MUT("codec 255", -EINVAL, f[5] = 255);
	MUT("elem type", -EINVAL, f[6] = 2);
	MUT("flags", -EINVAL, f[7] |= 2);
	MUT("ndim 0", -EINVAL, f[8] = 0);
	MUT("ndim 5", -EINVAL, f[8] = 5);
	MUT("reserved", -EINVAL, f[11] = 1);
	MUT("dims overflow", -E2BIG, (put32(f + 12, 0x10000), put32(f + 16, 0x10000)));
	MUT("dims huge", -E2BIG, put32(f + 12, 0xFFFFFFFFu));
	MUT("dims past ndim", -EINVAL, put32(f + 24, 1));
	MUT("dims lie small", 0, put32(f + 16, 3));
	MUT("dims lie big", 0, put32(f + 16, 5));
	MUT("dims zero", -EINVAL, put32(f + 16, 0));
	if (q)
		MUT("bits 0", -EINVAL, f[9] = 0);
	MUT("bits 1", -EINVAL, f[9] = 1);
	MUT("bits 17", -EINVAL, f[9] = 17);
	MUT("bits 255", -EINVAL, f[9] = 255);
	MUT("pairs huge", -EINVAL, put32(f + 28, 0xFFFFFFFFu));
	MUT("pairs +1", -EINVAL, put32(f + 28, q ? 4 : 1));
	MUT("raw size", -EINVAL, put64(f + 32, 12 * 4 + 4));
	MUT("payload beyond frame", -EINVAL, put64(f + 40, len));
	MUT("payload huge", -EINVAL, put64(f + 40, ~0ull));
	MUT("payload -1", -EINVAL, put64(f + 40, len - 48 - 8 - (q ? 24 : 0) - 1));
	if (q) {
		MUT("min NaN", -EINVAL, put32(f + 48, 0x7fc00000));
		MUT("max inf", -EINVAL, put32(f + 52, 0x7f800000));
		MUT("min > max", -EINVAL, (put32(f + 48, 0x40000000), put32(f + 52, 0x3f800000)));
		MUT("per-tensor flag", -EINVAL, f[7] = 0);
	} else {
		MUT("bits on raw", -EINVAL, f[9] = 8);
		MUT("per-channel on raw", -EINVAL, f[7] = 1);
	}
}

/* Bad Huffman payloads of codec c: a bad table, a bad single symbol, all zeros or
 * ones, and every single bit flip. */
static void hostile_payload(const uint8_t *f0, uint8_t *f, size_t len, enum cc_codec c)
{
	size_t pl = 48 + 24;
	/* table mode with every length 21 */
	MUT("table length 21", -EBADMSG, (f[pl] = 0x2a, f[pl + 1] = 0xff));
	/* single-symbol mode, symbol past the alphabet */
	MUT("single symbol oob", -EBADMSG,
	    (f[pl] = 1 | 0xfe, f[pl + 1] = 0xff, f[pl + 2] = 0x03));
	/* all-zero payload: table mode, a run token... of lengths 0 */
	MUT("zeroed payload", -EBADMSG, memset(f + pl, 0, len - pl - 8));
	MUT("ones payload", -EBADMSG, memset(f + pl, 0xff, len - pl - 8));
	/* every single bit flip of the payload, re-checksummed: never a
	 * crash (asserted by the sanitizers); count the rejections */
	int rej = 0, tot = 0;
	for (size_t b = pl * 8; b < (len - 8) * 8; b++, tot++) {
		float out[16];
		memcpy(f, f0, len);
		f[b / 8] ^= (uint8_t)(1u << (b % 8));
		resum(f, len);
		rej += cc_frame_decode(f, len, &big, out, 16, scratch,
				       cc_frame_scratch_max(), NULL, NULL, 0) < 0;
	}
	printf("%s: %d of %d re-checksummed payload bit flips rejected\n", cc_codec_name(c), rej,
	       tot);
}
#undef MUT

/* The caller's limits and buffers too small for a valid frame. */
static void hostile_limits(const uint8_t *f0, size_t len, int q)
{
	float out[16];
	char err[256];
	struct cc_limits lim = {11, 1 << 20};
	TH_CHECK(cc_frame_decode(f0, len, &lim, out, 16, scratch, cc_frame_scratch_max(), NULL,
				 err, 256) == -E2BIG, "max_elems");
	lim = (struct cc_limits){100, len - 1};
	TH_CHECK(cc_frame_decode(f0, len, &lim, out, 16, scratch, cc_frame_scratch_max(), NULL,
				 err, 256) == -E2BIG, "max_frame_bytes");
	TH_CHECK(cc_frame_decode(f0, len, &big, out, 11, scratch, cc_frame_scratch_max(), NULL,
				 err, 256) == -ENOSPC, "out too small");
	if (q)
		TH_CHECK(cc_frame_decode(f0, len, &big, out, 16, scratch, 100, NULL, err, 256) ==
				 -ENOSPC, "scratch too small");
}

static void hostile_encoder_args(void)
{
	float x[4] = {0};
	uint32_t d[4] = {2, 2, 0, 0}, huge[2] = {0x10000, 0x10000};
	uint8_t buf[256];
	size_t len;
	TH_CHECK(cc_frame_encode(x, 2, d, CC_CODEC_PACKED, 1, 0, buf, 256, &len, NULL, 0) == -EINVAL,
		 "bits 1");
	TH_CHECK(cc_frame_encode(x, 2, d, CC_CODEC_PACKED, 17, 0, buf, 256, &len, NULL, 0) == -EINVAL,
		 "bits 17");
	TH_CHECK(cc_frame_encode(x, 2, d, (enum cc_codec)9, 8, 0, buf, 256, &len, NULL, 0) == -EINVAL,
		 "codec 9");
	TH_CHECK(cc_frame_encode(x, 5, d, CC_CODEC_RAW32, 0, 0, buf, 256, &len, NULL, 0) == -EINVAL,
		 "ndim 5");
	TH_CHECK(cc_frame_encode(x, 2, huge, CC_CODEC_RAW32, 0, 0, buf, 256, &len, NULL, 0) == -E2BIG,
		 "2^32 elements");
	TH_CHECK(cc_frame_encode(x, 2, d, CC_CODEC_RAW32, 0, 0, buf, 60, &len, NULL, 0) == -ENOSPC &&
			 len == 48 + 16 + 8,
		 "ENOSPC with the size needed");
}

static void test_hostile(void)
{
	uint8_t f0[512], f[520];
	for (int c = 0; c < CC_CODEC_COUNT; c++) {
		size_t len = base_frame(f0, sizeof(f0), (enum cc_codec)c);
		int q = c >= CC_CODEC_PACKED;
		hostile_header(f0, f, len, q);
		if (c == CC_CODEC_HUFFMAN || c == CC_CODEC_HUFFMAN_ZRUN || c == CC_CODEC_PRED)
			hostile_payload(f0, f, len, (enum cc_codec)c);
		hostile_limits(f0, len, q);
	}
	hostile_encoder_args();
}

/* Sizes on feature-map-like tensors, 64 x 28 x 28 post-ReLU with ~60% zeros:
 * independent zeros, and zeros clustered in whole rows (dead regions), which is
 * where coding runs of zeros should pay. */
static void report_sizes(void)
{
	uint32_t d[3] = {64, 28, 28};
	size_t n = 64 * 28 * 28;
	float *x = th_alloc(n * 4);
	size_t cap = cc_frame_bound(CC_CODEC_HUFFMAN_ZRUN, 3, d, 1);
	uint8_t *f = th_alloc(cap);
	for (int clustered = 0; clustered < 2; clustered++) {
		uint64_t s = 99;
		int dead = 0;
		for (size_t i = 0; i < n; i++) {
			float u = th_rand(&s), v = th_rand(&s);
			if (i % 28 == 0)
				dead = th_rand(&s) < 0.0f; /* half the rows */
			float pz = clustered ? (dead ? 2.0f : -0.6f) : 0.2f;
			x[i] = u < pz ? 0.0f : -logf(0.5f * (v + 1.0f) + 1e-7f) * 0.7f;
		}
		for (int bits = 2; bits <= 16; bits += 2) {
			printf("sizes 64x28x28 relu %s bits %2d:", clustered ? "clustered" : "iid", bits);
			for (int c = 0; c < CC_CODEC_COUNT; c++) {
				size_t len;
				if (cc_frame_encode(x, 3, d, (enum cc_codec)c, bits, 0, f, cap, &len,
						    NULL, 0))
					continue;
				printf(" %s %.4f", cc_codec_name((enum cc_codec)c), (double)len / (n * 4.0));
			}
			printf("  (of fp32)\n");
		}
	}
	free(x);
	free(f);
}

/* One long-lived encoder gives the same bytes as the one-off path for every shape,
 * codec and width (its work space is reused, never stale), the heap does not move
 * while it encodes, and a tensor past its size is refused, not overrun. */
static void test_encoder_reuse(void)
{
	static const uint32_t shapes[][3] = {{16, 13, 11}, {1, 1, 1}, {3, 5, 7}, {64, 8, 8},
					      {5, 1, 1}, {16, 13, 11}};
	const size_t max = 64 * 8 * 8;
	struct cc_encoder *e;
	TH_CHECK(cc_encoder_create(max, 64, 16, &e) == 0, "create");
	size_t cap = cc_frame_bound(CC_CODEC_HUFFMAN_ZRUN, 3, shapes[3], 1), len, len1;
	uint8_t *f = th_alloc(cap), *f1 = th_alloc(cap);
	float *x = th_alloc(max * 4);
	char err[256] = "";
	/* warm-up so that lazily allocated library state (dispatch, stdio) is in place */
	th_fill(x, max, 1);
	cc_encoder_encode(e, x, 3, shapes[3], CC_CODEC_HUFFMAN, 8, 0, f, cap, &len, err, 256);
	struct mallinfo2 before = mallinfo2();
	int same = 1, calls = 0;
	for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
		size_t n = elems_of(3, shapes[si]);
		th_fill(x, n, 7 + si);
		for (size_t i = 0; i < n; i++)
			if (si % 2 && x[i] < 0.1f)
				x[i] = 0.0f;
		for (int c = 0; c < CC_CODEC_COUNT; c++)
			for (int bits = 2; bits <= 16; bits += 1 + (c <= CC_CODEC_RAW16) * 20)
				for (int pc = 0; pc < 2 - (c <= CC_CODEC_RAW16); pc++) {
					int b = c <= CC_CODEC_RAW16 ? 0 : bits;
					int r = cc_encoder_encode(e, x, 3, shapes[si], (enum cc_codec)c, b, pc,
								  f, cap, &len, err, 256);
					struct mallinfo2 mid = mallinfo2();
					int r1 = cc_frame_encode(x, 3, shapes[si], (enum cc_codec)c, b, pc, f1,
								 cap, &len1, err, 256);
					same &= r == 0 && r1 == 0 && len == len1 && !memcmp(f, f1, len);
					/* the one-off path allocates and frees: rebase the heap figure */
					struct mallinfo2 now = mallinfo2();
					before.uordblks += now.uordblks - mid.uordblks;
					calls++;
				}
	}
	struct mallinfo2 after = mallinfo2();
	TH_CHECK(same, "encoder frames differ from one-off frames");
	TH_CHECK(after.uordblks == before.uordblks, "heap moved by %zd bytes over %d encodes",
		 (ssize_t)(after.uordblks - before.uordblks), calls);
	uint32_t big_shape[3] = {65, 8, 8};
	float *xb = th_alloc(65 * 64 * 4);
	th_fill(xb, 65 * 64, 3);
	TH_CHECK(cc_encoder_encode(e, xb, 3, big_shape, CC_CODEC_PACKED, 8, 0, f, cap, &len, err,
				   256) == -E2BIG,
		 "oversized tensor accepted");
	TH_CHECK(cc_encoder_encode(e, x, 3, shapes[4], CC_CODEC_HUFFMAN, 8, 0, f, 60, &len, err,
				   256) == -ENOSPC && len > 60,
		 "short output not reported");
	cc_encoder_destroy(e);
	free(xb);
	free(x);
	free(f);
	free(f1);
}

/* ---- pred-huffman ---------------------------------------------------------- */

/* MED and the border rule of docs/codec-frame.md, written out naively. */
static unsigned naive_pred(const uint16_t *pl, size_t w, size_t y, size_t x)
{
	if (!y && !x)
		return 0;
	if (!y)
		return pl[x - 1];
	if (!x)
		return pl[(y - 1) * w];
	int a = pl[y * w + x - 1], b = pl[(y - 1) * w + x], c = pl[(y - 1) * w + x - 1];
	int mn = a < b ? a : b, mx = a < b ? b : a;
	if (c >= mx)
		return (unsigned)mn;
	if (c <= mn)
		return (unsigned)mx;
	return (unsigned)(a + b - c);
}

static void test_pred_residuals(void)
{
	static const uint32_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {1, 33, 31}, {2, 1, 9},
					      {2, 9, 1},  {3, 32, 32}};
	uint64_t s = 5;
	for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
		size_t C = shapes[si][0], H = shapes[si][1], W = shapes[si][2], n = C * H * W;
		uint16_t *q = th_alloc(n * 2), *r = th_alloc(n * 2);
		for (int bits = 2; bits <= 16; bits++) {
			unsigned m = (1u << bits) - 1;
			/* a random walk (small residuals) with jumps and both range ends */
			unsigned v = m / 2;
			for (size_t i = 0; i < n; i++) {
				float u = th_rand(&s);
				v = u > 0.9f ? m : u < -0.9f ? 0 : (v + (unsigned)(int)(u * 4)) & m;
				q[i] = (uint16_t)v;
			}
			cc_pred_residuals(q, r, C, H, W, bits);
			int bad = 0;
			for (size_t c = 0; c < C; c++)
				for (size_t y = 0; y < H; y++)
					for (size_t x = 0; x < W; x++) {
						size_t i = c * H * W + y * W + x;
						unsigned want = (q[i] - naive_pred(q + c * H * W, W, y, x)) & m;
						bad += r[i] != want;
					}
			TH_CHECK(!bad, "residuals %zux%zux%zu bits %d: %d differ from naive MED", C, H,
				 W, bits, bad);
			cc_pred_undo(r, C, H, W, bits);
			TH_CHECK(!memcmp(q, r, n * 2), "undo %zux%zux%zu bits %d", C, H, W, bits);
		}
		free(q);
		free(r);
	}
}

enum { DATA_RANDOM, DATA_SMOOTH, DATA_CONSTANT, DATA_RELU, DATA_KINDS };

/* An image-like plane: smooth gradients and blobs per channel, a little noise. */
static void fill(float *x, const uint32_t *d, int kind, uint64_t seed)
{
	size_t n = elems_of(3, d);
	uint64_t s = seed;
	th_fill(x, n, seed);
	for (size_t c = 0; c < d[0]; c++)
		for (size_t y = 0; y < d[1]; y++)
			for (size_t xx = 0; xx < d[2]; xx++) {
				size_t i = (c * d[1] + y) * d[2] + xx;
				float sm = 0.5f + 0.3f * sinf(0.11f * (float)xx + 0.7f * (float)c) *
							 cosf(0.07f * (float)y) +
					   0.15f * (float)y / (float)(d[1] + 1) + 0.004f * th_rand(&s);
				if (kind == DATA_SMOOTH)
					x[i] = sm;
				else if (kind == DATA_CONSTANT)
					x[i] = 0.25f;
				else if (kind == DATA_RELU)
					x[i] = x[i] < 0.3f ? 0.0f : sm;
			}
}

static void test_pred_roundtrips(void)
{
	static const uint32_t shapes[][3] = {{1, 1, 1},  {3, 5, 7},   {1, 33, 31}, {0, 4, 4},
					      {3, 0, 5},  {2, 1, 9},   {2, 9, 1},   {3, 32, 32},
					      {4, 40, 40}, {64, 8, 8}};
	for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
		const uint32_t *d = shapes[si];
		size_t n = elems_of(3, d);
		float *x = th_alloc(n * 4 + 4), *ref = th_alloc(n * 4 + 4), *out = th_alloc(n * 4 + 4);
		for (int kind = 0; kind < DATA_KINDS; kind++) {
			fill(x, d, kind, 11 + si);
			for (int bits = 2; bits <= 16; bits++)
				for (int pc = 0; pc < 2; pc++)
					roundtrip(x, 3, d, CC_CODEC_PRED, bits, pc, ref, out, si,
						  (bits == 8 && si == 7 && kind == DATA_SMOOTH) ? SIZE_MAX
												   : 160);
		}
		free(x);
		free(ref);
		free(out);
	}
}

/* What the codec is for: on a smooth image MED residuals are peaked where the
 * levels are flat, so the frame must come out smaller than plain Huffman's. */
static void test_pred_smaller(void)
{
	static const uint32_t d[3] = {3, 32, 32};
	size_t n = elems_of(3, d);
	float *x = th_alloc(n * 4), *ref = th_alloc(n * 4 + 4), *out = th_alloc(n * 4 + 4);
	fill(x, d, DATA_SMOOTH, 3);
	for (int bits = 4; bits <= 8; bits += 4)
		for (int pc = 0; pc < 2; pc++) {
			size_t h = roundtrip(x, 3, d, CC_CODEC_HUFFMAN, bits, pc, ref, out, 0, 0);
			size_t p = roundtrip(x, 3, d, CC_CODEC_PRED, bits, pc, ref, out, 0, 0);
			printf("smooth 3x32x32 bits %d pc %d: huffman %zu B, pred-huffman %zu B\n", bits,
			       pc, h, p);
			TH_CHECK(p && p < h * 9 / 10,
				 "bits %d pc %d: pred-huffman %zu B not 10%% under huffman %zu B", bits,
				 pc, p, h);
		}
	free(x);
	free(ref);
	free(out);
}

/* pred-huffman is {C, H, W} only: the encoder refuses other ranks, and the
 * decoder refuses a frame that claims another rank even with every other field
 * (element count, raw size, pairs, checksum) consistent. */
static void test_pred_ndim(void)
{
	float x[12] = {0};
	uint32_t d2[2] = {3, 4}, d4[4] = {3, 2, 2, 1}, d1[1] = {12};
	uint8_t buf[512], f[512];
	size_t len;
	TH_CHECK(cc_frame_encode(x, 2, d2, CC_CODEC_PRED, 8, 0, buf, 512, &len, NULL, 0) == -EINVAL,
		 "pred ndim 2 encoded");
	TH_CHECK(cc_frame_encode(x, 4, d4, CC_CODEC_PRED, 8, 0, buf, 512, &len, NULL, 0) == -EINVAL,
		 "pred ndim 4 encoded");
	TH_CHECK(cc_frame_encode(x, 1, d1, CC_CODEC_PRED, 8, 1, buf, 512, &len, NULL, 0) == -EINVAL,
		 "pred ndim 1 encoded");
	len = base_frame(buf, sizeof(buf), CC_CODEC_PRED);
	memcpy(f, buf, len);
	f[8] = 4;
	put32(f + 24, 1);
	expect_err(f, len, -EINVAL, "pred frame as ndim 4 x 1");
	memcpy(f, buf, len);
	f[8] = 2;
	put32(f + 16, 4), put32(f + 20, 0);
	expect_err(f, len, -EINVAL, "pred frame as ndim 2");
	/* a plain Huffman frame of ndim 2 relabelled pred-huffman */
	len = base_frame(buf, sizeof(buf), CC_CODEC_HUFFMAN);
	memcpy(f, buf, len);
	f[5] = CC_CODEC_PRED;
	expect_err(f, len, -EINVAL, "ndim-2 huffman frame relabelled pred");
}

int main(void)
{
	scratch = th_alloc(cc_frame_scratch_max());
	test_fp16();
	test_roundtrips();
	test_encoder_reuse();
	test_hostile();
	test_pred_residuals();
	test_pred_roundtrips();
	test_pred_smaller();
	test_pred_ndim();
	report_sizes();
	free(scratch);
	return th_finish("frame");
}
