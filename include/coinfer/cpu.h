/* Which SIMD levels this CPU runs, and which one a dispatcher uses. kernels/ and
 * codec/ each compile every level into a library of its own with the level's -m
 * flags and pick one table once, at first use; both ask here so that they agree
 * on what a level needs and on how COINFER_ISA forces one. Header-only because
 * codec/ stands alone (the uplink tools link it without the kernels). */
#ifndef COINFER_CPU_H
#define COINFER_CPU_H

#include <errno.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The levels, numbered as enum ck_isa and enum cc_isa are. */
enum cf_isa {
	CF_ISA_SCALAR = 0,
	CF_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
	CF_ISA_AVX512 = 2, /* AVX-512 F/BW/DQ/VL, and the AVX2 level's */
	CF_ISA_NEON = 3,   /* aarch64 Advanced SIMD */
	CF_ISA_COUNT
};

struct cf_cpu_features {
	unsigned char avx2, fma, f16c;
	unsigned char avx512f, avx512bw, avx512dq, avx512vl;
	unsigned char neon;
};

static inline struct cf_cpu_features cf_cpu_features(void)
{
	struct cf_cpu_features f;
	memset(&f, 0, sizeof(f));
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init(); /* needed when called before constructors ran */
	f.avx2 = !!__builtin_cpu_supports("avx2");
	f.fma = !!__builtin_cpu_supports("fma");
	/* clang 14 (Debian 12's, which builds the fuzz targets) has no "f16c" for
	 * __builtin_cpu_supports, so ask CPUID leaf 1 (ECX bit 29) directly. */
	unsigned a, b, c, d;
	f.f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
	f.avx512f = !!__builtin_cpu_supports("avx512f");
	f.avx512bw = !!__builtin_cpu_supports("avx512bw");
	f.avx512dq = !!__builtin_cpu_supports("avx512dq");
	f.avx512vl = !!__builtin_cpu_supports("avx512vl");
#endif
#if defined(__aarch64__)
	f.neon = 1; /* Advanced SIMD is mandatory in ARMv8-A */
#endif
	return f;
}

/* The CPU has every feature a level's code may use: the flags it is compiled
 * with (kernels/meson.build, codec/meson.build). AVX-512 code is also built with
 * the AVX2 level's flags. */
static inline int cf_cpu_has(enum cf_isa isa)
{
	struct cf_cpu_features f = cf_cpu_features();
	int avx2 = f.avx2 && f.fma && f.f16c;
	switch (isa) {
	case CF_ISA_SCALAR:
		return 1;
	case CF_ISA_AVX2:
		return avx2;
	case CF_ISA_AVX512:
		return avx2 && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl;
	case CF_ISA_NEON:
		return f.neon;
	default:
		return 0;
	}
}

static inline const char *cf_isa_name(enum cf_isa isa)
{
	static const char *const names[CF_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};
	return (unsigned)isa < CF_ISA_COUNT ? names[isa] : "unknown";
}

/* 0 and *out for a level's name, else -EINVAL */
static inline int cf_isa_parse(const char *s, enum cf_isa *out)
{
	for (int i = 0; i < CF_ISA_COUNT; i++) {
		if (s && !strcmp(s, cf_isa_name((enum cf_isa)i))) {
			*out = (enum cf_isa)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* The level a dispatcher uses, given which ones it can run (built and on this
 * CPU; scalar always): the best, unless COINFER_ISA names a usable one. A forced
 * level it cannot use is reported on stderr and the best kept, so a script that
 * forces one still runs on machines without it. */
static inline enum cf_isa cf_isa_choose(int (*usable)(enum cf_isa isa))
{
	enum cf_isa best = CF_ISA_SCALAR, want;
	for (int i = CF_ISA_COUNT - 1; i > CF_ISA_SCALAR && best == CF_ISA_SCALAR; i--)
		if (usable((enum cf_isa)i))
			best = (enum cf_isa)i;
	const char *env = getenv("COINFER_ISA");
	if (!env || !*env)
		return best;
	if (!cf_isa_parse(env, &want) && usable(want))
		return want;
	fprintf(stderr, "coinfer: COINFER_ISA=%s is not available here; using %s\n", env,
		cf_isa_name(best));
	return best;
}

#endif
