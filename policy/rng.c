/* xoshiro256** (Blackman and Vigna), seeded through splitmix64 so that nearby
 * seeds give unrelated streams and the all-zero state cannot occur. */
#include <errno.h>
#include <math.h>

#include "coinfer/policy-nn.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void pol_rng_seed(struct pol_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
	r->spare = 0;
	r->has_spare = 0;
}

uint64_t pol_rng_next(struct pol_rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Lemire's multiply-and-reject: unbiased without a division in the common case. */
uint32_t pol_rng_below(struct pol_rng *r, uint32_t n)
{
	uint64_t m = (pol_rng_next(r) >> 32) * n;
	if ((uint32_t)m < n) {
		uint32_t floor = (uint32_t)(-n) % n;
		while ((uint32_t)m < floor)
			m = (pol_rng_next(r) >> 32) * n;
	}
	return (uint32_t)(m >> 32);
}

float pol_rng_uniform(struct pol_rng *r)
{
	return (float)(pol_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

float pol_rng_normal(struct pol_rng *r)
{
	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	/* u1 in (0, 1]: log(u1) is finite */
	double u1 = ((pol_rng_next(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
	double u2 = (pol_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
	double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
	r->spare = (float)(rad * sin(th));
	r->has_spare = 1;
	return (float)(rad * cos(th));
}

int pol_rng_categorical(struct pol_rng *r, const float *p, int n, int *out)
{
	double total = 0;
	int last = -1;
	for (int i = 0; i < n; i++)
		if (p[i] > 0) {
			total += p[i];
			last = i;
		}
	if (last < 0 || !(total < INFINITY))
		return -EINVAL;
	double u = (pol_rng_next(r) >> 11) * (1.0 / 9007199254740992.0) * total, c = 0;
	for (int i = 0; i < n; i++)
		if (p[i] > 0) {
			c += p[i];
			if (u < c) {
				*out = i;
				return 0;
			}
		}
	*out = last; /* u landed in the rounding gap at the top */
	return 0;
}
