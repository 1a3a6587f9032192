/* Quantization and bit packing: every available level against the scalar
 * reference, bit for bit, plus properties of the reference itself. Inputs sit
 * right before a PROT_NONE page, so a kernel reading past its input faults even
 * without ASan (and under qemu); outputs carry guard bytes checked after each call. */
#include <float.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coinfer/codec.h"
#include "harness.h"

#define GUARD 64
#define GUARD_BYTE 0xA5

/* Buffer of `bytes` ending exactly at an inaccessible page. */
struct fenced {
	uint8_t *base;
	size_t len;
	void *p;
};

static void *fence_alloc(struct fenced *f, size_t bytes)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (bytes + pg - 1) / pg * pg;
	f->len = body + pg;
	f->base = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->base == MAP_FAILED || mprotect(f->base + body, pg, PROT_NONE)) {
		fprintf(stderr, "mmap failed\n");
		exit(99);
	}
	f->p = f->base + body - bytes;
	return f->p;
}

static void fence_free(struct fenced *f)
{
	munmap(f->base, f->len);
}

static void *guarded(size_t bytes)
{
	uint8_t *p = th_alloc(bytes + GUARD);
	memset(p, GUARD_BYTE, bytes + GUARD);
	return p;
}

static int guard_ok(const void *p, size_t bytes)
{
	const uint8_t *g = (const uint8_t *)p + bytes;
	for (size_t i = 0; i < GUARD; i++)
		if (g[i] != GUARD_BYTE)
			return 0;
	return 1;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd32(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static const size_t sizes[] = {0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49,
			       63, 64, 65, 95, 96, 97, 129, 255, 1001};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_pack(const struct cc_kernels *ref, const struct cc_kernels *k)
{
	for (int bits = CC_BITS_MIN; bits <= CC_BITS_MAX; bits++) {
		uint16_t mask = (uint16_t)((1u << bits) - 1);
		for (size_t si = 0; si < NSIZES; si++) {
			size_t n = sizes[si], nb = cc_packed_bytes(n, bits);
			struct fenced fq, fin;
			uint16_t *q = fence_alloc(&fq, n * 2);
			for (size_t i = 0; i < n; i++)
				q[i] = (uint16_t)rnd32(); /* high garbage: pack must mask */
			if (n && (n & 1))
				q[0] = mask; /* an all-ones symbol on both sides of a byte */
			uint8_t *a = guarded(nb), *b = guarded(nb);
			ref->pack(q, n, bits, a);
			k->pack(q, n, bits, b);
			TH_CHECK(!memcmp(a, b, nb), "%s pack bits=%d n=%zu", k->name, bits, n);
			TH_CHECK(guard_ok(b, nb), "%s pack overrun bits=%d n=%zu", k->name, bits, n);
			if (nb && (n * bits) % 8)
				TH_CHECK(!(a[nb - 1] >> ((n * bits) % 8)), "padding bits=%d n=%zu",
					 bits, n);

			uint8_t *in = fence_alloc(&fin, nb);
			memcpy(in, a, nb);
			uint16_t *u = guarded(n * 2), *v = guarded(n * 2);
			ref->unpack(in, n, bits, u);
			k->unpack(in, n, bits, v);
			TH_CHECK(!memcmp(u, v, n * 2), "%s unpack bits=%d n=%zu", k->name, bits, n);
			TH_CHECK(guard_ok(v, n * 2), "%s unpack overrun bits=%d n=%zu", k->name, bits,
				 n);
			int rt = 1;
			for (size_t i = 0; i < n; i++)
				rt &= u[i] == (q[i] & mask);
			TH_CHECK(rt, "unpack(pack(q)) != q bits=%d n=%zu", bits, n);
			/* unpack masks: a stream of all ones gives all-ones symbols */
			memset(in, 0xFF, nb);
			k->unpack(in, n, bits, v);
			rt = 1;
			for (size_t i = 0; i < n; i++)
				rt &= v[i] == mask;
			TH_CHECK(rt, "%s unpack of ones bits=%d n=%zu", k->name, bits, n);
			free(u);
			free(v);
			free(a);
			free(b);
			fence_free(&fin);
			fence_free(&fq);
		}
	}
}

enum { D_RAND, D_SHIFTED, D_CONST, D_HUGE, D_SUBNORMAL, D_MIXSUB, D_NANINF, D_ALLNAN, D_COUNT };

static void fill(float *x, size_t n, int kind, uint64_t seed)
{
	th_fill(x, n, seed);
	for (size_t i = 0; i < n; i++) {
		switch (kind) {
		case D_SHIFTED:
			x[i] = x[i] * 3.0f - 7.0f; /* all negative */
			break;
		case D_CONST:
			x[i] = 0.375f;
			break;
		case D_HUGE:
			x[i] *= 1e30f;
			if (i % 11 == 3)
				x[i] = (i & 1) ? 1e30f : -1e30f;
			break;
		case D_SUBNORMAL:
			x[i] *= 1e-39f;
			break;
		case D_MIXSUB:
			if (i % 3 == 1)
				x[i] *= 1e-40f;
			if (i % 7 == 2)
				x[i] = (i & 8) ? -0.0f : 0.0f;
			break;
		case D_NANINF:
			if (i % 5 == 1)
				x[i] = NAN;
			if (i % 13 == 4)
				x[i] = (i & 2) ? INFINITY : -INFINITY;
			break;
		case D_ALLNAN:
			x[i] = (i % 4 == 3) ? INFINITY : NAN;
			break;
		}
	}
}

struct shape {
	size_t c, p;
};

static const struct shape shapes[] = {
	{0, 5}, {1, 0}, {1, 1}, {1, 2}, {1, 7}, {1, 15}, {1, 16}, {1, 17}, {1, 31}, {1, 33},
	{1, 63}, {1, 65}, {3, 1}, {3, 7}, {3, 16}, {3, 64}, {64, 1}, {64, 7}, {64, 16}, {1, 1001},
	{64, 64},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static int same_bits(const void *a, const void *b, size_t bytes)
{
	return bytes == 0 || !memcmp(a, b, bytes);
}

/* Reference properties, checked on the scalar level only (others equal it). */
static void check_props(const float *x, size_t groups, size_t len, const float *mn,
			const float *mx, int bits, const uint16_t *q, const float *y, int kind)
{
	uint32_t lv = (1u << bits) - 1;
	for (size_t g = 0; g < groups; g++) {
		float m = mn[g], M = mx[g];
		TH_CHECK(m == m && M == M && m <= M && fabsf(m) <= FLT_MAX && fabsf(M) <= FLT_MAX,
			 "minmax params %g %g", m, M);
		float r = M - m, s = (float)lv / r;
		int degen = !(M > m) || !(r <= FLT_MAX) || !(s <= FLT_MAX);
		float step = degen ? 0.0f : r / (float)lv;
		double tol = degen ? (double)r : step * 0.5 * (1 + 1e-3) + 1e-6 * fmax(fabs(m), fabs(M));
		int bad_mn = 0, bad_mx = 0, ok = 1, nanok = 1;
		for (size_t i = 0; i < len; i++) {
			float v = x[g * len + i];
			uint16_t s16 = q[g * len + i];
			if (v != v) {
				nanok &= s16 == 0;
				continue;
			}
			if (v == INFINITY)
				nanok &= degen ? s16 == 0 : s16 == lv;
			if (v == -INFINITY)
				nanok &= s16 == 0;
			if (!(fabsf(v) <= FLT_MAX))
				continue;
			if (!degen && v == m && s16 != 0)
				bad_mn = 1;
			if (!degen && v == M && s16 != lv)
				bad_mx = 1;
			ok &= fabs((double)y[g * len + i] - v) <= tol;
		}
		TH_CHECK(ok, "dequantize(quantize(x)) off by more than step/2 (kind %d bits %d)", kind,
			 bits);
		TH_CHECK(nanok, "NaN/inf symbols (kind %d bits %d)", kind, bits);
		TH_CHECK(!bad_mn && !bad_mx, "mn -> 0 / mx -> L violated (kind %d bits %d)", kind,
			 bits);
	}
}

static void test_quant(const struct cc_kernels *ref, const struct cc_kernels *k)
{
	int props = k == ref;
	for (size_t si = 0; si < NSHAPES; si++) {
		size_t c = shapes[si].c, p = shapes[si].p, n = c * p;
		for (int kind = 0; kind < D_COUNT; kind++) {
			struct fenced fx, fq;
			float *x = fence_alloc(&fx, n * 4);
			fill(x, n, kind, si * 31 + (uint64_t)kind);
			uint16_t *qin = fence_alloc(&fq, n * 2);
			for (int per = 0; per < 2; per++) {
				size_t groups = per ? c : 1, len = per ? p : n;
				float *mn0 = guarded(groups * 4), *mx0 = guarded(groups * 4);
				float *mn1 = guarded(groups * 4), *mx1 = guarded(groups * 4);
				ref->minmax(x, c, p, per, mn0, mx0);
				k->minmax(x, c, p, per, mn1, mx1);
				TH_CHECK(same_bits(mn0, mn1, groups * 4) && same_bits(mx0, mx1, groups * 4),
					 "%s minmax c=%zu p=%zu per=%d kind=%d", k->name, c, p, per, kind);
				TH_CHECK(guard_ok(mn1, groups * 4) && guard_ok(mx1, groups * 4),
					 "%s minmax overrun", k->name);
				if (kind == D_ALLNAN && groups)
					TH_CHECK(mn0[0] == 0 && mx0[0] == 0, "all-NaN minmax");
				for (int bits = CC_BITS_MIN; bits <= CC_BITS_MAX; bits++) {
					/* Sizes above a few hundred only at the policy's widths:
					 * qemu time, and the vector paths are what is at stake. */
					if (n > 300 && bits % 4 && bits != 2 && bits != 7)
						continue;
					uint16_t *q0 = guarded(n * 2), *q1 = guarded(n * 2);
					ref->quantize(x, c, p, per, mn0, mx0, bits, q0);
					k->quantize(x, c, p, per, mn0, mx0, bits, q1);
					TH_CHECK(same_bits(q0, q1, n * 2),
						 "%s quantize c=%zu p=%zu per=%d kind=%d bits=%d",
						 k->name, c, p, per, kind, bits);
					TH_CHECK(guard_ok(q1, n * 2), "%s quantize overrun", k->name);
					memcpy(qin, q0, n * 2);
					float *y0 = guarded(n * 4), *y1 = guarded(n * 4);
					ref->dequantize(qin, c, p, per, mn0, mx0, bits, y0);
					k->dequantize(qin, c, p, per, mn0, mx0, bits, y1);
					TH_CHECK(same_bits(y0, y1, n * 4),
						 "%s dequantize c=%zu p=%zu per=%d kind=%d bits=%d",
						 k->name, c, p, per, kind, bits);
					TH_CHECK(guard_ok(y1, n * 4), "%s dequantize overrun", k->name);
					if (props)
						check_props(x, groups, len, mn0, mx0, bits, q0, y0, kind);
					free(q0);
					free(q1);
					free(y0);
					free(y1);
				}
				free(mn0);
				free(mx0);
				free(mn1);
				free(mx1);
			}
			fence_free(&fq);
			fence_free(&fx);
		}
	}
}

/* Caller-given pairs the minmax never produces: reversed, equal, NaN, a range
 * overflowing float, values outside the range, full-scale symbols. */
static void test_odd_params(const struct cc_kernels *ref, const struct cc_kernels *k)
{
	static const float pairs[][2] = {
		{1, -1}, {2, 2}, {NAN, 1}, {0, NAN}, {-FLT_MAX, FLT_MAX}, {-INFINITY, 0},
		{-0.5f, 0.25f}, {1e-45f, 3e-45f}, {-3e38f, 3e38f}, {0, 1e-30f},
	};
	size_t n = 67;
	float x[67];
	uint16_t qs[67];
	fill(x, n, D_NANINF, 5);
	x[3] = 4.0f;
	x[4] = -4.0f;
	for (size_t i = 0; i < n; i++)
		qs[i] = (uint16_t)(i * 977);
	for (size_t pi = 0; pi < sizeof pairs / sizeof pairs[0]; pi++) {
		float mn = pairs[pi][0], mx = pairs[pi][1];
		for (int bits = CC_BITS_MIN; bits <= CC_BITS_MAX; bits++) {
			uint16_t q0[67], q1[67], qm[67];
			float y0[67], y1[67];
			ref->quantize(x, 1, n, 0, &mn, &mx, bits, q0);
			k->quantize(x, 1, n, 0, &mn, &mx, bits, q1);
			TH_CHECK(!memcmp(q0, q1, sizeof q0), "%s quantize pair %zu bits %d", k->name, pi,
				 bits);
			for (size_t i = 0; i < n; i++)
				qm[i] = (uint16_t)(qs[i] & ((1u << bits) - 1));
			ref->dequantize(qm, 1, n, 0, &mn, &mx, bits, y0);
			k->dequantize(qm, 1, n, 0, &mn, &mx, bits, y1);
			TH_CHECK(!memcmp(y0, y1, sizeof y0), "%s dequantize pair %zu bits %d", k->name,
				 pi, bits);
			int finite = fabsf(mn) <= FLT_MAX && fabsf(mx) <= FLT_MAX, ok = 1;
			for (size_t i = 0; i < n && finite; i++)
				ok &= y0[i] == y0[i]; /* never NaN from finite parameters */
			TH_CHECK(ok, "NaN output from finite pair %zu bits %d", pi, bits);
		}
	}
}

int main(void)
{
	const struct cc_kernels *ref = cc_kernels_for(CC_ISA_SCALAR);
	TH_CHECK(ref && cc_kernels() && cc_kernels()->name, "dispatch");
	if (!ref)
		return th_finish("test-quant");
	printf("default level: %s\n", cc_kernels()->name);
	for (int isa = 0; isa < CC_ISA_COUNT; isa++) {
		const struct cc_kernels *k = cc_kernels_for((enum cc_isa)isa);
		if (!k) {
			printf("level %d: not available\n", isa);
			continue;
		}
		TH_CHECK(k->isa == (enum cc_isa)isa, "table isa");
		int before = th_failures;
		test_pack(ref, k);
		test_quant(ref, k);
		test_odd_params(ref, k);
		printf("level %s: %s\n", k->name, th_failures == before ? "ok" : "FAILED");
	}
	return th_finish("test-quant");
}
