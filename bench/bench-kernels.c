/* coinfer-bench-kernels: single-thread throughput of the conv and fc kernels on the
 * model's layer shapes, against the measured FMA peak of this core and, when built
 * with oneDNN, against oneDNN on the same shapes; and of the self-attention kernel on
 * the learned codec's decoder shapes. Prints one JSON document.
 *
 * Timing: each measurement runs rounds of back-to-back calls (a round lasts >= ~2 ms
 * so clock reads do not distort microsecond calls) until >= --min-time seconds have
 * passed; "gflops" is from the best round, "gflops_median" from the median round.
 * Best-of is the figure to compare: on a shared machine it is the least disturbed.
 *
 * Peaks: independent vector FMA chains per ISA. "scalar" is the ceiling of the code a
 * flag-less build may contain: SSE2 4-lane mul + add on x86-64 (compilers vectorise
 * the reference with it), NEON FMA on aarch64. "pct_of_peak" is against the layer's
 * own ISA; the conv summary also gives it against the best ISA's peak (the project's
 * acceptance figure). */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#ifdef CK_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include "coinfer/cli.h"
#include "coinfer/clock.h"
#include "coinfer/dataset.h"
#include "coinfer/kernels.h"
#include "coinfer/model.h"
#include "coinfer/stats.h"

/* The model's conv and fc layers (loaded from the model file at start-up). */
struct layer {
	char name[CR_NAME_LEN];
	int fc;
	int cin, cout, h, w;
	struct ck_conv_desc cd;
};

static struct layer layers[CR_MODEL_MAX_LAYERS];
static size_t NLAYERS;

static int load_layers(const char *path)
{
	char err[512];
	struct cr_model *m;
	if (cli_model_load(path, &m, err, sizeof err)) {
		fprintf(stderr, "bench: %s\n", err);
		return -1;
	}
	for (int i = 0; i < m->n_layers; i++) {
		const struct cr_layer *L = &m->layers[i];
		if (L->type != CR_LAYER_CONV && L->type != CR_LAYER_FC)
			continue;
		struct layer *l = &layers[NLAYERS++];
		snprintf(l->name, sizeof l->name, "%s", L->name);
		l->fc = L->type == CR_LAYER_FC;
		l->cin = L->in_c, l->cout = L->out_c, l->h = L->in_h, l->w = L->in_w;
		if (!l->fc)
			l->cd = L->d.conv;
	}
	cr_model_free(m);
	return 0;
}
static const int batches[] = {1, 8, 32};
#define NBATCH (sizeof batches / sizeof batches[0])

static double min_time = 0.2;

struct timing {
	double best, median; /* seconds per call */
};

#define MAX_ROUNDS 4096

static struct timing time_calls(void (*fn)(void *), void *ctx)
{
	static double rounds[MAX_ROUNDS];
	fn(ctx); /* warm caches, page in buffers */
	const double t0 = cf_now_s();
	fn(ctx);
	double one = cf_now_s() - t0;
	long per_round = one > 2e-3 ? 1 : (long)(2e-3 / (one > 1e-9 ? one : 1e-9)) + 1;
	int nr = 0;
	const double start = cf_now_s();
	while (nr < MAX_ROUNDS && (nr < 10 || cf_now_s() - start < min_time)) {
		const double a = cf_now_s();
		for (long i = 0; i < per_round; i++)
			fn(ctx);
		rounds[nr++] = (cf_now_s() - a) / (double)per_round;
	}
	cf_sort_doubles(rounds, (size_t)nr);
	return (struct timing){rounds[0], rounds[nr / 2]};
}

/* ---- FMA peak: independent accumulator chains in registers, one thread ---- */

/* Independent chains per loop: >= FMA latency (4) x pipes (2) with margin, and few
 * enough to stay in registers (16 ymm on AVX2). Each chain is one vector FMA. The
 * empty asm makes the multiplier opaque once per iteration so the compiler cannot
 * reason about (and fold or reshape) the converging chains. */
#if defined(__x86_64__)
#define OPAQUE(v) __asm__("" : "+v"(v))
#elif defined(__aarch64__)
#define OPAQUE(v) __asm__("" : "+w"(v))
#endif
#define PEAK_ITERS 2000000L

struct peak_ctx {
	double (*fn)(long);
	int chains;
	double sink;
};

static void peak_call(void *p)
{
	struct peak_ctx *c = p;
	c->sink += c->fn(PEAK_ITERS);
}

#if defined(__x86_64__)
#define CHAINS_AVX512 16
#define CHAINS_AVX2 12
#define CHAINS_SCALAR 12
__attribute__((target("avx512f"))) static double peak_avx512(long iters)
{
	__m512 acc[CHAINS_AVX512];
	__m512 m = _mm512_set1_ps(0.5f);
	const __m512 a = _mm512_set1_ps(0.5f);
	for (int j = 0; j < CHAINS_AVX512; j++)
		acc[j] = _mm512_set1_ps((float)j);
	for (long i = 0; i < iters; i++) {
		for (int j = 0; j < CHAINS_AVX512; j++)
			acc[j] = _mm512_fmadd_ps(acc[j], m, a);
		OPAQUE(m);
	}
	float s = 0;
	for (int j = 0; j < CHAINS_AVX512; j++)
		s += _mm512_reduce_add_ps(acc[j]);
	return s;
}

__attribute__((target("avx2,fma"))) static double peak_avx2(long iters)
{
	__m256 acc[CHAINS_AVX2];
	__m256 m = _mm256_set1_ps(0.5f);
	for (int j = 0; j < CHAINS_AVX2; j++)
		acc[j] = _mm256_set1_ps((float)j);
	for (long i = 0; i < iters; i++) {
		for (int j = 0; j < CHAINS_AVX2; j++)
			acc[j] = _mm256_fmadd_ps(acc[j], m, m);
		OPAQUE(m);
	}
	float t[8], s = 0;
	for (int j = 0; j < CHAINS_AVX2; j++) {
		_mm256_storeu_ps(t, acc[j]);
		for (int l = 0; l < 8; l++)
			s += t[l];
	}
	return s;
}

/* The scalar level is built without ISA flags, but x86-64's baseline includes SSE2
 * and compilers vectorise its loops with it: its ceiling is 4-lane mul + add, not
 * scalar FMA. Written in asm so the compiler can neither fuse nor reshape it. */
#define MULADD(i) "mulps %[m], %[x" #i "]\n\taddps %[m], %[x" #i "]\n\t"
static double peak_scalar(long iters)
{
	__m128 x0 = _mm_set1_ps(0.f), x1 = _mm_set1_ps(1.f), x2 = _mm_set1_ps(2.f);
	__m128 x3 = _mm_set1_ps(3.f), x4 = _mm_set1_ps(4.f), x5 = _mm_set1_ps(5.f);
	__m128 x6 = _mm_set1_ps(6.f), x7 = _mm_set1_ps(7.f), x8 = _mm_set1_ps(8.f);
	__m128 x9 = _mm_set1_ps(9.f), x10 = _mm_set1_ps(10.f), x11 = _mm_set1_ps(11.f);
	const __m128 m = _mm_set1_ps(0.5f);
	for (long i = 0; i < iters; i++)
		__asm__(MULADD(0) MULADD(1) MULADD(2) MULADD(3) MULADD(4) MULADD(5) MULADD(6)
				MULADD(7) MULADD(8) MULADD(9) MULADD(10) MULADD(11)
			: [x0] "+x"(x0), [x1] "+x"(x1), [x2] "+x"(x2), [x3] "+x"(x3), [x4] "+x"(x4),
			  [x5] "+x"(x5), [x6] "+x"(x6), [x7] "+x"(x7), [x8] "+x"(x8), [x9] "+x"(x9),
			  [x10] "+x"(x10), [x11] "+x"(x11)
			: [m] "x"(m));
	__m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(x0, x1), _mm_add_ps(x2, x3)),
			      _mm_add_ps(_mm_add_ps(x4, x5), _mm_add_ps(x6, x7)));
	s = _mm_add_ps(s, _mm_add_ps(_mm_add_ps(x8, x9), _mm_add_ps(x10, x11)));
	return _mm_cvtss_f32(s);
}
#elif defined(__aarch64__)
#define CHAINS_NEON 16
static double peak_neon(long iters)
{
	float32x4_t acc[CHAINS_NEON];
	float32x4_t m = vdupq_n_f32(0.5f);
	for (int j = 0; j < CHAINS_NEON; j++)
		acc[j] = vdupq_n_f32((float)j);
	for (long i = 0; i < iters; i++) {
		for (int j = 0; j < CHAINS_NEON; j++)
			acc[j] = vfmaq_f32(m, acc[j], m);
		OPAQUE(m);
	}
	float s = 0;
	for (int j = 0; j < CHAINS_NEON; j++)
		s += vaddvq_f32(acc[j]);
	return s;
}

#endif

/* GFLOP/s of one ISA's FMA loop; 0 where this CPU or build cannot run it. */
static double measure_peak(enum ck_isa isa)
{
	struct peak_ctx c = {0};
	int lanes = 0;
	switch (isa) {
#if defined(__x86_64__)
	case CK_ISA_SCALAR:
		c.fn = peak_scalar;
		c.chains = CHAINS_SCALAR;
		lanes = 4;
		break;
	case CK_ISA_AVX2:
		c.fn = peak_avx2;
		c.chains = CHAINS_AVX2;
		lanes = 8;
		break;
	case CK_ISA_AVX512:
		c.fn = peak_avx512;
		c.chains = CHAINS_AVX512;
		lanes = 16;
		break;
#elif defined(__aarch64__)
	case CK_ISA_SCALAR: /* NEON is baseline: the scalar build gets vectorised too */
	case CK_ISA_NEON:
		c.fn = peak_neon;
		c.chains = CHAINS_NEON;
		lanes = 4;
		break;
#endif
	default:
		return 0;
	}
	if (isa != CK_ISA_SCALAR && !ck_kernels_for(isa))
		return 0;
	const struct timing t = time_calls(peak_call, &c);
	if (c.sink == 12345.678) /* keep the result live */
		putchar(' ');
	return 2.0 * lanes * c.chains * (double)PEAK_ITERS / t.best * 1e-9;
}

/* ---- our kernels ---- */

struct run_ctx {
	const struct ck_kernels *k;
	struct ck_conv_desc cd;
	struct ck_fc_desc fd;
	struct ck_attn_desc ad;
	int fc, attn, n;
	float *packed, *in, *out;
	void *ws;
};

static void run_call(void *p)
{
	struct run_ctx *c = p;
	if (c->attn)
		c->k->attn_run(&c->ad, c->packed, c->in, c->out, c->n, c->ws);
	else if (c->fc)
		c->k->fc_run(&c->fd, c->packed, c->in, c->out, c->n, c->ws);
	else
		c->k->conv_run(&c->cd, c->packed, c->in, c->out, c->n, c->ws);
}

static void *xalloc(size_t bytes)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, bytes ? bytes : 64)) {
		fprintf(stderr, "bench: out of memory (%zu bytes)\n", bytes);
		exit(1);
	}
	return p;
}

static void fill(float *x, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		x[i] = (float)(seed >> 8) * (1.0f / 8388608.0f) - 1.0f;
	}
}

/* Times c's kernel, then frees its buffers and the unpacked weights w, b. */
static struct timing time_and_free(struct run_ctx *c, float *w, float *b)
{
	const struct timing t = time_calls(run_call, c);
	free(w);
	free(b);
	free(c->packed);
	free(c->in);
	free(c->out);
	free(c->ws);
	return t;
}

static double layer_flops(const struct layer *l, int n)
{
	if (l->fc)
		return 2.0 * n * l->cin * l->cout;
	return 2.0 * n * l->cout * l->cd.oh * l->cd.ow * (l->cin / l->cd.groups) * l->cd.kh * l->cd.kw;
}

static struct timing bench_ours(const struct ck_kernels *k, const struct layer *l, int n)
{
	struct run_ctx c = {.k = k, .fc = l->fc, .n = n};
	size_t nw, nin, nout, pf, wsb;
	if (l->fc) {
		c.fd = (struct ck_fc_desc){.cin = l->cin, .cout = l->cout};
		nw = (size_t)l->cin * l->cout;
		nin = (size_t)n * l->cin;
		nout = (size_t)n * l->cout;
		pf = k->fc_packed_floats(&c.fd);
		wsb = k->fc_workspace_bytes(&c.fd, n);
	} else {
		c.cd = l->cd;
		nw = (size_t)l->cout * (l->cin / l->cd.groups) * l->cd.kh * l->cd.kw;
		nin = (size_t)n * l->cin * l->h * l->w;
		nout = (size_t)n * l->cout * c.cd.oh * c.cd.ow;
		pf = k->conv_packed_floats(&c.cd);
		wsb = k->conv_workspace_bytes(&c.cd, n);
	}
	float *w = xalloc(nw * sizeof(float)), *b = xalloc((size_t)l->cout * sizeof(float));
	fill(w, nw, 1);
	fill(b, (size_t)l->cout, 2);
	c.packed = xalloc(pf * sizeof(float));
	c.in = xalloc(nin * sizeof(float));
	c.out = xalloc(nout * sizeof(float));
	c.ws = xalloc(wsb);
	fill(c.in, nin, 3);
	if (l->fc)
		k->fc_pack(&c.fd, w, b, c.packed);
	else
		k->conv_pack(&c.cd, w, b, c.packed);
	return time_and_free(&c, w, b);
}

/* ---- self-attention: the learned codec's decoder (no model file has it yet) ---- */

/* c, h, w, dqk (SAGAN's C/8), scale */
static const struct ck_attn_desc attn_shapes[] = {
	{16, 16, 16, 2, 1.0f}, {32, 16, 16, 4, 1.0f},  {64, 8, 8, 8, 1.0f},
	{128, 8, 8, 16, 1.0f}, {256, 4, 4, 32, 1.0f}, {64, 32, 32, 8, 1.0f},
};
#define NATTN (sizeof attn_shapes / sizeof attn_shapes[0])

/* The three GEMMs' multiply-adds: projections (2d + C rows, K = C + 1), scores
 * (N x N, K = d), output (C x N, K = N); the softmax's N*N exps are not counted. */
static double attn_flops(const struct ck_attn_desc *d, int n)
{
	const double c = d->c, dq = d->dqk, np = (double)d->h * d->w;
	return 2.0 * n * np * ((2 * dq + c) * (c + 1) + dq * np + c * np);
}

static struct timing bench_attn(const struct ck_kernels *k, const struct ck_attn_desc *d, int n)
{
	struct run_ctx c = {.k = k, .ad = *d, .attn = 1, .n = n};
	const size_t ch = (size_t)d->c, dq = (size_t)d->dqk;
	const size_t nw = (2 * dq + ch) * ch, nio = (size_t)n * ch * (size_t)(d->h * d->w);
	float *w = xalloc(nw * sizeof(float)), *b = xalloc((2 * dq + ch) * sizeof(float));
	/* small weights keep the scores moderate, as a trained layer's are */
	fill(w, nw, 1);
	for (size_t i = 0; i < nw; i++)
		w[i] *= 0.1f;
	fill(b, 2 * dq + ch, 2);
	c.packed = xalloc(k->attn_packed_floats(d) * sizeof(float));
	c.in = xalloc(nio * sizeof(float));
	c.out = xalloc(nio * sizeof(float));
	c.ws = xalloc(k->attn_workspace_bytes(d, n));
	fill(c.in, nio, 3);
	k->attn_pack(d, w, b, w + dq * ch, b + dq, w + 2 * dq * ch, b + 2 * dq, c.packed);
	return time_and_free(&c, w, b);
}

/* ---- oneDNN peer ---- */

#ifdef CK_HAVE_DNNL
/* Debian's libdnnl uses OpenMP; libgomp (loaded with it) reads OMP_NUM_THREADS at
 * load time, so the thread count is set through the API. Weak: resolved at run time
 * from libdnnl's libgomp without linking it directly. */
extern void omp_set_num_threads(int) __attribute__((weak));
extern int omp_get_max_threads(void) __attribute__((weak));

#define DNNL_OK(call)                                                                              \
	do {                                                                                       \
		dnnl_status_t st_ = (call);                                                        \
		if (st_ != dnnl_success) {                                                         \
			fprintf(stderr, "bench: %s failed: %d\n", #call, (int)st_);                \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

struct dnnl_ctx {
	dnnl_stream_t stream;
	dnnl_primitive_t prim, src_reorder, dst_reorder; /* reorders may be NULL */
	dnnl_memory_t user_src, src, w, b, dst, user_dst;
	int with_reorders;
};

static void dnnl_call(void *p)
{
	struct dnnl_ctx *c = p;
	if (c->with_reorders && c->src_reorder) {
		dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, c->user_src}, {DNNL_ARG_TO, c->src}};
		dnnl_primitive_execute(c->src_reorder, c->stream, 2, ra);
	}
	dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, c->src},
				   {DNNL_ARG_WEIGHTS, c->w},
				   {DNNL_ARG_BIAS, c->b},
				   {DNNL_ARG_DST, c->dst}};
	dnnl_primitive_execute(c->prim, c->stream, 4, args);
	if (c->with_reorders && c->dst_reorder) {
		dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, c->dst}, {DNNL_ARG_TO, c->user_dst}};
		dnnl_primitive_execute(c->dst_reorder, c->stream, 2, ra);
	}
	dnnl_stream_wait(c->stream);
}

/* A memory in the primitive's chosen format for user data in `user_md`: the user
 * memory itself when the formats agree, else a new memory plus a reorder primitive. */
static dnnl_memory_t dnnl_prepare(dnnl_engine_t eng, const dnnl_memory_desc_t *want,
				  dnnl_memory_t user, const dnnl_memory_desc_t *user_md,
				  int to_user, dnnl_primitive_t *reorder)
{
	*reorder = NULL;
	if (dnnl_memory_desc_equal(want, user_md))
		return user;
	dnnl_memory_t m;
	DNNL_OK(dnnl_memory_create(&m, want, eng, DNNL_MEMORY_ALLOCATE));
	dnnl_primitive_desc_t rpd;
	if (to_user)
		DNNL_OK(dnnl_reorder_primitive_desc_create(&rpd, want, eng, user_md, eng, NULL));
	else
		DNNL_OK(dnnl_reorder_primitive_desc_create(&rpd, user_md, eng, want, eng, NULL));
	DNNL_OK(dnnl_primitive_create(reorder, rpd));
	dnnl_primitive_desc_destroy(rpd);
	return m;
}

static void dnnl_fill(dnnl_memory_t m, const dnnl_memory_desc_t *md, uint32_t seed)
{
	void *h;
	DNNL_OK(dnnl_memory_get_data_handle(m, &h));
	fill(h, dnnl_memory_desc_get_size(md) / sizeof(float), seed);
}

/* Returns seconds per call: primitive only (t_prim) and with src/dst reorders from and
 * to NCHW (t_nchw), as a NCHW pipeline would pay them. */
/* The user's (plain-layout) memory descriptors of a layer. */
struct dnnl_user_mds {
	dnnl_memory_desc_t src, w, dst, b;
};

/* Source, weights and destination of nd dimensions: each in the layout oneDNN
 * prefers (any[]) and in ours (u, tags[]). */
static void dnnl_mds(int nd, const dnnl_dims_t dims[3], const dnnl_format_tag_t tags[3],
		     dnnl_memory_desc_t any[3], struct dnnl_user_mds *u)
{
	dnnl_memory_desc_t *user[3] = {&u->src, &u->w, &u->dst};
	for (int i = 0; i < 3; i++) {
		DNNL_OK(dnnl_memory_desc_init_by_tag(&any[i], nd, dims[i], dnnl_f32,
						     dnnl_format_tag_any));
		DNNL_OK(dnnl_memory_desc_init_by_tag(user[i], nd, dims[i], dnnl_f32, tags[i]));
	}
}

/* A primitive for the layer with the layouts oneDNN prefers, and the plain
 * layouts our data comes in. */
static dnnl_primitive_desc_t dnnl_layer_pd(dnnl_engine_t eng, const struct layer *l, int n,
					   struct dnnl_user_mds *u)
{
	dnnl_memory_desc_t any[3];
	dnnl_primitive_desc_t pd;
	dnnl_memory_desc_init_by_tag(&u->b, 1, (dnnl_dims_t){l->cout}, dnnl_f32, dnnl_a);
	if (l->fc) {
		const dnnl_dims_t d[3] = {{n, l->cin}, {l->cout, l->cin}, {n, l->cout}};
		dnnl_mds(2, d, (dnnl_format_tag_t[3]){dnnl_nc, dnnl_oi, dnnl_nc}, any, u);
		dnnl_inner_product_desc_t ipd;
		DNNL_OK(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &any[0],
							     &any[1], &u->b, &any[2]));
		DNNL_OK(dnnl_primitive_desc_create(&pd, &ipd, NULL, eng, NULL));
		return pd;
	}
	const dnnl_dims_t d[3] = {{n, l->cin, l->h, l->w},
				  {l->cout, l->cin, l->cd.kh, l->cd.kw},
				  {n, l->cout, l->cd.oh, l->cd.ow}};
	dnnl_mds(4, d, (dnnl_format_tag_t[3]){dnnl_nchw, dnnl_oihw, dnnl_nchw}, any, u);
	dnnl_convolution_desc_t cdesc;
	DNNL_OK(dnnl_convolution_forward_desc_init(
		&cdesc, dnnl_forward_inference, dnnl_convolution_auto, &any[0], &any[1], &u->b,
		&any[2], (dnnl_dims_t){l->cd.sh, l->cd.sw}, (dnnl_dims_t){l->cd.ph, l->cd.pw},
		(dnnl_dims_t){l->cd.ph, l->cd.pw}));
	DNNL_OK(dnnl_primitive_desc_create(&pd, &cdesc, NULL, eng, NULL));
	return pd;
}

static void dnnl_ctx_destroy(struct dnnl_ctx *c, dnnl_memory_t user_w)
{
	dnnl_primitive_destroy(c->prim);
	if (c->src_reorder) {
		dnnl_primitive_destroy(c->src_reorder);
		dnnl_memory_destroy(c->src);
	}
	if (c->dst_reorder) {
		dnnl_primitive_destroy(c->dst_reorder);
		dnnl_memory_destroy(c->dst);
	}
	if (c->w != user_w)
		dnnl_memory_destroy(c->w);
	dnnl_memory_destroy(user_w);
	dnnl_memory_destroy(c->user_src);
	dnnl_memory_destroy(c->user_dst);
	dnnl_memory_destroy(c->b);
}

static void bench_dnnl(dnnl_engine_t eng, dnnl_stream_t stream, const struct layer *l, int n,
		       struct timing *t_prim, struct timing *t_nchw, char *impl, size_t impl_len)
{
	struct dnnl_user_mds u;
	dnnl_primitive_desc_t pd = dnnl_layer_pd(eng, l, n, &u);
	const char *info = NULL;
	if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) != dnnl_success ||
	    !info)
		info = "?";
	snprintf(impl, impl_len, "%s", info);
	struct dnnl_ctx c = {.stream = stream};
	DNNL_OK(dnnl_memory_create(&c.user_src, &u.src, eng, DNNL_MEMORY_ALLOCATE));
	DNNL_OK(dnnl_memory_create(&c.user_dst, &u.dst, eng, DNNL_MEMORY_ALLOCATE));
	dnnl_memory_t user_w;
	DNNL_OK(dnnl_memory_create(&user_w, &u.w, eng, DNNL_MEMORY_ALLOCATE));
	DNNL_OK(dnnl_memory_create(&c.b, &u.b, eng, DNNL_MEMORY_ALLOCATE));
	dnnl_fill(c.user_src, &u.src, 3);
	dnnl_fill(user_w, &u.w, 1);
	dnnl_fill(c.b, &u.b, 2);

	const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
	const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	dnnl_primitive_t w_reorder;
	c.src = dnnl_prepare(eng, src_md, c.user_src, &u.src, 0, &c.src_reorder);
	c.w = dnnl_prepare(eng, w_md, user_w, &u.w, 0, &w_reorder);
	c.dst = dnnl_prepare(eng, dst_md, c.user_dst, &u.dst, 1, &c.dst_reorder);
	if (c.src_reorder) {
		dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, c.user_src}, {DNNL_ARG_TO, c.src}};
		DNNL_OK(dnnl_primitive_execute(c.src_reorder, stream, 2, ra));
	}
	if (w_reorder) {
		dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, c.w}};
		DNNL_OK(dnnl_primitive_execute(w_reorder, stream, 2, ra));
		dnnl_primitive_destroy(w_reorder);
	}
	DNNL_OK(dnnl_stream_wait(stream));
	DNNL_OK(dnnl_primitive_create(&c.prim, pd));

	c.with_reorders = 0;
	*t_prim = time_calls(dnnl_call, &c);
	c.with_reorders = 1;
	*t_nchw = time_calls(dnnl_call, &c);
	dnnl_ctx_destroy(&c, user_w);
	dnnl_primitive_desc_destroy(pd);
}
#endif

/* ---- the command line ------------------------------------------------------------------ */

struct bk_opts {
	int only_isa, only_batch, cpu, no_onednn;
	double min_time;
	const char *model;
};

static int isa_arg(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		   size_t errlen)
{
	enum ck_isa isa;
	if (ck_isa_parse(arg, &isa)) {
		snprintf(err, errlen, "--isa: unknown ISA '%s' (scalar, avx2, avx512, neon)", arg);
		return -EINVAL;
	}
	if (!ck_kernels_for(isa)) {
		snprintf(err, errlen, "--isa: ISA %s not available here", arg);
		return -EINVAL;
	}
	((struct bk_opts *)opts)->only_isa = (int)isa;
	return 0;
}

/* --quick sets the time as --min-time does: the later of the two counts */
static int quick_arg(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		     size_t errlen)
{
	((struct bk_opts *)opts)->min_time = 0.03;
	return 0;
}

#define F(f) CLI_FIELD(struct bk_opts, f)
static const struct cli_opt opts[] = {
	{.name = "isa", .kind = CLI_CUSTOM, .parse = isa_arg, .arg = "NAME",
	 .help = "only this ISA: scalar, avx2, avx512, neon",
	 .dflt = "every ISA this build and CPU have"},
	{.name = "batch", .kind = CLI_INT, F(only_batch), .lo = 1, .hi = 4096,
	 .help = "only this batch size", .dflt = "1, 8 and 32"},
	{.name = "quick", .kind = CLI_FLAG, .parse = quick_arg,
	 .help = "0.03 s per measurement instead of 0.2 s"},
	{.name = "min-time", .kind = CLI_DOUBLE, F(min_time), .lo = 1e-6, .hi = 1e6,
	 .arg = "SECONDS", .help = "seconds per measurement"},
	{.name = "cpu", .kind = CLI_INT, F(cpu), .lo = -1, .hi = CPU_SETSIZE - 1,
	 .help = "pin to this CPU first (the numbers are per core)", .dflt = "-1: no pinning"},
	{.name = "no-onednn", .kind = CLI_FLAG, F(no_onednn), .help = "skip the oneDNN peer"},
	CLI_OPT_MODEL(struct bk_opts, model),
};
static const struct cli_prog prog = {
	.name = "coinfer-bench-kernels",
	.head = "usage: coinfer-bench-kernels [options]\n"
		"Times the conv and fc kernels on the model's layer shapes (single thread)\n"
		"and prints one JSON document: per-ISA FMA peak, per layer/batch/ISA GFLOP/s\n"
		"and % of that ISA's peak, the oneDNN peer (when built with it), the\n"
		"FLOP-weighted % of peak of the conv layers at batch 32, and GFLOP/s of the\n"
		"self-attention kernel on the learned codec's decoder shapes.\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct bk_opts)};

/* ---- the report ----------------------------------------------------------------------- */

/* What the sections share: the ISAs and batches to time, the peaks, the conv
 * layers' FLOPs and times at batch 32 per ISA. */
struct run {
	int have[CK_ISA_COUNT];
	int bl[NBATCH], nb;
	double peak[CK_ISA_COUNT], best_peak;
	double conv_flops[CK_ISA_COUNT], conv_time[CK_ISA_COUNT];
};

static int pin_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set)) {
		fprintf(stderr, "bench: cannot pin to cpu %d: %s\n", cpu, strerror(errno));
		return -errno;
	}
	return 0;
}

static void print_peaks(struct run *r)
{
	int first = 1;
	printf("{\n  \"fma_peak_gflops\": {");
	for (int i = 0; i < CK_ISA_COUNT; i++) {
		if (!ck_kernels_for((enum ck_isa)i))
			continue;
		r->peak[i] = measure_peak((enum ck_isa)i);
		if (r->peak[i] <= 0)
			continue;
		printf("%s\"%s\": %.1f", first ? "" : ", ", ck_isa_name((enum ck_isa)i), r->peak[i]);
		first = 0;
	}
	printf("},\n");
	for (int i = 0; i < CK_ISA_COUNT; i++)
		if (r->peak[i] > r->best_peak)
			r->best_peak = r->peak[i];
	printf("  \"best_isa\": \"%s\",\n", ck_kernels()->name);
	fflush(stdout);
}

/* One row of a section: times (item, batch) on ISA isa into *t, writes the row's own
 * JSON members into label and returns the FLOPs of one call. */
typedef double row_fn(struct run *r, int isa, size_t item, int batch, struct timing *t,
		      char *label, size_t len);

/* A JSON array `key` of rows per ISA, item and batch: GFLOP/s and % of that ISA's peak. */
static void print_rows(struct run *r, const char *key, size_t nitems, row_fn *row)
{
	int first = 1;
	printf("  \"%s\": [", key);
	for (int i = 0; i < CK_ISA_COUNT; i++) {
		if (!r->have[i])
			continue;
		const char *isa = ck_isa_name((enum ck_isa)i);
		for (size_t it = 0; it < nitems; it++)
			for (int bi = 0; bi < r->nb; bi++) {
				struct timing t;
				char label[160];
				const int n = r->bl[bi];
				const double fl = row(r, i, it, n, &t, label, sizeof label);
				const double g = fl / t.best * 1e-9, gm = fl / t.median * 1e-9;
				const double pct = r->peak[i] > 0 ? 100.0 * g / r->peak[i] : 0.0;
				printf("%s\n    {%s, \"batch\": %d, \"isa\": \"%s\", "
				       "\"gflops\": %.2f, \"gflops_median\": %.2f, \"us\": %.1f, "
				       "\"pct_of_peak\": %.1f}",
				       first ? "" : ",", label, n, isa, g, gm, t.best * 1e6, pct);
				first = 0;
				fflush(stdout);
			}
	}
	printf("\n  ],\n");
}

/* The model's conv and fc layers; conv at batch 32 also adds to the summary. */
static double layer_row(struct run *r, int isa, size_t item, int batch, struct timing *t,
			char *label, size_t len)
{
	const struct layer *l = &layers[item];
	*t = bench_ours(ck_kernels_for((enum ck_isa)isa), l, batch);
	const double fl = layer_flops(l, batch);
	if (!l->fc && batch == 32) {
		r->conv_flops[isa] += fl;
		r->conv_time[isa] += t->best;
	}
	snprintf(label, len, "\"name\": \"%s\", \"type\": \"%s\"", l->name, l->fc ? "fc" : "conv");
	return fl;
}

static double attn_row(struct run *r, int isa, size_t item, int batch, struct timing *t,
		       char *label, size_t len)
{
	const struct ck_attn_desc *d = &attn_shapes[item];
	*t = bench_attn(ck_kernels_for((enum ck_isa)isa), d, batch);
	snprintf(label, len, "\"c\": %d, \"h\": %d, \"w\": %d, \"dqk\": %d", d->c, d->h, d->w,
		 d->dqk);
	return attn_flops(d, batch);
}

#ifdef CK_HAVE_DNNL
static void print_onednn_rows(const struct run *r)
{
	dnnl_engine_t eng;
	dnnl_stream_t stream;
	int first = 1;
	if (omp_set_num_threads)
		omp_set_num_threads(1);
	DNNL_OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
	DNNL_OK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
	for (size_t li = 0; li < NLAYERS; li++)
		for (int bi = 0; bi < r->nb; bi++) {
			const struct layer *l = &layers[li];
			struct timing tp, tn;
			char impl[64];
			if (!l->fc && l->cd.groups != 1)
				continue; /* grouped convs would need goihw weights: not in this peer */
			/* ours again right before, so a load change on a shared machine hits
			 * both sides of the ratio alike */
			const struct timing to = bench_ours(ck_kernels(), l, r->bl[bi]);
			bench_dnnl(eng, stream, l, r->bl[bi], &tp, &tn, impl, sizeof impl);
			const double fl = layer_flops(l, r->bl[bi]);
			const double g = fl / tp.best * 1e-9, gn = fl / tn.best * 1e-9;
			const double go = fl / to.best * 1e-9;
			printf("%s\n    {\"name\": \"%s\", \"batch\": %d, \"impl\": \"%s\", "
			       "\"gflops\": %.2f, \"gflops_with_nchw_reorders\": %.2f, "
			       "\"ours_isa\": \"%s\", \"ours_gflops\": %.2f, "
			       "\"ratio_ours_over_onednn\": %.2f}",
			       first ? "" : ",", l->name, r->bl[bi], impl, g, gn, ck_kernels()->name, go,
			       go / g);
			first = 0;
			fflush(stdout);
		}
	dnnl_stream_destroy(stream);
	dnnl_engine_destroy(eng);
}
#endif

static void print_onednn(const struct run *r, int onednn)
{
	printf("  \"onednn\": [");
#ifdef CK_HAVE_DNNL
	if (onednn) {
		print_onednn_rows(r);
		printf("\n  ],\n  \"onednn_threads\": %d,\n",
		       omp_get_max_threads ? omp_get_max_threads() : -1);
		return;
	}
#else
	/* the peer is installed on demand (and found when meson configures) */
	if (onednn)
		fprintf(stderr, "coinfer-bench-kernels: built without oneDNN, the peer: run "
				"scripts/install-deps.sh --peers as root (libdnnl-dev), then "
				"meson setup --reconfigure BUILD; --no-onednn skips it\n");
#endif
	printf("],\n");
}

/* The ISAs' values of v, those timed at batch 32 with v[i] >= 0, as JSON members. */
static void print_isas(const struct run *r, const double *v, const char *fmt)
{
	int first = 1;
	for (int i = 0; i < CK_ISA_COUNT; i++) {
		if (!r->have[i] || r->conv_time[i] <= 0 || v[i] < 0)
			continue;
		printf("%s\"%s\": ", first ? "" : ", ", ck_isa_name((enum ck_isa)i));
		printf(fmt, v[i]);
		first = 0;
	}
}

/* Total conv FLOPs over total conv time: the per-layer times weight by FLOPs. */
static void print_summary(const struct run *r)
{
	double pct[CK_ISA_COUNT], pct_best[CK_ISA_COUNT], gflops[CK_ISA_COUNT];
	for (int i = 0; i < CK_ISA_COUNT; i++) {
		double f = r->conv_flops[i], t = r->conv_time[i];
		gflops[i] = t > 0 ? f / t * 1e-9 : 0;
		pct[i] = t > 0 && r->peak[i] > 0 ? 100.0 * f / t * 1e-9 / r->peak[i] : -1;
		pct_best[i] = t > 0 && r->best_peak > 0 ? 100.0 * f / t * 1e-9 / r->best_peak : -1;
	}
	printf("  \"conv_b32_flop_weighted_pct_of_peak\": {");
	print_isas(r, pct, "%.1f");
	printf("},\n  \"conv_b32_flop_weighted_pct_of_best_isa_peak\": {");
	print_isas(r, pct_best, "%.1f");
	printf("},\n  \"conv_b32_gflops\": {");
	print_isas(r, gflops, "%.2f");
	printf("}\n}\n");
}

int main(int argc, char **argv)
{
	struct bk_opts o = {.only_isa = -1, .cpu = -1, .min_time = min_time};
	struct run r = {.nb = 0};
	int st = cli_args(&prog, &o, argc, argv);
	if (st != CLI_GO)
		return st;
	min_time = o.min_time;
	if (load_layers(o.model) || (o.cpu >= 0 && pin_cpu(o.cpu)))
		return 1;
	if (o.only_batch)
		r.bl[r.nb++] = o.only_batch;
	else
		for (size_t i = 0; i < NBATCH; i++)
			r.bl[r.nb++] = batches[i];
	for (int i = 0; i < CK_ISA_COUNT; i++)
		r.have[i] = ck_kernels_for((enum ck_isa)i) && (o.only_isa < 0 || o.only_isa == i);
	print_peaks(&r);
	print_rows(&r, "layers", NLAYERS, layer_row);
	print_rows(&r, "attention", NATTN, attn_row);
	print_onednn(&r, !o.no_onednn);
	print_summary(&r);
	return 0;
}
