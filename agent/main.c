/* coinfer-agent: one device agent, or a fleet of them, against the edge appliance.
 * Prints a JSON line per answered request and a JSON summary (docs/agent.md). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/agent.h"
#include "coinfer/agent-setup.h"
#include "coinfer/dataset.h"
#include "coinfer/errmsg.h"
#include "coinfer/model.h"
#include "coinfer/policy.h"
#if AG_HAVE_COST
#include "coinfer/cost.h"
#endif

#define PROG "coinfer-agent"

/* ---- options ------------------------------------------------------------------------ */

/* The command line: the agent's configuration, whose values on entry are
 * ag_config_defaults', and what main does with the model and the decisions. */
struct agent_opts {
	struct ag_config cfg;
	char host[256];            /* --edge's host; cfg.host points here once given */
	const char *model, *data, *policy, *class_name;
	const char *root, *device_class, *edge_class, *codec_table; /* --auto, --device-class */
	int exit1;                 /* --exit, 1-based */
	int device_only, use_auto, quiet, summary;
	double bw_prior_mbps;
};

static void opts_defaults(struct agent_opts *o)
{
	memset(o, 0, sizeof(*o));
	ag_config_defaults(&o->cfg);
	o->exit1 = o->cfg.action.exit + 1;
	o->root = cli_default_root();
	o->edge_class = "edge-x86";
	o->summary = 1;
	o->bw_prior_mbps = 10;
}

static int parse_edge(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		      size_t errlen)
{
	struct agent_opts *a = opts;
	int ret = cli_arg_hostport(o->name, arg, a->host, sizeof(a->host), &a->cfg.port, err,
				   errlen);
	if (!ret)
		a->cfg.host = a->host;
	return ret;
}

static void show_edge(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	const struct agent_opts *a = opts;
	snprintf(buf, len, "%s:%d", a->cfg.host, a->cfg.port);
}

static int parse_codec(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		       size_t errlen)
{
	char names[128] = "";
	size_t used = 0;
	int k = ag_codec_parse(arg);
	if (k >= 0) {
		((struct agent_opts *)opts)->cfg.codec = (enum cc_codec)k;
		return 0;
	}
	for (int c = 0; c < CC_CODEC_COUNT && used < sizeof(names); c++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
					 !c ? "" : c == CC_CODEC_COUNT - 1 ? " or " : ", ",
					 cc_codec_name((enum cc_codec)c));
	return cf_fail(-EINVAL, err, errlen, "--%s is %s, got '%s'", o->name, names, arg);
}

static int parse_transport(void *opts, const struct cli_opt *o, const char *arg, int use,
			   char *err, size_t errlen)
{
	struct agent_opts *a = opts;
	if (!strcmp(arg, "tcp") || !strcmp(arg, "udp")) {
		a->cfg.transport = arg[0] == 'u' ? AG_TRANSPORT_UDP : AG_TRANSPORT_TCP;
		return 0;
	}
	return cf_fail(-EINVAL, err, errlen, "--%s is tcp or udp, got '%s'", o->name, arg);
}

static void show_transport(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	const struct agent_opts *a = opts;
	snprintf(buf, len, "%s", ag_transport_name(a->cfg.transport));
}

/* closed[:THINK_MS], fixed (every --interval-ms) or poisson:RATE_HZ; a file of
 * gaps is coinfer-fleet's (its fleet file). */
static int parse_arrival(void *opts, const struct cli_opt *o, const char *arg, int use,
			 char *err, size_t errlen)
{
	struct ag_arrival_config *ac = &((struct agent_opts *)opts)->cfg.arrival;
	const char *colon = strchr(arg, ':');
	size_t kl = colon ? (size_t)(colon - arg) : strlen(arg);
	if (kl == 6 && !strncmp(arg, "closed", kl)) {
		ac->kind = AG_ARRIVAL_CLOSED;
		ac->think_ms = 0;
		return colon ? cli_arg_double(o->name, colon + 1, 0, 3.6e6, &ac->think_ms, err,
					      errlen) : 0;
	}
	if (kl == 5 && !strncmp(arg, "fixed", kl) && !colon) {
		ac->kind = AG_ARRIVAL_FIXED;
		return 0;
	}
	if (kl == 7 && !strncmp(arg, "poisson", kl) && colon) {
		ac->kind = AG_ARRIVAL_POISSON;
		return cli_arg_double(o->name, colon + 1, 1e-6, 1e5, &ac->rate_hz, err, errlen);
	}
	return cf_fail(-EINVAL, err, errlen,
		       "--%s is closed[:THINK_MS], fixed or poisson:RATE_HZ, got '%s'", o->name,
		       arg);
}

static void show_arrival(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	const struct ag_arrival_config *ac = &((const struct agent_opts *)opts)->cfg.arrival;
	snprintf(buf, len, "%s", ag_arrival_name(ac->kind));
}

static int parse_faults(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
			size_t errlen)
{
	return cli_arg_faults(o->name, arg, &((struct agent_opts *)opts)->cfg.faults, err, errlen);
}

static void show_codec(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s", cc_codec_name(((const struct agent_opts *)opts)->cfg.codec));
}

/* --backoff-ms and --breaker-backoff-ms: BASE,CAP in ms, 0 < BASE <= CAP <= 1 h, into
 * the option's field and the one after it, both uint64_t microseconds. */
_Static_assert(offsetof(struct ag_config, backoff_cap_us) ==
		       offsetof(struct ag_config, backoff_base_us) + sizeof(uint64_t),
	       "--backoff-ms: cap after base");
_Static_assert(offsetof(struct ag_breaker_config, cap_us) ==
		       offsetof(struct ag_breaker_config, base_us) + sizeof(uint64_t),
	       "--breaker-backoff-ms: cap after base");

static int parse_backoff(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
			 size_t errlen)
{
	char buf[64], *comma;
	double base, cap;
	uint64_t us[2];
	snprintf(buf, sizeof(buf), "%s", arg);
	if (strlen(arg) >= sizeof(buf) || !(comma = strchr(buf, ',')))
		goto bad;
	*comma = 0;
	if (cli_arg_double(o->name, buf, 0, 3.6e6, &base, err, errlen) || !(base > 0) ||
	    cli_arg_double(o->name, comma + 1, base, 3.6e6, &cap, err, errlen))
		goto bad;
	us[0] = (uint64_t)(base * 1000);
	us[1] = (uint64_t)(cap * 1000);
	memcpy((char *)opts + o->off, us, sizeof(us));
	return 0;
bad:
	return cf_fail(-EINVAL, err, errlen,
		       "--%s takes BASE,CAP in ms, 0 < BASE <= CAP <= 3.6e6, got '%s'", o->name, arg);
}

static void show_backoff(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	uint64_t us[2];
	memcpy(us, (const char *)opts + o->off, sizeof(us));
	snprintf(buf, len, "%g,%g", (double)us[0] / 1000, (double)us[1] / 1000);
}

/* --breaker-timeout-ms: ms in [1, 1 h] into uint64_t microseconds. */
static int parse_ms_us(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		       size_t errlen)
{
	double ms;
	int ret = cli_arg_double(o->name, arg, 1, 3.6e6, &ms, err, errlen);
	if (!ret)
		*(uint64_t *)((char *)opts + o->off) = (uint64_t)(ms * 1000);
	return ret;
}

static void show_ms_us(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	snprintf(buf, len, "%g", (double)*(const uint64_t *)((const char *)opts + o->off) / 1000);
}

static void show_class(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	snprintf(buf, len, "the --device-class, else %s",
		 ((const struct agent_opts *)opts)->cfg.device_class);
}

#define F(f) CLI_FIELD(struct agent_opts, f)
#define INT(n, f, l, h, a, text)                                                            \
	{.name = n, .kind = CLI_INT, F(f), .lo = l, .hi = h, .arg = a, .help = text}
#define NUM(n, f, l, h, a, text)                                                            \
	{.name = n, .kind = CLI_DOUBLE, F(f), .lo = l, .hi = h, .arg = a, .help = text}
#define FLAG(n, f, text) {.name = n, .kind = CLI_FLAG, F(f), .help = text}
#define STR(n, f, a, text) {.name = n, .kind = CLI_STRING, F(f), .arg = a, .help = text}
#define TEXT(text) {.kind = CLI_TEXT, .help = text}
static const struct cli_opt opts[] = {
	{.name = "edge", .kind = CLI_CUSTOM, .parse = parse_edge, .show = show_edge,
	 .arg = "HOST:PORT", .help = "appliance address"},
	CLI_OPT_MODEL(struct agent_opts, model),
	CLI_OPT_DATA(struct agent_opts, data),
	INT("requests", cfg.requests, 0, 1e9, "N", "requests per agent"),
	{.name = "first-image", .kind = CLI_INT, F(cfg.first_image), .lo = 0, .hi = 1e9, .arg = "I",
	 .help = "agent k, request j uses test image (I + k*N + j) mod 10000"},
	NUM("deadline-ms", cfg.deadline_ms, 0.001, 3.6e6, "D", "latency budget of each request"),
	NUM("interval-ms", cfg.interval_ms, 0, 3.6e6, "T",
	    "start a request every T ms (open loop); 0: when one is answered"),
	{.name = "arrival", .kind = CLI_CUSTOM, .parse = parse_arrival, .show = show_arrival,
	 .arg = "KIND", .help = "closed[:THINK_MS], fixed (every --interval-ms) or poisson:RATE_HZ "
	 "(open loop, per agent); open-loop latency counts from the schedule"},
	NUM("duration-s", cfg.duration_s, 0, 1e7, "S",
	    "start requests for S s (then --requests caps each agent, 0: no cap)"),
	NUM("warmup-s", cfg.warmup_s, 0, 1e7, "S",
	    "requests scheduled in the first S s are marked warmup"),
	INT("inflight", cfg.inflight, 1, 1024, "M", "outstanding requests per agent"),
	TEXT("action (exits 1-based; partition p in 0..N_e, N_e = on the device only):"),
	INT("exit", exit1, 1, 16, "E", ""),
	INT("partition", cfg.action.partition, 0, 1024, "P", ""),
	INT("bits", cfg.action.bits, 0, 16, "B",
	    "2..16 for the quantized codecs, ignored for raw32/raw16"),
	{.name = "codec", .kind = CLI_CUSTOM, .parse = parse_codec, .show = show_codec,
	 .arg = "NAME", .help = "huffman, huffman-zrun, pred-huffman, packed, raw32, raw16"},
	FLAG("per-channel", cfg.per_channel, "min-max per channel instead of per tensor"),
	FLAG("device-only", device_only, "p = N_e: no network at all"),
	STR("policy", policy, "FILE",
	    "per request, the action of this trained policy (coinfer-policy\n"
	    "train) for the agent's state; while the edge is unreachable,\n"
	    "with the link down: the best exit on the device"),
	FLAG("edge-decides", cfg.edge_decides,
	     "ask the edge's policy: take RESULT's next action (<= 1 s old),\n"
	     "else send DECIDE and wait min(20% of the deadline, 50 ms) for\n"
	     "the DECISION; without one, decide as otherwise (--policy,\n"
	     "--auto or the flags)"),
	NUM("bw-prior-mbps", bw_prior_mbps, 1e-6, 1e6, "X",
	    "bandwidth assumed before the first estimate"),
#if AG_HAVE_COST
	FLAG("auto", use_auto,
	     "per request, Edgent's search (Li et al. 2018, Alg. 1) over the cost\n"
	     "model of --device-class and --edge-class (docs/cost-model.md)"),
	STR("edge-class", edge_class, "NAME", "edge class for --auto"),
	{.name = "codec-table", .kind = CLI_STRING, F(codec_table), .arg = "PATH",
	 .help = "codec table for --auto", .dflt = "ROOT/models/<model>.codec.json"},
	CLI_OPT_ROOT(struct agent_opts, root),
#endif
	TEXT("device emulation (time dilation):"),
	NUM("slowdown", cfg.slowdown, 1, 1e6, "K", "stretch measured device compute by K >= 1"),
#if AG_HAVE_COST
	STR("device-class", device_class, "NAME|FILE",
	    "a class of ROOT/conf/devices, or a profile (JSON) or class\n"
	    "(YAML) file: device compute takes at least the profile's\n"
	    "per-layer time"),
#endif
	{.name = "encode-slowdown", .kind = CLI_DOUBLE, F(cfg.encode_slowdown), .lo = 1, .hi = 1e6,
	 .arg = "K", .help = "stretch encoding by K (default: the class's codec speed, else\n"
			    "--slowdown, or the profile's ratio to the measured times)",
	 .dflt = ""},
	{.name = "class", .kind = CLI_STRING, F(class_name), .arg = "NAME",
	 .help = "device class sent in HELLO", .show = show_class},
	TEXT("fleet:"),
	INT("fleet", cfg.agents, 1, 100000, "N", "run N independent agents"),
	INT("threads", cfg.threads, 1, 1024, "T", "threads, each one poll loop over its agents"),
	NUM("stagger-ms", cfg.stagger_ms, 0, 3.6e6, "S", "spread the agents' first requests over S ms"),
	INT("device-id", cfg.device_id_base, 0, 1e18, "ID", "agent k is device ID + k"),
	STR("app", cfg.app, "NAME", "application name in HELLO"),
	STR("key-file", cfg.key_file, "FILE",
	    "device keys (coinfer-keys; mode 0600): each agent's line by its\n"
	    "device id; HELLO then answers the appliance's CHALLENGE"),
	TEXT("network:"),
	{.name = "transport", .kind = CLI_CUSTOM, .parse = parse_transport, .show = show_transport,
	 .arg = "tcp|udp",
	 .help = "one TCP connection per agent, or one UDP socket speaking the\n"
		 "datagram form (selective repeat under an RTO; docs/agent.md)"},
	INT("udp-tries", cfg.udp_tries, 1, 1000, "N",
	    "UDP: rounds of a request's fragments before it runs on the device"),
	{.name = "faults", .kind = CLI_CUSTOM, .parse = parse_faults, .arg = "SPEC",
	 .help = "UDP: drop=P,dup=P,reorder=P,seed=N on the outgoing datagrams", .dflt = "none"},
	{.name = "backoff-ms", .kind = CLI_CUSTOM, F(cfg.backoff_base_us), .parse = parse_backoff,
	 .show = show_backoff, .arg = "BASE,CAP",
	 .help = "reconnect backoff, doubled per attempt, jittered"},
	INT("breaker-threshold", cfg.breaker.threshold, 0, 1e6, "N",
	    "consecutive reply timeouts that mark the edge down: new requests\n"
	    "then run on the device at once, and the edge is probed; 0: never"),
	{.name = "breaker-backoff-ms", .kind = CLI_CUSTOM, F(cfg.breaker.base_us),
	 .parse = parse_backoff, .show = show_backoff, .arg = "BASE,CAP",
	 .help = "probe schedule while down, doubled per unanswered\n"
		 "probe, jittered"},
	{.name = "breaker-timeout-ms", .kind = CLI_CUSTOM, F(cfg.breaker.timeout_us),
	 .parse = parse_ms_us, .show = show_ms_us, .arg = "T",
	 .help = "a probe unanswered this long failed; every PING unanswered this\n"
		 "long marks the edge down"},
	INT("connect-timeout-ms", cfg.connect_timeout_ms, 1, 3.6e6, "T", "connect + WELCOME"),
	INT("connect-wait-ms", cfg.connect_wait_ms, 0, 3.6e6, "T",
	    "the first request waits this long for a connection"),
	NUM("margin-ms", cfg.margin_ms, 0, 3.6e6, "M",
	    "kept back besides the fallback's own time and timer lateness"),
	INT("ping-ms", cfg.ping_ms, 0, 3.6e6, "T", "PING every T ms, 0 = never"),
	{.name = "ping-pad", .kind = CLI_INT, F(cfg.ping_pad), .lo = 0, .hi = 1 << 20,
	 .arg = "BYTES", .help = "padding of every other PING, the uplink probe"},
	NUM("bw-alpha", cfg.bw.alpha, 1e-6, 1, "A", "EWMA weight of a bandwidth sample"),
	TEXT("output:"),
	FLAG("verify", cfg.verify, "decode each frame sent and run the tail here too (verify_label)"),
	INT("calib-runs", cfg.calib_runs, 1, 1e6, "N", "timed runs per exit at start"),
	INT("seed", cfg.seed, 0, 1e18, "S", "jitter and stagger"),
	FLAG("quiet", quiet, "no per-request lines and no connection log, only the summary"),
	{.name = "no-summary", .kind = CLI_FLAG, F(summary), .invert = 1, .help = "no summary line"},
};
#undef F
#undef INT
#undef NUM
#undef FLAG
#undef STR
#undef TEXT

static const struct cli_prog prog = {
	.name = PROG,
	.head = "usage: coinfer-agent [options]\n"
		"       coinfer-agent profile [options]   (coinfer-agent profile --help)\n"
		"Device agent(s): run the head layers of CIFAR-10 test images, send the encoded\n"
		"tensor to the edge appliance, print each answer as a JSON line and a JSON summary;\n"
		"finish on the device when the edge is slow, unreachable or refuses.\n"
		"`profile` measures this device's per-layer latency table (batch 1) and prints\n"
		"the profile JSON of its device class (docs/cost-model.md).\n"
		"\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct agent_opts)};

#if AG_HAVE_COST
struct auto_ctx {
	struct cost_model *cm;
	double bw_prior_bps;
};

static int auto_decide(void *ctx, const struct ag_state *s, struct cf_action *a)
{
	struct auto_ctx *c = ctx;
	struct cost_state st = {
		.bandwidth_bps = s->bandwidth_bps > 0 ? s->bandwidth_bps : c->bw_prior_bps,
		.rtt_ms = s->rtt_ms,
		.queue_ms = s->queue_ms,
		.batch = 1,
		.load = 1,
		.deadline_ms = s->deadline_ms,
	};
	return cost_search_edgent(c->cm, &st, CF_ACTION_BITS_ALL, a) ? -1 : 0;
}

#endif

/* A device serves one request at a time: its profile needs batch 1 only. */
static int profile_main(int argc, char **argv)
{
	static const int batches[] = {1};
	const struct cli_profile_cmd c = {PROG, "this device's", batches, 1};
	return cli_profile_main(argc, argv, &c);
}

/* ---- the run ------------------------------------------------------------------------ */

/* What main sets up for the fleet, freed by run_free. */
struct run {
	struct cr_model *m;
	struct ds_dataset ds;
	struct ag_policy_ctx pctx;
	struct ag_class_setup dclass;
#if AG_HAVE_COST
	struct auto_ctx actx;
#endif
};

static void run_free(struct run *r)
{
	ag_policy_free(&r->pctx);
	ag_class_free(&r->dclass);
	ds_dataset_free(&r->ds);
	cr_model_free(r->m);
#if AG_HAVE_COST
	free(r->actx.cm);
#endif
}

/* The model and the CIFAR-10 test images: 0, or the exit status (said). */
static int load_model_data(struct agent_opts *o, struct run *r)
{
	char err[512];
	if (cli_model_load(o->model, &r->m, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	if (cli_data_dir(&o->data, err, sizeof(err)) ||
	    ds_cifar10_load(o->data, "test_batch.bin", &r->ds, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	return 0;
}

/* The fixed action of the flags against the model: 0, or 2 (said). */
static int set_action(struct agent_opts *o, const struct cr_model *m)
{
	struct ag_config *cfg = &o->cfg;
	cfg->action.exit = o->exit1 - 1;
	if (o->exit1 > m->n_exits) {
		fprintf(stderr, PROG ": --exit %d: the model has exits 1..%d\n", o->exit1,
			m->n_exits);
		return 2;
	}
	if (o->device_only)
		cfg->action.partition = m->exit_len[cfg->action.exit];
	if (cfg->codec == CC_CODEC_RAW32 || cfg->codec == CC_CODEC_RAW16) {
		cfg->action.bits = 0;
		cfg->per_channel = 0;
	}
	return 0;
}

#if AG_HAVE_COST
/* --device-class: the profile's per-layer times as the emulated device's, and the
 * class's codec speed. 0, or the exit status (said). */
static int set_device_class(struct agent_opts *o, struct run *r)
{
	char err[512];
	if (ag_class_load(o->root, o->device_class, r->m, &r->dclass, err, sizeof(err))) {
		fprintf(stderr, PROG ": --device-class %s: %s\n", o->device_class, err);
		return 2; /* the argument's class or file is wrong, as a bad option */
	}
	ag_class_attach(&r->dclass, &o->cfg);
	return 0;
}

/* --auto: Edgent's search over the cost model of the device and edge classes. */
static int set_auto(struct agent_opts *o, struct run *r)
{
	char err[512];
	const char *dev = o->class_name ? o->class_name : o->device_class;
	if (!dev) {
		fprintf(stderr, PROG ": --auto needs --device-class NAME (or --class NAME) "
				"for the cost model\n");
		return 2;
	}
	/* a bad class file is the caller's mistake (2), a missing codec table not */
	const char *const classes[] = {dev, o->edge_class};
	struct cost_device_class dc;
	for (int i = 0; i < 2; i++)
		if (cost_class_load(o->root, classes[i], &dc, err, sizeof(err))) {
			fprintf(stderr, PROG ": --auto: %s\n", err);
			return 2;
		}
	if (cost_load(r->m, o->root, dev, o->edge_class, o->codec_table, &r->actx.cm, err,
		      sizeof(err))) {
		fprintf(stderr, PROG ": --auto: %s\n", err);
		return 1;
	}
	r->actx.bw_prior_bps = o->bw_prior_mbps * 1e6;
	o->cfg.decide = auto_decide;
	o->cfg.decide_ctx = &r->actx;
	o->cfg.decide_name = "auto";
	return 0;
}
#endif

/* --policy: its actions for the agent's state. 0, or the exit status (said). */
static int set_policy(struct agent_opts *o, struct run *r)
{
	char err[512];
	struct ag_config *cfg = &o->cfg;
	if (ag_policy_load(o->policy, r->m, o->bw_prior_mbps * 1e6, &r->pctx, err, sizeof(err))) {
		fprintf(stderr, PROG ": --policy %s: %s\n", o->policy, err);
		return 1;
	}
	if (strcmp(r->pctx.policy->device_class, cfg->device_class))
		fprintf(stderr, PROG ": warning: --policy %s was trained for device class "
				"%s, the agent announces %s\n",
			o->policy, r->pctx.policy->device_class, cfg->device_class);
	ag_policy_attach(&r->pctx, cfg);
	return 0;
}

/* How each request is decided and what the agent announces: --device-class,
 * --auto, --class, --policy. 0, or the exit status (said). */
static int set_deciding(struct agent_opts *o, struct run *r)
{
	int ret = 0;
#if AG_HAVE_COST
	if (o->device_class && (ret = set_device_class(o, r)))
		return ret;
	if (o->use_auto && (ret = set_auto(o, r)))
		return ret;
#endif
	if (o->class_name)
		o->cfg.device_class = o->class_name;
	o->cfg.out = o->quiet ? NULL : stdout;
	o->cfg.log = o->quiet ? NULL : stderr;
	if (o->policy)
		ret = set_policy(o, r);
	return ret;
}

/* Runs the fleet and prints the summary: the exit status. */
static int run_fleet(const struct agent_opts *o, struct run *r)
{
	char err[512];
	struct ag_fleet *f;
	int ret;
	if (ag_fleet_create(&o->cfg, r->m, &r->ds, &f, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	if (r->pctx.policy && ag_policy_threads(&r->pctx, ag_fleet_threads(f), err, sizeof(err))) {
		fprintf(stderr, PROG ": --policy %s: %s\n", o->policy, err);
		ag_fleet_destroy(f);
		return 1;
	}
	if ((ret = ag_fleet_run(f, err, sizeof(err))))
		fprintf(stderr, PROG ": %s\n", err);
	if (o->summary) {
		struct ag_summary s;
		ag_fleet_summary(f, &s);
		ag_summary_json(&s, stdout);
		if (s.answered != s.requests)
			ret = -1;
	}
	fflush(stdout);
	ag_fleet_destroy(f);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	/* the agent's own options would refuse profile's (--exit means another thing) */
	if (argc > 1 && !strcmp(argv[1], "profile"))
		return profile_main(argc - 1, argv + 1);
	struct agent_opts o;
	struct run r = {0};
	opts_defaults(&o);
	int ret = cli_args(&prog, &o, argc, argv);
	if (ret != CLI_GO)
		return ret;
	if (o.policy && o.use_auto) {
		fprintf(stderr, PROG ": --policy and --auto both decide on the device: choose one\n");
		return 2;
	}
	if (!cw_faults_none(&o.cfg.faults) && o.cfg.transport != AG_TRANSPORT_UDP) {
		fprintf(stderr, PROG ": --faults acts on datagrams: it needs --transport udp\n");
		return 2;
	}
	o.cfg.bw_prior_bps = o.bw_prior_mbps * 1e6;
	if (!(ret = load_model_data(&o, &r)) && !(ret = set_action(&o, r.m)) &&
	    !(ret = set_deciding(&o, &r)))
		ret = run_fleet(&o, &r);
	run_free(&r);
	return ret;
}
