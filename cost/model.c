/* The cost model: prefix and suffix sums of the profiles per partition point,
 * codec table sizes and accuracies, and the latency/energy formula of
 * cost.h evaluated on a state. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "coinfer/cost.h"
#include "internal.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"

static int same_layers(const struct cost_profile *a, const struct cost_profile *b, char *err,
		       size_t errlen)
{
	if (a->model_checksum != b->model_checksum)
		return cf_fail(-EINVAL, err, errlen,
				"profiles of %s (%016llx) and %s (%016llx) are of different models",
				a->device_class, (unsigned long long)a->model_checksum, b->device_class,
				(unsigned long long)b->model_checksum);
	if (a->n_exits != b->n_exits)
		return cf_fail(-EINVAL, err, errlen, "profiles of %s and %s differ in exits (%d, %d)",
				a->device_class, b->device_class, a->n_exits, b->n_exits);
	for (int e = 0; e < a->n_exits; e++) {
		if (a->exits[e].n_layers != b->exits[e].n_layers)
			return cf_fail(-EINVAL, err, errlen, "profiles of %s and %s differ in exit %d's layers",
					a->device_class, b->device_class, e + 1);
		for (int pos = 0; pos < a->exits[e].n_layers; pos++)
			if (strcmp(a->exits[e].layers[pos].name, b->exits[e].layers[pos].name))
				return cf_fail(-EINVAL, err, errlen,
						"profiles of %s and %s differ at exit %d layer %d (%s, %s)",
						a->device_class, b->device_class, e + 1, pos,
						a->exits[e].layers[pos].name, b->exits[e].layers[pos].name);
	}
	return 0;
}

int cost_build(struct cost_model *cm, const struct cost_profile *dev,
		   const struct cost_device_class *dc, const struct cost_profile *edge,
		   const struct cost_device_class *ec, const struct cost_codec_table *ct, char *err,
		   size_t errlen)
{
	int r;
	memset(cm, 0, sizeof(*cm));
	if ((r = same_layers(dev, edge, err, errlen)))
		return r;
	if (!(dc->f_hz > 0) || !(dc->kappa >= 0) || !(dc->tx_power_w >= 0) || !isfinite(dc->sinr_db))
		return cf_fail(-EINVAL, err, errlen, "device class %s: energy parameters out of range",
				dc->name);
	if (strcmp(ct->model, dev->model))
		return cf_fail(-EINVAL, err, errlen, "codec table is of model %s, profiles of %s",
				ct->model, dev->model);
	if (ct->n_exits != dev->n_exits)
		return cf_fail(-EINVAL, err, errlen, "codec table has %d exits, the model %d",
				ct->n_exits, dev->n_exits);
	snprintf(cm->model, sizeof(cm->model), "%s", dev->model);
	snprintf(cm->device, sizeof(cm->device), "%s", dc->name);
	snprintf(cm->edge, sizeof(cm->edge), "%s", ec->name);
	cm->n_exits = dev->n_exits;
	cm->n_plain = ct->n_plain > 0 && ct->n_plain <= cm->n_exits ? ct->n_plain : cm->n_exits;
	cm->n_batches = edge->n_batches;
	memcpy(cm->batches, edge->batches, sizeof(cm->batches));
	cm->f_hz = dc->f_hz;
	cm->kappa = dc->kappa;
	cm->tx_power_w = dc->tx_power_w;
	cm->sinr_db = dc->sinr_db;
	for (int b = 0; b < CF_ACTION_NBITS; b++) {
		cm->enc_ns_per_elem[b] = dc->codec.enc_ns_per_elem[b];
		cm->enc_us_per_frame[b] = dc->codec.enc_us_per_frame[b];
		cm->dec_ns_per_elem[b] = ec->codec.dec_ns_per_elem[b];
		cm->dec_us_per_frame[b] = ec->codec.dec_us_per_frame[b];
	}
	for (int e = 0; e < cm->n_exits; e++) {
		struct cost_exit *x = &cm->ex[e];
		const struct cost_profile_exit *de = &dev->exits[e], *ee = &edge->exits[e];
		int n = de->n_layers;
		x->n = n;
		x->fp32_accuracy = ct->fp32_accuracy[e];
		x->variant = ct->variant[e], x->of = ct->of[e];
		x->in_block[n] = x->variant != CR_VARIANT_PLAIN; /* a variant's one point: its split */
		/* a point missing is refused below; a point past the model here (a variant
		 * has only its split, so the table may end before n) */
		if (ct->n_part[e] > n)
			return cf_fail(-EINVAL, err, errlen,
					"codec table: exit %d has partitions 0..%d, the model 0..%d",
					e + 1, ct->n_part[e] - 1, n - 1);
		for (int p = 0; p < n; p++) {
			const struct cost_profile_layer *L = &de->layers[p];
			double t = cost_profile_layer_ms(dev, L, 1);
			double cyc = dc->cycles_from_profile ? t * 1e-3 * dc->f_hz
							     : dc->cycles_per_flop[L->type] * L->flops;
			x->dev_ms[p + 1] = x->dev_ms[p] + t;
			x->dev_cycles[p + 1] = x->dev_cycles[p] + cyc;
			x->elems[p] = L->in_bytes / 4;
			const char *want = p ? de->layers[p - 1].name : "input";
			snprintf(x->layer[p], sizeof(x->layer[p]), "%s", want);
			/* inside a residual block: no action cuts here (the table says) */
			if ((x->in_block[p] = ct->in_block[e][p]))
				continue;
			if (strcmp(ct->layer[e][p], want))
				return cf_fail(-EINVAL, err, errlen,
						"codec table: exit %d partition %d is layer %s, the model's is %s",
						e + 1, p, ct->layer[e][p], want);
			for (int b = 0; b < CF_ACTION_NBITS; b++) {
				if (ct->bytes[e][p][b] < 0)
					return cf_fail(-EINVAL, err, errlen,
							"codec table: no entry for exit %d partition %d bits %d",
							e + 1, p, cf_action_bits[b]);
				x->bytes[p][b] = ct->bytes[e][p][b];
				x->accuracy[p][b] = ct->accuracy[e][p][b];
			}
		}
		x->elems[n] = de->layers[n - 1].out_bytes / 4;
		snprintf(x->layer[n], sizeof(x->layer[n]), "%s", de->layers[n - 1].name);
		for (int b = 0; b < CF_ACTION_NBITS; b++) {
			x->bytes[n][b] = 0;
			x->accuracy[n][b] = ct->fp32_accuracy[e];
		}
		for (int k = 0; k < edge->n_batches; k++)
			for (int p = n - 1; p >= 0; p--)
				x->edge_ms[p][k] = x->edge_ms[p + 1][k] + ee->layers[p].mean_ms[k];
	}
	return 0;
}

double cost_edge_ms(const struct cost_model *cm, int exit, int p, double n)
{
	const struct cost_exit *x = &cm->ex[exit];
	double t[COST_MAX_BATCHES];
	for (int k = 0; k < cm->n_batches; k++)
		t[k] = x->edge_ms[p][k];
	return cost_interp_batch(cm->batches, cm->n_batches, t, n < 1 ? 1 : n);
}

int cost_eval(const struct cost_model *cm, const struct cost_state *s,
		  const struct cf_action *a, struct cost_estimate *out)
{
	memset(out, 0, sizeof(*out));
	if (a->exit < 0 || a->exit >= cm->n_exits)
		return -EINVAL;
	const struct cost_exit *x = &cm->ex[a->exit];
	int p = a->partition;
	if (p < 0 || p > x->n || x->in_block[p])
		return -EINVAL;
	double load = s->load > 0 ? s->load : 1, f = s->freq_hz > 0 ? s->freq_hz : cm->f_hz;
	/* Profiles hold time at the class's nominal frequency with the CPU to
	 * ourselves: the same cycles take f_nominal / f as long, and a load factor
	 * stretches them further. Cycles, hence eq. 1's energy, do not depend on
	 * load. */
	double stretch = load * cm->f_hz / f;
	double cycles = x->dev_cycles[p];
	out->dev_ms = x->dev_ms[p] * stretch;
	if (p == x->n) {
		out->accuracy = x->accuracy[p][0];
	} else {
		int b = cf_action_bits_index(a->bits);
		if (b < 0 || isnan(s->bandwidth_bps))
			return -EINVAL;
		/* no uplink (a trace can drop to 0): the frame never arrives, so every
		 * optimizer sees an infinite latency and energy, not an error */
		double bw = s->bandwidth_bps > 0 ? s->bandwidth_bps : 0;
		double enc = cm->enc_us_per_frame[b] * 1e-3 + cm->enc_ns_per_elem[b] * x->elems[p] * 1e-6;
		out->encode_ms = enc * stretch;
		/* encoding is computation on the device too: its cycles at nominal f */
		cycles += enc * 1e-3 * cm->f_hz;
		out->bytes = x->bytes[p][b];
		out->tx_ms = bw > 0 ? out->bytes * 8 / bw * 1e3 : INFINITY;
		out->net_ms = s->rtt_ms + s->queue_ms;
		out->edge_ms = cost_edge_ms(cm, a->exit, p, s->batch);
		out->decode_ms = cm->dec_us_per_frame[b] * 1e-3 + cm->dec_ns_per_elem[b] * x->elems[p] * 1e-6;
		out->accuracy = x->accuracy[p][b];
		/* Niu et al. (2022) eq. 2 with W the uplink bandwidth: P D / (W log2(1 + SINR)) */
		double snr = pow(10.0, cm->sinr_db / 10.0);
		out->energy_tx_j = bw > 0 ? cm->tx_power_w * out->bytes * 8 / (bw * log2(1 + snr)) : INFINITY;
	}
	out->energy_comp_j = cm->kappa * f * f * cycles;
	out->energy_j = out->energy_comp_j + out->energy_tx_j;
	out->latency_ms = out->dev_ms + out->encode_ms + out->tx_ms + out->net_ms + out->edge_ms +
			  out->decode_ms;
	return 0;
}

int cost_actions(const struct cost_model *cm, unsigned bits_mask, struct cf_action *a,
		     int max)
{
	int n = 0;
	if (!bits_mask)
		bits_mask = CF_ACTION_BITS_ALL;
	for (int e = 0; e < cm->n_exits; e++)
		for (int p = 0; p <= cm->ex[e].n; p++) {
			if (cm->ex[e].in_block[p])
				continue;
			if (p == cm->ex[e].n) {
				if (n < max)
					a[n] = (struct cf_action){e, p, 0};
				n++;
				continue;
			}
			for (int b = 0; b < CF_ACTION_NBITS; b++)
				if (bits_mask & (1u << b)) {
					if (n < max)
						a[n] = (struct cf_action){e, p, cf_action_bits[b]};
					n++;
				}
		}
	return n;
}
