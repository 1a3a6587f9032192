/* Canaries the packed-weight kernel tests (conv, fc, attn) put after every buffer a
 * kernel writes, to catch writes past the sizes it reports; and the poison they
 * fill those buffers with, so that an element never written, or workspace read
 * before it is written, shows as NaN. */
#ifndef TESTS_KERNELS_CANARY_H
#define TESTS_KERNELS_CANARY_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#define TH_CANARY_BYTE 0xA5

static inline void set_canary(void *p, size_t bytes)
{
	memset(p, TH_CANARY_BYTE, bytes);
}

static inline int canary_ok(const void *p, size_t bytes)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < bytes; i++)
		if (c[i] != TH_CANARY_BYTE)
			return 0;
	return 1;
}

/* Before a run: workspace (wsb bytes) as NaN bit patterns, output (count floats) as
 * NaN, canaries after both (256 bytes and cfloats floats: the test's allocations). */
static inline void poison_run(unsigned char *ws, size_t wsb, float *out, size_t count,
			      size_t cfloats)
{
	memset(ws, 0xff, wsb);
	set_canary(ws + wsb, 256);
	for (size_t i = 0; i < count; i++)
		out[i] = NAN;
	set_canary(out + count, cfloats * sizeof(float));
}

#endif
