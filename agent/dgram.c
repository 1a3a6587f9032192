/* An agent's connection over UDP (--transport udp): one connected datagram
 * socket to the appliance, speaking the datagram form of the protocol
 * (docs/protocol.md, "Datagrams (UDP)"). conn.c keeps the connection's states
 * and calls this file where TCP would write or read the stream:
 *
 * - HELLO goes in session 0 under a random message id and is sent again under
 *   the RTO (the same id: the appliance answers a copy with its WELCOME, or
 *   its CHALLENGE) until WELCOME, whose datagram names the session id of every
 *   later one. With a key, the CHALLENGE (a session-0 DATA) is answered by
 *   AUTH, which takes the handshake's out (TX_HELLO: the HELLO needs no more
 *   sending once its CHALLENGE came) and is sent again the same way until
 *   WELCOME or an ERROR; copies of the CHALLENGE are dropped.
 * - Each message leaves as fragments under the session's next message id. The
 *   INFER and DECIDE of a slot, the HELLO and the latest PING each keep a
 *   cw_dg_sender: the appliance's ACK bitmaps resend the fragments it lacks,
 *   the per-peer RTO (cw_dg_rto: srtt + 4 rttvar, 5 ms floor, 1.5x backoff,
 *   Karn's rule) resends the rest, and after --udp-tries rounds the request
 *   runs on the device (request.c's fallback; its reply timeout, which keeps
 *   the fallback's time back from the deadline, still applies). PONGs are
 *   sent once: the edge's PING asks again.
 * - An INFER or DECIDE ACKed whole waits for its reply; fragment 0 goes again
 *   on a timer of the RTO plus the edge's smoothed service time and 4 of its
 *   deviations (x 1.5 each time) until then: the appliance answers a copy
 *   from its cache, or ACKs it while the request runs.
 * - Its reply ends it as a full ACK would while it is still being sent: the
 *   appliance leaves out the ACK of a one-fragment request it answers within
 *   the turn (the answer is the ACK), and an ACK can be lost or come after the
 *   reply. Such a reply is an RTT sample net of the edge's own time.
 * - Replies are reassembled (usually one fragment) and decoded; fragments
 *   out of order or already held are ACKed as the receiver's rules say; a
 *   reply to a request the edge already answered is counted and dropped.
 *
 * The edge's liveness is the breaker's as over TCP, with two differences: any
 * datagram of the session shows the edge reads (a PING's silence is cleared by
 * its ACK), and the breaker's probe is a new HELLO, not a PING, since a
 * restarted appliance forgets sessions and drops their datagrams unanswered.
 *
 * Ownership: struct ag_dg and its reassembly memory are the agent's, allocated
 * once (ag_dg_create) and reset per connection (ag_dg_open, ag_dg_close). An
 * out's p points into a buffer it does not own (a slot's msg or decide_msg,
 * the agent's hello or ping) and reads it only while that buffer still holds
 * the same message: out_live checks, before every use, that the slot is still
 * S_SENT / S_DECIDE with the same request id, that the HELLO is still awaited,
 * that the connection is up for the PING. So the slots' tx_pending and
 * decide_busy and ping_busy are cleared as soon as the first round is out,
 * and a buffer rewritten for a new message ends the old out. tx[] holds one
 * datagram being sent (and what the fault injector hands back, until the
 * next send); rx[] one received; a reassembled reply lies in the reassembler
 * until released, after the reply was handled. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coinfer/bytes.h"
#include "coinfer/errmsg.h"
#include "internal.h"

#define HELLO_TRIES UINT16_MAX /* the handshake's time limit bounds the HELLO */
#define REASM_BYTES (16u << 10)
#define REASM_MSGS 64
#define REASM_TIMEOUT_NS (500 * AG_MS)
#define RX_ROUNDS 64

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

int ag_dg_create(struct ag_agent *a, char *err, size_t errlen)
{
	const struct ag_config *c = &a->th->f->cfg;
	struct ag_dg *g = calloc(1, sizeof(*g));
	int r = -ENOMEM;
	if (!g)
		return cf_fail(-ENOMEM, err, errlen, "out of memory for datagrams");
	a->dg = g;
	g->nout = 2 * a->nslots + 2;
	g->msg_lim = cw_limits_make(0, AG_SERVER_PAD_MAX);
	g->lim = cw_dg_limits_for(&g->msg_lim);
	/* ACKs name our messages' lengths, up to an INFER's; what we take in is
	 * checked against the smaller bound (rx_max_msg) */
	g->rx_max_msg = g->lim.max_msg;
	if (a->th->f->msg_cap > g->lim.max_msg)
		g->lim.max_msg = (uint32_t)a->th->f->msg_cap;
	g->ra_cfg = (struct cw_dg_reasm_config){.max_bytes = REASM_BYTES, .max_msgs = REASM_MSGS,
						.timeout_ns = REASM_TIMEOUT_NS,
						.seed = mix(c->seed ^ (uint64_t)a->idx)};
	g->ra_bytes = cw_dg_reasm_bytes(&g->ra_cfg);
	g->out = calloc((size_t)g->nout, sizeof(*g->out));
	g->ra_mem = malloc(g->ra_bytes);
	if (!g->out || !g->ra_mem)
		goto fail;
	struct cw_fault_config fc = c->faults;
	fc.seed = mix(c->faults.seed + (uint64_t)a->idx); /* each agent its own draws */
	if ((r = cw_faults_init(&g->faults, &fc, err, errlen)))
		return r;
	g->inject = !cw_faults_none(&fc);
	if ((r = cw_dg_rto_init(&g->rto, 0, 0, 0)) ||
	    (r = cw_dg_reasm_init(&g->ra, g->ra_mem, g->ra_bytes, &g->ra_cfg)))
		return cf_fail(r, err, errlen, "datagram reassembly: bad configuration");
	return 0;
fail:
	return cf_fail(r, err, errlen, "out of memory for datagrams");
}

void ag_dg_destroy(struct ag_agent *a)
{
	if (!a->dg)
		return;
	free(a->dg->out);
	free(a->dg->ra_mem);
	free(a->dg);
	a->dg = NULL;
}

/* A new connection: session 0, message ids from a random start (a device
 * that starts over must not repeat ids the appliance still remembers), the
 * RTO kept (it is the path's, not the session's). */
void ag_dg_open(struct ag_agent *a)
{
	struct ag_dg *g = a->dg;
	g->session = 0;
	g->tx_id = (uint32_t)mix(a->rng ^ ((uint64_t)g->gen << 32));
	g->err = 0;
}

/* The connection ends: every out, the replies in reassembly and a datagram
 * the injector holds are dropped. */
void ag_dg_close(struct ag_agent *a)
{
	struct ag_dg *g = a->dg;
	for (int i = 0; i < g->nout; i++)
		g->out[i].st = DGO_FREE;
	g->session = 0;
	g->gen++;
	g->faults.held_len = 0;
	cw_dg_reasm_init(&g->ra, g->ra_mem, g->ra_bytes, &g->ra_cfg);
}

/* ---- sending -------------------------------------------------------------------------------- */

static void send_raw(struct ag_agent *a, const uint8_t *b, size_t len)
{
	struct ag_dg *g = a->dg;
	ssize_t n;
	do
		n = send(a->fd, b, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		g->st.datagrams_out++;
		return;
	}
	/* a full socket buffer loses the datagram as the network would: the RTO
	 * covers it; a refusal (ICMP port unreachable) ends the connection */
	g->st.send_errors++;
	if (errno == ECONNREFUSED)
		g->err = errno;
}

/* One datagram, through the fault injector when --faults is set. */
static void send_dgram(struct ag_agent *a, const uint8_t *b, size_t len)
{
	struct ag_dg *g = a->dg;
	struct cw_fault_out out[3];
	if (!g->inject) {
		send_raw(a, b, len);
		return;
	}
	int n = cw_faults_apply(&g->faults, b, len, out);
	for (int i = 0; i < n; i++)
		send_raw(a, out[i].p, out[i].len);
}

static void send_frag(struct ag_agent *a, uint64_t session, uint32_t id, const uint8_t *p,
		      uint32_t len, uint16_t count, uint16_t k)
{
	struct ag_dg *g = a->dg;
	struct cw_dg d;
	size_t n;
	if (!cw_dg_data(&d, session, id, p, len, count, k) &&
	    !cw_dg_encode(g->tx, sizeof(g->tx), &d, &n, NULL, 0))
		send_dgram(a, g->tx, n);
}

static uint32_t next_msg_id(struct ag_dg *g)
{
	return ++g->tx_id ? g->tx_id : ++g->tx_id; /* 0 is not an id */
}

/* The fragments the sender says are due; those beyond the first round are
 * retransmissions. */
static void send_due(struct ag_agent *a, struct ag_dg_out *o)
{
	uint16_t k;
	while (!cw_dg_sender_next(&o->snd, &k)) {
		send_frag(a, o->session, o->msg_id, o->p, o->len, o->snd.count, k);
		a->dg->st.retransmissions += o->sent++ >= o->snd.count;
	}
}

static struct ag_dg_out *out_of(struct ag_agent *a, int slot, enum ag_tx_kind kind)
{
	struct ag_dg *g = a->dg;
	switch (kind) {
	case TX_INFER: return &g->out[slot];
	case TX_DECIDE: return &g->out[a->nslots + slot];
	case TX_HELLO: return &g->out[g->nout - 2];
	default: return &g->out[g->nout - 1];
	}
}

/* Whether the buffer o reads still holds o's message (the ownership above). */
static int out_live(const struct ag_agent *a, const struct ag_dg_out *o)
{
	const struct ag_slot *s = o->slot >= 0 ? &a->slots[o->slot] : NULL;
	switch (o->kind) {
	case TX_INFER: return s->st == S_SENT && s->rec.id == o->req_id;
	case TX_DECIDE: return s->st == S_DECIDE && s->rec.id == o->req_id;
	case TX_HELLO: return a->cs == C_HELLO;
	default: return a->cs == C_READY;
	}
}

/* Hands the buffer back to its owner's flags: the outs read it from now on. */
static void release_buffer(struct ag_agent *a, int slot, enum ag_tx_kind kind)
{
	if (kind == TX_DECIDE)
		a->slots[slot].decide_busy = 0;
	else if (slot >= 0)
		a->slots[slot].tx_pending = 0;
	else if (kind == TX_PING)
		a->ping_busy = 0;
	else if (kind == TX_PONG)
		a->pong_busy = 0;
}

/* A message to send (what ag_tx_push queues over TCP): its first round now. */
void ag_dg_push(struct ag_agent *a, const uint8_t *p, size_t len, int slot, enum ag_tx_kind kind,
		uint64_t now)
{
	struct ag_dg *g = a->dg;
	const struct ag_config *c = &a->th->f->cfg;
	uint16_t count;
	release_buffer(a, slot, kind);
	if (len > UINT32_MAX || cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &count)) {
		if (kind == TX_INFER) /* more than 1024 fragments: not for this transport */
			ag_go_local(a, &a->slots[slot], AG_FB_LIMIT, now);
		return;
	}
	uint32_t id = next_msg_id(g);
	if (kind == TX_PONG) { /* once: the edge's next PING asks again */
		for (uint16_t k = 0; k < count; k++)
			send_frag(a, g->session, id, p, (uint32_t)len, count, k);
		return;
	}
	struct ag_dg_out *o = out_of(a, slot, kind);
	*o = (struct ag_dg_out){.st = DGO_SENDING, .kind = kind, .slot = slot, .p = p,
				.len = (uint32_t)len, .msg_id = id, .session = g->session};
	if (kind == TX_INFER || kind == TX_DECIDE)
		o->req_id = a->slots[slot].rec.id;
	uint16_t tries = kind == TX_HELLO ? HELLO_TRIES : (uint16_t)c->udp_tries;
	if (cw_dg_sender_start(&o->snd, (uint32_t)len, count, tries, now, g->rto.rto)) {
		o->st = DGO_FREE;
		return;
	}
	send_due(a, o);
}

static void send_ack(struct ag_agent *a, const struct cw_dg *d, uint16_t received,
		     const uint8_t *bitmap)
{
	struct ag_dg *g = a->dg;
	struct cw_dg k = {.kind = CW_DG_ACK, .session = d->session, .msg_id = d->msg_id,
			  .index = received, .count = d->count, .msg_len = d->msg_len,
			  .payload = bitmap, .payload_len = cw_dg_bitmap_bytes(d->count)};
	size_t n;
	if (cw_dg_encode(g->tx, sizeof(g->tx), &k, &n, NULL, 0))
		return;
	g->st.acks_out++;
	send_dgram(a, g->tx, n);
}

/* ---- timers --------------------------------------------------------------------------------- */

/* Out of tries: an INFER runs on the device now (the reply timeout may be
 * further off, but nothing more will reach the edge); a DECIDE waits out its
 * own short timer; a PING its silence. */
static void out_failed(struct ag_agent *a, struct ag_dg_out *o, uint64_t now)
{
	o->st = DGO_FREE;
	if (o->kind != TX_INFER)
		return;
	a->dg->st.fallbacks_after_retries++;
	ag_edge_failed(a, now, 0);
	ag_go_local(a, &a->slots[o->slot], AG_FB_TIMEOUT, now);
}

/* One out's timer: the RTO of a message not ACKed whole, or the next copy of
 * fragment 0 while its reply is awaited. */
static void out_timer(struct ag_agent *a, struct ag_dg_out *o, uint64_t now)
{
	struct ag_dg *g = a->dg;
	if (o->st == DGO_SENDING && now >= o->snd.deadline_ns) {
		/* the peer's RTO backs off once per round, not once per message out
		 * (RFC 6298 has one timer per connection): a message whose round ran
		 * under an RTO another one already backed off takes it as it is */
		struct cw_dg_rto next = g->rto;
		if (o->snd.rto_ns >= g->rto.rto)
			cw_dg_rto_backoff(&next);
		if (cw_dg_sender_tick(&o->snd, now, next.rto) < 0) {
			out_failed(a, o, now);
			return;
		}
		g->rto = next;
		g->st.timeouts++;
		send_due(a, o);
	} else if (o->st == DGO_WAITING && now >= o->t_copy) {
		send_frag(a, o->session, o->msg_id, o->p, o->len, o->snd.count, 0);
		g->st.retransmissions++;
		o->copies++;
		o->copy_ns = o->copy_ns * 3 / 2 < g->rto.cap ? o->copy_ns * 3 / 2 : g->rto.cap;
		o->t_copy = now + o->copy_ns;
	}
}

void ag_dg_timers(struct ag_agent *a, uint64_t now)
{
	struct ag_dg *g = a->dg;
	struct cw_fault_out held;
	if (a->fd < 0)
		return;
	if (g->err) {
		char why[96];
		snprintf(why, sizeof(why), "send: %s", strerror(g->err));
		ag_conn_drop(a, why, now);
		return;
	}
	for (int i = 0; i < g->nout && a->fd >= 0; i++) {
		struct ag_dg_out *o = &g->out[i];
		if (o->st == DGO_FREE)
			continue;
		if (!out_live(a, o))
			o->st = DGO_FREE;
		else
			out_timer(a, o, now);
	}
	cw_dg_reasm_expire(g->ra, now);
	/* the loop idles after its timers: a datagram held back goes now */
	if (a->fd >= 0 && g->inject && cw_faults_flush(&g->faults, &held))
		send_raw(a, held.p, held.len);
}

uint64_t ag_dg_next(const struct ag_agent *a)
{
	const struct ag_dg *g = a->dg;
	uint64_t t = UINT64_MAX;
	if (a->fd < 0)
		return t;
	if (g->faults.held_len || g->err)
		return 0;
	for (int i = 0; i < g->nout; i++) {
		const struct ag_dg_out *o = &g->out[i];
		uint64_t at = o->st == DGO_SENDING ? o->snd.deadline_ns
			      : o->st == DGO_WAITING ? o->t_copy : UINT64_MAX;
		if (at < t)
			t = at;
	}
	return t;
}

/* ---- receiving ------------------------------------------------------------------------------ */

static void on_ack(struct ag_agent *a, const struct cw_dg *d, uint64_t now)
{
	struct ag_dg *g = a->dg;
	struct ag_dg_out *o = NULL;
	uint64_t rtt;
	g->st.acks_in++;
	for (int i = 0; i < g->nout && !o; i++)
		if (g->out[i].st != DGO_FREE && g->out[i].msg_id == d->msg_id &&
		    g->out[i].session == d->session)
			o = &g->out[i];
	if (!o || o->st != DGO_SENDING) /* stale, or a copy's ACK while the request runs */
		return;
	if (!out_live(a, o)) {
		o->st = DGO_FREE;
		return;
	}
	if (cw_dg_sender_ack(&o->snd, d, now, &rtt) < 0)
		return;
	if (rtt)
		cw_dg_rto_sample(&g->rto, rtt);
	if (!o->snd.done) {
		send_due(a, o);
		return;
	}
	if (o->kind == TX_PING) { /* a copy of a PING is not answered again */
		o->st = DGO_FREE;
		return;
	}
	o->st = DGO_WAITING;
	o->acked_ns = now;
	o->copies = 0;
	uint64_t wait = g->rto.rto + g->svc_ns + 4 * g->svc_var;
	o->copy_ns = wait < g->rto.cap ? wait : g->rto.cap;
	o->first_wait = o->copy_ns;
	o->t_copy = now + o->copy_ns;
}

/* A WELCOME again (the answer to a copy of our HELLO) is a duplicate; the
 * first names the session, and must travel in a datagram of that session. */
static int on_welcome_dgram(struct ag_agent *a, const struct cw_dg *d, const struct cw_msg *m,
			    uint64_t now)
{
	struct ag_dg *g = a->dg;
	if (a->cs == C_READY && m->welcome.session_id == g->session) {
		g->st.duplicate_replies++;
		return -1;
	}
	if (a->cs == C_HELLO && (!d->session || d->session != m->welcome.session_id)) {
		ag_conn_drop(a, "WELCOME in a datagram of another session", now);
		return -1;
	}
	/* the appliance answers a HELLO at once: sent once, its WELCOME is a
	 * round trip (Karn), whether or not the HELLO's ACK arrived */
	struct ag_dg_out *h = &g->out[g->nout - 2];
	if (h->st != DGO_FREE && !h->snd.resent && h->sent == h->snd.count)
		cw_dg_rto_sample(&g->rto, now - h->snd.first_ns);
	g->session = m->welcome.session_id;
	g->tx_id = 0; /* the session's ids count from 1 */
	return 0;
}

/* One sample x of the edge's service time, smoothed as RFC 6298 does. */
static void service_add(struct ag_dg *g, uint64_t x)
{
	if (!g->svc_ns) {
		g->svc_ns = x;
		g->svc_var = x / 2;
		return;
	}
	uint64_t dev = x > g->svc_ns ? x - g->svc_ns : g->svc_ns - x;
	g->svc_var = (3 * g->svc_var + dev) / 4;
	g->svc_ns = (7 * g->svc_ns + x) / 8;
}

/* The edge's own time in a reply, in ns: a RESULT names its queue, decode and
 * compute; a DECISION is made as the DECIDE arrives (0, as a WELCOME); an
 * ERROR names nothing (-1). */
static int64_t edge_ns(const struct cw_msg *m)
{
	if (m->type == CW_RESULT)
		return ((int64_t)m->result.queue_us + m->result.decode_us + m->result.compute_us) *
		       1000;
	return m->type == CW_DECISION ? 0 : -1;
}

/* A reply to a request still being sent (no full ACK came: it was left out,
 * lost, or is behind the reply) ends it as that ACK would: done, never sent
 * again. Sent once, request and reply are a round trip plus the edge's own
 * time (Karn: after a resend the reply may answer a copy): the rest is the RTT
 * sample, clamped at 0. With no ACK the wait for the reply began at the send,
 * so the edge's own time is what acked_ns to the reply would have measured:
 * the RESULT's is the service sample (its copy waits use it), taken whether or
 * not anything was resent, since it is the run's own. */
static void reply_ends_out(struct ag_agent *a, const struct cw_msg *m, uint64_t now)
{
	struct ag_dg *g = a->dg;
	int64_t edge = edge_ns(m);
	for (int i = 0; i < g->nout; i++) {
		struct ag_dg_out *o = &g->out[i];
		/* out_live first: only then does o->p hold the request, id included */
		if (o->st != DGO_SENDING || (o->kind != TX_INFER && o->kind != TX_DECIDE) ||
		    !out_live(a, o) || le_rd64(o->p + CW_HEADER_BYTES) != m->request_id)
			continue;
		o->st = DGO_FREE;
		if (edge < 0)
			return;
		uint64_t rtt = now - o->snd.first_ns;
		if (!o->snd.resent && o->sent == o->snd.count)
			cw_dg_rto_sample(&g->rto, rtt > (uint64_t)edge ? rtt - (uint64_t)edge : 0);
		if (m->type == CW_RESULT)
			service_add(g, (uint64_t)edge);
		return;
	}
}

/* A whole message from the edge. */
static void deliver(struct ag_agent *a, const struct cw_dg *d, const uint8_t *msg, uint32_t len,
		    uint64_t now)
{
	struct ag_dg *g = a->dg;
	struct cw_msg m;
	char err[160];
	if (cw_decode(msg, len, &g->msg_lim, &m, err, sizeof(err))) {
		char why[200];
		snprintf(why, sizeof(why), "malformed input: %s", err);
		ag_conn_drop(a, why, now);
		return;
	}
	if (m.type == CW_WELCOME && on_welcome_dgram(a, d, &m, now))
		return;
	/* the appliance answers a copy of our HELLO with the same CHALLENGE again
	 * (under a new message id): the one AUTH answers it, and a copy that comes
	 * late, even after WELCOME, is a duplicate, not a CHALLENGE out of turn */
	if (m.type == CW_CHALLENGE && a->auth_sent) {
		g->st.duplicate_replies++;
		return;
	}
	if (m.type == CW_RESULT || m.type == CW_DECISION || m.type == CW_ERROR)
		reply_ends_out(a, &m, now);
	ag_on_message(a, &m, now);
}

/* Before WELCOME only session 0 and the datagram of WELCOME itself (one
 * fragment naming a session we cannot know yet) are ours; after it, session 0
 * (a late ACK of the HELLO) and ours. */
static int ours(const struct ag_agent *a, const struct cw_dg *d)
{
	if (!d->session || d->session == a->dg->session)
		return 1;
	return a->cs == C_HELLO && d->kind == CW_DG_DATA && d->index == 0 && d->count == 1 &&
	       d->payload_len >= CW_HEADER_BYTES && d->payload[5] == CW_WELCOME;
}

static void on_datagram(struct ag_agent *a, const uint8_t *b, size_t n, uint64_t now)
{
	struct ag_dg *g = a->dg;
	struct cw_dg d;
	struct cw_dg_result res;
	if (cw_dg_decode(b, n, &g->lim, &d, NULL, 0)) {
		g->st.malformed++;
		return;
	}
	if (!ours(a, &d)) {
		g->st.stray++;
		return;
	}
	if (d.session)
		a->t_ping_wait = 0; /* the edge reads and answers */
	if (d.kind == CW_DG_ACK) {
		on_ack(a, &d, now);
		return;
	}
	if (d.msg_len > g->rx_max_msg) {
		g->st.malformed++;
		return;
	}
	int r = cw_dg_reasm_add(g->ra, d.session, &d, now, &res);
	if ((r == 0 || r == -EALREADY) && res.ack)
		send_ack(a, &d, res.received, res.bitmap);
	g->st.duplicate_datagrams += r == -EALREADY;
	if (r < 0 || !res.complete)
		return;
	unsigned gen = g->gen;
	deliver(a, &d, res.msg, res.len, now);
	if (res.ref && gen == g->gen) /* a dropped connection took the reassembler's state */
		cw_dg_reasm_release(g->ra, res.ref);
}

void ag_dg_readable(struct ag_agent *a, uint64_t now)
{
	struct ag_dg *g = a->dg;
	for (int rounds = 0; rounds < RX_ROUNDS && a->fd >= 0; rounds++) {
		ssize_t n = recv(a->fd, g->rx, sizeof(g->rx), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (ag_recv_retry(a, now))
				continue;
			return;
		}
		g->st.datagrams_in++;
		if ((size_t)n > sizeof(g->rx)) {
			g->st.malformed++;
			continue;
		}
		on_datagram(a, g->rx, (size_t)n, now);
	}
}

/* ---- replies already answered --------------------------------------------------------------- */

/* Unlike an RTT, the wait for a reply is sampled after copies of fragment 0
 * went too: under Karn's rule a first guess too short would get every request
 * asked about again, and no sample would ever correct it. A copy of a running
 * request is only ACKed, so the first reply is the first run's unless that
 * reply was lost; such a sample counts only up to the wait it outlasted, so
 * lost replies cannot feed a growing estimate. */
static void service_sample(struct ag_dg *g, uint64_t request_id, uint64_t now)
{
	for (int i = 0; i < g->nout; i++) {
		const struct ag_dg_out *o = &g->out[i];
		if (o->st != DGO_WAITING || o->req_id != request_id ||
		    (o->kind != TX_INFER && o->kind != TX_DECIDE))
			continue;
		/* resent before its ACK: the ACK may be a copy's, of a request that
		 * ran (or was answered) long before, so it marks no start */
		if (o->snd.resent || o->sent > o->snd.count)
			return;
		uint64_t x = now - o->acked_ns;
		if (o->copies && x > o->first_wait)
			x = o->first_wait;
		service_add(g, x);
		return;
	}
}

void ag_dg_answered(struct ag_agent *a, uint64_t request_id, uint64_t now)
{
	struct ag_dg *g = a->dg;
	service_sample(g, request_id, now);
	g->recent[g->recent_next] = request_id;
	g->recent_next = (g->recent_next + 1) % AG_DG_RECENT;
}

/* 1 when the edge answered this request lately: a reply again is a duplicate
 * (the appliance answers copies of a request from its cache). */
int ag_dg_was_answered(const struct ag_agent *a, uint64_t request_id)
{
	for (int i = 0; i < AG_DG_RECENT; i++)
		if (request_id && a->dg->recent[i] == request_id)
			return 1;
	return 0;
}

/* Karn's rule for the PING's RTT and bandwidth samples. */
int ag_dg_ping_resent(const struct ag_agent *a)
{
	const struct ag_dg_out *o = &a->dg->out[a->dg->nout - 1];
	return o->snd.resent || o->sent > o->snd.count;
}
