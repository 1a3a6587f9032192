/* Run-time ISA choice for the codec. codec/ stands alone (it is linked into the
 * uplink tools without the inference kernels), so it repeats the small detection
 * of kernels/dispatch.c instead of sharing it: the best level this CPU and build
 * support is chosen once; COINFER_ISA forces a level for tests and benches. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant-internal.h"

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

static const char *const names[CC_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

static int cpu_has(enum cc_isa isa)
{
	switch (isa) {
	case CC_ISA_SCALAR:
		return 1;
#if defined(__x86_64__) || defined(__i386__)
	case CC_ISA_AVX2:
		__builtin_cpu_init();
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case CC_ISA_AVX512:
		__builtin_cpu_init();
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
#if defined(__aarch64__)
	case CC_ISA_NEON:
		return 1; /* Advanced SIMD is mandatory in ARMv8-A */
#endif
	default:
		return 0;
	}
}

const struct cc_kernels *cc_kernels_for(enum cc_isa isa)
{
	if ((unsigned)isa >= CC_ISA_COUNT || !tables[isa].name || !cpu_has(isa))
		return NULL;
	return &tables[isa];
}

static const struct cc_kernels *chosen;

static void choose(void)
{
	for (int i = CC_ISA_COUNT - 1; i >= 0 && !chosen; i--)
		chosen = cc_kernels_for((enum cc_isa)i);
	const char *env = getenv("COINFER_ISA");
	if (env && *env) {
		const struct cc_kernels *t = NULL;
		for (int i = 0; i < CC_ISA_COUNT; i++)
			if (!strcmp(env, names[i]))
				t = cc_kernels_for((enum cc_isa)i);
		if (t)
			chosen = t;
		else
			fprintf(stderr, "coinfer: COINFER_ISA=%s is not available here; using %s\n",
				env, chosen->name);
	}
}

const struct cc_kernels *cc_kernels(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, choose);
	return chosen;
}
