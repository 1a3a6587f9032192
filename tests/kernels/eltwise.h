/* The sweep the elementwise kernel tests (relu, add) share: every ISA this build
 * and CPU run, each count 0..130 (every vector width and its 4x unrolled tile, and
 * each +-1) with a rotating misalignment, then large and odd counts. compare()
 * checks one (ISA, count) against the scalar reference. */
#ifndef TESTS_KERNELS_ELTWISE_H
#define TESTS_KERNELS_ELTWISE_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/kernels.h"

typedef void th_eltwise_compare(const struct ck_kernels *k, size_t count, size_t misalign,
				uint64_t seed);

static inline void th_eltwise_sweep(th_eltwise_compare *compare)
{
	static const size_t big[] = {255, 256, 257, 1000, 4099, 65536 + 63};
	for (int isa = 0; isa < CK_ISA_COUNT; isa++) {
		const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
		if (!k)
			continue;
		for (size_t count = 0; count <= 130; count++)
			compare(k, count, count % 3, count);
		for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
			compare(k, big[i], i % 2, 1000 + i);
	}
}

#endif
