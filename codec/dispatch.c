/* Run-time ISA choice for the codec: the best level this CPU and build support is
 * chosen once; COINFER_ISA forces a level for tests and benches. codec/ stands
 * alone (it is linked into the uplink tools without the inference kernels): the
 * detection and the override it shares with kernels/ are header-only. */
#include <pthread.h>

#include "coinfer/cpu.h"
#include "quant-internal.h"

_Static_assert(CC_ISA_SCALAR == (int)CF_ISA_SCALAR && CC_ISA_AVX2 == (int)CF_ISA_AVX2 &&
		       CC_ISA_AVX512 == (int)CF_ISA_AVX512 && CC_ISA_NEON == (int)CF_ISA_NEON &&
		       CC_ISA_COUNT == (int)CF_ISA_COUNT,
	       "enum cc_isa numbers the levels as enum cf_isa");

#define CC_TABLE(isa_enum, sfx, label)                                                     \
	{                                                                                  \
		.isa = isa_enum, .name = label, .minmax = cc_minmax__##sfx,                \
		.quantize = cc_quantize__##sfx, .dequantize = cc_dequantize__##sfx,        \
		.pack = cc_pack__##sfx, .unpack = cc_unpack__##sfx,                        \
	}

static const struct cc_kernels tables[CC_ISA_COUNT] = {
	[CC_ISA_SCALAR] = CC_TABLE(CC_ISA_SCALAR, scalar, "scalar"),
#ifdef CC_HAVE_AVX2
	[CC_ISA_AVX2] = CC_TABLE(CC_ISA_AVX2, avx2, "avx2"),
#endif
#ifdef CC_HAVE_AVX512
	[CC_ISA_AVX512] = CC_TABLE(CC_ISA_AVX512, avx512, "avx512"),
#endif
#ifdef CC_HAVE_NEON
	[CC_ISA_NEON] = CC_TABLE(CC_ISA_NEON, neon, "neon"),
#endif
};

const struct cc_kernels *cc_kernels_for(enum cc_isa isa)
{
	if ((unsigned)isa >= CC_ISA_COUNT || !tables[isa].name || !cf_cpu_has((enum cf_isa)isa))
		return NULL;
	return &tables[isa];
}

static int usable(enum cf_isa isa)
{
	return cc_kernels_for((enum cc_isa)isa) != NULL;
}

static const struct cc_kernels *chosen;

static void choose(void)
{
	chosen = &tables[cf_isa_choose(usable)];
}

const struct cc_kernels *cc_kernels(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, choose);
	return chosen;
}
