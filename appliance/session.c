/* The appliance's session layer (the interface and its rules are in session.h).
 *
 * Receive: bytes are parsed where they lie; a message whole in them is decoded
 * in place and an INFER's frame copied once into a request slot. A message split
 * across receives is reassembled in a small inline area (control messages) or a
 * buffer from a bounded pool (INFER frames); when the pool is empty the message
 * is read through and dropped and the device gets ERROR busy, so memory stays
 * bounded whatever the peers send.
 *
 * Send: each connection has a bounded reply buffer; replies are appended as
 * they are made and the transport sends them at the end of its loop turn. A
 * peer that does not read its replies fills its buffer and is dropped.
 *
 * Ownership of what is reused here:
 *   - conns[i] with its reply buffer and reassembly state: the slot's lifetime
 *     is s->slots (conns.h). It is handed to a new peer only once nothing of
 *     its old life refers to it (the transport's operations in flight, the
 *     flush and re-arm queues); ap_sess_open may wipe the session fields
 *     because the slot's links are not among them.
 *   - request slots: the scheduler's (scheduler.h); a queued request keeps its
 *     connection's generation and answer() checks it before replying.
 *   - reassembly pool buffers: held by one connection from a message's header
 *     to its last byte (c->pool), given back by pool_release, which is
 *     idempotent, when the message is handled or the connection closes.
 *   - the served policies: the copies made at start (pol_own) are this
 *     session's until ap_sess_destroy; a reload's copies (pol_set) are the
 *     server's, which frees them only at its stop, after the workers are
 *     joined, so a set this worker has left may still be mid-decision in no
 *     one (one thread decides per session) and is never freed under it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "admit.h"
#include "auth.h"
#include "coinfer/bytes.h"
#include "coinfer/clock.h"
#include "coinfer/errmsg.h"
#include "coinfer/policy.h"
#include "coinfer/wire.h"
#include "scheduler.h"
#include "session.h"
#include "slo.h"
#include "tail.h"

#define INLINE_RX 256 /* holds any control message whole */

/* A connection's protocol state; whether its slot may be reused is conns.h's
 * business (C_DEAD: no live peer, whatever the slot still waits for). */
enum { C_DEAD = 0, C_HELLO, C_AUTH, C_READY, C_CLOSING };

struct conn {
	int state;
	int inflight;
	uint64_t device_id, since_ns;
	/* reassembly: have bytes of a message of need bytes (0: header not yet whole) */
	uint8_t head[INLINE_RX];
	uint8_t *rx;             /* head, or a pool buffer */
	int pool;                /* pool buffer index or -1 */
	size_t have, need, discard;
	uint64_t discard_id;     /* request id of a message being dropped */
	uint8_t *tx;
	size_t tx_len;
	/* policy serving: the session's policy for the class of HELLO (-1: none)
	 * and the state the device sent with its last DECIDE */
	int pol;
	int have_state;
	int admitted; /* HELLO accepted: a device, counted as departed when closed */
	struct pol_obs_in decided;
	char dev_class[CW_CLASS_MAX + 1];
	/* device identity: the source address (rate limit) and, in C_AUTH, the
	 * HELLO waiting for its AUTH with the single-use server nonce */
	uint64_t addr, challenge_ns;
	struct cw_hello hello;
	uint8_t snonce[CW_SERVER_NONCE_BYTES];
	int app; /* the application of HELLO in cfg->slo, -1: none (not counted) */
};

struct ap_sess {
	struct ap_sess_config c;
	const struct ap_server_config *cfg;
	struct cw_limits lim;
	struct conn *conns;
	struct ap_conns slots;
	uint8_t *tx_mem, *pool_mem;
	int *pool_free, n_pool;
	struct ap_sched sched;
	struct ap_batch batch;
	struct ap_tail *tail;
	struct ap_outcome *outc;
	struct ap_stats st;
	uint64_t session_seq;
	uint8_t session_key[crypto_shorthash_KEYBYTES];
	/* the policies served now: the copies made at start (pol_own) or a
	 * reload's copies for this worker (the server's, freed at its stop) */
	struct pol_policy **pol, **pol_own;
	int n_pol;
	const struct ap_policy_set *pol_set; /* the reload's set in use, NULL: pol_own */
	struct ap_rate rate_addr, rate_device;
	uint32_t qdelay_us;      /* queueing-delay estimate: the last answer's */
	struct ap_hist_edges edges;
	const struct ap_live *live; /* the live settings taken last (NULL: cfg's) */
	int idle_timeout_ms;        /* live */
	_Atomic uint64_t *acts;  /* decided actions (ap_act_index), one writer: this worker */
	struct ap_slo_app *slo;  /* per application of cfg->slo, one writer: this worker */
	uint64_t *slo_bucket_ns;
	uint8_t msgbuf[512];
};

uint64_t ap_sess_now(const struct ap_sess *s)
{
	return s->c.clock(s->c.clock_ctx);
}

static inline void stat_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

/* An answer to a device of an application with an SLO: met or not (slo.h). */
static void slo_count(struct ap_sess *s, const struct conn *c, int met)
{
	if (c->app >= 0)
		ap_slo_count(&s->slo[c->app], s->slo_bucket_ns[c->app], ap_sess_now(s), met);
}

static int slo_app(const struct ap_sess *s, const char *app)
{
	for (int i = 0; i < s->cfg->n_slo; i++)
		if (!strcmp(s->cfg->slo[i].app, app))
			return i;
	return -1;
}

void ap_hist_edges(const struct ap_server_config *c, struct ap_hist_edges *e)
{
	static const uint64_t fixed[AP_HIST_FIXED_EDGES] = {
		100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
		1000000, 2500000, 5000000, 10000000};
	int n = 0, i = 0, j = 0, nd = 0;
	uint64_t d[2 * AP_SLO_DEADLINES_MAX];
	int n_slo = c->slo && c->n_slo > 0 ? c->n_slo : 0;
	for (int k = 0; k < c->n_slo_deadlines + n_slo && nd < 2 * AP_SLO_DEADLINES_MAX; k++) {
		/* insertion sort: a configuration's lists are short */
		uint64_t v = k < c->n_slo_deadlines
				     ? (uint64_t)c->slo_deadlines_ms[k] * 1000
				     : (uint64_t)(c->slo[k - c->n_slo_deadlines].deadline_ms * 1000 + 0.5);
		int m = nd++;
		for (; m > 0 && d[m - 1] > v; m--)
			d[m] = d[m - 1];
		d[m] = v;
	}
	while (i < AP_HIST_FIXED_EDGES || j < nd) {
		uint64_t v = j == nd || (i < AP_HIST_FIXED_EDGES && fixed[i] < d[j]) ? fixed[i++]
										       : d[j++];
		if (!n || e->us[n - 1] != v)
			e->us[n++] = v;
	}
	e->n = n;
}

static void hist_add(struct ap_hist *h, const struct ap_hist_edges *e, uint64_t us)
{
	int b = 0;
	while (b < e->n && us > e->us[b])
		b++;
	stat_add(&h->n[b], 1);
	stat_add(&h->sum_us, us);
}

/* The grid's partitions: 0..N_e of the longest exit. */
static int act_parts(const struct cr_model *m)
{
	int p = 0;
	for (int e = 0; e < m->n_exits; e++)
		p = m->exit_len[e] > p ? m->exit_len[e] : p;
	return p + 1;
}

#define ACT_BITS 5 /* 0, 4, 8, 12, 16 */

size_t ap_act_slots(const struct cr_model *m)
{
	return (size_t)AP_ACT_SOURCES * (size_t)m->n_exits * (size_t)act_parts(m) * ACT_BITS;
}

long ap_act_index(const struct cr_model *m, int source, const struct cf_action *a)
{
	int parts = act_parts(m);
	if (source < 0 || source >= AP_ACT_SOURCES || a->exit < 0 || a->exit >= m->n_exits ||
	    a->partition < 0 || a->partition > m->exit_len[a->exit] || a->bits < 0 ||
	    a->bits > 16 || a->bits % 4)
		return -1;
	return (((long)source * m->n_exits + a->exit) * parts + a->partition) * ACT_BITS +
	       a->bits / 4;
}

void ap_act_decode(const struct cr_model *m, size_t idx, int *source, struct cf_action *a)
{
	size_t parts = (size_t)act_parts(m);
	a->bits = (int)(idx % ACT_BITS) * 4;
	idx /= ACT_BITS;
	a->partition = (int)(idx % parts);
	idx /= parts;
	a->exit = (int)(idx % (size_t)m->n_exits);
	*source = (int)(idx / (size_t)m->n_exits);
}

static void act_count(struct ap_sess *s, int source, const struct cf_action *a)
{
	long i = ap_act_index(s->c.model, source, a);
	if (i >= 0)
		stat_add(&s->acts[i], 1);
}

static int conn_idx(const struct ap_sess *s, const struct conn *c)
{
	return (int)(c - s->conns);
}

static uint32_t conn_gen(const struct ap_sess *s, const struct conn *c)
{
	return s->slots.slot[conn_idx(s, c)].gen;
}

/* ---- replies ------------------------------------------------------------- */

static void conn_close(struct ap_sess *s, struct conn *c);

/* Appends msg to c's replies; a peer whose buffer is full is not reading them. */
static void reply(struct ap_sess *s, struct conn *c, const uint8_t *msg, size_t len)
{
	if (c->state == C_DEAD)
		return;
	if (c->tx_len + len > (size_t)s->cfg->tx_bytes) {
		conn_close(s, c);
		return;
	}
	memcpy(c->tx + c->tx_len, msg, len);
	c->tx_len += len;
	ap_conns_want(&s->slots, AP_Q_FLUSH, conn_idx(s, c));
}

static void reply_error(struct ap_sess *s, struct conn *c, uint64_t id, int code, const char *msg)
{
	struct cw_error e = {.request_id = id, .code = (uint16_t)code};
	size_t len;
	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	/* messages from the decoders may hold bytes the wire refuses: keep printable */
	for (char *p = e.msg; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	if (!cw_encode_error(s->msgbuf, sizeof(s->msgbuf), &e, &len, NULL, 0))
		reply(s, c, s->msgbuf, len);
	stat_add(&s->st.errors, 1);
}

/* Framing is lost: say why, then close once the reply is out. */
static void protocol_error(struct ap_sess *s, struct conn *c, int ret, const char *why)
{
	stat_add(&s->st.protocol_errors, 1);
	reply_error(s, c, 0, cw_error_for(ret), why);
	if (c->state != C_DEAD)
		c->state = C_CLOSING;
}

/* ---- messages ------------------------------------------------------------ */

/* Fills held request slot i from m and queues it. */
static void queue_infer(struct ap_sess *s, struct conn *c, const struct cw_infer *m, int i)
{
	struct ap_req *r = ap_sched_req(&s->sched, i);
	uint64_t now = ap_sess_now(s);
	r->request_id = m->request_id;
	r->owner = c;
	r->owner_gen = conn_gen(s, c);
	r->arrival_ns = now;
	r->deadline_ns = now + (uint64_t)m->deadline_us * 1000;
	r->device_us = m->device_us;
	r->exit = m->action.exit;
	r->partition = m->action.partition;
	r->bits = m->action.bits;
	r->flags = m->flags;
	memcpy(r->frame, m->frame, m->frame_len);
	r->frame_len = m->frame_len;
	if (ap_sched_push(&s->sched, i)) {
		ap_sched_release(&s->sched, i);
		reply_error(s, c, m->request_id, CW_ERR_INTERNAL, "scheduler refused the request");
		return;
	}
	c->inflight++;
	stat_add(&s->st.requests, 1);
}

static void on_infer(struct ap_sess *s, struct conn *c, const struct cw_infer *m)
{
	if (atomic_load_explicit(s->c.stop, memory_order_relaxed)) {
		reply_error(s, c, m->request_id, CW_ERR_SHUTDOWN, "the appliance is stopping");
		return;
	}
	if (c->inflight >= s->cfg->max_inflight) {
		stat_add(&s->st.busy, 1);
		slo_count(s, c, 0);
		reply_error(s, c, m->request_id, CW_ERR_BUSY, "in-flight limit of the device reached");
		return;
	}
	char why[CW_ERRMSG_MAX + 1];
	int code = ap_admit_infer(s->c.model, m, why, sizeof(why));
	if (code) {
		if (code == CW_ERR_BAD_FRAME)
			stat_add(&s->st.bad_frames, 1);
		reply_error(s, c, m->request_id, code, why);
		return;
	}
	int i = ap_sched_alloc(&s->sched, m->frame_len);
	if (i < 0) {
		stat_add(&s->st.busy, 1);
		slo_count(s, c, 0);
		reply_error(s, c, m->request_id, i == -EMSGSIZE ? CW_ERR_TOO_LARGE : CW_ERR_BUSY,
			    i == -EMSGSIZE ? "frame above the limit" : "appliance queue full");
		return;
	}
	queue_infer(s, c, m, i);
}

/* ---- policy serving ------------------------------------------------------- */

static int policy_for(const struct ap_sess *s, const char *device_class)
{
	for (int i = 0; i < s->n_pol; i++)
		if (!strcmp(s->pol[i]->device_class, device_class))
			return i;
	return -1;
}

/* DECIDE's CPU in use as the policy's load factor, the multiplier of device
 * time: a core busy u of the time leaves the request 1 - u of it. Capped at
 * 90 % (10x), beyond which the figure says more about the sampling than the
 * device. */
static double load_factor(uint16_t permille)
{
	unsigned u = permille < 900 ? permille : 900;
	return 1.0 / (1.0 - u / 1000.0);
}

static void on_decide(struct ap_sess *s, struct conn *c, const struct cw_decide *m)
{
	char why[96];
	size_t len;
	if (c->pol < 0) {
		snprintf(why, sizeof(why), "no policy for device class %s", c->dev_class);
		reply_error(s, c, m->request_id, CW_ERR_UNSUPPORTED, why);
		return;
	}
	double mbps = (double)m->bandwidth_bps / 1e6;
	c->decided = (struct pol_obs_in){
		.bw_ewma_mbps = mbps,
		.bw_last_mbps = mbps,
		.deadline_ms = m->deadline_us / 1e3,
		.energy_j = m->energy_uj / 1e6,
		.load = load_factor(m->load_permille),
	};
	c->have_state = 1;
	struct pol_obs_in in = c->decided;
	in.queue_ms = s->qdelay_us / 1e3;
	struct cw_decision d = {.request_id = m->request_id, .queue_delay_us = s->qdelay_us};
	int ret = pol_policy_decide(s->pol[c->pol], &in, 0, &d.action, NULL);
	if (ret) {
		snprintf(why, sizeof(why), "policy for %s failed: %s", c->dev_class, strerror(-ret));
		reply_error(s, c, m->request_id, CW_ERR_INTERNAL, why);
		return;
	}
	if (!cw_encode_decision(s->msgbuf, sizeof(s->msgbuf), &d, &len, NULL, 0))
		reply(s, c, s->msgbuf, len);
	stat_add(&s->st.decisions, 1);
	act_count(s, AP_ACT_DECISION, &d.action);
}

/* RESULT's next action for a request that asked for one: the connection's last
 * DECIDE state with this request's budget and the session's queue now. */
static void suggest(struct ap_sess *s, struct conn *c, const struct ap_req *r, struct cw_result *res)
{
	if (!(r->flags & CW_INFER_SUGGEST) || c->pol < 0 || !c->have_state)
		return;
	struct pol_obs_in in = c->decided;
	/* the budget the request had when the device started it */
	in.deadline_ms = (double)(r->deadline_ns - r->arrival_ns) / 1e6 + r->device_us / 1e3;
	in.queue_ms = s->qdelay_us / 1e3;
	if (pol_policy_decide(s->pol[c->pol], &in, 0, &res->next, NULL))
		return;
	res->flags |= CW_RESULT_NEXT_VALID;
	stat_add(&s->st.suggestions, 1);
	act_count(s, AP_ACT_NEXT, &res->next);
}

/* A session id no one can guess from the ones they saw (a datagram names its
 * session by it alone: dgram.h): SipHash-2-4 under this session's random key of
 * the worker and a counter, so ids are unique per worker but for SipHash
 * collisions (2^-64), and never 0, which means "no session". */
static uint64_t session_id(struct ap_sess *s)
{
	uint64_t id = 0;
	while (!id) {
		uint8_t in[8], out[crypto_shorthash_BYTES];
		le_wr64(in, (uint64_t)s->c.id << 48 | ++s->session_seq);
		crypto_shorthash(out, in, sizeof(in), s->session_key);
		id = le_rd64(out);
	}
	return id;
}

/* The session proper: WELCOME (after HELLO, or after AUTH with keys). */
static void open_session(struct ap_sess *s, struct conn *c, const struct cw_hello *h)
{
	size_t len;
	c->device_id = h->device_id;
	c->state = C_READY;
	c->admitted = 1;
	stat_add(&s->st.admitted, 1);
	snprintf(c->dev_class, sizeof(c->dev_class), "%s", h->device_class);
	c->pol = policy_for(s, c->dev_class);
	c->app = slo_app(s, h->app);
	struct cw_welcome wm = {
		.session_id = session_id(s),
		.model_checksum = s->c.model->checksum,
		.max_frame = s->lim.max_frame,
		.max_padding = s->lim.max_padding,
		.max_inflight = (uint16_t)s->cfg->max_inflight,
	};
	if (!cw_encode_welcome(s->msgbuf, sizeof(s->msgbuf), &wm, &len, NULL, 0))
		reply(s, c, s->msgbuf, len);
}

/* A refusal of the handshake: counted, said, and the connection ends. */
static void refuse(struct ap_sess *s, struct conn *c, _Atomic uint64_t *counter, int code,
		   const char *why)
{
	stat_add(counter, 1);
	reply_error(s, c, 0, code, why);
	sodium_memzero(c->snonce, sizeof(c->snonce));
	c->state = C_CLOSING;
}

/* With keys: the device named must have one, not revoked, and the HELLO a
 * client nonce; then CHALLENGE with a fresh single-use server nonce. */
static void challenge(struct ap_sess *s, struct conn *c, const struct cw_hello *h)
{
	const uint8_t *key;
	char why[96];
	size_t len;
	int ret = ap_keys_find(s->cfg->keys, h->device_id, &key);
	if (!h->has_nonce) {
		refuse(s, c, &s->st.auth_failed, CW_ERR_AUTH_FAILED,
		       "this appliance requires device keys: HELLO has no client nonce");
		return;
	}
	if (ret) {
		snprintf(why, sizeof(why), "device %llu %s", (unsigned long long)h->device_id,
			 ret == -ENOENT ? "has no key here" : "has its key revoked");
		refuse(s, c, ret == -ENOENT ? &s->st.auth_unknown : &s->st.auth_revoked,
		       ret == -ENOENT ? CW_ERR_UNKNOWN_DEVICE : CW_ERR_REVOKED, why);
		return;
	}
	struct cw_challenge ch;
	randombytes_buf(ch.nonce, sizeof(ch.nonce));
	memcpy(c->snonce, ch.nonce, sizeof(ch.nonce));
	c->hello = *h;
	c->challenge_ns = ap_sess_now(s);
	c->state = C_AUTH;
	if (!cw_encode_challenge(s->msgbuf, sizeof(s->msgbuf), &ch, &len, NULL, 0))
		reply(s, c, s->msgbuf, len);
}

static void on_hello(struct ap_sess *s, struct conn *c, const struct cw_hello *h)
{
	char err[CW_ERRMSG_MAX + 1];
	int ret;
	if (c->state != C_HELLO) {
		reply_error(s, c, 0, CW_ERR_NO_SESSION, "second HELLO");
		return;
	}
	if (s->cfg->keys) {
		uint64_t now = ap_sess_now(s);
		if (ap_rate_take(&s->rate_addr, c->addr, now) ||
		    ap_rate_take(&s->rate_device, h->device_id, now)) {
			refuse(s, c, &s->st.auth_rate_limited, CW_ERR_RATE_LIMITED,
			       "too many HELLOs from this address or device id");
			return;
		}
	}
	if ((ret = ap_admit_hello(s->c.model, h, err, sizeof(err)))) {
		stat_add(&s->st.refused[AP_REFUSE_MODEL_MISMATCH], 1);
		reply_error(s, c, 0, ret, err);
		c->state = C_CLOSING;
		return;
	}
	if (s->cfg->keys)
		challenge(s, c, h);
	else
		open_session(s, c, h);
}

/* The answer to CHALLENGE: the server nonce is spent whatever the outcome. */
static void on_auth(struct ap_sess *s, struct conn *c, const struct cw_auth *m)
{
	const uint8_t *key;
	uint64_t age = ap_sess_now(s) - c->challenge_ns;
	if (c->state != C_AUTH) {
		reply_error(s, c, 0, CW_ERR_NO_SESSION, "AUTH without a CHALLENGE pending");
		return;
	}
	if (age > (uint64_t)s->cfg->auth_timeout_ms * 1000000ull) {
		refuse(s, c, &s->st.auth_failed, CW_ERR_AUTH_FAILED, "challenge expired");
		return;
	}
	/* the key file cannot change under a running server: still there */
	if (ap_keys_find(s->cfg->keys, c->hello.device_id, &key) ||
	    ap_auth_verify(key, &c->hello, c->snonce, m->mac)) {
		refuse(s, c, &s->st.auth_failed, CW_ERR_AUTH_FAILED,
		       "AUTH's MAC does not prove the device's key");
		return;
	}
	sodium_memzero(c->snonce, sizeof(c->snonce));
	stat_add(&s->st.auth_ok, 1);
	open_session(s, c, &c->hello);
}

/* Answered in the turn that read it: the hold is below the loop's granularity,
 * so 0 (the device measures the round trip itself). */
static void on_ping(struct ap_sess *s, struct conn *c, const struct cw_ping *m)
{
	struct cw_pong p = {.nonce = m->nonce, .timestamp = m->timestamp,
			    .padding_len = m->padding_len, .hold_us = 0};
	size_t len;
	if (!cw_encode_pong(s->msgbuf, sizeof(s->msgbuf), &p, &len, NULL, 0))
		reply(s, c, s->msgbuf, len);
}

static void handle_msg(struct ap_sess *s, struct conn *c, const uint8_t *msg, size_t len)
{
	struct cw_msg m;
	char err[160];
	int ret = cw_decode(msg, len, &s->lim, &m, err, sizeof(err));
	if (ret) {
		/* a malformed body with whole framing: refuse it, keep the peer */
		reply_error(s, c, m.request_id, cw_error_for(ret), err);
		return;
	}
	if (c->state == C_HELLO && m.type != CW_HELLO && m.type != CW_PING) {
		reply_error(s, c, m.request_id, CW_ERR_NO_SESSION, "HELLO first");
		return;
	}
	if (c->state == C_AUTH && m.type != CW_AUTH && m.type != CW_PING) {
		reply_error(s, c, m.request_id, CW_ERR_NO_SESSION, "AUTH first");
		return;
	}
	switch (m.type) {
	case CW_HELLO:
		on_hello(s, c, &m.hello);
		return;
	case CW_INFER:
		on_infer(s, c, &m.infer);
		return;
	case CW_PING:
		on_ping(s, c, &m.ping);
		return;
	case CW_AUTH:
		on_auth(s, c, &m.auth);
		return;
	case CW_DECIDE:
		on_decide(s, c, &m.decide);
		return;
	default:
		snprintf(err, sizeof(err), "%s is not a request", cw_type_name(m.type));
		reply_error(s, c, m.request_id, CW_ERR_BAD_REQUEST, err);
		return;
	}
}

/* ---- receiving ------------------------------------------------------------ */

static void pool_release(struct ap_sess *s, struct conn *c)
{
	if (c->pool >= 0)
		s->pool_free[s->n_pool++] = c->pool;
	c->pool = -1;
	c->rx = c->head;
	c->have = c->need = 0;
}

/* The header of a message split across receives is whole in c->head: where its
 * body will be gathered, or a drop (no pool buffer free). 0, or the framing
 * error. */
static int begin_split(struct ap_sess *s, struct conn *c, const uint8_t *d, size_t n)
{
	struct cw_header h;
	char err[160];
	int r = cw_parse_header(c->head, c->have, &s->lim, &h, err, sizeof(err));
	if (r) {
		if (r != -EAGAIN)
			protocol_error(s, c, r, err);
		return r;
	}
	c->need = h.msg_len;
	if (c->need <= INLINE_RX)
		return 0;
	if (!s->n_pool) {
		/* no room to hold it: read it through, answer busy */
		c->discard = c->need - c->have;
		c->discard_id = h.type == CW_INFER && n >= 8 ? le_rd64(d) : 0;
		stat_add(&s->st.busy, 1);
		if (h.type == CW_INFER)
			slo_count(s, c, 0);
		c->have = c->need = 0;
		return 0;
	}
	c->pool = s->pool_free[--s->n_pool];
	c->rx = s->pool_mem + (size_t)c->pool * (CW_HEADER_BYTES + s->lim.max_body);
	memcpy(c->rx, c->head, c->have);
	return 0;
}

/* Takes up to n bytes of a split message; returns how many it took. */
static size_t gather(struct ap_sess *s, struct conn *c, const uint8_t *d, size_t n)
{
	if (!c->need) {
		/* complete the header in the inline area */
		size_t k = CW_HEADER_BYTES - c->have < n ? CW_HEADER_BYTES - c->have : n;
		memcpy(c->head + c->have, d, k);
		c->have += k;
		int r = begin_split(s, c, d + k, n - k);
		return r && r != -EAGAIN ? n : k;
	}
	size_t k = c->need - c->have < n ? c->need - c->have : n;
	memcpy(c->rx + c->have, d, k);
	c->have += k;
	if (c->have == c->need) {
		handle_msg(s, c, c->rx, c->need);
		pool_release(s, c);
	}
	return k;
}

void ap_sess_input(struct ap_sess *s, int i, const uint8_t *d, size_t n)
{
	struct conn *c = &s->conns[i];
	struct cw_header h;
	char err[160];

	stat_add(&s->st.bytes_in, n);
	while (n && (c->state == C_HELLO || c->state == C_AUTH || c->state == C_READY)) {
		size_t k;
		if (c->discard) {
			k = n < c->discard ? n : c->discard;
			c->discard -= k;
			if (!c->discard)
				reply_error(s, c, c->discard_id, CW_ERR_BUSY,
					    "appliance reassembly buffers full");
		} else if (!c->have) {
			int r = cw_parse_header(d, n, &s->lim, &h, err, sizeof(err));
			if (r && r != -EAGAIN) {
				protocol_error(s, c, r, err);
				return;
			}
			if (r == 0 && h.msg_len <= n) {
				handle_msg(s, c, d, h.msg_len);
				k = h.msg_len;
			} else {
				c->since_ns = ap_sess_now(s); /* a split message starts */
				k = gather(s, c, d, n);
			}
		} else {
			k = gather(s, c, d, n);
		}
		d += k;
		n -= k;
	}
}

/* ---- connections --------------------------------------------------------- */

static void conn_close(struct ap_sess *s, struct conn *c)
{
	if (c->state == C_DEAD)
		return;
	int i = conn_idx(s, c);
	c->state = C_DEAD;
	/* the scan is over every request slot: most peers that go (and every
	 * hostile one) have none queued */
	if (c->inflight)
		ap_sched_drop_owner(&s->sched, c);
	pool_release(s, c);
	c->discard = 0;
	c->tx_len = 0;
	c->inflight = 0;
	stat_add(&s->st.closed, 1);
	if (c->admitted)
		stat_add(&s->st.departed, 1);
	s->c.transport.close(s->c.transport.ctx, i);
	ap_conns_kill(&s->slots, i);
}

void ap_sess_close(struct ap_sess *s, int i)
{
	conn_close(s, &s->conns[i]);
}

int ap_sess_open(struct ap_sess *s)
{
	int i = ap_conns_take(&s->slots);
	if (i < 0) {
		stat_add(&s->st.refused[AP_REFUSE_CAPACITY], 1);
		return i;
	}
	/* the slot's lifetime fields live in s->slots, so wiping the session's
	 * fields here cannot unlink anything (conns.h) */
	struct conn *c = &s->conns[i];
	uint8_t *tx = c->tx;
	memset(c, 0, sizeof(*c));
	c->tx = tx;
	c->state = C_HELLO;
	c->pool = -1;
	c->pol = -1;
	c->app = -1;
	c->rx = c->head;
	c->since_ns = ap_sess_now(s);
	stat_add(&s->st.accepted, 1);
	return i;
}

void ap_sess_set_addr(struct ap_sess *s, int i, uint64_t addr)
{
	s->conns[i].addr = addr;
}

int ap_sess_reading(const struct ap_sess *s, int i)
{
	int st = s->conns[i].state;
	return st == C_HELLO || st == C_AUTH || st == C_READY;
}

int ap_sess_tx(const struct ap_sess *s, int i, const uint8_t **p, size_t *len)
{
	const struct conn *c = &s->conns[i];
	if (c->state == C_DEAD || !c->tx_len)
		return 0;
	*p = c->tx;
	*len = c->tx_len;
	return 1;
}

void ap_sess_sent(struct ap_sess *s, int i, size_t n)
{
	struct conn *c = &s->conns[i];
	if (c->state == C_DEAD)
		return;
	if (n > c->tx_len)
		n = c->tx_len;
	stat_add(&s->st.bytes_out, n);
	memmove(c->tx, c->tx + n, c->tx_len - n);
	c->tx_len -= n;
	if (c->tx_len)
		ap_conns_want(&s->slots, AP_Q_FLUSH, i);
	else if (c->state == C_CLOSING)
		conn_close(s, c);
}

/* Closes peers that left a message half sent for longer than the idle timeout,
 * or never said HELLO. */
void ap_sess_sweep(struct ap_sess *s)
{
	uint64_t now = ap_sess_now(s), limit = (uint64_t)s->idle_timeout_ms * 1000000ull;
	for (int i = 0; i < s->cfg->max_conns; i++) {
		struct conn *c = &s->conns[i];
		if ((c->state == C_HELLO || c->state == C_AUTH || c->have || c->discard) &&
		    c->state != C_DEAD && now - c->since_ns > limit) {
			if (c->state == C_HELLO || c->state == C_AUTH)
				stat_add(&s->st.refused[AP_REFUSE_NO_HELLO], 1);
			conn_close(s, c);
		}
	}
}

/* ---- batches ------------------------------------------------------------- */

static void answer(struct ap_sess *s, struct ap_req *r, const struct ap_outcome *o, uint64_t now)
{
	struct conn *c = r->owner;
	size_t len;
	if (conn_gen(s, c) != r->owner_gen || (c->state != C_READY && c->state != C_CLOSING))
		return; /* the device went away */
	c->inflight--;
	slo_count(s, c, !o->code && now <= r->deadline_ns);
	if (o->code) {
		if (o->code == CW_ERR_BAD_FRAME)
			stat_add(&s->st.bad_frames, 1);
		reply_error(s, c, r->request_id, o->code, o->msg);
		return;
	}
	uint64_t total_us = (now - r->arrival_ns) / 1000;
	uint64_t work_us = (uint64_t)o->decode_us + o->compute_us;
	struct cw_result res = {
		.request_id = r->request_id,
		.confidence = o->confidence,
		.label = o->label,
		.batch = o->batch ? o->batch : 1,
		.queue_us = (uint32_t)(total_us > work_us ? total_us - work_us : 0),
		.decode_us = o->decode_us,
		.compute_us = o->compute_us,
		.exit = o->exit,
	};
	/* waiting alone: the cost model and the policy's state add the edge's
	 * compute themselves, so counting it here would count it twice */
	res.queue_delay_us = res.queue_us;
	s->qdelay_us = res.queue_delay_us;
	suggest(s, c, r, &res);
	char why[CW_ERRMSG_MAX + 1];
	if (cw_encode_result(s->msgbuf, sizeof(s->msgbuf), &res, &len, why, sizeof(why))) {
		reply_error(s, c, r->request_id, CW_ERR_INTERNAL, why);
		return;
	}
	reply(s, c, s->msgbuf, len);
	stat_add(&s->st.results, 1);
	hist_add(&s->st.server_time, &s->edges, total_us);
	hist_add(&s->st.queue_time, &s->edges, res.queue_us);
	hist_add(&s->st.compute_time, &s->edges, work_us);
}

static void answer_expired(struct ap_sess *s, const struct ap_batch *b, uint64_t now)
{
	for (int k = 0; k < b->n_expired; k++) {
		struct ap_req *r = ap_sched_req(&s->sched, b->expired[k]);
		struct ap_outcome o = {.code = CW_ERR_DEADLINE};
		snprintf(o.msg, sizeof(o.msg), "deadline cannot be met (queued %llu us)",
			 (unsigned long long)((now - r->arrival_ns) / 1000));
		answer(s, r, &o, now);
		ap_sched_release(&s->sched, b->expired[k]);
	}
	stat_add(&s->st.expired, (uint64_t)b->n_expired);
}

/* Once per loop turn: one acquire load; the copy only when a reload published
 * new settings (the server checked max_batch against the bound). */
/* A reload's policies: every session looks its class up again (a class may
 * have gained, kept or lost its policy); a state a device sent with its last
 * DECIDE stays, it is the device's, not the policy's. */
static void take_policies(struct ap_sess *s, const struct ap_policy_set *set)
{
	s->pol_set = set;
	s->pol = set ? set->w[s->c.id] : s->pol_own;
	s->n_pol = set ? set->n : s->cfg->n_policies;
	for (int i = 0; i < s->cfg->max_conns; i++)
		if (s->conns[i].state == C_READY || s->conns[i].state == C_CLOSING)
			s->conns[i].pol = policy_for(s, s->conns[i].dev_class);
}

static void take_live(struct ap_sess *s)
{
	const struct ap_live *l;
	if (!s->cfg->live ||
	    (l = atomic_load_explicit(s->cfg->live, memory_order_acquire)) == s->live || !l)
		return;
	s->live = l;
	s->idle_timeout_ms = l->idle_timeout_ms;
	ap_sched_set_live(&s->sched, l->max_batch, l->max_delay_us * 1000, l->run_late);
	if (l->policies != s->pol_set)
		take_policies(s, l->policies);
}

uint64_t ap_sess_run(struct ap_sess *s)
{
	uint64_t wake = UINT64_MAX;
	struct ap_batch *b = &s->batch;
	take_live(s);
	for (;;) {
		uint64_t now = ap_sess_now(s);
		if (!ap_sched_next(&s->sched, now, b, &wake))
			return wake;
		answer_expired(s, b, now);
		if (!b->n)
			continue;
		ap_tail_run(s->tail, &s->sched, b, s->outc);
		now = ap_sess_now(s);
		for (int k = 0; k < b->n; k++) {
			answer(s, ap_sched_req(&s->sched, b->idx[k]), &s->outc[k], now);
			ap_sched_release(&s->sched, b->idx[k]);
		}
		stat_add(&s->st.batches, 1);
		stat_add(&s->st.batch_images, (uint64_t)b->n);
	}
}

/* ---- stopping -------------------------------------------------------------- */

void ap_sess_stopping(struct ap_sess *s)
{
	struct ap_outcome o = {.code = CW_ERR_SHUTDOWN};
	snprintf(o.msg, sizeof(o.msg), "the appliance is stopping");
	uint64_t now = ap_sess_now(s);
	for (int i = 0; i < s->cfg->max_requests; i++) {
		struct ap_req *r = ap_sched_req(&s->sched, i);
		if (r->lane < 0)
			continue;
		answer(s, r, &o, now);
		ap_sched_release(&s->sched, i);
	}
	for (int i = 0; i < s->cfg->max_conns; i++)
		if (ap_sess_reading(s, i))
			reply_error(s, &s->conns[i], 0, CW_ERR_SHUTDOWN, "the appliance is stopping");
}

int ap_sess_pending(const struct ap_sess *s)
{
	int n = 0;
	for (int i = 0; i < s->cfg->max_conns; i++)
		n += s->conns[i].state != C_DEAD && s->conns[i].tx_len;
	return n;
}

void ap_sess_close_all(struct ap_sess *s)
{
	for (int i = 0; i < s->cfg->max_conns; i++)
		conn_close(s, &s->conns[i]);
}

struct ap_conns *ap_sess_slots(struct ap_sess *s)
{
	return &s->slots;
}

const struct ap_stats *ap_sess_stats(const struct ap_sess *s)
{
	return &s->st;
}

const struct ap_slo_app *ap_sess_slo(const struct ap_sess *s, int app)
{
	return app >= 0 && app < s->cfg->n_slo ? &s->slo[app] : NULL;
}

const _Atomic uint64_t *ap_sess_actions(const struct ap_sess *s)
{
	return s->acts;
}

int ap_sess_queued(const struct ap_sess *s)
{
	return ap_sched_queued(&s->sched);
}

/* ---- life ------------------------------------------------------------------ */

void ap_sess_destroy(struct ap_sess *s)
{
	if (!s)
		return;
	free(s->conns);
	ap_conns_free(&s->slots);
	free(s->tx_mem);
	free(s->pool_mem);
	free(s->pool_free);
	free(s->outc);
	free(s->acts);
	free(s->slo);
	free(s->slo_bucket_ns);
	for (int i = 0; s->pol_own && i < s->cfg->n_policies; i++)
		pol_policy_free(s->pol_own[i]);
	free(s->pol_own);
	ap_batch_free(&s->batch);
	ap_sched_free(&s->sched);
	ap_tail_destroy(s->tail);
	ap_rate_free(&s->rate_addr);
	ap_rate_free(&s->rate_device);
	free(s);
}

static int alloc_buffers(struct ap_sess *s)
{
	const struct ap_server_config *cfg = s->cfg;
	size_t nconn = (size_t)cfg->max_conns, pool_buf = CW_HEADER_BYTES + s->lim.max_body;
	s->conns = calloc(nconn, sizeof(*s->conns));
	s->tx_mem = malloc(nconn * (size_t)cfg->tx_bytes);
	s->pool_mem = malloc((size_t)cfg->reassembly_buffers * pool_buf + 1);
	s->pool_free = malloc((size_t)cfg->reassembly_buffers * sizeof(int) + 1);
	s->outc = malloc((size_t)cfg->max_batch * sizeof(*s->outc));
	if (!s->conns || ap_conns_init(&s->slots, cfg->max_conns) || !s->tx_mem || !s->pool_mem ||
	    !s->pool_free || !s->outc)
		return -ENOMEM;
	for (int i = 0; i < cfg->max_conns; i++)
		s->conns[i].tx = s->tx_mem + (size_t)i * (size_t)cfg->tx_bytes;
	for (int i = 0; i < cfg->reassembly_buffers; i++)
		s->pool_free[i] = i;
	s->n_pool = cfg->reassembly_buffers;
	return 0;
}

static int start_tail(struct ap_sess *s, char *err, size_t errlen)
{
	const struct ap_server_config *cfg = s->cfg;
	const struct cr_model *m = s->c.model;
	struct cc_limits clim = {.max_elems = 1u << 24, .max_frame_bytes = cfg->max_frame};
	struct ap_tail_config tc = {.model = m, .max_batch = cfg->max_batch,
				    .null_model = cfg->null_model, .limits = clim};
	int ret = ap_tail_create(&tc, &s->tail, err, errlen);
	if (ret)
		return ret;
	if (cfg->calibrate_runs && !cfg->null_model &&
	    (ret = ap_tail_calibrate(s->tail, cfg->calibrate_runs))) {
		snprintf(err, errlen, "calibration failed: %d", ret);
		return ret;
	}
	struct ap_sched_config sc = {
		.max_requests = cfg->max_requests,
		.max_batch = cfg->max_batch,
		.max_delay_ns = cfg->max_delay_us * 1000,
		.small_frame = (size_t)cfg->small_frame,
		.big_frame = cfg->max_frame,
		.big_frames = cfg->big_frames,
		.join = cfg->join,
		.run_late = cfg->run_late,
		.margin_ns = 200000,
		.n_exits = m->n_exits,
		.estimate = ap_tail_estimate,
		.estimate_ctx = s->tail,
	};
	for (int e = 0; e < m->n_exits; e++)
		sc.exit_len[e] = m->exit_len[e];
	if ((ret = ap_sched_init(&s->sched, &sc)) || (ret = ap_batch_init(&s->batch, &s->sched)))
		snprintf(err, errlen, "scheduler: %s", strerror(-ret));
	return ret;
}

int ap_sess_create(const struct ap_sess_config *c, struct ap_sess **out, char *err, size_t errlen)
{
	const struct ap_server_config *cfg = c->cfg;
	struct ap_sess *s;
	int ret = -ENOMEM;
	*out = NULL;
	if (sodium_init() < 0)
		return cf_fail(-EIO, err, errlen, "libsodium cannot start (no entropy source?)");
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->c = *c;
	crypto_shorthash_keygen(s->session_key);
	if (!s->c.clock)
		s->c.clock = cf_clock_monotonic;
	s->cfg = cfg;
	s->idle_timeout_ms = cfg->idle_timeout_ms;
	s->lim = cw_limits_make(cfg->max_frame, CW_DEFAULT_MAX_PADDING);
	ap_hist_edges(cfg, &s->edges);
	if (!(s->acts = calloc(ap_act_slots(c->model), sizeof(*s->acts)))) {
		snprintf(err, errlen, "out of memory for the decided actions' counters");
		goto fail;
	}
	if (cfg->n_slo > 0) {
		s->slo = calloc((size_t)cfg->n_slo, sizeof(*s->slo));
		s->slo_bucket_ns = calloc((size_t)cfg->n_slo, sizeof(*s->slo_bucket_ns));
		if (!s->slo || !s->slo_bucket_ns) {
			snprintf(err, errlen, "out of memory for the SLO counters");
			goto fail;
		}
		for (int i = 0; i < cfg->n_slo; i++)
			s->slo_bucket_ns[i] = ap_slo_bucket_ns(cfg->slo[i].window_s);
	}
	if (alloc_buffers(s)) {
		snprintf(err, errlen, "out of memory for %d connections", cfg->max_conns);
		goto fail;
	}
	if (ap_rate_init(&s->rate_addr, 4096, cfg->auth_rate_addr) ||
	    ap_rate_init(&s->rate_device, 4096, cfg->auth_rate_device))
		goto fail;
	if (cfg->n_policies) {
		if (!(s->pol_own = calloc((size_t)cfg->n_policies, sizeof(*s->pol_own))))
			goto fail;
		for (int i = 0; i < cfg->n_policies; i++)
			if ((ret = pol_policy_dup(cfg->policies[i], &s->pol_own[i], err, errlen)))
				goto fail;
	}
	s->pol = s->pol_own;
	s->n_pol = cfg->n_policies;
	if ((ret = start_tail(s, err, errlen)))
		goto fail;
	*out = s;
	return 0;
fail:
	ap_sess_destroy(s);
	return ret;
}
