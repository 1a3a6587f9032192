/* The appliance's network side: one io_uring event loop per worker thread, each
 * with its own listening socket (SO_REUSEPORT spreads devices over workers), its
 * own scheduler and tail executor: run to completion, nothing shared on the hot
 * path but the read-only model. The transport is TCP (server.c) or
 * UDP (udp.c, the datagram form of the protocol): the same workers, session
 * layer, watchdog, stop and stats either way.
 *
 * A loop turn: wait for completions (or the scheduler's next due time), handle
 * them (accepts, received bytes -> messages, sends done), run the batches that
 * are due, then flush every connection's pending replies in one submission. */
#ifndef COINFER_APPLIANCE_SERVER_H
#define COINFER_APPLIANCE_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "coinfer/action.h"
#include "coinfer/model.h"
#include "coinfer/slo.h"
#include "coinfer/wire-faults.h"

struct pol_policy;

#define AP_SLO_DEADLINES_MAX 16

enum ap_transport { AP_TRANSPORT_TCP = 0, AP_TRANSPORT_UDP = 1, AP_TRANSPORT_DPDK = 2 };

struct ap_server_config {
	int transport;               /* enum ap_transport */
	const char *host;            /* numeric IPv4 address to listen on */
	int port;
	int workers;                 /* event loops (threads) */
	int max_conns;               /* per worker */
	int max_inflight;            /* per device */
	int max_requests;            /* queued requests per worker (global bound) */
	int max_batch;
	uint64_t max_delay_us;
	int join;                    /* batch requests of one exit across partitions */
	int run_late;                /* run expired requests instead of refusing them */
	int null_model;              /* validate frames, compute nothing */
	uint32_t max_frame;          /* largest INFER frame accepted */
	int small_frame;             /* frame bytes held inline per request slot */
	int big_frames;              /* buffers of max_frame bytes per worker */
	int rx_buffers, rx_buffer_bytes; /* provided buffer ring per worker */
	int tx_bytes;                /* reply buffer per connection */
	int reassembly_buffers;      /* per worker, for messages split across receives */
	int idle_timeout_ms;         /* a half-received message older than this closes the peer */
	int calibrate_runs;          /* 0: FLOP estimates only */
	int drain_ms;                /* at stop: how long replies may take to leave */
	int watchdog_ms;             /* a worker without a loop turn for this long is reported */
	int no_buf_ring;             /* force the fallback receive path (tests) */
	int tx_datagrams;            /* UDP: datagrams in flight to send per worker */
	struct cw_fault_config faults; /* UDP: injected on the replies (tests, demos) */
	/* DPDK (the datagrams over a poll-mode port; host is the address it answers
	 * ARP for): the EAL's arguments (NULL or "": the EAL is already up in this
	 * process), the ethdev's name, the mempool's mbufs, the nap of an idle
	 * worker (dpdk-loop.h). */
	const char *dpdk_eal, *dpdk_port;
	int dpdk_mbufs, dpdk_idle_us;
	int quiet;
	/* The SLO deadlines of the served configuration, in ms: edges of the time
	 * histograms, so a histogram says exactly how many requests met each */
	int slo_deadlines_ms[AP_SLO_DEADLINES_MAX];
	int n_slo_deadlines;
	/* The applications' SLOs (an SLO file, conf/slo/): each session's HELLO
	 * names its application, and the answers to it are counted against that
	 * deadline and objective (slo.h); others are not counted. Copied at start. */
	const struct cfg_slo *slo;
	int n_slo;
	/* Served policies, at most one per device class (p->device_class), each with
	 * its action table. Borrowed until ap_server_start returns: every worker
	 * decides with its own copy (a policy's scratch is not shareable). */
	struct pol_policy *const *policies;
	int n_policies;
	/* Device identity (docs/protocol.md, "Device identity"): auth 0 serves any
	 * HELLO, 1 only devices of the key file keys_path that answer CHALLENGE.
	 * HELLOs per second per source address and per device id (per worker; 0:
	 * no limit), and how long a CHALLENGE waits for its AUTH. */
	int auth;
	const char *keys_path;
	uint32_t auth_rate_addr, auth_rate_device;
	int auth_timeout_ms;
	/* The loaded key file: ap_server_start loads keys_path when auth is set
	 * and this is NULL (tests hand their own). Read-only once workers run. */
	const struct ap_keys *keys;
	/* The live settings (ap_server_set_live): set by ap_server_start, NULL
	 * elsewhere (tests, benches: the values above hold throughout). */
	_Atomic(const struct ap_live *) *live;
};

void ap_server_defaults(struct ap_server_config *c);

/* The settings a running server takes without touching its workers' memory (a
 * SIGHUP reload, docs/appliance.md "Reload"). Each worker loads the published
 * snapshot's pointer once per loop turn (one acquire load, no lock) and copies
 * it into its own session when it changed. */
/* The served policies of a reload: each worker's own copies (a policy's
 * scratch is not shareable), made by ap_server_set_live, freed at stop. */
struct ap_policy_set {
	int n;                  /* one per device class */
	struct pol_policy ***w; /* w[worker][0..n) */
};
struct ap_live {
	int max_batch;        /* at most the max_batch the server started with */
	uint64_t max_delay_us;
	int run_late;
	int idle_timeout_ms;
	/* set by ap_server_set_live: the policies served (NULL: the ones started with) */
	const struct ap_policy_set *policies;
};
/* cfg's live settings, as it was started with. */
void ap_live_from(const struct ap_server_config *cfg, struct ap_live *l);

/* Time histograms of each RESULT (server time from its INFER parsed to its
 * reply queued; the queueing part of it; the decoding and tail compute part):
 * per worker, one relaxed add per observation (and one to the sum), no lock.
 * Bucket upper bounds (ap_hist_edges): a fixed log-spaced set, 1, 2.5 and 5
 * per decade from 100 us to 10 s, merged with the SLO deadlines (those of
 * slo_deadlines_ms and of the SLO file's applications, up to 16 distinct of
 * each: ap_server_start checks the file's), so every deadline is an edge; n[edges.n] counts what is above the last (+Inf). */
#define AP_HIST_FIXED_EDGES 16
#define AP_HIST_BUCKETS (AP_HIST_FIXED_EDGES + 2 * AP_SLO_DEADLINES_MAX + 1)
struct ap_hist_edges {
	int n;
	uint64_t us[AP_HIST_BUCKETS - 1]; /* ascending, no repeats */
};
void ap_hist_edges(const struct ap_server_config *c, struct ap_hist_edges *e);
struct ap_hist {
	_Atomic uint64_t sum_us, n[AP_HIST_BUCKETS];
};

/* Why a device was not served: X(ENUM, label, help). */
#define AP_REFUSALS(X)                                                                         \
	X(MODEL_MISMATCH, model_mismatch, "HELLO named another model or checksum")             \
	X(CAPACITY, capacity, "no connection slot free (max_conns)")                           \
	X(NO_HELLO, no_hello, "no HELLO within idle_timeout_ms")
#define AP_REFUSAL_ENUM(e, label, help) AP_REFUSE_##e,
enum ap_refusal { AP_REFUSALS(AP_REFUSAL_ENUM) AP_REFUSE_N };
#undef AP_REFUSAL_ENUM

struct ap_stats {
	_Atomic uint64_t accepted, closed, requests, results, errors, busy, expired, bad_frames,
		batches, batch_images, bytes_in, bytes_out, protocol_errors,
		decisions,   /* DECIDEs answered with a DECISION */
		suggestions, /* RESULTs sent with a next action */
		stalls,      /* times the watchdog found a worker without progress */
		auth_ok, auth_unknown, auth_revoked, auth_failed, auth_rate_limited;
	/* devices: sessions opened by an accepted HELLO, and gone since */
	_Atomic uint64_t admitted, departed, refused[AP_REFUSE_N];
	struct ap_hist server_time, queue_time, compute_time;
};

/* Actions the served policies decided, counted per source and action in a dense
 * grid over the served model: source x exit x partition (0..N_e) x bits (0, 4,
 * 8, 12, 16). Per worker, as the stats. */
enum ap_act_source { AP_ACT_DECISION, AP_ACT_NEXT, AP_ACT_SOURCES };
size_t ap_act_slots(const struct cr_model *m);
/* The slot of an action, -1 when it is not one a policy decides for m. */
long ap_act_index(const struct cr_model *m, int source, const struct cf_action *a);
void ap_act_decode(const struct cr_model *m, size_t idx, int *source, struct cf_action *a);

struct ap_server;

/* Listens and starts the workers. Errors name what failed (bind, io_uring, a
 * policy that does not fit the model or a second one for a class). */
int ap_server_start(const struct ap_server_config *cfg, const struct cr_model *m,
		    struct ap_server **out, char *err, size_t errlen);
/* Stops: closes the listening sockets, answers every queued request and every
 * connection ERROR shutdown, gives the replies drain_ms to leave, closes, joins
 * the workers. -ETIMEDOUT when a worker has not returned drain_ms + 1 s after the
 * stop: it is stuck, and the server is left as it is (the caller should exit). */
int ap_server_stop(struct ap_server *s);
/* What a stop leaves to report: for DPDK, the port's counters and the mbufs
 * still out of the pool once the port is closed (0 unless one leaked). */
struct ap_stop_report {
	int dpdk;                     /* the rest is set only for the DPDK transport */
	int mbufs_in_use;
	uint64_t rx_frames, tx_frames, tx_dropped, tx_nombuf, tx_too_big, arp_replies;
	uint64_t not_ours;            /* frames for another address, port or protocol */
};
int ap_server_stop_report(struct ap_server *s, struct ap_stop_report *r);
/* Publishes live settings to every worker (each takes them at its next loop
 * turn). policies (NULL: keep those served now): the policies to serve from
 * now on, checked as at start and copied for every worker (borrowed). -EINVAL
 * when max_batch is above the started one (its buffers are sized for that) or
 * a policy does not fit, -ENOMEM. Snapshots and their policy copies are freed
 * at ap_server_stop: a worker may still use the ones before. */
int ap_server_set_live(struct ap_server *s, const struct ap_live *l,
		       struct pol_policy *const *policies, int n_policies, char *err,
		       size_t errlen);
/* Workers stalled now (no loop turn for watchdog_ms), as the watchdog saw them. */
int ap_server_stalled(const struct ap_server *s, int worker);
/* Sums of every worker's counters (racy reads of monotonic counters). */
void ap_server_stats(const struct ap_server *s, struct ap_stats *out);
/* Application app of cfg.slo: answers met and in all, since start and over its
 * objective's window ending at now_ns (the workers' clock: CLOCK_MONOTONIC). */
struct ap_slo_sum {
	uint64_t total, met, window_total, window_met;
};
void ap_server_slo(const struct ap_server *s, int app, uint64_t now_ns, struct ap_slo_sum *out);
const struct ap_server_config *ap_server_config(const struct ap_server *s);
/* The histograms' bucket edges of this server. */
const struct ap_hist_edges *ap_server_hist_edges(const struct ap_server *s);
/* The decided actions: how many slots (ap_act_index), and slot k summed over
 * the workers. */
size_t ap_server_act_slots(const struct ap_server *s);
uint64_t ap_server_action(const struct ap_server *s, size_t k);
const struct cr_model *ap_server_model(const struct ap_server *s);
/* Requests waiting in worker i's scheduler, as the worker stored it at the end
 * of its last loop turn (at least 10 times a second). */
int ap_server_workers(const struct ap_server *s);
uint32_t ap_server_queued(const struct ap_server *s, int worker);
/* A listening TCP socket on host:port (numeric IPv4; SO_REUSEPORT, so every
 * worker of a transport can have its own), with extra socket type flags
 * (SOCK_NONBLOCK); the descriptor or -errno, err saying what failed. */
int ap_listen_socket(const char *host, int port, int type_flags, char *err, size_t errlen);
/* A UDP or TCP socket (type: SOCK_DGRAM, SOCK_STREAM | flags) bound to host:port
 * (numeric IPv4) with SO_REUSEPORT; the descriptor or -errno with a message. */
int ap_bound_socket(const char *host, int port, int type, char *err, size_t errlen);
/* The port a socket is bound to, or -errno. */
int ap_socket_port(int fd);

/* What both io_uring transports share. A ring of entries submission entries
 * (and 16384 completions), with the kernel's hints where it has them. */
struct io_uring;
struct io_uring_buf_ring;
int ap_uring_init(struct io_uring *ring, unsigned entries, char *err, size_t errlen);
/* The ring and its buffer ring br of group bgid (NULL: none) go. */
void ap_uring_exit(struct io_uring *ring, int bgid, struct io_uring_buf_ring *br,
		   size_t br_bytes);
/* Submits what is queued and waits up to wait_ns for a completion (not at all
 * when one is ready, or for wait_ns 0): one system call. */
void ap_uring_submit_wait(struct io_uring *ring, uint64_t wait_ns);
/* A submission entry, submitting what is queued when the ring is full; NULL
 * when it stays full. */
struct io_uring_sqe *ap_sqe_get(struct io_uring *ring);
/* Provided buffers: n (a power of two) of bytes each at mem, registered as
 * group bgid, all given to the kernel. -EOPNOTSUPP when the kernel has no
 * buffer rings (the caller falls back), -ENOMEM. */
int ap_buf_ring_setup(struct io_uring *ring, int bgid, uint8_t *mem, int n, int bytes,
		      struct io_uring_buf_ring **br, size_t *br_bytes);

/* The port bound (useful with port 0) and the receive path in use. */
int ap_server_port(const struct ap_server *s);
const char *ap_server_rx_mode(const struct ap_server *s);
const char *ap_server_transport(const struct ap_server *s);

/* The datagram counters of a UDP server, summed over its workers (each
 * publishes a snapshot once per loop turn); all 0 for TCP. */
struct ap_udp_counts;
void ap_server_udp_stats(const struct ap_server *s, struct ap_udp_counts *out);

#endif
