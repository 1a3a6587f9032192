/* Per-application SLO accounting (appliance/slo.c) on the test's clock: counts
 * land in the bucket of their time, the window holds the last AP_SLO_BUCKETS
 * buckets and no older, a bucket reused when its time comes round again starts
 * from zero, and a reader summing while the writer reuses buckets never sees
 * more than was counted. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "../../appliance/slo.h"

#define B 1000000000ull /* 1 s buckets: a 60 s window */

static void window(const struct ap_slo_app *a, uint64_t now, uint64_t *t, uint64_t *m)
{
	*t = *m = 0;
	ap_slo_window(a, B, now, t, m);
}

Test(slo, bucket_of_a_window)
{
	cr_assert_eq(ap_slo_bucket_ns(300), 5 * B);
	cr_assert_eq(ap_slo_bucket_ns(60), B);
	cr_assert_eq(ap_slo_bucket_ns(1e-12), 1);
}

Test(slo, counts_and_window)
{
	static struct ap_slo_app a;
	uint64_t t, m;
	for (int s = 0; s < 10; s++) /* 10 s: one met and one missed a second */
		for (int k = 0; k < 2; k++)
			ap_slo_count(&a, B, (uint64_t)s * B + 1000, k == 0);
	window(&a, 9 * B, &t, &m);
	cr_assert_eq(t, 20);
	cr_assert_eq(m, 10);
	cr_assert_eq(atomic_load(&a.total), 20);
	cr_assert_eq(atomic_load(&a.met), 10);
	/* at 65 s the window is buckets 6..65: seconds 6..9 are left of the ten */
	window(&a, 65 * B, &t, &m);
	cr_assert_eq(t, 8);
	cr_assert_eq(m, 4);
	/* past the window, nothing; the counters since start stay */
	window(&a, 200 * B, &t, &m);
	cr_assert_eq(t, 0);
	cr_assert_eq(atomic_load(&a.total), 20);
}

Test(slo, reused_bucket_starts_from_zero)
{
	static struct ap_slo_app a;
	uint64_t t, m;
	for (int k = 0; k < 5; k++)
		ap_slo_count(&a, B, 3 * B, 1);
	/* second 63 falls in second 3's bucket: its five answers are gone */
	ap_slo_count(&a, B, 63 * B, 0);
	window(&a, 63 * B, &t, &m);
	cr_assert_eq(t, 1);
	cr_assert_eq(m, 0);
	/* a reader with a clock behind the writer does not count the newer bucket
	 * as old nor the old one as new */
	window(&a, 3 * B, &t, &m);
	cr_assert_eq(t, 0);
}

struct race {
	struct ap_slo_app a;
	_Atomic int done;
	_Atomic uint64_t now;
};

static void *writer(void *arg)
{
	struct race *r = arg;
	for (uint64_t i = 0; i < 2000000; i++) {
		uint64_t now = i * (B / 1000); /* 1000 answers a second, half met */
		atomic_store_explicit(&r->now, now, memory_order_relaxed);
		ap_slo_count(&r->a, B, now, i & 1);
	}
	atomic_store(&r->done, 1);
	return NULL;
}

/* The metrics thread sums while the worker wraps the ring 33 times: a sum
 * never exceeds the window's answers plus one bucket being reused (2,000 at
 * most with a clock a bucket behind), met never exceeds total by more than a
 * bucket's worth either. */
Test(slo, reader_while_buckets_are_reused)
{
	static struct race r;
	pthread_t th;
	uint64_t reads = 0;
	cr_assert_eq(pthread_create(&th, NULL, writer, &r), 0);
	while (!atomic_load(&r.done)) {
		uint64_t t, m, now = atomic_load_explicit(&r.now, memory_order_relaxed);
		window(&r.a, now, &t, &m);
		cr_assert_leq(t, (uint64_t)(AP_SLO_BUCKETS + 1) * 1000, "window sum %llu",
			      (unsigned long long)t);
		cr_assert_leq(m, t / 2 + 1000);
		reads++;
	}
	pthread_join(th, NULL);
	uint64_t t, m;
	window(&r.a, atomic_load(&r.now), &t, &m);
	cr_assert_eq(t, (uint64_t)AP_SLO_BUCKETS * 1000, "window %llu after %llu reads",
		     (unsigned long long)t, (unsigned long long)reads);
	cr_assert_eq(m, t / 2);
	cr_assert_eq(atomic_load(&r.a.total), 2000000);
}
