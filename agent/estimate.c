/* The agent's pure pieces: bandwidth and RTT estimation, reconnect backoff, the
 * per-layer time table and the fallback exit choice (docs/agent.md). */
#include <errno.h>
#include <string.h>

#include "coinfer/agent.h"

/* ---- bandwidth and RTT ------------------------------------------------------------- */

void ag_bw_defaults(struct ag_bw_config *c)
{
	c->alpha = 0.25;
	c->rtt_alpha = 0.125;
	c->min_transfer_us = 200;
	c->max_bps = 10e9;
}

void ag_bw_init(struct ag_bw *b, const struct ag_bw_config *c)
{
	memset(b, 0, sizeof(*b));
	if (c)
		b->cfg = *c;
	else
		ag_bw_defaults(&b->cfg);
}

void ag_bw_rtt(struct ag_bw *b, double rtt_us)
{
	if (!(rtt_us >= 0))
		return;
	b->rtt_win[b->rtt_next] = rtt_us;
	b->rtt_next = (b->rtt_next + 1) % AG_RTT_WINDOW;
	if (b->rtt_n < AG_RTT_WINDOW)
		b->rtt_n++;
	b->srtt_us = b->rtt_samples ? b->srtt_us + b->cfg.rtt_alpha * (rtt_us - b->srtt_us) : rtt_us;
	b->rtt_samples++;
}

double ag_bw_rtt_base_us(const struct ag_bw *b)
{
	double m = 0;
	for (int i = 0; i < b->rtt_n; i++)
		if (i == 0 || b->rtt_win[i] < m)
			m = b->rtt_win[i];
	return m;
}

static int bw_sample(struct ag_bw *b, double bytes, double transfer_us)
{
	if (!(bytes > 0) || !(transfer_us >= b->cfg.min_transfer_us)) {
		b->skipped++;
		return 0;
	}
	double s = bytes * 8.0 * 1e6 / transfer_us;
	if (s > b->cfg.max_bps)
		s = b->cfg.max_bps;
	b->last_bps = s;
	b->bps = b->bps > 0 ? b->bps + b->cfg.alpha * (s - b->bps) : s;
	return 1;
}

int ag_bw_upload(struct ag_bw *b, double bytes, double total_us, double server_us)
{
	int used = bw_sample(b, bytes, total_us - server_us - ag_bw_rtt_base_us(b));
	b->uploads += (uint64_t)used;
	return used;
}

int ag_bw_probe(struct ag_bw *b, double extra_bytes, double rtt_us)
{
	if (!b->rtt_n) { /* no base to compare with */
		b->skipped++;
		return 0;
	}
	int used = bw_sample(b, extra_bytes, rtt_us - ag_bw_rtt_base_us(b));
	b->probes += (uint64_t)used;
	return used;
}

/* ---- backoff ------------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void ag_backoff_init(struct ag_backoff *b, uint64_t base_us, uint64_t cap_us, uint64_t seed)
{
	b->base_us = base_us ? base_us : 1;
	b->cap_us = cap_us < b->base_us ? b->base_us : cap_us;
	b->attempt = 0;
	b->rng = seed;
}

uint64_t ag_backoff_next(struct ag_backoff *b)
{
	uint64_t d = b->base_us;
	for (unsigned i = 0; i < b->attempt && d < b->cap_us; i++)
		d = d > b->cap_us / 2 ? b->cap_us : d * 2;
	if (d > b->cap_us)
		d = b->cap_us;
	if (b->attempt < 64)
		b->attempt++;
	uint64_t half = d / 2;
	return half + splitmix(&b->rng) % (d - half + 1);
}

void ag_backoff_reset(struct ag_backoff *b)
{
	b->attempt = 0;
}

/* ---- times and the fallback exit -------------------------------------------------------- */

int ag_times_init(struct ag_times *t, const struct cr_model *m)
{
	memset(t, 0, sizeof(*t));
	if (m->n_exits < 1 || m->n_exits > AG_MAX_EXITS)
		return -EINVAL;
	t->n_exits = m->n_exits;
	for (int e = 0; e < m->n_exits; e++) {
		if (m->exit_len[e] < 1 || m->exit_len[e] > AG_MAX_POS)
			return -EINVAL;
		t->len[e] = m->exit_len[e];
	}
	for (int a = 0; a < m->n_exits; a++)
		for (int b = 0; b < m->n_exits; b++) {
			int n = t->len[a] < t->len[b] ? t->len[a] : t->len[b], c = 0;
			while (c < n && m->exit_layers[a][c] == m->exit_layers[b][c])
				c++;
			t->common[a][b] = c;
		}
	return 0;
}

double ag_times_range_ms(const struct ag_times *t, int e, int from, int to)
{
	double s = 0;
	for (int i = from; i < to; i++)
		s += t->ms[e][i];
	return s;
}

int ag_resume_pos(const struct ag_times *t, int e, int p, int e2)
{
	int c = t->common[e][e2];
	return p < c ? p : c;
}

void ag_fallback_choose(const struct ag_times *t, int e, int p_done, double left_ms,
			struct ag_choice *out)
{
	int best_fit = -1, quickest = -1;
	double need[AG_MAX_EXITS];
	for (int x = 0; x < t->n_exits; x++) {
		int from = ag_resume_pos(t, e, p_done, x);
		need[x] = ag_times_range_ms(t, x, from, t->len[x]);
		if (need[x] <= left_ms)
			best_fit = x; /* ascending: the last that fits is the deepest */
		if (quickest < 0 || need[x] < need[quickest])
			quickest = x;
	}
	int x = best_fit >= 0 ? best_fit : quickest;
	out->exit = x;
	out->from = ag_resume_pos(t, e, p_done, x);
	out->need_ms = need[x];
	out->fits = best_fit >= 0;
}

double ag_fallback_reserve_ms(const struct ag_times *t, int e, int p_done)
{
	struct ag_choice c;
	ag_fallback_choose(t, e, p_done, -1.0, &c);
	return c.need_ms;
}

const char *ag_arrival_name(enum ag_arrival a)
{
	switch (a) {
	case AG_ARRIVAL_CLOSED: return "closed";
	case AG_ARRIVAL_FIXED: return "fixed";
	case AG_ARRIVAL_POISSON: return "poisson";
	case AG_ARRIVAL_GAPS: return "gaps";
	}
	return "?";
}

const char *ag_transport_name(enum ag_transport t)
{
	return t == AG_TRANSPORT_UDP ? "udp" : "tcp";
}

const char *ag_reason_name(enum ag_reason r)
{
	switch (r) {
	case AG_FB_NONE: return "none";
	case AG_FB_TIMEOUT: return "timeout";
	case AG_FB_BUSY: return "busy";
	case AG_FB_DEADLINE: return "deadline";
	case AG_FB_SHUTDOWN: return "shutdown";
	case AG_FB_ERROR: return "error";
	case AG_FB_DISCONNECTED: return "disconnected";
	case AG_FB_UNREACHABLE: return "unreachable";
	case AG_FB_LIMIT: return "limit";
	case AG_FB_NO_TIME: return "no-time";
	case AG_FB_EDGE_DOWN: return "edge-down";
	case AG_FB_COUNT: break;
	}
	return "unknown";
}

int ag_codec_parse(const char *s)
{
	for (int c = 0; c < CC_CODEC_COUNT; c++)
		if (!strcmp(s, cc_codec_name((enum cc_codec)c)))
			return c;
	return -1;
}
