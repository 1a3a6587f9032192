/* Load generator of coinfer-bench-appliance: N emulated devices (over loopback,
 * or to the address given), each a closed loop keeping `depth` INFER requests
 * outstanding, driven by one or two threads: over TCP with non-blocking
 * sockets and epoll, over UDP as below. Messages are built before
 * the run (no encoding on the load path), latencies go into a fixed log-linear
 * histogram (no allocation per request). */
#ifndef COINFER_BENCH_APPLIANCE_LOAD_H
#define COINFER_BENCH_APPLIANCE_LOAD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coinfer/wire.h"

/* ---- latency histogram: 32 linear sub-buckets per power of two (<= 3.1% error) */
#define AB_HIST_SUB 32
#define AB_HIST_BUCKETS (2 * AB_HIST_SUB + 36 * AB_HIST_SUB)

struct ab_hist {
	uint64_t n, max_ns;
	long double sum_ns;
	uint64_t b[AB_HIST_BUCKETS];
};

void ab_hist_add(struct ab_hist *h, uint64_t ns);
void ab_hist_merge(struct ab_hist *into, const struct ab_hist *h);
/* The value (ns, the bucket's midpoint) below which a fraction q of the samples lie. */
double ab_hist_quantile_ns(const struct ab_hist *h, double q);

/* ---- the INFER messages a run sends ------------------------------------- */

/* msg[f * depth + s]: image f in request slot s (request_id = s + 1, so that the
 * id is unique among a device's outstanding requests). */
struct ab_msgset {
	int n_frames, depth;
	uint8_t **msg;
	size_t *len;
	size_t frame_bytes_mean;
	const uint16_t *label; /* per image, the class the C runtime gives; NULL: unchecked */
};

/* ---- one run --------------------------------------------------------------- */

struct ab_load_config {
	const char *host; /* the server's IPv4 address; NULL: 127.0.0.1 */
	int port;
	int devices, depth, threads;
	double warmup_s, seconds;
	const struct ab_msgset *msgs;
	uint64_t model_checksum;
	const char *model_name;
	pid_t server_pid; /* its utime+stime is read at the window's ends */
};

struct ab_load_result {
	int connected, welcomed;
	double window_s;
	uint64_t results, errors, sent, closed_by_server;
	uint64_t wrong_labels;       /* RESULTs whose class differs from msgs->label */
	uint64_t lost;               /* UDP: requests unanswered for AB_UDP_LOST_NS */
	uint64_t acks;               /* UDP: ACK datagrams received */
	uint64_t errors_by_code[CW_ERR_END];
	char error_msg[CW_ERR_END][96];  /* the first message seen per code */
	struct ab_hist lat;          /* RESULTs completed in the window */
	double batch_inv_sum;        /* sum over RESULTs of 1/batch: batches seen */
	uint64_t batch_sum;          /* sum over RESULTs of batch */
	double server_cpu_s;         /* the server's user+sys over the window */
	double server_sys_s;         /* of which sys: in the kernel */
	double load_cpu_s;           /* this process's user+sys over the window */
	double load_avg_1m;          /* at the window's end */
	char err[256];
};

/* Connects, says HELLO, waits for every WELCOME, then runs warm-up and the
 * timed window. Returns 0, or -1 with res->err set. */
int ab_load_run(const struct ab_load_config *cfg, struct ab_load_result *res);

/* The same over UDP datagrams (appliance-load-udp.c): a HELLO per device from a
 * socket of its own, then each thread's devices share one socket, told apart
 * by session id; one-fragment INFERs (every message must fit CW_DG_DEFAULT_PAYLOAD). */
#define AB_UDP_LOST_NS 1000000000ull
int ab_load_run_udp(const struct ab_load_config *cfg, struct ab_load_result *res);

/* ---- shared by the two generators ------------------------------------------ */

/* One thread's counters of the window. */
struct ab_counts {
	uint64_t results, errors, sent, closed, wrong, lost, acks;
	uint64_t by_code[CW_ERR_END];
	char msg[CW_ERR_END][96];
	struct ab_hist lat;
	double batch_inv_sum;
	uint64_t batch_sum;
};

/* A RESULT or ERROR m that took lat_ns, for a request of image `frame` of ms. */
void ab_count_reply(struct ab_counts *c, const struct cw_msg *m, uint64_t lat_ns,
		    const struct ab_msgset *ms, int frame);
void ab_counts_merge(struct ab_load_result *res, const struct ab_counts *c);
/* Starts nt threads fn(args + k * stride), runs warm-up (*phase 0), the window
 * (1) and stop (2), joins them; the wall time of the window, the server's and
 * this process's CPU over it, and each thread's struct ab_counts (at counts_off
 * in its argument) into res. 0, or -1 with res->err set. */
int ab_load_threads(const struct ab_load_config *cfg, void *(*fn)(void *), void *args,
		    size_t stride, size_t counts_off, int nt, _Atomic int *phase,
		    struct ab_load_result *res);

/* user and sys seconds of a process from /proc/PID/stat (all its threads): 0,
 * or -1 on error. */
int ab_proc_cpu_split(pid_t pid, double *user_s, double *sys_s);
/* The 1-minute load average; -1 when unknown. */
double ab_loadavg_1m(void);

#endif
