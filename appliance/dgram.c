/* Datagrams to and from the session layer (the interface and ownership rules are
 * in dgram.h; the protocol in docs/protocol.md, "Datagrams (UDP)").
 *
 * Receive: decode; find the peer (its session id, or for a HELLO, AUTH or PING
 * before WELCOME its address; an AUTH never opens one); copies of the
 * handshake answered from what the peer keeps (its CHALLENGE, its WELCOME);
 * reassemble; a whole INFER passes the answers
 * cache (run once, copies answered again) before the session sees it. Send:
 * the session's replies are split back into messages, WELCOME names the
 * peer's session, answers go into the cache, and each message leaves as
 * fragments numbered by the peer's own message counter.
 *
 * The ACK of a request that came whole in one fragment and was admitted new
 * waits for the end of the turn (ap_dg_flush, after the replies): if its answer
 * left in the turn, that answer is the ACK and none goes (eRPC's rule: "the
 * response serves as the ACK"), else the ACK goes then, within the same turn,
 * so no ACK leaves later than before in wall time. The agent ends a request
 * still being sent on its answer (agent/dgram.c). At most acks_later of them
 * per turn; beyond, ACKs go at once as for everything else.
 *
 * The peers' indexes are open-addressed tables of slot numbers keyed by session
 * id and by address hash, with backward-shift deletion, so nothing allocates
 * after create and a lookup is a few probes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "coinfer/bytes.h"
#include "coinfer/errmsg.h"
#include "coinfer/wire.h"
#include "dgram.h"
#include "rcache.h"

#define WELCOME_MAX 128 /* a WELCOME, kept to answer a HELLO sent again */
#define CHALLENGE_LEN (CW_HEADER_BYTES + CW_SERVER_NONCE_BYTES)
#define ANSWER_MAX (CW_HEADER_BYTES + CW_SMALL_BODY_MAX)
#define DG_MAX (CW_DG_HEADER_BYTES + CW_DG_DEFAULT_PAYLOAD)
/* A request running this long was dropped unanswered: its cache entry may go. */
#define ANSWER_STALE_NS 60000000000ull
#define ACKS_LATER 256 /* per turn: a burst of requests is at most a few dozen */

struct peer {
	struct ap_dg_addr addr;
	uint64_t session;  /* 0 until WELCOME left */
	uint64_t addr_key; /* its key in the address index */
	uint64_t last_ns;
	uint32_t tx_id;    /* the last message id sent to it */
	/* session-0 message ids of the HELLO that opened it and of its AUTH (0:
	 * none yet): a datagram under one of them is a copy, answered again */
	uint32_t hello_id, auth_id;
	int open;
	uint8_t welcome_len, challenge_len;
	uint8_t welcome[WELCOME_MAX];
	uint8_t challenge[CHALLENGE_LEN]; /* kept to answer a HELLO sent again */
};

/* An ACK left for the end of the turn: request id of peer (while it holds
 * session) came whole as message msg_id of msg_len bytes. */
struct later {
	uint64_t session, id;
	uint32_t msg_id, msg_len;
	int peer;
};

/* key -> slot, linear probing; key 0 is the empty mark */
struct index {
	uint64_t *key;
	int *val;
	uint32_t mask;
};

struct ap_dg {
	struct ap_dg_config c;
	struct ap_sess *s;
	struct peer *p;
	int n;
	struct index by_session, by_addr;
	struct cw_dg_limits lim;
	struct cw_dg_reasm *ra;
	void *ra_mem;
	struct ap_rc *rc;
	struct later *later; /* c.acks_later of them, n_later used in this turn */
	int n_later;
	struct cw_faults faults;
	cf_clock_fn clock; /* the session's own */
	void *clock_ctx;
	uint64_t input_ns; /* while in ap_dg_input: its now, else 0 */
	int inject, held_peer; /* the peer of the datagram the injector holds */
	uint64_t seed;
	struct ap_dg_stats st;
	uint8_t out[DG_MAX]; /* one datagram built whole (ACKs, injected faults) */
};

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t addr_key(const struct ap_dg *g, const struct ap_dg_addr *a)
{
	uint64_t h = mix(g->seed ^ a->len);
	for (int i = 0; i < a->len; i += 8) {
		uint64_t w = 0;
		memcpy(&w, a->b + i, a->len - i < 8 ? (size_t)(a->len - i) : 8);
		h = mix(h ^ w);
	}
	return h ? h : 1;
}

static int index_init(struct index *x, int n)
{
	uint32_t size = 2;
	while (size < 2u * (uint32_t)n)
		size <<= 1;
	x->key = calloc(size, sizeof(*x->key));
	x->val = calloc(size, sizeof(*x->val));
	x->mask = size - 1;
	return x->key && x->val ? 0 : -ENOMEM;
}

static int index_get(const struct index *x, uint64_t key)
{
	for (uint32_t i = (uint32_t)mix(key) & x->mask; x->key[i]; i = (i + 1) & x->mask)
		if (x->key[i] == key)
			return x->val[i];
	return -1;
}

/* At most one entry per slot is live in each index, so the table (twice the
 * slots) never fills. */
static void index_put(struct index *x, uint64_t key, int val)
{
	uint32_t i = (uint32_t)mix(key) & x->mask;
	while (x->key[i] && x->key[i] != key)
		i = (i + 1) & x->mask;
	x->key[i] = key;
	x->val[i] = val;
}

/* Backward-shift deletion (Knuth 6.4, algorithm R): no tombstones to age. */
static void index_del(struct index *x, uint64_t key)
{
	uint32_t i = (uint32_t)mix(key) & x->mask, j;
	while (x->key[i] && x->key[i] != key)
		i = (i + 1) & x->mask;
	if (!x->key[i])
		return;
	for (j = (i + 1) & x->mask; x->key[j]; j = (j + 1) & x->mask) {
		uint32_t home = (uint32_t)mix(x->key[j]) & x->mask;
		if (((j - home) & x->mask) >= ((j - i) & x->mask)) {
			x->key[i] = x->key[j];
			x->val[i] = x->val[j];
			i = j;
		}
	}
	x->key[i] = 0;
}

void ap_dg_defaults(struct ap_dg_config *c, const struct ap_server_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->sess.cfg = cfg;
	c->max_payload = CW_DG_DEFAULT_PAYLOAD;
	/* room for a few largest frames being reassembled at once */
	c->reasm_bytes = 4 * ((size_t)cfg->max_frame + CW_INFER_PREFIX_BYTES);
	c->reasm_msgs = (uint32_t)(cfg->max_conns < 1024 ? 1024 : cfg->max_conns);
	c->reasm_timeout_ns = 500000000ull;
	c->idle_ns = 30000000000ull;
	c->answers = 2 * cfg->max_requests;
	c->acks_later = ACKS_LATER;
}

/* The session closes peer i (framing broken, or ap_dg_tick's idle close). */
static void peer_close(void *ctx, int i)
{
	struct ap_dg *g = ctx;
	struct peer *p = &g->p[i];
	if (!p->open)
		return;
	if (p->session && index_get(&g->by_session, p->session) == i)
		index_del(&g->by_session, p->session);
	if (index_get(&g->by_addr, p->addr_key) == i)
		index_del(&g->by_addr, p->addr_key);
	memset(p, 0, sizeof(*p));
}

static int reasm_create(struct ap_dg *g)
{
	struct cw_dg_reasm_config rc = {.max_bytes = g->c.reasm_bytes,
					.max_msgs = g->c.reasm_msgs,
					.timeout_ns = g->c.reasm_timeout_ns,
					.seed = g->seed};
	size_t bytes = cw_dg_reasm_bytes(&rc);
	if (!bytes)
		return -EINVAL;
	if (!(g->ra_mem = malloc(bytes)))
		return -ENOMEM;
	return cw_dg_reasm_init(&g->ra, g->ra_mem, bytes, &rc);
}

/* The session's clock: inside ap_dg_input, the time the datagram came with
 * (a burst's arrival, read once per burst by the transport), so a request's
 * arrival costs no clock read; elsewhere (running batches) the clock itself. */
static uint64_t dg_clock(void *ctx)
{
	struct ap_dg *g = ctx;
	return g->input_ns ? g->input_ns : g->clock(g->clock_ctx);
}

int ap_dg_create(const struct ap_dg_config *c, struct ap_dg **out, char *err, size_t errlen)
{
	struct ap_dg *g = calloc(1, sizeof(*g));
	struct cw_limits lim;
	int r;
	if (!g)
		return cf_fail(-ENOMEM, err, errlen, "out of memory for the datagram layer");
	g->c = *c;
	g->n = c->sess.cfg->max_conns;
	if (getrandom(&g->seed, sizeof(g->seed), 0) != sizeof(g->seed))
		g->seed = (uint64_t)(uintptr_t)g ^ 0x5DEECE66Dull; /* keys only: not a secret */
	g->c.sess.transport = (struct ap_sess_transport){g, peer_close};
	g->clock = c->sess.clock ? c->sess.clock : cf_clock_monotonic;
	g->clock_ctx = c->sess.clock_ctx;
	g->c.sess.clock = dg_clock;
	g->c.sess.clock_ctx = g;
	lim = cw_limits_make(c->sess.cfg->max_frame, CW_DEFAULT_MAX_PADDING); /* the session's */
	g->lim = cw_dg_limits_for(&lim);
	if (g->c.acks_later < 0)
		g->c.acks_later = 0;
	if (!(g->p = calloc((size_t)g->n, sizeof(*g->p))) || index_init(&g->by_session, g->n) ||
	    index_init(&g->by_addr, g->n) ||
	    !(g->later = calloc((size_t)g->c.acks_later + 1, sizeof(*g->later)))) {
		r = cf_fail(-ENOMEM, err, errlen, "out of memory for %d datagram peers", g->n);
		goto fail;
	}
	if ((r = reasm_create(g)) ||
	    (r = ap_rc_create(c->answers, ANSWER_MAX, ANSWER_STALE_NS, &g->rc))) {
		cf_fail(r, err, errlen, "datagram reassembly (%zu bytes, %u messages) or answers "
			"(%d): %s", c->reasm_bytes, c->reasm_msgs, c->answers, strerror(-r));
		goto fail;
	}
	if ((r = cw_faults_init(&g->faults, &c->faults, err, errlen)))
		goto fail;
	g->inject = !cw_faults_none(&c->faults);
	if ((r = ap_sess_create(&g->c.sess, &g->s, err, errlen)))
		goto fail;
	*out = g;
	return 0;
fail:
	ap_dg_destroy(g);
	return r;
}

void ap_dg_destroy(struct ap_dg *g)
{
	if (!g)
		return;
	ap_sess_destroy(g->s);
	ap_rc_destroy(g->rc);
	free(g->ra_mem);
	free(g->by_session.key);
	free(g->by_session.val);
	free(g->by_addr.key);
	free(g->by_addr.val);
	free(g->later);
	free(g->p);
	free(g);
}

struct ap_sess *ap_dg_sess(struct ap_dg *g)
{
	return g->s;
}

/* ---- sending ------------------------------------------------------------- */

static void send_raw(struct ap_dg *g, const struct ap_dg_addr *to, const uint8_t *head,
		     size_t hlen, const uint8_t *body, size_t blen)
{
	int r = g->c.ops.send(g->c.ops.ctx, to, head, hlen, body, blen);
	g->st.sent += !r;
	g->st.send_errors += !!r;
}

/* One datagram to peer i, through the fault injector when one is set: it needs
 * the datagram whole, and a datagram it held back goes to its own peer. */
static void send_dgram(struct ap_dg *g, int i, const uint8_t *head, size_t hlen,
		       const uint8_t *body, size_t blen)
{
	struct cw_fault_out out[3];
	if (!g->inject || hlen + blen > sizeof(g->out)) {
		send_raw(g, &g->p[i].addr, head, hlen, body, blen);
		return;
	}
	if (head != g->out)
		memcpy(g->out, head, hlen);
	if (blen) /* an ACK has no body: memcpy from NULL is undefined even for 0 bytes */
		memcpy(g->out + hlen, body, blen);
	int held_by = g->faults.held_len ? g->held_peer : -1;
	int k = cw_faults_apply(&g->faults, g->out, hlen + blen, out);
	if (g->faults.held_len && held_by < 0)
		g->held_peer = i;
	for (int j = 0; j < k; j++) {
		int to = out[j].p == g->faults.held && held_by >= 0 ? held_by : i;
		if (g->p[to].open)
			send_raw(g, &g->p[to].addr, out[j].p, out[j].len, NULL, 0);
	}
}

/* A message to peer i as fragments under a new message id. */
static void send_message(struct ap_dg *g, int i, const uint8_t *msg, size_t len)
{
	struct peer *p = &g->p[i];
	uint8_t head[CW_DG_HEADER_BYTES];
	uint16_t count;
	struct cw_dg d;
	if (cw_dg_frags((uint32_t)len, g->c.max_payload, &count))
		return;
	uint32_t id = ++p->tx_id ? p->tx_id : ++p->tx_id; /* 0 is not an id */
	for (uint16_t k = 0; k < count; k++) {
		if (cw_dg_data(&d, p->session, id, msg, (uint32_t)len, count, k) ||
		    cw_dg_encode_header(head, sizeof(head), &d, NULL, 0))
			return;
		send_dgram(g, i, head, sizeof(head), d.payload, d.payload_len);
	}
}

/* ACK of DATA d: received fragments, bitmap (NULL: all of them). */
static void send_ack(struct ap_dg *g, int i, const struct cw_dg *d, uint16_t received,
		     const uint8_t *bitmap)
{
	struct cw_dg a = {.kind = CW_DG_ACK, .session = d->session, .msg_id = d->msg_id,
			  .index = received, .count = d->count, .msg_len = d->msg_len,
			  .payload = bitmap, .payload_len = cw_dg_bitmap_bytes(d->count)};
	size_t len;
	if (cw_dg_encode(g->out, sizeof(g->out), &a, &len, NULL, 0))
		return;
	g->st.acks_out++;
	send_dgram(g, i, g->out, len, NULL, 0);
}

/* ERROR busy for request id: the answers cache had no room to admit it. */
static void send_busy(struct ap_dg *g, int i, uint64_t id)
{
	struct cw_error e = {.request_id = id, .code = CW_ERR_BUSY,
			     .msg = "too many requests in flight"};
	uint8_t b[ANSWER_MAX];
	size_t len;
	if (!cw_encode_error(b, sizeof(b), &e, &len, NULL, 0))
		send_message(g, i, b, len);
}

/* ---- receiving ----------------------------------------------------------- */

static int cw_type_of(const uint8_t *msg, size_t len)
{
	return len >= CW_HEADER_BYTES ? msg[5] : 0;
}

/* The source host, for the session's HELLO rate limit per address: an IPv4
 * socket address gives its address + 1 (the port is the sender's to choose),
 * as over TCP; another form (DPDK's MAC, IP and port) a hash of all of it. */
static uint64_t host_of(const struct ap_dg *g, const struct ap_dg_addr *a)
{
	return a->host ? a->host : addr_key(g, a);
}

/* A peer for a one-fragment HELLO, AUTH or PING before WELCOME: the one this
 * address opened, or a new one (never for an AUTH: only its HELLO's peer may
 * take it). -1 to drop the datagram. */
static int peer_by_addr(struct ap_dg *g, const struct ap_dg_addr *from, const struct cw_dg *d)
{
	int type = cw_type_of(d->payload, d->payload_len);
	if (d->count != 1 || (type != CW_HELLO && type != CW_PING && type != CW_AUTH))
		return -1;
	uint64_t k = addr_key(g, from);
	int i = index_get(&g->by_addr, k);
	if (i >= 0)
		return g->p[i].addr.len == from->len && !memcmp(g->p[i].addr.b, from->b, from->len)
			       ? i
			       : -1; /* another address with the same key: never guessed */
	if (type == CW_AUTH || (i = ap_sess_open(g->s)) < 0)
		return -1;
	struct peer *p = &g->p[i];
	memset(p, 0, sizeof(*p));
	p->open = 1;
	p->addr = *from;
	p->addr_key = k;
	index_put(&g->by_addr, k, i);
	ap_sess_set_addr(g->s, i, host_of(g, from));
	return i;
}

static int find_peer(struct ap_dg *g, const struct ap_dg_addr *from, const struct cw_dg *d)
{
	int i = d->session ? index_get(&g->by_session, d->session) : peer_by_addr(g, from, d);
	if (i < 0) {
		g->st.unknown_session++;
		return -1;
	}
	/* the session id is the proof: a device that roamed keeps its session */
	if (d->session && (g->p[i].addr.len != from->len ||
			   memcmp(g->p[i].addr.b, from->b, from->len)))
		g->p[i].addr = *from;
	return i;
}

/* Requests, whose copies must not run twice: INFER and DECIDE. */
static int is_request(int type)
{
	return type == CW_INFER || type == CW_DECIDE;
}

/* Request d's answer again (d is its fragment 0), when the answers cache has
 * it: the request's state there (rcache.h), or -1 for no request. */
static int answer_again(struct ap_dg *g, int i, const struct cw_dg *d)
{
	const uint8_t *a;
	size_t alen;
	if (!is_request(cw_type_of(d->payload, d->payload_len)) ||
	    d->payload_len < CW_HEADER_BYTES + 8)
		return -1;
	int st = ap_rc_lookup(g->rc, g->p[i].session, le_rd64(d->payload + CW_HEADER_BYTES), &a,
			      &alen);
	if (st == AP_RC_ANSWERED && alen) {
		g->st.copies_answered++;
		send_message(g, i, a, alen);
	}
	return st;
}

/* A copy of a request already here (a fragment 0 carries its id): its answer
 * again, or an ACK while it runs. */
static void on_copy(struct ap_dg *g, int i, const struct cw_dg *d, uint64_t now)
{
	if (d->index == 0 && answer_again(g, i, d) == AP_RC_RUNNING)
		g->st.copies_running++;
}

/* A session-0 datagram d of peer i under the id of its HELLO or AUTH: a copy
 * (the device did not hear the answer), ACKed and answered with what the
 * peer keeps, whether or not the reassembler still remembers the message:
 * a HELLO with the CHALLENGE (the same server nonce: a copy brings no new
 * client nonce) or the WELCOME, an AUTH with the WELCOME. Never passed to
 * the session, which would take it for a second HELLO or an AUTH without a
 * challenge. An AUTH under another id once the session is open is no copy:
 * dropped (the nonce it answered is spent). 1 when d was taken here. */
static int handshake_copy(struct ap_dg *g, int i, const struct cw_dg *d)
{
	struct peer *p = &g->p[i];
	int type = cw_type_of(d->payload, d->payload_len);
	int hello = type == CW_HELLO && d->msg_id == p->hello_id;
	if (!hello && !(type == CW_AUTH && d->msg_id == p->auth_id)) {
		if (type != CW_AUTH || !p->session)
			return 0;
		g->st.unknown_session++;
		return 1;
	}
	g->st.handshake_copies++;
	send_ack(g, i, d, 1, NULL);
	if (p->welcome_len)
		send_message(g, i, p->welcome, p->welcome_len);
	else if (hello && p->challenge_len)
		send_message(g, i, p->challenge, p->challenge_len);
	return 1;
}

/* Fragment 0 of a message in fragments the reassembler does not know: an
 * agent awaiting a lost reply sends it again on a timer that may outlast the
 * reassembler's memory of the message, and only it. Its request answered:
 * the answer again (and the fragment is not kept), else it would wait for
 * nothing. */
static int answered_before(struct ap_dg *g, int i, uint64_t key, const struct cw_dg *d)
{
	const uint8_t *bitmap;
	uint16_t received;
	return d->index == 0 && d->count > 1 &&
	       cw_dg_reasm_bitmap(g->ra, key, d->msg_id, &bitmap, &received) == -ENOENT &&
	       answer_again(g, i, d) == AP_RC_ANSWERED;
}

/* A one-fragment message the reassembler wants ACKed that may be a request:
 * its ACK waits until on_message knows. */
static int ack_may_wait(const struct cw_dg_result *res, const struct cw_dg *d)
{
	return res->ack && d->count == 1 && is_request(cw_type_of(res->msg, res->len));
}

/* Leaves the ACK of request id (one-fragment message d from peer i) for the
 * end of the turn; 0, or -1 when there is no room left in this turn. */
static int ack_later(struct ap_dg *g, int i, const struct cw_dg *d, uint64_t id)
{
	if (g->n_later >= g->c.acks_later)
		return -1;
	g->later[g->n_later++] = (struct later){.session = g->p[i].session, .id = id,
						.msg_id = d->msg_id, .msg_len = d->msg_len,
						.peer = i};
	return 0;
}

/* A whole message d from peer i: requests through the answers cache. ack: the
 * ACK the reassembler asked for is still to send (ack_may_wait). */
static void on_message(struct ap_dg *g, int i, const struct cw_dg *d, const uint8_t *msg,
		       size_t len, int ack, uint64_t now)
{
	struct peer *p = &g->p[i];
	const uint8_t *a;
	size_t alen;
	if (is_request(cw_type_of(msg, len)) && len >= CW_HEADER_BYTES + 8) {
		uint64_t id = le_rd64(msg + CW_HEADER_BYTES);
		int st = ap_rc_admit(g->rc, p->session, id, now, &a, &alen);
		/* only a request that runs now may be answered within the turn; a
		 * copy of one running is ACKed (once): its answer follows */
		if (ack && st == AP_RC_NEW && !ack_later(g, i, d, id))
			ack = 0;
		if (ack || st == AP_RC_RUNNING)
			send_ack(g, i, d, d->count, NULL);
		if (st == -EBUSY) {
			g->st.busy++;
			send_busy(g, i, id);
			return;
		}
		if (st == AP_RC_ANSWERED) {
			g->st.copies_answered++;
			if (alen)
				send_message(g, i, a, alen);
			return;
		}
		if (st == AP_RC_RUNNING) {
			g->st.copies_running++;
			return;
		}
	} else if (ack) { /* a short message that only looked like a request */
		send_ack(g, i, d, d->count, NULL);
	}
	ap_sess_input(g->s, i, msg, len);
}

static void input(struct ap_dg *g, const struct ap_dg_addr *from, const uint8_t *dg, size_t n,
		  uint64_t now)
{
	struct cw_dg d;
	struct cw_dg_result res;
	if (cw_dg_decode(dg, n, &g->lim, &d, NULL, 0)) {
		g->st.malformed++;
		return;
	}
	if (d.kind == CW_DG_ACK) {
		g->st.acks_in++; /* replies are not retransmitted: copies of requests ask again */
		return;
	}
	int i = find_peer(g, from, &d);
	if (i < 0)
		return;
	g->p[i].last_ns = now;
	if (!d.session && handshake_copy(g, i, &d))
		return;
	uint64_t key = d.session ? d.session : g->p[i].addr_key;
	if (answered_before(g, i, key, &d))
		return;
	int r = cw_dg_reasm_add(g->ra, key, &d, now, &res);
	if (r == -EALREADY) {
		if (res.ack)
			send_ack(g, i, &d, res.received, res.bitmap);
		on_copy(g, i, &d, now);
		return;
	}
	if (r < 0)
		return; /* refused or inconsistent: counted by the reassembler */
	int ack = res.complete && ack_may_wait(&res, &d);
	if (res.ack && !ack)
		send_ack(g, i, &d, res.received, res.bitmap);
	if (!res.complete)
		return;
	/* a new HELLO (a new message, not a copy) from a device with a session or
	 * a handshake under way: it started over, so the old one ends */
	int type = cw_type_of(res.msg, res.len);
	if (type == CW_HELLO && (g->p[i].session || g->p[i].hello_id)) {
		ap_sess_close(g->s, i);
		if ((i = peer_by_addr(g, from, &d)) < 0)
			goto out;
		g->p[i].last_ns = now;
	}
	if (!d.session && type == CW_HELLO)
		g->p[i].hello_id = d.msg_id;
	else if (!d.session && type == CW_AUTH)
		g->p[i].auth_id = d.msg_id;
	on_message(g, i, &d, res.msg, res.len, ack, now);
out:
	if (res.ref)
		cw_dg_reasm_release(g->ra, res.ref);
}

void ap_dg_input(struct ap_dg *g, const struct ap_dg_addr *from, const uint8_t *dg, size_t n,
		 uint64_t now)
{
	g->st.datagrams++;
	g->input_ns = now;
	input(g, from, dg, n, now);
	g->input_ns = 0;
}

/* ---- replies and time ------------------------------------------------------ */

/* One reply to peer i: WELCOME names its session (and is kept, as CHALLENGE
 * is, to answer a HELLO or AUTH sent again), an answer goes into the cache for
 * the request's copies. */
static void on_reply(struct ap_dg *g, int i, const uint8_t *msg, size_t len)
{
	struct peer *p = &g->p[i];
	int type = cw_type_of(msg, len);
	if (type == CW_WELCOME && len >= CW_HEADER_BYTES + 8 && len <= WELCOME_MAX) {
		p->session = le_rd64(msg + CW_HEADER_BYTES);
		index_put(&g->by_session, p->session, i);
		memcpy(p->welcome, msg, len);
		p->welcome_len = (uint8_t)len;
	} else if (type == CW_CHALLENGE && len == CHALLENGE_LEN) {
		memcpy(p->challenge, msg, len);
		p->challenge_len = (uint8_t)len;
	} else if ((type == CW_RESULT || type == CW_ERROR || type == CW_DECISION) &&
		   len >= CW_HEADER_BYTES + 8) {
		uint64_t id = le_rd64(msg + CW_HEADER_BYTES);
		if (id)
			ap_rc_answer(g->rc, p->session, id, msg, len);
	}
	send_message(g, i, msg, len);
}

/* The ACKs left for the end of the turn: none for a request answered in it (the
 * answer left before, in ap_dg_flush), none to a peer closed or reused since. */
static void acks_at_end(struct ap_dg *g)
{
	for (int k = 0; k < g->n_later; k++) {
		const struct later *l = &g->later[k];
		if (!g->p[l->peer].open || g->p[l->peer].session != l->session)
			continue;
		if (ap_rc_state(g->rc, l->session, l->id) == AP_RC_ANSWERED) {
			g->st.acks_deferred_answered++;
			continue;
		}
		struct cw_dg d = {.session = l->session, .msg_id = l->msg_id, .count = 1,
				  .msg_len = l->msg_len};
		send_ack(g, l->peer, &d, 1, NULL);
	}
	g->n_later = 0;
}

void ap_dg_flush(struct ap_dg *g, uint64_t now)
{
	struct ap_conns *slots = ap_sess_slots(g->s);
	const uint8_t *b;
	size_t len;
	int i;
	while ((i = ap_conns_pop(slots, AP_Q_FLUSH)) >= 0) {
		if (!ap_sess_tx(g->s, i, &b, &len))
			continue;
		/* the session writes whole messages only */
		for (size_t off = 0; off + CW_HEADER_BYTES <= len;) {
			size_t m = CW_HEADER_BYTES + le_rd32(b + off + 8);
			if (m > len - off)
				break;
			on_reply(g, i, b + off, m);
			off += m;
		}
		ap_sess_sent(g->s, i, len);
	}
	acks_at_end(g);
}

void ap_dg_tick(struct ap_dg *g, uint64_t now)
{
	struct cw_fault_out o;
	cw_dg_reasm_expire(g->ra, now);
	if (g->inject && cw_faults_flush(&g->faults, &o) && g->p[g->held_peer].open)
		send_raw(g, &g->p[g->held_peer].addr, o.p, o.len, NULL, 0);
	for (int i = 0; i < g->n; i++) {
		if (g->p[i].open && now - g->p[i].last_ns > g->c.idle_ns) {
			g->st.idle_closed++;
			ap_sess_close(g->s, i);
		}
	}
	ap_sess_sweep(g->s);
}

void ap_dg_stats(const struct ap_dg *g, struct ap_dg_stats *out)
{
	*out = g->st;
	cw_dg_reasm_stats(g->ra, &out->reasm);
	out->faults = g->faults.n;
}
