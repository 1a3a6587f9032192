/* JSON output of the agents: one line per answer and the summary. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/stats.h"
#include "internal.h"

/* JSON has no NaN or infinity: print null for them. */
static int num(char *buf, size_t cap, const char *key, double v)
{
	if (!isfinite(v))
		return snprintf(buf, cap, "\"%s\": null", key);
	return snprintf(buf, cap, "\"%s\": %.6g", key, v);
}

#define ADD(...)                                                                       \
	do {                                                                           \
		int k_ = snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__);        \
		n += k_ > 0 ? (size_t)k_ : 0;                                          \
	} while (0)
#define NUM(key, v)                                                                    \
	do {                                                                           \
		int k_ = num(buf + n, n < cap ? cap - n : 0, key, v);                  \
		n += k_ > 0 ? (size_t)k_ : 0;                                          \
	} while (0)

const char *ag_decide_name(enum ag_decide_outcome o)
{
	switch (o) {
	case AG_DECIDE_NONE: return "none";
	case AG_DECIDE_ANSWERED: return "answered";
	case AG_DECIDE_TIMEOUT: return "timeout";
	case AG_DECIDE_REFUSED: return "refused";
	case AG_DECIDE_DROPPED: return "dropped";
	default: return "?";
	}
}

static const char *decider_name(enum ag_decider d, const char *local)
{
	switch (d) {
	case AG_BY_FLAGS: return "flags";
	case AG_BY_LOCAL: return local ? local : "local";
	case AG_BY_EDGE_NEXT: return "edge-next";
	case AG_BY_EDGE_DECISION: return "edge-decision";
	default: return "?";
	}
}

int ag_record_json(const struct ag_record *r, char *buf, size_t cap)
{
	return ag_record_json_named(r, NULL, buf, cap);
}

int ag_record_json_named(const struct ag_record *r, const char *local, char *buf, size_t cap)
{
	size_t n = 0;
	int dev_only = r->where == AG_DEVICE && r->reason == AG_FB_NONE;
	ADD("{\"agent\": %d, \"device_id\": %llu, \"id\": %llu, \"image\": %d, \"label\": %d, "
	    "\"true_label\": %d, \"correct\": %s, ",
	    r->agent, (unsigned long long)r->device_id, (unsigned long long)r->id, r->image, r->label,
	    r->true_label, r->label == r->true_label ? "true" : "false");
	NUM("confidence", r->confidence);
	ADD(", \"where\": \"%s\", ", r->where == AG_EDGE ? "edge" : "device");
	if (r->reason == AG_FB_NONE)
		ADD("\"fallback\": null, ");
	else
		ADD("\"fallback\": \"%s\", ", ag_reason_name(r->reason));
	if (r->error_code)
		ADD("\"edge_error\": \"%s\", ", cw_error_name((enum cw_error_code)r->error_code));
	ADD("\"exit\": %d, \"action\": {\"exit\": %d, \"partition\": %d, \"bits\": %d, "
	    "\"codec\": %s%s%s}, ",
	    r->exit + 1, r->action.exit + 1, r->action.partition, dev_only ? 0 : r->action.bits,
	    dev_only ? "" : "\"", dev_only ? "null" : cc_codec_name(r->codec),
	    dev_only ? "" : "\"");
	if (r->where == AG_DEVICE)
		ADD("\"resumed_at\": %d, ", r->from);
	else
		ADD("\"resumed_at\": null, ");
	ADD("\"decided_by\": \"%s\", ", decider_name(r->decided_by, local));
	if (r->decide) {
		ADD("\"decide\": \"%s\", ", ag_decide_name(r->decide));
		NUM("decide_ms", r->decide_ms);
		ADD(", ");
	}
	NUM("deadline_ms", r->deadline_ms);
	ADD(", \"deadline_met\": %s, ", r->deadline_met ? "true" : "false");
	NUM("latency_ms", r->latency_ms);
	ADD(", ");
	NUM("latency_ms_real", r->latency_real_ms);
	ADD(", ");
	NUM("head_ms", r->head_ms);
	ADD(", ");
	NUM("head_ms_real", r->head_real_ms);
	ADD(", ");
	NUM("encode_ms", r->encode_ms);
	ADD(", ");
	NUM("encode_ms_real", r->encode_real_ms);
	ADD(", ");
	NUM("local_ms", r->local_ms);
	ADD(", ");
	NUM("local_ms_real", r->local_real_ms);
	ADD(", \"bytes\": %zu, ", r->bytes);
	if (r->where == AG_EDGE)
		ADD("\"queue_us\": %u, \"decode_us\": %u, \"compute_us\": %u, \"batch\": %u, ",
		    r->queue_us, r->decode_us, r->compute_us, r->batch);
	else
		ADD("\"queue_us\": null, \"decode_us\": null, \"compute_us\": null, \"batch\": null, ");
	NUM("rtt_ms", r->rtt_ms);
	ADD(", ");
	NUM("bandwidth_bps", r->bw_bps);
	ADD(", ");
	if (r->verify_label >= 0)
		ADD("\"verify_label\": %d, ", r->verify_label);
	NUM("t_ms", r->t_ms);
	/* the schedule (docs/agent.md, "Arrivals") and the emulated links ("Shaping") */
	const struct { const char *key; double v; } sched[] = {
		{"t_sched_ms", r->t_sched_ms}, {"sched_lag_ms", r->sched_lag_ms},
		{"uplink_ms", r->uplink_ms}, {"downlink_ms", r->downlink_ms},
		{"link_bps", r->link_bps}};
	ADD(", \"warmup\": %s", r->warmup ? "true" : "false");
	for (size_t i = 0; i < sizeof(sched) / sizeof(sched[0]); i++) {
		ADD(", ");
		NUM(sched[i].key, sched[i].v);
	}
	ADD("}\n");
	return n < cap ? (int)n : -1;
}

/* Nearest rank. */
static void latency_stats(double *v, size_t n, struct ag_latency *out)
{
	memset(out, 0, sizeof(*out));
	if (!n) {
		out->mean = out->p50 = out->p99 = out->max = NAN;
		return;
	}
	cf_sort_doubles(v, n);
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	out->mean = s / (double)n;
	size_t r50 = (size_t)ceil(0.50 * (double)n), r99 = (size_t)ceil(0.99 * (double)n);
	out->p50 = v[(r50 ? r50 : 1) - 1];
	out->p99 = v[(r99 ? r99 : 1) - 1];
	out->max = v[n - 1];
}

static void udp_add(struct ag_udp_stats *u, const struct ag_dg *g)
{
	if (!g)
		return;
	const struct ag_udp_stats *a = &g->st;
	u->datagrams_out += a->datagrams_out;
	u->datagrams_in += a->datagrams_in;
	u->send_errors += a->send_errors;
	u->acks_in += a->acks_in;
	u->acks_out += a->acks_out;
	u->retransmissions += a->retransmissions;
	u->timeouts += a->timeouts;
	u->fallbacks_after_retries += a->fallbacks_after_retries;
	u->duplicate_replies += a->duplicate_replies;
	u->duplicate_datagrams += a->duplicate_datagrams;
	u->malformed += a->malformed;
	u->stray += a->stray;
	u->faults.seen += g->faults.n.seen;
	u->faults.dropped += g->faults.n.dropped;
	u->faults.duplicated += g->faults.n.duplicated;
	u->faults.reordered += g->faults.n.reordered;
}

void ag_fleet_summary(const struct ag_fleet *f, struct ag_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->agents = f->cfg.agents;
	for (int t = 0; t < f->nth; t++) /* started: a duration or a stop ends them early */
		for (int i = 0; i < f->th[t].n; i++)
			s->requests += (uint64_t)f->th[t].agents[i].started;
	s->wall_s = f->wall_s;
	s->device_class = f->cfg.device_class;
	s->decide_name = f->cfg.decide_name;
	s->slowdown = f->cfg.slowdown;
	s->profile = f->cfg.profile != NULL;
	s->n_exits = f->m->n_exits;
	for (int e = 0; e < f->m->n_exits; e++) {
		double meas = ag_times_range_ms(&f->measured, e, 0, f->m->exit_len[e]);
		double emu = ag_times_range_ms(&f->emulated, e, 0, f->m->exit_len[e]);
		s->exit_ms_measured[e] = meas;
		s->exit_ms_emulated[e] = emu > meas ? emu : meas;
	}
	double *lat = malloc((f->nrec ? f->nrec : 1) * sizeof(double));
	double *real = malloc((f->nrec ? f->nrec : 1) * sizeof(double));
	for (size_t i = 0; i < f->nrec; i++) {
		const struct ag_record *r = &f->records[i];
		s->answered++;
		if (r->where == AG_EDGE)
			s->edge++;
		else
			s->device++;
		s->fallbacks[r->reason]++;
		s->decided_by[r->decided_by]++;
		s->decide[r->decide]++;
		s->correct += r->label == r->true_label;
		s->deadline_met += (uint64_t)r->deadline_met;
		s->bytes_sent += r->bytes;
		s->late_starts += r->sched_lag_ms > AG_LATE_START_MS;
		if (r->sched_lag_ms > s->max_sched_lag_ms)
			s->max_sched_lag_ms = r->sched_lag_ms;
		if (r->verify_label >= 0) {
			s->verified++;
			s->verify_mismatches += r->verify_label != r->label;
		}
		if (lat && real) {
			lat[i] = r->latency_ms;
			real[i] = r->latency_real_ms;
		}
	}
	s->edge_down_requests = s->fallbacks[AG_FB_EDGE_DOWN];
	s->accuracy = s->answered ? (double)s->correct / (double)s->answered : NAN;
	if (lat && real) {
		latency_stats(lat, f->nrec, &s->latency_ms);
		latency_stats(real, f->nrec, &s->latency_real_ms);
	}
	free(lat);
	free(real);
	int nbw = 0, nrtt = 0;
	for (int t = 0; t < f->nth; t++)
		if (f->th[t].late_ms > s->timer_late_ms)
			s->timer_late_ms = f->th[t].late_ms;
	for (int t = 0; t < f->nth; t++)
		for (int i = 0; i < f->th[t].n; i++) {
			const struct ag_agent *a = &f->th[t].agents[i];
			s->late_replies += a->late;
			s->reconnects += a->reconnects;
			s->connects += a->connects;
			s->drops += a->drops;
			s->edge_downs += a->brk.downs;
			s->edge_ups += a->brk.ups;
			s->probes += a->brk.probes;
			if (a->bw.bps > 0) {
				s->bandwidth_bps_mean += a->bw.bps;
				nbw++;
			}
			if (a->bw.srtt_us > 0) {
				s->rtt_ms_mean += a->bw.srtt_us / 1000.0;
				nrtt++;
			}
		}
	s->udp = f->cfg.transport == AG_TRANSPORT_UDP;
	for (int t = 0; s->udp && t < f->nth; t++)
		for (int i = 0; i < f->th[t].n; i++)
			udp_add(&s->udp_stats, f->th[t].agents[i].dg);
	s->bandwidth_bps_mean = nbw ? s->bandwidth_bps_mean / nbw : NAN;
	s->rtt_ms_mean = nrtt ? s->rtt_ms_mean / nrtt : NAN;
}

static void lat_json(FILE *f, const char *key, const struct ag_latency *l)
{
	char a[64], b[64], c[64], d[64];
	num(a, sizeof(a), "mean", l->mean);
	num(b, sizeof(b), "p50", l->p50);
	num(c, sizeof(c), "p99", l->p99);
	num(d, sizeof(d), "max", l->max);
	fprintf(f, "\"%s\": {%s, %s, %s, %s}", key, a, b, c, d);
}

#define U(x) (unsigned long long)(x)
static void udp_json(FILE *f, const struct ag_udp_stats *u)
{
	fprintf(f,
		"\"udp\": {\"datagrams_out\": %llu, \"datagrams_in\": %llu, \"send_errors\": %llu, "
		"\"acks_in\": %llu, \"acks_out\": %llu, \"retransmissions\": %llu, "
		"\"timeouts\": %llu, \"fallbacks_after_retries\": %llu, "
		"\"duplicate_replies\": %llu, \"duplicate_datagrams\": %llu, \"malformed\": %llu, "
		"\"stray\": %llu, \"faults\": {\"seen\": %llu, \"dropped\": %llu, "
		"\"duplicated\": %llu, \"reordered\": %llu}}, ",
		U(u->datagrams_out), U(u->datagrams_in), U(u->send_errors), U(u->acks_in),
		U(u->acks_out), U(u->retransmissions), U(u->timeouts),
		U(u->fallbacks_after_retries), U(u->duplicate_replies), U(u->duplicate_datagrams), U(u->malformed), U(u->stray),
		U(u->faults.seen), U(u->faults.dropped), U(u->faults.duplicated),
		U(u->faults.reordered));
}
#undef U

void ag_summary_json(const struct ag_summary *s, FILE *f)
{
	char acc[64], bw[64], rtt[64], wall[64], late[64], lag[64];
	num(lag, sizeof(lag), "max_sched_lag_ms", s->max_sched_lag_ms);
	num(late, sizeof(late), "timer_late_ms", s->timer_late_ms);
	num(acc, sizeof(acc), "accuracy", s->accuracy);
	num(bw, sizeof(bw), "bandwidth_bps_mean", s->bandwidth_bps_mean);
	num(rtt, sizeof(rtt), "rtt_ms_mean", s->rtt_ms_mean);
	num(wall, sizeof(wall), "wall_s", s->wall_s);
	fprintf(f,
		"{\"summary\": {\"agents\": %d, \"requests\": %llu, \"answered\": %llu, \"lost\": %llu, "
		"\"edge\": %llu, \"device\": %llu, \"fallbacks\": {",
		s->agents, (unsigned long long)s->requests, (unsigned long long)s->answered,
		(unsigned long long)(s->requests > s->answered ? s->requests - s->answered : 0),
		(unsigned long long)s->edge, (unsigned long long)s->device);
	uint64_t total = 0;
	for (int r = AG_FB_NONE + 1; r < AG_FB_COUNT; r++) {
		fprintf(f, "%s\"%s\": %llu", r > 1 ? ", " : "", ag_reason_name((enum ag_reason)r),
			(unsigned long long)s->fallbacks[r]);
		total += s->fallbacks[r];
	}
	fprintf(f, ", \"total\": %llu}, \"decided_by\": {", (unsigned long long)total);
	for (int d = 0; d < AG_BY_COUNT; d++)
		fprintf(f, "%s\"%s\": %llu", d ? ", " : "",
			decider_name((enum ag_decider)d, s->decide_name),
			(unsigned long long)s->decided_by[d]);
	fprintf(f, "}, \"decide\": {");
	for (int o = AG_DECIDE_NONE + 1; o < AG_DECIDE_COUNT; o++)
		fprintf(f, "%s\"%s\": %llu", o > 1 ? ", " : "",
			ag_decide_name((enum ag_decide_outcome)o), (unsigned long long)s->decide[o]);
	fprintf(f, "}, %s, \"correct\": %llu, \"deadline_met\": %llu, ", acc,
		(unsigned long long)s->correct, (unsigned long long)s->deadline_met);
	lat_json(f, "latency_ms", &s->latency_ms);
	fprintf(f, ", ");
	lat_json(f, "latency_ms_real", &s->latency_real_ms);
	fprintf(f,
		", \"bytes_sent\": %llu, \"late_replies\": %llu, \"connects\": %llu, "
		"\"reconnects\": %llu, \"drops\": %llu, \"breaker\": {\"edge_down\": %llu, "
		"\"edge_up\": %llu, \"probes\": %llu, \"device_while_down\": %llu}, "
		"\"verify\": {\"checked\": %llu, \"mismatches\": %llu}, %s, %s, %s, %s, "
		"\"late_starts\": %llu, %s, ",
		(unsigned long long)s->bytes_sent, (unsigned long long)s->late_replies,
		(unsigned long long)s->connects, (unsigned long long)s->reconnects,
		(unsigned long long)s->drops, (unsigned long long)s->edge_downs,
		(unsigned long long)s->edge_ups, (unsigned long long)s->probes,
		(unsigned long long)s->edge_down_requests, (unsigned long long)s->verified,
		(unsigned long long)s->verify_mismatches, bw, rtt, late, wall,
		(unsigned long long)s->late_starts, lag);
	if (s->udp)
		udp_json(f, &s->udp_stats);
	fprintf(f, "\"emulation\": {\"class\": \"%s\", \"mode\": \"%s\", ",
		s->device_class ? s->device_class : "", s->profile ? "profile" : "slowdown");
	char k[64];
	num(k, sizeof(k), "slowdown", s->slowdown);
	fprintf(f, "%s, \"exits\": [", k);
	for (int e = 0; e < s->n_exits; e++) {
		char a[64], b[64];
		num(a, sizeof(a), "ms_measured", s->exit_ms_measured[e]);
		num(b, sizeof(b), "ms_emulated", s->exit_ms_emulated[e]);
		fprintf(f, "%s{\"exit\": %d, %s, %s}", e ? ", " : "", e + 1, a, b);
	}
	fprintf(f, "]}}}\n");
}
