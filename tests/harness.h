/* A tiny harness for tests that must also run as plain programs under qemu-user
 * (the aarch64 suite), where criterion is not installed. A test exits 0 on pass,
 * 1 on failure, 77 to skip (meson's convention). */
#ifndef COINFER_TEST_HARNESS_H
#define COINFER_TEST_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int th_failures;
static int th_checks;

#define TH_CHECK(cond, ...)                                                            \
	do {                                                                           \
		th_checks++;                                                           \
		if (!(cond)) {                                                         \
			th_failures++;                                                 \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                  \
			fputc('\n', stderr);                                           \
		}                                                                      \
	} while (0)

static inline int th_finish(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, th_checks, th_failures);
	return th_failures ? 1 : 0;
}

/* Deterministic data: xorshift64*, uniform in [-1, 1). */
static inline float th_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	uint64_t r = *s * 2685821657736338717ull;
	return (float)((r >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static inline void th_fill(float *x, size_t n, uint64_t seed)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; i++)
		x[i] = th_rand(&s);
}

/* Normalised error: max |a-b| / max(max |ref|, tiny). The tolerance a kernel test
 * states is against this figure (ggml's approach: scale-free across shapes). */
static inline double th_nerr(const float *ref, const float *got, size_t n)
{
	double md = 0, mr = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)ref[i] - (double)got[i]);
		if (!(d <= md))
			md = d; /* NaN propagates as a failure */
		if (fabs(ref[i]) > mr)
			mr = fabs(ref[i]);
	}
	return md / (mr > 1e-30 ? mr : 1e-30);
}

static inline void *th_alloc(size_t bytes)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, bytes ? bytes : 64)) {
		fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
		exit(99);
	}
	return p;
}

#endif
