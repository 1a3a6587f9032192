/* libFuzzer target: the codec frame decoder on untrusted bytes. Like fuzz-model.c,
 * each input is decoded as it is, then once more with its payload-size field and
 * XXH64 trailer made consistent, so that mutations reach the field and payload
 * checks instead of stopping at the checksum. A frame that decodes is encoded
 * again with its own codec and decoded once more, which drives the encoder with
 * whatever values (NaN, inf, subnormals) the fuzzer produced. cc_frame_peek must
 * accept, and agree with, every frame cc_frame_info accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coinfer/codec-frame.h"

static const struct cc_limits lim = {1u << 20, 1u << 20};

static void decode(const uint8_t *data, size_t size)
{
	static void *scratch;
	struct cc_frame_info info, peek;
	char err[256];
	if (!scratch && !(scratch = malloc(cc_frame_scratch_max())))
		return;
	int peeked = cc_frame_peek(data, size, &lim, &peek, err, sizeof(err));
	if (cc_frame_info(data, size, &lim, &info, err, sizeof(err)))
		return;
	/* the header alone is a prefix of the checks: a valid frame passes it alike */
	if (peeked || peek.codec != info.codec || peek.bits != info.bits ||
	    peek.elems != info.elems || peek.pairs != info.pairs ||
	    peek.payload_bytes != info.payload_bytes)
		abort();
	float *out = malloc(info.elems * sizeof(float) + 4);
	if (!out)
		return;
	if (cc_frame_decode(data, size, &lim, out, info.elems, scratch, cc_frame_scratch_max(),
			    &info, err, sizeof(err)) == 0 &&
	    info.elems <= 4096) {
		size_t cap = cc_frame_bound(info.codec, info.ndim, info.dims, info.per_channel), len;
		uint8_t *f = malloc(cap);
		if (f && cc_frame_encode(out, info.ndim, info.dims, info.codec, info.bits,
					 info.per_channel, f, cap, &len, err, sizeof(err)) == 0 &&
		    cc_frame_decode(f, len, &lim, out, info.elems, scratch, cc_frame_scratch_max(),
				    NULL, err, sizeof(err)) != 0)
			abort(); /* our own frame must decode */
		free(f);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode(data, size);
	if (size < 56)
		return 0;
	uint8_t *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	uint64_t pairs = (uint64_t)copy[28] | (uint64_t)copy[29] << 8 | (uint64_t)copy[30] << 16 |
			 (uint64_t)copy[31] << 24;
	if (56 + 8 * pairs <= size) {
		uint64_t payload = size - 56 - 8 * pairs;
		for (int i = 0; i < 8; i++)
			copy[40 + i] = (uint8_t)(payload >> 8 * i);
	}
	uint64_t sum = XXH64(copy, size - 8, 0);
	for (int i = 0; i < 8; i++)
		copy[size - 8 + i] = (uint8_t)(sum >> 8 * i);
	decode(copy, size);
	free(copy);
	return 0;
}
