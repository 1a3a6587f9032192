/* Run-time ISA dispatch: the best level this CPU and build support is chosen once
 * (first call of ck_kernels()); COINFER_ISA forces a level for tests and benches.
 * The CPU half and the override are coinfer/cpu.h's, shared with codec/. */
#include <pthread.h>

#include "coinfer/cpu.h"
#include "internal.h"

_Static_assert(CK_ISA_SCALAR == (int)CF_ISA_SCALAR && CK_ISA_AVX2 == (int)CF_ISA_AVX2 &&
		       CK_ISA_AVX512 == (int)CF_ISA_AVX512 && CK_ISA_NEON == (int)CF_ISA_NEON &&
		       CK_ISA_COUNT == (int)CF_ISA_COUNT,
	       "enum ck_isa numbers the levels as enum cf_isa");

#define CK_TABLE(isa_enum, sfx, label)                                                    \
	{                                                                                 \
		.isa = isa_enum, .name = label,                                           \
		.conv_packed_floats = ck_conv_packed_floats__##sfx,                       \
		.conv_pack = ck_conv_pack__##sfx,                                         \
		.conv_workspace_bytes = ck_conv_workspace_bytes__##sfx,                   \
		.conv_run = ck_conv_run__##sfx,                                           \
		.fc_packed_floats = ck_fc_packed_floats__##sfx, .fc_pack = ck_fc_pack__##sfx, \
		.fc_workspace_bytes = ck_fc_workspace_bytes__##sfx,                       \
		.fc_run = ck_fc_run__##sfx,                                               \
		.attn_packed_floats = ck_attn_packed_floats__##sfx,                       \
		.attn_pack = ck_attn_pack__##sfx,                                         \
		.attn_workspace_bytes = ck_attn_workspace_bytes__##sfx,                   \
		.attn_run = ck_attn_run__##sfx, .relu = ck_relu__##sfx,                   \
		.add = ck_add__##sfx,                                                     \
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

const char *ck_isa_name(enum ck_isa isa)
{
	return cf_isa_name((enum cf_isa)isa);
}

int ck_isa_parse(const char *s, enum ck_isa *out)
{
	enum cf_isa isa;
	int ret = cf_isa_parse(s, &isa);
	if (!ret)
		*out = (enum ck_isa)isa;
	return ret;
}

const struct ck_kernels *ck_kernels_for(enum ck_isa isa)
{
	if ((unsigned)isa >= CK_ISA_COUNT || !tables[isa].name || !cf_cpu_has((enum cf_isa)isa))
		return NULL;
	return &tables[isa];
}

static int usable(enum cf_isa isa)
{
	return ck_kernels_for((enum ck_isa)isa) != NULL;
}

static const struct ck_kernels *chosen;

static void choose(void)
{
	chosen = &tables[cf_isa_choose(usable)];
}

const struct ck_kernels *ck_kernels(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, choose);
	return chosen;
}
