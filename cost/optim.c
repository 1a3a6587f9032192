/* Optimizers over the cost model: Edgent's search (Li et al. 2018, Algorithm 1), the
 * exhaustive oracle, the fixed baselines and the ablations of Edgent (Li et al. 2018) Fig. 7
 * (partitioning alone, right-sizing alone). A few hundred evaluations of a
 * closed formula per decision; nothing is allocated after creation. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cost.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"

const char *const pol_optimizer_names =
	"edgent,oracle,device-only,edge-only,partition-only,right-sizing-only,fixed";

static int within_deadline(const struct cost_state *s, double lat)
{
	return s->deadline_ms <= 0 || lat <= s->deadline_ms;
}

static int within_budget(const struct cost_state *s, double energy)
{
	return s->energy_budget_j <= 0 || energy <= s->energy_budget_j;
}

/* a better than b on latency: lower latency, then higher accuracy, then fewer bytes */
static int faster(const struct cost_estimate *a, const struct cost_estimate *b)
{
	if (a->latency_ms != b->latency_ms)
		return a->latency_ms < b->latency_ms;
	if (a->accuracy != b->accuracy)
		return a->accuracy > b->accuracy;
	return a->bytes < b->bytes;
}

struct best {
	int have;
	struct cf_action a;
	struct cost_estimate c;
};

static void keep_faster(struct best *b, const struct cf_action *a, const struct cost_estimate *c)
{
	if (!b->have || faster(c, &b->c)) {
		b->have = 1;
		b->a = *a;
		b->c = *c;
	}
}

/* The action at (exit index e, p, bits index b) when the mask allows it; p = N_e
 * has one action, reported at b = 0. */
static int action_at(const struct cost_model *cm, int e, int p, int b, unsigned mask,
		     struct cf_action *a)
{
	int last = p == cm->ex[e].n;
	if (cm->ex[e].in_block[p] || (last ? b != 0 : !((mask >> b) & 1u)))
		return 0;
	*a = (struct cf_action){e, p, last ? 0 : cf_action_bits[b]};
	return 1;
}

static int fallback(const struct best *fast_ok, const struct best *fast_any, struct cf_action *a)
{
	if (fast_ok->have)
		*a = fast_ok->a;
	else if (fast_any->have)
		*a = fast_any->a;
	else
		return -EINVAL;
	return 0;
}

/* Exit indices into order[], the most accurate (fp32) first; ties to the
 * deeper exit. Right-sizing means "the most accurate that fits", and the exit
 * index need not rank accuracy. */
static void exits_by_accuracy(const struct cost_model *cm, int *order)
{
	int n = cm->n_exits;
	for (int i = 0; i < n; i++)
		order[i] = n - 1 - i;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && cm->ex[order[j]].fp32_accuracy >
					 cm->ex[order[j - 1]].fp32_accuracy; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
}

/* The most accurate action within the deadline and the budget; ties to the
 * faster. */
static void keep_top(struct best *top, const struct cost_state *s, const struct cf_action *a,
		     const struct cost_estimate *c)
{
	if (!within_deadline(s, c->latency_ms))
		return;
	if (!top->have || c->accuracy > top->c.accuracy ||
	    (c->accuracy == top->c.accuracy && faster(c, &top->c))) {
		top->have = 1;
		top->a = *a;
		top->c = *c;
	}
}

/* Every action of exit index e the mask allows: the fastest overall into fast_any,
 * the fastest within the energy budget into fast_ok and in_exit, the most
 * accurate within the budget and the deadline into top (in_exit and top may be
 * NULL). */
static int scan_exit(const struct cost_model *cm, const struct cost_state *s, int e,
		     unsigned bits_mask, struct best *fast_ok, struct best *fast_any,
		     struct best *in_exit, struct best *top)
{
	for (int p = 0; p <= cm->ex[e].n; p++)
		for (int b = 0; b < CF_ACTION_NBITS; b++) {
			struct cf_action act;
			struct cost_estimate c;
			if (!action_at(cm, e, p, b, bits_mask, &act))
				continue;
			int r = cost_eval(cm, s, &act, &c);
			if (r)
				return r;
			keep_faster(fast_any, &act, &c);
			if (within_budget(s, c.energy_j)) {
				keep_faster(fast_ok, &act, &c);
				if (in_exit)
					keep_faster(in_exit, &act, &c);
				if (top)
					keep_top(top, s, &act, &c);
			}
		}
	return 0;
}

int cost_search_edgent(const struct cost_model *cm, const struct cost_state *s,
		      unsigned bits_mask, struct cf_action *a)
{
	if (!bits_mask)
		bits_mask = CF_ACTION_BITS_ALL;
	int order[COST_MAX_EXITS], n = cm->n_exits;
	exits_by_accuracy(cm, order);
	struct best fast_ok = {0}, fast_any = {0};
	for (int i = 0; i < n; i++) {
		struct best in_exit = {0};
		int r = scan_exit(cm, s, order[i], bits_mask, &fast_ok, &fast_any, &in_exit, NULL);
		if (r)
			return r;
		if (in_exit.have && within_deadline(s, in_exit.c.latency_ms)) {
			*a = in_exit.a;
			return 0;
		}
	}
	return fallback(&fast_ok, &fast_any, a);
}

int cost_search_oracle(const struct cost_model *cm, const struct cost_state *s,
		      unsigned bits_mask, struct cf_action *a)
{
	if (!bits_mask)
		bits_mask = CF_ACTION_BITS_ALL;
	struct best top = {0}, fast_ok = {0}, fast_any = {0};
	for (int e = 0; e < cm->n_exits; e++) {
		int r = scan_exit(cm, s, e, bits_mask, &fast_ok, &fast_any, NULL, &top);
		if (r)
			return r;
	}
	if (top.have) {
		*a = top.a;
		return 0;
	}
	return fallback(&fast_ok, &fast_any, a);
}

int cost_search_device_only(const struct cost_model *cm, const struct cost_state *s,
			   struct cf_action *a)
{
	for (int e = cm->n_plain - 1; e >= 0; e--) {
		struct cf_action act = {e, cm->ex[e].n, 0};
		struct cost_estimate c;
		int r = cost_eval(cm, s, &act, &c);
		if (r)
			return r;
		if (within_deadline(s, c.latency_ms) || e == 0) {
			*a = act;
			return 0;
		}
	}
	return -EINVAL;
}

static int edge_only_bits(unsigned mask)
{
	if (!mask)
		mask = CF_ACTION_BITS_ALL;
	if (mask & (1u << cf_action_bits_index(8)))
		return 8;
	for (int b = 0; b < CF_ACTION_NBITS; b++)
		if (cf_action_bits[b] > 8 && (mask & (1u << b)))
			return cf_action_bits[b];
	for (int b = CF_ACTION_NBITS - 1; b >= 0; b--)
		if (mask & (1u << b))
			return cf_action_bits[b];
	return 8;
}

int cost_search_edge_only(const struct cost_model *cm, const struct cost_state *s,
			 unsigned bits_mask, struct cf_action *a)
{
	(void)s;
	if (cm->n_exits < 1)
		return -EINVAL;
	*a = (struct cf_action){cm->n_plain - 1, 0, edge_only_bits(bits_mask)};
	return 0;
}

int cost_search_partition_only(const struct cost_model *cm, const struct cost_state *s,
			      unsigned bits_mask, struct cf_action *a)
{
	if (!bits_mask)
		bits_mask = CF_ACTION_BITS_ALL;
	if (cm->n_exits < 1)
		return -EINVAL;
	/* no early exit: only the deepest exit, whatever the deadline says */
	struct best fast_ok = {0}, fast_any = {0};
	int r = scan_exit(cm, s, cm->n_plain - 1, bits_mask, &fast_ok, &fast_any, NULL, NULL);
	if (r)
		return r;
	return fallback(&fast_ok, &fast_any, a);
}

int cost_search_right_sizing_only(const struct cost_model *cm, const struct cost_state *s,
				 struct cf_action *a)
{
	if (cm->n_exits < 1)
		return -EINVAL;
	int order[COST_MAX_EXITS];
	exits_by_accuracy(cm, order);
	struct best fast_ok = {0}, fast_any = {0};
	for (int i = 0; i < cm->n_exits; i++) {
		int e = order[i];
		struct cf_action act = {e, cm->ex[e].n, 0};
		struct cost_estimate c;
		int r = cost_eval(cm, s, &act, &c);
		if (r)
			return r;
		if (within_budget(s, c.energy_j) && within_deadline(s, c.latency_ms)) {
			*a = act;
			return 0;
		}
		keep_faster(&fast_any, &act, &c);
		if (within_budget(s, c.energy_j))
			keep_faster(&fast_ok, &act, &c);
	}
	return fallback(&fast_ok, &fast_any, a);
}

/* ---- the optimizer interface -------------------------------------------------- */

struct opt_data {
	struct cost_opt_cfg cfg;
};

static int decide_edgent(struct cost_optimizer *o, const struct cost_state *s, struct cf_action *a)
{
	const struct opt_data *d = o->data;
	return cost_search_edgent(d->cfg.cm, s, d->cfg.bits_mask, a);
}

static int decide_oracle(struct cost_optimizer *o, const struct cost_state *s, struct cf_action *a)
{
	const struct opt_data *d = o->data;
	return cost_search_oracle(d->cfg.cm, s, d->cfg.bits_mask, a);
}

static int decide_device_only(struct cost_optimizer *o, const struct cost_state *s,
			      struct cf_action *a)
{
	const struct opt_data *d = o->data;
	return cost_search_device_only(d->cfg.cm, s, a);
}

static int decide_edge_only(struct cost_optimizer *o, const struct cost_state *s, struct cf_action *a)
{
	const struct opt_data *d = o->data;
	return cost_search_edge_only(d->cfg.cm, s, d->cfg.bits_mask, a);
}

static int decide_partition_only(struct cost_optimizer *o, const struct cost_state *s,
				 struct cf_action *a)
{
	const struct opt_data *d = o->data;
	return cost_search_partition_only(d->cfg.cm, s, d->cfg.bits_mask, a);
}

static int decide_right_sizing_only(struct cost_optimizer *o, const struct cost_state *s,
				    struct cf_action *a)
{
	const struct opt_data *d = o->data;
	return cost_search_right_sizing_only(d->cfg.cm, s, a);
}

static int decide_fixed(struct cost_optimizer *o, const struct cost_state *s, struct cf_action *a)
{
	(void)s;
	const struct opt_data *d = o->data;
	*a = d->cfg.fixed;
	return 0;
}

static void destroy_plain(struct cost_optimizer *o)
{
	free(o->data);
	free(o);
}

int cost_optimizer_create(const char *name, const struct cost_opt_cfg *cfg, struct cost_optimizer **out,
			 char *err, size_t errlen)
{
	static const struct {
		const char *name;
		int (*decide)(struct cost_optimizer *, const struct cost_state *, struct cf_action *);
	} impl[] = {
		{"edgent", decide_edgent},       {"oracle", decide_oracle},
		{"device-only", decide_device_only}, {"edge-only", decide_edge_only},
		{"partition-only", decide_partition_only},
		{"right-sizing-only", decide_right_sizing_only},
		{"fixed", decide_fixed},
	};
	struct cost_optimizer *o = NULL;
	struct opt_data *d = NULL;
	int ret = -ENOENT;
	*out = NULL;
	size_t i;
	for (i = 0; i < sizeof(impl) / sizeof(impl[0]); i++)
		if (!strcmp(impl[i].name, name))
			break;
	if (i == sizeof(impl) / sizeof(impl[0])) {
		cf_fail(ret, err, errlen, "unknown optimizer '%s' (known: %s)", name, pol_optimizer_names);
		goto err;
	}
	if (!cfg || !cfg->cm || (cfg->bits_mask & ~CF_ACTION_BITS_ALL)) {
		ret = cf_fail(-EINVAL, err, errlen, "optimizer %s: needs a cost model and a bits mask within 0x%x",
			       name, CF_ACTION_BITS_ALL);
		goto err;
	}
	if (!strcmp(name, "fixed")) {
		struct cost_state probe = {.bandwidth_bps = 1e6};
		struct cost_estimate c;
		const struct cf_action *a = &cfg->fixed;
		if (cost_eval(cfg->cm, &probe, a, &c)) {
			ret = cf_fail(-EINVAL, err, errlen,
				       "optimizer fixed: action exit %d partition %d bits %d is not in the model",
				       a->exit + 1, a->partition, a->bits);
			goto err;
		}
	}
	o = calloc(1, sizeof(*o));
	d = calloc(1, sizeof(*d));
	if (!o || !d) {
		ret = cf_fail(-ENOMEM, err, errlen, "out of memory");
		goto err;
	}
	d->cfg = *cfg;
	if (!strcmp(name, "fixed") && d->cfg.fixed.partition == cfg->cm->ex[d->cfg.fixed.exit].n)
		d->cfg.fixed.bits = 0;
	o->name = impl[i].name;
	o->decide = impl[i].decide;
	o->destroy = destroy_plain;
	o->data = d;
	*out = o;
	return 0;
err:
	free(d);
	free(o);
	return ret;
}

void cost_optimizer_free(struct cost_optimizer *o)
{
	if (o)
		o->destroy(o);
}

/* The exits serving the deepest plain exit by method `variant`. */
static int method_exit(const struct cost_model *cm, int variant, int e)
{
	const int deep = cm->n_plain - 1;
	return variant ? cm->ex[e].variant == variant && cm->ex[e].of == deep : e == deep;
}

int cost_search_method(const struct cost_model *cm, const struct cost_state *s, int variant,
		       double max_loss, unsigned bits_mask, int min_partition,
		       struct cf_action *a)
{
	struct best ok = {0}, acc = {0};
	struct cost_estimate c;
	if (cm->n_plain < 1 || variant < 0 || min_partition < 0)
		return -EINVAL;
	if (!bits_mask)
		bits_mask = CF_ACTION_BITS_ALL;
	for (int e = 0; e < cm->n_exits; e++)
		for (int p = min_partition; method_exit(cm, variant, e) && p <= cm->ex[e].n; p++)
			for (int b = 0; b < CF_ACTION_NBITS; b++) {
				struct cf_action t;
				if (!action_at(cm, e, p, b, bits_mask, &t) || cost_eval(cm, s, &t, &c))
					continue;
				/* the link may cost max_loss of the exit's own float
				 * accuracy; what a variant loses itself is its row's */
				if (c.accuracy >= cm->ex[e].fp32_accuracy - max_loss - 1e-12)
					keep_faster(&ok, &t, &c);
				if (!acc.have || c.accuracy > acc.c.accuracy ||
				    (c.accuracy == acc.c.accuracy && c.latency_ms < acc.c.latency_ms))
					acc = (struct best){.have = 1, .a = t, .c = c};
			}
	if (!ok.have && !acc.have)
		return -ENOENT;
	*a = ok.have ? ok.a : acc.a;
	return 0;
}
