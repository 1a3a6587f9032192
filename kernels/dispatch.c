/* Run-time ISA dispatch: the best level this CPU and build support is chosen once
 * (first call of ck_kernels()); COINFER_ISA forces a level for tests and benches. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CK_TABLE(isa_enum, sfx, label)                                                    \
	{                                                                                 \
		.isa = isa_enum, .name = label,                                           \
		.conv_packed_floats = ck_conv_packed_floats__##sfx,                       \
		.conv_pack = ck_conv_pack__##sfx,                                         \
		.conv_workspace_bytes = ck_conv_workspace_bytes__##sfx,                   \
		.conv_run = ck_conv_run__##sfx,                                           \
		.fc_packed_floats = ck_fc_packed_floats__##sfx, .fc_pack = ck_fc_pack__##sfx, \
		.fc_workspace_bytes = ck_fc_workspace_bytes__##sfx,                       \
		.fc_run = ck_fc_run__##sfx, .relu = ck_relu__##sfx,                       \
		.maxpool = ck_maxpool__##sfx, .avgpool = ck_avgpool__##sfx,               \
		.lrn = ck_lrn__##sfx, .softmax = ck_softmax__##sfx,                       \
		.softmax_entropy = ck_softmax_entropy__##sfx,                             \
	}

static const struct ck_kernels tables[CK_ISA_COUNT] = {
	[CK_ISA_SCALAR] = CK_TABLE(CK_ISA_SCALAR, scalar, "scalar"),
#ifdef CK_HAVE_AVX2
	[CK_ISA_AVX2] = CK_TABLE(CK_ISA_AVX2, avx2, "avx2"),
#endif
#ifdef CK_HAVE_AVX512
	[CK_ISA_AVX512] = CK_TABLE(CK_ISA_AVX512, avx512, "avx512"),
#endif
#ifdef CK_HAVE_NEON
	[CK_ISA_NEON] = CK_TABLE(CK_ISA_NEON, neon, "neon"),
#endif
};

static const char *const names[CK_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

const char *ck_isa_name(enum ck_isa isa)
{
	return (unsigned)isa < CK_ISA_COUNT ? names[isa] : "unknown";
}

int ck_isa_parse(const char *s, enum ck_isa *out)
{
	for (int i = 0; i < CK_ISA_COUNT; i++) {
		if (s && !strcmp(s, names[i])) {
			*out = (enum ck_isa)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int cpu_has(enum ck_isa isa)
{
	switch (isa) {
	case CK_ISA_SCALAR:
		return 1;
#if defined(__x86_64__) || defined(__i386__)
	case CK_ISA_AVX2:
		__builtin_cpu_init();
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case CK_ISA_AVX512:
		__builtin_cpu_init();
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
#if defined(__aarch64__)
	case CK_ISA_NEON:
		return 1; /* Advanced SIMD is mandatory in ARMv8-A */
#endif
	default:
		return 0;
	}
}

const struct ck_kernels *ck_kernels_for(enum ck_isa isa)
{
	if ((unsigned)isa >= CK_ISA_COUNT || !tables[isa].name || !cpu_has(isa))
		return NULL;
	return &tables[isa];
}

static const struct ck_kernels *chosen;

static void choose(void)
{
	for (int i = CK_ISA_COUNT - 1; i >= 0 && !chosen; i--)
		chosen = ck_kernels_for((enum ck_isa)i);
	const char *env = getenv("COINFER_ISA");
	if (env && *env) {
		enum ck_isa want;
		const struct ck_kernels *t = NULL;
		if (!ck_isa_parse(env, &want))
			t = ck_kernels_for(want);
		if (t)
			chosen = t;
		else
			fprintf(stderr, "coinfer: COINFER_ISA=%s is not available here; using %s\n",
				env, chosen->name);
	}
}

const struct ck_kernels *ck_kernels(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, choose);
	return chosen;
}
