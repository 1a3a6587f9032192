/* A request's life in one of an agent's slots: its action (the configured one, a
 * decide callback's, or the edge's with --edge-decides), the head layers and the
 * encode (each waits out its emulated device time), the INFER, and its answer:
 * the edge's RESULT, or one computed here when the edge is down, slow, out of
 * reach or refuses. A slot goes S_FREE -> [S_DECIDE ->] S_HEAD -> S_SENT ->
 * S_FREE, or on to S_LOCAL (a local answer waiting out its emulated time) ->
 * S_FREE.
 *
 * Ownership of a slot's buffers (all allocated at creation, none per request):
 * - a slot's msg belongs to its request from slot_run until the slot is S_FREE
 *   and !tx_pending; while tx_pending the tx queue (conn.c) reads it, so a slot
 *   is not restarted before the socket took (or ag_conn_close dropped) the whole
 *   message.
 * - a slot's decide_msg likewise while decide_busy.
 * - a slot's store[] (the tensors a local answer resumes from) and rec belong to
 *   the request from slot_start until slot_finish, which copies rec out; only
 *   this file's code reads or writes them. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "internal.h"

/* DECIDE ids: the request's id with this bit, so that a late ERROR to a DECIDE
 * is never taken for one to the request's INFER */
#define DECIDE_ID (1ull << 63)
#define NEXT_MAX_AGE (1000 * AG_MS)

/* ---- model geometry ------------------------------------------------------------------------ */

void ag_boundary_dims(const struct cr_model *m, int e, int p, uint32_t dims[3])
{
	if (p == 0) {
		dims[0] = (uint32_t)m->in_c, dims[1] = (uint32_t)m->in_h, dims[2] = (uint32_t)m->in_w;
	} else {
		const struct cr_layer *L = cr_model_exit_layer(m, e, p - 1);
		dims[0] = (uint32_t)L->out_c, dims[1] = (uint32_t)L->out_h, dims[2] = (uint32_t)L->out_w;
	}
}

int ag_action_ok(const struct cr_model *m, const struct cf_action *a, enum cc_codec codec,
		 int per_channel, char *err, size_t errlen)
{
	if (a->exit < 0 || a->exit >= m->n_exits)
		return cf_fail(0, err, errlen, "exit %d: the model has exits 1..%d", a->exit + 1,
			       m->n_exits);
	if (a->partition < 0 || a->partition > m->exit_len[a->exit])
		return cf_fail(0, err, errlen, "partition %d: exit %d has partitions 0..%d",
			       a->partition, a->exit + 1, m->exit_len[a->exit]);
	const char *no = cr_model_cut_problem(m, a->exit, a->partition);
	if (no)
		return cf_fail(0, err, errlen, "partition %d of exit %d %s", a->partition,
			       a->exit + 1, no);
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

/* ---- time dilation ------------------------------------------------------------------------- */

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

/* ---- output -------------------------------------------------------------------------------- */

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
	/* the loop keeps room between its passes (fleet.c); this is the last resort */
	if (th->nrec == th->caprec && ag_reserve_records(th, th->caprec ? th->caprec * 2 : 64)) {
		th->failed = 1;
		snprintf(th->err, sizeof(th->err), "out of memory for records");
		return;
	}
	th->recs[th->nrec++] = *r;
	atomic_fetch_add_explicit(&th->n_answered, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(r->where == AG_EDGE ? &th->n_edge : &th->n_device, 1,
				  memory_order_relaxed);
	if (r->deadline_met)
		atomic_fetch_add_explicit(&th->n_met, 1, memory_order_relaxed);
	if (f->cfg.on_record)
		f->cfg.on_record(f->cfg.record_ctx, r);
	if (f->cfg.out) {
		char line[2048];
		ag_record_json_named(r, f->cfg.decide_name, line, sizeof(line));
		pthread_mutex_lock(&f->out_mu);
		fputs(line, f->cfg.out);
		fflush(f->cfg.out);
		pthread_mutex_unlock(&f->out_mu);
	}
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
	/* closed loop: the next one starts a think time after this answer */
	uint64_t next = now + ms_to_ns(f->cfg.arrival.think_ms);
	if (f->arrival == AG_ARRIVAL_CLOSED && a->t_next_start < next)
		a->t_next_start = next;
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
void ag_go_local(struct ag_agent *a, struct ag_slot *s, enum ag_reason why, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	struct ag_record *r = &s->rec;
	double left = r->deadline_ms - ns_to_ms(now - s->t_start);
	if (a->sent_outstanding > 0 &&
	    (s->st == S_SENT || s->st == S_UPLINK || s->st == S_DOWNLINK))
		a->sent_outstanding--;
	struct ag_choice c;
	if (s->p_done == 0)
		slot_input(a, s);
	/* the emulated per-layer times decide what fits */
	ag_fallback_choose(&f->emulated, r->action.exit, s->p_done, left - f->cfg.margin_ms, &c);
	answer_here(a, s, c.exit, c.from, why);
}

/* The INFER in slot s's msg goes to the socket. */
static void push_infer(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	s->st = S_SENT;
	s->tx_pending = 1;
	ag_tx_push(a, s->msg, s->msg_len, (int)(s - a->slots), TX_INFER);
	ag_tx_flush(a, now);
}

/* The INFER goes to the socket, or first into the emulated uplink. */
static void send_infer(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	uint64_t done = ag_link_carry(a, 0, s->msg_len, now, &s->rec.link_bps);
	s->rec.uplink_ms = ns_to_ms(done - now);
	if (done > now) {
		s->st = S_UPLINK;
		s->t_event = done;
		return;
	}
	push_infer(a, s, now);
}

/* The head is done and its emulated time has passed: send, or answer locally. */
static void slot_send(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	struct ag_record *r = &s->rec;
	if (!ag_breaker_allows(&a->brk)) { /* it opened while the head dilated */
		ag_go_local(a, s, AG_FB_EDGE_DOWN, now);
		return;
	}
	if (a->cs != C_READY) {
		ag_go_local(a, s, AG_FB_UNREACHABLE, now);
		return;
	}
	if (a->sent_outstanding >= a->welcome.max_inflight || s->frame_len > a->welcome.max_frame ||
	    a->tx_n >= AG_TX_MAX - 2) {
		ag_go_local(a, s, AG_FB_LIMIT, now);
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
		ag_go_local(a, s, AG_FB_NO_TIME, now);
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
		ag_logf(f, "agent %d: INFER not encoded: %s", a->idx, err);
		ag_go_local(a, s, AG_FB_ERROR, now);
		return;
	}
	s->msg_len = len;
	r->bytes = len;
	s->t_sent = now; /* the bandwidth estimate sees the emulated uplink, as tc's */
	s->t_timeout = s->t_start + ms_to_ns(wait_ms);
	a->sent_outstanding++;
	send_infer(a, s, now);
}

/* The emulated uplink carried the INFER: the socket takes it now. */
static void uplink_done(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	if (a->cs != C_READY) { /* (a drop sends the slot local itself) */
		ag_go_local(a, s, AG_FB_DISCONNECTED, now);
		return;
	}
	if (a->tx_n >= AG_TX_MAX - 2) {
		ag_go_local(a, s, AG_FB_LIMIT, now);
		return;
	}
	push_infer(a, s, now);
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
	return ag_action_ok(f->m, a, codec, per_channel, err, sizeof(err));
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
	ag_tx_push(a, s->decide_msg, len, (int)(s - a->slots), TX_DECIDE);
	ag_tx_flush(a, now);
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
	/* open loop: timed from the schedule, however late the slot came free */
	s->t_sched = a->t_next_start < now ? a->t_next_start : now;
	s->t_start = f->arrival == AG_ARRIVAL_CLOSED ? now : s->t_sched;
	r->t_sched_ms = ns_to_ms(s->t_sched - f->t0);
	r->sched_lag_ms = ns_to_ms(now - s->t_sched);
	r->warmup = s->t_sched < f->t_warmup;
	r->agent = a->idx;
	r->device_id = a->device_id;
	r->id = a->next_id++;
	int j = a->started++;
	atomic_fetch_add_explicit(&a->th->n_started, 1, memory_order_relaxed);
	/* without a cap (a duration alone) agents start AG_IMAGE_STRIDE images apart */
	long long per = f->cfg.requests > 0 ? f->cfg.requests : AG_IMAGE_STRIDE;
	r->image = (int)(((long long)f->cfg.first_image + (long long)a->idx * per + j) % f->ds->n);
	r->true_label = f->ds->labels[r->image];
	r->deadline_ms = f->cfg.deadline_ms;
	r->verify_label = -1;
	if (f->arrival != AG_ARRIVAL_CLOSED)
		a->t_next_start += ag_next_gap(a);
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
		ag_go_local(a, s, AG_FB_EDGE_DOWN, now);
		return;
	}
	if (a->cs != C_READY) {
		ag_go_local(a, s, AG_FB_UNREACHABLE, now);
		return;
	}
	uint64_t t0 = fnow(f);
	run_head(a, s, e, p);
	uint64_t t1 = fnow(f);
	s->p_done = p;
	uint32_t dims[3];
	ag_boundary_dims(m, e, p, dims);
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
		ag_logf(f, "agent %d: encode failed: %s", a->idx, err);
		ag_go_local(a, s, AG_FB_ERROR, now);
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
		ag_logf(f, "agent %d: verify: %s", a->idx, err);
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
	if (a->sent_outstanding > 0) /* (a drop zeroes it under a reply in the downlink) */
		a->sent_outstanding--;
	ag_edge_answered(a, now, 0);
	if (a->dg && s->st == S_SENT) /* its copies' answers may follow */
		ag_dg_answered(a, r->id, now);
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

/* ---- the edge's replies -------------------------------------------------------------------- */

/* A DECISION, or an ERROR to a DECIDE: the waiting slot goes on at once. 0, or
 * -1 when the connection was dropped. */
int ag_on_decide_reply(struct ag_agent *a, const struct cw_msg *msg, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	uint64_t id = msg->request_id & ~DECIDE_ID;
	if (!(msg->request_id & DECIDE_ID) || !id || id >= a->next_id) {
		char why[96];
		snprintf(why, sizeof(why), "%s for a DECIDE never sent (id %llu)",
			 cw_type_name(msg->type), (unsigned long long)msg->request_id);
		ag_conn_drop(a, why, now);
		return -1;
	}
	if (msg->type == CW_DECISION) {
		a->queue_ms = msg->decision.queue_delay_us / 1000.0;
	} else if (msg->error.code == CW_ERR_UNSUPPORTED && !a->edge_no_policy) {
		/* no policy there for this class: it will not change this session */
		a->edge_no_policy = 1;
		if (!a->decide_logged++)
			ag_logf(f, "agent %d: the edge does not decide: %s", a->idx,
				msg->error.msg);
	}
	struct ag_slot *s = NULL;
	for (int i = 0; i < a->nslots && !s; i++)
		if (a->slots[i].st == S_DECIDE && a->slots[i].rec.id == id)
			s = &a->slots[i];
	if (!s) {
		a->late++; /* decided without it already */
		return 0;
	}
	ag_edge_answered(a, now, 0);
	if (msg->type == CW_DECISION && !action_from_wire(f, &msg->decision.action, &s->decision))
		s->rec.decide = AG_DECIDE_ANSWERED;
	else
		s->rec.decide = AG_DECIDE_REFUSED;
	s->t_event = now;
	return 0;
}

/* A reply to slot s's INFER reaches the request path: an ERROR's code, else
 * the RESULT. */
static void deliver(struct ag_agent *a, struct ag_slot *s, uint16_t err,
		    const struct cw_result *res, uint64_t now)
{
	if (err) {
		ag_edge_answered(a, now, 0); /* refused, but alive */
		s->rec.error_code = err;
		ag_go_local(a, s, reason_of(err), now);
		return;
	}
	on_result(a, s, res, now);
}

/* Shaped in process: the reply goes into the emulated downlink; 1 when it is
 * held there (the slot waits in S_DOWNLINK), 0 when it arrives now. */
static int downlink(struct ag_agent *a, struct ag_slot *s, const struct cw_msg *msg,
		    uint64_t now)
{
	uint8_t b[CW_HEADER_BYTES + CW_SMALL_BODY_MAX];
	size_t len = sizeof(b);
	if (msg->type == CW_ERROR ? cw_encode_error(b, sizeof(b), &msg->error, &len, NULL, 0)
				  : cw_encode_result(b, sizeof(b), &msg->result, &len, NULL, 0))
		len = sizeof(b); /* (not re-encodable: its size is at most this) */
	double bps;
	uint64_t done = ag_link_carry(a, 1, len, now, &bps);
	s->rec.downlink_ms = ns_to_ms(done - now);
	if (done <= now)
		return 0;
	if (a->dg) /* answered: its copies' answers are duplicates */
		ag_dg_answered(a, s->rec.id, now);
	s->dn_err = msg->type == CW_ERROR ? msg->error.code : 0;
	if (!s->dn_err)
		s->dn_res = msg->result;
	s->st = S_DOWNLINK;
	s->t_event = done;
	return 1;
}

/* A RESULT or ERROR to one of our INFERs or DECIDEs; 0, or -1 when the
 * connection was dropped. */
int ag_on_reply(struct ag_agent *a, const struct cw_msg *msg, uint64_t now)
{
	const struct cr_model *m = a->th->f->m;
	uint64_t id = msg->request_id;
	if (msg->type == CW_ERROR && (id & DECIDE_ID))
		return ag_on_decide_reply(a, msg, now);
	struct ag_slot *s = find_sent(a, id);
	if (!s) {
		if (id >= a->next_id || id == 0) {
			char why[96];
			snprintf(why, sizeof(why), "%s for request %llu never sent",
				 cw_type_name(msg->type), (unsigned long long)id);
			ag_conn_drop(a, why, now);
			return -1;
		}
		if (a->dg && ag_dg_was_answered(a, id))
			a->dg->st.duplicate_replies++; /* the answer to a copy */
		else
			a->late++; /* answered locally already */
		return 0;
	}
	if (msg->type == CW_RESULT &&
	    (msg->result.label >= m->n_classes || msg->result.exit >= m->n_exits)) {
		ag_conn_drop(a, "RESULT with a label or exit outside the model", now);
		return -1;
	}
	if (a->th->f->cfg.link_bps && downlink(a, s, msg, now))
		return 0;
	deliver(a, s, msg->type == CW_ERROR ? msg->error.code : 0, &msg->result, now);
	return 0;
}

/* ---- timers -------------------------------------------------------------------------------- */

/* Timers fire late on a busy machine (and when many fire at once, each waits for
 * the others' compute): the reply timeout keeps that much more back. */
static void note_late(struct ag_thread *th, uint64_t now, uint64_t due)
{
	double late = ns_to_ms(now - due);
	th->late_ms *= 0.98;
	if (late > th->late_ms)
		th->late_ms = late;
}

/* A slot in an emulated link: carried (sent, or delivered), or out of time
 * first (as a reply timeout: the agent cannot tell a slow link from a slow edge). */
static void link_timers(struct ag_agent *a, struct ag_slot *s, uint64_t now)
{
	if (s->t_event <= s->t_timeout && now >= s->t_event) {
		if (s->st == S_UPLINK)
			uplink_done(a, s, now);
		else
			deliver(a, s, s->dn_err, &s->dn_res, now);
	} else if (now >= s->t_timeout) {
		note_late(a->th, now, s->t_timeout);
		ag_edge_failed(a, now, 0);
		ag_go_local(a, s, AG_FB_TIMEOUT, now);
	}
}

/* The requests' timers: the head's emulated time (then it is sent), the reply's
 * time limit, the DECIDE's, and a local answer's emulated time. */
void ag_request_timers(struct ag_agent *a)
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
			ag_edge_failed(a, now, 0);
			ag_go_local(a, s, AG_FB_TIMEOUT, now);
		} else if (s->st == S_DECIDE && now >= s->t_event) {
			slot_decided(a, s, now);
		} else if (s->st == S_UPLINK || s->st == S_DOWNLINK) {
			link_timers(a, s, now);
		}
		if (s->st == S_LOCAL && fnow(f) >= s->t_event)
			slot_finish(a, s, fnow(f));
	}
}

/* Starts the requests that are due and have a free slot, at most one per slot:
 * a device answer can finish within the pass and free its slot at once, and the
 * loop must still see sockets and timers (the breaker's probes) between such
 * answers. Returns the time after the last. */
uint64_t ag_start_requests(struct ag_agent *a, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	for (int starts = 0; starts < a->nslots && ag_more_requests(a) &&
			     now >= a->t_next_start &&
			     (a->cs == C_READY || now >= a->t_gate || !ag_needs_network(f));
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
