/* Device agent internals shared by its files: fleet.c (set-up, poll loops),
 * conn.c (the connection to the appliance), dgram.c (the same over UDP
 * datagrams), request.c (a request in a slot) and report.c (records and
 * summaries). */
#ifndef COINFER_AGENT_INTERNAL_H
#define COINFER_AGENT_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "coinfer/agent.h"
#include "coinfer/clock.h"
#include "coinfer/exec.h"
#include "coinfer/wire.h"
#include "coinfer/wire-dgram.h"
#include "coinfer/wire-faults.h"

#define AG_TX_MAX 32
#define AG_PONG_BYTES (CW_HEADER_BYTES + 24)
#define AG_HELLO_BYTES (CW_HEADER_BYTES + CW_SMALL_BODY_MAX)
#define AG_SERVER_PAD_MAX 4096 /* padding accepted in the edge's own PINGs */

enum ag_conn_state { C_DOWN, C_CONNECTING, C_HELLO, C_READY, C_CLOSED };
/* S_UPLINK: the INFER in the emulated uplink (link_bps), S_DOWNLINK: its reply
 * in the emulated downlink; both wait for t_event or the reply timeout */
enum ag_slot_state { S_FREE, S_DECIDE, S_HEAD, S_UPLINK, S_SENT, S_DOWNLINK, S_LOCAL };
enum ag_tx_kind { TX_INFER, TX_HELLO, TX_PING, TX_PONG, TX_DECIDE };
#define AG_DECIDE_BYTES (CW_HEADER_BYTES + 28)

struct ag_tx {
	const uint8_t *p;
	size_t len, off;
	int slot; /* INFER and DECIDE: the slot; -1: HELLO, PING or PONG */
	enum ag_tx_kind kind;
};

struct ag_slot {
	enum ag_slot_state st;
	int tx_pending;
	uint64_t t_start, t_event, t_timeout, t_sent;
	uint64_t t_sched; /* when the request was scheduled (open loop: t_start too) */
	double dilation_ms;
	int p_done;
	struct ag_record rec;
	uint8_t *msg;
	size_t msg_len, frame_len;
	float *store[AG_MAX_EXITS];  /* tensors kept for a fallback ... */
	int store_of[AG_MAX_EXITS];  /* ... exit x resumes from store[store_of[x]] */
	int store_pos[AG_MAX_EXITS]; /* the position each store holds */
	int n_store;
	/* a local answer waiting for its emulated time */
	int local_label;
	float local_conf;
	/* S_DOWNLINK: the reply on its way (a RESULT, or an ERROR's code) */
	struct cw_result dn_res;
	uint16_t dn_err;
	/* S_DECIDE: t_event is when to stop waiting for the DECISION */
	struct cf_action decision;
	uint8_t decide_msg[AG_DECIDE_BYTES];
	int decide_busy; /* decide_msg is queued for sending */
};

/* ---- the datagram transport (dgram.c) ---- */

#define AG_DG_TX_MAX (CW_DG_HEADER_BYTES + CW_DG_DEFAULT_PAYLOAD)
#define AG_DG_RX_MAX 2048 /* larger datagrams are truncated, hence malformed */
#define AG_DG_RECENT 32   /* request ids answered by the edge, remembered for duplicates */

enum ag_dg_out_state {
	DGO_FREE,
	DGO_SENDING, /* fragments out, not all ACKed: the sender's RTO runs (a reply ends it) */
	DGO_WAITING  /* ACKed whole, the reply awaited: fragment 0 again on a timer */
};

/* One message the agent sent and may send again: the INFER or DECIDE of a
 * slot, the HELLO, the latest PING. */
struct ag_dg_out {
	enum ag_dg_out_state st;
	enum ag_tx_kind kind;
	int slot;
	uint64_t req_id; /* INFER and DECIDE: the slot's request when it was sent */
	const uint8_t *p;
	uint32_t len, msg_id;
	uint64_t session;
	uint32_t sent; /* fragments sent, first round included */
	struct cw_dg_sender snd;
	uint64_t t_copy, copy_ns; /* DGO_WAITING: when fragment 0 goes again, the interval */
	uint64_t acked_ns;        /* DGO_WAITING: when the message was ACKed whole (a
				   * reply before that ends it: dgram.c) */
	uint64_t first_wait;      /* and the wait before its first copy */
	int copies;               /* fragment-0 copies sent while waiting */
};

struct ag_dg {
	uint64_t session; /* WELCOME's; 0 before */
	uint32_t tx_id;   /* the last message id sent in this session */
	unsigned gen;     /* connections so far: a reply's ref is released only in its own */
	int err;          /* a send's error (ECONNREFUSED) the timers act on */
	struct cw_dg_rto rto;
	/* the edge's time from a request ACKed whole to its reply (queue, batch,
	 * tail; for a request answered before any ACK, the RESULT's own figure),
	 * smoothed as RFC 6298 smooths the RTT (mean 1/8, deviation 1/4):
	 * the wait before a copy of fragment 0 adds mean + 4 deviations to the
	 * RTO, so a request that runs is seldom asked about again */
	uint64_t svc_ns, svc_var;
	struct ag_dg_out *out; /* 2 x nslots + 2: INFERs, DECIDEs, HELLO, PING */
	int nout;
	struct cw_dg_limits lim; /* of decoding: max_msg covers our INFERs' ACKs */
	uint32_t rx_max_msg;     /* of the messages we take in */
	struct cw_limits msg_lim;
	struct cw_dg_reasm *ra;
	void *ra_mem;
	size_t ra_bytes;
	struct cw_dg_reasm_config ra_cfg;
	struct cw_faults faults;
	int inject;
	uint64_t recent[AG_DG_RECENT];
	int recent_next;
	struct ag_udp_stats st;
	uint8_t tx[AG_DG_TX_MAX];
	uint8_t rx[AG_DG_RX_MAX];
};

struct ag_thread;

struct ag_agent {
	int idx;
	uint64_t device_id;
	struct ag_thread *th;
	enum ag_conn_state cs;
	int fd;
	struct sockaddr_storage addr; /* the edge's (host_of, else the fleet's) */
	socklen_t addrlen;
	uint64_t link_free[2]; /* when the emulated uplink, downlink is free (link.c) */
	struct ag_dg *dg; /* UDP only (NULL over TCP) */
	uint64_t t_reconnect, t_handshake;
	struct cw_reader rd;
	uint8_t *rdbuf;
	struct ag_tx tx[AG_TX_MAX];
	int tx_head, tx_n;
	uint8_t hello[AG_HELLO_BYTES];
	/* device identity: its key, the HELLO it sent (AUTH's transcript) and AUTH */
	int has_key, auth_sent;
	uint8_t key[CW_DEVICE_KEY_BYTES];
	struct cw_hello hello_sent;
	uint8_t auth[CW_HEADER_BYTES + CW_AUTH_MAC_BYTES];
	uint8_t pong[AG_PONG_BYTES];
	int pong_busy;
	uint8_t *ping;
	int ping_busy, ping_outstanding;
	uint64_t ping_nonce, ping_count, t_next_ping;
	uint32_t ping_pad_sent;
	struct cw_welcome welcome;
	struct ag_backoff bo;
	struct ag_breaker brk;
	uint64_t t_ping_wait; /* when a PING went out into silence: nothing from the edge since (0: none) */
	struct ag_bw bw;
	int sent_outstanding;
	double queue_ms;
	/* the edge's suggestion for the next request (--edge-decides) */
	int have_next;
	struct cf_action next;
	uint64_t t_next;
	uint64_t t_decide; /* when the last DECIDE went out: the edge's copy of our state */
	int edge_no_policy; /* the edge refused a DECIDE: ask no more this session */
	int decide_logged;
	int started, answered;
	uint64_t next_id;
	uint64_t t_next_start, t_gate; /* open loop: t_next_start is the next schedule */
	int gap_next; /* GAPS: the index of the next gap */
	struct ag_slot *slots;
	int nslots;
	int finished;
	uint64_t late, reconnects, connects, drops;
	int refusal_logged, fail_logged;
	uint64_t rng;
};

struct ag_thread {
	struct ag_fleet *f;
	int idx;
	pthread_t tid;
	struct cr_exec *x;
	struct cc_encoder *enc;
	float *input, *verify_buf;
	void *scratch;
	size_t scratch_bytes;
	struct ag_agent *agents;
	int n;
	struct pollfd *pfd;
	int *pfd_agent;
	struct ag_record *recs;
	size_t nrec, caprec;
	double late_ms; /* how late timers fire here: decaying maximum */
	/* ag_fleet_progress: written by this thread alone, read by any (relaxed) */
	_Atomic uint64_t n_started, n_answered, n_met, n_edge, n_device;
	int failed;
	char err[256];
};

struct ag_fleet {
	struct ag_config cfg;
	const struct cr_model *m;
	const struct ds_dataset *ds;
	struct ag_times measured, emulated;
	double enc_scale;
	struct ag_thread *th;
	int nth;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int have_addr;
	size_t max_floats, msg_cap;
	uint32_t max_pairs;
	struct ag_record *records;
	size_t nrec;
	pthread_mutex_t out_mu;
	uint64_t t0;
	uint64_t t_end;    /* duration_s: no request scheduled from here (0: none) */
	uint64_t t_warmup; /* records scheduled before this are warm-up */
	enum ag_arrival arrival; /* cfg.arrival.kind, FIXED for the old interval_ms */
	double wall_s;
	int ran;
	atomic_int stop; /* ag_fleet_stop: start no more requests */
};

#define AG_MS 1000000ull /* ns */

/* The fleet's clock (ag_clock): the injected one, or CLOCK_MONOTONIC. */
static inline uint64_t fnow(const struct ag_fleet *f)
{
	return f->cfg.clock.now_ns ? f->cfg.clock.now_ns(f->cfg.clock.ctx) : cf_now_ns();
}

static inline uint64_t ms_to_ns(double ms)
{
	return ms <= 0 ? 0 : (uint64_t)(ms * 1e6 + 0.5);
}

static inline double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* fleet.c */
#define AG_LATE_START_MS 1.0 /* a start this much after its schedule is late */
/* the agent may start another request (its cap, the duration, ag_fleet_stop) */
int ag_more_requests(const struct ag_agent *a);
/* the gap to the agent's next scheduled request (open loop), ns */
uint64_t ag_next_gap(struct ag_agent *a);
/* grows the thread's records to cap (between passes; emit only as a last resort) */
int ag_reserve_records(struct ag_thread *th, size_t cap);
void ag_logf(struct ag_fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* the configured requests need the edge (else they never connect) */
int ag_needs_network(const struct ag_fleet *f);

/* link.c: the emulated links and the network hooks */
double ag_wire_bytes(const struct ag_agent *a, size_t len);
/* a message of len bytes ready at now in direction dir (0 up, 1 down) is carried
 * at the returned time (now when not shaped); *bps the rate (0: not shaped) */
uint64_t ag_link_carry(struct ag_agent *a, int dir, size_t len, uint64_t now, double *bps);
/* its serialisation alone, us (0 when not shaped) */
double ag_link_ser_us(const struct ag_agent *a, int dir, size_t len, uint64_t now);
/* a non-blocking socket to a->addr (open_socket or socket()): fd or -errno */
int ag_socket(struct ag_agent *a, int type);
int ag_resolve(const char *host, int port, int type, struct sockaddr_storage *addr,
	       socklen_t *addrlen, char *err, size_t errlen);
/* each agent's edge address (host_of, else the fleet's) */
int ag_agent_addresses(struct ag_fleet *f, char *err, size_t errlen);

/* request.c */
void ag_boundary_dims(const struct cr_model *m, int e, int p, uint32_t dims[3]);
int ag_action_ok(const struct cr_model *m, const struct cf_action *a, enum cc_codec codec,
		 int per_channel, char *err, size_t errlen);
void ag_go_local(struct ag_agent *a, struct ag_slot *s, enum ag_reason why, uint64_t now);
int ag_on_decide_reply(struct ag_agent *a, const struct cw_msg *msg, uint64_t now);
int ag_on_reply(struct ag_agent *a, const struct cw_msg *msg, uint64_t now);
void ag_request_timers(struct ag_agent *a);
uint64_t ag_start_requests(struct ag_agent *a, uint64_t now);

/* auth.c: --key-file into each agent (an agent without its line is an error);
 * HELLO's client nonce when the agent has a key; AUTH for a CHALLENGE (once per
 * HELLO; -EPROTO without a key or for a second CHALLENGE). */
int ag_keys_load(struct ag_fleet *f, char *err, size_t errlen);
void ag_hello_nonce(struct ag_agent *a, struct cw_hello *h);
int ag_auth_for(struct ag_agent *a, const struct cw_challenge *c, uint8_t *buf, size_t cap,
		size_t *len);

/* conn.c */
void ag_edge_answered(struct ag_agent *a, uint64_t now, int probe);
void ag_edge_failed(struct ag_agent *a, uint64_t now, int trip);
void ag_tx_push(struct ag_agent *a, const uint8_t *p, size_t len, int slot, enum ag_tx_kind kind);
int ag_tx_flush(struct ag_agent *a, uint64_t now);
void ag_conn_close(struct ag_agent *a);
void ag_conn_drop(struct ag_agent *a, const char *why, uint64_t now);
void ag_conn_timers(struct ag_agent *a, uint64_t now, int wanted);
void ag_conn_keepalive(struct ag_agent *a, uint64_t now);
short ag_poll_events(const struct ag_agent *a);
void ag_on_events(struct ag_agent *a, short re, uint64_t now);
int ag_on_message(struct ag_agent *a, const struct cw_msg *msg, uint64_t now);
int ag_recv_retry(struct ag_agent *a, uint64_t now);

/* dgram.c: the connection's datagram half (conn.c calls these when a->dg) */
int ag_dg_create(struct ag_agent *a, char *err, size_t errlen);
void ag_dg_destroy(struct ag_agent *a);
void ag_dg_open(struct ag_agent *a);
void ag_dg_close(struct ag_agent *a);
void ag_dg_push(struct ag_agent *a, const uint8_t *p, size_t len, int slot, enum ag_tx_kind kind,
		uint64_t now);
void ag_dg_readable(struct ag_agent *a, uint64_t now);
void ag_dg_timers(struct ag_agent *a, uint64_t now);
uint64_t ag_dg_next(const struct ag_agent *a);
void ag_dg_answered(struct ag_agent *a, uint64_t request_id, uint64_t now);
int ag_dg_was_answered(const struct ag_agent *a, uint64_t request_id);
int ag_dg_ping_resent(const struct ag_agent *a);

#endif
