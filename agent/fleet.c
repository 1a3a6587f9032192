/* The device agents: each thread runs one poll loop over its agents. An agent is
 * a connection state machine (down -> connecting -> HELLO sent -> ready) and a
 * few request slots (head computed and dilating -> sent -> answered, or local
 * fallback computed and dilating -> answered). Compute runs inline in the loop;
 * every wait (time dilation, reply timeouts, backoff, the breaker's probes) is a
 * timer of the loop.
 *
 * Ownership of the reused buffers (all allocated at creation, none per request):
 * - a slot's msg belongs to its request from slot_run until the slot is S_FREE
 *   and !tx_pending; while tx_pending the tx queue reads it, so a slot is not
 *   restarted before the socket took (or conn_close dropped) the whole message.
 * - a slot's decide_msg likewise while decide_busy.
 * - the agent's ping (keepalives and the breaker's probes alike), pong and hello
 *   belong to the tx queue while ping_busy / pong_busy / cs == C_HELLO with the
 *   HELLO queued; a PING or PONG due while its buffer is queued is not written
 *   (the queued one stands for it).
 * - tx entries point into those buffers and never own them; conn_close empties
 *   the queue and hands every buffer back by clearing the flags above. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coinfer/clock.h"
#include "coinfer/errmsg.h"
#include "internal.h"

#define MS 1000000ull /* ns */
#define NEVER UINT64_MAX
/* DECIDE ids: the request's id with this bit, so that a late ERROR to a DECIDE
 * is never taken for one to the request's INFER */
#define DECIDE_ID (1ull << 63)
#define NEXT_MAX_AGE (1000 * MS)

/* The fleet's clock (ag_clock): the injected one, or CLOCK_MONOTONIC. */
static uint64_t fnow(const struct ag_fleet *f)
{
	return f->cfg.clock.now_ns ? f->cfg.clock.now_ns(f->cfg.clock.ctx) : cf_now_ns();
}

static int fwait(const struct ag_fleet *f, struct pollfd *fds, nfds_t n, uint64_t ns)
{
	if (f->cfg.clock.wait)
		return f->cfg.clock.wait(f->cfg.clock.ctx, fds, n, ns);
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
	return ppoll(fds, n, &ts, NULL);
}

static uint64_t ms_to_ns(double ms)
{
	return ms <= 0 ? 0 : (uint64_t)(ms * 1e6 + 0.5);
}

static double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void logf_(struct ag_fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct ag_fleet *f, const char *fmt, ...)
{
	if (!f->cfg.log)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&f->out_mu);
	fprintf(f->cfg.log, "coinfer-agent: %s\n", line);
	fflush(f->cfg.log);
	pthread_mutex_unlock(&f->out_mu);
}

void ag_config_defaults(struct ag_config *c)
{
	memset(c, 0, sizeof(*c));
	c->host = "127.0.0.1";
	c->port = CW_DEFAULT_PORT;
	c->agents = 1;
	c->threads = 1;
	c->requests = 20;
	c->inflight = 1;
	c->deadline_ms = 100;
	c->margin_ms = 2;
	c->action = (struct cf_action){.exit = 2, .partition = 8, .bits = 8};
	c->codec = CC_CODEC_HUFFMAN;
	c->slowdown = 1;
	c->device_id_base = 1;
	c->device_class = "host";
	c->app = "default";
	c->backoff_base_us = 50000;
	c->backoff_cap_us = 2000000;
	ag_breaker_defaults(&c->breaker);
	c->connect_timeout_ms = 1000;
	c->connect_wait_ms = 2000;
	c->ping_ms = 500;
	c->ping_pad = 16384;
	ag_bw_defaults(&c->bw);
	c->calib_runs = 5;
	c->seed = 1;
}

/* ---- model geometry --------------------------------------------------------------- */

static void boundary_dims(const struct cr_model *m, int e, int p, uint32_t dims[3])
{
	if (p == 0) {
		dims[0] = (uint32_t)m->in_c, dims[1] = (uint32_t)m->in_h, dims[2] = (uint32_t)m->in_w;
	} else {
		const struct cr_layer *L = cr_model_exit_layer(m, e, p - 1);
		dims[0] = (uint32_t)L->out_c, dims[1] = (uint32_t)L->out_h, dims[2] = (uint32_t)L->out_w;
	}
}

static int action_ok(const struct cr_model *m, const struct cf_action *a, enum cc_codec codec,
		     int per_channel, char *err, size_t errlen)
{
	if (a->exit < 0 || a->exit >= m->n_exits)
		return cf_fail(0, err, errlen, "exit %d: the model has exits 1..%d", a->exit + 1,
			       m->n_exits);
	if (a->partition < 0 || a->partition > m->exit_len[a->exit])
		return cf_fail(0, err, errlen, "partition %d: exit %d has partitions 0..%d",
			       a->partition, a->exit + 1, m->exit_len[a->exit]);
	if (a->partition == m->exit_len[a->exit])
		return 1; /* device only: no codec */
	if ((int)codec < 0 || codec >= CC_CODEC_COUNT)
		return cf_fail(0, err, errlen, "unknown codec %d", (int)codec);
	int raw = codec == CC_CODEC_RAW32 || codec == CC_CODEC_RAW16;
	if (raw ? a->bits != 0 || per_channel : a->bits < 2 || a->bits > 16)
		return cf_fail(0, err, errlen,
			       "bits %d with codec %s (raw codecs take 0, the others 2..16)",
			       a->bits, cc_codec_name(codec));
	return 1;
}

/* ---- time dilation --------------------------------------------------------------------- */

/* The emulated time of layers [from, to) of exit e that took real_ms here. */
static double emu_compute_ms(const struct ag_fleet *f, int e, int from, int to, double real_ms)
{
	double emu = real_ms * f->cfg.slowdown;
	if (f->cfg.profile) {
		double p = ag_times_range_ms(&f->emulated, e, from, to);
		emu = p > real_ms ? p : real_ms;
	}
	return emu > real_ms ? emu : real_ms;
}

static double emu_encode_ms(const struct ag_fleet *f, const struct ag_record *r, size_t elems,
			    double real_ms)
{
	double emu = real_ms * f->enc_scale;
	if (f->cfg.encode_model) {
		double model =
			f->cfg.encode_model(f->cfg.encode_ctx, r->codec, r->action.bits, elems);
		if (model > 0)
			emu = model;
	}
	return emu > real_ms ? emu : real_ms;
}

/* ---- output ------------------------------------------------------------------------------ */

static int argmax_conf(const float *logits, int n, float *conf)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (logits[i] > logits[best])
			best = i;
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += exp((double)(logits[i] - logits[best]));
	*conf = (float)(1.0 / sum);
	return best;
}

static void emit(struct ag_thread *th, struct ag_record *r)
{
	struct ag_fleet *f = th->f;
	if (th->nrec == th->caprec) {
		size_t cap = th->caprec ? th->caprec * 2 : 64;
		struct ag_record *n = realloc(th->recs, cap * sizeof(*n));
		if (!n) {
			th->failed = 1;
			snprintf(th->err, sizeof(th->err), "out of memory for records");
			return;
		}
		th->recs = n;
		th->caprec = cap;
	}
	th->recs[th->nrec++] = *r;
	if (f->cfg.out) {
		char line[2048];
		ag_record_json_named(r, f->cfg.decide_name, line, sizeof(line));
		pthread_mutex_lock(&f->out_mu);
		fputs(line, f->cfg.out);
		fflush(f->cfg.out);
		pthread_mutex_unlock(&f->out_mu);
	}
}

/* ---- the circuit breaker ----------------------------------------------------------------- */

/* The edge answered in time: a reply to an outstanding request or DECIDE
 * (probe 0), or a PONG or WELCOME (probe 1): alive, whatever the breaker
 * thought. */
static void edge_answered(struct ag_agent *a, uint64_t now, int probe)
{
	int was_up = ag_breaker_allows(&a->brk);
	a->t_ping_wait = 0;
	if (probe)
		ag_breaker_probe_answered(&a->brk, now);
	else
		ag_breaker_success(&a->brk, now);
	if (!was_up)
		logf_(a->th->f, "agent %d: edge up again after %llu probes: requests go to it", a->idx,
		      (unsigned long long)a->brk.probes);
}

/* A reply timeout (trip 0), or silence after a PING (trip 1). */
static void edge_failed(struct ag_agent *a, uint64_t now, int trip)
{
	int was_up = ag_breaker_allows(&a->brk);
	if (trip)
		ag_breaker_trip(&a->brk, now);
	else
		ag_breaker_failure(&a->brk, now);
	if (was_up && !ag_breaker_allows(&a->brk))
		logf_(a->th->f, "agent %d: edge down (%s): new requests stay on the device, probing",
		      a->idx, trip ? "a PING unanswered" : "consecutive reply timeouts");
}

/* ---- requests ------------------------------------------------------------------------------ */

static void slot_finish(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	struct ag_record *r = &s->rec;
	r->latency_ms = ns_to_ms(now - s->t_start);
	r->latency_real_ms = r->latency_ms - s->dilation_ms;
	if (r->latency_real_ms < 0)
		r->latency_real_ms = 0;
	r->deadline_met = r->latency_ms <= r->deadline_ms;
	r->rtt_ms = a->bw.srtt_us / 1000.0;
	r->bw_bps = a->bw.bps;
	r->t_ms = ns_to_ms(now - f->t0);
	emit(a->th, r);
	s->st = S_FREE;
	a->answered++;
	if (f->cfg.interval_ms <= 0 && a->t_next_start < now)
		a->t_next_start = now; /* closed loop: the next one starts now */
}

/* Normalised input of the slot's image into store 0, every exit resuming at 0. */
static float *slot_input(struct ag_agent *a, struct ag_slot *s)
{
	struct ag_fleet *f = a->th->f;
	cr_model_normalize(f->m, f->ds->images + (size_t)s->rec.image * f->ds->c * f->ds->h * f->ds->w,
			   s->store[0], 1);
	s->n_store = 1;
	s->store_pos[0] = 0;
	for (int x = 0; x < f->m->n_exits; x++)
		s->store_of[x] = 0;
	return s->store[0];
}

/* Runs layers [0, p) of exit e, keeping the tensor at every position another exit
 * would resume from (they share the trunk up to there). */
static void run_head(struct ag_agent *a, struct ag_slot *s, int e, int p)
{
	struct ag_fleet *f = a->th->f;
	const struct ag_times *t = &f->measured;
	int q[AG_MAX_EXITS], nq = 0;
	slot_input(a, s);
	for (int x = 0; x < t->n_exits; x++) {
		int r = ag_resume_pos(t, e, p, x), k = 0;
		while (k < nq && q[k] != r)
			k++;
		if (k == nq)
			q[nq++] = r;
	}
	for (int i = 1; i < nq; i++) /* ascending */
		for (int j = i; j > 0 && q[j - 1] > q[j]; j--) {
			int tmp = q[j];
			q[j] = q[j - 1];
			q[j - 1] = tmp;
		}
	/* store 0 holds the input (position 0); q[0] may be 0 or larger */
	int at = 0, cur = 0;
	s->n_store = 0;
	for (int i = 0; i < nq; i++) {
		int dst = i;
		if (q[i] > at) {
			const float *o;
			cr_exec_run(a->th->x, e, at, q[i], s->store[cur], 1, &o);
			memcpy(s->store[dst], o, cr_model_boundary_floats(f->m, e, q[i]) * sizeof(float));
			at = q[i];
		}
		/* q[0] == 0: store 0 already holds the input */
		s->store_pos[dst] = q[i];
		cur = dst;
	}
	s->n_store = nq;
	for (int x = 0; x < t->n_exits; x++) {
		int r = ag_resume_pos(t, e, p, x);
		for (int k = 0; k < nq; k++)
			if (s->store_pos[k] == r)
				s->store_of[x] = k;
	}
}

/* Runs layers [from, N_e) of exit e on what the slot holds; the answer is given
 * when their emulated time has passed. */
static void answer_here(struct ag_agent *a, struct ag_slot *s, int e, int from, enum ag_reason why)
{
	struct ag_fleet *f = a->th->f;
	struct ag_record *r = &s->rec;
	const int n = f->m->exit_len[e];
	uint64_t t0 = fnow(f);
	const float *o;
	cr_exec_run(a->th->x, e, from, n, s->store[s->store_of[e]], 1, &o);
	s->local_label = argmax_conf(o, f->m->n_classes, &s->local_conf);
	double real = ns_to_ms(fnow(f) - t0);
	double emu = emu_compute_ms(f, e, from, n, real);
	s->dilation_ms += emu - real;
	r->where = AG_DEVICE;
	r->reason = why;
	r->exit = e;
	r->from = from;
	r->label = s->local_label;
	r->confidence = s->local_conf;
	r->local_ms = emu;
	r->local_real_ms = real;
	s->st = S_LOCAL;
	s->t_event = t0 + ms_to_ns(emu);
}

/* Local answer from what the slot holds (p_done: the head position computed). */
static void go_local(struct ag_agent *a, struct ag_slot *s, enum ag_reason why, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	struct ag_record *r = &s->rec;
	double left = r->deadline_ms - ns_to_ms(now - s->t_start);
	if (a->sent_outstanding > 0 && s->st == S_SENT)
		a->sent_outstanding--;
	struct ag_choice c;
	if (s->p_done == 0)
		slot_input(a, s);
	/* the emulated per-layer times decide what fits */
	ag_fallback_choose(&f->emulated, r->action.exit, s->p_done, left - f->cfg.margin_ms, &c);
	answer_here(a, s, c.exit, c.from, why);
}

static void tx_push(struct ag_agent *a, const uint8_t *p, size_t len, int slot,
		    enum ag_tx_kind kind)
{
	struct ag_tx *t = &a->tx[(a->tx_head + a->tx_n) % AG_TX_MAX];
	*t = (struct ag_tx){.p = p, .len = len, .off = 0, .slot = slot, .kind = kind};
	a->tx_n++;
}

static void conn_drop(struct ag_agent *a, const char *why, uint64_t now);
static int tx_flush(struct ag_agent *a, uint64_t now);

/* The head is done and its emulated time has passed: send, or answer locally. */
static void slot_send(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	struct ag_record *r = &s->rec;
	if (!ag_breaker_allows(&a->brk)) { /* it opened while the head dilated */
		go_local(a, s, AG_FB_EDGE_DOWN, now);
		return;
	}
	if (a->cs != C_READY) {
		go_local(a, s, AG_FB_UNREACHABLE, now);
		return;
	}
	if (a->sent_outstanding >= a->welcome.max_inflight || s->frame_len > a->welcome.max_frame ||
	    a->tx_n >= AG_TX_MAX - 2) {
		go_local(a, s, AG_FB_LIMIT, now);
		return;
	}
	double left = r->deadline_ms - ns_to_ms(now - s->t_start);
	double reserve = 1.1 * ag_fallback_reserve_ms(&f->emulated, r->action.exit, s->p_done) +
			 f->cfg.margin_ms + fmin(a->th->late_ms, 0.25 * r->deadline_ms);
	/* Wait for the edge while a local answer could still make the deadline. When
	 * none can (a slow device, a tight deadline), the edge is the only way to
	 * meet it: wait for it until the deadline, then finish here, late. */
	double wait_ms = r->deadline_ms - reserve;
	if (left - reserve <= 0)
		wait_ms = r->deadline_ms - f->cfg.margin_ms;
	if (wait_ms <= r->deadline_ms - left || left * 1000 >= (double)UINT32_MAX) {
		go_local(a, s, AG_FB_NO_TIME, now);
		return;
	}
	struct cw_infer m = {
		.request_id = r->id,
		.deadline_us = (uint32_t)(left * 1000),
		.device_us = (uint32_t)((r->head_ms + r->encode_ms) * 1000),
		.flags = f->cfg.edge_decides ? CW_INFER_SUGGEST : 0,
		.action = r->action,
		.frame_len = s->frame_len,
	};
	char err[160];
	size_t len;
	int ret = cw_encode_infer_header(s->msg, f->msg_cap, &m, &len, err, sizeof(err));
	if (ret) {
		logf_(f, "agent %d: INFER not encoded: %s", a->idx, err);
		go_local(a, s, AG_FB_ERROR, now);
		return;
	}
	s->msg_len = len;
	r->bytes = len;
	s->t_sent = now;
	s->t_timeout = s->t_start + ms_to_ns(wait_ms);
	s->st = S_SENT;
	s->tx_pending = 1;
	a->sent_outstanding++;
	tx_push(a, s->msg, len, (int)(s - a->slots), TX_INFER);
	tx_flush(a, now);
}

/* What decide callbacks see of an agent. */
static void agent_state(const struct ag_agent *a, struct ag_state *st)
{
	*st = (struct ag_state){.bandwidth_bps = a->bw.bps, .bw_last_bps = a->bw.last_bps,
				.rtt_ms = a->bw.srtt_us / 1000.0, .queue_ms = a->queue_ms,
				.deadline_ms = a->th->f->cfg.deadline_ms,
				.connected = a->cs == C_READY && ag_breaker_allows(&a->brk),
				.thread = a->th->idx};
}

/* How the tensor of action a is encoded. The configured action takes the
 * configured codec and scales as they are; an action decided elsewhere chose its
 * bits alone: bits 0 is unquantized (raw32), others use the configured codec,
 * or huffman when that one is raw. A decide callback's actions keep per-tensor
 * scales, as the codec table its cost model or policy was built on measured. */
static void encoding_of(const struct ag_config *c, const struct cf_action *a, enum ag_decider by,
			enum cc_codec *codec, int *per_channel)
{
	int raw = c->codec == CC_CODEC_RAW32 || c->codec == CC_CODEC_RAW16;
	*codec = c->codec;
	*per_channel = c->per_channel;
	if (by == AG_BY_FLAGS)
		return;
	*codec = !a->bits ? CC_CODEC_RAW32 : raw ? CC_CODEC_HUFFMAN : c->codec;
	*per_channel = a->bits && !raw && by != AG_BY_LOCAL ? c->per_channel : 0;
}

/* 1 when action a, decided by `by`, is one the model has and its encoding can carry. */
static int usable(const struct ag_fleet *f, const struct cf_action *a, enum ag_decider by)
{
	enum cc_codec codec;
	int per_channel;
	char err[160];
	encoding_of(&f->cfg, a, by, &codec, &per_channel);
	return action_ok(f->m, a, codec, per_channel, err, sizeof(err));
}

static void take_action(const struct ag_fleet *f, struct ag_record *r, const struct cf_action *a,
			enum ag_decider by)
{
	r->action = *a;
	r->decided_by = by;
	encoding_of(&f->cfg, a, by, &r->codec, &r->per_channel);
}

/* The action without the edge's help: the callback's, else the configured one. */
static void decide_here(struct ag_agent *a, struct ag_record *r)
{
	struct ag_fleet *f = a->th->f;
	take_action(f, r, &f->cfg.action, AG_BY_FLAGS);
	if (f->cfg.decide) {
		struct ag_state st;
		struct cf_action act;
		agent_state(a, &st);
		if (!f->cfg.decide(f->cfg.decide_ctx, &st, &act) && usable(f, &act, AG_BY_LOCAL))
			take_action(f, r, &act, AG_BY_LOCAL);
	}
}

/* An action from the wire (partition N_e: on the device only; bits 0 elsewhere:
 * unquantized) into *out when the model has it; else -EINVAL. */
static int action_from_wire(const struct ag_fleet *f, const struct cf_action *w,
			    struct cf_action *out)
{
	if (!usable(f, w, AG_BY_EDGE_DECISION))
		return -EINVAL;
	*out = *w;
	return 0;
}

/* Sends the DECIDE of slot s's request; 0 when it went out (or is queued). */
static int send_decide(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	if (a->cs != C_READY || !ag_breaker_allows(&a->brk) || a->edge_no_policy || s->decide_busy ||
	    a->tx_n >= AG_TX_MAX - 2)
		return -EAGAIN;
	double bps = a->bw.bps > 0 ? a->bw.bps : f->cfg.bw_prior_bps;
	struct cw_decide m = {
		.request_id = s->rec.id | DECIDE_ID,
		.bandwidth_bps = (uint64_t)bps,
		.deadline_us = (uint32_t)fmin(s->rec.deadline_ms * 1000, (double)UINT32_MAX),
	};
	size_t len;
	int ret = cw_encode_decide(s->decide_msg, sizeof(s->decide_msg), &m, &len, NULL, 0);
	if (ret)
		return ret;
	s->st = S_DECIDE;
	s->t_event = now + ms_to_ns(fmin(0.2 * s->rec.deadline_ms, 50));
	s->rec.decide = AG_DECIDE_TIMEOUT; /* until a DECISION says otherwise */
	s->decide_busy = 1;
	a->t_decide = now;
	tx_push(a, s->decide_msg, len, (int)(s - a->slots), TX_DECIDE);
	tx_flush(a, now);
	return 0;
}

static void slot_run(struct ag_agent *a, struct ag_slot *s, uint64_t now);

/* Starts a request in slot s: its action (asking the edge first with
 * --edge-decides), then slot_run. */
static void slot_start(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	struct ag_record *r = &s->rec;
	memset(r, 0, sizeof(*r));
	memset(s->store_of, 0, sizeof(s->store_of));
	s->dilation_ms = 0;
	s->p_done = 0;
	s->frame_len = s->msg_len = 0;
	s->t_start = now;
	r->agent = a->idx;
	r->device_id = a->device_id;
	r->id = a->next_id++;
	int j = a->started++;
	r->image = (int)(((long long)f->cfg.first_image + (long long)a->idx * f->cfg.requests + j) %
			 f->ds->n);
	r->true_label = f->ds->labels[r->image];
	r->deadline_ms = f->cfg.deadline_ms;
	r->verify_label = -1;
	if (f->cfg.interval_ms > 0)
		a->t_next_start += ms_to_ns(f->cfg.interval_ms);
	if (f->cfg.edge_decides) {
		/* a suggestion is made from the state of our last DECIDE: take it
		 * while that state is recent, else send a DECIDE to refresh it */
		int fresh = a->have_next && now - a->t_next <= NEXT_MAX_AGE &&
			    now - a->t_decide <= NEXT_MAX_AGE;
		a->have_next = 0; /* one suggestion, one request */
		if (fresh && a->cs == C_READY && ag_breaker_allows(&a->brk)) {
			take_action(f, r, &a->next, AG_BY_EDGE_NEXT);
			slot_run(a, s, now);
			return;
		}
		if (!send_decide(a, s, now))
			return;
	}
	decide_here(a, r);
	slot_run(a, s, now);
}

/* The DECIDE of slot s is answered, refused, dropped or out of time. */
static void slot_decided(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	struct ag_record *r = &s->rec;
	r->decide_ms = ns_to_ms(now - s->t_start);
	if (r->decide == AG_DECIDE_ANSWERED)
		take_action(a->th->f, r, &s->decision, AG_BY_EDGE_DECISION);
	else
		decide_here(a, r);
	slot_run(a, s, now);
}

/* Runs the request's action: head and encode (sent when their emulated time has
 * passed), or all on the device. */
static void slot_run(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	const struct cr_model *m = f->m;
	struct ag_record *r = &s->rec;
	const int e = r->action.exit, p = r->action.partition, n = m->exit_len[e];

	if (p == n) { /* device only: the whole exit is its head */
		slot_input(a, s);
		answer_here(a, s, e, 0, AG_FB_NONE);
		r->head_ms = r->local_ms;
		r->head_real_ms = r->local_real_ms;
		return;
	}
	/* no head: answer locally at once, the best exit that fits from the input */
	if (!ag_breaker_allows(&a->brk)) {
		go_local(a, s, AG_FB_EDGE_DOWN, now);
		return;
	}
	if (a->cs != C_READY) {
		go_local(a, s, AG_FB_UNREACHABLE, now);
		return;
	}
	uint64_t t0 = fnow(f);
	run_head(a, s, e, p);
	uint64_t t1 = fnow(f);
	s->p_done = p;
	uint32_t dims[3];
	boundary_dims(m, e, p, dims);
	char err[160];
	const float *head = s->store[s->store_of[e]];
	int ret = cc_encoder_encode(a->th->enc, head, 3, dims, r->codec, r->action.bits,
				    r->per_channel, s->msg + CW_INFER_PREFIX_BYTES,
				    f->msg_cap - CW_INFER_PREFIX_BYTES, &s->frame_len, err, sizeof(err));
	uint64_t t2 = fnow(f);
	r->head_real_ms = ns_to_ms(t1 - t0);
	r->head_ms = emu_compute_ms(f, e, 0, p, r->head_real_ms);
	r->encode_real_ms = ns_to_ms(t2 - t1);
	r->encode_ms = emu_encode_ms(f, r, cr_model_boundary_floats(m, e, p),
				     r->encode_real_ms);
	s->dilation_ms = (r->head_ms - r->head_real_ms) + (r->encode_ms - r->encode_real_ms);
	if (ret) {
		logf_(f, "agent %d: encode failed: %s", a->idx, err);
		go_local(a, s, AG_FB_ERROR, now);
		return;
	}
	s->st = S_HEAD;
	s->t_event = t0 + ms_to_ns(r->head_ms + r->encode_ms);
}

static struct ag_slot *find_sent(struct ag_agent *a, uint64_t id)
{
	for (int i = 0; i < a->nslots; i++)
		if (a->slots[i].st == S_SENT && a->slots[i].rec.id == id)
			return &a->slots[i];
	return NULL;
}

/* Decodes the frame that was sent and runs the tail here, as the edge should. */
static void verify(struct ag_agent *a, struct ag_slot *s)
{
	struct ag_fleet *f = a->th->f;
	struct ag_record *r = &s->rec;
	const int e = r->action.exit, p = r->action.partition;
	size_t want = cr_model_boundary_floats(f->m, e, p);
	struct cc_limits lim = {.max_elems = f->max_floats, .max_frame_bytes = f->msg_cap};
	char err[160];
	if (cc_frame_decode(s->msg + CW_INFER_PREFIX_BYTES, s->frame_len, &lim, a->th->verify_buf, want,
			    a->th->scratch, a->th->scratch_bytes, NULL, err, sizeof(err))) {
		logf_(f, "agent %d: verify: %s", a->idx, err);
		return;
	}
	const float *o;
	cr_exec_run(a->th->x, e, p, f->m->exit_len[e], a->th->verify_buf, 1, &o);
	float conf;
	r->verify_label = argmax_conf(o, f->m->n_classes, &conf);
}

static void on_result(struct ag_agent *a, struct ag_slot *s, const struct cw_result *res,
		      uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	struct ag_record *r = &s->rec;
	a->sent_outstanding--;
	edge_answered(a, now, 0);
	r->where = AG_EDGE;
	r->reason = AG_FB_NONE;
	r->label = res->label;
	r->confidence = res->confidence;
	r->exit = res->exit;
	r->from = -1;
	r->queue_us = res->queue_us;
	r->decode_us = res->decode_us;
	r->compute_us = res->compute_us;
	r->batch = res->batch;
	a->queue_ms = res->queue_delay_us / 1000.0;
	if (f->cfg.edge_decides && (res->flags & CW_RESULT_NEXT_VALID) &&
	    !action_from_wire(f, &res->next, &a->next)) {
		a->have_next = 1;
		a->t_next = now;
	}
	double total_us = (double)(now - s->t_sent) / 1000.0;
	ag_bw_upload(&a->bw, (double)s->msg_len, total_us,
		     (double)res->queue_us + res->decode_us + res->compute_us);
	if (f->cfg.verify)
		verify(a, s);
	slot_finish(a, s, now);
}

static enum ag_reason reason_of(uint16_t code)
{
	switch (code) {
	case CW_ERR_BUSY: return AG_FB_BUSY;
	case CW_ERR_DEADLINE: return AG_FB_DEADLINE;
	case CW_ERR_SHUTDOWN: return AG_FB_SHUTDOWN;
	default: return AG_FB_ERROR;
	}
}

/* ---- the connection ---------------------------------------------------------------------- */

static void conn_close(struct ag_agent *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	cw_reader_reset(&a->rd);
	for (int i = 0; i < a->tx_n; i++) {
		struct ag_tx *t = &a->tx[(a->tx_head + i) % AG_TX_MAX];
		if (t->kind == TX_DECIDE)
			a->slots[t->slot].decide_busy = 0;
		else if (t->slot >= 0)
			a->slots[t->slot].tx_pending = 0;
	}
	a->tx_head = a->tx_n = 0;
	a->ping_busy = a->pong_busy = a->ping_outstanding = 0;
	a->t_ping_wait = 0;
}

/* Drops the connection: every request waiting for the edge finishes locally, and
 * the next attempt waits a jittered, growing backoff. */
static void conn_drop(struct ag_agent *a, const char *why, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	int was_ready = a->cs == C_READY;
	conn_close(a);
	a->drops++;
	/* a failing connect is logged once until a connection succeeds */
	if (why && (was_ready || !a->fail_logged++))
		logf_(f, "agent %d: connection %s: %s%s", a->idx, was_ready ? "lost" : "failed", why,
		      was_ready ? "" : " (retrying with backoff)");
	a->cs = C_DOWN;
	a->have_next = 0;
	for (int i = 0; i < a->nslots; i++) {
		struct ag_slot *s = &a->slots[i];
		if (s->st == S_SENT)
			go_local(a, s, AG_FB_DISCONNECTED, now);
		else if (s->st == S_DECIDE) {
			s->rec.decide = AG_DECIDE_DROPPED;
			s->t_event = now;
		}
	}
	a->sent_outstanding = 0;
	if (ag_breaker_allows(&a->brk)) {
		a->t_reconnect = now + ag_backoff_next(&a->bo) * 1000;
		return;
	}
	/* the edge is down: the next attempt is the breaker's next probe, under its
	 * backoff, so a dead edge sees one schedule whether the connection lasts */
	if (a->brk.st == AG_BRK_HALF_OPEN)
		ag_breaker_failure(&a->brk, now);
	a->t_reconnect = a->brk.t_probe;
}

static void conn_connected(struct ag_agent *a, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	struct cw_hello h = {.device_id = a->device_id, .model_checksum = f->m->checksum,
			     .max_inflight = (uint16_t)f->cfg.inflight};
	snprintf(h.device_class, sizeof(h.device_class), "%s", f->cfg.device_class);
	snprintf(h.model, sizeof(h.model), "%s", f->m->name);
	snprintf(h.app, sizeof(h.app), "%s", f->cfg.app);
	size_t len;
	char err[160];
	if (cw_encode_hello(a->hello, sizeof(a->hello), &h, &len, err, sizeof(err))) {
		conn_drop(a, err, now);
		return;
	}
	a->cs = C_HELLO;
	tx_push(a, a->hello, len, -1, TX_HELLO);
	tx_flush(a, now);
}

static void conn_start(struct ag_agent *a, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	a->reconnects += a->drops > 0 || a->connects > 0;
	if (a->brk.st == AG_BRK_DOWN) /* this attempt is the probe: WELCOME answers it */
		ag_breaker_probe_sent(&a->brk, now, now + ms_to_ns(f->cfg.connect_timeout_ms));
	int fd = socket(f->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_drop(a, strerror(errno), now);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	a->fd = fd;
	a->t_handshake = now + ms_to_ns(f->cfg.connect_timeout_ms);
	if (connect(fd, (const struct sockaddr *)&f->addr, f->addrlen) == 0) {
		conn_connected(a, now);
	} else if (errno == EINPROGRESS) {
		a->cs = C_CONNECTING;
	} else {
		char why[96];
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		a->cs = C_CONNECTING;
		conn_drop(a, why, now);
	}
}

/* Writes what the socket takes; 0, or -1 when the connection was dropped. */
static int tx_flush(struct ag_agent *a, uint64_t now)
{
	while (a->tx_n) {
		struct ag_tx *t = &a->tx[a->tx_head];
		ssize_t n = send(a->fd, t->p + t->off, t->len - t->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			char why[96];
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			conn_drop(a, why, now);
			return -1;
		}
		t->off += (size_t)n;
		if (t->off < t->len)
			continue;
		if (t->kind == TX_DECIDE)
			a->slots[t->slot].decide_busy = 0;
		else if (t->slot >= 0)
			a->slots[t->slot].tx_pending = 0;
		else if (t->kind == TX_PING)
			a->ping_busy = 0;
		else if (t->kind == TX_PONG)
			a->pong_busy = 0;
		a->tx_head = (a->tx_head + 1) % AG_TX_MAX;
		a->tx_n--;
	}
	return 0;
}

/* padded: every other PING carries --ping-pad (the uplink probe); the breaker's
 * probes never do, a frozen edge's buffers need no more bytes. */
static void send_ping(struct ag_agent *a, uint64_t now, int padded)
{
	struct ag_fleet *f = a->th->f;
	uint32_t pad = padded && (a->ping_count & 1) ? f->cfg.ping_pad : 0;
	if (pad > a->welcome.max_padding)
		pad = a->welcome.max_padding;
	struct cw_ping p = {.nonce = ++a->ping_nonce, .timestamp = now, .padding_len = pad};
	size_t len;
	char err[160];
	a->ping_count++;
	if (cw_encode_ping(a->ping, CW_HEADER_BYTES + CW_PING_FIXED_BYTES + f->cfg.ping_pad, &p, &len,
			   err, sizeof(err)))
		return;
	a->ping_busy = 1;
	a->ping_outstanding = 1;
	if (!a->t_ping_wait)
		a->t_ping_wait = now;
	a->ping_pad_sent = pad;
	tx_push(a, a->ping, len, -1, TX_PING);
	tx_flush(a, now);
}

/* A DECISION, or an ERROR to a DECIDE: the waiting slot goes on at once. 0, or
 * -1 when the connection was dropped. */
static int on_decide_reply(struct ag_agent *a, const struct cw_msg *msg, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	uint64_t id = msg->request_id & ~DECIDE_ID;
	if (!(msg->request_id & DECIDE_ID) || !id || id >= a->next_id) {
		char why[96];
		snprintf(why, sizeof(why), "%s for a DECIDE never sent (id %llu)",
			 cw_type_name(msg->type), (unsigned long long)msg->request_id);
		conn_drop(a, why, now);
		return -1;
	}
	if (msg->type == CW_DECISION) {
		a->queue_ms = msg->decision.queue_delay_us / 1000.0;
	} else if (msg->error.code == CW_ERR_UNSUPPORTED && !a->edge_no_policy) {
		/* no policy there for this class: it will not change this session */
		a->edge_no_policy = 1;
		if (!a->decide_logged++)
			logf_(f, "agent %d: the edge does not decide: %s", a->idx, msg->error.msg);
	}
	struct ag_slot *s = NULL;
	for (int i = 0; i < a->nslots && !s; i++)
		if (a->slots[i].st == S_DECIDE && a->slots[i].rec.id == id)
			s = &a->slots[i];
	if (!s) {
		a->late++; /* decided without it already */
		return 0;
	}
	edge_answered(a, now, 0);
	if (msg->type == CW_DECISION && !action_from_wire(f, &msg->decision.action, &s->decision))
		s->rec.decide = AG_DECIDE_ANSWERED;
	else
		s->rec.decide = AG_DECIDE_REFUSED;
	s->t_event = now;
	return 0;
}

/* Any PONG, even to an older PING, shows the edge reads and answers; the one to
 * the latest PING is also an RTT or bandwidth sample. */
static void on_pong(struct ag_agent *a, const struct cw_pong *p, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	int was_up = ag_breaker_allows(&a->brk);
	edge_answered(a, now, 1);
	if (!a->ping_outstanding || p->nonce != a->ping_nonce || p->timestamp > now)
		return;
	double rtt = (double)(now - p->timestamp) / 1000.0 - p->hold_us;
	a->ping_outstanding = 0;
	/* a probe's PONG, or one long awaited, measures the outage, not the link */
	if (!was_up || rtt > (double)f->cfg.breaker.timeout_us)
		return;
	if (p->padding_len == 0)
		ag_bw_rtt(&a->bw, rtt);
	else
		ag_bw_probe(&a->bw, p->padding_len, rtt);
}

/* WELCOME: the session is set up; 0, or -1 when the connection was dropped. */
static int on_welcome(struct ag_agent *a, const struct cw_welcome *w, uint64_t now)
{
	if (a->cs != C_HELLO) {
		conn_drop(a, "WELCOME out of turn", now);
		return -1;
	}
	if (w->model_checksum != a->th->f->m->checksum) {
		conn_drop(a, "WELCOME names another model", now);
		return -1;
	}
	a->welcome = *w;
	a->cs = C_READY;
	a->edge_no_policy = 0;
	a->connects++;
	a->fail_logged = 0;
	ag_backoff_reset(&a->bo);
	edge_answered(a, now, 1);
	a->t_next_ping = now;
	return 0;
}

/* An ERROR to no request (id 0): before WELCOME, or for a reason the session
 * cannot outlive, it ends the connection (the reason logged once); 0, or -1
 * when the connection was dropped. */
static int on_session_error(struct ag_agent *a, const struct cw_error *e, uint64_t now)
{
	uint16_t c = e->code;
	if (a->cs != C_READY || c == CW_ERR_SHUTDOWN || c == CW_ERR_VERSION ||
	    c == CW_ERR_MODEL_MISMATCH || c == CW_ERR_TOO_LARGE || c == CW_ERR_NO_SESSION ||
	    c == CW_ERR_BAD_REQUEST) {
		char why[CW_ERRMSG_MAX + 64];
		snprintf(why, sizeof(why), "edge says %s: %s", cw_error_name((enum cw_error_code)c),
			 e->msg);
		if (a->refusal_logged++)
			why[0] = 0;
		conn_drop(a, why[0] ? why : NULL, now);
		return -1;
	}
	return 0;
}

/* A RESULT or ERROR to one of our INFERs or DECIDEs; 0, or -1 when the
 * connection was dropped. */
static int on_reply(struct ag_agent *a, const struct cw_msg *msg, uint64_t now)
{
	const struct cr_model *m = a->th->f->m;
	uint64_t id = msg->request_id;
	if (msg->type == CW_ERROR && (id & DECIDE_ID))
		return on_decide_reply(a, msg, now);
	struct ag_slot *s = find_sent(a, id);
	if (!s) {
		if (id >= a->next_id || id == 0) {
			char why[96];
			snprintf(why, sizeof(why), "%s for request %llu never sent",
				 cw_type_name(msg->type), (unsigned long long)id);
			conn_drop(a, why, now);
			return -1;
		}
		a->late++; /* answered locally already */
		return 0;
	}
	if (msg->type == CW_ERROR) {
		edge_answered(a, now, 0); /* refused, but alive */
		s->rec.error_code = msg->error.code;
		go_local(a, s, reason_of(msg->error.code), now);
		return 0;
	}
	if (msg->result.label >= m->n_classes || msg->result.exit >= m->n_exits) {
		conn_drop(a, "RESULT with a label or exit outside the model", now);
		return -1;
	}
	on_result(a, s, &msg->result, now);
	return 0;
}

/* The edge's PING, answered at once unless our PONG to an earlier one is still
 * queued (that one stands for it). */
static void on_ping(struct ag_agent *a, const struct cw_ping *ping)
{
	if (a->pong_busy)
		return;
	struct cw_pong p = {.nonce = ping->nonce, .timestamp = ping->timestamp,
			    .padding_len = ping->padding_len, .hold_us = 0};
	size_t len;
	if (!cw_encode_pong(a->pong, sizeof(a->pong), &p, &len, NULL, 0)) {
		a->pong_busy = 1;
		tx_push(a, a->pong, len, -1, TX_PONG);
	}
}

/* Why a message of type t that must wait for WELCOME ends a connection that has
 * none yet; NULL for the types the edge never sends. */
static const char *before_welcome(enum cw_type t)
{
	switch (t) {
	case CW_RESULT:
	case CW_ERROR: return "a reply before WELCOME";
	case CW_DECISION: return "DECISION before WELCOME";
	case CW_PONG: return "PONG before WELCOME";
	case CW_PING: return "PING before WELCOME";
	default: return NULL;
	}
}

/* One message from the edge; 0, or -1 when the connection was dropped. */
static int on_message(struct ag_agent *a, const struct cw_msg *msg, uint64_t now)
{
	if (msg->type == CW_WELCOME)
		return on_welcome(a, &msg->welcome, now);
	if (msg->type == CW_ERROR && msg->request_id == 0)
		return on_session_error(a, &msg->error, now);
	const char *early = before_welcome(msg->type);
	if (!early) {
		char why[96];
		snprintf(why, sizeof(why), "unexpected %s from the edge", cw_type_name(msg->type));
		conn_drop(a, why, now);
		return -1;
	}
	if (a->cs != C_READY) {
		conn_drop(a, early, now);
		return -1;
	}
	switch (msg->type) {
	case CW_DECISION:
		return on_decide_reply(a, msg, now);
	case CW_PONG:
		on_pong(a, &msg->pong, now);
		return 0;
	case CW_PING:
		on_ping(a, &msg->ping);
		return 0;
	default: /* RESULT or ERROR */
		return on_reply(a, msg, now);
	}
}

static void on_readable(struct ag_agent *a, uint64_t now)
{
	for (int rounds = 0; rounds < 16 && a->fd >= 0; rounds++) {
		size_t avail;
		uint8_t *p = cw_reader_space(&a->rd, &avail);
		if (!p) {
			conn_drop(a, "stream unusable", now);
			return;
		}
		ssize_t n = avail ? recv(a->fd, p, avail, MSG_DONTWAIT) : 0;
		if (avail && n == 0) {
			conn_drop(a, cw_reader_buffered(&a->rd) ? "closed by the edge mid-message"
								 : "closed by the edge",
				  now);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				char why[96];
				snprintf(why, sizeof(why), "recv: %s", strerror(errno));
				conn_drop(a, why, now);
			}
			return;
		}
		if (n > 0)
			cw_reader_commit(&a->rd, (size_t)n);
		for (;;) {
			struct cw_msg msg;
			char err[160];
			int ret = cw_reader_next(&a->rd, &msg, err, sizeof(err));
			if (ret == -EAGAIN)
				break;
			if (ret) {
				char why[200];
				snprintf(why, sizeof(why), "malformed input: %s", err);
				conn_drop(a, why, now);
				return;
			}
			if (on_message(a, &msg, now))
				return;
		}
		if ((size_t)n < avail)
			return; /* drained */
	}
}

static void on_writable(struct ag_agent *a, uint64_t now)
{
	if (a->cs == C_CONNECTING) {
		int e = 0;
		socklen_t l = sizeof(e);
		if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &e, &l) || e) {
			char why[96];
			snprintf(why, sizeof(why), "connect: %s", strerror(e ? e : errno));
			conn_drop(a, why, now);
			return;
		}
		conn_connected(a, now);
		return;
	}
	tx_flush(a, now);
}

/* ---- timers ------------------------------------------------------------------------------ */

static int needs_network(const struct ag_fleet *f)
{
	return f->cfg.decide || f->cfg.edge_decides ||
	       f->cfg.action.partition < f->m->exit_len[f->cfg.action.exit];
}

/* Timers fire late on a busy machine (and when many fire at once, each waits for
 * the others' compute): the reply timeout keeps that much more back. */
static void note_late(struct ag_thread *th, uint64_t now, uint64_t due)
{
	double late = ns_to_ms(now - due);
	th->late_ms *= 0.98;
	if (late > th->late_ms)
		th->late_ms = late;
}

/* The breaker's timers: an unanswered probe, a PING met by silence, the next
 * probe. Without a connection the reconnect is the probe (conn_drop schedules
 * it at the probe's time, conn_start marks it sent). */
static void breaker_timers(struct ag_agent *a, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	ag_breaker_tick(&a->brk, now);
	if (a->cs != C_READY || a->started >= f->cfg.requests)
		return;
	if (ag_breaker_allows(&a->brk) && a->t_ping_wait &&
	    now - a->t_ping_wait >= f->cfg.breaker.timeout_us * 1000) {
		a->t_ping_wait = 0;
		edge_failed(a, now, 1);
	}
	if (ag_breaker_probe_due(&a->brk, now)) {
		ag_breaker_probe_sent(&a->brk, now, 0);
		if (!a->ping_busy && a->tx_n < AG_TX_MAX)
			send_ping(a, now, 0);
	}
}

/* The connection's timers: the next attempt, the handshake's time limit and the
 * breaker's. wanted: requests are still to start, and they need the edge. */
static void conn_timers(struct ag_agent *a, uint64_t now, int wanted)
{
	if (a->cs == C_DOWN && wanted && now >= a->t_reconnect)
		conn_start(a, now);
	if ((a->cs == C_CONNECTING || a->cs == C_HELLO) && now >= a->t_handshake)
		conn_drop(a, a->cs == C_CONNECTING ? "connect timed out" : "no WELCOME in time", now);
	breaker_timers(a, now);
}

/* The requests' timers: the head's emulated time (then it is sent), the reply's
 * time limit, the DECIDE's, and a local answer's emulated time. */
static void request_timers(struct ag_agent *a)
{
	struct ag_fleet *f = a->th->f;
	for (int i = 0; i < a->nslots; i++) {
		struct ag_slot *s = &a->slots[i];
		uint64_t now = fnow(f);
		if (s->st == S_HEAD && now >= s->t_event) {
			note_late(a->th, now, s->t_event);
			slot_send(a, s, now);
		} else if (s->st == S_SENT && now >= s->t_timeout) {
			note_late(a->th, now, s->t_timeout);
			edge_failed(a, now, 0);
			go_local(a, s, AG_FB_TIMEOUT, now);
		} else if (s->st == S_DECIDE && now >= s->t_event) {
			slot_decided(a, s, now);
		}
		if (s->st == S_LOCAL && fnow(f) >= s->t_event)
			slot_finish(a, s, fnow(f));
	}
}

/* Starts the requests that are due and have a free slot, at most one per slot:
 * a device answer can finish within the pass and free its slot at once, and the
 * loop must still see sockets and timers (the breaker's probes) between such
 * answers. Returns the time after the last. */
static uint64_t start_requests(struct ag_agent *a, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	for (int starts = 0; starts < a->nslots && a->started < f->cfg.requests &&
			     now >= a->t_next_start &&
			     (a->cs == C_READY || now >= a->t_gate || !needs_network(f));
	     starts++) {
		struct ag_slot *s = NULL;
		for (int i = 0; i < a->nslots && !s; i++)
			if (a->slots[i].st == S_FREE && !a->slots[i].tx_pending)
				s = &a->slots[i];
		if (!s)
			break;
		slot_start(a, s, now);
		if (s->st == S_LOCAL && fnow(f) >= s->t_event)
			slot_finish(a, s, fnow(f));
		now = fnow(f);
	}
	return now;
}

static void agent_timers(struct ag_agent *a, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	if (a->finished)
		return;
	conn_timers(a, now, a->started < f->cfg.requests && needs_network(f));
	request_timers(a);
	now = start_requests(a, fnow(f));

	if (a->cs == C_READY && ag_breaker_allows(&a->brk) && f->cfg.ping_ms > 0 && !a->tx_n &&
	    now >= a->t_next_ping) {
		send_ping(a, now, 1);
		a->t_next_ping = now + ms_to_ns(f->cfg.ping_ms);
	}

	if (a->answered >= f->cfg.requests) {
		int busy = 0;
		for (int i = 0; i < a->nslots; i++)
			busy |= a->slots[i].st != S_FREE;
		if (!busy) {
			conn_close(a);
			a->cs = C_CLOSED;
			a->finished = 1;
		}
	}
}

static uint64_t agent_next(const struct ag_agent *a)
{
	const struct ag_fleet *f = a->th->f;
	uint64_t t = NEVER;
#define AT(x) do { if ((x) < t) t = (x); } while (0)
	if (a->finished)
		return t;
	if (a->cs == C_DOWN && a->started < f->cfg.requests && needs_network(f))
		AT(a->t_reconnect);
	if (a->cs == C_CONNECTING || a->cs == C_HELLO)
		AT(a->t_handshake);
	int free_slot = 0;
	for (int i = 0; i < a->nslots; i++) {
		const struct ag_slot *s = &a->slots[i];
		if (s->st == S_HEAD || s->st == S_LOCAL || s->st == S_DECIDE)
			AT(s->t_event);
		else if (s->st == S_SENT)
			AT(s->t_timeout);
		free_slot |= s->st == S_FREE && !s->tx_pending;
	}
	if (a->started < f->cfg.requests && free_slot) {
		uint64_t st = a->t_next_start;
		if (a->cs != C_READY && needs_network(f) && a->t_gate > st)
			st = a->t_gate;
		AT(st);
	}
	if (a->cs == C_READY && ag_breaker_allows(&a->brk) && f->cfg.ping_ms > 0 && !a->tx_n)
		AT(a->t_next_ping);
	if (a->brk.st == AG_BRK_HALF_OPEN || (a->cs == C_READY && a->started < f->cfg.requests))
		AT(ag_breaker_next_ns(&a->brk));
	if (a->cs == C_READY && a->started < f->cfg.requests && ag_breaker_allows(&a->brk) &&
	    a->t_ping_wait)
		AT(a->t_ping_wait + f->cfg.breaker.timeout_us * 1000);
#undef AT
	return t;
}

/* The poll events the agent's socket waits for: writable to finish a connect,
 * readable once connected, and writable too while the tx queue holds data. */
static short poll_events(const struct ag_agent *a)
{
	if (a->cs == C_CONNECTING)
		return POLLOUT;
	return a->tx_n ? POLLIN | POLLOUT : POLLIN;
}

/* What poll saw on the agent's socket. */
static void on_events(struct ag_agent *a, short re, uint64_t now)
{
	if (a->cs == C_CONNECTING) {
		if (re & (POLLOUT | POLLERR | POLLHUP))
			on_writable(a, now);
		return;
	}
	if (re & (POLLIN | POLLERR | POLLHUP))
		on_readable(a, now);
	if (a->fd >= 0 && (re & POLLOUT))
		on_writable(a, fnow(a->th->f));
}

/* Runs every agent's due timers and puts the sockets of those not finished in
 * the poll set (*np of them); returns how many are not finished, *next the
 * earliest of their timers. */
static int poll_set(struct ag_thread *th, int *np, uint64_t *next)
{
	const struct ag_fleet *f = th->f;
	int left = 0;
	for (int i = 0; i < th->n; i++) {
		struct ag_agent *a = &th->agents[i];
		agent_timers(a, fnow(f));
		if (a->finished)
			continue;
		left++;
		uint64_t t = agent_next(a);
		if (t < *next)
			*next = t;
		if (a->fd >= 0) {
			th->pfd[*np] = (struct pollfd){.fd = a->fd, .events = poll_events(a)};
			th->pfd_agent[(*np)++] = i;
		}
	}
	return left;
}

static void *thread_main(void *arg)
{
	struct ag_thread *th = arg;
	const struct ag_fleet *f = th->f;
	int left = th->n;
	while (left > 0 && !th->failed) {
		uint64_t now = fnow(f);
		uint64_t next = NEVER;
		int np = 0;
		left = poll_set(th, &np, &next);
		if (!left)
			break;
		now = fnow(f);
		uint64_t wait = next == NEVER ? 1000 * MS : next > now ? next - now : 0;
		if (wait > 1000 * MS)
			wait = 1000 * MS;
		int r = fwait(f, th->pfd, (nfds_t)np, wait);
		if (r < 0 && errno != EINTR) {
			th->failed = 1;
			snprintf(th->err, sizeof(th->err), "poll: %s", strerror(errno));
			break;
		}
		for (int k = 0; r > 0 && k < np; k++) {
			struct ag_agent *a = &th->agents[th->pfd_agent[k]];
			short re = th->pfd[k].revents;
			if (re && a->fd == th->pfd[k].fd)
				on_events(a, re, fnow(f));
		}
	}
	return NULL;
}

/* ---- the fleet --------------------------------------------------------------------------- */

static int resolve(struct ag_fleet *f, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", f->cfg.port);
	int r = getaddrinfo(f->cfg.host, port, &hints, &res);
	if (r || !res)
		return cf_fail(-EINVAL, err, errlen, "edge address %s:%d: %s", f->cfg.host,
			       f->cfg.port, r ? gai_strerror(r) : "no address");
	memcpy(&f->addr, res->ai_addr, res->ai_addrlen);
	f->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	f->have_addr = 1;
	return 0;
}

static int calibrate(struct ag_fleet *f, struct cr_exec *x, float *input)
{
	const struct cr_model *m = f->m;
	int runs = f->cfg.calib_runs > 0 ? f->cfg.calib_runs : 1;
	uint64_t ns[AG_MAX_POS];
	if (f->ds && f->ds->n > 0)
		cr_model_normalize(m, f->ds->images, input, 1);
	for (int e = 0; e < m->n_exits; e++) {
		const float *o;
		cr_exec_run(x, e, 0, m->exit_len[e], input, 1, &o); /* warm-up */
		memset(ns, 0, sizeof(ns));
		cr_exec_set_timing(x, ns);
		for (int r = 0; r < runs; r++)
			cr_exec_run(x, e, 0, m->exit_len[e], input, 1, &o);
		cr_exec_set_timing(x, NULL);
		for (int p = 0; p < m->exit_len[e]; p++)
			f->measured.ms[e][p] = (double)ns[p] / runs / 1e6;
	}
	return 0;
}

static int thread_init(struct ag_fleet *f, struct ag_thread *th, char *err, size_t errlen)
{
	const struct cr_model *m = f->m;
	th->f = f;
	if (cr_exec_create(m, NULL, 1, &th->x))
		return cf_fail(-ENOMEM, err, errlen, "executor: out of memory");
	if (cc_encoder_create(f->max_floats, f->max_pairs, 16, &th->enc))
		return cf_fail(-ENOMEM, err, errlen, "encoder: out of memory");
	th->input = malloc(f->max_floats * sizeof(float));
	th->pfd = calloc((size_t)th->n + 1, sizeof(*th->pfd));
	th->pfd_agent = calloc((size_t)th->n + 1, sizeof(int));
	if (!th->input || !th->pfd || !th->pfd_agent)
		goto nomem;
	if (f->cfg.verify) {
		th->verify_buf = malloc(f->max_floats * sizeof(float));
		th->scratch_bytes = cc_frame_scratch_max();
		th->scratch = malloc(th->scratch_bytes ? th->scratch_bytes : 1);
		if (!th->verify_buf || !th->scratch)
			goto nomem;
	}
	struct cw_limits lim = cw_limits_make(0, AG_SERVER_PAD_MAX);
	size_t rdbytes = cw_reader_bytes(&lim);
	for (int i = 0; i < th->n; i++) {
		struct ag_agent *a = &th->agents[i];
		a->th = th;
		a->fd = -1;
		a->cs = C_DOWN;
		a->device_id = f->cfg.device_id_base + (uint64_t)a->idx;
		a->next_id = 1;
		a->rng = f->cfg.seed * 0x9E3779B97F4A7C15ull + (uint64_t)a->idx * 7919 + 1;
		ag_backoff_init(&a->bo, f->cfg.backoff_base_us, f->cfg.backoff_cap_us, rng_next(&a->rng));
		/* from the agent's RNG without drawing from it: the stagger of a seed
		 * stays what it was before the breaker */
		uint64_t brk_seed = a->rng ^ 0xD1B54A32D192ED03ull;
		ag_breaker_init(&a->brk, &f->cfg.breaker, rng_next(&brk_seed));
		ag_bw_init(&a->bw, &f->cfg.bw);
		a->rdbuf = malloc(rdbytes);
		a->ping = calloc(1, CW_HEADER_BYTES + CW_PING_FIXED_BYTES + f->cfg.ping_pad);
		a->nslots = f->cfg.inflight;
		a->slots = calloc((size_t)a->nslots, sizeof(*a->slots));
		if (!a->rdbuf || !a->ping || !a->slots)
			goto nomem;
		if (cw_reader_init(&a->rd, a->rdbuf, rdbytes, &lim))
			return cf_fail(-EINVAL, err, errlen, "reader: bad limits");
		for (int k = 0; k < a->nslots; k++) {
			struct ag_slot *s = &a->slots[k];
			if (posix_memalign((void **)&s->msg, 64, f->msg_cap))
				goto nomem;
			for (int x = 0; x < m->n_exits; x++)
				if (posix_memalign((void **)&s->store[x], 64, f->max_floats * sizeof(float)))
					goto nomem;
		}
	}
	return 0;
nomem:
	return cf_fail(-ENOMEM, err, errlen, "out of memory");
}

/* 0 when per-layer times t (what names them) have the model's exits and layers. */
static int same_shape(const struct ag_times *t, const struct cr_model *m, const char *what,
		      char *err, size_t errlen)
{
	if (t->n_exits != m->n_exits)
		return cf_fail(-EINVAL, err, errlen, "the %s has %d exits, the model %d", what,
			       t->n_exits, m->n_exits);
	for (int e = 0; e < m->n_exits; e++)
		if (t->len[e] != m->exit_len[e])
			return cf_fail(-EINVAL, err, errlen,
				       "the %s's exit %d has %d layers, the model's %d", what, e + 1,
				       t->len[e], m->exit_len[e]);
	return 0;
}

/* 0 when the configuration, the model and the images make a fleet. */
static int check_config(const struct ag_config *cfg, const struct cr_model *m,
			const struct ds_dataset *ds, char *err, size_t errlen)
{
	if (!cfg || !m || !ds || ds->n < 1)
		return cf_fail(-EINVAL, err, errlen,
			       "a configuration, a model and images are needed");
	if ((size_t)ds->c * ds->h * ds->w != (size_t)m->in_c * m->in_h * m->in_w)
		return cf_fail(-EINVAL, err, errlen, "images of %dx%dx%d, the model takes %dx%dx%d",
			       ds->c, ds->h, ds->w, m->in_c, m->in_h, m->in_w);
	if (cfg->agents < 1 || cfg->threads < 1 || cfg->requests < 0 || cfg->inflight < 1 ||
	    cfg->inflight > 1024 || !(cfg->deadline_ms > 0) || !(cfg->slowdown >= 1) ||
	    cfg->interval_ms < 0 || cfg->margin_ms < 0 || cfg->ping_pad > (1u << 20) ||
	    cfg->encode_slowdown < 0)
		return cf_fail(-EINVAL, err, errlen,
			       "bad configuration (agents, threads, inflight >= 1; deadline > 0; "
			       "slowdown >= 1; ping padding <= 1 MiB)");
	const struct ag_breaker_config *bc = &cfg->breaker;
	if (bc->threshold < 0 ||
	    (bc->threshold > 0 && (!bc->base_us || bc->cap_us < bc->base_us || !bc->timeout_us)))
		return cf_fail(-EINVAL, err, errlen,
			       "bad breaker (threshold %d >= 0; probe backoff %llu..%llu us, "
			       "0 < base <= cap; timeout %llu us > 0)", bc->threshold,
			       (unsigned long long)bc->base_us, (unsigned long long)bc->cap_us,
			       (unsigned long long)bc->timeout_us);
	if (!action_ok(m, &cfg->action, cfg->codec, cfg->per_channel, err, errlen))
		return -EINVAL;
	return 0;
}

/* The sizes of the reused buffers: the largest tensor at any partition point and
 * its largest frame under any codec. */
static void buffer_sizes(struct ag_fleet *f)
{
	const struct cr_model *m = f->m;
	for (int e = 0; e < m->n_exits; e++)
		for (int p = 0; p < m->exit_len[e]; p++) {
			uint32_t d[3];
			boundary_dims(m, e, p, d);
			size_t fl = cr_model_boundary_floats(m, e, p);
			if (fl > f->max_floats)
				f->max_floats = fl;
			if (d[0] > f->max_pairs)
				f->max_pairs = d[0];
			for (int c = 0; c < CC_CODEC_COUNT; c++)
				for (int pc = 0; pc < 2; pc++) {
					size_t b = cc_frame_bound((enum cc_codec)c, 3, d, pc);
					if (b + CW_INFER_PREFIX_BYTES > f->msg_cap)
						f->msg_cap = b + CW_INFER_PREFIX_BYTES;
				}
		}
	f->msg_cap = (f->msg_cap + 63) & ~(size_t)63;
}

/* The threads, the agents dealt to them round robin, and all their buffers. */
static int make_threads(struct ag_fleet *f, char *err, size_t errlen)
{
	const struct ag_config *cfg = &f->cfg;
	f->nth = cfg->threads < cfg->agents ? cfg->threads : cfg->agents;
	f->th = calloc((size_t)f->nth, sizeof(*f->th));
	if (!f->th)
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	for (int t = 0; t < f->nth; t++) {
		struct ag_thread *th = &f->th[t];
		th->idx = t;
		th->n = cfg->agents / f->nth + (t < cfg->agents % f->nth);
		th->agents = calloc((size_t)th->n, sizeof(*th->agents));
		if (!th->agents)
			return cf_fail(-ENOMEM, err, errlen, "out of memory");
		for (int i = 0; i < th->n; i++)
			th->agents[i].idx = t + i * f->nth; /* round robin */
		int ret = thread_init(f, th, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* The per-layer times requests are emulated with: the profile's, or this
 * machine's (given as the calibration, or measured now) stretched by the
 * slowdown; and how much slower than here the device encodes. */
static void emulated_times(struct ag_fleet *f)
{
	const struct ag_config *cfg = &f->cfg;
	const struct cr_model *m = f->m;
	if (cfg->calibration)
		memcpy(f->measured.ms, cfg->calibration->ms, sizeof(f->measured.ms));
	else
		calibrate(f, f->th[0].x, f->th[0].input);
	for (int e = 0; e < m->n_exits; e++)
		for (int p = 0; p < m->exit_len[e]; p++) {
			/* never faster than this machine: qemu is slower than a Pi */
			double meas = f->measured.ms[e][p] * cfg->slowdown;
			f->emulated.ms[e][p] =
				cfg->profile && cfg->profile->ms[e][p] > meas ? cfg->profile->ms[e][p] : meas;
		}
	f->enc_scale = cfg->encode_slowdown > 0 ? cfg->encode_slowdown : cfg->slowdown;
	if (cfg->profile && !(cfg->encode_slowdown > 0)) {
		int d = m->n_exits - 1;
		double meas = ag_times_range_ms(&f->measured, d, 0, m->exit_len[d]);
		double prof = ag_times_range_ms(&f->emulated, d, 0, m->exit_len[d]);
		f->enc_scale = meas > 0 && prof > meas ? prof / meas : 1;
	}
}

int ag_fleet_create(const struct ag_config *cfg, const struct cr_model *m,
		    const struct ds_dataset *ds, struct ag_fleet **out, char *err, size_t errlen)
{
	*out = NULL;
	int ret = check_config(cfg, m, ds, err, errlen);
	if (ret)
		return ret;
	struct ag_fleet *f = calloc(1, sizeof(*f));
	if (!f)
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	f->cfg = *cfg;
	f->m = m;
	f->ds = ds;
	pthread_mutex_init(&f->out_mu, NULL);
	ret = ag_times_init(&f->measured, m);
	if (ret) {
		cf_fail(ret, err, errlen,
			"model too large for the agent (%d exits, %d positions max)", AG_MAX_EXITS,
			AG_MAX_POS);
		goto fail;
	}
	f->emulated = f->measured;
	if (cfg->profile && (ret = same_shape(cfg->profile, m, "device profile", err, errlen)))
		goto fail;
	if (cfg->calibration && (ret = same_shape(cfg->calibration, m, "calibration", err, errlen)))
		goto fail;
	if (cfg->host && needs_network(f) && (ret = resolve(f, err, errlen)))
		goto fail;
	if (!f->have_addr && needs_network(f)) {
		ret = cf_fail(-EINVAL, err, errlen, "no edge address");
		goto fail;
	}
	buffer_sizes(f);
	ret = make_threads(f, err, errlen);
	if (ret)
		goto fail;
	emulated_times(f);
	*out = f;
	return 0;
fail:
	ag_fleet_destroy(f);
	return ret;
}

int ag_fleet_run(struct ag_fleet *f, char *err, size_t errlen)
{
	if (f->ran)
		return cf_fail(-EINVAL, err, errlen, "a fleet runs once");
	f->ran = 1;
	f->t0 = fnow(f);
	for (int t = 0; t < f->nth; t++)
		for (int i = 0; i < f->th[t].n; i++) {
			struct ag_agent *a = &f->th[t].agents[i];
			a->t_gate = f->t0 + ms_to_ns(f->cfg.connect_wait_ms);
			a->t_next_start = f->t0 + ms_to_ns(rng_unit(&a->rng) * f->cfg.stagger_ms);
			a->t_reconnect = f->t0;
		}
	int started = 0, ret = 0;
	for (int t = 1; t < f->nth; t++) {
		if (pthread_create(&f->th[t].tid, NULL, thread_main, &f->th[t])) {
			ret = cf_fail(-EAGAIN, err, errlen, "pthread_create failed");
			for (int u = t; u < f->nth; u++)
				f->th[u].failed = 1;
			break;
		}
		started = t;
	}
	thread_main(&f->th[0]);
	for (int t = 1; t <= started; t++)
		pthread_join(f->th[t].tid, NULL);
	f->wall_s = (double)(fnow(f) - f->t0) / 1e9;
	size_t n = 0;
	for (int t = 0; t < f->nth; t++) {
		n += f->th[t].nrec;
		if (f->th[t].failed && !ret) {
			ret = cf_fail(-EIO, err, errlen, "%s",
				      f->th[t].err[0] ? f->th[t].err : "thread failed");
		}
	}
	f->records = malloc((n ? n : 1) * sizeof(*f->records));
	if (!f->records)
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	f->nrec = 0;
	for (int t = 0; t < f->nth; t++) {
		memcpy(f->records + f->nrec, f->th[t].recs, f->th[t].nrec * sizeof(*f->records));
		f->nrec += f->th[t].nrec;
	}
	/* in the order answered */
	for (size_t i = 1; i < f->nrec; i++) {
		struct ag_record r = f->records[i];
		size_t j = i;
		while (j > 0 && f->records[j - 1].t_ms > r.t_ms) {
			f->records[j] = f->records[j - 1];
			j--;
		}
		f->records[j] = r;
	}
	return ret;
}

void ag_fleet_destroy(struct ag_fleet *f)
{
	if (!f)
		return;
	for (int t = 0; f->th && t < f->nth; t++) {
		struct ag_thread *th = &f->th[t];
		for (int i = 0; th->agents && i < th->n; i++) {
			struct ag_agent *a = &th->agents[i];
			if (a->fd >= 0)
				close(a->fd);
			free(a->rdbuf);
			free(a->ping);
			for (int k = 0; a->slots && k < a->nslots; k++) {
				free(a->slots[k].msg);
				for (int x = 0; x < AG_MAX_EXITS; x++)
					free(a->slots[k].store[x]);
			}
			free(a->slots);
		}
		free(th->agents);
		if (th->x)
			cr_exec_destroy(th->x);
		cc_encoder_destroy(th->enc);
		free(th->input);
		free(th->verify_buf);
		free(th->scratch);
		free(th->pfd);
		free(th->pfd_agent);
		free(th->recs);
	}
	free(f->th);
	free(f->records);
	pthread_mutex_destroy(&f->out_mu);
	free(f);
}

int ag_fleet_threads(const struct ag_fleet *f)
{
	return f->nth;
}

const struct ag_times *ag_fleet_measured(const struct ag_fleet *f)
{
	return &f->measured;
}

const struct ag_times *ag_fleet_emulated(const struct ag_fleet *f)
{
	return &f->emulated;
}

const struct ag_record *ag_fleet_records(const struct ag_fleet *f, size_t *n)
{
	*n = f->nrec;
	return f->records;
}
