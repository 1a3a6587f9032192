/* An agent's connection to the appliance: connect, HELLO and WELCOME (down ->
 * connecting -> HELLO sent -> ready), the tx queue, reading the edge's messages
 * out of the stream, PING and PONG (RTT and bandwidth samples), reconnecting
 * under a jittered backoff, and the circuit breaker's hooks: the replies and
 * silences that move it, and its probes. Over UDP (a->dg) the states are the
 * same; dgram.c sends and reads the datagrams (no tx queue, no stream).
 *
 * Ownership of the buffers the connection sends from and reads into (all
 * allocated at creation, none per message):
 * - the agent's ping (keepalives and the breaker's probes alike), pong and hello
 *   belong to the tx queue while ping_busy / pong_busy / cs == C_HELLO with the
 *   HELLO queued; a PING or PONG due while its buffer is queued is not written
 *   (the queued one stands for it).
 * - tx entries point into those buffers and into the slots' msg and decide_msg
 *   (request.c) and never own them; ag_conn_close empties the queue and hands
 *   every buffer back by clearing the flags above and the slots' tx_pending and
 *   decide_busy.
 * - rdbuf is the reader's for the agent's life; ag_conn_close resets the reader,
 *   so no part of one connection's stream is taken for the next one's. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* ---- the circuit breaker's hooks ----------------------------------------------------------- */

/* The edge answered in time: a reply to an outstanding request or DECIDE
 * (probe 0), or a PONG or WELCOME (probe 1): alive, whatever the breaker
 * thought. */
void ag_edge_answered(struct ag_agent *a, uint64_t now, int probe)
{
	int was_up = ag_breaker_allows(&a->brk);
	a->t_ping_wait = 0;
	if (probe)
		ag_breaker_probe_answered(&a->brk, now);
	else
		ag_breaker_success(&a->brk, now);
	if (!was_up)
		ag_logf(a->th->f, "agent %d: edge up again after %llu probes: requests go to it",
			a->idx, (unsigned long long)a->brk.probes);
}

/* A reply timeout (trip 0), or silence after a PING (trip 1). */
void ag_edge_failed(struct ag_agent *a, uint64_t now, int trip)
{
	int was_up = ag_breaker_allows(&a->brk);
	if (trip)
		ag_breaker_trip(&a->brk, now);
	else
		ag_breaker_failure(&a->brk, now);
	if (was_up && !ag_breaker_allows(&a->brk))
		ag_logf(a->th->f, "agent %d: edge down (%s): new requests stay on the device, probing",
			a->idx, trip ? "a PING unanswered" : "consecutive reply timeouts");
}

/* ---- the connection ------------------------------------------------------------------------ */

/* Queues len bytes at p, not copied (see the ownership above). There is room:
 * INFERs and DECIDEs leave two places free, one for a PONG and one for a PING,
 * each queued at most once. */
void ag_tx_push(struct ag_agent *a, const uint8_t *p, size_t len, int slot, enum ag_tx_kind kind)
{
	if (a->dg) {
		ag_dg_push(a, p, len, slot, kind, fnow(a->th->f));
		return;
	}
	struct ag_tx *t = &a->tx[(a->tx_head + a->tx_n) % AG_TX_MAX];
	*t = (struct ag_tx){.p = p, .len = len, .off = 0, .slot = slot, .kind = kind};
	a->tx_n++;
}

/* Closes the socket and empties the tx queue, handing its buffers back; cs is
 * the caller's to set. */
void ag_conn_close(struct ag_agent *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	cw_reader_reset(&a->rd);
	if (a->dg)
		ag_dg_close(a);
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
void ag_conn_drop(struct ag_agent *a, const char *why, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	int was_ready = a->cs == C_READY;
	ag_conn_close(a);
	a->drops++;
	/* a failing connect is logged once until a connection succeeds */
	if (why && (was_ready || !a->fail_logged++))
		ag_logf(f, "agent %d: connection %s: %s%s", a->idx, was_ready ? "lost" : "failed",
			why, was_ready ? "" : " (retrying with backoff)");
	a->cs = C_DOWN;
	a->have_next = 0;
	for (int i = 0; i < a->nslots; i++) {
		struct ag_slot *s = &a->slots[i];
		if (s->st == S_SENT || s->st == S_UPLINK) /* a reply in the downlink arrived */
			ag_go_local(a, s, AG_FB_DISCONNECTED, now);
		else if (s->st == S_DECIDE) {
			s->rec.decide = AG_DECIDE_DROPPED;
			s->t_event = now;
		}
	}
	a->sent_outstanding = 0; /* but for replies in the emulated downlink */
	for (int i = 0; i < a->nslots; i++)
		a->sent_outstanding += a->slots[i].st == S_DOWNLINK;
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
	ag_hello_nonce(a, &h);
	size_t len;
	char err[160];
	if (cw_encode_hello(a->hello, sizeof(a->hello), &h, &len, err, sizeof(err))) {
		ag_conn_drop(a, err, now);
		return;
	}
	a->cs = C_HELLO;
	ag_tx_push(a, a->hello, len, -1, TX_HELLO);
	ag_tx_flush(a, now);
}

static void conn_start(struct ag_agent *a, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	a->reconnects += a->drops > 0 || a->connects > 0;
	if (a->brk.st == AG_BRK_DOWN) /* this attempt is the probe: WELCOME answers it */
		ag_breaker_probe_sent(&a->brk, now, now + ms_to_ns(f->cfg.connect_timeout_ms));
	int type = a->dg ? SOCK_DGRAM : SOCK_STREAM;
	int fd = ag_socket(a, type);
	if (fd < 0) {
		ag_conn_drop(a, strerror(-fd), now);
		return;
	}
	int one = 1;
	if (!a->dg)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	else
		ag_dg_open(a);
	a->fd = fd;
	a->t_handshake = now + ms_to_ns(f->cfg.connect_timeout_ms);
	if (connect(fd, (const struct sockaddr *)&a->addr, a->addrlen) == 0) {
		conn_connected(a, now);
	} else if (errno == EINPROGRESS) {
		a->cs = C_CONNECTING;
	} else {
		char why[96];
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		a->cs = C_CONNECTING;
		ag_conn_drop(a, why, now);
	}
}

/* Writes what the socket takes; 0, or -1 when the connection was dropped. */
int ag_tx_flush(struct ag_agent *a, uint64_t now)
{
	while (a->tx_n) { /* never over UDP: ag_tx_push sent the datagrams */
		struct ag_tx *t = &a->tx[a->tx_head];
		ssize_t n = send(a->fd, t->p + t->off, t->len - t->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			char why[96];
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			ag_conn_drop(a, why, now);
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
	ag_tx_push(a, a->ping, len, -1, TX_PING);
	ag_tx_flush(a, now);
}

/* ---- the edge's messages ------------------------------------------------------------------- */

/* Any PONG, even to an older PING, shows the edge reads and answers; the one to
 * the latest PING is also an RTT or bandwidth sample. */
static void on_pong(struct ag_agent *a, const struct cw_pong *p, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	int was_up = ag_breaker_allows(&a->brk);
	ag_edge_answered(a, now, 1);
	if (!a->ping_outstanding || p->nonce != a->ping_nonce || p->timestamp > now)
		return;
	double rtt = (double)(now - p->timestamp) / 1000.0 - p->hold_us;
	a->ping_outstanding = 0;
	/* a probe's PONG, or one long awaited, measures the outage, not the link;
	 * a PING sent twice, the retransmission (Karn) */
	if (!was_up || rtt > (double)f->cfg.breaker.timeout_us || (a->dg && ag_dg_ping_resent(a)))
		return;
	/* shaped in process: the PING and PONG were not delayed (control messages), so
	 * add the time the emulated links would have taken to carry them */
	if (f->cfg.link_bps)
		rtt += ag_link_ser_us(a, 0, CW_HEADER_BYTES + CW_PING_FIXED_BYTES + p->padding_len,
				      now) + ag_link_ser_us(a, 1, AG_PONG_BYTES, now);
	if (p->padding_len == 0)
		ag_bw_rtt(&a->bw, rtt);
	else
		ag_bw_probe(&a->bw, p->padding_len, rtt);
}

/* WELCOME: the session is set up; 0, or -1 when the connection was dropped. */
static int on_welcome(struct ag_agent *a, const struct cw_welcome *w, uint64_t now)
{
	if (a->cs != C_HELLO) {
		ag_conn_drop(a, "WELCOME out of turn", now);
		return -1;
	}
	if (w->model_checksum != a->th->f->m->checksum) {
		ag_conn_drop(a, "WELCOME names another model", now);
		return -1;
	}
	a->welcome = *w;
	a->cs = C_READY;
	a->edge_no_policy = 0;
	a->connects++;
	a->fail_logged = 0;
	ag_backoff_reset(&a->bo);
	ag_edge_answered(a, now, 1);
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
		ag_conn_drop(a, why[0] ? why : NULL, now);
		return -1;
	}
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
		ag_tx_push(a, a->pong, len, -1, TX_PONG);
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

/* CHALLENGE: AUTH proves the key (once per HELLO); 0, or -1 when dropped. */
static int on_challenge(struct ag_agent *a, const struct cw_challenge *c, uint64_t now)
{
	size_t len;
	if (a->cs != C_HELLO || ag_auth_for(a, c, a->auth, sizeof(a->auth), &len)) {
		ag_conn_drop(a, a->has_key ? "CHALLENGE out of turn"
					   : "the edge asks for a device key: --key-file", now);
		return -1;
	}
	ag_tx_push(a, a->auth, len, -1, TX_HELLO);
	ag_tx_flush(a, now);
	return 0;
}

/* One message from the edge; 0, or -1 when the connection was dropped. */
int ag_on_message(struct ag_agent *a, const struct cw_msg *msg, uint64_t now)
{
	if (msg->type == CW_WELCOME)
		return on_welcome(a, &msg->welcome, now);
	if (msg->type == CW_CHALLENGE)
		return on_challenge(a, &msg->challenge, now);
	if (msg->type == CW_ERROR && msg->request_id == 0)
		return on_session_error(a, &msg->error, now);
	const char *early = before_welcome(msg->type);
	if (!early) {
		char why[96];
		snprintf(why, sizeof(why), "unexpected %s from the edge", cw_type_name(msg->type));
		ag_conn_drop(a, why, now);
		return -1;
	}
	if (a->cs != C_READY) {
		ag_conn_drop(a, early, now);
		return -1;
	}
	switch (msg->type) {
	case CW_DECISION:
		return ag_on_decide_reply(a, msg, now);
	case CW_PONG:
		on_pong(a, &msg->pong, now);
		return 0;
	case CW_PING:
		on_ping(a, &msg->ping);
		return 0;
	default: /* RESULT or ERROR */
		return ag_on_reply(a, msg, now);
	}
}

/* recv said -1: 1 to call it again (EINTR); else 0, the connection dropped
 * unless the socket was merely drained. */
int ag_recv_retry(struct ag_agent *a, uint64_t now)
{
	if (errno == EINTR)
		return 1;
	if (errno != EAGAIN && errno != EWOULDBLOCK) {
		char why[96];
		snprintf(why, sizeof(why), "recv: %s", strerror(errno));
		ag_conn_drop(a, why, now);
	}
	return 0;
}

static void on_readable(struct ag_agent *a, uint64_t now)
{
	for (int rounds = 0; rounds < 16 && a->fd >= 0; rounds++) {
		size_t avail;
		uint8_t *p = cw_reader_space(&a->rd, &avail);
		if (!p) {
			ag_conn_drop(a, "stream unusable", now);
			return;
		}
		ssize_t n = avail ? recv(a->fd, p, avail, MSG_DONTWAIT) : 0;
		if (avail && n == 0) {
			ag_conn_drop(a, cw_reader_buffered(&a->rd) ? "closed by the edge mid-message"
								   : "closed by the edge",
				     now);
			return;
		}
		if (n < 0) {
			if (ag_recv_retry(a, now))
				continue;
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
				ag_conn_drop(a, why, now);
				return;
			}
			if (ag_on_message(a, &msg, now))
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
			ag_conn_drop(a, why, now);
			return;
		}
		conn_connected(a, now);
		return;
	}
	ag_tx_flush(a, now);
}

/* ---- timers and poll events ---------------------------------------------------------------- */

/* The breaker's timers: an unanswered probe, a PING met by silence, the next
 * probe. Without a connection the reconnect is the probe (ag_conn_drop schedules
 * it at the probe's time, conn_start marks it sent). */
static void breaker_timers(struct ag_agent *a, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	ag_breaker_tick(&a->brk, now);
	if (a->cs != C_READY || !ag_more_requests(a))
		return;
	if (ag_breaker_allows(&a->brk) && a->t_ping_wait &&
	    now - a->t_ping_wait >= f->cfg.breaker.timeout_us * 1000) {
		a->t_ping_wait = 0;
		ag_edge_failed(a, now, 1);
	}
	if (ag_breaker_probe_due(&a->brk, now)) {
		ag_breaker_probe_sent(&a->brk, now, 0);
		if (!a->ping_busy && a->tx_n < AG_TX_MAX)
			send_ping(a, now, 0);
	}
}

/* The connection's timers: the next attempt, the handshake's time limit and the
 * breaker's. wanted: requests are still to start, and they need the edge. */
void ag_conn_timers(struct ag_agent *a, uint64_t now, int wanted)
{
	if (a->cs == C_DOWN && wanted && now >= a->t_reconnect)
		conn_start(a, now);
	if ((a->cs == C_CONNECTING || a->cs == C_HELLO) && now >= a->t_handshake)
		ag_conn_drop(a, a->cs == C_CONNECTING ? "connect timed out" : "no WELCOME in time",
			     now);
	if (a->dg) {
		ag_dg_timers(a, now);
		/* over UDP the probe is a new HELLO: an appliance that restarted
		 * forgot the session, and drops its PINGs unanswered */
		if (a->cs == C_READY && ag_breaker_probe_due(&a->brk, now))
			ag_conn_drop(a, NULL, now);
	}
	breaker_timers(a, now);
}

/* The keepalive PING, every --ping-ms while the edge is up and nothing waits
 * to be sent. */
void ag_conn_keepalive(struct ag_agent *a, uint64_t now)
{
	const struct ag_fleet *f = a->th->f;
	if (a->cs == C_READY && ag_breaker_allows(&a->brk) && f->cfg.ping_ms > 0 && !a->tx_n &&
	    now >= a->t_next_ping) {
		send_ping(a, now, 1);
		a->t_next_ping = now + ms_to_ns(f->cfg.ping_ms);
	}
}

/* The poll events the agent's socket waits for: writable to finish a connect,
 * readable once connected, and writable too while the tx queue holds data. */
short ag_poll_events(const struct ag_agent *a)
{
	if (a->dg)
		return POLLIN; /* datagrams go out at once, or are lost */
	if (a->cs == C_CONNECTING)
		return POLLOUT;
	return a->tx_n ? POLLIN | POLLOUT : POLLIN;
}

/* What poll saw on the agent's socket. */
void ag_on_events(struct ag_agent *a, short re, uint64_t now)
{
	if (a->dg) {
		if (re & (POLLIN | POLLERR | POLLHUP))
			ag_dg_readable(a, now);
		return;
	}
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
