/* coinfer device agent: runs the head layers of a request on the device, encodes
 * the tensor, sends it to the edge appliance and returns the answer; when the
 * edge is slow, unreachable or refuses, it finishes on the device at the deepest
 * exit that still meets the deadline. A fleet runs many independent agents (one
 * connection each) in a few threads, each thread one poll loop over its agents.
 * docs/agent.md describes the request path, the estimators and the output.
 *
 * Plain POSIX sockets and poll: the same code runs on aarch64 (qemu-user in the
 * tests). Exits and partitions are 0-based here, 1-based exits in the JSON. */
#ifndef COINFER_AGENT_H
#define COINFER_AGENT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coinfer/action.h"
#include "coinfer/clock.h"
#include "coinfer/codec-frame.h"
#include "coinfer/dataset.h"
#include "coinfer/model.h"
#include "coinfer/wire-faults.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- bandwidth and RTT estimation ---------------------------------------------- */

#define AG_RTT_WINDOW 16

struct ag_bw_config {
	double alpha;           /* EWMA weight of a new bandwidth sample (0.25) */
	double rtt_alpha;       /* EWMA weight of a new RTT sample (0.125) */
	double min_transfer_us; /* a sample whose transfer time is below this is skipped (200) */
	double max_bps;         /* samples are clamped to this (10e9) */
};

struct ag_bw {
	struct ag_bw_config cfg;
	double bps;      /* EWMA of the samples, bit/s; 0 until the first one */
	double last_bps; /* the last sample used */
	double srtt_us;  /* EWMA RTT; 0 until the first sample */
	double rtt_win[AG_RTT_WINDOW];
	int rtt_n, rtt_next;
	uint64_t uploads, probes, skipped, rtt_samples;
};

void ag_bw_defaults(struct ag_bw_config *c);
/* c NULL: the defaults. */
void ag_bw_init(struct ag_bw *b, const struct ag_bw_config *c);
/* An RTT sample of a small message (PING without padding), µs. */
void ag_bw_rtt(struct ag_bw *b, double rtt_us);
/* The base RTT: the least of the last AG_RTT_WINDOW samples (0 before any). */
double ag_bw_rtt_base_us(const struct ag_bw *b);
/* An upload: a message of `bytes` answered total_us after its send began, of
 * which the server reports server_us (queue + decode + compute). Transfer time =
 * total - server - base RTT. Returns 1 when the sample was used, 0 when skipped. */
int ag_bw_upload(struct ag_bw *b, double bytes, double total_us, double server_us);
/* A probe: a PING carrying extra_bytes of padding took rtt_us (hold time already
 * subtracted). Transfer time = rtt - base RTT. Returns 1 when used. */
int ag_bw_probe(struct ag_bw *b, double extra_bytes, double rtt_us);

/* ---- reconnect backoff ------------------------------------------------------------ */

struct ag_backoff {
	uint64_t base_us, cap_us;
	unsigned attempt;
	uint64_t rng;
};

void ag_backoff_init(struct ag_backoff *b, uint64_t base_us, uint64_t cap_us, uint64_t seed);
/* The wait before the next attempt: d = min(cap, base * 2^attempt), drawn
 * uniformly from [d/2, d] ("equal jitter"); then attempt++. */
uint64_t ag_backoff_next(struct ag_backoff *b);
void ag_backoff_reset(struct ag_backoff *b);

/* ---- circuit breaker ------------------------------------------------------------------- */

/* Whether the edge is worth a request (agent/breaker.c). UP: requests go
 * to the edge. A few consecutive reply timeouts, or a PING unanswered too long,
 * open it: DOWN, every new request is decided on the device at once and the
 * edge is probed (a PING, or the reconnect when the connection is gone) under a
 * jittered exponential backoff. A probe out: HALF_OPEN, still on the device;
 * any answer from the edge closes it (UP; after a mere PONG on probation), an
 * unanswered probe reopens it with a longer wait. Pure logic: every time is passed in (ns), so tests drive it with
 * their own clock. */
enum ag_breaker_state { AG_BRK_UP, AG_BRK_DOWN, AG_BRK_HALF_OPEN };

struct ag_breaker_config {
	int threshold;            /* consecutive failures that open it (3); 0: never opens */
	uint64_t base_us, cap_us; /* probe backoff: the ag_backoff of these bounds (50 ms, 1 s) */
	uint64_t timeout_us;      /* a probe unanswered this long failed (1 s) */
};

struct ag_breaker {
	struct ag_breaker_config cfg;
	enum ag_breaker_state st;
	int fails;            /* consecutive failures while UP */
	struct ag_backoff bo; /* the probe schedule; reset when the edge answers */
	uint64_t t_probe;     /* DOWN: when the next probe is due */
	uint64_t t_expire;    /* HALF_OPEN: when the probe out counts as unanswered */
	uint64_t downs, ups, probes; /* transitions UP -> DOWN, to UP; probes sent */
};

void ag_breaker_defaults(struct ag_breaker_config *c);
/* seed: the probe backoff's jitter (the agent's RNG). */
void ag_breaker_init(struct ag_breaker *b, const struct ag_breaker_config *c, uint64_t seed);
/* A request waited out its reply timeout (UP: counts toward the threshold;
 * HALF_OPEN: the probe failed; DOWN: nothing new). */
void ag_breaker_failure(struct ag_breaker *b, uint64_t now_ns);
/* Evidence enough on its own (a PING unanswered for the timeout): UP or
 * HALF_OPEN -> DOWN, unless the threshold is 0. */
void ag_breaker_trip(struct ag_breaker *b, uint64_t now_ns);
/* The edge answered a request (RESULT, ERROR, DECISION): -> UP, the count and
 * the backoff start over. */
void ag_breaker_success(struct ag_breaker *b, uint64_t now_ns);
/* A probe answered (a PONG, WELCOME): -> UP on probation: the next failure
 * reopens it, with the backoff where it was, until a request is answered. */
void ag_breaker_probe_answered(struct ag_breaker *b, uint64_t now_ns);
/* 1 when a new request may go to the edge (UP). */
int ag_breaker_allows(const struct ag_breaker *b);
/* 1 when DOWN and its probe is due. */
int ag_breaker_probe_due(const struct ag_breaker *b, uint64_t now_ns);
/* A probe went out: HALF_OPEN until expire_ns (0: now + the timeout). */
void ag_breaker_probe_sent(struct ag_breaker *b, uint64_t now_ns, uint64_t expire_ns);
/* HALF_OPEN past its expiry: the probe failed, DOWN with the next wait. */
void ag_breaker_tick(struct ag_breaker *b, uint64_t now_ns);
/* When tick or the next probe is due; UINT64_MAX while UP. */
uint64_t ag_breaker_next_ns(const struct ag_breaker *b);
const char *ag_breaker_state_name(enum ag_breaker_state s);

/* ---- per-layer times and the fallback exit ------------------------------------------ */

#define AG_MAX_EXITS CR_MODEL_MAX_EXITS
#define AG_MAX_POS CR_MODEL_MAX_EXIT_LAYERS

struct ag_times {
	int n_exits;
	int len[AG_MAX_EXITS];                  /* N_e */
	int common[AG_MAX_EXITS][AG_MAX_EXITS]; /* leading layer positions two exits share */
	double ms[AG_MAX_EXITS][AG_MAX_POS];    /* per layer position, one image */
};

/* Shapes from model m, times zero. -EINVAL when m exceeds the limits. */
int ag_times_init(struct ag_times *t, const struct cr_model *m);
/* Sum of ms[e][from..to). */
double ag_times_range_ms(const struct ag_times *t, int e, int from, int to);
/* Where exit e2 resumes when the head of exit e ran to p: min(p, common[e][e2]). */
int ag_resume_pos(const struct ag_times *t, int e, int p, int e2);

struct ag_choice {
	int exit;       /* 0-based */
	int from;       /* the position it resumes at */
	double need_ms; /* the remaining layers' time */
	int fits;       /* need_ms <= the time left */
};
/* The head of exit e ran to p_done (0: nothing computed). Chooses the deepest
 * exit whose remaining layers fit in left_ms, else the one that finishes soonest
 * (the shallowest on ties). */
void ag_fallback_choose(const struct ag_times *t, int e, int p_done, double left_ms,
			struct ag_choice *out);
/* Time the quickest fallback needs from there (what the reply timeout keeps back). */
double ag_fallback_reserve_ms(const struct ag_times *t, int e, int p_done);

/* ---- the agents ---------------------------------------------------------------------- */

/* What a decide callback sees for each request. */
struct ag_state {
	double bandwidth_bps; /* the estimate (0: none yet) */
	double bw_last_bps;   /* the last sample behind it (0: none yet) */
	double rtt_ms;        /* smoothed (0: none yet) */
	double queue_ms;      /* the edge's last reported queueing delay */
	double deadline_ms;
	int connected;
	int thread;           /* the calling thread, 0..ag_fleet_threads() - 1: a
				 callback with per-thread scratch indexes it */
};

/* Who chose a request's action. */
enum ag_decider {
	AG_BY_FLAGS = 0,     /* the configured action */
	AG_BY_LOCAL,         /* the decide callback (--auto, --policy) */
	AG_BY_EDGE_NEXT,     /* the next action of the previous RESULT */
	AG_BY_EDGE_DECISION, /* the DECISION to this request's DECIDE */
	AG_BY_COUNT
};

/* What became of a request's DECIDE. */
enum ag_decide_outcome {
	AG_DECIDE_NONE = 0, /* none sent */
	AG_DECIDE_ANSWERED, /* DECISION in time */
	AG_DECIDE_TIMEOUT,  /* no DECISION in time */
	AG_DECIDE_REFUSED,  /* ERROR (e.g. no policy for the class), or an unusable action */
	AG_DECIDE_DROPPED,  /* the connection went down meanwhile */
	AG_DECIDE_COUNT
};
const char *ag_decide_name(enum ag_decide_outcome o);

enum ag_where { AG_EDGE = 1, AG_DEVICE = 2 };

enum ag_reason {
	AG_FB_NONE = 0,     /* not a fallback (an edge answer, or a device-only action) */
	AG_FB_TIMEOUT,      /* no reply by deadline - reserve */
	AG_FB_BUSY,         /* ERROR busy */
	AG_FB_DEADLINE,     /* ERROR deadline */
	AG_FB_SHUTDOWN,     /* ERROR shutdown */
	AG_FB_ERROR,        /* another ERROR tied to the request */
	AG_FB_DISCONNECTED, /* the connection went down with the request outstanding */
	AG_FB_UNREACHABLE,  /* no connection when the request was to be sent */
	AG_FB_LIMIT,        /* the edge's in-flight limit (WELCOME) was reached */
	AG_FB_NO_TIME,      /* the budget left could not cover the fallback reserve */
	AG_FB_EDGE_DOWN,    /* the circuit breaker was open: not sent (ag_breaker) */
	AG_FB_COUNT
};
const char *ag_reason_name(enum ag_reason r);

/* The agents' clock and their loop's wait. Everything the emulation times (the
 * real compute, the dilation, latencies, reply timeouts, backoff) reads now_ns,
 * and every wait of a thread's loop is one call of wait, so a test that injects
 * both runs the device emulation on a clock of its own, deterministic on any
 * machine. NULL members: CLOCK_MONOTONIC and ppoll. */
struct ag_clock {
	cf_clock_fn now_ns;
	/* as ppoll: ready fds, 0 when timeout_ns passed, -1 and errno */
	int (*wait)(void *ctx, struct pollfd *fds, nfds_t n, uint64_t timeout_ns);
	void *ctx;
};

/* How an agent reaches the edge: one TCP connection, or one connected UDP
 * socket speaking the datagram form (docs/protocol.md, "Datagrams (UDP)"). */
enum ag_transport { AG_TRANSPORT_TCP = 0, AG_TRANSPORT_UDP };
const char *ag_transport_name(enum ag_transport t);

/* How an agent's requests arrive. CLOSED: the next starts think_ms after the last answer
 * (think_ms 0 and interval_ms > 0 keeps today's fixed interval, which is FIXED). POISSON:
 * open loop, exponential gaps of mean 1/rate_hz from the agent's RNG. GAPS: open loop,
 * the gaps (ms) of gaps_ms[0..n_gaps) in turn, agent k starting at gap k mod n_gaps.
 * FIXED: open loop, a request every interval_ms. Open-loop requests are timed from
 * their scheduled time (wrk2: no coordinated omission): one whose slot was not free
 * then starts late (ag_record.sched_lag_ms) but still counts from its schedule. */
enum ag_arrival { AG_ARRIVAL_CLOSED = 0, AG_ARRIVAL_FIXED, AG_ARRIVAL_POISSON, AG_ARRIVAL_GAPS };
const char *ag_arrival_name(enum ag_arrival a);

struct ag_arrival_config {
	enum ag_arrival kind;   /* CLOSED (default) */
	double think_ms;        /* CLOSED */
	double rate_hz;         /* POISSON, per agent */
	const double *gaps_ms;  /* GAPS (borrowed: lives as long as the fleet) */
	int n_gaps;
};

struct ag_record;

#define AG_IMAGE_STRIDE 997 /* images between agents' first ones when requests are uncapped */

struct ag_config {
	const char *host; /* numeric IPv4/IPv6 address or name */
	int port;
	enum ag_transport transport;
	/* UDP: rounds of a request's fragments (the first send and the RTO's
	 * retransmissions) before it runs on the device; faults injected into the
	 * agent's outgoing datagrams (per agent, seeded seed + agent) */
	int udp_tries;
	struct cw_fault_config faults;
	int agents, threads;
	int requests;      /* per agent */
	int inflight;      /* outstanding requests per agent */
	int first_image;   /* agent k, request j: image (first + k * requests + j) mod n;
			      requests 0 (a duration, no cap): AG_IMAGE_STRIDE for requests */
	double deadline_ms;
	double interval_ms;  /* FIXED (and CLOSED with think_ms 0): the gap between starts
				(0: the next request when one is answered) */
	struct ag_arrival_config arrival;
	double duration_s;   /* > 0: start requests until this long after the fleet starts,
				then wait for those outstanding; requests then caps each
				agent (0: none) */
	double warmup_s;     /* records of requests scheduled before this are marked warmup */
	/* In-process shaping: the rate (bit/s) of agent k's uplink (dir 0) or downlink (dir 1)
	 * at t_s seconds since the fleet started; NULL: no shaping. An INFER of B bytes (UDP: its
	 * datagrams) leaves the agent when the emulated link has carried it: serialisation
	 * B*8/rate, the link busy with earlier messages first (one FIFO link per agent and
	 * direction, rate re-read at each message). A reply is delivered to the request path
	 * only after the emulated downlink carried it. Control messages (HELLO, PING, ACK) are
	 * not delayed. Called from the agent's thread; a rate <= 0 counts as no shaping. */
	double (*link_bps)(void *ctx, int agent, int dir, double t_s);
	void *link_ctx;
	/* Real shaping (coinfer-fleet --netns): the socket of agent k (e.g. made inside its
	 * network namespace) and the address it connects to; NULL: socket() and host.
	 * open_socket returns an fd or -errno; called at every (re)connect, from the agent's
	 * thread (the agent sets O_NONBLOCK itself). host_of: a numeric address or a name,
	 * NULL for host; called once per agent at ag_fleet_create (resolved then). */
	int (*open_socket)(void *ctx, int agent, int domain, int type, int protocol);
	const char *(*host_of)(void *ctx, int agent);
	void *net_ctx;
	/* Each record as it is made, from the agent's thread (several threads at once:
	 * the callback locks what it shares); NULL: none. Records stay available through
	 * ag_fleet_records after the run. */
	void (*on_record)(void *ctx, const struct ag_record *r);
	void *record_ctx;
	double stagger_ms;   /* first request of each agent at a random offset in [0, this) */
	double margin_ms;    /* kept back besides the fallback reserve */
	/* bits 2..16 for the quantizing codecs, 0 for raw32/raw16 */
	struct cf_action action;
	/* How the cut tensor is encoded: the codec of `action` and per-channel
	 * scales. Actions decided elsewhere (decide, the edge) choose bits only:
	 * bits 0 is sent raw32, others with this codec (huffman when this is a raw
	 * one), and of those only the edge's use per-channel scales. */
	enum cc_codec codec;
	int per_channel;
	/* per request action (NULL: always `action`); may be called from several
	 * threads at once. Returns 0, or non-zero to use `action`. */
	int (*decide)(void *ctx, const struct ag_state *s, struct cf_action *a);
	void *decide_ctx;
	const char *decide_name; /* how records name the callback ("local" when NULL) */
	/* Ask the edge's policy: INFERs carry CW_INFER_SUGGEST and a RESULT's next
	 * action (at most 1 s old) is taken for the next request; without one, a
	 * DECIDE goes out and its DECISION is awaited min(20 % of the deadline,
	 * 50 ms). Otherwise (or while down) decide/action as without it. */
	int edge_decides;
	double bw_prior_bps; /* DECIDE's bandwidth before the first estimate (0: 0) */
	/* time dilation: emulated = measured * slowdown, or the profile's per-layer
	 * times (ms of a device class; NULL: none), whichever is longer */
	double slowdown;
	const struct ag_times *profile;
	double encode_slowdown; /* 0: slowdown (or the profile's ratio to measured) */
	/* the device class's time to encode a tensor of elems floats with codec at
	 * bits (ms; <= 0: no model, use encode_slowdown); NULL: none */
	double (*encode_model)(void *ctx, enum cc_codec codec, int bits, size_t elems);
	void *encode_ctx;
	uint64_t device_id_base; /* agent k is device_id_base + k */
	const char *device_class, *app;
	/* device keys (coinfer-keys): each agent's line by its device id; NULL:
	 * none, HELLO without a client nonce (an appliance with auth: keys refuses) */
	const char *key_file;
	uint64_t backoff_base_us, backoff_cap_us;
	/* when the edge counts as down and how it is probed; timeout_us is also
	 * how long the edge may leave every PING unanswered */
	struct ag_breaker_config breaker;
	int connect_timeout_ms; /* connect + HELLO -> WELCOME */
	int connect_wait_ms;    /* the first request waits this long for a connection */
	int ping_ms;            /* 0: no PINGs */
	uint32_t ping_pad;      /* every other PING carries this padding (0: none) */
	struct ag_bw_config bw;
	int verify;             /* decode the frame sent and run the tail here too */
	int calib_runs;         /* whole-exit runs timed per exit at creation */
	/* this machine's per-layer times, given instead of measured (NULL: measure
	 * calib_runs); the model's shape */
	const struct ag_times *calibration;
	struct ag_clock clock;
	uint64_t seed;
	FILE *out;              /* JSON line per request (NULL: none) */
	FILE *log;              /* connection events (NULL: none) */
};

void ag_config_defaults(struct ag_config *c);

struct ag_record {
	int agent;
	uint64_t device_id, id;
	int image, label, true_label;
	float confidence;
	struct cf_action action;
	enum cc_codec codec;   /* the encoding of its tensor (ag_config.codec) */
	int per_channel;
	int exit;              /* that answered, 0-based */
	int from;              /* device answers: the position the device resumed at */
	enum ag_where where;
	enum ag_reason reason;
	uint16_t error_code;   /* the edge's ERROR code, 0 when none */
	enum ag_decider decided_by;
	enum ag_decide_outcome decide;
	double decide_ms;      /* from the request's start to its decision, with a DECIDE */
	int deadline_met;
	double deadline_ms;
	double latency_ms, latency_real_ms; /* emulated (wall clock) and without dilation */
	double head_ms, head_real_ms, encode_ms, encode_real_ms, local_ms, local_real_ms;
	size_t bytes;          /* INFER message bytes sent (0: none) */
	uint32_t queue_us, decode_us, compute_us;
	uint16_t batch;
	double rtt_ms, bw_bps; /* estimates when answered */
	int verify_label;      /* -1: not verified */
	double t_ms;           /* when answered, ms since the fleet started */
	double t_sched_ms;     /* when the request was scheduled, ms since the fleet started;
				  open-loop latency counts from here */
	double sched_lag_ms;   /* its start minus its schedule: > 0 when the agent could not
				  keep the schedule (e.g. all its slots busy) */
	int warmup;            /* scheduled before warmup_s */
	double uplink_ms;      /* in the emulated uplink, queueing behind earlier messages
				  included (0 without shaping) */
	double downlink_ms;    /* the reply in the emulated downlink, likewise */
	double link_bps;       /* the uplink rate when it was sent (0 without shaping) */
};

/* The datagram transport's counters (the summary's "udp" object). */
struct ag_udp_stats {
	uint64_t datagrams_out, datagrams_in, send_errors;
	uint64_t acks_in, acks_out;
	uint64_t retransmissions;         /* fragments sent again (RTO, ACK gaps, copies) */
	uint64_t timeouts;                /* RTO expiries of messages not yet ACKed whole */
	uint64_t fallbacks_after_retries; /* requests sent to the device after their tries */
	uint64_t duplicate_replies;       /* whole replies to requests already answered */
	uint64_t duplicate_datagrams;     /* fragments the reassembler already had */
	uint64_t malformed, stray;        /* undecodable; of another session */
	struct cw_fault_counts faults;    /* what --faults did to the outgoing ones */
};

struct ag_latency {
	double mean, p50, p99, max;
};

struct ag_summary {
	int agents;
	uint64_t requests, answered, edge, device, fallbacks[AG_FB_COUNT];
	uint64_t correct, deadline_met, bytes_sent;
	double accuracy;
	struct ag_latency latency_ms, latency_real_ms;
	uint64_t late_replies, reconnects, connects, drops; /* drops: connections lost or refused */
	/* the breakers: UP -> DOWN and -> UP transitions, probes sent, requests
	 * decided on the device because it was open (fallbacks[AG_FB_EDGE_DOWN]) */
	uint64_t edge_downs, edge_ups, probes, edge_down_requests;
	uint64_t verified, verify_mismatches;
	int udp; /* the transport was UDP: udp_stats summed over the agents */
	struct ag_udp_stats udp_stats;
	uint64_t decided_by[AG_BY_COUNT], decide[AG_DECIDE_COUNT];
	const char *decide_name;
	double bandwidth_bps_mean; /* over agents with an estimate */
	double rtt_ms_mean;
	double timer_late_ms; /* the threads' decaying maximum of timer lateness, at the end */
	/* requests started after their schedule (open loop), and the largest lag */
	uint64_t late_starts;
	double max_sched_lag_ms;
	double wall_s;
	/* device emulation: each exit run whole, measured here and emulated */
	const char *device_class;
	double slowdown;
	int profile, n_exits;
	double exit_ms_measured[AG_MAX_EXITS], exit_ms_emulated[AG_MAX_EXITS];
};

struct ag_fleet;

/* Checks the configuration against the model, measures this machine's per-layer
 * times (calib_runs) and allocates everything the agents need. */
int ag_fleet_create(const struct ag_config *cfg, const struct cr_model *m,
		    const struct ds_dataset *ds, struct ag_fleet **out, char *err, size_t errlen);
/* Runs until every request of every agent is answered (with duration_s: every
 * request started before the duration, or before ag_fleet_stop). */
int ag_fleet_run(struct ag_fleet *f, char *err, size_t errlen);

/* A live view of a running fleet, summed over its agents. */
struct ag_progress {
	uint64_t started, answered, deadline_met, edge, device;
};
/* May be called from another thread while ag_fleet_run runs (relaxed atomics: each
 * count is exact, the five need not be of one instant). */
void ag_fleet_progress(const struct ag_fleet *f, struct ag_progress *p);
/* Ask a running fleet to stop starting requests (e.g. on SIGINT); returns at once.
 * Those outstanding are still answered. Safe from another thread (not a signal
 * handler: set a flag there and call this from a thread). */
void ag_fleet_stop(struct ag_fleet *f);
void ag_fleet_destroy(struct ag_fleet *f);
/* Threads that run agents (and call decide): min(threads, agents). */
int ag_fleet_threads(const struct ag_fleet *f);
/* Measured per-layer times (ms) and the emulated ones the agents use. */
const struct ag_times *ag_fleet_measured(const struct ag_fleet *f);
const struct ag_times *ag_fleet_emulated(const struct ag_fleet *f);
/* Every answer, in the order answered. */
const struct ag_record *ag_fleet_records(const struct ag_fleet *f, size_t *n);
void ag_fleet_summary(const struct ag_fleet *f, struct ag_summary *s);

/* JSON: one line per record (with its newline), the summary as one line.
 * local names AG_BY_LOCAL decisions (ag_config.decide_name; NULL: "local"). */
int ag_record_json(const struct ag_record *r, char *buf, size_t cap);
int ag_record_json_named(const struct ag_record *r, const char *local, char *buf, size_t cap);
void ag_summary_json(const struct ag_summary *s, FILE *f);

/* "raw32", "raw16", "packed", "huffman", "huffman-zrun" to a codec; -1 unknown. */
int ag_codec_parse(const char *s);

#ifdef __cplusplus
}
#endif
#endif
