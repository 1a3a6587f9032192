/* coinfer-agent: one device agent, or a fleet of them, against the edge appliance.
 * Prints a JSON line per answered request and a JSON summary (docs/agent.md). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coinfer/cli.h"
#include "coinfer/agent.h"
#include "coinfer/dataset.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/model.h"
#include "coinfer/cost-profile.h"
#include "coinfer/policy.h"
#if AG_HAVE_COST
#include "coinfer/cost.h"
#endif


static void usage(FILE *f)
{
	fprintf(f,
		"usage: coinfer-agent [options]\n"
		"       coinfer-agent profile [options]   (coinfer-agent profile --help)\n"
		"Device agent(s): run the head layers of CIFAR-10 test images, send the encoded\n"
		"tensor to the edge appliance, print each answer as a JSON line and a JSON summary;\n"
		"finish on the device when the edge is slow, unreachable or refuses.\n"
		"`profile` measures this device's per-layer latency table (batch 1) and prints\n"
		"the profile JSON of its device class (docs/cost-model.md).\n"
		"\n"
		"  --edge HOST:PORT        appliance address (127.0.0.1:7878)\n"
		"  --model PATH            model file (default: the bundled models/branchy-alexnet.cfm)\n"
		"  --data DIR              CIFAR-10 binary directory (default: ../shared/data/cifar10 or data/cifar10)\n"
		"  --requests N            requests per agent (20)\n"
		"  --first-image I         agent k, request j uses test image (I + k*N + j) mod 10000 (0)\n"
		"  --deadline-ms D         latency budget of each request (100)\n"
		"  --interval-ms T         start a request every T ms (open loop); 0: when one is answered (0)\n"
		"  --inflight M            outstanding requests per agent (1)\n"
		"action (exits 1-based; partition p in 0..N_e, N_e = on the device only):\n"
		"  --exit E                (3)\n"
		"  --partition P           (8)\n"
		"  --bits B                2..16 for the quantized codecs, ignored for raw32/raw16 (8)\n"
		"  --codec NAME            huffman, huffman-zrun, pred-huffman, packed, raw32, raw16\n"
		"                          (huffman)\n"
		"  --per-channel           min-max per channel instead of per tensor\n"
		"  --device-only           p = N_e: no network at all\n"
		"  --policy FILE           per request, the action of this trained policy (coinfer-policy\n"
		"                          train) for the agent's state; while the edge is unreachable,\n"
		"                          with the link down: the best exit on the device\n"
		"  --edge-decides          ask the edge's policy: take RESULT's next action (<= 1 s old),\n"
		"                          else send DECIDE and wait min(20%% of the deadline, 50 ms) for\n"
		"                          the DECISION; without one, decide as otherwise (--policy,\n"
		"                          --auto or the flags)\n"
		"  --bw-prior-mbps X       bandwidth assumed before the first estimate (10)\n"
#if AG_HAVE_COST
		"  --auto                  per request, Edgent's search (Li et al. 2018, Alg. 1) over the cost\n"
		"                          model of --device-class and --edge-class (policy-cost.h)\n"
		"  --edge-class NAME       edge class for --auto (edge-x86)\n"
		"  --codec-table PATH      codec table for --auto (ROOT/models/<model>.codec.json)\n"
		"  --root DIR              where conf/ and models/ are (the source tree)\n"
#endif
		"device emulation (time dilation):\n"
		"  --slowdown K            stretch measured device compute by K >= 1 (1)\n"
#if AG_HAVE_COST
		"  --device-class NAME|FILE  a class of ROOT/conf/devices, or a profile/class JSON file:\n"
		"                          device compute takes at least the profile's per-layer time\n"
#endif
		"  --encode-slowdown K     stretch encoding by K (default: the class's codec speed, else\n"
		"                          --slowdown, or the profile's ratio to the measured times)\n"
		"  --class NAME            device class sent in HELLO (the --device-class, else host)\n"
		"fleet:\n"
		"  --fleet N               run N independent agents (1)\n"
		"  --threads T             threads, each one poll loop over its agents (1)\n"
		"  --stagger-ms S          spread the agents' first requests over S ms (0)\n"
		"  --device-id ID          agent k is device ID + k (1)\n"
		"  --app NAME              application name in HELLO (default)\n"
		"network:\n"
		"  --backoff-ms BASE,CAP   reconnect backoff, doubled per attempt, jittered (50,2000)\n"
		"  --breaker-threshold N   consecutive reply timeouts that mark the edge down: new requests\n"
		"                          then run on the device at once, and the edge is probed; 0: never (3)\n"
		"  --breaker-backoff-ms BASE,CAP  probe schedule while down, doubled per unanswered\n"
		"                          probe, jittered (50,1000)\n"
		"  --breaker-timeout-ms T  a probe unanswered this long failed; every PING unanswered this\n"
		"                          long marks the edge down (1000)\n"
		"  --connect-timeout-ms T  connect + WELCOME (1000)\n"
		"  --connect-wait-ms T     the first request waits this long for a connection (2000)\n"
		"  --margin-ms M           kept back besides the fallback's own time and timer lateness (2)\n"
		"  --ping-ms T             PING every T ms, 0 = never (500)\n"
		"  --ping-pad BYTES        padding of every other PING, the uplink probe (16384)\n"
		"  --bw-alpha A            EWMA weight of a bandwidth sample (0.25)\n"
		"output:\n"
		"  --verify                decode each frame sent and run the tail here too (verify_label)\n"
		"  --calib-runs N          timed runs per exit at start (5)\n"
		"  --seed S                jitter and stagger (1)\n"
		"  --quiet                 no per-request lines and no connection log, only the summary\n"
		"  --no-summary            no summary line\n"
		"  --help                  this text\n");
}

enum {
	O_EDGE = 256, O_MODEL, O_DATA, O_REQUESTS, O_FIRST, O_DEADLINE, O_INTERVAL, O_INFLIGHT,
	O_EXIT, O_PART, O_BITS, O_CODEC, O_PERCH, O_DEVONLY, O_AUTO, O_EDGE_CLASS, O_CODEC_TABLE,
	O_BW_PRIOR, O_ROOT, O_SLOWDOWN, O_DEVCLASS, O_ENC_SLOWDOWN, O_CLASS, O_FLEET, O_THREADS,
	O_STAGGER, O_DEVID, O_APP, O_BACKOFF, O_CONN_TIMEOUT, O_CONN_WAIT, O_MARGIN, O_PING,
	O_PINGPAD, O_BWALPHA, O_VERIFY, O_CALIB, O_SEED, O_QUIET, O_NOSUMMARY, O_HELP, O_POLICY,
	O_EDGE_DECIDES, O_BRK_THRESHOLD, O_BRK_BACKOFF, O_BRK_TIMEOUT
};

static int num_arg(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "coinfer-agent: --%s %s: expected a number in [%g, %g]\n", opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* BASE,CAP in ms, 0 < BASE <= CAP <= 1 h, into microseconds. */
static int backoff_arg(const char *opt, const char *s, uint64_t *base_us, uint64_t *cap_us)
{
	char *end;
	double base = strtod(s, &end), cap;
	if (*end != ',' || !(base > 0) || base > 3.6e6) {
		fprintf(stderr, "coinfer-agent: --%s %s: expected BASE,CAP (ms, 0 < BASE <= CAP)\n", opt,
			s);
		return -1;
	}
	if (num_arg(opt, end + 1, base, 3.6e6, &cap))
		return -1;
	*base_us = (uint64_t)(base * 1000);
	*cap_us = (uint64_t)(cap * 1000);
	return 0;
}

/* --policy: the actor, one copy per agent thread (deciding uses the policy's
 * scratch). */
struct policy_ctx {
	struct pol_policy **p;
	int n;
	double bw_prior_bps;
};

static int policy_decide(void *ctx, const struct ag_state *s, struct cf_action *a)
{
	struct policy_ctx *c = ctx;
	double ewma = s->bandwidth_bps, last = s->bw_last_bps > 0 ? s->bw_last_bps : ewma;
	if (s->thread < 0 || s->thread >= c->n)
		return -EINVAL;
	if (!s->connected)
		last = 0; /* link down: the policy's mask leaves the on-device actions */
	else if (!(ewma > 0))
		ewma = last = c->bw_prior_bps;
	struct pol_obs_in in = {.bw_ewma_mbps = ewma / 1e6, .bw_last_mbps = last / 1e6,
				.deadline_ms = s->deadline_ms, .load = 1, .queue_ms = s->queue_ms};
	return pol_policy_decide(c->p[s->thread], &in, 0, a, NULL);
}

/* Loads the policy of --policy and checks it against the model. */
static int policy_load(const char *path, const struct cr_model *m, struct pol_policy **out,
		       char *err, size_t errlen)
{
	struct pol_policy *p;
	int ret = pol_load(path, &p, err, errlen);
	if (!ret && (ret = pol_policy_check_model(p, m, err, errlen)))
		pol_policy_free(p);
	*out = ret ? NULL : p;
	return ret;
}

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

/* The class's codec speed (docs/cost-model.md): us_per_frame + ns_per_elem x
 * elements, at the class's nearest bit width; raw codecs have no model. */
static double class_encode_ms(void *ctx, enum cc_codec codec, int bits, size_t elems)
{
	const struct cost_device_class *dc = ctx;
	if (codec == CC_CODEC_RAW32 || codec == CC_CODEC_RAW16)
		return 0;
	int b = bits <= 4 ? 0 : bits <= 8 ? 1 : bits <= 12 ? 2 : 3;
	return (dc->codec.enc_us_per_frame[b] + dc->codec.enc_ns_per_elem[b] * 1e-3 * (double)elems) /
	       1000.0;
}

#define PROFILE_MAX_BYTES (64u << 20) /* what cost/json.c reads of a profile or class */

/* A class name of ROOT/conf/devices, or a JSON file holding a profile or a class.
 * *dcp gets the class (NULL for a bare profile). */
static int load_profile(const char *root, const char *arg, const struct cr_model *m,
			struct cost_profile *prof, struct cost_device_class **dcp, char *name,
			size_t namelen, char *err, size_t errlen)
{
	struct stat st;
	struct cost_device_class *dc = malloc(sizeof(*dc));
	int r, is_class = 1;
	*dcp = NULL;
	if (!dc)
		return -ENOMEM;
	if (!stat(arg, &st) && S_ISREG(st.st_mode)) {
		char *text;
		size_t len;
		if ((r = cf_read_text(arg, PROFILE_MAX_BYTES, &text, &len, err, errlen))) {
			free(dc);
			return r;
		}
		char perr[200];
		r = cost_profile_parse(text, len, arg, m, prof, perr, sizeof(perr));
		is_class = r != 0;
		if (r) { /* not a profile: a class? */
			char cerr[200];
			int rc = cost_class_parse(text, len, arg, dc, cerr, sizeof(cerr));
			if (!rc)
				r = cost_class_profile(root, dc, m, prof, err, errlen);
			else
				r = cf_fail(r, err, errlen,
					    "%s is neither a profile (%s) nor a device class (%s)",
					    arg, perr, cerr);
		}
		free(text);
	} else {
		r = cost_class_load(root, arg, dc, err, errlen);
		if (!r)
			r = cost_class_profile(root, dc, m, prof, err, errlen);
	}
	if (!r)
		snprintf(name, namelen, "%s", prof->device_class);
	if (!r && is_class)
		*dcp = dc;
	else
		free(dc);
	return r;
}
#endif

/* A device serves one request at a time: its profile needs batch 1 only. */
static int profile_main(int argc, char **argv)
{
	static const int batches[] = {1};
	const struct cli_profile_cmd c = {"coinfer-agent", "this device's", batches, 1};
	return cli_profile_main(argc, argv, &c);
}

int main(int argc, char **argv)
{
	/* the agent's own options would refuse profile's (--exit means another thing) */
	if (argc > 1 && !strcmp(argv[1], "profile"))
		return profile_main(argc - 1, argv + 1);
	static const struct option opts[] = {
		{"edge", required_argument, 0, O_EDGE}, {"model", required_argument, 0, O_MODEL},
		{"data", required_argument, 0, O_DATA}, {"requests", required_argument, 0, O_REQUESTS},
		{"first-image", required_argument, 0, O_FIRST},
		{"deadline-ms", required_argument, 0, O_DEADLINE},
		{"interval-ms", required_argument, 0, O_INTERVAL},
		{"inflight", required_argument, 0, O_INFLIGHT}, {"exit", required_argument, 0, O_EXIT},
		{"partition", required_argument, 0, O_PART}, {"bits", required_argument, 0, O_BITS},
		{"codec", required_argument, 0, O_CODEC}, {"per-channel", no_argument, 0, O_PERCH},
		{"device-only", no_argument, 0, O_DEVONLY},
		{"policy", required_argument, 0, O_POLICY},
		{"edge-decides", no_argument, 0, O_EDGE_DECIDES},
		{"bw-prior-mbps", required_argument, 0, O_BW_PRIOR},
#if AG_HAVE_COST
		{"auto", no_argument, 0, O_AUTO}, {"edge-class", required_argument, 0, O_EDGE_CLASS},
		{"codec-table", required_argument, 0, O_CODEC_TABLE},
		{"root", required_argument, 0, O_ROOT},
		{"device-class", required_argument, 0, O_DEVCLASS},
#endif
		{"slowdown", required_argument, 0, O_SLOWDOWN},
		{"encode-slowdown", required_argument, 0, O_ENC_SLOWDOWN},
		{"class", required_argument, 0, O_CLASS}, {"fleet", required_argument, 0, O_FLEET},
		{"threads", required_argument, 0, O_THREADS},
		{"stagger-ms", required_argument, 0, O_STAGGER},
		{"device-id", required_argument, 0, O_DEVID}, {"app", required_argument, 0, O_APP},
		{"backoff-ms", required_argument, 0, O_BACKOFF},
		{"breaker-threshold", required_argument, 0, O_BRK_THRESHOLD},
		{"breaker-backoff-ms", required_argument, 0, O_BRK_BACKOFF},
		{"breaker-timeout-ms", required_argument, 0, O_BRK_TIMEOUT},
		{"connect-timeout-ms", required_argument, 0, O_CONN_TIMEOUT},
		{"connect-wait-ms", required_argument, 0, O_CONN_WAIT},
		{"margin-ms", required_argument, 0, O_MARGIN}, {"ping-ms", required_argument, 0, O_PING},
		{"ping-pad", required_argument, 0, O_PINGPAD},
		{"bw-alpha", required_argument, 0, O_BWALPHA}, {"verify", no_argument, 0, O_VERIFY},
		{"calib-runs", required_argument, 0, O_CALIB}, {"seed", required_argument, 0, O_SEED},
		{"quiet", no_argument, 0, O_QUIET}, {"no-summary", no_argument, 0, O_NOSUMMARY},
		{"help", no_argument, 0, O_HELP}, {0, 0, 0, 0}};
	struct ag_config cfg;
	ag_config_defaults(&cfg);
	const char *model_path = NULL, *data_dir = NULL, *class_name = NULL;
	int exit1 = 3, device_only = 0, quiet = 0, summary = 1, use_auto = 0;
	static char host[256];
	const char *root = cli_default_root();
	const char *devclass = NULL, *edge_class = "edge-x86", *codec_table = NULL;
	const char *policy_path = NULL;
	double bw_prior_mbps = 10;
	(void)devclass;
	(void)edge_class;
	(void)codec_table;
	(void)root;
	int c;
	double v;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *name = optind > 0 && optind <= argc ? argv[optind - 1] + 2 : "?";
		(void)name;
		switch (c) {
		case O_EDGE: {
			const char *colon = strrchr(optarg, ':');
			if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof(host)) {
				fprintf(stderr, "coinfer-agent: --edge %s: expected HOST:PORT\n", optarg);
				return 2;
			}
			memcpy(host, optarg, (size_t)(colon - optarg));
			host[colon - optarg] = 0;
			if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [v6]:port */
				memmove(host, host + 1, strlen(host));
				host[strlen(host) - 1] = 0;
			}
			if (num_arg("edge", colon + 1, 1, 65535, &v))
				return 2;
			cfg.host = host;
			cfg.port = (int)v;
			break;
		}
		case O_MODEL: model_path = optarg; break;
		case O_DATA: data_dir = optarg; break;
		case O_REQUESTS:
			if (num_arg("requests", optarg, 0, 1e9, &v)) return 2;
			cfg.requests = (int)v;
			break;
		case O_FIRST:
			if (num_arg("first-image", optarg, 0, 1e9, &v)) return 2;
			cfg.first_image = (int)v;
			break;
		case O_DEADLINE:
			if (num_arg("deadline-ms", optarg, 0.001, 3.6e6, &v)) return 2;
			cfg.deadline_ms = v;
			break;
		case O_INTERVAL:
			if (num_arg("interval-ms", optarg, 0, 3.6e6, &v)) return 2;
			cfg.interval_ms = v;
			break;
		case O_INFLIGHT:
			if (num_arg("inflight", optarg, 1, 1024, &v)) return 2;
			cfg.inflight = (int)v;
			break;
		case O_EXIT:
			if (num_arg("exit", optarg, 1, 16, &v)) return 2;
			exit1 = (int)v;
			break;
		case O_PART:
			if (num_arg("partition", optarg, 0, 1024, &v)) return 2;
			cfg.action.partition = (int)v;
			break;
		case O_BITS:
			if (num_arg("bits", optarg, 0, 16, &v)) return 2;
			cfg.action.bits = (int)v;
			break;
		case O_CODEC: {
			int k = ag_codec_parse(optarg);
			if (k < 0) {
				fprintf(stderr, "coinfer-agent: --codec %s: expected huffman, huffman-zrun, "
						"pred-huffman, packed, raw32 or raw16\n", optarg);
				return 2;
			}
			cfg.codec = (enum cc_codec)k;
			break;
		}
		case O_PERCH: cfg.per_channel = 1; break;
		case O_DEVONLY: device_only = 1; break;
		case O_POLICY: policy_path = optarg; break;
		case O_EDGE_DECIDES: cfg.edge_decides = 1; break;
		case O_AUTO: use_auto = 1; break;
		case O_EDGE_CLASS: edge_class = optarg; break;
		case O_CODEC_TABLE: codec_table = optarg; break;
		case O_BW_PRIOR:
			if (num_arg("bw-prior-mbps", optarg, 1e-6, 1e6, &v)) return 2;
			bw_prior_mbps = v;
			break;
		case O_ROOT: root = optarg; break;
		case O_DEVCLASS: devclass = optarg; break;
		case O_SLOWDOWN:
			if (num_arg("slowdown", optarg, 1, 1e6, &v)) return 2;
			cfg.slowdown = v;
			break;
		case O_ENC_SLOWDOWN:
			if (num_arg("encode-slowdown", optarg, 1, 1e6, &v)) return 2;
			cfg.encode_slowdown = v;
			break;
		case O_CLASS: class_name = optarg; break;
		case O_FLEET:
			if (num_arg("fleet", optarg, 1, 100000, &v)) return 2;
			cfg.agents = (int)v;
			break;
		case O_THREADS:
			if (num_arg("threads", optarg, 1, 1024, &v)) return 2;
			cfg.threads = (int)v;
			break;
		case O_STAGGER:
			if (num_arg("stagger-ms", optarg, 0, 3.6e6, &v)) return 2;
			cfg.stagger_ms = v;
			break;
		case O_DEVID:
			if (num_arg("device-id", optarg, 0, 1e18, &v)) return 2;
			cfg.device_id_base = (uint64_t)v;
			break;
		case O_APP: cfg.app = optarg; break;
		case O_BACKOFF:
			if (backoff_arg("backoff-ms", optarg, &cfg.backoff_base_us, &cfg.backoff_cap_us))
				return 2;
			break;
		case O_BRK_THRESHOLD:
			if (num_arg("breaker-threshold", optarg, 0, 1e6, &v)) return 2;
			cfg.breaker.threshold = (int)v;
			break;
		case O_BRK_BACKOFF:
			if (backoff_arg("breaker-backoff-ms", optarg, &cfg.breaker.base_us,
					&cfg.breaker.cap_us))
				return 2;
			break;
		case O_BRK_TIMEOUT:
			if (num_arg("breaker-timeout-ms", optarg, 1, 3.6e6, &v)) return 2;
			cfg.breaker.timeout_us = (uint64_t)(v * 1000);
			break;
		case O_CONN_TIMEOUT:
			if (num_arg("connect-timeout-ms", optarg, 1, 3.6e6, &v)) return 2;
			cfg.connect_timeout_ms = (int)v;
			break;
		case O_CONN_WAIT:
			if (num_arg("connect-wait-ms", optarg, 0, 3.6e6, &v)) return 2;
			cfg.connect_wait_ms = (int)v;
			break;
		case O_MARGIN:
			if (num_arg("margin-ms", optarg, 0, 3.6e6, &v)) return 2;
			cfg.margin_ms = v;
			break;
		case O_PING:
			if (num_arg("ping-ms", optarg, 0, 3.6e6, &v)) return 2;
			cfg.ping_ms = (int)v;
			break;
		case O_PINGPAD:
			if (num_arg("ping-pad", optarg, 0, 1 << 20, &v)) return 2;
			cfg.ping_pad = (uint32_t)v;
			break;
		case O_BWALPHA:
			if (num_arg("bw-alpha", optarg, 1e-6, 1, &v)) return 2;
			cfg.bw.alpha = v;
			break;
		case O_VERIFY: cfg.verify = 1; break;
		case O_CALIB:
			if (num_arg("calib-runs", optarg, 1, 1e6, &v)) return 2;
			cfg.calib_runs = (int)v;
			break;
		case O_SEED:
			if (num_arg("seed", optarg, 0, 1e18, &v)) return 2;
			cfg.seed = (uint64_t)v;
			break;
		case O_QUIET: quiet = 1; break;
		case O_NOSUMMARY: summary = 0; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "coinfer-agent: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (policy_path && use_auto) {
		fprintf(stderr, "coinfer-agent: --policy and --auto both decide on the device: "
				"choose one\n");
		return 2;
	}
	cfg.bw_prior_bps = bw_prior_mbps * 1e6;

	char err[512];
	if (!model_path && !(model_path = cli_default_model_path())) {
		fprintf(stderr, "coinfer-agent: no model: pass --model or set COINFER_MODEL\n");
		return 1;
	}
	struct cr_model *m;
	if (cr_model_load(model_path, &m, err, sizeof(err))) {
		fprintf(stderr, "coinfer-agent: %s: %s\n", model_path, err);
		return 1;
	}
	if (!data_dir && !(data_dir = cli_cifar10_default_dir())) {
		fprintf(stderr, "coinfer-agent: no CIFAR-10: pass --data, set COINFER_CIFAR10, or run "
				"scripts/fetch-cifar10.sh\n");
		return 1;
	}
	struct ds_dataset ds;
	if (ds_cifar10_load(data_dir, "test_batch.bin", &ds, err, sizeof(err))) {
		fprintf(stderr, "coinfer-agent: %s\n", err);
		return 1;
	}

	cfg.action.exit = exit1 - 1;
	if (exit1 > m->n_exits) {
		fprintf(stderr, "coinfer-agent: --exit %d: the model has exits 1..%d\n", exit1, m->n_exits);
		return 2;
	}
	if (device_only)
		cfg.action.partition = m->exit_len[cfg.action.exit];
	if (cfg.codec == CC_CODEC_RAW32 || cfg.codec == CC_CODEC_RAW16) {
		cfg.action.bits = 0;
		cfg.per_channel = 0;
	}
	static char class_buf[64];
#if AG_HAVE_COST
	struct ag_times *prof_times = NULL;
	struct cost_profile *prof = NULL;
	struct cost_device_class *dclass = NULL;
	struct auto_ctx actx = {0};
	if (devclass) {
		prof = malloc(sizeof(*prof));
		if (!prof || load_profile(root, devclass, m, prof, &dclass, class_buf, sizeof(class_buf),
					  err, sizeof(err))) {
			fprintf(stderr, "coinfer-agent: --device-class %s: %s\n", devclass,
				prof ? err : "out of memory");
			return 1;
		}
		prof_times = calloc(1, sizeof(*prof_times));
		if (!prof_times || ag_times_init(prof_times, m)) {
			fprintf(stderr, "coinfer-agent: the model exceeds the agent's limits\n");
			return 1;
		}
		for (int e = 0; e < m->n_exits; e++)
			for (int p = 0; p < m->exit_len[e]; p++)
				prof_times->ms[e][p] =
					cost_profile_layer_ms(prof, &prof->exits[e].layers[p], 1);
		cfg.profile = prof_times;
		cfg.device_class = class_buf;
		if (dclass) {
			cfg.encode_model = class_encode_ms;
			cfg.encode_ctx = dclass;
		}
	}
	if (use_auto) {
		const char *dev = class_name ? class_name : devclass;
		if (!dev) {
			fprintf(stderr, "coinfer-agent: --auto needs --device-class NAME (or --class NAME) "
					"for the cost model\n");
			return 2;
		}
		if (cost_load(m, root, dev, edge_class, codec_table, &actx.cm, err, sizeof(err))) {
			fprintf(stderr, "coinfer-agent: --auto: %s\n", err);
			return 1;
		}
		actx.bw_prior_bps = bw_prior_mbps * 1e6;
		cfg.decide = auto_decide;
		cfg.decide_ctx = &actx;
	}
#else
	(void)use_auto;
	(void)class_buf;
#endif
	if (class_name)
		cfg.device_class = class_name;
	cfg.out = quiet ? NULL : stdout;
	cfg.log = quiet ? NULL : stderr;
	if (use_auto)
		cfg.decide_name = "auto";

	struct pol_policy *policy = NULL;
	struct policy_ctx pctx = {.bw_prior_bps = bw_prior_mbps * 1e6};
	if (policy_path) {
		if (policy_load(policy_path, m, &policy, err, sizeof(err))) {
			fprintf(stderr, "coinfer-agent: --policy %s: %s\n", policy_path, err);
			return 1;
		}
		if (strcmp(policy->device_class, cfg.device_class))
			fprintf(stderr, "coinfer-agent: warning: --policy %s was trained for device class "
					"%s, the agent announces %s\n",
				policy_path, policy->device_class, cfg.device_class);
		cfg.decide = policy_decide;
		cfg.decide_ctx = &pctx;
		cfg.decide_name = "policy";
	}

	struct ag_fleet *f;
	if (ag_fleet_create(&cfg, m, &ds, &f, err, sizeof(err))) {
		fprintf(stderr, "coinfer-agent: %s\n", err);
		return 2;
	}
	if (policy) {
		pctx.n = ag_fleet_threads(f);
		pctx.p = calloc((size_t)pctx.n, sizeof(*pctx.p));
		for (int t = 0; pctx.p && t < pctx.n; t++)
			if (pol_policy_dup(policy, &pctx.p[t], err, sizeof(err))) {
				fprintf(stderr, "coinfer-agent: --policy %s: %s\n", policy_path, err);
				return 1;
			}
		if (!pctx.p) {
			fprintf(stderr, "coinfer-agent: out of memory\n");
			return 1;
		}
	}
	int ret = ag_fleet_run(f, err, sizeof(err));
	if (ret)
		fprintf(stderr, "coinfer-agent: %s\n", err);
	if (summary) {
		struct ag_summary s;
		ag_fleet_summary(f, &s);
		ag_summary_json(&s, stdout);
		if (s.answered != s.requests)
			ret = -1;
	}
	fflush(stdout);
	ag_fleet_destroy(f);
	for (int t = 0; pctx.p && t < pctx.n; t++)
		pol_policy_free(pctx.p[t]);
	free(pctx.p);
	pol_policy_free(policy);
	ds_dataset_free(&ds);
	cr_model_free(m);
#if AG_HAVE_COST
	free(prof);
	free(prof_times);
	free(dclass);
	free(actx.cm);
#endif
	return ret ? 1 : 0;
}
