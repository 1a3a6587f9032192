/* include/coinfer/cpu.h: the features it detects are the CPU's, a level needs
 * all of its own, and both dispatchers (kernels, codec) pick a level this CPU
 * runs, the same one, with or without COINFER_ISA. Criterion runs each test in a
 * process of its own, so each makes the once-per-process choice afresh. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/codec.h"
#include "coinfer/cpu.h"
#include "coinfer/kernels.h"

/* 1 when the kernel lists flag among the CPU's in /proc/cpuinfo (a source other
 * than the CPUID and __builtin_cpu_supports calls under test), 0 when it does
 * not, -1 when there is no flags line to read. */
static int cpuinfo_has(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	int found = -1;
	while (f && found < 0 && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *save = NULL;
		if (strncmp(line, "flags", 5) || !colon)
			continue;
		found = 0;
		for (char *tok = strtok_r(colon + 1, " \n", &save); tok && !found;
		     tok = strtok_r(NULL, " \n", &save))
			found = !strcmp(tok, flag);
	}
	if (f)
		fclose(f);
	return found;
}

Test(cpu, features_are_the_cpus)
{
	struct cf_cpu_features f = cf_cpu_features();
#if defined(__x86_64__) || defined(__i386__)
	static const struct {
		const char *flag;
		size_t at;
	} flags[] = {
		{"avx2", offsetof(struct cf_cpu_features, avx2)},
		{"fma", offsetof(struct cf_cpu_features, fma)},
		{"f16c", offsetof(struct cf_cpu_features, f16c)},
		{"avx512f", offsetof(struct cf_cpu_features, avx512f)},
		{"avx512bw", offsetof(struct cf_cpu_features, avx512bw)},
		{"avx512dq", offsetof(struct cf_cpu_features, avx512dq)},
		{"avx512vl", offsetof(struct cf_cpu_features, avx512vl)},
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		int want = cpuinfo_has(flags[i].flag);
		if (want < 0)
			cr_skip_test("no flags line in /proc/cpuinfo");
		cr_expect_eq(((unsigned char *)&f)[flags[i].at], want, "%s", flags[i].flag);
	}
	cr_expect_eq(f.neon, 0);
	cr_expect_not(cf_cpu_has(CF_ISA_NEON));
#elif defined(__aarch64__)
	cr_expect_eq(f.neon, 1);
	cr_expect(cf_cpu_has(CF_ISA_NEON));
	cr_expect_not(cf_cpu_has(CF_ISA_AVX2));
#endif
	int avx2 = f.avx2 && f.fma && f.f16c;
	cr_expect(cf_cpu_has(CF_ISA_SCALAR));
	cr_expect_eq(cf_cpu_has(CF_ISA_AVX2), avx2);
	cr_expect_eq(cf_cpu_has(CF_ISA_AVX512),
		     avx2 && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl);
	cr_expect_not(cf_cpu_has(CF_ISA_COUNT));
}

Test(cpu, names_round_trip)
{
	for (int i = 0; i < CF_ISA_COUNT; i++) {
		enum cf_isa isa = CF_ISA_COUNT;
		cr_expect_eq(cf_isa_parse(cf_isa_name((enum cf_isa)i), &isa), 0);
		cr_expect_eq(isa, (enum cf_isa)i);
		cr_expect_str_eq(ck_isa_name((enum ck_isa)i), cf_isa_name((enum cf_isa)i));
	}
	enum cf_isa isa;
	cr_expect_eq(cf_isa_parse("avx", &isa), -EINVAL);
	cr_expect_eq(cf_isa_parse(NULL, &isa), -EINVAL);
	cr_expect_str_eq(cf_isa_name(CF_ISA_COUNT), "unknown");
}

/* A dispatcher offers a level only where the CPU runs it. */
Test(cpu, levels_offered_are_levels_the_cpu_has)
{
	for (int i = 0; i < CF_ISA_COUNT; i++) {
		if (ck_kernels_for((enum ck_isa)i))
			cr_expect(cf_cpu_has((enum cf_isa)i), "kernels offer %s", cf_isa_name(i));
		if (cc_kernels_for((enum cc_isa)i))
			cr_expect(cf_cpu_has((enum cf_isa)i), "codec offers %s", cf_isa_name(i));
	}
	cr_expect_not_null(ck_kernels_for(CK_ISA_SCALAR));
	cr_expect_not_null(cc_kernels_for(CC_ISA_SCALAR));
}

/* Unforced, each picks the best level it offers: one the CPU has. */
Test(cpu, unforced_choice_is_the_best_the_cpu_has)
{
	unsetenv("COINFER_ISA");
	const struct ck_kernels *k = ck_kernels();
	const struct cc_kernels *c = cc_kernels();
	cr_assert(k && c);
	cr_expect(cf_cpu_has((enum cf_isa)k->isa), "kernels chose %s", k->name);
	cr_expect(cf_cpu_has((enum cf_isa)c->isa), "codec chose %s", c->name);
	for (int i = k->isa + 1; i < CF_ISA_COUNT; i++)
		cr_expect_null(ck_kernels_for((enum ck_isa)i), "kernels skipped %s",
			       cf_isa_name(i));
	for (int i = c->isa + 1; i < CF_ISA_COUNT; i++)
		cr_expect_null(cc_kernels_for((enum cc_isa)i), "codec skipped %s", cf_isa_name(i));
}

Test(cpu, forced_scalar_is_honoured_by_both)
{
	setenv("COINFER_ISA", "scalar", 1);
	cr_expect_eq(ck_kernels()->isa, CK_ISA_SCALAR);
	cr_expect_eq(cc_kernels()->isa, CC_ISA_SCALAR);
}

/* A level this build or CPU lacks is refused: both keep their best. */
Test(cpu, forced_missing_level_keeps_the_best)
{
	int missing = -1;
	for (int i = CF_ISA_COUNT - 1; i > 0 && missing < 0; i--)
		if (!ck_kernels_for((enum ck_isa)i) && !cc_kernels_for((enum cc_isa)i))
			missing = i;
	cr_assert_geq(missing, 0, "every level is here: nothing to refuse");
	setenv("COINFER_ISA", cf_isa_name((enum cf_isa)missing), 1);
	const struct ck_kernels *k = ck_kernels();
	const struct cc_kernels *c = cc_kernels();
	cr_expect_neq((int)k->isa, missing);
	cr_expect_neq((int)c->isa, missing);
	cr_expect(cf_cpu_has((enum cf_isa)k->isa) && cf_cpu_has((enum cf_isa)c->isa));
}
