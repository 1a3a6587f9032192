/* Per-application SLO accounting (design and ownership in slo.h). */
#include "slo.h"

static inline void add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

uint64_t ap_slo_bucket_ns(double window_s)
{
	double ns = window_s * 1e9 / AP_SLO_BUCKETS;
	return ns < 1 ? 1 : (uint64_t)ns;
}

void ap_slo_count(struct ap_slo_app *a, uint64_t bucket_ns, uint64_t now_ns, int met)
{
	uint64_t ep = now_ns / bucket_ns + 1;
	struct ap_slo_bucket *b = &a->b[ep % AP_SLO_BUCKETS];
	if (atomic_load_explicit(&b->epoch, memory_order_relaxed) != ep) {
		atomic_store_explicit(&b->total, 0, memory_order_relaxed);
		atomic_store_explicit(&b->met, 0, memory_order_relaxed);
		atomic_store_explicit(&b->epoch, ep, memory_order_release);
	}
	add(&b->total, 1);
	add(&a->total, 1);
	if (met) {
		add(&b->met, 1);
		add(&a->met, 1);
	}
}

void ap_slo_window(const struct ap_slo_app *a, uint64_t bucket_ns, uint64_t now_ns,
		   uint64_t *total, uint64_t *met)
{
	uint64_t cur = now_ns / bucket_ns + 1;
	for (int i = 0; i < AP_SLO_BUCKETS; i++) {
		const struct ap_slo_bucket *b = &a->b[i];
		uint64_t ep = atomic_load_explicit(&b->epoch, memory_order_acquire);
		if (!ep || ep > cur || cur - ep >= AP_SLO_BUCKETS)
			continue;
		*total += atomic_load_explicit(&b->total, memory_order_relaxed);
		*met += atomic_load_explicit(&b->met, memory_order_relaxed);
	}
}
