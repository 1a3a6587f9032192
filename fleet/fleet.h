/* coinfer-fleet, the load generator (docs/fleet.md): runs a fleet file against
 * an appliance, one agent fleet (agent.h) per group, every device paced by its
 * own bandwidth trace, and writes the run JSON (docs/fleet-json.md).
 *
 *   stats.c   the aggregation: percentiles, attainment, timeline, the live
 *             histogram, the trace lookup with offsets, gap files (pure: tested
 *             in tests/fleet/)
 *   run.c     the groups' agent fleets, their threads, shaping, progress, SIGINT
 *   report.c  the run JSON (cJSON), the CSV, the human summary, the verdict
 *   main.c    the command line */
#ifndef COINFER_FLEET_TOOL_H
#define COINFER_FLEET_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coinfer/fleet.h"
#include "coinfer/sim.h"

/* ---- the aggregation (stats.c) ----------------------------------------------------- */

/* One measured request (warm-up excluded), as the aggregation sees it. */
struct fl_sample {
	double t_s;            /* answered, seconds since the fleet started */
	double latency_ms;     /* from its scheduled send (open loop) or its start */
	double bw_mbps;        /* the device's trace rate when it was sent */
	double head_ms, uplink_ms, queue_ms, compute_ms, downlink_ms;
	double lag_ms;         /* its start after its schedule (open loop) */
	uint64_t device;
	int group, app, cls;   /* indices: fleet group, SLO application, class */
	int exit, partition, bits; /* the action (exit 1-based) */
	int met, correct, edge;
	int reason;            /* enum ag_reason */
	int error_code;        /* the edge's ERROR code, 0: none */
};

struct fl_latency {
	size_t n;
	double mean, p50, p90, p99, p999, max;
};

/* Nearest rank: the value of rank ceil(p * n) (1-based) of sorted[0..n); 0 when n is 0. */
double fl_percentile(const double *sorted, size_t n, double p);
/* Sorts v[0..n) and fills out (all 0 when n is 0). */
void fl_latency_of(double *v, size_t n, struct fl_latency *out);
/* within / requests; 1 when there were none (nothing was missed). */
double fl_attainment(uint64_t within, uint64_t requests);

/* One second of one application: requests answered in [t_s, t_s + 1). */
struct fl_bucket {
	int t_s, app;
	uint64_t requests, met;
	double p99_ms;
};
/* The buckets of s[0..n), ordered by second then application; *out malloc'd
 * (NULL when n is 0). 0 or -ENOMEM. */
int fl_timeline(const struct fl_sample *s, size_t n, struct fl_bucket **out, size_t *nout);

/* The live latency histogram the progress line reads while agents add to it
 * (relaxed atomics): log-spaced buckets of FL_HIST_PER_DECADE per decade from
 * FL_HIST_MIN_MS; the quantile is the upper edge of its bucket. */
#define FL_HIST_MIN_MS 0.01
#define FL_HIST_PER_DECADE 40
#define FL_HIST_N (8 * FL_HIST_PER_DECADE + 2)
struct fl_hist {
	uint64_t n[FL_HIST_N];
};
void fl_hist_add(struct fl_hist *h, double ms);
double fl_hist_quantile(const struct fl_hist *h, double q);

/* A device's link: its trace replayed from a seeded offset, so devices on one
 * trace differ. Rates below FL_MIN_MBPS count as that: a trace's zero would
 * stall the emulated link for good. */
#define FL_MIN_MBPS 0.01
struct fl_link {
	const struct sim_trace *tr;
	double offset_s;
};
/* The offset of device `device` (0-based in its group) into a trace of duration_s:
 * uniform in [0, duration_s) from seed and device. */
double fl_trace_offset(uint64_t seed, int device, double duration_s);
double fl_link_mbps(const struct fl_link *l, double t_s);

/* A gap file's text (NUL-terminated; name for messages): one gap in ms a line,
 * finite and > 0, blank lines and '#' comments skipped. *gaps malloc'd, their
 * number in *n (>= 1). 0, or -EINVAL with "NAME:LINE: ..." / -ENOMEM. */
int fl_gaps_parse(const char *text, const char *name, double **gaps, int *n, char *err,
		  size_t errlen);

/* ---- the run (run.c) ----------------------------------------------------------------- */

enum fl_policy { FL_POLICY_EDGE, FL_POLICY_LOCAL, FL_POLICY_FLAGS };

struct fl_opts {
	const char *fleet_path, *model, *data, *key_file, *out, *csv, *root;
	char host[256], udp_host[256]; /* --edge; --edge-udp ("" : --edge's) */
	int port, udp_port;
	double duration_s, warmup_s;
	enum fl_policy policy;
	int threads, json, quiet, max_records;
	int netns;                     /* real shaping: tbf in network namespaces (netns.h) */
	char command[1024]; /* the command line, for the JSON's meta */
};

/* A start more than this after its schedule is late: the agent summary's threshold
 * (AG_LATE_START_MS, private to agent/), applied here to the measured requests only. */
#define FL_LATE_START_MS 1.0

/* What a whole run measured, for the report. */
struct fl_result {
	const struct cfg_fleet *fleet;
	const struct fl_opts *o;
	struct fl_sample *samples;  /* measured requests, in the order answered */
	size_t n_samples;
	uint64_t requests;          /* measured requests started (warm-up excluded) */
	uint64_t late_starts;       /* measured requests started over FL_LATE_START_MS late */
	double max_lag_ms;
	double measured_s;          /* duration - warm-up, or less when stopped */
	int connected;              /* some agent reached the edge */
	int interrupted;            /* SIGINT stopped the run before its duration */
	char started[32];           /* ISO 8601, UTC */
	char cls_names[CFG_FLEET_MAX_GROUPS][CFG_FLEET_NAME_LEN]; /* the classes met */
	int n_cls;
	/* the devices' links, all groups in a row (device d of group g at link_base[g] + d),
	 * into the traces each group loaded (sets[g] empty when it shares an earlier one's) */
	struct fl_link *links;
	int *link_base;
	struct sim_trace_set *sets;
	int n_sets;
};

/* Runs the fleet: 0, or -errno with err (the run could not start). */
int fl_run(const struct cfg_fleet *fleet, const struct fl_opts *o, struct fl_result *res,
	   char *err, size_t errlen);
void fl_result_free(struct fl_result *res);

/* ---- the report (report.c) ------------------------------------------------------------ */

/* git describe of the build (meson's vcs_tag into version.c), "unknown" outside git */
extern const char fl_commit[];

/* The run JSON into res->o->out (when given), the CSV into res->o->csv (when
 * given), and stdout: the summary or (--json) the JSON. The exit status:
 * 0 every objective met, 1 one missed, 3 the edge never reached. */
int fl_report(const struct fl_result *res, char *err, size_t errlen);

#endif
